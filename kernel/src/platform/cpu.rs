//! Raw CPU access: port I/O, MSRs, CPUID, the TSC, control registers, halting.
//!
//! These are the only primitives the rest of the platform layer builds on. Under SEV-SNP, port
//! I/O and CPUID trap (#VC); `snp::handle_vc` answers them (CPUID page, GHCB).

use core::arch::asm;

/// Writes a byte to an I/O port.
#[inline]
pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory effects visible to Rust; the ports used by the kernel
    // (serial, fw_cfg, PIT, CMOS, debug-exit) are owned by the platform layer.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a byte from an I/O port.
#[inline]
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Writes a 16-bit word to an I/O port.
#[inline]
pub fn outw(port: u16, value: u16) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Writes a 32-bit word to an I/O port.
#[inline]
pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads `buf.len()` bytes from one I/O port (`rep insb`).
#[inline]
pub fn insb(port: u16, buf: &mut [u8]) {
    // SAFETY: `rep insb` writes exactly `rcx` bytes at `rdi`, which is the exclusive buffer.
    unsafe {
        asm!("rep insb", in("dx") port, inout("rdi") buf.as_mut_ptr() => _,
             inout("rcx") buf.len() => _, options(nostack, preserves_flags))
    }
}

/// Reads a model-specific register. Reading an MSR the CPU lacks raises #GP, so callers check
/// CPUID first.
#[inline]
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reading an MSR has no memory effects; a missing MSR faults into our handler.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes a model-specific register (the GHCB MSR under SEV-SNP).
#[inline]
pub fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the only MSR the kernel writes is the GHCB MSR, whose value affects only the
    // next VMGEXIT; a missing MSR faults into our handler.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nomem, nostack, preserves_flags))
    }
}

/// One 64-bit value from RDSEED (true entropy), or `None` when the CPU has none ready.
#[inline]
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn rdseed() -> Option<u64> {
    #[target_feature(enable = "rdseed")]
    fn step(out: &mut u64) -> i32 {
        core::arch::x86_64::_rdseed64_step(out)
    }
    if !has_rdseed() {
        return None;
    }
    let mut v = 0;
    // SAFETY: the CPU supports RDSEED (checked above), which the target feature requires.
    (unsafe { step(&mut v) } == 1).then_some(v)
}

/// One 64-bit value from RDRAND (a hardware DRBG), or `None`.
#[inline]
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn rdrand() -> Option<u64> {
    #[target_feature(enable = "rdrand")]
    fn step(out: &mut u64) -> i32 {
        core::arch::x86_64::_rdrand64_step(out)
    }
    if !has_rdrand() {
        return None;
    }
    let mut v = 0;
    // SAFETY: the CPU supports RDRAND (checked above).
    (unsafe { step(&mut v) } == 1).then_some(v)
}

/// True when CPUID reports RDSEED.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn has_rdseed() -> bool {
    cpuid(0, 0).eax >= 7 && cpuid(7, 0).ebx & (1 << 18) != 0
}

/// True when CPUID reports RDRAND.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn has_rdrand() -> bool {
    cpuid(1, 0).ecx & (1 << 30) != 0
}

/// Enables interrupts, halts until one arrives, and disables them again. `sti` delays
/// interrupts by one instruction, so an interrupt pending at `sti` still wakes the `hlt`.
#[inline]
pub fn wait_for_interrupt() {
    // SAFETY: interrupts are handled on IST stacks and every handler preserves registers and
    // FPU state, so enabling them for the duration of `hlt` cannot disturb this code.
    unsafe { asm!("sti", "hlt", "cli", options(nomem, nostack)) }
}

/// CPUID result registers.
#[derive(Debug, Clone, Copy)]
pub struct Cpuid {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Executes CPUID for `leaf`/`subleaf`.
#[inline]
pub fn cpuid(leaf: u32, subleaf: u32) -> Cpuid {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    Cpuid {
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Reads CR2 (the faulting address of the last page fault).
#[inline]
pub fn cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// Halts the CPU forever with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
