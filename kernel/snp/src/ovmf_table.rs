//! The OVMF-compatible GUIDed footer table and SEV metadata of a `-bios` image.
//!
//! QEMU looks for this table when it loads a `-bios` ROM for an SEV-ES/SEV-SNP guest
//! (QEMU `hw/i386/pc_sysfw_ovmf.c`, `target/i386/sev.c`; layout as in OVMF's
//! `OvmfPkg/ResetVector`):
//!
//! * The ROM is mapped so that it ends at 4 GiB; the last 0x20 bytes hold the reset vector.
//! * The table ends 0x20 bytes before the end of the image. Its last 18 bytes are the footer
//!   entry: a little-endian `u16` total table length (all entries plus the footer itself)
//!   followed by the footer GUID `96b582de-1fb2-45f7-baea-a366c55a082d`.
//! * Every entry is `<data> <u16 length including the 18-byte trailer> <GUID>`; entries are
//!   walked backwards from the footer.
//! * GUIDs are stored mixed-endian (UEFI `EFI_GUID` / `UUID_LE`): the first three fields are
//!   little-endian, the last eight bytes are stored as written.
//!
//! Entries QEMU uses for SEV-SNP: the SEV-ES reset block (AP reset address, `u32`), the SEV
//! metadata offset (`u32` distance of the `ASEV` metadata from the end of the image) and the
//! optional SEV hash table (`u32` base, `u32` size) for kernel hashes. The `ASEV` metadata
//! lists the guest-physical ranges that QEMU hands to `SNP_LAUNCH_UPDATE` (AMD 56860 SNP ABI
//! §8.17, page types in Table 67) besides the ROM: pre-validated zero pages, the secrets page,
//! the CPUID page, the SVSM calling area and the kernel-hashes page.
//!
//! Image bytes are untrusted: every read is bounds-checked and every failure is an error that
//! names the problem. [`TableBuilder`] and [`build_metadata`] produce the same structures for
//! Elastic's image builder.

#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;

/// Bytes between the end of the table and the end of the image (reset vector area).
pub const BYTES_AFTER_TABLE: usize = 0x20;
/// Size of an entry's trailer: `u16` length plus the 16-byte GUID.
pub const ENTRY_TRAILER_LEN: usize = 18;
/// Size of the `ASEV` metadata header (signature, length, version, count).
pub const METADATA_HEADER_LEN: usize = 16;
/// Size of one `ASEV` section descriptor (GPA, length, type).
pub const METADATA_DESC_LEN: usize = 12;
/// The `ASEV` signature at the start of the metadata.
pub const METADATA_SIGNATURE: [u8; 4] = *b"ASEV";
/// The metadata version QEMU and OVMF use.
pub const METADATA_VERSION: u32 = 1;

/// A GUID in its on-disk (mixed-endian, `EFI_GUID`) byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Builds the stored form of the GUID written `d1-d2-d3-d4[0..2]-d4[2..8]`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-",
            g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9]
        )?;
        for b in &g[10..16] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

/// Footer GUID `96b582de-1fb2-45f7-baea-a366c55a082d` that marks the table.
pub const TABLE_FOOTER_GUID: Guid = Guid::from_fields(
    0x96b5_82de,
    0x1fb2,
    0x45f7,
    [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d],
);
/// SEV-ES reset block `00f771de-1a7e-4fcb-890e-68c77e2fb44e`: `u32` AP reset address.
pub const SEV_ES_RESET_BLOCK_GUID: Guid = Guid::from_fields(
    0x00f7_71de,
    0x1a7e,
    0x4fcb,
    [0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e],
);
/// SEV metadata offset `dc886566-984a-4798-a75e-5585a7bf67cc`: `u32` offset from the image end.
pub const SEV_METADATA_OFFSET_GUID: Guid = Guid::from_fields(
    0xdc88_6566,
    0x984a,
    0x4798,
    [0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc],
);
/// SEV hash table `7255371f-3a3b-4b04-927b-1da6efa8d454`: `u32` base GPA, `u32` size.
pub const SEV_HASH_TABLE_GUID: Guid = Guid::from_fields(
    0x7255_371f,
    0x3a3b,
    0x4b04,
    [0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54],
);

/// Why a footer table or metadata block was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    /// The image is shorter than the fixed footer area (48 bytes).
    ImageTooSmall {
        /// Length of the image in bytes.
        len: usize,
    },
    /// The footer length field is smaller than the footer itself or reaches before the image.
    BadTableLength {
        /// The `u16` total length read from the footer.
        total_len: u16,
    },
    /// An entry's length is below 18 or reaches before the start of the table.
    BadEntryLength {
        /// Byte offset (in the image) of the entry's trailer.
        at: usize,
        /// The length read.
        len: u16,
    },
    /// An entry's data is shorter than its GUID requires.
    EntryTooShort {
        /// The entry's GUID.
        guid: Guid,
        /// Bytes of data found.
        len: usize,
        /// Bytes of data required.
        need: usize,
    },
    /// The SEV-ES reset block holds address 0, which QEMU rejects.
    ZeroResetAddress,
    /// The metadata offset points outside the image or leaves no room for the header.
    MetadataOutOfImage {
        /// The offset from the image end.
        offset: u32,
    },
    /// The metadata does not start with `ASEV`.
    BadMetadataSignature([u8; 4]),
    /// The metadata length field is below the header size or beyond the image end.
    BadMetadataLength {
        /// The length read.
        len: u32,
    },
    /// The descriptor count does not fit in the metadata length.
    TooManySections {
        /// The descriptor count read.
        count: u32,
        /// The metadata length read.
        len: u32,
    },
    /// A section descriptor has a type this code does not know.
    UnknownSectionType {
        /// Index of the descriptor.
        index: usize,
        /// The type value read.
        kind: u32,
    },
    /// Builder: an entry does not fit into a `u16` length.
    EntryTooLarge {
        /// Data length requested.
        len: usize,
    },
    /// Builder: the table (or metadata) does not fit where it has to go.
    NoRoom {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::ImageTooSmall { len } => {
                write!(
                    f,
                    "image of {len} bytes is too small for an OVMF footer table"
                )
            }
            TableError::BadTableLength { total_len } => {
                write!(f, "OVMF footer table has invalid length {total_len}")
            }
            TableError::BadEntryLength { at, len } => {
                write!(
                    f,
                    "OVMF table entry at image offset {at:#x} has invalid length {len}"
                )
            }
            TableError::EntryTooShort { guid, len, need } => {
                write!(
                    f,
                    "OVMF table entry {guid} has {len} data bytes, needs {need}"
                )
            }
            TableError::ZeroResetAddress => write!(f, "SEV-ES reset block holds address 0"),
            TableError::MetadataOutOfImage { offset } => {
                write!(
                    f,
                    "SEV metadata offset {offset:#x} points outside the image"
                )
            }
            TableError::BadMetadataSignature(s) => {
                write!(f, "SEV metadata signature is {s:02x?}, expected \"ASEV\"")
            }
            TableError::BadMetadataLength { len } => {
                write!(f, "SEV metadata length {len} is invalid")
            }
            TableError::TooManySections { count, len } => {
                write!(
                    f,
                    "SEV metadata claims {count} sections but is only {len} bytes long"
                )
            }
            TableError::UnknownSectionType { index, kind } => {
                write!(f, "SEV metadata section {index} has unknown type {kind:#x}")
            }
            TableError::EntryTooLarge { len } => {
                write!(
                    f,
                    "OVMF table entry of {len} data bytes exceeds the u16 length field"
                )
            }
            TableError::NoRoom { need, have } => {
                write!(f, "need {need} bytes but only {have} are available")
            }
        }
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn read_guid(bytes: &[u8], at: usize) -> Option<Guid> {
    let b = bytes.get(at..at.checked_add(16)?)?;
    let mut g = [0u8; 16];
    g.copy_from_slice(b);
    Some(Guid(g))
}

/// One entry of the footer table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The entry's GUID.
    pub guid: Guid,
    /// The entry's data (everything before the 18-byte trailer).
    pub data: &'a [u8],
    /// Byte offset of `data` within the image.
    pub offset: usize,
}

/// The parsed footer table of an image (entries region only, footer excluded).
#[derive(Debug, Clone, Copy)]
pub struct FooterTable<'a> {
    image: &'a [u8],
    /// Image offset of the first byte of the entries region.
    start: usize,
    /// Image offset one past the last byte of the entries region.
    end: usize,
}

impl<'a> FooterTable<'a> {
    /// Locates the table in `image`; `Ok(None)` if the footer GUID is absent (not an
    /// OVMF-style image), an error if the footer is present but malformed.
    pub fn find(image: &'a [u8]) -> Result<Option<Self>, TableError> {
        let footer_guid_at = image
            .len()
            .checked_sub(BYTES_AFTER_TABLE + 16)
            .ok_or(TableError::ImageTooSmall { len: image.len() })?;
        let len_at = footer_guid_at
            .checked_sub(2)
            .ok_or(TableError::ImageTooSmall { len: image.len() })?;
        if read_guid(image, footer_guid_at) != Some(TABLE_FOOTER_GUID) {
            return Ok(None);
        }
        let total_len =
            read_u16(image, len_at).ok_or(TableError::ImageTooSmall { len: image.len() })?;
        let entries_len = usize::from(total_len)
            .checked_sub(ENTRY_TRAILER_LEN)
            .ok_or(TableError::BadTableLength { total_len })?;
        let start = len_at
            .checked_sub(entries_len)
            .ok_or(TableError::BadTableLength { total_len })?;
        Ok(Some(FooterTable {
            image,
            start,
            end: len_at,
        }))
    }

    /// Iterates over the entries from the footer backwards (the order QEMU searches them).
    pub fn entries(&self) -> Entries<'a> {
        Entries {
            image: self.image,
            start: self.start,
            cursor: self.end,
            failed: false,
        }
    }

    /// Returns the data of the first entry (walking backwards) with `guid`.
    pub fn get(&self, guid: &Guid) -> Result<Option<&'a [u8]>, TableError> {
        for entry in self.entries() {
            let entry = entry?;
            if entry.guid == *guid {
                return Ok(Some(entry.data));
            }
        }
        Ok(None)
    }

    /// Image offset range `(start, end)` of the entries region.
    pub fn span(&self) -> (usize, usize) {
        (self.start, self.end)
    }
}

/// Iterator over footer-table entries, see [`FooterTable::entries`].
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    image: &'a [u8],
    start: usize,
    cursor: usize,
    failed: bool,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, TableError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.cursor <= self.start {
            return None;
        }
        let r = self.next_entry();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl<'a> Entries<'a> {
    fn next_entry(&mut self) -> Result<Entry<'a>, TableError> {
        let remaining = self.cursor - self.start;
        let trailer_at = self.cursor.wrapping_sub(ENTRY_TRAILER_LEN);
        if remaining < ENTRY_TRAILER_LEN {
            return Err(TableError::BadEntryLength {
                at: self.start,
                len: remaining as u16,
            });
        }
        let guid = read_guid(self.image, trailer_at + 2).ok_or(TableError::BadEntryLength {
            at: trailer_at,
            len: 0,
        })?;
        let len = read_u16(self.image, trailer_at).ok_or(TableError::BadEntryLength {
            at: trailer_at,
            len: 0,
        })?;
        let len_us = usize::from(len);
        if len_us < ENTRY_TRAILER_LEN || len_us > remaining {
            return Err(TableError::BadEntryLength {
                at: trailer_at,
                len,
            });
        }
        let data_at = self.cursor - len_us;
        let data = self
            .image
            .get(data_at..trailer_at)
            .ok_or(TableError::BadEntryLength {
                at: trailer_at,
                len,
            })?;
        self.cursor = data_at;
        Ok(Entry {
            guid,
            data,
            offset: data_at,
        })
    }
}

/// Kind of an `ASEV` metadata section (QEMU `OvmfSectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionType {
    /// 1: memory QEMU pre-validates and measures as ZERO pages.
    SnpSecMem,
    /// 2: the SNP secrets page (page type SECRETS).
    SnpSecrets,
    /// 3: the SNP CPUID page (page type CPUID).
    Cpuid,
    /// 4: the SVSM calling area, measured as ZERO pages.
    SvsmCaa,
    /// 0x10: the kernel-hashes page (NORMAL with `kernel-hashes=on`, ZERO otherwise).
    KernelHashes,
}

impl SectionType {
    /// The numeric type stored in the descriptor.
    pub const fn to_u32(self) -> u32 {
        match self {
            SectionType::SnpSecMem => 1,
            SectionType::SnpSecrets => 2,
            SectionType::Cpuid => 3,
            SectionType::SvsmCaa => 4,
            SectionType::KernelHashes => 0x10,
        }
    }

    /// Decodes a stored type value.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(SectionType::SnpSecMem),
            2 => Some(SectionType::SnpSecrets),
            3 => Some(SectionType::Cpuid),
            4 => Some(SectionType::SvsmCaa),
            0x10 => Some(SectionType::KernelHashes),
            _ => None,
        }
    }
}

/// One `ASEV` section descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataSection {
    /// Guest-physical start address.
    pub gpa: u32,
    /// Length in bytes.
    pub len: u32,
    /// What the range is.
    pub kind: SectionType,
}

/// The parsed `ASEV` metadata block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SevMetadata {
    /// Version field (1 for current OVMF/QEMU).
    pub version: u32,
    /// Sections in table order (the order QEMU launches them in).
    pub sections: Vec<MetadataSection>,
}

/// Parses the `ASEV` metadata that starts `offset_from_end` bytes before the end of `image`.
pub fn parse_metadata(image: &[u8], offset_from_end: u32) -> Result<SevMetadata, TableError> {
    let out = TableError::MetadataOutOfImage {
        offset: offset_from_end,
    };
    let off = usize::try_from(offset_from_end).map_err(|_| out.clone())?;
    let start = image.len().checked_sub(off).ok_or(out.clone())?;
    let header = image.get(start..start.checked_add(METADATA_HEADER_LEN).ok_or(out.clone())?);
    let header = header.ok_or(out)?;
    let mut sig = [0u8; 4];
    sig.copy_from_slice(
        header
            .get(0..4)
            .ok_or(TableError::BadMetadataSignature([0; 4]))?,
    );
    if sig != METADATA_SIGNATURE {
        return Err(TableError::BadMetadataSignature(sig));
    }
    let field = |at| read_u32(header, at).ok_or(TableError::BadMetadataLength { len: 0 });
    let len = field(4)?;
    let version = field(8)?;
    let count = field(12)?;
    let len_us = usize::try_from(len).map_err(|_| TableError::BadMetadataLength { len })?;
    if len_us < METADATA_HEADER_LEN || len_us > off {
        return Err(TableError::BadMetadataLength { len });
    }
    let needed = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(METADATA_DESC_LEN))
        .and_then(|d| d.checked_add(METADATA_HEADER_LEN));
    if needed.is_none_or(|n| n > len_us) {
        return Err(TableError::TooManySections { count, len });
    }
    let block = image
        .get(start..start + len_us)
        .ok_or(TableError::BadMetadataLength { len })?;
    let mut sections = Vec::new();
    for index in 0..count as usize {
        let at = METADATA_HEADER_LEN + index * METADATA_DESC_LEN;
        let bad = TableError::TooManySections { count, len };
        let gpa = read_u32(block, at).ok_or(bad.clone())?;
        let slen = read_u32(block, at + 4).ok_or(bad.clone())?;
        let kind_raw = read_u32(block, at + 8).ok_or(bad)?;
        let kind = SectionType::from_u32(kind_raw).ok_or(TableError::UnknownSectionType {
            index,
            kind: kind_raw,
        })?;
        sections.push(MetadataSection {
            gpa,
            len: slen,
            kind,
        });
    }
    Ok(SevMetadata { version, sections })
}

/// What QEMU needs from an SEV-capable `-bios` image, gathered from its footer table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvmfInfo {
    /// AP reset address from the SEV-ES reset block, if present.
    pub sev_es_reset_addr: Option<u32>,
    /// Offset of the `ASEV` metadata from the end of the image, if present.
    pub metadata_offset: Option<u32>,
    /// The parsed metadata, if the offset entry is present.
    pub metadata: Option<SevMetadata>,
    /// Kernel-hashes table `(base GPA, size)`, if present.
    pub hash_table: Option<(u32, u32)>,
}

fn entry_u32(
    table: &FooterTable<'_>,
    guid: &Guid,
    index: usize,
) -> Result<Option<u32>, TableError> {
    match table.get(guid)? {
        None => Ok(None),
        Some(data) => {
            let need = (index + 1) * 4;
            read_u32(data, index * 4)
                .map(Some)
                .ok_or(TableError::EntryTooShort {
                    guid: *guid,
                    len: data.len(),
                    need,
                })
        }
    }
}

/// Reads the footer table and the SEV entries of `image`. `Ok(None)` if the image has no
/// footer table at all.
pub fn parse_image(image: &[u8]) -> Result<Option<OvmfInfo>, TableError> {
    let Some(table) = FooterTable::find(image)? else {
        return Ok(None);
    };
    // Walk the whole table once so a malformed entry is reported even if it is not needed.
    for entry in table.entries() {
        entry?;
    }
    let sev_es_reset_addr = entry_u32(&table, &SEV_ES_RESET_BLOCK_GUID, 0)?;
    if sev_es_reset_addr == Some(0) {
        return Err(TableError::ZeroResetAddress);
    }
    let metadata_offset = entry_u32(&table, &SEV_METADATA_OFFSET_GUID, 0)?;
    let metadata = match metadata_offset {
        Some(off) => Some(parse_metadata(image, off)?),
        None => None,
    };
    let hash_table = match entry_u32(&table, &SEV_HASH_TABLE_GUID, 1)? {
        Some(size) => entry_u32(&table, &SEV_HASH_TABLE_GUID, 0)?.map(|base| (base, size)),
        None => None,
    };
    Ok(Some(OvmfInfo {
        sev_es_reset_addr,
        metadata_offset,
        metadata,
        hash_table,
    }))
}

/// Builds a footer table. Entries are laid out so that walking backwards from the footer
/// yields them in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct TableBuilder {
    entries: Vec<(Guid, Vec<u8>)>,
}

impl TableBuilder {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry with arbitrary data.
    pub fn entry(&mut self, guid: Guid, data: &[u8]) -> &mut Self {
        self.entries.push((guid, data.to_vec()));
        self
    }

    /// Adds the SEV-ES reset block with the AP reset address (must be non-zero for QEMU).
    pub fn sev_es_reset_block(&mut self, ap_reset_addr: u32) -> &mut Self {
        self.entry(SEV_ES_RESET_BLOCK_GUID, &ap_reset_addr.to_le_bytes())
    }

    /// Adds the SEV metadata offset entry (`offset_from_end` = image length − metadata offset).
    pub fn sev_metadata_offset(&mut self, offset_from_end: u32) -> &mut Self {
        self.entry(SEV_METADATA_OFFSET_GUID, &offset_from_end.to_le_bytes())
    }

    /// Adds the kernel-hashes table entry.
    pub fn sev_hash_table(&mut self, base: u32, size: u32) -> &mut Self {
        let mut d = [0u8; 8];
        d[..4].copy_from_slice(&base.to_le_bytes());
        d[4..].copy_from_slice(&size.to_le_bytes());
        self.entry(SEV_HASH_TABLE_GUID, &d)
    }

    /// Length in bytes of the built table, footer included.
    pub fn len(&self) -> usize {
        self.entries
            .iter()
            .map(|(_, d)| d.len() + ENTRY_TRAILER_LEN)
            .sum::<usize>()
            + ENTRY_TRAILER_LEN
    }

    /// True if no entries were added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The table bytes, footer included; they go immediately before the last 0x20 bytes of
    /// the image.
    pub fn build(&self) -> Result<Vec<u8>, TableError> {
        let total = self.len();
        let total_u16 =
            u16::try_from(total).map_err(|_| TableError::EntryTooLarge { len: total })?;
        let mut out = Vec::with_capacity(total);
        // The last entry added sits lowest in memory.
        for (guid, data) in self.entries.iter().rev() {
            let len = data.len() + ENTRY_TRAILER_LEN;
            let len =
                u16::try_from(len).map_err(|_| TableError::EntryTooLarge { len: data.len() })?;
            out.extend_from_slice(data);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&guid.0);
        }
        out.extend_from_slice(&total_u16.to_le_bytes());
        out.extend_from_slice(&TABLE_FOOTER_GUID.0);
        Ok(out)
    }

    /// Writes the table into `image` so that it ends 0x20 bytes before the image end;
    /// returns the image offset where the table starts.
    pub fn write_into(&self, image: &mut [u8]) -> Result<usize, TableError> {
        let bytes = self.build()?;
        let have = image.len().saturating_sub(BYTES_AFTER_TABLE);
        let start = have.checked_sub(bytes.len()).ok_or(TableError::NoRoom {
            need: bytes.len(),
            have,
        })?;
        image
            .get_mut(start..have)
            .ok_or(TableError::NoRoom {
                need: bytes.len(),
                have,
            })?
            .copy_from_slice(&bytes);
        Ok(start)
    }
}

/// Encodes an `ASEV` metadata block (version 1) for `sections`, in the given order.
pub fn build_metadata(sections: &[MetadataSection]) -> Result<Vec<u8>, TableError> {
    let len = sections
        .len()
        .checked_mul(METADATA_DESC_LEN)
        .and_then(|d| d.checked_add(METADATA_HEADER_LEN))
        .ok_or(TableError::NoRoom {
            need: usize::MAX,
            have: u32::MAX as usize,
        })?;
    let len_u32 = u32::try_from(len).map_err(|_| TableError::NoRoom {
        need: len,
        have: u32::MAX as usize,
    })?;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&METADATA_SIGNATURE);
    out.extend_from_slice(&len_u32.to_le_bytes());
    out.extend_from_slice(&METADATA_VERSION.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for s in sections {
        out.extend_from_slice(&s.gpa.to_le_bytes());
        out.extend_from_slice(&s.len.to_le_bytes());
        out.extend_from_slice(&s.kind.to_u32().to_le_bytes());
    }
    Ok(out)
}

/// Writes an `ASEV` metadata block for `sections` at image offset `at` and returns the
/// value for the metadata offset entry (`image.len() - at`).
pub fn write_metadata(
    image: &mut [u8],
    at: usize,
    sections: &[MetadataSection],
) -> Result<u32, TableError> {
    let bytes = build_metadata(sections)?;
    let end = at
        .checked_add(bytes.len())
        .filter(|e| *e <= image.len())
        .ok_or(TableError::NoRoom {
            need: bytes.len(),
            have: image.len().saturating_sub(at),
        })?;
    let have = image.len().saturating_sub(at);
    image
        .get_mut(at..end)
        .ok_or(TableError::NoRoom {
            need: bytes.len(),
            have,
        })?
        .copy_from_slice(&bytes);
    let off = image.len() - at;
    u32::try_from(off).map_err(|_| TableError::MetadataOutOfImage { offset: u32::MAX })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::format;
    use alloc::vec;

    fn sample_sections() -> Vec<MetadataSection> {
        vec![
            MetadataSection {
                gpa: 0x80_0000,
                len: 0x9000,
                kind: SectionType::SnpSecMem,
            },
            MetadataSection {
                gpa: 0x80_9000,
                len: 0x1000,
                kind: SectionType::SnpSecrets,
            },
            MetadataSection {
                gpa: 0x80_a000,
                len: 0x1000,
                kind: SectionType::Cpuid,
            },
            MetadataSection {
                gpa: 0x80_b000,
                len: 0x1000,
                kind: SectionType::SvsmCaa,
            },
            MetadataSection {
                gpa: 0x80_c000,
                len: 0x1000,
                kind: SectionType::KernelHashes,
            },
        ]
    }

    /// Builds a synthetic image: patterned bytes, metadata at `meta_at`, table at the end.
    fn synthetic_image(size: usize, meta_at: usize) -> Vec<u8> {
        let mut img: Vec<u8> = (0..size).map(|i| (i * 7 + (i >> 9)) as u8).collect();
        let off = write_metadata(&mut img, meta_at, &sample_sections()).unwrap();
        let mut tb = TableBuilder::new();
        tb.sev_es_reset_block(0xffff_f000)
            .sev_metadata_offset(off)
            .sev_hash_table(0x80_c000, 0x400)
            .entry(Guid([0xaa; 16]), b"elastic");
        tb.write_into(&mut img).unwrap();
        img
    }

    #[test]
    fn guid_text_form_matches_stored_bytes() {
        assert_eq!(
            format!("{TABLE_FOOTER_GUID}"),
            "96b582de-1fb2-45f7-baea-a366c55a082d"
        );
        // Mixed-endian: first field little-endian, tail as written.
        assert_eq!(&TABLE_FOOTER_GUID.0[..4], &[0xde, 0x82, 0xb5, 0x96]);
        assert_eq!(
            &TABLE_FOOTER_GUID.0[8..],
            &[0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d]
        );
        assert_eq!(
            format!("{SEV_METADATA_OFFSET_GUID}"),
            "dc886566-984a-4798-a75e-5585a7bf67cc"
        );
    }

    #[test]
    fn build_parse_round_trip() {
        let img = synthetic_image(512 * 1024, 0x1000);
        // Footer GUID sits 48 bytes before the end.
        assert_eq!(&img[img.len() - 48..img.len() - 32], &TABLE_FOOTER_GUID.0);
        let info = parse_image(&img).unwrap().unwrap();
        assert_eq!(info.sev_es_reset_addr, Some(0xffff_f000));
        assert_eq!(info.metadata_offset, Some((512 * 1024 - 0x1000) as u32));
        assert_eq!(info.hash_table, Some((0x80_c000, 0x400)));
        let md = info.metadata.unwrap();
        assert_eq!(md.version, 1);
        assert_eq!(md.sections, sample_sections());

        let table = FooterTable::find(&img).unwrap().unwrap();
        let guids: Vec<Guid> = table.entries().map(|e| e.unwrap().guid).collect();
        assert_eq!(
            guids,
            vec![
                SEV_ES_RESET_BLOCK_GUID,
                SEV_METADATA_OFFSET_GUID,
                SEV_HASH_TABLE_GUID,
                Guid([0xaa; 16])
            ]
        );
        assert_eq!(table.get(&Guid([0xaa; 16])).unwrap(), Some(&b"elastic"[..]));
        let (start, end) = table.span();
        // Four entries: 4 + 4 + 8 + 7 data bytes plus four 18-byte trailers.
        assert_eq!(end - start, 23 + 4 * ENTRY_TRAILER_LEN);
    }

    #[test]
    fn image_without_footer_is_not_an_error() {
        let img = vec![0u8; 4096];
        assert_eq!(parse_image(&img), Ok(None));
        assert_eq!(
            parse_image(&[0u8; 10]),
            Err(TableError::ImageTooSmall { len: 10 })
        );
    }

    #[test]
    fn malformed_tables_give_specific_errors() {
        let good = synthetic_image(64 * 1024, 0x100);
        let n = good.len();
        let len_at = n - 50;

        // Total length smaller than the footer.
        let mut img = good.clone();
        img[len_at..len_at + 2].copy_from_slice(&10u16.to_le_bytes());
        assert_eq!(
            parse_image(&img),
            Err(TableError::BadTableLength { total_len: 10 })
        );

        // Total length reaching before the image start.
        let mut small = vec![0u8; 100];
        let mut tb = TableBuilder::new();
        tb.sev_es_reset_block(1);
        tb.write_into(&mut small).unwrap();
        small[100 - 50..100 - 48].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(
            parse_image(&small),
            Err(TableError::BadTableLength { total_len: 0xffff })
        );

        // An entry length below the trailer size.
        let mut img = good.clone();
        let first_trailer = len_at - ENTRY_TRAILER_LEN;
        img[first_trailer..first_trailer + 2].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(
            parse_image(&img),
            Err(TableError::BadEntryLength {
                at: first_trailer,
                len: 3
            })
        );

        // Zero reset address.
        let mut img = good.clone();
        img[first_trailer - 4..first_trailer].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse_image(&img), Err(TableError::ZeroResetAddress));

        // Metadata offset beyond the image.
        let mut img = good.clone();
        let second_trailer = first_trailer - 4 - ENTRY_TRAILER_LEN;
        img[second_trailer - 4..second_trailer].copy_from_slice(&(n as u32 + 1).to_le_bytes());
        assert_eq!(
            parse_image(&img),
            Err(TableError::MetadataOutOfImage {
                offset: n as u32 + 1
            })
        );

        // Bad signature, bad length, too many sections, unknown type.
        let meta = 0x100;
        let mut img = good.clone();
        img[meta] = b'X';
        assert!(matches!(
            parse_image(&img),
            Err(TableError::BadMetadataSignature(_))
        ));
        let mut img = good.clone();
        img[meta + 4..meta + 8].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(
            parse_image(&img),
            Err(TableError::BadMetadataLength { len: 8 })
        );
        let mut img = good.clone();
        img[meta + 12..meta + 16].copy_from_slice(&6u32.to_le_bytes());
        assert!(matches!(
            parse_image(&img),
            Err(TableError::TooManySections { count: 6, .. })
        ));
        let mut img = good.clone();
        img[meta + 16 + 8..meta + 16 + 12].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(
            parse_image(&img),
            Err(TableError::UnknownSectionType { index: 0, kind: 7 })
        );
    }

    #[test]
    fn every_truncation_and_byte_corruption_is_handled() {
        // No input may panic: corrupt each byte of the footer area and metadata header.
        let good = synthetic_image(8 * 1024, 0x40);
        let n = good.len();
        for at in (n - 200..n).chain(0x40..0x40 + 16 + 5 * 12) {
            for v in [0u8, 0x01, 0x7f, 0xff] {
                let mut img = good.clone();
                img[at] = v;
                let _ = parse_image(&img);
            }
        }
        for cut in 0..n {
            let _ = parse_image(&good[..cut]);
            let _ = parse_image(&good[cut..]);
        }
    }

    #[test]
    fn builder_reports_no_room() {
        let mut img = vec![0u8; 40];
        let mut tb = TableBuilder::new();
        tb.sev_es_reset_block(0x1000);
        assert!(matches!(
            tb.write_into(&mut img),
            Err(TableError::NoRoom { .. })
        ));
        assert!(matches!(
            write_metadata(&mut img, 30, &sample_sections()),
            Err(TableError::NoRoom { .. })
        ));
        let mut big = TableBuilder::new();
        big.entry(Guid([1; 16]), &vec![0u8; 70_000]);
        assert!(matches!(big.build(), Err(TableError::EntryTooLarge { .. })));
    }

    /// The AmdSev OVMF suffix from virtee/sev's test data (last 4 KiB of an AmdSevX64 build,
    /// self-contained: its metadata lies inside the last 4 KiB).
    #[test]
    fn parses_real_amdsev_ovmf_suffix() {
        let img = include_bytes!("../testdata/ovmf_AmdSev_suffix.bin");
        let info = parse_image(img).unwrap().unwrap();
        assert_eq!(info.sev_es_reset_addr, Some(0x0080_b004));
        let md = info.metadata.unwrap();
        assert_eq!(md.version, 1);
        assert!(
            md.sections
                .iter()
                .any(|s| s.kind == SectionType::SnpSecrets)
        );
        assert!(md.sections.iter().any(|s| s.kind == SectionType::Cpuid));
        assert!(info.hash_table.is_some());
    }

    /// Debian's `ovmf` package (OvmfPkgX64 with SEV support) if installed.
    #[test]
    fn parses_debian_ovmf_if_installed() {
        let path = "/usr/share/ovmf/OVMF.fd";
        let Ok(img) = std::fs::read(path) else {
            std::eprintln!("skipped: {path} not installed (apt-get install ovmf)");
            return;
        };
        let info = parse_image(&img).unwrap().unwrap();
        assert!(info.sev_es_reset_addr.is_some());
        let md = info.metadata.unwrap();
        assert!(md.sections.iter().any(|s| s.kind == SectionType::Cpuid));
        assert!(
            md.sections
                .iter()
                .any(|s| s.kind == SectionType::SnpSecrets)
        );
    }
}
