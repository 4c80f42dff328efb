//! The canonical manifest carried inside a bundle, and its binary encoding.
//!
//! The host (`elastic build`) turns the user's `elastic.toml` into a [`Manifest`],
//! validates it, and encodes it with [`Manifest::encode`]; the kernel decodes it with
//! [`Manifest::decode`], which bounds every length and count before use and re-runs the
//! same validation. The byte format is documented in `docs/bundle.md` ("Manifest
//! encoding"): little-endian integers, `u32`-length-prefixed UTF-8 strings, a version
//! word first, and no trailing bytes.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Version of the manifest encoding written by [`Manifest::encode`].
/// Version 2 added the per-guest wall-clock limit (`Limits::wall_time_ms`); the kernel and
/// `elastic build` come from the same tree, so only the current version is accepted.
pub const MANIFEST_VERSION: u32 = 2;
/// Longest string (name, path, argument, environment entry) in bytes.
pub const MAX_STRING_LEN: usize = 4096;
/// Most guests in one bundle.
pub const MAX_GUESTS: usize = 256;
/// Most arguments per guest.
pub const MAX_ARGS: usize = 4096;
/// Most environment variables per guest.
pub const MAX_ENV: usize = 4096;
/// Most preopened directories per guest.
pub const MAX_PREOPENS: usize = 64;
/// Most export paths per bundle.
pub const MAX_EXPORTS: usize = 256;
/// Most files per bundle.
pub const MAX_FILES: usize = 1 << 20;
/// Longest bundle path (what a ustar header can hold: 155-byte prefix + '/' + 100-byte name).
pub const MAX_PATH_LEN: usize = 255;
/// Largest memory limit: the whole 32-bit wasm address space (65536 pages of 64 KiB).
pub const MAX_MEMORY_LIMIT: u64 = 1 << 32;

/// Everything the kernel needs to run the guests of a bundle, in canonical form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The guests, run in this order.
    pub guests: Vec<Guest>,
    /// One ramfs shared by all guests (true) or one ramfs per guest (false, the default).
    pub shared_ramfs: bool,
    /// Paths to export as a tar archive when the guests have finished.
    pub exports: Vec<Export>,
    /// Every file in the bundle: path, size and SHA-256, sorted by path (byte order),
    /// unique. `BundleBuilder` (`std` feature) fills this in; the kernel checks each file
    /// against it.
    pub files: Vec<FileRecord>,
}

/// One guest program and its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guest {
    /// Unique, non-empty display name (used in summaries and output prefixes).
    pub name: String,
    /// Bundle path of the guest's `.wasm` module.
    pub wasm: String,
    /// Arguments after `argv[0]`; the kernel passes `name` as `argv[0]`.
    pub args: Vec<String>,
    /// Environment variables as `(key, value)`, keys unique.
    pub env: Vec<(String, String)>,
    /// Directories preopened for the guest.
    pub preopens: Vec<Preopen>,
    /// Bundle path of the file fed to the guest's stdin; `None` means empty stdin.
    pub stdin: Option<String>,
    /// Resource limits.
    pub limits: Limits,
    /// How the guest's stdout/stderr appear on the console.
    pub output: OutputMode,
}

/// A preopened directory: the bundle files under `bundle_dir` appear at `guest_path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    /// Path the guest sees (the WASI preopen name), e.g. `/data`.
    pub guest_path: String,
    /// Bundle directory prefix whose files fill this directory (may hold no files).
    pub bundle_dir: String,
    /// Whether the guest may only read.
    pub readonly: bool,
}

/// Resource limits of one guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// wasmi fuel; `None` means unlimited.
    pub fuel: Option<u64>,
    /// Wall-clock limit in milliseconds, enforced by the kernel's watchdog; `None` means
    /// none.
    pub wall_time_ms: Option<u64>,
    /// Largest linear memory in bytes (at most 4 GiB).
    pub max_memory_bytes: u64,
    /// Bytes the guest's ramfs may hold.
    pub ramfs_quota_bytes: u64,
    /// Inodes the guest's ramfs may hold.
    pub ramfs_quota_inodes: u64,
    /// Most file descriptors open at once (including stdio).
    pub max_open_fds: u32,
}

impl Default for Limits {
    /// Unlimited fuel, no wall-clock limit, 256 MiB memory, 256 MiB / 65536 inodes of ramfs,
    /// 1024 fds.
    fn default() -> Self {
        Self {
            fuel: None,
            wall_time_ms: None,
            max_memory_bytes: 256 << 20,
            ramfs_quota_bytes: 256 << 20,
            ramfs_quota_inodes: 65536,
            max_open_fds: 1024,
        }
    }
}

/// How guest output reaches the serial console.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// Byte-identical to the host runner's output.
    #[default]
    Raw,
    /// Every line prefixed with `[name] `.
    Prefixed,
}

/// A path to export when the guests have finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// Name of the guest whose namespace (preopens, and ramfs unless shared) resolves `path`.
    pub guest: String,
    /// Guest-visible path of the file or directory to export, e.g. `/out`.
    pub path: String,
}

/// One file of the bundle as listed in the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// Bundle path (relative, `/`-separated, no `.`/`..`/empty components).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the contents.
    pub sha256: [u8; 32],
}

/// Why a manifest was rejected; each variant names the offending item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// The encoding ended early while reading `what`.
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// Unknown encoding version.
    UnsupportedVersion(u32),
    /// Bytes left over after the last field.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A string is longer than [`MAX_STRING_LEN`].
    StringTooLong {
        /// The field.
        what: &'static str,
        /// Its declared length.
        len: u64,
    },
    /// A string is not UTF-8.
    NotUtf8 {
        /// The field.
        what: &'static str,
    },
    /// A count is above its limit.
    TooMany {
        /// The list.
        what: &'static str,
        /// Declared count.
        count: u64,
        /// Limit.
        max: usize,
    },
    /// A boolean/tag byte has a value outside its range.
    BadTag {
        /// The field.
        what: &'static str,
        /// The byte found.
        value: u8,
    },
    /// The manifest lists no guest.
    NoGuests,
    /// A guest name is empty, too long for display or contains control characters.
    BadGuestName {
        /// The name.
        name: String,
    },
    /// Two guests share a name.
    DuplicateGuest {
        /// The name.
        name: String,
    },
    /// A bundle path is malformed.
    BadPath {
        /// Where it appears (e.g. "guest `app` wasm").
        context: String,
        /// The path.
        path: String,
    },
    /// An argument or environment entry contains NUL, or an env key is empty/contains `=`.
    BadString {
        /// Where it appears.
        context: String,
    },
    /// An environment key appears twice for one guest.
    DuplicateEnv {
        /// Guest name.
        guest: String,
        /// Key.
        key: String,
    },
    /// A limit is out of range.
    BadLimit {
        /// Guest name.
        guest: String,
        /// Which limit.
        what: &'static str,
    },
    /// An export names a guest that does not exist.
    UnknownExportGuest {
        /// The guest name given.
        guest: String,
    },
    /// The file table is not sorted by path or has a duplicate.
    UnsortedOrDuplicateFile {
        /// The path that is out of order or repeated.
        path: String,
    },
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what } => write!(f, "manifest truncated while reading {what}"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported manifest version {v}"),
            Self::TrailingBytes { count } => write!(f, "{count} trailing bytes after manifest"),
            Self::StringTooLong { what, len } => {
                write!(f, "{what} of {len} bytes exceeds {MAX_STRING_LEN} bytes")
            }
            Self::NotUtf8 { what } => write!(f, "{what} is not UTF-8"),
            Self::TooMany { what, count, max } => {
                write!(f, "{count} {what} exceed the limit of {max}")
            }
            Self::BadTag { what, value } => write!(f, "invalid {what} byte {value:#04x}"),
            Self::NoGuests => f.write_str("manifest has no guests"),
            Self::BadGuestName { name } => write!(f, "invalid guest name {name:?}"),
            Self::DuplicateGuest { name } => write!(f, "duplicate guest name {name:?}"),
            Self::BadPath { context, path } => write!(f, "invalid path {path:?} in {context}"),
            Self::BadString { context } => write!(f, "invalid string in {context}"),
            Self::DuplicateEnv { guest, key } => {
                write!(f, "guest {guest:?} sets environment variable {key:?} twice")
            }
            Self::BadLimit { guest, what } => write!(f, "guest {guest:?} has an invalid {what}"),
            Self::UnknownExportGuest { guest } => {
                write!(f, "export refers to unknown guest {guest:?}")
            }
            Self::UnsortedOrDuplicateFile { path } => {
                write!(f, "file table out of order or duplicate at {path:?}")
            }
        }
    }
}

impl core::error::Error for ManifestError {}

/// Checks a bundle path: non-empty, at most [`MAX_PATH_LEN`] bytes, relative, `/`-separated
/// components that are neither empty, `.` nor `..`, and no NUL or backslash.
pub fn is_valid_bundle_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_PATH_LEN
        && !path.contains(['\0', '\\'])
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

fn bad_path(context: impl FnOnce() -> String, path: &str) -> Result<(), ManifestError> {
    if is_valid_bundle_path(path) {
        Ok(())
    } else {
        Err(ManifestError::BadPath {
            context: context(),
            path: path.to_string(),
        })
    }
}

fn no_nul(context: impl FnOnce() -> String, s: &str) -> Result<(), ManifestError> {
    if s.contains('\0') {
        Err(ManifestError::BadString { context: context() })
    } else {
        Ok(())
    }
}

impl Manifest {
    /// Checks every rule of the canonical form (also run by [`decode`](Self::decode)).
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.guests.is_empty() {
            return Err(ManifestError::NoGuests);
        }
        let limits = [
            ("guests", self.guests.len(), MAX_GUESTS),
            ("exports", self.exports.len(), MAX_EXPORTS),
            ("files", self.files.len(), MAX_FILES),
        ];
        for (what, count, max) in limits {
            if count > max {
                return Err(ManifestError::TooMany {
                    what,
                    count: count as u64,
                    max,
                });
            }
        }
        for (i, g) in self.guests.iter().enumerate() {
            g.validate()?;
            if self.guests.iter().take(i).any(|o| o.name == g.name) {
                return Err(ManifestError::DuplicateGuest {
                    name: g.name.clone(),
                });
            }
        }
        for e in &self.exports {
            if !self.guests.iter().any(|g| g.name == e.guest) {
                return Err(ManifestError::UnknownExportGuest {
                    guest: e.guest.clone(),
                });
            }
            if e.path.is_empty() || e.path.len() > MAX_STRING_LEN {
                return Err(ManifestError::BadString {
                    context: alloc::format!("export path of guest {:?}", e.guest),
                });
            }
            no_nul(
                || alloc::format!("export path of guest {:?}", e.guest),
                &e.path,
            )?;
        }
        let mut previous: Option<&str> = None;
        for f in &self.files {
            bad_path(|| "file table".to_string(), &f.path)?;
            if previous.is_some_and(|p| p.as_bytes() >= f.path.as_bytes()) {
                return Err(ManifestError::UnsortedOrDuplicateFile {
                    path: f.path.clone(),
                });
            }
            previous = Some(&f.path);
        }
        Ok(())
    }

    /// Index of `path` in the sorted file table.
    pub fn file_index(&self, path: &str) -> Option<usize> {
        self.files
            .binary_search_by(|f| f.path.as_bytes().cmp(path.as_bytes()))
            .ok()
    }

    /// Encodes the manifest (format version [`MANIFEST_VERSION`]); does not validate.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.u32(MANIFEST_VERSION);
        w.u8(u8::from(self.shared_ramfs));
        w.count(self.guests.len());
        for g in &self.guests {
            w.str(&g.name);
            w.str(&g.wasm);
            w.count(g.args.len());
            for a in &g.args {
                w.str(a);
            }
            w.count(g.env.len());
            for (k, v) in &g.env {
                w.str(k);
                w.str(v);
            }
            w.count(g.preopens.len());
            for p in &g.preopens {
                w.str(&p.guest_path);
                w.str(&p.bundle_dir);
                w.u8(u8::from(p.readonly));
            }
            match &g.stdin {
                Some(s) => {
                    w.u8(1);
                    w.str(s);
                }
                None => w.u8(0),
            }
            match g.limits.fuel {
                Some(fuel) => {
                    w.u8(1);
                    w.u64(fuel);
                }
                None => w.u8(0),
            }
            match g.limits.wall_time_ms {
                Some(ms) => {
                    w.u8(1);
                    w.u64(ms);
                }
                None => w.u8(0),
            }
            w.u64(g.limits.max_memory_bytes);
            w.u64(g.limits.ramfs_quota_bytes);
            w.u64(g.limits.ramfs_quota_inodes);
            w.u32(g.limits.max_open_fds);
            w.u8(match g.output {
                OutputMode::Raw => 0,
                OutputMode::Prefixed => 1,
            });
        }
        w.count(self.exports.len());
        for e in &self.exports {
            w.str(&e.guest);
            w.str(&e.path);
        }
        w.count(self.files.len());
        for f in &self.files {
            w.str(&f.path);
            w.u64(f.size);
            w.0.extend_from_slice(&f.sha256);
        }
        w.0
    }

    /// Decodes and validates an encoded manifest. Never panics; every length and count
    /// is bounded before anything is allocated for it.
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        let mut r = Reader { rest: bytes };
        let version = r.u32("version")?;
        if version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion(version));
        }
        let shared_ramfs = r.flag("shared_ramfs")?;
        let guest_count = r.count("guests", MAX_GUESTS)?;
        let mut guests = Vec::new();
        for _ in 0..guest_count {
            let name = r.str("guest name")?;
            let wasm = r.str("guest wasm path")?;
            let argc = r.count("args", MAX_ARGS)?;
            let mut args = Vec::new();
            for _ in 0..argc {
                args.push(r.str("argument")?);
            }
            let envc = r.count("env", MAX_ENV)?;
            let mut env = Vec::new();
            for _ in 0..envc {
                let k = r.str("env key")?;
                let v = r.str("env value")?;
                env.push((k, v));
            }
            let preopen_count = r.count("preopens", MAX_PREOPENS)?;
            let mut preopens = Vec::new();
            for _ in 0..preopen_count {
                let guest_path = r.str("preopen guest path")?;
                let bundle_dir = r.str("preopen bundle dir")?;
                let readonly = r.flag("preopen readonly")?;
                preopens.push(Preopen {
                    guest_path,
                    bundle_dir,
                    readonly,
                });
            }
            let stdin = if r.flag("stdin present")? {
                Some(r.str("stdin path")?)
            } else {
                None
            };
            let fuel = if r.flag("fuel present")? {
                Some(r.u64("fuel")?)
            } else {
                None
            };
            let wall_time_ms = if r.flag("wall time present")? {
                Some(r.u64("wall_time_ms")?)
            } else {
                None
            };
            let limits = Limits {
                fuel,
                wall_time_ms,
                max_memory_bytes: r.u64("max_memory_bytes")?,
                ramfs_quota_bytes: r.u64("ramfs_quota_bytes")?,
                ramfs_quota_inodes: r.u64("ramfs_quota_inodes")?,
                max_open_fds: r.u32("max_open_fds")?,
            };
            let output = match r.u8("output mode")? {
                0 => OutputMode::Raw,
                1 => OutputMode::Prefixed,
                value => {
                    return Err(ManifestError::BadTag {
                        what: "output mode",
                        value,
                    });
                }
            };
            guests.push(Guest {
                name,
                wasm,
                args,
                env,
                preopens,
                stdin,
                limits,
                output,
            });
        }
        let export_count = r.count("exports", MAX_EXPORTS)?;
        let mut exports = Vec::new();
        for _ in 0..export_count {
            let guest = r.str("export guest")?;
            let path = r.str("export path")?;
            exports.push(Export { guest, path });
        }
        let file_count = r.count("files", MAX_FILES)?;
        let mut files = Vec::new();
        for _ in 0..file_count {
            let path = r.str("file path")?;
            let size = r.u64("file size")?;
            let sha256 = r.array::<32>("file sha256")?;
            files.push(FileRecord { path, size, sha256 });
        }
        if !r.rest.is_empty() {
            return Err(ManifestError::TrailingBytes {
                count: r.rest.len(),
            });
        }
        let manifest = Self {
            guests,
            shared_ramfs,
            exports,
            files,
        };
        manifest.validate()?;
        Ok(manifest)
    }
}

impl Guest {
    /// A guest with default limits, raw output and no args/env/preopens/stdin.
    pub fn new(name: impl Into<String>, wasm: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            wasm: wasm.into(),
            args: Vec::new(),
            env: Vec::new(),
            preopens: Vec::new(),
            stdin: None,
            limits: Limits::default(),
            output: OutputMode::Raw,
        }
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let name = &self.name;
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(ManifestError::BadGuestName { name: name.clone() });
        }
        let counts = [
            ("args", self.args.len(), MAX_ARGS),
            ("env", self.env.len(), MAX_ENV),
            ("preopens", self.preopens.len(), MAX_PREOPENS),
        ];
        for (what, count, max) in counts {
            if count > max {
                return Err(ManifestError::TooMany {
                    what,
                    count: count as u64,
                    max,
                });
            }
        }
        bad_path(|| alloc::format!("guest {name:?} wasm"), &self.wasm)?;
        if let Some(stdin) = &self.stdin {
            bad_path(|| alloc::format!("guest {name:?} stdin"), stdin)?;
        }
        for (i, a) in self.args.iter().enumerate() {
            no_nul(|| alloc::format!("guest {name:?} argument {i}"), a)?;
        }
        for (i, (k, v)) in self.env.iter().enumerate() {
            if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
                return Err(ManifestError::BadString {
                    context: alloc::format!("guest {name:?} environment entry {k:?}"),
                });
            }
            if self.env.iter().take(i).any(|(o, _)| o == k) {
                return Err(ManifestError::DuplicateEnv {
                    guest: name.clone(),
                    key: k.clone(),
                });
            }
        }
        for p in &self.preopens {
            if p.guest_path.is_empty() || p.guest_path.contains('\0') {
                return Err(ManifestError::BadString {
                    context: alloc::format!("guest {name:?} preopen guest path"),
                });
            }
            bad_path(
                || alloc::format!("guest {name:?} preopen {:?}", p.guest_path),
                &p.bundle_dir,
            )?;
        }
        let l = &self.limits;
        let bad = |what| {
            Err(ManifestError::BadLimit {
                guest: name.clone(),
                what,
            })
        };
        if l.fuel == Some(0) {
            return bad("fuel (must be positive when set)");
        }
        if l.wall_time_ms == Some(0) {
            return bad("wall_time_ms (must be positive when set)");
        }
        if l.max_memory_bytes == 0 || l.max_memory_bytes > MAX_MEMORY_LIMIT {
            return bad("max_memory_bytes (1..=4 GiB)");
        }
        if l.max_open_fds < 3 {
            return bad("max_open_fds (at least 3 for stdio)");
        }
        Ok(())
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn count(&mut self, n: usize) {
        // Counts above u32::MAX cannot pass validation; saturate so encode never panics.
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn str(&mut self, s: &str) {
        self.count(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ManifestError> {
        let Some((head, tail)) = self.rest.split_at_checked(n) else {
            return Err(ManifestError::Truncated { what });
        };
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ManifestError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, ManifestError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn flag(&mut self, what: &'static str) -> Result<bool, ManifestError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(ManifestError::BadTag { what, value }),
        }
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, ManifestError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, ManifestError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn count(&mut self, what: &'static str, max: usize) -> Result<usize, ManifestError> {
        let n = self.u32(what)?;
        match usize::try_from(n) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(ManifestError::TooMany {
                what,
                count: u64::from(n),
                max,
            }),
        }
    }
    fn str(&mut self, what: &'static str) -> Result<String, ManifestError> {
        let len = self.u32(what)?;
        let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
        if len_usize > MAX_STRING_LEN {
            return Err(ManifestError::StringTooLong {
                what,
                len: u64::from(len),
            });
        }
        let bytes = self.take(len_usize, what)?;
        core::str::from_utf8(bytes)
            .map(ToString::to_string)
            .map_err(|_| ManifestError::NotUtf8 { what })
    }
}
