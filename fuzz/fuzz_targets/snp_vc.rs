//! libFuzzer entry for the `snp_vc` harness (logic in `src/snp_vc.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::snp_vc::run(data));
