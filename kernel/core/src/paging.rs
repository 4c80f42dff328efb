//! The kernel's final address space, as a plan of mappings the platform layer writes into page
//! tables.
//!
//! Policy (W^X, guard pages, no null page):
//! - usable RAM is identity-mapped read/write and never executable, except the null page, which is
//!   not mapped, and the guard page below every stack, which is not mapped either;
//! - the firmware image (kernel and any embedded bundle) is identity-mapped read-only, not
//!   executable, so the bundle can be read where it lies;
//! - the kernel's code is mapped at its link address (`high_offset + physical`) read-only and
//!   executable; its read-only data there read-only and not executable;
//! - device MMIO ranges are mapped read/write, not executable, uncached;
//! - everything else (holes, ACPI, reserved ranges) stays unmapped.
//!
//! Pages are 2 MiB where both addresses are 2 MiB aligned and the range is large enough, 4 KiB
//! otherwise.

use crate::memory_map::{MemoryMap, Range};
use alloc::vec::Vec;

/// 4 KiB.
pub const PAGE_4K: u64 = 0x1000;
/// 2 MiB.
pub const PAGE_2M: u64 = 0x20_0000;

/// Access rights of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFlags {
    /// Writes allowed.
    pub writable: bool,
    /// Instruction fetches allowed.
    pub executable: bool,
    /// Uncached (device memory).
    pub uncached: bool,
    /// Shared with the hypervisor: under SEV-SNP the C-bit stays clear (device memory and
    /// the GHCB/guest-request pages); every other leaf is private (C-bit set).
    pub shared: bool,
}

impl PageFlags {
    /// Read/write data, never executable.
    pub const DATA: Self = Self {
        writable: true,
        executable: false,
        uncached: false,
        shared: false,
    };
    /// Read-only data.
    pub const READ_ONLY: Self = Self {
        writable: false,
        executable: false,
        uncached: false,
        shared: false,
    };
    /// Read-only, executable code.
    pub const CODE: Self = Self {
        writable: false,
        executable: true,
        uncached: false,
        shared: false,
    };
    /// Device registers.
    pub const MMIO: Self = Self {
        writable: true,
        executable: false,
        uncached: true,
        shared: true,
    };
    /// Read/write data shared with the hypervisor (SNP GHCB and guest-request pages).
    pub const SHARED_DATA: Self = Self {
        writable: true,
        executable: false,
        uncached: false,
        shared: true,
    };
}

/// One contiguous mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// First virtual address (page aligned).
    pub virt: u64,
    /// First physical address (page aligned).
    pub phys: u64,
    /// Length in bytes (multiple of 4 KiB).
    pub len: u64,
    /// Rights.
    pub flags: PageFlags,
}

/// Where the kernel image lies, from the linker's symbols (all physical, page aligned).
#[derive(Debug, Clone)]
pub struct KernelLayout {
    /// The kernel's code in ROM.
    pub text: Range,
    /// The kernel's read-only data in ROM.
    pub rodata: Range,
    /// Virtual = `high_offset + physical` for text and rodata.
    pub high_offset: u64,
    /// The whole firmware image (identity-mapped read-only).
    pub firmware: Range,
    /// Pages to leave unmapped (null page, stack guards).
    pub unmapped: Vec<Range>,
    /// Device ranges to map uncached.
    pub mmio: Vec<Range>,
    /// RAM pages shared with the hypervisor (mapped with [`PageFlags::SHARED_DATA`]; empty
    /// outside SEV-SNP).
    pub shared: Vec<Range>,
}

fn align_down(v: u64) -> u64 {
    v & !(PAGE_4K - 1)
}

fn align_up(v: u64) -> u64 {
    v.saturating_add(PAGE_4K - 1) & !(PAGE_4K - 1)
}

/// Builds the mapping plan.
pub fn plan(map: &MemoryMap, layout: &KernelLayout) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut not_private = layout.unmapped.clone();
    not_private.extend_from_slice(&layout.shared);
    map.for_each_free(&not_private, |r| {
        out.push(Mapping {
            virt: r.start,
            phys: r.start,
            len: r.len(),
            flags: PageFlags::DATA,
        })
    });
    for r in &layout.shared {
        let r = Range {
            start: align_down(r.start),
            end: align_up(r.end),
        };
        if !r.is_empty() {
            out.push(Mapping {
                virt: r.start,
                phys: r.start,
                len: r.len(),
                flags: PageFlags::SHARED_DATA,
            });
        }
    }
    let fw = Range {
        start: align_down(layout.firmware.start),
        end: align_up(layout.firmware.end),
    };
    out.push(Mapping {
        virt: fw.start,
        phys: fw.start,
        len: fw.len(),
        flags: PageFlags::READ_ONLY,
    });
    for (range, flags) in [
        (layout.text, PageFlags::CODE),
        (layout.rodata, PageFlags::READ_ONLY),
    ] {
        let r = Range {
            start: align_down(range.start),
            end: align_up(range.end),
        };
        if !r.is_empty() {
            out.push(Mapping {
                virt: layout.high_offset.wrapping_add(r.start),
                phys: r.start,
                len: r.len(),
                flags,
            });
        }
    }
    for m in &layout.mmio {
        let r = Range {
            start: align_down(m.start),
            end: align_up(m.end),
        };
        out.push(Mapping {
            virt: r.start,
            phys: r.start,
            len: r.len(),
            flags: PageFlags::MMIO,
        });
    }
    out
}

/// Splits a mapping into pages: `(virt, phys, size)` with size 2 MiB or 4 KiB.
pub fn pages(m: &Mapping) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
    let mut offset = 0u64;
    core::iter::from_fn(move || {
        if offset >= m.len {
            return None;
        }
        let (virt, phys) = (m.virt.wrapping_add(offset), m.phys + offset);
        let size = if virt % PAGE_2M == 0 && phys % PAGE_2M == 0 && m.len - offset >= PAGE_2M {
            PAGE_2M
        } else {
            PAGE_4K
        };
        offset += size;
        Some((virt, phys, size))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    extern crate std;

    fn e820(entries: &[(u64, u64, u32)]) -> MemoryMap {
        let mut v = Vec::new();
        for &(s, l, k) in entries {
            v.extend_from_slice(&s.to_le_bytes());
            v.extend_from_slice(&l.to_le_bytes());
            v.extend_from_slice(&k.to_le_bytes());
        }
        MemoryMap::parse_e820(
            &v,
            Range {
                start: 0xFFC0_0000,
                end: 0x1_0000_0000,
            },
        )
        .unwrap()
    }

    fn layout() -> KernelLayout {
        KernelLayout {
            text: Range {
                start: 0xFFC0_0000,
                end: 0xFFD0_0000,
            },
            rodata: Range {
                start: 0xFFD0_0000,
                end: 0xFFD8_0000,
            },
            high_offset: 0xFFFF_FFFF_0000_0000,
            firmware: Range {
                start: 0xFFC0_0000,
                end: 0x1_0000_0000,
            },
            unmapped: vec![
                Range {
                    start: 0,
                    end: 0x1000,
                },
                Range {
                    start: 0x20_0000,
                    end: 0x20_1000,
                },
            ],
            mmio: vec![Range {
                start: 0xFEE0_0000,
                end: 0xFEE0_1000,
            }],
            shared: Vec::new(),
        }
    }

    /// Finds the flags a virtual address ends up with (None = unmapped).
    fn lookup(plan: &[Mapping], va: u64) -> Option<PageFlags> {
        plan.iter()
            .find(|m| va >= m.virt && va - m.virt < m.len)
            .map(|m| m.flags)
    }

    #[test]
    fn policy_holds() {
        let map = e820(&[
            (0, 0x9_F000, 1),
            (0x10_0000, 0x3FF0_0000, 1),
            (0xFEC0_0000, 0x1000, 2),
        ]);
        let plan = super::plan(&map, &layout());
        // W^X everywhere.
        assert!(
            plan.iter()
                .all(|m| !(m.flags.writable && m.flags.executable))
        );
        // Null page and stack guard unmapped; their neighbours mapped as data.
        assert_eq!(lookup(&plan, 0), None);
        assert_eq!(lookup(&plan, 0xFFF), None);
        assert_eq!(lookup(&plan, 0x1000), Some(PageFlags::DATA));
        assert_eq!(lookup(&plan, 0x20_0800), None);
        assert_eq!(lookup(&plan, 0x20_1000), Some(PageFlags::DATA));
        // Holes and reserved ranges stay unmapped.
        assert_eq!(lookup(&plan, 0xA_0000), None);
        assert_eq!(lookup(&plan, 0xFEC0_0000), None);
        // Code executable only at its high address; the identity view of the ROM is read-only.
        assert_eq!(lookup(&plan, 0xFFFF_FFFF_FFC0_1000), Some(PageFlags::CODE));
        assert_eq!(
            lookup(&plan, 0xFFFF_FFFF_FFD0_1000),
            Some(PageFlags::READ_ONLY)
        );
        assert_eq!(lookup(&plan, 0xFFC0_1000), Some(PageFlags::READ_ONLY));
        assert_eq!(lookup(&plan, 0xFEE0_0000), Some(PageFlags::MMIO));
        // Nothing is mapped twice at the same virtual address.
        let mut ranges: Vec<_> = plan.iter().map(|m| (m.virt, m.virt + m.len)).collect();
        ranges.sort();
        assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0));
    }

    #[test]
    fn shared_pages_are_mapped_apart() {
        let map = e820(&[(0x10_0000, 0x3FF0_0000, 1)]);
        let mut l = layout();
        l.shared = vec![Range {
            start: 0x80_2000,
            end: 0x80_D000,
        }];
        let plan = super::plan(&map, &l);
        assert_eq!(lookup(&plan, 0x80_1FFF), Some(PageFlags::DATA));
        assert_eq!(lookup(&plan, 0x80_2000), Some(PageFlags::SHARED_DATA));
        assert_eq!(lookup(&plan, 0x80_CFFF), Some(PageFlags::SHARED_DATA));
        assert_eq!(lookup(&plan, 0x80_D000), Some(PageFlags::DATA));
        // Device memory is shared too; nothing else is.
        assert!(lookup(&plan, 0xFEE0_0000).is_some_and(|f| f.shared));
        assert!(
            plan.iter()
                .filter(|m| m.flags.shared)
                .all(|m| m.flags == PageFlags::SHARED_DATA || m.flags == PageFlags::MMIO)
        );
        let mut ranges: Vec<_> = plan.iter().map(|m| (m.virt, m.virt + m.len)).collect();
        ranges.sort();
        assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0));
    }

    #[test]
    fn page_sizes() {
        let m = Mapping {
            virt: 0x1000,
            phys: 0x1000,
            len: 0x60_0000,
            flags: PageFlags::DATA,
        };
        let pages: Vec<_> = pages(&m).collect();
        // 4K pages up to 2 MiB, then 2 MiB pages, then 4K for the tail.
        assert_eq!(pages[0], (0x1000, 0x1000, PAGE_4K));
        assert_eq!(pages.iter().filter(|p| p.2 == PAGE_2M).count(), 2);
        assert_eq!(pages.iter().map(|p| p.2).sum::<u64>(), 0x60_0000);
        let first_2m = pages.iter().find(|p| p.2 == PAGE_2M).unwrap();
        assert_eq!(first_2m.0, 0x20_0000);
        // High-half addresses with the same 2 MiB alignment use large pages too.
        let hi = Mapping {
            virt: 0xFFFF_FFFF_FFC0_0000,
            phys: 0xFFC0_0000,
            len: 0x40_0000,
            flags: PageFlags::CODE,
        };
        assert!(super::pages(&hi).all(|p| p.2 == PAGE_2M));
    }
}
