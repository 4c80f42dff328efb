//! Replays the SNP fuzz seeds (`snp_ghcb`, `snp_vc`, `snp_cpuid`, `snp_guest_msg`) and every
//! crash input kept in `fuzz/regressions/` through the fuzz harnesses themselves (shared
//! source, see `docs/robustness.md`).

use std::path::{Path, PathBuf};

// The harness files are shared with the fuzz crate; not every helper is used here.
#[allow(dead_code)]
#[path = "../../../fuzz/src/input.rs"]
mod input;
#[path = "../../../fuzz/src/replay_dir.rs"]
mod replay_dir;
#[allow(dead_code)]
#[path = "../../../fuzz/src/snp_cpuid.rs"]
mod snp_cpuid;
#[allow(dead_code)]
#[path = "../../../fuzz/src/snp_ghcb.rs"]
mod snp_ghcb;
#[allow(dead_code)]
#[path = "../../../fuzz/src/snp_guest_msg.rs"]
mod snp_guest_msg;
#[allow(dead_code)]
#[path = "../../../fuzz/src/snp_vc.rs"]
mod snp_vc;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn snp_ghcb_seeds_and_regressions() {
    assert!(replay_dir::replay(&fuzz_dir(), "snp_ghcb", snp_ghcb::run) >= 24);
}

#[test]
fn snp_vc_seeds_and_regressions() {
    assert!(replay_dir::replay(&fuzz_dir(), "snp_vc", snp_vc::run) >= 12);
}

#[test]
fn snp_cpuid_seeds_and_regressions() {
    assert!(replay_dir::replay(&fuzz_dir(), "snp_cpuid", snp_cpuid::run) >= 2);
}

#[test]
fn snp_guest_msg_seeds_and_regressions() {
    assert!(replay_dir::replay(&fuzz_dir(), "snp_guest_msg", snp_guest_msg::run) >= 8);
}
