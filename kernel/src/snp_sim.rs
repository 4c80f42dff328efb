//! Test-only SEV-SNP services (feature `snp-sim`): the `elastic_snp` guest calls are answered
//! by elastic-snp's guest-message session (AMD 56860 §7 messages, §8.26 AEAD) whose transport
//! is snp-sim's PSP simulator in memory, in place of the GHCB guest request (AMD 56421
//! §4.1.8). Reports are signed with the simulator's test P-384 key, so they prove nothing
//! about this machine: this image is not a confidential VM, and every log line says
//! SIMULATED. Used by the QEMU test that checks the WASI extension end to end.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use elastic_snp::cert_table::CertTable;
use elastic_snp::guest_msg::{
    GuestRequestSession, GuestRequestTransport, PAGE_SIZE, SessionConfig, SessionError,
    SharedPages, TransportError,
};
use elastic_snp::messages::{
    GuestFieldSelect, KeyRequest, KeySel, ReportRequest, RootKey, STATUS_INVALID_PARAM,
};
use elastic_snp::secrets_page::Vmpck;
use log::{info, warn};
use snp_sim::psp::{KERNEL_TEST_SEED, KERNEL_TEST_VMPCKS, LaunchState, PspSim, SimError};
use wasi_impl::SnpError;

/// The fixed test VMPCK0..3 both sides share (a real guest reads them from the secrets page),
/// and the seed of the simulator's signing key: `snp_sim::psp::KERNEL_TEST_*`, which
/// `tests/snp_sim.rs` uses to rebuild the same simulator and get its public key.
const SIM_VMPCKS: [[u8; 32]; 4] = KERNEL_TEST_VMPCKS;
const SIM_SEED: &[u8] = KERNEL_TEST_SEED;

/// The simulator behind the guest-request transport trait.
struct SimTransport(PspSim);

impl GuestRequestTransport for SimTransport {
    fn guest_request(
        &mut self,
        request_page: &[u8; PAGE_SIZE],
        response_page: &mut [u8; PAGE_SIZE],
        certs: Option<&mut [u8]>,
    ) -> Result<(), TransportError> {
        self.0
            .guest_request(request_page, response_page, certs)
            .map_err(|e| match e {
                SimError::Busy => TransportError::Busy,
                SimError::InvalidLen { pages_needed } => {
                    TransportError::InvalidLen { pages_needed }
                }
                SimError::PspStatus(s) => TransportError::PspStatus(s),
            })
    }
}

/// The simulated SNP services one image's guests share (one session, one sequence space).
pub struct SimSnp {
    session: GuestRequestSession<SimTransport>,
    request: Box<[u8; PAGE_SIZE]>,
    response: Box<[u8; PAGE_SIZE]>,
    certs: Option<Vec<u8>>,
}

fn to_snp_error(what: &str, e: SessionError) -> SnpError {
    warn!("SIMULATED SNP: {what} failed: {e}");
    match e {
        SessionError::FirmwareStatus(STATUS_INVALID_PARAM) | SessionError::Seal(_) => {
            SnpError::InvalidArgument
        }
        SessionError::BusyTimeout { .. } => SnpError::Busy,
        _ => SnpError::Failed,
    }
}

impl SimSnp {
    /// Sets up the simulator and the session on VMPCK0, and says so in the log.
    pub fn new() -> Option<Self> {
        info!("SIMULATED SNP: PSP simulator in place of the GHCB transport; not a confidential VM");
        let psp = PspSim::new(SIM_VMPCKS, LaunchState::default(), SIM_SEED);
        let [key0, ..] = SIM_VMPCKS;
        match GuestRequestSession::new(
            SimTransport(psp),
            Vmpck::new(key0),
            0,
            0,
            SessionConfig::default(),
        ) {
            Ok(session) => Some(Self {
                session,
                request: Box::new([0; PAGE_SIZE]),
                response: Box::new([0; PAGE_SIZE]),
                certs: None,
            }),
            Err(e) => {
                warn!("SIMULATED SNP: no session ({e}); guests see an ordinary VM");
                None
            }
        }
    }

    /// MSG_REPORT_REQ for `report_data` at `vmpl`: the raw 1184-byte simulator-signed report.
    pub fn report(&mut self, report_data: &[u8; 64], vmpl: u32) -> Result<Vec<u8>, SnpError> {
        let req = ReportRequest {
            vmpl,
            ..ReportRequest::new(*report_data)
        };
        let r = self.session.get_report(
            SharedPages {
                request: &mut self.request,
                response: &mut self.response,
            },
            &req,
        );
        match r {
            Ok(report) => {
                info!("SIMULATED SNP: attestation report for VMPL {vmpl} (test key signature)");
                Ok(report.to_vec())
            }
            Err(e) => Err(to_snp_error("attestation report", e)),
        }
    }

    /// The extended request's certificate table (fetched once; empty: the simulated host
    /// supplies no certificates).
    pub fn certificates(&mut self) -> Result<Vec<u8>, SnpError> {
        if let Some(c) = &self.certs {
            return Ok(c.clone());
        }
        let mut pages = 1u64;
        let buf = loop {
            let len = usize::try_from(pages)
                .ok()
                .and_then(|p| p.checked_mul(PAGE_SIZE))
                .ok_or(SnpError::Failed)?;
            let mut buf = vec![0u8; len];
            let r = self.session.get_extended_report(
                SharedPages {
                    request: &mut self.request,
                    response: &mut self.response,
                },
                &ReportRequest::new([0; 64]),
                &mut buf,
            );
            match r {
                Ok(_) => break buf,
                Err(SessionError::CertBufferTooSmall { pages_needed }) if pages_needed > pages => {
                    pages = pages_needed;
                }
                Err(e) => return Err(to_snp_error("certificate table", e)),
            }
        };
        let table = match CertTable::parse(&buf) {
            Ok(t) if t.is_empty() => Vec::new(),
            Ok(_) => buf,
            Err(e) => {
                warn!("SIMULATED SNP: the certificate table does not parse: {e:?}");
                return Err(SnpError::Failed);
            }
        };
        info!(
            "SIMULATED SNP: certificate table of {} bytes from the simulated host",
            table.len()
        );
        self.certs = Some(table.clone());
        Ok(table)
    }

    /// MSG_KEY_REQ with root key VCEK at VMPL 0 mixing in `field_select`.
    pub fn derived_key(&mut self, field_select: u64) -> Result<[u8; 32], SnpError> {
        let req = KeyRequest {
            root_key: RootKey::Vcek,
            key_sel: KeySel::Default,
            guest_field_select: GuestFieldSelect(field_select),
            vmpl: 0,
            guest_svn: 0,
            tcb_version: 0,
        };
        let r = self.session.get_derived_key(
            SharedPages {
                request: &mut self.request,
                response: &mut self.response,
            },
            &req,
        );
        match r {
            Ok(key) => {
                info!("SIMULATED SNP: derived key (simulator root key, fields {field_select:#x})");
                Ok(*key.as_bytes())
            }
            Err(e) => Err(to_snp_error("derived key", e)),
        }
    }
}
