//! `elastic run`: runs a WASI preview1 module on Linux with exactly the kernel's WASI
//! implementation (`wasi-impl` over `elastic-ramfs`).
//!
//! Each `--dir HOST[::GUEST]` is copied into a ramfs directory preopened as GUEST (default:
//! HOST as given). When the guest ends, whatever it created, changed or removed there is
//! written back to HOST, unless `--no-write-back`. stdin/stdout/stderr are the host's. The
//! exit status is the guest's exit code; a trap or an exceeded limit prints its kind and
//! backtrace to stderr and exits with 134 (what wasmtime's CLI uses for traps); a module that
//! cannot be loaded exits with 1.

use clap::Args;
use elastic_crypto::{OsEntropy, SecureRandom};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasi_impl::ramfs::{self, Ino, Ramfs, WalkKind};
use wasi_impl::{Errno, GuestConfig, Limits, Outcome, Preopen, Services};

/// Exit status for traps and exceeded limits (128 + SIGABRT, as wasmtime's CLI).
pub const TRAP_EXIT: u8 = 134;

/// Flags of `elastic run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Preopen a host directory (copied into ramfs) as GUEST (default: the same path).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Set a guest environment variable (`K` alone passes the host's value, as wasmtime).
    #[arg(long = "env", value_name = "K[=V]")]
    env: Vec<String>,
    /// Fuel (instruction budget) limit.
    #[arg(long)]
    fuel: Option<u64>,
    /// Wall-clock limit in milliseconds: the guest is stopped at the first fuel slice or
    /// sleep after it (a blocking read of the host's stdin is not interrupted).
    #[arg(long = "wall-time-ms", value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    wall_time_ms: Option<u64>,
    /// Largest linear memory in bytes.
    #[arg(long = "max-memory", value_name = "BYTES")]
    max_memory: Option<u64>,
    /// Bytes the guest's ramfs may hold (writes past it fail with ENOSPC).
    #[arg(long = "ramfs-quota", value_name = "BYTES")]
    ramfs_quota: Option<u64>,
    /// Do not copy the guest's changes back to the host directories.
    #[arg(long = "no-write-back")]
    no_write_back: bool,
    /// Do not keep a shadow call stack (traps then report no wasm frames; runs a bit faster).
    #[arg(long = "no-backtrace")]
    no_backtrace: bool,
    /// Print fuel used and peak memory to stderr when the guest ends.
    #[arg(long)]
    stats: bool,
    /// The module.
    file: PathBuf,
    /// Arguments passed to the guest (after argv[0] = FILE).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Host platform services for the guest.
struct HostServices {
    start: Instant,
    /// `random_get`: the same CTR_DRBG (AES-256, SP 800-90A) the kernel uses, seeded from the OS.
    rng: SecureRandom<OsEntropy>,
}

impl Services for HostServices {
    fn monotonic_now(&mut self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
    fn monotonic_resolution(&self) -> u64 {
        1
    }
    fn wall_now(&mut self) -> u64 {
        wall_ns()
    }
    fn wall_resolution(&self) -> u64 {
        1
    }
    fn random(&mut self, buf: &mut [u8]) {
        if let Err(e) = self.rng.fill(buf) {
            eprintln!("elastic: the random generator failed: {e:?}");
            std::process::exit(1);
        }
    }
    fn stdout(&mut self, bytes: &[u8]) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(bytes);
        let _ = o.flush();
    }
    fn stderr(&mut self, bytes: &[u8]) {
        let _ = std::io::stderr().lock().write_all(bytes);
    }
    fn read_stdin(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        std::io::stdin().lock().read(buf).map_err(|_| Errno::Io)
    }
    fn sleep_until(&mut self, deadline_ns: u64) {
        let now = self.monotonic_now();
        if deadline_ns > now {
            std::thread::sleep(Duration::from_nanos(deadline_ns - now));
        }
    }
    fn sched_yield(&mut self) {
        std::thread::yield_now();
    }
    fn is_tty(&self, fd: u32) -> bool {
        match fd {
            0 => std::io::stdin().is_terminal(),
            1 => std::io::stdout().is_terminal(),
            _ => std::io::stderr().is_terminal(),
        }
    }
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What a host tree held before the guest ran (relative path -> content).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Snap {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// One `--dir`.
struct Mount {
    host: PathBuf,
    ino: Ino,
    before: BTreeMap<String, Snap>,
}

fn err(msg: String) -> ExitCode {
    eprintln!("elastic run: {msg}");
    ExitCode::from(1)
}

/// Copies `host` (recursively) into the ramfs directory `dir`, recording what it copied.
fn import(
    fs: &mut Ramfs,
    dir: Ino,
    host: &Path,
    rel: &str,
    snap: &mut BTreeMap<String, Snap>,
) -> Result<(), String> {
    let rd = std::fs::read_dir(host).map_err(|e| format!("{}: {e}", host.display()))?;
    for ent in rd {
        let ent = ent.map_err(|e| format!("{}: {e}", host.display()))?;
        let name = ent
            .file_name()
            .into_string()
            .map_err(|n| format!("{}: non-UTF-8 name {n:?}", host.display()))?;
        let path = ent.path();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let ft = ent
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if ft.is_symlink() {
            let t = std::fs::read_link(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let t = t
                .to_str()
                .ok_or_else(|| format!("{}: non-UTF-8 link target", path.display()))?
                .to_string();
            fs.symlink_verbatim(&t, dir, &r)
                .map_err(|e| format!("{}: ramfs symlink: {e}", path.display()))?;
            snap.insert(r, Snap::Symlink(t));
        } else if ft.is_dir() {
            fs.create_dir(dir, &r)
                .map_err(|e| format!("{}: ramfs mkdir: {e}", path.display()))?;
            snap.insert(r.clone(), Snap::Dir);
            import(fs, dir, &path, &r, snap)?;
        } else if ft.is_file() {
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            fs.write_file(dir, &r, &data)
                .map_err(|e| format!("{}: ramfs write: {e}", path.display()))?;
            snap.insert(r, Snap::File(data));
        }
    }
    Ok(())
}

/// Writes back what changed under one mount: new/changed entries are written, entries that
/// existed before and are gone are removed (deepest first).
fn write_back(fs: &Ramfs, m: &Mount) -> Result<(), String> {
    let walked = fs.walk(m.ino).map_err(|e| format!("ramfs walk: {e}"))?;
    let mut after: BTreeMap<String, Snap> = BTreeMap::new();
    for w in walked {
        let s = match w.kind {
            WalkKind::Directory => Snap::Dir,
            WalkKind::File { .. } => Snap::File(
                fs.read_to_vec(w.ino)
                    .map_err(|e| format!("ramfs read {}: {e}", w.path))?,
            ),
            WalkKind::Symlink { target } => Snap::Symlink(target),
        };
        after.insert(w.path, s);
    }
    // Removals first (deepest paths first), so a file replaced by a directory works.
    let mut gone: Vec<(&String, &Snap)> = m
        .before
        .iter()
        .filter(|(p, s)| after.get(*p) != Some(*s))
        .collect();
    gone.sort_by(|a, b| b.0.cmp(a.0));
    for (p, s) in gone {
        let hp = m.host.join(p);
        let changed_kind = !matches!(
            (s, after.get(p)),
            (Snap::File(_), Some(Snap::File(_))) | (Snap::Dir, Some(Snap::Dir))
        );
        if !changed_kind {
            continue;
        }
        let r = match s {
            Snap::Dir => std::fs::remove_dir_all(&hp),
            _ => std::fs::remove_file(&hp),
        };
        if let Err(e) = r
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(format!("{}: {e}", hp.display()));
        }
    }
    for (p, s) in &after {
        if m.before.get(p) == Some(s) {
            continue;
        }
        let hp = m.host.join(p);
        let r = match s {
            Snap::Dir => std::fs::create_dir_all(&hp),
            Snap::File(d) => std::fs::write(&hp, d),
            Snap::Symlink(t) => {
                let _ = std::fs::remove_file(&hp);
                std::os::unix::fs::symlink(t, &hp)
            }
        };
        r.map_err(|e| format!("{}: {e}", hp.display()))?;
    }
    Ok(())
}

/// Runs `elastic run`.
pub fn main(a: RunArgs) -> ExitCode {
    let bytes = match std::fs::read(&a.file) {
        Ok(b) => b,
        Err(e) => return err(format!("{}: {e}", a.file.display())),
    };
    let fs_config = ramfs::Config {
        max_bytes: a.ramfs_quota.unwrap_or(u64::MAX),
        ..ramfs::Config::default()
    };
    let fs = Ramfs::new(fs_config, Box::new(wall_ns));
    let fs = std::rc::Rc::new(std::cell::RefCell::new(fs));
    let mut mounts = Vec::new();
    let mut preopens = Vec::new();
    for (i, d) in a.dirs.iter().enumerate() {
        let (host, guest) = match d.split_once("::") {
            Some((h, g)) => (h.to_string(), g.to_string()),
            None => (d.clone(), d.clone()),
        };
        let host = PathBuf::from(host);
        if !host.is_dir() {
            return err(format!("--dir {d}: {} is not a directory", host.display()));
        }
        let mut f = fs.borrow_mut();
        let root = f.root();
        let ino = match f.create_dir(root, &format!("mount{i}")) {
            Ok(ino) => ino,
            Err(e) => return err(format!("--dir {d}: ramfs: {e}")),
        };
        let mut before = BTreeMap::new();
        if let Err(e) = import(&mut f, ino, &host, "", &mut before) {
            return err(format!("--dir {d}: {e}"));
        }
        drop(f);
        preopens.push(Preopen {
            guest_path: guest,
            fs: fs.clone(),
            dir: ino,
            readonly: false,
        });
        mounts.push(Mount { host, ino, before });
    }
    let mut env = Vec::new();
    for kv in &a.env {
        match kv.split_once('=') {
            Some((k, v)) => env.push((k.to_string(), v.to_string())),
            None => {
                if let Ok(v) = std::env::var(kv) {
                    env.push((kv.clone(), v));
                }
            }
        }
    }
    let name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut args = vec![a.file.to_string_lossy().into_owned()];
    args.extend(a.args.iter().cloned());
    let mut limits = Limits {
        fuel: a.fuel,
        wall_time_ms: a.wall_time_ms,
        ..Limits::default()
    };
    if let Some(m) = a.max_memory {
        limits.max_memory_bytes = m;
    }
    let config = GuestConfig {
        name: name.clone(),
        args,
        env,
        preopens,
        limits,
        wasm_backtrace: !a.no_backtrace,
    };
    let rng = match SecureRandom::new(OsEntropy, b"elastic run random_get") {
        Ok(r) => r,
        Err(e) => return err(format!("cannot seed the random generator: {e:?}")),
    };
    let mut services = HostServices {
        start: Instant::now(),
        rng,
    };
    let report = wasi_impl::run(&bytes, config, &mut services);
    let _ = std::io::stdout().flush();

    if !a.no_write_back {
        let f = fs.borrow();
        for m in &mounts {
            if let Err(e) = write_back(&f, m) {
                eprintln!("elastic run: write-back to {}: {e}", m.host.display());
            }
        }
    }
    if a.stats {
        eprintln!(
            "elastic run: fuel used {}, peak memory {} bytes",
            report.fuel_used, report.peak_memory_bytes
        );
    }
    match report.outcome {
        Outcome::Exited(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Outcome::Trapped(t) => {
            eprintln!(
                "elastic run: {name}: wasm trap ({:?}): {}",
                t.kind, t.message
            );
            for (i, f) in t.backtrace.iter().enumerate() {
                eprintln!("  {i}: {f}");
            }
            ExitCode::from(TRAP_EXIT)
        }
        Outcome::LimitExceeded { which, message } => {
            eprintln!("elastic run: limit {} exceeded: {message}", which.name());
            ExitCode::from(TRAP_EXIT)
        }
        Outcome::LoadFailed(m) => err(m),
    }
}
