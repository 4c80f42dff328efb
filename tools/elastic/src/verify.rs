//! `elastic verify`: checks an SEV-SNP attestation report the way a relying party must.
//!
//! Order (AMD 56860 §7.3; AMD 57230 for the certificates): the ARK → ASK → VCEK chain
//! (RSASSA-PSS SHA-384, ARK pinned to AMD's published roots), the VCEK's TCB and hwID
//! extensions against `reported_tcb`/`chip_id`, the ECDSA P-384 signature over report bytes
//! 0x000..0x29F, then the guest properties the measurement does not cover: DEBUG policy bit,
//! VMPL, signature algorithm and signing key, and the expected measurement, report data and
//! host data. Every field is printed; the exit status is non-zero with the reason on failure.

use std::path::PathBuf;
use std::process::ExitCode;

use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey};

use crate::attest::certs::{self, CertError, VcekExtensions};
use crate::attest::report::{self, Product, REPORT_LEN, Report, Tcb};
use crate::measure::to_hex;

/// Arguments of `elastic verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The attestation report: 1184 raw bytes or hex text.
    #[arg(long)]
    pub report: PathBuf,
    /// The VCEK certificate (DER or PEM); with --skip-chain also a bare P-384 public key.
    #[arg(long)]
    pub vcek: Option<PathBuf>,
    /// ASK + ARK certificates (PEM, as served by KDS `cert_chain`); default: AMD's built-in.
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// Extended-report certificate table (GUID table + certificates) to take VCEK/ASK/ARK from.
    #[arg(long)]
    pub certs_table: Option<PathBuf>,
    /// Check only the report signature with --vcek (e.g. a simulator's test key); no chain or TCB checks.
    #[arg(long)]
    pub skip_chain: bool,
    /// Expected launch measurement (48 bytes hex, e.g. from `elastic measure`).
    #[arg(long)]
    pub measurement: Option<String>,
    /// Expected report data (up to 64 bytes hex; shorter values are zero-padded).
    #[arg(long)]
    pub report_data: Option<String>,
    /// Expected host data (up to 32 bytes hex; shorter values are zero-padded).
    #[arg(long)]
    pub host_data: Option<String>,
    /// Accept a guest whose policy allows debugging.
    #[arg(long)]
    pub allow_debug: bool,
    /// Expected VMPL of the requester.
    #[arg(long, default_value_t = 0)]
    pub vmpl: u32,
    /// Minimum reported TCB, e.g. `bl=3,tee=0,snp=8,ucode=115` (Turin adds `fmc=`).
    #[arg(long)]
    pub min_tcb: Option<String>,
    /// TCB layout when neither the chain nor the report tells (Milan, Genoa, Turin).
    #[arg(long)]
    pub product: Option<String>,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Passed.
    Ok,
    /// Failed: the report must be rejected.
    Fail,
    /// Not performed (not requested or not possible).
    Skip,
}

/// One line of the verdict.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Result.
    pub status: Status,
    /// Why.
    pub detail: String,
}

fn check(name: &'static str, r: Result<String, String>) -> Check {
    match r {
        Ok(detail) => Check {
            name,
            status: Status::Ok,
            detail,
        },
        Err(detail) => Check {
            name,
            status: Status::Fail,
            detail,
        },
    }
}

fn skip(name: &'static str, detail: &str) -> Check {
    Check {
        name,
        status: Status::Skip,
        detail: detail.to_string(),
    }
}

/// The key that must have signed the report, with what the chain established about it.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The VCEK's public key.
    pub key: VerifyingKey,
    /// The VCEK's AMD extensions (absent for a bare key).
    pub extensions: Option<VcekExtensions>,
    /// Product whose chain verified the VCEK (None with --skip-chain).
    pub product: Option<Product>,
}

/// Minimum TCB components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinTcb {
    /// FMC (Turin).
    pub fmc: u8,
    /// Boot loader.
    pub bootloader: u8,
    /// TEE.
    pub tee: u8,
    /// SNP firmware.
    pub snp: u8,
    /// Microcode.
    pub microcode: u8,
}

/// Parses `bl=..,tee=..,snp=..,ucode=..[,fmc=..]`.
pub fn parse_min_tcb(s: &str) -> Result<MinTcb, String> {
    let mut m = MinTcb::default();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("--min-tcb: {part:?} is not key=value"))?;
        let v: u8 = v
            .trim()
            .parse()
            .map_err(|_| format!("--min-tcb: {v:?} is not a number 0..255"))?;
        match k.trim() {
            "bl" | "bootloader" => m.bootloader = v,
            "tee" => m.tee = v,
            "snp" => m.snp = v,
            "ucode" | "microcode" => m.microcode = v,
            "fmc" => m.fmc = v,
            other => {
                return Err(format!(
                    "--min-tcb: unknown component {other:?} (bl, tee, snp, ucode, fmc)"
                ));
            }
        }
    }
    Ok(m)
}

/// What the relying party expects of the guest.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Expected measurement (48 bytes).
    pub measurement: Option<Vec<u8>>,
    /// Expected report data (64 bytes).
    pub report_data: Option<Vec<u8>>,
    /// Expected host data (32 bytes).
    pub host_data: Option<Vec<u8>>,
    /// Accept DEBUG guests.
    pub allow_debug: bool,
    /// Expected VMPL.
    pub vmpl: u32,
    /// Minimum reported TCB.
    pub min_tcb: Option<MinTcb>,
    /// Layout fallback when nothing else tells the product.
    pub product_hint: Option<Product>,
}

fn parse_product(s: &str) -> Result<Product, String> {
    match s.to_ascii_lowercase().as_str() {
        "milan" => Ok(Product::Milan),
        "genoa" => Ok(Product::Genoa),
        "turin" => Ok(Product::Turin),
        _ => Err(format!("unknown --product {s:?} (Milan, Genoa, Turin)")),
    }
}

fn expected_bytes(name: &str, hex: &str, len: usize, exact: bool) -> Result<Vec<u8>, String> {
    let mut v = report::decode_hex(hex).map_err(|e| format!("--{name}: {e}"))?;
    if v.len() > len || (exact && v.len() != len) {
        return Err(format!(
            "--{name}: {} bytes given, expected {}{len}",
            v.len(),
            if exact { "" } else { "at most " }
        ));
    }
    v.resize(len, 0);
    Ok(v)
}

/// The product whose TCB layout applies.
pub fn layout(report: &Report<'_>, signer: &Signer, expect: &Expect) -> Product {
    signer
        .product
        .or(report.product_from_cpuid())
        .or(expect.product_hint)
        .unwrap_or(Product::Milan)
}

fn verify_signature(r: &Report<'_>, key: &VerifyingKey) -> Result<String, String> {
    let (sr, ss) = (r.sig_r(), r.sig_s());
    if sr[48..].iter().chain(&ss[48..]).any(|b| *b != 0) {
        return Err("signature r/s have non-zero bytes beyond the 48-byte P-384 scalars".into());
    }
    let mut rb = [0u8; 48];
    let mut sb = [0u8; 48];
    rb.copy_from_slice(&sr[..48]);
    sb.copy_from_slice(&ss[..48]);
    rb.reverse();
    sb.reverse();
    let sig = Signature::from_scalars(rb, sb)
        .map_err(|_| "signature r or s is zero or not below the P-384 order".to_string())?;
    key.verify(r.signed_bytes(), &sig)
        .map(|_| "ECDSA P-384/SHA-384 over bytes 0x000..0x29F verifies with the VCEK".to_string())
        .map_err(|_| {
            "ECDSA P-384/SHA-384 signature over bytes 0x000..0x29F does NOT verify with the VCEK"
                .to_string()
        })
}

fn tcb_check(ext: &VcekExtensions, tcb: &Tcb, product: Product) -> Result<String, String> {
    let mut pairs = vec![
        ("bl", ext.bootloader, tcb.bootloader),
        ("tee", ext.tee, tcb.tee),
        ("snp", ext.snp, tcb.snp),
        ("ucode", ext.microcode, tcb.microcode),
    ];
    if product == Product::Turin {
        pairs.push(("fmc", ext.fmc, tcb.fmc.unwrap_or(0)));
    }
    for (name, cert, rep) in pairs {
        match cert {
            None => return Err(format!("VCEK lacks the {name} SPL extension")),
            Some(c) if c != rep => {
                return Err(format!(
                    "VCEK {name} SPL is {c} but the report's reported_tcb has {rep} (VCEK fetched for another TCB?)"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(format!("VCEK extensions equal reported_tcb ({tcb})"))
}

fn hwid_check(ext: &VcekExtensions, chip_id: &[u8], product: Product) -> Result<String, String> {
    let want = if product == Product::Turin {
        &chip_id[..8]
    } else {
        chip_id
    };
    if want.iter().all(|b| *b == 0) {
        return Err("report chip_id is zero (MASK_CHIP_ID set on the host): the VCEK cannot be bound to the chip".into());
    }
    match &ext.hwid {
        None => Err("VCEK lacks the hwID extension (1.3.6.1.4.1.3704.1.4)".into()),
        Some(h) if h.as_slice() == want => {
            Ok(format!("VCEK hwID equals chip_id ({} bytes)", want.len()))
        }
        Some(h) => Err(format!(
            "VCEK hwID {} differs from report chip_id {}",
            to_hex(h),
            to_hex(want)
        )),
    }
}

/// Runs every check that needs only the report, the signer and the expectations.
pub fn check_report(raw: &[u8; REPORT_LEN], signer: &Signer, expect: &Expect) -> Vec<Check> {
    let r = Report(raw);
    let product = layout(&r, signer, expect);
    let tcb = Tcb::decode(r.reported_tcb(), product);
    let mut out = Vec::new();
    out.push(check(
        "signature algorithm",
        match r.signature_algo() {
            1 => Ok("1 = ECDSA P-384 with SHA-384".into()),
            a => Err(format!(
                "signature_algo is {a}, only 1 (ECDSA P-384 with SHA-384) is defined"
            )),
        },
    ));
    out.push(check(
        "signing key",
        match r.signing_key() {
            0 => Ok("VCEK".into()),
            1 => Err("report is signed with a VLEK; only VCEK-signed reports are supported".into()),
            7 => Err("report is not signed (signing key field = 7, none)".into()),
            k => Err(format!("signing key field {k} is reserved")),
        },
    ));
    if let (Some(chain), Some(cpu)) = (signer.product, r.product_from_cpuid())
        && chain != cpu
    {
        out.push(check(
            "product",
            Err(format!(
                "report CPUID says {} but the VCEK chains to the {} root",
                cpu.name(),
                chain.name()
            )),
        ));
    }
    match &signer.extensions {
        Some(ext) => {
            out.push(check("VCEK TCB", tcb_check(ext, &tcb, product)));
            out.push(check("VCEK hwID", hwid_check(ext, r.chip_id(), product)));
        }
        None => {
            out.push(skip(
                "VCEK TCB",
                "bare public key given, no extensions to compare",
            ));
            out.push(skip(
                "VCEK hwID",
                "bare public key given, no extensions to compare",
            ));
        }
    }
    out.push(check("report signature", verify_signature(&r, &signer.key)));
    out.push(check(
        "debug policy",
        if r.policy() >> 19 & 1 == 0 {
            Ok("DEBUG bit 19 clear".into())
        } else if expect.allow_debug {
            Ok("DEBUG bit 19 SET (accepted by --allow-debug)".into())
        } else {
            Err(
                "guest policy allows debugging (bit 19): the hypervisor can read guest memory"
                    .into(),
            )
        },
    ));
    out.push(check(
        "vmpl",
        if r.vmpl() == expect.vmpl {
            Ok(format!("{}", r.vmpl()))
        } else {
            Err(format!(
                "report requested at VMPL {}, expected {}",
                r.vmpl(),
                expect.vmpl
            ))
        },
    ));
    let compare = |name: &'static str, got: &[u8], want: &Option<Vec<u8>>, flag: &str| match want {
        None => skip(name, &format!("not checked (pass --{flag})")),
        Some(w) if w.as_slice() == got => check(name, Ok(format!("matches {}", to_hex(w)))),
        Some(w) => check(
            name,
            Err(format!("is {}, expected {}", to_hex(got), to_hex(w))),
        ),
    };
    out.push(compare(
        "measurement",
        r.measurement(),
        &expect.measurement,
        "measurement",
    ));
    out.push(compare(
        "report data",
        r.report_data(),
        &expect.report_data,
        "report-data",
    ));
    out.push(compare(
        "host data",
        r.host_data(),
        &expect.host_data,
        "host-data",
    ));
    out.push(match expect.min_tcb {
        None => skip("minimum TCB", "not checked (pass --min-tcb)"),
        Some(m) => {
            let low = [
                ("bl", tcb.bootloader, m.bootloader),
                ("tee", tcb.tee, m.tee),
                ("snp", tcb.snp, m.snp),
                ("ucode", tcb.microcode, m.microcode),
                (
                    "fmc",
                    tcb.fmc.unwrap_or(0),
                    if product == Product::Turin { m.fmc } else { 0 },
                ),
            ]
            .into_iter()
            .filter(|(_, have, min)| have < min)
            .map(|(n, have, min)| format!("{n} {have} < {min}"))
            .collect::<Vec<_>>();
            if low.is_empty() {
                check(
                    "minimum TCB",
                    Ok(format!("reported_tcb {tcb} meets the minimum")),
                )
            } else {
                check(
                    "minimum TCB",
                    Err(format!("reported_tcb below minimum: {}", low.join(", "))),
                )
            }
        }
    });
    out
}

/// Everything `elastic verify` needs besides the report, resolved from files.
fn resolve_signer(args: &Args) -> Result<(Signer, Vec<Check>, String), CertError> {
    let read = |p: &PathBuf, what: &str| {
        std::fs::read(p).map_err(|e| CertError::Malformed {
            what: what.into(),
            reason: format!("{}: {e}", p.display()),
        })
    };
    let table = match &args.certs_table {
        Some(p) => Some(certs::parse_certs_table(&read(p, "certificate table")?)?),
        None => None,
    };
    let vcek_bytes = match (&args.vcek, table.as_ref().and_then(|t| t.vcek.clone())) {
        (Some(p), _) => Some(read(p, "VCEK")?),
        (None, from_table) => from_table,
    };
    let Some(vcek_bytes) = vcek_bytes else {
        return Err(CertError::Malformed {
            what: "VCEK".into(),
            reason: "none given: pass --vcek or a --certs-table with a VCEK entry".into(),
        });
    };
    let mut checks = Vec::new();
    if args.skip_chain {
        let (key, extensions, desc) = match certs::load_cert(&vcek_bytes, "VCEK") {
            Ok(cert) => {
                let ext = certs::vcek_extensions(&cert)?;
                let has = ext.hwid.is_some() || ext.bootloader.is_some();
                (
                    certs::vcek_key(&cert)?,
                    has.then_some(ext),
                    format!("certificate {}", cert.tbs_certificate.subject),
                )
            }
            Err(_) => (
                certs::load_public_key(&vcek_bytes)?,
                None,
                "bare P-384 public key".to_string(),
            ),
        };
        checks.push(skip(
            "certificate chain",
            "NOT verified (--skip-chain): trusting the given key",
        ));
        return Ok((
            Signer {
                key,
                extensions,
                product: None,
            },
            checks,
            desc,
        ));
    }
    let vcek = certs::load_cert(&vcek_bytes, "VCEK")?;
    let chain = match (&args.chain, &table) {
        (Some(p), _) => Some(certs::load_chain(&read(p, "certificate chain")?)?),
        (None, Some(t)) => match (&t.ask, &t.ark) {
            (Some(ask), Some(ark)) => {
                Some((certs::load_cert(ask, "ASK")?, certs::load_cert(ark, "ARK")?))
            }
            _ => None,
        },
        (None, None) => None,
    };
    let (product, source) = match chain {
        Some((ask, ark)) => (certs::verify_chain(&vcek, &ask, &ark)?, "given chain"),
        None => (certs::verify_with_builtin(&vcek)?.0, "AMD's built-in chain"),
    };
    checks.push(check(
        "certificate chain",
        Ok(format!(
            "ARK-{0} (AMD root, self-signed) -> ASK -> VCEK, RSASSA-PSS SHA-384 ({source})",
            product.name()
        )),
    ));
    let extensions = certs::vcek_extensions(&vcek)?;
    let desc = format!(
        "{} ({}), bl={:?} tee={:?} snp={:?} ucode={:?} fmc={:?}",
        vcek.tbs_certificate.subject,
        extensions
            .product_name
            .as_deref()
            .unwrap_or("no product name"),
        extensions.bootloader,
        extensions.tee,
        extensions.snp,
        extensions.microcode,
        extensions.fmc
    );
    Ok((
        Signer {
            key: certs::vcek_key(&vcek)?,
            extensions: Some(extensions),
            product: Some(product),
        },
        checks,
        desc,
    ))
}

fn expectations(args: &Args) -> Result<Expect, String> {
    Ok(Expect {
        measurement: args
            .measurement
            .as_deref()
            .map(|h| expected_bytes("measurement", h, 48, true))
            .transpose()?,
        report_data: args
            .report_data
            .as_deref()
            .map(|h| expected_bytes("report-data", h, 64, false))
            .transpose()?,
        host_data: args
            .host_data
            .as_deref()
            .map(|h| expected_bytes("host-data", h, 32, false))
            .transpose()?,
        allow_debug: args.allow_debug,
        vmpl: args.vmpl,
        min_tcb: args.min_tcb.as_deref().map(parse_min_tcb).transpose()?,
        product_hint: args.product.as_deref().map(parse_product).transpose()?,
    })
}

/// Runs `elastic verify`.
pub fn main(args: Args) -> ExitCode {
    let fail = |msg: String| {
        println!("VERDICT: FAIL: {msg}");
        eprintln!("elastic verify: {msg}");
        ExitCode::FAILURE
    };
    let expect = match expectations(&args) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let file = match std::fs::read(&args.report) {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", args.report.display())),
    };
    let raw = match report::load_report(&file) {
        Ok(r) => r,
        Err(e) => return fail(format!("{}: {e}", args.report.display())),
    };
    let (signer, mut checks, vcek_desc) = match resolve_signer(&args) {
        Ok(s) => s,
        Err(e) => {
            print!(
                "{}",
                Report(&raw).summary(Report(&raw).product_from_cpuid().unwrap_or(Product::Milan))
            );
            return fail(e.to_string());
        }
    };
    let r = Report(&raw);
    let product = layout(&r, &signer, &expect);
    println!(
        "SEV-SNP attestation report {} ({} TCB layout)",
        args.report.display(),
        product.name()
    );
    print!("{}", r.summary(product));
    println!("VCEK: {vcek_desc}");
    checks.extend(check_report(&raw, &signer, &expect));
    println!("Checks:");
    for c in &checks {
        let tag = match c.status {
            Status::Ok => " OK ",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        println!("  [{tag}] {:<20} {}", c.name, c.detail);
    }
    match checks.iter().find(|c| c.status == Status::Fail) {
        Some(c) => fail(format!("{}: {}", c.name, c.detail)),
        None => {
            let unchecked = if args.skip_chain {
                " (chain NOT verified: --skip-chain)"
            } else {
                ""
            };
            println!("VERDICT: PASS{unchecked}");
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::certs::{CertKind, build_certs_table, load_cert, load_chain, verify_chain};
    use p384::ecdsa::SigningKey;
    use p384::ecdsa::signature::Signer as _;
    use std::path::Path;
    use x509_cert::der::Encode;

    fn testdata(name: &str) -> Vec<u8> {
        // Real-hardware vectors (virtee/sev), vendored in tests/data/snp.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/snp");
        std::fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
    }

    fn milan_report() -> [u8; REPORT_LEN] {
        report::load_report(&testdata("report_milan.hex")).unwrap()
    }

    fn milan_signer() -> Signer {
        let vcek = load_cert(&testdata("vcek_milan.der"), "VCEK").unwrap();
        let (ask, ark) = load_chain(&testdata("cert_chain_milan")).unwrap();
        let product = verify_chain(&vcek, &ask, &ark).unwrap();
        assert_eq!(product, Product::Milan);
        Signer {
            key: certs::vcek_key(&vcek).unwrap(),
            extensions: Some(certs::vcek_extensions(&vcek).unwrap()),
            product: Some(product),
        }
    }

    fn failures(checks: &[Check]) -> Vec<String> {
        checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    #[test]
    fn milan_report_verifies_with_expectations() {
        let raw = milan_report();
        let r = Report(&raw);
        let expect = Expect {
            measurement: Some(r.measurement().to_vec()),
            report_data: Some(r.report_data().to_vec()),
            host_data: Some(vec![0; 32]),
            min_tcb: Some(parse_min_tcb("bl=3,tee=0,snp=8,ucode=115").unwrap()),
            ..Expect::default()
        };
        let checks = check_report(&raw, &milan_signer(), &expect);
        assert_eq!(failures(&checks), Vec::<String>::new());
        assert_eq!(checks.iter().filter(|c| c.status == Status::Ok).count(), 11);

        let mut wrong = expect.clone();
        wrong.measurement.as_mut().unwrap()[0] ^= 1;
        wrong.min_tcb = Some(parse_min_tcb("snp=9").unwrap());
        let f = failures(&check_report(&raw, &milan_signer(), &wrong));
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].starts_with("measurement:"), "{f:?}");
        assert!(f[1].contains("snp 8 < 9"), "{f:?}");
    }

    /// Single-bit flips of the signed bytes 0x000..0x29F must be rejected. Optimised builds
    /// (or `ELASTIC_FULL_BITFLIP=1`) try all 0x2A0 * 8 bits; unoptimised P-384 is slow
    /// (~25 ms per verification), so debug builds flip one bit in every byte (rotating the
    /// bit position) plus all eight bits of bytes 0x00, 21 (0x15), 0x90 and 0x29F.
    #[test]
    fn every_bit_flip_in_signed_area_fails() {
        let raw = milan_report();
        let signer = milan_signer();
        let expect = Expect::default();
        let full = !cfg!(debug_assertions) || std::env::var_os("ELASTIC_FULL_BITFLIP").is_some();
        let bits: Vec<usize> = if full {
            (0..report::SIGNED_LEN * 8).collect()
        } else {
            let mut v: Vec<usize> = (0..report::SIGNED_LEN)
                .map(|byte| byte * 8 + byte % 8)
                .collect();
            for byte in [0x00, 21, 0x90, 0x29f] {
                v.extend((0..8).map(|b| byte * 8 + b));
            }
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut sig_failures = 0;
        for &bit in &bits {
            let mut flipped = raw;
            flipped[bit / 8] ^= 1 << (bit % 8);
            let checks = check_report(&flipped, &signer, &expect);
            let sig = checks
                .iter()
                .find(|c| c.name == "report signature")
                .unwrap();
            assert_eq!(
                sig.status,
                Status::Fail,
                "bit {bit} (byte {:#x}) flip verified",
                bit / 8
            );
            sig_failures += 1;
        }
        assert_eq!(sig_failures, bits.len());
        assert!(bits.len() >= 0x2a0 && bits.contains(&(21 * 8 + 7)));
        eprintln!(
            "bit flips rejected: {} of {} (full = {full})",
            bits.len(),
            report::SIGNED_LEN * 8
        );
        // The reference flip from the test-vector README.
        let mut flipped = raw;
        flipped[21] ^= 0x80;
        assert!(!failures(&check_report(&flipped, &signer, &expect)).is_empty());
    }

    #[test]
    fn signature_field_corruption_fails() {
        let raw = milan_report();
        let signer = milan_signer();
        for at in [0x2a0, 0x2a0 + 47, 0x2a0 + 48, 0x2e8, 0x2e8 + 71] {
            let mut bad = raw;
            bad[at] ^= 1;
            let f = failures(&check_report(&bad, &signer, &Expect::default()));
            assert!(
                f.iter().any(|m| m.starts_with("report signature")),
                "byte {at:#x}: {f:?}"
            );
        }
    }

    #[test]
    fn chains_verify_and_mismatches_fail() {
        let milan_vcek = load_cert(&testdata("vcek_milan.der"), "VCEK").unwrap();
        let turin_vcek = load_cert(&testdata("vcek_turin.der"), "VCEK").unwrap();
        let (mask, mark) = load_chain(&testdata("cert_chain_milan")).unwrap();
        let (task, tark) = load_chain(&testdata("cert_chain_turin")).unwrap();
        assert_eq!(verify_chain(&turin_vcek, &task, &tark), Ok(Product::Turin));
        let ext = certs::vcek_extensions(&turin_vcek).unwrap();
        assert!(ext.fmc.is_some(), "Turin VCEK carries fmcSPL");
        assert_eq!(
            ext.hwid.as_ref().map(Vec::len),
            Some(8),
            "Turin hwID is 8 bytes"
        );
        assert!(matches!(
            verify_chain(&milan_vcek, &task, &tark),
            Err(CertError::Chain(_))
        ));
        assert!(matches!(
            verify_chain(&turin_vcek, &mask, &mark),
            Err(CertError::Chain(_))
        ));
        // ASK and ARK from different products.
        assert!(matches!(
            verify_chain(&milan_vcek, &mask, &tark),
            Err(CertError::Chain(_))
        ));
        // Built-in chains find the right product.
        assert_eq!(
            certs::verify_with_builtin(&milan_vcek).unwrap().0,
            Product::Milan
        );
        assert_eq!(
            certs::verify_with_builtin(&turin_vcek).unwrap().0,
            Product::Turin
        );
    }

    #[test]
    fn tampered_and_malformed_certificates_fail_specifically() {
        let der = testdata("vcek_milan.der");
        assert!(matches!(
            load_cert(&der[..der.len() - 10], "VCEK"),
            Err(CertError::Malformed { .. })
        ));
        assert!(matches!(
            load_cert(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "VCEK"
            ),
            Err(CertError::Malformed { .. })
        ));
        assert!(matches!(
            load_chain(&testdata("vcek_milan.der")),
            Err(CertError::Malformed { .. })
        ));
        // A truncated DER length inside PEM (der 0.7's PEM reader never returns on this one).
        let miib = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            load_cert(miib, "VCEK"),
            Err(CertError::Malformed { .. })
        ));
        assert!(matches!(load_chain(miib), Err(CertError::Malformed { .. })));
        let key = b"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
        assert!(matches!(
            certs::load_public_key(key),
            Err(CertError::Malformed { .. })
        ));
        assert!(matches!(
            load_chain(b"garbage"),
            Err(CertError::Malformed { .. })
        ));
        // Flip a byte inside the VCEK's subject public key: the ASK signature no longer holds.
        let vcek = load_cert(&der, "VCEK").unwrap();
        let key_bits = vcek
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .to_vec();
        let pos = der
            .windows(key_bits.len())
            .position(|w| w == key_bits.as_slice())
            .unwrap();
        let mut tampered = der.clone();
        tampered[pos + 20] ^= 1;
        let (ask, ark) = load_chain(&testdata("cert_chain_milan")).unwrap();
        match load_cert(&tampered, "VCEK") {
            Ok(t) => assert!(
                matches!(verify_chain(&t, &ask, &ark), Err(CertError::Chain(m)) if m.contains("not signed by"))
            ),
            Err(e) => assert!(matches!(e, CertError::Malformed { .. })),
        }
    }

    #[test]
    fn certs_table_round_trip_verifies() {
        let (ask, ark) = load_chain(&testdata("cert_chain_milan")).unwrap();
        let vcek = testdata("vcek_milan.der");
        let (ask_der, ark_der) = (ask.to_der().unwrap(), ark.to_der().unwrap());
        let table = build_certs_table(&[
            (CertKind::Vcek, &vcek),
            (CertKind::Ask, &ask_der),
            (CertKind::Ark, &ark_der),
        ]);
        let t = certs::parse_certs_table(&table).unwrap();
        assert_eq!(t.vcek.as_deref(), Some(vcek.as_slice()));
        let v = load_cert(t.vcek.as_ref().unwrap(), "VCEK").unwrap();
        let a = load_cert(t.ask.as_ref().unwrap(), "ASK").unwrap();
        let r = load_cert(t.ark.as_ref().unwrap(), "ARK").unwrap();
        assert_eq!(verify_chain(&v, &a, &r), Ok(Product::Milan));
        // Truncations give table errors, never panics.
        for cut in [0, 10, 24, 30, table.len() - 1] {
            assert!(
                matches!(
                    certs::parse_certs_table(&table[..cut]),
                    Err(CertError::Table(_))
                ),
                "cut {cut}"
            );
        }
    }

    /// A report signed by a test key (as the PSP simulator does), verified with --skip-chain.
    #[test]
    fn simulator_signed_reports_and_policy_checks() {
        let sk = SigningKey::from_slice(&[0x42; 48]).unwrap();
        let signer = Signer {
            key: *sk.verifying_key(),
            extensions: None,
            product: None,
        };
        let sign = |mut raw: [u8; REPORT_LEN]| {
            let sig: Signature = sk.sign(&raw[..report::SIGNED_LEN]);
            let (r, s) = sig.split_bytes();
            raw[0x2a0..0x2a0 + 144].fill(0);
            for i in 0..48 {
                raw[0x2a0 + i] = r[47 - i];
                raw[0x2e8 + i] = s[47 - i];
            }
            raw
        };
        let good = sign(milan_report());
        assert_eq!(
            failures(&check_report(&good, &signer, &Expect::default())),
            Vec::<String>::new()
        );
        // The real VCEK does not accept it.
        assert!(!failures(&check_report(&good, &milan_signer(), &Expect::default())).is_empty());

        let with = |at: usize, bytes: &[u8]| {
            let mut r = milan_report();
            r[at..at + bytes.len()].copy_from_slice(bytes);
            sign(r)
        };
        let debug = with(0x008, &0xb0000u64.to_le_bytes());
        let f = failures(&check_report(&debug, &signer, &Expect::default()));
        assert_eq!(f.len(), 1);
        assert!(f[0].starts_with("debug policy"), "{f:?}");
        let allow = Expect {
            allow_debug: true,
            ..Expect::default()
        };
        assert!(failures(&check_report(&debug, &signer, &allow)).is_empty());

        let f = failures(&check_report(
            &with(0x030, &1u32.to_le_bytes()),
            &signer,
            &Expect::default(),
        ));
        assert!(f.len() == 1 && f[0].starts_with("vmpl"), "{f:?}");
        let f = failures(&check_report(
            &with(0x034, &2u32.to_le_bytes()),
            &signer,
            &Expect::default(),
        ));
        assert!(
            f.len() == 1 && f[0].starts_with("signature algorithm"),
            "{f:?}"
        );
        let f = failures(&check_report(
            &with(0x048, &(1u32 << 2).to_le_bytes()),
            &signer,
            &Expect::default(),
        ));
        assert!(f.len() == 1 && f[0].contains("VLEK"), "{f:?}");
        let rd = Expect {
            report_data: Some(vec![0; 64]),
            host_data: Some(vec![1; 32]),
            ..Expect::default()
        };
        let f = failures(&check_report(&good, &signer, &rd));
        assert_eq!(f.len(), 2, "{f:?}");
        // A Turin-layout report (v3, family 0x1A) maps the TCB bytes differently.
        let mut turin = milan_report();
        turin[0..4].copy_from_slice(&3u32.to_le_bytes());
        turin[0x188] = 0x1a;
        let turin = sign(turin);
        assert_eq!(
            layout(&Report(&turin), &signer, &Expect::default()),
            Product::Turin
        );
    }

    #[test]
    fn expected_value_parsing() {
        assert_eq!(
            expected_bytes("report-data", "0102", 64, false).unwrap()[..3],
            [1, 2, 0]
        );
        assert!(expected_bytes("measurement", "0102", 48, true).is_err());
        assert!(expected_bytes("host-data", &"00".repeat(33), 32, false).is_err());
        assert!(parse_min_tcb("bl=1,xx=2").is_err());
        assert!(parse_min_tcb("snp=300").is_err());
    }
}
