//! `elastic verify` end to end: the real Milan report, VCEK and chain from
//! `tests/data/snp` (real-hardware vectors from virtee/sev), the Turin chain, broken
//! inputs, a certificate table, and reports signed by a test key (as the PSP simulator does).

use std::path::{Path, PathBuf};
use std::process::Command;

use p384::ecdsa::signature::Signer;
use p384::ecdsa::{Signature, SigningKey};
use p384::pkcs8::{EncodePublicKey, LineEnding};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/snp")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verify");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `elastic verify ARGS`; returns (success, stdout, stderr).
fn verify(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_elastic"))
        .arg("verify")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn milan_hex() -> String {
    std::fs::read_to_string(testdata("report_milan.hex")).unwrap()
}

fn milan_raw() -> Vec<u8> {
    let hex: String = milan_hex().split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn milan_report_verifies_hex_and_binary() {
    let (ok, out, err) = verify(&[
        &"--report",
        &testdata("report_milan.hex"),
        &"--vcek",
        &testdata("vcek_milan.der"),
        &"--chain",
        &testdata("cert_chain_milan"),
    ]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("VERDICT: PASS"));
    for field in [
        "measurement",
        "report_data",
        "chip_id",
        "reported_tcb",
        "policy",
        "vmpl",
        "signature r",
    ] {
        assert!(out.contains(field), "summary lacks {field}");
    }
    let raw = milan_raw();
    assert_eq!(raw.len(), 1184);
    let bin = tmp("report_milan.bin");
    std::fs::write(&bin, &raw).unwrap();
    let m = hex(&raw[0x90..0xc0]);
    let rd = hex(&raw[0x50..0x90]);
    // Built-in AMD chain when --chain is omitted, plus the expected values.
    let (ok, out, _) = verify(&[
        &"--report",
        &bin,
        &"--vcek",
        &testdata("vcek_milan.der"),
        &"--measurement",
        &m,
        &"--report-data",
        &rd,
        &"--host-data",
        &"00",
        &"--min-tcb",
        &"bl=3,tee=0,snp=8,ucode=115",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("AMD's built-in chain"));
}

#[test]
fn wrong_expectations_fail_with_reason() {
    let raw = milan_raw();
    let mut m = raw[0x90..0xc0].to_vec();
    m[47] ^= 1;
    let (ok, out, err) = verify(&[
        &"--report",
        &testdata("report_milan.hex"),
        &"--vcek",
        &testdata("vcek_milan.der"),
        &"--measurement",
        &hex(&m),
    ]);
    assert!(!ok);
    assert!(out.contains("VERDICT: FAIL: measurement"), "{out}");
    assert!(err.contains("measurement"));
    let (ok, out, _) = verify(&[
        &"--report",
        &testdata("report_milan.hex"),
        &"--vcek",
        &testdata("vcek_milan.der"),
        &"--report-data",
        &"00",
    ]);
    assert!(!ok && out.contains("FAIL: report data"), "{out}");
    let (ok, out, _) = verify(&[
        &"--report",
        &testdata("report_milan.hex"),
        &"--vcek",
        &testdata("vcek_milan.der"),
        &"--min-tcb",
        &"ucode=200",
    ]);
    assert!(!ok && out.contains("ucode 115 < 200"), "{out}");
}

#[test]
fn flipped_bit_fails() {
    let mut raw = milan_raw();
    raw[21] ^= 0x80;
    let p = tmp("flipped.bin");
    std::fs::write(&p, &raw).unwrap();
    let (ok, out, _) = verify(&[
        &"--report",
        &p,
        &"--vcek",
        &testdata("vcek_milan.der"),
        &"--chain",
        &testdata("cert_chain_milan"),
    ]);
    assert!(!ok);
    assert!(out.contains("[FAIL] report signature"), "{out}");
}

#[test]
fn turin_chain_rejects_milan_vcek_and_accepts_turin_vcek() {
    let (ok, out, _) = verify(&[
        &"--report",
        &testdata("report_milan.hex"),
        &"--vcek",
        &testdata("vcek_milan.der"),
        &"--chain",
        &testdata("cert_chain_turin"),
    ]);
    assert!(!ok);
    assert!(
        out.contains("VERDICT: FAIL: certificate chain error"),
        "{out}"
    );
    // The Turin VCEK chains to the Turin root; the Milan report then fails its hwID/TCB/signature checks.
    let (ok, out, _) = verify(&[
        &"--report",
        &testdata("report_milan.hex"),
        &"--vcek",
        &testdata("vcek_turin.der"),
        &"--chain",
        &testdata("cert_chain_turin"),
    ]);
    assert!(!ok);
    assert!(
        out.contains("[ OK ] certificate chain    ARK-Turin"),
        "{out}"
    );
    assert!(out.contains("[FAIL] report signature"), "{out}");
}

#[test]
fn bad_report_sizes_and_certificates_give_specific_errors() {
    let raw = milan_raw();
    let short = tmp("short.bin");
    std::fs::write(&short, &raw[..1000]).unwrap();
    let (ok, out, _) = verify(&[&"--report", &short, &"--vcek", &testdata("vcek_milan.der")]);
    assert!(
        !ok && out.contains("report is truncated: 1000 bytes, expected 1184"),
        "{out}"
    );
    let long = tmp("long.bin");
    std::fs::write(&long, [raw.clone(), vec![0; 16]].concat()).unwrap();
    let (ok, out, _) = verify(&[&"--report", &long, &"--vcek", &testdata("vcek_milan.der")]);
    assert!(
        !ok && out.contains("report is oversized: 1200 bytes"),
        "{out}"
    );
    let short_hex = tmp("short.hex");
    std::fs::write(&short_hex, &milan_hex()[..200]).unwrap();
    let (ok, out, _) = verify(&[
        &"--report",
        &short_hex,
        &"--vcek",
        &testdata("vcek_milan.der"),
    ]);
    assert!(!ok && out.contains("truncated: 100 bytes"), "{out}");

    let vcek = std::fs::read(testdata("vcek_milan.der")).unwrap();
    let bad = tmp("bad_vcek.der");
    std::fs::write(&bad, &vcek[..vcek.len() / 2]).unwrap();
    let (ok, out, _) = verify(&[&"--report", &testdata("report_milan.hex"), &"--vcek", &bad]);
    assert!(!ok && out.contains("malformed VCEK"), "{out}");
    let bad_chain = tmp("bad_chain.pem");
    std::fs::write(
        &bad_chain,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let (ok, out, _) = verify(&[
        &"--report",
        &testdata("report_milan.hex"),
        &"--vcek",
        &testdata("vcek_milan.der"),
        &"--chain",
        &bad_chain,
    ]);
    assert!(!ok && out.contains("malformed certificate chain"), "{out}");
    let (ok, out, _) = verify(&[&"--report", &testdata("report_milan.hex")]);
    assert!(
        !ok && out.contains("pass --vcek or a --certs-table"),
        "{out}"
    );
}

/// GHCB extended-request certificate table: {GUID (RFC 4122 bytes), u32 offset, u32 len}*, zero entry, blob.
#[test]
fn certificate_table_supplies_vcek_and_chain() {
    let chain = std::fs::read_to_string(testdata("cert_chain_milan")).unwrap();
    let pems: Vec<String> = chain
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|p| p.contains("BEGIN"))
        .map(|p| p.trim().to_string())
        .collect();
    assert_eq!(pems.len(), 2);
    let guid = |s: &str| -> Vec<u8> {
        let h: String = s.chars().filter(|c| *c != '-').collect();
        (0..32)
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    };
    let vcek = std::fs::read(testdata("vcek_milan.der")).unwrap();
    // The chain file lists the ASK first, then the ARK.
    let entries: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (guid("63da758d-e664-4564-adc5-f4b93be8accd"), vcek),
        (
            guid("4ab7b379-bbac-4fe4-a02f-05aef327c782"),
            pems[0].clone().into_bytes(),
        ),
        (
            guid("c0b406a4-a803-4952-9743-3fb6014cd0ae"),
            pems[1].clone().into_bytes(),
        ),
    ];
    let mut table = Vec::new();
    let mut blob = Vec::new();
    let header = (entries.len() + 1) * 24;
    for (g, data) in &entries {
        table.extend_from_slice(g);
        table.extend_from_slice(&((header + blob.len()) as u32).to_le_bytes());
        table.extend_from_slice(&(data.len() as u32).to_le_bytes());
        blob.extend_from_slice(data);
    }
    table.extend_from_slice(&[0; 24]);
    table.extend_from_slice(&blob);
    let p = tmp("certs_table.bin");
    std::fs::write(&p, &table).unwrap();
    let (ok, out, _) = verify(&[
        &"--report",
        &testdata("report_milan.hex"),
        &"--certs-table",
        &p,
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("(given chain)"), "{out}");
    let cut = tmp("certs_table_cut.bin");
    std::fs::write(&cut, &table[..40]).unwrap();
    let (ok, out, _) = verify(&[
        &"--report",
        &testdata("report_milan.hex"),
        &"--certs-table",
        &cut,
    ]);
    assert!(!ok && out.contains("certificate table"), "{out}");
}

/// A report signed by a test key, verified with `--vcek KEY.pem --skip-chain`.
#[test]
fn simulator_key_and_policy_flags() {
    let sk = SigningKey::from_slice(&[7u8; 48]).unwrap();
    let key = tmp("sim_key.pem");
    std::fs::write(
        &key,
        sk.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    )
    .unwrap();
    let sign = |mut raw: Vec<u8>| {
        let sig: Signature = sk.sign(&raw[..0x2a0]);
        let (r, s) = sig.split_bytes();
        raw[0x2a0..0x4a0].fill(0);
        for i in 0..48 {
            raw[0x2a0 + i] = r[47 - i];
            raw[0x2e8 + i] = s[47 - i];
        }
        raw
    };
    let good = tmp("sim_good.bin");
    std::fs::write(&good, sign(milan_raw())).unwrap();
    let (ok, out, _) = verify(&[&"--report", &good, &"--vcek", &key, &"--skip-chain"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("VERDICT: PASS (chain NOT verified: --skip-chain)"),
        "{out}"
    );
    // Without --skip-chain a bare key is not a certificate.
    let (ok, out, _) = verify(&[&"--report", &good, &"--vcek", &key]);
    assert!(!ok && out.contains("malformed VCEK"), "{out}");

    let mut debug = milan_raw();
    debug[0x08..0x10].copy_from_slice(&0xb0000u64.to_le_bytes());
    let debug_path = tmp("sim_debug.bin");
    std::fs::write(&debug_path, sign(debug)).unwrap();
    let (ok, out, _) = verify(&[&"--report", &debug_path, &"--vcek", &key, &"--skip-chain"]);
    assert!(!ok && out.contains("FAIL: debug policy"), "{out}");
    let (ok, out, _) = verify(&[
        &"--report",
        &debug_path,
        &"--vcek",
        &key,
        &"--skip-chain",
        &"--allow-debug",
    ]);
    assert!(ok, "{out}");

    let mut vmpl = milan_raw();
    vmpl[0x30] = 2;
    let vmpl_path = tmp("sim_vmpl.bin");
    std::fs::write(&vmpl_path, sign(vmpl)).unwrap();
    let (ok, out, _) = verify(&[&"--report", &vmpl_path, &"--vcek", &key, &"--skip-chain"]);
    assert!(!ok && out.contains("FAIL: vmpl"), "{out}");
    let (ok, _, _) = verify(&[
        &"--report",
        &vmpl_path,
        &"--vcek",
        &key,
        &"--skip-chain",
        &"--vmpl",
        &"2",
    ]);
    assert!(ok);

    let mut algo = milan_raw();
    algo[0x34] = 2;
    let algo_path = tmp("sim_algo.bin");
    std::fs::write(&algo_path, sign(algo)).unwrap();
    let (ok, out, _) = verify(&[&"--report", &algo_path, &"--vcek", &key, &"--skip-chain"]);
    assert!(
        !ok && out.contains("FAIL: signature algorithm: signature_algo is 2"),
        "{out}"
    );
}
