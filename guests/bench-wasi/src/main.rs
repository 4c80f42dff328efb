//! `bench-wasi`: WASI cost benchmarks for scripts/bench.sh, calling wasi_snapshot_preview1
//! functions directly (no std buffering in between) and timing with `clock_time_get`
//! (MONOTONIC). One mode per run, chosen by argv[1]:
//!
//! * `calls N` (default 100000): ns per `clock_time_get(MONOTONIC)` call, and ns per 16-byte
//!   `fd_write` to the file `/bench/calls.tmp` (needs a writable preopen `/bench`).
//! * `file MIB` (default 64): sequential write, then read, of a MIB MiB file `/bench/file.tmp`
//!   in 64 KiB `fd_write`/`fd_read` calls; MB/s (10^6 bytes) for each. Each chunk read back
//!   must carry its index in byte 0 and the last one must equal what was written (else exit 1).
//! * `console MIB` (default 1): writes MIB MiB of text to stdout in 4 KiB `fd_write` calls
//!   and reports MB/s.
//!
//! Results go to stderr as `result name=<n> value=<v> unit=<u>`; the temporary files are
//! removed at the end. Any failing call prints the errno and exits 1.

use std::os::fd::AsRawFd;

/// Chunk size of the file benchmark (the 64 KiB).
const FILE_CHUNK: usize = 64 << 10;
/// Chunk size of the console benchmark.
const CONSOLE_CHUNK: usize = 4 << 10;

/// Monotonic time in ns.
fn now() -> u64 {
    // SAFETY: clock_time_get only writes its result, which the binding returns by value.
    match unsafe { wasi::clock_time_get(wasi::CLOCKID_MONOTONIC, 1) } {
        Ok(t) => t,
        Err(e) => fail("clock_time_get", e),
    }
}

/// Prints the failing call and exits 1.
fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("bench-wasi: {what} failed: {e}");
    std::process::exit(1)
}

/// Writes all of `buf` to `fd` with direct `fd_write` calls.
fn write_all(fd: wasi::Fd, mut buf: &[u8]) {
    while !buf.is_empty() {
        let iov = [wasi::Ciovec {
            buf: buf.as_ptr(),
            buf_len: buf.len(),
        }];
        // SAFETY: the iovec points into `buf`, which is live and readable for its length.
        match unsafe { wasi::fd_write(fd, &iov) } {
            Ok(0) => fail("fd_write", "wrote 0 bytes"),
            Ok(n) => buf = &buf[n.min(buf.len())..],
            Err(e) => fail("fd_write", e),
        }
    }
}

/// Fills `buf` from `fd` with direct `fd_read` calls; returns false at end of file.
fn read_full(fd: wasi::Fd, buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let iov = [wasi::Iovec {
            buf: rest.as_mut_ptr(),
            buf_len: rest.len(),
        }];
        // SAFETY: the iovec points into `buf`, which is live and writable for its length.
        match unsafe { wasi::fd_read(fd, &iov) } {
            Ok(0) => return false,
            Ok(n) => done += n,
            Err(e) => fail("fd_read", e),
        }
    }
    true
}

/// Prints one result line.
fn result(name: &str, value: f64, unit: &str) {
    eprintln!("result name={name} value={value:.3} unit={unit}");
}

/// Creates (truncating) `path` for reading and writing.
fn create(path: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| fail(path, e))
}

/// `calls N`: per-call cost of clock_time_get and of a 16-byte fd_write.
fn calls(n: u64) {
    let start = now();
    let mut sink = 0u64;
    for _ in 0..n {
        sink = sink.wrapping_add(now());
    }
    let clock_ns = (now() - start) as f64 / n as f64;
    result("clock_time_get", clock_ns, "ns/call");

    let path = "/bench/calls.tmp";
    let file = create(path);
    let fd = file.as_raw_fd() as wasi::Fd;
    let line = *b"0123456789abcde\n";
    let start = now();
    for _ in 0..n {
        write_all(fd, &line);
    }
    let write_ns = (now() - start) as f64 / n as f64;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len != 16 * n {
        fail(
            "fd_write",
            format!("file is {len} bytes, expected {}", 16 * n),
        );
    }
    result("fd_write16", write_ns, "ns/call");
    drop(file);
    std::fs::remove_file(path).unwrap_or_else(|e| fail("remove", e));
    // Keeps the clock loop from being optimized out.
    if sink == 1 {
        println!();
    }
}

/// `file MIB`: sequential write then read in 64 KiB chunks.
fn file(mib: usize) {
    let path = "/bench/file.tmp";
    let file = create(path);
    let fd = file.as_raw_fd() as wasi::Fd;
    let chunks = mib * ((1 << 20) / FILE_CHUNK);
    let total = (chunks * FILE_CHUNK) as f64;
    let mut buf: Vec<u8> = (0..FILE_CHUNK).map(|i| (i % 253) as u8).collect();

    let start = now();
    for c in 0..chunks {
        buf[0] = c as u8;
        write_all(fd, &buf);
    }
    let secs = (now() - start) as f64 / 1e9;
    result("file_write", total / secs / 1e6, "MB/s");

    // SAFETY: fd_seek only writes the new offset, returned by value.
    if let Err(e) = unsafe { wasi::fd_seek(fd, 0, wasi::WHENCE_SET) } {
        fail("fd_seek", e);
    }
    let mut back = vec![0u8; FILE_CHUNK];
    let start = now();
    for c in 0..chunks {
        if !read_full(fd, &mut back) {
            fail("fd_read", format!("end of file at chunk {c}"));
        }
        // Only the chunk's tag in the loop: a full compare would time the interpreter's
        // memcmp, not the file system. The last chunk is compared in full below.
        if back[0] != c as u8 {
            fail("fd_read", format!("chunk {c} has tag {}", back[0]));
        }
    }
    let secs = (now() - start) as f64 / 1e9;
    buf[0] = chunks.wrapping_sub(1) as u8;
    if back != buf {
        fail("fd_read", "the last chunk differs from what was written");
    }
    result("file_read", total / secs / 1e6, "MB/s");
    drop(file);
    std::fs::remove_file(path).unwrap_or_else(|e| fail("remove", e));
}

/// `console MIB`: text to stdout in 4 KiB writes.
fn console(mib: usize) {
    let line = b"elastic console benchmark: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLM\n";
    let chunk: Vec<u8> = line.iter().copied().cycle().take(CONSOLE_CHUNK).collect();
    let chunks = mib * ((1 << 20) / CONSOLE_CHUNK);
    let start = now();
    for _ in 0..chunks {
        write_all(1, &chunk);
    }
    let secs = (now() - start) as f64 / 1e9;
    result(
        "console",
        (chunks * CONSOLE_CHUNK) as f64 / secs / 1e6,
        "MB/s",
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("calls");
    let n = args.get(2).and_then(|a| a.parse::<u64>().ok());
    match mode {
        "calls" => calls(n.unwrap_or(100_000).max(1)),
        "file" => file(n.unwrap_or(64).max(1) as usize),
        "console" => console(n.unwrap_or(1).max(1) as usize),
        other => fail(
            "argument",
            format!("unknown mode {other:?} (calls|file|console)"),
        ),
    }
}
