//! End-to-end: elastic-snp's guest-message stack against snp-sim's independently written PSP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use elastic_snp::cert_table::{CertKind, CertTable, GUID_ARK, GUID_ASK, GUID_VCEK};
use elastic_snp::guest_msg::{
    AAD_RANGE, GuestRequestSession, HEADER_SIZE, MsgType, PAGE_SIZE, RequestParams, ResponseError,
    SessionConfig, SessionError, SharedPages, TransportError, seal_request,
};
use elastic_snp::messages::{
    GuestFieldSelect, KeyRequest, KeySel, ReportRequest, RootKey, STATUS_INVALID_KEY,
    STATUS_INVALID_PARAM,
};
use elastic_snp::report::{AttestationReport, TcbLayout};
use elastic_snp::secrets_page::Vmpck;
use p384::ecdsa::Signature;
use p384::ecdsa::signature::Verifier;
use snp_sim::psp::{LaunchState, Misbehavior, PspSim, cert_blob};

const KEYS: [[u8; 32]; 4] = [[0x31; 32], [0x32; 32], [0x33; 32], [0x34; 32]];

struct Pages {
    req: Box<[u8; PAGE_SIZE]>,
    rsp: Box<[u8; PAGE_SIZE]>,
}

impl Pages {
    fn new() -> Self {
        Self {
            req: Box::new([0; PAGE_SIZE]),
            rsp: Box::new([0; PAGE_SIZE]),
        }
    }
    fn shared(&mut self) -> SharedPages<'_> {
        SharedPages {
            request: &mut self.req,
            response: &mut self.rsp,
        }
    }
}

fn session_with(sim: PspSim, index: u8) -> GuestRequestSession<PspSim> {
    GuestRequestSession::new(
        sim,
        Vmpck::new(KEYS[usize::from(index)]),
        index,
        0,
        SessionConfig::default(),
    )
    .unwrap()
}

fn session() -> GuestRequestSession<PspSim> {
    session_with(PspSim::new(KEYS, LaunchState::default(), b"e2e"), 0)
}

fn report_data() -> [u8; 64] {
    let mut d = [0u8; 64];
    for (i, b) in d.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7).wrapping_add(3);
    }
    d
}

fn verify(sim: &PspSim, r: &AttestationReport) {
    let sig =
        Signature::from_scalars(r.signature.r_be().unwrap(), r.signature.s_be().unwrap()).unwrap();
    sim.verifying_key().verify(r.signed_bytes(), &sig).unwrap();
}

#[test]
fn report_is_signed_and_carries_caller_data() {
    let mut s = session();
    let mut pages = Pages::new();
    let raw = s
        .get_report(pages.shared(), &ReportRequest::new(report_data()))
        .unwrap();
    let r = AttestationReport::parse(&raw[..]).unwrap();
    let launch = LaunchState::default();
    assert_eq!(r.report_data, report_data());
    assert_eq!(r.version, 3);
    assert_eq!(r.vmpl, 0);
    assert_eq!(r.measurement, launch.measurement);
    assert_eq!(r.policy.0, launch.policy);
    assert_eq!(r.host_data, launch.host_data);
    assert_eq!(r.chip_id, launch.chip_id);
    assert_eq!(r.guest_svn, launch.guest_svn);
    assert_eq!(r.reported_tcb.as_u64(), launch.reported_tcb);
    assert_eq!(r.reported_tcb.snp, 8);
    assert_eq!(r.tcb_layout, TcbLayout::MilanGenoa);
    assert_eq!(r.current_version.to_string(), "1.55.21");
    assert!(r.warnings().is_empty(), "{:?}", r.warnings());
    verify(s.transport(), &r);

    // A tampered copy must not verify.
    let mut bad = raw.to_vec();
    bad[0x50] ^= 1;
    let rb = AttestationReport::parse(&bad).unwrap();
    let sig = Signature::from_scalars(rb.signature.r_be().unwrap(), rb.signature.s_be().unwrap())
        .unwrap();
    assert!(
        s.transport()
            .verifying_key()
            .verify(rb.signed_bytes(), &sig)
            .is_err()
    );

    // Sequence numbers advance by 2 on both sides; further requests keep working.
    assert_eq!(s.last_seqno(), 2);
    assert_eq!(s.transport().psp_seqno(0), 2);
    for i in 1..=3u64 {
        s.get_report(pages.shared(), &ReportRequest::new([i as u8; 64]))
            .unwrap();
        assert_eq!(s.last_seqno(), 2 + 2 * i);
    }
    // The request page on the shared page is ciphertext: the caller's bytes are not visible.
    assert!(!pages.req.windows(8).any(|w| w == [3u8; 8]));
}

#[test]
fn report_at_other_vmpl_and_key_index() {
    let sim = PspSim::new(KEYS, LaunchState::default(), b"e2e");
    let mut s = session_with(sim, 2);
    let mut pages = Pages::new();
    let req = ReportRequest {
        report_data: [9; 64],
        vmpl: 3,
        key_sel: KeySel::Vcek,
    };
    let raw = s.get_report(pages.shared(), &req).unwrap();
    let r = AttestationReport::parse(&raw[..]).unwrap();
    assert_eq!(r.vmpl, 3);
    verify(s.transport(), &r);
    assert_eq!(s.transport().psp_seqno(2), 2);
    assert_eq!(s.transport().psp_seqno(0), 0);

    // VMPL below the requester's (key index 2) is refused by the PSP inside the response:
    // the exchange completed, so the key stays usable.
    let low = ReportRequest { vmpl: 1, ..req };
    assert_eq!(
        s.get_report(pages.shared(), &low).unwrap_err(),
        SessionError::FirmwareStatus(STATUS_INVALID_PARAM)
    );
    assert!(!s.is_disabled());
    let vlek = ReportRequest {
        key_sel: KeySel::Vlek,
        ..req
    };
    assert_eq!(
        s.get_report(pages.shared(), &vlek).unwrap_err(),
        SessionError::FirmwareStatus(STATUS_INVALID_KEY)
    );
    s.get_report(pages.shared(), &req).unwrap();
    assert_eq!(s.last_seqno(), 8);
}

#[test]
fn derived_keys_match_the_documented_derivation() {
    let mut s = session();
    let mut pages = Pages::new();
    let req = KeyRequest {
        guest_field_select: GuestFieldSelect::sealing(),
        ..KeyRequest::default()
    };
    let k1 = s.get_derived_key(pages.shared(), &req).unwrap();
    let expect = s.transport().derive_key(0, 0b1001, 0, 0, 0);
    assert_eq!(k1.as_bytes(), &expect);
    // Stable across requests, different for another selection or root.
    let k2 = s.get_derived_key(pages.shared(), &req).unwrap();
    assert_eq!(k1, k2);
    let other = KeyRequest {
        guest_field_select: GuestFieldSelect(GuestFieldSelect::MEASUREMENT),
        ..req
    };
    assert_ne!(s.get_derived_key(pages.shared(), &other).unwrap(), k1);
    let vmrk = KeyRequest {
        root_key: RootKey::Vmrk,
        ..req
    };
    assert_ne!(s.get_derived_key(pages.shared(), &vmrk).unwrap(), k1);
    // A guest SVN above the launch SVN is refused in the response; key kept.
    let svn = KeyRequest {
        guest_field_select: GuestFieldSelect(GuestFieldSelect::GUEST_SVN),
        guest_svn: 99,
        ..req
    };
    assert_eq!(
        s.get_derived_key(pages.shared(), &svn).unwrap_err(),
        SessionError::FirmwareStatus(STATUS_INVALID_PARAM)
    );
    assert!(!s.is_disabled());
    // A v1-invalid field bit is refused before anything is sent.
    let before = s.transport().request_log().len();
    let bad = KeyRequest {
        guest_field_select: GuestFieldSelect(GuestFieldSelect::LAUNCH_MIT_VECTOR),
        ..req
    };
    assert!(matches!(
        s.get_derived_key(pages.shared(), &bad),
        Err(SessionError::Seal(_))
    ));
    assert_eq!(s.transport().request_log().len(), before);
    assert!(!s.is_disabled());
}

#[test]
fn tsc_info() {
    let mut s = session();
    let mut pages = Pages::new();
    let t = s.get_tsc_info(pages.shared()).unwrap();
    let l = LaunchState::default();
    assert_eq!(t.guest_tsc_scale, l.tsc_scale);
    assert_eq!(t.guest_tsc_offset, l.tsc_offset);
    assert_eq!(t.tsc_factor, l.tsc_factor);
    assert!(t.is_plausible());
}

fn certs() -> Vec<u8> {
    cert_blob(&[
        (GUID_VCEK, &[0x56u8; 1300][..]),
        (GUID_ASK, &[0x41u8; 1600][..]),
        (GUID_ARK, &[0x52u8; 1600][..]),
    ])
}

#[test]
fn extended_report_returns_cert_table() {
    let mut sim = PspSim::new(KEYS, LaunchState::default(), b"e2e");
    sim.set_certs(Some(certs()));
    let mut s = session_with(sim, 0);
    let mut pages = Pages::new();
    let mut buf = vec![0u8; 2 * PAGE_SIZE];
    let raw = s
        .get_extended_report(pages.shared(), &ReportRequest::new(report_data()), &mut buf)
        .unwrap();
    let r = AttestationReport::parse(&raw[..]).unwrap();
    assert_eq!(r.report_data, report_data());
    verify(s.transport(), &r);
    let t = CertTable::parse(&buf).unwrap();
    assert_eq!(t.entries.len(), 3);
    assert_eq!(t.get(CertKind::Vcek).unwrap().data, &[0x56u8; 1300][..]);
    assert_eq!(t.get(CertKind::Ask).unwrap().data, &[0x41u8; 1600][..]);
    assert_eq!(t.get(CertKind::Ark).unwrap().data, &[0x52u8; 1600][..]);
    assert!(t.get(CertKind::Vlek).is_none());
}

#[test]
fn extended_report_without_host_certs_gives_empty_table() {
    let mut s = session();
    let mut pages = Pages::new();
    let mut buf = vec![0xEEu8; PAGE_SIZE];
    s.get_extended_report(pages.shared(), &ReportRequest::new([1; 64]), &mut buf)
        .unwrap();
    assert!(CertTable::parse(&buf).unwrap().is_empty());
    // A buffer that is not whole pages is refused before sending.
    let mut odd = vec![0u8; 100];
    assert!(matches!(
        s.get_extended_report(pages.shared(), &ReportRequest::new([1; 64]), &mut odd),
        Err(SessionError::Seal(_))
    ));
    assert!(!s.is_disabled());
}

#[test]
fn invalid_len_resends_as_regular_request_and_keeps_key() {
    let mut sim = PspSim::new(KEYS, LaunchState::default(), b"e2e");
    sim.set_certs(Some(certs()));
    let mut s = session_with(sim, 0);
    let mut pages = Pages::new();
    let mut small = vec![0u8; PAGE_SIZE];
    let err = s
        .get_extended_report(pages.shared(), &ReportRequest::new([5; 64]), &mut small)
        .unwrap_err();
    assert_eq!(err, SessionError::CertBufferTooSmall { pages_needed: 2 });
    assert!(!err.wipes_key());
    assert!(!s.is_disabled());
    // Two attempts with identical bytes (extended, then regular), one PSP exchange, seqno used.
    let log = s.transport().request_log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0], log[1]);
    assert_eq!(s.transport().processed(), 1);
    assert_eq!(s.last_seqno(), 2);
    assert_eq!(s.transport().psp_seqno(0), 2);
    // Retry with the size asked for.
    let mut buf = vec![0u8; 2 * PAGE_SIZE];
    s.get_extended_report(pages.shared(), &ReportRequest::new([5; 64]), &mut buf)
        .unwrap();
    assert_eq!(CertTable::parse(&buf).unwrap().entries.len(), 3);
    assert_eq!(s.last_seqno(), 4);
}

#[test]
fn busy_retries_the_same_bytes() {
    let mut sim = PspSim::new(KEYS, LaunchState::default(), b"e2e");
    sim.set_misbehavior(Misbehavior::BusyThenOk(3));
    let mut s = session_with(sim, 0);
    let delays = Arc::new(AtomicU32::new(0));
    let d = delays.clone();
    s.set_busy_delay(Box::new(move |n| {
        assert_eq!(d.fetch_add(1, Ordering::SeqCst) + 1, n);
    }));
    let mut pages = Pages::new();
    let raw = s
        .get_report(pages.shared(), &ReportRequest::new(report_data()))
        .unwrap();
    assert_eq!(
        AttestationReport::parse(&raw[..]).unwrap().report_data,
        report_data()
    );
    assert_eq!(delays.load(Ordering::SeqCst), 3);
    let log = s.transport().request_log();
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|p| p == &log[0]));
    assert_eq!(s.last_seqno(), 2);
}

#[test]
fn busy_forever_times_out_and_wipes_key() {
    let mut sim = PspSim::new(KEYS, LaunchState::default(), b"e2e");
    sim.set_misbehavior(Misbehavior::BusyForever);
    let mut s = GuestRequestSession::new(
        sim,
        Vmpck::new(KEYS[0]),
        0,
        0,
        SessionConfig {
            max_busy_retries: 5,
        },
    )
    .unwrap();
    let mut pages = Pages::new();
    let err = s.get_tsc_info(pages.shared()).unwrap_err();
    assert_eq!(err, SessionError::BusyTimeout { attempts: 6 });
    assert!(s.is_disabled());
    assert_eq!(s.transport().request_log().len(), 6);
    assert!(
        s.transport()
            .request_log()
            .iter()
            .all(|p| p == &s.transport().request_log()[0])
    );
}

/// Every misbehaviour: the request fails with the right error, the key is wiped, and nothing
/// more is sent afterwards.
#[test]
fn every_bad_response_is_rejected_and_wipes_the_key() {
    type Check = fn(&SessionError) -> bool;
    let cases: Vec<(Misbehavior, Check)> = vec![
        (Misbehavior::BadTag, |e| {
            *e == SessionError::InvalidResponse(ResponseError::BadTag)
        }),
        (Misbehavior::StaleSeqno, |e| {
            matches!(
                e,
                SessionError::InvalidResponse(ResponseError::BadSeqno {
                    expected: 4,
                    got: 3
                })
            )
        }),
        (Misbehavior::ReplayPrevious, |e| {
            matches!(
                e,
                SessionError::InvalidResponse(ResponseError::BadSeqno {
                    expected: 4,
                    got: 2
                })
            )
        }),
        (Misbehavior::WrongMsgType, |e| {
            matches!(
                e,
                SessionError::InvalidResponse(ResponseError::BadMsgType {
                    expected: 6,
                    got: 8
                })
            )
        }),
        (Misbehavior::WrongVmpck, |e| {
            matches!(
                e,
                SessionError::InvalidResponse(ResponseError::BadVmpck {
                    expected: 0,
                    got: 1
                })
            )
        }),
        (Misbehavior::ReservedNonZero, |e| {
            *e == SessionError::InvalidResponse(ResponseError::ReservedNonZero)
        }),
        (Misbehavior::TruncatedPayload, |e| {
            matches!(
                e,
                SessionError::InvalidResponse(ResponseError::BadMsgSize { got: 0x260, .. })
            )
        }),
        (Misbehavior::OversizedMsgSz, |e| {
            matches!(
                e,
                SessionError::InvalidResponse(ResponseError::BadMsgSize { got: 4001, .. })
            )
        }),
        (Misbehavior::BadReportSize, |e| {
            matches!(e, SessionError::MalformedPayload(_))
        }),
        (Misbehavior::PspError(0x16), |e| {
            *e == SessionError::Transport(TransportError::PspStatus(0x16))
        }),
    ];
    for (m, check) in cases {
        let mut s = session();
        let mut pages = Pages::new();
        // One good exchange first (so a replay has something to replay).
        s.get_report(pages.shared(), &ReportRequest::new([1; 64]))
            .unwrap();
        s.transport_mut().set_misbehavior(m);
        let err = s
            .get_report(pages.shared(), &ReportRequest::new([2; 64]))
            .unwrap_err();
        assert!(check(&err), "{m:?}: unexpected {err:?}");
        assert!(err.wipes_key(), "{m:?}");
        assert!(s.is_disabled(), "{m:?}: key not wiped");
        // Refused from now on, without touching the transport, even if the host behaves again.
        s.transport_mut().set_misbehavior(Misbehavior::None);
        let sent = s.transport().request_log().len();
        assert_eq!(
            s.get_report(pages.shared(), &ReportRequest::new([3; 64]))
                .unwrap_err(),
            SessionError::KeyDisabled
        );
        assert_eq!(
            s.get_tsc_info(pages.shared()).unwrap_err(),
            SessionError::KeyDisabled
        );
        assert_eq!(s.transport().request_log().len(), sent, "{m:?}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn payload_status_error_keeps_key() {
    let mut s = session();
    let mut pages = Pages::new();
    s.transport_mut()
        .set_misbehavior(Misbehavior::PayloadStatus(STATUS_INVALID_PARAM));
    assert_eq!(
        s.get_derived_key(pages.shared(), &KeyRequest::default())
            .unwrap_err(),
        SessionError::FirmwareStatus(STATUS_INVALID_PARAM)
    );
    assert!(!s.is_disabled());
    s.transport_mut().set_misbehavior(Misbehavior::None);
    s.get_tsc_info(pages.shared()).unwrap();
    assert_eq!(s.last_seqno(), 4);
}

#[test]
fn sequence_number_limits() {
    // A key a previous stage used up to just below the limit: one exchange fits, then refusal.
    let mut sim = PspSim::new(KEYS, LaunchState::default(), b"e2e");
    let start = u64::from(u32::MAX) - 3;
    sim.set_psp_seqno(0, start);
    let mut s =
        GuestRequestSession::new(sim, Vmpck::new(KEYS[0]), 0, start, SessionConfig::default())
            .unwrap();
    let mut pages = Pages::new();
    s.get_tsc_info(pages.shared()).unwrap();
    assert_eq!(s.last_seqno(), u64::from(u32::MAX) - 1);
    assert_eq!(
        s.get_tsc_info(pages.shared()).unwrap_err(),
        SessionError::SeqnoExhausted
    );
    assert_eq!(s.transport().request_log().len(), 1);

    // Out of step with the PSP (guest thinks 0, PSP at 10): the PSP refuses, key wiped.
    let mut sim = PspSim::new(KEYS, LaunchState::default(), b"e2e");
    sim.set_psp_seqno(0, 10);
    let mut s = session_with(sim, 0);
    assert_eq!(
        s.get_tsc_info(pages.shared()).unwrap_err(),
        SessionError::Transport(TransportError::PspStatus(STATUS_INVALID_PARAM))
    );
    assert!(s.is_disabled());

    // An all-zero key is disabled from the start.
    let mut s = GuestRequestSession::new(
        PspSim::new(KEYS, LaunchState::default(), b"e2e"),
        Vmpck::new([0; 32]),
        0,
        0,
        SessionConfig::default(),
    )
    .unwrap();
    assert_eq!(
        s.get_tsc_info(pages.shared()).unwrap_err(),
        SessionError::KeyDisabled
    );
}

/// Known-answer test: AES-256-GCM of a REPORT_REQ under a fixed key, computed independently with
/// Python `cryptography` (OpenSSL): key = 00..1f, seqno 1, report_data = 0x11 × 64, vmpl 0,
/// key_sel 1 (VCEK).
#[test]
fn aes_gcm_known_answer() {
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let req = ReportRequest {
        report_data: [0x11; 64],
        vmpl: 0,
        key_sel: KeySel::Vcek,
    };
    let params = RequestParams {
        msg_type: MsgType::ReportReq,
        msg_version: 1,
        seqno: 1,
        vmpck_index: 0,
    };
    let mut page = [0u8; PAGE_SIZE];
    seal_request(&Vmpck::new(key), &params, &req.to_bytes(), &mut page).unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(&page[HEADER_SIZE..HEADER_SIZE + 0x60]),
        "f33d932eb5befd165b1514d22dd099dadd70de3f6db97a035f0e4cef0c379661\
         fdede1d831b3bfdec9cc0cc25f181199e1c4df95f4614b869299f16306a53956\
         bcafa49212c0f2445044cd48be94fd5eb5f3e8b761e80896f353185b4abd740d"
    );
    assert_eq!(hex(&page[..16]), "4c4531e327f0c7ecc27f88986602db24");
    assert_eq!(
        hex(&page[AAD_RANGE][..16]),
        "01016000050160000000000000000000"
    );
}

#[test]
fn turin_report_uses_turin_tcb_layout() {
    let launch = LaunchState {
        cpuid: (0x1A, 0x02, 0x00),
        // Turin layout: fmc 1, bootloader 2, tee 3, snp 4, microcode 0x44.
        reported_tcb: u64::from_le_bytes([1, 2, 3, 4, 0, 0, 0, 0x44]),
        current_tcb: u64::from_le_bytes([1, 2, 3, 4, 0, 0, 0, 0x44]),
        committed_tcb: u64::from_le_bytes([1, 2, 3, 4, 0, 0, 0, 0x44]),
        launch_tcb: u64::from_le_bytes([1, 2, 3, 4, 0, 0, 0, 0x44]),
        ..LaunchState::default()
    };
    let mut s = session_with(PspSim::new(KEYS, launch, b"turin"), 0);
    let mut pages = Pages::new();
    let raw = s
        .get_report(pages.shared(), &ReportRequest::new([0x77; 64]))
        .unwrap();
    let r = AttestationReport::parse(&raw[..]).unwrap();
    assert_eq!(r.tcb_layout, TcbLayout::Turin);
    let c = r.cpuid.unwrap();
    assert_eq!((c.family, c.model, c.stepping), (0x1A, 0x02, 0x00));
    let t = r.reported_tcb;
    assert_eq!(
        (t.fmc, t.bootloader, t.tee, t.snp, t.microcode),
        (Some(1), 2, 3, 4, 0x44)
    );
    assert!(r.warnings().is_empty(), "{:?}", r.warnings());
    verify(s.transport(), &r);
}
