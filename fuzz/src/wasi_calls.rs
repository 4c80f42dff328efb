//! Fuzz harness `wasi_calls`: every `wasi_snapshot_preview1` function called with arbitrary
//! arguments over arbitrary guest memory, through the real wasmi glue (`wasi_impl::run`).
//!
//! The input becomes a guest module: a 64 KiB memory whose first bytes are input bytes (a
//! data segment), and a `_start` that makes up to 48 calls, each to an input-chosen WASI
//! function with input-chosen `i32`/`i64` arguments (small values, pointers into or just past
//! the end of memory, or raw 32/64-bit values). After every call the guest checks the result
//! is a witx `errno` (0..=76) and executes `unreachable` otherwise.
//!
//! The guest runs with a preopened ramfs directory (fd 3), stdin, args and environment
//! (see [`crate::wasm_load::config`]). Properties: no panic; the guest ends by returning,
//! `proc_exit`, `proc_exit` with an invalid status (a host trap naming `proc_exit`), or fuel;
//! never by a trap, in particular not the `unreachable` that flags a non-errno result.

use crate::fake_services::FakeServices;
use crate::input::Input;
use std::fmt::Write;
use wasi_impl::{Outcome, TrapKind};

/// Every function with its parameter types (`i` = i32, `I` = i64), as `witx` declares them.
pub const SIGNATURES: [(&str, &str); 46] = [
    ("args_get", "ii"),
    ("args_sizes_get", "ii"),
    ("environ_get", "ii"),
    ("environ_sizes_get", "ii"),
    ("clock_res_get", "ii"),
    ("clock_time_get", "iIi"),
    ("fd_advise", "iIIi"),
    ("fd_allocate", "iII"),
    ("fd_close", "i"),
    ("fd_datasync", "i"),
    ("fd_fdstat_get", "ii"),
    ("fd_fdstat_set_flags", "ii"),
    ("fd_fdstat_set_rights", "iII"),
    ("fd_filestat_get", "ii"),
    ("fd_filestat_set_size", "iI"),
    ("fd_filestat_set_times", "iIIi"),
    ("fd_pread", "iiiIi"),
    ("fd_prestat_get", "ii"),
    ("fd_prestat_dir_name", "iii"),
    ("fd_pwrite", "iiiIi"),
    ("fd_read", "iiii"),
    ("fd_readdir", "iiiIi"),
    ("fd_renumber", "ii"),
    ("fd_seek", "iIii"),
    ("fd_sync", "i"),
    ("fd_tell", "ii"),
    ("fd_write", "iiii"),
    ("path_create_directory", "iii"),
    ("path_filestat_get", "iiiii"),
    ("path_filestat_set_times", "iiiiIIi"),
    ("path_link", "iiiiiii"),
    ("path_open", "iiiiiIIii"),
    ("path_readlink", "iiiiii"),
    ("path_remove_directory", "iii"),
    ("path_rename", "iiiiii"),
    ("path_symlink", "iiiii"),
    ("path_unlink_file", "iii"),
    ("poll_oneoff", "iiii"),
    ("proc_exit", "i"),
    ("proc_raise", "i"),
    ("random_get", "ii"),
    ("sched_yield", ""),
    ("sock_accept", "iii"),
    ("sock_recv", "iiiiii"),
    ("sock_send", "iiiii"),
    ("sock_shutdown", "ii"),
];

/// Linear memory size of the generated guest.
const MEM: u64 = 65536;

fn arg_i32(input: &mut Input<'_>) -> u32 {
    match input.below(6) {
        0 => u32::from(input.below(8)),
        1 => u32::from(input.u8()),
        2 => u32::from(input.u16()) % 4096,
        3 => (MEM as u32).wrapping_sub(u32::from(input.u8())),
        4 => u32::from(input.u16()),
        _ => input.u32(),
    }
}

fn arg_i64(input: &mut Input<'_>) -> u64 {
    match input.below(4) {
        0 => u64::from(input.u8()),
        1 => u64::from(input.u16()),
        2 => u64::MAX - u64::from(input.u8()),
        _ => input.u64(),
    }
}

/// Builds the guest module's WAT text from the input.
pub fn module_wat(data: &[u8]) -> String {
    let mut input = Input::new(data);
    let mem_len = usize::from(input.u16()) % 4097;
    let mem = input.array::<4096>();
    let mem = &mem[..mem_len];
    let mut w = String::from("(module\n");
    for (name, params) in SIGNATURES {
        let ps: String = params
            .chars()
            .map(|c| if c == 'I' { " i64" } else { " i32" })
            .collect();
        let result = if name == "proc_exit" {
            ""
        } else {
            " (result i32)"
        };
        let _ = writeln!(
            w,
            "  (import \"wasi_snapshot_preview1\" \"{name}\" (func ${name} (param{ps}){result}))"
        );
    }
    w.push_str("  (memory (export \"memory\") 1 1)\n  (data (i32.const 0) \"");
    for b in mem {
        let _ = write!(w, "\\{b:02x}");
    }
    w.push_str("\")\n  (func (export \"_start\")\n");
    let mut calls = 0;
    while !input.is_empty() && calls < 48 {
        calls += 1;
        let (name, params) = SIGNATURES[usize::from(input.u8()) % SIGNATURES.len()];
        let _ = write!(w, "    (call ${name}");
        for c in params.chars() {
            if c == 'I' {
                let _ = write!(w, " (i64.const {})", arg_i64(&mut input) as i64);
            } else {
                let _ = write!(w, " (i32.const {})", arg_i32(&mut input) as i32);
            }
        }
        if name == "proc_exit" {
            w.push_str(")\n");
        } else {
            w.push_str(")\n    (if (i32.gt_u (i32.const 76)) (then unreachable))\n");
        }
    }
    w.push_str("  ))\n");
    w
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let wat_text = module_wat(data);
    let module = wat::parse_str(&wat_text).expect("generated WAT is valid");
    let mut services = FakeServices::new(b"some stdin bytes\nsecond line\n");
    let report = wasi_impl::run(&module, crate::wasm_load::config(2_000_000), &mut services);
    match &report.outcome {
        Outcome::Exited(_) => {}
        Outcome::LimitExceeded { .. } => {}
        Outcome::Trapped(t) if t.kind == TrapKind::Host => {
            assert!(
                t.message.contains("proc_exit"),
                "unexpected host trap: {t:?}"
            );
        }
        Outcome::Trapped(t) if t.kind == TrapKind::Unreachable => {
            panic!("a WASI function returned a value that is not an errno: {t:?}")
        }
        other => panic!("WASI calls ended the guest unexpectedly: {other:?}"),
    }
}
