//! Governance: who may do what (principals and roles), the rules in force
//! (policy as code), dual control (signed approvals), what happened (audit
//! events and sinks) and what is due (compliance reports). Built on the key
//! model; knows nothing of stores, which enforce all of it.

pub mod approval;
pub mod audit;
pub mod policy;
pub(crate) mod principal;
pub mod report;
