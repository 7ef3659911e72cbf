//! One module per noun; each runs its commands on an open store.

pub mod audit;
pub mod backup;
pub mod data;
pub mod govern;
pub mod key;
pub mod store;
pub mod transport;
