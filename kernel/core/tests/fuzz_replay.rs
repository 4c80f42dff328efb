//! Replays the `hv_boot_data` fuzz seeds (e820 memory map and fw_cfg device answers) and every
//! crash input kept in `fuzz/regressions/` through the fuzz harness itself (shared source, see
//! `docs/robustness.md`).

use std::path::Path;

// The harness files are shared with the fuzz crate; not every helper is used here.
#[allow(dead_code)]
#[path = "../../../fuzz/src/hv_boot_data.rs"]
mod hv_boot_data;
#[allow(dead_code)]
#[path = "../../../fuzz/src/input.rs"]
mod input;
#[path = "../../../fuzz/src/replay_dir.rs"]
mod replay_dir;

#[test]
fn hv_boot_data_seeds_and_regressions() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let n = replay_dir::replay(&fuzz, "hv_boot_data", hv_boot_data::run);
    assert!(n >= 2, "only {n} inputs");
}
