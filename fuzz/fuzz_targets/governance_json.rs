//! libFuzzer entry point; the logic is `keylife_fuzz::formats::governance_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylife_fuzz::formats::governance_json(data));
