//! The 1184-byte SEV-SNP attestation report (AMD 56860 §7.3, Table 23 "ATTESTATION_REPORT
//! Structure"; TCB layouts Tables 3/4; policy Table 9; platform info Table 24; signature Table
//! 139/140 "ECDSA Signature Format").
//!
//! | off | size | field | off | size | field |
//! |---|---|---|---|---|---|
//! | 0x000 | 4 | VERSION (2, 3, 5) | 0x140 | 32 | REPORT_ID |
//! | 0x004 | 4 | GUEST_SVN | 0x160 | 32 | REPORT_ID_MA |
//! | 0x008 | 8 | POLICY | 0x180 | 8 | REPORTED_TCB |
//! | 0x010 | 16 | FAMILY_ID | 0x188 | 3 | CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (v3+) |
//! | 0x020 | 16 | IMAGE_ID | 0x1A0 | 64 | CHIP_ID |
//! | 0x030 | 4 | VMPL | 0x1E0 | 8 | COMMITTED_TCB |
//! | 0x034 | 4 | SIGNATURE_ALGO | 0x1E8 | 4 | CURRENT build, minor, major, rsvd |
//! | 0x038 | 8 | CURRENT_TCB | 0x1EC | 4 | COMMITTED build, minor, major, rsvd |
//! | 0x040 | 8 | PLATFORM_INFO | 0x1F0 | 8 | LAUNCH_TCB |
//! | 0x048 | 4 | AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY | 0x1F8 | 8 | LAUNCH_MIT_VECTOR (v5) |
//! | 0x050 | 64 | REPORT_DATA | 0x200 | 8 | CURRENT_MIT_VECTOR (v5) |
//! | 0x090 | 48 | MEASUREMENT | 0x2A0 | 512 | SIGNATURE (r @0x2A0, s @0x2E8, 72 B LE each) |
//! | 0x0C0 | 32 | HOST_DATA | | | |
//! | 0x0E0 | 48 | ID_KEY_DIGEST | | | |
//! | 0x110 | 48 | AUTHOR_KEY_DIGEST | | | |
//!
//! The signature (ECDSA P-384 with SHA-384) covers bytes 0x000..0x2A0 ([`AttestationReport::signed_bytes`]).
//!
//! # Strictness (decided here)
//! The report is untrusted until its signature is verified, and all its bytes are signed, so a
//! parse must never panic and must not guess. **Errors** (nothing returned): wrong size, and a
//! VERSION other than 2, 3 or 5 (a layout we do not know could move fields a verifier relies on).
//! **Warnings** ([`AttestationReport::warnings`]): reserved bytes or bits that are not zero,
//! policy bit 17 clear, unknown SIGNING_KEY / SIGNATURE_ALGO values, signature scalars wider than
//! 48 bytes, an unknown CPU family. Reserved non-zero values are seen in the wild (platform-info
//! bits on newer firmware) and are covered by the signature, so rejecting them would only break
//! attestation on newer firmware; a verifier that wants strictness checks `warnings().is_empty()`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::mem::offset_of;

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of a report.
pub const REPORT_SIZE: usize = 0x4A0;
/// Length of the signed prefix.
pub const SIGNED_LEN: usize = 0x2A0;
/// CPUID family of Milan and Genoa (Zen 3/4).
pub const FAMILY_MILAN_GENOA: u8 = 0x19;
/// CPUID family of Turin (Zen 5).
pub const FAMILY_TURIN: u8 = 0x1A;

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct RawReport {
    version: U32,
    guest_svn: U32,
    policy: U64,
    family_id: [u8; 16],
    image_id: [u8; 16],
    vmpl: U32,
    signature_algo: U32,
    current_tcb: [u8; 8],
    platform_info: U64,
    key_info: U32,
    reserved_04c: [u8; 4],
    report_data: [u8; 64],
    measurement: [u8; 48],
    host_data: [u8; 32],
    id_key_digest: [u8; 48],
    author_key_digest: [u8; 48],
    report_id: [u8; 32],
    report_id_ma: [u8; 32],
    reported_tcb: [u8; 8],
    cpuid_fam_id: u8,
    cpuid_mod_id: u8,
    cpuid_step: u8,
    reserved_18b: [u8; 21],
    chip_id: [u8; 64],
    committed_tcb: [u8; 8],
    current_version: [u8; 4],
    committed_version: [u8; 4],
    launch_tcb: [u8; 8],
    launch_mit_vector: U64,
    current_mit_vector: U64,
    reserved_208: [u8; 0x98],
    sig_r: [u8; 72],
    sig_s: [u8; 72],
    sig_reserved: [u8; 0x170],
}

const _: () = {
    assert!(size_of::<RawReport>() == REPORT_SIZE);
    assert!(offset_of!(RawReport, policy) == 0x008);
    assert!(offset_of!(RawReport, vmpl) == 0x030);
    assert!(offset_of!(RawReport, current_tcb) == 0x038);
    assert!(offset_of!(RawReport, platform_info) == 0x040);
    assert!(offset_of!(RawReport, key_info) == 0x048);
    assert!(offset_of!(RawReport, report_data) == 0x050);
    assert!(offset_of!(RawReport, measurement) == 0x090);
    assert!(offset_of!(RawReport, host_data) == 0x0C0);
    assert!(offset_of!(RawReport, id_key_digest) == 0x0E0);
    assert!(offset_of!(RawReport, author_key_digest) == 0x110);
    assert!(offset_of!(RawReport, report_id) == 0x140);
    assert!(offset_of!(RawReport, report_id_ma) == 0x160);
    assert!(offset_of!(RawReport, reported_tcb) == 0x180);
    assert!(offset_of!(RawReport, cpuid_fam_id) == 0x188);
    assert!(offset_of!(RawReport, chip_id) == 0x1A0);
    assert!(offset_of!(RawReport, committed_tcb) == 0x1E0);
    assert!(offset_of!(RawReport, current_version) == 0x1E8);
    assert!(offset_of!(RawReport, committed_version) == 0x1EC);
    assert!(offset_of!(RawReport, launch_tcb) == 0x1F0);
    assert!(offset_of!(RawReport, launch_mit_vector) == 0x1F8);
    assert!(offset_of!(RawReport, current_mit_vector) == 0x200);
    assert!(offset_of!(RawReport, reserved_208) == 0x208);
    assert!(offset_of!(RawReport, sig_r) == SIGNED_LEN);
    assert!(offset_of!(RawReport, sig_s) == 0x2E8);
    assert!(offset_of!(RawReport, sig_reserved) == 0x330);
};

/// How the 8 TCB bytes are laid out (AMD 56860 Table 3 vs Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcbLayout {
    /// Milan/Genoa (family 0x19): `[0]` bootloader, `[1]` TEE, `[2..6]` reserved, `[6]` SNP, `[7]` microcode.
    MilanGenoa,
    /// Turin (family 0x1A): `[0]` FMC, `[1]` bootloader, `[2]` TEE, `[3]` SNP, `[4..7]` reserved,
    /// `[7]` microcode.
    Turin,
}

/// A decoded TCB_VERSION.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcbVersion {
    /// The 8 raw bytes (little-endian u64 on the wire).
    pub raw: [u8; 8],
    /// Layout used to decode.
    pub layout: TcbLayout,
    /// FMC SPL (Turin only).
    pub fmc: Option<u8>,
    /// PSP bootloader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Lowest microcode patch level of all cores.
    pub microcode: u8,
}

impl TcbVersion {
    /// Decodes `raw` with `layout`.
    pub fn decode(raw: [u8; 8], layout: TcbLayout) -> Self {
        let [b0, b1, b2, b3, _, _, b6, b7] = raw;
        match layout {
            TcbLayout::MilanGenoa => Self {
                raw,
                layout,
                fmc: None,
                bootloader: b0,
                tee: b1,
                snp: b6,
                microcode: b7,
            },
            TcbLayout::Turin => Self {
                raw,
                layout,
                fmc: Some(b0),
                bootloader: b1,
                tee: b2,
                snp: b3,
                microcode: b7,
            },
        }
    }

    /// The TCB as the little-endian u64 used in MSG_KEY_REQ and KDS URLs.
    pub fn as_u64(&self) -> u64 {
        u64::from_le_bytes(self.raw)
    }

    /// True if the layout's reserved bytes are not zero.
    pub fn reserved_nonzero(&self) -> bool {
        let r = match self.layout {
            TcbLayout::MilanGenoa => &self.raw[2..6],
            TcbLayout::Turin => &self.raw[4..7],
        };
        r.iter().any(|&b| b != 0)
    }
}

impl fmt::Display for TcbVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc={fmc} ")?;
        }
        write!(
            f,
            "bootloader={} tee={} snp={} microcode={} (raw {:#018x})",
            self.bootloader,
            self.tee,
            self.snp,
            self.microcode,
            self.as_u64()
        )
    }
}

/// Guest policy (AMD 56860 Table 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestPolicy(pub u64);

impl GuestPolicy {
    /// Bit 16: SMT allowed.
    pub const SMT: u64 = 1 << 16;
    /// Bit 17: reserved, must be one.
    pub const RESERVED_MBO: u64 = 1 << 17;
    /// Bit 18: migration agent allowed.
    pub const MIGRATE_MA: u64 = 1 << 18;
    /// Bit 19: debugging allowed (a verifier must normally refuse this).
    pub const DEBUG: u64 = 1 << 19;
    /// Bit 20: single socket only.
    pub const SINGLE_SOCKET: u64 = 1 << 20;
    /// Bit 21: CXL allowed.
    pub const CXL_ALLOW: u64 = 1 << 21;
    /// Bit 22: require AES-256-XTS memory encryption.
    pub const MEM_AES_256_XTS: u64 = 1 << 22;
    /// Bit 23: require RAPL disabled.
    pub const RAPL_DIS: u64 = 1 << 23;
    /// Bit 24: require ciphertext hiding.
    pub const CIPHERTEXT_HIDING: u64 = 1 << 24;
    /// Bit 25: page swap disabled.
    pub const PAGE_SWAP_DISABLE: u64 = 1 << 25;
    /// All bits this parser knows (ABI version bytes + flags 16..=25).
    pub const KNOWN: u64 = (1 << 26) - 1;

    const FLAGS: [(u64, &'static str); 10] = [
        (Self::SMT, "SMT"),
        (Self::RESERVED_MBO, "RESERVED_MBO"),
        (Self::MIGRATE_MA, "MIGRATE_MA"),
        (Self::DEBUG, "DEBUG"),
        (Self::SINGLE_SOCKET, "SINGLE_SOCKET"),
        (Self::CXL_ALLOW, "CXL_ALLOW"),
        (Self::MEM_AES_256_XTS, "MEM_AES_256_XTS"),
        (Self::RAPL_DIS, "RAPL_DIS"),
        (Self::CIPHERTEXT_HIDING, "CIPHERTEXT_HIDING"),
        (Self::PAGE_SWAP_DISABLE, "PAGE_SWAP_DISABLE"),
    ];

    /// Minimum ABI minor version.
    pub fn abi_minor(&self) -> u8 {
        self.0 as u8
    }
    /// Minimum ABI major version.
    pub fn abi_major(&self) -> u8 {
        (self.0 >> 8) as u8
    }
    /// True if `flag` (one of the constants) is set.
    pub fn has(&self, flag: u64) -> bool {
        self.0 & flag == flag
    }
    /// True if the DEBUG bit is set.
    pub fn debug(&self) -> bool {
        self.has(Self::DEBUG)
    }
    /// True if SMT is allowed.
    pub fn smt_allowed(&self) -> bool {
        self.has(Self::SMT)
    }
    /// True if a migration agent is allowed.
    pub fn migrate_ma(&self) -> bool {
        self.has(Self::MIGRATE_MA)
    }
    /// True if the guest may only run on one socket.
    pub fn single_socket(&self) -> bool {
        self.has(Self::SINGLE_SOCKET)
    }
}

impl fmt::Display for GuestPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x} (abi>={}.{}",
            self.0,
            self.abi_major(),
            self.abi_minor()
        )?;
        for (bit, name) in Self::FLAGS {
            if self.has(bit) {
                write!(f, " {name}")?;
            }
        }
        let unknown = self.0 & !Self::KNOWN;
        if unknown != 0 {
            write!(f, " unknown={unknown:#x}")?;
        }
        f.write_str(")")
    }
}

/// PLATFORM_INFO (AMD 56860 Table 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformInfo(pub u64);

impl PlatformInfo {
    /// Bit 0: SMT enabled.
    pub const SMT_EN: u64 = 1 << 0;
    /// Bit 1: TSME enabled.
    pub const TSME_EN: u64 = 1 << 1;
    /// Bit 2: ECC memory.
    pub const ECC_EN: u64 = 1 << 2;
    /// Bit 3: RAPL disabled.
    pub const RAPL_DIS: u64 = 1 << 3;
    /// Bit 4: ciphertext hiding enabled for DRAM.
    pub const CIPHERTEXT_HIDING_EN: u64 = 1 << 4;
    /// Bit 5: alias check complete (CVE-2024-21944 mitigation).
    pub const ALIAS_CHECK_COMPLETE: u64 = 1 << 5;
    /// Bit 7: SEV-TIO enabled.
    pub const TIO_EN: u64 = 1 << 7;
    /// Bits this parser knows.
    pub const KNOWN: u64 = 0b1011_1111;

    const FLAGS: [(u64, &'static str); 7] = [
        (Self::SMT_EN, "SMT_EN"),
        (Self::TSME_EN, "TSME_EN"),
        (Self::ECC_EN, "ECC_EN"),
        (Self::RAPL_DIS, "RAPL_DIS"),
        (Self::CIPHERTEXT_HIDING_EN, "CIPHERTEXT_HIDING_EN"),
        (Self::ALIAS_CHECK_COMPLETE, "ALIAS_CHECK_COMPLETE"),
        (Self::TIO_EN, "TIO_EN"),
    ];

    /// True if `flag` (one of the constants) is set.
    pub fn has(&self, flag: u64) -> bool {
        self.0 & flag == flag
    }
}

impl fmt::Display for PlatformInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x} (", self.0)?;
        let mut first = true;
        for (bit, name) in Self::FLAGS {
            if self.has(bit) {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let unknown = self.0 & !Self::KNOWN;
        if unknown != 0 {
            write!(f, "{}unknown={unknown:#x}", if first { "" } else { " " })?;
        }
        f.write_str(")")
    }
}

/// SIGNING_KEY (bits 4:2 at 0x48).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKey {
    /// 0: VCEK.
    Vcek,
    /// 1: VLEK.
    Vlek,
    /// 7: no key (unsigned report).
    None,
    /// 2..=6: reserved.
    Reserved(u8),
}

/// The key-information word at 0x48.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// Raw 32-bit value.
    pub raw: u32,
    /// Bit 0: AUTHOR_KEY_EN (AUTHOR_KEY_DIGEST is present).
    pub author_key_en: bool,
    /// Bit 1: MASK_CHIP_KEY (CHIP_ID zeroed).
    pub mask_chip_key: bool,
    /// Bits 4:2: SIGNING_KEY.
    pub signing_key: SigningKey,
}

impl KeyInfo {
    fn decode(raw: u32) -> Self {
        let sk = ((raw >> 2) & 7) as u8;
        Self {
            raw,
            author_key_en: raw & 1 != 0,
            mask_chip_key: raw & 2 != 0,
            signing_key: match sk {
                0 => SigningKey::Vcek,
                1 => SigningKey::Vlek,
                7 => SigningKey::None,
                n => SigningKey::Reserved(n),
            },
        }
    }
}

/// SIGNATURE_ALGO (AMD 56860 Table 138).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgo {
    /// 1: ECDSA P-384 with SHA-384.
    EcdsaP384Sha384,
    /// Anything else (0 is "invalid").
    Unknown(u32),
}

/// The report signature: r and s zero-extended little-endian 72-byte fields.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    /// r, little-endian, 72 bytes.
    pub r: [u8; 72],
    /// s, little-endian, 72 bytes.
    pub s: [u8; 72],
}

impl Signature {
    fn be48(le: &[u8; 72]) -> Option<[u8; 48]> {
        if le[48..].iter().any(|&b| b != 0) {
            return None;
        }
        let mut out = [0u8; 48];
        for (o, i) in out.iter_mut().zip(le[..48].iter().rev()) {
            *o = *i;
        }
        Some(out)
    }

    /// r as a 48-byte big-endian P-384 scalar, `None` if the upper 24 bytes are not zero.
    pub fn r_be(&self) -> Option<[u8; 48]> {
        Self::be48(&self.r)
    }

    /// s as a 48-byte big-endian P-384 scalar, `None` if the upper 24 bytes are not zero.
    pub fn s_be(&self) -> Option<[u8; 48]> {
        Self::be48(&self.s)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature {{ r: {}, s: {} }}",
            Hex(&self.r),
            Hex(&self.s)
        )
    }
}

/// Firmware version triple (build, minor, major as stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareVersion {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Build.
    pub build: u8,
}

impl FirmwareVersion {
    fn decode(b: [u8; 4]) -> Self {
        Self {
            build: b[0],
            minor: b[1],
            major: b[2],
        }
    }
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// CPUID family/model/stepping of the chip (version 3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuIdentity {
    /// Family (extended family + family).
    pub family: u8,
    /// Model (extended model + model).
    pub model: u8,
    /// Stepping.
    pub stepping: u8,
}

/// Hard parse failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportError {
    /// Input is not exactly 1184 bytes.
    WrongSize(usize),
    /// VERSION is not 2, 3 or 5.
    UnsupportedVersion(u32),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongSize(n) => write!(f, "report is {n} bytes, expected {REPORT_SIZE}"),
            Self::UnsupportedVersion(v) => {
                write!(f, "report version {v} is not supported (2, 3, 5)")
            }
        }
    }
}

/// Something unusual but signed in a report; see the module docs for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportWarning {
    /// A reserved byte range is not zero; `offset` is its start.
    ReservedNonZero {
        /// Offset of the reserved range.
        offset: usize,
    },
    /// Policy bits above 25 are set.
    UnknownPolicyBits(u64),
    /// Policy bit 17 (must be one) is clear.
    PolicyMustBeOneClear,
    /// Unknown PLATFORM_INFO bits.
    UnknownPlatformInfoBits(u64),
    /// Key-info bits 31:5 are set.
    KeyInfoReservedBits(u32),
    /// SIGNING_KEY is a reserved value.
    ReservedSigningKey(u8),
    /// SIGNATURE_ALGO is not ECDSA P-384/SHA-384.
    UnknownSignatureAlgo(u32),
    /// r or s has non-zero bytes beyond the 48 significant ones.
    SignatureScalarTooWide,
    /// A TCB field's reserved bytes are set (names the field).
    TcbReservedNonZero(&'static str),
    /// CPUID family is neither 0x19 nor 0x1A (Milan/Genoa layout assumed).
    UnknownCpuFamily(u8),
}

/// A parsed attestation report. Keeps the raw bytes for [`Self::signed_bytes`].
#[derive(Clone)]
pub struct AttestationReport {
    raw: Box<[u8; REPORT_SIZE]>,
    /// VERSION.
    pub version: u32,
    /// GUEST_SVN.
    pub guest_svn: u32,
    /// POLICY.
    pub policy: GuestPolicy,
    /// FAMILY_ID.
    pub family_id: [u8; 16],
    /// IMAGE_ID.
    pub image_id: [u8; 16],
    /// VMPL the report was requested for.
    pub vmpl: u32,
    /// SIGNATURE_ALGO.
    pub signature_algo: SignatureAlgo,
    /// CURRENT_TCB.
    pub current_tcb: TcbVersion,
    /// PLATFORM_INFO.
    pub platform_info: PlatformInfo,
    /// AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY.
    pub key_info: KeyInfo,
    /// REPORT_DATA (the requester's 64 bytes).
    pub report_data: [u8; 64],
    /// MEASUREMENT (launch digest).
    pub measurement: [u8; 48],
    /// HOST_DATA.
    pub host_data: [u8; 32],
    /// ID_KEY_DIGEST.
    pub id_key_digest: [u8; 48],
    /// AUTHOR_KEY_DIGEST.
    pub author_key_digest: [u8; 48],
    /// REPORT_ID.
    pub report_id: [u8; 32],
    /// REPORT_ID_MA.
    pub report_id_ma: [u8; 32],
    /// REPORTED_TCB (the TCB of the VCEK that signed).
    pub reported_tcb: TcbVersion,
    /// CPUID family/model/stepping (version 3+).
    pub cpuid: Option<CpuIdentity>,
    /// CHIP_ID (zero if masked; Turin uses the first 8 bytes).
    pub chip_id: [u8; 64],
    /// COMMITTED_TCB.
    pub committed_tcb: TcbVersion,
    /// Current firmware version.
    pub current_version: FirmwareVersion,
    /// Committed firmware version.
    pub committed_version: FirmwareVersion,
    /// LAUNCH_TCB.
    pub launch_tcb: TcbVersion,
    /// LAUNCH_MIT_VECTOR (version 5).
    pub launch_mit_vector: Option<u64>,
    /// CURRENT_MIT_VECTOR (version 5).
    pub current_mit_vector: Option<u64>,
    /// SIGNATURE.
    pub signature: Signature,
    /// TCB layout used for all TCB fields.
    pub tcb_layout: TcbLayout,
    warnings: Vec<ReportWarning>,
}

impl fmt::Debug for AttestationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn nonzero(b: &[u8]) -> bool {
    b.iter().any(|&x| x != 0)
}

impl AttestationReport {
    /// Parses a report, choosing the TCB layout from CPUID_FAM_ID for version 3+ (Milan/Genoa
    /// for version 2, which has no CPUID fields).
    pub fn parse(bytes: &[u8]) -> Result<Self, ReportError> {
        Self::parse_inner(bytes, None)
    }

    /// Parses a report with an explicitly given TCB layout (e.g. a version-2 report known to
    /// come from Turin).
    pub fn parse_with_layout(bytes: &[u8], layout: TcbLayout) -> Result<Self, ReportError> {
        Self::parse_inner(bytes, Some(layout))
    }

    fn parse_inner(bytes: &[u8], layout: Option<TcbLayout>) -> Result<Self, ReportError> {
        let arr: &[u8; REPORT_SIZE] = bytes
            .try_into()
            .map_err(|_| ReportError::WrongSize(bytes.len()))?;
        let r: &RawReport = zerocopy::transmute_ref!(arr);
        let version = r.version.get();
        if !matches!(version, 2 | 3 | 5) {
            return Err(ReportError::UnsupportedVersion(version));
        }
        let mut warnings = Vec::new();
        let cpuid = (version >= 3).then_some(CpuIdentity {
            family: r.cpuid_fam_id,
            model: r.cpuid_mod_id,
            stepping: r.cpuid_step,
        });
        let tcb_layout = match (layout, cpuid) {
            (Some(l), _) => l,
            (None, Some(c)) if c.family == FAMILY_TURIN => TcbLayout::Turin,
            (None, Some(c)) => {
                if c.family != FAMILY_MILAN_GENOA {
                    warnings.push(ReportWarning::UnknownCpuFamily(c.family));
                }
                TcbLayout::MilanGenoa
            }
            (None, None) => TcbLayout::MilanGenoa,
        };
        let tcb = |raw: [u8; 8]| TcbVersion::decode(raw, tcb_layout);

        // Reserved ranges (by version).
        if nonzero(&r.reserved_04c) {
            warnings.push(ReportWarning::ReservedNonZero { offset: 0x04C });
        }
        if version >= 3 {
            if nonzero(&r.reserved_18b) {
                warnings.push(ReportWarning::ReservedNonZero { offset: 0x18B });
            }
        } else if r.cpuid_fam_id != 0
            || r.cpuid_mod_id != 0
            || r.cpuid_step != 0
            || nonzero(&r.reserved_18b)
        {
            warnings.push(ReportWarning::ReservedNonZero { offset: 0x188 });
        }
        if r.current_version[3] != 0 {
            warnings.push(ReportWarning::ReservedNonZero { offset: 0x1EB });
        }
        if r.committed_version[3] != 0 {
            warnings.push(ReportWarning::ReservedNonZero { offset: 0x1EF });
        }
        let (launch_mit_vector, current_mit_vector) = if version >= 5 {
            (
                Some(r.launch_mit_vector.get()),
                Some(r.current_mit_vector.get()),
            )
        } else {
            if r.launch_mit_vector.get() != 0 || r.current_mit_vector.get() != 0 {
                warnings.push(ReportWarning::ReservedNonZero { offset: 0x1F8 });
            }
            (None, None)
        };
        if nonzero(&r.reserved_208) {
            warnings.push(ReportWarning::ReservedNonZero { offset: 0x208 });
        }
        if nonzero(&r.sig_reserved) {
            warnings.push(ReportWarning::ReservedNonZero { offset: 0x330 });
        }

        let policy = GuestPolicy(r.policy.get());
        if policy.0 & !GuestPolicy::KNOWN != 0 {
            warnings.push(ReportWarning::UnknownPolicyBits(
                policy.0 & !GuestPolicy::KNOWN,
            ));
        }
        if !policy.has(GuestPolicy::RESERVED_MBO) {
            warnings.push(ReportWarning::PolicyMustBeOneClear);
        }
        let platform_info = PlatformInfo(r.platform_info.get());
        if platform_info.0 & !PlatformInfo::KNOWN != 0 {
            warnings.push(ReportWarning::UnknownPlatformInfoBits(
                platform_info.0 & !PlatformInfo::KNOWN,
            ));
        }
        let key_info = KeyInfo::decode(r.key_info.get());
        if key_info.raw >> 5 != 0 {
            warnings.push(ReportWarning::KeyInfoReservedBits(key_info.raw >> 5));
        }
        if let SigningKey::Reserved(n) = key_info.signing_key {
            warnings.push(ReportWarning::ReservedSigningKey(n));
        }
        let signature_algo = match r.signature_algo.get() {
            1 => SignatureAlgo::EcdsaP384Sha384,
            n => {
                warnings.push(ReportWarning::UnknownSignatureAlgo(n));
                SignatureAlgo::Unknown(n)
            }
        };
        let signature = Signature {
            r: r.sig_r,
            s: r.sig_s,
        };
        if signature.r_be().is_none() || signature.s_be().is_none() {
            warnings.push(ReportWarning::SignatureScalarTooWide);
        }
        let current_tcb = tcb(r.current_tcb);
        let reported_tcb = tcb(r.reported_tcb);
        let committed_tcb = tcb(r.committed_tcb);
        let launch_tcb = tcb(r.launch_tcb);
        for (name, t) in [
            ("current_tcb", &current_tcb),
            ("reported_tcb", &reported_tcb),
            ("committed_tcb", &committed_tcb),
            ("launch_tcb", &launch_tcb),
        ] {
            if t.reserved_nonzero() {
                warnings.push(ReportWarning::TcbReservedNonZero(name));
            }
        }

        Ok(Self {
            raw: Box::new(*arr),
            version,
            guest_svn: r.guest_svn.get(),
            policy,
            family_id: r.family_id,
            image_id: r.image_id,
            vmpl: r.vmpl.get(),
            signature_algo,
            current_tcb,
            platform_info,
            key_info,
            report_data: r.report_data,
            measurement: r.measurement,
            host_data: r.host_data,
            id_key_digest: r.id_key_digest,
            author_key_digest: r.author_key_digest,
            report_id: r.report_id,
            report_id_ma: r.report_id_ma,
            reported_tcb,
            cpuid,
            chip_id: r.chip_id,
            committed_tcb,
            current_version: FirmwareVersion::decode(r.current_version),
            committed_version: FirmwareVersion::decode(r.committed_version),
            launch_tcb,
            launch_mit_vector,
            current_mit_vector,
            signature,
            tcb_layout,
            warnings,
        })
    }

    /// The bytes covered by the signature (0x000..0x2A0).
    pub fn signed_bytes(&self) -> &[u8] {
        self.raw.get(..SIGNED_LEN).unwrap_or(&[])
    }

    /// The raw 1184 bytes.
    pub fn raw(&self) -> &[u8; REPORT_SIZE] {
        &self.raw
    }

    /// Non-fatal findings (empty for a clean report).
    pub fn warnings(&self) -> &[ReportWarning] {
        &self.warnings
    }
}

/// Lower-case hex of a byte slice, for Display.
#[derive(Debug, Clone, Copy)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for AttestationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "SNP attestation report v{}", self.version)?;
        writeln!(f, "  guest_svn:          {}", self.guest_svn)?;
        writeln!(f, "  policy:             {}", self.policy)?;
        writeln!(f, "  family_id:          {}", Hex(&self.family_id))?;
        writeln!(f, "  image_id:           {}", Hex(&self.image_id))?;
        writeln!(f, "  vmpl:               {}", self.vmpl)?;
        match self.signature_algo {
            SignatureAlgo::EcdsaP384Sha384 => {
                writeln!(f, "  signature_algo:     1 (ECDSA P-384 SHA-384)")?
            }
            SignatureAlgo::Unknown(n) => writeln!(f, "  signature_algo:     {n} (unknown)")?,
        }
        writeln!(f, "  current_tcb:        {}", self.current_tcb)?;
        writeln!(f, "  platform_info:      {}", self.platform_info)?;
        writeln!(
            f,
            "  key_info:           {:#x} (author_key_en={} mask_chip_key={} signing_key={:?})",
            self.key_info.raw,
            self.key_info.author_key_en,
            self.key_info.mask_chip_key,
            self.key_info.signing_key
        )?;
        writeln!(f, "  report_data:        {}", Hex(&self.report_data))?;
        writeln!(f, "  measurement:        {}", Hex(&self.measurement))?;
        writeln!(f, "  host_data:          {}", Hex(&self.host_data))?;
        writeln!(f, "  id_key_digest:      {}", Hex(&self.id_key_digest))?;
        writeln!(f, "  author_key_digest:  {}", Hex(&self.author_key_digest))?;
        writeln!(f, "  report_id:          {}", Hex(&self.report_id))?;
        writeln!(f, "  report_id_ma:       {}", Hex(&self.report_id_ma))?;
        writeln!(f, "  reported_tcb:       {}", self.reported_tcb)?;
        match self.cpuid {
            Some(c) => writeln!(
                f,
                "  cpuid:              family {:#x} model {:#x} stepping {:#x}",
                c.family, c.model, c.stepping
            )?,
            None => writeln!(f, "  cpuid:              (not in v{})", self.version)?,
        }
        writeln!(f, "  chip_id:            {}", Hex(&self.chip_id))?;
        writeln!(f, "  committed_tcb:      {}", self.committed_tcb)?;
        writeln!(f, "  current_version:    {}", self.current_version)?;
        writeln!(f, "  committed_version:  {}", self.committed_version)?;
        writeln!(f, "  launch_tcb:         {}", self.launch_tcb)?;
        match (self.launch_mit_vector, self.current_mit_vector) {
            (Some(l), Some(c)) => {
                writeln!(f, "  launch_mit_vector:  {l:#x}")?;
                writeln!(f, "  current_mit_vector: {c:#x}")?;
            }
            _ => writeln!(f, "  mit_vectors:        (not in v{})", self.version)?,
        }
        writeln!(f, "  tcb_layout:         {:?}", self.tcb_layout)?;
        writeln!(f, "  signature.r:        {}", Hex(&self.signature.r))?;
        writeln!(f, "  signature.s:        {}", Hex(&self.signature.s))?;
        if self.warnings.is_empty() {
            write!(f, "  warnings:           none")
        } else {
            write!(f, "  warnings:           {:?}", self.warnings)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(version: u32) -> [u8; REPORT_SIZE] {
        let mut b = [0u8; REPORT_SIZE];
        b[0..4].copy_from_slice(&version.to_le_bytes());
        b[8..16].copy_from_slice(&0x30000u64.to_le_bytes());
        b[0x34] = 1;
        if version >= 3 {
            b[0x188] = FAMILY_MILAN_GENOA;
            b[0x189] = 0x01;
        }
        b
    }

    #[test]
    fn size_and_version_errors() {
        assert_eq!(
            AttestationReport::parse(&[0u8; 100]).unwrap_err(),
            ReportError::WrongSize(100)
        );
        for v in [0u32, 1, 4, 6] {
            assert_eq!(
                AttestationReport::parse(&blank(v)).unwrap_err(),
                ReportError::UnsupportedVersion(v)
            );
        }
        for v in [2u32, 3, 5] {
            let r = AttestationReport::parse(&blank(v)).unwrap();
            assert_eq!(r.version, v);
            assert!(r.warnings().is_empty(), "{:?}", r.warnings());
        }
        let mut b = blank(3);
        b[0x188] = 0x17;
        let r = AttestationReport::parse(&b).unwrap();
        assert_eq!(r.warnings(), &[ReportWarning::UnknownCpuFamily(0x17)]);
        assert_eq!(r.tcb_layout, TcbLayout::MilanGenoa);
    }

    #[test]
    fn turin_layout_selected_by_family() {
        let mut b = blank(3);
        b[0x188] = FAMILY_TURIN;
        b[0x189] = 0x02;
        b[0x180..0x188].copy_from_slice(&[1, 2, 3, 4, 0, 0, 0, 9]);
        let r = AttestationReport::parse(&b).unwrap();
        assert_eq!(r.tcb_layout, TcbLayout::Turin);
        assert_eq!(r.reported_tcb.fmc, Some(1));
        assert_eq!(r.reported_tcb.bootloader, 2);
        assert_eq!(r.reported_tcb.tee, 3);
        assert_eq!(r.reported_tcb.snp, 4);
        assert_eq!(r.reported_tcb.microcode, 9);
        assert!(r.warnings().is_empty());
        // Same bytes read as Milan/Genoa: bytes 2..6 are reserved there.
        let m = AttestationReport::parse_with_layout(&b, TcbLayout::MilanGenoa).unwrap();
        assert_eq!(m.reported_tcb.bootloader, 1);
        assert_eq!(m.reported_tcb.snp, 0);
        assert!(
            m.warnings()
                .contains(&ReportWarning::TcbReservedNonZero("reported_tcb"))
        );
    }

    #[test]
    fn v5_mit_vectors_and_v3_reserved() {
        let mut b = blank(5);
        b[0x1F8] = 3;
        b[0x200] = 1;
        let r = AttestationReport::parse(&b).unwrap();
        assert_eq!(r.launch_mit_vector, Some(3));
        assert_eq!(r.current_mit_vector, Some(1));
        b[0..4].copy_from_slice(&3u32.to_le_bytes());
        let r = AttestationReport::parse(&b).unwrap();
        assert_eq!(r.launch_mit_vector, None);
        assert!(
            r.warnings()
                .contains(&ReportWarning::ReservedNonZero { offset: 0x1F8 })
        );
    }

    #[test]
    fn warnings_for_odd_fields() {
        let mut b = blank(2);
        b[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
        b[0x34] = 2;
        b[0x48] = 0b0_1000 | (1 << 5);
        b[0x4C] = 1;
        b[0x2A0 + 50] = 1;
        b[0x400] = 1;
        b[0x40] = 1 << 6;
        let r = AttestationReport::parse(&b).unwrap();
        let w = r.warnings();
        assert!(w.contains(&ReportWarning::UnknownPolicyBits(1 << 40)));
        assert!(w.contains(&ReportWarning::PolicyMustBeOneClear));
        assert!(w.contains(&ReportWarning::UnknownSignatureAlgo(2)));
        assert!(w.contains(&ReportWarning::ReservedSigningKey(2)));
        assert!(w.contains(&ReportWarning::KeyInfoReservedBits(1)));
        assert!(w.contains(&ReportWarning::ReservedNonZero { offset: 0x4C }));
        assert!(w.contains(&ReportWarning::ReservedNonZero { offset: 0x330 }));
        assert!(w.contains(&ReportWarning::SignatureScalarTooWide));
        assert!(w.contains(&ReportWarning::UnknownPlatformInfoBits(1 << 6)));
        assert_eq!(r.signature_algo, SignatureAlgo::Unknown(2));
    }

    #[test]
    fn policy_and_platform_display() {
        let p = GuestPolicy(0xB0000 | 0x0102);
        assert!(p.debug());
        assert!(p.smt_allowed());
        assert!(!p.single_socket());
        assert_eq!(p.abi_major(), 1);
        assert_eq!(p.abi_minor(), 2);
        assert_eq!(format!("{p}"), "0xb0102 (abi>=1.2 SMT RESERVED_MBO DEBUG)");
        let pi = PlatformInfo(0b1000_0101 | (1 << 9));
        assert_eq!(
            format!("{pi}"),
            "0x285 (SMT_EN ECC_EN TIO_EN unknown=0x200)"
        );
    }

    #[test]
    fn signature_scalars_reverse() {
        let mut s = Signature {
            r: [0; 72],
            s: [0; 72],
        };
        s.r[0] = 0x01;
        s.r[47] = 0xFF;
        let be = s.r_be().unwrap();
        assert_eq!(be[0], 0xFF);
        assert_eq!(be[47], 0x01);
        s.s[48] = 1;
        assert!(s.s_be().is_none());
    }
}
