//! `elastic build` end to end: runs the binary on synthetic guests (written with `wat`) and a
//! fake 4 MiB kernel template (zero descriptor slot), then reads the image back the way the
//! kernel does (`image.rs`'s descriptor checks, then `elastic_bundle::Bundle::parse` of the
//! bundle and the pinned digest).

#[allow(dead_code)]
#[path = "../src/image.rs"]
mod image;

use elastic_bundle::{Bundle, Limits, OutputMode};
use image::BundleLocation;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: usize = 1 << 20;

struct Fixture {
    dir: tempfile::TempDir,
    kernel: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("kernel.bin");
        std::fs::write(&kernel, fake_kernel()).unwrap();
        Self { dir, kernel }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Runs `elastic build ARGS` in the fixture directory, with `--kernel <fake>` unless
    /// ARGS name a kernel.
    fn build(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_elastic"));
        cmd.arg("build");
        if !args.contains(&"--kernel") {
            cmd.arg("--kernel").arg(&self.kernel);
        }
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("ELASTIC_KERNEL")
            .output()
            .unwrap();
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[derive(Debug)]
struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self) -> Self {
        assert!(self.ok, "build failed: {}", self.stderr);
        self
    }
    fn err(self) -> String {
        assert!(!self.ok, "build unexpectedly succeeded: {}", self.stdout);
        self.stderr
    }
    fn field(&self, key: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key:?} in {}", self.stdout))
            .to_string()
    }
}

/// A 4 MiB "kernel": a byte pattern with the descriptor slot zeroed.
fn fake_kernel() -> Vec<u8> {
    let mut k: Vec<u8> = (0..image::KERNEL_SIZE)
        .map(|i| (i % 251) as u8 | 1)
        .collect();
    let at = image::descriptor_offset(k.len()).unwrap();
    k[at..at + image::DESCRIPTOR_LEN].fill(0);
    k
}

fn wasm(tag: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory 1) (data (i32.const 0) "{tag}") (func (export "_start")))"#
    ))
    .unwrap()
}

/// Reads an image as the kernel does and returns the location and the bundle bytes
/// (for an external bundle, from IMAGE.bundle).
fn read_image(image_path: &Path) -> (Vec<u8>, BundleLocation, Vec<u8>) {
    let img = std::fs::read(image_path).unwrap();
    assert_eq!(
        img.len() % (64 << 10),
        0,
        "image size not a multiple of 64 KiB"
    );
    assert!(img.len() <= 16 * MIB);
    let loc = image::read_descriptor(&img).unwrap().expect("descriptor");
    kernel_agrees(&img, &loc);
    let bundle = match image::embedded_bundle(&img, &loc).unwrap() {
        Some(b) => b.to_vec(),
        None => {
            let mut p = image_path.as_os_str().to_owned();
            p.push(".bundle");
            let file = std::fs::read(PathBuf::from(p)).unwrap();
            loc.external_bytes(&file).unwrap().to_vec()
        }
    };
    (img, loc, bundle)
}

/// Opens the bundle against the pinned digest, as the kernel does.
/// The kernel's own descriptor parser (`elastic_core::image`) reads the same location.
fn kernel_agrees(img: &[u8], loc: &BundleLocation) {
    use elastic_core::image as k;
    let at = image::descriptor_offset(img.len()).unwrap();
    let slot: &[u8; image::DESCRIPTOR_LEN] =
        img[at..at + image::DESCRIPTOR_LEN].try_into().unwrap();
    let d = k::Descriptor::parse(slot)
        .unwrap()
        .expect("kernel sees a bundle");
    assert_eq!(d.len, loc.len());
    assert_eq!(&d.digest, loc.digest());
    match (d.location, loc) {
        (k::Location::Embedded { gpa }, BundleLocation::Embedded { gpa: g, .. }) => {
            assert_eq!(gpa, *g)
        }
        (k::Location::External, BundleLocation::External { .. }) => {}
        other => panic!("kernel and host disagree: {other:?}"),
    }
}

fn parse<'a>(bundle: &'a [u8], loc: &BundleLocation) -> Bundle<'a> {
    let b = Bundle::parse_pinned(bundle, loc.digest()).unwrap();
    assert_eq!(&b.digest(), loc.digest());
    b
}

const FULL: &str = r#"
shared_ramfs = true

[[guest]]
name = "first"
wasm = "mods/a.wasm"
args = ["one", "two words"]
env = { ZED = "z", ALPHA = "a=b" }
stdin = "input.txt"
output = "prefixed"

[[guest.dir]]
host = "data"
guest = "/data"
readonly = true

[[guest.dir]]
host = "out"
guest = "/out"

[guest.limits]
fuel = 123456
wall_time_ms = 60000
max_memory = "64MiB"
ramfs_quota = "1GiB"
ramfs_inodes = 500
max_open_fds = 32

[[guest]]
wasm = "mods/b.wasm"

[[export]]
guest = "first"
path = "/out"
"#;

fn full_fixture() -> Fixture {
    let f = Fixture::new();
    f.write("mods/a.wasm", wasm("a"));
    f.write("mods/b.wasm", wasm("b"));
    f.write("input.txt", "hello stdin\n");
    f.write("data/x.txt", "x");
    f.write("data/sub/deeper/y.bin", [0u8, 1, 2, 255]);
    f.write("data/sub/a.txt", "a");
    std::fs::create_dir_all(f.path("out")).unwrap();
    f.write("elastic.toml", FULL);
    f
}

#[test]
fn round_trip_embedded() {
    let f = full_fixture();
    let out = f
        .build(&["--manifest", "elastic.toml", "-o", "image.bin"])
        .ok();
    assert_eq!(out.field("mode"), "embedded");
    let (img, loc, bundle) = read_image(&f.path("image.bin"));
    assert_eq!(out.field("image size"), format!("{} bytes", img.len()));
    assert_eq!(out.field("bundle digest"), image::hex(loc.digest()));
    assert!(!f.path("image.bin.bundle").exists());
    // Embedded placement: bundle first, kernel last.
    let BundleLocation::Embedded { gpa, len, .. } = loc else {
        panic!("not embedded: {loc:?}");
    };
    assert_eq!(gpa, (1u64 << 32) - img.len() as u64);
    assert_eq!(len as usize, bundle.len());
    assert_eq!(
        img.len(),
        bundle.len().div_ceil(64 << 10) * (64 << 10) + 4 * MIB
    );
    let kernel = fake_kernel();
    let slot = image::descriptor_offset(kernel.len()).unwrap();
    assert_eq!(img[img.len() - 4 * MIB..][..slot], kernel[..slot]);

    let b = parse(&bundle, &loc);
    assert!(b.shared_ramfs());
    let [g1, g2] = b.guests() else {
        panic!("two guests expected")
    };
    assert_eq!(g1.name, "first");
    assert_eq!(g1.args, ["one", "two words"]);
    let env: Vec<(&str, &str)> = g1.env.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    assert_eq!(env, [("ZED", "z"), ("ALPHA", "a=b")]);
    assert_eq!(g1.output, OutputMode::Prefixed);
    assert_eq!(
        g1.limits,
        Limits {
            fuel: Some(123456),
            wall_time_ms: Some(60000),
            max_memory_bytes: 64 << 20,
            ramfs_quota_bytes: 1 << 30,
            ramfs_quota_inodes: 500,
            max_open_fds: 32,
        }
    );
    assert_eq!(b.wasm(g1).unwrap(), wasm("a"));
    assert_eq!(b.stdin(g1), b"hello stdin\n");
    let p: Vec<(&str, bool)> = g1
        .preopens
        .iter()
        .map(|p| (&p.guest_path[..], p.readonly))
        .collect();
    assert_eq!(p, [("/data", true), ("/out", false)]);
    let data: Vec<(String, Vec<u8>)> = b
        .files_under(&g1.preopens[0].bundle_dir)
        .map(|e| (e.relative.to_string(), e.data.to_vec()))
        .collect();
    assert_eq!(
        data,
        [
            ("sub/a.txt".to_string(), b"a".to_vec()),
            ("sub/deeper/y.bin".to_string(), vec![0, 1, 2, 255]),
            ("x.txt".to_string(), b"x".to_vec()),
        ]
    );
    assert_eq!(b.files_under(&g1.preopens[1].bundle_dir).count(), 0);
    // The second guest: name from the file stem, defaults everywhere.
    assert_eq!(g2.name, "b");
    assert_eq!(g2.limits, Limits::default());
    assert_eq!(g2.output, OutputMode::Raw);
    assert!(g2.args.is_empty() && g2.env.is_empty() && g2.preopens.is_empty());
    assert_eq!(b.stdin(g2), b"");
    assert_eq!(b.wasm(g2).unwrap(), wasm("b"));
    assert_eq!(b.exports().len(), 1);
    assert_eq!(
        (&b.exports()[0].guest[..], &b.exports()[0].path[..]),
        ("first", "/out")
    );
}

#[test]
fn deterministic() {
    let f = full_fixture();
    f.build(&["--manifest", "elastic.toml", "-o", "one.bin"])
        .ok();
    // Touch every input (new mtimes) and build again elsewhere.
    for p in ["mods/a.wasm", "data/x.txt", "input.txt"] {
        let bytes = std::fs::read(f.path(p)).unwrap();
        std::fs::write(f.path(p), bytes).unwrap();
    }
    f.build(&["--manifest", "elastic.toml", "-o", "two.bin"])
        .ok();
    let one = std::fs::read(f.path("one.bin")).unwrap();
    let two = std::fs::read(f.path("two.bin")).unwrap();
    assert!(one == two, "two builds of the same inputs differ");
    // A changed input changes the digest.
    f.write("data/x.txt", "X");
    let three = f
        .build(&["--manifest", "elastic.toml", "-o", "three.bin"])
        .ok();
    let (_, loc, _) = read_image(&f.path("one.bin"));
    assert_ne!(three.field("bundle digest"), image::hex(loc.digest()));
}

#[test]
fn large_bundle_goes_external_and_back() {
    let f = Fixture::new();
    f.write("app.wasm", wasm("big"));
    // 13 MiB of data: more than fits in a 16 MiB image beside the 4 MiB kernel.
    let big: Vec<u8> = (0..13 * MIB).map(|i| (i * 7 % 256) as u8).collect();
    f.write("blob/big.bin", &big);
    let out = f
        .build(&[
            "--guest",
            "app.wasm",
            "--dir",
            "blob::/blob:ro",
            "-o",
            "img.bin",
        ])
        .ok();
    assert_eq!(out.field("mode"), "external");
    assert_eq!(out.field("bundle file"), "img.bin.bundle");
    let (img, loc, bundle) = read_image(&f.path("img.bin"));
    assert_eq!(img.len(), 4 * MIB);
    assert!(matches!(loc, BundleLocation::External { .. }));
    assert_eq!(
        std::fs::metadata(f.path("img.bin.bundle")).unwrap().len() as usize,
        bundle.len()
    );
    let b = parse(&bundle, &loc);
    let g = &b.guests()[0];
    assert_eq!(
        b.files_under(&g.preopens[0].bundle_dir)
            .next()
            .unwrap()
            .data,
        big
    );
    // Read-only directories are not exported.
    assert!(b.exports().is_empty());

    // Rebuilding a small image to the same path removes the stale external bundle.
    std::fs::remove_file(f.path("blob/big.bin")).unwrap();
    f.write("blob/small.bin", "s");
    let out = f
        .build(&[
            "--guest",
            "app.wasm",
            "--dir",
            "blob::/blob:ro",
            "-o",
            "img.bin",
        ])
        .ok();
    assert_eq!(out.field("mode"), "embedded");
    assert!(!f.path("img.bin.bundle").exists());
}

#[test]
fn twelve_mib_is_the_embedded_limit() {
    // Just under the threshold stays embedded and gives a 16 MiB image.
    let f = Fixture::new();
    f.write("app.wasm", wasm("t"));
    f.write("d/f.bin", vec![1u8; 12 * MIB - 64 * 1024]);
    let out = f.build(&["--guest", "app.wasm", "--dir", "d::/d:ro"]).ok();
    assert_eq!(out.field("mode"), "embedded");
    let (img, _, _) = read_image(&f.path("image.bin"));
    assert_eq!(img.len(), 16 * MIB);
}

#[test]
fn shortcut_equals_manifest() {
    let f = Fixture::new();
    f.write("app.wasm", wasm("s"));
    f.write("files/in.txt", "in");
    f.write("stdin.txt", "typed");
    f.write(
        "elastic.toml",
        r#"
[[guest]]
wasm = "app.wasm"
args = ["--flag", "x"]
env = { B = "2", A = "1" }
stdin = "stdin.txt"
[[guest.dir]]
host = "files"
guest = "/files"
[[guest.dir]]
host = "files"
guest = "/ro"
readonly = true
[guest.limits]
fuel = 5000
wall_time_ms = 750
max_memory = "32MiB"
[[export]]
guest = "app"
path = "/files"
"#,
    );
    let m = f.build(&["--manifest", "elastic.toml", "-o", "m.bin"]).ok();
    let s = f
        .build(&[
            "--guest",
            "app.wasm",
            "--dir",
            "files::/files",
            "--dir",
            "files::/ro:ro",
            "--env",
            "B=2",
            "--env",
            "A=1",
            "--stdin",
            "stdin.txt",
            "--fuel",
            "5000",
            "--wall-time-ms",
            "750",
            "--max-memory",
            "32MiB",
            "-o",
            "s.bin",
            "--",
            "--flag",
            "x",
        ])
        .ok();
    assert_eq!(m.field("bundle digest"), s.field("bundle digest"));
    assert!(std::fs::read(f.path("m.bin")).unwrap() == std::fs::read(f.path("s.bin")).unwrap());
}

#[test]
fn symlink_in_a_directory_is_refused() {
    let f = Fixture::new();
    f.write("app.wasm", wasm("l"));
    f.write("d/real.txt", "r");
    std::os::unix::fs::symlink("real.txt", f.path("d/link.txt")).unwrap();
    let e = f.build(&["--guest", "app.wasm", "--dir", "d::/d"]).err();
    assert!(e.contains("link.txt") && e.contains("symbolic link"), "{e}");
    assert!(e.contains("--dir d::/d"), "{e}");
    // The same from a manifest names the line of the dir's host.
    f.write(
        "elastic.toml",
        "[[guest]]\nwasm = \"app.wasm\"\n[[guest.dir]]\nhost = \"d\"\nguest = \"/d\"\n",
    );
    let e = f.build(&["--manifest", "elastic.toml"]).err();
    assert!(
        e.contains("elastic.toml:4:") && e.contains("link.txt"),
        "{e}"
    );
    assert!(!f.path("image.bin").exists());
}

#[test]
fn bad_manifests_name_file_and_line() {
    let f = Fixture::new();
    f.write("app.wasm", wasm("g"));
    f.write("not.wasm", "plain text");
    f.write("dir/f", "f");
    let head = "shared_ramfs = false\n[[guest]]\nname = \"app\"\nwasm = \"app.wasm\"\n";
    // (extra lines after `head`, expected line, words the message must contain)
    let cases: &[(&str, usize, &[&str])] = &[
        (
            "[[guest]]\nname = \"m\"\nwasm = \"missing.wasm\"\n",
            7,
            &["missing.wasm", "not found"],
        ),
        (
            "[[guest]]\nname = \"n\"\nwasm = \"not.wasm\"\n",
            7,
            &["not.wasm", "not a wasm"],
        ),
        (
            "[[guest]]\nname = \"app\"\nwasm = \"app.wasm\"\n",
            6,
            &["duplicate guest name"],
        ),
        (
            "[[guest]]\nwasm = \"app.wasm\"\n",
            6,
            &["duplicate guest name"],
        ),
        ("[guest.limits]\nfuel = 0\n", 6, &["fuel"]),
        ("[guest.limits]\nfuel = -1\n", 6, &["fuel"]),
        ("[guest.limits]\nwall_time_ms = 0\n", 6, &["wall_time_ms"]),
        (
            "[guest.limits]\nmax_memory = \"8GiB\"\n",
            6,
            &["max_memory", "out of range"],
        ),
        ("[guest.limits]\nmax_memory = 0\n", 6, &["max_memory"]),
        ("[guest.limits]\nmax_open_fds = 1\n", 6, &["max_open_fds"]),
        (
            "[guest.limits]\nmax_open_fds = 5000000000\n",
            6,
            &["max_open_fds"],
        ),
        ("[guest.limits]\nramfs_inodes = 0\n", 6, &["ramfs_inodes"]),
        (
            "[guest.limits]\nramfs_quota = \"12 parsecs\"\n",
            6,
            &["bad size"],
        ),
        ("[guest.limits]\nspeed = 9\n", 6, &["speed"]),
        ("nmae = \"typo\"\n", 5, &["nmae"]),
        (
            "[[export]]\nguest = \"ghost\"\npath = \"/out\"\n",
            6,
            &["unknown guest", "ghost"],
        ),
        ("stdin = \"nope.txt\"\n", 5, &["nope.txt", "not found"]),
        (
            "[[guest.dir]]\nhost = \"nodir\"\nguest = \"/x\"\n",
            6,
            &["nodir"],
        ),
        (
            "[[guest.dir]]\nhost = \"dir/f\"\nguest = \"/x\"\n",
            6,
            &["not a directory"],
        ),
        ("output = \"fancy\"\n", 5, &["fancy"]),
        ("env = { \"\" = \"x\" }\n", 5, &["environment"]),
        ("args = [\"a\"\n", 5, &[]),
    ];
    for (i, (extra, line, words)) in cases.iter().enumerate() {
        let name = format!("bad{i}.toml");
        f.write(&name, format!("{head}{extra}"));
        let e = f.build(&["--manifest", &name, "-o", "bad.bin"]).err();
        let want = format!("{name}:{line}:");
        assert!(e.contains(&want), "case {extra:?}: expected {want} in {e}");
        for w in *words {
            assert!(e.contains(w), "case {extra:?}: expected {w:?} in {e}");
        }
        assert!(!f.path("bad.bin").exists());
    }
    // A missing manifest names the file.
    let e = f.build(&["--manifest", "absent.toml"]).err();
    assert!(e.contains("absent.toml"), "{e}");
}

#[test]
fn kernel_template_is_checked() {
    let f = Fixture::new();
    f.write("app.wasm", wasm("k"));
    // Missing: tells how to build one.
    let e = f
        .build(&["--guest", "app.wasm", "--kernel", "no-such-kernel.bin"])
        .err();
    assert!(e.contains("scripts/build-kernel.sh"), "{e}");
    // Wrong size.
    f.write("short.bin", vec![0u8; 4 * MIB - 4096]);
    let e = f
        .build(&["--guest", "app.wasm", "--kernel", "short.bin"])
        .err();
    assert!(e.contains("4 MiB"), "{e}");
    // An image (descriptor already set) is not a template.
    f.build(&["--guest", "app.wasm", "-o", "first.bin"]).ok();
    let first = std::fs::read(f.path("first.bin")).unwrap();
    f.write("used.bin", &first[first.len() - 4 * MIB..]);
    let e = f
        .build(&["--guest", "app.wasm", "--kernel", "used.bin"])
        .err();
    assert!(e.contains("already carries a bundle"), "{e}");
    // ELASTIC_KERNEL is used when there is no --kernel.
    let out = Command::new(env!("CARGO_BIN_EXE_elastic"))
        .args(["build", "--guest", "app.wasm", "-o", "env.bin"])
        .env("ELASTIC_KERNEL", &f.kernel)
        .current_dir(f.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(f.path("env.bin")).unwrap() == first);
}
