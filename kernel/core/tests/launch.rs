//! The kernel's guest-launch logic on the host: a real bundle, real wasm guests run by
//! wasi-impl with fake platform services, then summaries, exit reason and the export archive.

use elastic_bundle::{Bundle, BundleBuilder, Export, Guest, Manifest, Preopen};
use elastic_core::exit::ExitReason;
use elastic_core::launch::{Filesystems, Summary, export_archive, prepare};
use std::io::Read;
use wasi_impl::{Errno, Services};

#[derive(Default)]
struct Fake {
    stdout: Vec<u8>,
    stdin: Vec<u8>,
}

impl Services for Fake {
    fn monotonic_now(&mut self) -> u64 {
        1
    }
    fn monotonic_resolution(&self) -> u64 {
        1
    }
    fn wall_now(&mut self) -> u64 {
        1_700_000_000_000_000_000
    }
    fn wall_resolution(&self) -> u64 {
        1
    }
    fn random(&mut self, buf: &mut [u8]) {
        buf.fill(4);
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.stdout.extend_from_slice(bytes);
    }
    fn stderr(&mut self, _: &[u8]) {}
    fn read_stdin(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        let n = buf.len().min(self.stdin.len());
        buf[..n].copy_from_slice(&self.stdin[..n]);
        self.stdin.drain(..n);
        Ok(n)
    }
    fn sleep_until(&mut self, _: u64) {}
}

/// Echoes stdin to stdout, then exits with the code in its first data byte... kept simple:
/// copies up to 64 stdin bytes to stdout and exits with `code`.
fn echo_guest(code: i32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 100))
            (i32.store (i32.const 4) (i32.const 64))
            (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 4) (i32.load (i32.const 8)))
            (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (call $exit (i32.const {code}))))"#
    ))
    .expect("valid wat")
}

fn trap_guest() -> Vec<u8> {
    wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#)
        .expect("valid wat")
}

fn bundle_bytes() -> Vec<u8> {
    let mut first = Guest::new("first", "guests/echo0.wasm");
    first.stdin = Some("input.txt".into());
    first.preopens.push(Preopen {
        guest_path: "/data".into(),
        bundle_dir: "dirs/first/0".into(),
        readonly: false,
    });
    let second = Guest::new("second", "guests/trap.wasm");
    let mut third = Guest::new("third", "guests/echo3.wasm");
    third.stdin = Some("input.txt".into());
    let manifest = Manifest {
        guests: vec![first, second, third],
        shared_ramfs: false,
        exports: vec![Export {
            guest: "first".into(),
            path: "/data".into(),
        }],
        files: vec![],
    };
    BundleBuilder::new(manifest)
        .add_file("guests/echo0.wasm", echo_guest(0))
        .add_file("guests/echo3.wasm", echo_guest(3))
        .add_file("guests/trap.wasm", trap_guest())
        .add_file("input.txt", b"piped input".to_vec())
        .add_file("dirs/first/0/notes.txt", b"baked file".to_vec())
        .add_file("dirs/first/0/sub/deep.txt", b"deeper".to_vec())
        .build()
        .expect("bundle builds")
}

fn now() -> u64 {
    42
}

#[test]
fn guests_run_in_order_with_stdin_preopens_and_summaries() {
    let bytes = bundle_bytes();
    let bundle = Bundle::parse(&bytes).expect("verified bundle");
    let mut filesystems = Filesystems::new(&bundle, now);
    let mut summaries = Vec::new();
    let mut outputs = Vec::new();
    for guest in bundle.guests() {
        let fs = filesystems.of(guest);
        let prepared = prepare(&bundle, guest, &fs).expect("prepared");
        assert_eq!(prepared.config.args[0], guest.name);
        let mut services = Fake {
            stdin: prepared.stdin.to_vec(),
            ..Fake::default()
        };
        let report = wasi_impl::run(prepared.wasm, prepared.config, &mut services);
        outputs.push(services.stdout);
        summaries.push(Summary {
            name: guest.name.clone(),
            report,
            elapsed_ns: 1_500_000,
        });
    }
    assert_eq!(outputs[0], b"piped input");
    assert_eq!(outputs[2], b"piped input");
    assert!(summaries[0].succeeded());
    assert!(
        summaries[0]
            .line()
            .starts_with("guest first: exit 0, 1.500 ms, fuel "),
        "{}",
        summaries[0].line()
    );
    assert!(
        summaries[1].line().contains("trap Unreachable"),
        "{}",
        summaries[1].line()
    );
    assert_eq!(summaries[2].exit_reason(), ExitReason::GuestExit(3));
    // The first failure decides: the trap of the second guest.
    assert_eq!(
        elastic_core::launch::exit_reason(&summaries),
        ExitReason::GuestTrap
    );
    assert_eq!(
        elastic_core::launch::exit_reason(&summaries[..1]),
        ExitReason::Success
    );

    // The export holds the baked directory as the guest saw it.
    let mut tar = Vec::new();
    let mut sink = |b: &[u8]| tar.extend_from_slice(b);
    let export = export_archive(&bundle, &filesystems, Some(&mut sink));
    assert!(export.problems.is_empty(), "{:?}", export.problems);
    assert_eq!(export.len as usize, tar.len());
    // Without a sink only the length is computed, and it is the same.
    assert_eq!(export_archive(&bundle, &filesystems, None), export);
    let mut archive = tar::Archive::new(&tar[..]);
    let mut files = Vec::new();
    for e in archive.entries().expect("tar") {
        let mut e = e.expect("entry");
        let path = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = String::new();
        e.read_to_string(&mut data).expect("utf8");
        files.push((path, data));
    }
    assert!(
        files.contains(&("data/notes.txt".into(), "baked file".into())),
        "{files:?}"
    );
    assert!(
        files.contains(&("data/sub/deep.txt".into(), "deeper".into())),
        "{files:?}"
    );
}

#[test]
fn a_quota_too_small_for_the_baked_files_is_a_launch_error() {
    let mut g = Guest::new("tiny", "g.wasm");
    g.limits.ramfs_quota_bytes = 10;
    g.preopens.push(Preopen {
        guest_path: "/d".into(),
        bundle_dir: "d".into(),
        readonly: true,
    });
    let manifest = Manifest {
        guests: vec![g],
        ..Manifest::default()
    };
    let bytes = BundleBuilder::new(manifest)
        .add_file("g.wasm", trap_guest())
        .add_file("d/big.bin", vec![0u8; 4096])
        .build()
        .expect("bundle");
    let bundle = Bundle::parse(&bytes).expect("bundle");
    let mut fss = Filesystems::new(&bundle, now);
    let guest = &bundle.guests()[0];
    let err = prepare(&bundle, guest, &fss.of(guest)).expect_err("quota exceeded");
    assert!(
        err.to_string().contains("guest tiny: cannot create"),
        "{err}"
    );
}

/// A clock that advances 1 ms at every reading.
#[derive(Default)]
struct Ticking {
    now: u64,
}

impl Services for Ticking {
    fn monotonic_now(&mut self) -> u64 {
        self.now += 1_000_000;
        self.now
    }
    fn monotonic_resolution(&self) -> u64 {
        1
    }
    fn wall_now(&mut self) -> u64 {
        0
    }
    fn wall_resolution(&self) -> u64 {
        1
    }
    fn random(&mut self, buf: &mut [u8]) {
        buf.fill(4);
    }
    fn stdout(&mut self, _: &[u8]) {}
    fn stderr(&mut self, _: &[u8]) {}
    fn read_stdin(&mut self, _: &mut [u8]) -> Result<usize, Errno> {
        Ok(0)
    }
    fn sleep_until(&mut self, deadline: u64) {
        self.now = self.now.max(deadline);
    }
}

#[test]
fn a_guest_over_its_wall_clock_limit_is_reported_as_the_watchdog_and_the_next_one_runs() {
    let mut spinner = Guest::new("spinner", "loop.wasm");
    spinner.limits.wall_time_ms = Some(50);
    let manifest = Manifest {
        guests: vec![spinner, Guest::new("after", "echo.wasm")],
        ..Manifest::default()
    };
    let spin = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#,
    )
    .expect("valid wat");
    let bytes = BundleBuilder::new(manifest)
        .add_file("loop.wasm", spin)
        .add_file("echo.wasm", echo_guest(0))
        .build()
        .expect("bundle builds");
    let bundle = Bundle::parse(&bytes).expect("verified bundle");
    let mut filesystems = Filesystems::new(&bundle, now);
    let mut summaries = Vec::new();
    for guest in bundle.guests() {
        let fs = filesystems.of(guest);
        let prepared = prepare(&bundle, guest, &fs).expect("prepared");
        let report = wasi_impl::run(prepared.wasm, prepared.config, &mut Ticking::default());
        summaries.push(Summary {
            name: guest.name.clone(),
            report,
            elapsed_ns: 51_000_000,
        });
    }
    let line = summaries[0].line();
    assert!(
        line.starts_with(
            "guest spinner: limit wall_time_ms exceeded: watchdog: guest spinner exceeded its \
             wall-clock limit of 50 ms, 51.000 ms, fuel "
        ),
        "{line}"
    );
    assert_eq!(summaries[0].exit_reason(), ExitReason::Watchdog);
    assert_eq!(ExitReason::Watchdog.code(), 115);
    assert!(summaries[1].succeeded(), "{}", summaries[1].line());
    assert_eq!(
        elastic_core::launch::exit_reason(&summaries),
        ExitReason::Watchdog
    );
}

/// The export is streamed: a guest's large (here sparse, 64 MiB) file and a 5,000-deep tree
/// go to the sink block by block, with bounded memory and, on a 256 KiB stack, bounded stack.
#[test]
fn large_and_deep_exports_stream() {
    let bytes = bundle_bytes();
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let bundle = Bundle::parse(&bytes).expect("verified bundle");
            let mut filesystems = Filesystems::new(&bundle, now);
            let first = &bundle.guests()[0];
            prepare(&bundle, first, &filesystems.of(first)).expect("prepared");
            let fs = filesystems.by_name("first").expect("fs");
            {
                let mut fs = fs.borrow_mut();
                let root = fs.root();
                let data = fs.lookup(root, "data", true).expect("data");
                let big = fs.write_file(data, "big.bin", b"head").expect("file");
                fs.set_size(big, 64 << 20).expect("sparse");
                let mut cur = data;
                for _ in 0..5000 {
                    cur = fs.create_dir(cur, "d").expect("dir");
                }
            }
            let plan = export_archive(&bundle, &filesystems, None);
            let (mut streamed, mut largest, mut head) = (0u64, 0usize, Vec::new());
            let mut sink = |b: &[u8]| {
                streamed += b.len() as u64;
                largest = largest.max(b.len());
                if head.len() < 8 << 10 {
                    head.extend_from_slice(b);
                }
            };
            let export = export_archive(&bundle, &filesystems, Some(&mut sink));
            assert_eq!(export, plan);
            assert_eq!(streamed, export.len);
            assert!(export.len > 64 << 20);
            assert_eq!(largest, 512);
            // Paths deeper than a ustar header holds are reported, not fatal.
            assert!(
                export.problems.iter().any(|p| p.contains("does not fit")),
                "{:?}",
                export.problems.len()
            );
        })
        .expect("thread");
    handle.join().expect("export on a small stack");
}

#[test]
fn the_heap_gauge_keeps_the_reserve() {
    use elastic_core::launch::heap_has_room;
    assert!(heap_has_room(10, 100, 80, 10));
    assert!(!heap_has_room(10, 100, 81, 10));
    assert!(!heap_has_room(100, 100, 0, 1));
    assert!(!heap_has_room(0, 100, usize::MAX, 0));
    // An inconsistent report (used above total) grants nothing.
    assert!(!heap_has_room(200, 100, 1, 0));
}
