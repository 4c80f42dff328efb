//! libFuzzer entry for the `snp_cpuid` harness (logic in `src/snp_cpuid.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::snp_cpuid::run(data));
