//! Replays committed fuzz inputs on stable: every file of `fuzz/seeds/<target>/` and
//! `fuzz/regressions/<target>/` through the target's harness. Included (`#[path]`) by the
//! `tests/fuzz_replay.rs` of the fuzzed crates, so a plain `cargo test` keeps every seed and
//! every crash input ever found passing.

use std::path::Path;

/// Runs `run` on every seed and regression input of `target` under `fuzz_dir`; returns how
/// many inputs were replayed. Panics (failing the test) if the target has no seeds, and
/// prints each input's path first so a failure names it.
pub fn replay(fuzz_dir: &Path, target: &str, run: fn(&[u8])) -> usize {
    let mut count = 0;
    for (sub, required) in [("seeds", true), ("regressions", false)] {
        let dir = fuzz_dir.join(sub).join(target);
        let mut files: Vec<_> = match std::fs::read_dir(&dir) {
            Ok(d) => d.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                assert!(!required, "no seed directory {}: {e}", dir.display());
                continue;
            }
        };
        files.retain(|f| f.is_file() && !f.ends_with(".gitkeep"));
        files.sort();
        assert!(!required || !files.is_empty(), "{} is empty", dir.display());
        for f in files {
            eprintln!("replaying {}", f.display());
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            run(&data);
            count += 1;
        }
    }
    count
}
