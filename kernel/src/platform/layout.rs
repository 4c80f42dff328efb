//! The image layout as the linker placed it (symbols from boot/layout.ld).

use core::ptr::addr_of;
use core::sync::atomic::{AtomicU64, Ordering};
use elastic_core::memory_map::Range;

/// Virtual = `HIGH_OFFSET + physical` for the kernel's code and read-only data.
pub const HIGH_OFFSET: u64 = 0xFFFF_FFFF_0000_0000;

/// The secrets, CPUID and GHCB pages the SEV-SNP launch metadata places at fixed addresses
/// (boot/reset.s, `sev_metadata`); never heap, even outside SNP.
pub const SNP_LAUNCH_PAGES: Range = Range {
    start: 0x80_0000,
    end: 0x80_3000,
};

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __ram_image_end: u8;
}

/// The TSC value at the reset vector, stored by boot/reset.s.
#[unsafe(export_name = "boot_tsc")]
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);

fn phys(sym: *const u8) -> u64 {
    (sym as u64).wrapping_sub(HIGH_OFFSET)
}

/// The kernel code's physical range.
pub fn text() -> Range {
    Range {
        start: phys(addr_of!(__text_start)),
        end: phys(addr_of!(__text_end)),
    }
}

/// The kernel read-only data's physical range.
pub fn rodata() -> Range {
    Range {
        start: phys(addr_of!(__rodata_start)),
        end: phys(addr_of!(__rodata_end)),
    }
}

/// The RAM the kernel image occupies from 1 MiB: page tables, .data, .bss, stacks.
pub fn ram_image() -> Range {
    Range {
        start: 0x10_0000,
        end: (addr_of!(__ram_image_end) as u64).next_multiple_of(4096),
    }
}

/// The TSC at reset.
pub fn boot_tsc() -> u64 {
    BOOT_TSC.load(Ordering::Relaxed)
}
