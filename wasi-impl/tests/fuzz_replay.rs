//! Replays the `wasm_load` and `wasi_calls` fuzz seeds and every crash input kept in
//! `fuzz/regressions/` through the fuzz harnesses themselves (shared source, see
//! `docs/robustness.md`).

use std::path::{Path, PathBuf};

// The harness files are shared with the fuzz crate; not every helper is used here.
#[allow(dead_code)]
#[path = "../../fuzz/src/fake_services.rs"]
mod fake_services;
#[allow(dead_code)]
#[path = "../../fuzz/src/input.rs"]
mod input;
#[path = "../../fuzz/src/replay_dir.rs"]
mod replay_dir;
#[allow(dead_code)]
#[path = "../../fuzz/src/wasi_calls.rs"]
mod wasi_calls;
#[allow(dead_code)]
#[path = "../../fuzz/src/wasm_load.rs"]
mod wasm_load;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn wasm_load_seeds_and_regressions() {
    let n = replay_dir::replay(&fuzz_dir(), "wasm_load", wasm_load::run);
    assert!(n >= 6, "only {n} modules");
}

#[test]
fn wasi_calls_seeds_and_regressions() {
    let n = replay_dir::replay(&fuzz_dir(), "wasi_calls", wasi_calls::run);
    assert!(n >= 2, "only {n} call programs");
}
