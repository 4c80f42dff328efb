//! Feature `guest-transport`: the PSP simulator as elastic-snp's guest-request transport, for
//! the test-only `snp-sim` kernel, elastic-snp's tests and the fuzz harness. Only this glue
//! knows elastic-snp; the simulator itself ([`crate::psp`]) stays written from the spec alone.

use crate::psp::{PAGE, PspSim, SimError};
use elastic_snp::guest_msg::{GuestRequestTransport, TransportError};

impl From<SimError> for TransportError {
    fn from(e: SimError) -> Self {
        match e {
            SimError::Busy => Self::Busy,
            SimError::InvalidLen { pages_needed } => Self::InvalidLen { pages_needed },
            SimError::PspStatus(s) => Self::PspStatus(s),
        }
    }
}

impl GuestRequestTransport for PspSim {
    fn guest_request(
        &mut self,
        request_page: &[u8; PAGE],
        response_page: &mut [u8; PAGE],
        certs: Option<&mut [u8]>,
    ) -> Result<(), TransportError> {
        PspSim::guest_request(self, request_page, response_page, certs).map_err(Into::into)
    }
}
