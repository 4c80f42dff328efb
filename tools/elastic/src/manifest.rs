//! `elastic.toml` (reference: `docs/manifest.md`) and the step from a project description
//! to a bundle (`docs/bundle.md`).
//!
//! Both forms of `elastic build` produce a [`ProjectSpec`]: [`parse_manifest`] from TOML
//! (via `toml` + `serde` with `deny_unknown_fields`, every value kept with its span), and the
//! `--guest` shortcut in `build.rs` from flags. Every value carries an [`Origin`] (manifest
//! file and line, or the flag), so each error says where the bad value was written.
//! [`bake`] then reads the modules, stdin files and preopened directories (recursively,
//! regular files only, sorted) and seals them with `elastic_bundle::BundleBuilder`.
//!
//! Bundle layout chosen here (index-based, so any guest name works): guest `i`'s module is
//! `guests/<i>/module.wasm` (a module identical to an earlier guest's is shared), its stdin
//! `guests/<i>/stdin`, and its `n`-th preopened directory `guests/<i>/dirs/<n>/`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use elastic_bundle::manifest::{
    MAX_ARGS, MAX_ENV, MAX_MEMORY_LIMIT, MAX_STRING_LEN, is_valid_bundle_path,
};
use elastic_bundle::{BundleBuilder, Export, Guest, Limits, Manifest, OutputMode, Preopen};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

/// Where a value was written: a line of a manifest, a manifest as a whole, or a flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `FILE:LINE` of an `elastic.toml`.
    Line {
        /// The manifest file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// A manifest file, no particular line.
    File(PathBuf),
    /// A command-line flag, e.g. `--dir data::/data`.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line { file, line } => write!(f, "{}:{line}", file.display()),
            Self::File(file) => write!(f, "{}", file.display()),
            Self::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

/// A value with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> At<T> {
    /// Wraps `value` written at `origin`.
    pub fn new(value: T, origin: Origin) -> Self {
        Self { value, origin }
    }

    /// An error about this value.
    pub fn error(&self, message: impl Into<String>) -> SpecError {
        SpecError::new(self.origin.clone(), message)
    }
}

/// An error in a project description or its files: `ORIGIN: MESSAGE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// Where the offending value was written.
    pub origin: Origin,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// An error at `origin`.
    pub fn new(origin: Origin, message: impl Into<String>) -> Self {
        Self {
            origin,
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for SpecError {}

/// A project: the guests and exports before their files are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectSpec {
    /// One ramfs for all guests.
    pub shared_ramfs: bool,
    /// The guests in run order.
    pub guests: Vec<GuestSpec>,
    /// Paths exported when the guests finish.
    pub exports: Vec<ExportSpec>,
    /// Where the project as a whole comes from (for errors without a better place).
    pub origin: Origin,
}

/// One guest with host paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestSpec {
    /// Display name (unique).
    pub name: At<String>,
    /// Host path of the module.
    pub wasm: At<PathBuf>,
    /// Arguments after `argv[0]`.
    pub args: Vec<At<String>>,
    /// Environment, in order.
    pub env: Vec<At<(String, String)>>,
    /// Preopened host directories.
    pub dirs: Vec<DirSpec>,
    /// Host path of the stdin file.
    pub stdin: Option<At<PathBuf>>,
    /// Limits (already range-checked).
    pub limits: Limits,
    /// Console output mode.
    pub output: OutputMode,
}

/// A host directory baked in and preopened at a guest path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirSpec {
    /// The host directory.
    pub host: At<PathBuf>,
    /// The guest path (WASI preopen name).
    pub guest: At<String>,
    /// Read-only for the guest.
    pub readonly: bool,
}

/// A path exported when the guests finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSpec {
    /// The guest whose namespace resolves `path`.
    pub guest: At<String>,
    /// Guest-visible path.
    pub path: At<String>,
}

// ---------------------------------------------------------------------------------------
// Limits and sizes (shared by the manifest and the flags)

/// Parses a size: a plain byte count (`"4096"`) or a number with a binary unit
/// (`B`, `KiB`, `MiB`, `GiB`, `TiB`; optional space, e.g. `"64MiB"`, `"1 GiB"`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || {
        format!(
            "bad size {s:?}: expected bytes or a number with B, KiB, MiB, GiB or TiB (e.g. \"64MiB\")"
        )
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let shift = match unit.trim_start() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        "TiB" => 40,
        _ => return Err(bad()),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("size {s:?} is too large"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Checks a limit value against `min..=max`.
fn in_range(what: &str, value: i128, min: u64, max: u64) -> Result<u64, String> {
    if value < i128::from(min) {
        let why = if min == 1 {
            "must be positive".to_string()
        } else {
            format!("must be at least {min}")
        };
        return Err(format!("{what} = {value} {why}"));
    }
    if value > i128::from(max) {
        return Err(format!("{what} = {value} is out of range (at most {max})"));
    }
    u64::try_from(value).map_err(|_| format!("{what} = {value} is out of range"))
}

/// Bounds of each limit: (name, min, max). Taken from `elastic-bundle`'s rules
/// (`fuel` and `wall_time_ms` positive, `max_memory` 1..=4 GiB, `max_open_fds` at least 3 and a `u32`) plus
/// "positive" for the ramfs quotas (a zero quota could not even hold the preopened files).
pub const FUEL_RANGE: (u64, u64) = (1, u64::MAX);
/// `wall_time_ms` bounds (positive; no default, see docs/manifest.md).
pub const WALL_TIME_RANGE: (u64, u64) = (1, u64::MAX);
/// `max_memory` bounds.
pub const MAX_MEMORY_RANGE: (u64, u64) = (1, MAX_MEMORY_LIMIT);
/// `ramfs_quota` bounds.
pub const RAMFS_QUOTA_RANGE: (u64, u64) = (1, u64::MAX);
/// `ramfs_inodes` bounds.
pub const RAMFS_INODES_RANGE: (u64, u64) = (1, u64::MAX);
/// `max_open_fds` bounds.
pub const MAX_OPEN_FDS_RANGE: (u64, u64) = (3, u32::MAX as u64);

/// Checks a count limit (`fuel`, `ramfs_inodes`, `max_open_fds`).
pub fn check_count(what: &str, value: i128, range: (u64, u64)) -> Result<u64, String> {
    in_range(what, value, range.0, range.1)
}

/// Checks a size limit given as a number or a size string.
pub fn check_size(what: &str, value: &SizeValue, range: (u64, u64)) -> Result<u64, String> {
    let n = match value {
        SizeValue::Int(n) => i128::from(*n),
        SizeValue::Str(s) => i128::from(parse_size(s).map_err(|e| format!("{what}: {e}"))?),
    };
    in_range(what, n, range.0, range.1)
}

/// A size as written: an integer or a string such as `"64MiB"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeValue {
    /// Bytes.
    Int(i64),
    /// A size string ([`parse_size`]).
    Str(String),
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SizeValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte count or a size string like \"64MiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SizeValue, E> {
                Ok(SizeValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SizeValue, E> {
                i64::try_from(v)
                    .map(SizeValue::Int)
                    .map_err(|_| E::custom("size too large"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SizeValue, E> {
                Ok(SizeValue::Str(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------
// elastic.toml

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlManifest {
    #[serde(default)]
    shared_ramfs: bool,
    #[serde(default)]
    guest: Vec<TomlGuest>,
    #[serde(default)]
    export: Vec<TomlExport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlGuest {
    name: Option<Spanned<String>>,
    wasm: Spanned<String>,
    #[serde(default)]
    args: Vec<Spanned<String>>,
    #[serde(default)]
    env: EnvTable,
    stdin: Option<Spanned<String>>,
    #[serde(default)]
    output: TomlOutput,
    #[serde(default)]
    dir: Vec<TomlDir>,
    #[serde(default)]
    limits: TomlLimits,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum TomlOutput {
    #[default]
    Raw,
    Prefixed,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlDir {
    host: Spanned<String>,
    guest: Spanned<String>,
    #[serde(default)]
    readonly: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TomlLimits {
    fuel: Option<Spanned<i64>>,
    wall_time_ms: Option<Spanned<i64>>,
    max_memory: Option<Spanned<SizeValue>>,
    ramfs_quota: Option<Spanned<SizeValue>>,
    ramfs_inodes: Option<Spanned<i64>>,
    max_open_fds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlExport {
    guest: Spanned<String>,
    path: Spanned<String>,
}

/// A TOML table of strings kept in document order.
#[derive(Default)]
struct EnvTable(Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for EnvTable {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvTable;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<EnvTable, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = m.next_entry()? {
                    out.push(kv);
                }
                Ok(EnvTable(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Maps byte offsets of a manifest to [`Origin`]s.
struct Lines<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Lines<'_> {
    fn at(&self, offset: usize) -> Origin {
        let before = self.text.get(..offset).unwrap_or(self.text);
        Origin::Line {
            file: self.file.to_path_buf(),
            line: before.bytes().filter(|&b| b == b'\n').count() + 1,
        }
    }
    fn of<T>(&self, s: Spanned<T>) -> At<T> {
        let origin = self.at(s.span().start);
        At::new(s.into_inner(), origin)
    }
    fn path(&self, dir: &Path, s: Spanned<String>) -> At<PathBuf> {
        let at = self.of(s);
        At::new(dir.join(&at.value), at.origin)
    }
}

/// Reads and parses the manifest at `path` (see [`parse_manifest`]).
pub fn load_manifest(path: &Path) -> Result<ProjectSpec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SpecError::new(
            Origin::File(path.to_path_buf()),
            format!("cannot read manifest: {e}"),
        )
    })?;
    parse_manifest(path, &text)
}

/// Parses manifest `text` read from `path`: TOML syntax, the schema (unknown keys refused),
/// limits and every rule of [`check_spec`]. Relative host paths are resolved against the
/// manifest's directory. Files are not read yet (that is [`bake`]).
pub fn parse_manifest(path: &Path, text: &str) -> Result<ProjectSpec, SpecError> {
    let lines = Lines { file: path, text };
    let raw: TomlManifest = toml::from_str(text).map_err(|e| {
        let origin = match e.span() {
            Some(span) => lines.at(span.start),
            None => Origin::File(path.to_path_buf()),
        };
        SpecError::new(origin, e.message().trim_end().to_string())
    })?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut guests = Vec::new();
    for g in raw.guest {
        let wasm = lines.path(&dir, g.wasm);
        let name = match g.name {
            Some(n) => lines.of(n),
            None => At::new(
                default_name(&wasm.value).map_err(|m| wasm.error(m))?,
                wasm.origin.clone(),
            ),
        };
        let limits = toml_limits(&lines, g.limits)?;
        guests.push(GuestSpec {
            name,
            wasm,
            args: g.args.into_iter().map(|a| lines.of(a)).collect(),
            env: g
                .env
                .0
                .into_iter()
                .map(|(k, v)| {
                    let origin = lines.at(k.span().start);
                    At::new((k.into_inner(), v.into_inner()), origin)
                })
                .collect(),
            dirs: g
                .dir
                .into_iter()
                .map(|d| DirSpec {
                    host: lines.path(&dir, d.host),
                    guest: lines.of(d.guest),
                    readonly: d.readonly,
                })
                .collect(),
            stdin: g.stdin.map(|s| lines.path(&dir, s)),
            limits,
            output: match g.output {
                TomlOutput::Raw => OutputMode::Raw,
                TomlOutput::Prefixed => OutputMode::Prefixed,
            },
        });
    }
    let spec = ProjectSpec {
        shared_ramfs: raw.shared_ramfs,
        guests,
        exports: raw
            .export
            .into_iter()
            .map(|e| ExportSpec {
                guest: lines.of(e.guest),
                path: lines.of(e.path),
            })
            .collect(),
        origin: Origin::File(path.to_path_buf()),
    };
    check_spec(&spec)?;
    Ok(spec)
}

/// The default guest name: the module's file stem.
pub fn default_name(wasm: &Path) -> Result<String, String> {
    wasm.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "cannot derive a guest name from {}; give one with `name`/--name",
                wasm.display()
            )
        })
}

fn toml_limits(lines: &Lines<'_>, t: TomlLimits) -> Result<Limits, SpecError> {
    let mut l = Limits::default();
    let count = |what: &str, v: Spanned<i64>, range| {
        let at = lines.of(v);
        check_count(what, i128::from(at.value), range).map_err(|m| at.error(m))
    };
    let size = |what: &str, v: Spanned<SizeValue>, range| {
        let at = lines.of(v);
        check_size(what, &at.value, range).map_err(|m| at.error(m))
    };
    if let Some(v) = t.fuel {
        l.fuel = Some(count("fuel", v, FUEL_RANGE)?);
    }
    if let Some(v) = t.wall_time_ms {
        l.wall_time_ms = Some(count("wall_time_ms", v, WALL_TIME_RANGE)?);
    }
    if let Some(v) = t.max_memory {
        l.max_memory_bytes = size("max_memory", v, MAX_MEMORY_RANGE)?;
    }
    if let Some(v) = t.ramfs_quota {
        l.ramfs_quota_bytes = size("ramfs_quota", v, RAMFS_QUOTA_RANGE)?;
    }
    if let Some(v) = t.ramfs_inodes {
        l.ramfs_quota_inodes = count("ramfs_inodes", v, RAMFS_INODES_RANGE)?;
    }
    if let Some(v) = t.max_open_fds {
        let n = count("max_open_fds", v, MAX_OPEN_FDS_RANGE)?;
        l.max_open_fds = u32::try_from(n).unwrap_or(u32::MAX);
    }
    Ok(l)
}

// ---------------------------------------------------------------------------------------
// Rules

/// Checks the rules of `docs/bundle.md` that can be checked before reading files, each
/// error at the value's origin: at least one guest; names 1..=64 bytes without control
/// characters and unique; arguments without NUL; environment keys non-empty, without `=`
/// or NUL, unique per guest, values without NUL; preopen guest paths non-empty without
/// NUL; at most 64 preopens; exports naming an existing guest and a non-empty path
/// without NUL.
pub fn check_spec(spec: &ProjectSpec) -> Result<(), SpecError> {
    if spec.guests.is_empty() {
        return Err(SpecError::new(
            spec.origin.clone(),
            "no guest: add a [[guest]] table",
        ));
    }
    if spec.guests.len() > elastic_bundle::manifest::MAX_GUESTS {
        return Err(SpecError::new(
            spec.origin.clone(),
            format!(
                "{} guests exceed the limit of {}",
                spec.guests.len(),
                elastic_bundle::manifest::MAX_GUESTS
            ),
        ));
    }
    for (i, g) in spec.guests.iter().enumerate() {
        let name = &g.name.value;
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(g.name.error(format!(
                "invalid guest name {name:?}: 1 to 64 bytes, no control characters"
            )));
        }
        if let Some(first) = spec.guests[..i].iter().find(|o| o.name.value == *name) {
            return Err(g.name.error(format!(
                "duplicate guest name {name:?} (first used at {})",
                first.name.origin
            )));
        }
        let counts = [
            ("arguments", g.args.len(), MAX_ARGS),
            ("environment variables", g.env.len(), MAX_ENV),
        ];
        for (what, n, max) in counts {
            if n > max {
                return Err(g.name.error(format!(
                    "guest {name:?}: {n} {what} exceed the limit of {max}"
                )));
            }
        }
        for a in &g.args {
            if a.value.contains('\0') {
                return Err(a.error(format!("guest {name:?}: argument contains NUL")));
            }
            too_long(a, &a.value, "argument")?;
        }
        for (j, e) in g.env.iter().enumerate() {
            let (k, v) = &e.value;
            if k.is_empty() || k.contains(['=', '\0']) {
                return Err(e.error(format!(
                    "guest {name:?}: invalid environment name {k:?} (non-empty, no '=' or NUL)"
                )));
            }
            if v.contains('\0') {
                return Err(e.error(format!(
                    "guest {name:?}: environment value of {k:?} contains NUL"
                )));
            }
            too_long(e, k, "environment name")?;
            too_long(e, v, "environment value")?;
            if g.env[..j].iter().any(|o| o.value.0 == *k) {
                return Err(e.error(format!(
                    "guest {name:?}: environment variable {k:?} set twice"
                )));
            }
        }
        if g.dirs.len() > elastic_bundle::manifest::MAX_PREOPENS {
            return Err(g.name.error(format!(
                "guest {name:?}: more than {} preopened directories",
                elastic_bundle::manifest::MAX_PREOPENS
            )));
        }
        for d in &g.dirs {
            if d.guest.value.is_empty() || d.guest.value.contains('\0') {
                return Err(d.guest.error(format!(
                    "guest {name:?}: invalid guest path {:?} for a directory",
                    d.guest.value
                )));
            }
            too_long(&d.guest, &d.guest.value, "guest path")?;
        }
    }
    for e in &spec.exports {
        if !spec.guests.iter().any(|g| g.name.value == e.guest.value) {
            let names: Vec<&str> = spec.guests.iter().map(|g| g.name.value.as_str()).collect();
            return Err(e.guest.error(format!(
                "export names unknown guest {:?} (guests: {})",
                e.guest.value,
                names.join(", ")
            )));
        }
        if e.path.value.is_empty() || e.path.value.contains('\0') {
            return Err(e.path.error(format!(
                "invalid export path {:?} (non-empty, no NUL)",
                e.path.value
            )));
        }
        too_long(&e.path, &e.path.value, "export path")?;
    }
    if spec.exports.len() > elastic_bundle::manifest::MAX_EXPORTS {
        return Err(SpecError::new(
            spec.origin.clone(),
            format!(
                "more than {} exports",
                elastic_bundle::manifest::MAX_EXPORTS
            ),
        ));
    }
    Ok(())
}

/// Strings in a bundle manifest are at most [`MAX_STRING_LEN`] bytes (the kernel's decoder
/// refuses longer ones).
fn too_long<T>(at: &At<T>, s: &str, what: &str) -> Result<(), SpecError> {
    if s.len() > MAX_STRING_LEN {
        return Err(at.error(format!(
            "{what} of {} bytes exceeds the limit of {MAX_STRING_LEN} bytes",
            s.len()
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Baking

/// Reads every file of `spec` and seals the bundle (deterministic: same inputs, same
/// bytes). Errors name the origin of the path that failed: a missing or unreadable file,
/// a module without the `\0asm` magic, a directory entry that is a symlink or not a
/// regular file, a file name that is not UTF-8 or too long for a bundle path.
pub fn bake(spec: &ProjectSpec) -> Result<Vec<u8>, SpecError> {
    check_spec(spec)?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut guests = Vec::new();
    for (i, g) in spec.guests.iter().enumerate() {
        let wasm = read_file(&g.wasm, "wasm module")?;
        if !wasm.starts_with(&elastic_bundle::WASM_MAGIC) {
            return Err(g.wasm.error(format!(
                "{} is not a wasm module (it does not start with \\0asm)",
                g.wasm.value.display()
            )));
        }
        // Guests running the same module share one copy.
        let wasm_path = match spec.guests[..i]
            .iter()
            .enumerate()
            .map(|(j, _)| format!("guests/{j}/module.wasm"))
            .find(|p| files.get(p).is_some_and(|d| *d == wasm))
        {
            Some(p) => p,
            None => {
                let p = format!("guests/{i}/module.wasm");
                files.insert(p.clone(), wasm);
                p
            }
        };
        let stdin = match &g.stdin {
            Some(s) => {
                let p = format!("guests/{i}/stdin");
                files.insert(p.clone(), read_file(s, "stdin file")?);
                Some(p)
            }
            None => None,
        };
        let mut preopens = Vec::new();
        for (n, d) in g.dirs.iter().enumerate() {
            let bundle_dir = format!("guests/{i}/dirs/{n}");
            let meta = std::fs::metadata(&d.host.value).map_err(|e| {
                d.host
                    .error(format!("directory {}: {e}", d.host.value.display()))
            })?;
            if !meta.is_dir() {
                return Err(d
                    .host
                    .error(format!("{} is not a directory", d.host.value.display())));
            }
            walk(&d.host, &d.host.value, &bundle_dir, &mut files)?;
            preopens.push(Preopen {
                guest_path: d.guest.value.clone(),
                bundle_dir,
                readonly: d.readonly,
            });
        }
        guests.push(Guest {
            name: g.name.value.clone(),
            wasm: wasm_path,
            args: g.args.iter().map(|a| a.value.clone()).collect(),
            env: g.env.iter().map(|e| e.value.clone()).collect(),
            preopens,
            stdin,
            limits: g.limits,
            output: g.output,
        });
    }
    let manifest = Manifest {
        guests,
        shared_ramfs: spec.shared_ramfs,
        exports: spec
            .exports
            .iter()
            .map(|e| Export {
                guest: e.guest.value.clone(),
                path: e.path.value.clone(),
            })
            .collect(),
        files: Vec::new(),
    };
    let builder = files
        .into_iter()
        .fold(BundleBuilder::new(manifest), |b, (p, d)| b.add_file(p, d));
    builder
        .build()
        .map_err(|e| SpecError::new(spec.origin.clone(), format!("cannot build the bundle: {e}")))
}

fn read_file(at: &At<PathBuf>, what: &str) -> Result<Vec<u8>, SpecError> {
    let path = &at.value;
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(at.error(format!("{what} {} not found", path.display())));
        }
        Err(e) => return Err(at.error(format!("{what} {}: {e}", path.display()))),
        Ok(m) if !m.is_file() => {
            return Err(at.error(format!("{what} {} is not a regular file", path.display())));
        }
        Ok(_) => {}
    }
    std::fs::read(path).map_err(|e| at.error(format!("cannot read {what} {}: {e}", path.display())))
}

/// Adds every regular file below `host` to `files` under `bundle_dir/`, in sorted order,
/// refusing symlinks and special files.
fn walk(
    at: &At<PathBuf>,
    host: &Path,
    bundle_dir: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), SpecError> {
    let io = |p: &Path, e: std::io::Error| at.error(format!("{}: {e}", p.display()));
    let mut entries = std::fs::read_dir(host)
        .map_err(|e| io(host, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io(host, e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            return Err(at.error(format!("{}: file name is not UTF-8", path.display())));
        };
        let bundle_path = format!("{bundle_dir}/{name}");
        let ft = e.file_type().map_err(|e| io(&path, e))?;
        if ft.is_symlink() {
            return Err(at.error(format!(
                "{} is a symbolic link; bundles hold regular files only (copy the target in)",
                path.display()
            )));
        }
        if !is_valid_bundle_path(&bundle_path) {
            return Err(at.error(format!(
                "{}: bundle path {bundle_path:?} is invalid (at most 255 bytes, no '\\')",
                path.display()
            )));
        }
        if ft.is_dir() {
            walk(at, &path, &bundle_path, files)?;
        } else if ft.is_file() {
            let data = std::fs::read(&path).map_err(|e| io(&path, e))?;
            files.insert(bundle_path, data);
        } else {
            return Err(at.error(format!(
                "{} is not a regular file or directory",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ProjectSpec, SpecError> {
        parse_manifest(Path::new("/p/elastic.toml"), text)
    }

    fn line_of(r: Result<ProjectSpec, SpecError>) -> (usize, String) {
        match r {
            Err(SpecError {
                origin: Origin::Line { file, line },
                message,
            }) => {
                assert_eq!(file, Path::new("/p/elastic.toml"));
                (line, message)
            }
            other => panic!("expected an error with a line, got {other:?}"),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_size("3KiB"), Ok(3072));
        assert_eq!(parse_size("7B"), Ok(7));
        assert!(parse_size("64MB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999TiB").is_err());
        assert!(parse_size("1.5GiB").is_err());
    }

    #[test]
    fn full_manifest_parses_with_defaults_and_order() {
        let spec = parse(
            r#"
shared_ramfs = true
[[guest]]
wasm = "bin/app.wasm"
args = ["a", "b"]
env = { ZED = "1", ALPHA = "2" }
stdin = "in.txt"
output = "prefixed"
[[guest.dir]]
host = "data"
guest = "/data"
readonly = true
[guest.limits]
fuel = 1000
wall_time_ms = 2500
max_memory = "64MiB"
ramfs_quota = 1048576
ramfs_inodes = 10
max_open_fds = 16
[[guest]]
name = "second"
wasm = "/abs/b.wasm"
[[export]]
guest = "app"
path = "/data"
"#,
        )
        .unwrap();
        assert!(spec.shared_ramfs);
        let g = &spec.guests[0];
        assert_eq!(g.name.value, "app");
        assert_eq!(g.wasm.value, Path::new("/p/bin/app.wasm"));
        assert_eq!(g.stdin.as_ref().unwrap().value, Path::new("/p/in.txt"));
        let env: Vec<_> = g.env.iter().map(|e| e.value.0.as_str()).collect();
        assert_eq!(env, ["ZED", "ALPHA"]);
        assert_eq!(g.args.len(), 2);
        assert_eq!(g.output, OutputMode::Prefixed);
        assert_eq!(g.dirs[0].host.value, Path::new("/p/data"));
        assert!(g.dirs[0].readonly);
        assert_eq!(
            g.limits,
            Limits {
                fuel: Some(1000),
                wall_time_ms: Some(2500),
                max_memory_bytes: 64 << 20,
                ramfs_quota_bytes: 1 << 20,
                ramfs_quota_inodes: 10,
                max_open_fds: 16
            }
        );
        assert_eq!(spec.guests[1].limits, Limits::default());
        assert_eq!(spec.guests[1].output, OutputMode::Raw);
        assert_eq!(spec.guests[1].wasm.value, Path::new("/abs/b.wasm"));
        assert_eq!(spec.exports[0].path.value, "/data");
    }

    #[test]
    fn errors_carry_the_line() {
        let base = "[[guest]]\nname = \"a\"\nwasm = \"a.wasm\"\n";
        let cases: &[(&str, usize, &str)] = &[
            ("[guest.limits]\nfuel = 0\n", 5, "fuel"),
            ("[guest.limits]\nfuel = -5\n", 5, "fuel"),
            ("[guest.limits]\nwall_time_ms = 0\n", 5, "wall_time_ms"),
            ("[guest.limits]\nmax_memory = \"5GiB\"\n", 5, "max_memory"),
            ("[guest.limits]\nmax_memory = \"64 MB\"\n", 5, "bad size"),
            ("[guest.limits]\nmax_open_fds = 2\n", 5, "max_open_fds"),
            ("[guest.limits]\nramfs_quota = 0\n", 5, "ramfs_quota"),
            ("colour = \"red\"\n", 4, "colour"),
            ("output = \"loud\"\n", 4, "loud"),
            (
                "[[guest]]\nname = \"a\"\nwasm = \"b.wasm\"\n",
                5,
                "duplicate",
            ),
            (
                "[[export]]\nguest = \"nobody\"\npath = \"/x\"\n",
                5,
                "nobody",
            ),
            ("env = { \"A=B\" = \"1\" }\n", 4, "environment"),
            ("args = [\"x\", 3]\n", 4, ""),
            ("wasm = \"again\"\n", 4, ""),
            ("\nargs = [\"ok\",\n  \"LONG\"]\n", 6, "4096"),
            ("env = { K = \"LONG\" }\n", 4, "4096"),
        ];
        for (extra, line, word) in cases {
            let extra = extra.replace("LONG", &"x".repeat(4097));
            let (l, msg) = line_of(parse(&format!("{base}{extra}")));
            assert_eq!(l, *line, "{extra:.60?}: {msg}");
            assert!(msg.contains(word), "{extra:.60?}: {msg}");
        }
    }

    #[test]
    fn no_guest_is_an_error_naming_the_file() {
        let e = parse("shared_ramfs = false\n").unwrap_err();
        assert_eq!(e.origin, Origin::File(PathBuf::from("/p/elastic.toml")));
        assert!(e.to_string().contains("no guest"));
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../../docs/manifest.md");
        let start = doc.find("```toml\n").expect("example") + "```toml\n".len();
        let len = doc[start..].find("```").expect("end of example");
        let spec = parse(&doc[start..start + len]).unwrap();
        let names: Vec<&str> = spec.guests.iter().map(|g| g.name.value.as_str()).collect();
        assert_eq!(names, ["producer", "consumer"]);
        assert_eq!(spec.guests[0].limits.fuel, Some(10_000_000));
        assert_eq!(spec.guests[0].limits.ramfs_quota_bytes, 128 << 20);
        assert_eq!(spec.exports[0].path.value, "/out");
    }
}
