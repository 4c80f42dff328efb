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

fn names(fs: &Ramfs, dir: Ino) -> Vec<String> {
    fs.readdir(dir, 0)
        .unwrap()
        .map(|e| e.name.to_string())
        .collect()
}

fn read_all(fs: &Ramfs, ino: Ino) -> Vec<u8> {
    fs.read_to_vec(ino).unwrap()
}

#[test]
fn open_flags() {
    let mut fs = fs();
    let r = fs.root();
    // No create: missing file.
    assert_eq!(fs.open(r, "f", OpenOptions::default()), Err(Errno::Noent));
    let f = fs.open(r, "f", create()).unwrap();
    assert_eq!(fs.filetype(f), Ok(Filetype::RegularFile));
    // Create without excl opens the existing file.
    assert_eq!(fs.open(r, "f", create()), Ok(f));
    let excl = OpenOptions {
        exclusive: true,
        ..create()
    };
    assert_eq!(fs.open(r, "f", excl), Err(Errno::Exist));
    fs.write_at(f, 0, b"data").unwrap();
    let trunc = OpenOptions {
        truncate: true,
        write: true,
        ..OpenOptions::default()
    };
    assert_eq!(fs.open(r, "f", trunc), Ok(f));
    assert_eq!(fs.stat(f).unwrap().size, 0);
    // directory flag on a file; create+directory is invalid.
    let dir = OpenOptions {
        directory: true,
        ..OpenOptions::default()
    };
    assert_eq!(fs.open(r, "f", dir), Err(Errno::Notdir));
    assert_eq!(
        fs.open(
            r,
            "g",
            OpenOptions {
                directory: true,
                ..create()
            }
        ),
        Err(Errno::Inval)
    );
    // Directories: open for reading ok, for writing Isdir.
    let d = fs.create_dir(r, "d").unwrap();
    assert_eq!(fs.open(r, "d", dir), Ok(d));
    assert_eq!(fs.open(r, "d", OpenOptions::default()), Ok(d));
    assert_eq!(fs.open(r, "d", trunc), Err(Errno::Isdir));
    assert_eq!(fs.open(r, ".", dir), Ok(r));
    assert_eq!(fs.open(r, "d/..", dir), Ok(r));
    // Trailing slash: a file is not a directory; creating "new/" is Isdir (Linux).
    assert_eq!(fs.open(r, "f/", OpenOptions::default()), Err(Errno::Notdir));
    assert_eq!(fs.open(r, "d/", OpenOptions::default()), Ok(d));
    assert_eq!(fs.open(r, "new/", create()), Err(Errno::Isdir));
    // Creating "." is Exist-like: it is a directory.
    assert_eq!(fs.open(r, ".", create()), Err(Errno::Isdir));
    // Missing parent.
    assert_eq!(fs.open(r, "nope/f", create()), Err(Errno::Noent));
    assert_eq!(fs.open(r, "f/x", create()), Err(Errno::Notdir));
    // Empty path.
    assert_eq!(fs.open(r, "", OpenOptions::default()), Err(Errno::Noent));
    // A file is not a base.
    assert_eq!(fs.open(f, "x", OpenOptions::default()), Err(Errno::Notdir));
    // A dead inode is a bad descriptor.
    assert_eq!(fs.open(999, "x", OpenOptions::default()), Err(Errno::Badf));
}

#[test]
fn open_symlinks() {
    let mut fs = fs();
    let r = fs.root();
    let f = fs.write_file(r, "f", b"x").unwrap();
    fs.symlink("f", r, "l").unwrap();
    fs.symlink("missing", r, "dangling").unwrap();
    let follow = OpenOptions {
        follow: true,
        ..OpenOptions::default()
    };
    assert_eq!(fs.open(r, "l", follow), Ok(f));
    // Without follow, a final symlink is Loop, also with `directory` (as wasmtime).
    assert_eq!(fs.open(r, "l", OpenOptions::default()), Err(Errno::Loop));
    assert_eq!(
        fs.open(
            r,
            "l",
            OpenOptions {
                directory: true,
                ..OpenOptions::default()
            }
        ),
        Err(Errno::Loop)
    );
    // Create through a dangling symlink creates its target.
    let c = fs
        .open(
            r,
            "dangling",
            OpenOptions {
                follow: true,
                ..create()
            },
        )
        .unwrap();
    assert_eq!(fs.lookup(r, "missing", false), Ok(c));
    // O_EXCL never follows.
    fs.symlink("missing2", r, "dangling2").unwrap();
    let excl = OpenOptions {
        follow: true,
        exclusive: true,
        ..create()
    };
    assert_eq!(fs.open(r, "dangling2", excl), Err(Errno::Exist));
    assert_eq!(fs.lookup(r, "missing2", false), Err(Errno::Noent));
}

#[test]
fn confinement() {
    let mut fs = fs();
    let r = fs.root();
    let sub = fs.create_dir_all(r, "sub/inner").unwrap();
    let s = fs.lookup(r, "sub", false).unwrap();
    fs.write_file(r, "top", b"secret").unwrap();
    fs.write_file(s, "inner/f", b"ok").unwrap();
    // Absolute paths and `..` above base are escapes.
    assert_eq!(fs.lookup(s, "/top", true), Err(ESCAPE_ERRNO));
    assert_eq!(fs.lookup(s, "..", true), Err(ESCAPE_ERRNO));
    assert_eq!(fs.lookup(s, "../top", true), Err(ESCAPE_ERRNO));
    assert_eq!(fs.lookup(s, "inner/../../top", true), Err(ESCAPE_ERRNO));
    assert_eq!(fs.lookup(r, "..", true), Err(ESCAPE_ERRNO));
    // `..` that stays inside is fine.
    assert_eq!(fs.lookup(s, "inner/..", true), Ok(s));
    let f = fs.lookup(s, "inner/f", true).unwrap();
    assert_eq!(fs.lookup(s, "inner/../inner/./f", true), Ok(f));
    // Symlinks resolving outside the base are escapes too, even if they come back.
    fs.symlink("../top", s, "up").unwrap();
    fs.symlink("../sub/inner", s, "roundtrip").unwrap();
    assert_eq!(fs.lookup(s, "up", true), Err(ESCAPE_ERRNO));
    assert_eq!(fs.lookup(s, "roundtrip/f", true), Err(ESCAPE_ERRNO));
    // ...but resolve from a higher base.
    assert!(fs.lookup(r, "sub/up", true).is_ok());
    assert_eq!(fs.lookup(r, "sub/roundtrip", true), Ok(sub));
    // Not following the final symlink does not escape.
    assert!(fs.lookup(s, "up", false).is_ok());
    // Absolute symlink targets cannot be created by guests; importers may store them, but
    // following one is an escape while reading it works.
    assert_eq!(fs.symlink("/etc/passwd", s, "abs"), Err(ESCAPE_ERRNO));
    fs.symlink_verbatim("/etc/passwd", s, "abs").unwrap();
    assert_eq!(fs.readlink(s, "abs"), Ok("/etc/passwd"));
    assert_eq!(fs.lookup(s, "abs", true), Err(ESCAPE_ERRNO));
    assert_eq!(fs.lookup(r, "sub/abs/x", false), Err(ESCAPE_ERRNO));
    // Escapes are reported for every operation.
    assert_eq!(fs.create_dir(s, "../x"), Err(ESCAPE_ERRNO));
    assert_eq!(fs.unlink_file(s, "../top"), Err(ESCAPE_ERRNO));
    assert_eq!(fs.rename(s, "inner/f", s, "../f"), Err(ESCAPE_ERRNO));
    assert_eq!(fs.remove_dir(s, ".."), Err(ESCAPE_ERRNO));
}

#[test]
fn symlink_resolution() {
    let mut fs = fs();
    let r = fs.root();
    let d = fs.create_dir_all(r, "a/b").unwrap();
    let f = fs.write_file(r, "a/b/f", b"x").unwrap();
    fs.symlink("a/b", r, "ab").unwrap();
    fs.symlink("b/f", fs.lookup(r, "a", false).unwrap(), "rel")
        .unwrap();
    fs.symlink("ab/", r, "ab2").unwrap();
    // Intermediate symlinks are always followed; relative to their own directory.
    assert_eq!(fs.lookup(r, "ab/f", false), Ok(f));
    assert_eq!(fs.lookup(r, "a/rel", true), Ok(f));
    assert_eq!(fs.lookup(r, "ab2", true), Ok(d));
    // `..` after a symlink is the parent of the target (physical resolution).
    assert_eq!(fs.lookup(r, "ab/..", true), fs.lookup(r, "a", true));
    // Final symlink with a trailing slash is followed even without follow.
    assert_eq!(fs.lookup(r, "ab/", false), Ok(d));
    // A symlink to a file with trailing slash is not a directory.
    fs.symlink("a/b/f", r, "lf").unwrap();
    assert_eq!(fs.lookup(r, "lf/", false), Err(Errno::Notdir));
    assert_eq!(fs.lookup(r, "lf/x", false), Err(Errno::Notdir));
    // Loops.
    fs.symlink("loop2", r, "loop1").unwrap();
    fs.symlink("loop1", r, "loop2").unwrap();
    assert_eq!(fs.lookup(r, "loop1", true), Err(Errno::Loop));
    assert_eq!(fs.lookup(r, "loop1/x", false), Err(Errno::Loop));
    fs.symlink("self", r, "self").unwrap();
    assert_eq!(fs.lookup(r, "self", true), Err(Errno::Loop));
    // A chain of exactly SYMLOOP_MAX links works, one more does not.
    let mut prev = String::from("a/b/f");
    for i in 0..SYMLOOP_MAX {
        let name = format!("c{i}");
        fs.symlink(&prev, r, &name).unwrap();
        prev = name;
    }
    assert_eq!(fs.lookup(r, &prev, true), Ok(f));
    fs.symlink(&prev, r, "over").unwrap();
    assert_eq!(fs.lookup(r, "over", true), Err(Errno::Loop));
    // Dangling.
    fs.symlink("nowhere", r, "dang").unwrap();
    assert_eq!(fs.lookup(r, "dang", true), Err(Errno::Noent));
    assert!(fs.lookup(r, "dang", false).is_ok());
    assert_eq!(fs.readlink(r, "dang"), Ok("nowhere"));
    assert_eq!(fs.readlink(r, "a"), Err(Errno::Inval));
    assert_eq!(fs.readlink(r, "nothing"), Err(Errno::Noent));
    assert_eq!(fs.symlink("", r, "empty"), Err(Errno::Noent));
    assert_eq!(fs.symlink("x", r, "dang"), Err(Errno::Exist));
    assert_eq!(fs.symlink("x", r, "newlink/"), Err(Errno::Noent));
    let st = fs.stat_at(r, "dang", false).unwrap();
    assert_eq!(st.filetype, Filetype::SymbolicLink);
    assert_eq!(st.size, 7);
}

#[test]
fn name_and_path_limits() {
    let mut fs = fs();
    let r = fs.root();
    let long = "n".repeat(NAME_MAX);
    fs.create_dir(r, &long).unwrap();
    let too_long = "n".repeat(NAME_MAX + 1);
    assert_eq!(fs.create_dir(r, &too_long), Err(Errno::Nametoolong));
    assert_eq!(fs.lookup(r, &too_long, true), Err(Errno::Nametoolong));
    let deep = "a/".repeat(PATH_MAX / 2);
    assert_eq!(fs.lookup(r, &deep, true), Err(Errno::Nametoolong));
    assert_eq!(
        fs.symlink(&"x".repeat(PATH_MAX), r, "l"),
        Err(Errno::Nametoolong)
    );
    assert_eq!(fs.create_dir(r, "nul\0byte"), Err(Errno::Inval));
}

#[test]
fn mkdir_rmdir() {
    let (mut fs, clock) = fs_with_clock();
    let r = fs.root();
    clock.store(2_000, Ordering::SeqCst);
    let d = fs.create_dir(r, "d").unwrap();
    assert_eq!(fs.stat(r).unwrap().nlink, 3);
    assert_eq!(fs.stat(r).unwrap().mtim, 2_000);
    assert_eq!(fs.stat(d).unwrap().nlink, 2);
    assert_eq!(fs.stat(d).unwrap().ctim, 2_000);
    assert_eq!(fs.create_dir(r, "d"), Err(Errno::Exist));
    assert_eq!(fs.create_dir(r, "d/"), Err(Errno::Exist));
    assert_eq!(fs.create_dir(r, "."), Err(Errno::Exist));
    assert_eq!(fs.create_dir(r, "x/y"), Err(Errno::Noent));
    let e = fs.create_dir(r, "e/").unwrap();
    fs.write_file(d, "f", b"").unwrap();
    assert_eq!(fs.remove_dir(r, "d"), Err(Errno::Notempty));
    assert_eq!(fs.remove_dir(r, "d/f"), Err(Errno::Notdir));
    assert_eq!(fs.remove_dir(r, "nope"), Err(Errno::Noent));
    assert_eq!(fs.remove_dir(r, "."), Err(Errno::Inval));
    assert_eq!(fs.remove_dir(d, "."), Err(Errno::Inval));
    assert_eq!(fs.remove_dir(r, "d/.."), Err(Errno::Inval));
    fs.symlink("e", r, "le").unwrap();
    assert_eq!(fs.remove_dir(r, "le"), Err(Errno::Notdir));
    // A trailing slash means `e/.` (cap-std), which cannot be removed.
    assert_eq!(fs.remove_dir(r, "e/"), Err(Errno::Inval));
    assert_eq!(fs.remove_dir(r, "le/"), Err(Errno::Inval));
    assert_eq!(fs.remove_dir(r, "d/f/"), Err(Errno::Notdir));
    clock.store(3_000, Ordering::SeqCst);
    fs.remove_dir(r, "e").unwrap();
    assert!(!fs.exists(e));
    assert_eq!(fs.stat(r).unwrap().nlink, 3);
    assert_eq!(fs.stat(r).unwrap().mtim, 3_000);
    assert_eq!(fs.lookup(r, "e", false), Err(Errno::Noent));
    assert_eq!(names(&fs, r), [".", "..", "d", "le"]);
}

#[test]
fn removed_directory_pinned() {
    let mut fs = fs();
    let r = fs.root();
    let d = fs.create_dir(r, "d").unwrap();
    fs.retain(d).unwrap();
    fs.remove_dir(r, "d").unwrap();
    assert!(fs.exists(d));
    assert_eq!(fs.stat(d).unwrap().nlink, 0);
    // Nothing can be created in a removed directory.
    assert_eq!(fs.open(d, "f", create()), Err(Errno::Noent));
    assert_eq!(fs.create_dir(d, "x"), Err(Errno::Noent));
    assert_eq!(fs.lookup(d, ".", true), Ok(d));
    assert_eq!(names(&fs, d), [".", ".."]);
    fs.release(d).unwrap();
    assert!(!fs.exists(d));
    assert_eq!(fs.release(d), Err(Errno::Badf));
    assert_eq!(fs.usage().inodes, 1);
}

#[test]
fn unlink() {
    let mut fs = fs();
    let r = fs.root();
    let f = fs.write_file(r, "f", b"abc").unwrap();
    fs.create_dir(r, "d").unwrap();
    fs.symlink("d", r, "ld").unwrap();
    assert_eq!(fs.unlink_file(r, "d"), Err(Errno::Isdir));
    assert_eq!(fs.unlink_file(r, "."), Err(Errno::Isdir));
    assert_eq!(fs.unlink_file(r, "f/"), Err(Errno::Notdir));
    assert_eq!(fs.unlink_file(r, "nope"), Err(Errno::Noent));
    // Unlinking a symlink removes the link, not the target.
    fs.unlink_file(r, "ld").unwrap();
    assert!(fs.lookup(r, "d", false).is_ok());
    fs.unlink_file(r, "f").unwrap();
    assert!(!fs.exists(f));
    assert_eq!(fs.usage().bytes, dirent_cost("d"));
}

#[test]
fn unlinked_open_file_stays_usable() {
    let mut fs = fs();
    let r = fs.root();
    let f = fs.write_file(r, "f", b"hello").unwrap();
    fs.retain(f).unwrap();
    fs.retain(f).unwrap();
    fs.unlink_file(r, "f").unwrap();
    assert_eq!(fs.stat(f).unwrap().nlink, 0);
    assert_eq!(fs.write_at(f, 5, b" world"), Ok(6));
    assert_eq!(read_all(&fs, f), b"hello world");
    // A new file with the same name is a different inode.
    let g = fs.write_file(r, "f", b"new").unwrap();
    assert_ne!(f, g);
    fs.release(f).unwrap();
    assert!(fs.exists(f));
    let before = fs.usage().bytes;
    fs.release(f).unwrap();
    assert!(!fs.exists(f));
    assert_eq!(fs.usage().bytes, before - 11);
    assert_eq!(fs.read_at(f, 0, &mut [0; 4]), Err(Errno::Badf));
}

#[test]
fn hard_links() {
    let (mut fs, clock) = fs_with_clock();
    let r = fs.root();
    let f = fs.write_file(r, "f", b"abc").unwrap();
    fs.create_dir(r, "d").unwrap();
    clock.store(5_000, Ordering::SeqCst);
    fs.link(r, "f", false, r, "d/g").unwrap();
    assert_eq!(fs.lookup(r, "d/g", false), Ok(f));
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
    assert_eq!(fs.stat(f).unwrap().ctim, 5_000);
    assert_eq!(fs.link(r, "d", false, r, "d2"), Err(Errno::Perm));
    assert_eq!(fs.link(r, "f", false, r, "d/g"), Err(Errno::Exist));
    assert_eq!(fs.link(r, "nope", false, r, "x"), Err(Errno::Noent));
    assert_eq!(fs.link(r, "f/", false, r, "x"), Err(Errno::Notdir));
    assert_eq!(fs.link(r, "f", false, r, "x/"), Err(Errno::Noent));
    assert_eq!(fs.link(r, "f", false, r, "."), Err(Errno::Exist));
    // Link to a symlink itself, or (follow) to its target.
    fs.symlink("f", r, "l").unwrap();
    fs.link(r, "l", false, r, "l2").unwrap();
    assert_eq!(fs.readlink(r, "l2"), Ok("f"));
    fs.link(r, "l", true, r, "f3").unwrap();
    assert_eq!(fs.lookup(r, "f3", false), Ok(f));
    assert_eq!(fs.stat(f).unwrap().nlink, 3);
    fs.unlink_file(r, "f").unwrap();
    fs.unlink_file(r, "d/g").unwrap();
    assert_eq!(read_all(&fs, f), b"abc");
    fs.unlink_file(r, "f3").unwrap();
    assert!(!fs.exists(f));
}

#[test]
fn rename_rules() {
    let mut fs = fs();
    let r = fs.root();
    let f = fs.write_file(r, "f", b"1").unwrap();
    let g = fs.write_file(r, "g", b"2").unwrap();
    let d = fs.create_dir(r, "d").unwrap();
    let e = fs.create_dir(r, "e").unwrap();
    let full = fs.create_dir(r, "full").unwrap();
    fs.write_file(full, "x", b"").unwrap();
    // file over file
    fs.rename(r, "f", r, "g").unwrap();
    assert_eq!(fs.lookup(r, "g", false), Ok(f));
    assert!(!fs.exists(g));
    assert_eq!(fs.lookup(r, "f", false), Err(Errno::Noent));
    // file over dir, dir over file, dir over non-empty dir
    assert_eq!(fs.rename(r, "g", r, "d"), Err(Errno::Isdir));
    assert_eq!(fs.rename(r, "d", r, "g"), Err(Errno::Notdir));
    assert_eq!(fs.rename(r, "d", r, "full"), Err(Errno::Notempty));
    // dir into its own subtree
    assert_eq!(fs.rename(r, "d", r, "d/sub"), Err(Errno::Inval));
    fs.create_dir(d, "sub").unwrap();
    assert_eq!(fs.rename(r, "d", r, "d/sub/x"), Err(Errno::Inval));
    // dir over empty dir
    fs.rename(r, "d", r, "e").unwrap();
    assert_eq!(fs.lookup(r, "e", false), Ok(d));
    assert!(!fs.exists(e));
    assert_eq!(fs.lookup(r, "e/sub/..", false), Ok(d));
    // same inode: no-op
    fs.link(r, "g", false, r, "g2").unwrap();
    fs.rename(r, "g", r, "g2").unwrap();
    assert_eq!(fs.lookup(r, "g", false), Ok(f));
    fs.rename(r, "e", r, "e").unwrap();
    assert_eq!(fs.lookup(r, "e", false), Ok(d));
    // errors
    assert_eq!(fs.rename(r, "nope", r, "x"), Err(Errno::Noent));
    assert_eq!(fs.rename(r, "g", r, "nope/x"), Err(Errno::Noent));
    assert_eq!(fs.rename(r, "g/", r, "x"), Err(Errno::Notdir));
    assert_eq!(fs.rename(r, "g", r, "x/"), Err(Errno::Notdir));
    assert_eq!(fs.rename(r, ".", r, "x"), Err(Errno::Busy));
    assert_eq!(fs.rename(r, "g", r, "e/.."), Err(Errno::Busy));
    // directory moves keep nlink and `..` right
    let before_root = fs.stat(r).unwrap().nlink;
    fs.rename(r, "e", full, "moved/").unwrap();
    assert_eq!(fs.stat(r).unwrap().nlink, before_root - 1);
    assert_eq!(fs.stat(full).unwrap().nlink, 3);
    assert_eq!(fs.lookup(r, "full/moved/..", false), Ok(full));
    let dotdot = fs.readdir(d, 1).unwrap().next().unwrap();
    assert_eq!((dotdot.name, dotdot.ino), ("..", full));
    // symlinks are renamed, not followed
    fs.symlink("g", r, "sl").unwrap();
    fs.rename(r, "sl", r, "sl2").unwrap();
    assert_eq!(fs.readlink(r, "sl2"), Ok("g"));
}

#[test]
fn readdir_cookies_are_stable() {
    let mut fs = fs();
    let r = fs.root();
    let d = fs.create_dir(r, "d").unwrap();
    for n in ["a", "b", "c", "d"] {
        fs.write_file(d, n, b"").unwrap();
    }
    let all: Vec<(String, u64)> = fs
        .readdir(d, 0)
        .unwrap()
        .map(|e| (e.name.to_string(), e.next))
        .collect();
    assert_eq!(all[0], (".".to_string(), 1));
    assert_eq!(all[1], ("..".to_string(), 2));
    assert_eq!(all.len(), 6);
    let first = fs.readdir(d, 0).unwrap().next().unwrap();
    assert_eq!((first.ino, first.filetype), (d, Filetype::Directory));
    // Resume after "b", having removed "a" and "c" and added "e" meanwhile.
    let after_b = all[3].1;
    fs.unlink_file(d, "a").unwrap();
    fs.unlink_file(d, "c").unwrap();
    fs.write_file(d, "e", b"").unwrap();
    let rest: Vec<String> = fs
        .readdir(d, after_b)
        .unwrap()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(rest, ["d", "e"]);
    // Cookies 1 and 2 resume at ".." and at the first entry.
    assert_eq!(fs.readdir(d, 1).unwrap().next().unwrap().name, "..");
    assert_eq!(fs.readdir(d, 2).unwrap().next().unwrap().name, "b");
    assert_eq!(fs.readdir(d, u64::MAX).unwrap().count(), 0);
    let f = fs.lookup(d, "b", false).unwrap();
    assert!(matches!(fs.readdir(f, 0), Err(Errno::Notdir)));
}

#[test]
fn sparse_files_and_sizes() {
    let (mut fs, clock) = fs_with_clock();
    let r = fs.root();
    let f = fs.open(r, "f", create()).unwrap();
    let base = fs.usage().bytes;
    fs.write_at(f, 1 << 30, b"end").unwrap();
    assert_eq!(fs.stat(f).unwrap().size, (1 << 30) + 3);
    assert_eq!(fs.usage().bytes - base, 3);
    let mut buf = [1u8; 10];
    assert_eq!(fs.read_at(f, 5 << 20, &mut buf), Ok(10));
    assert_eq!(buf, [0; 10]);
    assert_eq!(fs.read_at(f, (1 << 30) + 3, &mut buf), Ok(0));
    clock.store(7_000, Ordering::SeqCst);
    fs.set_size(f, 10).unwrap();
    assert_eq!(fs.usage().bytes, base);
    assert_eq!(fs.stat(f).unwrap().mtim, 7_000);
    fs.allocate(f, 100, 50).unwrap();
    assert_eq!(fs.stat(f).unwrap().size, 150);
    fs.allocate(f, 0, 10).unwrap();
    assert_eq!(fs.stat(f).unwrap().size, 150);
    assert_eq!(fs.allocate(f, 0, 0), Err(Errno::Inval));
    assert_eq!(fs.allocate(f, u64::MAX, 2), Err(Errno::Fbig));
    assert_eq!(fs.set_size(f, MAX_FILE_SIZE + 1), Err(Errno::Fbig));
    assert_eq!(fs.write_at(f, MAX_FILE_SIZE, b"x"), Err(Errno::Fbig));
    // Zero-length writes do not touch mtim.
    clock.store(8_000, Ordering::SeqCst);
    assert_eq!(fs.write_at(f, 0, b""), Ok(0));
    assert_eq!(fs.stat(f).unwrap().mtim, 7_000);
    // Non-files.
    assert_eq!(fs.write_at(r, 0, b"x"), Err(Errno::Isdir));
    assert_eq!(fs.read_at(r, 0, &mut buf), Err(Errno::Isdir));
    assert_eq!(fs.set_size(r, 0), Err(Errno::Isdir));
    let l = fs.symlink("f", r, "l").unwrap();
    assert_eq!(fs.read_at(l, 0, &mut buf), Err(Errno::Inval));
}

#[test]
fn set_times() {
    let (mut fs, clock) = fs_with_clock();
    let r = fs.root();
    let f = fs.write_file(r, "f", b"").unwrap();
    clock.store(9_000, Ordering::SeqCst);
    fs.set_times(f, SetTime::At(42), SetTime::Omit).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!((st.atim, st.mtim, st.ctim), (42, 1_000, 9_000));
    clock.store(9_500, Ordering::SeqCst);
    fs.set_times_at(r, "f", true, SetTime::Omit, SetTime::Now)
        .unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!((st.atim, st.mtim, st.ctim), (42, 9_500, 9_500));
    // On a symlink without follow, the link itself changes.
    let l = fs.symlink("f", r, "l").unwrap();
    fs.set_times_at(r, "l", false, SetTime::At(1), SetTime::At(2))
        .unwrap();
    assert_eq!(fs.stat(l).unwrap().mtim, 2);
    assert_eq!(fs.stat(f).unwrap().mtim, 9_500);
}

#[test]
fn readonly_trees() {
    let mut fs = fs();
    let r = fs.root();
    let ro = fs.create_dir_all(r, "ro/sub").unwrap();
    let f = fs.write_file(r, "ro/sub/f", b"data").unwrap();
    let top = fs.lookup(r, "ro", false).unwrap();
    fs.set_readonly_tree(top, true).unwrap();
    assert_eq!(fs.is_readonly(f), Ok(true));
    assert_eq!(fs.is_readonly(r), Ok(false));
    // Reads work.
    assert_eq!(read_all(&fs, f), b"data");
    assert_eq!(fs.open(r, "ro/sub/f", OpenOptions::default()), Ok(f));
    // Every kind of write fails with Rofs.
    let wr = OpenOptions {
        write: true,
        ..OpenOptions::default()
    };
    assert_eq!(fs.open(r, "ro/sub/f", wr), Err(Errno::Rofs));
    assert_eq!(fs.open(r, "ro/sub/new", create()), Err(Errno::Rofs));
    assert_eq!(fs.write_at(f, 0, b"x"), Err(Errno::Rofs));
    assert_eq!(fs.set_size(f, 0), Err(Errno::Rofs));
    assert_eq!(fs.allocate(f, 0, 100), Err(Errno::Rofs));
    assert_eq!(
        fs.set_times(f, SetTime::Now, SetTime::Now),
        Err(Errno::Rofs)
    );
    assert_eq!(fs.create_dir(ro, "x"), Err(Errno::Rofs));
    assert_eq!(fs.unlink_file(ro, "f"), Err(Errno::Rofs));
    assert_eq!(fs.remove_dir(r, "ro/sub"), Err(Errno::Notempty));
    assert_eq!(fs.rename(ro, "f", r, "stolen"), Err(Errno::Rofs));
    assert_eq!(fs.rename(r, "ro", r, "ro2"), Ok(()));
    assert_eq!(fs.link(ro, "f", false, r, "hl"), Err(Errno::Rofs));
    assert_eq!(fs.symlink("x", ro, "l"), Err(Errno::Rofs));
    // The data is unchanged and writable again once unmarked.
    fs.set_readonly_tree(top, false).unwrap();
    assert_eq!(fs.write_at(f, 0, b"D"), Ok(1));
    assert_eq!(read_all(&fs, f), b"Data");
}

#[test]
fn quota_bytes() {
    let limit = 3 * DIRENT_COST + 1000;
    let mut fs = Ramfs::new(
        Config {
            max_bytes: limit,
            ..Config::default()
        },
        Box::new(|| 0u64),
    );
    let r = fs.root();
    let f = fs.open(r, "a", create()).unwrap();
    assert_eq!(fs.usage().bytes, DIRENT_COST + 1);
    let room = (limit - fs.usage().bytes) as usize;
    // A write that does not fit is short (chunks are all-or-nothing, so here: nothing).
    assert_eq!(fs.write_at(f, 0, &vec![1u8; room + 1]), Err(Errno::Nospc));
    assert_eq!(fs.stat(f).unwrap().size, 0);
    assert_eq!(fs.write_at(f, 0, &vec![1u8; room]), Ok(room));
    assert_eq!(fs.usage().bytes, limit);
    assert_eq!(fs.open(r, "b", create()), Err(Errno::Nospc));
    assert_eq!(fs.create_dir(r, "c"), Err(Errno::Nospc));
    assert_eq!(fs.symlink("a", r, "s"), Err(Errno::Nospc));
    assert_eq!(fs.link(r, "a", false, r, "h"), Err(Errno::Nospc));
    // Holes are free; overwriting in place is free.
    assert_eq!(fs.set_size(f, 1 << 40), Ok(()));
    assert_eq!(fs.write_at(f, 0, b"zz"), Ok(2));
    // A rename to a name of equal length fits even at the limit.
    assert_eq!(fs.rename(r, "a", r, "b"), Ok(()));
    assert_eq!(fs.rename(r, "b", r, "longer"), Err(Errno::Nospc));
    // Freeing space makes room again.
    fs.set_size(f, 0).unwrap();
    assert_eq!(fs.usage().bytes, DIRENT_COST + 1);
    fs.create_dir(r, "c").unwrap();
    fs.unlink_file(r, "b").unwrap();
    fs.remove_dir(r, "c").unwrap();
    assert_eq!(fs.usage().bytes, 0);
}

#[test]
fn quota_inodes() {
    let mut fs = Ramfs::new(
        Config {
            max_inodes: 3,
            ..Config::default()
        },
        Box::new(|| 0u64),
    );
    let r = fs.root();
    fs.create_dir(r, "a").unwrap();
    fs.symlink("a", r, "b").unwrap();
    assert_eq!(fs.usage().inodes, 3);
    assert_eq!(fs.open(r, "c", create()), Err(Errno::Dquot));
    assert_eq!(fs.create_dir(r, "c"), Err(Errno::Dquot));
    // Hard links do not use inodes.
    fs.link(r, "b", false, r, "b2").unwrap();
    fs.unlink_file(r, "b").unwrap();
    fs.unlink_file(r, "b2").unwrap();
    assert!(fs.open(r, "c", create()).is_ok());
}

#[test]
fn import_export() {
    let mut fs = fs();
    let r = fs.root();
    fs.write_file(r, "etc/conf/app.toml", b"x = 1").unwrap();
    fs.write_file(r, "etc/motd", b"hi").unwrap();
    fs.create_dir_all(r, "var/empty/").unwrap();
    fs.symlink("etc/motd", r, "motd").unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let b = fs.write_file(r, "data/big.bin", &big).unwrap();
    // Overwrite truncates.
    fs.write_file(r, "etc/motd", b"h").unwrap();
    assert_eq!(fs.create_dir_all(r, "etc/motd/x"), Err(Errno::Notdir));
    assert_eq!(fs.create_dir_all(r, "../x"), Err(Errno::Inval));
    assert_eq!(fs.write_file(r, "dir/", b""), Err(Errno::Inval));
    let w = fs.walk(r).unwrap();
    let listed: Vec<(&str, &WalkKind)> = w.iter().map(|e| (e.path.as_str(), &e.kind)).collect();
    assert_eq!(
        listed,
        [
            ("data", &WalkKind::Directory),
            ("etc", &WalkKind::Directory),
            (
                "motd",
                &WalkKind::Symlink {
                    target: "etc/motd".to_string()
                }
            ),
            ("var", &WalkKind::Directory),
            ("data/big.bin", &WalkKind::File { size: 200_000 }),
            ("etc/conf", &WalkKind::Directory),
            ("etc/motd", &WalkKind::File { size: 1 }),
            ("etc/conf/app.toml", &WalkKind::File { size: 5 }),
            ("var/empty", &WalkKind::Directory),
        ]
    );
    assert_eq!(read_all(&fs, b), big);
    // Parents are always listed before their contents.
    for (i, e) in w.iter().enumerate() {
        if let Some((parent, _)) = e.path.rsplit_once('/') {
            assert!(w[..i].iter().any(|p| p.path == parent), "{}", e.path);
        }
    }
}

#[test]
fn pin_errors() {
    let mut fs = fs();
    let r = fs.root();
    assert_eq!(fs.release(r), Err(Errno::Inval));
    assert_eq!(fs.retain(12345), Err(Errno::Badf));
    fs.retain(r).unwrap();
    fs.release(r).unwrap();
    assert!(fs.exists(r));
}

#[test]
fn ramfs_can_live_in_a_shared_static() {
    // The kernel keeps the filesystem behind a lock shared between contexts.
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Ramfs>();
    let fs = fs();
    fs.check_invariants().unwrap();
}

thread_local! {
    /// Heap the test gauge lets a filesystem take (per test thread).
    static HEADROOM: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

fn test_gauge(bytes: usize) -> bool {
    HEADROOM.with(|h| bytes <= h.get())
}

fn set_headroom(bytes: usize) {
    HEADROOM.with(|h| h.set(bytes));
}

#[test]
fn no_headroom_refuses_every_growth_with_nospc_and_keeps_the_accounting() {
    let mut fs = fs();
    fs.set_headroom(test_gauge);
    let r = fs.root();
    set_headroom(usize::MAX);
    let f = fs.open(r, "f", create()).unwrap();
    assert_eq!(fs.write_at(f, 0, b"0123456789"), Ok(10));
    fs.create_dir(r, "d").unwrap();
    let usage = fs.usage();

    set_headroom(0);
    assert_eq!(fs.open(r, "g", create()), Err(Errno::Nospc));
    assert_eq!(fs.create_dir(r, "e"), Err(Errno::Nospc));
    assert_eq!(fs.symlink("f", r, "s"), Err(Errno::Nospc));
    assert_eq!(fs.link(r, "f", false, r, "h"), Err(Errno::Nospc));
    assert_eq!(fs.rename(r, "f", r, "d/f"), Err(Errno::Nospc));
    // Growing the chunk, or a new chunk past a hole, needs heap; a hole does not.
    assert_eq!(fs.write_at(f, 10, b"x"), Err(Errno::Nospc));
    assert_eq!(fs.write_at(f, 1 << 20, b"x"), Err(Errno::Nospc));
    assert_eq!(fs.set_size(f, 1 << 30), Ok(()));
    assert_eq!(fs.set_size(f, 10), Ok(()));
    assert_eq!(fs.usage(), usage);
    fs.check_invariants().unwrap();
    // What needs no allocation still works: overwriting stored bytes, reading, removing.
    assert_eq!(fs.write_at(f, 0, b"abc"), Ok(3));
    assert_eq!(read_all(&fs, f), b"abc3456789");
    assert_eq!(fs.lookup(r, "f", false), Ok(f));
    fs.remove_dir(r, "d").unwrap();
    fs.unlink_file(r, "f").unwrap();

    // Enough for a node and a small chunk, not for a whole 64 KiB chunk: the small write
    // goes through, growing the chunk to its full size is refused, and nothing changes.
    set_headroom(NODE_HEADROOM + 1000);
    let g = fs.open(r, "g", create()).unwrap();
    assert_eq!(fs.write_at(g, 0, &[7u8; 100]), Ok(100));
    assert_eq!(fs.write_at(g, 100, &[7u8; CHUNK_SIZE]), Err(Errno::Nospc));
    assert_eq!(fs.stat(g).unwrap().size, 100);
    fs.check_invariants().unwrap();
    set_headroom(usize::MAX);
    assert_eq!(fs.write_at(g, 100, &[7u8; CHUNK_SIZE]), Ok(CHUNK_SIZE));
    fs.check_invariants().unwrap();
}
