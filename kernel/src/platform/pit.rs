//! The 8254 PIT, used only to calibrate the TSC when no CPUID leaf gives its frequency.
//!
//! Channel 0 free-runs in mode 2 with a period of 65536 ticks; its gate is always high, so this
//! works on every machine type (microvm has no PC speaker, the usual channel 2 gate). Samples
//! latch the counter (command 0x00) and read it back, bracketed by TSC reads; the calibration
//! arithmetic lives in `elastic_core::clock::calibrate_with_pit`. The legacy PICs are masked
//! first (see [`mask_legacy_pics`]), so the resulting IRQ 0 is never delivered.

use super::cpu;
use elastic_core::clock::PitSample;

/// Masks every line of both 8259 PICs. The kernel never uses them; unmasked, their default
/// vectors (8..16) would collide with CPU exceptions once interrupts are enabled.
pub fn mask_legacy_pics() {
    cpu::outb(0x21, 0xFF);
    cpu::outb(0xA1, 0xFF);
}

/// Starts channel 0 free-running (mode 2, count 0 = 65536).
pub fn start_free_running() {
    cpu::outb(0x43, 0b0011_0100); // channel 0, lobyte/hibyte, mode 2, binary
    cpu::outb(0x40, 0);
    cpu::outb(0x40, 0);
}

/// Reads channel 0's counter between two TSC reads.
pub fn sample() -> PitSample {
    let tsc_before = cpu::rdtsc();
    cpu::outb(0x43, 0x00); // latch channel 0
    let lo = cpu::inb(0x40);
    let hi = cpu::inb(0x40);
    let tsc_after = cpu::rdtsc();
    PitSample {
        tsc_before,
        tsc_after,
        count: u16::from_le_bytes([lo, hi]),
    }
}
