//! The SEV-SNP secrets page: VMPCKs, the guest-OS area and the Secure TSC factor.
//!
//! The PSP fills this 4096-byte page at launch (page type SECRETS, AMD 56860 §8.17.2.5
//! "PAGE_TYPE_SECRETS", Table 71 "Secrets Page Format"). The guest-OS area at 0x0A0 is defined by
//! AMD 56421 §2.7 "SEV-SNP Secrets Page" (GHCB rev 2.01+): the PSP never reads it, it only carries
//! the message sequence numbers a previous boot stage used.
//!
//! | off | size | field |
//! |---|---|---|
//! | 0x000 | 4 | version |
//! | 0x004 | 4 | bit 0 IMI_EN |
//! | 0x008 | 4 | FMS (CPUID Fn0000_0001 EAX) |
//! | 0x010 | 16 | GOSVW (guest-OS-visible workarounds) |
//! | 0x020 + 32·n | 32 | VMPCK*n* (n = 0..3) |
//! | 0x0A0 | 96 | OS area (seqno lo ×4, AP jump table, seqno hi ×4, version, guest usage) |
//! | 0x100 | 64 | VMSA tweak bitmap |
//! | 0x140 | 32 | SVSM base, size, CAA, max version, guest VMPL |
//! | 0x160 | 4 | TSC_FACTOR (Secure TSC) |
//! | 0x168 | 8 | LAUNCH_MIT_VECTOR |
//!
//! An all-zero VMPCK means "disabled": the guest wipes a key after a failed guest request so no
//! later stage can reuse it with a sequence number the hypervisor has seen (Linux
//! `snp_disable_vmpck`). [`wipe_vmpck`] does that on the raw page.

use core::fmt;
use core::mem::offset_of;

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Size of the secrets page in bytes.
pub const SECRETS_PAGE_SIZE: usize = 4096;
/// Length of one VM platform communication key (AES-256).
pub const VMPCK_LEN: usize = 32;
/// Number of VMPCKs (one per VMPL).
pub const VMPCK_COUNT: usize = 4;
/// Lowest secrets-page version this parser accepts (version 1 was never shipped in production
/// firmware; Oak's guest also requires >= 2).
pub const MIN_SECRETS_VERSION: u32 = 2;

/// Raw on-page layout (AMD 56860 Table 71, AMD 56421 §2.7).
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct RawSecretsPage {
    version: U32,
    imi_en: U32,
    fms: U32,
    reserved_0c: U32,
    gosvw: [u8; 16],
    vmpck: [[u8; VMPCK_LEN]; VMPCK_COUNT],
    // OS area (96 bytes), AMD 56421 §2.7.
    msg_seqno_lo: [U32; 4],
    ap_jump_table_pa: U64,
    msg_seqno_hi: [U32; 4],
    os_reserved: [u8; 22],
    os_area_version: U16,
    guest_usage: [u8; 32],
    vmsa_tweak_bitmap: [u8; 64],
    svsm_base: U64,
    svsm_size: U64,
    svsm_caa: U64,
    svsm_max_version: U32,
    svsm_guest_vmpl: u8,
    reserved_15d: [u8; 3],
    tsc_factor: U32,
    reserved_164: U32,
    launch_mit_vector: U64,
    reserved_170: [u8; 0xE90],
}

const _: () = {
    assert!(size_of::<RawSecretsPage>() == SECRETS_PAGE_SIZE);
    assert!(offset_of!(RawSecretsPage, fms) == 0x008);
    assert!(offset_of!(RawSecretsPage, gosvw) == 0x010);
    assert!(offset_of!(RawSecretsPage, vmpck) == 0x020);
    assert!(offset_of!(RawSecretsPage, msg_seqno_lo) == 0x0A0);
    assert!(offset_of!(RawSecretsPage, ap_jump_table_pa) == 0x0B0);
    assert!(offset_of!(RawSecretsPage, msg_seqno_hi) == 0x0B8);
    assert!(offset_of!(RawSecretsPage, os_area_version) == 0x0DE);
    assert!(offset_of!(RawSecretsPage, guest_usage) == 0x0E0);
    assert!(offset_of!(RawSecretsPage, vmsa_tweak_bitmap) == 0x100);
    assert!(offset_of!(RawSecretsPage, svsm_base) == 0x140);
    assert!(offset_of!(RawSecretsPage, svsm_caa) == 0x150);
    assert!(offset_of!(RawSecretsPage, svsm_guest_vmpl) == 0x15C);
    assert!(offset_of!(RawSecretsPage, tsc_factor) == 0x160);
    assert!(offset_of!(RawSecretsPage, launch_mit_vector) == 0x168);
};

/// Byte offset of VMPCK`index` in the page.
pub const fn vmpck_offset(index: usize) -> usize {
    0x20 + index * VMPCK_LEN
}

/// A VM platform communication key: the AES-256-GCM key of guest messages at one VMPL.
///
/// Zeroized on drop; `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Vmpck([u8; VMPCK_LEN]);

impl Zeroize for Vmpck {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for Vmpck {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Vmpck {}

impl Vmpck {
    /// Wraps raw key bytes.
    pub const fn new(bytes: [u8; VMPCK_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; VMPCK_LEN] {
        &self.0
    }

    /// True if the key is all zero, which the guest ABI uses for "disabled".
    pub fn is_disabled(&self) -> bool {
        self.0.iter().all(|&b| b == 0)
    }
}

impl fmt::Debug for Vmpck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_disabled() {
            f.write_str("Vmpck(disabled)")
        } else {
            f.write_str("Vmpck(<redacted>)")
        }
    }
}

/// Errors from [`SecretsPage::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsPageError {
    /// The version field is below [`MIN_SECRETS_VERSION`].
    UnsupportedVersion(u32),
    /// A VMPCK index outside 0..=3 was asked for.
    BadVmpckIndex(usize),
}

impl fmt::Display for SecretsPageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedVersion(v) => write!(
                f,
                "secrets page version {v} is not supported (need >= {MIN_SECRETS_VERSION})"
            ),
            Self::BadVmpckIndex(i) => write!(f, "VMPCK index {i} is not 0..=3"),
        }
    }
}

/// The guest-OS area (AMD 56421 §2.7): sequence numbers a previous stage left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsArea {
    /// Low 32 bits of the message sequence number per VMPCK.
    pub msg_seqno_lo: [u32; 4],
    /// AP jump table physical address (SEV-ES style AP start).
    pub ap_jump_table_pa: u64,
    /// High 32 bits of the message sequence number per VMPCK (GHCB rev 2.01+).
    pub msg_seqno_hi: [u32; 4],
    /// OS-area layout version.
    pub version: u16,
    /// 32 bytes free for guest use.
    pub guest_usage: [u8; 32],
}

impl OsArea {
    /// The 64-bit sequence number stored for VMPCK`index` (hi:lo), `None` for a bad index.
    pub fn msg_seqno(&self, index: usize) -> Option<u64> {
        let lo = *self.msg_seqno_lo.get(index)?;
        let hi = *self.msg_seqno_hi.get(index)?;
        Some((u64::from(hi) << 32) | u64::from(lo))
    }
}

/// SVSM fields of the secrets page (only meaningful when an SVSM runs at VMPL0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvsmArea {
    /// Guest physical base of the SVSM.
    pub base: u64,
    /// Size of the SVSM region.
    pub size: u64,
    /// Calling-area address for VMPL0's SVSM protocol.
    pub caa: u64,
    /// Highest SVSM protocol version supported.
    pub max_version: u32,
    /// VMPL the guest runs at.
    pub guest_vmpl: u8,
}

/// A parsed secrets page. Holds copies of the VMPCKs, which are zeroized when this is dropped.
#[derive(Debug, Clone)]
pub struct SecretsPage {
    /// Secrets page format version.
    pub version: u32,
    /// IMI_EN: the guest was launched as a migration image.
    pub imi_en: bool,
    /// Family/model/stepping (CPUID Fn0000_0001 EAX).
    pub fms: u32,
    /// Guest-OS-visible workarounds.
    pub gosvw: [u8; 16],
    vmpck: [Vmpck; VMPCK_COUNT],
    /// The guest-owned OS area.
    pub os_area: OsArea,
    /// VMSA tweak bitmap (VMSA register protection).
    pub vmsa_tweak_bitmap: [u8; 64],
    /// SVSM fields.
    pub svsm: SvsmArea,
    /// Secure TSC factor: effective TSC kHz = f − f·tsc_factor/100000 (AMD 56860 Table 71).
    pub tsc_factor: u32,
    /// Launch mitigation vector.
    pub launch_mit_vector: u64,
}

impl SecretsPage {
    /// Parses the page. The page comes from the PSP (measured page type), so the only check is
    /// the version.
    pub fn parse(page: &[u8; SECRETS_PAGE_SIZE]) -> Result<Self, SecretsPageError> {
        let raw = raw(page);
        let version = raw.version.get();
        if version < MIN_SECRETS_VERSION {
            return Err(SecretsPageError::UnsupportedVersion(version));
        }
        let vmpck = raw.vmpck.map(Vmpck::new);
        Ok(Self {
            version,
            imi_en: raw.imi_en.get() & 1 != 0,
            fms: raw.fms.get(),
            gosvw: raw.gosvw,
            vmpck,
            os_area: OsArea {
                msg_seqno_lo: raw.msg_seqno_lo.map(|v| v.get()),
                ap_jump_table_pa: raw.ap_jump_table_pa.get(),
                msg_seqno_hi: raw.msg_seqno_hi.map(|v| v.get()),
                version: raw.os_area_version.get(),
                guest_usage: raw.guest_usage,
            },
            vmsa_tweak_bitmap: raw.vmsa_tweak_bitmap,
            svsm: SvsmArea {
                base: raw.svsm_base.get(),
                size: raw.svsm_size.get(),
                caa: raw.svsm_caa.get(),
                max_version: raw.svsm_max_version.get(),
                guest_vmpl: raw.svsm_guest_vmpl,
            },
            tsc_factor: raw.tsc_factor.get(),
            launch_mit_vector: raw.launch_mit_vector.get(),
        })
    }

    /// A copy of VMPCK`index` (may be all-zero = disabled).
    pub fn vmpck(&self, index: usize) -> Result<&Vmpck, SecretsPageError> {
        self.vmpck
            .get(index)
            .ok_or(SecretsPageError::BadVmpckIndex(index))
    }

    /// Wipes this copy of VMPCK`index` (all zero = disabled).
    pub fn wipe_vmpck(&mut self, index: usize) -> Result<(), SecretsPageError> {
        self.vmpck
            .get_mut(index)
            .ok_or(SecretsPageError::BadVmpckIndex(index))?
            .zeroize();
        Ok(())
    }
}

fn raw(page: &[u8; SECRETS_PAGE_SIZE]) -> &RawSecretsPage {
    // Compile-time checked: same size, alignment 1, every bit pattern valid.
    zerocopy::transmute_ref!(page)
}

/// Wipes VMPCK`index` in the raw page (in place), so no later stage can use the key.
pub fn wipe_vmpck(
    page: &mut [u8; SECRETS_PAGE_SIZE],
    index: usize,
) -> Result<(), SecretsPageError> {
    if index >= VMPCK_COUNT {
        return Err(SecretsPageError::BadVmpckIndex(index));
    }
    let off = vmpck_offset(index);
    if let Some(key) = page.get_mut(off..off + VMPCK_LEN) {
        key.zeroize();
    }
    Ok(())
}

/// Copies VMPCK`index` out of the raw page (the caller usually wipes it afterwards).
pub fn read_vmpck(page: &[u8; SECRETS_PAGE_SIZE], index: usize) -> Result<Vmpck, SecretsPageError> {
    let raw = raw(page);
    raw.vmpck
        .get(index)
        .map(|k| Vmpck::new(*k))
        .ok_or(SecretsPageError::BadVmpckIndex(index))
}

/// Takes VMPCK`index` for exclusive use by this stage: returns a copy of the key and the
/// sequence number a previous stage left in the OS area (hi:lo), and wipes the key in the page so
/// nothing that runs later can reuse it (as Oak's stage0 does).
pub fn take_vmpck(
    page: &mut [u8; SECRETS_PAGE_SIZE],
    index: usize,
) -> Result<(Vmpck, u64), SecretsPageError> {
    let key = read_vmpck(page, index)?;
    let raw = raw(page);
    let lo = raw.msg_seqno_lo.get(index).map_or(0, |v| v.get());
    let hi = raw.msg_seqno_hi.get(index).map_or(0, |v| v.get());
    wipe_vmpck(page, index)?;
    Ok((key, (u64::from(hi) << 32) | u64::from(lo)))
}

/// Stores the 64-bit sequence number for VMPCK`index` in the OS area (lo at 0xA0 + 4·n, hi at
/// 0xB8 + 4·n), so a later boot stage continues where this one stopped.
pub fn write_msg_seqno(
    page: &mut [u8; SECRETS_PAGE_SIZE],
    index: usize,
    seqno: u64,
) -> Result<(), SecretsPageError> {
    if index >= VMPCK_COUNT {
        return Err(SecretsPageError::BadVmpckIndex(index));
    }
    let lo_off = 0xA0 + 4 * index;
    let hi_off = 0xB8 + 4 * index;
    // Truncation intended: the two 32-bit halves of the sequence number.
    let lo = (seqno as u32).to_le_bytes();
    let hi = ((seqno >> 32) as u32).to_le_bytes();
    if let Some(d) = page.get_mut(lo_off..lo_off + 4) {
        d.copy_from_slice(&lo);
    }
    if let Some(d) = page.get_mut(hi_off..hi_off + 4) {
        d.copy_from_slice(&hi);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_page() -> [u8; SECRETS_PAGE_SIZE] {
        let mut p = [0u8; SECRETS_PAGE_SIZE];
        p[0..4].copy_from_slice(&3u32.to_le_bytes());
        p[4] = 1;
        p[8..12].copy_from_slice(&0x00A0_0F11u32.to_le_bytes());
        for n in 0..4 {
            let off = 0x20 + 32 * n;
            for (i, b) in p[off..off + 32].iter_mut().enumerate() {
                *b = (n as u8 + 1) * 0x10 + i as u8;
            }
        }
        p[0xA4..0xA8].copy_from_slice(&7u32.to_le_bytes());
        p[0xBC..0xC0].copy_from_slice(&1u32.to_le_bytes());
        p[0xB0..0xB8].copy_from_slice(&0x1234_5000u64.to_le_bytes());
        p[0xDE..0xE0].copy_from_slice(&1u16.to_le_bytes());
        p[0x15C] = 2;
        p[0x160..0x164].copy_from_slice(&1234u32.to_le_bytes());
        p[0x168..0x170].copy_from_slice(&0xABu64.to_le_bytes());
        p
    }

    #[test]
    fn parses_fields_at_spec_offsets() {
        let p = sample_page();
        let s = SecretsPage::parse(&p).unwrap();
        assert_eq!(s.version, 3);
        assert!(s.imi_en);
        assert_eq!(s.fms, 0x00A0_0F11);
        assert_eq!(s.vmpck(0).unwrap().as_bytes()[0], 0x10);
        assert_eq!(s.vmpck(3).unwrap().as_bytes()[31], 0x40 + 31);
        assert_eq!(s.os_area.msg_seqno(1), Some((1u64 << 32) | 7));
        assert_eq!(s.os_area.msg_seqno(0), Some(0));
        assert_eq!(s.os_area.msg_seqno(4), None);
        assert_eq!(s.os_area.ap_jump_table_pa, 0x1234_5000);
        assert_eq!(s.os_area.version, 1);
        assert_eq!(s.svsm.guest_vmpl, 2);
        assert_eq!(s.tsc_factor, 1234);
        assert_eq!(s.launch_mit_vector, 0xAB);
        assert!(s.vmpck(4).is_err());
    }

    #[test]
    fn rejects_old_version() {
        let mut p = sample_page();
        p[0] = 1;
        assert_eq!(
            SecretsPage::parse(&p).unwrap_err(),
            SecretsPageError::UnsupportedVersion(1)
        );
    }

    #[test]
    fn wipe_in_page_and_in_copy() {
        let mut p = sample_page();
        assert!(!read_vmpck(&p, 2).unwrap().is_disabled());
        wipe_vmpck(&mut p, 2).unwrap();
        assert!(read_vmpck(&p, 2).unwrap().is_disabled());
        // Neighbours untouched.
        assert!(!read_vmpck(&p, 1).unwrap().is_disabled());
        assert!(!read_vmpck(&p, 3).unwrap().is_disabled());
        assert!(wipe_vmpck(&mut p, 4).is_err());

        let mut s = SecretsPage::parse(&p).unwrap();
        s.wipe_vmpck(0).unwrap();
        assert!(s.vmpck(0).unwrap().is_disabled());
        assert_eq!(format!("{:?}", s.vmpck(0).unwrap()), "Vmpck(disabled)");
        assert_eq!(format!("{:?}", s.vmpck(1).unwrap()), "Vmpck(<redacted>)");
    }

    #[test]
    fn take_copies_and_wipes() {
        let mut p = sample_page();
        let (k, seq) = take_vmpck(&mut p, 1).unwrap();
        assert_eq!(k.as_bytes()[0], 0x20);
        assert_eq!(seq, (1u64 << 32) | 7);
        assert!(read_vmpck(&p, 1).unwrap().is_disabled());
        assert!(!read_vmpck(&p, 0).unwrap().is_disabled());
        assert!(take_vmpck(&mut p, 4).is_err());
    }

    #[test]
    fn seqno_round_trip() {
        let mut p = sample_page();
        write_msg_seqno(&mut p, 3, 0x0000_0002_0000_0010).unwrap();
        let s = SecretsPage::parse(&p).unwrap();
        assert_eq!(s.os_area.msg_seqno(3), Some(0x0000_0002_0000_0010));
        assert_eq!(&p[0xAC..0xB0], &0x10u32.to_le_bytes());
        assert_eq!(&p[0xC4..0xC8], &2u32.to_le_bytes());
    }
}
