//! Raw-ABI probe: prints `label: errno` for ~150 WASI calls on tricky inputs (escapes,
//! symlink loops, renames over files/dirs, rights, stdio, poll, prestat, renumber).
//! Calls the imports directly, hence `unsafe` (this is a test guest, not a logic crate).


#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn path_open(fd: u32, dirflags: u32, path: *const u8, len: usize, oflags: u32, base: u64, inh: u64, fdflags: u32, out: *mut u32) -> i32;
    fn path_create_directory(fd: u32, path: *const u8, len: usize) -> i32;
    fn path_remove_directory(fd: u32, path: *const u8, len: usize) -> i32;
    fn path_unlink_file(fd: u32, path: *const u8, len: usize) -> i32;
    fn path_rename(fd: u32, p: *const u8, l: usize, fd2: u32, p2: *const u8, l2: usize) -> i32;
    fn path_link(fd: u32, fl: u32, p: *const u8, l: usize, fd2: u32, p2: *const u8, l2: usize) -> i32;
    fn path_symlink(p: *const u8, l: usize, fd: u32, p2: *const u8, l2: usize) -> i32;
    fn path_readlink(fd: u32, p: *const u8, l: usize, buf: *mut u8, bl: usize, out: *mut u32) -> i32;
    fn path_filestat_get(fd: u32, fl: u32, p: *const u8, l: usize, out: *mut u8) -> i32;
    fn fd_read(fd: u32, iovs: *const u32, n: usize, out: *mut u32) -> i32;
    fn fd_write(fd: u32, iovs: *const u32, n: usize, out: *mut u32) -> i32;
    fn fd_seek(fd: u32, off: i64, wh: u32, out: *mut u64) -> i32;
    fn fd_tell(fd: u32, out: *mut u64) -> i32;
    fn fd_readdir(fd: u32, buf: *mut u8, l: usize, c: u64, out: *mut u32) -> i32;
    fn fd_fdstat_get(fd: u32, out: *mut u8) -> i32;
    fn fd_fdstat_set_rights(fd: u32, b: u64, i: u64) -> i32;
    fn fd_fdstat_set_flags(fd: u32, f: u32) -> i32;
    fn fd_allocate(fd: u32, o: u64, l: u64) -> i32;
    fn fd_advise(fd: u32, o: u64, l: u64, a: u32) -> i32;
    fn fd_close(fd: u32) -> i32;
    fn fd_renumber(fd: u32, to: u32) -> i32;
    fn fd_sync(fd: u32) -> i32;
    fn fd_datasync(fd: u32) -> i32;
    fn fd_filestat_get(fd: u32, out: *mut u8) -> i32;
    fn fd_filestat_set_size(fd: u32, s: u64) -> i32;
    fn fd_filestat_set_times(fd: u32, a: u64, m: u64, f: u32) -> i32;
    fn fd_pread(fd: u32, iovs: *const u32, n: usize, off: u64, out: *mut u32) -> i32;
    fn fd_pwrite(fd: u32, iovs: *const u32, n: usize, off: u64, out: *mut u32) -> i32;
    fn fd_prestat_dir_name(fd: u32, p: *mut u8, l: usize) -> i32;
    fn fd_prestat_get(fd: u32, out: *mut u8) -> i32;
    fn clock_res_get(id: u32, out: *mut u64) -> i32;
    fn clock_time_get(id: u32, p: u64, out: *mut u64) -> i32;
    fn poll_oneoff(i: *const u8, o: *mut u8, n: usize, out: *mut u32) -> i32;
    fn proc_raise(s: u32) -> i32;
    fn sock_accept(fd: u32, f: u32, out: *mut u32) -> i32;
    fn sock_shutdown(fd: u32, h: u32) -> i32;
    fn sock_send(fd: u32, i: *const u32, n: usize, f: u32, out: *mut u32) -> i32;
    fn sock_recv(fd: u32, i: *const u32, n: usize, f: u32, out: *mut u32, of: *mut u16) -> i32;
    fn random_get(b: *mut u8, l: usize) -> i32;
    fn sched_yield() -> i32;
}
const RW: u64 = 0x1fff_ffff;
const R: u64 = 2 | (1 << 14);
fn p(label: &str, e: i32) { println!("{label}: {e}"); }
fn open(dir: u32, path: &str, oflags: u32, rights: u64, fdflags: u32) -> (i32, u32) {
    let mut fd = 0u32;
    // SAFETY: `path` and `fd` outlive the call; the host reads `path` and writes `fd` only.
    let e = unsafe { path_open(dir, 1, path.as_ptr(), path.len(), oflags, rights, rights, fdflags, &mut fd) };
    (e, fd)
}
fn openp(label: &str, dir: u32, path: &str, oflags: u32, rights: u64) -> u32 {
    let (e, fd) = open(dir, path, oflags, rights, 0);
    p(label, e);
    if e == 0 { fd } else { u32::MAX }
}
fn main() {
    // SAFETY: every raw WASI call below passes buffers and out-parameters that live on this
    // stack frame for the duration of the call; the probe only observes the host's answers.
    unsafe {
        let d = 3u32;
        let f = openp("create f.txt", d, "f.txt", 1, RW);
        let data = b"hello world";
        let iov = [data.as_ptr() as u32, data.len() as u32];
        let mut n = 0u32;
        p("write f", fd_write(f, iov.as_ptr(), 1, &mut n)); println!("  n={n}");
        openp("open ../x", d, "../x", 0, R);
        openp("open /etc/passwd", d, "/etc/passwd", 0, R);
        openp("open f.txt/ ", d, "f.txt/", 0, R);
        openp("open f.txt O_DIRECTORY", d, "f.txt", 2, R);
        openp("open missing", d, "missing", 0, R);
        openp("open excl existing", d, "f.txt", 5, RW);
        openp("open . as dir", d, ".", 2, R);
        openp("open . write", d, ".", 0, RW);
        openp("open empty path", d, "", 0, R);
        p("mkdir sub", path_create_directory(d, "sub".as_ptr(), "sub".len()));
        p("mkdir sub again", path_create_directory(d, "sub".as_ptr(), "sub".len()));
        p("mkdir a/b missing parent", path_create_directory(d, "a/b".as_ptr(), "a/b".len()));
        p("mkdir f.txt/x", path_create_directory(d, "f.txt/x".as_ptr(), "f.txt/x".len()));
        p("mkdir ..", path_create_directory(d, "..".as_ptr(), "..".len()));
        p("unlink sub (dir)", path_unlink_file(d, "sub".as_ptr(), "sub".len()));
        p("unlink f.txt/", path_unlink_file(d, "f.txt/".as_ptr(), "f.txt/".len()));
        p("rmdir f.txt", path_remove_directory(d, "f.txt".as_ptr(), "f.txt".len()));
        p("rmdir .", path_remove_directory(d, ".".as_ptr(), ".".len()));
        p("rmdir missing", path_remove_directory(d, "missing".as_ptr(), "missing".len()));
        let g = openp("create sub/g", d, "sub/g", 1, RW); fd_close(g);
        p("rmdir sub nonempty", path_remove_directory(d, "sub".as_ptr(), "sub".len()));
        p("mkdir sub2", path_create_directory(d, "sub2".as_ptr(), "sub2".len()));
        p("rename sub2 -> sub (nonempty)", path_rename(d, "sub2".as_ptr(), "sub2".len(), d, "sub".as_ptr(), "sub".len()));
        p("rename f.txt -> sub (dir)", path_rename(d, "f.txt".as_ptr(), "f.txt".len(), d, "sub".as_ptr(), "sub".len()));
        p("rename sub2 -> f.txt (file)", path_rename(d, "sub2".as_ptr(), "sub2".len(), d, "f.txt".as_ptr(), "f.txt".len()));
        p("rename sub -> sub/inner", path_rename(d, "sub".as_ptr(), "sub".len(), d, "sub/inner".as_ptr(), "sub/inner".len()));
        p("rename missing", path_rename(d, "missing".as_ptr(), "missing".len(), d, "x".as_ptr(), "x".len()));
        p("rename ../x", path_rename(d, "f.txt".as_ptr(), "f.txt".len(), d, "../x".as_ptr(), "../x".len()));
        p("link f.txt f2", path_link(d, 0, "f.txt".as_ptr(), "f.txt".len(), d, "f2".as_ptr(), "f2".len()));
        p("link sub (dir)", path_link(d, 0, "sub".as_ptr(), "sub".len(), d, "sub3".as_ptr(), "sub3".len()));
        p("link existing", path_link(d, 0, "f.txt".as_ptr(), "f.txt".len(), d, "f2".as_ptr(), "f2".len()));
        p("symlink ok", path_symlink("f.txt".as_ptr(), "f.txt".len(), d, "l1".as_ptr(), "l1".len()));
        p("symlink absolute target", path_symlink("/etc/passwd".as_ptr(), "/etc/passwd".len(), d, "l2".as_ptr(), "l2".len()));
        p("symlink ../out", path_symlink("../out".as_ptr(), "../out".len(), d, "l3".as_ptr(), "l3".len()));
        openp("open via l3 (escapes)", d, "l3", 0, R);
        p("symlink loop", path_symlink("loop".as_ptr(), "loop".len(), d, "loop".as_ptr(), "loop".len()));
        openp("open loop", d, "loop", 0, R);
        let (e, _) = open(d, "l1", 0, R, 0); p("open l1 nofollow dirflags=1", e);
        let mut fdo = 0u32;
        p("open l1 dirflags=0", path_open(d, 0, "l1".as_ptr(), "l1".len(), 0, R, R, 0, &mut fdo));
        let mut buf = [0u8; 64]; let mut bu = 0u32;
        p("readlink l1", path_readlink(d, "l1".as_ptr(), "l1".len(), buf.as_mut_ptr(), 64, &mut bu)); println!("  n={bu} {:?}", std::str::from_utf8(&buf[..bu as usize]));
        p("readlink l1 short", path_readlink(d, "l1".as_ptr(), "l1".len(), buf.as_mut_ptr(), 2, &mut bu)); println!("  n={bu}");
        p("readlink f.txt", path_readlink(d, "f.txt".as_ptr(), "f.txt".len(), buf.as_mut_ptr(), 64, &mut bu));
        let mut st = [0u8; 64];
        p("stat l1 nofollow", path_filestat_get(d, 0, "l1".as_ptr(), "l1".len(), st.as_mut_ptr())); println!("  type={} size={}", st[16], u64::from_le_bytes(st[32..40].try_into().unwrap()));
        p("stat l1 follow", path_filestat_get(d, 1, "l1".as_ptr(), "l1".len(), st.as_mut_ptr())); println!("  type={} size={} nlink={}", st[16], u64::from_le_bytes(st[32..40].try_into().unwrap()), u64::from_le_bytes(st[24..32].try_into().unwrap()));
        p("stat sub", path_filestat_get(d, 0, "sub".as_ptr(), "sub".len(), st.as_mut_ptr())); println!("  type={} nlink={}", st[16], u64::from_le_bytes(st[24..32].try_into().unwrap()));
        p("stat empty", path_filestat_get(d, 0, "".as_ptr(), "".len(), st.as_mut_ptr()));
        p("stat .", path_filestat_get(d, 0, ".".as_ptr(), ".".len(), st.as_mut_ptr())); println!("  type={}", st[16]);
        // fd-level
        let ro = openp("open f.txt ro", d, "f.txt", 0, R);
        p("write ro", fd_write(ro, iov.as_ptr(), 1, &mut n));
        let mut rb = [0u8; 5]; let riov = [rb.as_mut_ptr() as u32, 5];
        p("read ro", fd_read(ro, riov.as_ptr(), 1, &mut n)); println!("  n={n} {:?}", std::str::from_utf8(&rb));
        p("read dir", fd_read(d, riov.as_ptr(), 1, &mut n));
        p("write dir", fd_write(d, iov.as_ptr(), 1, &mut n));
        let mut off = 0u64;
        p("seek -1 set", fd_seek(ro, -1, 0, &mut off));
        p("seek -100 cur", fd_seek(ro, -100, 1, &mut off));
        p("seek 3 end", fd_seek(ro, 3, 2, &mut off)); println!("  off={off}");
        
        p("seek dir", fd_seek(d, 0, 0, &mut off));
        p("seek stdout", fd_seek(1, 0, 0, &mut off));
        p("tell dir", fd_tell(d, &mut off));
        p("readdir file", fd_readdir(ro, buf.as_mut_ptr(), 64, 0, &mut bu));
        p("readdir stdout", fd_readdir(1, buf.as_mut_ptr(), 64, 0, &mut bu));
        let mut fst = [0u8; 24];
        p("fdstat ro", fd_fdstat_get(ro, fst.as_mut_ptr())); println!("  type={} flags={} base={:#x} inh={:#x}", fst[0], u16::from_le_bytes([fst[2], fst[3]]), u64::from_le_bytes(fst[8..16].try_into().unwrap()), u64::from_le_bytes(fst[16..24].try_into().unwrap()));
        p("fdstat rw", fd_fdstat_get(f, fst.as_mut_ptr())); println!("  type={} base={:#x}", fst[0], u64::from_le_bytes(fst[8..16].try_into().unwrap()));
        p("fdstat preopen", fd_fdstat_get(d, fst.as_mut_ptr())); println!("  type={} base={:#x} inh={:#x}", fst[0], u64::from_le_bytes(fst[8..16].try_into().unwrap()), u64::from_le_bytes(fst[16..24].try_into().unwrap()));
        let sd = openp("open sub dir", d, "sub", 2, R);
        p("fdstat sub", fd_fdstat_get(sd, fst.as_mut_ptr())); println!("  type={} base={:#x}", fst[0], u64::from_le_bytes(fst[8..16].try_into().unwrap()));
        p("fdstat stdin", fd_fdstat_get(0, fst.as_mut_ptr())); println!("  type={} base={:#x} inh={:#x}", fst[0], u64::from_le_bytes(fst[8..16].try_into().unwrap()), u64::from_le_bytes(fst[16..24].try_into().unwrap()));
        p("set_rights narrow", fd_fdstat_set_rights(ro, 2, 0));
        p("set_rights widen", fd_fdstat_set_rights(ro, RW, RW));
        p("set_rights stdout", fd_fdstat_set_rights(1, 0, 0));
        p("set_flags append", fd_fdstat_set_flags(f, 1));
        p("set_flags sync", fd_fdstat_set_flags(f, 16));
        p("set_flags dir", fd_fdstat_set_flags(d, 0));
        p("set_flags stdout", fd_fdstat_set_flags(1, 0));
        p("allocate", fd_allocate(f, 0, 100));
        p("allocate dir", fd_allocate(d, 0, 100));
        p("advise", fd_advise(f, 0, 100, 1));
        
        p("advise dir", fd_advise(d, 0, 100, 1));
        p("sync", fd_sync(f)); p("sync dir", fd_sync(d)); p("datasync stdout", fd_datasync(1));
        p("set_size ro", fd_filestat_set_size(ro, 3));
        p("set_size rw", fd_filestat_set_size(f, 3));
        p("set_size dir", fd_filestat_set_size(d, 3));
        p("filestat stdout", fd_filestat_get(1, st.as_mut_ptr())); println!("  type={}", st[16]);
        p("filestat f", fd_filestat_get(f, st.as_mut_ptr())); println!("  size={} nlink={}", u64::from_le_bytes(st[32..40].try_into().unwrap()), u64::from_le_bytes(st[24..32].try_into().unwrap()));
        p("set_times both", fd_filestat_set_times(f, 1, 1, 3));
        p("set_times stdout", fd_filestat_set_times(1, 1, 1, 1));
        p("set_times ok", fd_filestat_set_times(f, 1_000_000_000, 2_000_000_000, 5));
        fd_filestat_get(f, st.as_mut_ptr()); println!("  atim={} mtim={}", u64::from_le_bytes(st[40..48].try_into().unwrap()), u64::from_le_bytes(st[48..56].try_into().unwrap()));
        p("pread stdin", fd_pread(0, riov.as_ptr(), 1, 0, &mut n));
        p("pwrite stdout", fd_pwrite(1, iov.as_ptr(), 1, 0, &mut n));
        p("pread dir", fd_pread(d, riov.as_ptr(), 1, 0, &mut n));
        p("pwrite ro", fd_pwrite(ro, iov.as_ptr(), 1, 0, &mut n));
        // append-mode pwrite ignores offset
        let a = { let (e, fd) = open(d, "app", 1, RW, 1); p("open app append", e); fd };
        fd_write(a, iov.as_ptr(), 1, &mut n);
        p("pwrite append", fd_pwrite(a, iov.as_ptr(), 1, 0, &mut n));
        fd_filestat_get(a, st.as_mut_ptr()); println!("  size={}", u64::from_le_bytes(st[32..40].try_into().unwrap()));
        p("tell append", fd_tell(a, &mut off)); println!("  off={off}");
        let mut pst = [0u8; 8]; let mut nb = [0u8; 4];
        p("prestat 3", fd_prestat_get(3, pst.as_mut_ptr())); println!("  len={}", u32::from_le_bytes(pst[4..8].try_into().unwrap()));
        p("prestat 0", fd_prestat_get(0, pst.as_mut_ptr()));
        p("prestat f", fd_prestat_get(f, pst.as_mut_ptr()));
        p("prestat_dir_name short", fd_prestat_dir_name(3, nb.as_mut_ptr(), 1));
        p("prestat_dir_name f", fd_prestat_dir_name(f, nb.as_mut_ptr(), 4));
        p("prestat_dir_name 99", fd_prestat_dir_name(99, nb.as_mut_ptr(), 4));
        let mut t = 0u64;
        p("clock_res 0", clock_res_get(0, &mut t)); p("clock_res 2", clock_res_get(2, &mut t)); p("clock_res 3", clock_res_get(3, &mut t));
        p("clock_time 2", clock_time_get(2, 0, &mut t));
        
        let mut ev = [0u8; 64]; let mut ne = 0u32;
        p("poll 0 subs", poll_oneoff([0u8; 48].as_ptr(), ev.as_mut_ptr(), 0, &mut ne));
        let mut sub = [0u8; 48]; sub[0] = 9; sub[8] = 0; sub[16] = 1; sub[24..32].copy_from_slice(&1000u64.to_le_bytes());
        p("poll clock 1us", poll_oneoff(sub.as_ptr(), ev.as_mut_ptr(), 1, &mut ne)); println!("  n={ne} ud={} err={} type={}", ev[0], ev[8], ev[10]);
        let mut sub2 = [0u8; 48]; sub2[0] = 5; sub2[8] = 1; sub2[16..20].copy_from_slice(&f.to_le_bytes());
        p("poll file read", poll_oneoff(sub2.as_ptr(), ev.as_mut_ptr(), 1, &mut ne)); println!("  n={ne} ud={} type={}", ev[0], ev[10]);
        sub2[0] = 6; sub2[8] = 2;
        p("poll file write", poll_oneoff(sub2.as_ptr(), ev.as_mut_ptr(), 1, &mut ne)); println!("  n={ne} ud={} type={}", ev[0], ev[10]);
        let mut sub3 = [0u8; 48]; sub3[8] = 1; sub3[16..20].copy_from_slice(&99u32.to_le_bytes());
        p("poll bad fd", poll_oneoff(sub3.as_ptr(), ev.as_mut_ptr(), 1, &mut ne));
        let mut sub4 = [0u8; 48]; sub4[8] = 1; sub4[16..20].copy_from_slice(&d.to_le_bytes());
        p("poll dir read", poll_oneoff(sub4.as_ptr(), ev.as_mut_ptr(), 1, &mut ne));
        let mut sub5 = [0u8; 48]; sub5[8] = 0; sub5[16] = 2;
        p("poll cputime clock", poll_oneoff(sub5.as_ptr(), ev.as_mut_ptr(), 1, &mut ne));
        p("raise", proc_raise(6));
        p("sock_accept stdout", sock_accept(1, 0, &mut n)); p("sock_accept 99", sock_accept(99, 0, &mut n));
        p("sock_shutdown", sock_shutdown(1, 3)); p("sock_send", sock_send(1, iov.as_ptr(), 1, 0, &mut n));
        let mut of = 0u16; p("sock_recv", sock_recv(0, riov.as_ptr(), 1, 0, &mut n, &mut of));
        p("random", random_get(buf.as_mut_ptr(), 16)); p("yield", sched_yield());
        p("renumber f->40", fd_renumber(f, 40));
        p("renumber 99->3", fd_renumber(99, 3));
        p("close 40", fd_close(40)); p("close 40 again", fd_close(40));
        let r1 = openp("reopen f.txt", d, "f.txt", 0, R); println!("  fd={r1}");
        // more open-flag corners
        openp("open creat|directory new", d, "newdir_cd", 1 | 2, R);
        openp("open creat sub/ (dir)", d, "sub/", 1, RW);
        openp("open trunc dir", d, "sub", 8, R);
        openp("open creat trailing slash new", d, "nf/", 1, RW);
        openp("open dir with write", d, "sub", 0, RW);
        openp("open symlink-to-dir follow", d, "l1", 2, R);
        let nb = { let (e, fd) = open(d, "nbf", 1, RW, 4 | 1); p("open nonblock|append", e); fd };
        p("fdstat nonblock", fd_fdstat_get(nb, fst.as_mut_ptr())); println!("  flags={}", u16::from_le_bytes([fst[2], fst[3]]));
        let sy = { let (e, fd) = open(d, "syf", 1, RW, 16); p("open sync", e); fd };
        p("fdstat sync", fd_fdstat_get(sy, fst.as_mut_ptr())); println!("  flags={}", u16::from_le_bytes([fst[2], fst[3]]));
        p("mkdir trailing slash", path_create_directory(d, "ts/".as_ptr(), 3));
        p("rmdir trailing slash", path_remove_directory(d, "ts/".as_ptr(), 3));
        p("rename to trailing slash file", path_rename(d, "nbf".as_ptr(), 3, d, "nbf2/".as_ptr(), 5));
        p("rename dir to itself", path_rename(d, "sub".as_ptr(), 3, d, "sub".as_ptr(), 3));
        p("rename file onto hardlink", path_rename(d, "f.txt".as_ptr(), 5, d, "f2".as_ptr(), 2));
        p("unlink empty", path_unlink_file(d, "".as_ptr(), 0));
        p("symlink empty target", path_symlink("".as_ptr(), 0, d, "le".as_ptr(), 2));
        p("link follow symlink", path_link(d, 1, "l1".as_ptr(), 2, d, "l1hard".as_ptr(), 6));
        p("stat l1hard", path_filestat_get(d, 0, "l1hard".as_ptr(), 6, st.as_mut_ptr())); println!("  type={}", st[16]);
        let mut used = 0u32;
        // directory order is the host's on wasmtime: compare sorted names, not order
        let mut big = [0u8; 1024];
        p("readdir cookie 2", fd_readdir(d, big.as_mut_ptr(), 1024, 2, &mut used));
        let (mut q, mut names) = (0usize, Vec::new());
        while q + 24 <= used as usize {
            let nl = u32::from_le_bytes(big[q + 16..q + 20].try_into().unwrap()) as usize;
            names.push(String::from_utf8_lossy(&big[q + 24..q + 24 + nl]).into_owned());
            q += 24 + nl;
        }
        names.sort();
        println!("  {names:?}");
        p("readdir huge cookie", fd_readdir(d, big.as_mut_ptr(), 1024, 1 << 40, &mut used)); println!("  used={used}");
        p("close preopen", fd_close(3));
        openp("open after closing preopen", 3, "f.txt", 0, R);
    }
}
