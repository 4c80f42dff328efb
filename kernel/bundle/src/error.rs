//! [`BundleError`]: why a bundle was refused, naming what failed.

use alloc::string::String;
use core::fmt;

use crate::manifest::ManifestError;

/// Why [`crate::Bundle::parse`] refused a bundle. Each variant names the failing part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleError {
    /// Fewer bytes than needed for `what`.
    Truncated {
        /// "header" or "bundle".
        what: &'static str,
        /// Bytes needed.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// The first 8 bytes are not [`crate::MAGIC`].
    BadMagic,
    /// A format version this parser does not know.
    UnsupportedVersion(u32),
    /// The header-length field is not [`crate::HEADER_LEN`].
    BadHeaderLength(u32),
    /// The header claims more than [`crate::MAX_TOTAL_LEN`] bytes.
    TooLarge {
        /// Claimed total length.
        total_len: u64,
    },
    /// Header + manifest + archive lengths do not add up to the total length.
    LengthMismatch {
        /// Claimed total length.
        total_len: u64,
        /// Claimed manifest length.
        manifest_len: u64,
        /// Claimed archive length.
        archive_len: u64,
    },
    /// More bytes than the header's total length were passed in.
    TrailingBytes {
        /// How many extra bytes.
        count: u64,
    },
    /// The SHA-384 bundle digest in the header does not match the contents.
    BundleDigestMismatch,
    /// The bundle is not the one whose digest was pinned ([`crate::Bundle::parse_pinned`]).
    UnexpectedDigest,
    /// The manifest's SHA-256 in the header does not match the manifest section.
    ManifestDigestMismatch,
    /// The manifest is malformed or breaks a rule.
    Manifest(ManifestError),
    /// A header count disagrees with the manifest.
    CountMismatch {
        /// "guests" or "files".
        what: &'static str,
        /// The header's count.
        header: u32,
        /// The manifest's count.
        actual: u64,
    },
    /// The archive section is not a well-formed, canonical ustar archive.
    Container {
        /// What the tar reader or the canonical-form check reported.
        detail: String,
    },
    /// An archive entry is not a regular file.
    UnsupportedEntryType {
        /// Entry name.
        name: String,
        /// Its type.
        kind: String,
    },
    /// An archive entry name is not UTF-8.
    BadEntryName,
    /// An archive entry is not listed in the manifest's file table.
    UnlistedEntry {
        /// Entry path.
        path: String,
    },
    /// Two archive entries have the same path.
    DuplicateEntry {
        /// Entry path.
        path: String,
    },
    /// A file listed in the manifest is not in the archive.
    MissingEntry {
        /// File path.
        path: String,
    },
    /// An entry's size differs from the manifest's.
    FileSizeMismatch {
        /// Entry path.
        path: String,
        /// Size in the manifest.
        expected: u64,
        /// Size in the archive.
        actual: u64,
    },
    /// An entry's SHA-256 differs from the manifest's.
    FileDigestMismatch {
        /// Entry path.
        path: String,
    },
    /// A guest refers to a file that is not in the bundle.
    MissingFile {
        /// Guest name.
        guest: String,
        /// "wasm module" or "stdin file".
        what: &'static str,
        /// The missing path.
        path: String,
    },
    /// A guest's module does not start with the wasm magic `\0asm`.
    NotWasm {
        /// Guest name.
        guest: String,
        /// Module path.
        path: String,
    },
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what, need, have } => {
                write!(
                    f,
                    "bundle truncated: {what} needs {need} bytes, have {have}"
                )
            }
            Self::BadMagic => f.write_str("bad bundle magic"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported bundle version {v}"),
            Self::BadHeaderLength(l) => write!(f, "bad bundle header length {l}"),
            Self::TooLarge { total_len } => write!(f, "bundle of {total_len} bytes is too large"),
            Self::LengthMismatch {
                total_len,
                manifest_len,
                archive_len,
            } => write!(
                f,
                "bundle lengths do not add up: total {total_len}, manifest {manifest_len}, archive {archive_len}"
            ),
            Self::TrailingBytes { count } => write!(f, "{count} bytes after the bundle"),
            Self::BundleDigestMismatch => f.write_str("bundle SHA-384 digest mismatch"),
            Self::UnexpectedDigest => {
                f.write_str("bundle digest differs from the digest pinned in the firmware")
            }
            Self::ManifestDigestMismatch => f.write_str("manifest SHA-256 digest mismatch"),
            Self::Manifest(e) => write!(f, "bad manifest: {e}"),
            Self::CountMismatch {
                what,
                header,
                actual,
            } => write!(f, "header says {header} {what}, manifest has {actual}"),
            Self::Container { detail } => write!(f, "bad archive: {detail}"),
            Self::UnsupportedEntryType { name, kind } => {
                write!(f, "archive entry {name:?} has unsupported type {kind}")
            }
            Self::BadEntryName => f.write_str("archive entry name is not UTF-8"),
            Self::UnlistedEntry { path } => {
                write!(f, "archive entry {path:?} is not in the manifest")
            }
            Self::DuplicateEntry { path } => write!(f, "duplicate archive entry {path:?}"),
            Self::MissingEntry { path } => write!(f, "file {path:?} missing from the archive"),
            Self::FileSizeMismatch {
                path,
                expected,
                actual,
            } => write!(
                f,
                "file {path:?} is {actual} bytes, manifest says {expected}"
            ),
            Self::FileDigestMismatch { path } => write!(f, "SHA-256 mismatch for file {path:?}"),
            Self::MissingFile { guest, what, path } => {
                write!(f, "guest {guest:?} {what} {path:?} is not in the bundle")
            }
            Self::NotWasm { guest, path } => {
                write!(f, "guest {guest:?} module {path:?} is not a wasm binary")
            }
        }
    }
}

impl core::error::Error for BundleError {}

impl From<ManifestError> for BundleError {
    fn from(e: ManifestError) -> Self {
        Self::Manifest(e)
    }
}
