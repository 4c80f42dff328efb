//! Fuzz harness `wasm_load`: arbitrary bytes as a guest module through `wasi_impl::run`
//! (decode, validation, linking against `wasi_snapshot_preview1`, instantiation, `_start`)
//! with a small fuel budget, small memory/table limits, a preopened ramfs directory and
//! deterministic [`FakeServices`].
//!
//! Input: byte 0 selects the fuel budget (1k..256k units, `byte % 9`) and, when >= 128, a
//! second run under the wall-clock watchdog; the rest is the module.
//! Properties: `run` returns (never panics, fuel bounds the run); the outcome is consistent
//! with the limits (fuel used never exceeds the budget, peak memory never exceeds the memory
//! limit); `LoadFailed` messages name the module. Watchdog mode: with a wall-clock limit the
//! fake clock never reaches, the report equals the unwatched run's (the start-section
//! rewrite and the resumable, sliced calls change nothing), unless the module can read the
//! clock (the watchdog's own readings move the fake clock) or exports the reserved
//! `elastic:start` (then it may be refused); with a limit of 1 ms (the fake clock moves
//! 1 µs per reading), the run still ends and respects the fuel budget.

use crate::fake_services::FakeServices;
use std::cell::RefCell;
use std::rc::Rc;
use wasi_impl::ramfs::{Config, Ramfs};
use wasi_impl::{GuestConfig, Limits, Outcome, Preopen, run as wasi_run};

/// Largest linear memory a fuzzed guest may reach.
pub const MAX_MEMORY: u64 = 16 << 20;

/// A ramfs with a little content, preopened as `/data`.
pub fn preopen() -> Preopen {
    let mut fs = Ramfs::new(
        Config {
            dev: 1,
            max_bytes: 1 << 20,
            max_inodes: 256,
        },
        Box::new(|| 1_700_000_000_000_000_000u64),
    );
    let root = fs.root();
    let _ = fs.write_file(root, "hello.txt", b"hello from the ramfs\n");
    let _ = fs.create_dir_all(root, "sub/dir");
    let _ = fs.write_file(root, "sub/dir/x", &[7u8; 300]);
    let _ = fs.symlink("hello.txt", root, "link");
    Preopen {
        guest_path: "/data".to_string(),
        fs: Rc::new(RefCell::new(fs)),
        dir: root,
        readonly: false,
    }
}

/// The guest configuration used by the WASI harnesses.
pub fn config(fuel: u64) -> GuestConfig {
    GuestConfig {
        name: "fuzz.wasm".to_string(),
        args: vec!["fuzz.wasm".to_string(), "--arg".to_string()],
        env: vec![("KEY".to_string(), "value".to_string())],
        preopens: vec![preopen()],
        limits: Limits {
            fuel: Some(fuel),
            max_memory_bytes: MAX_MEMORY,
            max_table_elements: 10_000,
            max_open_fds: 16,
            max_module_bytes: 1 << 20,
            ..Limits::default()
        },
        wasm_backtrace: true,
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&sel, module)) = data.split_first() else {
        return;
    };
    let fuel = 1_000u64 << (sel % 9);
    let mut services = FakeServices::new(b"stdin line\n");
    let report = wasi_run(module, config(fuel), &mut services);
    assert!(
        report.fuel_used <= fuel,
        "fuel used {} exceeds the budget {fuel}",
        report.fuel_used
    );
    assert!(
        report.peak_memory_bytes <= MAX_MEMORY,
        "peak memory {} exceeds the limit",
        report.peak_memory_bytes
    );
    if let Outcome::LoadFailed(msg) = &report.outcome {
        assert!(
            msg.contains("fuzz.wasm"),
            "load failure does not name the module: {msg}"
        );
    }
    if sel < 128 {
        return;
    }
    let watched = |wall_ms| {
        let mut c = config(fuel);
        c.limits.wall_time_ms = Some(wall_ms);
        wasi_run(module, c, &mut FakeServices::new(b"stdin line\n"))
    };
    let far = watched(3_600_000);
    // The watchdog reads the fake clock too, so a guest that can read it may legitimately
    // see other times (its import names would appear verbatim in the module).
    let reads_clock = [&b"clock_time_get"[..], b"poll_oneoff"]
        .iter()
        .any(|name| module.windows(name.len()).any(|w| w == *name));
    match (&report.outcome, &far.outcome) {
        (Outcome::LoadFailed(_), Outcome::LoadFailed(_)) => {}
        (_, Outcome::LoadFailed(m)) if m.contains("cannot run under the watchdog") => {}
        _ if reads_clock => {}
        _ => assert_eq!(report, far, "the watchdog changed the run"),
    }
    let near = watched(1);
    assert!(
        near.fuel_used <= fuel,
        "watchdog run: fuel used {}",
        near.fuel_used
    );
}
