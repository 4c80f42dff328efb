//! `wasi-path`: checks the `path_*` functions of wasi_snapshot_preview1.witx
//! (path_create_directory, path_filestat_get, path_filestat_set_times, path_link, path_open,
//! path_readlink, path_remove_directory, path_rename, path_symlink, path_unlink_file) with
//! success and error paths: EBADF, ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EPERM
//! (sandbox escapes), EINVAL, ELOOP, and ENOSPC when `WASI_TEST_QUOTA=1` says the runtime
//! enforces a filesystem quota. Expectations follow wasmtime (the reference runtime):
//! where the witx text suggests ENOTCAPABLE (a path leaving the preopen, an absolute
//! path or symlink target) wasmtime answers EPERM, and it ignores preview1 rights, so
//! ENOTCAPABLE never occurs; a regular file used as the base descriptor gives EBADF.
//!
//! Needs a preopened, writable directory `/sandbox` (it may start empty; the guest works in
//! `/sandbox/wasi-path.tmp` and removes it at the end).

use wasi::*;
use wasi_check::{ALL_RIGHTS, Checker, DIR_RIGHTS, cleanup, read_dir, scratch, sys, wasi};

/// Scratch directory (relative to the preopen).
const DIR: &str = "wasi-path.tmp";
/// A descriptor number no runtime hands out in this guest.
const BAD_FD: Fd = 9999;
/// Follow symlinks in the last path component.
const FOLLOW: Lookupflags = LOOKUPFLAGS_SYMLINK_FOLLOW;

/// `DIR/name`.
fn p(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// Creates (or truncates) `DIR/name` with `content`.
fn make_file(s: Fd, name: &str, content: &[u8]) -> Result<(), Errno> {
    let f = sys::path_open(
        s,
        0,
        &p(name),
        OFLAGS_CREAT | OFLAGS_TRUNC,
        ALL_RIGHTS,
        0,
        0,
    )?;
    let r = sys::fd_pwrite(f, content, 0);
    let _ = sys::fd_close(f);
    r.map(|_| ())
}

/// Reads the whole of `DIR/name` (up to 4 KiB).
fn read_file(s: Fd, name: &str) -> Result<Vec<u8>, Errno> {
    let f = sys::path_open(s, FOLLOW, &p(name), 0, RIGHTS_FD_READ, 0, 0)?;
    let mut buf = vec![0u8; 4096];
    let r = sys::fd_pread(f, &mut buf, 0);
    let _ = sys::fd_close(f);
    buf.truncate(r?);
    Ok(buf)
}

fn create_and_remove_dirs(c: &mut Checker, s: Fd) {
    let _ = make_file(s, "file.txt", b"0123456789");
    c.ok(
        "path_create_directory",
        "new directory",
        sys::path_create_directory(s, &p("d1")),
    );
    c.eq(
        "path_filestat_get",
        "new directory is a directory",
        sys::path_filestat_get(s, 0, &p("d1")).map(|st| st.filetype),
        Ok(FILETYPE_DIRECTORY),
    );
    c.ok(
        "path_create_directory",
        "nested directory",
        sys::path_create_directory(s, &p("d1/d2")),
    );
    c.err(
        "path_create_directory",
        "existing directory",
        sys::path_create_directory(s, &p("d1")),
        ERRNO_EXIST,
    );
    c.err(
        "path_create_directory",
        "existing file",
        sys::path_create_directory(s, &p("file.txt")),
        ERRNO_EXIST,
    );
    c.err(
        "path_create_directory",
        "missing parent",
        sys::path_create_directory(s, &p("nope/d")),
        ERRNO_NOENT,
    );
    c.err(
        "path_create_directory",
        "parent is a file",
        sys::path_create_directory(s, &p("file.txt/d")),
        ERRNO_NOTDIR,
    );
    c.err(
        "path_create_directory",
        "closed descriptor",
        sys::path_create_directory(BAD_FD, "x"),
        ERRNO_BADF,
    );
    c.err(
        "path_create_directory",
        "escape with ..",
        sys::path_create_directory(s, "../escape"),
        ERRNO_PERM,
    );
    c.err(
        "path_create_directory",
        "absolute path",
        sys::path_create_directory(s, "/abs"),
        ERRNO_PERM,
    );
    if let Ok(f) = sys::path_open(s, 0, &p("file.txt"), 0, ALL_RIGHTS, 0, 0) {
        c.err(
            "path_create_directory",
            "base descriptor is a file",
            sys::path_create_directory(f, "x"),
            ERRNO_BADF,
        );
        let _ = sys::fd_close(f);
    }

    c.err(
        "path_remove_directory",
        "not empty",
        sys::path_remove_directory(s, &p("d1")),
        ERRNO_NOTEMPTY,
    );
    c.err(
        "path_remove_directory",
        "regular file",
        sys::path_remove_directory(s, &p("file.txt")),
        ERRNO_NOTDIR,
    );
    c.err(
        "path_remove_directory",
        "missing",
        sys::path_remove_directory(s, &p("nope")),
        ERRNO_NOENT,
    );
    c.err(
        "path_remove_directory",
        "closed descriptor",
        sys::path_remove_directory(BAD_FD, "d1"),
        ERRNO_BADF,
    );
    c.err(
        "path_remove_directory",
        "escape with ..",
        sys::path_remove_directory(s, "../x"),
        ERRNO_PERM,
    );
    c.ok(
        "path_remove_directory",
        "empty nested directory",
        sys::path_remove_directory(s, &p("d1/d2")),
    );
    c.ok(
        "path_remove_directory",
        "now-empty directory",
        sys::path_remove_directory(s, &p("d1")),
    );
    c.err(
        "path_filestat_get",
        "removed directory",
        sys::path_filestat_get(s, 0, &p("d1")),
        ERRNO_NOENT,
    );
}

fn open_paths(c: &mut Checker, s: Fd) {
    let new = sys::path_open(
        s,
        0,
        &p("new.txt"),
        OFLAGS_CREAT | OFLAGS_EXCL,
        ALL_RIGHTS,
        0,
        0,
    );
    if let Some(f) = c.ok("path_open", "CREAT|EXCL of a new file", new) {
        c.eq(
            "path_open",
            "new file is empty",
            sys::fd_filestat_get(f).map(|st| st.size),
            Ok(0),
        );
        let _ = sys::fd_close(f);
    }
    c.err(
        "path_open",
        "CREAT|EXCL of an existing file",
        sys::path_open(
            s,
            0,
            &p("new.txt"),
            OFLAGS_CREAT | OFLAGS_EXCL,
            ALL_RIGHTS,
            0,
            0,
        ),
        ERRNO_EXIST,
    );
    c.err(
        "path_open",
        "missing file without CREAT",
        sys::path_open(s, 0, &p("missing.txt"), 0, ALL_RIGHTS, 0, 0),
        ERRNO_NOENT,
    );
    c.err(
        "path_open",
        "missing parent with CREAT",
        sys::path_open(s, 0, &p("nodir/x.txt"), OFLAGS_CREAT, ALL_RIGHTS, 0, 0),
        ERRNO_NOENT,
    );
    c.err(
        "path_open",
        "DIRECTORY flag on a file",
        sys::path_open(s, 0, &p("file.txt"), OFLAGS_DIRECTORY, DIR_RIGHTS, 0, 0),
        ERRNO_NOTDIR,
    );
    c.err(
        "path_open",
        "file used as a directory",
        sys::path_open(s, 0, &p("file.txt/x"), 0, ALL_RIGHTS, 0, 0),
        ERRNO_NOTDIR,
    );
    c.err(
        "path_open",
        "directory with write rights",
        sys::path_open(s, 0, DIR, 0, ALL_RIGHTS, 0, 0),
        ERRNO_ISDIR,
    );
    c.err(
        "path_open",
        "closed descriptor",
        sys::path_open(BAD_FD, 0, "x", 0, ALL_RIGHTS, 0, 0),
        ERRNO_BADF,
    );
    c.err(
        "path_open",
        "escape with ..",
        sys::path_open(s, 0, "../etc/passwd", 0, RIGHTS_FD_READ, 0, 0),
        ERRNO_PERM,
    );
    c.err(
        "path_open",
        "escape through a subdirectory",
        sys::path_open(s, 0, &p("../../x"), 0, RIGHTS_FD_READ, 0, 0),
        ERRNO_PERM,
    );
    c.err(
        "path_open",
        "absolute path",
        sys::path_open(s, 0, "/etc/passwd", 0, RIGHTS_FD_READ, 0, 0),
        ERRNO_PERM,
    );
    if let Some(d) = c.ok(
        "path_open",
        "the preopen itself as .",
        sys::path_open(s, 0, ".", OFLAGS_DIRECTORY, DIR_RIGHTS, ALL_RIGHTS, 0),
    ) {
        c.eq(
            "path_open",
            ". is a directory",
            sys::fd_fdstat_get(d).map(|st| st.fs_filetype),
            Ok(FILETYPE_DIRECTORY),
        );
        c.ok(
            "path_open",
            "relative to an opened directory",
            sys::path_open(d, 0, &p("file.txt"), 0, RIGHTS_FD_READ, 0, 0).and_then(sys::fd_close),
        );
        let _ = sys::fd_close(d);
    }
    c.ok(
        "path_open",
        "dir/./sub/.. components",
        sys::path_open(
            s,
            0,
            &format!("{DIR}/./../{DIR}/file.txt"),
            0,
            RIGHTS_FD_READ,
            0,
            0,
        )
        .and_then(sys::fd_close),
    );
    if let Some(f) = c.ok(
        "path_open",
        "TRUNC of an existing file",
        sys::path_open(s, 0, &p("new.txt"), OFLAGS_TRUNC, ALL_RIGHTS, 0, 0),
    ) {
        let _ = sys::fd_pwrite(f, b"abc", 0);
        let _ = sys::fd_close(f);
        let again = sys::path_open(s, 0, &p("new.txt"), OFLAGS_TRUNC, ALL_RIGHTS, 0, 0);
        if let Ok(g) = again {
            c.eq(
                "path_open",
                "TRUNC empties the file",
                sys::fd_filestat_get(g).map(|st| st.size),
                Ok(0),
            );
            let _ = sys::fd_close(g);
        }
    }
    if let Some(f) = c.ok(
        "path_open",
        "APPEND fdflag",
        sys::path_open(s, 0, &p("new.txt"), 0, ALL_RIGHTS, 0, FDFLAGS_APPEND),
    ) {
        c.eq(
            "path_open",
            "APPEND is reported by fd_fdstat_get",
            sys::fd_fdstat_get(f).map(|st| st.fs_flags),
            Ok(FDFLAGS_APPEND),
        );
        let _ = sys::fd_close(f);
    }
}

fn stat_and_times(c: &mut Checker, s: Fd) {
    if let Some(st) = c.ok(
        "path_filestat_get",
        "regular file",
        sys::path_filestat_get(s, 0, &p("file.txt")),
    ) {
        c.eq("path_filestat_get", "size 10", st.size, 10);
        c.eq(
            "path_filestat_get",
            "type regular",
            st.filetype,
            FILETYPE_REGULAR_FILE,
        );
        c.eq("path_filestat_get", "nlink 1", st.nlink, 1);
        let f = sys::path_open(s, 0, &p("file.txt"), 0, RIGHTS_FD_READ, 0, 0);
        let fst = f.and_then(|f| {
            let r = sys::fd_filestat_get(f);
            let _ = sys::fd_close(f);
            r
        });
        c.eq(
            "path_filestat_get",
            "same inode and device as fd_filestat_get",
            fst.map(|x| (x.dev, x.ino)),
            Ok((st.dev, st.ino)),
        );
    }
    c.eq(
        "path_filestat_get",
        "directory",
        sys::path_filestat_get(s, 0, DIR).map(|st| st.filetype),
        Ok(FILETYPE_DIRECTORY),
    );
    c.err(
        "path_filestat_get",
        "missing",
        sys::path_filestat_get(s, 0, &p("missing")),
        ERRNO_NOENT,
    );
    c.err(
        "path_filestat_get",
        "through a file",
        sys::path_filestat_get(s, 0, &p("file.txt/x")),
        ERRNO_NOTDIR,
    );
    c.err(
        "path_filestat_get",
        "closed descriptor",
        sys::path_filestat_get(BAD_FD, 0, "x"),
        ERRNO_BADF,
    );
    c.err(
        "path_filestat_get",
        "escape with ..",
        sys::path_filestat_get(s, 0, ".."),
        ERRNO_PERM,
    );

    let (at, mt) = (1_500_000_000_123_456_789u64, 1_600_000_000_987_654_321u64);
    c.ok(
        "path_filestat_set_times",
        "explicit times",
        sys::path_filestat_set_times(s, 0, &p("file.txt"), at, mt, FSTFLAGS_ATIM | FSTFLAGS_MTIM),
    );
    c.eq(
        "path_filestat_set_times",
        "times read back",
        sys::path_filestat_get(s, 0, &p("file.txt")).map(|st| (st.atim, st.mtim)),
        Ok((at, mt)),
    );
    c.ok(
        "path_filestat_set_times",
        "atim only",
        sys::path_filestat_set_times(s, 0, &p("file.txt"), 7_000_000_000, 0, FSTFLAGS_ATIM),
    );
    c.eq(
        "path_filestat_set_times",
        "mtim kept",
        sys::path_filestat_get(s, 0, &p("file.txt")).map(|st| (st.atim, st.mtim)),
        Ok((7_000_000_000, mt)),
    );
    let now = sys::clock_time_get(CLOCKID_REALTIME, 1).unwrap_or(0);
    c.ok(
        "path_filestat_set_times",
        "ATIM_NOW|MTIM_NOW",
        sys::path_filestat_set_times(
            s,
            0,
            &p("file.txt"),
            0,
            0,
            FSTFLAGS_ATIM_NOW | FSTFLAGS_MTIM_NOW,
        ),
    );
    let st = sys::path_filestat_get(s, 0, &p("file.txt"))
        .map(|st| (st.atim, st.mtim))
        .unwrap_or((0, 0));
    c.check(
        "path_filestat_set_times",
        "now is within 60 s of realtime",
        st.0.abs_diff(now) < 60_000_000_000 && st.1.abs_diff(now) < 60_000_000_000,
        &format!("{st:?} vs {now}"),
    );
    c.err(
        "path_filestat_set_times",
        "ATIM with ATIM_NOW",
        sys::path_filestat_set_times(
            s,
            0,
            &p("file.txt"),
            1,
            1,
            FSTFLAGS_ATIM | FSTFLAGS_ATIM_NOW,
        ),
        ERRNO_INVAL,
    );
    c.err(
        "path_filestat_set_times",
        "missing",
        sys::path_filestat_set_times(s, 0, &p("missing"), 1, 1, FSTFLAGS_ATIM),
        ERRNO_NOENT,
    );
    c.err(
        "path_filestat_set_times",
        "closed descriptor",
        sys::path_filestat_set_times(BAD_FD, 0, "x", 1, 1, FSTFLAGS_ATIM),
        ERRNO_BADF,
    );
}

fn links(c: &mut Checker, s: Fd) {
    c.ok(
        "path_link",
        "hard link to a file",
        sys::path_link(s, 0, &p("file.txt"), s, &p("hard.txt")),
    );
    c.eq(
        "path_link",
        "nlink is 2",
        sys::path_filestat_get(s, 0, &p("file.txt")).map(|st| st.nlink),
        Ok(2),
    );
    let ino = |name: &str| sys::path_filestat_get(s, 0, &p(name)).map(|st| st.ino);
    c.eq("path_link", "same inode", ino("hard.txt"), ino("file.txt"));
    let _ = make_file(s, "file.txt", b"shared");
    c.eq(
        "path_link",
        "content is shared",
        read_file(s, "hard.txt"),
        Ok(b"shared".to_vec()),
    );
    c.err(
        "path_link",
        "target exists",
        sys::path_link(s, 0, &p("file.txt"), s, &p("new.txt")),
        ERRNO_EXIST,
    );
    c.err(
        "path_link",
        "missing source",
        sys::path_link(s, 0, &p("missing"), s, &p("l2")),
        ERRNO_NOENT,
    );
    c.err(
        "path_link",
        "closed source descriptor",
        sys::path_link(BAD_FD, 0, "x", s, &p("l2")),
        ERRNO_BADF,
    );
    c.err(
        "path_link",
        "closed target descriptor",
        sys::path_link(s, 0, &p("file.txt"), BAD_FD, "l2"),
        ERRNO_BADF,
    );
    let _ = sys::path_create_directory(s, &p("ldir"));
    c.err(
        "path_link",
        "source is a directory",
        sys::path_link(s, 0, &p("ldir"), s, &p("ldir2")),
        ERRNO_PERM,
    );
    c.err(
        "path_link",
        "target escapes with ..",
        sys::path_link(s, 0, &p("file.txt"), s, "../l3"),
        ERRNO_PERM,
    );
    let _ = sys::path_remove_directory(s, &p("ldir"));

    c.ok(
        "path_symlink",
        "relative symlink to a file",
        sys::path_symlink("file.txt", s, &p("sym")),
    );
    c.eq(
        "path_filestat_get",
        "symlink without FOLLOW is a link",
        sys::path_filestat_get(s, 0, &p("sym")).map(|st| (st.filetype, st.size)),
        Ok((FILETYPE_SYMBOLIC_LINK, 8)),
    );
    c.eq(
        "path_filestat_get",
        "symlink with FOLLOW is the file",
        sys::path_filestat_get(s, FOLLOW, &p("sym")).map(|st| st.filetype),
        Ok(FILETYPE_REGULAR_FILE),
    );
    c.eq(
        "path_open",
        "through a symlink with FOLLOW",
        read_file(s, "sym"),
        Ok(b"shared".to_vec()),
    );
    c.err(
        "path_open",
        "symlink without FOLLOW",
        sys::path_open(s, 0, &p("sym"), 0, RIGHTS_FD_READ, 0, 0),
        ERRNO_LOOP,
    );
    let mut buf = [0u8; 64];
    c.eq(
        "path_readlink",
        "returns the target",
        sys::path_readlink(s, &p("sym"), &mut buf)
            .map(|n| buf.get(..n).unwrap_or(&buf[..]).to_vec()),
        Ok(b"file.txt".to_vec()),
    );
    let mut small = [0u8; 4];
    c.eq(
        "path_readlink",
        "short buffer is truncated",
        sys::path_readlink(s, &p("sym"), &mut small)
            .map(|n| small.get(..n).unwrap_or(&small[..]).to_vec()),
        Ok(b"file".to_vec()),
    );
    c.err(
        "path_readlink",
        "regular file",
        sys::path_readlink(s, &p("file.txt"), &mut buf),
        ERRNO_INVAL,
    );
    c.err(
        "path_readlink",
        "missing",
        sys::path_readlink(s, &p("missing"), &mut buf),
        ERRNO_NOENT,
    );
    c.err(
        "path_readlink",
        "closed descriptor",
        sys::path_readlink(BAD_FD, "sym", &mut buf),
        ERRNO_BADF,
    );
    c.err(
        "path_symlink",
        "link path exists",
        sys::path_symlink("file.txt", s, &p("new.txt")),
        ERRNO_EXIST,
    );
    c.err(
        "path_symlink",
        "closed descriptor",
        sys::path_symlink("file.txt", BAD_FD, "x"),
        ERRNO_BADF,
    );
    c.err(
        "path_symlink",
        "absolute target",
        sys::path_symlink("/etc/passwd", s, &p("abs")),
        ERRNO_PERM,
    );
    c.err(
        "path_symlink",
        "link path escapes with ..",
        sys::path_symlink("x", s, "../y"),
        ERRNO_PERM,
    );

    c.ok(
        "path_symlink",
        "dangling symlink",
        sys::path_symlink("nowhere", s, &p("dangling")),
    );
    c.err(
        "path_filestat_get",
        "dangling symlink with FOLLOW",
        sys::path_filestat_get(s, FOLLOW, &p("dangling")),
        ERRNO_NOENT,
    );
    c.ok(
        "path_symlink",
        "self-loop a -> b -> a",
        sys::path_symlink("loop_b", s, &p("loop_a")).and(sys::path_symlink(
            "loop_a",
            s,
            &p("loop_b"),
        )),
    );
    c.err(
        "path_open",
        "symlink loop with FOLLOW",
        sys::path_open(s, FOLLOW, &p("loop_a"), 0, RIGHTS_FD_READ, 0, 0),
        ERRNO_LOOP,
    );
    c.err(
        "path_filestat_get",
        "symlink loop with FOLLOW",
        sys::path_filestat_get(s, FOLLOW, &p("loop_a")),
        ERRNO_LOOP,
    );
    c.ok(
        "path_symlink",
        "symlink escaping the sandbox",
        sys::path_symlink("../../outside", s, &p("escape")),
    );
    c.err(
        "path_open",
        "through an escaping symlink",
        sys::path_open(s, FOLLOW, &p("escape"), 0, RIGHTS_FD_READ, 0, 0),
        ERRNO_PERM,
    );
    c.ok(
        "path_symlink",
        "symlink to a directory",
        sys::path_symlink(".", s, &p("dirlink")),
    );
    c.eq(
        "path_open",
        "through a directory symlink in the middle",
        read_file(s, "dirlink/file.txt"),
        Ok(b"shared".to_vec()),
    );

    c.ok(
        "path_unlink_file",
        "symlink (not its target)",
        sys::path_unlink_file(s, &p("sym")),
    );
    c.eq(
        "path_unlink_file",
        "target survives",
        read_file(s, "file.txt"),
        Ok(b"shared".to_vec()),
    );
    c.ok(
        "path_unlink_file",
        "hard link",
        sys::path_unlink_file(s, &p("hard.txt")),
    );
    c.eq(
        "path_unlink_file",
        "nlink back to 1",
        sys::path_filestat_get(s, 0, &p("file.txt")).map(|st| st.nlink),
        Ok(1),
    );
    for l in ["dangling", "loop_a", "loop_b", "escape", "dirlink"] {
        let _ = sys::path_unlink_file(s, &p(l));
    }
    c.err(
        "path_unlink_file",
        "missing",
        sys::path_unlink_file(s, &p("hard.txt")),
        ERRNO_NOENT,
    );
    let _ = sys::path_create_directory(s, &p("udir"));
    c.err(
        "path_unlink_file",
        "directory",
        sys::path_unlink_file(s, &p("udir")),
        ERRNO_ISDIR,
    );
    let _ = sys::path_remove_directory(s, &p("udir"));
    c.err(
        "path_unlink_file",
        "through a file",
        sys::path_unlink_file(s, &p("file.txt/x")),
        ERRNO_NOTDIR,
    );
    c.err(
        "path_unlink_file",
        "closed descriptor",
        sys::path_unlink_file(BAD_FD, "x"),
        ERRNO_BADF,
    );
    c.err(
        "path_unlink_file",
        "escape with ..",
        sys::path_unlink_file(s, "../x"),
        ERRNO_PERM,
    );
}

fn renames(c: &mut Checker, s: Fd) {
    let _ = make_file(s, "r1.txt", b"one");
    let _ = make_file(s, "r2.txt", b"two");
    c.ok(
        "path_rename",
        "file to a new name",
        sys::path_rename(s, &p("r1.txt"), s, &p("moved.txt")),
    );
    c.err(
        "path_filestat_get",
        "old name is gone",
        sys::path_filestat_get(s, 0, &p("r1.txt")),
        ERRNO_NOENT,
    );
    c.eq(
        "path_rename",
        "content moved",
        read_file(s, "moved.txt"),
        Ok(b"one".to_vec()),
    );
    c.ok(
        "path_rename",
        "file over an existing file",
        sys::path_rename(s, &p("moved.txt"), s, &p("r2.txt")),
    );
    c.eq(
        "path_rename",
        "target replaced",
        read_file(s, "r2.txt"),
        Ok(b"one".to_vec()),
    );
    c.err(
        "path_rename",
        "missing source",
        sys::path_rename(s, &p("moved.txt"), s, &p("x")),
        ERRNO_NOENT,
    );
    let _ = sys::path_create_directory(s, &p("ra"));
    let _ = sys::path_create_directory(s, &p("rb"));
    let _ = make_file(s, "rb/inside", b"x");
    c.err(
        "path_rename",
        "directory over a non-empty directory",
        sys::path_rename(s, &p("ra"), s, &p("rb")),
        ERRNO_NOTEMPTY,
    );
    c.err(
        "path_rename",
        "file over a directory",
        sys::path_rename(s, &p("r2.txt"), s, &p("ra")),
        ERRNO_ISDIR,
    );
    c.err(
        "path_rename",
        "directory over a file",
        sys::path_rename(s, &p("ra"), s, &p("r2.txt")),
        ERRNO_NOTDIR,
    );
    c.err(
        "path_rename",
        "directory into itself",
        sys::path_rename(s, &p("ra"), s, &p("ra/sub")),
        ERRNO_INVAL,
    );
    c.ok(
        "path_rename",
        "directory to a new name",
        sys::path_rename(s, &p("ra"), s, &p("rc")),
    );
    c.ok(
        "path_rename",
        "file into a subdirectory",
        sys::path_rename(s, &p("r2.txt"), s, &p("rc/r2.txt")),
    );
    c.eq(
        "path_rename",
        "moved file readable",
        read_file(s, "rc/r2.txt"),
        Ok(b"one".to_vec()),
    );
    c.err(
        "path_rename",
        "closed source descriptor",
        sys::path_rename(BAD_FD, "x", s, &p("y")),
        ERRNO_BADF,
    );
    c.err(
        "path_rename",
        "closed target descriptor",
        sys::path_rename(s, &p("rc"), BAD_FD, "y"),
        ERRNO_BADF,
    );
    c.err(
        "path_rename",
        "target escapes with ..",
        sys::path_rename(s, &p("rc"), s, "../rc"),
        ERRNO_PERM,
    );
    if let Ok(d) = read_dir_at(s, "rc") {
        c.eq(
            "path_rename",
            "subdirectory listing",
            d,
            vec!["r2.txt".to_string()],
        );
    }
}

/// Names in `DIR/name` without `.` and `..`.
fn read_dir_at(s: Fd, name: &str) -> Result<Vec<String>, Errno> {
    let d = sys::path_open(s, 0, &p(name), OFLAGS_DIRECTORY, DIR_RIGHTS, 0, 0)?;
    let r = read_dir(d);
    let _ = sys::fd_close(d);
    Ok(r?
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n != "." && n != "..")
        .collect())
}

/// ENOSPC: only when the runtime enforces a quota (`WASI_TEST_QUOTA=1`). Fills a file
/// with 1 MiB writes until the runtime refuses, then checks that freeing the file frees
/// the space.
fn quota(c: &mut Checker, s: Fd) {
    if std::env::var("WASI_TEST_QUOTA").as_deref() != Ok("1") {
        return;
    }
    let Ok(f) = sys::path_open(
        s,
        0,
        &p("big"),
        OFLAGS_CREAT | OFLAGS_TRUNC,
        ALL_RIGHTS,
        0,
        0,
    ) else {
        c.fail("fd_write", "quota setup", "cannot create big");
        return;
    };
    let chunk = vec![0x5au8; 1 << 20];
    let mut result = Ok(0usize);
    for _ in 0..4096 {
        result = sys::fd_write_vec(f, &[&chunk]);
        if result.is_err() {
            break;
        }
    }
    c.err("fd_write", "writing past the quota", result, ERRNO_NOSPC);
    let _ = sys::fd_close(f);
    c.ok(
        "path_unlink_file",
        "remove the big file",
        sys::path_unlink_file(s, &p("big")),
    );
    c.ok(
        "fd_write",
        "space is available again",
        make_file(s, "after", &chunk),
    );
    let _ = sys::path_unlink_file(s, &p("after"));
}

/// Path-syntax edge cases: empty paths, NUL bytes, trailing slashes, `.` as a target,
/// operations onto themselves, and fdflags wasmtime refuses at open.
fn edge_paths(c: &mut Checker, s: Fd) {
    let _ = make_file(s, "e.txt", b"e");
    c.err(
        "path_open",
        "empty path",
        sys::path_open(s, 0, "", 0, RIGHTS_FD_READ, 0, 0),
        ERRNO_NOENT,
    );
    c.err(
        "path_filestat_get",
        "empty path",
        sys::path_filestat_get(s, 0, ""),
        ERRNO_NOENT,
    );
    c.err(
        "path_symlink",
        "empty target",
        sys::path_symlink("", s, &p("empty-link")),
        ERRNO_NOENT,
    );
    c.err(
        "path_open",
        "path containing a NUL byte",
        sys::path_open(s, 0, &p("e.txt\0x"), 0, RIGHTS_FD_READ, 0, 0),
        ERRNO_INVAL,
    );
    c.err(
        "path_unlink_file",
        "file with a trailing slash",
        sys::path_unlink_file(s, &p("e.txt/")),
        ERRNO_NOTDIR,
    );
    c.ok(
        "path_create_directory",
        "trailing slash",
        sys::path_create_directory(s, &p("slash/")),
    );
    c.eq(
        "path_filestat_get",
        "directory made with a trailing slash",
        sys::path_filestat_get(s, 0, &p("slash")).map(|st| st.filetype),
        Ok(FILETYPE_DIRECTORY),
    );
    c.ok(
        "path_remove_directory",
        "directory made with a trailing slash",
        sys::path_remove_directory(s, &p("slash")),
    );
    c.err(
        "path_remove_directory",
        ".",
        sys::path_remove_directory(s, "."),
        ERRNO_INVAL,
    );
    c.err(
        "path_filestat_set_times",
        "MTIM with MTIM_NOW",
        sys::path_filestat_set_times(s, 0, &p("e.txt"), 1, 1, FSTFLAGS_MTIM | FSTFLAGS_MTIM_NOW),
        ERRNO_INVAL,
    );
    c.err(
        "path_link",
        "onto itself",
        sys::path_link(s, 0, &p("e.txt"), s, &p("e.txt")),
        ERRNO_EXIST,
    );
    c.ok(
        "path_rename",
        "onto itself",
        sys::path_rename(s, &p("e.txt"), s, &p("e.txt")),
    );
    c.eq(
        "path_rename",
        "file survives renaming onto itself",
        read_file(s, "e.txt"),
        Ok(b"e".to_vec()),
    );
    c.err(
        "path_open",
        "SYNC fdflag (unsupported)",
        sys::path_open(s, 0, &p("e.txt"), 0, ALL_RIGHTS, 0, FDFLAGS_SYNC),
        ERRNO_NOTSUP,
    );
    if let Some(f) = c.ok(
        "path_open",
        "NONBLOCK fdflag",
        sys::path_open(s, 0, &p("e.txt"), 0, ALL_RIGHTS, 0, FDFLAGS_NONBLOCK),
    ) {
        let _ = sys::fd_close(f);
    }
    let _ = sys::path_unlink_file(s, &p("e.txt"));
}

fn main() {
    let mut c = Checker::new("wasi-path");
    let s = scratch(&mut c, DIR);
    create_and_remove_dirs(&mut c, s);
    open_paths(&mut c, s);
    stat_and_times(&mut c, s);
    links(&mut c, s);
    renames(&mut c, s);
    edge_paths(&mut c, s);
    quota(&mut c, s);
    cleanup(&mut c, DIR);
    c.finish();
}
