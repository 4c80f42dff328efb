//! Replays the `bundle_parse` and `manifest_decode` fuzz seeds and every crash input kept in
//! `fuzz/regressions/` through the fuzz harnesses themselves (shared source, see
//! `docs/robustness.md`), so these run in every stable `cargo test`.

use std::path::{Path, PathBuf};

// The harness files are shared with the fuzz crate; not every helper is used here.
#[allow(dead_code)]
#[path = "../../../fuzz/src/bundle_parse.rs"]
mod bundle_parse;
#[allow(dead_code)]
#[path = "../../../fuzz/src/manifest_decode.rs"]
mod manifest_decode;
#[path = "../../../fuzz/src/replay_dir.rs"]
mod replay_dir;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn bundle_parse_seeds_and_regressions() {
    let n = replay_dir::replay(&fuzz_dir(), "bundle_parse", bundle_parse::run);
    assert!(n >= 6, "only {n} bundle inputs");
}

#[test]
fn manifest_decode_seeds_and_regressions() {
    let n = replay_dir::replay(&fuzz_dir(), "manifest_decode", manifest_decode::run);
    assert!(n >= 3, "only {n} manifest inputs");
}
