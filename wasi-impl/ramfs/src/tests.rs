//! Unit tests for path resolution and every filesystem operation.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A manual clock: tests advance it explicitly.
fn fs_with_clock() -> (Ramfs, Arc<AtomicU64>) {
    let t = Arc::new(AtomicU64::new(1_000));
    let t2 = t.clone();
    let fs = Ramfs::new(
        Config::default(),
        Box::new(move || t2.load(Ordering::SeqCst)),
    );
    (fs, t)
}

fn fs() -> Ramfs {
    fs_with_clock().0
}

fn create() -> OpenOptions {
    OpenOptions {
        create: true,
        write: true,
        ..OpenOptions::default()
    }
}

#[test]
fn smoke_create_write_read() {
    let mut fs = fs();
    let root = fs.root();
    fs.create_dir(root, "d").unwrap();
    let f = fs.open(root, "d/f", create()).unwrap();
    assert_eq!(fs.write_at(f, 0, b"hello"), Ok(5));
    let mut buf = [0u8; 16];
    assert_eq!(fs.read_at(f, 0, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(fs.lookup(root, "d/f", false), Ok(f));
    assert_eq!(fs.stat(f).unwrap().size, 5);
}
