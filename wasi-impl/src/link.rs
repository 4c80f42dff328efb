//! Registers every `wasi_snapshot_preview1` function with a wasmi [`Linker`].
//!
//! Each host function looks up the guest's exported `memory` (a guest without one sees an
//! empty memory, so any pointer is `EFAULT`), wraps it in a [`GuestMem`], calls the matching
//! `Ctx` method and returns its witx `errno` as the function's `i32` result. `proc_exit` ends
//! the guest through wasmi's `i32_exit` error.

use crate::ctx::{Ctx, R};
use crate::guest_mem::GuestMem;
use wasmi::{Caller, Error, Extern, Linker};

/// The WASI module name.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Names of all functions this host provides (the witx list of `wasi_snapshot_preview1`).
pub const FUNCTIONS: [&str; 46] = [
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "random_get",
    "sched_yield",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// A host error ending the guest with a message (wasmtime's invalid `proc_exit` status).
#[derive(Debug)]
pub struct HostTrap(pub alloc::string::String);

impl core::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl wasmi::errors::HostError for HostTrap {}

/// The host error that ends a guest whose wall-clock limit passed during a host call (a
/// sleep in `poll_oneoff`); the runner reports it as [`crate::LimitKind::WallTime`].
#[derive(Debug)]
pub struct WatchdogStop;

impl core::fmt::Display for WatchdogStop {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("watchdog: wall-clock limit exceeded")
    }
}

impl wasmi::errors::HostError for WatchdogStop {}

/// Runs `f` with the context and the guest memory, mapping the result to an errno.
fn call<'a>(
    caller: &mut Caller<'_, Ctx<'a>>,
    name: &'static str,
    f: impl FnOnce(&mut Ctx<'a>, &mut GuestMem<'_>) -> R,
) -> Result<i32, Error> {
    let memory = caller.get_export("memory").and_then(Extern::into_memory);
    let (r, stop) = match memory {
        Some(m) => {
            let (data, ctx) = m.data_and_store_mut(&mut *caller);
            ctx.last_call = name;
            (f(ctx, &mut GuestMem::new(data)), ctx.stop)
        }
        None => {
            let ctx = caller.data_mut();
            ctx.last_call = name;
            (f(ctx, &mut GuestMem::new(&mut [])), ctx.stop)
        }
    };
    if stop {
        return Err(Error::host(WatchdogStop));
    }
    Ok(match r {
        Ok(()) => 0,
        Err(e) => i32::from(e.raw()),
    })
}

macro_rules! wasi_fns {
    ($linker:ident; $( $name:ident ( $( $arg:ident : $ty:ty ),* ) ;)* ) => {
        $(
            #[allow(clippy::too_many_arguments)]
            fn $name(mut caller: Caller<'_, Ctx<'_>>, $( $arg: $ty ),*) -> Result<i32, Error> {
                call(&mut caller, stringify!($name), |ctx, mem| ctx.$name(mem, $( $arg ),*))
            }
            $linker.func_wrap(WASI_MODULE, stringify!($name), $name)?;
        )*
    };
}

/// `proc_exit`: codes below 126 end the guest with that code; larger codes trap with
/// wasmtime's message ("exit with invalid exit status outside of [0..126)").
fn proc_exit(mut caller: Caller<'_, Ctx<'_>>, code: u32) -> Result<(), Error> {
    caller.data_mut().last_call = "proc_exit";
    if code >= 126 {
        return Err(Error::host(HostTrap(alloc::format!(
            "proc_exit({code}): exit with invalid exit status outside of [0..126)"
        ))));
    }
    // code < 126 fits in i32.
    Err(Error::i32_exit(code as i32))
}

/// Adds all 46 functions of `wasi_snapshot_preview1` to `linker`.
pub fn add_to_linker(linker: &mut Linker<Ctx<'_>>) -> Result<(), wasmi::errors::LinkerError> {
    wasi_fns! { linker;
        args_get(argv: u32, argv_buf: u32);
        args_sizes_get(argc: u32, argv_buf_size: u32);
        environ_get(environ: u32, environ_buf: u32);
        environ_sizes_get(count: u32, buf_size: u32);
        clock_res_get(id: u32, out: u32);
        clock_time_get(id: u32, precision: u64, out: u32);
        fd_advise(fd: u32, offset: u64, len: u64, advice: u32);
        fd_allocate(fd: u32, offset: u64, len: u64);
        fd_close(fd: u32);
        fd_datasync(fd: u32);
        fd_fdstat_get(fd: u32, out: u32);
        fd_fdstat_set_flags(fd: u32, flags: u32);
        fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64);
        fd_filestat_get(fd: u32, out: u32);
        fd_filestat_set_size(fd: u32, size: u64);
        fd_filestat_set_times(fd: u32, atim: u64, mtim: u64, fst_flags: u32);
        fd_pread(fd: u32, iovs: u32, iovs_len: u32, offset: u64, out: u32);
        fd_prestat_get(fd: u32, out: u32);
        fd_prestat_dir_name(fd: u32, path: u32, path_len: u32);
        fd_pwrite(fd: u32, iovs: u32, iovs_len: u32, offset: u64, out: u32);
        fd_read(fd: u32, iovs: u32, iovs_len: u32, out: u32);
        fd_readdir(fd: u32, buf: u32, buf_len: u32, cookie: u64, out: u32);
        fd_renumber(fd: u32, to: u32);
        fd_seek(fd: u32, offset: u64, whence: u32, out: u32);
        fd_sync(fd: u32);
        fd_tell(fd: u32, out: u32);
        fd_write(fd: u32, iovs: u32, iovs_len: u32, out: u32);
        path_create_directory(fd: u32, path: u32, path_len: u32);
        path_filestat_get(fd: u32, flags: u32, path: u32, path_len: u32, out: u32);
        path_filestat_set_times(fd: u32, flags: u32, path: u32, path_len: u32, atim: u64, mtim: u64, fst_flags: u32);
        path_link(old_fd: u32, old_flags: u32, old_path: u32, old_len: u32, new_fd: u32, new_path: u32, new_len: u32);
        path_open(fd: u32, dirflags: u32, path: u32, path_len: u32, oflags: u32, base: u64, inheriting: u64, fdflags: u32, out: u32);
        path_readlink(fd: u32, path: u32, path_len: u32, buf: u32, buf_len: u32, out: u32);
        path_remove_directory(fd: u32, path: u32, path_len: u32);
        path_rename(fd: u32, old_path: u32, old_len: u32, new_fd: u32, new_path: u32, new_len: u32);
        path_symlink(old_path: u32, old_len: u32, fd: u32, new_path: u32, new_len: u32);
        path_unlink_file(fd: u32, path: u32, path_len: u32);
        poll_oneoff(subs: u32, events: u32, nsubs: u32, out: u32);
        proc_raise(sig: u32);
        random_get(buf: u32, len: u32);
        sched_yield();
        sock_accept(fd: u32, flags: u32, out: u32);
        sock_recv(fd: u32, iovs: u32, iovs_len: u32, flags: u32, out_len: u32, out_flags: u32);
        sock_send(fd: u32, iovs: u32, iovs_len: u32, flags: u32, out: u32);
        sock_shutdown(fd: u32, how: u32);
    }
    linker.func_wrap(WASI_MODULE, "proc_exit", proc_exit)?;
    crate::crypto::link::add_to_linker(linker)?;
    crate::snp_api::link::add_to_linker(linker)?;
    Ok(())
}
