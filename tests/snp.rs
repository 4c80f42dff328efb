//! The image's SEV-SNP launch metadata and the SNP launch script, checked without SNP hardware:
//! the GUIDed table and ASEV sections parse back as designed (boot/reset.s), and QEMU accepts
//! every option scripts/run-snp.sh passes, stopping only at the missing SEV-SNP support.

use elastic_snp::ovmf_table::{MetadataSection, SectionType, parse_image};
use elastic_tests::{Image, image, repo_root};
use std::process::Command;

#[test]
fn the_image_carries_the_snp_launch_metadata() {
    let bytes = std::fs::read(image(Image::Plain)).expect("kernel image");
    assert_eq!(
        bytes.len() % (64 << 10),
        0,
        "QEMU and SNP need a multiple of 64 KiB"
    );
    let info = parse_image(&bytes)
        .expect("well-formed table")
        .expect("an OVMF-style table");
    // APs park in the boot page (real mode, CS base 0xFFFF0000).
    let ap = info.sev_es_reset_addr.expect("SEV-ES reset block");
    assert!(
        (0xFFFF_F000..0xFFFF_FE00).contains(&ap),
        "AP reset address {ap:#x}"
    );
    assert_eq!(info.metadata_offset, Some(0x180));
    let sections = info.metadata.expect("ASEV metadata").sections;
    let s = |gpa, len, kind| MetadataSection { gpa, len, kind };
    assert_eq!(
        sections,
        [
            s(0x10_0000, 0x70_0000, SectionType::SnpSecMem),
            s(0x80_0000, 0x1000, SectionType::SnpSecrets),
            s(0x80_1000, 0x1000, SectionType::Cpuid),
            s(0x80_2000, 0x1000, SectionType::SnpSecMem),
        ]
    );
    // Every section lies outside the ROM.
    assert!(
        sections
            .iter()
            .all(|m| u64::from(m.gpa) + u64::from(m.len) <= 0xFF00_0000)
    );
}

fn run_snp(args: &[&str]) -> (Option<i32>, String, String) {
    let kernel = image(Image::Plain);
    let out = Command::new(repo_root().join("scripts/run-snp.sh"))
        .arg("--image")
        .arg(&kernel)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run scripts/run-snp.sh");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_snp_prints_the_documented_command_line() {
    let (code, out, _) = run_snp(&["--print-cmd", "--vcpus", "2"]);
    assert_eq!(code, Some(0));
    for needle in [
        "confidential-guest-support=sev0",
        "memory-backend-memfd",
        "share=true",
        "sev-snp-guest",
        "cbitpos=51",
        "reduced-phys-bits=1",
        "policy=0x30000",
        "-cpu EPYC-v4",
        "-smp 2",
        "-bios",
        "-no-reboot",
    ] {
        assert!(out.contains(needle), "missing {needle} in:\n{out}");
    }
}

#[test]
fn qemu_accepts_every_snp_option_and_stops_only_at_the_missing_sev_support() {
    let (code, _, err) = run_snp(&["--no-host-check"]);
    assert_ne!(
        code,
        Some(0),
        "no SEV-SNP here, QEMU cannot have launched:\n{err}"
    );
    let stopped_at_sev = err.contains("SEV-SNP not supported by KVM")
        || err.contains("/dev/sev")
        || err.contains("failed to initialize kvm");
    assert!(stopped_at_sev, "QEMU did not stop at SEV support:\n{err}");
    for bad in [
        "Invalid parameter",
        "Property",
        "not found",
        "invalid object",
    ] {
        assert!(
            !err.contains(bad),
            "QEMU rejected an option ({bad}):\n{err}"
        );
    }
    // Without --no-host-check the script explains what the host lacks.
    if !std::path::Path::new("/dev/sev").exists() {
        let (code, _, err) = run_snp(&[]);
        assert_eq!(code, Some(3));
        assert!(err.contains("/dev/sev"), "{err}");
    }
}
