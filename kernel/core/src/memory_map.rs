//! The physical memory map, parsed from QEMU's fw_cfg file `etc/e820` and validated.
//!
//! The hypervisor provides this map, so it is untrusted: every entry is checked for a
//! non-zero length, no address overflow, a physical address below 2^52, and no overlap with any
//! other entry or with the firmware image at the top of the 4 GiB space. The kernel refuses to
//! run on a map that fails any check (one clear message, then a failure exit).
//!
//! Format of `etc/e820` (QEMU `hw/i386/e820_memory_layout.h`): packed little-endian entries of
//! `{ u64 address, u64 length, u32 type }` (20 bytes), type 1 = usable RAM, 2 = reserved,
//! 3 = ACPI reclaimable, 4 = ACPI NVS, 5 = unusable.

use core::fmt;

/// Size of one `etc/e820` entry in bytes.
pub const E820_ENTRY_SIZE: usize = 20;
/// The largest number of entries accepted (QEMU emits a handful).
pub const MAX_REGIONS: usize = 64;
/// Physical addresses must stay below 2^52 (the architectural maximum).
pub const MAX_PHYS_ADDR: u64 = 1 << 52;

/// What a physical range is used for, from the e820 type field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionKind {
    /// Usable RAM (type 1).
    Ram,
    /// Reserved (type 2).
    Reserved,
    /// ACPI reclaimable (type 3).
    Acpi,
    /// ACPI non-volatile storage (type 4).
    Nvs,
    /// Unusable / bad memory (type 5).
    Unusable,
    /// Any other type value.
    Other(u32),
}

impl RegionKind {
    fn from_e820(kind: u32) -> Self {
        match kind {
            1 => Self::Ram,
            2 => Self::Reserved,
            3 => Self::Acpi,
            4 => Self::Nvs,
            5 => Self::Unusable,
            other => Self::Other(other),
        }
    }
}

/// A half-open physical range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Range {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True when the range holds no byte.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// True when the two ranges share at least one byte.
    pub fn overlaps(&self, other: &Range) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// One validated region of the memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The physical range.
    pub range: Range,
    /// Its use.
    pub kind: RegionKind,
}

/// Why a memory map was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryMapError {
    /// The file is empty.
    Empty,
    /// The file size is not a multiple of the entry size.
    BadSize(usize),
    /// More entries than [`MAX_REGIONS`].
    TooMany(usize),
    /// Entry `index` has length zero.
    ZeroLength(usize),
    /// Entry `index` wraps around or ends above [`MAX_PHYS_ADDR`].
    OutOfRange(usize),
    /// Two entries overlap.
    Overlap(Range, Range),
    /// A RAM entry overlaps the firmware image.
    OverlapsFirmware(Range),
    /// No usable RAM left after removing the kernel's own ranges.
    NoUsableRam,
    /// Less usable RAM than the kernel needs.
    TooLittleRam {
        /// Usable bytes found.
        found: u64,
        /// Bytes needed.
        needed: u64,
    },
}

impl fmt::Display for MemoryMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "etc/e820 is empty"),
            Self::BadSize(n) => write!(f, "etc/e820 has {n} bytes, not a multiple of 20"),
            Self::TooMany(n) => write!(f, "etc/e820 has {n} entries (at most {MAX_REGIONS})"),
            Self::ZeroLength(i) => write!(f, "e820 entry {i} has length 0"),
            Self::OutOfRange(i) => write!(f, "e820 entry {i} wraps or ends above 2^52"),
            Self::Overlap(a, b) => write!(
                f,
                "e820 entries overlap: {:#x}..{:#x} and {:#x}..{:#x}",
                a.start, a.end, b.start, b.end
            ),
            Self::OverlapsFirmware(r) => {
                write!(
                    f,
                    "e820 RAM {:#x}..{:#x} overlaps the firmware image",
                    r.start, r.end
                )
            }
            Self::NoUsableRam => write!(f, "the memory map has no usable RAM"),
            Self::TooLittleRam { found, needed } => write!(
                f,
                "too little RAM: {} MiB usable, at least {} MiB needed",
                found >> 20,
                needed >> 20
            ),
        }
    }
}

/// A validated, sorted memory map with a fixed capacity (no heap exists when it is parsed).
#[derive(Clone)]
pub struct MemoryMap {
    regions: [Region; MAX_REGIONS],
    len: usize,
}

impl fmt::Debug for MemoryMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.regions()).finish()
    }
}

/// The `N` bytes at `at` of an e820 entry (zeros past its end: the offsets are constants
/// inside the 20-byte entry).
fn bytes_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes
        .get(at..)
        .and_then(|s| s.first_chunk::<N>())
        .copied()
        .unwrap_or([0; N])
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes_at(bytes, at))
}

impl MemoryMap {
    /// Parses and validates the raw contents of `etc/e820`. `firmware` is the range the
    /// firmware image occupies (RAM must not overlap it).
    pub fn parse_e820(bytes: &[u8], firmware: Range) -> Result<Self, MemoryMapError> {
        if bytes.is_empty() {
            return Err(MemoryMapError::Empty);
        }
        if !bytes.len().is_multiple_of(E820_ENTRY_SIZE) {
            return Err(MemoryMapError::BadSize(bytes.len()));
        }
        let count = bytes.len() / E820_ENTRY_SIZE;
        if count > MAX_REGIONS {
            return Err(MemoryMapError::TooMany(count));
        }
        let empty = Region {
            range: Range { start: 0, end: 0 },
            kind: RegionKind::Reserved,
        };
        let mut map = MemoryMap {
            regions: [empty; MAX_REGIONS],
            len: 0,
        };
        for (index, entry) in bytes.chunks_exact(E820_ENTRY_SIZE).enumerate() {
            let start = read_u64(entry, 0);
            let length = read_u64(entry, 8);
            let kind = RegionKind::from_e820(u32::from_le_bytes(bytes_at(entry, 16)));
            if length == 0 {
                return Err(MemoryMapError::ZeroLength(index));
            }
            let end = start
                .checked_add(length)
                .ok_or(MemoryMapError::OutOfRange(index))?;
            if end > MAX_PHYS_ADDR {
                return Err(MemoryMapError::OutOfRange(index));
            }
            let range = Range { start, end };
            if kind == RegionKind::Ram && range.overlaps(&firmware) {
                return Err(MemoryMapError::OverlapsFirmware(range));
            }
            // `count <= MAX_REGIONS` was checked, so every index has a slot.
            let Some(slot) = map.regions.get_mut(index) else {
                return Err(MemoryMapError::TooMany(count));
            };
            *slot = Region { range, kind };
            map.len = index + 1;
        }
        let regions = map.regions.get_mut(..map.len).unwrap_or_default();
        regions.sort_unstable_by_key(|r| r.range.start);
        for pair in regions.windows(2) {
            if let [a, b] = pair
                && a.range.overlaps(&b.range)
            {
                return Err(MemoryMapError::Overlap(a.range, b.range));
            }
        }
        if map.total_ram() == 0 {
            return Err(MemoryMapError::NoUsableRam);
        }
        Ok(map)
    }

    /// The regions, sorted by start address.
    pub fn regions(&self) -> &[Region] {
        self.regions.get(..self.len).unwrap_or_default()
    }

    /// Total bytes of usable RAM.
    pub fn total_ram(&self) -> u64 {
        self.ram().map(|r| r.len()).sum()
    }

    /// The usable RAM ranges.
    pub fn ram(&self) -> impl Iterator<Item = Range> + '_ {
        self.regions()
            .iter()
            .filter(|r| r.kind == RegionKind::Ram)
            .map(|r| r.range)
    }

    /// The highest address of usable RAM (exclusive), for sizing the direct map.
    pub fn ram_end(&self) -> u64 {
        self.ram().map(|r| r.end).max().unwrap_or(0)
    }

    /// Calls `f` for every page-aligned piece of usable RAM that does not touch `reserved`.
    /// `reserved` need not be sorted. Pieces are aligned inwards to 4 KiB.
    pub fn for_each_free(&self, reserved: &[Range], mut f: impl FnMut(Range)) {
        for ram in self.ram() {
            subtract(ram, reserved, &mut f);
        }
    }

    /// Total bytes that [`MemoryMap::for_each_free`] would report.
    pub fn free_bytes(&self, reserved: &[Range]) -> u64 {
        let mut total = 0;
        self.for_each_free(reserved, |r| total += r.len());
        total
    }

    /// Fails unless at least `needed` bytes of RAM are free outside `reserved`.
    pub fn require_free(&self, reserved: &[Range], needed: u64) -> Result<u64, MemoryMapError> {
        let found = self.free_bytes(reserved);
        if found < needed {
            return Err(MemoryMapError::TooLittleRam { found, needed });
        }
        Ok(found)
    }
}

const PAGE: u64 = 4096;

/// Reports the parts of `range` not covered by any of `holes` (which need not be sorted),
/// page-aligned inwards.
pub fn subtract(range: Range, holes: &[Range], f: &mut impl FnMut(Range)) {
    let start = range.start.div_ceil(PAGE) * PAGE;
    let end = range.end / PAGE * PAGE;
    let mut cursor = start;
    while cursor < end {
        // The first hole that covers `cursor` pushes it past its end.
        if let Some(hole) = holes.iter().find(|h| h.start <= cursor && cursor < h.end) {
            cursor = hole.end.div_ceil(PAGE) * PAGE;
            continue;
        }
        // Otherwise the free piece runs up to the nearest hole start above `cursor`.
        let stop = holes
            .iter()
            .filter(|h| h.start > cursor)
            .map(|h| h.start / PAGE * PAGE)
            .min()
            .unwrap_or(end)
            .min(end);
        if stop > cursor {
            f(Range {
                start: cursor,
                end: stop,
            });
        }
        cursor = stop.max(cursor + PAGE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn parts(start: u64, end: u64, holes: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let holes: Vec<Range> = holes
            .iter()
            .map(|&(start, end)| Range { start, end })
            .collect();
        let mut out = Vec::new();
        subtract(Range { start, end }, &holes, &mut |r| {
            out.push((r.start, r.end))
        });
        out
    }

    #[test]
    fn subtract_leaves_the_uncovered_parts() {
        // The SNP launch memory the kernel skips when accepting RAM.
        let launch = [(0x10_0000, 0x80_0000), (0x80_0000, 0x80_D000)];
        assert_eq!(
            parts(0x10_0000, 0x4000_0000, &launch),
            [(0x80_D000, 0x4000_0000)]
        );
        assert_eq!(parts(0, 0x20_0000, &launch), [(0, 0x10_0000)]);
        assert!(parts(0x20_0000, 0x30_0000, &launch).is_empty());
        assert_eq!(
            parts(0, 0x100_0000, &[(0x4000, 0x5000), (0x1000, 0x2000)]),
            [(0, 0x1000), (0x2000, 0x4000), (0x5000, 0x100_0000)]
        );
        // Overlapping holes.
        assert_eq!(
            parts(0, 0x10000, &[(0x1000, 0x3000), (0x2000, 0x8000)]),
            [(0, 0x1000), (0x8000, 0x10000)]
        );
    }

    const FW: Range = Range {
        start: 0xFF00_0000,
        end: 0x1_0000_0000,
    };

    fn entry(start: u64, len: u64, kind: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&start.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(&kind.to_le_bytes());
        v
    }

    fn qemu_q35_512m() -> Vec<u8> {
        let mut v = entry(0, 0x9_FC00, 1);
        v.extend(entry(0x9_FC00, 0x400, 2));
        v.extend(entry(0x10_0000, 0x1FF0_0000, 1));
        v.extend(entry(0xFEFF_C000, 0x4000, 2));
        v
    }

    #[test]
    fn parses_a_qemu_map() {
        let map = MemoryMap::parse_e820(&qemu_q35_512m(), FW).unwrap();
        assert_eq!(map.regions().len(), 4);
        assert_eq!(map.total_ram(), 0x9_FC00 + 0x1FF0_0000);
        assert_eq!(map.ram_end(), 0x2000_0000);
    }

    #[test]
    fn sorts_unsorted_entries() {
        let mut v = entry(0x10_0000, 0x100_0000, 1);
        v.extend(entry(0, 0x8_0000, 1));
        let map = MemoryMap::parse_e820(&v, FW).unwrap();
        assert_eq!(map.regions()[0].range.start, 0);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            MemoryMap::parse_e820(&[], FW).unwrap_err(),
            MemoryMapError::Empty
        );
        assert_eq!(
            MemoryMap::parse_e820(&[0; 19], FW).unwrap_err(),
            MemoryMapError::BadSize(19)
        );
        let many: Vec<u8> = (0..65).flat_map(|i| entry(i * 0x1000, 0x1000, 1)).collect();
        assert_eq!(
            MemoryMap::parse_e820(&many, FW).unwrap_err(),
            MemoryMapError::TooMany(65)
        );
        assert_eq!(
            MemoryMap::parse_e820(&entry(0x1000, 0, 1), FW).unwrap_err(),
            MemoryMapError::ZeroLength(0)
        );
        assert_eq!(
            MemoryMap::parse_e820(&entry(u64::MAX - 10, 100, 1), FW).unwrap_err(),
            MemoryMapError::OutOfRange(0)
        );
        assert_eq!(
            MemoryMap::parse_e820(&entry(1 << 52, 0x1000, 1), FW).unwrap_err(),
            MemoryMapError::OutOfRange(0)
        );
        let mut overlap = entry(0, 0x20_0000, 1);
        overlap.extend(entry(0x10_0000, 0x20_0000, 2));
        assert!(matches!(
            MemoryMap::parse_e820(&overlap, FW).unwrap_err(),
            MemoryMapError::Overlap(..)
        ));
        assert!(matches!(
            MemoryMap::parse_e820(&entry(0xF000_0000, 0x1000_0000, 1), FW).unwrap_err(),
            MemoryMapError::OverlapsFirmware(_)
        ));
        assert_eq!(
            MemoryMap::parse_e820(&entry(0, 0x1000, 2), FW).unwrap_err(),
            MemoryMapError::NoUsableRam
        );
    }

    #[test]
    fn free_ranges_skip_reserved_and_align() {
        let map = MemoryMap::parse_e820(&qemu_q35_512m(), FW).unwrap();
        let reserved = [
            Range {
                start: 0,
                end: 0x10_0000,
            },
            Range {
                start: 0x10_0000,
                end: 0x40_0000,
            },
        ];
        let mut got = Vec::new();
        map.for_each_free(&reserved, |r| got.push(r));
        assert_eq!(
            got,
            [Range {
                start: 0x40_0000,
                end: 0x2000_0000
            }]
        );
        // A hole in the middle splits the range.
        let reserved = [Range {
            start: 0x100_0800,
            end: 0x100_1000,
        }];
        let mut got = Vec::new();
        map.for_each_free(&reserved, |r| got.push(r));
        assert_eq!(
            got,
            [
                Range {
                    start: 0,
                    end: 0x9_F000
                },
                Range {
                    start: 0x10_0000,
                    end: 0x100_0000
                },
                Range {
                    start: 0x100_1000,
                    end: 0x2000_0000
                },
            ]
        );
        assert!(map.require_free(&reserved, 1 << 40).is_err());
        assert!(map.require_free(&reserved, 1 << 20).is_ok());
    }
}
