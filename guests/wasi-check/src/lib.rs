//! Check harness shared by the WASI test guests (`wasi-env`, `wasi-fd`, `wasi-path`,
//! `wasi-poll`, `wasi-misc`).
//!
//! Every check prints exactly one deterministic line on stdout:
//! `ok <function>: <what>` or `FAIL <function>: <what>: <detail>`, so the output of two
//! runtimes can be compared byte for byte. Values that vary between runs (times, random
//! bytes, inode numbers, fd numbers) are only compared, never printed.
//! [`Checker::finish`] prints a closing line and exits 0 when every check passed, 1 otherwise.
//!
//! Function names and errno values follow `wasi_snapshot_preview1.witx`
//! (WebAssembly/WASI, legacy/preview1).

use core::fmt::Debug;
use std::io::Write;

/// The raw preview1 bindings (wasi 0.11), re-exported so guests use the same version.
pub use wasi;
use wasi::{Errno, Fd};

/// Counts checks and prints one line for each.
#[derive(Debug)]
pub struct Checker {
    guest: &'static str,
    passed: u32,
    failed: u32,
}

/// Name of an errno in the `E<NAME>` form (`EBADF`), or `errno(N)` outside the witx table.
pub fn errno_name(e: Errno) -> String {
    // `Errno::name` is only defined for the 77 witx values (0..=76).
    if e.raw() <= 76 {
        format!("E{}", e.name())
    } else {
        format!("errno({})", e.raw())
    }
}

/// Converts the return value of a raw `wasi_snapshot_preview1` import into a result.
pub fn raw_result(ret: i32) -> Result<(), Errno> {
    if ret == 0 {
        return Ok(());
    }
    let code = u16::try_from(ret).unwrap_or(u16::MAX);
    // SAFETY: `Errno` is `#[repr(transparent)]` over `u16`; every u16 is a valid value of it
    // (unknown codes are only rendered through `errno_name`, which checks the range).
    Err(unsafe { core::mem::transmute::<u16, Errno>(code) })
}

/// Renders a result without its (possibly run-dependent) success value.
fn outcome<T>(r: &Result<T, Errno>) -> String {
    match r {
        Ok(_) => "success".to_string(),
        Err(e) => errno_name(*e),
    }
}

impl Checker {
    /// Starts a run for the guest called `guest` and prints a header line.
    pub fn new(guest: &'static str) -> Self {
        println!("== {guest}");
        Checker {
            guest,
            passed: 0,
            failed: 0,
        }
    }

    /// Records a passed check.
    pub fn pass(&mut self, func: &str, what: &str) {
        self.passed += 1;
        println!("ok {func}: {what}");
    }

    /// Records a failed check with a detail message.
    pub fn fail(&mut self, func: &str, what: &str, detail: &str) {
        self.failed += 1;
        println!("FAIL {func}: {what}: {detail}");
    }

    /// Passes when `cond` holds; `detail` explains a failure.
    pub fn check(&mut self, func: &str, what: &str, cond: bool, detail: &str) -> bool {
        if cond {
            self.pass(func, what);
        } else {
            self.fail(func, what, detail);
        }
        cond
    }

    /// Passes when `got == want`; prints both on failure.
    pub fn eq<T: PartialEq + Debug>(&mut self, func: &str, what: &str, got: T, want: T) -> bool {
        let good = got == want;
        if good {
            self.pass(func, what);
        } else {
            self.fail(func, what, &format!("expected {want:?}, got {got:?}"));
        }
        good
    }

    /// Passes when the call succeeded; returns its value.
    pub fn ok<T>(&mut self, func: &str, what: &str, r: Result<T, Errno>) -> Option<T> {
        match r {
            Ok(v) => {
                self.pass(func, what);
                Some(v)
            }
            Err(e) => {
                self.fail(
                    func,
                    what,
                    &format!("expected success, got {}", errno_name(e)),
                );
                None
            }
        }
    }

    /// Passes when the call failed with exactly `want`.
    pub fn err<T>(&mut self, func: &str, what: &str, r: Result<T, Errno>, want: Errno) -> bool {
        match &r {
            Err(e) if *e == want => {
                self.pass(func, &format!("{what} -> {}", errno_name(want)));
                true
            }
            _ => {
                self.fail(
                    func,
                    &format!("{what} -> {}", errno_name(want)),
                    &format!("got {}", outcome(&r)),
                );
                false
            }
        }
    }

    /// Number of failed checks so far.
    pub fn failures(&self) -> u32 {
        self.failed
    }

    /// Prints the closing line (`== <guest>: all N checks ok` or
    /// `== <guest>: F of N checks FAILED`) and returns whether every check passed.
    pub fn summary(&self) -> bool {
        if self.failed == 0 {
            println!("== {}: all {} checks ok", self.guest, self.passed);
        } else {
            println!(
                "== {}: {} of {} checks FAILED",
                self.guest,
                self.failed,
                self.passed + self.failed
            );
        }
        let _ = std::io::stdout().flush();
        self.failed == 0
    }

    /// Prints the closing line and exits: 0 if every check passed, 1 otherwise.
    pub fn finish(self) -> ! {
        let good = self.summary();
        std::process::exit(if good { 0 } else { 1 })
    }
}

/// Finds the preopened directory whose name is `name` (e.g. `/sandbox`).
///
/// Scans descriptors from 3 upwards with `fd_prestat_get` until the first `EBADF`
/// (preopens are numbered contiguously from 3 by every runtime we target).
pub fn find_preopen(name: &str) -> Option<Fd> {
    for fd in 3..1024u32 {
        // SAFETY: fd_prestat_get writes only into its own return slot.
        let pre = match unsafe { wasi::fd_prestat_get(fd) } {
            Ok(p) => p,
            Err(_) => return None,
        };
        if pre.tag != wasi::PREOPENTYPE_DIR.raw() {
            continue;
        }
        // SAFETY: the tag says this is a directory prestat, so `dir` is the active field.
        let len = unsafe { pre.u.dir.pr_name_len };
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` is exactly `len` writable bytes.
        if unsafe { wasi::fd_prestat_dir_name(fd, buf.as_mut_ptr(), len) }.is_err() {
            continue;
        }
        if buf == name.as_bytes() {
            return Some(fd);
        }
    }
    None
}

/// Finds `/sandbox` (or the preopen named by the `WASI_TEST_DIR` variable) and prepares a
/// fresh, empty sub-directory `dir_name` inside it for this guest's scratch files.
///
/// Returns the preopen fd; the scratch directory is `dir_name` relative to it. Exits with
/// status 2 when the preopen is missing, since no check can run without it.
pub fn scratch(chk: &mut Checker, dir_name: &str) -> Fd {
    let root = std::env::var("WASI_TEST_DIR").unwrap_or_else(|_| "/sandbox".to_string());
    let Some(fd) = find_preopen(&root) else {
        chk.fail(
            "setup",
            "find preopen",
            &format!("no preopened directory named {root}"),
        );
        let _ = std::io::stdout().flush();
        std::process::exit(2);
    };
    // Leftovers from an interrupted earlier run are removed quietly (not a check).
    let _ = std::fs::remove_dir_all(format!("{root}/{dir_name}"));
    // SAFETY: plain WASI call with a valid fd and string.
    if let Err(e) = unsafe { wasi::path_create_directory(fd, dir_name) } {
        chk.fail("setup", "create scratch directory", &errno_name(e));
        let _ = std::io::stdout().flush();
        std::process::exit(2);
    }
    fd
}

/// Removes the scratch directory made by [`scratch`] (recursively) and records a check.
pub fn cleanup(chk: &mut Checker, dir_name: &str) {
    let root = std::env::var("WASI_TEST_DIR").unwrap_or_else(|_| "/sandbox".to_string());
    let r = std::fs::remove_dir_all(format!("{root}/{dir_name}"));
    chk.check(
        "cleanup",
        "remove scratch directory",
        r.is_ok(),
        &format!("{r:?}"),
    );
}

/// Every right defined by preview1 (bits 0..=29).
pub const ALL_RIGHTS: wasi::Rights = (1 << 30) - 1;

/// Rights for opening a directory: everything except the write-type file rights, whose
/// presence makes wasmtime open the node for writing (and so fail with EISDIR).
pub const DIR_RIGHTS: wasi::Rights = ALL_RIGHTS
    & !(wasi::RIGHTS_FD_WRITE | wasi::RIGHTS_FD_ALLOCATE | wasi::RIGHTS_FD_FILESTAT_SET_SIZE);

/// One entry decoded from an `fd_readdir` buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Cookie of the entry after this one.
    pub next: u64,
    /// Entry name.
    pub name: String,
    /// File type byte.
    pub filetype: u8,
}

/// Reads every entry of directory `fd` (fd_readdir, growing cookies), sorted by name.
/// Fails with `EOVERFLOW` if the runtime's answers never reach the end of the directory.
///
/// The sort makes the listing order-independent; `.` and `..` are included if the
/// runtime returns them (the caller decides what to do with them).
pub fn read_dir(fd: Fd) -> Result<Vec<DirEntry>, Errno> {
    let mut out = Vec::new();
    let mut cookie = 0u64;
    let mut buf = vec![0u8; 256];
    // Bounded so that a runtime returning bogus lengths or cookies cannot hang the guest.
    for _ in 0..10_000 {
        // SAFETY: `buf` is writable for its full length.
        let n = unsafe { wasi::fd_readdir(fd, buf.as_mut_ptr(), buf.len(), cookie) }?;
        let n = n.min(buf.len()); // never trust a length beyond the buffer
        let mut off = 0usize;
        let mut progressed = false;
        while off + 24 <= n {
            let next = u64::from_le_bytes(buf[off..off + 8].try_into().unwrap_or([0; 8]));
            let namlen =
                u32::from_le_bytes(buf[off + 16..off + 20].try_into().unwrap_or([0; 4])) as usize;
            let filetype = buf[off + 20];
            if off + 24 + namlen > n {
                break; // truncated entry: re-read from its cookie
            }
            let name = String::from_utf8_lossy(&buf[off + 24..off + 24 + namlen]).into_owned();
            out.push(DirEntry {
                next,
                name,
                filetype,
            });
            cookie = next;
            progressed = true;
            off += 24 + namlen;
        }
        if n < buf.len() {
            out.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(out); // buffer not filled: end of directory
        }
        if !progressed {
            if buf.len() >= 1 << 16 {
                return Err(wasi::ERRNO_OVERFLOW); // an entry longer than 64 KiB
            }
            buf.resize(buf.len() * 2, 0); // one entry larger than the buffer
        }
    }
    Err(wasi::ERRNO_OVERFLOW) // more than 10000 reads: the cookies do not advance
}

/// Safe wrappers for the preview1 calls whose arguments are scalars, strings or slices.
///
/// The `wasi` crate marks every import `unsafe` because some take raw pointers; the ones
/// below only read the slices/strings they are given (or write into values the binding
/// owns), so calling them cannot break memory safety. Pointer-taking calls (`args_get`,
/// `fd_readdir`, `poll_oneoff`, `random_get`, ...) stay `unsafe` at their call sites.
#[allow(clippy::missing_safety_doc)]
pub mod sys {
    use wasi::*;

    /// `fd_advise`.
    pub fn fd_advise(fd: Fd, off: Filesize, len: Filesize, a: Advice) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_advise(fd, off, len, a) }
    }
    /// `fd_allocate`.
    pub fn fd_allocate(fd: Fd, off: Filesize, len: Filesize) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_allocate(fd, off, len) }
    }
    /// `fd_close`.
    pub fn fd_close(fd: Fd) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_close(fd) }
    }
    /// `fd_datasync`.
    pub fn fd_datasync(fd: Fd) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_datasync(fd) }
    }
    /// `fd_fdstat_get`.
    pub fn fd_fdstat_get(fd: Fd) -> Result<Fdstat, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_fdstat_get(fd) }
    }
    /// `fd_fdstat_set_flags`.
    pub fn fd_fdstat_set_flags(fd: Fd, f: Fdflags) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_fdstat_set_flags(fd, f) }
    }
    /// `fd_fdstat_set_rights`.
    pub fn fd_fdstat_set_rights(fd: Fd, base: Rights, inh: Rights) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_fdstat_set_rights(fd, base, inh) }
    }
    /// `fd_filestat_get`.
    pub fn fd_filestat_get(fd: Fd) -> Result<Filestat, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_filestat_get(fd) }
    }
    /// `fd_filestat_set_size`.
    pub fn fd_filestat_set_size(fd: Fd, size: Filesize) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_filestat_set_size(fd, size) }
    }
    /// `fd_filestat_set_times`.
    pub fn fd_filestat_set_times(
        fd: Fd,
        a: Timestamp,
        m: Timestamp,
        f: Fstflags,
    ) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_filestat_set_times(fd, a, m, f) }
    }
    /// `fd_pread` into `buf`; returns the bytes read.
    pub fn fd_pread(fd: Fd, buf: &mut [u8], off: Filesize) -> Result<usize, Errno> {
        let iov = [Iovec {
            buf: buf.as_mut_ptr(),
            buf_len: buf.len(),
        }];
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_pread(fd, &iov, off) }
    }
    /// `fd_pwrite` of `data`.
    pub fn fd_pwrite(fd: Fd, data: &[u8], off: Filesize) -> Result<usize, Errno> {
        let iov = [Ciovec {
            buf: data.as_ptr(),
            buf_len: data.len(),
        }];
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_pwrite(fd, &iov, off) }
    }
    /// `fd_read` into several buffers at once (scatter).
    pub fn fd_read_vec(fd: Fd, bufs: &mut [&mut [u8]]) -> Result<usize, Errno> {
        let iov: Vec<Iovec> = bufs
            .iter_mut()
            .map(|b| Iovec {
                buf: b.as_mut_ptr(),
                buf_len: b.len(),
            })
            .collect();
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_read(fd, &iov) }
    }
    /// `fd_write` of several buffers at once (gather).
    pub fn fd_write_vec(fd: Fd, bufs: &[&[u8]]) -> Result<usize, Errno> {
        let iov: Vec<Ciovec> = bufs
            .iter()
            .map(|b| Ciovec {
                buf: b.as_ptr(),
                buf_len: b.len(),
            })
            .collect();
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_write(fd, &iov) }
    }
    /// `fd_readdir` into `buf` from `cookie`; returns the bytes used.
    pub fn fd_readdir(fd: Fd, buf: &mut [u8], cookie: Dircookie) -> Result<usize, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_readdir(fd, buf.as_mut_ptr(), buf.len(), cookie) }
    }
    /// `fd_prestat_get`.
    pub fn fd_prestat_get(fd: Fd) -> Result<Prestat, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_prestat_get(fd) }
    }
    /// `fd_prestat_dir_name` into `buf`.
    pub fn fd_prestat_dir_name(fd: Fd, buf: &mut [u8]) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_prestat_dir_name(fd, buf.as_mut_ptr(), buf.len()) }
    }
    /// `fd_renumber`.
    pub fn fd_renumber(fd: Fd, to: Fd) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_renumber(fd, to) }
    }
    /// `fd_seek`.
    pub fn fd_seek(fd: Fd, delta: Filedelta, w: Whence) -> Result<Filesize, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_seek(fd, delta, w) }
    }
    /// `fd_sync`.
    pub fn fd_sync(fd: Fd) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_sync(fd) }
    }
    /// `fd_tell`.
    pub fn fd_tell(fd: Fd) -> Result<Filesize, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::fd_tell(fd) }
    }
    /// `path_create_directory`.
    pub fn path_create_directory(fd: Fd, p: &str) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_create_directory(fd, p) }
    }
    /// `path_filestat_get`.
    pub fn path_filestat_get(fd: Fd, fl: Lookupflags, p: &str) -> Result<Filestat, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_filestat_get(fd, fl, p) }
    }
    /// `path_filestat_set_times`.
    pub fn path_filestat_set_times(
        fd: Fd,
        fl: Lookupflags,
        p: &str,
        a: Timestamp,
        m: Timestamp,
        f: Fstflags,
    ) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_filestat_set_times(fd, fl, p, a, m, f) }
    }
    /// `path_link`.
    pub fn path_link(ofd: Fd, fl: Lookupflags, op: &str, nfd: Fd, np: &str) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_link(ofd, fl, op, nfd, np) }
    }
    /// `path_open`.
    pub fn path_open(
        fd: Fd,
        dirflags: Lookupflags,
        p: &str,
        o: Oflags,
        base: Rights,
        inh: Rights,
        f: Fdflags,
    ) -> Result<Fd, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_open(fd, dirflags, p, o, base, inh, f) }
    }
    /// `path_readlink` into `buf`; returns the bytes written.
    pub fn path_readlink(fd: Fd, p: &str, buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_readlink(fd, p, buf.as_mut_ptr(), buf.len()) }
    }
    /// `path_remove_directory`.
    pub fn path_remove_directory(fd: Fd, p: &str) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_remove_directory(fd, p) }
    }
    /// `path_rename`.
    pub fn path_rename(fd: Fd, op: &str, nfd: Fd, np: &str) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_rename(fd, op, nfd, np) }
    }
    /// `path_symlink`.
    pub fn path_symlink(target: &str, fd: Fd, np: &str) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_symlink(target, fd, np) }
    }
    /// `path_unlink_file`.
    pub fn path_unlink_file(fd: Fd, p: &str) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::path_unlink_file(fd, p) }
    }
    /// `clock_res_get`.
    pub fn clock_res_get(id: Clockid) -> Result<Timestamp, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::clock_res_get(id) }
    }
    /// `clock_time_get`.
    pub fn clock_time_get(id: Clockid, precision: Timestamp) -> Result<Timestamp, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::clock_time_get(id, precision) }
    }
    /// `random_get` into `buf`.
    pub fn random_get(buf: &mut [u8]) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::random_get(buf.as_mut_ptr(), buf.len()) }
    }
    /// `sched_yield`.
    pub fn sched_yield() -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::sched_yield() }
    }
    /// `proc_raise`.
    pub fn proc_raise(sig: Signal) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::proc_raise(sig) }
    }
    /// `sock_accept`.
    pub fn sock_accept(fd: Fd, f: Fdflags) -> Result<Fd, Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::sock_accept(fd, f) }
    }
    /// `sock_recv` into `buf`.
    pub fn sock_recv(fd: Fd, buf: &mut [u8], f: Riflags) -> Result<(usize, Roflags), Errno> {
        let iov = [Iovec {
            buf: buf.as_mut_ptr(),
            buf_len: buf.len(),
        }];
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::sock_recv(fd, &iov, f) }
    }
    /// `sock_send` of `data`.
    pub fn sock_send(fd: Fd, data: &[u8], f: Siflags) -> Result<usize, Errno> {
        let iov = [Ciovec {
            buf: data.as_ptr(),
            buf_len: data.len(),
        }];
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::sock_send(fd, &iov, f) }
    }
    /// `sock_shutdown`.
    pub fn sock_shutdown(fd: Fd, how: Sdflags) -> Result<(), Errno> {
        // SAFETY: scalar, string or slice arguments only (see the module doc).
        unsafe { wasi::sock_shutdown(fd, how) }
    }
}
