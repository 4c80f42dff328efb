//! libFuzzer entry for the `ramfs_ops` harness (logic in `src/ramfs_ops.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| elastic_fuzz::ramfs_ops::run(data));
