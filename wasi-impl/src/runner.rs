//! Loading, linking, limiting and running one guest, and turning wasmi's result into a
//! [`RunReport`].
//!
//! Limits: the module size is checked before parsing; fuel uses wasmi's fuel metering (always
//! on, so `fuel_used` is reported even without a limit; running out ends the guest); memory
//! and table growth go through a wasmi `ResourceLimiter` that refuses growth past the limit
//! (`memory.grow` returns -1 as the Wasm spec allows; a guest that then traps, as Rust's
//! allocator does, is reported as `LimitExceeded`); open fds are capped by the fd table.
//! Growth the limits allow is also put to the embedder's heap gauge
//! ([`Services::has_heap_room`]): refused growth fails the same way and is reported as
//! [`LimitKind::HostMemory`].

use crate::abi::rights;
use crate::ctx::Ctx;
use crate::fdtable::{Entry, FdTable, Kind};
use crate::link::{HostTrap, WASI_MODULE, WatchdogStop, add_to_linker};
use crate::start::{START_EXPORT, Start};
use crate::watchdog::{FUEL_SLICE, FuelMeter, Watchdog};
use crate::{GuestConfig, LimitKind, Outcome, RunReport, Services, TrapInfo, TrapKind};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use wasmi::{
    Config, Engine, Error, Func, Linker, Module, ResourceLimiter, ResumableCall, Store, TrapCode,
};
use wasmi_core::LimiterError;

/// Memory/table limiter kept in the store (the store's `ResourceLimiter` is [`Ctx`], which
/// adds the embedder's heap gauge).
#[derive(Debug)]
pub struct Limiter {
    max_memory: u64,
    max_table: u32,
    /// Largest memory size granted.
    pub peak_memory: u64,
    /// The first refused growth: which limit and a message.
    pub denied: Option<(LimitKind, String)>,
}

/// Heap asked of the gauge per module byte before a module is compiled: the rewritten copy
/// (`shadow`) and wasmi's parsed and validated module (its own allocations are infallible).
/// An estimate: a module the heap cannot plausibly hold is refused with a message instead
/// of ending the kernel with an allocation failure.
const LOAD_HEADROOM_FACTOR: usize = 4;

/// Heap bytes per table element asked of the gauge (a wasmi table entry is 8 bytes; the
/// margin covers the reallocation).
const TABLE_ELEMENT_HEADROOM: usize = 16;

impl Limiter {
    /// Records the first refusal.
    fn deny(&mut self, which: LimitKind, message: impl FnOnce() -> String) {
        if self.denied.is_none() {
            self.denied = Some((which, message()));
        }
    }

    /// `memory.grow` (and the initial allocation) from `current` to `desired` bytes;
    /// `heap_ok`: the embedder's gauge grants the growth.
    fn memory_growing(&mut self, current: usize, desired: usize, heap_ok: bool) -> bool {
        let want = desired as u64;
        if want > self.max_memory {
            if self.denied.is_none() {
                self.denied = Some((
                    LimitKind::Memory,
                    format!(
                        "linear memory growth from {current} to {desired} bytes refused: \
                         limit max_memory_bytes = {}",
                        self.max_memory
                    ),
                ));
            }
            return false;
        }
        if !heap_ok {
            let max = self.max_memory;
            self.deny(LimitKind::HostMemory, || {
                format!(
                    "linear memory growth from {current} to {desired} bytes refused: the host \
                     heap cannot hold it (limit max_memory_bytes = {max} not reached)"
                )
            });
            return false;
        }
        self.peak_memory = self.peak_memory.max(want);
        true
    }

    /// `table.grow` (and the initial allocation) from `current` to `desired` elements.
    fn table_growing(&mut self, current: usize, desired: usize, heap_ok: bool) -> bool {
        if desired as u64 > u64::from(self.max_table) {
            if self.denied.is_none() {
                self.denied = Some((
                    LimitKind::Table,
                    format!(
                        "table growth from {current} to {desired} elements refused: \
                         limit max_table_elements = {}",
                        self.max_table
                    ),
                ));
            }
            return false;
        }
        if !heap_ok {
            self.deny(LimitKind::HostMemory, || {
                format!(
                    "table growth from {current} to {desired} elements refused: the host heap \
                     cannot hold it"
                )
            });
            return false;
        }
        true
    }
}

impl ResourceLimiter for Ctx<'_> {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        // The gauge is asked for what the growth adds to the heap; a reallocation also needs
        // the new block while the old one lives, which the fallible allocation in wasmi
        // checks (a failure is `memory.grow` = -1 too).
        let heap_ok = self.services.has_heap_room(desired.saturating_sub(current));
        Ok(self.limiter.memory_growing(current, desired, heap_ok))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        let bytes = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_HEADROOM);
        let heap_ok = self.services.has_heap_room(bytes);
        Ok(self.limiter.table_growing(current, desired, heap_ok))
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        100
    }

    fn memories(&self) -> usize {
        // the guest's memory and the shadow-stack memory
        2
    }
}

fn trap_kind(code: TrapCode) -> TrapKind {
    match code {
        TrapCode::UnreachableCodeReached => TrapKind::Unreachable,
        TrapCode::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds => TrapKind::TableOutOfBounds,
        TrapCode::IndirectCallToNull => TrapKind::IndirectCallToNull,
        TrapCode::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        TrapCode::IntegerOverflow => TrapKind::IntegerOverflow,
        TrapCode::BadConversionToInteger => TrapKind::BadConversionToInteger,
        TrapCode::StackOverflow => TrapKind::StackOverflow,
        TrapCode::BadSignature => TrapKind::BadSignature,
        _ => TrapKind::Other,
    }
}

/// Runs a WASI command module: instantiates it, calls `_start`, and reports how it ended.
///
/// With [`Limits::wall_time_ms`](crate::Limits::wall_time_ms) the watchdog is armed first
/// ([`Services::watchdog_arm`]) and disarmed on every way out; the guest then runs in fuel
/// slices (see `watchdog`), and a start function is deferred (see `start`) so it runs in
/// slices too.
///
/// Never panics on any module bytes or guest behaviour; the outcome says what happened.
pub fn run(module_bytes: &[u8], config: GuestConfig, services: &mut dyn Services) -> RunReport {
    let watchdog = config.limits.wall_time_ms.map(|ms| {
        let w = Watchdog::new(services.monotonic_now(), ms);
        services.watchdog_arm(Some(w.deadline_ns));
        w
    });
    let report = run_guest(module_bytes, config, &mut *services, watchdog);
    if watchdog.is_some() {
        services.watchdog_arm(None);
    }
    report
}

/// Why a sliced call stopped early.
enum Stop {
    /// A trap, a host error (`proc_exit` included) or another wasmi error.
    Error(Error),
    /// The guest's own fuel limit ran out.
    OutOfFuel,
    /// The watchdog expired at a slice boundary.
    Watchdog,
}

/// Settles the store's fuel with the guest's meter (`Ctx::meter`, set under the watchdog).
fn settle(store: &mut Store<Ctx<'_>>) {
    let left = store.get_fuel().unwrap_or(0);
    if let Some(meter) = store.data_mut().meter.as_mut() {
        meter.settle(left);
    }
}

/// Calls `func` (no parameters, no results) in fuel slices, checking the watchdog between
/// slices. The store's fuel is topped up from the guest's meter at each boundary.
fn call_sliced(
    store: &mut Store<Ctx<'_>>,
    func: Func,
    watchdog: &mut Watchdog,
) -> Result<(), Stop> {
    let mut step = func.call_resumable(&mut *store, &[], &mut []);
    loop {
        settle(store);
        let out_of_fuel = match step {
            Err(e) => return Err(Stop::Error(e)),
            Ok(ResumableCall::Finished) => return Ok(()),
            Ok(ResumableCall::HostTrap(t)) => return Err(Stop::Error(t.into_host_error())),
            Ok(ResumableCall::OutOfFuel(r)) => r,
        };
        if watchdog.expired(&mut *store.data_mut().services) {
            return Err(Stop::Watchdog);
        }
        let required = out_of_fuel.required_fuel();
        let Some(fuel) = store
            .data_mut()
            .meter
            .as_mut()
            .and_then(|m| m.grant(required))
        else {
            return Err(Stop::OutOfFuel);
        };
        if let Err(e) = store.set_fuel(fuel) {
            return Err(Stop::Error(e));
        }
        step = out_of_fuel.resume(&mut *store, &mut []);
    }
}

fn out_of_fuel(name: &str) -> Outcome {
    Outcome::LimitExceeded {
        which: LimitKind::Fuel,
        message: format!("module {name}: all fuel consumed: limit fuel exhausted"),
    }
}

fn run_guest(
    module_bytes: &[u8],
    config: GuestConfig,
    services: &mut dyn Services,
    mut watchdog: Option<Watchdog>,
) -> RunReport {
    let name = config.name.clone();
    let limits = config.limits.clone();
    let fail = |outcome| RunReport {
        outcome,
        fuel_used: 0,
        peak_memory_bytes: 0,
    };
    if module_bytes.len() > limits.max_module_bytes {
        return fail(Outcome::LimitExceeded {
            which: LimitKind::ModuleBytes,
            message: format!(
                "module {name}: {} bytes exceeds limit max_module_bytes = {}",
                module_bytes.len(),
                limits.max_module_bytes
            ),
        });
    }
    if !services.has_heap_room(module_bytes.len().saturating_mul(LOAD_HEADROOM_FACTOR)) {
        return fail(Outcome::LimitExceeded {
            which: LimitKind::HostMemory,
            message: format!(
                "module {name}: {} bytes: the host heap cannot hold the module while it is \
                 compiled",
                module_bytes.len()
            ),
        });
    }
    let mut wconfig = Config::default();
    wconfig.consume_fuel(true);
    wconfig.set_max_recursion_depth(limits.max_call_depth as usize);
    // wasmi panics if the maximum is below its minimum (1000 bytes): keep it above.
    wconfig.set_max_stack_height(limits.max_stack_bytes.max(1 << 16));
    let engine = Engine::new(&wconfig);
    // Under the watchdog a start function must run in slices: export it instead (see `start`).
    let start = if watchdog.is_some() {
        crate::start::defer(module_bytes)
    } else {
        Start::Absent
    };
    let base: &[u8] = match &start {
        Start::Deferred(rewritten) => rewritten,
        Start::Absent | Start::Unsupported => module_bytes,
    };
    // Prefer the module with a shadow call stack (see `shadow`); fall back to the original
    // bytes if the rewrite is not possible or does not compile, so errors name the original.
    let shadowed = if config.wasm_backtrace {
        crate::shadow::instrument(base).and_then(|m| Module::new(&engine, m).ok())
    } else {
        None
    };
    let has_shadow = shadowed.is_some();
    let module = match shadowed {
        Some(m) => m,
        None => match Module::new(&engine, base) {
            Ok(m) => m,
            Err(e) => return fail(Outcome::LoadFailed(format!("module {name}: {e}"))),
        },
    };
    if start == Start::Unsupported {
        return fail(Outcome::LoadFailed(format!(
            "module {name}: its start function cannot run under the watchdog (wall_time_ms): \
             the start section could not be deferred (is `{START_EXPORT}` already exported?)"
        )));
    }

    let mut linker: Linker<Ctx<'_>> = Linker::new(&engine);
    if let Err(e) = add_to_linker(&mut linker) {
        return fail(Outcome::LoadFailed(format!("module {name}: linker: {e}")));
    }
    for imp in module.imports() {
        let provided = (imp.module() == WASI_MODULE
            && crate::link::FUNCTIONS.contains(&imp.name()))
            || crate::crypto::link::provides(imp.module(), imp.name())
            || crate::snp_api::link::provides(imp.module(), imp.name());
        if !provided || !matches!(imp.ty(), wasmi::ExternType::Func(_)) {
            return fail(Outcome::LoadFailed(format!(
                "module {name}: unknown import `{}::{}`",
                imp.module(),
                imp.name()
            )));
        }
    }

    let mut fds = FdTable::new(limits.max_open_fds.max(3));
    for k in [Kind::Stdin, Kind::Stdout, Kind::Stderr] {
        if let Err(e) = fds.push(Entry::stdio(k)) {
            return fail(Outcome::LoadFailed(format!("module {name}: stdio: {e}")));
        }
    }
    for p in &config.preopens {
        let strip = if p.readonly { rights::MUTATING } else { 0 };
        let e = Entry {
            kind: Kind::Dir {
                fs: p.fs.clone(),
                ino: p.dir,
                preopen: Some(p.guest_path.clone()),
            },
            base: rights::DIR_BASE & !strip,
            inheriting: rights::DIR_INHERITING & !strip,
            flags: 0,
            readonly: p.readonly,
        };
        if let Err(e) = fds.push(e) {
            return fail(Outcome::LimitExceeded {
                which: LimitKind::OpenFds,
                message: format!(
                    "module {name}: preopen {}: {e}: limit max_open_fds = {}",
                    p.guest_path, limits.max_open_fds
                ),
            });
        }
    }

    let ctx = Ctx {
        services,
        args: config.args.clone(),
        env: config.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        fds,
        limiter: Limiter {
            max_memory: limits.max_memory_bytes,
            max_table: limits.max_table_elements,
            peak_memory: 0,
            denied: None,
        },
        last_call: "",
        limits: (limits.max_call_depth, limits.max_stack_bytes),
        crypto: crate::crypto::CryptoCtx::default(),
        watchdog,
        stop: false,
        meter: watchdog.map(|_| FuelMeter::new(limits.fuel, FUEL_SLICE)),
    };
    let mut store = Store::new(&engine, ctx);
    store.limiter(|c| c);
    // Without a watchdog the whole budget goes into the store at once; with one, a slice.
    let initial_fuel = match store.data_mut().meter.as_mut() {
        Some(meter) => meter.grant(0).unwrap_or(0),
        None => limits.fuel.unwrap_or(u64::MAX),
    };
    if let Err(e) = store.set_fuel(initial_fuel) {
        return fail(Outcome::LoadFailed(format!("module {name}: fuel: {e}")));
    }
    let watchdog_stop = |w: &Watchdog| Outcome::LimitExceeded {
        which: LimitKind::WallTime,
        message: w.message(&name),
    };
    // The outcome of a failed instantiation (the start function included).
    let instantiation_failed = |e: &Error, ctx: &Ctx<'_>| match ctx.limiter.denied.clone() {
        Some((which, msg)) => Outcome::LimitExceeded {
            which,
            message: format!("module {name}: {msg}"),
        },
        None => classify(e, &name, ctx, true),
    };

    let outcome = match linker.instantiate_and_start(&mut store, &module) {
        Err(e) => instantiation_failed(&e, store.data()),
        Ok(instance) => {
            // The deferred start function, as instantiation would have run it.
            let started = match (&mut watchdog, &start) {
                (Some(w), Start::Deferred(_)) => {
                    match instance.get_typed_func::<(), ()>(&store, START_EXPORT) {
                        Err(e) => Err(Outcome::LoadFailed(format!(
                            "module {name}: start function: {e}"
                        ))),
                        Ok(f) => match call_sliced(&mut store, *f.func(), w) {
                            Ok(()) => Ok(()),
                            Err(Stop::Error(e)) => Err(instantiation_failed(&e, store.data())),
                            Err(Stop::OutOfFuel) => Err(out_of_fuel(&name)),
                            Err(Stop::Watchdog) => Err(watchdog_stop(w)),
                        },
                    }
                }
                _ => Ok(()),
            };
            match started {
                Err(o) => o,
                Ok(()) => match instance.get_typed_func::<(), ()>(&store, "_start") {
                    Err(e) => {
                        Outcome::LoadFailed(format!("module {name}: no `_start` function: {e}"))
                    }
                    Ok(start) => {
                        let result = match &mut watchdog {
                            Some(w) => call_sliced(&mut store, *start.func(), w),
                            None => start.call(&mut store, ()).map_err(Stop::Error),
                        };
                        match result {
                            Ok(()) => Outcome::Exited(0),
                            Err(Stop::OutOfFuel) => out_of_fuel(&name),
                            Err(Stop::Watchdog) => match &watchdog {
                                Some(w) => watchdog_stop(w),
                                None => out_of_fuel(&name), // unreachable: no watchdog, no stop
                            },
                            Err(Stop::Error(e)) => {
                                let mut o = classify(&e, &name, store.data(), false);
                                if has_shadow && let Outcome::Trapped(t) = &mut o {
                                    let frames = wasm_frames(&store, &instance, module_bytes);
                                    // host traps: the host function first, then the wasm
                                    // frames; wasm traps: the wasm frames, then the
                                    // last-WASI-call hint.
                                    if t.kind == TrapKind::Host {
                                        t.backtrace.extend(frames);
                                    } else {
                                        let hint = core::mem::replace(&mut t.backtrace, frames);
                                        t.backtrace.extend(hint);
                                    }
                                }
                                o
                            }
                        }
                    }
                },
            }
        }
    };
    store.data_mut().close_all();
    settle(&mut store);
    let fuel_used = match &store.data().meter {
        Some(meter) => meter.used(),
        None => initial_fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
    };
    let peak = store.data().limiter.peak_memory;
    RunReport {
        outcome,
        fuel_used,
        peak_memory_bytes: peak,
    }
}

/// The active wasm frames from the shadow stack, innermost first (at most 100).
fn wasm_frames(store: &Store<Ctx<'_>>, instance: &wasmi::Instance, original: &[u8]) -> Vec<String> {
    use crate::shadow::{DEPTH_EXPORT, STACK_EXPORT, frames, function_names};
    let (Some(mem), Some(depth)) = (
        instance.get_memory(store, STACK_EXPORT),
        instance.get_global(store, DEPTH_EXPORT),
    ) else {
        return Vec::new();
    };
    let wasmi::Val::I32(d) = depth.get(store) else {
        return Vec::new();
    };
    frames(mem.data(store), d as u32, &function_names(original), 100)
}

/// Maps a wasmi error from instantiation or `_start` to an [`Outcome`].
fn classify(e: &Error, name: &str, ctx: &Ctx<'_>, instantiating: bool) -> Outcome {
    if let Some(code) = e.i32_exit_status() {
        return Outcome::Exited(code as u32);
    }
    if let Some(code) = e.as_trap_code() {
        if code == TrapCode::OutOfFuel {
            return Outcome::LimitExceeded {
                which: LimitKind::Fuel,
                message: format!("module {name}: all fuel consumed: limit fuel exhausted"),
            };
        }
        if let Some((which, msg)) = ctx.limiter.denied.clone() {
            return Outcome::LimitExceeded {
                which,
                message: format!("module {name}: {msg}; the guest then trapped: {e}"),
            };
        }
        if code == TrapCode::OutOfSystemMemory {
            // wasmi's own fallible allocations (value stack, tables, memories).
            return Outcome::LimitExceeded {
                which: LimitKind::HostMemory,
                message: format!("module {name}: {e}"),
            };
        }
        let backtrace = if ctx.last_call.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "(last WASI call: {WASI_MODULE}::{})",
                ctx.last_call
            )]
        };
        let mut message = e.to_string();
        if code == TrapCode::StackOverflow {
            message = format!(
                "{message} (limits max_call_depth = {}, max_stack_bytes = {})",
                ctx.limits.0, ctx.limits.1
            );
        }
        return Outcome::Trapped(TrapInfo {
            kind: trap_kind(code),
            message,
            backtrace,
        });
    }
    if let Some(h) = e.kind().as_host()
        && h.downcast_ref::<WatchdogStop>().is_some()
        && let Some(w) = &ctx.watchdog
    {
        return Outcome::LimitExceeded {
            which: LimitKind::WallTime,
            message: w.message(name),
        };
    }
    if let Some(h) = e.kind().as_host()
        && let Some(t) = h.downcast_ref::<HostTrap>()
    {
        {
            return Outcome::Trapped(TrapInfo {
                kind: TrapKind::Host,
                message: t.0.clone(),
                backtrace: vec![format!("{WASI_MODULE}::{} (host)", ctx.last_call)],
            });
        }
    }
    if instantiating {
        Outcome::LoadFailed(format!("module {name}: {e}"))
    } else {
        Outcome::Trapped(TrapInfo {
            kind: TrapKind::Other,
            message: e.to_string(),
            backtrace: Vec::new(),
        })
    }
}
