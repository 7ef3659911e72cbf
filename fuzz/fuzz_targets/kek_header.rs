//! libFuzzer entry point; the logic is `keylife_fuzz::storage::kek_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylife_fuzz::storage::kek_header(data));
