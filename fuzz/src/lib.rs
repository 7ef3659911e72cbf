//! keylife's fuzz targets as plain functions of `&[u8]`.
//!
//! `fuzz_targets/*.rs` hand libFuzzer's inputs to these functions;
//! `tests/fuzz_corpus.rs` in the main crate includes `targets.rs` by path
//! and replays the committed corpus (`fuzz/corpus/<target>/`) through the
//! same functions, so `cargo test` catches regressions without libFuzzer.

#[cfg(feature = "ffi")]
pub mod c_abi;
pub mod formats;
pub mod storage;
pub mod targets;
