//! libFuzzer entry point; the logic is `keylife_fuzz::formats::backup`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylife_fuzz::formats::backup(data));
