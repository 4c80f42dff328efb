//! The certificate table an extended guest request (NAE 0x8000_0012) returns in the shared
//! certificate buffer (AMD 56421 §4.1.8.2 "SNP Extended Guest Request", Table 10 "Certificate
//! Table Entry").
//!
//! The buffer starts with entries of 24 bytes — `GUID[16]`, offset u32, length u32 (offset and
//! length relative to the start of the buffer) — ended by an all-zero entry; the certificates
//! follow. Known GUIDs (AMD 56421 Table 11; written in RFC 4122 byte order, i.e. the bytes of
//! the textual form in order, as AMD's sev-guest tools produce with `uuid_parse`):
//! ARK c0b406a4-a803-4952-9743-3fb6014cd0ae, ASK 4ab7b379-bbac-4fe4-a02f-05aef327c782,
//! VCEK 63da758d-e664-4564-adc5-f4b93be8accd, VLEK a8074bc2-a25a-483e-aae6-39c045a0b8a1.
//!
//! The buffer is written by the untrusted host: every entry is bounds-checked, the table must be
//! terminated inside the buffer, and certificate bytes are only referenced, never interpreted
//! (their trust comes from the ARK → ASK → VCEK chain a verifier checks).

use alloc::vec::Vec;
use core::fmt;

/// Size of one table entry.
pub const ENTRY_SIZE: usize = 24;

/// ARK (AMD root key) certificate GUID.
pub const GUID_ARK: [u8; 16] = guid(0xc0b406a4, 0xa803, 0x4952, 0x9743, 0x3fb6014cd0ae);
/// ASK (AMD SEV signing key) certificate GUID.
pub const GUID_ASK: [u8; 16] = guid(0x4ab7b379, 0xbbac, 0x4fe4, 0xa02f, 0x05aef327c782);
/// VCEK (versioned chip endorsement key) certificate GUID.
pub const GUID_VCEK: [u8; 16] = guid(0x63da758d, 0xe664, 0x4564, 0xadc5, 0xf4b93be8accd);
/// VLEK (versioned loaded endorsement key) certificate GUID.
pub const GUID_VLEK: [u8; 16] = guid(0xa8074bc2, 0xa25a, 0x483e, 0xaae6, 0x39c045a0b8a1);

/// Builds GUID bytes in RFC 4122 (big-endian, textual) order.
pub const fn guid(a: u32, b: u16, c: u16, d: u16, e: u64) -> [u8; 16] {
    let a = a.to_be_bytes();
    let b = b.to_be_bytes();
    let c = c.to_be_bytes();
    let d = d.to_be_bytes();
    let e = e.to_be_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], e[2], e[3], e[4], e[5], e[6],
        e[7],
    ]
}

/// What a table entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// AMD root key.
    Ark,
    /// AMD SEV signing key.
    Ask,
    /// Versioned chip endorsement key.
    Vcek,
    /// Versioned loaded endorsement key.
    Vlek,
    /// Another GUID.
    Other([u8; 16]),
}

impl CertKind {
    /// Classifies a GUID.
    pub fn from_guid(g: &[u8; 16]) -> Self {
        match *g {
            GUID_ARK => Self::Ark,
            GUID_ASK => Self::Ask,
            GUID_VCEK => Self::Vcek,
            GUID_VLEK => Self::Vlek,
            other => Self::Other(other),
        }
    }
}

/// One certificate in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertEntry<'a> {
    /// The entry's GUID.
    pub guid: [u8; 16],
    /// Classified GUID.
    pub kind: CertKind,
    /// Offset of the certificate in the buffer.
    pub offset: u32,
    /// The certificate bytes (a slice of the buffer).
    pub data: &'a [u8],
}

/// Why a certificate table was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertTableError {
    /// No all-zero terminator inside the buffer.
    Unterminated,
    /// Entry `index` points outside the buffer.
    OutOfBounds {
        /// Entry index.
        index: usize,
        /// Its offset.
        offset: u32,
        /// Its length.
        length: u32,
    },
    /// Entry `index` overlaps the table itself.
    OverlapsTable {
        /// Entry index.
        index: usize,
    },
    /// Entry `index` has a zero GUID but non-zero offset/length (a malformed terminator).
    ZeroGuid {
        /// Entry index.
        index: usize,
    },
}

impl fmt::Display for CertTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unterminated => f.write_str("certificate table has no terminator"),
            Self::OutOfBounds {
                index,
                offset,
                length,
            } => write!(
                f,
                "certificate entry {index} ({offset:#x}+{length:#x}) is outside the buffer"
            ),
            Self::OverlapsTable { index } => {
                write!(f, "certificate entry {index} overlaps the table")
            }
            Self::ZeroGuid { index } => {
                write!(f, "certificate entry {index} has a zero GUID")
            }
        }
    }
}

/// A parsed certificate table referencing the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertTable<'a> {
    /// Entries in table order.
    pub entries: Vec<CertEntry<'a>>,
}

impl<'a> CertTable<'a> {
    /// Parses `buf`. An all-zero first entry (host loaded no certificates) gives an empty table.
    pub fn parse(buf: &'a [u8]) -> Result<Self, CertTableError> {
        let mut entries = Vec::new();
        let mut index = 0usize;
        let table_end = loop {
            let start = index
                .checked_mul(ENTRY_SIZE)
                .ok_or(CertTableError::Unterminated)?;
            let end = start
                .checked_add(ENTRY_SIZE)
                .ok_or(CertTableError::Unterminated)?;
            let raw = buf.get(start..end).ok_or(CertTableError::Unterminated)?;
            let (g, rest) = raw.split_at(16);
            let mut guid = [0u8; 16];
            guid.copy_from_slice(g);
            let word = |at: usize| {
                rest.get(at..at + 4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_le_bytes)
                    .ok_or(CertTableError::Unterminated)
            };
            let (offset, length) = (word(0)?, word(4)?);
            if guid == [0; 16] {
                if offset != 0 || length != 0 {
                    return Err(CertTableError::ZeroGuid { index });
                }
                break end;
            }
            entries.push((index, guid, offset, length));
            index += 1;
        };
        let mut out = Vec::with_capacity(entries.len());
        for (index, guid, offset, length) in entries {
            let oob = CertTableError::OutOfBounds {
                index,
                offset,
                length,
            };
            let start = usize::try_from(offset).map_err(|_| oob)?;
            let len = usize::try_from(length).map_err(|_| oob)?;
            let end = start.checked_add(len).ok_or(oob)?;
            let data = buf.get(start..end).ok_or(oob)?;
            if len != 0 && start < table_end {
                return Err(CertTableError::OverlapsTable { index });
            }
            out.push(CertEntry {
                guid,
                kind: CertKind::from_guid(&guid),
                offset,
                data,
            });
        }
        Ok(Self { entries: out })
    }

    /// The first entry of `kind`, if any.
    pub fn get(&self, kind: CertKind) -> Option<&CertEntry<'a>> {
        self.entries.iter().find(|e| e.kind == kind)
    }

    /// True if the host supplied no certificates.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Writes a table + certificates into `buf` (used by tests and simulators on the host side).
/// Returns the number of bytes used, or `None` if `buf` is too small.
pub fn build(buf: &mut [u8], certs: &[([u8; 16], &[u8])]) -> Option<usize> {
    let table_len = certs.len().checked_add(1)?.checked_mul(ENTRY_SIZE)?;
    let mut pos = table_len;
    buf.get_mut(..table_len)?.fill(0);
    for (i, (g, data)) in certs.iter().enumerate() {
        let end = pos.checked_add(data.len())?;
        buf.get_mut(pos..end)?.copy_from_slice(data);
        let e = buf.get_mut(i * ENTRY_SIZE..(i + 1) * ENTRY_SIZE)?;
        e.get_mut(..16)?.copy_from_slice(g);
        e.get_mut(16..20)?
            .copy_from_slice(&u32::try_from(pos).ok()?.to_le_bytes());
        e.get_mut(20..24)?
            .copy_from_slice(&u32::try_from(data.len()).ok()?.to_le_bytes());
        pos = end;
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_bytes_follow_text_order() {
        assert_eq!(
            GUID_VCEK,
            [
                0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8,
                0xac, 0xcd
            ]
        );
        assert_eq!(GUID_ARK[0], 0xc0);
        assert_eq!(GUID_ASK[15], 0x82);
        assert_eq!(GUID_VLEK[8..10], [0xaa, 0xe6]);
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 4096];
        let used = build(
            &mut buf,
            &[
                (GUID_VCEK, b"vcek-der"),
                (GUID_ASK, b"ask"),
                (GUID_ARK, b"ark!"),
            ],
        )
        .unwrap();
        assert_eq!(used, 4 * ENTRY_SIZE + 8 + 3 + 4);
        let t = CertTable::parse(&buf).unwrap();
        assert_eq!(t.entries.len(), 3);
        assert_eq!(t.get(CertKind::Vcek).unwrap().data, b"vcek-der");
        assert_eq!(t.get(CertKind::Ask).unwrap().data, b"ask");
        assert_eq!(t.get(CertKind::Ark).unwrap().data, b"ark!");
        assert!(t.get(CertKind::Vlek).is_none());
    }

    #[test]
    fn empty_and_hostile_tables() {
        assert!(CertTable::parse(&[0u8; 4096]).unwrap().is_empty());
        // Unterminated: buffer filled with one repeated non-zero entry.
        let mut buf = [0u8; 48];
        for e in buf.chunks_mut(ENTRY_SIZE) {
            e[..16].copy_from_slice(&GUID_VCEK);
        }
        assert_eq!(CertTable::parse(&buf), Err(CertTableError::Unterminated));
        assert_eq!(
            CertTable::parse(&[1u8; 10]),
            Err(CertTableError::Unterminated)
        );
        // Out of bounds and overflow.
        let mut buf = [0u8; 4096];
        buf[..16].copy_from_slice(&GUID_ASK);
        buf[16..20].copy_from_slice(&4000u32.to_le_bytes());
        buf[20..24].copy_from_slice(&200u32.to_le_bytes());
        assert!(matches!(
            CertTable::parse(&buf),
            Err(CertTableError::OutOfBounds { index: 0, .. })
        ));
        buf[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            CertTable::parse(&buf),
            Err(CertTableError::OutOfBounds { .. })
        ));
        // Pointing into the table.
        buf[16..20].copy_from_slice(&0u32.to_le_bytes());
        buf[20..24].copy_from_slice(&10u32.to_le_bytes());
        assert_eq!(
            CertTable::parse(&buf),
            Err(CertTableError::OverlapsTable { index: 0 })
        );
        // Zero GUID with data.
        let mut buf = [0u8; 4096];
        buf[16] = 1;
        assert_eq!(
            CertTable::parse(&buf),
            Err(CertTableError::ZeroGuid { index: 0 })
        );
        // Unknown GUIDs are kept.
        let mut buf = [0u8; 4096];
        let g = guid(1, 2, 3, 4, 5);
        build(&mut buf, &[(g, b"x")]).unwrap();
        let t = CertTable::parse(&buf).unwrap();
        assert_eq!(t.entries[0].kind, CertKind::Other(g));
    }
}
