//! The image layout as the linker placed it (symbols from boot/layout.ld).

use core::ptr::addr_of;
use core::sync::atomic::{AtomicU64, Ordering};
use elastic_core::memory_map::Range;

/// Virtual = `HIGH_OFFSET + physical` for the kernel's code and read-only data.
pub const HIGH_OFFSET: u64 = 0xFFFF_FFFF_0000_0000;

/// The secrets, CPUID and GHCB pages the SEV-SNP launch metadata places at fixed addresses
/// (boot/reset.s, `sev_metadata`), then the shared guest-request pages (request, response,
/// and the certificate buffer of extended requests); never heap, even outside SNP.
pub const SNP_LAUNCH_PAGES: Range = Range {
    start: 0x80_0000,
    end: SNP_CERTS.end,
};

/// The SNP secrets page (launch metadata).
pub const SNP_SECRETS: u64 = 0x80_0000;
/// The SNP CPUID page (launch metadata).
pub const SNP_CPUID: u64 = 0x80_1000;
/// The GHCB page (launch metadata, pre-validated; made shared by the kernel).
pub const SNP_GHCB: u64 = 0x80_2000;
/// The shared request page of guest messages.
pub const SNP_REQUEST: u64 = 0x80_3000;
/// The shared response page of guest messages.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub const SNP_RESPONSE: u64 = 0x80_4000;
/// The shared certificate buffer of extended guest requests (8 pages, 32 KiB).
pub const SNP_CERTS: Range = Range {
    start: 0x80_5000,
    end: 0x80_D000,
};
/// The pre-validated launch memory (SNP_SEC_MEM: the kernel's RAM image region).
pub const SNP_SEC_MEM: Range = Range {
    start: 0x10_0000,
    end: 0x80_0000,
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

/// SEV_STATUS as boot/reset.s read it (0 when CPUID reports no SEV).
#[unsafe(export_name = "boot_sev_status")]
static BOOT_SEV_STATUS: AtomicU64 = AtomicU64::new(0);

/// SEV_STATUS as boot/reset.s read it (0 when CPUID reports no SEV).
pub fn boot_sev_status() -> u64 {
    BOOT_SEV_STATUS.load(Ordering::Relaxed)
}

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
