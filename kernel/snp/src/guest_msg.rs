//! SNP guest messages: the 96-byte header, AES-256-GCM sealing, response checks, and a
//! [`GuestRequestSession`] that owns a VMPCK and its sequence numbers.
//!
//! Wire format (AMD 56860 §8.26 "SNP_GUEST_REQUEST", Table 98 "Message Header Format"): one 4 KiB
//! page = 96-byte header + up to 4000 bytes of ciphertext.
//!
//! | off | size | field |
//! |---|---|---|
//! | 0x00 | 32 | AUTHTAG (AES-GCM tag in bytes 0..16) |
//! | 0x20 | 8 | MSG_SEQNO |
//! | 0x28 | 8 | reserved |
//! | 0x30 | 1 | ALGO (1 = AES-256-GCM) |
//! | 0x31 | 1 | HDR_VERSION (1) |
//! | 0x32 | 2 | HDR_SIZE (0x60) |
//! | 0x34 | 1 | MSG_TYPE |
//! | 0x35 | 1 | MSG_VERSION |
//! | 0x36 | 2 | MSG_SIZE (plaintext payload length) |
//! | 0x38 | 4 | reserved |
//! | 0x3C | 1 | MSG_VMPCK (key index 0..3) |
//! | 0x3D | 35 | reserved |
//!
//! AES-256-GCM with key = VMPCK, IV = MSG_SEQNO little-endian in bytes 0..8 followed by 4 zero
//! bytes, AAD = header bytes 0x30..0x60 (AMD 56860 Table 99 "AEAD Algorithm Encodings").
//!
//! Sequence numbers: the PSP keeps its own per-VMPCK counter. A request carries S+1, the response
//! S+2, and S advances by 2 per completed exchange; 0 is invalid. Counts are capped below
//! `u32::MAX` as in Linux (`snp_get_msg_seqno`).
//!
//! Transport: the hypervisor forwards the shared request/response pages to the PSP on NAE exit
//! 0x8000_0011 (or 0x8000_0012 with a certificate buffer, AMD 56421 §4.1.8). On return
//! `SW_EXITINFO2[31:0]` is the PSP status and `[63:32]` a VMM error: 1 = INVALID_LEN (RBX = pages
//! needed), 2 = BUSY. [`TransportError::from_exit_info_2`] maps that onto [`TransportError`].
//!
//! Error policy (Linux `__handle_guest_request` / `snp_send_guest_request`): once an encrypted
//! request has been in shared memory its IV must never be used again with other plaintext, so
//! * BUSY: re-send the *same* encrypted bytes (bounded retries with a delay hook);
//! * INVALID_LEN on an extended request: re-send the same bytes as a *regular* request so the
//!   PSP consumes the sequence number, then report how many certificate pages are needed;
//! * anything else (PSP error, transport error, a response that fails a header check or the tag,
//!   a malformed decrypted payload): wipe the VMPCK and refuse every later request.

use alloc::boxed::Box;
use core::fmt;
use core::mem::offset_of;
use core::ops::Range;

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit};
use zerocopy::byteorder::little_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};
use zeroize::Zeroize;

use crate::secrets_page::{VMPCK_COUNT, Vmpck};

/// Size of a guest-message page.
pub const PAGE_SIZE: usize = 4096;
/// Size of the message header.
pub const HEADER_SIZE: usize = 0x60;
/// Largest payload that fits in one page after the header.
pub const MAX_PAYLOAD: usize = PAGE_SIZE - HEADER_SIZE;
/// Header bytes authenticated as AAD.
pub const AAD_RANGE: Range<usize> = 0x30..0x60;
/// Length of the AES-GCM tag stored at the start of AUTHTAG.
pub const AUTHTAG_LEN: usize = 16;
/// ALGO value for AES-256-GCM (0 is invalid).
pub const ALGO_AES_256_GCM: u8 = 1;
/// The only defined header version.
pub const HDR_VERSION: u8 = 1;
/// Requests whose sequence number would reach this are refused (Linux `snp_get_msg_seqno`).
pub const SEQNO_LIMIT: u64 = u32::MAX as u64;
/// Default BUSY retry bound: Linux waits 2 s between tries for at most 60 s.
pub const DEFAULT_MAX_BUSY_RETRIES: u32 = 30;

/// Guest message types (AMD 56860 Table 100 "Message Type Encodings").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MsgType {
    /// MSG_CPUID_REQ
    CpuidReq = 1,
    /// MSG_CPUID_RSP
    CpuidRsp = 2,
    /// MSG_KEY_REQ (derived key)
    KeyReq = 3,
    /// MSG_KEY_RSP
    KeyRsp = 4,
    /// MSG_REPORT_REQ (attestation report)
    ReportReq = 5,
    /// MSG_REPORT_RSP
    ReportRsp = 6,
    /// MSG_EXPORT_REQ
    ExportReq = 7,
    /// MSG_EXPORT_RSP
    ExportRsp = 8,
    /// MSG_IMPORT_REQ
    ImportReq = 9,
    /// MSG_IMPORT_RSP
    ImportRsp = 10,
    /// MSG_ABSORB_REQ
    AbsorbReq = 11,
    /// MSG_ABSORB_RSP
    AbsorbRsp = 12,
    /// MSG_VMRK_REQ
    VmrkReq = 13,
    /// MSG_VMRK_RSP
    VmrkRsp = 14,
    /// MSG_ABSORB_NOMA_REQ
    AbsorbNomaReq = 15,
    /// MSG_ABSORB_NOMA_RSP
    AbsorbNomaRsp = 16,
    /// MSG_TSC_INFO_REQ (Secure TSC)
    TscInfoReq = 17,
    /// MSG_TSC_INFO_RSP
    TscInfoRsp = 18,
}

impl MsgType {
    /// Decodes a MSG_TYPE byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        use MsgType::*;
        Some(match v {
            1 => CpuidReq,
            2 => CpuidRsp,
            3 => KeyReq,
            4 => KeyRsp,
            5 => ReportReq,
            6 => ReportRsp,
            7 => ExportReq,
            8 => ExportRsp,
            9 => ImportReq,
            10 => ImportRsp,
            11 => AbsorbReq,
            12 => AbsorbRsp,
            13 => VmrkReq,
            14 => VmrkRsp,
            15 => AbsorbNomaReq,
            16 => AbsorbNomaRsp,
            17 => TscInfoReq,
            18 => TscInfoRsp,
            _ => return None,
        })
    }

    /// The response type that answers this request (request + 1), `None` for responses.
    pub fn response(self) -> Option<Self> {
        let v = self as u8;
        if v % 2 == 1 {
            Self::from_u8(v + 1)
        } else {
            None
        }
    }
}

/// The 96-byte guest-message header (AMD 56860 Table 98).
#[repr(C)]
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, PartialEq, Eq)]
pub struct MsgHeader {
    /// Authentication tag; AES-256-GCM uses bytes 0..16.
    pub authtag: [u8; 32],
    /// Message sequence number (also the IV).
    pub msg_seqno: U64,
    /// Reserved, zero.
    pub reserved_28: [u8; 8],
    /// AEAD algorithm (1 = AES-256-GCM).
    pub algo: u8,
    /// Header version (1).
    pub hdr_version: u8,
    /// Header size (0x60).
    pub hdr_sz: U16,
    /// Message type.
    pub msg_type: u8,
    /// Message version.
    pub msg_version: u8,
    /// Plaintext payload size.
    pub msg_sz: U16,
    /// Reserved, zero.
    pub reserved_38: [u8; 4],
    /// VMPCK index used.
    pub msg_vmpck: u8,
    /// Reserved, zero.
    pub reserved_3d: [u8; 35],
}

const _: () = {
    assert!(size_of::<MsgHeader>() == HEADER_SIZE);
    assert!(offset_of!(MsgHeader, authtag) == 0x00);
    assert!(offset_of!(MsgHeader, msg_seqno) == 0x20);
    assert!(offset_of!(MsgHeader, reserved_28) == 0x28);
    assert!(offset_of!(MsgHeader, algo) == 0x30);
    assert!(offset_of!(MsgHeader, hdr_version) == 0x31);
    assert!(offset_of!(MsgHeader, hdr_sz) == 0x32);
    assert!(offset_of!(MsgHeader, msg_type) == 0x34);
    assert!(offset_of!(MsgHeader, msg_version) == 0x35);
    assert!(offset_of!(MsgHeader, msg_sz) == 0x36);
    assert!(offset_of!(MsgHeader, reserved_38) == 0x38);
    assert!(offset_of!(MsgHeader, msg_vmpck) == 0x3C);
    assert!(offset_of!(MsgHeader, reserved_3d) == 0x3D);
    assert!(AAD_RANGE.end - AAD_RANGE.start == 48);
};

/// What a request header carries besides the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestParams {
    /// MSG_TYPE of the request.
    pub msg_type: MsgType,
    /// MSG_VERSION of the request.
    pub msg_version: u8,
    /// Sequence number (S+1).
    pub seqno: u64,
    /// VMPCK index 0..=3.
    pub vmpck_index: u8,
}

/// Failures while building a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// Payload longer than [`MAX_PAYLOAD`].
    PayloadTooLarge(usize),
    /// Sequence number 0 or >= [`SEQNO_LIMIT`].
    BadSeqno(u64),
    /// VMPCK index > 3.
    BadVmpckIndex(u8),
    /// The key is all zero (disabled).
    KeyDisabled,
    /// The AEAD implementation refused (cannot happen for <= 4000 bytes).
    Aead,
    /// A request field is out of range (names the field).
    BadField(&'static str),
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PayloadTooLarge(n) => write!(f, "payload of {n} bytes exceeds {MAX_PAYLOAD}"),
            Self::BadSeqno(s) => write!(f, "sequence number {s} is not usable"),
            Self::BadVmpckIndex(i) => write!(f, "VMPCK index {i} is not 0..=3"),
            Self::KeyDisabled => f.write_str("VMPCK is disabled (all zero)"),
            Self::Aead => f.write_str("AES-GCM encryption failed"),
            Self::BadField(what) => write!(f, "bad request field: {what}"),
        }
    }
}

/// Why a response was rejected. Each field is checked before decryption, then the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// ALGO is not AES-256-GCM.
    BadAlgo(u8),
    /// HDR_VERSION is not 1.
    BadHdrVersion(u8),
    /// HDR_SIZE is not 0x60.
    BadHdrSize(u16),
    /// MSG_TYPE is not request type + 1.
    BadMsgType {
        /// Type the response must have.
        expected: u8,
        /// Type it had.
        got: u8,
    },
    /// MSG_VERSION differs from the request's.
    BadMsgVersion {
        /// Version of the request.
        expected: u8,
        /// Version in the response.
        got: u8,
    },
    /// MSG_SIZE is below the response type's size or above the space available.
    BadMsgSize {
        /// Size in the header.
        got: u16,
        /// Smallest acceptable size.
        min: usize,
        /// Largest acceptable size.
        max: usize,
    },
    /// MSG_SEQNO is not request seqno + 1 (stale, replayed or forged).
    BadSeqno {
        /// Sequence number the response must carry.
        expected: u64,
        /// Sequence number it carried.
        got: u64,
    },
    /// MSG_VMPCK differs from the request's key index.
    BadVmpck {
        /// Index used for the request.
        expected: u8,
        /// Index in the response.
        got: u8,
    },
    /// A reserved header field is not zero.
    ReservedNonZero,
    /// The AES-GCM tag did not verify.
    BadTag,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadAlgo(a) => write!(f, "response ALGO {a} is not AES-256-GCM (1)"),
            Self::BadHdrVersion(v) => write!(f, "response HDR_VERSION {v} is not 1"),
            Self::BadHdrSize(s) => write!(f, "response HDR_SIZE {s:#x} is not 0x60"),
            Self::BadMsgType { expected, got } => {
                write!(f, "response MSG_TYPE {got} is not {expected}")
            }
            Self::BadMsgVersion { expected, got } => {
                write!(f, "response MSG_VERSION {got} is not {expected}")
            }
            Self::BadMsgSize { got, min, max } => {
                write!(f, "response MSG_SIZE {got} is outside {min}..={max}")
            }
            Self::BadSeqno { expected, got } => {
                write!(f, "response MSG_SEQNO {got} is not {expected}")
            }
            Self::BadVmpck { expected, got } => {
                write!(f, "response MSG_VMPCK {got} is not {expected}")
            }
            Self::ReservedNonZero => f.write_str("response header reserved bytes are not zero"),
            Self::BadTag => f.write_str("response authentication tag does not verify"),
        }
    }
}

/// What the response to a given request must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedResponse {
    /// The request's parameters.
    pub request: RequestParams,
    /// Smallest acceptable MSG_SIZE (the response structure's size).
    pub min_size: usize,
    /// Largest acceptable MSG_SIZE (the caller's buffer, at most [`MAX_PAYLOAD`]).
    pub max_size: usize,
}

fn iv_for(seqno: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&seqno.to_le_bytes());
    iv
}

fn cipher(key: &Vmpck) -> Aes256Gcm {
    Aes256Gcm::new(key.as_bytes().into())
}

/// Builds and encrypts a request into `page` (a *private* staging page; the caller copies it to
/// the shared request page). The whole page is rewritten.
pub fn seal_request(
    key: &Vmpck,
    params: &RequestParams,
    payload: &[u8],
    page: &mut [u8; PAGE_SIZE],
) -> Result<(), SealError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(SealError::PayloadTooLarge(payload.len()));
    }
    if params.seqno == 0 || params.seqno >= SEQNO_LIMIT {
        return Err(SealError::BadSeqno(params.seqno));
    }
    if usize::from(params.vmpck_index) >= VMPCK_COUNT {
        return Err(SealError::BadVmpckIndex(params.vmpck_index));
    }
    if key.is_disabled() {
        return Err(SealError::KeyDisabled);
    }
    page.fill(0);
    let len =
        u16::try_from(payload.len()).map_err(|_| SealError::PayloadTooLarge(payload.len()))?;
    let hdr = MsgHeader {
        authtag: [0; 32],
        msg_seqno: U64::new(params.seqno),
        reserved_28: [0; 8],
        algo: ALGO_AES_256_GCM,
        hdr_version: HDR_VERSION,
        hdr_sz: U16::new(HEADER_SIZE as u16),
        msg_type: params.msg_type as u8,
        msg_version: params.msg_version,
        msg_sz: U16::new(len),
        reserved_38: [0; 4],
        msg_vmpck: params.vmpck_index,
        reserved_3d: [0; 35],
    };
    let (head, body) = page.split_at_mut(HEADER_SIZE);
    head.copy_from_slice(hdr.as_bytes());
    let msg = body.get_mut(..payload.len()).ok_or(SealError::Aead)?;
    msg.copy_from_slice(payload);
    let aad = head.get(AAD_RANGE).ok_or(SealError::Aead)?;
    let tag = cipher(key)
        .encrypt_inout_detached(&iv_for(params.seqno).into(), aad, msg.into())
        .map_err(|_| SealError::Aead)?;
    head.get_mut(..AUTHTAG_LEN)
        .ok_or(SealError::Aead)?
        .copy_from_slice(&tag);
    Ok(())
}

/// Checks every header field of a response against the request, before any decryption.
pub fn check_response_header(
    page: &[u8; PAGE_SIZE],
    expect: &ExpectedResponse,
) -> Result<MsgHeader, ResponseError> {
    let hdr = header_of(page);
    if hdr.algo != ALGO_AES_256_GCM {
        return Err(ResponseError::BadAlgo(hdr.algo));
    }
    if hdr.hdr_version != HDR_VERSION {
        return Err(ResponseError::BadHdrVersion(hdr.hdr_version));
    }
    if usize::from(hdr.hdr_sz.get()) != HEADER_SIZE {
        return Err(ResponseError::BadHdrSize(hdr.hdr_sz.get()));
    }
    let want_type = (expect.request.msg_type as u8).wrapping_add(1);
    if hdr.msg_type != want_type {
        return Err(ResponseError::BadMsgType {
            expected: want_type,
            got: hdr.msg_type,
        });
    }
    if hdr.msg_version != expect.request.msg_version {
        return Err(ResponseError::BadMsgVersion {
            expected: expect.request.msg_version,
            got: hdr.msg_version,
        });
    }
    let max = expect.max_size.min(MAX_PAYLOAD);
    let sz = usize::from(hdr.msg_sz.get());
    if sz < expect.min_size || sz > max {
        return Err(ResponseError::BadMsgSize {
            got: hdr.msg_sz.get(),
            min: expect.min_size,
            max,
        });
    }
    let want_seq = expect.request.seqno.checked_add(1).unwrap_or(0);
    if hdr.msg_seqno.get() != want_seq {
        return Err(ResponseError::BadSeqno {
            expected: want_seq,
            got: hdr.msg_seqno.get(),
        });
    }
    if hdr.msg_vmpck != expect.request.vmpck_index {
        return Err(ResponseError::BadVmpck {
            expected: expect.request.vmpck_index,
            got: hdr.msg_vmpck,
        });
    }
    let reserved_zero = hdr.reserved_28.iter().all(|&b| b == 0)
        && hdr.reserved_38.iter().all(|&b| b == 0)
        && hdr.reserved_3d.iter().all(|&b| b == 0);
    if !reserved_zero {
        return Err(ResponseError::ReservedNonZero);
    }
    Ok(hdr.clone())
}

/// A whole message page: header + payload area.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct MsgPage {
    hdr: MsgHeader,
    payload: [u8; MAX_PAYLOAD],
}

const _: () = assert!(size_of::<MsgPage>() == PAGE_SIZE);

fn header_of(page: &[u8; PAGE_SIZE]) -> &MsgHeader {
    // Size and alignment checked at compile time by transmute_ref!.
    let p: &MsgPage = zerocopy::transmute_ref!(page);
    &p.hdr
}

/// Checks the header, then decrypts the payload in place in `page` (a *private* copy of the
/// response page). Returns the plaintext length; the plaintext is at `page[0x60..0x60 + len]`.
pub fn open_response(
    key: &Vmpck,
    page: &mut [u8; PAGE_SIZE],
    expect: &ExpectedResponse,
) -> Result<usize, ResponseError> {
    let hdr = check_response_header(page, expect)?;
    let len = usize::from(hdr.msg_sz.get());
    let (head, body) = page.split_at_mut(HEADER_SIZE);
    let aad = head.get(AAD_RANGE).ok_or(ResponseError::BadTag)?;
    let msg = body.get_mut(..len).ok_or(ResponseError::BadTag)?;
    let mut tag = [0u8; AUTHTAG_LEN];
    tag.copy_from_slice(
        hdr.authtag
            .get(..AUTHTAG_LEN)
            .ok_or(ResponseError::BadTag)?,
    );
    let res = cipher(key).decrypt_inout_detached(
        &iv_for(hdr.msg_seqno.get()).into(),
        aad,
        msg.into(),
        (&tag).into(),
    );
    if res.is_err() {
        // aes-gcm leaves the buffer untouched on failure; wipe anyway so nothing half-processed
        // is left behind.
        msg.zeroize();
        return Err(ResponseError::BadTag);
    }
    Ok(len)
}

/// How the hypervisor round trip failed, as decoded from `SW_EXITINFO2` (AMD 56421 §4.1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// VMM error 2: the PSP is busy; the same message may be re-sent.
    Busy,
    /// VMM error 1 on an extended request: the certificate buffer is too small; RBX holds the
    /// number of pages needed.
    InvalidLen {
        /// Pages the certificate data needs.
        pages_needed: u64,
    },
    /// The PSP (firmware) failed the request with this status (`SW_EXITINFO2[31:0]`).
    PspStatus(u32),
    /// Anything else: GHCB protocol failure, unknown VMM error, no transport. Carries the raw
    /// code for logs.
    Other(u64),
}

/// VMM error code (`SW_EXITINFO2[63:32]`) for INVALID_LEN.
pub const VMM_ERR_INVALID_LEN: u32 = 1;
/// VMM error code (`SW_EXITINFO2[63:32]`) for BUSY.
pub const VMM_ERR_BUSY: u32 = 2;

impl TransportError {
    /// Maps `SW_EXITINFO2` (and RBX, for INVALID_LEN) after a guest-request NAE exit. `Ok` when
    /// both halves are zero.
    pub fn from_exit_info_2(info2: u64, rbx: u64) -> Result<(), TransportError> {
        let vmm = (info2 >> 32) as u32;
        let psp = info2 as u32;
        match (vmm, psp) {
            (0, 0) => Ok(()),
            (VMM_ERR_INVALID_LEN, 0) => Err(Self::InvalidLen { pages_needed: rbx }),
            (VMM_ERR_BUSY, 0) => Err(Self::Busy),
            (0, status) => Err(Self::PspStatus(status)),
            _ => Err(Self::Other(info2)),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy => f.write_str("PSP busy"),
            Self::InvalidLen { pages_needed } => {
                write!(
                    f,
                    "certificate buffer too small ({pages_needed} pages needed)"
                )
            }
            Self::PspStatus(s) => write!(f, "PSP status {s:#x}"),
            Self::Other(c) => write!(f, "guest request transport failed ({c:#x})"),
        }
    }
}

/// Moves a request page to the PSP and back: the GHCB NAE exits 0x8000_0011 (no `certs`) and
/// 0x8000_0012 (with `certs`) on real hardware, a simulator in tests.
///
/// `request_page` and `response_page` are the *shared* (hypervisor-visible) pages; `certs` is the
/// shared, page-aligned certificate buffer of an extended request (its length / 4096 is the page
/// count the hypervisor sees in RBX).
pub trait GuestRequestTransport {
    /// Performs one guest request round trip.
    fn guest_request(
        &mut self,
        request_page: &[u8; PAGE_SIZE],
        response_page: &mut [u8; PAGE_SIZE],
        certs: Option<&mut [u8]>,
    ) -> Result<(), TransportError>;
}

/// A boxed transport is a transport (so one session type serves several transports).
impl<T: GuestRequestTransport + ?Sized> GuestRequestTransport for alloc::boxed::Box<T> {
    fn guest_request(
        &mut self,
        request_page: &[u8; PAGE_SIZE],
        response_page: &mut [u8; PAGE_SIZE],
        certs: Option<&mut [u8]>,
    ) -> Result<(), TransportError> {
        (**self).guest_request(request_page, response_page, certs)
    }
}

/// Why a [`GuestRequestSession`] request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// The VMPCK was wiped by an earlier failure (or was all zero to begin with): no more
    /// requests with this key.
    KeyDisabled,
    /// The sequence number space is used up (would reach `u32::MAX`).
    SeqnoExhausted,
    /// The request could not be built (caller error; nothing was sent, key kept).
    Seal(SealError),
    /// The PSP stayed busy for all retries. Key wiped.
    BusyTimeout {
        /// Number of attempts made.
        attempts: u32,
    },
    /// The hypervisor or PSP failed the request. Key wiped.
    Transport(TransportError),
    /// The response failed a header check or the tag. Key wiped.
    InvalidResponse(ResponseError),
    /// The decrypted payload is malformed. Key wiped.
    MalformedPayload(&'static str),
    /// The extended request's certificate buffer is too small. The request was re-sent as a
    /// regular request to consume its sequence number; the key stays usable. Retry with a
    /// buffer of at least this many pages.
    CertBufferTooSmall {
        /// Pages the host's certificate data needs.
        pages_needed: u64,
    },
    /// The PSP answered, but the response's STATUS field reports an error (e.g. 0x16
    /// INVALID_PARAM for a bad VMPL). The exchange completed; the key stays usable.
    FirmwareStatus(u32),
}

impl SessionError {
    /// True if this failure wiped the key.
    pub fn wipes_key(&self) -> bool {
        matches!(
            self,
            Self::BusyTimeout { .. }
                | Self::Transport(_)
                | Self::InvalidResponse(_)
                | Self::MalformedPayload(_)
        )
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyDisabled => f.write_str("VMPCK disabled after an earlier failure"),
            Self::SeqnoExhausted => f.write_str("guest message sequence numbers exhausted"),
            Self::Seal(e) => write!(f, "cannot build request: {e}"),
            Self::BusyTimeout { attempts } => {
                write!(f, "PSP busy after {attempts} attempts; VMPCK wiped")
            }
            Self::Transport(e) => write!(f, "{e}; VMPCK wiped"),
            Self::InvalidResponse(e) => write!(f, "{e}; VMPCK wiped"),
            Self::MalformedPayload(what) => write!(f, "malformed response: {what}; VMPCK wiped"),
            Self::CertBufferTooSmall { pages_needed } => write!(
                f,
                "certificate buffer too small: {pages_needed} pages needed"
            ),
            Self::FirmwareStatus(s) => write!(f, "PSP rejected the request: status {s:#x}"),
        }
    }
}

/// Tunables of a [`GuestRequestSession`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// How many times a BUSY answer is retried before giving up (and wiping the key).
    pub max_busy_retries: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_busy_retries: DEFAULT_MAX_BUSY_RETRIES,
        }
    }
}

/// The shared (hypervisor-visible) request and response pages, provided by the caller.
#[derive(Debug)]
pub struct SharedPages<'a> {
    /// Shared request page (receives the encrypted request).
    pub request: &'a mut [u8; PAGE_SIZE],
    /// Shared response page (receives the PSP's encrypted response).
    pub response: &'a mut [u8; PAGE_SIZE],
}

/// One request to send through [`GuestRequestSession::send`].
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Request message type.
    pub msg_type: MsgType,
    /// Request message version.
    pub msg_version: u8,
    /// Plaintext payload.
    pub payload: &'a [u8],
    /// Smallest acceptable response MSG_SIZE.
    pub min_response: usize,
}

/// Hook called before each BUSY retry with the retry number (1-based); the platform sleeps here.
pub type BusyDelay = Box<dyn FnMut(u32) + Send>;

/// A guest-request channel on one VMPCK: owns the key (zeroized when wiped or dropped), the
/// sequence state and two private staging pages, and applies the error policy described in the
/// module docs.
pub struct GuestRequestSession<T: GuestRequestTransport> {
    transport: T,
    key: Option<Vmpck>,
    vmpck_index: u8,
    seqno: u64,
    config: SessionConfig,
    delay: Option<BusyDelay>,
    staging: Box<[u8; PAGE_SIZE]>,
}

impl<T: GuestRequestTransport> fmt::Debug for GuestRequestSession<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestRequestSession")
            .field("vmpck_index", &self.vmpck_index)
            .field("seqno", &self.seqno)
            .field("disabled", &self.is_disabled())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn boxed_page() -> Box<[u8; PAGE_SIZE]> {
    Box::new([0u8; PAGE_SIZE])
}

impl<T: GuestRequestTransport> GuestRequestSession<T> {
    /// Creates a session for VMPCK`vmpck_index`. `last_seqno` is the sequence number of the last
    /// completed response on this key (0 for a fresh key, or the secrets-page OS-area value a
    /// previous stage left). An all-zero key gives a session that refuses every request.
    pub fn new(
        transport: T,
        key: Vmpck,
        vmpck_index: u8,
        last_seqno: u64,
        config: SessionConfig,
    ) -> Result<Self, SealError> {
        if usize::from(vmpck_index) >= VMPCK_COUNT {
            return Err(SealError::BadVmpckIndex(vmpck_index));
        }
        let key = if key.is_disabled() { None } else { Some(key) };
        Ok(Self {
            transport,
            key,
            vmpck_index,
            seqno: last_seqno,
            config,
            delay: None,
            staging: boxed_page(),
        })
    }

    /// Installs the hook called before each BUSY retry.
    pub fn set_busy_delay(&mut self, delay: BusyDelay) {
        self.delay = Some(delay);
    }

    /// Sequence number of the last completed response (store it in the OS area for a later
    /// stage). The next request uses this + 1.
    pub fn last_seqno(&self) -> u64 {
        self.seqno
    }

    /// VMPCK index this session uses.
    pub fn vmpck_index(&self) -> u8 {
        self.vmpck_index
    }

    /// True once the key has been wiped.
    pub fn is_disabled(&self) -> bool {
        self.key.is_none()
    }

    /// The transport (e.g. to inspect a simulator in tests).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Mutable access to the transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Wipes the key: every later request fails with [`SessionError::KeyDisabled`].
    pub fn disable(&mut self) {
        // Dropping the Vmpck zeroizes it.
        self.key = None;
        self.staging.zeroize();
    }

    fn fail(&mut self, err: SessionError) -> SessionError {
        self.disable();
        err
    }

    /// Sends one request and writes the decrypted response payload to `out`, returning its
    /// length. `certs` makes it an extended request (the buffer must be shared). See the module
    /// docs for the error policy.
    pub fn send(
        &mut self,
        pages: SharedPages<'_>,
        req: &Request<'_>,
        mut certs: Option<&mut [u8]>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        let key = self.key.as_ref().ok_or(SessionError::KeyDisabled)?;
        if req.min_response > out.len().min(MAX_PAYLOAD) {
            // A caller bug must not look like a bad response (which would wipe the key).
            return Err(SessionError::Seal(SealError::BadField(
                "response buffer smaller than the expected response",
            )));
        }
        let seqno = self
            .seqno
            .checked_add(1)
            .ok_or(SessionError::SeqnoExhausted)?;
        if seqno >= SEQNO_LIMIT {
            return Err(SessionError::SeqnoExhausted);
        }
        let params = RequestParams {
            msg_type: req.msg_type,
            msg_version: req.msg_version,
            seqno,
            vmpck_index: self.vmpck_index,
        };
        // Encrypt in private memory, then publish.
        seal_request(key, &params, req.payload, &mut self.staging).map_err(SessionError::Seal)?;
        pages.request.copy_from_slice(&self.staging[..]);

        let mut busy_retries = 0u32;
        let mut cert_override: Option<u64> = None;
        loop {
            // Re-publish the identical bytes for every attempt: the host may have scribbled on
            // the shared page, and the same IV must only ever carry the same plaintext.
            pages.request.copy_from_slice(&self.staging[..]);
            let res =
                self.transport
                    .guest_request(pages.request, pages.response, certs.as_deref_mut());
            match res {
                Ok(()) => break,
                Err(TransportError::Busy) => {
                    if busy_retries >= self.config.max_busy_retries {
                        let attempts = busy_retries.saturating_add(1);
                        return Err(self.fail(SessionError::BusyTimeout { attempts }));
                    }
                    busy_retries += 1;
                    if let Some(d) = self.delay.as_mut() {
                        d(busy_retries);
                    }
                }
                Err(TransportError::InvalidLen { pages_needed })
                    if certs.is_some() && cert_override.is_none() =>
                {
                    // Re-send as a regular request so the PSP consumes this sequence number.
                    cert_override = Some(pages_needed);
                    certs = None;
                }
                Err(e) => return Err(self.fail(SessionError::Transport(e))),
            }
        }

        // Copy the response into private memory before looking at it.
        self.staging.copy_from_slice(&pages.response[..]);
        let expect = ExpectedResponse {
            request: params,
            min_size: req.min_response,
            max_size: out.len(),
        };
        let Some(key) = self.key.as_ref() else {
            return Err(SessionError::KeyDisabled);
        };
        let len = match open_response(key, &mut self.staging, &expect) {
            Ok(len) => len,
            Err(e) => return Err(self.fail(SessionError::InvalidResponse(e))),
        };
        self.seqno = seqno + 1;
        let plain = self.staging.get(HEADER_SIZE..HEADER_SIZE + len);
        let dst = out.get_mut(..len);
        match (plain, dst) {
            (Some(p), Some(d)) => d.copy_from_slice(p),
            _ => return Err(self.fail(SessionError::MalformedPayload("response length"))),
        }
        self.staging.zeroize();
        if let Some(pages_needed) = cert_override {
            out.zeroize();
            return Err(SessionError::CertBufferTooSmall { pages_needed });
        }
        Ok(len)
    }

    /// Wipes the key because a decrypted payload turned out malformed; returns the error.
    pub fn reject_payload(&mut self, what: &'static str) -> SessionError {
        self.fail(SessionError::MalformedPayload(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Vmpck {
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        Vmpck::new(k)
    }

    fn params(seqno: u64) -> RequestParams {
        RequestParams {
            msg_type: MsgType::ReportReq,
            msg_version: 1,
            seqno,
            vmpck_index: 0,
        }
    }

    #[test]
    fn header_layout_and_aad() {
        let mut page = [0u8; PAGE_SIZE];
        let payload = [0u8; 0x60];
        let p = RequestParams {
            vmpck_index: 1,
            ..params(1)
        };
        seal_request(&key(), &p, &payload, &mut page).unwrap();
        // Worked AAD example from the facts (REPORT_REQ v1, msg_sz 0x60, vmpck 1).
        let mut want = [0u8; 48];
        want[..12].copy_from_slice(&[1, 1, 0x60, 0, 5, 1, 0x60, 0, 0, 0, 0, 0]);
        want[12] = 1;
        assert_eq!(&page[AAD_RANGE], &want[..]);
        assert_eq!(&page[0x20..0x28], &1u64.to_le_bytes());
        assert_eq!(&page[0x10..0x20], &[0u8; 16]);
        assert!(page[HEADER_SIZE + 0x60..].iter().all(|&b| b == 0));
    }

    #[test]
    fn seal_rejects_bad_inputs() {
        let mut page = [0u8; PAGE_SIZE];
        assert_eq!(
            seal_request(&key(), &params(0), &[], &mut page),
            Err(SealError::BadSeqno(0))
        );
        assert_eq!(
            seal_request(&key(), &params(SEQNO_LIMIT), &[], &mut page),
            Err(SealError::BadSeqno(SEQNO_LIMIT))
        );
        assert_eq!(
            seal_request(&key(), &params(1), &[0; MAX_PAYLOAD + 1], &mut page),
            Err(SealError::PayloadTooLarge(MAX_PAYLOAD + 1))
        );
        let p = RequestParams {
            vmpck_index: 4,
            ..params(1)
        };
        assert_eq!(
            seal_request(&key(), &p, &[], &mut page),
            Err(SealError::BadVmpckIndex(4))
        );
        assert_eq!(
            seal_request(&Vmpck::new([0; 32]), &params(1), &[], &mut page),
            Err(SealError::KeyDisabled)
        );
    }

    #[test]
    fn exit_info_2_mapping() {
        assert_eq!(TransportError::from_exit_info_2(0, 7), Ok(()));
        assert_eq!(
            TransportError::from_exit_info_2(1 << 32, 4),
            Err(TransportError::InvalidLen { pages_needed: 4 })
        );
        assert_eq!(
            TransportError::from_exit_info_2(2 << 32, 0),
            Err(TransportError::Busy)
        );
        assert_eq!(
            TransportError::from_exit_info_2(0x16, 0),
            Err(TransportError::PspStatus(0x16))
        );
        assert_eq!(
            TransportError::from_exit_info_2((2 << 32) | 0x16, 0),
            Err(TransportError::Other((2 << 32) | 0x16))
        );
        assert_eq!(
            TransportError::from_exit_info_2(3 << 32, 0),
            Err(TransportError::Other(3 << 32))
        );
    }

    #[test]
    fn msg_type_pairs() {
        for v in 1..=18u8 {
            let t = MsgType::from_u8(v).unwrap();
            assert_eq!(t as u8, v);
            if v % 2 == 1 {
                assert_eq!(t.response().unwrap() as u8, v + 1);
            } else {
                assert!(t.response().is_none());
            }
        }
        assert!(MsgType::from_u8(0).is_none());
        assert!(MsgType::from_u8(19).is_none());
    }

    struct NeverCalled;

    impl GuestRequestTransport for NeverCalled {
        fn guest_request(
            &mut self,
            _: &[u8; PAGE_SIZE],
            _: &mut [u8; PAGE_SIZE],
            _: Option<&mut [u8]>,
        ) -> Result<(), TransportError> {
            panic!("transport must not be called")
        }
    }

    #[test]
    fn small_output_buffer_is_a_caller_error_not_a_wipe() {
        let mut s =
            GuestRequestSession::new(NeverCalled, key(), 0, 0, SessionConfig::default()).unwrap();
        let mut req_page = [0u8; PAGE_SIZE];
        let mut rsp_page = [0u8; PAGE_SIZE];
        let mut out = [0u8; 10];
        let err = s
            .send(
                SharedPages {
                    request: &mut req_page,
                    response: &mut rsp_page,
                },
                &Request {
                    msg_type: MsgType::TscInfoReq,
                    msg_version: 1,
                    payload: &[0; 128],
                    min_response: 128,
                },
                None,
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(err, SessionError::Seal(SealError::BadField(_))));
        assert!(!err.wipes_key());
        assert!(!s.is_disabled());
        assert_eq!(s.last_seqno(), 0);
        assert!(
            GuestRequestSession::new(NeverCalled, key(), 4, 0, SessionConfig::default()).is_err()
        );
    }
}
