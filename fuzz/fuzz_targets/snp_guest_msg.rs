//! libFuzzer entry for the `snp_guest_msg` harness (logic in `src/snp_guest_msg.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::snp_guest_msg::run(data));
