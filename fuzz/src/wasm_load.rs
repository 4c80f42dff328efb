//! Fuzz harness `wasm_load`: arbitrary bytes as a guest module through `wasi_impl::run`
//! (decode, validation, linking against `wasi_snapshot_preview1`, instantiation, `_start`)
//! with a small fuel budget, small memory/table limits, a preopened ramfs directory and
//! deterministic [`FakeServices`].
//!
//! Input: byte 0 selects the fuel budget (1k..256k units); the rest is the module.
//! Properties: `run` returns (never panics, fuel bounds the run); the outcome is consistent
//! with the limits (fuel used never exceeds the budget, peak memory never exceeds the memory
//! limit); `LoadFailed` messages name the module.

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
}
