//! Turning a verified bundle into running guests: each guest's ramfs and WASI configuration,
//! the per-guest summary line, the image's exit reason, and the export archive.
//!
//! The kernel drives this (`kernel/src/guests.rs`) with its own [`wasi_impl::Services`]; host
//! tests drive it with a fake one, so everything here is checked without QEMU.

use crate::exit::ExitReason;
use crate::tar::{Sink, TarWriter};
use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use elastic_bundle::{Bundle, Guest, OutputMode};
use wasi_impl::ramfs::{Config as FsConfig, Errno, Headroom, Ramfs, WalkKind, unlimited_headroom};
use wasi_impl::{GuestConfig, LimitKind, Limits, Outcome, Preopen, RunReport, SharedFs};

/// Why a guest could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchError {
    /// Filling the guest's ramfs failed (quota too small for the baked files, bad path).
    Ramfs {
        /// The guest.
        guest: String,
        /// The path being created.
        path: String,
        /// The filesystem's error.
        errno: Errno,
    },
    /// The bundle lacks the guest's module (cannot happen for a verified bundle).
    MissingModule(String),
}

impl core::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Ramfs { guest, path, errno } => {
                write!(
                    f,
                    "guest {guest}: cannot create {path} in its ramfs: {errno:?}"
                )
            }
            Self::MissingModule(g) => write!(f, "guest {g}: module missing from the bundle"),
        }
    }
}

/// Heap the kernel keeps for itself while guests run: growth a guest drives (linear memory,
/// ramfs data and nodes, descriptors, host copies of guest buffers) is refused once it would
/// leave less than this free ([`heap_has_room`]), so the allocations the kernel cannot make
/// fallible still succeed: wasmi's call stack (up to 20,000 frames, about 0.5 MiB) and the
/// lazy translation of a function, `BTreeMap` nodes, trap messages, the summary, the export
/// and the next guest's set-up. A reallocation may briefly take half of what is left above
/// the reserve, so the reserve is several times what those need.
pub const KERNEL_HEAP_RESERVE: usize = 8 << 20;

/// Whether `want` more bytes can be allocated on a heap with `used` of `total` bytes in use
/// and still leave `reserve` bytes free.
pub fn heap_has_room(used: usize, total: usize, want: usize, reserve: usize) -> bool {
    total.saturating_sub(used) >= want.saturating_add(reserve)
}

/// A new ramfs with a guest's quota; `wall_clock` gives timestamps in ns since the epoch,
/// `headroom` is the kernel's heap gauge ([`Ramfs::set_headroom`]).
pub fn new_fs(
    limits: &elastic_bundle::Limits,
    wall_clock: fn() -> u64,
    headroom: Headroom,
) -> SharedFs {
    let config = FsConfig {
        dev: 1,
        max_bytes: limits.ramfs_quota_bytes,
        max_inodes: limits.ramfs_quota_inodes,
    };
    let mut fs = Ramfs::new(config, Box::new(wall_clock));
    fs.set_headroom(headroom);
    Rc::new(RefCell::new(fs))
}

/// The filesystem each guest uses: one shared, or one per guest (the manifest decides).
#[derive(Debug)]
pub struct Filesystems {
    shared: Option<SharedFs>,
    per_guest: Vec<(String, SharedFs)>,
    wall_clock: fn() -> u64,
    headroom: Headroom,
}

impl Filesystems {
    /// Prepares the filesystems for `bundle`. A shared ramfs gets the largest quota any guest
    /// asks for.
    pub fn new(bundle: &Bundle<'_>, wall_clock: fn() -> u64) -> Self {
        let shared = bundle.shared_ramfs().then(|| {
            let mut limits = elastic_bundle::Limits::default();
            for g in bundle.guests() {
                limits.ramfs_quota_bytes = limits.ramfs_quota_bytes.max(g.limits.ramfs_quota_bytes);
                limits.ramfs_quota_inodes =
                    limits.ramfs_quota_inodes.max(g.limits.ramfs_quota_inodes);
            }
            new_fs(&limits, wall_clock, unlimited_headroom)
        });
        Self {
            shared,
            per_guest: Vec::new(),
            wall_clock,
            headroom: unlimited_headroom,
        }
    }

    /// Gives every filesystem (the shared one already made, and those made later) the
    /// kernel's heap gauge (see [`Ramfs::set_headroom`]).
    pub fn with_headroom(mut self, headroom: Headroom) -> Self {
        if let Some(fs) = &self.shared {
            fs.borrow_mut().set_headroom(headroom);
        }
        self.headroom = headroom;
        self
    }

    /// The filesystem of `guest` (created on first use).
    pub fn of(&mut self, guest: &Guest) -> SharedFs {
        if let Some(fs) = &self.shared {
            return fs.clone();
        }
        if let Some((_, fs)) = self.per_guest.iter().find(|(n, _)| *n == guest.name) {
            return fs.clone();
        }
        let fs = new_fs(&guest.limits, self.wall_clock, self.headroom);
        self.per_guest.push((guest.name.clone(), fs.clone()));
        fs
    }

    /// The filesystem of the guest named `name`, if it ran.
    pub fn by_name(&self, name: &str) -> Option<SharedFs> {
        if let Some(fs) = &self.shared {
            return Some(fs.clone());
        }
        self.per_guest
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, fs)| fs.clone())
    }
}

/// The ramfs path (relative to the root) for a guest-visible preopen path.
fn fs_path(guest_path: &str) -> &str {
    let p = guest_path.trim_start_matches('/').trim_end_matches('/');
    if p.is_empty() || p == "." { "" } else { p }
}

/// Everything needed to run one guest.
#[derive(Debug)]
pub struct Prepared<'b> {
    /// The WASI configuration.
    pub config: GuestConfig,
    /// The module bytes.
    pub wasm: &'b [u8],
    /// The stdin contents.
    pub stdin: &'b [u8],
    /// How its output is shown.
    pub output: OutputMode,
}

/// Fills the guest's preopened directories from the bundle and builds its configuration.
pub fn prepare<'b>(
    bundle: &Bundle<'b>,
    guest: &Guest,
    fs: &SharedFs,
) -> Result<Prepared<'b>, LaunchError> {
    let err = |path: &str, errno| LaunchError::Ramfs {
        guest: guest.name.clone(),
        path: path.to_string(),
        errno,
    };
    let mut preopens = Vec::new();
    for p in &guest.preopens {
        let dir_path = fs_path(&p.guest_path);
        let dir = {
            let mut fsm = fs.borrow_mut();
            let root = fsm.root();
            let dir = if dir_path.is_empty() {
                root
            } else {
                fsm.create_dir_all(root, dir_path)
                    .map_err(|e| err(dir_path, e))?
            };
            for file in bundle.files_under(&p.bundle_dir) {
                if let Some((parent, _)) = file.relative.rsplit_once('/') {
                    fsm.create_dir_all(dir, parent)
                        .map_err(|e| err(file.relative, e))?;
                }
                fsm.write_file(dir, file.relative, file.data)
                    .map_err(|e| err(file.relative, e))?;
            }
            dir
        };
        preopens.push(Preopen {
            guest_path: p.guest_path.clone(),
            fs: fs.clone(),
            dir,
            readonly: p.readonly,
        });
    }
    let wasm = bundle
        .wasm(guest)
        .ok_or_else(|| LaunchError::MissingModule(guest.name.clone()))?;
    let mut args = Vec::with_capacity(guest.args.len() + 1);
    args.push(guest.name.clone());
    args.extend(guest.args.iter().cloned());
    let config = GuestConfig {
        name: guest.name.clone(),
        args,
        env: guest.env.clone(),
        preopens,
        limits: Limits {
            fuel: guest.limits.fuel,
            wall_time_ms: guest.limits.wall_time_ms,
            max_memory_bytes: guest.limits.max_memory_bytes,
            max_open_fds: guest.limits.max_open_fds,
            ..Limits::default()
        },
        wasm_backtrace: true,
    };
    Ok(Prepared {
        config,
        wasm,
        stdin: bundle.stdin(guest),
        output: guest.output,
    })
}

/// How one guest went.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The guest's name.
    pub name: String,
    /// The run report.
    pub report: RunReport,
    /// Wall time of the run in ns.
    pub elapsed_ns: u64,
}

impl Summary {
    /// True when the guest exited 0.
    pub fn succeeded(&self) -> bool {
        self.report.outcome == Outcome::Exited(0)
    }

    /// The exit reason this guest alone would give the image.
    pub fn exit_reason(&self) -> ExitReason {
        match &self.report.outcome {
            Outcome::Exited(0) => ExitReason::Success,
            Outcome::Exited(code) => ExitReason::GuestExit(*code),
            Outcome::LimitExceeded {
                which: LimitKind::WallTime,
                ..
            } => ExitReason::Watchdog,
            Outcome::Trapped(_) | Outcome::LimitExceeded { .. } | Outcome::LoadFailed(_) => {
                ExitReason::GuestTrap
            }
        }
    }

    /// One line for the console: name, how it ended, time, fuel, peak memory.
    pub fn line(&self) -> String {
        let how = match &self.report.outcome {
            Outcome::Exited(code) => format!("exit {code}"),
            Outcome::Trapped(t) => {
                let mut s = format!("trap {:?}: {}", t.kind, t.message);
                if !t.backtrace.is_empty() {
                    s.push_str(" (at ");
                    s.push_str(&t.backtrace.join(" <- "));
                    s.push(')');
                }
                s
            }
            Outcome::LimitExceeded { which, message } => {
                format!("limit {} exceeded: {message}", which.name())
            }
            Outcome::LoadFailed(m) => format!("load failed: {m}"),
        };
        let ms = self.elapsed_ns / 1_000_000;
        let us = self.elapsed_ns / 1000 % 1000;
        format!(
            "guest {}: {how}, {ms}.{us:03} ms, fuel {}, peak memory {} KiB",
            self.name,
            self.report.fuel_used,
            self.report.peak_memory_bytes / 1024
        )
    }
}

/// The image's exit reason: success when every guest exited 0, else the first failure.
pub fn exit_reason(summaries: &[Summary]) -> ExitReason {
    summaries
        .iter()
        .map(Summary::exit_reason)
        .find(|r| *r != ExitReason::Success)
        .unwrap_or(ExitReason::Success)
}

/// What [`export_archive`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Archive length in bytes (what was written, or would be without a sink).
    pub len: u64,
    /// Exports that could not be (fully) archived, for the log.
    pub problems: Vec<String>,
}

/// Streams the export archive to `sink` (or, without one, only computes its length: the
/// framing announces the length before the bytes). For each `(guest, path)` export, the file
/// or directory tree at that guest-visible path, stored in the archive under the path without
/// its leading `/`. Missing paths are reported in [`Export::problems`], not fatal. Nothing
/// is buffered but one 512-byte block, however much the guests wrote.
pub fn export_archive(bundle: &Bundle<'_>, filesystems: &Filesystems, sink: Sink<'_>) -> Export {
    let mut tar = TarWriter::new(sink);
    let mut problems = Vec::new();
    for export in bundle.exports() {
        let Some(fs) = filesystems.by_name(&export.guest) else {
            problems.push(format!(
                "export {}: guest {} did not run",
                export.path, export.guest
            ));
            continue;
        };
        let fs = fs.borrow();
        let path = fs_path(&export.path);
        let root = fs.root();
        let ino = if path.is_empty() {
            Ok(root)
        } else {
            fs.lookup(root, path, true)
        };
        let ino = match ino {
            Ok(ino) => ino,
            Err(e) => {
                problems.push(format!("export {}: {e:?}", export.path));
                continue;
            }
        };
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        // Modification times in whole seconds, as tar stores them.
        let mtime = |ino| fs.stat(ino).map(|st| st.mtim / 1_000_000_000).unwrap_or(0);
        let file = |tar: &mut TarWriter<'_>, name: &str, ino, size| {
            tar.file_from(name, size, mtime(ino), |offset, buf| {
                fs.read_at(ino, offset, buf).unwrap_or(0)
            });
        };
        match fs.walk(ino) {
            Ok(entries) => {
                if !path.is_empty() {
                    tar.directory(path, mtime(ino));
                }
                for e in entries {
                    let name = format!("{prefix}{}", e.path);
                    match e.kind {
                        WalkKind::Directory => tar.directory(&name, mtime(e.ino)),
                        WalkKind::File { size } => file(&mut tar, &name, e.ino, size),
                        WalkKind::Symlink { target } => tar.symlink(&name, &target, mtime(e.ino)),
                    }
                }
            }
            // Not a directory: a single file.
            Err(Errno::Notdir) => match fs.stat(ino) {
                Ok(st) => file(&mut tar, path, ino, st.size),
                Err(err) => problems.push(format!("export {path}: {err:?}")),
            },
            Err(e) => problems.push(format!("export {}: {e:?}", export.path)),
        }
    }
    let (len, skipped) = tar.finish();
    for p in skipped {
        problems.push(format!(
            "export {p}: the name does not fit a tar header; skipped"
        ));
    }
    Export { len, problems }
}
