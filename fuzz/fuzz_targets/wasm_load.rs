//! libFuzzer entry for the `wasm_load` harness (logic in `src/wasm_load.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::wasm_load::run(data));
