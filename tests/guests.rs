//! Baked guests in QEMU: the kernel finds and verifies the bundle (embedded and external),
//! runs guests in order with their stdin, args, env and preopens, reports each one, keeps going
//! after traps and limits, exports files on COM2, and refuses corrupted bundles before any guest
//! runs. Exit codes as documented in kernel/core/src/exit.rs (100 = a guest trapped or hit a
//! limit, 114 = bundle refused).

use elastic_bundle::{Export, Guest, Manifest, Preopen};
use elastic_tests::{Boot, Image, Outcome, bundle_image, scratch_dir};

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
    let mut g = guest("exporter", "echo.wasm");
    g.preopens.push(Preopen {
        guest_path: "/out".into(),
        bundle_dir: "out".into(),
        readonly: false,
    });
    let manifest = Manifest {
        guests: vec![g],
        exports: vec![Export {
            guest: "exporter".into(),
            path: "/out".into(),
        }],
        ..Manifest::default()
    };
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
