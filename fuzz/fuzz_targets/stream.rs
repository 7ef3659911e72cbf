//! libFuzzer entry point; the logic is `keylife_fuzz::targets::stream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylife_fuzz::targets::stream(data));
