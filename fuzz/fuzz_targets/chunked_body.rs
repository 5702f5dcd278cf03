#![no_main]
// Logic and invariants: fuzz/harness/src/. This file only hands libFuzzer's bytes over.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferricorn_fuzz_harness::chunked_body(data));
