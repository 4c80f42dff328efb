//! Guest-message payloads: attestation report, derived key and Secure TSC info, plus typed
//! helpers on [`GuestRequestSession`].
//!
//! Layouts from AMD 56860 §7 "Guest Messages":
//! * MSG_REPORT_REQ (Table 22, 96 B): `report_data[64]` @0x00, vmpl u32 @0x40, key_sel `[1:0]` @0x44
//!   (0 = VLEK if loaded else VCEK, 1 = VCEK, 2 = VLEK), `reserved[24]` @0x48.
//! * MSG_REPORT_RSP (Table 25, 0x4C0 B): status u32 @0x00, report_size u32 @0x04 (= 0x4A0),
//!   `reserved[24]` @0x08, `report[0x4A0]` @0x20.
//! * MSG_KEY_REQ v1 (Table 18, 32 B): key_select u32 @0x00 (bit 0 root key 0 = VCEK, 1 = VMRK;
//!   `[2:1]` key_sel as above), reserved u32 @0x04, guest_field_select u64 @0x08, vmpl u32 @0x10,
//!   guest_svn u32 @0x14, tcb_version u64 @0x18.
//! * MSG_KEY_RSP (Table 19, 64 B): status u32 @0x00, `reserved[28]`, `derived_key[32]` @0x20.
//! * MSG_TSC_INFO_REQ (128 B, all zero) / MSG_TSC_INFO_RSP (128 B): status u32 @0x00, reserved
//!   u32, guest_tsc_scale u64 @0x08, guest_tsc_offset u64 @0x10, tsc_factor u32 @0x18,
//!   `reserved[100]` @0x1C.
//!
//! STATUS codes (Table 25/19): 0 success, 0x16 INVALID_PARAM, 0x27 INVALID_KEY. A non-zero status
//! means the exchange itself completed: the key stays usable
//! ([`SessionError::FirmwareStatus`]). A response whose payload does not match its type is
//! treated like a forged one and wipes the key.
//!
//! The extended request (NAE 0x8000_0012, AMD 56421 §4.1.8.2) is a MSG_REPORT_REQ plus a shared
//! certificate buffer the host fills with a table parsed by [`crate::cert_table`].

use alloc::boxed::Box;
use alloc::vec;
use core::fmt;
use core::mem::offset_of;

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::guest_msg::{
    GuestRequestSession, GuestRequestTransport, MAX_PAYLOAD, MsgType, PAGE_SIZE, Request,
    SealError, SessionError, SharedPages,
};

pub use crate::report::REPORT_SIZE;
/// Size of MSG_REPORT_REQ.
pub const REPORT_REQ_SIZE: usize = 0x60;
/// Size of MSG_REPORT_RSP.
pub const REPORT_RSP_SIZE: usize = 0x20 + REPORT_SIZE;
/// Size of MSG_KEY_REQ version 1.
pub const KEY_REQ_V1_SIZE: usize = 0x20;
/// Size of MSG_KEY_RSP.
pub const KEY_RSP_SIZE: usize = 0x40;
/// Size of MSG_TSC_INFO_REQ and MSG_TSC_INFO_RSP.
pub const TSC_INFO_SIZE: usize = 0x80;
/// Length of a derived key.
pub const DERIVED_KEY_LEN: usize = 32;
/// STATUS: success.
pub const STATUS_SUCCESS: u32 = 0;
/// STATUS: INVALID_PARAM.
pub const STATUS_INVALID_PARAM: u32 = 0x16;
/// STATUS: INVALID_KEY.
pub const STATUS_INVALID_KEY: u32 = 0x27;
/// Highest VMPL.
pub const MAX_VMPL: u32 = 3;

/// Which endorsement key signs the report / roots the derived key (KEY_SEL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u32)]
pub enum KeySel {
    /// VLEK if one is loaded, else VCEK.
    #[default]
    Default = 0,
    /// VCEK.
    Vcek = 1,
    /// VLEK.
    Vlek = 2,
}

/// MSG_REPORT_REQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// 64 bytes chosen by the guest, copied verbatim into REPORT_DATA.
    pub report_data: [u8; 64],
    /// VMPL to report (>= the guest's current VMPL, <= 3).
    pub vmpl: u32,
    /// Signing key choice.
    pub key_sel: KeySel,
}

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct RawReportReq {
    report_data: [u8; 64],
    vmpl: U32,
    key_sel: U32,
    reserved: [u8; 24],
}

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct RawReportRsp {
    status: U32,
    report_size: U32,
    reserved: [u8; 24],
    report: [u8; REPORT_SIZE],
}

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct RawKeyReq {
    key_select: U32,
    reserved: U32,
    guest_field_select: U64,
    vmpl: U32,
    guest_svn: U32,
    tcb_version: U64,
}

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct RawKeyRsp {
    status: U32,
    reserved: [u8; 28],
    derived_key: [u8; DERIVED_KEY_LEN],
}

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct RawTscInfoRsp {
    status: U32,
    reserved: U32,
    guest_tsc_scale: U64,
    guest_tsc_offset: U64,
    tsc_factor: U32,
    reserved2: [u8; 100],
}

const _: () = {
    assert!(size_of::<RawReportReq>() == REPORT_REQ_SIZE);
    assert!(offset_of!(RawReportReq, vmpl) == 0x40);
    assert!(offset_of!(RawReportReq, key_sel) == 0x44);
    assert!(size_of::<RawReportRsp>() == REPORT_RSP_SIZE);
    assert!(offset_of!(RawReportRsp, report) == 0x20);
    assert!(size_of::<RawKeyReq>() == KEY_REQ_V1_SIZE);
    assert!(offset_of!(RawKeyReq, guest_field_select) == 0x08);
    assert!(offset_of!(RawKeyReq, vmpl) == 0x10);
    assert!(offset_of!(RawKeyReq, guest_svn) == 0x14);
    assert!(offset_of!(RawKeyReq, tcb_version) == 0x18);
    assert!(size_of::<RawKeyRsp>() == KEY_RSP_SIZE);
    assert!(offset_of!(RawKeyRsp, derived_key) == 0x20);
    assert!(size_of::<RawTscInfoRsp>() == TSC_INFO_SIZE);
    assert!(offset_of!(RawTscInfoRsp, guest_tsc_scale) == 0x08);
    assert!(offset_of!(RawTscInfoRsp, guest_tsc_offset) == 0x10);
    assert!(offset_of!(RawTscInfoRsp, tsc_factor) == 0x18);
};

impl ReportRequest {
    /// A request for the guest's own VMPL 0 report with default key selection.
    pub fn new(report_data: [u8; 64]) -> Self {
        Self {
            report_data,
            vmpl: 0,
            key_sel: KeySel::Default,
        }
    }

    /// Encodes the 96-byte payload.
    pub fn to_bytes(&self) -> [u8; REPORT_REQ_SIZE] {
        let raw = RawReportReq {
            report_data: self.report_data,
            vmpl: U32::new(self.vmpl),
            key_sel: U32::new(self.key_sel as u32),
            reserved: [0; 24],
        };
        zerocopy::transmute!(raw)
    }
}

/// Decodes MSG_REPORT_RSP: `Ok(report)` on success, `Err(Status)` for a non-zero status,
/// `Err(Malformed)` if REPORT_SIZE is not 0x4A0 or the payload is short.
pub fn parse_report_response(payload: &[u8]) -> Result<Box<[u8; REPORT_SIZE]>, PayloadError> {
    let (raw, _) = RawReportRsp::ref_from_prefix(payload)
        .map_err(|_| PayloadError::Malformed("MSG_REPORT_RSP shorter than 0x4C0 bytes"))?;
    let status = raw.status.get();
    if status != STATUS_SUCCESS {
        return Err(PayloadError::Status(status));
    }
    if raw.report_size.get() as usize != REPORT_SIZE {
        return Err(PayloadError::Malformed(
            "MSG_REPORT_RSP REPORT_SIZE is not 0x4A0",
        ));
    }
    Ok(Box::new(raw.report))
}

/// Fields mixed into a derived key (GUEST_FIELD_SELECT, AMD 56860 Table 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuestFieldSelect(pub u64);

impl GuestFieldSelect {
    /// Bit 0: guest policy.
    pub const POLICY: u64 = 1 << 0;
    /// Bit 1: image ID.
    pub const IMAGE_ID: u64 = 1 << 1;
    /// Bit 2: family ID.
    pub const FAMILY_ID: u64 = 1 << 2;
    /// Bit 3: launch measurement.
    pub const MEASUREMENT: u64 = 1 << 3;
    /// Bit 4: guest SVN.
    pub const GUEST_SVN: u64 = 1 << 4;
    /// Bit 5: TCB version.
    pub const TCB_VERSION: u64 = 1 << 5;
    /// Bit 6: launch mitigation vector (MSG_KEY_REQ version 2 only).
    pub const LAUNCH_MIT_VECTOR: u64 = 1 << 6;
    /// Bits valid in a version-1 request.
    pub const V1_MASK: u64 = (1 << 6) - 1;

    /// Measurement + policy: a sealing key bound to this exact image and its policy.
    pub const fn sealing() -> Self {
        Self(Self::MEASUREMENT | Self::POLICY)
    }
}

/// Root key of a derived key (ROOT_KEY_SELECT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootKey {
    /// The chip endorsement key (VCEK/VLEK, per `key_sel`).
    #[default]
    Vcek,
    /// The VM root key (migration-stable).
    Vmrk,
}

/// MSG_KEY_REQ version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyRequest {
    /// Root key.
    pub root_key: RootKey,
    /// VCEK/VLEK choice when the root is the chip key.
    pub key_sel: KeySel,
    /// Fields mixed into the key.
    pub guest_field_select: GuestFieldSelect,
    /// VMPL to mix in (>= current VMPL).
    pub vmpl: u32,
    /// Guest SVN to mix in (<= the launch SVN).
    pub guest_svn: u32,
    /// TCB version to mix in (<= committed TCB).
    pub tcb_version: u64,
}

impl KeyRequest {
    /// Encodes the 32-byte version-1 payload; refuses field bits version 1 does not define.
    pub fn to_bytes(&self) -> Result<[u8; KEY_REQ_V1_SIZE], SealError> {
        if self.guest_field_select.0 & !GuestFieldSelect::V1_MASK != 0 {
            return Err(SealError::BadField(
                "guest_field_select bit not defined in MSG_KEY_REQ v1",
            ));
        }
        if self.vmpl > MAX_VMPL {
            return Err(SealError::BadField("vmpl above 3"));
        }
        let root = match self.root_key {
            RootKey::Vcek => 0,
            RootKey::Vmrk => 1,
        };
        let raw = RawKeyReq {
            key_select: U32::new(root | ((self.key_sel as u32) << 1)),
            reserved: U32::new(0),
            guest_field_select: U64::new(self.guest_field_select.0),
            vmpl: U32::new(self.vmpl),
            guest_svn: U32::new(self.guest_svn),
            tcb_version: U64::new(self.tcb_version),
        };
        Ok(zerocopy::transmute!(raw))
    }
}

/// A 32-byte derived key; zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DerivedKey([u8; DERIVED_KEY_LEN]);

impl DerivedKey {
    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; DERIVED_KEY_LEN] {
        &self.0
    }
}

impl Zeroize for DerivedKey {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for DerivedKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for DerivedKey {}

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKey(<redacted>)")
    }
}

/// Decodes MSG_KEY_RSP.
pub fn parse_key_response(payload: &[u8]) -> Result<DerivedKey, PayloadError> {
    let (raw, _) = RawKeyRsp::ref_from_prefix(payload)
        .map_err(|_| PayloadError::Malformed("MSG_KEY_RSP shorter than 64 bytes"))?;
    let status = raw.status.get();
    if status != STATUS_SUCCESS {
        return Err(PayloadError::Status(status));
    }
    Ok(DerivedKey(raw.derived_key))
}

/// MSG_TSC_INFO_RSP values (Secure TSC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TscInfo {
    /// Guest TSC scale (the ratio applied by hardware; 0 is not a valid scale).
    pub guest_tsc_scale: u64,
    /// Guest TSC offset.
    pub guest_tsc_offset: u64,
    /// TSC factor (same meaning as the secrets-page field).
    pub tsc_factor: u32,
}

impl TscInfo {
    /// False if the scale is 0, which no real PSP reports (COCONUT-SVSM rejects it too).
    pub fn is_plausible(&self) -> bool {
        self.guest_tsc_scale != 0
    }
}

/// Decodes MSG_TSC_INFO_RSP.
pub fn parse_tsc_info_response(payload: &[u8]) -> Result<TscInfo, PayloadError> {
    let (raw, _) = RawTscInfoRsp::ref_from_prefix(payload)
        .map_err(|_| PayloadError::Malformed("MSG_TSC_INFO_RSP shorter than 128 bytes"))?;
    let status = raw.status.get();
    if status != STATUS_SUCCESS {
        return Err(PayloadError::Status(status));
    }
    Ok(TscInfo {
        guest_tsc_scale: raw.guest_tsc_scale.get(),
        guest_tsc_offset: raw.guest_tsc_offset.get(),
        tsc_factor: raw.tsc_factor.get(),
    })
}

/// Why a decrypted payload was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadError {
    /// STATUS field non-zero (exchange completed; key stays usable).
    Status(u32),
    /// Structurally wrong payload (treated as a forged response).
    Malformed(&'static str),
}

impl<T: GuestRequestTransport> GuestRequestSession<T> {
    fn finish<R>(&mut self, r: Result<R, PayloadError>) -> Result<R, SessionError> {
        match r {
            Ok(v) => Ok(v),
            Err(PayloadError::Status(s)) => Err(SessionError::FirmwareStatus(s)),
            Err(PayloadError::Malformed(what)) => Err(self.reject_payload(what)),
        }
    }

    fn exchange(
        &mut self,
        pages: SharedPages<'_>,
        msg_type: MsgType,
        payload: &[u8],
        min_response: usize,
        certs: Option<&mut [u8]>,
    ) -> Result<Box<[u8]>, SessionError> {
        let mut out = vec![0u8; MAX_PAYLOAD].into_boxed_slice();
        let req = Request {
            msg_type,
            msg_version: 1,
            payload,
            min_response,
        };
        self.send(pages, &req, certs, &mut out)?;
        Ok(out)
    }

    /// Asks the PSP for an attestation report (MSG_REPORT_REQ). Returns the raw 1184-byte
    /// report; parse it with [`crate::report::AttestationReport::parse`].
    pub fn get_report(
        &mut self,
        pages: SharedPages<'_>,
        req: &ReportRequest,
    ) -> Result<Box<[u8; REPORT_SIZE]>, SessionError> {
        let payload = req.to_bytes();
        let out = self.exchange(pages, MsgType::ReportReq, &payload, REPORT_RSP_SIZE, None)?;
        let r = parse_report_response(&out);
        self.finish(r)
    }

    /// Extended report request (NAE 0x8000_0012): like [`Self::get_report`], and the host fills
    /// `certs` (shared, whole pages) with its certificate table. If the buffer is too small the
    /// request is completed as a regular one and [`SessionError::CertBufferTooSmall`] says how
    /// many pages to provide.
    pub fn get_extended_report(
        &mut self,
        pages: SharedPages<'_>,
        req: &ReportRequest,
        certs: &mut [u8],
    ) -> Result<Box<[u8; REPORT_SIZE]>, SessionError> {
        if certs.is_empty() || !certs.len().is_multiple_of(PAGE_SIZE) {
            return Err(SessionError::Seal(SealError::BadField(
                "certificate buffer must be a non-zero number of whole pages",
            )));
        }
        let payload = req.to_bytes();
        let out = self.exchange(
            pages,
            MsgType::ReportReq,
            &payload,
            REPORT_RSP_SIZE,
            Some(certs),
        )?;
        let r = parse_report_response(&out);
        self.finish(r)
    }

    /// Asks for a derived key (MSG_KEY_REQ v1).
    pub fn get_derived_key(
        &mut self,
        pages: SharedPages<'_>,
        req: &KeyRequest,
    ) -> Result<DerivedKey, SessionError> {
        let payload = req.to_bytes().map_err(SessionError::Seal)?;
        let mut out = self.exchange(pages, MsgType::KeyReq, &payload, KEY_RSP_SIZE, None)?;
        let r = parse_key_response(&out);
        out.zeroize();
        self.finish(r)
    }

    /// Asks for the Secure TSC parameters (MSG_TSC_INFO_REQ).
    pub fn get_tsc_info(&mut self, pages: SharedPages<'_>) -> Result<TscInfo, SessionError> {
        let payload = [0u8; TSC_INFO_SIZE];
        let out = self.exchange(pages, MsgType::TscInfoReq, &payload, TSC_INFO_SIZE, None)?;
        let r = parse_tsc_info_response(&out);
        self.finish(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_request_layout() {
        let mut rd = [0u8; 64];
        rd[0] = 0xAA;
        rd[63] = 0xBB;
        let r = ReportRequest {
            report_data: rd,
            vmpl: 2,
            key_sel: KeySel::Vlek,
        };
        let b = r.to_bytes();
        assert_eq!(b.len(), 96);
        assert_eq!(b[0], 0xAA);
        assert_eq!(b[63], 0xBB);
        assert_eq!(&b[0x40..0x44], &2u32.to_le_bytes());
        assert_eq!(&b[0x44..0x48], &2u32.to_le_bytes());
        assert!(b[0x48..].iter().all(|&x| x == 0));
    }

    #[test]
    fn key_request_layout() {
        let k = KeyRequest {
            root_key: RootKey::Vmrk,
            key_sel: KeySel::Vcek,
            guest_field_select: GuestFieldSelect::sealing(),
            vmpl: 1,
            guest_svn: 7,
            tcb_version: 0x1122_3344_5566_7788,
        };
        let b = k.to_bytes().unwrap();
        assert_eq!(&b[0..4], &0b11u32.to_le_bytes());
        assert_eq!(&b[4..8], &[0; 4]);
        assert_eq!(&b[8..16], &0b1001u64.to_le_bytes());
        assert_eq!(&b[0x10..0x14], &1u32.to_le_bytes());
        assert_eq!(&b[0x14..0x18], &7u32.to_le_bytes());
        assert_eq!(&b[0x18..0x20], &0x1122_3344_5566_7788u64.to_le_bytes());
        let bad = KeyRequest {
            guest_field_select: GuestFieldSelect(GuestFieldSelect::LAUNCH_MIT_VECTOR),
            ..k
        };
        assert!(bad.to_bytes().is_err());
        let bad = KeyRequest { vmpl: 4, ..k };
        assert!(bad.to_bytes().is_err());
    }

    #[test]
    fn report_response_checks() {
        let mut p = vec![0u8; REPORT_RSP_SIZE];
        p[4..8].copy_from_slice(&(REPORT_SIZE as u32).to_le_bytes());
        p[0x20] = 2;
        p[0x20 + REPORT_SIZE - 1] = 0x5A;
        let r = parse_report_response(&p).unwrap();
        assert_eq!(r[0], 2);
        assert_eq!(r[REPORT_SIZE - 1], 0x5A);
        p[4] = 0x9F;
        assert!(matches!(
            parse_report_response(&p),
            Err(PayloadError::Malformed(_))
        ));
        p[0..4].copy_from_slice(&0x16u32.to_le_bytes());
        assert_eq!(parse_report_response(&p), Err(PayloadError::Status(0x16)));
        assert!(matches!(
            parse_report_response(&p[..REPORT_RSP_SIZE - 1]),
            Err(PayloadError::Malformed(_))
        ));
    }

    #[test]
    fn key_and_tsc_responses() {
        let mut p = [0u8; KEY_RSP_SIZE];
        p[0x20..].copy_from_slice(&[7u8; 32]);
        assert_eq!(parse_key_response(&p).unwrap().as_bytes(), &[7u8; 32]);
        p[0] = 0x27;
        assert_eq!(parse_key_response(&p), Err(PayloadError::Status(0x27)));
        assert!(parse_key_response(&p[..63]).is_err());
        assert_eq!(
            format!("{:?}", DerivedKey([1; 32])),
            "DerivedKey(<redacted>)"
        );

        let mut t = [0u8; TSC_INFO_SIZE];
        t[8..16].copy_from_slice(&0x1_0000_0000u64.to_le_bytes());
        t[16..24].copy_from_slice(&5u64.to_le_bytes());
        t[24..28].copy_from_slice(&100u32.to_le_bytes());
        let i = parse_tsc_info_response(&t).unwrap();
        assert_eq!(i.guest_tsc_scale, 0x1_0000_0000);
        assert_eq!(i.guest_tsc_offset, 5);
        assert_eq!(i.tsc_factor, 100);
        assert!(i.is_plausible());
        t[0] = 0x16;
        assert_eq!(parse_tsc_info_response(&t), Err(PayloadError::Status(0x16)));
    }
}
