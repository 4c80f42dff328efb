//! `snp-selftest`: checks what a host offers a guest through Elastic's `elastic_snp` module.
//!
//! `snp-selftest` (no arguments): on SEV-SNP prints an attestation report for a fresh random
//! nonce (hex and decoded, and checks that the nonce is in it), the host's certificate table
//! (each entry with its SHA-256 fingerprint), a derived key's fingerprint (SHA-256 of the key
//! for fields measurement | policy, asked twice to check it is stable; never the key) and the
//! clock trust level. Exit 0 if every step worked, 1 otherwise. Not under SEV-SNP (plain
//! QEMU, `elastic run`) it prints "not an SNP guest", checks that every call says
//! "not supported", and exits 0.
//!
//! `snp-selftest report HEX FILE`: asks for a report bound to the 64 bytes given as 128 hex
//! digits and writes the raw 1184-byte report to FILE (in a preopened directory). Exit 0 on
//! success, 2 if not an SNP guest, 1 on any other failure (bad arguments included).

use elastic_snp::cert_table::{CertKind, CertTable};
use elastic_snp::report::{AttestationReport, Hex};
use elastic_snp_guest::{self as snp, Error, fields};
use sha2::{Digest, Sha256};
use std::process::ExitCode;

/// Exit status when the guest is not running under SEV-SNP in `report` mode.
const EXIT_NOT_SNP: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => selftest(),
        Some("report") if args.len() == 3 => report_mode(&args[1], &args[2]),
        _ => {
            eprintln!("usage: snp-selftest [report HEX128 FILE]");
            ExitCode::FAILURE
        }
    }
}

/// Decodes 128 hex digits into 64 bytes.
fn parse_hex64(s: &str) -> Option<[u8; 64]> {
    let b = s.as_bytes();
    if b.len() != 128 {
        return None;
    }
    let mut out = [0u8; 64];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

fn report_mode(hex: &str, path: &str) -> ExitCode {
    let Some(data) = parse_hex64(hex) else {
        eprintln!("snp-selftest: report data must be 128 hex digits (64 bytes)");
        return ExitCode::FAILURE;
    };
    match snp::attestation_report(&data) {
        Ok(report) => match std::fs::write(path, &report) {
            Ok(()) => {
                println!(
                    "snp-selftest: wrote {} report bytes to {path}",
                    report.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("snp-selftest: writing {path}: {e}");
                ExitCode::FAILURE
            }
        },
        Err(Error::NotSupported) => {
            println!("snp-selftest: not an SNP guest");
            ExitCode::from(EXIT_NOT_SNP)
        }
        Err(e) => {
            eprintln!("snp-selftest: attestation report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `bytes` as hex, 32 bytes a line, each line prefixed with its offset.
fn print_hex_dump(bytes: &[u8]) {
    for (i, row) in bytes.chunks(32).enumerate() {
        println!("  {:04x}: {}", i * 32, Hex(row));
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn selftest() -> ExitCode {
    let trust = snp::clock_trust();
    if !snp::is_snp() {
        println!("snp-selftest: not an SNP guest");
        println!("clock trust: {trust}");
        // Nothing may be fabricated: every call must say "not supported".
        let calls = [
            (
                "attestation_report",
                snp::attestation_report(&[0; 64]).err(),
            ),
            ("certificates", snp::certificates().err()),
            ("derived_key", snp::derived_key(fields::MEASUREMENT).err()),
        ];
        let mut ok = true;
        for (name, r) in calls {
            if r != Some(Error::NotSupported) {
                println!("FAIL {name}: expected \"not supported\", got {r:?}");
                ok = false;
            }
        }
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    println!("snp-selftest: running as an SEV-SNP guest");
    let mut failures = 0u32;
    if !check_report() {
        failures += 1;
    }
    if !check_certificates() {
        failures += 1;
    }
    if !check_derived_key() {
        failures += 1;
    }
    println!("clock trust: {trust}");
    if failures == 0 {
        println!("snp-selftest: all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("snp-selftest: {failures} check(s) failed");
        ExitCode::FAILURE
    }
}

fn check_report() -> bool {
    let mut nonce = [0u8; 64];
    // SAFETY: `nonce` is 64 writable bytes.
    if let Err(e) = unsafe { wasi::random_get(nonce.as_mut_ptr(), nonce.len()) } {
        println!("FAIL random_get: {e}");
        return false;
    }
    println!("report data (random nonce): {}", Hex(&nonce));
    let raw = match snp::attestation_report(&nonce) {
        Ok(r) => r,
        Err(e) => {
            println!("FAIL attestation report: {e}");
            return false;
        }
    };
    println!("attestation report ({} bytes):", raw.len());
    print_hex_dump(&raw);
    let report = match AttestationReport::parse(&raw) {
        Ok(r) => r,
        Err(e) => {
            println!("FAIL report does not parse: {e}");
            return false;
        }
    };
    println!("{report}");
    if report.report_data != nonce {
        println!("FAIL report_data is not the nonce that was sent");
        return false;
    }
    println!("ok: report_data is the nonce");
    true
}

fn check_certificates() -> bool {
    let blob = match snp::certificates() {
        Ok(b) => b,
        Err(e) => {
            println!("FAIL certificates: {e}");
            return false;
        }
    };
    if blob.is_empty() {
        println!("certificates: none supplied by the host");
        return true;
    }
    let table = match CertTable::parse(&blob) {
        Ok(t) => t,
        Err(e) => {
            println!("FAIL certificate table ({} bytes): {e}", blob.len());
            return false;
        }
    };
    println!(
        "certificates: {} entr{} in {} bytes",
        table.entries.len(),
        if table.entries.len() == 1 { "y" } else { "ies" },
        blob.len()
    );
    for e in &table.entries {
        let name = match e.kind {
            CertKind::Ark => "ARK",
            CertKind::Ask => "ASK",
            CertKind::Vcek => "VCEK",
            CertKind::Vlek => "VLEK",
            CertKind::Other(_) => "other",
        };
        println!(
            "  {name:5} guid {} offset {:#x} length {} sha256 {}",
            Hex(&e.guid),
            e.offset,
            e.data.len(),
            Hex(&sha256(e.data))
        );
    }
    true
}

fn check_derived_key() -> bool {
    let sel = fields::MEASUREMENT | fields::POLICY;
    let (a, b) = match (snp::derived_key(sel), snp::derived_key(sel)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            println!("FAIL derived key: {e}");
            return false;
        }
    };
    println!(
        "derived key (fields {sel:#x} = measurement|policy): sha256 fingerprint {}",
        Hex(&sha256(&a))
    );
    if a != b {
        println!("FAIL derived key: two requests gave different keys");
        return false;
    }
    println!("ok: derived key is stable");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_arguments() {
        let s: String = (0..64u8).map(|b| format!("{b:02X}")).collect();
        let v = parse_hex64(&s).unwrap();
        assert_eq!(v[0], 0);
        assert_eq!(v[63], 63);
        assert_eq!(v[10], 10);
        assert!(parse_hex64(&s[..126]).is_none());
        assert!(parse_hex64(&s.replace('3', "g")).is_none());
        assert!(parse_hex64(&format!("{}é", &s[..126])).is_none());
    }
}
