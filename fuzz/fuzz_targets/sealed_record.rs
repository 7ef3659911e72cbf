//! libFuzzer entry point; the logic is `keylife_fuzz::storage::sealed_record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylife_fuzz::storage::sealed_record(data));
