//! `wasi-env`: checks `args_sizes_get`, `args_get`, `environ_sizes_get`, `environ_get`
//! (wasi_snapshot_preview1.witx) against a fixed command line and environment.
//!
//! Run with arguments `alpha "beta gamma" "" ünï` and environment `GREETING=hello world`,
//! `EMPTY=` and `WASI_TEST=1` (see guests/README.md). argv[0] is not compared (runtimes name
//! the program differently) except that it must be present and NUL-terminated.
//! These four functions have no error path a well-formed call can reach: a pointer outside
//! linear memory makes wasmtime trap (not return `EFAULT`), which the `fault-bad-pointer`
//! guest covers.

use wasi_check::{Checker, wasi};

/// Arguments after argv[0] that the guest must be given.
const ARGS: [&str; 4] = ["alpha", "beta gamma", "", "ünï"];
/// Variables that must be in the environment, exactly.
const ENV: [&str; 3] = ["GREETING=hello world", "EMPTY=", "WASI_TEST=1"];

/// Decodes `count` NUL-terminated strings whose pointers are in `ptrs` and bytes in `buf`.
fn decode(ptrs: &[*mut u8], buf: &[u8]) -> Option<Vec<Vec<u8>>> {
    let base = buf.as_ptr() as usize;
    let mut out = Vec::new();
    for p in ptrs {
        let start = (*p as usize).checked_sub(base)?;
        let rest = buf.get(start..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        out.push(rest[..end].to_vec());
    }
    Some(out)
}

fn check_args(chk: &mut Checker) {
    // SAFETY: writes two sizes into the returned tuple.
    let Some((argc, argv_size)) = chk.ok("args_sizes_get", "returns sizes", unsafe {
        wasi::args_sizes_get()
    }) else {
        return;
    };
    chk.eq("args_sizes_get", "argc is 1 + 4", argc, 1 + ARGS.len());
    let tail: usize = ARGS.iter().map(|a| a.len() + 1).sum();
    chk.check(
        "args_sizes_get",
        "buffer size covers argv[0] and the arguments",
        argv_size > tail,
        &format!("size {argv_size}, arguments alone need {tail}"),
    );
    let mut ptrs = vec![core::ptr::null_mut::<u8>(); argc];
    let mut buf = vec![0xAAu8; argv_size];
    // SAFETY: `ptrs` holds argc pointers and `buf` argv_size bytes, as the sizes said.
    let r = unsafe { wasi::args_get(ptrs.as_mut_ptr(), buf.as_mut_ptr()) };
    if chk.ok("args_get", "fills pointers and buffer", r).is_none() {
        return;
    }
    match decode(&ptrs, &buf) {
        Some(args) => {
            chk.check(
                "args_get",
                "argv[0] is present",
                args.first().is_some_and(|a| !a.is_empty()),
                "empty argv[0]",
            );
            let got: Vec<String> = args
                .get(1..)
                .unwrap_or_default()
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            chk.eq(
                "args_get",
                "arguments match exactly",
                got,
                ARGS.iter().map(|s| s.to_string()).collect(),
            );
            chk.eq(
                "args_get",
                "last byte of buffer is NUL",
                buf.last().copied(),
                Some(0),
            );
        }
        None => chk.fail(
            "args_get",
            "pointers point into buffer",
            "pointer outside buffer or no NUL",
        ),
    }
}

fn check_environ(chk: &mut Checker) {
    // SAFETY: writes two sizes into the returned tuple.
    let Some((count, size)) = chk.ok("environ_sizes_get", "returns sizes", unsafe {
        wasi::environ_sizes_get()
    }) else {
        return;
    };
    chk.check(
        "environ_sizes_get",
        "at least the 3 given variables",
        count >= ENV.len(),
        &format!("count {count}"),
    );
    let mut ptrs = vec![core::ptr::null_mut::<u8>(); count];
    let mut buf = vec![0xAAu8; size];
    // SAFETY: `ptrs` holds count pointers and `buf` size bytes, as the sizes said.
    let r = unsafe { wasi::environ_get(ptrs.as_mut_ptr(), buf.as_mut_ptr()) };
    if chk
        .ok("environ_get", "fills pointers and buffer", r)
        .is_none()
    {
        return;
    }
    match decode(&ptrs, &buf) {
        Some(vars) => {
            let total: usize = vars.iter().map(|v| v.len() + 1).sum();
            chk.eq(
                "environ_sizes_get",
                "size equals the bytes environ_get wrote",
                size,
                total,
            );
            for want in ENV {
                chk.check(
                    "environ_get",
                    &format!("contains {want:?}"),
                    vars.iter().any(|v| v == want.as_bytes()),
                    "missing",
                );
            }
            chk.check(
                "environ_get",
                "every entry has the KEY=VALUE form",
                vars.iter().all(|v| v.contains(&b'=')),
                "entry without '='",
            );
        }
        None => chk.fail(
            "environ_get",
            "pointers point into buffer",
            "pointer outside buffer or no NUL",
        ),
    }
    // std's view agrees with the raw calls.
    chk.eq(
        "environ_get",
        "std::env::var agrees",
        std::env::var("GREETING").ok(),
        Some("hello world".to_string()),
    );
}

fn main() {
    let mut chk = Checker::new("wasi-env");
    check_args(&mut chk);
    check_environ(&mut chk);
    chk.finish();
}
