//! Hostile input: random and bit-flipped data from the host never panics and never passes.

use elastic_snp::cert_table::CertTable;
use elastic_snp::guest_msg::{
    AUTHTAG_LEN, ExpectedResponse, HEADER_SIZE, MsgType, PAGE_SIZE, RequestParams, open_response,
    seal_request,
};
use elastic_snp::report::{AttestationReport, REPORT_SIZE};
use elastic_snp::secrets_page::{SECRETS_PAGE_SIZE, SecretsPage, Vmpck};
use snp_sim::psp::{LaunchState, PspSim};

/// xorshift64*: deterministic pseudo-random bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next() as u8;
        }
    }
}

const KEYS: [[u8; 32]; 4] = [[0x61; 32], [0x62; 32], [0x63; 32], [0x64; 32]];

fn expect() -> ExpectedResponse {
    ExpectedResponse {
        request: RequestParams {
            msg_type: MsgType::TscInfoReq,
            msg_version: 1,
            seqno: 1,
            vmpck_index: 0,
        },
        min_size: 128,
        max_size: 4000,
    }
}

/// A genuine TSC_INFO response page from the simulator for request seqno 1.
fn genuine_response() -> [u8; PAGE_SIZE] {
    let mut sim = PspSim::new(KEYS, LaunchState::default(), b"hostile");
    let mut req = [0u8; PAGE_SIZE];
    seal_request(&Vmpck::new(KEYS[0]), &expect().request, &[0; 128], &mut req).unwrap();
    let mut rsp = [0u8; PAGE_SIZE];
    sim.guest_request(&req, &mut rsp, None).unwrap();
    rsp
}

#[test]
fn every_single_byte_change_of_a_response_is_rejected() {
    let key = Vmpck::new(KEYS[0]);
    let good = genuine_response();
    let mut copy = good;
    assert_eq!(open_response(&key, &mut copy, &expect()), Ok(128));
    // Header (except AUTHTAG bytes 16..32, which AES-256-GCM does not use) and ciphertext.
    for off in (0..HEADER_SIZE + 128).filter(|o| !(AUTHTAG_LEN..32).contains(o)) {
        for flip in [0x01u8, 0x80] {
            let mut p = good;
            p[off] ^= flip;
            assert!(
                open_response(&key, &mut p, &expect()).is_err(),
                "byte {off:#x} ^ {flip:#x} accepted"
            );
        }
    }
    // A different key never opens it.
    let mut p = good;
    assert!(open_response(&Vmpck::new(KEYS[1]), &mut p, &expect()).is_err());
}

#[test]
fn random_response_pages_are_rejected() {
    let key = Vmpck::new(KEYS[0]);
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let good = genuine_response();
    for i in 0..2000 {
        let mut p = [0u8; PAGE_SIZE];
        if i % 2 == 0 {
            rng.fill(&mut p);
        } else {
            // Plausible header with random sizes/seqnos, rest genuine.
            p = good;
            let sz = (rng.next() % 5000) as u16;
            p[0x36..0x38].copy_from_slice(&sz.to_le_bytes());
            p[0x20..0x28].copy_from_slice(&(rng.next() % 4).to_le_bytes());
        }
        if p == good {
            continue;
        }
        assert!(open_response(&key, &mut p, &expect()).is_err());
    }
}

#[test]
fn random_reports_parse_or_fail_without_panicking() {
    let mut rng = Rng(0xDEAD_BEEF_0BAD_F00D);
    let mut parsed = 0;
    for i in 0..3000 {
        let mut b = vec![0u8; REPORT_SIZE];
        rng.fill(&mut b);
        b[0..4].copy_from_slice(&[2u32, 3, 5, 4][i % 4].to_le_bytes());
        if let Ok(r) = AttestationReport::parse(&b) {
            parsed += 1;
            // Random bytes are never clean.
            assert!(!r.warnings().is_empty());
            assert!(!r.to_string().is_empty());
            assert_eq!(r.signed_bytes(), &b[..0x2A0]);
        }
        let len = (rng.next() % (2 * REPORT_SIZE as u64)) as usize;
        if len != REPORT_SIZE {
            assert!(AttestationReport::parse(&b.repeat(2)[..len]).is_err());
        }
    }
    assert_eq!(parsed, 3000 * 3 / 4);
}

#[test]
fn random_cert_tables_stay_in_bounds() {
    let mut rng = Rng(0x0F0F_1234_AAAA_5555);
    for _ in 0..3000 {
        let len = (rng.next() % 512) as usize;
        let mut b = vec![0u8; len];
        rng.fill(&mut b);
        // Make some entries plausible: small offsets/lengths, and a terminator somewhere.
        for e in b.chunks_mut(24) {
            if e.len() == 24 && rng.next().is_multiple_of(2) {
                let off = (rng.next() % 600) as u32;
                let ln = (rng.next() % 300) as u32;
                e[16..20].copy_from_slice(&off.to_le_bytes());
                e[20..24].copy_from_slice(&ln.to_le_bytes());
            }
            if e.len() == 24 && rng.next().is_multiple_of(4) {
                e.fill(0);
            }
        }
        if let Ok(t) = CertTable::parse(&b) {
            for e in t.entries {
                let start = e.offset as usize;
                assert_eq!(&b[start..start + e.data.len()], e.data);
            }
        }
    }
}

#[test]
fn random_secrets_pages_do_not_panic() {
    let mut rng = Rng(42);
    for _ in 0..200 {
        let mut p = [0u8; SECRETS_PAGE_SIZE];
        rng.fill(&mut p);
        if let Ok(s) = SecretsPage::parse(&p) {
            assert!(s.version >= 2);
            assert!(s.vmpck(3).is_ok());
        }
    }
}
