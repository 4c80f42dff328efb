//! `wasi-misc`: checks the clock, randomness, scheduling, signal, socket and exit functions
//! of wasi_snapshot_preview1.witx: clock_res_get, clock_time_get, random_get, sched_yield,
//! proc_raise, sock_accept, sock_recv, sock_send, sock_shutdown and proc_exit.
//! Expectations follow wasmtime (the reference runtime):
//! * only the realtime and monotonic clocks exist; the CPU-time clocks give EBADF;
//! * proc_raise is not supported (ENOTSUP);
//! * no sockets are preopened, so the socket calls are checked on a regular file
//!   (ENOTSOCK), a standard stream (ENOTSOCK) and a closed descriptor (EBADF);
//! * the guest ends with a direct `proc_exit(0)` after its closing line.
//!
//! Needs a preopened, writable directory `/sandbox` (the guest creates one file in
//! `/sandbox/wasi-misc.tmp` for the socket checks and removes it).

use wasi::*;
use wasi_check::{ALL_RIGHTS, Checker, cleanup, scratch, sys, wasi};

/// A descriptor number no runtime hands out in this guest.
const BAD_FD: Fd = 9999;
/// Scratch directory (relative to the preopen).
const DIR: &str = "wasi-misc.tmp";
/// 2020-01-01T00:00:00Z and 2100-01-01T00:00:00Z in nanoseconds.
const Y2020: u64 = 1_577_836_800_000_000_000;
const Y2100: u64 = 4_102_444_800_000_000_000;

fn clocks(c: &mut Checker) {
    for (id, name) in [
        (CLOCKID_REALTIME, "realtime"),
        (CLOCKID_MONOTONIC, "monotonic"),
    ] {
        match sys::clock_res_get(id) {
            Ok(r) => {
                c.check(
                    "clock_res_get",
                    &format!("{name} resolution is 1 ns ..= 1 ms"),
                    (1..=1_000_000).contains(&r),
                    &format!("{r}"),
                );
            }
            Err(e) => c.fail("clock_res_get", name, &wasi_check::errno_name(e)),
        }
    }
    for (id, name) in [
        (CLOCKID_PROCESS_CPUTIME_ID, "process cputime"),
        (CLOCKID_THREAD_CPUTIME_ID, "thread cputime"),
    ] {
        c.err(
            "clock_res_get",
            &format!("{name} clock"),
            sys::clock_res_get(id),
            ERRNO_BADF,
        );
        c.err(
            "clock_time_get",
            &format!("{name} clock"),
            sys::clock_time_get(id, 1),
            ERRNO_BADF,
        );
    }
    let rt = sys::clock_time_get(CLOCKID_REALTIME, 1);
    c.check(
        "clock_time_get",
        "realtime is between 2020 and 2100",
        matches!(rt, Ok(t) if (Y2020..Y2100).contains(&t)),
        &format!("{rt:?}"),
    );
    let mut last = sys::clock_time_get(CLOCKID_MONOTONIC, 1).unwrap_or(u64::MAX);
    let mut monotone = last != u64::MAX;
    for _ in 0..1000 {
        let now = sys::clock_time_get(CLOCKID_MONOTONIC, 0).unwrap_or(0);
        monotone &= now >= last;
        last = now;
    }
    c.check(
        "clock_time_get",
        "monotonic never goes back over 1000 reads",
        monotone,
        "went backwards or failed",
    );
    let rt2 = sys::clock_time_get(CLOCKID_REALTIME, 1_000_000_000);
    c.check(
        "clock_time_get",
        "coarse precision argument is accepted",
        matches!(rt2, Ok(t) if t >= Y2020),
        &format!("{rt2:?}"),
    );
    let t0 = sys::clock_time_get(CLOCKID_MONOTONIC, 1).unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let t1 = sys::clock_time_get(CLOCKID_MONOTONIC, 1).unwrap_or(0);
    c.check(
        "clock_time_get",
        "monotonic advances by >= 20 ms across a 20 ms sleep",
        t1.saturating_sub(t0) >= 20_000_000,
        &format!("{} ns", t1.saturating_sub(t0)),
    );
}

fn randomness(c: &mut Checker) {
    c.ok("random_get", "zero-length buffer", sys::random_get(&mut []));
    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    c.ok("random_get", "64 bytes", sys::random_get(&mut a));
    let _ = sys::random_get(&mut b);
    c.check(
        "random_get",
        "64 bytes are not all zero",
        a.iter().any(|x| *x != 0),
        "all zero",
    );
    c.check("random_get", "two draws differ", a != b, "identical draws");
    let distinct = {
        let mut seen = [false; 256];
        a.iter().for_each(|x| seen[*x as usize] = true);
        seen.iter().filter(|x| **x).count()
    };
    c.check(
        "random_get",
        "64 bytes have >= 16 distinct values",
        distinct >= 16,
        &format!("{distinct}"),
    );
    let mut big = vec![0u8; 1 << 16];
    c.ok(
        "random_get",
        "64 KiB in one call",
        sys::random_get(&mut big),
    );
    let ones: u32 = big.iter().map(|x| x.count_ones()).sum();
    // 524288 bits: sd = 362 ones, so 1% of half (2621) is 7 sd: a fair source never misses it.
    c.check(
        "random_get",
        "64 KiB bit balance within 1%",
        (259_523..=264_765).contains(&ones),
        &format!("{ones} ones"),
    );
    let mut odd = [0u8; 3];
    c.ok("random_get", "odd length 3", sys::random_get(&mut odd));
}

fn sched_and_signals(c: &mut Checker) {
    c.ok("sched_yield", "yields", sys::sched_yield());
    for _ in 0..100 {
        let _ = sys::sched_yield();
    }
    c.pass("sched_yield", "100 more yields return");
    c.err(
        "proc_raise",
        "SIGTERM",
        sys::proc_raise(SIGNAL_TERM),
        ERRNO_NOTSUP,
    );
    c.err(
        "proc_raise",
        "signal 0 (none)",
        sys::proc_raise(SIGNAL_NONE),
        ERRNO_NOTSUP,
    );
}

fn sockets(c: &mut Checker, s: Fd) {
    let f = sys::path_open(
        s,
        0,
        &format!("{DIR}/not-a-socket"),
        OFLAGS_CREAT,
        ALL_RIGHTS,
        0,
        0,
    );
    let Some(f) = c.ok("path_open", "a regular file for the socket checks", f) else {
        return;
    };
    let mut buf = [0u8; 16];
    for (fd, what) in [(f, "regular file"), (0, "stdin"), (1, "stdout")] {
        c.err("sock_accept", what, sys::sock_accept(fd, 0), ERRNO_NOTSOCK);
        c.err(
            "sock_recv",
            what,
            sys::sock_recv(fd, &mut buf, 0),
            ERRNO_NOTSOCK,
        );
        c.err(
            "sock_send",
            what,
            sys::sock_send(fd, b"x", 0),
            ERRNO_NOTSOCK,
        );
        c.err(
            "sock_shutdown",
            what,
            sys::sock_shutdown(fd, SDFLAGS_RD | SDFLAGS_WR),
            ERRNO_NOTSOCK,
        );
    }
    c.err(
        "sock_accept",
        "closed descriptor",
        sys::sock_accept(BAD_FD, 0),
        ERRNO_BADF,
    );
    c.err(
        "sock_recv",
        "closed descriptor",
        sys::sock_recv(BAD_FD, &mut buf, 0),
        ERRNO_BADF,
    );
    c.err(
        "sock_send",
        "closed descriptor",
        sys::sock_send(BAD_FD, b"x", 0),
        ERRNO_BADF,
    );
    c.err(
        "sock_shutdown",
        "closed descriptor",
        sys::sock_shutdown(BAD_FD, SDFLAGS_WR),
        ERRNO_BADF,
    );
    c.eq(
        "sock_send",
        "nothing was written to the file",
        sys::fd_filestat_get(f).map(|st| st.size),
        Ok(0),
    );
    let _ = sys::fd_close(f);
}

fn main() {
    let mut c = Checker::new("wasi-misc");
    let s = scratch(&mut c, DIR);
    clocks(&mut c);
    randomness(&mut c);
    sched_and_signals(&mut c);
    sockets(&mut c, s);
    cleanup(&mut c, DIR);
    // The exit itself is the proc_exit check: the runner sees status 0 only if every
    // check passed and proc_exit delivered the code.
    c.pass(
        "proc_exit",
        "exiting through a direct proc_exit with 0 (or 1 on failure)",
    );
    let code = u32::from(!c.summary());
    // SAFETY: proc_exit takes a plain integer and does not return.
    unsafe { wasi::proc_exit(code) };
    // proc_exit returning is a failure of the runtime.
    println!("FAIL proc_exit: returned");
    std::process::exit(3);
}
