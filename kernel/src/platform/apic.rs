//! The local APIC timer (xAPIC, MMIO at 0xFEE00000): one-shot interrupts that wake the CPU from
//! `hlt`, so a sleeping guest really sleeps instead of spinning. The timer's frequency is
//! calibrated against the (already calibrated) TSC at boot.

use super::{cpu, interrupts};
use core::sync::atomic::{AtomicU64, Ordering};

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
pub fn sleep_until_tsc(deadline: u64) {
    let timer_hz = TIMER_HZ.load(Ordering::Relaxed);
    let tsc_hz = TSC_HZ.load(Ordering::Relaxed);
    loop {
        let now = cpu::rdtsc();
        if now >= deadline {
            return;
        }
        if timer_hz == 0 || tsc_hz == 0 {
            core::hint::spin_loop();
            continue;
        }
        let remaining = deadline - now;
        let ticks = (u128::from(remaining) * u128::from(timer_hz) / u128::from(tsc_hz))
            .clamp(1, u128::from(u32::MAX)) as u32;
        write(REG_LVT_TIMER, u32::from(TIMER_VECTOR)); // one-shot, unmasked
        write(REG_INITIAL_COUNT, ticks);
        cpu::wait_for_interrupt();
    }
}
