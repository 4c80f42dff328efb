//! The test-only `snp-sim` kernel in QEMU: a guest asks the `elastic_snp` module for an
//! attestation report, the kernel gets it from the PSP simulator through the real guest-message
//! session (kernel/src/snp_sim.rs), and this test verifies what the guest wrote: the size
//! (1184 bytes, AMD 56860 Table 22), the guest's 64 bytes at REPORT_DATA (0x50..0x90) and the
//! ECDSA P-384 signature over bytes 0x000..0x2A0 with the simulator's public key.

use elastic_bundle::{Guest, OutputMode};
use elastic_tests::{Boot, Image, bundle_image_on, exporting_out, scratch_dir};
use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey};
use snp_sim::psp::{KERNEL_TEST_SEED, KERNEL_TEST_VMPCKS, LaunchState, PspSim};

/// The public key of the snp-sim kernel's simulator (same keys and seed as the kernel).
fn simulator_key() -> VerifyingKey {
    PspSim::new(KERNEL_TEST_VMPCKS, LaunchState::default(), KERNEL_TEST_SEED).verifying_key()
}

/// The report's signature (AMD 56860 Table 139): R and S, 72 bytes each, little-endian, of
/// which the low 48 bytes are the P-384 scalar.
fn signature(report: &[u8]) -> Signature {
    let scalar = |off: usize| {
        let mut be = [0u8; 48];
        for (b, le) in be.iter_mut().zip(report[off..off + 48].iter().rev()) {
            *b = *le;
        }
        be
    };
    Signature::from_scalars(scalar(0x2A0), scalar(0x2A0 + 72)).expect("valid signature scalars")
}

#[test]
fn guest_gets_a_simulator_signed_report_with_its_data() {
    let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    let mut g = Guest::new("snp-report", "snp-selftest.wasm");
    g.output = OutputMode::Raw;
    g.args = vec!["report".into(), hex, "/out/r.bin".into()];
    let manifest = exporting_out(g, "empty");
    let image = bundle_image_on(
        Image::SnpSim,
        "snp-sim-report",
        manifest,
        vec![(
            "snp-selftest.wasm",
            elastic_tests::guest_wasm("snp-selftest"),
        )],
    );
    let dest = scratch_dir("snp-sim-report-out");
    let out = Boot {
        export: Some(dest.clone()),
        ..Boot::new(Image::File(image))
    }
    .run();
    out.expect_code(0)
        .expect("SIMULATED SNP: PSP simulator in place of the GHCB transport")
        .expect("SIMULATED SNP: attestation report")
        .expect("wrote 1184 report bytes");
    let report = std::fs::read(dest.join("out/r.bin")).expect("exported report");
    assert_eq!(report.len(), 1184);
    assert_eq!(&report[0x50..0x90], &data[..]);
    let key = simulator_key();
    key.verify(&report[..0x2A0], &signature(&report))
        .expect("the report verifies with the simulator's key");
    // A flipped bit in the signed part must not verify.
    let mut bad = report.clone();
    bad[0x55] ^= 1;
    assert!(key.verify(&bad[..0x2A0], &signature(&bad)).is_err());
}

#[test]
fn wasi_crypto_sealing_key_comes_from_the_simulated_psp() {
    // crypto-check's sealing check: the managed key `elastic.sealing:<fields>` exists under
    // SNP (here the simulated PSP's MSG_KEY_REQ), seals and unseals with AES-256-GCM, and
    // cannot be exported; in plain QEMU the same guest gets `unsupported_feature`
    // (tests/guests.rs).
    let image = elastic_tests::built_guest_image(
        Image::SnpSim,
        "snp-sim-sealing",
        "crypto-check",
        &["sealing"],
    );
    let out = Boot::new(Image::File(image)).run();
    out.expect_code(0)
        .expect("SIMULATED SNP: derived key (fields 0x9)")
        .expect("sealing key: aes-256-gcm round trip, export prohibited");
    assert!(!out.has("FAIL"), "{}", out.serial());
}
