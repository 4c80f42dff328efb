//! Harness logic of Elastic's fuzz targets, one module per target. The libFuzzer entry
//! points (`fuzz_targets/*.rs`) call `<module>::run`; the stable regression tests
//! (`tests/fuzz_replay.rs` of the fuzzed crates) include these same files and replay
//! `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` through them.
#![forbid(unsafe_code)]

pub mod bundle_parse;
pub mod fake_services;
pub mod hv_boot_data;
pub mod input;
pub mod manifest_decode;
pub mod ramfs_ops;
pub mod snp_cpuid;
pub mod snp_ghcb;
pub mod snp_guest_msg;
pub mod snp_vc;
pub mod wasi_calls;
pub mod wasm_load;
