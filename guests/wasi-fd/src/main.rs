//! `wasi-fd`: checks the `fd_*` functions of wasi_snapshot_preview1.witx on a regular file,
//! a directory and the standard streams, with success and error paths (EBADF, EINVAL,
//! ENOTDIR, EISDIR, ...). Expectations follow wasmtime (the project's reference runtime).
//!
//! Out-of-range enum arguments (whence 7, advice 9) make wasmtime trap instead of returning
//! EINVAL, so they are not checked here. Vectored reads/writes on files may be short
//! (wasmtime moves only the first buffer), so the checks loop as libc does.
//!
//! Needs a preopened, writable directory `/sandbox` (it may start empty; the guest works in
//! `/sandbox/wasi-fd.tmp` and removes it at the end) and an empty stdin.

use wasi::*;
use wasi_check::{
    ALL_RIGHTS, Checker, DIR_RIGHTS, cleanup, errno_name, read_dir, scratch, sys, wasi,
};

/// Scratch directory (relative to the preopen).
const DIR: &str = "wasi-fd.tmp";
/// A descriptor number no runtime hands out in this guest.
const BAD_FD: Fd = 9999;

/// Opens `name` inside the scratch directory.
fn open(s: Fd, name: &str, oflags: Oflags, base: Rights, fdflags: Fdflags) -> Result<Fd, Errno> {
    sys::path_open(s, 0, &format!("{DIR}/{name}"), oflags, base, base, fdflags)
}

fn prestat(c: &mut Checker, s: Fd) {
    if let Some(p) = c.ok("fd_prestat_get", "preopen /sandbox", sys::fd_prestat_get(s)) {
        c.eq("fd_prestat_get", "tag is dir", p.tag, PREOPENTYPE_DIR.raw());
        // SAFETY: the tag was just checked to be `dir`.
        let len = unsafe { p.u.dir.pr_name_len };
        c.eq("fd_prestat_get", "name length is 8", len, "/sandbox".len());
        let mut name = vec![0u8; len];
        c.ok(
            "fd_prestat_dir_name",
            "fills the name",
            sys::fd_prestat_dir_name(s, &mut name),
        );
        c.eq(
            "fd_prestat_dir_name",
            "name is /sandbox",
            String::from_utf8_lossy(&name).into_owned(),
            "/sandbox".to_string(),
        );
        let mut short = vec![0u8; 3];
        c.err(
            "fd_prestat_dir_name",
            "buffer shorter than the name",
            sys::fd_prestat_dir_name(s, &mut short),
            ERRNO_NAMETOOLONG,
        );
    }
    c.err(
        "fd_prestat_get",
        "stdin is not a preopen",
        sys::fd_prestat_get(0),
        ERRNO_BADF,
    );
    c.err(
        "fd_prestat_get",
        "closed descriptor",
        sys::fd_prestat_get(BAD_FD),
        ERRNO_BADF,
    );
    let mut name = vec![0u8; 16];
    c.err(
        "fd_prestat_dir_name",
        "closed descriptor",
        sys::fd_prestat_dir_name(BAD_FD, &mut name),
        ERRNO_BADF,
    );
}

fn stdio(c: &mut Checker) {
    // This line is written with fd_write itself (two buffers, looping on short writes as
    // libc does: wasmtime writes only the first buffer per call).
    let line = b"ok fd_write: stdout, written with fd_write itself\n";
    let mut done = 0usize;
    let mut calls = 0;
    while done < line.len() && calls < 8 {
        let mid = done.max(20);
        match sys::fd_write_vec(1, &[&line[done..mid], &line[mid..]]) {
            Ok(n) if n > 0 => done += n,
            _ => break,
        }
        calls += 1;
    }
    if done == line.len() {
        c.pass("fd_write", "gathered stdout writes complete");
    } else {
        c.fail(
            "fd_write",
            "gathered stdout writes complete",
            &format!("{done} bytes"),
        );
    }
    c.err(
        "fd_write",
        "closed descriptor",
        sys::fd_write_vec(BAD_FD, &[b"x"]),
        ERRNO_BADF,
    );
    let mut buf = [0u8; 8];
    c.eq(
        "fd_read",
        "empty stdin reads 0 bytes (EOF)",
        sys::fd_read_vec(0, &mut [&mut buf]),
        Ok(0),
    );
    c.err(
        "fd_read",
        "closed descriptor",
        sys::fd_read_vec(BAD_FD, &mut [&mut buf]),
        ERRNO_BADF,
    );
    c.ok("fd_fdstat_get", "stdout", sys::fd_fdstat_get(1));
    c.err(
        "fd_fdstat_get",
        "closed descriptor",
        sys::fd_fdstat_get(BAD_FD),
        ERRNO_BADF,
    );
}

fn read_write_seek(c: &mut Checker, s: Fd) {
    let Some(f) = c.ok(
        "path_open",
        "create rw file",
        open(s, "data.txt", OFLAGS_CREAT | OFLAGS_TRUNC, ALL_RIGHTS, 0),
    ) else {
        return;
    };
    // Gathered writes may be short (wasmtime writes only the first buffer to a file), so
    // the check is that a write-all loop, as libc does it, ends with everything written.
    let mut done = 0usize;
    let data = b"hello world";
    while done < data.len() {
        match sys::fd_write_vec(f, &[&data[done..done.max(6)], &data[done.max(6)..]]) {
            Ok(n) if n > 0 => done += n,
            _ => break,
        }
    }
    c.eq("fd_write", "gathered writes complete 11 bytes", done, 11);
    c.eq(
        "fd_tell",
        "position after write is 11",
        sys::fd_tell(f),
        Ok(11),
    );
    c.eq("fd_seek", "SET 0", sys::fd_seek(f, 0, WHENCE_SET), Ok(0));
    let (mut a, mut b) = ([0u8; 4], [0u8; 16]);
    // Scatter reads may be short too; the first buffer must be filled first.
    let n = sys::fd_read_vec(f, &mut [&mut a, &mut b]).unwrap_or(0);
    c.check(
        "fd_read",
        "scatter read fills the first buffer first",
        (4..=11).contains(&n) && a == *b"hell",
        &format!("{n} bytes, first {a:?}"),
    );
    let mut got = [&a[..], &b[..n.saturating_sub(4).min(b.len())]].concat();
    while got.len() < 11 {
        match sys::fd_read_vec(f, &mut [&mut b]) {
            Ok(k) if k > 0 => got.extend_from_slice(b.get(..k).unwrap_or(&b[..])),
            _ => break,
        }
    }
    c.eq(
        "fd_read",
        "read loop returns the file content",
        got,
        b"hello world".to_vec(),
    );
    c.eq(
        "fd_read",
        "read at EOF returns 0",
        sys::fd_read_vec(f, &mut [&mut b]),
        Ok(0),
    );
    c.eq("fd_seek", "END -5", sys::fd_seek(f, -5, WHENCE_END), Ok(6));
    c.eq("fd_seek", "CUR +2", sys::fd_seek(f, 2, WHENCE_CUR), Ok(8));
    c.eq("fd_tell", "tell after seeks is 8", sys::fd_tell(f), Ok(8));
    c.err(
        "fd_seek",
        "before start of file",
        sys::fd_seek(f, -100, WHENCE_CUR),
        ERRNO_INVAL,
    );
    c.eq(
        "fd_tell",
        "failed seek keeps position",
        sys::fd_tell(f),
        Ok(8),
    );
    c.err(
        "fd_seek",
        "closed descriptor",
        sys::fd_seek(BAD_FD, 0, WHENCE_SET),
        ERRNO_BADF,
    );
    c.err(
        "fd_tell",
        "closed descriptor",
        sys::fd_tell(BAD_FD),
        ERRNO_BADF,
    );
    c.eq(
        "fd_seek",
        "seek past EOF is allowed",
        sys::fd_seek(f, 20, WHENCE_SET),
        Ok(20),
    );
    c.eq(
        "fd_write",
        "write past EOF",
        sys::fd_write_vec(f, &[b"!"]),
        Ok(1),
    );
    let mut hole = [0xffu8; 10];
    c.eq(
        "fd_pread",
        "hole between 11 and 20 reads as zeros",
        sys::fd_pread(f, &mut hole[..9], 11),
        Ok(9),
    );
    c.eq("fd_pread", "hole content", hole[..9].to_vec(), vec![0u8; 9]);

    // positional I/O
    c.eq(
        "fd_pwrite",
        "5 bytes at 0",
        sys::fd_pwrite(f, b"HELLO", 0),
        Ok(5),
    );
    c.eq(
        "fd_tell",
        "pwrite leaves position at 21",
        sys::fd_tell(f),
        Ok(21),
    );
    let mut buf = [0u8; 11];
    c.eq(
        "fd_pread",
        "11 bytes at 0",
        sys::fd_pread(f, &mut buf, 0),
        Ok(11),
    );
    c.eq(
        "fd_pread",
        "content after pwrite",
        buf.to_vec(),
        b"HELLO world".to_vec(),
    );
    c.eq(
        "fd_pread",
        "at EOF returns 0",
        sys::fd_pread(f, &mut buf, 21),
        Ok(0),
    );
    c.eq(
        "fd_pread",
        "far past EOF returns 0",
        sys::fd_pread(f, &mut buf, 1 << 40),
        Ok(0),
    );
    c.eq(
        "fd_tell",
        "pread leaves position at 21",
        sys::fd_tell(f),
        Ok(21),
    );
    c.err(
        "fd_pread",
        "closed descriptor",
        sys::fd_pread(BAD_FD, &mut buf, 0),
        ERRNO_BADF,
    );
    c.err(
        "fd_pwrite",
        "closed descriptor",
        sys::fd_pwrite(BAD_FD, b"x", 0),
        ERRNO_BADF,
    );

    // sizes and stat
    if let Some(st) = c.ok("fd_filestat_get", "regular file", sys::fd_filestat_get(f)) {
        c.eq("fd_filestat_get", "size 21", st.size, 21);
        c.eq(
            "fd_filestat_get",
            "filetype regular",
            st.filetype,
            FILETYPE_REGULAR_FILE,
        );
        c.eq("fd_filestat_get", "nlink 1", st.nlink, 1);
    }
    c.err(
        "fd_filestat_get",
        "closed descriptor",
        sys::fd_filestat_get(BAD_FD),
        ERRNO_BADF,
    );
    c.ok(
        "fd_filestat_set_size",
        "truncate to 5",
        sys::fd_filestat_set_size(f, 5),
    );
    c.eq(
        "fd_filestat_get",
        "size after truncate",
        sys::fd_filestat_get(f).map(|s| s.size),
        Ok(5),
    );
    c.ok(
        "fd_filestat_set_size",
        "extend to 4096",
        sys::fd_filestat_set_size(f, 4096),
    );
    let mut tail = [0xffu8; 4];
    c.eq(
        "fd_pread",
        "extension reads as zeros",
        sys::fd_pread(f, &mut tail, 4092).map(|n| (n, tail)),
        Ok((4, [0u8; 4])),
    );
    c.ok(
        "fd_filestat_set_size",
        "back to 5",
        sys::fd_filestat_set_size(f, 5),
    );
    c.err(
        "fd_filestat_set_size",
        "closed descriptor",
        sys::fd_filestat_set_size(BAD_FD, 0),
        ERRNO_BADF,
    );

    // times
    let (at, mt) = (1_000_000_000_000_000_000u64, 1_100_000_000_000_000_000u64);
    c.ok(
        "fd_filestat_set_times",
        "explicit atim and mtim",
        sys::fd_filestat_set_times(f, at, mt, FSTFLAGS_ATIM | FSTFLAGS_MTIM),
    );
    c.eq(
        "fd_filestat_get",
        "times as set",
        sys::fd_filestat_get(f).map(|s| (s.atim, s.mtim)),
        Ok((at, mt)),
    );
    c.ok(
        "fd_filestat_set_times",
        "mtim only",
        sys::fd_filestat_set_times(f, 0, mt + 1_000, FSTFLAGS_MTIM),
    );
    c.eq(
        "fd_filestat_get",
        "atim kept, mtim changed",
        sys::fd_filestat_get(f).map(|s| (s.atim, s.mtim)),
        Ok((at, mt + 1_000)),
    );
    let now = sys::clock_time_get(CLOCKID_REALTIME, 1).unwrap_or(0);
    c.ok(
        "fd_filestat_set_times",
        "mtim now",
        sys::fd_filestat_set_times(f, 0, 0, FSTFLAGS_MTIM_NOW),
    );
    let m = sys::fd_filestat_get(f).map(|s| s.mtim).unwrap_or(0);
    c.check(
        "fd_filestat_set_times",
        "mtim now is within 60 s of realtime",
        m.abs_diff(now) < 60_000_000_000,
        &format!("mtim {m}, realtime {now}"),
    );
    c.err(
        "fd_filestat_set_times",
        "ATIM with ATIM_NOW",
        sys::fd_filestat_set_times(f, 1, 1, FSTFLAGS_ATIM | FSTFLAGS_ATIM_NOW),
        ERRNO_INVAL,
    );
    c.err(
        "fd_filestat_set_times",
        "MTIM with MTIM_NOW",
        sys::fd_filestat_set_times(f, 1, 1, FSTFLAGS_MTIM | FSTFLAGS_MTIM_NOW),
        ERRNO_INVAL,
    );
    c.err(
        "fd_filestat_set_times",
        "closed descriptor",
        sys::fd_filestat_set_times(BAD_FD, 0, 0, FSTFLAGS_MTIM_NOW),
        ERRNO_BADF,
    );

    // advice, allocation, sync
    c.ok(
        "fd_advise",
        "sequential",
        sys::fd_advise(f, 0, 5, ADVICE_SEQUENTIAL),
    );
    c.ok(
        "fd_advise",
        "dontneed",
        sys::fd_advise(f, 0, 0, ADVICE_DONTNEED),
    );
    c.err(
        "fd_advise",
        "closed descriptor",
        sys::fd_advise(BAD_FD, 0, 5, ADVICE_NORMAL),
        ERRNO_BADF,
    );
    allocate(c, f);
    c.err(
        "fd_allocate",
        "closed descriptor",
        sys::fd_allocate(BAD_FD, 0, 1),
        ERRNO_BADF,
    );
    c.ok("fd_datasync", "regular file", sys::fd_datasync(f));
    c.ok("fd_sync", "regular file", sys::fd_sync(f));
    c.err(
        "fd_datasync",
        "closed descriptor",
        sys::fd_datasync(BAD_FD),
        ERRNO_BADF,
    );
    c.err(
        "fd_sync",
        "closed descriptor",
        sys::fd_sync(BAD_FD),
        ERRNO_BADF,
    );

    c.ok("fd_close", "regular file", sys::fd_close(f));
    c.err("fd_close", "already closed", sys::fd_close(f), ERRNO_BADF);
    c.err(
        "fd_write",
        "after close",
        sys::fd_write_vec(f, &[b"x"]),
        ERRNO_BADF,
    );
}

/// `fd_allocate`: wasmtime does not implement it (ENOTSUP); a runtime that does must grow
/// the file to at least offset + len.
fn allocate(c: &mut Checker, f: Fd) {
    match sys::fd_allocate(f, 0, 64) {
        Err(e) if e == ERRNO_NOTSUP => {
            c.pass("fd_allocate", "unsupported (ENOTSUP) as in wasmtime")
        }
        Ok(()) => {
            let size = sys::fd_filestat_get(f).map(|s| s.size).unwrap_or(0);
            c.check(
                "fd_allocate",
                "file grows to 64",
                size == 64,
                &format!("size {size}"),
            );
            let _ = sys::fd_filestat_set_size(f, 5);
        }
        Err(e) => c.fail("fd_allocate", "ENOTSUP or success", &errno_name(e)),
    }
}

fn flags_and_rights(c: &mut Checker, s: Fd) {
    let Some(f) = c.ok(
        "path_open",
        "open data.txt for flags",
        open(s, "data.txt", 0, ALL_RIGHTS, 0),
    ) else {
        return;
    };
    if let Some(st) = c.ok("fd_fdstat_get", "regular file", sys::fd_fdstat_get(f)) {
        c.eq(
            "fd_fdstat_get",
            "filetype regular",
            st.fs_filetype,
            FILETYPE_REGULAR_FILE,
        );
        c.eq("fd_fdstat_get", "no flags", st.fs_flags, 0);
        c.check(
            "fd_fdstat_get",
            "has read and write rights",
            st.fs_rights_base & (RIGHTS_FD_READ | RIGHTS_FD_WRITE)
                == RIGHTS_FD_READ | RIGHTS_FD_WRITE,
            &format!("{:#x}", st.fs_rights_base),
        );
    }
    c.ok(
        "fd_fdstat_set_flags",
        "set APPEND",
        sys::fd_fdstat_set_flags(f, FDFLAGS_APPEND),
    );
    c.eq(
        "fd_fdstat_get",
        "APPEND is reported",
        sys::fd_fdstat_get(f).map(|s| s.fs_flags),
        Ok(FDFLAGS_APPEND),
    );
    let _ = sys::fd_seek(f, 0, WHENCE_SET);
    c.eq(
        "fd_write",
        "append-mode write",
        sys::fd_write_vec(f, &[b"+"]),
        Ok(1),
    );
    let mut buf = [0u8; 8];
    c.eq(
        "fd_pread",
        "append went to the end",
        sys::fd_pread(f, &mut buf, 0).map(|n| buf.get(..n).unwrap_or(&buf[..]).to_vec()),
        Ok(b"HELLO+".to_vec()),
    );
    c.ok(
        "fd_fdstat_set_flags",
        "clear flags",
        sys::fd_fdstat_set_flags(f, 0),
    );
    c.eq(
        "fd_fdstat_get",
        "flags cleared",
        sys::fd_fdstat_get(f).map(|s| s.fs_flags),
        Ok(0),
    );
    c.err(
        "fd_fdstat_set_flags",
        "closed descriptor",
        sys::fd_fdstat_set_flags(BAD_FD, 0),
        ERRNO_BADF,
    );

    // wasmtime does not implement rights changes at all.
    c.err(
        "fd_fdstat_set_rights",
        "drop to read-only",
        sys::fd_fdstat_set_rights(
            f,
            RIGHTS_FD_READ | RIGHTS_FD_SEEK | RIGHTS_FD_FILESTAT_GET,
            0,
        ),
        ERRNO_NOTSUP,
    );
    c.err(
        "fd_fdstat_set_rights",
        "closed descriptor",
        sys::fd_fdstat_set_rights(BAD_FD, 0, 0),
        ERRNO_BADF,
    );
    let _ = sys::fd_close(f);

    // A descriptor opened with read rights only cannot write, and vice versa.
    if let Some(ro) = c.ok(
        "path_open",
        "read-only rights",
        open(s, "data.txt", 0, RIGHTS_FD_READ | RIGHTS_FD_SEEK, 0),
    ) {
        c.err(
            "fd_write",
            "on read-only descriptor",
            sys::fd_write_vec(ro, &[b"x"]),
            ERRNO_BADF,
        );
        c.err(
            "fd_pwrite",
            "on read-only descriptor",
            sys::fd_pwrite(ro, b"x", 0),
            ERRNO_BADF,
        );
        let _ = sys::fd_close(ro);
    }
    if let Some(wo) = c.ok(
        "path_open",
        "write-only rights",
        open(s, "data.txt", 0, RIGHTS_FD_WRITE, 0),
    ) {
        let mut b = [0u8; 4];
        c.err(
            "fd_read",
            "on write-only descriptor",
            sys::fd_read_vec(wo, &mut [&mut b]),
            ERRNO_BADF,
        );
        c.err(
            "fd_pread",
            "on write-only descriptor",
            sys::fd_pread(wo, &mut b, 0),
            ERRNO_BADF,
        );
        let _ = sys::fd_close(wo);
    }
}

fn directory(c: &mut Checker, s: Fd) {
    for name in ["c.txt", "a.txt", "b.txt"] {
        if let Ok(f) = open(s, name, OFLAGS_CREAT, ALL_RIGHTS, 0) {
            let _ = sys::fd_close(f);
        }
    }
    let _ = sys::path_create_directory(s, &format!("{DIR}/sub"));
    let Some(d) = c.ok(
        "path_open",
        "scratch directory",
        sys::path_open(s, 0, DIR, OFLAGS_DIRECTORY, DIR_RIGHTS, ALL_RIGHTS, 0),
    ) else {
        return;
    };
    if let Some(st) = c.ok("fd_fdstat_get", "directory", sys::fd_fdstat_get(d)) {
        c.eq(
            "fd_fdstat_get",
            "filetype directory",
            st.fs_filetype,
            FILETYPE_DIRECTORY,
        );
    }
    c.eq(
        "fd_filestat_get",
        "directory filetype",
        sys::fd_filestat_get(d).map(|s| s.filetype),
        Ok(FILETYPE_DIRECTORY),
    );
    if let Some(entries) = c.ok("fd_readdir", "list scratch directory", read_dir(d)) {
        let names: Vec<(String, u8)> = entries
            .iter()
            .map(|e| (e.name.clone(), e.filetype))
            .collect();
        // wasmtime lists "." and ".." first (as directories), then the entries.
        let want: Vec<(String, u8)> = [
            (".", 3u8),
            ("..", 3),
            ("a.txt", 4),
            ("b.txt", 4),
            ("c.txt", 4),
            ("data.txt", 4),
            ("sub", 3),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), *t))
        .collect();
        c.eq("fd_readdir", "names and types, with . and ..", names, want);
    }
    // Cookies: restarting at the cookie of the first entry skips exactly that entry.
    let mut buf = vec![0u8; 4096];
    if let Some(n) = c.ok(
        "fd_readdir",
        "whole listing in one buffer",
        sys::fd_readdir(d, &mut buf, 0),
    ) {
        c.check(
            "fd_readdir",
            "buffer not filled means end of directory",
            n < buf.len(),
            &format!("{n}"),
        );
        let first_len = 24 + u32::from_le_bytes([buf[16], buf[17], buf[18], buf[19]]) as usize;
        let cookie = u64::from_le_bytes(buf[..8].try_into().unwrap_or([0; 8]));
        let mut rest = vec![0u8; 4096];
        let m = sys::fd_readdir(d, &mut rest, cookie).unwrap_or(0);
        c.eq(
            "fd_readdir",
            "resume from first cookie returns the rest",
            rest.get(..m).unwrap_or(&rest[..]).to_vec(),
            buf.get(first_len..n).unwrap_or_default().to_vec(),
        );
        let mut small = vec![0u8; 10];
        c.eq(
            "fd_readdir",
            "10-byte buffer is filled completely",
            sys::fd_readdir(d, &mut small, 0),
            Ok(10),
        );
        let mut end = vec![0u8; 64];
        let last = read_dir(d)
            .ok()
            .and_then(|v| v.iter().map(|e| e.next).max())
            .unwrap_or(0);
        c.eq(
            "fd_readdir",
            "cookie past the last entry returns 0 bytes",
            sys::fd_readdir(d, &mut end, last),
            Ok(0),
        );
    }
    let mut b = [0u8; 16];
    c.err(
        "fd_read",
        "on a directory",
        sys::fd_read_vec(d, &mut [&mut b]),
        ERRNO_BADF,
    );
    c.err(
        "fd_pread",
        "on a directory",
        sys::fd_pread(d, &mut b, 0),
        ERRNO_BADF,
    );
    c.err(
        "fd_write",
        "on a directory",
        sys::fd_write_vec(d, &[b"x"]),
        ERRNO_BADF,
    );
    c.err(
        "fd_seek",
        "on a directory",
        sys::fd_seek(d, 0, WHENCE_SET),
        ERRNO_BADF,
    );
    c.err(
        "fd_filestat_set_size",
        "on a directory",
        sys::fd_filestat_set_size(d, 0),
        ERRNO_BADF,
    );
    c.err(
        "fd_sync",
        "directory opened without write",
        sys::fd_sync(d),
        ERRNO_BADF,
    );
    c.ok(
        "fd_filestat_set_times",
        "directory",
        sys::fd_filestat_set_times(
            d,
            5_000_000_000,
            6_000_000_000,
            FSTFLAGS_ATIM | FSTFLAGS_MTIM,
        ),
    );
    c.eq(
        "fd_filestat_get",
        "directory times as set",
        sys::fd_filestat_get(d).map(|s| (s.atim, s.mtim)),
        Ok((5_000_000_000, 6_000_000_000)),
    );
    if let Ok(f) = open(s, "a.txt", 0, ALL_RIGHTS, 0) {
        let mut buf = vec![0u8; 128];
        c.err(
            "fd_readdir",
            "on a regular file",
            sys::fd_readdir(f, &mut buf, 0),
            ERRNO_BADF,
        );
        let _ = sys::fd_close(f);
    }
    let mut buf = vec![0u8; 128];
    c.err(
        "fd_readdir",
        "closed descriptor",
        sys::fd_readdir(BAD_FD, &mut buf, 0),
        ERRNO_BADF,
    );
    let _ = sys::fd_close(d);
}

fn renumber(c: &mut Checker, s: Fd) {
    let (Ok(a), Ok(b)) = (
        open(s, "a.txt", OFLAGS_TRUNC, ALL_RIGHTS, 0),
        open(s, "b.txt", OFLAGS_TRUNC, ALL_RIGHTS, 0),
    ) else {
        c.fail("fd_renumber", "setup", "cannot open a.txt and b.txt");
        return;
    };
    let _ = sys::fd_write_vec(a, &[b"AAAA"]);
    let _ = sys::fd_write_vec(b, &[b"BB"]);
    c.ok("fd_renumber", "a onto b", sys::fd_renumber(a, b));
    c.err(
        "fd_renumber",
        "source is closed afterwards",
        sys::fd_fdstat_get(a),
        ERRNO_BADF,
    );
    c.eq(
        "fd_renumber",
        "target now refers to a.txt (size 4)",
        sys::fd_filestat_get(b).map(|s| s.size),
        Ok(4),
    );
    c.eq(
        "fd_renumber",
        "target keeps a's position (4)",
        sys::fd_tell(b),
        Ok(4),
    );
    c.err(
        "fd_renumber",
        "closed source",
        sys::fd_renumber(a, b),
        ERRNO_BADF,
    );
    c.err(
        "fd_renumber",
        "closed target",
        sys::fd_renumber(b, BAD_FD),
        ERRNO_BADF,
    );
    c.ok("fd_renumber", "onto itself", sys::fd_renumber(b, b));
    c.eq(
        "fd_renumber",
        "self-renumber keeps it open",
        sys::fd_tell(b),
        Ok(4),
    );
    let _ = sys::fd_close(b);
}

/// Less common paths: stream-only descriptors, flags wasmtime refuses, operations that
/// only make sense on files attempted on a directory, and offsets/sizes that overflow.
fn edge_cases(c: &mut Checker, s: Fd) {
    // The standard streams are not seekable and are one-directional.
    c.err(
        "fd_seek",
        "stdout",
        sys::fd_seek(1, 0, WHENCE_CUR),
        ERRNO_SPIPE,
    );
    c.err("fd_tell", "stdout", sys::fd_tell(1), ERRNO_SPIPE);
    c.err(
        "fd_pread",
        "stdin",
        sys::fd_pread(0, &mut [0u8; 4], 0),
        ERRNO_SPIPE,
    );
    c.err(
        "fd_pwrite",
        "stdout",
        sys::fd_pwrite(1, b"", 0),
        ERRNO_SPIPE,
    );
    c.err(
        "fd_write",
        "stdin",
        sys::fd_write_vec(0, &[b"x"]),
        ERRNO_BADF,
    );
    c.err(
        "fd_read",
        "stdout",
        sys::fd_read_vec(1, &mut [&mut [0u8; 4]]),
        ERRNO_BADF,
    );
    c.err(
        "fd_fdstat_set_flags",
        "APPEND on stdout",
        sys::fd_fdstat_set_flags(1, FDFLAGS_APPEND),
        ERRNO_BADF,
    );

    let d = sys::path_open(s, 0, DIR, OFLAGS_DIRECTORY, DIR_RIGHTS, ALL_RIGHTS, 0);
    if let Some(d) = c.ok("path_open", "scratch directory for edge cases", d) {
        c.err(
            "fd_advise",
            "on a directory",
            sys::fd_advise(d, 0, 0, ADVICE_NORMAL),
            ERRNO_BADF,
        );
        c.err(
            "fd_allocate",
            "on a directory",
            sys::fd_allocate(d, 0, 1),
            ERRNO_BADF,
        );
        c.err(
            "fd_datasync",
            "on a directory",
            sys::fd_datasync(d),
            ERRNO_BADF,
        );
        c.err("fd_tell", "on a directory", sys::fd_tell(d), ERRNO_BADF);
        c.err(
            "fd_fdstat_set_flags",
            "APPEND on a directory",
            sys::fd_fdstat_set_flags(d, FDFLAGS_APPEND),
            ERRNO_BADF,
        );
        let mut buf = [0u8; 64];
        c.eq(
            "fd_readdir",
            "cookie far past the end returns 0 bytes",
            sys::fd_readdir(d, &mut buf, 1 << 40),
            Ok(0),
        );
        let _ = sys::fd_close(d);
    }

    let f = open(s, "edge.bin", OFLAGS_CREAT | OFLAGS_TRUNC, ALL_RIGHTS, 0);
    let Some(f) = c.ok("path_open", "file for edge cases", f) else {
        return;
    };
    c.ok(
        "fd_fdstat_set_flags",
        "NONBLOCK on a file",
        sys::fd_fdstat_set_flags(f, FDFLAGS_NONBLOCK),
    );
    c.eq(
        "fd_fdstat_get",
        "NONBLOCK is reported",
        sys::fd_fdstat_get(f).map(|st| st.fs_flags),
        Ok(FDFLAGS_NONBLOCK),
    );
    for (flag, name) in [
        (FDFLAGS_SYNC, "SYNC"),
        (FDFLAGS_DSYNC, "DSYNC"),
        (FDFLAGS_RSYNC, "RSYNC"),
    ] {
        c.err(
            "fd_fdstat_set_flags",
            &format!("{name} (not changeable)"),
            sys::fd_fdstat_set_flags(f, flag),
            ERRNO_INVAL,
        );
    }
    c.err(
        "fd_filestat_set_size",
        "size 2^64-1",
        sys::fd_filestat_set_size(f, u64::MAX),
        ERRNO_INVAL,
    );
    c.err(
        "fd_pwrite",
        "offset 2^64-2",
        sys::fd_pwrite(f, b"x", u64::MAX - 1),
        ERRNO_INVAL,
    );
    c.eq(
        "fd_filestat_get",
        "failed calls left the file empty",
        sys::fd_filestat_get(f).map(|st| st.size),
        Ok(0),
    );
    c.eq(
        "fd_seek",
        "to 2^63-1 is allowed",
        sys::fd_seek(f, i64::MAX, WHENCE_SET),
        Ok(i64::MAX as u64),
    );
    let _ = sys::fd_close(f);
}

/// Volume: a directory of 120 entries listed through a small buffer (many fd_readdir calls
/// resumed by cookie), and a 1 MiB file written in odd-sized chunks and read back.
fn volume(c: &mut Checker, s: Fd) {
    let _ = sys::path_create_directory(s, &format!("{DIR}/many"));
    let mut want = Vec::new();
    let mut made = 0;
    for i in 0..120 {
        // Names of varying length so entries straddle buffer boundaries differently.
        let name = format!("f{i:03}{}", "x".repeat(i % 7));
        if let Ok(f) = open(
            s,
            &format!("many/{name}"),
            OFLAGS_CREAT | OFLAGS_EXCL,
            ALL_RIGHTS,
            0,
        ) {
            made += 1;
            let _ = sys::fd_close(f);
        }
        want.push(name);
    }
    c.eq("path_open", "created 120 files in one directory", made, 120);
    want.sort();
    let d = sys::path_open(
        s,
        0,
        &format!("{DIR}/many"),
        OFLAGS_DIRECTORY,
        DIR_RIGHTS,
        0,
        0,
    );
    if let Some(d) = c.ok("path_open", "directory of 120 files", d) {
        let names: Result<Vec<String>, Errno> = read_dir(d).map(|v| {
            v.into_iter()
                .map(|e| e.name)
                .filter(|n| n != "." && n != "..")
                .collect()
        });
        c.eq(
            "fd_readdir",
            "120 entries through a 256-byte buffer",
            names,
            Ok(want.clone()),
        );
        let mut one = vec![0u8; 24 + 10];
        let mut cookie = 0u64;
        let mut count = 0;
        for _ in 0..200 {
            match sys::fd_readdir(d, &mut one, cookie) {
                Ok(n) if n >= 24 => {
                    cookie = u64::from_le_bytes(one[..8].try_into().unwrap_or([0; 8]));
                    count += 1;
                }
                _ => break,
            }
        }
        c.eq(
            "fd_readdir",
            "one entry per call, 122 calls with . and ..",
            count,
            122,
        );
        let _ = sys::fd_close(d);
    }
    let removed = want
        .iter()
        .filter(|n| sys::path_unlink_file(s, &format!("{DIR}/many/{n}")).is_ok())
        .count();
    c.eq("path_unlink_file", "removed 120 files", removed, 120);
    c.ok(
        "path_remove_directory",
        "emptied directory",
        sys::path_remove_directory(s, &format!("{DIR}/many")),
    );

    let Ok(f) = open(s, "big.bin", OFLAGS_CREAT | OFLAGS_TRUNC, ALL_RIGHTS, 0) else {
        c.fail("fd_write", "1 MiB file", "cannot create big.bin");
        return;
    };
    let pattern = |i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    let data: Vec<u8> = (0..1 << 20).map(pattern).collect();
    let mut off = 0usize;
    while off < data.len() {
        let end = (off + 3001).min(data.len());
        match sys::fd_write_vec(f, &[&data[off..end]]) {
            Ok(n) if n > 0 => off += n,
            _ => break,
        }
    }
    c.eq("fd_write", "1 MiB in 3001-byte chunks", off, data.len());
    c.eq(
        "fd_filestat_get",
        "size is 1 MiB",
        sys::fd_filestat_get(f).map(|st| st.size),
        Ok(1 << 20),
    );
    let mut back = vec![0u8; data.len()];
    let mut got = 0usize;
    while got < back.len() {
        let end = (got + 65_537).min(back.len());
        match sys::fd_pread(f, &mut back[got..end], got as u64) {
            Ok(n) if n > 0 => got += n,
            _ => break,
        }
    }
    c.check(
        "fd_pread",
        "1 MiB reads back identical",
        got == data.len() && back == data,
        &format!("{got} bytes"),
    );
    let mut mid = [0u8; 5];
    let at = 700_001usize;
    c.eq(
        "fd_pread",
        "5 bytes at offset 700001",
        sys::fd_pread(f, &mut mid, at as u64).map(|n| (n, mid.to_vec())),
        Ok((5, data[at..at + 5].to_vec())),
    );
    let _ = sys::fd_close(f);
    let _ = sys::path_unlink_file(s, &format!("{DIR}/big.bin"));
}

fn main() {
    let mut c = Checker::new("wasi-fd");
    let s = scratch(&mut c, DIR);
    prestat(&mut c, s);
    stdio(&mut c);
    read_write_seek(&mut c, s);
    flags_and_rights(&mut c, s);
    directory(&mut c, s);
    renumber(&mut c, s);
    edge_cases(&mut c, s);
    volume(&mut c, s);
    cleanup(&mut c, DIR);
    c.finish();
}
