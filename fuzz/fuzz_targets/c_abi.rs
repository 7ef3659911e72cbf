//! libFuzzer entry point; the logic is `keylife_fuzz::c_abi::c_abi`
//! (run under AddressSanitizer, as cargo-fuzz builds by default).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylife_fuzz::c_abi::c_abi(data));
