//! `elastic run` end to end: a WAT guest changes a preopened host directory (create, modify,
//! remove, rename, mkdir), and the test checks the write-back, stdio, and exit statuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const GUEST: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "new.txt")
  (data (i32.const 110) "old.txt")
  (data (i32.const 120) "nd")
  (data (i32.const 130) "mv_src")
  (data (i32.const 140) "mv_dst")
  (data (i32.const 150) "chg.txt")
  (data (i32.const 200) "created\n")
  (data (i32.const 16) "\c8\00\00\00\08\00\00\00")
  (func (export "_start")
    ;; new.txt = "created\n"
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 7) (i32.const 1)
      (i64.const 0x40) (i64.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $write (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 4)))
    ;; chg.txt truncated and rewritten
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 150) (i32.const 7) (i32.const 8)
      (i64.const 0x40) (i64.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $write (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 4)))
    (drop (call $unlink (i32.const 3) (i32.const 110) (i32.const 7)))
    (drop (call $mkdir (i32.const 3) (i32.const 120) (i32.const 2)))
    (drop (call $rename (i32.const 3) (i32.const 130) (i32.const 6) (i32.const 3) (i32.const 140) (i32.const 6)))
    ;; stdin -> stdout (up to 8 bytes), then the first env var
    (drop (call $read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 4)))
    (i32.store (i32.const 20) (i32.load (i32.const 4)))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 4)))
    (drop (call $environ_get (i32.const 300) (i32.const 400)))
    (i32.store (i32.const 16) (i32.const 400))
    (i32.store (i32.const 20) (i32.const 7))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 4)))
    (call $exit (i32.const 42))))"#;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("elastic-run-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn setup(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("old.txt"), b"old").unwrap();
    std::fs::write(dir.join("mv_src"), b"moved").unwrap();
    std::fs::write(dir.join("chg.txt"), b"a much longer original content").unwrap();
    std::fs::write(dir.join("keep.txt"), b"keep").unwrap();
    // an absolute symlink in the host tree must import (the guest may read it) and survive
    std::os::unix::fs::symlink("/etc/hostname", dir.join("abs_link")).unwrap();
    let wasm = dir.with_extension("wasm");
    std::fs::write(&wasm, wat::parse_str(GUEST).unwrap()).unwrap();
    wasm
}

fn elastic(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut c = Command::new(env!("CARGO_BIN_EXE_elastic"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin).unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn run_writes_back_changes_and_passes_stdio_and_exit_code() {
    let dir = tmpdir("wb");
    let wasm = setup(&dir);
    let d = format!("{}::/data", dir.display());
    let out = elastic(
        &[
            "run",
            "--dir",
            &d,
            "--env",
            "ABC=xyz",
            wasm.to_str().unwrap(),
        ],
        b"input!!!",
    );
    assert_eq!(
        out.status.code(),
        Some(42),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"input!!!ABC=xyz");
    assert_eq!(std::fs::read(dir.join("new.txt")).unwrap(), b"created\n");
    assert_eq!(std::fs::read(dir.join("chg.txt")).unwrap(), b"created\n");
    assert!(!dir.join("old.txt").exists());
    assert!(dir.join("nd").is_dir());
    assert!(!dir.join("mv_src").exists());
    assert_eq!(std::fs::read(dir.join("mv_dst")).unwrap(), b"moved");
    assert_eq!(std::fs::read(dir.join("keep.txt")).unwrap(), b"keep");
    assert_eq!(
        std::fs::read_link(dir.join("abs_link")).unwrap(),
        Path::new("/etc/hostname")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_write_back_leaves_host_untouched() {
    let dir = tmpdir("nowb");
    let wasm = setup(&dir);
    let d = format!("{}::/data", dir.display());
    let out = elastic(
        &[
            "run",
            "--no-write-back",
            "--dir",
            &d,
            wasm.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(42));
    assert!(dir.join("old.txt").exists() && dir.join("mv_src").exists());
    assert!(!dir.join("new.txt").exists() && !dir.join("nd").exists());
    assert_eq!(
        std::fs::read(dir.join("chg.txt")).unwrap(),
        b"a much longer original content"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn traps_limits_and_bad_modules_have_documented_statuses() {
    let dir = tmpdir("trap");
    let trap = dir.join("trap.wasm");
    std::fs::write(
        &trap,
        wat::parse_str(
            r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let out = elastic(&["run", trap.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(134));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unreachable"));

    let spin = dir.join("spin.wasm");
    std::fs::write(
        &spin,
        wat::parse_str(
            r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let out = elastic(&["run", "--fuel", "5000", spin.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(134));
    assert!(String::from_utf8_lossy(&out.stderr).contains("limit fuel"));
    // No fuel limit: the wall-clock limit stops it.
    let started = std::time::Instant::now();
    let out = elastic(
        &["run", "--wall-time-ms", "200", spin.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(134));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "limit wall_time_ms exceeded: watchdog: guest spin.wasm exceeded its wall-clock \
             limit of 200 ms"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));

    let bad = dir.join("bad.wasm");
    std::fs::write(&bad, b"\0asm\x01\0\0\0garbage").unwrap();
    let out = elastic(&["run", bad.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.wasm"));
    let _ = std::fs::remove_dir_all(&dir);
}
