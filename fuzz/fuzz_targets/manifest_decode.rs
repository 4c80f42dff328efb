//! libFuzzer entry for the `manifest_decode` harness (logic in `src/manifest_decode.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::manifest_decode::run(data));
