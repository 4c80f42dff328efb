//! The SEV-SNP attestation report (AMD 56860 SNP ABI §7.3, Table 23 "ATTESTATION_REPORT
//! structure"): 1184 (0x4A0) bytes, signed over bytes 0x000..0x29F with ECDSA P-384/SHA-384;
//! the signature's r and s are 72-byte little-endian fields at 0x2A0 and 0x2E8.

use std::fmt::Write as _;

use crate::measure::to_hex;

/// Size of a report.
pub const REPORT_LEN: usize = 0x4A0;
/// End of the signed area.
pub const SIGNED_LEN: usize = 0x2A0;

/// Why a report file was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// Fewer than 1184 bytes.
    Truncated(usize),
    /// More than 1184 bytes.
    Oversized(usize),
    /// Looked like hex text but did not decode.
    BadHex(String),
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::Truncated(n) => {
                write!(f, "report is truncated: {n} bytes, expected {REPORT_LEN}")
            }
            ReportError::Oversized(n) => {
                write!(f, "report is oversized: {n} bytes, expected {REPORT_LEN}")
            }
            ReportError::BadHex(e) => write!(f, "report hex does not decode: {e}"),
        }
    }
}

/// Decodes hex text (whitespace ignored, optional `0x` prefix).
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: Vec<u8> = t.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let s =
                std::str::from_utf8(pair).map_err(|_| format!("non-ASCII at digit {}", i * 2))?;
            u8::from_str_radix(s, 16).map_err(|_| format!("invalid hex {s:?} at digit {}", i * 2))
        })
        .collect()
}

/// A report file's bytes: raw binary (exactly 1184 bytes) or hex text.
pub fn load_report(file: &[u8]) -> Result<[u8; REPORT_LEN], ReportError> {
    let looks_hex = !file.is_empty()
        && file.len() != REPORT_LEN
        && file
            .iter()
            .all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace() || *b == b'x' || *b == b'X');
    let bytes = if looks_hex {
        let text = std::str::from_utf8(file).map_err(|e| ReportError::BadHex(e.to_string()))?;
        decode_hex(text).map_err(ReportError::BadHex)?
    } else {
        file.to_vec()
    };
    match bytes.len() {
        n if n < REPORT_LEN => Err(ReportError::Truncated(n)),
        n if n > REPORT_LEN => Err(ReportError::Oversized(n)),
        _ => {
            let mut r = [0u8; REPORT_LEN];
            r.copy_from_slice(&bytes);
            Ok(r)
        }
    }
}

/// The AMD product a report/VCEK belongs to; it decides the TCB byte layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// Zen 3 (family 0x19 model 0x0x).
    Milan,
    /// Zen 4 (family 0x19 model 0x1x).
    Genoa,
    /// Zen 5 (family 0x1A).
    Turin,
}

impl Product {
    /// The name used by AMD KDS URLs.
    pub fn name(self) -> &'static str {
        match self {
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
            Product::Turin => "Turin",
        }
    }
}

/// A TCB version split into its components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tcb {
    /// Firmware mask ROM / FMC SVN (Turin only).
    pub fmc: Option<u8>,
    /// Boot loader SVN.
    pub bootloader: u8,
    /// PSP OS (TEE) SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
}

impl Tcb {
    /// Splits the 8-byte TCB_VERSION: Milan/Genoa `[0] BL [1] TEE [6] SNP [7] UCODE`,
    /// Turin `[0] FMC [1] BL [2] TEE [3] SNP [7] UCODE`.
    pub fn decode(raw: [u8; 8], product: Product) -> Tcb {
        match product {
            Product::Turin => Tcb {
                fmc: Some(raw[0]),
                bootloader: raw[1],
                tee: raw[2],
                snp: raw[3],
                microcode: raw[7],
            },
            _ => Tcb {
                fmc: None,
                bootloader: raw[0],
                tee: raw[1],
                snp: raw[6],
                microcode: raw[7],
            },
        }
    }
}

impl std::fmt::Display for Tcb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc={fmc} ")?;
        }
        write!(
            f,
            "bl={} tee={} snp={} ucode={}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

/// Read-only view of a 1184-byte report.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a>(pub &'a [u8; REPORT_LEN]);

impl Report<'_> {
    fn u32_at(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[at..at + 4]);
        u32::from_le_bytes(b)
    }
    fn u64_at(&self, at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[at..at + 8]);
        u64::from_le_bytes(b)
    }
    fn bytes(&self, at: usize, len: usize) -> &[u8] {
        &self.0[at..at + len]
    }
    fn tcb_raw(&self, at: usize) -> [u8; 8] {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[at..at + 8]);
        b
    }

    /// Report format version (0x000).
    pub fn version(&self) -> u32 {
        self.u32_at(0x000)
    }
    /// Guest SVN (0x004).
    pub fn guest_svn(&self) -> u32 {
        self.u32_at(0x004)
    }
    /// Guest policy (0x008).
    pub fn policy(&self) -> u64 {
        self.u64_at(0x008)
    }
    /// Family ID from the ID block (0x010).
    pub fn family_id(&self) -> &[u8] {
        self.bytes(0x010, 16)
    }
    /// Image ID from the ID block (0x020).
    pub fn image_id(&self) -> &[u8] {
        self.bytes(0x020, 16)
    }
    /// VMPL of the requester (0x030).
    pub fn vmpl(&self) -> u32 {
        self.u32_at(0x030)
    }
    /// Signature algorithm (0x034): 1 = ECDSA P-384 with SHA-384.
    pub fn signature_algo(&self) -> u32 {
        self.u32_at(0x034)
    }
    /// Current TCB (0x038).
    pub fn current_tcb(&self) -> [u8; 8] {
        self.tcb_raw(0x038)
    }
    /// Platform info (0x040).
    pub fn platform_info(&self) -> u64 {
        self.u64_at(0x040)
    }
    /// Key info flags (0x048): bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 signing key.
    pub fn key_info(&self) -> u32 {
        self.u32_at(0x048)
    }
    /// Signing key: 0 VCEK, 1 VLEK, 7 none.
    pub fn signing_key(&self) -> u32 {
        (self.key_info() >> 2) & 7
    }
    /// Guest-provided report data (0x050).
    pub fn report_data(&self) -> &[u8] {
        self.bytes(0x050, 64)
    }
    /// Launch measurement (0x090).
    pub fn measurement(&self) -> &[u8] {
        self.bytes(0x090, 48)
    }
    /// Host data (0x0C0).
    pub fn host_data(&self) -> &[u8] {
        self.bytes(0x0c0, 32)
    }
    /// ID key digest (0x0E0).
    pub fn id_key_digest(&self) -> &[u8] {
        self.bytes(0x0e0, 48)
    }
    /// Author key digest (0x110).
    pub fn author_key_digest(&self) -> &[u8] {
        self.bytes(0x110, 48)
    }
    /// Report ID (0x140).
    pub fn report_id(&self) -> &[u8] {
        self.bytes(0x140, 32)
    }
    /// Migration agent's report ID (0x160).
    pub fn report_id_ma(&self) -> &[u8] {
        self.bytes(0x160, 32)
    }
    /// Reported TCB (0x180): the TCB the VCEK was derived from.
    pub fn reported_tcb(&self) -> [u8; 8] {
        self.tcb_raw(0x180)
    }
    /// CPUID family, model, stepping (0x188, report version 3 and later).
    pub fn cpuid_fms(&self) -> Option<(u8, u8, u8)> {
        (self.version() >= 3).then(|| (self.0[0x188], self.0[0x189], self.0[0x18a]))
    }
    /// Chip ID (0x1A0).
    pub fn chip_id(&self) -> &[u8] {
        self.bytes(0x1a0, 64)
    }
    /// Committed TCB (0x1E0).
    pub fn committed_tcb(&self) -> [u8; 8] {
        self.tcb_raw(0x1e0)
    }
    /// Current firmware version (build, minor, major) at 0x1E8.
    pub fn current_version(&self) -> (u8, u8, u8) {
        (self.0[0x1e8], self.0[0x1e9], self.0[0x1ea])
    }
    /// Committed firmware version (build, minor, major) at 0x1EC.
    pub fn committed_version(&self) -> (u8, u8, u8) {
        (self.0[0x1ec], self.0[0x1ed], self.0[0x1ee])
    }
    /// Launch TCB (0x1F0).
    pub fn launch_tcb(&self) -> [u8; 8] {
        self.tcb_raw(0x1f0)
    }
    /// The signed bytes 0x000..0x29F.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.0[..SIGNED_LEN]
    }
    /// Signature r (72 bytes little-endian).
    pub fn sig_r(&self) -> &[u8] {
        self.bytes(0x2a0, 72)
    }
    /// Signature s (72 bytes little-endian).
    pub fn sig_s(&self) -> &[u8] {
        self.bytes(0x2e8, 72)
    }

    /// The product from the CPUID fields (v3+), if the report carries them.
    pub fn product_from_cpuid(&self) -> Option<Product> {
        let (fam, model, _) = self.cpuid_fms()?;
        match (fam, model >> 4) {
            (0x19, 0x0) => Some(Product::Milan),
            (0x19, 0x1) | (0x19, 0xa) => Some(Product::Genoa),
            (0x1a, _) => Some(Product::Turin),
            _ => None,
        }
    }

    /// A readable multi-line dump of every field.
    pub fn summary(&self, product: Product) -> String {
        let mut s = String::new();
        let p = self.policy();
        let flag = |bit: u32| if p >> bit & 1 == 1 { "yes" } else { "no" };
        let tcb = |raw: [u8; 8]| format!("{} (raw {})", Tcb::decode(raw, product), to_hex(&raw));
        let ver = |(b, mi, ma): (u8, u8, u8)| format!("{ma}.{mi}.{b}");
        let key = match self.signing_key() {
            0 => "VCEK",
            1 => "VLEK",
            7 => "none",
            _ => "reserved",
        };
        let lines: Vec<(&str, String)> = vec![
            ("version", self.version().to_string()),
            ("guest_svn", self.guest_svn().to_string()),
            (
                "policy",
                format!(
                    "{p:#x} (abi {}.{}, smt {}, migrate_ma {}, debug {}, single_socket {})",
                    p >> 8 & 0xff,
                    p & 0xff,
                    flag(16),
                    flag(18),
                    flag(19),
                    flag(20)
                ),
            ),
            ("family_id", to_hex(self.family_id())),
            ("image_id", to_hex(self.image_id())),
            ("vmpl", self.vmpl().to_string()),
            (
                "signature_algo",
                format!(
                    "{} ({})",
                    self.signature_algo(),
                    if self.signature_algo() == 1 {
                        "ECDSA P-384 SHA-384"
                    } else {
                        "unknown"
                    }
                ),
            ),
            ("current_tcb", tcb(self.current_tcb())),
            ("platform_info", format!("{:#x}", self.platform_info())),
            (
                "key_info",
                format!(
                    "{:#x} (author_key_en {}, mask_chip_key {}, signing key {key})",
                    self.key_info(),
                    self.key_info() & 1,
                    self.key_info() >> 1 & 1
                ),
            ),
            ("report_data", to_hex(self.report_data())),
            ("measurement", to_hex(self.measurement())),
            ("host_data", to_hex(self.host_data())),
            ("id_key_digest", to_hex(self.id_key_digest())),
            ("author_key_digest", to_hex(self.author_key_digest())),
            ("report_id", to_hex(self.report_id())),
            ("report_id_ma", to_hex(self.report_id_ma())),
            ("reported_tcb", tcb(self.reported_tcb())),
            (
                "cpuid fam/mod/step",
                match self.cpuid_fms() {
                    Some((f, m, st)) => format!("{f:#x}/{m:#x}/{st:#x}"),
                    None => "(not in report version < 3)".to_string(),
                },
            ),
            ("chip_id", to_hex(self.chip_id())),
            ("committed_tcb", tcb(self.committed_tcb())),
            ("current_version", ver(self.current_version())),
            ("committed_version", ver(self.committed_version())),
            ("launch_tcb", tcb(self.launch_tcb())),
            ("signature r", to_hex(&self.sig_r()[..48])),
            ("signature s", to_hex(&self.sig_s()[..48])),
        ];
        for (name, value) in lines {
            let _ = writeln!(s, "  {name:<20} {value}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_raw_and_hex_and_rejects_bad_sizes() {
        let raw: Vec<u8> = (0..REPORT_LEN).map(|i| i as u8).collect();
        assert_eq!(load_report(&raw).unwrap().to_vec(), raw);
        let hex = to_hex(&raw);
        assert_eq!(load_report(hex.as_bytes()).unwrap().to_vec(), raw);
        let wrapped: String = hex
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(load_report(wrapped.as_bytes()).unwrap().to_vec(), raw);
        assert_eq!(load_report(&raw[..100]), Err(ReportError::Truncated(100)));
        assert_eq!(
            load_report(&[raw.clone(), vec![0]].concat()),
            Err(ReportError::Oversized(REPORT_LEN + 1))
        );
        assert_eq!(
            load_report(&hex.as_bytes()[..200]),
            Err(ReportError::Truncated(100))
        );
        assert!(matches!(load_report(b"abc"), Err(ReportError::BadHex(_))));
        assert_eq!(load_report(b""), Err(ReportError::Truncated(0)));
    }

    #[test]
    fn tcb_layouts() {
        let raw = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            Tcb::decode(raw, Product::Milan),
            Tcb {
                fmc: None,
                bootloader: 1,
                tee: 2,
                snp: 7,
                microcode: 8
            }
        );
        assert_eq!(
            Tcb::decode(raw, Product::Turin),
            Tcb {
                fmc: Some(1),
                bootloader: 2,
                tee: 3,
                snp: 4,
                microcode: 8
            }
        );
    }
}
