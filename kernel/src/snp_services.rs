//! The SEV-SNP services guests get through the `elastic_snp` host module and wasi-crypto
//! sealing keys: attestation reports, the host's certificate table, derived keys and the
//! Secure TSC parameters, over one guest-message session on VMPCK0 (elastic-snp
//! `guest_msg`, AMD 56860 chapter 7). The transport is the GHCB guest request (AMD 56421
//! section 4.1.8) on a real SNP guest, and the PSP simulator in the test-only `snp-sim` image.

use crate::platform;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use elastic_snp::cert_table::CertTable;
use elastic_snp::guest_msg::{
    GuestRequestSession, GuestRequestTransport, PAGE_SIZE, SessionConfig, SessionError,
    SharedPages, TransportError,
};
use elastic_snp::messages::{
    GuestFieldSelect, KeyRequest, KeySel, ReportRequest, RootKey, STATUS_INVALID_PARAM, TscInfo,
};
use elastic_snp::secrets_page::{SecretsPage, Vmpck};
use log::{info, warn};
use wasi_impl::{ClockTrust, SnpError};

/// The GHCB guest request (the platform layer copies the pages to and from the shared
/// request, response and certificate pages).
struct GhcbTransport;

impl GuestRequestTransport for GhcbTransport {
    fn guest_request(
        &mut self,
        request_page: &[u8; PAGE_SIZE],
        response_page: &mut [u8; PAGE_SIZE],
        certs: Option<&mut [u8]>,
    ) -> Result<(), TransportError> {
        platform::snp::guest_request(request_page, response_page, certs)
    }
}

/// The services of a real SNP guest: VMPCK0 from the secrets page, the GHCB transport.
/// `None` without SNP. With Secure TSC, asks for TSC_INFO (the caller terminates when that
/// fails, as Linux does).
pub fn open_ghcb(secure_tsc: bool) -> Option<SnpServices> {
    let page = platform::snp::secrets_page()?;
    let secrets = match SecretsPage::parse(page) {
        Ok(s) => s,
        Err(e) => {
            warn!("SNP: the secrets page does not parse ({e:?}); no guest messages");
            return None;
        }
    };
    let key = secrets.vmpck(0).ok()?.clone();
    let trust = if secure_tsc {
        ClockTrust::SecureTsc
    } else {
        ClockTrust::Hypervisor
    };
    SnpServices::new(Box::new(GhcbTransport), key, "SNP", trust)
}

/// The private request and response staging pages of the session (the transport copies them
/// to and from the shared pages).
struct PrivatePages {
    request: Box<[u8; PAGE_SIZE]>,
    response: Box<[u8; PAGE_SIZE]>,
}

impl PrivatePages {
    fn get(&mut self) -> SharedPages<'_> {
        SharedPages {
            request: &mut self.request,
            response: &mut self.response,
        }
    }
}

/// The SNP services one image's guests share (one session on VMPCK0, one sequence space).
pub struct SnpServices {
    /// The session over any transport (the GHCB, or the test image's PSP simulator).
    session: GuestRequestSession<Box<dyn GuestRequestTransport>>,
    pages: PrivatePages,
    certs: Option<Vec<u8>>,
    /// Log prefix: "SNP", or "SIMULATED SNP" in the test image.
    label: &'static str,
    clock_trust: ClockTrust,
}

fn to_snp_error(label: &str, what: &str, e: SessionError) -> SnpError {
    warn!("{label}: {what} failed: {e}");
    match e {
        SessionError::FirmwareStatus(STATUS_INVALID_PARAM) | SessionError::Seal(_) => {
            SnpError::InvalidArgument
        }
        SessionError::BusyTimeout { .. } => SnpError::Busy,
        _ => SnpError::Failed,
    }
}

impl SnpServices {
    /// A session on `vmpck0` (index 0, fresh sequence numbers) over `transport`.
    pub fn new(
        transport: Box<dyn GuestRequestTransport>,
        vmpck0: Vmpck,
        label: &'static str,
        clock_trust: ClockTrust,
    ) -> Option<Self> {
        match GuestRequestSession::new(transport, vmpck0, 0, 0, SessionConfig::default()) {
            Ok(session) => Some(Self {
                session,
                pages: PrivatePages {
                    request: Box::new([0; PAGE_SIZE]),
                    response: Box::new([0; PAGE_SIZE]),
                },
                certs: None,
                label,
                clock_trust,
            }),
            Err(e) => {
                warn!("{label}: no guest-message session ({e}); guests see an ordinary VM");
                None
            }
        }
    }

    /// How far the clocks can be trusted.
    pub fn clock_trust(&self) -> ClockTrust {
        self.clock_trust
    }

    /// MSG_TSC_INFO_REQ (Secure TSC parameters).
    pub fn tsc_info(&mut self) -> Result<TscInfo, SessionError> {
        self.session.get_tsc_info(self.pages.get())
    }

    /// MSG_REPORT_REQ for `report_data` at `vmpl`: the raw 1184-byte simulator-signed report.
    pub fn report(&mut self, report_data: &[u8; 64], vmpl: u32) -> Result<Vec<u8>, SnpError> {
        let req = ReportRequest {
            vmpl,
            ..ReportRequest::new(*report_data)
        };
        let r = self.session.get_report(self.pages.get(), &req);
        match r {
            Ok(report) => {
                info!("{}: attestation report for VMPL {vmpl}", self.label);
                Ok(report.to_vec())
            }
            Err(e) => Err(to_snp_error(self.label, "attestation report", e)),
        }
    }

    /// The extended request's certificate table (fetched once; empty when the host supplies
    /// no certificates).
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
                self.pages.get(),
                &ReportRequest::new([0; 64]),
                &mut buf,
            );
            match r {
                Ok(_) => break buf,
                Err(SessionError::CertBufferTooSmall { pages_needed }) if pages_needed > pages => {
                    pages = pages_needed;
                }
                Err(e) => return Err(to_snp_error(self.label, "certificate table", e)),
            }
        };
        let table = match CertTable::parse(&buf) {
            Ok(t) if t.is_empty() => Vec::new(),
            Ok(_) => buf,
            Err(e) => {
                warn!(
                    "{}: the certificate table does not parse: {e:?}",
                    self.label
                );
                return Err(SnpError::Failed);
            }
        };
        info!(
            "{}: certificate table of {} bytes from the host",
            self.label,
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
        let r = self.session.get_derived_key(self.pages.get(), &req);
        match r {
            Ok(key) => {
                info!("{}: derived key (fields {field_select:#x})", self.label);
                Ok(*key.as_bytes())
            }
            Err(e) => Err(to_snp_error(self.label, "derived key", e)),
        }
    }
}
