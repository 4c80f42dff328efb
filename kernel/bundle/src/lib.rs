//! The baked-guest bundle: one self-describing, self-verifying blob holding the canonical
//! [`Manifest`] and every file the guests need (their `.wasm` modules, preopened data,
//! stdin files).
//!
//! Layout (byte-exact description in `docs/bundle.md`):
//!
//! ```text
//! +---------------------+  offset 0
//! | header (128 bytes)  |  magic, version, lengths, counts, manifest SHA-256, bundle SHA-384
//! +---------------------+  offset 128
//! | manifest            |  length-prefixed binary encoding (see `manifest`)
//! +---------------------+  offset 128 + manifest_len
//! | ustar archive       |  the files, read with `tar-no-std`, written with `tar`
//! +---------------------+  offset total_len
//! ```
//!
//! [`Bundle::parse`] verifies, in this order and before exposing anything: the header
//! fields and lengths, the SHA-384 bundle digest (over every byte except the digest field),
//! the manifest's SHA-256, the manifest encoding and rules, the archive structure, and then
//! every archive entry against the manifest's file table (name, size, SHA-256; no
//! duplicates, nothing unlisted, nothing missing), and finally the manifest's references
//! (each guest's wasm and stdin file exists; wasm starts with the wasm magic). Every
//! offset, length and count is checked; hostile input yields a [`BundleError`], never a
//! panic. The digest the firmware pins is [`Bundle::digest`].
//!
//! The `std` feature adds `BundleBuilder`, used by the host tool.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]
// Bundles come from whoever built the image: no panicking shortcuts outside tests
// (docs/robustness.md, "Panic-freedom and fallible allocation").
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

extern crate alloc;

#[cfg(feature = "std")]
mod builder;
mod error;
pub mod manifest;

#[cfg(feature = "std")]
pub use builder::{BuildError, BundleBuilder};
pub use error::BundleError;
pub use manifest::{
    Export, FileRecord, Guest, Limits, Manifest, ManifestError, OutputMode, Preopen,
};

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use sha2::{Digest, Sha256, Sha384};
use tar_no_std::{TarArchiveRef, TypeFlag};

/// The 8 magic bytes at offset 0.
pub const MAGIC: [u8; 8] = *b"ELBUNDL\0";
/// Bundle format version written by the builder and accepted by the parser.
pub const VERSION: u32 = 1;
/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 128;
/// Offset of the SHA-384 bundle digest inside the header; it covers bytes
/// `0..DIGEST_OFFSET` and `HEADER_LEN..total_len`.
pub const DIGEST_OFFSET: usize = 80;
/// Length of the bundle digest (SHA-384).
pub const DIGEST_LEN: usize = 48;
/// Largest total bundle size accepted (4 GiB).
pub const MAX_TOTAL_LEN: u64 = 1 << 32;
/// The wasm binary magic every guest module must start with.
pub const WASM_MAGIC: [u8; 4] = *b"\0asm";

/// The fixed header fields (`docs/bundle.md`, "Header").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Length of the whole bundle, header included.
    pub total_len: u64,
    /// Length of the manifest section.
    pub manifest_len: u64,
    /// Length of the archive section.
    pub archive_len: u64,
    /// Number of guests in the manifest.
    pub guest_count: u32,
    /// Number of files in the archive (and in the manifest's file table).
    pub file_count: u32,
    /// SHA-256 of the manifest section.
    pub manifest_sha256: [u8; 32],
    /// SHA-384 over header bytes `0..80` followed by bytes `128..total_len`.
    pub digest: [u8; DIGEST_LEN],
}

/// The `N` header bytes at `at` (zeros past the end: the offsets are constants inside the
/// [`HEADER_LEN`] bytes [`Header::read`] checked are there).
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..)
        .and_then(|s| s.first_chunk::<N>())
        .copied()
        .unwrap_or([0; N])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes_at(b, at))
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes_at(b, at))
}

impl Header {
    /// Decodes and checks the header at the start of `bytes` (magic, version, header
    /// length, section lengths adding up, size limit). Needs only the first
    /// [`HEADER_LEN`] bytes, so the kernel can bound a bundle before mapping or hashing it.
    pub fn read(bytes: &[u8]) -> Result<Self, BundleError> {
        let Some(h) = bytes.get(..HEADER_LEN) else {
            return Err(BundleError::Truncated {
                what: "header",
                need: HEADER_LEN as u64,
                have: bytes.len() as u64,
            });
        };
        if !h.starts_with(&MAGIC) {
            return Err(BundleError::BadMagic);
        }
        let version = le_u32(h, 8);
        if version != VERSION {
            return Err(BundleError::UnsupportedVersion(version));
        }
        let header_len = le_u32(h, 12);
        if header_len as usize != HEADER_LEN {
            return Err(BundleError::BadHeaderLength(header_len));
        }
        let manifest_sha256: [u8; 32] = bytes_at(h, 48);
        let digest: [u8; DIGEST_LEN] = bytes_at(h, DIGEST_OFFSET);
        let header = Self {
            version,
            total_len: le_u64(h, 16),
            manifest_len: le_u64(h, 24),
            archive_len: le_u64(h, 32),
            guest_count: le_u32(h, 40),
            file_count: le_u32(h, 44),
            manifest_sha256,
            digest,
        };
        if header.total_len > MAX_TOTAL_LEN {
            return Err(BundleError::TooLarge {
                total_len: header.total_len,
            });
        }
        let sections = (HEADER_LEN as u64)
            .checked_add(header.manifest_len)
            .and_then(|n| n.checked_add(header.archive_len));
        if sections != Some(header.total_len) {
            return Err(BundleError::LengthMismatch {
                total_len: header.total_len,
                manifest_len: header.manifest_len,
                archive_len: header.archive_len,
            });
        }
        Ok(header)
    }

    /// Encodes the header (used by the builder).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&self.version.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.total_len.to_le_bytes());
        h[24..32].copy_from_slice(&self.manifest_len.to_le_bytes());
        h[32..40].copy_from_slice(&self.archive_len.to_le_bytes());
        h[40..44].copy_from_slice(&self.guest_count.to_le_bytes());
        h[44..48].copy_from_slice(&self.file_count.to_le_bytes());
        h[48..80].copy_from_slice(&self.manifest_sha256);
        h[DIGEST_OFFSET..DIGEST_OFFSET + DIGEST_LEN].copy_from_slice(&self.digest);
        h
    }
}

/// Computes the bundle digest of `bytes` (a whole bundle, `bytes.len() >= HEADER_LEN`):
/// SHA-384 over `bytes[0..80]` then `bytes[128..]`.
pub fn compute_digest(bytes: &[u8]) -> [u8; DIGEST_LEN] {
    let mut h = Sha384::new();
    h.update(bytes.get(..DIGEST_OFFSET).unwrap_or(bytes));
    h.update(bytes.get(HEADER_LEN..).unwrap_or(&[]));
    h.finalize().into()
}

/// A verified bundle: the manifest plus zero-copy views of every file.
#[derive(Debug)]
pub struct Bundle<'a> {
    header: Header,
    manifest: Manifest,
    /// File contents, index-parallel to `manifest.files`.
    data: Vec<&'a [u8]>,
}

/// One file of a verified bundle, as yielded by [`Bundle::files`] and
/// [`Bundle::files_under`].
#[derive(Clone, Copy, Debug)]
pub struct FileEntry<'m, 'a> {
    /// Full bundle path.
    pub path: &'m str,
    /// Path relative to the directory asked for (equal to `path` for [`Bundle::files`]).
    pub relative: &'m str,
    /// Contents (borrowed from the bundle bytes).
    pub data: &'a [u8],
    /// SHA-256 of the contents (already checked).
    pub sha256: &'m [u8; 32],
}

impl<'a> Bundle<'a> {
    /// Reads the total bundle length from a header without verifying the rest, so the
    /// kernel can bound a bundle inside a larger region before calling [`parse`](Self::parse).
    pub fn peek_total_len(bytes: &[u8]) -> Result<u64, BundleError> {
        Header::read(bytes).map(|h| h.total_len)
    }

    /// Verifies and opens a bundle; `bytes` must be exactly the bundle (see
    /// [`peek_total_len`](Self::peek_total_len)). The verification order is in the module
    /// documentation; nothing is exposed unless every check passes.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BundleError> {
        // 1. Header: magic, version, lengths.
        let header = Header::read(bytes)?;
        let have = bytes.len() as u64;
        if have < header.total_len {
            return Err(BundleError::Truncated {
                what: "bundle",
                need: header.total_len,
                have,
            });
        }
        if have > header.total_len {
            return Err(BundleError::TrailingBytes {
                count: have - header.total_len,
            });
        }
        // 2. Whole-bundle SHA-384, before any content is parsed.
        if compute_digest(bytes) != header.digest {
            return Err(BundleError::BundleDigestMismatch);
        }
        // Lengths were checked to add up to bytes.len(), so these conversions and
        // splits are in range.
        let manifest_end = HEADER_LEN
            .checked_add(usize::try_from(header.manifest_len).map_err(|_| too_large(&header))?)
            .ok_or_else(|| too_large(&header))?;
        let (Some(manifest_bytes), Some(archive)) = (
            bytes.get(HEADER_LEN..manifest_end),
            bytes.get(manifest_end..),
        ) else {
            return Err(too_large(&header));
        };
        // 3. Manifest digest, decoding and rules.
        let manifest_digest: [u8; 32] = Sha256::digest(manifest_bytes).into();
        if manifest_digest != header.manifest_sha256 {
            return Err(BundleError::ManifestDigestMismatch);
        }
        let manifest = Manifest::decode(manifest_bytes)?;
        if manifest.guests.len() as u64 != u64::from(header.guest_count) {
            return Err(BundleError::CountMismatch {
                what: "guests",
                header: header.guest_count,
                actual: manifest.guests.len() as u64,
            });
        }
        if manifest.files.len() as u64 != u64::from(header.file_count) {
            return Err(BundleError::CountMismatch {
                what: "files",
                header: header.file_count,
                actual: manifest.files.len() as u64,
            });
        }
        // 4. Archive structure and entries.
        let data = verify_archive(archive, &manifest)?;
        // 5. References from guests to files.
        for g in &manifest.guests {
            let Some(i) = manifest.file_index(&g.wasm) else {
                return Err(BundleError::MissingFile {
                    guest: g.name.clone(),
                    what: "wasm module",
                    path: g.wasm.clone(),
                });
            };
            if !data.get(i).is_some_and(|d| d.starts_with(&WASM_MAGIC)) {
                return Err(BundleError::NotWasm {
                    guest: g.name.clone(),
                    path: g.wasm.clone(),
                });
            }
            if let Some(stdin) = &g.stdin
                && manifest.file_index(stdin).is_none()
            {
                return Err(BundleError::MissingFile {
                    guest: g.name.clone(),
                    what: "stdin file",
                    path: stdin.clone(),
                });
            }
        }
        Ok(Self {
            header,
            manifest,
            data,
        })
    }

    /// Like [`parse`](Self::parse), but first requires the header's digest to equal
    /// `expected` (the digest pinned in the measured firmware image for an out-of-image
    /// bundle). A bundle that is not the pinned one is refused with
    /// [`BundleError::UnexpectedDigest`] after reading only the header; the pinned digest
    /// is then verified against the contents by `parse` before anything else is read.
    pub fn parse_pinned(bytes: &'a [u8], expected: &[u8; DIGEST_LEN]) -> Result<Self, BundleError> {
        let header = Header::read(bytes)?;
        if header.digest != *expected {
            return Err(BundleError::UnexpectedDigest);
        }
        Self::parse(bytes)
    }

    /// The SHA-384 bundle digest (verified), the value the firmware image pins.
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        self.header.digest
    }

    /// The verified header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The guests in run order.
    pub fn guests(&self) -> &[Guest] {
        &self.manifest.guests
    }

    /// Whether all guests share one ramfs.
    pub fn shared_ramfs(&self) -> bool {
        self.manifest.shared_ramfs
    }

    /// The export paths.
    pub fn exports(&self) -> &[Export] {
        &self.manifest.exports
    }

    /// Contents of the file at bundle path `path`.
    pub fn file(&self, path: &str) -> Option<&'a [u8]> {
        self.manifest
            .file_index(path)
            .and_then(|i| self.data.get(i).copied())
    }

    /// The `.wasm` module of `guest`.
    pub fn wasm(&self, guest: &Guest) -> Option<&'a [u8]> {
        self.file(&guest.wasm)
    }

    /// The stdin contents of `guest` (empty when it has none).
    pub fn stdin(&self, guest: &Guest) -> &'a [u8] {
        guest
            .stdin
            .as_deref()
            .and_then(|p| self.file(p))
            .unwrap_or(&[])
    }

    /// Every file, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = FileEntry<'_, 'a>> + '_ {
        self.manifest
            .files
            .iter()
            .zip(self.data.iter())
            .map(|(f, d)| FileEntry {
                path: &f.path,
                relative: &f.path,
                data: d,
                sha256: &f.sha256,
            })
    }

    /// The files below directory `dir` (a bundle path; a trailing `/` is ignored; `""`
    /// means all files), sorted by path, with their paths relative to `dir`. Used to fill
    /// a preopened directory's ramfs.
    pub fn files_under<'s>(&'s self, dir: &'s str) -> impl Iterator<Item = FileEntry<'s, 'a>> + 's {
        let dir = dir.trim_end_matches('/');
        self.files().filter_map(move |e| {
            let relative = if dir.is_empty() {
                e.path
            } else {
                e.path.strip_prefix(dir)?.strip_prefix('/')?
            };
            Some(FileEntry { relative, ..e })
        })
    }
}

fn too_large(header: &Header) -> BundleError {
    BundleError::TooLarge {
        total_len: header.total_len,
    }
}

/// Checks the ustar archive and matches every entry against the manifest's file table.
/// Returns the file contents index-parallel to `manifest.files`.
fn verify_archive<'a>(
    archive: &'a [u8],
    manifest: &Manifest,
) -> Result<Vec<&'a [u8]>, BundleError> {
    let tar = TarArchiveRef::new(archive).map_err(|e| BundleError::Container {
        detail: e.to_string(),
    })?;
    // Only regular files may appear; anything else (links, directories, pax headers)
    // is refused rather than skipped.
    let mut end_block = 0usize;
    for (block_index, hdr) in tar.headers() {
        let flag = hdr.typeflag.try_to_type_flag();
        if !matches!(flag, Ok(TypeFlag::REGTYPE | TypeFlag::AREGTYPE)) {
            let name = hdr.name.as_str().unwrap_or("<non-UTF-8 name>").to_string();
            return Err(BundleError::UnsupportedEntryType {
                name,
                kind: alloc::format!("{:?}", hdr.typeflag),
            });
        }
        let payload_blocks = hdr
            .payload_block_count()
            .map_err(|_| BundleError::Container {
                detail: "entry size is not a valid octal number".to_string(),
            })?;
        end_block = block_index
            .checked_add(1)
            .and_then(|n| n.checked_add(payload_blocks))
            .ok_or_else(|| BundleError::Container {
                detail: "entry size overflows".to_string(),
            })?;
    }
    // Canonical form: exactly two zero blocks end the archive, nothing after them.
    let expected_len = end_block
        .checked_add(2)
        .and_then(|n| n.checked_mul(512))
        .unwrap_or(usize::MAX);
    if expected_len != archive.len() {
        return Err(BundleError::Container {
            detail: alloc::format!(
                "archive is {} bytes but its entries and terminator end at {}",
                archive.len(),
                expected_len
            ),
        });
    }

    let mut data: Vec<Option<&'a [u8]>> = alloc::vec![None; manifest.files.len()];
    for entry in tar.entries() {
        let name = entry.filename();
        let path: String = name
            .as_str()
            .map_err(|_| BundleError::BadEntryName)?
            .to_string();
        let Some(i) = manifest.file_index(&path) else {
            return Err(BundleError::UnlistedEntry { path });
        };
        let (Some(slot), Some(record)) = (data.get_mut(i), manifest.files.get(i)) else {
            return Err(BundleError::UnlistedEntry { path });
        };
        if slot.is_some() {
            return Err(BundleError::DuplicateEntry { path });
        }
        let bytes = entry.data();
        if bytes.len() as u64 != record.size {
            return Err(BundleError::FileSizeMismatch {
                path,
                expected: record.size,
                actual: bytes.len() as u64,
            });
        }
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        if digest != record.sha256 {
            return Err(BundleError::FileDigestMismatch { path });
        }
        *slot = Some(bytes);
    }
    let mut out = Vec::with_capacity(data.len());
    for (slot, record) in data.into_iter().zip(manifest.files.iter()) {
        match slot {
            Some(d) => out.push(d),
            None => {
                return Err(BundleError::MissingEntry {
                    path: record.path.clone(),
                });
            }
        }
    }
    Ok(out)
}
