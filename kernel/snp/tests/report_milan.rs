//! Parses the real Milan report from `tests/data/snp/` (virtee/sev test vectors) and checks
//! fields against values decoded by hand (python `struct.unpack_from` on the hex file), then
//! verifies its signature with the VCEK that signed it.

use std::path::PathBuf;

use elastic_snp::report::{
    AttestationReport, REPORT_SIZE, SIGNED_LEN, SignatureAlgo, SigningKey, TcbLayout,
};
use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/snp")
        .join(name)
}

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn milan_bytes() -> Vec<u8> {
    let hex = std::fs::read_to_string(testdata("report_milan.hex")).expect("report_milan.hex");
    let b = unhex(&hex);
    assert_eq!(b.len(), REPORT_SIZE);
    b
}

#[test]
fn milan_report_fields() {
    let b = milan_bytes();
    let r = AttestationReport::parse(&b).unwrap();
    assert_eq!(r.version, 2);
    assert_eq!(r.guest_svn, 0);
    assert_eq!(r.policy.0, 0x30000);
    assert!(r.policy.smt_allowed());
    assert!(!r.policy.debug());
    assert_eq!((r.policy.abi_major(), r.policy.abi_minor()), (0, 0));
    assert_eq!(r.vmpl, 0);
    assert_eq!(r.signature_algo, SignatureAlgo::EcdsaP384Sha384);
    assert_eq!(r.platform_info.0, 1);
    assert_eq!(r.key_info.raw, 0);
    assert_eq!(r.key_info.signing_key, SigningKey::Vcek);
    assert!(!r.key_info.author_key_en);
    assert_eq!(r.tcb_layout, TcbLayout::MilanGenoa);
    assert!(r.cpuid.is_none());
    // TCB bytes 03 00 00 00 00 00 08 73.
    for t in [
        &r.current_tcb,
        &r.reported_tcb,
        &r.committed_tcb,
        &r.launch_tcb,
    ] {
        assert_eq!(t.bootloader, 3);
        assert_eq!(t.tee, 0);
        assert_eq!(t.snp, 8);
        assert_eq!(t.microcode, 0x73);
        assert_eq!(t.fmc, None);
        assert_eq!(t.as_u64(), 0x7308_0000_0000_0003);
    }
    assert_eq!(
        hex(&r.measurement),
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"
    );
    assert_eq!(
        hex(&r.report_data),
        "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd"
    );
    assert_eq!(
        hex(&r.chip_id),
        "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6"
    );
    assert_eq!(
        hex(&r.report_id),
        "92b3b47d59f0a2a10a74c5678868a80238cf593c01a82f3cffb878e904c28d5b"
    );
    assert_eq!(r.report_id_ma, [0xFF; 32]);
    assert_eq!(r.host_data, [0; 32]);
    assert_eq!(r.id_key_digest, [0; 48]);
    assert_eq!(r.author_key_digest, [0; 48]);
    assert_eq!(r.family_id, [0; 16]);
    assert_eq!(r.image_id, [0; 16]);
    // 0x1E8: 04 34 01 00 = build 4, minor 0x34, major 1.
    assert_eq!(r.current_version.to_string(), "1.52.4");
    assert_eq!(r.committed_version.to_string(), "1.52.4");
    assert_eq!(r.launch_mit_vector, None);
    assert_eq!(hex(&r.signature.r[..8]), "61ab4f11aa661997");
    assert_eq!(hex(&r.signature.s[..8]), "209d7eb9be919a1d");
    assert!(r.warnings().is_empty(), "{:?}", r.warnings());
    assert_eq!(r.signed_bytes(), &b[..SIGNED_LEN]);

    let text = r.to_string();
    for needle in [
        "SNP attestation report v2",
        "policy:             0x30000 (abi>=0.0 SMT RESERVED_MBO)",
        "platform_info:      0x1 (SMT_EN)",
        "bootloader=3 tee=0 snp=8 microcode=115",
        "measurement:        7a1e5c26",
        "signing_key=Vcek",
        "warnings:           none",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

/// Finds the uncompressed P-384 point of the certificate's SubjectPublicKeyInfo: the BIT STRING
/// `03 62 00 04` that follows the secp384r1 OID `2b 81 04 00 22`.
fn vcek_key() -> VerifyingKey {
    let der = std::fs::read(testdata("vcek_milan.der")).unwrap();
    let oid = [0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00];
    let pos = der
        .windows(oid.len())
        .position(|w| w == oid)
        .expect("P-384 SPKI in VCEK");
    let point = &der[pos + oid.len()..pos + oid.len() + 97];
    VerifyingKey::from_sec1_bytes(point).unwrap()
}

fn signature_of(r: &AttestationReport) -> Signature {
    Signature::from_scalars(r.signature.r_be().unwrap(), r.signature.s_be().unwrap()).unwrap()
}

#[test]
fn milan_signature_verifies_and_bitflip_fails() {
    let key = vcek_key();
    let mut b = milan_bytes();
    let r = AttestationReport::parse(&b).unwrap();
    key.verify(r.signed_bytes(), &signature_of(&r)).unwrap();

    b[21] ^= 0x80;
    let flipped = AttestationReport::parse(&b).unwrap();
    assert!(
        key.verify(flipped.signed_bytes(), &signature_of(&flipped))
            .is_err()
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
