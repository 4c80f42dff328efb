//! libFuzzer entry for the `snp_ghcb` harness (logic in `src/snp_ghcb.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::snp_ghcb::run(data));
