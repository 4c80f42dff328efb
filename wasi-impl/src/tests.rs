//! Host tests: hand-written WAT guests call the WASI functions through wasmi exactly as a real
//! guest does; each guest reports results by writing raw little-endian values to stdout with
//! `fd_write` (`$emit` for an i32, `$emit64` for an i64), and the test decodes them.

use crate::abi::rights;
use crate::ramfs::{self, Ramfs};
use crate::*;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

/// witx errno numbers used in assertions.
mod e {
    pub const BADF: u32 = 8;
    pub const EXIST: u32 = 20;
    pub const FAULT: u32 = 21;
    pub const ILSEQ: u32 = 25;
    pub const INVAL: u32 = 28;
    pub const ISDIR: u32 = 31;
    pub const LOOP: u32 = 32;
    pub const MFILE: u32 = 33;
    pub const NAMETOOLONG: u32 = 37;
    pub const NOENT: u32 = 44;
    pub const NOMEM: u32 = 48;
    pub const NOSPC: u32 = 51;
    pub const NOTDIR: u32 = 54;
    pub const NOTEMPTY: u32 = 55;
    pub const NOTSOCK: u32 = 57;
    pub const NOTSUP: u32 = 58;
    pub const PERM: u32 = 63;
    pub const SPIPE: u32 = 70;
    pub const NOTCAPABLE: u32 = 76;
}

/// Deterministic services: virtual clocks (sleeping advances the monotonic clock), a
/// counting "random" source, captured stdio.
#[derive(Debug, Default)]
struct TestServices {
    mono: u64,
    wall: u64,
    out: Vec<u8>,
    err: Vec<u8>,
    stdin: VecDeque<u8>,
    sleeps: Vec<u64>,
    yields: u32,
    rng: u8,
    /// Nanoseconds the monotonic clock advances at every reading (0: only sleeps move it).
    tick: u64,
    /// Every `watchdog_arm` call.
    arms: Vec<Option<u64>>,
    /// What `watchdog_fired` answers (the embedder's timer flag).
    fired: bool,
    /// What `has_heap_room` grants (`None`: anything).
    heap_room: Option<usize>,
    /// `sched_yield` sets `heap_room` to this (a guest's way to say "the heap is full now").
    room_after_yield: Option<usize>,
}

impl Services for TestServices {
    fn monotonic_now(&mut self) -> u64 {
        self.mono += self.tick;
        self.mono
    }
    fn monotonic_resolution(&self) -> u64 {
        7
    }
    fn watchdog_arm(&mut self, deadline_ns: Option<u64>) {
        self.arms.push(deadline_ns);
    }
    fn watchdog_fired(&mut self) -> bool {
        self.fired
    }
    fn wall_now(&mut self) -> u64 {
        self.wall
    }
    fn wall_resolution(&self) -> u64 {
        1000
    }
    fn random(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.rng = self.rng.wrapping_add(1);
            *b = self.rng;
        }
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn stderr(&mut self, bytes: &[u8]) {
        self.err.extend_from_slice(bytes);
    }
    fn read_stdin(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut n = 0;
        while n < buf.len() {
            match self.stdin.pop_front() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }
    fn sleep_until(&mut self, deadline_ns: u64) {
        self.sleeps.push(deadline_ns);
        self.mono = self.mono.max(deadline_ns);
    }
    fn sched_yield(&mut self) {
        self.yields += 1;
        if self.room_after_yield.is_some() {
            self.heap_room = self.room_after_yield;
        }
    }
    fn has_heap_room(&self, bytes: usize) -> bool {
        self.heap_room.is_none_or(|r| bytes <= r)
    }
}

/// Signatures of every WASI import, so each test module can import them all.
const SIGS: &[(&str, &str)] = &[
    ("args_get", "(param i32 i32) (result i32)"),
    ("args_sizes_get", "(param i32 i32) (result i32)"),
    ("environ_get", "(param i32 i32) (result i32)"),
    ("environ_sizes_get", "(param i32 i32) (result i32)"),
    ("clock_res_get", "(param i32 i32) (result i32)"),
    ("clock_time_get", "(param i32 i64 i32) (result i32)"),
    ("fd_advise", "(param i32 i64 i64 i32) (result i32)"),
    ("fd_allocate", "(param i32 i64 i64) (result i32)"),
    ("fd_close", "(param i32) (result i32)"),
    ("fd_datasync", "(param i32) (result i32)"),
    ("fd_fdstat_get", "(param i32 i32) (result i32)"),
    ("fd_fdstat_set_flags", "(param i32 i32) (result i32)"),
    ("fd_fdstat_set_rights", "(param i32 i64 i64) (result i32)"),
    ("fd_filestat_get", "(param i32 i32) (result i32)"),
    ("fd_filestat_set_size", "(param i32 i64) (result i32)"),
    (
        "fd_filestat_set_times",
        "(param i32 i64 i64 i32) (result i32)",
    ),
    ("fd_pread", "(param i32 i32 i32 i64 i32) (result i32)"),
    ("fd_prestat_get", "(param i32 i32) (result i32)"),
    ("fd_prestat_dir_name", "(param i32 i32 i32) (result i32)"),
    ("fd_pwrite", "(param i32 i32 i32 i64 i32) (result i32)"),
    ("fd_read", "(param i32 i32 i32 i32) (result i32)"),
    ("fd_readdir", "(param i32 i32 i32 i64 i32) (result i32)"),
    ("fd_renumber", "(param i32 i32) (result i32)"),
    ("fd_seek", "(param i32 i64 i32 i32) (result i32)"),
    ("fd_sync", "(param i32) (result i32)"),
    ("fd_tell", "(param i32 i32) (result i32)"),
    ("fd_write", "(param i32 i32 i32 i32) (result i32)"),
    ("path_create_directory", "(param i32 i32 i32) (result i32)"),
    (
        "path_filestat_get",
        "(param i32 i32 i32 i32 i32) (result i32)",
    ),
    (
        "path_filestat_set_times",
        "(param i32 i32 i32 i32 i64 i64 i32) (result i32)",
    ),
    (
        "path_link",
        "(param i32 i32 i32 i32 i32 i32 i32) (result i32)",
    ),
    (
        "path_open",
        "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)",
    ),
    (
        "path_readlink",
        "(param i32 i32 i32 i32 i32 i32) (result i32)",
    ),
    ("path_remove_directory", "(param i32 i32 i32) (result i32)"),
    (
        "path_rename",
        "(param i32 i32 i32 i32 i32 i32) (result i32)",
    ),
    ("path_symlink", "(param i32 i32 i32 i32 i32) (result i32)"),
    ("path_unlink_file", "(param i32 i32 i32) (result i32)"),
    ("poll_oneoff", "(param i32 i32 i32 i32) (result i32)"),
    ("proc_exit", "(param i32)"),
    ("proc_raise", "(param i32) (result i32)"),
    ("random_get", "(param i32 i32) (result i32)"),
    ("sched_yield", "(result i32)"),
    ("sock_accept", "(param i32 i32 i32) (result i32)"),
    ("sock_recv", "(param i32 i32 i32 i32 i32 i32) (result i32)"),
    ("sock_send", "(param i32 i32 i32 i32 i32) (result i32)"),
    ("sock_shutdown", "(param i32 i32) (result i32)"),
];

/// Builds a module importing every WASI function (as `$name`), with one exported page of
/// memory, `data` segments, the `$emit`/`$emit64`/`$emit_mem` helpers (which use bytes 0..32
/// of memory as scratch) and `_start` = `body`.
fn module(data: &str, body: &str) -> Vec<u8> {
    let mut src = String::from("(module\n");
    for (name, sig) in SIGS {
        src += &format!("(import \"wasi_snapshot_preview1\" \"{name}\" (func ${name} {sig}))\n");
    }
    src += "(memory (export \"memory\") 1)\n";
    src += data;
    src += r#"
      (func $emit_mem (param i32 i32)
        (i32.store (i32.const 8) (local.get 0))
        (i32.store (i32.const 12) (local.get 1))
        (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16))))
      (func $emit (param i32)
        (i32.store (i32.const 0) (local.get 0))
        (call $emit_mem (i32.const 0) (i32.const 4)))
      (func $emit64 (param i64)
        (i64.store (i32.const 24) (local.get 0))
        (call $emit_mem (i32.const 24) (i32.const 8)))
      (func $start (export "_start")
    "#;
    src += body;
    src += "))";
    wat::parse_str(&src).unwrap_or_else(|e| panic!("bad test WAT: {e}\n{src}"))
}

fn new_fs() -> (SharedFs, ramfs::Ino) {
    let fs = Ramfs::new(
        ramfs::Config::default(),
        alloc::boxed::Box::new(|| 5_000u64),
    );
    let root = fs.root();
    (alloc::rc::Rc::new(core::cell::RefCell::new(fs)), root)
}

fn config(fs: &SharedFs, dir: ramfs::Ino) -> GuestConfig {
    GuestConfig {
        name: "test.wasm".to_string(),
        args: vec!["prog".to_string(), "a1".to_string()],
        env: vec![("K".to_string(), "V".to_string())],
        preopens: vec![Preopen {
            guest_path: "/sandbox".to_string(),
            fs: fs.clone(),
            dir,
            readonly: false,
        }],
        limits: Limits::default(),
        wasm_backtrace: true,
    }
}

/// Decodes the values a guest emitted.
struct Out<'a>(&'a [u8]);

impl Out<'_> {
    fn u32(&mut self) -> u32 {
        let (a, b) = self.0.split_at(4);
        self.0 = b;
        u32::from_le_bytes(a.try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        let (a, b) = self.0.split_at(8);
        self.0 = b;
        u64::from_le_bytes(a.try_into().unwrap())
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
    fn done(&self) {
        assert!(self.0.is_empty(), "unread output: {:?}", self.0);
    }
}

/// Runs a module with a fresh ramfs preopened at fd 3; returns the report and services.
fn run_with(
    data: &str,
    body: &str,
    f: impl FnOnce(&mut GuestConfig, &SharedFs),
) -> (RunReport, TestServices) {
    let (fs, root) = new_fs();
    let mut cfg = config(&fs, root);
    f(&mut cfg, &fs);
    let mut s = TestServices {
        mono: 1_000,
        wall: 1_700_000_000_000_000_000,
        ..Default::default()
    };
    let r = run(&module(data, body), cfg, &mut s);
    (r, s)
}

fn run_ok(data: &str, body: &str) -> TestServices {
    let (r, s) = run_with(data, body, |_, _| {});
    assert_eq!(
        r.outcome,
        Outcome::Exited(0),
        "stderr: {}",
        String::from_utf8_lossy(&s.err)
    );
    s
}

#[test]
fn args_and_environ() {
    let s = run_ok(
        "",
        "(call $emit (call $args_sizes_get (i32.const 100) (i32.const 104)))
         (call $emit (i32.load (i32.const 100)))
         (call $emit (i32.load (i32.const 104)))
         (call $emit (call $args_get (i32.const 200) (i32.const 300)))
         (call $emit (i32.load (i32.const 200)))
         (call $emit (i32.load (i32.const 204)))
         (call $emit_mem (i32.const 300) (i32.const 8))
         (call $emit (call $environ_sizes_get (i32.const 100) (i32.const 104)))
         (call $emit (i32.load (i32.const 100)))
         (call $emit (i32.load (i32.const 104)))
         (call $emit (call $environ_get (i32.const 200) (i32.const 300)))
         (call $emit_mem (i32.const 300) (i32.const 4))
         ;; error paths: pointers outside memory
         (call $emit (call $args_get (i32.const 65534) (i32.const 300)))
         (call $emit (call $args_sizes_get (i32.const 100) (i32.const 65533)))
         (call $emit (call $environ_get (i32.const 200) (i32.const 65535)))
         (call $emit (call $environ_sizes_get (i32.const -1) (i32.const 0)))",
    );
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32(), o.u32()), (0, 2, 8)); // "prog\0a1\0"
    assert_eq!((o.u32(), o.u32(), o.u32()), (0, 300, 305));
    assert_eq!(o.bytes(8), b"prog\0a1\0");
    assert_eq!((o.u32(), o.u32(), o.u32()), (0, 1, 4)); // "K=V\0"
    assert_eq!(o.u32(), 0);
    assert_eq!(o.bytes(4), b"K=V\0");
    assert_eq!([o.u32(), o.u32(), o.u32(), o.u32()], [e::FAULT; 4]);
    o.done();
}

#[test]
fn clocks_random_yield_raise() {
    let s = run_ok(
        "",
        "(call $emit (call $clock_res_get (i32.const 0) (i32.const 100)))
         (call $emit64 (i64.load (i32.const 100)))
         (call $emit (call $clock_res_get (i32.const 1) (i32.const 100)))
         (call $emit64 (i64.load (i32.const 100)))
         (call $emit (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 100)))
         (call $emit64 (i64.load (i32.const 100)))
         (call $emit (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 100)))
         (call $emit64 (i64.load (i32.const 100)))
         (call $emit (call $clock_time_get (i32.const 2) (i64.const 1) (i32.const 100)))
         (call $emit (call $clock_res_get (i32.const 9) (i32.const 100)))
         (call $emit (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 65530)))
         (call $emit (call $random_get (i32.const 100) (i32.const 4)))
         (call $emit_mem (i32.const 100) (i32.const 4))
         (call $emit (call $random_get (i32.const 65535) (i32.const 2)))
         (call $emit (call $sched_yield))
         (call $emit (call $proc_raise (i32.const 6)))
         (call $emit (call $proc_raise (i32.const 31)))",
    );
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u64()), (0, 1000));
    assert_eq!((o.u32(), o.u64()), (0, 7));
    assert_eq!((o.u32(), o.u64()), (0, 1_700_000_000_000_000_000));
    assert_eq!((o.u32(), o.u64()), (0, 1_000));
    assert_eq!(o.u32(), e::BADF); // process cputime: not provided, as wasmtime
    assert_eq!(o.u32(), e::INVAL); // no such clock
    assert_eq!(o.u32(), e::FAULT);
    assert_eq!(o.u32(), 0);
    assert_eq!(o.bytes(4), [1, 2, 3, 4]);
    assert_eq!(o.u32(), e::FAULT);
    assert_eq!(o.u32(), 0);
    assert_eq!(s.yields, 1);
    assert_eq!((o.u32(), o.u32()), (e::NOTSUP, e::INVAL));
    o.done();
}

#[test]
fn stdio_read_write_and_errors() {
    let (fs, root) = new_fs();
    let cfg = config(&fs, root);
    let mut s = TestServices {
        stdin: b"hello".iter().copied().collect(),
        ..Default::default()
    };
    let m = module(
        r#"(data (i32.const 100) "\c8\00\00\00\03\00\00\00\d0\00\00\00\02\00\00\00")
           (data (i32.const 200) "abc")
           (data (i32.const 208) "de")"#,
        "(call $emit (call $fd_write (i32.const 2) (i32.const 100) (i32.const 2) (i32.const 120)))
         (call $emit (i32.load (i32.const 120)))
         (call $emit (call $fd_write (i32.const 99) (i32.const 100) (i32.const 2) (i32.const 120)))
         (call $emit (call $fd_write (i32.const 0) (i32.const 100) (i32.const 2) (i32.const 120)))
         (call $emit (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 2) (i32.const 120)))
         ;; read stdin into the 3-byte buffer at 200
         (call $emit (call $fd_read (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 120)))
         (call $emit (i32.load (i32.const 120)))
         (call $emit_mem (i32.const 200) (i32.const 3))
         (call $emit (call $fd_read (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 120)))
         (call $emit (call $fd_pread (i32.const 0) (i32.const 100) (i32.const 1) (i64.const 0) (i32.const 120)))
         (call $emit (call $fd_pwrite (i32.const 1) (i32.const 100) (i32.const 1) (i64.const 0) (i32.const 120)))
         (call $emit (call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 120)))
         (call $emit (call $fd_tell (i32.const 0) (i32.const 120)))",
    );
    let r = run(&m, cfg, &mut s);
    assert_eq!(r.outcome, Outcome::Exited(0));
    assert_eq!(s.err, b"abcde");
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32()), (0, 5));
    assert_eq!((o.u32(), o.u32(), o.u32()), (e::BADF, e::BADF, e::FAULT));
    assert_eq!((o.u32(), o.u32()), (0, 3));
    assert_eq!(o.bytes(3), b"hel");
    assert_eq!(o.u32(), e::BADF);
    assert_eq!([o.u32(), o.u32(), o.u32(), o.u32()], [e::SPIPE; 4]);
    o.done();
}

#[test]
fn sockets_are_enotsock() {
    let s = run_ok(
        "",
        "(call $emit (call $sock_accept (i32.const 1) (i32.const 0) (i32.const 100)))
         (call $emit (call $sock_accept (i32.const 42) (i32.const 0) (i32.const 100)))
         (call $emit (call $sock_recv (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 104)))
         (call $emit (call $sock_recv (i32.const 42) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 104)))
         (call $emit (call $sock_send (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100)))
         (call $emit (call $sock_send (i32.const 42) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100)))
         (call $emit (call $sock_shutdown (i32.const 2) (i32.const 3)))
         (call $emit (call $sock_shutdown (i32.const 2) (i32.const 4)))",
    );
    let mut o = Out(&s.out);
    let got: Vec<u32> = (0..8).map(|_| o.u32()).collect();
    assert_eq!(
        got,
        [
            e::NOTSOCK,
            e::BADF,
            e::NOTSOCK,
            e::BADF,
            e::NOTSOCK,
            e::BADF,
            e::NOTSOCK,
            e::INVAL
        ]
    );
    o.done();
}

#[test]
fn proc_exit_codes() {
    let (r, _) = run_with("", "(call $proc_exit (i32.const 7))", |_, _| {});
    assert_eq!(r.outcome, Outcome::Exited(7));
    let (r, _) = run_with("", "(call $proc_exit (i32.const 200))", |_, _| {});
    match r.outcome {
        Outcome::Trapped(t) => {
            assert_eq!(t.kind, TrapKind::Host);
            assert!(t.message.contains("invalid exit status"), "{}", t.message);
            assert!(t.backtrace[0].contains("proc_exit"));
        }
        o => panic!("{o:?}"),
    }
    let (r, _) = run_with("", "", |_, _| {});
    assert_eq!(r.outcome, Outcome::Exited(0));
}

/// A file `name` (at address 400) opened read-write with create: emits the errno, leaves
/// the fd at address 120.
const OPEN_RW: &str =
    "(call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 400) (i32.const 5)
      (i32.const 1) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 120)))";

#[test]
fn files_read_write_seek() {
    let s = run_ok(
        r#"(data (i32.const 400) "f.txt")
           (data (i32.const 100) "\c8\00\00\00\05\00\00\00")
           (data (i32.const 200) "hello")
           (data (i32.const 140) "\f0\00\00\00\10\00\00\00")"#,
        &format!(
            "{OPEN_RW}
         (call $emit (i32.load (i32.const 120)))
         (call $emit (call $fd_write (i32.load (i32.const 120)) (i32.const 100) (i32.const 1) (i32.const 124)))
         (call $emit (i32.load (i32.const 124)))
         (call $emit (call $fd_tell (i32.load (i32.const 120)) (i32.const 128)))
         (call $emit64 (i64.load (i32.const 128)))
         (call $emit (call $fd_seek (i32.load (i32.const 120)) (i64.const -4) (i32.const 2) (i32.const 128)))
         (call $emit64 (i64.load (i32.const 128)))
         (call $emit (call $fd_read (i32.load (i32.const 120)) (i32.const 140) (i32.const 1) (i32.const 124)))
         (call $emit (i32.load (i32.const 124)))
         (call $emit_mem (i32.const 240) (i32.const 4))
         (call $emit (call $fd_pwrite (i32.load (i32.const 120)) (i32.const 100) (i32.const 1) (i64.const 10) (i32.const 124)))
         (call $emit (call $fd_pread (i32.load (i32.const 120)) (i32.const 140) (i32.const 1) (i64.const 8) (i32.const 124)))
         (call $emit (i32.load (i32.const 124)))
         (call $emit_mem (i32.const 240) (i32.const 7))
         ;; errors
         (call $emit (call $fd_seek (i32.load (i32.const 120)) (i64.const -100) (i32.const 1) (i32.const 128)))
         (call $emit (call $fd_seek (i32.load (i32.const 120)) (i64.const 0) (i32.const 3) (i32.const 128)))
         (call $emit (call $fd_seek (i32.const 3) (i64.const 0) (i32.const 0) (i32.const 128)))
         (call $emit (call $fd_read (i32.const 3) (i32.const 140) (i32.const 1) (i32.const 124)))
         (call $emit (call $fd_write (i32.load (i32.const 120)) (i32.const 100) (i32.const 1) (i32.const 70000)))
         (call $emit (call $fd_close (i32.load (i32.const 120))))
         (call $emit (call $fd_close (i32.load (i32.const 120))))
         (call $emit (call $fd_tell (i32.load (i32.const 120)) (i32.const 128)))"
        ),
    );
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32()), (0, 4));
    assert_eq!((o.u32(), o.u32()), (0, 5));
    assert_eq!((o.u32(), o.u64()), (0, 5));
    assert_eq!((o.u32(), o.u64()), (0, 1));
    assert_eq!((o.u32(), o.u32()), (0, 4));
    assert_eq!(o.bytes(4), b"ello");
    assert_eq!(o.u32(), 0);
    assert_eq!((o.u32(), o.u32()), (0, 7)); // "\0\0hello" from offset 8: 3..15 = 7 bytes
    assert_eq!(o.bytes(7), b"\0\0hello");
    let errs: Vec<u32> = (0..8).map(|_| o.u32()).collect();
    assert_eq!(
        errs,
        [
            e::INVAL,
            e::INVAL,
            e::BADF,
            e::BADF,
            e::FAULT,
            0,
            e::BADF,
            e::BADF
        ]
    );
    o.done();
}

#[test]
fn path_open_errors_and_rights() {
    let s = run_ok(
        r#"(data (i32.const 400) "f.txt")
           (data (i32.const 410) "nope/x")
           (data (i32.const 420) "../up")
           (data (i32.const 430) "\ff\fe")
           (data (i32.const 100) "\c8\00\00\00\05\00\00\00")"#,
        &format!(
            "{OPEN_RW}
         ;; exclusive create of an existing file
         (call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 400) (i32.const 5)
            (i32.const 5) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 410) (i32.const 6)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 420) (i32.const 5)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 430) (i32.const 2)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_open (i32.load (i32.const 120)) (i32.const 1) (i32.const 400) (i32.const 5)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_open (i32.const 1) (i32.const 1) (i32.const 400) (i32.const 5)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 400) (i32.const 5)
            (i32.const 16) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 400) (i32.const 5)
            (i32.const 2) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 65533) (i32.const 5)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         ;; read-only open (rights = fd_read): writing is EBADF, fdstat shows the rights
         (call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 400) (i32.const 5)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $fd_write (i32.load (i32.const 124)) (i32.const 100) (i32.const 1) (i32.const 128)))
         (call $emit (call $fd_fdstat_get (i32.load (i32.const 124)) (i32.const 500)))
         (call $emit_mem (i32.const 500) (i32.const 24))
         (call $emit (call $fd_fdstat_get (i32.const 3) (i32.const 500)))
         (call $emit_mem (i32.const 500) (i32.const 24))
         (call $emit (call $fd_fdstat_get (i32.const 1) (i32.const 500)))
         (call $emit_mem (i32.const 500) (i32.const 24))
         (call $emit (call $fd_fdstat_get (i32.const 77) (i32.const 500)))
         (call $emit (call $fd_fdstat_get (i32.const 1) (i32.const 65530)))
         ;; changing rights is ENOTSUP (wasmtime); the fd keeps its rights
         (call $emit (call $fd_fdstat_set_rights (i32.load (i32.const 120)) (i64.const 0x42) (i64.const 0)))
         (call $emit (call $fd_seek (i32.load (i32.const 120)) (i64.const 0) (i32.const 0) (i32.const 128)))
         (call $emit (call $fd_fdstat_set_rights (i32.load (i32.const 120)) (i64.const 0x46) (i64.const 0)))
         (call $emit (call $fd_fdstat_set_rights (i32.const 1) (i64.const 0) (i64.const 0)))
         ;; flags
         (call $emit (call $fd_fdstat_set_flags (i32.load (i32.const 124)) (i32.const 1)))
         (call $emit (call $fd_fdstat_get (i32.load (i32.const 124)) (i32.const 500)))
         (call $emit (i32.load16_u (i32.const 502)))
         (call $emit (call $fd_fdstat_set_flags (i32.load (i32.const 124)) (i32.const 2)))
         (call $emit (call $fd_fdstat_set_flags (i32.const 3) (i32.const 0)))"
        ),
    );
    let mut o = Out(&s.out);
    assert_eq!(o.u32(), 0);
    let errs: Vec<u32> = (0..9).map(|_| o.u32()).collect();
    assert_eq!(
        errs,
        [
            e::EXIST,
            e::NOENT,
            e::PERM,
            e::ILSEQ,
            e::NOTDIR,
            e::BADF,
            e::INVAL,
            e::NOTDIR,
            e::FAULT
        ]
    );
    assert_eq!((o.u32(), o.u32()), (0, e::BADF));
    // file opened for reading: all rights but fd_write (wasmtime's computation)
    assert_eq!(o.u32(), 0);
    let st = o.bytes(24);
    assert_eq!(st[0], 4);
    assert_eq!(
        u64::from_le_bytes(st[8..16].try_into().unwrap()),
        rights::ALL & !rights::FD_WRITE
    );
    assert_eq!(
        u64::from_le_bytes(st[16..24].try_into().unwrap()),
        rights::ALL & !rights::FD_WRITE
    );
    // preopen
    assert_eq!(o.u32(), 0);
    let st = o.bytes(24);
    assert_eq!(st[0], 3);
    assert_eq!(
        u64::from_le_bytes(st[8..16].try_into().unwrap()),
        rights::DIR_BASE
    );
    assert_eq!(
        u64::from_le_bytes(st[16..24].try_into().unwrap()),
        rights::DIR_INHERITING
    );
    // stdout
    assert_eq!(o.u32(), 0);
    let st = o.bytes(24);
    assert_eq!(st[0], 0);
    assert_eq!(
        u64::from_le_bytes(st[8..16].try_into().unwrap()),
        rights::FD_WRITE
    );
    assert_eq!((o.u32(), o.u32()), (e::BADF, e::FAULT));
    let r: Vec<u32> = (0..4).map(|_| o.u32()).collect();
    assert_eq!(r, [e::NOTSUP, 0, e::NOTSUP, e::BADF]);
    assert_eq!((o.u32(), o.u32(), o.u32()), (0, 0, 1));
    assert_eq!((o.u32(), o.u32()), (e::INVAL, e::BADF));
    o.done();
}

#[test]
fn prestat_and_renumber() {
    let s = run_ok(
        "",
        "(call $emit (call $fd_prestat_get (i32.const 3) (i32.const 100)))
         (call $emit_mem (i32.const 100) (i32.const 8))
         (call $emit (call $fd_prestat_dir_name (i32.const 3) (i32.const 200) (i32.const 8)))
         (call $emit_mem (i32.const 200) (i32.const 8))
         (call $emit (call $fd_prestat_dir_name (i32.const 3) (i32.const 200) (i32.const 7)))
         (call $emit (call $fd_prestat_dir_name (i32.const 1) (i32.const 200) (i32.const 8)))
         (call $emit (call $fd_prestat_dir_name (i32.const 9) (i32.const 200) (i32.const 8)))
         (call $emit (call $fd_prestat_dir_name (i32.const 3) (i32.const 65530) (i32.const 8)))
         (call $emit (call $fd_prestat_get (i32.const 0) (i32.const 100)))
         (call $emit (call $fd_prestat_get (i32.const 4) (i32.const 100)))
         ;; renumber the preopen onto 0 (closing stdin): 3 is then free, 0 is the preopen;
         ;; renumbering onto a closed fd is EBADF (wasmtime)
         (call $emit (call $fd_renumber (i32.const 3) (i32.const 0)))
         (call $emit (call $fd_prestat_get (i32.const 3) (i32.const 100)))
         (call $emit (call $fd_prestat_get (i32.const 0) (i32.const 100)))
         (call $emit (call $fd_renumber (i32.const 0) (i32.const 3)))",
    );
    let mut o = Out(&s.out);
    assert_eq!(o.u32(), 0);
    assert_eq!(o.bytes(8), [0, 0, 0, 0, 8, 0, 0, 0]);
    assert_eq!(o.u32(), 0);
    assert_eq!(o.bytes(8), b"/sandbox");
    let r: Vec<u32> = (0..10).map(|_| o.u32()).collect();
    assert_eq!(
        r,
        [
            e::NAMETOOLONG,
            e::NOTDIR,
            e::BADF,
            e::FAULT,
            e::BADF,
            e::BADF,
            0,
            e::BADF,
            0,
            e::BADF
        ]
    );
    o.done();
}

#[test]
fn directories_links_and_paths() {
    let s = run_ok(
        r#"(data (i32.const 400) "d")
           (data (i32.const 410) "d/f")
           (data (i32.const 420) "d/g")
           (data (i32.const 430) "d/h")
           (data (i32.const 440) "lnk")
           (data (i32.const 450) "loop")
           (data (i32.const 460) "/etc/passwd")
           (data (i32.const 100) "\c8\00\00\00\03\00\00\00")
           (data (i32.const 200) "xyz")"#,
        "(call $emit (call $path_create_directory (i32.const 3) (i32.const 400) (i32.const 1)))
         (call $emit (call $path_create_directory (i32.const 3) (i32.const 400) (i32.const 1)))
         (call $emit (call $path_create_directory (i32.const 1) (i32.const 400) (i32.const 1)))
         ;; d/f with content xyz
         (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 410) (i32.const 3)
            (i32.const 1) (i64.const 0x42) (i64.const 0) (i32.const 0) (i32.const 120)))
         (drop (call $fd_write (i32.load (i32.const 120)) (i32.const 100) (i32.const 1) (i32.const 124)))
         ;; hard link d/g -> d/f: nlink 2
         (call $emit (call $path_link (i32.const 3) (i32.const 0) (i32.const 410) (i32.const 3)
            (i32.const 3) (i32.const 420) (i32.const 3)))
         (call $emit (call $path_link (i32.const 3) (i32.const 0) (i32.const 410) (i32.const 3)
            (i32.const 3) (i32.const 420) (i32.const 3)))
         (call $emit (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 420) (i32.const 3) (i32.const 500)))
         (call $emit64 (i64.load (i32.const 524)))
         (call $emit64 (i64.load (i32.const 532)))
         (call $emit (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 430) (i32.const 3) (i32.const 500)))
         ;; rename d/g -> d/h
         (call $emit (call $path_rename (i32.const 3) (i32.const 420) (i32.const 3) (i32.const 3) (i32.const 430) (i32.const 3)))
         (call $emit (call $path_rename (i32.const 3) (i32.const 420) (i32.const 3) (i32.const 3) (i32.const 430) (i32.const 3)))
         ;; symlink lnk -> d/f, readlink, stat through it
         (call $emit (call $path_symlink (i32.const 410) (i32.const 3) (i32.const 3) (i32.const 440) (i32.const 3)))
         (call $emit (call $path_symlink (i32.const 410) (i32.const 3) (i32.const 3) (i32.const 440) (i32.const 3)))
         (call $emit (call $path_readlink (i32.const 3) (i32.const 440) (i32.const 3) (i32.const 600) (i32.const 10) (i32.const 124)))
         (call $emit (i32.load (i32.const 124)))
         (call $emit_mem (i32.const 600) (i32.const 3))
         (call $emit (call $path_readlink (i32.const 3) (i32.const 440) (i32.const 3) (i32.const 600) (i32.const 2) (i32.const 124)))
         (call $emit (i32.load (i32.const 124)))
         (call $emit (call $path_readlink (i32.const 3) (i32.const 410) (i32.const 3) (i32.const 600) (i32.const 10) (i32.const 124)))
         (call $emit (call $path_filestat_get (i32.const 3) (i32.const 1) (i32.const 440) (i32.const 3) (i32.const 500)))
         (call $emit (i32.load8_u (i32.const 516)))
         (call $emit (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 440) (i32.const 3) (i32.const 500)))
         (call $emit (i32.load8_u (i32.const 516)))
         ;; symlink loop, absolute symlink target escape
         (drop (call $path_symlink (i32.const 450) (i32.const 4) (i32.const 3) (i32.const 450) (i32.const 4)))
         (call $emit (call $path_open (i32.const 3) (i32.const 1) (i32.const 450) (i32.const 4)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 460) (i32.const 11) (i32.const 500)))
         ;; removals
         (call $emit (call $path_remove_directory (i32.const 3) (i32.const 400) (i32.const 1)))
         (call $emit (call $path_unlink_file (i32.const 3) (i32.const 400) (i32.const 1)))
         (call $emit (call $path_remove_directory (i32.const 3) (i32.const 410) (i32.const 3)))
         (call $emit (call $path_unlink_file (i32.const 3) (i32.const 410) (i32.const 3)))
         (call $emit (call $path_unlink_file (i32.const 3) (i32.const 410) (i32.const 3)))
         ;; the open fd still reads the unlinked file
         (call $emit (call $fd_pread (i32.load (i32.const 120)) (i32.const 100) (i32.const 1) (i64.const 0) (i32.const 124)))
         (call $emit (call $path_unlink_file (i32.const 3) (i32.const 430) (i32.const 3)))
         (call $emit (call $path_remove_directory (i32.const 3) (i32.const 400) (i32.const 1)))
         (call $emit (call $path_unlink_file (i32.const 3) (i32.const 65535) (i32.const 3)))",
    );
    let mut o = Out(&s.out);
    let r: Vec<u32> = (0..6).map(|_| o.u32()).collect();
    assert_eq!(r, [0, e::EXIST, e::BADF, 0, 0, e::EXIST]);
    assert_eq!((o.u32(), o.u64(), o.u64()), (0, 2, 3)); // nlink 2, size 3
    assert_eq!(o.u32(), e::NOENT);
    assert_eq!((o.u32(), o.u32()), (0, e::NOENT));
    assert_eq!((o.u32(), o.u32()), (0, e::EXIST));
    assert_eq!((o.u32(), o.u32()), (0, 3));
    assert_eq!(o.bytes(3), b"d/f");
    assert_eq!((o.u32(), o.u32()), (0, 2)); // truncated to the buffer
    assert_eq!(o.u32(), e::INVAL); // readlink of a regular file
    assert_eq!((o.u32(), o.u32()), (0, 4)); // followed: regular file
    assert_eq!((o.u32(), o.u32()), (0, 7)); // not followed: symlink
    assert_eq!(o.u32(), e::LOOP);
    assert_eq!(o.u32(), e::PERM); // absolute path
    let r: Vec<u32> = (0..9).map(|_| o.u32()).collect();
    assert_eq!(
        r,
        [
            e::NOTEMPTY,
            e::ISDIR,
            e::NOTDIR,
            0,
            e::NOENT,
            0,
            0,
            0,
            e::FAULT
        ]
    );
    o.done();
}

#[test]
fn readdir_filestat_times_size() {
    let s = run_ok(
        r#"(data (i32.const 400) "f.txt")
           (data (i32.const 410) "sub")"#,
        &format!(
            "{OPEN_RW}
         (call $emit (call $path_create_directory (i32.const 3) (i32.const 410) (i32.const 3)))
         ;; readdir of the preopen into a big buffer
         (call $emit (call $fd_readdir (i32.const 3) (i32.const 1000) (i32.const 1000) (i64.const 0) (i32.const 124)))
         (call $emit_mem (i32.const 1000) (i32.load (i32.const 124)))
         ;; a buffer of 30 bytes: the second record is cut, bufused == buf_len
         (call $emit (call $fd_readdir (i32.const 3) (i32.const 2000) (i32.const 30) (i64.const 0) (i32.const 124)))
         (call $emit (i32.load (i32.const 124)))
         (call $emit (call $fd_readdir (i32.load (i32.const 120)) (i32.const 2000) (i32.const 30) (i64.const 0) (i32.const 124)))
         (call $emit (call $fd_readdir (i32.const 3) (i32.const 65500) (i32.const 100) (i64.const 0) (i32.const 124)))
         ;; sizes and times
         (call $emit (call $fd_filestat_set_size (i32.load (i32.const 120)) (i64.const 100000)))
         (call $emit (call $fd_filestat_get (i32.load (i32.const 120)) (i32.const 500)))
         (call $emit64 (i64.load (i32.const 532)))
         (call $emit (call $fd_filestat_set_size (i32.const 3) (i64.const 1)))
         (call $emit (call $fd_filestat_set_times (i32.load (i32.const 120)) (i64.const 11) (i64.const 22) (i32.const 5)))
         (call $emit (call $fd_filestat_get (i32.load (i32.const 120)) (i32.const 500)))
         (call $emit64 (i64.load (i32.const 540)))
         (call $emit64 (i64.load (i32.const 548)))
         (call $emit (call $fd_filestat_set_times (i32.load (i32.const 120)) (i64.const 11) (i64.const 22) (i32.const 3)))
         (call $emit (call $path_filestat_set_times (i32.const 3) (i32.const 0) (i32.const 410) (i32.const 3) (i64.const 0) (i64.const 33) (i32.const 4)))
         (call $emit (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 410) (i32.const 3) (i32.const 500)))
         (call $emit (i32.load8_u (i32.const 516)))
         (call $emit64 (i64.load (i32.const 548)))
         (call $emit (call $path_filestat_set_times (i32.const 3) (i32.const 0) (i32.const 400) (i32.const 9) (i64.const 0) (i64.const 33) (i32.const 4)))
         (call $emit (call $fd_filestat_get (i32.const 3) (i32.const 500)))
         (call $emit (i32.load8_u (i32.const 516)))
         (call $emit (call $fd_filestat_get (i32.const 2) (i32.const 500)))
         (call $emit64 (i64.load (i32.const 500)))
         (call $emit (call $fd_filestat_get (i32.const 2) (i32.const 65500)))
         ;; advise / allocate / sync / datasync
         (call $emit (call $fd_advise (i32.load (i32.const 120)) (i64.const 0) (i64.const 10) (i32.const 1)))
         (call $emit (call $fd_advise (i32.load (i32.const 120)) (i64.const 0) (i64.const 10) (i32.const 6)))
         (call $emit (call $fd_advise (i32.const 3) (i64.const 0) (i64.const 10) (i32.const 0)))
         (call $emit (call $fd_allocate (i32.load (i32.const 120)) (i64.const 100000) (i64.const 10)))
         (call $emit (call $fd_filestat_get (i32.load (i32.const 120)) (i32.const 500)))
         (call $emit64 (i64.load (i32.const 532)))
         (call $emit (call $fd_allocate (i32.const 3) (i64.const 0) (i64.const 10)))
         (call $emit (call $fd_sync (i32.load (i32.const 120))))
         (call $emit (call $fd_sync (i32.const 3)))
         (call $emit (call $fd_datasync (i32.load (i32.const 120))))
         (call $emit (call $fd_datasync (i32.const 1)))"
        ),
    );
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32(), o.u32()), (0, 0, 0));
    // entries: ".", "..", "f.txt", "sub" with cookies 1, 2, ...
    let mut names = Vec::new();
    let listing = {
        let mut v = Vec::new();
        // the emitted listing's length is not known up front: 4 records of 24 + names
        let total = 4 * 24 + 1 + 2 + 5 + 3;
        v.extend(o.bytes(total));
        v
    };
    let mut p = 0;
    let mut next = Vec::new();
    while p < listing.len() {
        let d_next = u64::from_le_bytes(listing[p..p + 8].try_into().unwrap());
        let namlen = u32::from_le_bytes(listing[p + 16..p + 20].try_into().unwrap()) as usize;
        let ty = listing[p + 20];
        names.push((
            String::from_utf8(listing[p + 24..p + 24 + namlen].to_vec()).unwrap(),
            ty,
        ));
        next.push(d_next);
        p += 24 + namlen;
    }
    assert_eq!(
        names,
        [
            (".".to_string(), 3),
            ("..".to_string(), 3),
            ("f.txt".to_string(), 4),
            ("sub".to_string(), 3)
        ]
    );
    assert!(next.windows(2).all(|w| w[0] < w[1]));
    assert_eq!((o.u32(), o.u32()), (0, 30));
    assert_eq!((o.u32(), o.u32()), (e::BADF, e::FAULT));
    assert_eq!((o.u32(), o.u32(), o.u64()), (0, 0, 100_000));
    assert_eq!(o.u32(), e::BADF);
    assert_eq!((o.u32(), o.u32(), o.u64(), o.u64()), (0, 0, 11, 22));
    assert_eq!(o.u32(), e::INVAL); // ATIM together with ATIM_NOW
    assert_eq!((o.u32(), o.u32(), o.u32(), o.u64()), (0, 0, 3, 33));
    assert_eq!(o.u32(), e::INVAL); // "f.txt\0\0\0\0": embedded NUL
    assert_eq!((o.u32(), o.u32()), (0, 3));
    assert_eq!((o.u32(), o.u64()), (0, 0)); // stdio: all zero
    assert_eq!(o.u32(), e::FAULT);
    assert_eq!((o.u32(), o.u32(), o.u32()), (0, e::INVAL, e::BADF));
    assert_eq!((o.u32(), o.u32(), o.u64()), (e::NOTSUP, 0, 100_000)); // as wasmtime
    assert_eq!(o.u32(), e::BADF);
    assert_eq!(
        (o.u32(), o.u32(), o.u32(), o.u32()),
        (0, e::BADF, 0, e::BADF)
    );
    o.done();
}

/// Writes a `subscription` at `at`: clock (`id`, `timeout`, `flags`) or fd readiness.
fn sub_clock(at: u32, userdata: u64, id: u32, timeout: u64, flags: u16) -> String {
    format!(
        "(i64.store (i32.const {at}) (i64.const {userdata}))
         (i32.store8 (i32.const {}) (i32.const 0))
         (i32.store (i32.const {}) (i32.const {id}))
         (i64.store (i32.const {}) (i64.const {timeout}))
         (i32.store16 (i32.const {}) (i32.const {flags}))",
        at + 8,
        at + 16,
        at + 24,
        at + 40
    )
}

fn sub_fd(at: u32, userdata: u64, ty: u8, fd: u32) -> String {
    format!(
        "(i64.store (i32.const {at}) (i64.const {userdata}))
         (i32.store8 (i32.const {}) (i32.const {ty}))
         (i32.store (i32.const {}) (i32.const {fd}))",
        at + 8,
        at + 16
    )
}

#[test]
fn poll_oneoff_clocks_and_fds() {
    let body = format!(
        "{relative}
         (call $emit (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 1) (i32.const 124)))
         (call $emit (i32.load (i32.const 124)))
         (call $emit_mem (i32.const 2000) (i32.const 32))
         {absolute}
         (call $emit (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 1) (i32.const 124)))
         {wall}
         (call $emit (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 1) (i32.const 124)))
         ;; a long clock and a ready stdout: only stdout fires, no sleep
         {long}
         {out}
         (call $emit (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 2) (i32.const 124)))
         (call $emit (i32.load (i32.const 124)))
         (call $emit64 (i64.load (i32.const 2000)))
         (call $emit (i32.load8_u (i32.const 2010)))
         ;; errors
         (call $emit (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 0) (i32.const 124)))
         {badfd}
         (call $emit (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 1) (i32.const 124)))
         {badclock}
         (call $emit (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 1) (i32.const 124)))
         (call $emit (call $poll_oneoff (i32.const 65500) (i32.const 2000) (i32.const 1) (i32.const 124)))
         (call $emit (call $poll_oneoff (i32.const 1000) (i32.const 65520) (i32.const 1) (i32.const 124)))",
        relative = sub_clock(1000, 77, 1, 5_000, 0),
        absolute = sub_clock(1000, 78, 1, 50_000, 1),
        wall = sub_clock(1000, 79, 0, 1_700_000_000_000_100_000, 1),
        long = sub_clock(1000, 80, 1, 1_000_000_000, 0),
        out = sub_fd(1048, 81, 2, 1),
        badfd = sub_fd(1000, 82, 1, 99),
        badclock = sub_clock(1000, 83, 2, 1, 0),
    );
    let s = run_ok("", &body);
    // relative 5µs from 1000, absolute 50000, realtime absolute +100µs from 6000+...
    assert_eq!(s.sleeps[0], 6_000);
    assert_eq!(s.sleeps[1], 50_000);
    assert_eq!(s.sleeps[2], 150_000);
    assert_eq!(s.sleeps.len(), 3);
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32()), (0, 1));
    let ev = o.bytes(32);
    assert_eq!(u64::from_le_bytes(ev[0..8].try_into().unwrap()), 77);
    assert_eq!((ev[8], ev[10]), (0, 0)); // errno success, type clock
    assert_eq!((o.u32(), o.u32()), (0, 0));
    assert_eq!((o.u32(), o.u32(), o.u64(), o.u32()), (0, 1, 81, 2));
    let r: Vec<u32> = (0..5).map(|_| o.u32()).collect();
    // nsubs 0; closed fd; CPU-time clock (EINVAL, as wasmtime); subscriptions/events
    // outside memory
    assert_eq!(r, [e::INVAL, e::BADF, e::INVAL, e::FAULT, e::FAULT]);
    o.done();
}

#[test]
fn no_memory_export_gives_efault() {
    let m = wat::parse_str(
        r#"(module
            (import "wasi_snapshot_preview1" "args_sizes_get" (func $a (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (func (export "_start") (call $exit (call $a (i32.const 0) (i32.const 4)))))"#,
    )
    .unwrap();
    let (fs, root) = new_fs();
    let r = run(&m, config(&fs, root), &mut TestServices::default());
    assert_eq!(r.outcome, Outcome::Exited(e::FAULT));
}

#[test]
fn readonly_preopen_refuses_changes() {
    let (fs, root) = new_fs();
    fs.borrow_mut().write_file(root, "r.txt", b"data").unwrap();
    let mut cfg = config(&fs, root);
    cfg.preopens[0].readonly = true;
    let m = module(
        r#"(data (i32.const 400) "r.txt")
           (data (i32.const 410) "newdir")
           (data (i32.const 100) "\c8\00\00\00\04\00\00\00")"#,
        "(call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 400) (i32.const 5)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 120)))
         (call $emit (call $fd_read (i32.load (i32.const 120)) (i32.const 100) (i32.const 1) (i32.const 124)))
         (call $emit_mem (i32.const 200) (i32.const 4))
         (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 400) (i32.const 5)
            (i32.const 0) (i64.const 0x42) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 400) (i32.const 5)
            (i32.const 8) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 124)))
         (call $emit (call $path_create_directory (i32.const 3) (i32.const 410) (i32.const 6)))
         (call $emit (call $path_unlink_file (i32.const 3) (i32.const 400) (i32.const 5)))
         (call $emit (call $fd_filestat_set_times (i32.load (i32.const 120)) (i64.const 1) (i64.const 1) (i32.const 5)))",
    );
    let mut s = TestServices::default();
    let r = run(&m, cfg, &mut s);
    assert_eq!(r.outcome, Outcome::Exited(0));
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32()), (0, 0));
    assert_eq!(o.bytes(4), b"data");
    let r: Vec<u32> = (0..5).map(|_| o.u32()).collect();
    assert_eq!(r, [e::NOTCAPABLE; 5]);
    o.done();
    assert_eq!(
        fs.borrow()
            .read_to_vec(fs.borrow().lookup(root, "r.txt", false).unwrap())
            .unwrap(),
        b"data"
    );
}

#[test]
fn fd_limit_gives_emfile_and_close_frees() {
    let (fs, root) = new_fs();
    let mut cfg = config(&fs, root);
    cfg.limits.max_open_fds = 5; // stdio + preopen + one more
    let m = module(
        r#"(data (i32.const 400) "f.txt")"#,
        &format!(
            "{OPEN_RW}
         {OPEN_RW}
         (call $emit (call $fd_close (i32.const 4)))
         {OPEN_RW}
         (call $emit (i32.load (i32.const 120)))"
        ),
    );
    let mut s = TestServices::default();
    assert_eq!(run(&m, cfg, &mut s).outcome, Outcome::Exited(0));
    let mut o = Out(&s.out);
    let r: Vec<u32> = (0..5).map(|_| o.u32()).collect();
    assert_eq!(r, [0, e::MFILE, 0, 0, 4]);
    o.done();
}

#[test]
fn fuel_limit_ends_the_guest() {
    let (fs, root) = new_fs();
    let mut cfg = config(&fs, root);
    cfg.limits.fuel = Some(10_000);
    let m = module("", "(loop $l (br $l))");
    let r = run(&m, cfg, &mut TestServices::default());
    match r.outcome {
        Outcome::LimitExceeded { which, message } => {
            assert_eq!(which, LimitKind::Fuel);
            assert!(message.contains("fuel"), "{message}");
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(r.fuel_used, 10_000);
    // without a limit, fuel is still counted
    let (r, _) = run_with("", "(call $emit (i32.const 1))", |_, _| {});
    assert!(r.fuel_used > 0 && r.fuel_used < 5000, "{}", r.fuel_used);
}

#[test]
fn memory_limit_refuses_growth() {
    let (fs, root) = new_fs();
    let mut cfg = config(&fs, root);
    cfg.limits.max_memory_bytes = 3 * 65536;
    let m = module(
        "",
        "(call $emit (memory.grow (i32.const 1)))
         (call $emit (memory.grow (i32.const 5)))
         (call $emit (memory.size))",
    );
    let mut s = TestServices::default();
    let r = run(&m, cfg.clone(), &mut s);
    assert_eq!(r.outcome, Outcome::Exited(0));
    assert_eq!(r.peak_memory_bytes, 2 * 65536);
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32(), o.u32()), (1, u32::MAX, 2));
    o.done();
    // a guest that traps after a refused growth is reported as the limit
    let m = module(
        "",
        "(if (i32.lt_s (memory.grow (i32.const 5)) (i32.const 0)) (then unreachable))",
    );
    match run(&m, cfg.clone(), &mut TestServices::default()).outcome {
        Outcome::LimitExceeded { which, message } => {
            assert_eq!(which, LimitKind::Memory);
            assert!(message.contains("max_memory_bytes"), "{message}");
        }
        o => panic!("{o:?}"),
    }
    // initial memory above the limit fails instantiation naming the limit
    cfg.limits.max_memory_bytes = 0;
    match run(&module("", ""), cfg, &mut TestServices::default()).outcome {
        Outcome::LimitExceeded { which, .. } => assert_eq!(which, LimitKind::Memory),
        o => panic!("{o:?}"),
    }
}

#[test]
fn table_limit_refuses_growth() {
    let (fs, root) = new_fs();
    let mut cfg = config(&fs, root);
    cfg.limits.max_table_elements = 4;
    let m = wat::parse_str(
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (table 2 funcref)
            (func (export "_start")
              (call $exit (i32.add (i32.const 10) (table.grow (ref.null func) (i32.const 10))))))"#,
    )
    .unwrap();
    // table.grow returns -1: exit code 9
    assert_eq!(
        run(&m, cfg, &mut TestServices::default()).outcome,
        Outcome::Exited(9)
    );
}

#[test]
fn load_failures_name_the_module_and_import() {
    let (fs, root) = new_fs();
    let o = run(
        b"\0asm\x01\0\0\0\x05",
        config(&fs, root),
        &mut TestServices::default(),
    )
    .outcome;
    match o {
        Outcome::LoadFailed(m) => assert!(m.contains("test.wasm"), "{m}"),
        o => panic!("{o:?}"),
    }
    let m = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "fd_frobnicate" (func (param i32)))
                   (import "env" "x" (func)) (func (export "_start")))"#,
    )
    .unwrap();
    match run(&m, config(&fs, root), &mut TestServices::default()).outcome {
        Outcome::LoadFailed(m) => {
            assert!(
                m.contains("test.wasm") && m.contains("wasi_snapshot_preview1::fd_frobnicate"),
                "{m}"
            )
        }
        o => panic!("{o:?}"),
    }
    let mut cfg = config(&fs, root);
    cfg.limits.max_module_bytes = 10;
    match run(&module("", ""), cfg, &mut TestServices::default()).outcome {
        Outcome::LimitExceeded { which, .. } => assert_eq!(which, LimitKind::ModuleBytes),
        o => panic!("{o:?}"),
    }
    let m = wat::parse_str("(module (memory (export \"memory\") 1))").unwrap();
    match run(&m, config(&fs, root), &mut TestServices::default()).outcome {
        Outcome::LoadFailed(m) => assert!(m.contains("_start"), "{m}"),
        o => panic!("{o:?}"),
    }
}

#[test]
fn trap_kinds_and_last_call() {
    let (r, _) = run_with(
        "",
        "(call $emit (i32.const 1)) (drop (i32.div_u (i32.const 1) (i32.const 0)))",
        |_, _| {},
    );
    match r.outcome {
        Outcome::Trapped(t) => {
            assert_eq!(t.kind, TrapKind::IntegerDivisionByZero);
            // the shadow stack names the trapping function, then the last WASI call
            assert_eq!(t.backtrace.len(), 2, "{:?}", t.backtrace);
            assert!(t.backtrace[0].ends_with(" start"), "{:?}", t.backtrace);
            assert!(t.backtrace[1].contains("fd_write"), "{:?}", t.backtrace);
        }
        o => panic!("{o:?}"),
    }
    let (r, _) = run_with("", "unreachable", |_, _| {});
    assert!(matches!(
        r.outcome,
        Outcome::Trapped(TrapInfo {
            kind: TrapKind::Unreachable,
            ..
        })
    ));
}

#[test]
fn guests_share_a_ramfs_and_pins_are_released() {
    let (fs, root) = new_fs();
    let writer = module(
        r#"(data (i32.const 400) "f.txt")
           (data (i32.const 100) "\c8\00\00\00\02\00\00\00")
           (data (i32.const 200) "hi")"#,
        &format!(
            "{OPEN_RW}
         (call $emit (call $fd_write (i32.load (i32.const 120)) (i32.const 100) (i32.const 1) (i32.const 124)))
         ;; not closed: run() releases the pin when the guest ends
         (call $emit (call $fd_filestat_set_size (i32.load (i32.const 120)) (i64.const 2)))"
        ),
    );
    let mut s = TestServices::default();
    assert_eq!(
        run(&writer, config(&fs, root), &mut s).outcome,
        Outcome::Exited(0)
    );
    assert_eq!(Out(&s.out).u32(), 0);
    let reader = module(
        r#"(data (i32.const 400) "f.txt")
           (data (i32.const 100) "\c8\00\00\00\02\00\00\00")"#,
        "(call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 400) (i32.const 5)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 120)))
         (call $emit (call $fd_read (i32.load (i32.const 120)) (i32.const 100) (i32.const 1) (i32.const 124)))
         (call $emit_mem (i32.const 200) (i32.const 2))
         ;; read-only fd: changing the size is EINVAL (wasmtime)
         (call $emit (call $fd_filestat_set_size (i32.load (i32.const 120)) (i64.const 0)))",
    );
    let mut s = TestServices::default();
    assert_eq!(
        run(&reader, config(&fs, root), &mut s).outcome,
        Outcome::Exited(0)
    );
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32()), (0, 0));
    assert_eq!(o.bytes(2), b"hi");
    assert_eq!(o.u32(), e::INVAL);
    o.done();
    // both guests ended: the file can be removed and the inode count drops back
    let before = fs.borrow().usage().inodes;
    fs.borrow_mut().unlink_file(root, "f.txt").unwrap();
    assert_eq!(fs.borrow().usage().inodes, before - 1);
}

#[test]
fn mutated_modules_never_panic() {
    let base = module(
        r#"(data (i32.const 400) "f.txt")"#,
        &format!("{OPEN_RW} (call $emit (call $fd_close (i32.load (i32.const 120))))"),
    );
    let (fs, root) = new_fs();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut outcomes = [0u32; 4];
    for _ in 0..300 {
        let mut m = base.clone();
        for _ in 0..(1 + next() % 4) {
            let i = (next() % m.len() as u64) as usize;
            m[i] = next() as u8;
        }
        let mut cfg = config(&fs, root);
        cfg.limits.fuel = Some(1_000_000);
        let r = run(&m, cfg, &mut TestServices::default());
        let k = match r.outcome {
            Outcome::Exited(_) => 0,
            Outcome::Trapped(_) => 1,
            Outcome::LimitExceeded { .. } => 2,
            Outcome::LoadFailed(msg) => {
                assert!(msg.contains("test.wasm"), "{msg}");
                3
            }
        };
        outcomes[k] += 1;
    }
    // most mutations break the module; some still run
    assert!(outcomes[3] > 0 && outcomes[0] > 0, "{outcomes:?}");
}

fn trap_frames(wat_src: &str, backtrace: bool) -> Vec<String> {
    let m = wat::parse_str(wat_src).unwrap();
    let (fs, root) = new_fs();
    let mut cfg = config(&fs, root);
    cfg.wasm_backtrace = backtrace;
    match run(&m, cfg, &mut TestServices::default()).outcome {
        Outcome::Trapped(t) => t.backtrace,
        o => panic!("{o:?}"),
    }
}

#[test]
fn shadow_stack_backtraces() {
    // no memory at all; direct, indirect and tail calls
    let frames = trap_frames(
        r#"(module
            (type $v (func))
            (table 1 funcref) (elem (i32.const 0) $leaf)
            (func $leaf (drop (i32.div_s (i32.const 1) (i32.const 0))))
            (func $tail (return_call_indirect (type $v) (i32.const 0)))
            (func $mid (call $tail))
            (func $main (export "_start") (call $mid)))"#,
        true,
    );
    assert_eq!(frames, ["func[0] leaf", "func[2] mid", "func[3] main"]);
    // the caller's depth is restored after each call: only the active chain is reported
    let frames = trap_frames(
        r#"(module
            (func $a (nop))
            (func $b (call $a) (call $a) unreachable)
            (func $main (export "_start") (call $a) (call $b)))"#,
        true,
    );
    assert_eq!(frames, ["func[1] b", "func[2] main"]);
    // deep recursion: at most 100 frames are listed, then a count
    let frames = trap_frames(
        r#"(module
            (func $r (param i32)
              (if (i32.eqz (local.get 0)) (then unreachable))
              (call $r (i32.sub (local.get 0) (i32.const 1))))
            (func $main (export "_start") (call $r (i32.const 500))))"#,
        true,
    );
    assert_eq!(frames.len(), 101);
    assert_eq!(frames[0], "func[0] r");
    assert_eq!(frames[100], "... 402 more frames");
    // switched off: no frames
    let frames = trap_frames(
        r#"(module (func $main (export "_start") unreachable))"#,
        false,
    );
    assert!(frames.is_empty(), "{frames:?}");
}

#[test]
fn call_depth_limit_is_configurable() {
    let m = wat::parse_str(
        r#"(module
            (func $r (param i32)
              (if (i32.eqz (local.get 0)) (then return))
              (call $r (i32.sub (local.get 0) (i32.const 1))))
            (func $main (export "_start") (call $r (i32.const 3000))))"#,
    )
    .unwrap();
    let (fs, root) = new_fs();
    // wasmi's own default (1000) would overflow here; ours (20000) does not
    assert_eq!(
        run(&m, config(&fs, root), &mut TestServices::default()).outcome,
        Outcome::Exited(0)
    );
    let mut cfg = config(&fs, root);
    cfg.limits.max_call_depth = 100;
    match run(&m, cfg, &mut TestServices::default()).outcome {
        Outcome::Trapped(t) => {
            assert_eq!(t.kind, TrapKind::StackOverflow);
            assert!(t.message.contains("max_call_depth = 100"), "{}", t.message);
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn sync_open_flags_and_followed_links_are_refused_as_wasmtime() {
    let s = run_ok(
        r#"(data (i32.const 400) "f.txt")
           (data (i32.const 410) "g.txt")"#,
        &format!(
            "{OPEN_RW}
         (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 410) (i32.const 5)
            (i32.const 1) (i64.const 0x42) (i64.const 0) (i32.const 16) (i32.const 124)))
         (call $emit (call $path_link (i32.const 3) (i32.const 1) (i32.const 400) (i32.const 5)
            (i32.const 3) (i32.const 410) (i32.const 5)))
         (call $emit (call $path_link (i32.const 3) (i32.const 0) (i32.const 400) (i32.const 5)
            (i32.const 3) (i32.const 410) (i32.const 5)))"
        ),
    );
    let mut o = Out(&s.out);
    let r: Vec<u32> = (0..4).map(|_| o.u32()).collect();
    assert_eq!(r, [0, e::NOTSUP, e::INVAL, 0]);
    o.done();
}

#[test]
fn random_abi_calls_never_panic() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (fs, root) = new_fs();
    fs.borrow_mut()
        .write_file(root, "a", b"0123456789")
        .unwrap();
    fs.borrow_mut().create_dir(root, "d").unwrap();
    for round in 0..40 {
        let mut body = String::new();
        // path-ish strings at 300.. so some calls hit real names
        let data = r#"(data (i32.const 300) "a") (data (i32.const 310) "d/x") (data (i32.const 320) "../a")"#;
        for _ in 0..150 {
            let (name, sig) = SIGS[(next() % SIGS.len() as u64) as usize];
            if name == "proc_exit" {
                continue;
            }
            let mut call = format!("(call ${name}");
            let params = sig
                .split("(result")
                .next()
                .unwrap_or("")
                .replace("(param", "")
                .replace(')', "");
            for ty in params.split_whitespace() {
                let v = next();
                let arg = match (ty, v % 6) {
                    ("i64", 0) => format!("(i64.const {})", v as i64),
                    ("i64", _) => format!("(i64.const {})", v % 64),
                    (_, 0) => format!("(i32.const {})", v as i32),
                    (_, 1) => format!("(i32.const {})", 65536 - (v % 64) as i32),
                    (_, 2) => format!("(i32.const {})", 300 + (v % 3) * 10),
                    (_, 3) => format!("(i32.const {})", 1000 + (v % 8) * 48),
                    _ => format!("(i32.const {})", v % 8),
                };
                call += " ";
                call += &arg;
            }
            call += ")";
            if sig.contains("result") {
                call = format!("(drop {call})");
            }
            body += &call;
            body += "\n";
        }
        let mut cfg = config(&fs, root);
        cfg.limits.fuel = Some(10_000_000);
        cfg.limits.max_open_fds = 16;
        let r = run(&module(data, &body), cfg, &mut TestServices::default());
        assert!(
            matches!(r.outcome, Outcome::Exited(0)),
            "round {round}: {:?}",
            r.outcome
        );
    }
}

// ---------------------------------------------------------------------------------------
// The wall-clock watchdog (Limits::wall_time_ms)

/// Runs `m` with `wall_time_ms` and the services `s`.
fn run_watched(
    m: &[u8],
    wall_ms: Option<u64>,
    fuel: Option<u64>,
    s: &mut TestServices,
) -> RunReport {
    let (fs, root) = new_fs();
    let mut cfg = config(&fs, root);
    cfg.limits.wall_time_ms = wall_ms;
    cfg.limits.fuel = fuel;
    run(m, cfg, s)
}

fn expect_watchdog(r: &RunReport, ms: u64) {
    assert_eq!(
        r.outcome,
        Outcome::LimitExceeded {
            which: LimitKind::WallTime,
            message: format!("watchdog: guest test.wasm exceeded its wall-clock limit of {ms} ms"),
        }
    );
}

#[test]
fn the_watchdog_stops_an_endless_loop_without_fuel_at_a_slice_boundary() {
    let m = module("", "(loop $l (br $l))");
    // Every clock reading is 1 ms later: the deadline passes at the 5th slice boundary.
    let mut s = TestServices {
        tick: 1_000_000,
        ..Default::default()
    };
    let r = run_watched(&m, Some(5), None, &mut s);
    expect_watchdog(&r, 5);
    assert_eq!(
        s.arms,
        [Some(1_000_000 + 5_000_000), None],
        "armed, then disarmed"
    );
    assert!(
        r.fuel_used >= 4 * FUEL_SLICE && r.fuel_used <= 5 * FUEL_SLICE,
        "{}",
        r.fuel_used
    );
    // The embedder's flag alone stops it at the first boundary.
    let mut s = TestServices {
        fired: true,
        ..Default::default()
    };
    let r = run_watched(&m, Some(60_000), None, &mut s);
    expect_watchdog(&r, 60_000);
    assert!(r.fuel_used <= FUEL_SLICE, "{}", r.fuel_used);
}

#[test]
fn a_sleeping_guest_wakes_at_its_deadline_and_is_stopped() {
    // poll_oneoff on a relative one-hour clock (the fuzzer's 584-year sleep works the same)
    let body = format!(
        "{}
         (drop (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 1) (i32.const 124)))
         (call $emit (i32.const 7))",
        sub_clock(1000, 1, 1, 3_600_000_000_000, 0)
    );
    let m = module("", &body);
    let mut s = TestServices {
        mono: 1_000,
        ..Default::default()
    };
    let r = run_watched(&m, Some(250), None, &mut s);
    expect_watchdog(&r, 250);
    assert_eq!(
        s.sleeps,
        [1_000 + 250_000_000],
        "the sleep was cut at the deadline"
    );
    assert!(
        s.out.is_empty(),
        "the guest did not continue after its sleep"
    );
    // A short sleep under a long limit is untouched.
    let short = module(
        "",
        &format!(
            "{}
             (drop (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 1) (i32.const 124)))
             (call $emit (i32.const 7))",
            sub_clock(1000, 1, 1, 5_000, 0)
        ),
    );
    let mut s = TestServices::default();
    let r = run_watched(&short, Some(250), None, &mut s);
    assert_eq!(r.outcome, Outcome::Exited(0));
    assert_eq!(s.sleeps, [5_000]);
    assert_eq!(Out(&s.out).u32(), 7);
}

#[test]
fn slicing_keeps_outcomes_and_fuel_exact() {
    let spin = module("", "(loop $l (br $l))");
    let work = module(
        "",
        "(local $i i32)
         (loop $l
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $l (i32.lt_u (local.get $i) (i32.const 400000))))
         (call $emit (local.get $i))
         (call $proc_exit (i32.const 3))",
    );
    let trap = module("", "(call $emit (i32.const 1)) unreachable");
    let bad_exit = module("", "(call $proc_exit (i32.const 200))");
    for (m, fuels) in [
        (&spin, &[10_000, FUEL_SLICE, 3 * FUEL_SLICE + 17][..]),
        (&work, &[1_000, 2_000_000, 5_000_000][..]),
        (&trap, &[1, 50, 10_000][..]),
        (&bad_exit, &[1, 40, 10_000][..]),
    ] {
        for &fuel in fuels {
            let mut plain = TestServices::default();
            let mut watched = TestServices::default();
            let a = run_watched(m, None, Some(fuel), &mut plain);
            // a limit far away: slicing is on, the watchdog never fires
            let b = run_watched(m, Some(3_600_000), Some(fuel), &mut watched);
            assert_eq!(a, b, "fuel {fuel}");
            assert_eq!(plain.out, watched.out);
        }
    }
    // unlimited fuel: the same count
    let mut plain = TestServices::default();
    let mut watched = TestServices::default();
    let a = run_watched(&work, None, None, &mut plain);
    let b = run_watched(&work, Some(3_600_000), None, &mut watched);
    assert_eq!(a, b);
    assert_eq!(a.outcome, Outcome::Exited(3));
    assert!(
        a.fuel_used > 2 * FUEL_SLICE,
        "several slices: {}",
        a.fuel_used
    );
    assert_eq!(Out(&watched.out).u32(), 400_000);
}

#[test]
fn start_functions_run_in_slices_under_the_watchdog() {
    // An endless start function: instantiation alone would never return.
    let endless = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func $s (loop $l (br $l))) (start $s)
            (func (export "_start")))"#,
    )
    .unwrap();
    let mut s = TestServices {
        tick: 1_000_000,
        ..Default::default()
    };
    let r = run_watched(&endless, Some(3), None, &mut s);
    expect_watchdog(&r, 3);
    // A start function that sets up state for _start, one that traps, one that exits: the
    // same outcomes (and fuel) as without the watchdog.
    let guests = [
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1) (global $g (mut i32) (i32.const 0))
            (func $s (global.set $g (i32.const 42))) (start $s)
            (func (export "_start") (call $exit (global.get $g))))"#,
        r#"(module (memory (export "memory") 1)
            (func $s unreachable) (start $s) (func (export "_start")))"#,
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (func $s (call $exit (i32.const 9))) (start $s) (func (export "_start")))"#,
        r#"(module (func $s (loop $l (br $l))) (start $s) (func (export "_start")))"#,
    ];
    for src in guests {
        let m = wat::parse_str(src).unwrap();
        let a = run_watched(&m, None, Some(100_000), &mut TestServices::default());
        let b = run_watched(
            &m,
            Some(3_600_000),
            Some(100_000),
            &mut TestServices::default(),
        );
        assert_eq!(a, b, "{src}");
    }
    // The export name the rewrite needs is taken: refused under the watchdog only.
    let taken = wat::parse_str(
        r#"(module (func $s) (export "elastic:start" (func $s)) (start $s)
            (func (export "_start")))"#,
    )
    .unwrap();
    let r = run_watched(&taken, None, None, &mut TestServices::default());
    assert_eq!(r.outcome, Outcome::Exited(0));
    let r = run_watched(&taken, Some(1000), None, &mut TestServices::default());
    match r.outcome {
        Outcome::LoadFailed(m) => assert!(m.contains("start function"), "{m}"),
        o => panic!("{o:?}"),
    }
    // A start function of the wrong type stays invalid.
    let typed =
        wat::parse_str(r#"(module (func $s (result i32) (i32.const 1)) (func (export "_start")))"#)
            .unwrap();
    let mut bytes = typed.clone();
    // append a start section naming func 0 (type [] -> [i32]): invalid either way
    bytes.extend_from_slice(&[8, 1, 0]);
    for wall in [None, Some(1000)] {
        let r = run_watched(&bytes, wall, None, &mut TestServices::default());
        assert!(
            matches!(r.outcome, Outcome::LoadFailed(_)),
            "{wall:?}: {:?}",
            r.outcome
        );
    }
}

#[test]
fn mutated_modules_behave_the_same_under_the_watchdog() {
    let base = module(
        r#"(data (i32.const 400) "f.txt")"#,
        &format!("{OPEN_RW} (call $emit (call $fd_close (i32.load (i32.const 120))))"),
    );
    let mut seed: u64 = 0x51_7cc1_b727_220a;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..200 {
        let mut m = base.clone();
        for _ in 0..(1 + next() % 4) {
            let i = (next() % m.len() as u64) as usize;
            m[i] = next() as u8;
        }
        let a = run_watched(&m, None, Some(1_000_000), &mut TestServices::default());
        let b = run_watched(
            &m,
            Some(3_600_000),
            Some(1_000_000),
            &mut TestServices::default(),
        );
        match (&a.outcome, &b.outcome) {
            (Outcome::LoadFailed(_), Outcome::LoadFailed(_)) => {}
            _ => assert_eq!(a, b),
        }
    }
}

thread_local! {
    /// Heap the ramfs gauge of a test grants (per test thread).
    static FS_ROOM: core::cell::Cell<usize> = const { core::cell::Cell::new(usize::MAX) };
}

fn fs_gauge(bytes: usize) -> bool {
    FS_ROOM.with(|r| bytes <= r.get())
}

/// Once the embedder's heap gauge says no, everything a guest could grow fails with an error
/// the guest sees (and it keeps running): `memory.grow` is -1, a large host copy (here
/// `poll_oneoff`'s subscriptions) and a new descriptor are `ENOMEM`, new files `ENOSPC`
/// from the ramfs's own gauge. Calls that need no lasting allocation still work.
#[test]
fn an_exhausted_heap_is_a_guest_error() {
    let (fs, root) = new_fs();
    fs.borrow_mut().set_headroom(fs_gauge);
    FS_ROOM.with(|r| r.set(usize::MAX));
    let mut cfg = config(&fs, root);
    cfg.preopens[0].readonly = false;
    let m = module(
        r#"(data (i32.const 100) "f")(data (i32.const 110) "new")"#,
        // 8 more pages for 4000 subscriptions (192,000 bytes) and their events.
        "(call $emit (memory.grow (i32.const 8)))
         ;; an existing file opens while there is room
         (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 1)
           (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 40)))
         (drop (call $sched_yield))
         (call $emit (memory.grow (i32.const 1)))
         (call $emit (call $poll_oneoff (i32.const 65536) (i32.const 262144) (i32.const 4000)
           (i32.const 40)))
         (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 1)
           (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 40)))
         (call $emit (call $fd_close (i32.const 4)))",
    );
    fs.borrow_mut().write_file(root, "f", b"x").unwrap();
    let mut s = TestServices {
        room_after_yield: Some(1000),
        ..Default::default()
    };
    let r = run(&m, cfg.clone(), &mut s);
    assert_eq!(r.outcome, Outcome::Exited(0));
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32()), (1, 0));
    assert_eq!(o.u32(), u32::MAX);
    assert_eq!((o.u32(), o.u32(), o.u32()), (e::NOMEM, e::NOMEM, 0));
    o.done();

    // The ramfs asks its own gauge: creating a file is ENOSPC, reading the old one works.
    FS_ROOM.with(|r| r.set(0));
    let m = module(
        r#"(data (i32.const 100) "f")(data (i32.const 110) "new")"#,
        "(call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 110) (i32.const 3)
           (i32.const 1) (i64.const 66) (i64.const 0) (i32.const 0) (i32.const 40)))
         (call $emit (call $path_create_directory (i32.const 3) (i32.const 110) (i32.const 3)))
         (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 1)
           (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 40)))",
    );
    let mut s = TestServices::default();
    assert_eq!(run(&m, cfg.clone(), &mut s).outcome, Outcome::Exited(0));
    let mut o = Out(&s.out);
    assert_eq!((o.u32(), o.u32(), o.u32()), (e::NOSPC, e::NOSPC, 0));
    o.done();
    FS_ROOM.with(|r| r.set(usize::MAX));

    // A guest that traps after its growth was refused is reported as the host's memory.
    let m = module(
        "",
        "(drop (call $sched_yield))
         (if (i32.lt_s (memory.grow (i32.const 1)) (i32.const 0)) (then unreachable))",
    );
    let mut s = TestServices {
        room_after_yield: Some(0),
        ..Default::default()
    };
    match run(&m, cfg.clone(), &mut s).outcome {
        Outcome::LimitExceeded { which, message } => {
            assert_eq!(which, LimitKind::HostMemory);
            assert!(message.contains("host heap"), "{message}");
        }
        o => panic!("{o:?}"),
    }
    // The initial memory and the module itself are put to the gauge too.
    for (room, what) in [(60_000, "linear memory growth"), (1000, "compiled")] {
        let mut s = TestServices {
            heap_room: Some(room),
            ..Default::default()
        };
        match run(&module("", ""), cfg.clone(), &mut s).outcome {
            Outcome::LimitExceeded { which, message } => {
                assert_eq!(which, LimitKind::HostMemory);
                assert!(
                    message.contains("test.wasm") && message.contains(what),
                    "{message}"
                );
            }
            o => panic!("{room}: {o:?}"),
        }
    }
}
