//! `elastic measure` against two independent launch-digest implementations:
//! the `sev` crate's `snp_calc_launch_digest` and PyPI `sev-snp-measure` (installed into a
//! virtual environment under the cargo target dir on first use).
//!
//! Images: virtee/sev's AmdSev OVMF suffix, Debian's OVMF.fd when installed, and synthetic
//! ROMs built with `elastic_snp::ovmf_table`, plus any images listed in
//! `ELASTIC_MEASURE_IMAGES` (colon-separated), e.g. the built Elastic images.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use elastic_snp::ovmf_table::{MetadataSection, SectionType, TableBuilder, write_metadata};
use sev::measurement::snp::{SnpMeasurementArgs, snp_calc_launch_digest};
use sev::measurement::vcpu_types::CpuType;
use sev::measurement::vmsa::{GuestFeatures, VMMType};

const VCPU_TYPES: [&str; 3] = ["EPYC-v4", "EPYC-Milan", "EPYC-Genoa"];
const VCPU_COUNTS: [u32; 3] = [1, 2, 4];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn elastic_measure(image: &Path, vcpus: u32, vcpu_type: &str, features: u64) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_elastic"))
        .arg("measure")
        .arg(image)
        .args(["--vcpus", &vcpus.to_string(), "--vcpu-type", vcpu_type])
        .args(["--guest-features", &format!("{features:#x}")])
        .output()
        .expect("run elastic");
    assert!(
        out.status.success(),
        "elastic measure failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn sev_crate_digest(image: &Path, vcpus: u32, vcpu_type: &str, features: u64) -> String {
    let args = SnpMeasurementArgs {
        vcpus,
        vcpu_type: CpuType::try_from(vcpu_type).unwrap(),
        ovmf_file: image.to_path_buf(),
        guest_features: GuestFeatures(features),
        kernel_file: None,
        initrd_file: None,
        append: None,
        ovmf_hash_str: None,
        vmm_type: Some(VMMType::QEMU),
    };
    snp_calc_launch_digest(args)
        .expect("sev crate digest")
        .get_hex_ld()
}

/// Path of the `sev-snp-measure` CLI, installing it into a venv if needed; `None` (and a
/// message) if pip cannot install it. `SEV_SNP_MEASURE` overrides the path.
fn sev_snp_measure() -> Option<&'static Path> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| {
        if let Some(p) = std::env::var_os("SEV_SNP_MEASURE") {
            return Some(PathBuf::from(p));
        }
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sev-snp-measure-venv");
        let exe = venv.join("bin/sev-snp-measure");
        if !exe.exists() {
            let ok = Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success())
                && Command::new(venv.join("bin/pip"))
                    .args(["install", "-q", "sev-snp-measure==0.0.13"])
                    .status()
                    .is_ok_and(|s| s.success());
            if !ok || !exe.exists() {
                eprintln!(
                    "SKIPPED sev-snp-measure oracle: pip could not install sev-snp-measure into {}",
                    venv.display()
                );
                return None;
            }
        }
        Some(exe)
    })
    .as_deref()
}

fn pypi_digest(exe: &Path, image: &Path, vcpus: u32, vcpu_type: &str, features: u64) -> String {
    let out = Command::new(exe)
        .args([
            "--mode",
            "snp",
            "--vcpus",
            &vcpus.to_string(),
            "--vcpu-type",
            vcpu_type,
        ])
        .args(["--guest-features", &format!("{features:#x}")])
        .arg("--ovmf")
        .arg(image)
        .output()
        .expect("run sev-snp-measure");
    assert!(
        out.status.success(),
        "sev-snp-measure failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A synthetic ROM: patterned bytes, `ASEV` metadata at `meta_at`, footer table at the end.
fn synthetic_rom(
    size: usize,
    meta_at: usize,
    sections: &[MetadataSection],
    ap_reset: u32,
    seed: u8,
) -> Vec<u8> {
    let mut rom: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 12) as u8 ^ seed)
        .collect();
    let off = write_metadata(&mut rom, meta_at, sections).unwrap();
    let mut tb = TableBuilder::new();
    tb.sev_es_reset_block(ap_reset).sev_metadata_offset(off);
    if let Some(h) = sections
        .iter()
        .find(|s| s.kind == SectionType::KernelHashes)
    {
        tb.sev_hash_table(h.gpa, 0x400);
    }
    tb.write_into(&mut rom).unwrap();
    rom
}

fn images(dir: &Path) -> Vec<PathBuf> {
    let mut v = vec![repo_root().join("kernel/snp/testdata/ovmf_AmdSev_suffix.bin")];
    let debian = Path::new("/usr/share/ovmf/OVMF.fd");
    if debian.exists() {
        v.push(debian.to_path_buf());
    } else {
        eprintln!(
            "note: {} not installed (apt-get install ovmf); measuring the other images",
            debian.display()
        );
    }
    // Extra images (e.g. the built Elastic images) to cross-check: ELASTIC_MEASURE_IMAGES=a.bin:b.bin
    if let Some(extra) = std::env::var_os("ELASTIC_MEASURE_IMAGES") {
        v.extend(std::env::split_paths(&extra).filter(|p| !p.as_os_str().is_empty()));
    }
    let s = |gpa, len, kind| MetadataSection { gpa, len, kind };
    let small = synthetic_rom(
        512 * 1024,
        0x1000,
        &[
            s(0x80_0000, 0x9000, SectionType::SnpSecMem),
            s(0x80_9000, 0x1000, SectionType::SnpSecrets),
            s(0x80_a000, 0x1000, SectionType::Cpuid),
            s(0x80_b000, 0x3000, SectionType::SnpSecMem),
        ],
        0xfff8_0000 + 0x1004,
        1,
    );
    let large = synthetic_rom(
        2 * 1024 * 1024,
        0x1f_0000,
        &[
            s(0x1000, 0x2000, SectionType::SnpSecMem),
            s(0x3000, 0x1000, SectionType::SnpSecrets),
            s(0x4000, 0x1000, SectionType::Cpuid),
            s(0x5000, 0x1000, SectionType::SvsmCaa),
            s(0x6000, 0x1000, SectionType::KernelHashes),
            s(0x10_0000, 0x4_0000, SectionType::SnpSecMem),
        ],
        0xffe0_2000,
        7,
    );
    for (name, rom) in [("synthetic-512k.bin", small), ("synthetic-2m.bin", large)] {
        let p = dir.join(name);
        std::fs::write(&p, rom).unwrap();
        v.push(p);
    }
    v
}

#[test]
fn measure_matches_sev_crate_and_sev_snp_measure() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("measure-images");
    std::fs::create_dir_all(&dir).unwrap();
    let pypi = sev_snp_measure();
    let (mut sev_cases, mut pypi_cases) = (0, 0);
    for image in images(&dir) {
        for vcpus in VCPU_COUNTS {
            for vcpu_type in VCPU_TYPES {
                // DebugSwap (0x21) on one combination per image keeps the run short.
                let features_list: &[u64] = if vcpus == 2 && vcpu_type == "EPYC-Genoa" {
                    &[0x1, 0x21]
                } else {
                    &[0x1]
                };
                for &features in features_list {
                    let ours = elastic_measure(&image, vcpus, vcpu_type, features);
                    assert_eq!(ours.len(), 96, "digest is 48 bytes hex");
                    let case = format!(
                        "{} vcpus={vcpus} type={vcpu_type} features={features:#x}",
                        image.display()
                    );
                    assert_eq!(
                        ours,
                        sev_crate_digest(&image, vcpus, vcpu_type, features),
                        "sev crate: {case}"
                    );
                    sev_cases += 1;
                    if let Some(exe) = pypi {
                        assert_eq!(
                            ours,
                            pypi_digest(exe, &image, vcpus, vcpu_type, features),
                            "sev-snp-measure: {case}"
                        );
                        pypi_cases += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "measure: {sev_cases} cases matched the sev crate, {pypi_cases} matched sev-snp-measure"
    );
    assert!(sev_cases >= 30);
}

#[test]
fn digest_depends_on_every_input() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("measure-images-dep");
    std::fs::create_dir_all(&dir).unwrap();
    let images = images(&dir);
    let base = elastic_measure(&images[0], 1, "EPYC-v4", 1);
    assert_ne!(base, elastic_measure(&images[0], 2, "EPYC-v4", 1));
    assert_ne!(base, elastic_measure(&images[0], 1, "EPYC-Milan", 1));
    assert_ne!(base, elastic_measure(&images[0], 1, "EPYC-v4", 0x21));
    // One flipped ROM bit changes the digest.
    let mut rom = std::fs::read(&images[0]).unwrap();
    rom[5] ^= 1;
    let flipped = dir.join("flipped.bin");
    std::fs::write(&flipped, rom).unwrap();
    assert_ne!(base, elastic_measure(&flipped, 1, "EPYC-v4", 1));
}

#[test]
fn measure_json_and_errors() {
    let image = repo_root().join("kernel/snp/testdata/ovmf_AmdSev_suffix.bin");
    let out = Command::new(env!("CARGO_BIN_EXE_elastic"))
        .arg("measure")
        .arg(&image)
        .args(["--vcpus", "2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let digest = elastic_measure(&image, 2, "EPYC-v4", 1);
    assert!(
        text.contains(&format!("\"measurement\":\"{digest}\"")),
        "{text}"
    );
    assert!(text.contains("\"vcpu_sig\":\"0x800f12\""), "{text}");

    let out = Command::new(env!("CARGO_BIN_EXE_elastic"))
        .arg("measure")
        .arg(&image)
        .args(["--vcpu-type", "Skylake"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --vcpu-type"));

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let plain = dir.join("no-footer.bin");
    std::fs::write(&plain, vec![0u8; 8192]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_elastic"))
        .arg("measure")
        .arg(&plain)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no OVMF footer table"));
}
