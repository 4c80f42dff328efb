//! libFuzzer entry for the `bundle_parse` harness (logic in `src/bundle_parse.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::bundle_parse::run(data));
