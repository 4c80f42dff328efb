//! A software PSP (AMD Secure Processor) answering SNP guest requests, written from the SNP
//! firmware ABI (AMD 56860 §7 "Guest Messages", §8.26 "SNP_GUEST_REQUEST") and the GHCB spec
//! (AMD 56421 §4.1.8 "SNP Guest Request" / "SNP Extended Guest Request").
//!
//! It is deliberately independent of the guest code in `elastic-snp`: every offset below is
//! re-derived from the specs and written as plain byte arithmetic, so a layout mistake on one
//! side shows up as a failing end-to-end test instead of cancelling out.
//!
//! What it models:
//! * four VMPCKs and the PSP's own per-VMPCK sequence counter: a request must carry exactly
//!   last + 1, the response carries request + 1, and the counter only advances on a request the
//!   PSP accepted;
//! * request decryption (AES-256-GCM, IV = seqno LE ‖ 4 zero bytes, AAD = header 0x30..0x60) and
//!   response encryption with the same key;
//! * MSG_REPORT_REQ → a version-3 report filled from [`LaunchState`], signed over bytes
//!   0x000..0x2A0 with an ECDSA P-384/SHA-384 test key (r, s little-endian, zero-extended to 72
//!   bytes);
//! * MSG_KEY_REQ v1 → a deterministic derived key (see [`PspSim::derive_key`]);
//! * MSG_TSC_INFO_REQ → the configured Secure TSC values;
//! * the extended request: a configurable certificate table; `InvalidLen` (with the page count)
//!   when the guest's buffer is too small, in which case the message is not forwarded to the PSP;
//! * misbehaviour on demand ([`Misbehavior`]).
//!
//! Header errors, bad tags and wrong sequence numbers yield firmware status 0x16
//! (INVALID_PARAM), as seen from real firmware for all of these causes.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit};
use hmac::{Hmac, Mac};
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha384};

/// Guest-message page size.
pub const PAGE: usize = 4096;
/// Header size (AMD 56860 Table 98).
pub const HDR: usize = 0x60;
/// Firmware status: success.
pub const STATUS_SUCCESS: u32 = 0x00;
/// Firmware status: INVALID_PARAM.
pub const STATUS_INVALID_PARAM: u32 = 0x16;
/// Firmware status: INVALID_KEY.
pub const STATUS_INVALID_KEY: u32 = 0x27;
/// Report length.
pub const REPORT_LEN: usize = 0x4A0;
/// Signed part of the report.
pub const REPORT_SIGNED_LEN: usize = 0x2A0;

const MSG_KEY_REQ: u8 = 3;
const MSG_REPORT_REQ: u8 = 5;
const MSG_TSC_INFO_REQ: u8 = 17;

/// Launch-time facts the simulated PSP reports (what SNP_LAUNCH_* and the platform would set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchState {
    /// Launch digest.
    pub measurement: [u8; 48],
    /// Guest policy.
    pub policy: u64,
    /// HOST_DATA given at launch.
    pub host_data: [u8; 32],
    /// ID block family ID.
    pub family_id: [u8; 16],
    /// ID block image ID.
    pub image_id: [u8; 16],
    /// ID key digest.
    pub id_key_digest: [u8; 48],
    /// Author key digest (zero = no author key).
    pub author_key_digest: [u8; 48],
    /// Guest SVN from the ID block.
    pub guest_svn: u32,
    /// Report ID.
    pub report_id: [u8; 32],
    /// Report ID of the migration agent.
    pub report_id_ma: [u8; 32],
    /// CHIP_ID.
    pub chip_id: [u8; 64],
    /// Mask the chip ID (MASK_CHIP_ID config): report zeroes and set MASK_CHIP_KEY.
    pub mask_chip_id: bool,
    /// Current TCB (raw u64).
    pub current_tcb: u64,
    /// Reported TCB (raw u64).
    pub reported_tcb: u64,
    /// Committed TCB (raw u64).
    pub committed_tcb: u64,
    /// Launch TCB (raw u64).
    pub launch_tcb: u64,
    /// PLATFORM_INFO.
    pub platform_info: u64,
    /// Firmware (major, minor, build), used for current and committed.
    pub firmware: (u8, u8, u8),
    /// CPUID (family, model, stepping).
    pub cpuid: (u8, u8, u8),
    /// Whether the host loaded a VLEK (KEY_SEL = 2 fails with INVALID_KEY otherwise).
    /// The requester's VMPL is the VMPCK index it used (VMPCK n belongs to VMPL n).
    pub vlek_loaded: bool,
    /// Secure TSC: guest TSC scale.
    pub tsc_scale: u64,
    /// Secure TSC: guest TSC offset.
    pub tsc_offset: u64,
    /// Secure TSC: TSC factor.
    pub tsc_factor: u32,
}

impl Default for LaunchState {
    fn default() -> Self {
        let mut measurement = [0u8; 48];
        for (i, b) in measurement.iter_mut().enumerate() {
            *b = 0xA0 ^ i as u8;
        }
        let mut chip_id = [0u8; 64];
        for (i, b) in chip_id.iter_mut().enumerate() {
            *b = 0x11u8.wrapping_mul(i as u8 + 1);
        }
        Self {
            measurement,
            policy: 0x30000,
            host_data: [0x42; 32],
            family_id: [0x0F; 16],
            image_id: [0x1D; 16],
            id_key_digest: [0; 48],
            author_key_digest: [0; 48],
            guest_svn: 2,
            report_id: [0x5E; 32],
            report_id_ma: [0xFF; 32],
            chip_id,
            mask_chip_id: false,
            // Milan/Genoa layout: bl 3, tee 0, snp 8, ucode 0x73.
            current_tcb: 0x7308_0000_0000_0003,
            reported_tcb: 0x7308_0000_0000_0003,
            committed_tcb: 0x7308_0000_0000_0003,
            launch_tcb: 0x7308_0000_0000_0003,
            platform_info: 0x1,
            firmware: (1, 55, 21),
            cpuid: (0x19, 0x01, 0x01),
            vlek_loaded: false,
            tsc_scale: 0x0000_0001_0000_0000,
            tsc_offset: 0xFFFF_FFFF_F000_0000,
            tsc_factor: 1000,
        }
    }
}

/// Ways the simulated host/PSP can misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Misbehavior {
    /// Behave.
    #[default]
    None,
    /// Flip a bit of the response's authentication tag.
    BadTag,
    /// Answer with a correctly encrypted response whose seqno is the request's (not + 1).
    StaleSeqno,
    /// The host replays the previous response page instead of forwarding the request.
    ReplayPrevious,
    /// Correctly encrypted response with MSG_TYPE = request + 3.
    WrongMsgType,
    /// Correctly encrypted response with MSG_VMPCK of another key index.
    WrongVmpck,
    /// Correctly encrypted response with a non-zero reserved header byte.
    ReservedNonZero,
    /// Correctly encrypted response whose payload (and MSG_SIZE) is cut in half.
    TruncatedPayload,
    /// Header MSG_SIZE set to 4001 after encryption.
    OversizedMsgSz,
    /// REPORT response whose REPORT_SIZE is not 0x4A0 (authenticated, malformed).
    BadReportSize,
    /// Return BUSY for every request.
    BusyForever,
    /// Return BUSY this many times, then behave.
    BusyThenOk(u32),
    /// Fail at the firmware level with this status in `SW_EXITINFO2[31:0]`.
    PspError(u32),
    /// Answer with a valid response whose STATUS field is this value.
    PayloadStatus(u32),
}

/// The transport-level outcome of a request, mirroring SW_EXITINFO2 (AMD 56421 §4.1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// VMM error 2 (BUSY).
    Busy,
    /// VMM error 1 (INVALID_LEN), RBX = pages needed.
    InvalidLen {
        /// Pages the certificate data needs.
        pages_needed: u64,
    },
    /// Firmware status (`SW_EXITINFO2[31:0]`).
    PspStatus(u32),
}

/// The fixed VMPCK0..3 of Elastic's test-only `snp-sim` kernel build, shared by the kernel
/// (which plays the guest side) and the QEMU test that checks its reports.
pub const KERNEL_TEST_VMPCKS: [[u8; 32]; 4] = [[0xA0; 32], [0xA1; 32], [0xA2; 32], [0xA3; 32]];
/// The seed the `snp-sim` kernel's simulator derives its report-signing key from.
pub const KERNEL_TEST_SEED: &[u8] = b"elastic snp-sim kernel";

/// The simulated PSP plus the host's part of the guest-request path.
pub struct PspSim {
    vmpck: [[u8; 32]; 4],
    /// Last sequence number per VMPCK as the PSP tracks it (responses carry this after a
    /// request is accepted).
    psp_seqno: [u64; 4],
    launch: LaunchState,
    signing_key: SigningKey,
    vcek_root: [u8; 48],
    vmrk_root: [u8; 48],
    certs: Option<Vec<u8>>,
    misbehavior: Misbehavior,
    last_response: Option<Box<[u8; PAGE]>>,
    request_log: Vec<Box<[u8; PAGE]>>,
    processed: u32,
}

impl core::fmt::Debug for PspSim {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PspSim")
            .field("psp_seqno", &self.psp_seqno)
            .field("misbehavior", &self.misbehavior)
            .field("requests", &self.request_log.len())
            .field("processed", &self.processed)
            .finish_non_exhaustive()
    }
}

fn sha384(parts: &[&[u8]]) -> [u8; 48] {
    let mut h = Sha384::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 48];
    out.copy_from_slice(&h.finalize());
    out
}

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

fn get_u32(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

fn get_u64(buf: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[off..off + 8]);
    u64::from_le_bytes(b)
}

fn iv(seqno: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&seqno.to_le_bytes());
    iv
}

impl PspSim {
    /// A PSP with these VMPCKs and launch state. `seed` derives the report-signing key (a test
    /// P-384 key) and the key-derivation roots deterministically.
    pub fn new(vmpck: [[u8; 32]; 4], launch: LaunchState, seed: &[u8]) -> Self {
        // Hash to a scalar; retry with a counter in the (negligible) case it is out of range.
        let mut ctr = 0u8;
        let signing_key = loop {
            let d = sha384(&[b"snp-sim VCEK", seed, &[ctr]]);
            if let Ok(k) = SigningKey::from_slice(&d) {
                break k;
            }
            ctr = ctr.wrapping_add(1);
        };
        Self {
            vmpck,
            psp_seqno: [0; 4],
            launch,
            signing_key,
            vcek_root: sha384(&[b"snp-sim VCEK root", seed]),
            vmrk_root: sha384(&[b"snp-sim VMRK root", seed]),
            certs: None,
            misbehavior: Misbehavior::None,
            last_response: None,
            request_log: Vec::new(),
            processed: 0,
        }
    }

    /// The public half of the report-signing key (the "VCEK").
    pub fn verifying_key(&self) -> VerifyingKey {
        *self.signing_key.verifying_key()
    }

    /// Sets the misbehaviour for the following requests.
    pub fn set_misbehavior(&mut self, m: Misbehavior) {
        self.misbehavior = m;
    }

    /// Makes the host answer extended requests with this certificate blob (table + data), or
    /// with an empty (zeroed) table for `None`.
    pub fn set_certs(&mut self, blob: Option<Vec<u8>>) {
        self.certs = blob;
    }

    /// Mutable launch state.
    pub fn launch_mut(&mut self) -> &mut LaunchState {
        &mut self.launch
    }

    /// The PSP's last sequence number for VMPCK`index`.
    pub fn psp_seqno(&self, index: usize) -> u64 {
        self.psp_seqno.get(index).copied().unwrap_or(0)
    }

    /// Sets the PSP's last sequence number for VMPCK`index` (to model a key a previous boot
    /// stage already used).
    pub fn set_psp_seqno(&mut self, index: usize, seqno: u64) {
        if let Some(s) = self.psp_seqno.get_mut(index) {
            *s = seqno;
        }
    }

    /// Copies of every request page the host received, in order.
    pub fn request_log(&self) -> &[Box<[u8; PAGE]>] {
        &self.request_log
    }

    /// Number of requests the PSP accepted and answered.
    pub fn processed(&self) -> u32 {
        self.processed
    }

    /// One guest request as the hypervisor + PSP handle it: NAE 0x8000_0011 when `certs` is
    /// `None`, 0x8000_0012 otherwise.
    pub fn guest_request(
        &mut self,
        request_page: &[u8; PAGE],
        response_page: &mut [u8; PAGE],
        certs: Option<&mut [u8]>,
    ) -> Result<(), SimError> {
        self.request_log.push(Box::new(*request_page));
        match self.misbehavior {
            Misbehavior::BusyForever => return Err(SimError::Busy),
            Misbehavior::BusyThenOk(n) if n > 0 => {
                self.misbehavior = Misbehavior::BusyThenOk(n - 1);
                return Err(SimError::Busy);
            }
            Misbehavior::PspError(s) => return Err(SimError::PspStatus(s)),
            Misbehavior::ReplayPrevious => {
                if let Some(prev) = &self.last_response {
                    response_page.copy_from_slice(&prev[..]);
                    return Ok(());
                }
            }
            _ => {}
        }
        // Host side of the extended request: check the buffer before involving the PSP.
        if let Some(buf) = certs {
            match &self.certs {
                Some(blob) => {
                    if buf.len() < blob.len() {
                        let pages = blob.len().div_ceil(PAGE) as u64;
                        return Err(SimError::InvalidLen {
                            pages_needed: pages,
                        });
                    }
                    buf[..blob.len()].copy_from_slice(blob);
                    buf[blob.len()..].fill(0);
                }
                None => buf.fill(0),
            }
        }
        let resp = self.process(request_page)?;
        response_page.copy_from_slice(&resp[..]);
        self.last_response = Some(resp);
        Ok(())
    }

    /// The PSP alone, without the host's part (no BUSY, no certificates, no replay): handles one
    /// request page and returns the firmware status (0 = success, response page written). This
    /// is the shape a simulated hypervisor's PSP backend needs; message-level misbehaviours
    /// (bad tag, wrong type, ...) still apply.
    pub fn psp_handle(&mut self, request: &[u8; PAGE], response: &mut [u8; PAGE]) -> u32 {
        self.request_log.push(Box::new(*request));
        match self.process(request) {
            Ok(resp) => {
                response.copy_from_slice(&resp[..]);
                self.last_response = Some(resp);
                STATUS_SUCCESS
            }
            Err(SimError::PspStatus(s)) => s,
            Err(_) => STATUS_INVALID_PARAM,
        }
    }

    /// The PSP proper: validate, decrypt, dispatch, encrypt.
    fn process(&mut self, req: &[u8; PAGE]) -> Result<Box<[u8; PAGE]>, SimError> {
        let bad = Err(SimError::PspStatus(STATUS_INVALID_PARAM));
        let algo = req[0x30];
        let hdr_version = req[0x31];
        let hdr_sz = u16::from_le_bytes([req[0x32], req[0x33]]);
        let msg_type = req[0x34];
        let msg_version = req[0x35];
        let msg_sz = usize::from(u16::from_le_bytes([req[0x36], req[0x37]]));
        let vmpck_idx = usize::from(req[0x3C]);
        let seqno = get_u64(req, 0x20);
        if algo != 1 || hdr_version != 1 || usize::from(hdr_sz) != HDR || msg_sz > PAGE - HDR {
            return bad;
        }
        if req[0x28..0x30].iter().any(|&b| b != 0)
            || req[0x38..0x3C].iter().any(|&b| b != 0)
            || req[0x3D..0x60].iter().any(|&b| b != 0)
        {
            return bad;
        }
        if vmpck_idx > 3 || self.vmpck[vmpck_idx] == [0; 32] {
            return bad;
        }
        if seqno != self.psp_seqno[vmpck_idx] + 1 {
            return bad;
        }
        let cipher = Aes256Gcm::new((&self.vmpck[vmpck_idx]).into());
        let mut plain = req[HDR..HDR + msg_sz].to_vec();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&req[..16]);
        if cipher
            .decrypt_inout_detached(
                &iv(seqno).into(),
                &req[0x30..0x60],
                plain.as_mut_slice().into(),
                (&tag).into(),
            )
            .is_err()
        {
            return bad;
        }
        let requester_vmpl = vmpck_idx as u32;
        let mut payload = match (msg_type, msg_version) {
            (MSG_REPORT_REQ, 1) if msg_sz == 0x60 => self.report_response(&plain, requester_vmpl),
            (MSG_KEY_REQ, 1) if msg_sz == 0x20 => self.key_response(&plain, requester_vmpl),
            (MSG_TSC_INFO_REQ, 1) if msg_sz == 0x80 => self.tsc_response(),
            _ => return bad,
        };
        // Accepted: the counter advances to the response's sequence number.
        self.psp_seqno[vmpck_idx] = seqno + 1;
        self.processed += 1;

        let mut resp_type = msg_type + 1;
        let mut resp_seqno = seqno + 1;
        let mut resp_vmpck = vmpck_idx as u8;
        match self.misbehavior {
            Misbehavior::StaleSeqno => resp_seqno = seqno,
            Misbehavior::WrongMsgType => resp_type = msg_type + 3,
            Misbehavior::WrongVmpck => resp_vmpck = (resp_vmpck + 1) % 4,
            Misbehavior::TruncatedPayload => {
                let half = payload.len() / 2;
                payload.truncate(half);
            }
            Misbehavior::BadReportSize if msg_type == MSG_REPORT_REQ => {
                put(&mut payload, 4, &0x4A1u32.to_le_bytes());
            }
            Misbehavior::PayloadStatus(s) => {
                // Status is the first u32 of every response payload; a failed report has
                // REPORT_SIZE 0 and a failed key no key.
                payload.fill(0);
                put(&mut payload, 0, &s.to_le_bytes());
            }
            _ => {}
        }

        let mut page = Box::new([0u8; PAGE]);
        put(&mut page[..], 0x20, &resp_seqno.to_le_bytes());
        page[0x30] = 1;
        page[0x31] = 1;
        put(&mut page[..], 0x32, &(HDR as u16).to_le_bytes());
        page[0x34] = resp_type;
        page[0x35] = msg_version;
        put(&mut page[..], 0x36, &(payload.len() as u16).to_le_bytes());
        page[0x3C] = resp_vmpck;
        if self.misbehavior == Misbehavior::ReservedNonZero {
            page[0x40] = 1;
        }
        let (head, body) = page.split_at_mut(HDR);
        let ct = &mut body[..payload.len()];
        ct.copy_from_slice(&payload);
        let tag = cipher
            .encrypt_inout_detached(&iv(resp_seqno).into(), &head[0x30..0x60], ct.into())
            .map_err(|_| SimError::PspStatus(STATUS_INVALID_PARAM))?;
        head[..16].copy_from_slice(&tag);
        match self.misbehavior {
            Misbehavior::BadTag => page[3] ^= 0x01,
            Misbehavior::OversizedMsgSz => put(&mut page[..], 0x36, &4001u16.to_le_bytes()),
            _ => {}
        }
        Ok(page)
    }

    /// MSG_REPORT_RSP (AMD 56860 Table 25) for a MSG_REPORT_REQ (Table 22).
    fn report_response(&self, req: &[u8], requester_vmpl: u32) -> Vec<u8> {
        let mut rsp = vec![0u8; 0x20 + REPORT_LEN];
        let vmpl = get_u32(req, 0x40);
        let key_sel = get_u32(req, 0x44);
        let status = if vmpl > 3 || vmpl < requester_vmpl || key_sel > 2 {
            STATUS_INVALID_PARAM
        } else if key_sel == 2 && !self.launch.vlek_loaded {
            STATUS_INVALID_KEY
        } else {
            STATUS_SUCCESS
        };
        put(&mut rsp, 0, &status.to_le_bytes());
        if status != STATUS_SUCCESS {
            return rsp;
        }
        put(&mut rsp, 4, &(REPORT_LEN as u32).to_le_bytes());
        let report = self.build_report(&req[..64], vmpl);
        put(&mut rsp, 0x20, &report);
        rsp
    }

    /// A signed version-3 attestation report (AMD 56860 Table 23).
    pub fn build_report(&self, report_data: &[u8], vmpl: u32) -> [u8; REPORT_LEN] {
        let l = &self.launch;
        let mut r = [0u8; REPORT_LEN];
        put(&mut r, 0x000, &3u32.to_le_bytes());
        put(&mut r, 0x004, &l.guest_svn.to_le_bytes());
        put(&mut r, 0x008, &l.policy.to_le_bytes());
        put(&mut r, 0x010, &l.family_id);
        put(&mut r, 0x020, &l.image_id);
        put(&mut r, 0x030, &vmpl.to_le_bytes());
        put(&mut r, 0x034, &1u32.to_le_bytes());
        put(&mut r, 0x038, &l.current_tcb.to_le_bytes());
        put(&mut r, 0x040, &l.platform_info.to_le_bytes());
        let author_key_en = u32::from(l.author_key_digest != [0; 48]);
        let mask_chip_key = u32::from(l.mask_chip_id) << 1;
        // SIGNING_KEY (bits 4:2) = 0: VCEK.
        put(
            &mut r,
            0x048,
            &(author_key_en | mask_chip_key).to_le_bytes(),
        );
        let n = report_data.len().min(64);
        put(&mut r, 0x050, &report_data[..n]);
        put(&mut r, 0x090, &l.measurement);
        put(&mut r, 0x0C0, &l.host_data);
        put(&mut r, 0x0E0, &l.id_key_digest);
        put(&mut r, 0x110, &l.author_key_digest);
        put(&mut r, 0x140, &l.report_id);
        put(&mut r, 0x160, &l.report_id_ma);
        put(&mut r, 0x180, &l.reported_tcb.to_le_bytes());
        r[0x188] = l.cpuid.0;
        r[0x189] = l.cpuid.1;
        r[0x18A] = l.cpuid.2;
        if !l.mask_chip_id {
            put(&mut r, 0x1A0, &l.chip_id);
        }
        put(&mut r, 0x1E0, &l.committed_tcb.to_le_bytes());
        let (major, minor, build) = l.firmware;
        put(&mut r, 0x1E8, &[build, minor, major, 0]);
        put(&mut r, 0x1EC, &[build, minor, major, 0]);
        put(&mut r, 0x1F0, &l.launch_tcb.to_le_bytes());
        let sig: Signature = self.signing_key.sign(&r[..REPORT_SIGNED_LEN]);
        let (rb, sb) = sig.split_bytes();
        // Big-endian 48-byte scalars → little-endian, zero-extended 72-byte fields.
        for (i, b) in rb.iter().rev().enumerate() {
            r[0x2A0 + i] = *b;
        }
        for (i, b) in sb.iter().rev().enumerate() {
            r[0x2E8 + i] = *b;
        }
        r
    }

    /// Deterministic stand-in for the PSP's key derivation (the real one is AMD-internal):
    ///
    /// `HMAC-SHA-384(root, "snp-sim derived key v1" ‖ key_select u32 ‖ vmpl u32 ‖
    /// guest_field_select u64 ‖ [policy u64] ‖ [image_id] ‖ [family_id] ‖ [measurement] ‖
    /// [guest_svn u32] ‖ [tcb_version u64])[..32]`, where `root` is the VCEK root (key_select
    /// bit 0 = 0) or the VMRK root (bit 0 = 1), all integers little-endian, and each bracketed
    /// field is present only if its GUEST_FIELD_SELECT bit (0..5) is set. So the key depends on
    /// exactly the selected launch fields, like the real one.
    pub fn derive_key(
        &self,
        key_select: u32,
        field_select: u64,
        vmpl: u32,
        guest_svn: u32,
        tcb_version: u64,
    ) -> [u8; 32] {
        let root = if key_select & 1 == 0 {
            &self.vcek_root
        } else {
            &self.vmrk_root
        };
        // HMAC zero-pads a key shorter than the 128-byte SHA-384 block, so padding it here gives
        // the same MAC as keying with the 48-byte root directly, without a fallible constructor.
        let mut block = [0u8; 128];
        block[..48].copy_from_slice(root);
        let mut mac = <Hmac<Sha384> as KeyInit>::new((&block).into());
        mac.update(b"snp-sim derived key v1");
        mac.update(&key_select.to_le_bytes());
        mac.update(&vmpl.to_le_bytes());
        mac.update(&field_select.to_le_bytes());
        let l = &self.launch;
        if field_select & 1 != 0 {
            mac.update(&l.policy.to_le_bytes());
        }
        if field_select & 2 != 0 {
            mac.update(&l.image_id);
        }
        if field_select & 4 != 0 {
            mac.update(&l.family_id);
        }
        if field_select & 8 != 0 {
            mac.update(&l.measurement);
        }
        if field_select & 16 != 0 {
            mac.update(&guest_svn.to_le_bytes());
        }
        if field_select & 32 != 0 {
            mac.update(&tcb_version.to_le_bytes());
        }
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 32];
        out.copy_from_slice(&full[..32]);
        out
    }

    /// MSG_KEY_RSP (AMD 56860 Table 19) for MSG_KEY_REQ v1 (Table 18).
    fn key_response(&self, req: &[u8], requester_vmpl: u32) -> Vec<u8> {
        let mut rsp = vec![0u8; 0x40];
        let key_select = get_u32(req, 0x00);
        let reserved = get_u32(req, 0x04);
        let field_select = get_u64(req, 0x08);
        let vmpl = get_u32(req, 0x10);
        let guest_svn = get_u32(req, 0x14);
        let tcb_version = get_u64(req, 0x18);
        let key_sel = (key_select >> 1) & 3;
        let status = if key_select >> 3 != 0
            || reserved != 0
            || field_select >> 6 != 0
            || vmpl > 3
            || vmpl < requester_vmpl
            || key_sel == 3
            || guest_svn > self.launch.guest_svn
            || tcb_version > self.launch.committed_tcb
        {
            STATUS_INVALID_PARAM
        } else if key_sel == 2 && !self.launch.vlek_loaded {
            STATUS_INVALID_KEY
        } else {
            STATUS_SUCCESS
        };
        put(&mut rsp, 0, &status.to_le_bytes());
        if status == STATUS_SUCCESS {
            let key = self.derive_key(key_select, field_select, vmpl, guest_svn, tcb_version);
            put(&mut rsp, 0x20, &key);
        }
        rsp
    }

    /// MSG_TSC_INFO_RSP.
    fn tsc_response(&self) -> Vec<u8> {
        let mut rsp = vec![0u8; 0x80];
        put(&mut rsp, 0x08, &self.launch.tsc_scale.to_le_bytes());
        put(&mut rsp, 0x10, &self.launch.tsc_offset.to_le_bytes());
        put(&mut rsp, 0x18, &self.launch.tsc_factor.to_le_bytes());
        rsp
    }
}

/// Builds a host certificate blob: a table of {GUID, offset u32, length u32} entries ended by a
/// zero entry, followed by the certificates (AMD 56421 §4.1.8.2). GUIDs in RFC 4122 byte order.
pub fn cert_blob(certs: &[([u8; 16], &[u8])]) -> Vec<u8> {
    let table = (certs.len() + 1) * 24;
    let mut out = vec![0u8; table];
    for (i, (guid, data)) in certs.iter().enumerate() {
        let off = out.len() as u32;
        out.extend_from_slice(data);
        put(&mut out, i * 24, guid);
        put(&mut out, i * 24 + 16, &off.to_le_bytes());
        put(&mut out, i * 24 + 20, &(data.len() as u32).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::ecdsa::signature::Verifier;

    fn keys() -> [[u8; 32]; 4] {
        [[1; 32], [2; 32], [3; 32], [0; 32]]
    }

    /// Guest side written inline (independently of elastic-snp) to exercise the simulator.
    fn seal(key: &[u8; 32], seqno: u64, msg_type: u8, vmpck: u8, payload: &[u8]) -> [u8; PAGE] {
        let mut p = [0u8; PAGE];
        put(&mut p, 0x20, &seqno.to_le_bytes());
        p[0x30] = 1;
        p[0x31] = 1;
        p[0x32] = 0x60;
        p[0x34] = msg_type;
        p[0x35] = 1;
        put(&mut p, 0x36, &(payload.len() as u16).to_le_bytes());
        p[0x3C] = vmpck;
        let (h, b) = p.split_at_mut(HDR);
        b[..payload.len()].copy_from_slice(payload);
        let tag = Aes256Gcm::new(key.into())
            .encrypt_inout_detached(
                &iv(seqno).into(),
                &h[0x30..0x60],
                (&mut b[..payload.len()]).into(),
            )
            .unwrap();
        h[..16].copy_from_slice(&tag);
        p
    }

    fn open(key: &[u8; 32], page: &[u8; PAGE]) -> Vec<u8> {
        let n = usize::from(u16::from_le_bytes([page[0x36], page[0x37]]));
        let mut m = page[HDR..HDR + n].to_vec();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&page[..16]);
        Aes256Gcm::new(key.into())
            .decrypt_inout_detached(
                &iv(get_u64(page, 0x20)).into(),
                &page[0x30..0x60],
                m.as_mut_slice().into(),
                (&tag).into(),
            )
            .unwrap();
        m
    }

    #[test]
    fn report_round_trip_and_signature() {
        let mut sim = PspSim::new(keys(), LaunchState::default(), b"t");
        let mut req = [0u8; 0x60];
        req[..64].copy_from_slice(&[0xCD; 64]);
        let page = seal(&[1; 32], 1, MSG_REPORT_REQ, 0, &req);
        let mut resp = [0u8; PAGE];
        sim.guest_request(&page, &mut resp, None).unwrap();
        assert_eq!(get_u64(&resp, 0x20), 2);
        assert_eq!(resp[0x34], 6);
        let m = open(&[1; 32], &resp);
        assert_eq!(m.len(), 0x4C0);
        assert_eq!(get_u32(&m, 0), 0);
        assert_eq!(get_u32(&m, 4), 0x4A0);
        let rep = &m[0x20..];
        assert_eq!(&rep[0x50..0x90], &[0xCD; 64]);
        assert_eq!(get_u32(rep, 0), 3);
        let mut r = [0u8; 48];
        let mut s = [0u8; 48];
        for i in 0..48 {
            r[i] = rep[0x2A0 + 47 - i];
            s[i] = rep[0x2E8 + 47 - i];
        }
        let sig = Signature::from_scalars(r, s).unwrap();
        sim.verifying_key().verify(&rep[..0x2A0], &sig).unwrap();
        assert_eq!(sim.psp_seqno(0), 2);
    }

    #[test]
    fn rejects_wrong_seqno_tag_and_disabled_key() {
        let mut sim = PspSim::new(keys(), LaunchState::default(), b"t");
        let mut resp = [0u8; PAGE];
        // Seqno 3 when 1 is expected.
        let page = seal(&[1; 32], 3, MSG_TSC_INFO_REQ, 0, &[0; 0x80]);
        assert_eq!(
            sim.guest_request(&page, &mut resp, None),
            Err(SimError::PspStatus(STATUS_INVALID_PARAM))
        );
        // Bad tag.
        let mut page = seal(&[1; 32], 1, MSG_TSC_INFO_REQ, 0, &[0; 0x80]);
        page[0] ^= 1;
        assert!(sim.guest_request(&page, &mut resp, None).is_err());
        // VMPCK3 is all zero (disabled).
        let page = seal(&[0; 32], 1, MSG_TSC_INFO_REQ, 3, &[0; 0x80]);
        assert!(sim.guest_request(&page, &mut resp, None).is_err());
        assert_eq!(sim.processed(), 0);
        // The right one works and the same page again is a replay the PSP refuses.
        let page = seal(&[1; 32], 1, MSG_TSC_INFO_REQ, 0, &[0; 0x80]);
        sim.guest_request(&page, &mut resp, None).unwrap();
        assert!(sim.guest_request(&page, &mut resp, None).is_err());
        let m = open(&[1; 32], &resp);
        assert_eq!(get_u64(&m, 8), LaunchState::default().tsc_scale);
    }

    #[test]
    fn psp_handle_returns_firmware_status() {
        let mut sim = PspSim::new(keys(), LaunchState::default(), b"t");
        let mut resp = [0u8; PAGE];
        let page = seal(&[2; 32], 1, MSG_TSC_INFO_REQ, 1, &[0; 0x80]);
        assert_eq!(sim.psp_handle(&page, &mut resp), STATUS_SUCCESS);
        assert_eq!(get_u64(&resp, 0x20), 2);
        assert_eq!(resp[0x3C], 1);
        assert_eq!(sim.psp_handle(&page, &mut resp), STATUS_INVALID_PARAM);
        assert_eq!(sim.psp_seqno(1), 2);
    }

    #[test]
    fn key_derivation_depends_on_selected_fields() {
        let sim = PspSim::new(keys(), LaunchState::default(), b"t");
        let a = sim.derive_key(0, 0b1001, 0, 0, 0);
        assert_eq!(a, sim.derive_key(0, 0b1001, 0, 0, 0));
        assert_ne!(a, sim.derive_key(1, 0b1001, 0, 0, 0));
        assert_ne!(a, sim.derive_key(0, 0b1000, 0, 0, 0));
        let mut other = LaunchState::default();
        other.measurement[0] ^= 1;
        let sim2 = PspSim::new(keys(), other.clone(), b"t");
        assert_ne!(a, sim2.derive_key(0, 0b1001, 0, 0, 0));
        // Not selected ⇒ no influence.
        assert_eq!(
            sim.derive_key(0, 0b0001, 0, 0, 0),
            sim2.derive_key(0, 0b0001, 0, 0, 0)
        );
    }

    #[test]
    fn extended_request_buffer_sizes() {
        let mut sim = PspSim::new(keys(), LaunchState::default(), b"t");
        let blob = cert_blob(&[([9; 16], &[7u8; 5000][..])]);
        sim.set_certs(Some(blob.clone()));
        let page = seal(&[1; 32], 1, MSG_REPORT_REQ, 0, &[0; 0x60]);
        let mut resp = [0u8; PAGE];
        let mut small = vec![0u8; PAGE];
        assert_eq!(
            sim.guest_request(&page, &mut resp, Some(&mut small)),
            Err(SimError::InvalidLen { pages_needed: 2 })
        );
        assert_eq!(sim.processed(), 0);
        let mut big = vec![0u8; 2 * PAGE];
        sim.guest_request(&page, &mut resp, Some(&mut big)).unwrap();
        assert_eq!(&big[..blob.len()], &blob[..]);
        assert_eq!(get_u32(&big, 16), 48);
        assert_eq!(get_u32(&big, 20), 5000);
    }
}
