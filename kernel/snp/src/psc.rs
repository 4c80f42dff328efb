//! SNP page-state-change (PSC) descriptors for the GHCB NAE event 0x8000_0010
//! (AMD 56421 GHCB specification §4.1.6 "SNP Page State Change", table "Page State Change
//! structure"; Linux `struct snp_psc_desc`, VMGEXIT_PSC_MAX_ENTRY = 253).
//!
//! The descriptor lives in the GHCB shared buffer: a header {cur_entry u16, end_entry u16,
//! reserved u32} followed by up to 253 entries of one u64 each:
//! [11:0] cur_page, [51:12] GFN, [55:52] operation, [56] page size (0 = 4 KiB, 1 = 2 MiB),
//! [63:57] reserved. The hypervisor advances `cur_entry` (and `cur_page` inside a 2 MiB
//! entry) as it works; the guest re-issues the exit until `cur_entry > end_entry`.
//! [`ProgressTracker`] checks that the hypervisor only ever moves forward and stays inside
//! the descriptor, so a hostile hypervisor cannot make the guest loop or skip entries.

/// Maximum number of entries in one descriptor (fills the 2032-byte shared buffer).
pub const PSC_MAX_ENTRIES: usize = 253;
/// Size of the descriptor header.
pub const PSC_HEADER_SIZE: usize = 8;
/// Size of a full descriptor in bytes.
pub const PSC_DESC_SIZE: usize = PSC_HEADER_SIZE + PSC_MAX_ENTRIES * 8;

const _: () = assert!(PSC_DESC_SIZE == crate::ghcb::SHARED_BUFFER_SIZE);

const SIZE_4K: u64 = 0x1000;
const SIZE_2M: u64 = 0x20_0000;
const MAX_GFN: u64 = (1 << 40) - 1;

/// Page-state-change operation (entry bits [55:52]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PscOp {
    /// Assign the page to the guest (private) — 1.
    Private = 1,
    /// Make the page shared — 2.
    Shared = 2,
    /// PSMASH: split a 2 MiB RMP entry — 3.
    Psmash = 3,
    /// UNSMASH: merge into a 2 MiB RMP entry — 4.
    Unsmash = 4,
}

/// Page size of an entry (bit 56).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    /// 4 KiB.
    Size4K,
    /// 2 MiB.
    Size2M,
}

impl PageSize {
    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Size4K => SIZE_4K,
            Self::Size2M => SIZE_2M,
        }
    }
}

/// Errors building, decoding or tracking PSC descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PscError {
    /// A range is not 4 KiB aligned, empty, or overflows.
    BadRange {
        /// Start GPA.
        start: u64,
        /// End GPA (exclusive).
        end: u64,
    },
    /// A GFN does not fit the 40-bit field.
    GfnTooLarge(u64),
    /// The descriptor already holds 253 entries.
    Full,
    /// An entry has reserved bits set or an unknown operation.
    BadEntry(u64),
    /// The header's reserved field is non-zero.
    HeaderReserved(u32),
    /// The buffer is smaller than a descriptor.
    BufferTooSmall,
    /// The descriptor's end_entry is not below the entry count.
    BadEndEntry(u16),
    /// The hypervisor changed `end_entry`.
    EndEntryChanged {
        /// Value the guest wrote.
        expected: u16,
        /// Value found after the exit.
        found: u16,
    },
    /// The hypervisor moved `cur_entry` or `cur_page` backwards.
    MovedBackwards,
    /// The hypervisor moved `cur_entry` past `end_entry + 1` or `cur_page` past the page count.
    PastEnd,
    /// The hypervisor rewrote an entry's GFN, operation or size.
    EntryModified(usize),
}

impl core::fmt::Display for PscError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadRange { start, end } => write!(f, "bad PSC range {start:#x}..{end:#x}"),
            Self::GfnTooLarge(g) => write!(f, "GFN {g:#x} does not fit 40 bits"),
            Self::Full => f.write_str("PSC descriptor full"),
            Self::BadEntry(e) => write!(f, "malformed PSC entry {e:#x}"),
            Self::HeaderReserved(r) => write!(f, "PSC header reserved field {r:#x}"),
            Self::BufferTooSmall => f.write_str("buffer too small for a PSC descriptor"),
            Self::BadEndEntry(e) => write!(f, "PSC end_entry {e} out of range"),
            Self::EndEntryChanged { expected, found } => {
                write!(f, "hypervisor changed PSC end_entry {expected} -> {found}")
            }
            Self::MovedBackwards => f.write_str("hypervisor moved PSC progress backwards"),
            Self::PastEnd => f.write_str("hypervisor moved PSC progress past the end"),
            Self::EntryModified(i) => write!(f, "hypervisor modified PSC entry {i}"),
        }
    }
}

/// One PSC entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PscEntry {
    /// Pages of a 2 MiB entry already processed ([11:0]); 0 when building.
    pub cur_page: u16,
    /// Guest frame number ([51:12]).
    pub gfn: u64,
    /// Operation ([55:52]).
    pub op: PscOp,
    /// Page size ([56]).
    pub size: PageSize,
}

impl PscEntry {
    /// Encodes the entry.
    pub fn encode(&self) -> Result<u64, PscError> {
        if self.gfn > MAX_GFN {
            return Err(PscError::GfnTooLarge(self.gfn));
        }
        if self.cur_page > 0xFFF {
            return Err(PscError::BadEntry(u64::from(self.cur_page)));
        }
        let size = match self.size {
            PageSize::Size4K => 0,
            PageSize::Size2M => 1u64 << 56,
        };
        Ok(u64::from(self.cur_page) | (self.gfn << 12) | ((self.op as u64) << 52) | size)
    }

    /// Decodes an entry, rejecting reserved bits and unknown operations.
    pub fn decode(value: u64) -> Result<Self, PscError> {
        if value >> 57 != 0 {
            return Err(PscError::BadEntry(value));
        }
        let op = match (value >> 52) & 0xF {
            1 => PscOp::Private,
            2 => PscOp::Shared,
            3 => PscOp::Psmash,
            4 => PscOp::Unsmash,
            _ => return Err(PscError::BadEntry(value)),
        };
        Ok(Self {
            cur_page: (value & 0xFFF) as u16,
            gfn: (value >> 12) & MAX_GFN,
            op,
            size: if value & (1 << 56) != 0 {
                PageSize::Size2M
            } else {
                PageSize::Size4K
            },
        })
    }

    /// Number of 4 KiB pages this entry covers.
    pub fn pages(&self) -> u16 {
        match self.size {
            PageSize::Size4K => 1,
            PageSize::Size2M => 512,
        }
    }
}

/// Descriptor header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PscHeader {
    /// Index of the next entry to process.
    pub cur_entry: u16,
    /// Index of the last entry.
    pub end_entry: u16,
    /// Reserved, must be 0.
    pub reserved: u32,
}

impl PscHeader {
    /// Reads the header from the start of `buf`.
    pub fn read(buf: &[u8]) -> Result<Self, PscError> {
        let field = |range: core::ops::Range<usize>| {
            buf.get(..PSC_HEADER_SIZE)
                .and_then(|h| h.get(range))
                .ok_or(PscError::BufferTooSmall)
        };
        let two = |b: &[u8]| <[u8; 2]>::try_from(b).map_err(|_| PscError::BufferTooSmall);
        let four = |b: &[u8]| <[u8; 4]>::try_from(b).map_err(|_| PscError::BufferTooSmall);
        Ok(Self {
            cur_entry: u16::from_le_bytes(two(field(0..2)?)?),
            end_entry: u16::from_le_bytes(two(field(2..4)?)?),
            reserved: u32::from_le_bytes(four(field(4..8)?)?),
        })
    }
}

/// A page-state-change descriptor being built by the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PscDescriptor {
    entries: [u64; PSC_MAX_ENTRIES],
    len: usize,
}

impl Default for PscDescriptor {
    fn default() -> Self {
        Self::new()
    }
}

impl PscDescriptor {
    /// An empty descriptor.
    pub const fn new() -> Self {
        Self {
            entries: [0; PSC_MAX_ENTRIES],
            len: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the descriptor has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends an entry.
    pub fn push(&mut self, entry: PscEntry) -> Result<(), PscError> {
        let value = entry.encode()?;
        let slot = self.entries.get_mut(self.len).ok_or(PscError::Full)?;
        *slot = value;
        self.len += 1;
        Ok(())
    }

    /// The entries, decoded.
    pub fn entries(&self) -> impl Iterator<Item = PscEntry> + '_ {
        self.entries
            .get(..self.len)
            .unwrap_or(&[])
            .iter()
            .filter_map(|&v| PscEntry::decode(v).ok())
    }

    /// Writes the descriptor (cur_entry 0, end_entry len-1) into `buf` (the shared buffer).
    pub fn write_to(&self, buf: &mut [u8]) -> Result<(), PscError> {
        if buf.len() < PSC_HEADER_SIZE + self.len * 8 {
            return Err(PscError::BufferTooSmall);
        }
        let end = u16::try_from(self.len.saturating_sub(1)).map_err(|_| PscError::Full)?;
        let (header, slots) = buf
            .split_at_mut_checked(PSC_HEADER_SIZE)
            .ok_or(PscError::BufferTooSmall)?;
        let mut h = [0u8; PSC_HEADER_SIZE];
        h[2..4].copy_from_slice(&end.to_le_bytes());
        header.copy_from_slice(&h);
        let entries = self.entries.get(..self.len).ok_or(PscError::Full)?;
        for (slot, e) in slots.chunks_exact_mut(8).zip(entries) {
            slot.copy_from_slice(&e.to_le_bytes());
        }
        Ok(())
    }

    /// Reads a descriptor from `buf` (entries 0..=end_entry), validating every entry.
    pub fn read_from(buf: &[u8]) -> Result<(PscHeader, Self), PscError> {
        let header = PscHeader::read(buf)?;
        if header.reserved != 0 {
            return Err(PscError::HeaderReserved(header.reserved));
        }
        let count = usize::from(header.end_entry) + 1;
        if count > PSC_MAX_ENTRIES {
            return Err(PscError::BadEndEntry(header.end_entry));
        }
        let mut desc = Self::new();
        for i in 0..count {
            let raw = read_entry(buf, i)?;
            desc.push(PscEntry::decode(raw)?)?;
        }
        Ok((header, desc))
    }
}

fn read_entry(buf: &[u8], index: usize) -> Result<u64, PscError> {
    let off = PSC_HEADER_SIZE + index * 8;
    let bytes = buf.get(off..off + 8).ok_or(PscError::BufferTooSmall)?;
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    Ok(u64::from_le_bytes(b))
}

/// Splits a GPA range into PSC entries: 2 MiB entries where the address is 2 MiB aligned and
/// at least 2 MiB remain, 4 KiB entries elsewhere.
#[derive(Debug, Clone)]
pub struct PscRange {
    next: u64,
    end: u64,
    op: PscOp,
}

impl PscRange {
    /// A range `[start, end)`; both must be 4 KiB aligned, `start < end`, GFNs within 40 bits.
    pub fn new(start: u64, end: u64, op: PscOp) -> Result<Self, PscError> {
        if !start.is_multiple_of(SIZE_4K) || !end.is_multiple_of(SIZE_4K) || start >= end {
            return Err(PscError::BadRange { start, end });
        }
        let last_gfn = (end - 1) >> 12;
        if last_gfn > MAX_GFN {
            return Err(PscError::GfnTooLarge(last_gfn));
        }
        Ok(Self {
            next: start,
            end,
            op,
        })
    }

    /// Whether all entries have been produced.
    pub fn is_done(&self) -> bool {
        self.next >= self.end
    }

    /// Fills a descriptor with up to 253 entries from the range.
    pub fn next_descriptor(&mut self) -> PscDescriptor {
        let mut d = PscDescriptor::new();
        while d.len() < PSC_MAX_ENTRIES {
            let Some(entry) = self.next() else { break };
            if d.push(entry).is_err() {
                break;
            }
        }
        d
    }
}

impl Iterator for PscRange {
    type Item = PscEntry;

    fn next(&mut self) -> Option<PscEntry> {
        if self.next >= self.end {
            return None;
        }
        let remaining = self.end - self.next;
        let size = if self.next.is_multiple_of(SIZE_2M) && remaining >= SIZE_2M {
            PageSize::Size2M
        } else {
            PageSize::Size4K
        };
        let entry = PscEntry {
            cur_page: 0,
            gfn: self.next >> 12,
            op: self.op,
            size,
        };
        self.next += size.bytes();
        Some(entry)
    }
}

/// What a progress check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// All entries processed (`cur_entry > end_entry`).
    Done,
    /// The hypervisor made progress but is not finished: exit again.
    More,
    /// The hypervisor returned without moving forward.
    Stalled,
}

/// Checks the hypervisor's progress on a descriptor across repeated exits.
#[derive(Debug, Clone)]
pub struct ProgressTracker {
    desc: PscDescriptor,
    end_entry: u16,
    cur_entry: u16,
    cur_page: u16,
}

impl ProgressTracker {
    /// Starts tracking `desc`, which the guest just wrote with [`PscDescriptor::write_to`].
    pub fn new(desc: &PscDescriptor) -> Result<Self, PscError> {
        if desc.is_empty() {
            return Err(PscError::BadEndEntry(0));
        }
        Ok(Self {
            desc: desc.clone(),
            end_entry: u16::try_from(desc.len() - 1).map_err(|_| PscError::Full)?,
            cur_entry: 0,
            cur_page: 0,
        })
    }

    /// Checks the descriptor in `buf` after an exit.
    pub fn check(&mut self, buf: &[u8]) -> Result<Progress, PscError> {
        let h = PscHeader::read(buf)?;
        if h.reserved != 0 {
            return Err(PscError::HeaderReserved(h.reserved));
        }
        if h.end_entry != self.end_entry {
            return Err(PscError::EndEntryChanged {
                expected: self.end_entry,
                found: h.end_entry,
            });
        }
        if h.cur_entry < self.cur_entry {
            return Err(PscError::MovedBackwards);
        }
        if u32::from(h.cur_entry) > u32::from(self.end_entry) + 1 {
            return Err(PscError::PastEnd);
        }
        // Entries must be unchanged apart from cur_page.
        let expected_entries = self.desc.entries.get(..self.desc.len).unwrap_or(&[]);
        for (i, expected) in expected_entries.iter().enumerate() {
            let found = read_entry(buf, i)?;
            if found & !0xFFF != expected & !0xFFF {
                return Err(PscError::EntryModified(i));
            }
        }
        if h.cur_entry > self.end_entry {
            self.cur_entry = h.cur_entry;
            return Ok(Progress::Done);
        }
        let entry = PscEntry::decode(read_entry(buf, usize::from(h.cur_entry))?)?;
        if entry.cur_page > entry.pages() {
            return Err(PscError::PastEnd);
        }
        let progress = if h.cur_entry > self.cur_entry {
            Progress::More
        } else if entry.cur_page < self.cur_page {
            return Err(PscError::MovedBackwards);
        } else if entry.cur_page > self.cur_page {
            Progress::More
        } else {
            Progress::Stalled
        };
        self.cur_entry = h.cur_entry;
        self.cur_page = entry.cur_page;
        Ok(progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trip_and_layout() {
        let e = PscEntry {
            cur_page: 3,
            gfn: 0x12_3456,
            op: PscOp::Shared,
            size: PageSize::Size2M,
        };
        let v = e.encode().unwrap();
        assert_eq!(v, 3 | (0x12_3456 << 12) | (2 << 52) | (1 << 56));
        assert_eq!(PscEntry::decode(v), Ok(e));
        for op in [PscOp::Private, PscOp::Shared, PscOp::Psmash, PscOp::Unsmash] {
            let e = PscEntry {
                cur_page: 0,
                gfn: MAX_GFN,
                op,
                size: PageSize::Size4K,
            };
            assert_eq!(PscEntry::decode(e.encode().unwrap()), Ok(e));
        }
        assert!(PscEntry::decode(v | (1 << 57)).is_err());
        assert!(PscEntry::decode(5 << 52).is_err());
        assert!(
            PscEntry {
                cur_page: 0,
                gfn: MAX_GFN + 1,
                op: PscOp::Private,
                size: PageSize::Size4K
            }
            .encode()
            .is_err()
        );
    }

    #[test]
    fn range_uses_2m_where_aligned() {
        // 4K at 0x1FF000, then 2M at 0x200000, then two 4K pages.
        let entries: Vec<_> = PscRange::new(0x1F_F000, 0x40_2000, PscOp::Private)
            .unwrap()
            .collect();
        let sizes: Vec<_> = entries.iter().map(|e| (e.gfn << 12, e.size)).collect();
        assert_eq!(
            sizes,
            vec![
                (0x1F_F000, PageSize::Size4K),
                (0x20_0000, PageSize::Size2M),
                (0x40_0000, PageSize::Size4K),
                (0x40_1000, PageSize::Size4K),
            ]
        );
        // covered bytes equal the range length
        let total: u64 = entries.iter().map(|e| e.size.bytes()).sum();
        assert_eq!(total, 0x40_2000 - 0x1F_F000);
        assert!(PscRange::new(0x1000, 0x1000, PscOp::Private).is_err());
        assert!(PscRange::new(0x1001, 0x3000, PscOp::Private).is_err());
        assert!(PscRange::new(0, 1 << 53, PscOp::Private).is_err());
    }

    #[test]
    fn descriptor_batches_and_round_trips() {
        // 300 unaligned 4K pages => 253 + 47
        let mut r = PscRange::new(0x1000, 0x1000 + 300 * 0x1000, PscOp::Shared).unwrap();
        let d1 = r.next_descriptor();
        let d2 = r.next_descriptor();
        assert!(r.is_done());
        let n4k = |d: &PscDescriptor| d.entries().map(|e| u64::from(e.pages())).sum::<u64>();
        assert_eq!(d1.len(), 253);
        assert_eq!(d2.len(), 47);
        assert_eq!(n4k(&d1) + n4k(&d2), 300);
        let mut buf = [0u8; PSC_DESC_SIZE];
        d1.write_to(&mut buf).unwrap();
        let (h, back) = PscDescriptor::read_from(&buf).unwrap();
        assert_eq!(h.cur_entry, 0);
        assert_eq!(h.end_entry, 252);
        assert_eq!(back, d1);
        let mut full = d1.clone();
        assert_eq!(
            full.push(PscEntry {
                cur_page: 0,
                gfn: 0,
                op: PscOp::Private,
                size: PageSize::Size4K
            }),
            Err(PscError::Full)
        );
    }

    fn tracker_setup(n: u64) -> ([u8; PSC_DESC_SIZE], ProgressTracker) {
        let mut r = PscRange::new(0x1000, 0x1000 + n * 0x1000, PscOp::Private).unwrap();
        let d = r.next_descriptor();
        let mut buf = [0u8; PSC_DESC_SIZE];
        d.write_to(&mut buf).unwrap();
        (buf, ProgressTracker::new(&d).unwrap())
    }

    #[test]
    fn progress_forward_then_done() {
        let (mut buf, mut t) = tracker_setup(4);
        assert_eq!(t.check(&buf), Ok(Progress::Stalled));
        buf[0] = 2;
        assert_eq!(t.check(&buf), Ok(Progress::More));
        buf[0] = 4;
        assert_eq!(t.check(&buf), Ok(Progress::Done));
    }

    #[test]
    fn progress_rejects_hostile_hypervisor() {
        let (mut buf, mut t) = tracker_setup(4);
        buf[0] = 2;
        t.check(&buf).unwrap();
        buf[0] = 1;
        assert_eq!(t.check(&buf), Err(PscError::MovedBackwards));

        let (mut buf, mut t) = tracker_setup(4);
        buf[0] = 6;
        assert_eq!(t.check(&buf), Err(PscError::PastEnd));

        let (mut buf, mut t) = tracker_setup(4);
        buf[2] = 9;
        assert!(matches!(
            t.check(&buf),
            Err(PscError::EndEntryChanged { .. })
        ));

        let (mut buf, mut t) = tracker_setup(4);
        buf[4] = 1;
        assert_eq!(t.check(&buf), Err(PscError::HeaderReserved(1)));

        let (mut buf, mut t) = tracker_setup(4);
        buf[PSC_HEADER_SIZE + 8 + 2] ^= 0x10; // change GFN of entry 1
        assert_eq!(t.check(&buf), Err(PscError::EntryModified(1)));
    }

    #[test]
    fn progress_within_a_2m_entry() {
        let mut r = PscRange::new(0x20_0000, 0x40_0000, PscOp::Private).unwrap();
        let d = r.next_descriptor();
        assert_eq!(d.len(), 1);
        let mut buf = [0u8; PSC_DESC_SIZE];
        d.write_to(&mut buf).unwrap();
        let mut t = ProgressTracker::new(&d).unwrap();
        buf[PSC_HEADER_SIZE] = 100; // cur_page = 100
        assert_eq!(t.check(&buf), Ok(Progress::More));
        assert_eq!(t.check(&buf), Ok(Progress::Stalled));
        buf[PSC_HEADER_SIZE] = 50;
        assert_eq!(t.check(&buf), Err(PscError::MovedBackwards));
        buf[PSC_HEADER_SIZE] = 0;
        buf[PSC_HEADER_SIZE + 1] = 0x3; // cur_page = 0x300 > 512
        assert_eq!(t.check(&buf), Err(PscError::PastEnd));
    }

    /// A hypervisor writing arbitrary bytes into the descriptor never causes a panic, and
    /// the tracker only reports Done when cur_entry really passed end_entry.
    #[test]
    fn random_hypervisor_writes_never_panic() {
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let (mut buf, mut t) = tracker_setup(1 + next() % 20);
            for _ in 0..(next() % 4) {
                let i = (next() % 48) as usize;
                buf[i] = next() as u8;
            }
            if let Ok(Progress::Done) = t.check(&buf) {
                let h = PscHeader::read(&buf).unwrap();
                assert!(h.cur_entry > h.end_entry);
            }
            let _ = PscDescriptor::read_from(&buf);
        }
    }
}
