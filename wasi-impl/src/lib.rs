//! `wasi-impl`: the one implementation of WASI preview1 (`wasi_snapshot_preview1`) that both
//! the Elastic kernel and the host runner (`elastic run`) use, interpreted by `wasmi`.
//!
//! The embedder calls [`run`] with the module bytes, a [`GuestConfig`] (arguments,
//! environment, preopened ramfs directories, [`Limits`]) and its platform [`Services`]
//! (clocks, randomness, stdio, sleeping). Every function of `wasi_snapshot_preview1` as the
//! witx definitions list them is provided (see `docs/wasi.md` for the errno semantics chosen,
//! which follow wasmtime's preview1 implementation, and the places where they differ).
//!
//! Modules: [`guest_mem`] (bounds-checked guest memory), [`abi`] (witx constants and record
//! layouts), `fdtable` (descriptors and rights), `ctx` and `fs_calls` (the WASI functions),
//! `link` (the wasmi glue), `runner` (loading, limits and outcome), `shadow` (the shadow call
//! stack behind wasm backtraces), `watchdog` and `start` (the wall-clock limit: fuel slices,
//! deferred start functions); host modules beyond WASI: [`crypto`] (wasi-crypto,
//! symmetric) and [`snp_api`] (`elastic_snp`, SEV-SNP attestation).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
// Everything here serves a guest that may be hostile: no panicking shortcuts outside tests
// (docs/robustness.md, "Panic-freedom and fallible allocation").
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

extern crate alloc;

pub mod abi;
pub mod crypto;
mod ctx;
mod fallible;
mod fdtable;
mod fs_calls;
pub mod guest_mem;
mod link;
mod runner;
mod shadow;
pub mod snp_api;
mod start;
#[cfg(test)]
mod tests;
mod watchdog;

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

pub use elastic_ramfs as ramfs;
pub use elastic_ramfs::Errno;
pub use runner::run;
pub use snp_api::{ClockTrust, SnpError};
pub use watchdog::FUEL_SLICE;

/// A ramfs shared between guests (the kernel may run several guests over one filesystem).
pub type SharedFs = Rc<RefCell<ramfs::Ramfs>>;

/// A directory handed to the guest as a preopened descriptor (fd 3, 4, ... in order).
#[derive(Debug, Clone)]
pub struct Preopen {
    /// The name the guest sees (`fd_prestat_dir_name`), e.g. `"/data"` or `"."`.
    pub guest_path: String,
    /// The filesystem holding the directory.
    pub fs: SharedFs,
    /// The directory's inode in `fs`; path resolution never leaves it.
    pub dir: ramfs::Ino,
    /// If true the guest may read but not create, change or remove anything beneath it.
    pub readonly: bool,
}

/// Per-guest resource limits. Each one, when hit, is reported naming the limit
/// ([`Outcome::LimitExceeded`]). The ramfs's byte/inode quota is the filesystem's own.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Instruction budget in wasmi fuel units; `None` = unlimited (fuel is still counted).
    pub fuel: Option<u64>,
    /// Largest linear memory in bytes; `memory.grow` past it returns -1.
    pub max_memory_bytes: u64,
    /// Largest table, in elements; `table.grow` past it returns -1.
    pub max_table_elements: u32,
    /// Most descriptors open at once (stdio and preopens included); more gives `EMFILE`.
    pub max_open_fds: u32,
    /// Largest accepted module, in bytes.
    pub max_module_bytes: usize,
    /// Deepest wasm call nesting (wasmi's recursion limit; its own default is only 1000).
    /// Deeper calls trap with [`TrapKind::StackOverflow`], naming this limit.
    pub max_call_depth: u32,
    /// Largest wasmi value stack in bytes (allocated as used).
    pub max_stack_bytes: usize,
    /// Wall-clock limit in milliseconds, counted from the start of [`run`] (module loading
    /// included); `None` = none. Enforced by the watchdog (see [`Services::watchdog_arm`]):
    /// the guest then runs in fuel slices of [`FUEL_SLICE`] and is stopped at the first slice
    /// boundary, or sleep, after the deadline ([`LimitKind::WallTime`]).
    pub wall_time_ms: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: None,
            max_memory_bytes: 4 << 30,
            max_table_elements: 1 << 20,
            max_open_fds: 1024,
            max_module_bytes: 64 << 20,
            max_call_depth: 20_000,
            max_stack_bytes: 64 << 20,
            wall_time_ms: None,
        }
    }
}

/// Everything about one guest except the module bytes and the platform.
#[derive(Debug, Clone)]
pub struct GuestConfig {
    /// Module name used in messages (e.g. the file name).
    pub name: String,
    /// `argv`, including `argv[0]`.
    pub args: Vec<String>,
    /// Environment as `(key, value)` pairs, given to the guest as `key=value`.
    pub env: Vec<(String, String)>,
    /// Preopened directories, numbered from fd 3 in this order.
    pub preopens: Vec<Preopen>,
    /// Resource limits.
    pub limits: Limits,
    /// Keep a shadow call stack so traps report wasm frames (default: on; costs a few
    /// instructions per call).
    pub wasm_backtrace: bool,
}

impl Default for GuestConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            args: Vec::new(),
            env: Vec::new(),
            preopens: Vec::new(),
            limits: Limits::default(),
            wasm_backtrace: true,
        }
    }
}

/// Platform services the embedder provides (the kernel: TSC/RTC clocks, CTR_DRBG, serial
/// console, `hlt` until a timer interrupt; the host runner: `std`).
pub trait Services {
    /// Monotonic clock now, in ns since an arbitrary fixed point.
    fn monotonic_now(&mut self) -> u64;
    /// Monotonic clock resolution in ns.
    fn monotonic_resolution(&self) -> u64;
    /// Wall clock now, in ns since the Unix epoch.
    fn wall_now(&mut self) -> u64;
    /// Wall clock resolution in ns.
    fn wall_resolution(&self) -> u64;
    /// Fills `buf` from a cryptographically secure generator (`random_get`).
    fn random(&mut self, buf: &mut [u8]);
    /// Writes guest stdout bytes.
    fn stdout(&mut self, bytes: &[u8]);
    /// Writes guest stderr bytes.
    fn stderr(&mut self, bytes: &[u8]);
    /// Reads stdin into `buf`; `Ok(0)` is end of input.
    fn read_stdin(&mut self, buf: &mut [u8]) -> Result<usize, Errno>;
    /// True if a `read_stdin` would not block (used by `poll_oneoff`). Default: always ready.
    fn stdin_ready(&mut self) -> bool {
        true
    }
    /// Blocks until the monotonic clock reaches `deadline_ns` (kernel: halt until a timer
    /// interrupt; never a busy spin).
    fn sleep_until(&mut self, deadline_ns: u64);
    /// `sched_yield`: lets other work run.
    fn sched_yield(&mut self) {}
    /// True if `bytes` more heap may go to data a guest asked for (linear memory growth,
    /// host copies of large guest buffers, wasi-crypto state, descriptors) while leaving the
    /// embedder the reserve its own infallible allocations need. A `false` answer becomes an
    /// error for the guest (`ENOMEM`, a failed `memory.grow`, ...), never an allocation
    /// failure. The guest's ramfs asks its own gauge ([`ramfs::Ramfs::set_headroom`]).
    /// Default: always true (a host with virtual memory; allocation is still fallible).
    fn has_heap_room(&self, bytes: usize) -> bool {
        let _ = bytes;
        true
    }
    /// True if the stdio descriptor `fd` (0, 1 or 2) is a terminal (reported as a character
    /// device by `fd_fdstat_get`, as wasmtime does). Default: not a terminal.
    fn is_tty(&self, fd: u32) -> bool {
        let _ = fd;
        false
    }
    /// A 32-byte sealing key bound to this guest's launch, for the wasi-crypto managed key
    /// `elastic.sealing:<field_select as 16 hex digits>` (see [`crypto`]). Under SEV-SNP the
    /// kernel derives it with the PSP's MSG_KEY_REQ (AMD 56860), `field_select` being its
    /// GUEST_FIELD_SELECT bits (which guest fields — policy, image ID, family ID,
    /// measurement, SVN, TCB version — are mixed in). Default: no sealing key (`None`), which
    /// the guest sees as `unsupported_feature`.
    fn sealing_key(&mut self, field_select: u64) -> Option<[u8; 32]> {
        let _ = field_select;
        None
    }
    /// True if Elastic runs as an AMD SEV-SNP guest with a working guest-message channel
    /// (`elastic_snp::is_snp`). When false, every other `elastic_snp` call returns `notsup`
    /// without calling the `snp_*` methods. Default: false.
    fn is_snp_guest(&self) -> bool {
        false
    }
    /// An attestation report (MSG_REPORT_REQ, AMD 56860 §7, Table 22) binding `report_data`,
    /// for `vmpl` (0..=3, already checked): exactly [`snp_api::REPORT_SIZE`] raw bytes as the
    /// PSP returned them (any other length reaches the guest as `io`). Default:
    /// `NotSupported`.
    fn snp_report(&mut self, report_data: &[u8; 64], vmpl: u32) -> Result<Vec<u8>, SnpError> {
        let _ = (report_data, vmpl);
        Err(SnpError::NotSupported)
    }
    /// The host's certificate table from the extended guest request (AMD 56421 §4.1.8.2,
    /// GUID/offset/length entries then the certificates), empty if the host supplied none.
    /// The guest may call this twice (size, then data), so the embedder should fetch once
    /// and keep it. Default: `NotSupported`.
    fn snp_certificates(&mut self) -> Result<Vec<u8>, SnpError> {
        Err(SnpError::NotSupported)
    }
    /// The PSP's derived key (MSG_KEY_REQ, AMD 56860 §7, Table 18; root key VCEK, the
    /// kernel's VMPL) mixing in the `GUEST_FIELD_SELECT` bits `field_select` (reserved bits
    /// already refused). The guest only ever sees HMAC-SHA-256 of it (see [`snp_api`]). Default:
    /// `NotSupported`.
    fn snp_derived_key(&mut self, field_select: u64) -> Result<[u8; 32], SnpError> {
        let _ = field_select;
        Err(SnpError::NotSupported)
    }
    /// How far the clocks can be trusted (`elastic_snp::clock_trust`). Default:
    /// [`ClockTrust::None`].
    fn clock_trust(&self) -> ClockTrust {
        ClockTrust::None
    }
    /// The wall-clock watchdog of a guest with [`Limits::wall_time_ms`]: [`run`] calls this
    /// with `Some(deadline)` (monotonic ns, as [`Services::monotonic_now`]) before loading the
    /// module and with `None` when the guest has ended, on every path. The embedder may arm a
    /// timer that makes [`Services::watchdog_fired`] true at the deadline (the kernel: the
    /// local APIC timer interrupt). Default: nothing; `run` compares
    /// [`Services::monotonic_now`] with the deadline itself, so the watchdog works without it.
    fn watchdog_arm(&mut self, deadline_ns: Option<u64>) {
        let _ = deadline_ns;
    }
    /// True once the embedder's watchdog timer has fired (a cheap check, e.g. an atomic flag
    /// set by an interrupt). Consulted, together with the clock, at every fuel-slice boundary
    /// and around sleeps. Default: false.
    fn watchdog_fired(&mut self) -> bool {
        false
    }
}

/// Which configured limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// [`Limits::fuel`].
    Fuel,
    /// [`Limits::max_memory_bytes`].
    Memory,
    /// [`Limits::max_table_elements`].
    Table,
    /// [`Limits::max_module_bytes`].
    ModuleBytes,
    /// [`Limits::max_open_fds`] (only when the preopens alone exceed it; `path_open` past it
    /// returns `EMFILE` to the guest).
    OpenFds,
    /// [`Limits::wall_time_ms`]: the watchdog stopped the guest.
    WallTime,
    /// Not a configured limit: the embedder's heap ([`Services::has_heap_room`]) could not
    /// take the linear memory or table growth the guest asked for.
    HostMemory,
}

impl LimitKind {
    /// The limit's name as the embedder's configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Fuel => "fuel",
            LimitKind::Memory => "max_memory_bytes",
            LimitKind::Table => "max_table_elements",
            LimitKind::ModuleBytes => "max_module_bytes",
            LimitKind::OpenFds => "max_open_fds",
            LimitKind::WallTime => "wall_time_ms",
            LimitKind::HostMemory => "host memory",
        }
    }
}

/// Kind of a trap, from wasmi's `TrapCode` or raised by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// `unreachable` executed (Rust `panic`/`abort` ends here).
    Unreachable,
    /// Out-of-bounds linear memory access.
    MemoryOutOfBounds,
    /// Out-of-bounds table access.
    TableOutOfBounds,
    /// `call_indirect` to a null entry.
    IndirectCallToNull,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Integer overflow (e.g. `i32.div_s` of MIN by -1).
    IntegerOverflow,
    /// Float to int conversion of NaN or an out-of-range value.
    BadConversionToInteger,
    /// Call stack exhausted.
    StackOverflow,
    /// `call_indirect` signature mismatch.
    BadSignature,
    /// The host ended the guest (e.g. `proc_exit` with a code >= 126, as wasmtime does).
    Host,
    /// Anything else wasmi reports.
    Other,
}

/// A trap: its kind, wasmi's message, and what is known of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapInfo {
    /// The kind.
    pub kind: TrapKind,
    /// wasmi's message (or the host's).
    pub message: String,
    /// Innermost first: for a host trap the host (WASI) function, then the wasm frames from
    /// the shadow call stack (`func[INDEX] NAME`, names from the `name` section, at most 100
    /// plus a count), then a `(last WASI call: ...)` hint. Without the shadow stack
    /// ([`GuestConfig::wasm_backtrace`] off, or a module it cannot rewrite) only the host
    /// function / last-call entries (wasmi 2.0 has no backtrace API; see `docs/wasi.md`).
    pub backtrace: Vec<String>,
}

/// How a guest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `proc_exit(code)` or `_start` returned (code 0).
    Exited(u32),
    /// The guest trapped.
    Trapped(TrapInfo),
    /// A configured limit ended the guest.
    LimitExceeded {
        /// Which limit.
        which: LimitKind,
        /// What happened, naming the limit and its value.
        message: String,
    },
    /// The module could not be loaded, linked or started; the message names the module
    /// (and for unknown imports the import's module and function).
    LoadFailed(String),
}

/// What [`run`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// How the guest ended.
    pub outcome: Outcome,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Largest linear memory size reached, in bytes.
    pub peak_memory_bytes: u64,
}
