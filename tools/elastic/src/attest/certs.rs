//! AMD SEV-SNP certificates: ARK → ASK → VCEK (AMD 57230 "Versioned Chip Endorsement Key
//! (VCEK) Certificate and KDS Interface Specification"): the ARK is a self-signed RSA-4096
//! root, the ASK is signed by it and the VCEK (EC P-384) by the ASK, all with RSASSA-PSS
//! SHA-384 (salt 48). The VCEK carries its TCB in extensions 1.3.6.1.4.1.3704.1.3.{1 BL,
//! 2 TEE, 3 SNP, 8 UCODE, 9 FMC} and the chip in hwID 1.3.6.1.4.1.3704.1.4.
//!
//! Also decodes the extended-report certificate table (GHCB 56421 §4.1.8.2
//! "SNP Extended Guest Request"): 24-byte entries {GUID, u32 offset, u32 length} ending with
//! an all-zero entry, offsets relative to the table start.

use std::time::{SystemTime, UNIX_EPOCH};

use p384::ecdsa::VerifyingKey;
use p384::pkcs8::DecodePublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::signature::Verifier;
use x509_cert::Certificate;
use x509_cert::der::asn1::{Ia5StringRef, ObjectIdentifier, OctetString};
use x509_cert::der::{Decode, Encode};

use super::report::Product;

const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
const OID_BL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const OID_TEE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const OID_SNP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const OID_UCODE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const OID_FMC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
const OID_HWID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// AMD's published roots (ARK) and intermediates (ASK) per product, as served by KDS
/// `/vcek/v1/{product}/cert_chain`.
const BUILTIN: [(Product, &str, &str); 3] = [
    (
        Product::Milan,
        include_str!("amd/milan_ark.pem"),
        include_str!("amd/milan_ask.pem"),
    ),
    (
        Product::Genoa,
        include_str!("amd/genoa_ark.pem"),
        include_str!("amd/genoa_ask.pem"),
    ),
    (
        Product::Turin,
        include_str!("amd/turin_ark.pem"),
        include_str!("amd/turin_ask.pem"),
    ),
];

/// Certificate-table GUIDs (text form); entries are matched in RFC 4122 byte order and in
/// the mixed-endian EFI order.
const TABLE_GUIDS: [(&str, CertKind); 4] = [
    ("c0b406a4-a803-4952-9743-3fb6014cd0ae", CertKind::Ark),
    ("4ab7b379-bbac-4fe4-a02f-05aef327c782", CertKind::Ask),
    ("63da758d-e664-4564-adc5-f4b93be8accd", CertKind::Vcek),
    ("a8074bc2-a25a-483e-aae6-39c045a0b8a1", CertKind::Vlek),
];

/// Which certificate a table entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// AMD root key.
    Ark,
    /// AMD SEV key (intermediate).
    Ask,
    /// Versioned chip endorsement key.
    Vcek,
    /// Versioned loaded endorsement key.
    Vlek,
}

/// Certificate and chain errors; each names what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertError {
    /// A certificate or key did not parse.
    Malformed {
        /// Which input.
        what: String,
        /// Parser message.
        reason: String,
    },
    /// The chain does not link or a signature in it is invalid.
    Chain(String),
    /// The ARK is not one of AMD's published roots.
    UnknownRoot(String),
    /// A certificate is outside its validity period.
    Validity(String),
    /// The certificate table is malformed.
    Table(String),
}

impl std::fmt::Display for CertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertError::Malformed { what, reason } => write!(f, "malformed {what}: {reason}"),
            CertError::Chain(m) => write!(f, "certificate chain error: {m}"),
            CertError::UnknownRoot(m) => write!(f, "untrusted root: {m}"),
            CertError::Validity(m) => write!(f, "certificate validity: {m}"),
            CertError::Table(m) => write!(f, "certificate table: {m}"),
        }
    }
}

fn malformed(what: &str, reason: impl std::fmt::Display) -> CertError {
    CertError::Malformed {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Decodes one PEM block (whole-buffer decode; see the note on `pem-rfc7468` in Cargo.toml).
fn pem_to_der(bytes: &[u8], label: &str, what: &str) -> Result<Vec<u8>, CertError> {
    let (found, der) =
        pem_rfc7468::decode_vec(bytes).map_err(|e| malformed(what, format!("PEM: {e}")))?;
    if found != label {
        return Err(malformed(
            what,
            format!("PEM label is {found:?}, expected {label:?}"),
        ));
    }
    Ok(der)
}

/// Parses one certificate from DER or PEM bytes.
pub fn load_cert(bytes: &[u8], what: &str) -> Result<Certificate, CertError> {
    if bytes.first() == Some(&0x30) {
        Certificate::from_der(bytes).map_err(|e| malformed(what, e))
    } else {
        let der = pem_to_der(trim_ascii(bytes), "CERTIFICATE", what)?;
        Certificate::from_der(&der).map_err(|e| malformed(what, e))
    }
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

/// Splits concatenated PEM certificates into blocks.
fn pem_blocks(bytes: &[u8]) -> Vec<&[u8]> {
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(pos) = rest.windows(END.len()).position(|w| w == END) {
        let (block, tail) = rest.split_at(pos + END.len());
        out.push(trim_ascii(block));
        rest = tail;
    }
    out
}

fn self_issued(c: &Certificate) -> bool {
    c.tbs_certificate.subject == c.tbs_certificate.issuer
}

/// Splits a chain file (PEM certificates, any order) into (ASK, ARK).
pub fn load_chain(bytes: &[u8]) -> Result<(Certificate, Certificate), CertError> {
    let certs = if bytes.first() == Some(&0x30) {
        vec![load_cert(bytes, "chain certificate")?]
    } else {
        let blocks = pem_blocks(bytes);
        if blocks.is_empty() {
            return Err(malformed("certificate chain", "no PEM certificate found"));
        }
        blocks
            .into_iter()
            .map(|b| load_cert(b, "certificate chain"))
            .collect::<Result<Vec<_>, _>>()?
    };
    let (roots, others): (Vec<_>, Vec<_>) = certs.into_iter().partition(self_issued);
    match (roots.as_slice(), others.as_slice()) {
        ([ark], [ask]) => Ok((ask.clone(), ark.clone())),
        _ => Err(malformed(
            "certificate chain",
            format!(
                "expected one ASK and one self-issued ARK, found {} self-issued and {} other certificates",
                roots.len(),
                others.len()
            ),
        )),
    }
}

fn subject(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

fn rsa_key(c: &Certificate) -> Result<rsa::RsaPublicKey, CertError> {
    let bits = c
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    rsa::RsaPublicKey::from_pkcs1_der(bits)
        .map_err(|e| malformed(&format!("RSA key of {}", subject(c)), e))
}

/// Checks that `issuer` signed `cert` with RSASSA-PSS SHA-384.
pub fn verify_signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), CertError> {
    let (cs, is) = (subject(cert), subject(issuer));
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(CertError::Chain(format!(
            "{cs} is issued by {}, not by {is}",
            cert.tbs_certificate.issuer
        )));
    }
    if cert.signature_algorithm.oid != RSASSA_PSS {
        return Err(CertError::Chain(format!(
            "{cs} uses signature algorithm {}, expected RSASSA-PSS",
            cert.signature_algorithm.oid
        )));
    }
    let key = rsa::pss::VerifyingKey::<sha2::Sha384>::new(rsa_key(issuer)?);
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| malformed(&cs, e))?;
    let sig = rsa::pss::Signature::try_from(cert.signature.raw_bytes())
        .map_err(|e| CertError::Chain(format!("signature of {cs}: {e}")))?;
    key.verify(&tbs, &sig).map_err(|_| {
        CertError::Chain(format!(
            "{cs} is not signed by {is} (RSASSA-PSS SHA-384 check failed)"
        ))
    })
}

/// Checks the validity period of `cert` against the current time.
pub fn check_validity(cert: &Certificate) -> Result<(), CertError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let v = &cert.tbs_certificate.validity;
    if now < v.not_before.to_unix_duration() {
        return Err(CertError::Validity(format!(
            "{} is not valid before {}",
            subject(cert),
            v.not_before
        )));
    }
    if now > v.not_after.to_unix_duration() {
        return Err(CertError::Validity(format!(
            "{} expired at {}",
            subject(cert),
            v.not_after
        )));
    }
    Ok(())
}

fn builtin(product: Product) -> Result<(Certificate, Certificate), CertError> {
    let (_, ark, ask) = BUILTIN
        .iter()
        .find(|(p, ..)| *p == product)
        .ok_or_else(|| malformed("built-in chain", "missing"))?;
    Ok((
        load_cert(ask.as_bytes(), "built-in ASK")?,
        load_cert(ark.as_bytes(), "built-in ARK")?,
    ))
}

/// Which AMD product's published ARK `ark` is (same key and name), if any.
pub fn pinned_product(ark: &Certificate) -> Option<Product> {
    let spki = ark.tbs_certificate.subject_public_key_info.to_der().ok()?;
    BUILTIN.iter().find_map(|(p, pem, _)| {
        let known = load_cert(pem.as_bytes(), "built-in ARK").ok()?;
        let known_spki = known
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .ok()?;
        (known_spki == spki && known.tbs_certificate.subject == ark.tbs_certificate.subject)
            .then_some(*p)
    })
}

/// Verifies ARK (self-signed, pinned to AMD's roots) → ASK → VCEK and returns the product.
pub fn verify_chain(
    vcek: &Certificate,
    ask: &Certificate,
    ark: &Certificate,
) -> Result<Product, CertError> {
    verify_signed_by(ark, ark)
        .map_err(|e| CertError::Chain(format!("ARK is not self-signed: {e}")))?;
    let product = pinned_product(ark).ok_or_else(|| {
        CertError::UnknownRoot(format!(
            "{} is not one of AMD's published ARKs (Milan, Genoa, Turin)",
            subject(ark)
        ))
    })?;
    verify_signed_by(ask, ark)?;
    verify_signed_by(vcek, ask)?;
    for c in [ark, ask, vcek] {
        check_validity(c)?;
    }
    Ok(product)
}

/// Verifies the VCEK against AMD's built-in chains when no chain is given.
pub fn verify_with_builtin(
    vcek: &Certificate,
) -> Result<(Product, Certificate, Certificate), CertError> {
    let mut last = None;
    for (p, ..) in BUILTIN {
        let (ask, ark) = builtin(p)?;
        match verify_chain(vcek, &ask, &ark) {
            Ok(product) => return Ok((product, ask, ark)),
            Err(e) => last = Some(e),
        }
    }
    Err(CertError::Chain(format!(
        "VCEK {} is not signed by any built-in AMD ASK (Milan, Genoa, Turin){}",
        subject(vcek),
        last.map(|e| format!("; last error: {e}"))
            .unwrap_or_default()
    )))
}

/// The P-384 key of a VCEK certificate.
pub fn vcek_key(vcek: &Certificate) -> Result<VerifyingKey, CertError> {
    let spki = vcek
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| malformed("VCEK key", e))?;
    VerifyingKey::from_public_key_der(&spki)
        .map_err(|e| malformed("VCEK key (expected EC P-384)", e))
}

/// A P-384 public key given directly (SubjectPublicKeyInfo PEM or DER), e.g. a simulator's.
pub fn load_public_key(bytes: &[u8]) -> Result<VerifyingKey, CertError> {
    if bytes.first() == Some(&0x30) {
        VerifyingKey::from_public_key_der(bytes).map_err(|e| malformed("P-384 public key", e))
    } else {
        let der = pem_to_der(trim_ascii(bytes), "PUBLIC KEY", "P-384 public key")?;
        VerifyingKey::from_public_key_der(&der).map_err(|e| malformed("P-384 public key", e))
    }
}

/// The AMD extensions of a VCEK.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VcekExtensions {
    /// Product name (e.g. `Milan-B0`).
    pub product_name: Option<String>,
    /// Boot loader SPL.
    pub bootloader: Option<u8>,
    /// TEE SPL.
    pub tee: Option<u8>,
    /// SNP SPL.
    pub snp: Option<u8>,
    /// Microcode SPL.
    pub microcode: Option<u8>,
    /// FMC SPL (Turin).
    pub fmc: Option<u8>,
    /// hwID (chip ID; 64 bytes, Turin 8).
    pub hwid: Option<Vec<u8>>,
}

fn ext_u8(oid: &ObjectIdentifier, value: &[u8]) -> Result<u8, CertError> {
    let what = format!("VCEK extension {oid}");
    match u32::from_der(value) {
        Ok(v) => u8::try_from(v).map_err(|_| malformed(&what, format!("SPL {v} exceeds 255"))),
        Err(e) => match value {
            [b] => Ok(*b),
            _ => Err(malformed(&what, e)),
        },
    }
}

/// Reads the AMD TCB and hwID extensions of a VCEK.
pub fn vcek_extensions(vcek: &Certificate) -> Result<VcekExtensions, CertError> {
    let mut out = VcekExtensions::default();
    for ext in vcek.tbs_certificate.extensions.iter().flatten() {
        let v = ext.extn_value.as_bytes();
        let id = ext.extn_id;
        if id == OID_BL {
            out.bootloader = Some(ext_u8(&id, v)?);
        } else if id == OID_TEE {
            out.tee = Some(ext_u8(&id, v)?);
        } else if id == OID_SNP {
            out.snp = Some(ext_u8(&id, v)?);
        } else if id == OID_UCODE {
            out.microcode = Some(ext_u8(&id, v)?);
        } else if id == OID_FMC {
            out.fmc = Some(ext_u8(&id, v)?);
        } else if id == OID_HWID {
            out.hwid = Some(match OctetString::from_der(v) {
                Ok(o) => o.as_bytes().to_vec(),
                Err(_) => v.to_vec(),
            });
        } else if id == OID_PRODUCT_NAME {
            out.product_name = Ia5StringRef::from_der(v).ok().map(|s| s.to_string());
        }
    }
    Ok(out)
}

fn guid_forms(text: &str) -> Option<([u8; 16], [u8; 16])> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let rfc: Vec<u8> = super::report::decode_hex(&hex).ok()?;
    let rfc: [u8; 16] = rfc.try_into().ok()?;
    let mut efi = rfc;
    efi[0..4].reverse();
    efi[4..6].reverse();
    efi[6..8].reverse();
    Some((rfc, efi))
}

/// Certificates found in an extended-report certificate table.
#[derive(Debug, Clone, Default)]
pub struct CertsTable {
    /// VCEK bytes, if present.
    pub vcek: Option<Vec<u8>>,
    /// VLEK bytes, if present.
    pub vlek: Option<Vec<u8>>,
    /// ASK bytes, if present.
    pub ask: Option<Vec<u8>>,
    /// ARK bytes, if present.
    pub ark: Option<Vec<u8>>,
}

/// Decodes a certificate table (entries + blob); unknown GUIDs (e.g. CRL) are skipped.
pub fn parse_certs_table(bytes: &[u8]) -> Result<CertsTable, CertError> {
    let mut out = CertsTable::default();
    let mut at = 0usize;
    loop {
        let entry = bytes.get(at..at + 24).ok_or_else(|| {
            CertError::Table(format!("no terminating all-zero entry before byte {at}"))
        })?;
        if entry.iter().all(|b| *b == 0) {
            break;
        }
        let guid = &entry[..16];
        let off = u32::from_le_bytes([entry[16], entry[17], entry[18], entry[19]]) as usize;
        let len = u32::from_le_bytes([entry[20], entry[21], entry[22], entry[23]]) as usize;
        let data = off
            .checked_add(len)
            .and_then(|end| bytes.get(off..end))
            .ok_or_else(|| {
                CertError::Table(format!(
                    "entry {} (offset {off}, length {len}) exceeds the {} table bytes",
                    at / 24,
                    bytes.len()
                ))
            })?;
        for (text, kind) in TABLE_GUIDS {
            let Some((rfc, efi)) = guid_forms(text) else {
                continue;
            };
            if guid == rfc || guid == efi {
                let slot = match kind {
                    CertKind::Ark => &mut out.ark,
                    CertKind::Ask => &mut out.ask,
                    CertKind::Vcek => &mut out.vcek,
                    CertKind::Vlek => &mut out.vlek,
                };
                *slot = Some(data.to_vec());
            }
        }
        at += 24;
    }
    Ok(out)
}

/// Builds a certificate table (RFC 4122 GUID byte order), for tests.
#[cfg(test)]
pub fn build_certs_table(entries: &[(CertKind, &[u8])]) -> Vec<u8> {
    let header = (entries.len() + 1) * 24;
    let mut table = Vec::new();
    let mut blob = Vec::new();
    for (kind, data) in entries {
        let text = TABLE_GUIDS
            .iter()
            .find(|(_, k)| k == kind)
            .map(|(t, _)| *t)
            .unwrap_or_default();
        let (rfc, _) = guid_forms(text).unwrap_or_default();
        table.extend_from_slice(&rfc);
        table.extend_from_slice(&((header + blob.len()) as u32).to_le_bytes());
        table.extend_from_slice(&(data.len() as u32).to_le_bytes());
        blob.extend_from_slice(data);
    }
    table.extend_from_slice(&[0u8; 24]);
    table.extend_from_slice(&blob);
    table
}
