//! Replays the `ramfs_ops` fuzz seeds and every crash input kept in `fuzz/regressions/`
//! through the differential harness itself (shared source, see `docs/robustness.md`).

use std::path::Path;

// The harness files are shared with the fuzz crate; not every helper is used here.
#[allow(dead_code)]
#[path = "../../../fuzz/src/input.rs"]
mod input;
#[allow(dead_code)]
#[path = "../../../fuzz/src/ramfs_ops.rs"]
mod ramfs_ops;
#[path = "../../../fuzz/src/replay_dir.rs"]
mod replay_dir;

#[test]
fn ramfs_ops_seeds_and_regressions() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let n = replay_dir::replay(&fuzz, "ramfs_ops", ramfs_ops::run);
    assert!(n >= 4, "only {n} ramfs programs");
}
