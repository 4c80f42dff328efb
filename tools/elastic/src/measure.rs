//! `elastic measure`: the SEV-SNP launch digest QEMU's `-bios` launch of an image produces.
//!
//! The PSP extends the launch digest once per page given to `SNP_LAUNCH_UPDATE`
//! (AMD 56860 SNP ABI §8.17 and Table 67 "PAGE_INFO"): `LD = SHA-384(PAGE_INFO)` where
//! `PAGE_INFO` is 0x70 bytes: previous digest (48), page contents digest (48, SHA-384 of the
//! page for NORMAL/VMSA pages, zero otherwise), `u16` length 0x70, page type, IMI flag,
//! VMPL3/2/1 permissions, a reserved byte, and the `u64` GPA. The initial digest is zero.
//!
//! QEMU (`target/i386/sev.c`) launches, in this order: the whole ROM as NORMAL pages mapped
//! so that it ends at 4 GiB; each `ASEV` metadata section in table order (SEC_MEM and SVSM
//! CAA as ZERO pages, the SECRETS page, the CPUID page, and the kernel-hashes page as ZERO
//! pages when no kernel is given); then one VMSA page per vCPU at GPA 0xFFFF_FFFF_F000. The
//! VMSA holds KVM/QEMU's reset state (AMD APM vol. 2 Table B-4 layout), the vCPU model's
//! CPUID(1).EAX signature in RDX and the guest's SEV features.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use elastic_snp::ovmf_table::{self, SectionType};
use sha2::{Digest, Sha384};

/// Size of a guest page.
const PAGE: usize = 4096;
/// GPA at which QEMU/KVM places every VMSA page in the launch digest.
const VMSA_GPA: u64 = 0xFFFF_FFFF_F000;
/// The BSP starts at the architectural reset vector.
const BSP_RESET_EIP: u32 = 0xFFFF_FFF0;

/// SNP page types (AMD 56860 Table 67).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum PageType {
    Normal = 1,
    Vmsa = 2,
    Zero = 3,
    Secrets = 5,
    Cpuid = 6,
}

/// The running launch digest.
#[derive(Debug, Clone)]
pub struct LaunchDigest {
    ld: [u8; 48],
}

impl Default for LaunchDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl LaunchDigest {
    /// The initial (all-zero) digest.
    pub fn new() -> Self {
        LaunchDigest { ld: [0; 48] }
    }

    /// The current digest.
    pub fn digest(&self) -> [u8; 48] {
        self.ld
    }

    fn extend(&mut self, contents: &[u8; 48], page_type: PageType, gpa: u64) {
        let mut info = [0u8; 0x70];
        info[0..48].copy_from_slice(&self.ld);
        info[48..96].copy_from_slice(contents);
        info[96..98].copy_from_slice(&0x70u16.to_le_bytes());
        info[98] = page_type as u8;
        // 99: IMI page 0; 100..103: VMPL3/2/1 permissions 0; 103: reserved.
        info[104..112].copy_from_slice(&gpa.to_le_bytes());
        self.ld.copy_from_slice(&Sha384::digest(info));
    }

    /// Adds `data` (a multiple of 4 KiB) as NORMAL pages starting at `gpa`.
    fn normal_pages(&mut self, gpa: u64, data: &[u8]) {
        for (i, page) in data.chunks(PAGE).enumerate() {
            let mut h = [0u8; 48];
            h.copy_from_slice(&Sha384::digest(page));
            self.extend(&h, PageType::Normal, gpa + (i * PAGE) as u64);
        }
    }

    /// Adds `len` bytes (rounded up to pages) of pages with zero contents digest.
    fn unhashed_pages(&mut self, gpa: u64, len: u64, page_type: PageType) {
        let pages = len.div_ceil(PAGE as u64);
        for i in 0..pages {
            self.extend(&[0; 48], page_type, gpa + i * PAGE as u64);
        }
    }

    fn vmsa_page(&mut self, page: &[u8; PAGE]) {
        let mut h = [0u8; 48];
        h.copy_from_slice(&Sha384::digest(page));
        self.extend(&h, PageType::Vmsa, VMSA_GPA);
    }
}

/// CPUID Fn0000_0001 EAX for family/model/stepping (AMD CPUID spec 25481).
pub const fn cpu_signature(family: u32, model: u32, stepping: u32) -> u32 {
    let (family_low, family_high) = if family > 0xf {
        (0xf, (family - 0xf) & 0xff)
    } else {
        (family, 0)
    };
    (family_high << 20)
        | (((model >> 4) & 0xf) << 16)
        | (family_low << 8)
        | ((model & 0xf) << 4)
        | (stepping & 0xf)
}

/// QEMU's AMD EPYC CPU models and their (family, model, stepping), as tabulated by
/// sev-snp-measure (`vcpu_types.py`) and the `sev` crate (`vcpu_types.rs`).
pub const CPU_MODELS: &[(&str, u32, u32, u32)] = &[
    ("EPYC", 23, 1, 2),
    ("EPYC-v1", 23, 1, 2),
    ("EPYC-v2", 23, 1, 2),
    ("EPYC-IBPB", 23, 1, 2),
    ("EPYC-v3", 23, 1, 2),
    ("EPYC-v4", 23, 1, 2),
    ("EPYC-Rome", 23, 49, 0),
    ("EPYC-Rome-v1", 23, 49, 0),
    ("EPYC-Rome-v2", 23, 49, 0),
    ("EPYC-Rome-v3", 23, 49, 0),
    ("EPYC-Milan", 25, 1, 1),
    ("EPYC-Milan-v1", 25, 1, 1),
    ("EPYC-Milan-v2", 25, 1, 1),
    ("EPYC-Genoa", 25, 17, 0),
    ("EPYC-Genoa-v1", 25, 17, 0),
    ("EPYC-Turin", 26, 0, 0),
    ("EPYC-Turin-v1", 26, 0, 0),
    ("EPYC-Turin-v2", 26, 0, 0),
];

/// The CPUID(1).EAX signature of a QEMU CPU model name (case-insensitive).
pub fn vcpu_signature(name: &str) -> Option<u32> {
    CPU_MODELS
        .iter()
        .find(|(n, ..)| n.eq_ignore_ascii_case(name))
        .map(|&(_, f, m, s)| cpu_signature(f, m, s))
}

fn put(page: &mut [u8; PAGE], at: usize, bytes: &[u8]) {
    page[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Writes a VMSA segment register: selector, attributes, limit, base.
fn put_seg(page: &mut [u8; PAGE], at: usize, selector: u16, attrib: u16, limit: u32, base: u64) {
    put(page, at, &selector.to_le_bytes());
    put(page, at + 2, &attrib.to_le_bytes());
    put(page, at + 4, &limit.to_le_bytes());
    put(page, at + 8, &base.to_le_bytes());
}

/// The VMSA page QEMU/KVM hands to `SNP_LAUNCH_UPDATE` for a vCPU starting at `eip`
/// (VMSA offsets from AMD APM vol. 2 Table B-4; reset values are KVM's `init_vmcb` plus
/// QEMU's x86 reset state).
pub fn vmsa_page(eip: u32, vcpu_sig: u32, sev_features: u64) -> [u8; PAGE] {
    let mut p = [0u8; PAGE];
    let data = (0x93, 0xffff);
    put_seg(&mut p, 0x000, 0, data.0, data.1, 0); // ES
    put_seg(
        &mut p,
        0x010,
        0xf000,
        0x9b,
        0xffff,
        u64::from(eip & 0xffff_0000),
    ); // CS
    put_seg(&mut p, 0x020, 0, data.0, data.1, 0); // SS
    put_seg(&mut p, 0x030, 0, data.0, data.1, 0); // DS
    put_seg(&mut p, 0x040, 0, data.0, data.1, 0); // FS
    put_seg(&mut p, 0x050, 0, data.0, data.1, 0); // GS
    put_seg(&mut p, 0x060, 0, 0, 0xffff, 0); // GDTR
    put_seg(&mut p, 0x070, 0, 0x82, 0xffff, 0); // LDTR
    put_seg(&mut p, 0x080, 0, 0, 0xffff, 0); // IDTR
    put_seg(&mut p, 0x090, 0, 0x8b, 0xffff, 0); // TR
    put(&mut p, 0x0d0, &0x1000u64.to_le_bytes()); // EFER.SVME
    put(&mut p, 0x148, &0x40u64.to_le_bytes()); // CR4.MCE
    put(&mut p, 0x158, &0x10u64.to_le_bytes()); // CR0.ET
    put(&mut p, 0x160, &0x400u64.to_le_bytes()); // DR7
    put(&mut p, 0x168, &0xffff_0ff0u64.to_le_bytes()); // DR6
    put(&mut p, 0x170, &0x2u64.to_le_bytes()); // RFLAGS
    put(&mut p, 0x178, &u64::from(eip & 0xffff).to_le_bytes()); // RIP
    put(&mut p, 0x268, &0x0007_0406_0007_0406u64.to_le_bytes()); // G_PAT
    put(&mut p, 0x310, &u64::from(vcpu_sig).to_le_bytes()); // RDX
    put(&mut p, 0x3b0, &sev_features.to_le_bytes()); // SEV_FEATURES
    put(&mut p, 0x3e8, &0x1u64.to_le_bytes()); // XCR0
    put(&mut p, 0x408, &0x1f80u32.to_le_bytes()); // MXCSR
    put(&mut p, 0x410, &0x37fu16.to_le_bytes()); // x87 FCW
    p
}

/// Why an image cannot be measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeasureError {
    /// The ROM size is not a non-zero multiple of 4 KiB or exceeds 4 GiB.
    BadRomSize(usize),
    /// The image has no OVMF footer table.
    NoFooterTable,
    /// The footer table or metadata is malformed.
    Table(ovmf_table::TableError),
    /// The SEV-ES reset block (AP entry point) is missing.
    NoResetBlock,
    /// The SEV metadata offset entry is missing.
    NoMetadata,
    /// A metadata section is not page-aligned, empty or wraps past 4 GiB.
    BadSection {
        /// Index in the metadata.
        index: usize,
        /// Section GPA.
        gpa: u32,
        /// Section length.
        len: u32,
    },
    /// A SECRETS or CPUID section is not exactly one page (QEMU launches one page).
    BadSpecialPageLen {
        /// Index in the metadata.
        index: usize,
        /// Section length.
        len: u32,
    },
    /// vCPU count 0.
    NoVcpus,
}

impl std::fmt::Display for MeasureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MeasureError::BadRomSize(n) => {
                write!(
                    f,
                    "ROM size {n} bytes is not a non-zero multiple of 4096 up to 4 GiB"
                )
            }
            MeasureError::NoFooterTable => write!(
                f,
                "image has no OVMF footer table (GUID 96b582de-1fb2-45f7-baea-a366c55a082d at end-48)"
            ),
            MeasureError::Table(e) => write!(f, "{e}"),
            MeasureError::NoResetBlock => write!(f, "image has no SEV-ES reset block entry"),
            MeasureError::NoMetadata => write!(f, "image has no SEV metadata offset entry"),
            MeasureError::BadSection { index, gpa, len } => write!(
                f,
                "metadata section {index} (gpa {gpa:#x}, len {len:#x}) is empty, unaligned or crosses 4 GiB"
            ),
            MeasureError::BadSpecialPageLen { index, len } => {
                write!(
                    f,
                    "metadata section {index}: SECRETS/CPUID length {len:#x} is not one page"
                )
            }
            MeasureError::NoVcpus => write!(f, "at least one vCPU is required"),
        }
    }
}

/// Inputs of the launch digest besides the image.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Number of vCPUs (`-smp`).
    pub vcpus: u32,
    /// CPUID(1).EAX of the vCPU model.
    pub vcpu_sig: u32,
    /// VMSA SEV_FEATURES (0x1 = SNP active; QEMU/KVM default).
    pub guest_features: u64,
}

/// Computes the launch digest QEMU's `-bios` SNP launch of `rom` produces.
pub fn launch_digest(rom: &[u8], p: &Params) -> Result<[u8; 48], MeasureError> {
    if p.vcpus == 0 {
        return Err(MeasureError::NoVcpus);
    }
    if rom.is_empty() || !rom.len().is_multiple_of(PAGE) || rom.len() as u64 > 1 << 32 {
        return Err(MeasureError::BadRomSize(rom.len()));
    }
    let info = ovmf_table::parse_image(rom)
        .map_err(MeasureError::Table)?
        .ok_or(MeasureError::NoFooterTable)?;
    let ap_eip = info.sev_es_reset_addr.ok_or(MeasureError::NoResetBlock)?;
    let metadata = info.metadata.ok_or(MeasureError::NoMetadata)?;

    let mut ld = LaunchDigest::new();
    ld.normal_pages((1u64 << 32) - rom.len() as u64, rom);
    for (index, s) in metadata.sections.iter().enumerate() {
        let bad = MeasureError::BadSection {
            index,
            gpa: s.gpa,
            len: s.len,
        };
        if s.len == 0
            || !(s.gpa as usize).is_multiple_of(PAGE)
            || u64::from(s.gpa) + u64::from(s.len) > 1 << 32
        {
            return Err(bad);
        }
        let gpa = u64::from(s.gpa);
        match s.kind {
            SectionType::SnpSecMem | SectionType::SvsmCaa | SectionType::KernelHashes => {
                ld.unhashed_pages(gpa, u64::from(s.len), PageType::Zero)
            }
            SectionType::SnpSecrets | SectionType::Cpuid => {
                if s.len as usize != PAGE {
                    return Err(MeasureError::BadSpecialPageLen { index, len: s.len });
                }
                let t = if s.kind == SectionType::Cpuid {
                    PageType::Cpuid
                } else {
                    PageType::Secrets
                };
                ld.unhashed_pages(gpa, PAGE as u64, t);
            }
        }
    }
    let bsp = vmsa_page(BSP_RESET_EIP, p.vcpu_sig, p.guest_features);
    let ap = vmsa_page(ap_eip, p.vcpu_sig, p.guest_features);
    for i in 0..p.vcpus {
        ld.vmsa_page(if i == 0 { &bsp } else { &ap });
    }
    Ok(ld.digest())
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn parse_hex_u64(s: &str) -> Result<u64, String> {
    let t = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u64::from_str_radix(t, 16).map_err(|e| format!("invalid hex value {s:?}: {e}"))
}

fn parse_hex_u32(s: &str) -> Result<u32, String> {
    let v = parse_hex_u64(s)?;
    u32::try_from(v).map_err(|_| format!("{s:?} does not fit in 32 bits"))
}

/// Arguments of `elastic measure`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `-bios` image (ROM) QEMU will load.
    pub image: PathBuf,
    /// Number of vCPUs (QEMU `-smp`).
    #[arg(long, default_value_t = 1)]
    pub vcpus: u32,
    /// QEMU CPU model (`-cpu`), e.g. EPYC-v4, EPYC-Milan, EPYC-Genoa.
    #[arg(long, default_value = "EPYC-v4")]
    pub vcpu_type: String,
    /// Override the vCPU signature (CPUID(1).EAX, hex) instead of `--vcpu-type`.
    #[arg(long, value_parser = parse_hex_u32)]
    pub vcpu_sig: Option<u32>,
    /// VMSA SEV features (hex): 0x1 = SNP, 0x21 = SNP + DebugSwap (KVM default on newer hosts).
    #[arg(long, default_value = "0x1", value_parser = parse_hex_u64)]
    pub guest_features: u64,
    /// Guest policy (hex); not part of the digest, echoed for the launch command line.
    #[arg(long, default_value = "0x30000", value_parser = parse_hex_u64)]
    pub policy: u64,
    /// Print a JSON object instead of the bare digest.
    #[arg(long)]
    pub json: bool,
}

/// Runs `elastic measure`.
pub fn main(args: Args) -> ExitCode {
    match run(&args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("elastic measure: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<String, String> {
    let vcpu_sig = match args.vcpu_sig {
        Some(s) => s,
        None => vcpu_signature(&args.vcpu_type).ok_or_else(|| {
            let known: Vec<&str> = CPU_MODELS.iter().map(|m| m.0).collect();
            format!(
                "unknown --vcpu-type {:?}; known: {}",
                args.vcpu_type,
                known.join(", ")
            )
        })?,
    };
    let rom = std::fs::read(&args.image).map_err(|e| format!("{}: {e}", args.image.display()))?;
    let params = Params {
        vcpus: args.vcpus,
        vcpu_sig,
        guest_features: args.guest_features,
    };
    let digest =
        launch_digest(&rom, &params).map_err(|e| format!("{}: {e}", args.image.display()))?;
    if args.json {
        Ok(format!(
            "{{\"measurement\":\"{}\",\"image\":{:?},\"image_size\":{},\"vcpus\":{},\"vcpu_type\":{:?},\"vcpu_sig\":\"{:#x}\",\"guest_features\":\"{:#x}\",\"policy\":\"{:#x}\"}}",
            to_hex(&digest),
            args.image.display().to_string(),
            rom.len(),
            args.vcpus,
            if args.vcpu_sig.is_some() {
                "custom"
            } else {
                args.vcpu_type.as_str()
            },
            vcpu_sig,
            args.guest_features,
            args.policy
        ))
    } else {
        Ok(to_hex(&digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_signatures_match_cpuid_encoding() {
        // EPYC (Naples) family 0x17 model 1 stepping 2: 0x00800F12.
        assert_eq!(vcpu_signature("EPYC-v4"), Some(0x0080_0f12));
        // Milan family 0x19 model 1 stepping 1: 0x00A00F11.
        assert_eq!(vcpu_signature("epyc-milan"), Some(0x00a0_0f11));
        // Genoa family 0x19 model 0x11: 0x00A10F10.
        assert_eq!(vcpu_signature("EPYC-Genoa"), Some(0x00a1_0f10));
        assert_eq!(vcpu_signature("EPYC-Turin"), Some(0x00b0_0f00));
        assert_eq!(vcpu_signature("Skylake"), None);
    }

    #[test]
    fn page_info_chain_matches_definition() {
        // One NORMAL page by hand: SHA-384 over the 0x70-byte PAGE_INFO.
        let page = [0xabu8; PAGE];
        let mut ld = LaunchDigest::new();
        ld.normal_pages(0xffff_f000, &page);
        let mut info = Vec::new();
        info.extend_from_slice(&[0u8; 48]);
        info.extend_from_slice(&Sha384::digest(page));
        info.extend_from_slice(&[0x70, 0x00, 1, 0, 0, 0, 0, 0]);
        info.extend_from_slice(&0xffff_f000u64.to_le_bytes());
        assert_eq!(info.len(), 0x70);
        assert_eq!(&ld.digest()[..], &Sha384::digest(&info)[..]);
    }

    #[test]
    fn vmsa_carries_entry_point_signature_and_features() {
        let p = vmsa_page(0x0080_b004, 0x00a0_0f11, 0x21);
        assert_eq!(&p[0x10..0x12], &0xf000u16.to_le_bytes());
        assert_eq!(&p[0x18..0x20], &0x0080_0000u64.to_le_bytes());
        assert_eq!(&p[0x178..0x180], &0xb004u64.to_le_bytes());
        assert_eq!(&p[0x310..0x318], &0x00a0_0f11u64.to_le_bytes());
        assert_eq!(&p[0x3b0..0x3b8], &0x21u64.to_le_bytes());
    }

    #[test]
    fn rejects_bad_inputs() {
        let p = Params {
            vcpus: 1,
            vcpu_sig: 0,
            guest_features: 1,
        };
        assert_eq!(
            launch_digest(&[0; 100], &p),
            Err(MeasureError::BadRomSize(100))
        );
        assert_eq!(
            launch_digest(&[0; 8192], &p),
            Err(MeasureError::NoFooterTable)
        );
        let p0 = Params { vcpus: 0, ..p };
        assert_eq!(launch_digest(&[0; 8192], &p0), Err(MeasureError::NoVcpus));
    }
}
