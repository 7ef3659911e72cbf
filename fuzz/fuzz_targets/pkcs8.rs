//! libFuzzer entry point; the logic is `keylife_fuzz::formats::pkcs8`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylife_fuzz::formats::pkcs8(data));
