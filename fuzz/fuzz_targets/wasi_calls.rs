//! libFuzzer entry for the `wasi_calls` harness (logic in `src/wasi_calls.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::wasi_calls::run(data));
