//! Harness for the QEMU integration tests: builds the firmware images with the project's own
//! scripts, boots them through `scripts/run-qemu.sh` (so its exit-code decoding is tested too),
//! and captures the serial console line by line with the host time each line arrived.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Which kernel image to boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// The production kernel.
    Plain,
    /// The kernel with the `selftest` feature.
    SelfTest,
    /// The test-only kernel with the `snp-sim` feature (PSP simulator behind `elastic_snp`).
    SnpSim,
    /// An assembled image file (with `FILE.bundle` beside it when the bundle is external).
    File(PathBuf),
}

/// A one-guest manifest in which `guest` gets a writable `/out` (filled from the bundle
/// directory `bundle_dir`, which may hold no files) that is exported after the run.
pub fn exporting_out(
    mut guest: elastic_bundle::Guest,
    bundle_dir: &str,
) -> elastic_bundle::Manifest {
    guest.preopens.push(elastic_bundle::Preopen {
        guest_path: "/out".into(),
        bundle_dir: bundle_dir.into(),
        readonly: false,
    });
    let export = elastic_bundle::Export {
        guest: guest.name.clone(),
        path: "/out".into(),
    };
    elastic_bundle::Manifest {
        guests: vec![guest],
        exports: vec![export],
        ..elastic_bundle::Manifest::default()
    }
}

/// Assembles an image from the production kernel and a bundle built from `manifest` and
/// `files`, the way `elastic build` does, into target/test-scratch/NAME/image.bin.
pub fn bundle_image(
    name: &str,
    manifest: elastic_bundle::Manifest,
    files: Vec<(&str, Vec<u8>)>,
) -> PathBuf {
    bundle_image_on(Image::Plain, name, manifest, files)
}

/// Like [`bundle_image`], on the kernel `kernel` (e.g. [`Image::SnpSim`]).
pub fn bundle_image_on(
    kernel: Image,
    name: &str,
    manifest: elastic_bundle::Manifest,
    files: Vec<(&str, Vec<u8>)>,
) -> PathBuf {
    let mut builder = elastic_bundle::BundleBuilder::new(manifest);
    for (path, data) in files {
        builder = builder.add_file(path, data);
    }
    let bundle = builder.build().expect("bundle builds");
    let digest = elastic_bundle::compute_digest(&bundle);
    let kernel = std::fs::read(image(kernel)).expect("read kernel");
    let assembled = elastic_core::image::assemble(&kernel, &bundle, digest).expect("assemble");
    let dir = scratch_dir(name);
    let path = dir.join("image.bin");
    std::fs::write(&path, &assembled.image).expect("write image");
    if let Some(external) = assembled.external_bundle {
        std::fs::write(dir.join("image.bin.bundle"), external).expect("write bundle");
    }
    path
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());
static BUILT: [OnceLock<PathBuf>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

/// Builds (once per test process) and returns the image file.
pub fn image(kind: Image) -> PathBuf {
    let index = match &kind {
        Image::Plain => 0,
        Image::SelfTest => 1,
        Image::SnpSim => 2,
        Image::File(path) => return path.clone(),
    };
    let slot = &BUILT[index];
    slot.get_or_init(|| {
        let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut cmd = Command::new(repo_root().join("scripts/build-kernel.sh"));
        match kind {
            Image::SelfTest => {
                cmd.arg("--selftest");
            }
            Image::SnpSim => {
                cmd.arg("--snp-sim");
            }
            _ => {}
        }
        let status = cmd.status().expect("run scripts/build-kernel.sh");
        assert!(status.success(), "building the {kind:?} image failed");
        repo_root().join(match kind {
            Image::Plain => "target/elastic-kernel.bin",
            Image::SelfTest => "target/elastic-selftest.bin",
            Image::SnpSim => "target/elastic-snp-sim.bin",
            Image::File(_) => unreachable!("handled above"),
        })
    })
    .clone()
}

/// The accelerators to test with: TCG always, KVM when it can run Elastic on this host.
pub fn accelerators() -> Vec<&'static str> {
    static KVM: OnceLock<bool> = OnceLock::new();
    let kvm = *KVM.get_or_init(|| {
        image(Image::Plain);
        let out = Command::new(repo_root().join("scripts/run-qemu.sh"))
            .arg("--probe-kvm")
            .stderr(Stdio::null())
            .output()
            .expect("probe KVM");
        String::from_utf8_lossy(&out.stdout).trim() == "kvm"
    });
    if kvm { vec!["tcg", "kvm"] } else { vec!["tcg"] }
}

/// How to boot.
#[derive(Debug, Clone)]
pub struct Boot {
    /// The image.
    pub image: Image,
    /// Accelerator ("tcg" or "kvm").
    pub accel: &'static str,
    /// Machine type.
    pub machine: &'static str,
    /// Guest RAM.
    pub memory: &'static str,
    /// Self-test scenario.
    pub selftest: Option<String>,
    /// Extra QEMU arguments.
    pub qemu_args: Vec<String>,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Unpack the guests' exports into this directory.
    pub export: Option<PathBuf>,
}

impl Boot {
    /// Boots `image` with TCG on q35 with 512 MiB.
    pub fn new(image: Image) -> Self {
        Self {
            image,
            accel: "tcg",
            machine: "q35",
            memory: "512M",
            selftest: None,
            qemu_args: Vec::new(),
            timeout: Duration::from_secs(120),
            export: None,
        }
    }

    /// Selects a self-test scenario (implies the self-test image).
    pub fn selftest(mut self, name: &str) -> Self {
        self.image = Image::SelfTest;
        self.selftest = Some(name.to_string());
        self
    }

    /// Runs QEMU to completion.
    pub fn run(&self) -> Outcome {
        let image = image(self.image.clone());
        let mut cmd = Command::new(repo_root().join("scripts/run-qemu.sh"));
        cmd.arg("--image").arg(&image);
        if let Some(s) = &self.selftest {
            cmd.arg("--selftest").arg(s);
        }
        if let Some(dir) = &self.export {
            cmd.arg("--export").arg(dir);
        }
        if !self.qemu_args.is_empty() {
            cmd.arg("--qemu").args(&self.qemu_args);
        }
        cmd.env("ELASTIC_ACCEL", self.accel)
            .env("ELASTIC_MACHINE", self.machine)
            .env("ELASTIC_MEMORY", self.memory)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn scripts/run-qemu.sh");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                lines.push((start.elapsed(), String::from_utf8_lossy(&line).into_owned()));
            }
            lines
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
            s
        });
        let code = loop {
            if let Some(status) = child.try_wait().expect("wait for QEMU") {
                break status.code();
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let lines = reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        Outcome {
            code,
            lines,
            stderr,
            wall: start.elapsed(),
        }
    }
}

/// What a boot produced.
#[derive(Debug)]
pub struct Outcome {
    /// The run script's exit code (None: killed by the timeout).
    pub code: Option<i32>,
    /// Serial lines with the host time each arrived.
    pub lines: Vec<(Duration, String)>,
    /// The run script's and QEMU's stderr.
    pub stderr: String,
    /// Wall time of the whole run.
    pub wall: Duration,
}

impl Outcome {
    /// The serial lines that are not kernel log lines (`[LEVEL module] ...`, `elastic: ...`):
    /// what the guests wrote.
    pub fn guest_output(&self) -> String {
        let mut out = String::new();
        for (_, l) in &self.lines {
            let log = (l.starts_with('[')
                && (l.contains("INFO ") || l.contains("WARN ") || l.contains("ERROR")))
                || l.starts_with("elastic: ");
            if !log {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// The serial output as one string.
    pub fn serial(&self) -> String {
        self.lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// True when some serial line contains `needle`.
    pub fn has(&self, needle: &str) -> bool {
        self.lines.iter().any(|(_, l)| l.contains(needle))
    }

    /// The arrival time of the first line containing `needle`.
    pub fn time_of(&self, needle: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|(_, l)| l.contains(needle))
            .map(|(t, _)| *t)
    }

    /// Asserts the exit code, printing the console on failure.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code; serial output:\n{}\nstderr:\n{}",
            self.serial(),
            self.stderr
        );
        self
    }

    /// Asserts that the console contains `needle`.
    pub fn expect(&self, needle: &str) -> &Self {
        assert!(
            self.has(needle),
            "missing {needle:?} in serial output:\n{}",
            self.serial()
        );
        self
    }
}

/// Encodes e820 entries `(address, length, type)` as QEMU's `etc/e820` file.
pub fn e820(entries: &[(u64, u64, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(addr, len, kind) in entries {
        out.extend_from_slice(&addr.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
    }
    out
}

/// A fresh scratch directory under target/.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = repo_root().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The bytes of guest `name` from target/guests/ (built once with scripts/build-guests.sh if
/// missing).
pub fn guest_wasm(name: &str) -> Vec<u8> {
    static BUILT_GUESTS: OnceLock<()> = OnceLock::new();
    let path = repo_root()
        .join("target/guests")
        .join(format!("{name}.wasm"));
    if !path.exists() {
        BUILT_GUESTS.get_or_init(|| {
            let status = Command::new(repo_root().join("scripts/build-guests.sh"))
                .status()
                .expect("run scripts/build-guests.sh");
            assert!(status.success(), "building the guests failed");
        });
    }
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An image (on `kernel`) whose bundle holds one built test guest (`target/guests/NAME.wasm`,
/// built on demand) run with `args`, named NAME.
pub fn built_guest_image(kernel: Image, scratch: &str, name: &str, args: &[&str]) -> PathBuf {
    let file = format!("{name}.wasm");
    let mut g = elastic_bundle::Guest::new(name, &file);
    g.args = args.iter().map(|a| a.to_string()).collect();
    let manifest = elastic_bundle::Manifest {
        guests: vec![g],
        ..elastic_bundle::Manifest::default()
    };
    bundle_image_on(kernel, scratch, manifest, vec![(&file, guest_wasm(name))])
}

/// Runs `scripts/elastic run WASM ARGS...` (the host runner) and returns its output.
pub fn elastic_run(wasm: &Path, args: &[&str]) -> std::process::Output {
    Command::new(repo_root().join("scripts/elastic"))
        .arg("run")
        .arg(wasm)
        .args(args)
        .output()
        .expect("run scripts/elastic")
}

/// [`elastic_run`] of the built test guest NAME (built on demand).
pub fn elastic_run_guest(name: &str, args: &[&str]) -> std::process::Output {
    guest_wasm(name);
    elastic_run(
        &repo_root()
            .join("target/guests")
            .join(format!("{name}.wasm")),
        args,
    )
}
