//! `elastic build`: bakes guests into a firmware image (`docs/manifest.md`, `docs/image.md`).
//!
//! ```text
//! elastic build --manifest elastic.toml [-o image.bin] [--kernel FILE]
//! elastic build --guest app.wasm [--name N] [--dir HOST[::GUEST[:ro]]]... [--env K=V]...
//!               [--stdin FILE] [--fuel N] [--wall-time-ms MS] [--max-memory BYTES]
//!               [-o image.bin]
//!               [--kernel FILE] [-- ARGS...]
//! ```
//!
//! Both forms make a `manifest::ProjectSpec`; the shortcut exports every writable `--dir`
//! back (an `[[export]]` of its guest path) so `scripts/run-qemu.sh --export` can write it
//! back, like `elastic run` does. The spec is baked into a bundle (`manifest::bake`), the
//! bundle is placed with the kernel template (`image::assemble`: embedded up to a 16 MiB
//! image, else external as `IMAGE.bundle`), the result is re-read with the kernel's checks,
//! and the digest, mode and sizes are printed. Same inputs give the same bytes.

#[path = "image.rs"]
pub mod image;
#[path = "manifest.rs"]
pub mod manifest;

use clap::Args;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use manifest::{At, DirSpec, ExportSpec, GuestSpec, Origin, ProjectSpec, SpecError};

/// Flags of `elastic build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build from an elastic.toml manifest.
    #[arg(long, value_name = "FILE", required_unless_present = "guest")]
    manifest: Option<PathBuf>,
    /// Shortcut: build a one-guest image around this module.
    #[arg(long, value_name = "WASM", conflicts_with = "manifest")]
    guest: Option<PathBuf>,
    /// Guest name (default: the module's file stem).
    #[arg(long, requires = "guest")]
    name: Option<String>,
    /// Bake a host directory in, preopened as GUEST (default: HOST as given); writable
    /// directories are exported back when the guest ends.
    #[arg(long = "dir", value_name = "HOST[::GUEST[:ro]]", requires = "guest")]
    dirs: Vec<String>,
    /// Set a guest environment variable.
    #[arg(long = "env", value_name = "K=V", requires = "guest")]
    env: Vec<String>,
    /// File fed to the guest's stdin.
    #[arg(long, value_name = "FILE", requires = "guest")]
    stdin: Option<PathBuf>,
    /// Fuel (instruction budget) limit.
    #[arg(long, requires = "guest")]
    fuel: Option<u64>,
    /// Wall-clock limit in milliseconds (the kernel's watchdog stops the guest after it).
    #[arg(long = "wall-time-ms", value_name = "MS", requires = "guest")]
    wall_time_ms: Option<u64>,
    /// Largest linear memory: bytes or a size like 64MiB.
    #[arg(long = "max-memory", value_name = "BYTES", requires = "guest")]
    max_memory: Option<String>,
    /// Bytes the guest's ramfs may hold: bytes or a size like 16MiB.
    #[arg(long = "ramfs-quota", value_name = "BYTES", requires = "guest")]
    ramfs_quota: Option<String>,
    /// The image to write (an external bundle goes to IMAGE.bundle).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "IMAGE",
        default_value = "image.bin"
    )]
    output: PathBuf,
    /// The kernel template (default: $ELASTIC_KERNEL, else target/elastic-kernel.bin).
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// Arguments passed to the guest (after argv[0] = its name).
    #[arg(last = true, requires = "guest")]
    args: Vec<String>,
}

/// Runs `elastic build`.
pub fn main(a: BuildArgs) -> ExitCode {
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("elastic build: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: &BuildArgs) -> Result<(), String> {
    let spec = match (&a.manifest, &a.guest) {
        (Some(m), _) => manifest::load_manifest(m),
        (None, Some(g)) => shortcut_spec(a, g),
        (None, None) => return Err("give --manifest FILE or --guest WASM".into()),
    }
    .map_err(|e| e.to_string())?;
    let bundle = manifest::bake(&spec).map_err(|e| e.to_string())?;

    let kernel_path = kernel_path(a.kernel.as_deref());
    let kernel = std::fs::read(&kernel_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "kernel template {} not found: run scripts/build-kernel.sh \
                 (or pass --kernel FILE / set ELASTIC_KERNEL)",
                kernel_path.display()
            )
        } else {
            format!("kernel template {}: {e}", kernel_path.display())
        }
    })?;
    let assembled = image::assemble(&kernel, &bundle)
        .map_err(|e| format!("kernel template {}: {e}", kernel_path.display()))?;
    verify(&assembled.image, &bundle)?;

    let bundle_file = bundle_path(&a.output);
    let mode = match assembled.location {
        image::BundleLocation::Embedded { .. } => {
            // A stale external bundle would be passed to QEMU by run-qemu.sh.
            match std::fs::remove_file(&bundle_file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("removing stale {}: {e}", bundle_file.display()));
                }
                _ => {}
            }
            "embedded"
        }
        image::BundleLocation::External { .. } => {
            write(&bundle_file, &bundle)?;
            "external"
        }
    };
    write(&a.output, &assembled.image)?;

    println!("bundle digest: {}", image::hex(assembled.location.digest()));
    println!("mode: {mode}");
    println!("image: {}", a.output.display());
    println!("image size: {} bytes", assembled.image.len());
    println!("bundle size: {} bytes", bundle.len());
    if mode == "external" {
        println!("bundle file: {}", bundle_file.display());
    }
    Ok(())
}

/// Re-reads the image as the kernel will: descriptor checks, then the bundle against the
/// pinned digest.
fn verify(img: &[u8], bundle: &[u8]) -> Result<(), String> {
    let fail = |what: String| format!("internal error: the assembled image fails {what}");
    let loc = image::read_descriptor(img)
        .map_err(|e| fail(format!("the descriptor check: {e}")))?
        .ok_or_else(|| fail("the descriptor check: no descriptor".into()))?;
    let bytes = match image::embedded_bundle(img, &loc).map_err(|e| fail(e.to_string()))? {
        Some(b) => b,
        None => loc
            .external_bytes(bundle)
            .map_err(|e| fail(e.to_string()))?,
    };
    let parsed = elastic_bundle::Bundle::parse(bytes).map_err(|e| fail(format!("{e:?}")))?;
    if parsed.digest() != *loc.digest() {
        return Err(fail("the pinned digest check".into()));
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `IMAGE.bundle`: the external bundle's file next to the image.
pub fn bundle_path(image: &Path) -> PathBuf {
    let mut s = OsString::from(image.as_os_str());
    s.push(".bundle");
    PathBuf::from(s)
}

/// The kernel template: `--kernel`, else `$ELASTIC_KERNEL`, else
/// `<repo>/target/elastic-kernel.bin`.
fn kernel_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("ELASTIC_KERNEL").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    // CARGO_MANIFEST_DIR is <repo>/tools/elastic.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(crate_dir)
        .join("target/elastic-kernel.bin")
}

/// The `--guest` shortcut as a project: one guest, and an export of every writable dir.
fn shortcut_spec(a: &BuildArgs, wasm: &Path) -> Result<ProjectSpec, SpecError> {
    let flag = |s: String| Origin::Flag(s);
    let wasm_at = At::new(
        wasm.to_path_buf(),
        flag(format!("--guest {}", wasm.display())),
    );
    let name = match &a.name {
        Some(n) => At::new(n.clone(), flag(format!("--name {n}"))),
        None => At::new(
            manifest::default_name(wasm).map_err(|m| wasm_at.error(m))?,
            wasm_at.origin.clone(),
        ),
    };
    let mut limits = elastic_bundle::Limits::default();
    if let Some(f) = a.fuel {
        let origin = flag(format!("--fuel {f}"));
        limits.fuel = Some(
            manifest::check_count("fuel", i128::from(f), manifest::FUEL_RANGE)
                .map_err(|m| SpecError::new(origin, m))?,
        );
    }
    if let Some(ms) = a.wall_time_ms {
        let origin = flag(format!("--wall-time-ms {ms}"));
        limits.wall_time_ms = Some(
            manifest::check_count("wall_time_ms", i128::from(ms), manifest::WALL_TIME_RANGE)
                .map_err(|m| SpecError::new(origin, m))?,
        );
    }
    if let Some(m) = &a.max_memory {
        let origin = flag(format!("--max-memory {m}"));
        limits.max_memory_bytes = manifest::check_size(
            "max_memory",
            &manifest::SizeValue::Str(m.clone()),
            manifest::MAX_MEMORY_RANGE,
        )
        .map_err(|e| SpecError::new(origin, e))?;
    }
    if let Some(q) = &a.ramfs_quota {
        let origin = flag(format!("--ramfs-quota {q}"));
        limits.ramfs_quota_bytes = manifest::check_size(
            "ramfs_quota",
            &manifest::SizeValue::Str(q.clone()),
            manifest::RAMFS_QUOTA_RANGE,
        )
        .map_err(|e| SpecError::new(origin, e))?;
    }
    let mut env = Vec::new();
    for kv in &a.env {
        let origin = flag(format!("--env {kv}"));
        let Some((k, v)) = kv.split_once('=') else {
            return Err(SpecError::new(origin, "expected K=V"));
        };
        env.push(At::new((k.to_string(), v.to_string()), origin));
    }
    let mut dirs = Vec::new();
    let mut exports = Vec::new();
    for d in &a.dirs {
        let origin = flag(format!("--dir {d}"));
        let dir = parse_dir(d, origin);
        if !dir.readonly {
            exports.push(ExportSpec {
                guest: At::new(name.value.clone(), dir.guest.origin.clone()),
                path: dir.guest.clone(),
            });
        }
        dirs.push(dir);
    }
    let spec = ProjectSpec {
        shared_ramfs: false,
        guests: vec![GuestSpec {
            name,
            wasm: wasm_at.clone(),
            args: a
                .args
                .iter()
                .map(|s| At::new(s.clone(), flag(format!("argument {s:?}"))))
                .collect(),
            env,
            dirs,
            stdin: a
                .stdin
                .as_ref()
                .map(|s| At::new(s.clone(), flag(format!("--stdin {}", s.display())))),
            limits,
            output: elastic_bundle::OutputMode::Raw,
        }],
        exports,
        origin: wasm_at.origin,
    };
    manifest::check_spec(&spec)?;
    Ok(spec)
}

/// Parses `HOST[::GUEST[:ro]]`; GUEST defaults to HOST as written.
fn parse_dir(s: &str, origin: Origin) -> DirSpec {
    let (host, guest, readonly) = match s.split_once("::") {
        None => (s, s, false),
        Some((h, g)) => match g.strip_suffix(":ro") {
            Some(g) => (h, g, true),
            None => (h, g, false),
        },
    };
    DirSpec {
        host: At::new(PathBuf::from(host), origin.clone()),
        guest: At::new(guest.to_string(), origin),
        readonly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_flag_forms() {
        let o = Origin::Flag("x".into());
        let d = parse_dir("data", o.clone());
        assert_eq!(
            (d.host.value, d.guest.value, d.readonly),
            ("data".into(), "data".into(), false)
        );
        let d = parse_dir("a/b::/in", o.clone());
        assert_eq!(
            (d.host.value, d.guest.value, d.readonly),
            ("a/b".into(), "/in".into(), false)
        );
        let d = parse_dir("a::/in:ro", o);
        assert_eq!(
            (d.host.value, d.guest.value, d.readonly),
            ("a".into(), "/in".into(), true)
        );
    }

    #[test]
    fn bundle_file_is_next_to_the_image() {
        assert_eq!(
            bundle_path(Path::new("out/image.bin")),
            Path::new("out/image.bin.bundle")
        );
    }
}
