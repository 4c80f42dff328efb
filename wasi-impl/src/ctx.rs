//! The guest's WASI state and the non-filesystem functions of `wasi_snapshot_preview1`:
//! `args_*`, `environ_*`, `clock_*`, `random_get`, `sched_yield`, `proc_raise`, `sock_*`,
//! `poll_oneoff`, and stdio reads/writes. The filesystem functions are in `fs_calls`.
//!
//! Each function takes the guest memory and the raw ABI arguments and returns
//! `Ok(())`/`Err(errno)`; `link` turns that into the witx `errno` result. Errno choices follow
//! the witx definitions and wasmtime's preview1 implementation.

use crate::abi::{self, clockid, eventtype, size};
use crate::fdtable::{Entry, FdTable, Kind};
use crate::guest_mem::GuestMem;
use crate::{Errno, Services};
use alloc::string::String;
use alloc::vec::Vec;

/// Result of a WASI function.
pub type R<T = ()> = Result<T, Errno>;

/// Per-guest state kept in the wasmi store.
pub struct Ctx<'s> {
    /// Platform services.
    pub services: &'s mut dyn Services,
    /// `argv`.
    pub args: Vec<String>,
    /// `key=value` strings.
    pub env: Vec<String>,
    /// Descriptors.
    pub fds: FdTable,
    /// Memory/table limiter state.
    pub limiter: crate::runner::Limiter,
    /// Name of the WASI function currently (or last) executing, for trap reports.
    pub last_call: &'static str,
    /// `(max_call_depth, max_stack_bytes)`, for stack-overflow messages.
    pub limits: (u32, usize),
    /// wasi-crypto handle table.
    pub crypto: crate::crypto::CryptoCtx,
    /// The wall-clock watchdog, for a guest with a limit.
    pub watchdog: Option<crate::watchdog::Watchdog>,
    /// Set by a host function that saw the watchdog expire: the guest must stop (`link`
    /// turns it into a [`crate::link::WatchdogStop`] error).
    pub stop: bool,
    /// The guest's fuel budget when it runs in slices (under the watchdog): the store holds
    /// only the current slice, so host charges draw on this (`crypto::link`).
    pub meter: Option<crate::watchdog::FuelMeter>,
}

impl core::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ctx")
            .field("args", &self.args)
            .field("fds", &self.fds.len())
            .finish_non_exhaustive()
    }
}

/// Writes a list of NUL-terminated strings and their pointer array (`args_get`,
/// `environ_get`).
fn write_string_list(mem: &mut GuestMem<'_>, list: &[String], ptrs: u32, buf: u32) -> R {
    let mut p = ptrs;
    let mut b = buf;
    for s in list {
        mem.write_u32(p, b)?;
        mem.write_bytes(b, s.as_bytes())?;
        let len = u32::try_from(s.len()).map_err(|_| Errno::Overflow)?;
        b = b.checked_add(len).ok_or(Errno::Fault)?;
        mem.write_u8(b, 0)?;
        b = b.checked_add(1).ok_or(Errno::Fault)?;
        p = p.checked_add(4).ok_or(Errno::Fault)?;
    }
    Ok(())
}

/// Count and total NUL-terminated size of a string list.
fn list_sizes(list: &[String]) -> R<(u32, u32)> {
    let n = u32::try_from(list.len()).map_err(|_| Errno::Overflow)?;
    let mut total: u32 = 0;
    for s in list {
        let l = u32::try_from(s.len()).map_err(|_| Errno::Overflow)?;
        total = total
            .checked_add(l)
            .and_then(|t| t.checked_add(1))
            .ok_or(Errno::Overflow)?;
    }
    Ok((n, total))
}

/// One decoded `subscription`.
#[derive(Debug, Clone, Copy)]
enum Sub {
    /// Clock: absolute monotonic deadline in ns.
    Clock { deadline: u64 },
    /// Readiness of an fd.
    Fd { ty: u8, fd: u32 },
}

impl Ctx<'_> {
    /// `args_get`.
    pub fn args_get(&mut self, mem: &mut GuestMem<'_>, argv: u32, buf: u32) -> R {
        write_string_list(mem, &self.args, argv, buf)
    }

    /// `args_sizes_get`.
    pub fn args_sizes_get(&mut self, mem: &mut GuestMem<'_>, argc: u32, size: u32) -> R {
        let (n, total) = list_sizes(&self.args)?;
        mem.write_u32(argc, n)?;
        mem.write_u32(size, total)
    }

    /// `environ_get`.
    pub fn environ_get(&mut self, mem: &mut GuestMem<'_>, env: u32, buf: u32) -> R {
        write_string_list(mem, &self.env, env, buf)
    }

    /// `environ_sizes_get`.
    pub fn environ_sizes_get(&mut self, mem: &mut GuestMem<'_>, count: u32, size: u32) -> R {
        let (n, total) = list_sizes(&self.env)?;
        mem.write_u32(count, n)?;
        mem.write_u32(size, total)
    }

    /// `clock_res_get`: the CPU-time clocks are not provided (`EBADF`, as wasmtime);
    /// unknown ids are `EINVAL`.
    pub fn clock_res_get(&mut self, mem: &mut GuestMem<'_>, id: u32, out: u32) -> R {
        let res = match id {
            clockid::REALTIME => self.services.wall_resolution(),
            clockid::MONOTONIC => self.services.monotonic_resolution(),
            clockid::PROCESS_CPUTIME_ID | clockid::THREAD_CPUTIME_ID => return Err(Errno::Badf),
            _ => return Err(Errno::Inval),
        };
        mem.write_u64(out, res)
    }

    /// `clock_time_get` (the precision argument is ignored, as wasmtime does).
    pub fn clock_time_get(&mut self, mem: &mut GuestMem<'_>, id: u32, _prec: u64, out: u32) -> R {
        let now = self.clock_now(id)?;
        mem.write_u64(out, now)
    }

    fn clock_now(&mut self, id: u32) -> R<u64> {
        match id {
            clockid::REALTIME => Ok(self.services.wall_now()),
            clockid::MONOTONIC => Ok(self.services.monotonic_now()),
            clockid::PROCESS_CPUTIME_ID | clockid::THREAD_CPUTIME_ID => Err(Errno::Badf),
            _ => Err(Errno::Inval),
        }
    }

    /// `random_get`.
    pub fn random_get(&mut self, mem: &mut GuestMem<'_>, buf: u32, len: u32) -> R {
        let out = mem.slice_mut(buf, len)?;
        self.services.random(out);
        Ok(())
    }

    /// `sched_yield`.
    pub fn sched_yield(&mut self, _mem: &mut GuestMem<'_>) -> R {
        self.services.sched_yield();
        Ok(())
    }

    /// `proc_raise`: signals are not supported (`ENOTSUP`, as wasmtime); an undefined signal
    /// number is `EINVAL`.
    pub fn proc_raise(&mut self, _mem: &mut GuestMem<'_>, sig: u32) -> R {
        if sig > abi::SIGNAL_MAX {
            return Err(Errno::Inval);
        }
        Err(Errno::Notsup)
    }

    /// `sock_accept`: Elastic has no sockets; any open fd is `ENOTSOCK`.
    pub fn sock_accept(&mut self, _mem: &mut GuestMem<'_>, fd: u32, flags: u32, _out: u32) -> R {
        if flags & !u32::from(abi::fdflags::ALL) != 0 {
            return Err(Errno::Inval);
        }
        self.fds.get(fd)?;
        Err(Errno::Notsock)
    }

    /// `sock_recv`: `ENOTSOCK` on any open fd.
    #[allow(clippy::too_many_arguments)]
    pub fn sock_recv(
        &mut self,
        _mem: &mut GuestMem<'_>,
        fd: u32,
        _iovs: u32,
        _iovs_len: u32,
        flags: u32,
        _out_len: u32,
        _out_flags: u32,
    ) -> R {
        if flags & !abi::RIFLAGS_ALL != 0 {
            return Err(Errno::Inval);
        }
        self.fds.get(fd)?;
        Err(Errno::Notsock)
    }

    /// `sock_send`: `ENOTSOCK` on any open fd.
    pub fn sock_send(
        &mut self,
        _mem: &mut GuestMem<'_>,
        fd: u32,
        _iovs: u32,
        _iovs_len: u32,
        flags: u32,
        _out_len: u32,
    ) -> R {
        if flags != 0 {
            return Err(Errno::Inval);
        }
        self.fds.get(fd)?;
        Err(Errno::Notsock)
    }

    /// `sock_shutdown`: `ENOTSOCK` on any open fd.
    pub fn sock_shutdown(&mut self, _mem: &mut GuestMem<'_>, fd: u32, how: u32) -> R {
        if how & !abi::SDFLAGS_ALL != 0 {
            return Err(Errno::Inval);
        }
        self.fds.get(fd)?;
        Err(Errno::Notsock)
    }

    /// Writes guest bytes to stdout/stderr (all iovecs, in order).
    pub(crate) fn write_stdio(
        &mut self,
        mem: &GuestMem<'_>,
        is_err: bool,
        iovs: &[(u32, u32)],
    ) -> R<u32> {
        let mut total: u32 = 0;
        for &(p, l) in iovs {
            let bytes = mem.slice(p, l)?;
            if is_err {
                self.services.stderr(bytes);
            } else {
                self.services.stdout(bytes);
            }
            total = total.checked_add(l).ok_or(Errno::Overflow)?;
        }
        Ok(total)
    }

    /// Reads stdin into the first non-empty iovec (as wasmtime does).
    pub(crate) fn read_stdin(&mut self, mem: &mut GuestMem<'_>, iovs: &[(u32, u32)]) -> R<u32> {
        let Some(&(p, l)) = iovs.iter().find(|(_, l)| *l != 0) else {
            return Ok(0);
        };
        let buf = mem.slice_mut(p, l)?;
        let n = self.services.read_stdin(buf)?;
        let n = n.min(buf.len());
        u32::try_from(n).map_err(|_| Errno::Overflow)
    }

    /// `poll_oneoff`: waits until at least one subscription is ready. Clock subscriptions
    /// (relative or absolute, realtime or monotonic) become monotonic deadlines; regular files
    /// are always ready (read: `nbytes` = bytes left, hangup flag at end of file, as wasmtime);
    /// stdout/stderr are always writable; stdin is ready when [`Services::stdin_ready`] says so.
    /// Sleeping uses [`Services::sleep_until`]. `nsubscriptions == 0` is `EINVAL`; the host's
    /// copy of the subscriptions is sized by the guest, so it is fallible (`ENOMEM`).
    pub fn poll_oneoff(
        &mut self,
        mem: &mut GuestMem<'_>,
        subs_ptr: u32,
        events_ptr: u32,
        nsubs: u32,
        nevents_out: u32,
    ) -> R {
        if nsubs == 0 {
            return Err(Errno::Inval);
        }
        let subs_bytes = nsubs.checked_mul(size::SUBSCRIPTION).ok_or(Errno::Fault)?;
        mem.slice(subs_ptr, subs_bytes)?;
        let ev_bytes = nsubs.checked_mul(size::EVENT).ok_or(Errno::Fault)?;
        mem.slice(events_ptr, ev_bytes)?;

        let n = usize::try_from(nsubs).map_err(|_| Errno::Nomem)?;
        let mut subs: Vec<(u64, Sub)> = crate::fallible::transient_vec(&*self.services, n)?;
        let mut events: Vec<[u8; 32]> = crate::fallible::transient_vec(&*self.services, n)?;
        for i in 0..nsubs {
            let base = subs_ptr + i * size::SUBSCRIPTION; // in range: checked above
            let userdata = mem.read_u64(base)?;
            let tag = mem.read_u8(base + 8)?;
            let sub = match tag {
                eventtype::CLOCK => {
                    let id = mem.read_u32(base + 16)?;
                    let timeout = mem.read_u64(base + 24)?;
                    let flags = mem.read_u16(base + 40)?;
                    if flags & !abi::SUBCLOCK_ABSTIME != 0 {
                        return Err(Errno::Inval);
                    }
                    let abs = flags & abi::SUBCLOCK_ABSTIME != 0;
                    let mono_now = self.services.monotonic_now();
                    let deadline = match (id, abs) {
                        (clockid::MONOTONIC, true) => timeout,
                        (clockid::MONOTONIC | clockid::REALTIME, false) => {
                            mono_now.saturating_add(timeout)
                        }
                        (clockid::REALTIME, true) => {
                            let wall = self.services.wall_now();
                            mono_now.saturating_add(timeout.saturating_sub(wall))
                        }
                        _ => return Err(Errno::Inval),
                    };
                    Sub::Clock { deadline }
                }
                eventtype::FD_READ | eventtype::FD_WRITE => {
                    let fd = mem.read_u32(base + 16)?;
                    let e = self.fds.get(fd)?;
                    let ok = matches!(
                        (&e.kind, tag),
                        (Kind::Stdin, eventtype::FD_READ)
                            | (Kind::Stdout | Kind::Stderr, eventtype::FD_WRITE)
                            | (Kind::File { .. }, _)
                    );
                    if !ok {
                        return Err(Errno::Badf);
                    }
                    Sub::Fd { ty: tag, fd }
                }
                _ => return Err(Errno::Inval),
            };
            subs.push((userdata, sub));
        }

        loop {
            let now = self.services.monotonic_now();
            events.clear();
            let mut earliest: Option<u64> = None;
            for &(userdata, sub) in &subs {
                match sub {
                    Sub::Clock { deadline } => {
                        if deadline <= now {
                            events.push(event(userdata, Errno::Success, eventtype::CLOCK, 0, 0));
                        } else {
                            earliest = Some(earliest.map_or(deadline, |e: u64| e.min(deadline)));
                        }
                    }
                    Sub::Fd { ty, fd } => {
                        if let Some(ev) = self.fd_readiness(userdata, ty, fd) {
                            events.push(ev);
                        }
                    }
                }
            }
            if !events.is_empty() {
                let n = u32::try_from(events.len()).map_err(|_| Errno::Overflow)?;
                for (i, ev) in events.iter().enumerate() {
                    let off = u32::try_from(i).map_err(|_| Errno::Overflow)? * size::EVENT;
                    mem.write_bytes(events_ptr + off, ev)?; // in range: checked above
                }
                return mem.write_u32(nevents_out, n);
            }
            let until = match earliest {
                Some(deadline) => deadline,
                // Only not-ready stdin subscriptions: wait a little and look again.
                None => self.services.monotonic_now().saturating_add(1_000_000),
            };
            // A guest with a wall-clock limit sleeps at most until its deadline, and is
            // stopped instead of sleeping once it has passed.
            if let Some(w) = &mut self.watchdog {
                if w.expired(&mut *self.services) {
                    self.stop = true;
                    return Err(Errno::Intr);
                }
                self.services.sleep_until(w.cap(until));
            } else {
                self.services.sleep_until(until);
            }
        }
    }

    /// The readiness event of an fd subscription, if ready.
    fn fd_readiness(&mut self, userdata: u64, ty: u8, fd: u32) -> Option<[u8; 32]> {
        let e = self.fds.get(fd).ok()?;
        match &e.kind {
            Kind::Stdin => {
                if self.services.stdin_ready() {
                    Some(event(userdata, Errno::Success, ty, 1, 0))
                } else {
                    None
                }
            }
            Kind::Stdout | Kind::Stderr => Some(event(userdata, Errno::Success, ty, 1, 0)),
            Kind::File { fs, ino, pos } => {
                if ty == eventtype::FD_WRITE {
                    return Some(event(userdata, Errno::Success, ty, 1, 0));
                }
                let size = crate::fs_calls::file_size(fs, *ino).unwrap_or(0);
                let left = size.saturating_sub(*pos);
                let flags = if left == 0 { abi::EVENTRW_HANGUP } else { 0 };
                Some(event(userdata, Errno::Success, ty, 1, flags))
            }
            Kind::Dir { .. } => None,
        }
    }

    /// Descriptor entry, `EBADF` if closed.
    pub(crate) fn entry(&self, fd: u32) -> R<&Entry> {
        self.fds.get(fd)
    }
}

/// Encodes an `event` record.
fn event(userdata: u64, err: Errno, ty: u8, nbytes: u64, flags: u16) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0..8].copy_from_slice(&userdata.to_le_bytes());
    b[8..10].copy_from_slice(&err.raw().to_le_bytes());
    b[10] = ty;
    b[16..24].copy_from_slice(&nbytes.to_le_bytes());
    b[24..26].copy_from_slice(&flags.to_le_bytes());
    b
}
