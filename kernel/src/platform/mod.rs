//! The platform layer: the only part of the kernel that uses `unsafe` and touches hardware.
//!
//! It boots the CPU (boot/reset.s, included here), owns the descriptor tables, stacks, page
//! tables, heap, and the devices Elastic drives (COM1, fw_cfg, PIT, CMOS RTC, debug-exit), and
//! offers them to the rest of the kernel through safe functions. Everything that is logic rather
//! than hardware lives in the `elastic-core` crate, where it is tested on the host.

pub mod apic;
pub mod cmos;
pub mod console;
pub mod cpu;
mod exit;
// The DMA path and ROM views serve only the guest runner, absent from self-test images.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub mod fw_cfg;
mod gdt;
pub mod heap;
mod interrupts;
mod intrinsics;
pub mod layout;
pub mod paging;
pub mod pit;
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub mod rom;
#[cfg(feature = "selftest")]
pub mod selftest_faults;
pub mod snp;
mod stacks;

pub use exit::exit;

core::arch::global_asm!(include_str!("../../../boot/reset.s"), options(att_syntax));

/// First Rust code, called by boot/reset.s in long mode on the boot stack with interrupts off.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text.kernel_entry")]
extern "C" fn kernel_entry() -> ! {
    crate::boot::main()
}

/// Loads the kernel's GDT/TSS (with IST stacks) and IDT (every exception reported).
pub fn init_cpu_tables() {
    gdt::init();
    interrupts::init();
}

/// The guard pages below the kernel's stacks.
pub fn stack_guards() -> impl Iterator<Item = elastic_core::memory_map::Range> {
    stacks::guard_pages().into_iter()
}

/// CPU features worth reporting (and that the crypto code and the DRBG use).
pub fn cpu_features() -> alloc::string::String {
    let l1 = cpu::cpuid(1, 0);
    let l7 = if cpu::cpuid(0, 0).eax >= 7 {
        cpu::cpuid(7, 0)
    } else {
        cpu::Cpuid {
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        }
    };
    let mut out = alloc::string::String::new();
    for (present, name) in [
        (l1.edx & (1 << 26) != 0, "SSE2"),
        (l1.ecx & (1 << 25) != 0, "AES-NI"),
        (l1.ecx & (1 << 1) != 0, "PCLMULQDQ"),
        (l7.ebx & (1 << 29) != 0, "SHA-NI"),
        (l7.ebx & (1 << 5) != 0, "AVX2"),
        (l1.ecx & (1 << 30) != 0, "RDRAND"),
        (l7.ebx & (1 << 18) != 0, "RDSEED"),
    ] {
        if present {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(name);
        }
    }
    out
}

/// Enables the extended FPU state (XSAVE with AVX) when the CPU has it, so the crypto crates'
/// runtime feature detection can use AVX/AVX2; SSE itself is enabled in boot/reset.s.
pub fn enable_extended_fpu() -> bool {
    let leaf1 = cpu::cpuid(1, 0);
    let has_xsave = leaf1.ecx & (1 << 26) != 0;
    let has_avx = leaf1.ecx & (1 << 28) != 0;
    if !has_xsave {
        return false;
    }
    use x86_64::registers::control::{Cr4, Cr4Flags};
    use x86_64::registers::xcontrol::{XCr0, XCr0Flags};
    // SAFETY: XSAVE support was checked; enabling OSXSAVE only makes XGETBV/XSETBV usable.
    unsafe { Cr4::update(|f| f.insert(Cr4Flags::OSXSAVE)) };
    let mut xcr0 = XCr0Flags::X87 | XCr0Flags::SSE;
    if has_avx {
        xcr0 |= XCr0Flags::AVX;
    }
    // SAFETY: only state components the CPU reports (x87 and SSE always, AVX when present).
    unsafe { XCr0::write(xcr0) };
    has_avx
}
