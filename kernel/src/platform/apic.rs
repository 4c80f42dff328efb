//! The local APIC timer (xAPIC, MMIO at 0xFEE00000): one-shot interrupts that wake the CPU from
//! `hlt`, so a sleeping guest really sleeps instead of spinning, and that drive the wall-clock
//! watchdog. The timer's frequency is calibrated against the (already calibrated) TSC at boot.
//!
//! Watchdog: [`watchdog_arm`] programs the timer for a guest's deadline and enables interrupts
//! while the guest runs; the interrupt sets [`watchdog_fired`]'s flag at the deadline, which
//! `wasi_impl` checks between fuel slices (together with the TSC, so the watchdog still works
//! when there is no usable APIC, e.g. under SEV-SNP), and ends the run if the guest is still
//! running [`elastic_core::watchdog::HARD_STOP_GRACE_NS`] later (stuck in a host call). The
//! decisions are `elastic_core::watchdog`'s. With interrupts enabled during guest execution,
//! the interrupt path must stay free of locks, allocation and AVX (the entry stubs save only
//! the legacy SSE state): it reads the TSC, writes APIC registers and atomics, nothing else.
//! Under SEV-SNP the kernel does not initialise the APIC (its MMIO would need #VC emulation,
//! and an EOI from interrupt context would race the GHCB): [`watchdog_arm`] then only records
//! the deadline, interrupts stay off, and the watchdog is the TSC comparison between fuel
//! slices (with Secure TSC, a clock the hypervisor cannot skew), sleeps spinning up to it.

use super::{cpu, interrupts};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use elastic_core::watchdog::{self as policy, TimerAction};

const BASE: u64 = 0xFEE0_0000;
const REG_EOI: u64 = 0xB0;
const REG_SVR: u64 = 0xF0;
const REG_LVT_TIMER: u64 = 0x320;
const REG_INITIAL_COUNT: u64 = 0x380;
const REG_CURRENT_COUNT: u64 = 0x390;
const REG_DIVIDE: u64 = 0x3E0;
const LVT_MASKED: u32 = 1 << 16;

/// The timer's interrupt vector.
pub const TIMER_VECTOR: u8 = 48;
/// The spurious-interrupt vector (low four bits set, as old xAPICs require).
pub const SPURIOUS_VECTOR: u8 = 63;

static TIMER_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// The armed watchdog's TSC deadline; 0 when disarmed.
static WATCHDOG_DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Set by the timer interrupt once the deadline has passed.
static WATCHDOG_FIRED: AtomicBool = AtomicBool::new(false);

fn read(reg: u64) -> u32 {
    // SAFETY: the APIC page is mapped uncached (paging plan) and `reg` is an APIC register.
    unsafe { core::ptr::read_volatile((BASE + reg) as *const u32) }
}

fn write(reg: u64, value: u32) {
    // SAFETY: as for `read`; writes to these registers only affect the local APIC.
    unsafe { core::ptr::write_volatile((BASE + reg) as *mut u32, value) }
}

fn on_interrupt(vector: u8) {
    if vector != SPURIOUS_VECTOR {
        write(REG_EOI, 0);
    }
    if vector == TIMER_VECTOR {
        watchdog_tick();
    }
}

/// Programs a one-shot interrupt at TSC `target` (no-op without a calibrated timer).
fn program(target: u64) {
    let timer_hz = TIMER_HZ.load(Ordering::Relaxed);
    let tsc_hz = TSC_HZ.load(Ordering::Relaxed);
    if timer_hz == 0 || tsc_hz == 0 {
        return;
    }
    let ticks = policy::ticks_for(target.saturating_sub(cpu::rdtsc()), timer_hz, tsc_hz);
    write(REG_LVT_TIMER, u32::from(TIMER_VECTOR)); // one-shot, unmasked
    write(REG_INITIAL_COUNT, ticks);
}

/// The watchdog's part of a timer interrupt (interrupt context: no locks, no allocation).
fn watchdog_tick() {
    let deadline = WATCHDOG_DEADLINE.load(Ordering::Acquire);
    if deadline == 0 {
        return;
    }
    let grace = policy::grace_tsc(TSC_HZ.load(Ordering::Relaxed));
    match policy::on_timer(
        cpu::rdtsc(),
        deadline,
        WATCHDOG_FIRED.load(Ordering::Acquire),
        grace,
    ) {
        TimerAction::Wait { until } => program(until),
        TimerAction::Fire { hard_stop_at } => {
            WATCHDOG_FIRED.store(true, Ordering::Release);
            program(hard_stop_at);
        }
        TimerAction::HardStop => {
            use core::fmt::Write;
            let _ = writeln!(
                super::console::emergency(),
                "\nwatchdog: the guest is still running {} s after its wall-clock limit \
                 (stuck in a host call); ending the run",
                policy::HARD_STOP_GRACE_NS / 1_000_000_000
            );
            super::exit(elastic_core::exit::ExitReason::Watchdog);
        }
    }
}

/// Arms the watchdog for TSC `deadline`: with a calibrated timer, programs it and enables
/// interrupts until [`watchdog_disarm`]; without one, only [`watchdog_deadline`] is set (the
/// caller's TSC comparisons then do the work).
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn watchdog_arm(deadline: u64) {
    x86_64::instructions::interrupts::disable();
    WATCHDOG_FIRED.store(false, Ordering::Release);
    WATCHDOG_DEADLINE.store(deadline.max(1), Ordering::Release);
    if TIMER_HZ.load(Ordering::Relaxed) != 0 {
        program(deadline);
        x86_64::instructions::interrupts::enable();
    }
}

/// Disarms the watchdog: interrupts off again, timer stopped, flag cleared.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn watchdog_disarm() {
    x86_64::instructions::interrupts::disable();
    WATCHDOG_DEADLINE.store(0, Ordering::Release);
    WATCHDOG_FIRED.store(false, Ordering::Release);
    if TIMER_HZ.load(Ordering::Relaxed) != 0 {
        write(REG_INITIAL_COUNT, 0);
    }
}

/// True once the timer interrupt has seen the armed deadline pass.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn watchdog_fired() -> bool {
    WATCHDOG_FIRED.load(Ordering::Acquire)
}

/// The armed watchdog's TSC deadline, if any.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn watchdog_deadline() -> Option<u64> {
    match WATCHDOG_DEADLINE.load(Ordering::Acquire) {
        0 => None,
        d => Some(d),
    }
}

/// Enables the APIC, installs the timer interrupt and measures the timer frequency over about
/// 2 ms of TSC time. Returns the timer frequency in Hz, or `None` without a usable APIC.
pub fn init(tsc_hz: u64) -> Option<u64> {
    // IA32_APIC_BASE (0x1B): bit 11 = enabled; the base must be the default address.
    let base = cpu::rdmsr(0x1B);
    if base & (1 << 11) == 0 || base & 0xF_FFFF_F000 != BASE {
        return None;
    }
    interrupts::set_irq_handler(on_interrupt);
    write(REG_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
    write(REG_DIVIDE, 0b1011); // divide by 1
    write(REG_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(REG_INITIAL_COUNT, u32::MAX);
    let start = cpu::rdtsc();
    let span = tsc_hz / 500;
    while cpu::rdtsc().wrapping_sub(start) < span {
        core::hint::spin_loop();
    }
    let elapsed_tsc = cpu::rdtsc().wrapping_sub(start);
    let counted = u64::from(u32::MAX - read(REG_CURRENT_COUNT));
    write(REG_INITIAL_COUNT, 0);
    if counted == 0 || elapsed_tsc == 0 {
        return None;
    }
    let hz = (u128::from(counted) * u128::from(tsc_hz) / u128::from(elapsed_tsc)) as u64;
    TIMER_HZ.store(hz, Ordering::Relaxed);
    TSC_HZ.store(tsc_hz, Ordering::Relaxed);
    Some(hz)
}

/// Halts until the TSC reaches `deadline`, waking by timer interrupts. Without a timer (init
/// failed) it spins.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn sleep_until_tsc(deadline: u64) {
    sleep_until_tsc_counting(deadline);
}

/// [`sleep_until_tsc`], returning how many times the CPU woke from `hlt`. Returns early once
/// an armed watchdog has fired (the guest is to be stopped, not to sleep on). Runs with
/// interrupts disabled except inside `hlt` (so an interrupt between the check and the `hlt`
/// cannot be lost) and restores the caller's interrupt state and the watchdog's timer.
pub fn sleep_until_tsc_counting(deadline: u64) -> u64 {
    use x86_64::instructions::interrupts;
    let were_enabled = interrupts::are_enabled();
    interrupts::disable();
    let timer = TIMER_HZ.load(Ordering::Relaxed) != 0 && TSC_HZ.load(Ordering::Relaxed) != 0;
    let mut wakeups = 0;
    loop {
        if cpu::rdtsc() >= deadline || watchdog_fired() {
            break;
        }
        if !timer {
            core::hint::spin_loop();
            continue;
        }
        program(policy::next_wakeup(deadline, watchdog_deadline()));
        cpu::wait_for_interrupt();
        wakeups += 1;
    }
    // The sleep reprogrammed the one-shot timer: hand it back to the watchdog.
    if timer && let Some(d) = watchdog_deadline() {
        if watchdog_fired() {
            program(d.saturating_add(policy::grace_tsc(TSC_HZ.load(Ordering::Relaxed))));
        } else {
            program(d);
        }
    }
    if were_enabled {
        interrupts::enable();
    }
    wakeups
}
