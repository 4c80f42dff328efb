//! Baked guests in QEMU: the kernel finds and verifies the bundle (embedded and external),
//! runs guests in order with their stdin, args, env and preopens, reports each one, keeps going
//! after traps and limits, exports files on COM2, and refuses corrupted bundles before any guest
//! runs. Exit codes as documented in kernel/core/src/exit.rs (100 = a guest trapped or hit a
//! limit, 114 = bundle refused).

use elastic_bundle::{Guest, Manifest, Preopen};
use elastic_tests::{
    Boot, Image, Outcome, built_guest_image, bundle_image, elastic_run_guest, exporting_out,
    scratch_dir,
};

/// Writes each argument (after argv[0]) and each `KEY=VALUE` on its own line, then copies stdin
/// to stdout, then exits with `code`.
fn echo_guest(code: i32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "\n")
  ;; puts(ptr): writes the NUL-terminated string at ptr and a newline.
  (func $puts (param $p i32) (local $n i32)
    (block $done (loop $len
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $len)))
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (i32.store (i32.const 8) (i32.const 16))
    (i32.store (i32.const 12) (i32.const 1))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 2) (i32.const 24))))
  ;; Prints the `count` strings whose pointers start at `ptrs`, skipping the first `skip`.
  (func $print_list (param $ptrs i32) (param $count i32) (param $skip i32) (local $i i32)
    (local.set $i (local.get $skip))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (call $puts (i32.load (i32.add (local.get $ptrs) (i32.mul (local.get $i) (i32.const 4)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "_start") (local $n i32)
    (drop (call $args_sizes (i32.const 32) (i32.const 36)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (call $print_list (i32.const 1024) (i32.load (i32.const 32)) (i32.const 1))
    (drop (call $env_sizes (i32.const 32) (i32.const 36)))
    (drop (call $env_get (i32.const 2048) (i32.const 8192)))
    (call $print_list (i32.const 2048) (i32.load (i32.const 32)) (i32.const 0))
    ;; Copy stdin to stdout in 256-byte reads.
    (block $eof (loop $more
      (i32.store (i32.const 0) (i32.const 12288))
      (i32.store (i32.const 4) (i32.const 256))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 40)))
      (local.set $n (i32.load (i32.const 40)))
      (br_if $eof (i32.eqz (local.get $n)))
      (i32.store (i32.const 4) (local.get $n))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 40)))
      (br $more)))
    (call $exit (i32.const {code}))))"#
    ))
    .expect("valid wat")
}

fn unreachable_guest() -> Vec<u8> {
    wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#)
        .expect("valid wat")
}

fn loop_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#,
    )
    .expect("valid wat")
}

fn guest(name: &str, wasm: &str) -> Guest {
    Guest::new(name, wasm)
}

fn run(image: std::path::PathBuf) -> Outcome {
    Boot::new(Image::File(image)).run()
}

#[test]
fn one_guest_gets_args_env_and_stdin_and_its_exit_code_is_the_images() {
    let mut g = guest("echo", "echo.wasm");
    g.args = vec!["first arg".into(), "second".into()];
    g.env = vec![("GREETING".into(), "hello".into())];
    g.stdin = Some("input.txt".into());
    let manifest = Manifest {
        guests: vec![g],
        ..Manifest::default()
    };
    let image = bundle_image(
        "echo7",
        manifest,
        vec![
            ("echo.wasm", echo_guest(7)),
            ("input.txt", b"line from stdin\n".to_vec()),
        ],
    );
    let out = run(image);
    out.expect_code(7)
        .expect("bundle: 1 guest(s)")
        .expect("guest echo: exit 7");
    assert_eq!(
        out.guest_output(),
        "first arg\nsecond\nGREETING=hello\nline from stdin\n"
    );
}

#[test]
fn traps_and_limits_are_reported_and_the_next_guest_still_runs() {
    let mut fuel = guest("spinner", "loop.wasm");
    fuel.limits.fuel = Some(1_000_000);
    let manifest = Manifest {
        guests: vec![
            guest("trapper", "unreachable.wasm"),
            fuel,
            guest("survivor", "echo.wasm"),
        ],
        ..Manifest::default()
    };
    let image = bundle_image(
        "traps",
        manifest,
        vec![
            ("unreachable.wasm", unreachable_guest()),
            ("loop.wasm", loop_guest()),
            ("echo.wasm", echo_guest(0)),
        ],
    );
    let out = run(image);
    // The first failure (a trap) decides the image's code: 100.
    out.expect_code(100)
        .expect("guest trapper: trap Unreachable")
        .expect("guest spinner: limit fuel exceeded")
        .expect("guest survivor: exit 0");
}

/// Sleeps in `poll_oneoff` on a relative one-hour monotonic clock, then exits 0.
fn sleep_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; subscription at 0: userdata 1, tag clock, clock id monotonic, timeout 1 h, flags 0
    (i64.store (i32.const 0) (i64.const 1))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (i32.store16 (i32.const 40) (i32.const 0))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"#,
    )
    .expect("valid wat")
}

/// The milliseconds of a summary line (`guest NAME: ..., 301.234 ms, fuel ...`).
fn summary_ms(out: &Outcome, guest: &str) -> f64 {
    let prefix = format!("guest {guest}: ");
    let serial = out.serial();
    let line = serial
        .lines()
        .find(|l| l.contains(&prefix))
        .unwrap_or_else(|| panic!("no summary for {guest}:\n{serial}"));
    line.split(", ")
        .find_map(|part| part.strip_suffix(" ms")?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no time in {line:?}"))
}

#[test]
fn guests_over_their_wall_clock_limit_are_stopped_by_the_watchdog_and_the_next_guest_runs() {
    // guests/wat/loop-forever.wat: prints a line, then spins without host calls; no fuel limit.
    let spin = wat::parse_file(elastic_tests::repo_root().join("guests/wat/loop-forever.wat"))
        .expect("loop-forever.wat assembles");
    let mut spinner = guest("spinner", "loop-forever.wasm");
    spinner.limits.wall_time_ms = Some(300);
    let mut sleeper = guest("sleeper", "sleep.wasm");
    sleeper.limits.wall_time_ms = Some(200);
    let manifest = Manifest {
        guests: vec![spinner, sleeper, guest("survivor", "echo.wasm")],
        ..Manifest::default()
    };
    let image = bundle_image(
        "watchdog",
        manifest,
        vec![
            ("loop-forever.wasm", spin),
            ("sleep.wasm", sleep_guest()),
            ("echo.wasm", echo_guest(0)),
        ],
    );
    let out = run(image);
    // The first failure, the watchdog, decides the image's code: 115.
    out.expect_code(115)
        .expect("loop-forever: spinning")
        .expect(
            "guest spinner: limit wall_time_ms exceeded: watchdog: guest spinner exceeded its \
             wall-clock limit of 300 ms",
        )
        .expect(
            "guest sleeper: limit wall_time_ms exceeded: watchdog: guest sleeper exceeded its \
             wall-clock limit of 200 ms",
        )
        .expect("guest survivor: exit 0");
    // Stopped at the deadline, give or take a fuel slice (slow under TCG), not much later.
    for (name, limit) in [("spinner", 300.0), ("sleeper", 200.0)] {
        let ms = summary_ms(&out, name);
        assert!(
            ms >= limit && ms < limit + 3000.0,
            "{name}: stopped after {ms} ms\n{}",
            out.serial()
        );
    }
}

#[test]
fn large_bundle_boots_through_fw_cfg_with_its_digest_checked() {
    let mut g = guest("big", "echo.wasm");
    g.preopens.push(Preopen {
        guest_path: "/data".into(),
        bundle_dir: "data".into(),
        readonly: true,
    });
    let manifest = Manifest {
        guests: vec![g],
        ..Manifest::default()
    };
    let payload: Vec<u8> = (0..(33u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let image = bundle_image(
        "large",
        manifest,
        vec![("echo.wasm", echo_guest(0)), ("data/payload.bin", payload)],
    );
    assert!(
        image.with_extension("bin.bundle").exists(),
        "a 33 MiB bundle must be external"
    );
    let out = Boot {
        memory: "1G",
        ..Boot::new(Image::File(image))
    }
    .run();
    out.expect_code(0)
        .expect("external (fw_cfg), digest checked")
        .expect("guest big: exit 0");
}

#[test]
fn a_bundle_that_does_not_match_the_pinned_digest_is_refused_before_any_guest_runs() {
    let manifest = Manifest {
        guests: vec![guest("never", "echo.wasm")],
        ..Manifest::default()
    };
    let files = vec![
        ("echo.wasm", echo_guest(0)),
        ("pad.bin", vec![0u8; 13 << 20]),
    ];
    let image = bundle_image("tampered-external", manifest.clone(), files);
    let sidecar = image.with_extension("bin.bundle");
    let mut bytes = std::fs::read(&sidecar).expect("sidecar");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&sidecar, bytes).expect("write");
    let out = run(image);
    out.expect_code(114).expect("bundle refused");
    assert!(
        !out.has("guest never"),
        "no guest may run:\n{}",
        out.serial()
    );

    // The same for an embedded bundle: flip a byte inside it in the image.
    let image = bundle_image(
        "tampered-embedded",
        manifest,
        vec![("echo.wasm", echo_guest(0))],
    );
    let mut bytes = std::fs::read(&image).expect("image");
    bytes[200] ^= 0x40;
    std::fs::write(&image, bytes).expect("write");
    let out = run(image);
    out.expect_code(114).expect("bundle refused");
    assert!(
        !out.has("guest never"),
        "no guest may run:\n{}",
        out.serial()
    );
}

#[test]
fn exported_files_come_back_through_the_second_serial_port() {
    let manifest = exporting_out(guest("exporter", "echo.wasm"), "out");
    let image = bundle_image(
        "export",
        manifest,
        vec![
            ("echo.wasm", echo_guest(0)),
            ("out/result.txt", b"result bytes\n".to_vec()),
            ("out/nested/deep.bin", vec![0xAB; 5000]),
        ],
    );
    let dest = scratch_dir("export-dest");
    let out = Boot {
        export: Some(dest.clone()),
        ..Boot::new(Image::File(image))
    }
    .run();
    out.expect_code(0).expect("export: ");
    assert_eq!(
        std::fs::read(dest.join("out/result.txt")).expect("exported file"),
        b"result bytes\n"
    );
    assert_eq!(
        std::fs::read(dest.join("out/nested/deep.bin")).expect("exported file"),
        vec![0xAB; 5000]
    );
}

/// Creates `pipe.txt` in its first preopen and writes a line to it.
fn writer_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "pipe.txt")
  (data (i32.const 200) "data from the writer\n")
  (func (export "_start")
    ;; O_CREAT | O_TRUNC, all rights
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 9)
                    (i64.const 0x1FFFFFFF) (i64.const 0x1FFFFFFF) (i32.const 0) (i32.const 0))
      (then (call $exit (i32.const 2))))
    (i32.store (i32.const 8) (i32.const 200))
    (i32.store (i32.const 12) (i32.const 21))
    (drop (call $write (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16)))
    (call $exit (i32.const 0))))"#,
    )
    .expect("valid wat")
}

/// Prints `pipe.txt` from its first preopen; exits 2 when the file is missing.
fn reader_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "pipe.txt")
  (func (export "_start")
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 0)
                    (i64.const 0x1FFFFFFF) (i64.const 0x1FFFFFFF) (i32.const 0) (i32.const 0))
      (then (call $exit (i32.const 2))))
    (i32.store (i32.const 8) (i32.const 1024))
    (i32.store (i32.const 12) (i32.const 256))
    (drop (call $read (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16)))
    (i32.store (i32.const 12) (i32.load (i32.const 16)))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))
    (call $exit (i32.const 0))))"#,
    )
    .expect("valid wat")
}

/// Grows its memory by 100 pages and traps when that is refused.
fn grow_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module (memory (export "memory") 1)
  (func (export "_start")
    (if (i32.lt_s (memory.grow (i32.const 100)) (i32.const 0)) (then unreachable))))"#,
    )
    .expect("valid wat")
}

fn pipeline(shared: bool) -> Outcome {
    let with_dir = |name: &str, wasm: &str| {
        let mut g = guest(name, wasm);
        g.preopens.push(Preopen {
            guest_path: "/shared".into(),
            bundle_dir: "empty".into(),
            readonly: false,
        });
        g
    };
    let manifest = Manifest {
        guests: vec![
            with_dir("writer", "writer.wasm"),
            with_dir("reader", "reader.wasm"),
        ],
        shared_ramfs: shared,
        ..Manifest::default()
    };
    let name = if shared {
        "pipeline-shared"
    } else {
        "pipeline-separate"
    };
    run(bundle_image(
        name,
        manifest,
        vec![
            ("writer.wasm", writer_guest()),
            ("reader.wasm", reader_guest()),
        ],
    ))
}

#[test]
fn a_two_guest_pipeline_passes_a_file_through_a_shared_ramfs() {
    let out = pipeline(true);
    out.expect_code(0)
        .expect("guest writer: exit 0")
        .expect("guest reader: exit 0");
    assert_eq!(out.guest_output(), "data from the writer\n");
    // With one ramfs per guest (the default) the reader does not see the writer's file.
    pipeline(false)
        .expect_code(2)
        .expect("guest reader: exit 2");
}

#[test]
fn an_exported_output_file_is_byte_identical_to_what_elastic_run_writes() {
    // In QEMU: the writer's /out comes back through the export channel.
    let manifest = exporting_out(guest("writer", "writer.wasm"), "empty");
    let image = bundle_image(
        "export-vs-run",
        manifest,
        vec![("writer.wasm", writer_guest())],
    );
    let dest = scratch_dir("export-vs-run-dest");
    Boot {
        export: Some(dest.clone()),
        ..Boot::new(Image::File(image))
    }
    .run()
    .expect_code(0);
    let from_qemu = std::fs::read(dest.join("out/pipe.txt")).expect("exported file");

    // On the host: `elastic run` writes the same file back into the --dir directory.
    let host = scratch_dir("export-vs-run-host");
    let module = host.join("writer.wasm");
    std::fs::write(&module, writer_guest()).expect("write module");
    let outdir = host.join("out");
    std::fs::create_dir_all(&outdir).expect("mkdir");
    let root = elastic_tests::repo_root();
    let status = std::process::Command::new(root.join("scripts/elastic"))
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/out", outdir.display()))
        .arg(&module)
        .status()
        .expect("run elastic");
    assert!(status.success());
    let from_host = std::fs::read(outdir.join("pipe.txt")).expect("written back");
    assert_eq!(from_qemu, from_host);
    assert_eq!(from_qemu, b"data from the writer\n");
}

#[test]
fn exceeding_the_memory_limit_is_reported_and_the_next_guest_runs() {
    let mut hog = guest("grower", "grow.wasm");
    hog.limits.max_memory_bytes = 1 << 20;
    let manifest = Manifest {
        guests: vec![hog, guest("after", "echo.wasm")],
        ..Manifest::default()
    };
    let image = bundle_image(
        "memory-limit",
        manifest,
        vec![("grow.wasm", grow_guest()), ("echo.wasm", echo_guest(0))],
    );
    run(image)
        .expect_code(100)
        .expect("guest grower: limit max_memory_bytes exceeded")
        .expect("guest after: exit 0");
}

#[test]
fn the_wasi_crypto_guest_passes_its_known_answers_and_misuse_checks_in_qemu() {
    let image = built_guest_image(Image::Plain, "crypto-check", "crypto-check", &["all"]);
    let out = run(image);
    out.expect_code(0).expect("ok crypto-check all");
    // In plain QEMU there is no PSP, so the sealing key is reported as unsupported.
    out.expect("sealing key: unsupported_feature");
    assert!(!out.has("FAIL"), "{}", out.serial());
}

#[test]
fn the_wasi_crypto_guest_passes_under_elastic_run_too() {
    let out = elastic_run_guest("crypto-check", &["all"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok crypto-check all") && !stdout.contains("FAIL"),
        "{stdout}"
    );
}

/// bench-crypto's arguments for the tests: a message that is no multiple of the AES block, the
/// SHA-256 block or the 8-block batches of the AES-NI code, two repetitions on each side.
const BENCH_CRYPTO_ARGS: [&str; 3] = ["65543", "2", "2"];

/// What bench-crypto prints for those arguments once both sides agreed on every repetition.
/// The digest and the tag of repetition 0 are a third implementation's (Python's hashlib and
/// OpenSSL's AES-GCM through the `cryptography` package), not taken from the guest.
const BENCH_CRYPTO_STDOUT: &str = "\
sha256 48e84525bcb5c9dcd67fa7a692ed20f31909ba8f0dd24c3ada9bd54b057468b0 bytes=65543
aes-256-gcm tag=e0ce69f2c2d2007b65b27e20d180d140 bytes=65543
ok api == wasm (sha256 x2, aes-256-gcm x2, decrypt x1)
";

#[test]
fn the_kernels_native_crypto_matches_the_same_algorithms_compiled_to_wasm() {
    // The known-answer vectors of crypto-check are a few blocks long; this compares whole
    // 64 KiB messages, which take the kernel's wide (multi-block AES-NI, PCLMULQDQ) paths.
    let image = built_guest_image(
        Image::Plain,
        "bench-crypto",
        "bench-crypto",
        &BENCH_CRYPTO_ARGS,
    );
    let out = run(image);
    out.expect_code(0);
    for line in BENCH_CRYPTO_STDOUT.lines() {
        out.expect(line);
    }
}

#[test]
fn elastic_runs_native_crypto_matches_the_same_algorithms_compiled_to_wasm() {
    let out = elastic_run_guest("bench-crypto", &BENCH_CRYPTO_ARGS);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout == BENCH_CRYPTO_STDOUT,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn snp_selftest_in_plain_qemu_says_it_is_not_an_snp_guest_and_gets_no_report() {
    let mut selftest = guest("snp-selftest", "snp-selftest.wasm");
    selftest.output = elastic_bundle::OutputMode::Raw;
    // Report mode: asking for a report outside SNP must fail with "not an SNP guest" (exit 2),
    // never produce a fabricated report.
    let mut report = guest("snp-report", "snp-selftest.wasm");
    report.args = vec!["report".into(), "ab".repeat(64), "/out/r.bin".into()];
    report.preopens.push(Preopen {
        guest_path: "/out".into(),
        bundle_dir: "empty".into(),
        readonly: false,
    });
    let manifest = Manifest {
        guests: vec![selftest, report],
        ..Manifest::default()
    };
    let image = bundle_image(
        "snp-selftest",
        manifest,
        vec![(
            "snp-selftest.wasm",
            elastic_tests::guest_wasm("snp-selftest"),
        )],
    );
    let out = run(image);
    out.expect("not an SNP guest")
        .expect("guest snp-selftest: exit 0")
        .expect("guest snp-report: exit 2");
    out.expect_code(2);
}

/// Fills the heap through the ramfs (64 KiB writes, then new files) and then asks for more
/// linear memory; every refusal must reach the guest as an error it can handle.
fn heap_hog_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "big")
  (data (i32.const 200) "survived\n")
  (func (export "_start") (local $fd i32) (local $i i32) (local $write_err i32)
    (local $create_err i32) (local $grown i32)
    ;; /out/big: create, write rights
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 3) (i32.const 1)
          (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16))
      (then (call $exit (i32.const 10))))
    (local.set $fd (i32.load (i32.const 16)))
    ;; 64 KiB writes from the second page until the ramfs says no
    (i32.store (i32.const 24) (i32.const 65536))
    (i32.store (i32.const 28) (i32.const 65536))
    (block $full (loop $more
      (local.set $write_err
        (call $write (local.get $fd) (i32.const 24) (i32.const 1) (i32.const 32)))
      (br_if $full (local.get $write_err))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $full (i32.ge_u (local.get $i) (i32.const 100000)))
      (br $more)))
    ;; then new (empty) files "f" + 4 letters, until the ramfs says no
    (local.set $i (i32.const 0))
    (i32.store8 (i32.const 100) (i32.const 102))
    (block $full2 (loop $more2
      (i32.store8 (i32.const 101)
        (i32.add (i32.const 97) (i32.and (local.get $i) (i32.const 15))))
      (i32.store8 (i32.const 102)
        (i32.add (i32.const 97) (i32.and (i32.shr_u (local.get $i) (i32.const 4)) (i32.const 15))))
      (i32.store8 (i32.const 103)
        (i32.add (i32.const 97) (i32.and (i32.shr_u (local.get $i) (i32.const 8)) (i32.const 15))))
      (i32.store8 (i32.const 104)
        (i32.add (i32.const 97) (i32.and (i32.shr_u (local.get $i) (i32.const 12)) (i32.const 15))))
      (local.set $create_err
        (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 1)
          (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
      (br_if $full2 (local.get $create_err))
      (drop (call $close (i32.load (i32.const 16))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $full2 (i32.ge_u (local.get $i) (i32.const 65535)))
      (br $more2)))
    ;; and 1 MiB more linear memory
    (local.set $grown (memory.grow (i32.const 16)))
    ;; still able to write to stdout
    (i32.store (i32.const 24) (i32.const 200))
    (i32.store (i32.const 28) (i32.const 9))
    (drop (call $write (i32.const 1) (i32.const 24) (i32.const 1) (i32.const 32)))
    (if (i32.ne (local.get $write_err) (i32.const 51)) (then (call $exit (i32.const 1))))
    (if (i32.ne (local.get $create_err) (i32.const 51)) (then (call $exit (i32.const 2))))
    (if (i32.ne (local.get $grown) (i32.const -1)) (then (call $exit (i32.const 3))))
    (call $exit (i32.const 0))))"#,
    )
    .expect("valid wat")
}

/// Issue 10: heap exhaustion while serving a guest is the guest's error, not the kernel's.
/// In a 96 MiB VM, a guest whose ramfs quota (1 GiB) and memory limit (4 GiB) exceed the RAM
/// fills the heap: its writes and new files get ENOSPC and `memory.grow` fails once only the
/// kernel's reserve is left, and the kernel, still able to allocate, reports the guest's own
/// exit code (never 113, out of memory).
#[test]
fn heap_exhaustion_reaches_the_guest_as_errors_not_a_kernel_abort() {
    let mut hog = guest("hog", "hog.wasm");
    hog.limits.max_memory_bytes = 4 << 30;
    hog.limits.ramfs_quota_bytes = 1 << 30;
    hog.limits.ramfs_quota_inodes = 1 << 20;
    // A writable /out, not exported (streaming ~80 MiB over COM2 is not the point here).
    hog.preopens.push(Preopen {
        guest_path: "/out".into(),
        bundle_dir: "none".into(),
        readonly: false,
    });
    let manifest = Manifest {
        guests: vec![hog],
        ..Manifest::default()
    };
    let image = bundle_image(
        "heap-exhaustion",
        manifest,
        vec![("hog.wasm", heap_hog_guest())],
    );
    let out = Boot {
        memory: "96M",
        ..Boot::new(Image::File(image))
    }
    .run();
    out.expect_code(0).expect("guest hog: exit 0");
    assert_eq!(out.guest_output(), "survived\n");
    assert!(!out.has("kernel panic"), "{}", out.serial());
}

/// A guest that calls `proc_exit(code)`.
fn exit_guest(code: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const {code}))))"#
    ))
    .expect("valid wat")
}

/// `call_indirect` through a table entry whose type differs from the call's.
fn indirect_mismatch_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (type $void (func))
  (type $takes_i32 (func (param i32)))
  (table 1 funcref)
  (elem (i32.const 0) $f)
  (func $f (param i32))
  (memory (export "memory") 1)
  (func (export "_start") (call_indirect (type $void) (i32.const 0))))"#,
    )
    .expect("valid wat")
}

/// Asks for the largest possible `memory.grow` (4 GiB) and for 64 KiB more than the limit
/// allows in one step: both must return -1, and the guest says so on stdout.
fn huge_alloc_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "huge allocation refused\n")
  (func (export "_start")
    (if (i32.ne (memory.grow (i32.const 65535)) (i32.const -1)) (then unreachable))
    (if (i32.ne (memory.grow (i32.const 1025)) (i32.const -1)) (then unreachable))
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 24))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    )
    .expect("valid wat")
}

/// Writes 1 MiB of 'x' and a newline to stdout in one `fd_write`.
fn big_write_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (func (export "_start")
    (memory.fill (i32.const 4096) (i32.const 120) (i32.const 1048576))
    (i32.store8 (i32.const 1052672) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 4096))
    (i32.store (i32.const 4) (i32.const 1048577))
    (if (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
    (if (i32.ne (i32.load (i32.const 8)) (i32.const 1048577)) (then unreachable))))"#,
    )
    .expect("valid wat")
}

#[test]
fn every_fault_kind_and_exit_code_is_reported_by_name_and_the_next_guest_runs() {
    let mut huge = guest("huge-alloc", "huge.wasm");
    huge.limits.max_memory_bytes = 64 << 20;
    let mut big = guest("big-write", "big.wasm");
    big.output = elastic_bundle::OutputMode::Raw;
    let manifest = Manifest {
        guests: vec![
            guest("exit-0", "exit0.wasm"),
            big,
            huge,
            guest("indirect", "indirect.wasm"),
            guest("exit-1", "exit1.wasm"),
            guest("exit-255", "exit255.wasm"),
            guest("exit-256", "exit256.wasm"),
            guest("survivor", "echo.wasm"),
        ],
        ..Manifest::default()
    };
    let image = bundle_image(
        "fault-kinds",
        manifest,
        vec![
            ("exit0.wasm", exit_guest(0)),
            ("big.wasm", big_write_guest()),
            ("huge.wasm", huge_alloc_guest()),
            ("indirect.wasm", indirect_mismatch_guest()),
            ("exit1.wasm", exit_guest(1)),
            ("exit255.wasm", exit_guest(255)),
            ("exit256.wasm", exit_guest(256)),
            ("echo.wasm", echo_guest(0)),
        ],
    );
    let out = run(image);
    // The first failure (the signature-mismatch trap) decides the image's code: 100.
    out.expect_code(100)
        .expect("guest exit-0: exit 0")
        .expect("guest big-write: exit 0")
        .expect("huge allocation refused")
        .expect("guest huge-alloc: exit 0")
        .expect("guest indirect: trap BadSignature")
        .expect("guest exit-1: exit 1")
        // As wasmtime: proc_exit codes of 126 and up end the guest with an error.
        .expect("guest exit-255: trap Host: proc_exit(255): exit with invalid exit status")
        .expect("guest exit-256: trap Host: proc_exit(256): exit with invalid exit status")
        .expect("guest survivor: exit 0");
    let x_run = "x".repeat(1 << 20);
    assert!(
        out.serial().contains(&format!("{x_run}\n")),
        "the 1 MiB write did not arrive whole"
    );
}

/// Writes 100 MiB of 'x' to stdout in 100 `fd_write`s of 1 MiB, checking each is complete.
fn flood_guest() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (func (export "_start") (local $i i32)
    (memory.fill (i32.const 4096) (i32.const 120) (i32.const 1048576))
    (loop $more
      (i32.store (i32.const 0) (i32.const 4096))
      (i32.store (i32.const 4) (i32.const 1048576))
      (if (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      (if (i32.ne (i32.load (i32.const 8)) (i32.const 1048576)) (then unreachable))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 100))))))"#,
    )
    .expect("valid wat")
}

#[test]
fn a_100_mib_stdout_write_arrives_whole_under_elastic_run() {
    // The same WASI code the kernel runs, at host speed (100 MiB through COM1 under TCG
    // would take minutes; the QEMU test above writes 1 MiB in one call).
    let dir = scratch_dir("flood");
    let wasm = dir.join("flood.wasm");
    std::fs::write(&wasm, flood_guest()).expect("write flood.wasm");
    let out = elastic_tests::elastic_run(&wasm, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 100 << 20);
    assert!(out.stdout.iter().all(|&b| b == b'x'));
}
