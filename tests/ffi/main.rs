//! The C ABI called from Rust, as C would call it: NULL for every pointer
//! argument, wrong state, wrong purpose, consumed handles, buffers too
//! small, out-of-range enumerations, `free(NULL)`, the thread-local last
//! error. `abi` holds the conventions every call shares; the other modules
//! follow the objects of the `kl_<object>_*` names; `util` has the helpers
//! they share, among them the runner for the NULL-pointer tables.
#![cfg(feature = "ffi")]

mod abi;
mod aead;
mod audit;
mod governance;
#[cfg(feature = "hazmat")]
mod hazmat;
mod key;
mod sign;
mod store;
mod util;
