//! [`BundleBuilder`] (host only, `std` feature): writes a bundle from a manifest and files.
//!
//! The archive is written with the `tar` crate as deterministic ustar (mode 0644,
//! uid/gid 0, mtime 0, no user/group names), files in path order, so the same inputs
//! always give the same bytes and the same digest.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::manifest::{FileRecord, Manifest, ManifestError, is_valid_bundle_path};
use crate::{DIGEST_LEN, HEADER_LEN, Header, MAX_TOTAL_LEN, VERSION, compute_digest};

/// Why a bundle could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// The manifest breaks a rule.
    Manifest(ManifestError),
    /// A file path is not a valid bundle path.
    BadFilePath {
        /// The path.
        path: String,
    },
    /// The same path was added twice.
    DuplicateFile {
        /// The path.
        path: String,
    },
    /// A guest's module or stdin file was not added.
    MissingFile {
        /// Guest name.
        guest: String,
        /// "wasm module" or "stdin file".
        what: &'static str,
        /// The path.
        path: String,
    },
    /// A guest's module does not start with `\0asm`.
    NotWasm {
        /// Guest name.
        guest: String,
        /// The path.
        path: String,
    },
    /// The bundle would exceed [`MAX_TOTAL_LEN`] or a header count.
    TooLarge,
    /// Writing the archive failed (e.g. a path ustar cannot hold).
    Archive(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Manifest(e) => write!(f, "invalid manifest: {e}"),
            Self::BadFilePath { path } => write!(f, "invalid bundle path {path:?}"),
            Self::DuplicateFile { path } => write!(f, "file {path:?} added twice"),
            Self::MissingFile { guest, what, path } => {
                write!(
                    f,
                    "guest {guest:?} {what} {path:?} was not added to the bundle"
                )
            }
            Self::NotWasm { guest, path } => {
                write!(f, "guest {guest:?} module {path:?} is not a wasm binary")
            }
            Self::TooLarge => write!(f, "bundle exceeds {MAX_TOTAL_LEN} bytes"),
            Self::Archive(e) => write!(f, "writing the archive failed: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<ManifestError> for BuildError {
    fn from(e: ManifestError) -> Self {
        Self::Manifest(e)
    }
}

/// Assembles a bundle: `BundleBuilder::new(manifest).add_file(path, bytes)....build()`.
///
/// The manifest's `files` table is ignored and recomputed from the added files.
#[derive(Debug)]
pub struct BundleBuilder {
    manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
    duplicate: Option<String>,
}

impl BundleBuilder {
    /// Starts a bundle for `manifest` (guests, exports, shared_ramfs).
    pub fn new(manifest: Manifest) -> Self {
        Self {
            manifest,
            files: BTreeMap::new(),
            duplicate: None,
        }
    }

    /// Adds a file at bundle path `path` (relative, `/`-separated).
    pub fn add_file(mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        match self.files.entry(path.into()) {
            std::collections::btree_map::Entry::Occupied(e) => {
                self.duplicate.get_or_insert_with(|| e.key().clone());
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(bytes.into());
            }
        }
        self
    }

    /// Validates everything and writes the bundle bytes.
    pub fn build(self) -> Result<Vec<u8>, BuildError> {
        let Self {
            mut manifest,
            files,
            duplicate,
        } = self;
        if let Some(path) = duplicate {
            return Err(BuildError::DuplicateFile { path });
        }
        for path in files.keys() {
            if !is_valid_bundle_path(path) {
                return Err(BuildError::BadFilePath { path: path.clone() });
            }
        }
        // BTreeMap<String, _> iterates in byte order of the paths, the canonical order.
        manifest.files = files
            .iter()
            .map(|(path, data)| FileRecord {
                path: path.clone(),
                size: data.len() as u64,
                sha256: Sha256::digest(data).into(),
            })
            .collect();
        manifest.validate()?;
        for g in &manifest.guests {
            match files.get(&g.wasm) {
                None => {
                    return Err(BuildError::MissingFile {
                        guest: g.name.clone(),
                        what: "wasm module",
                        path: g.wasm.clone(),
                    });
                }
                Some(d) if !d.starts_with(&crate::WASM_MAGIC) => {
                    return Err(BuildError::NotWasm {
                        guest: g.name.clone(),
                        path: g.wasm.clone(),
                    });
                }
                Some(_) => {}
            }
            if let Some(stdin) = &g.stdin
                && !files.contains_key(stdin)
            {
                return Err(BuildError::MissingFile {
                    guest: g.name.clone(),
                    what: "stdin file",
                    path: stdin.clone(),
                });
            }
        }

        let mut tar = tar::Builder::new(Vec::new());
        for (path, data) in &files {
            let mut h = tar::Header::new_ustar();
            h.set_path(path).map_err(BuildError::Archive)?;
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            tar.append(&h, data.as_slice())
                .map_err(BuildError::Archive)?;
        }
        let archive = tar.into_inner().map_err(BuildError::Archive)?;

        let manifest_bytes = manifest.encode();
        let total_len = (HEADER_LEN + manifest_bytes.len() + archive.len()) as u64;
        if total_len > MAX_TOTAL_LEN {
            return Err(BuildError::TooLarge);
        }
        let header = Header {
            version: VERSION,
            total_len,
            manifest_len: manifest_bytes.len() as u64,
            archive_len: archive.len() as u64,
            guest_count: u32::try_from(manifest.guests.len()).map_err(|_| BuildError::TooLarge)?,
            file_count: u32::try_from(manifest.files.len()).map_err(|_| BuildError::TooLarge)?,
            manifest_sha256: Sha256::digest(&manifest_bytes).into(),
            digest: [0; DIGEST_LEN],
        };
        let mut out = Vec::with_capacity(total_len as usize);
        out.extend_from_slice(&header.to_bytes());
        out.extend_from_slice(&manifest_bytes);
        out.extend_from_slice(&archive);
        let digest = compute_digest(&out);
        // The header written above is HEADER_LEN bytes, so the field is there.
        if let Some(field) = out.get_mut(crate::DIGEST_OFFSET..crate::DIGEST_OFFSET + DIGEST_LEN) {
            field.copy_from_slice(&digest);
        }
        Ok(out)
    }
}
