//! Fuzz harness `snp_guest_msg`: SNP guest messages, attestation reports and certificate
//! tables from a hostile hypervisor/PSP path (AMD 56860 §8.26 guest messages / Table 98
//! header, Table 23 report, 56421 §4.1.8 extended request certificate table).
//!
//! Byte 0 selects the mode.
//! - Even: a `GuestRequestSession` talks to `snp-sim`'s spec-written PSP through a transport
//!   the input corrupts (patch response bytes, biased to the header; replace the page; fake a
//!   VMM/PSP error from `SW_EXITINFO2`; corrupt the certificate buffer), for up to four
//!   requests (report, extended report, derived key, TSC info). Properties: no panic; an
//!   accepted report parses; an accepted extended request's certificate buffer parses or is
//!   refused with an error (never a panic); after an error that wipes the key the session
//!   refuses everything.
//! - Odd: the decoders on raw bytes: `AttestationReport::parse` (both TCB layouts, and its
//!   `Display`), `CertTable::parse`, the three payload parsers, `check_response_header` and
//!   `open_response` against an input-chosen expectation.

use crate::input::Input;
use elastic_snp::cert_table::{CertKind, CertTable};
use elastic_snp::guest_msg::{
    ExpectedResponse, GuestRequestSession, GuestRequestTransport, HEADER_SIZE, MAX_PAYLOAD,
    MsgType, PAGE_SIZE, RequestParams, SessionConfig, SharedPages, TransportError,
    check_response_header, open_response,
};
use elastic_snp::messages::{
    KeyRequest, ReportRequest, parse_key_response, parse_report_response, parse_tsc_info_response,
};
use elastic_snp::report::{AttestationReport, REPORT_SIZE, TcbLayout};
use elastic_snp::secrets_page::Vmpck;
use snp_sim::psp::{LaunchState, PspSim, cert_blob};

/// The VMPCKs the simulated PSP and the guest share.
pub const KEYS: [[u8; 32]; 4] = [[0x31; 32], [0x32; 32], [0x33; 32], [0x34; 32]];

/// The honest PSP behind a corrupting host.
struct Hostile<'i, 'a> {
    psp: PspSim,
    input: &'i mut Input<'a>,
}

impl core::fmt::Debug for Hostile<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hostile").finish_non_exhaustive()
    }
}

impl GuestRequestTransport for Hostile<'_, '_> {
    fn guest_request(
        &mut self,
        request_page: &[u8; PAGE_SIZE],
        response_page: &mut [u8; PAGE_SIZE],
        mut certs: Option<&mut [u8]>,
    ) -> Result<(), TransportError> {
        let action = self.input.u8();
        if action >= 0xF0 {
            // The host fails the exit with arbitrary SW_EXITINFO2 / RBX values.
            let info2 = self.input.u64();
            let rbx = self.input.u64();
            return TransportError::from_exit_info_2(info2, rbx);
        }
        let r = self
            .psp
            .guest_request(request_page, response_page, certs.as_deref_mut())
            .map_err(TransportError::from);
        if action >= 0xE0 {
            let fill = self.input.take_rest();
            let n = fill.len().min(PAGE_SIZE);
            response_page[..n].copy_from_slice(&fill[..n]);
        } else {
            for _ in 0..action % 5 {
                let sel = self.input.u8();
                let off = if sel < 0xC0 {
                    usize::from(sel) % HEADER_SIZE
                } else {
                    usize::from(self.input.u16()) % PAGE_SIZE
                };
                response_page[off] ^= self.input.u8() | 1;
            }
        }
        if let Some(c) = certs {
            for _ in 0..self.input.below(3) {
                let off = usize::from(self.input.u16());
                if let Some(b) = c.get_mut(off % c.len().max(1)) {
                    *b = self.input.u8();
                }
            }
        }
        r
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    if input.u8() & 1 == 0 {
        session(&mut input);
    } else {
        decoders(&mut input);
    }
}

fn session(input: &mut Input<'_>) {
    let index = input.below(4);
    let mut psp = PspSim::new(KEYS, LaunchState::default(), b"fuzz");
    if input.bool() {
        psp.set_certs(Some(cert_blob(&[
            (elastic_snp::cert_table::GUID_VCEK, &[0x30; 700]),
            (elastic_snp::cert_table::GUID_ASK, &[0x31; 900]),
        ])));
    }
    let transport = Hostile { psp, input };
    let mut s = GuestRequestSession::new(
        transport,
        Vmpck::new(KEYS[usize::from(index)]),
        index,
        0,
        SessionConfig {
            max_busy_retries: 2,
        },
    )
    .expect("valid VMPCK index");
    let mut req = Box::new([0u8; PAGE_SIZE]);
    let mut rsp = Box::new([0u8; PAGE_SIZE]);
    for _ in 0..4 {
        let op = s.transport_mut().input.below(4);
        if s.transport().input.is_empty() && op != 0 {
            break;
        }
        let pages = SharedPages {
            request: &mut req,
            response: &mut rsp,
        };
        let err = match op {
            0 => match s.get_report(pages, &ReportRequest::new([0x5A; 64])) {
                Ok(r) => {
                    AttestationReport::parse(&r[..]).expect("authenticated report parses");
                    None
                }
                Err(e) => Some(e),
            },
            1 => {
                let pages_n = usize::from(s.transport_mut().input.below(3));
                let mut certs = vec![0u8; pages_n * PAGE_SIZE];
                match s.get_extended_report(pages, &ReportRequest::new([0xA5; 64]), &mut certs) {
                    Ok(r) => {
                        AttestationReport::parse(&r[..]).expect("authenticated report parses");
                        if let Ok(t) = CertTable::parse(&certs) {
                            let _ = t.get(CertKind::Vcek);
                        }
                        None
                    }
                    Err(e) => Some(e),
                }
            }
            2 => s.get_derived_key(pages, &KeyRequest::default()).err(),
            _ => s.get_tsc_info(pages).err(),
        };
        if let Some(e) = err {
            let _ = e.to_string();
            if e.wipes_key() {
                assert!(s.is_disabled(), "{e} must wipe the key");
            }
        }
    }
}

fn msg_type(b: u8) -> MsgType {
    match b % 3 {
        0 => MsgType::ReportReq,
        1 => MsgType::KeyReq,
        _ => MsgType::TscInfoReq,
    }
}

fn decoders(input: &mut Input<'_>) {
    match input.below(6) {
        0 => {
            let layout = if input.bool() {
                TcbLayout::Turin
            } else {
                TcbLayout::MilanGenoa
            };
            let bytes = input.take_rest();
            for r in [
                AttestationReport::parse(bytes),
                AttestationReport::parse_with_layout(bytes, layout),
            ] {
                match r {
                    Ok(rep) => {
                        assert_eq!(&rep.raw()[..], &bytes[..REPORT_SIZE]);
                        let _ = rep.to_string();
                        let _ = rep.signed_bytes();
                        let _ = rep.warnings();
                    }
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
            }
        }
        1 => {
            let bytes = input.take_rest();
            match CertTable::parse(bytes) {
                Ok(t) => {
                    for k in [CertKind::Ark, CertKind::Ask, CertKind::Vcek, CertKind::Vlek] {
                        if let Some(e) = t.get(k) {
                            let start = e.offset as usize;
                            assert_eq!(&bytes[start..start + e.data.len()], e.data);
                        }
                    }
                    let _ = t.is_empty();
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
        2 => {
            let bytes = input.take_rest();
            let _ = parse_report_response(bytes);
            let _ = parse_key_response(bytes);
            let _ = parse_tsc_info_response(bytes);
        }
        _ => {
            let index = input.below(4);
            let expect = ExpectedResponse {
                request: RequestParams {
                    msg_type: msg_type(input.u8()),
                    msg_version: input.below(3),
                    seqno: u64::from(input.u8()),
                    vmpck_index: index,
                },
                min_size: usize::from(input.u16()) % (MAX_PAYLOAD + 64),
                max_size: usize::from(input.u16()) % (PAGE_SIZE + 64),
            };
            let mut page = Box::new([0u8; PAGE_SIZE]);
            let rest = input.take_rest();
            let n = rest.len().min(PAGE_SIZE);
            page[..n].copy_from_slice(&rest[..n]);
            match check_response_header(&page, &expect) {
                Ok(h) => {
                    let _ = h;
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
            let key = Vmpck::new(KEYS[usize::from(index)]);
            match open_response(&key, &mut page, &expect) {
                Ok(len) => assert!(len <= MAX_PAYLOAD && len <= expect.max_size),
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
    }
}
