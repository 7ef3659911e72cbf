//! libFuzzer entry point; the logic is `keylife_fuzz::storage::store_sqlite`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylife_fuzz::storage::store_sqlite(data));
