//! libFuzzer entry for the `hv_boot_data` harness (logic in `src/hv_boot_data.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::hv_boot_data::run(data));
