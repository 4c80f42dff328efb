//! GHCB protocol flows, written once over the [`Vmgexit`] trait so that the kernel (real
//! VMGEXIT) and the host tests (simulated hypervisor) run the same logic.
//!
//! Sources: AMD 56421 GHCB specification §2.3.1 (MSR protocol), §2.5 (GHCB protocol flow),
//! §4.1 (NAE events: IOIO 0x7B, MSR 0x7C, RDTSC 0x6E/RDTSCP 0x87, PSC 0x8000_0010, guest
//! request 0x8000_0011/0x8000_0012). Facts and pitfalls: snp-facts §3-§5.
//!
//! Every GHCB-page exit: the save area is cleared, the protocol version (2) and usage (0)
//! set, inputs written with their valid bits, then after the exit `sw_exit_info_1` must be
//! marked valid and be 0 (done), 1 (inject an exception — reported as an error, Elastic does
//! not reflect hypervisor-requested exceptions) or 2 (error in `sw_exit_info_2`); any other
//! value is rejected. Outputs (RAX for IN/RDMSR, ...) must be marked valid by the hypervisor.
//! MSR-protocol responses must carry the expected response code and clean reserved bits.

use crate::ghcb::{EventInjection, OFF_SHARED_BUFFER, SHARED_BUFFER_SIZE};
use crate::ghcb::{ExitResult, GhcbPage, HvErrorCode, ResponseError, ValidBit, exit_code};
use crate::ioio::{IoDirection, IoSize, IoioDescriptor};
use crate::msr_protocol::{
    CpuidReg, HV_FEATURE_SNP, MsrError, MsrPscOp, MsrRequest, MsrResponse, SevInfo, VersionError,
};
use crate::psc::{Progress, ProgressTracker, PscDescriptor, PscError, PscOp, PscRange};
use crate::sev_status::{TerminationReason, elastic, set0, set1};

/// Lowest GHCB protocol version Elastic accepts (SNP needs version 2).
pub const PROTOCOL_MIN: u16 = 2;
/// Highest GHCB protocol version Elastic implements.
pub const PROTOCOL_MAX: u16 = 2;

/// How many consecutive PSC exits without progress are tolerated before giving up.
pub const PSC_MAX_STALLS: u32 = 8;

/// VMM error (sw_exit_info_2[63:32]) after a guest request: certificate buffer too small.
pub const VMM_ERR_INVALID_LEN: u32 = 1;
/// VMM error after a guest request: the PSP is busy, retry the same message.
pub const VMM_ERR_BUSY: u32 = 2;

/// The platform's VMGEXIT, implemented by the kernel (`rep vmmcall` with the GHCB MSR) and
/// by test adapters around the simulated hypervisor.
pub trait Vmgexit {
    /// MSR protocol: write `request` to the GHCB MSR (0xC001_0130), execute VMGEXIT and
    /// return the value the hypervisor left in the MSR.
    fn msr_exit(&mut self, request: u64) -> u64;

    /// GHCB page protocol: write `ghcb_gpa` (the registered GPA of `ghcb`) to the GHCB MSR
    /// and execute VMGEXIT, with interrupts disabled from the MSR write until after the exit.
    /// `ghcb` is the shared page at `ghcb_gpa`; the hypervisor reads and writes it in place.
    fn ghcb_exit(&mut self, ghcb: &mut GhcbPage, ghcb_gpa: u64);
}

impl<T: Vmgexit + ?Sized> Vmgexit for &mut T {
    fn msr_exit(&mut self, request: u64) -> u64 {
        (**self).msr_exit(request)
    }

    fn ghcb_exit(&mut self, ghcb: &mut GhcbPage, ghcb_gpa: u64) {
        (**self).ghcb_exit(ghcb, ghcb_gpa)
    }
}

/// Everything that can go wrong in a GHCB flow. [`GhcbError::termination_reason`] maps each
/// to the reason code the kernel should terminate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GhcbError {
    /// Malformed or unexpected MSR-protocol response.
    Msr(MsrError),
    /// No GHCB protocol version in common with the hypervisor.
    Version(VersionError),
    /// The hypervisor refused to register the GHCB GPA.
    RegistrationRefused,
    /// The hypervisor echoed another GFN than the one registered.
    RegistrationMismatch {
        /// GFN sent.
        sent: u64,
        /// GFN echoed.
        echoed: u64,
    },
    /// A GPA that must be page aligned is not.
    UnalignedGpa(u64),
    /// The hypervisor does not advertise the SNP feature.
    SnpFeatureMissing {
        /// Feature bitmap reported.
        features: u64,
    },
    /// A page-state change via the MSR protocol failed.
    MsrPscFailed {
        /// GFN of the page.
        gfn: u64,
        /// Error code from the hypervisor.
        error: u32,
    },
    /// The GHCB response does not follow the spec (valid bits / sw_exit_info_1).
    Response(ResponseError),
    /// The hypervisor asked the guest to take an exception.
    Exception(EventInjection),
    /// The hypervisor reported an error (sw_exit_info_1 = 2).
    Hypervisor(HvErrorCode),
    /// An output register the request needs was not marked valid.
    MissingOutput(ValidBit),
    /// A PSC descriptor problem or hostile progress report.
    Psc(PscError),
    /// The hypervisor reported a PSC failure in sw_exit_info_2.
    PscFailed {
        /// sw_exit_info_2.
        info_2: u64,
    },
    /// The hypervisor made no PSC progress for [`PSC_MAX_STALLS`] exits.
    PscStalled,
    /// A string I/O transfer does not fit the shared buffer or the data slice is wrong.
    BadStringIo,
    /// A guest request returned an unknown VMM error code (sw_exit_info_2[63:32]).
    GuestRequestVmmError(u32),
}

impl core::fmt::Display for GhcbError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Msr(e) => write!(f, "{e}"),
            Self::Version(v) => write!(f, "GHCB protocol version negotiation failed: {v:?}"),
            Self::RegistrationRefused => f.write_str("hypervisor refused GHCB registration"),
            Self::RegistrationMismatch { sent, echoed } => {
                write!(
                    f,
                    "GHCB registration echoed GFN {echoed:#x}, sent {sent:#x}"
                )
            }
            Self::UnalignedGpa(g) => write!(f, "GPA {g:#x} is not page aligned"),
            Self::SnpFeatureMissing { features } => {
                write!(f, "hypervisor features {features:#x} lack SNP (bit 0)")
            }
            Self::MsrPscFailed { gfn, error } => {
                write!(
                    f,
                    "MSR page-state change of GFN {gfn:#x} failed: {error:#x}"
                )
            }
            Self::Response(r) => write!(f, "invalid GHCB response: {r:?}"),
            Self::Exception(e) => write!(f, "hypervisor requested exception {e:?}"),
            Self::Hypervisor(h) => write!(f, "hypervisor error {h:?}"),
            Self::MissingOutput(b) => write!(f, "GHCB output {b:?} not marked valid"),
            Self::Psc(p) => write!(f, "{p}"),
            Self::PscFailed { info_2 } => write!(f, "page-state change failed: {info_2:#x}"),
            Self::PscStalled => f.write_str("hypervisor made no page-state-change progress"),
            Self::BadStringIo => f.write_str("string I/O does not fit the GHCB shared buffer"),
            Self::GuestRequestVmmError(e) => write!(f, "guest request VMM error {e:#x}"),
        }
    }
}

impl From<MsrError> for GhcbError {
    fn from(e: MsrError) -> Self {
        Self::Msr(e)
    }
}

impl From<PscError> for GhcbError {
    fn from(e: PscError) -> Self {
        Self::Psc(e)
    }
}

impl GhcbError {
    /// The termination reason the kernel sends when this error is fatal.
    pub fn termination_reason(&self) -> TerminationReason {
        match self {
            Self::Version(_) => set0::PROTOCOL_UNSUPPORTED,
            Self::RegistrationRefused | Self::RegistrationMismatch { .. } => set1::REGISTER,
            Self::SnpFeatureMissing { .. } => elastic::HV_FEATURES_MISSING,
            Self::MsrPscFailed { .. }
            | Self::Psc(_)
            | Self::PscFailed { .. }
            | Self::PscStalled => elastic::PSC_FAILURE,
            Self::GuestRequestVmmError(_) => elastic::GUEST_REQUEST_FAILURE,
            Self::Msr(_)
            | Self::UnalignedGpa(_)
            | Self::Response(_)
            | Self::Exception(_)
            | Self::Hypervisor(_)
            | Self::MissingOutput(_)
            | Self::BadStringIo => elastic::GHCB_RESPONSE_INVALID,
        }
    }
}

fn msr_call<V: Vmgexit + ?Sized>(vm: &mut V, req: MsrRequest) -> Result<MsrResponse, GhcbError> {
    let value = req.encode()?;
    let resp = vm.msr_exit(value);
    Ok(MsrResponse::decode_for(&req, resp)?)
}

/// SEV information request (MSR 0x002 → 0x001).
pub fn sev_info<V: Vmgexit + ?Sized>(vm: &mut V) -> Result<SevInfo, GhcbError> {
    match msr_call(vm, MsrRequest::SevInfo)? {
        MsrResponse::SevInfo(info) => Ok(info),
        _ => Err(GhcbError::Msr(MsrError::InvalidField("SEV info"))),
    }
}

/// Requests SEV information and picks the protocol version (must be 2 for SNP). On error
/// the kernel terminates with set 0 code 1 ("protocol unsupported").
pub fn negotiate_protocol<V: Vmgexit + ?Sized>(vm: &mut V) -> Result<(SevInfo, u16), GhcbError> {
    let info = sev_info(vm)?;
    let version = info
        .negotiate(PROTOCOL_MIN, PROTOCOL_MAX)
        .map_err(GhcbError::Version)?;
    Ok((info, version))
}

/// Asks the hypervisor for its preferred GHCB GPA (MSR 0x010 → 0x011); `None` = no preference.
pub fn preferred_ghcb_gpa<V: Vmgexit + ?Sized>(vm: &mut V) -> Result<Option<u64>, GhcbError> {
    match msr_call(vm, MsrRequest::PreferredGpa)? {
        MsrResponse::PreferredGpa { gfn } => Ok(gfn.map(|g| g << 12)),
        _ => Err(GhcbError::Msr(MsrError::InvalidField("preferred GPA"))),
    }
}

/// Registers the GHCB page at `gpa` (MSR 0x012 → 0x013) and checks the echoed GFN.
pub fn register_ghcb<V: Vmgexit + ?Sized>(vm: &mut V, gpa: u64) -> Result<(), GhcbError> {
    if gpa & 0xFFF != 0 {
        return Err(GhcbError::UnalignedGpa(gpa));
    }
    let gfn = gpa >> 12;
    match msr_call(vm, MsrRequest::RegisterGpa { gfn })? {
        MsrResponse::RegisterGpa { gfn: None } => Err(GhcbError::RegistrationRefused),
        MsrResponse::RegisterGpa { gfn: Some(echo) } if echo == gfn => Ok(()),
        MsrResponse::RegisterGpa { gfn: Some(echo) } => Err(GhcbError::RegistrationMismatch {
            sent: gfn,
            echoed: echo,
        }),
        _ => Err(GhcbError::Msr(MsrError::InvalidField("register GPA"))),
    }
}

/// Queries the hypervisor feature bitmap (MSR 0x080 → 0x081).
pub fn hv_features<V: Vmgexit + ?Sized>(vm: &mut V) -> Result<u64, GhcbError> {
    match msr_call(vm, MsrRequest::HvFeatures)? {
        MsrResponse::HvFeatures { features } => Ok(features),
        _ => Err(GhcbError::Msr(MsrError::InvalidField("HV features"))),
    }
}

/// Queries the hypervisor features and requires the SNP bit (bit 0), as Linux does when SNP
/// is active.
pub fn require_snp_hv_features<V: Vmgexit + ?Sized>(vm: &mut V) -> Result<u64, GhcbError> {
    let features = hv_features(vm)?;
    if features & HV_FEATURE_SNP == 0 {
        return Err(GhcbError::SnpFeatureMissing { features });
    }
    Ok(features)
}

/// Changes the state of one 4 KiB page with the MSR protocol (0x014 → 0x015). Used before
/// the GHCB exists (for example to make the GHCB page itself shared).
pub fn msr_page_state_change<V: Vmgexit + ?Sized>(
    vm: &mut V,
    gpa: u64,
    op: MsrPscOp,
) -> Result<(), GhcbError> {
    if gpa & 0xFFF != 0 {
        return Err(GhcbError::UnalignedGpa(gpa));
    }
    let gfn = gpa >> 12;
    match msr_call(vm, MsrRequest::PageStateChange { gfn, op })? {
        MsrResponse::PageStateChange { error: 0 } => Ok(()),
        MsrResponse::PageStateChange { error } => Err(GhcbError::MsrPscFailed { gfn, error }),
        _ => Err(GhcbError::Msr(MsrError::InvalidField("PSC"))),
    }
}

/// CPUID through the MSR protocol (one register per exit). The answer comes from the
/// hypervisor and is untrusted: under SNP use the CPUID page instead; this exists for
/// SEV-ES-only diagnostics and tests.
pub fn msr_cpuid<V: Vmgexit + ?Sized>(
    vm: &mut V,
    leaf: u32,
    reg: CpuidReg,
) -> Result<u32, GhcbError> {
    match msr_call(vm, MsrRequest::Cpuid { leaf, reg })? {
        MsrResponse::Cpuid { value, .. } => Ok(value),
        _ => Err(GhcbError::Msr(MsrError::InvalidField("CPUID"))),
    }
}

/// Sends the termination request (MSR 0x100). A conforming hypervisor never returns; if
/// this function returns, the caller must halt forever (`hlt` loop).
pub fn request_termination<V: Vmgexit + ?Sized>(vm: &mut V, reason: TerminationReason) {
    let _ = vm.msr_exit(reason.msr_value());
}

/// What a guest request exit returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestRequestOutcome {
    /// The PSP processed the request; `psp_status` is sw_exit_info_2[31:0] (0 = success).
    Completed {
        /// PSP firmware status.
        psp_status: u32,
    },
    /// The PSP is busy: retry the *same* message later (never re-encrypt with a new seqno).
    Busy,
    /// Extended request: the certificate buffer is too small; `pages_needed` from RBX.
    InvalidLength {
        /// Pages the hypervisor needs for the certificates.
        pages_needed: u64,
    },
}

/// A GHCB session: a registered GHCB page and the platform's VMGEXIT.
#[derive(Debug)]
pub struct GhcbSession<'a, V: Vmgexit> {
    vm: V,
    page: &'a mut GhcbPage,
    gpa: u64,
}

impl<'a, V: Vmgexit> GhcbSession<'a, V> {
    /// A session over `page`, which is shared, mapped with C=0 and registered at `gpa`
    /// (see [`register_ghcb`]).
    pub fn new(vm: V, page: &'a mut GhcbPage, gpa: u64) -> Result<Self, GhcbError> {
        if gpa & 0xFFF != 0 {
            return Err(GhcbError::UnalignedGpa(gpa));
        }
        Ok(Self { vm, page, gpa })
    }

    /// The platform VMGEXIT (for MSR-protocol calls while the session exists; they clobber
    /// the GHCB MSR, which [`Vmgexit::ghcb_exit`] rewrites before every page exit).
    pub fn vm(&mut self) -> &mut V {
        &mut self.vm
    }

    /// The GHCB page.
    pub fn page(&self) -> &GhcbPage {
        self.page
    }

    /// GPA of the GHCB page.
    pub fn gpa(&self) -> u64 {
        self.gpa
    }

    /// Clears the save area and sets the protocol version/usage.
    fn begin(&mut self) {
        self.page.reset_for_request();
    }

    /// Performs the exit and checks the result; returns sw_exit_info_2 on success.
    fn exit(&mut self, code: u64, info_1: u64, info_2: u64) -> Result<u64, GhcbError> {
        self.page.set_sw_exit_code(code);
        self.page.set_sw_exit_info_1(info_1);
        self.page.set_sw_exit_info_2(info_2);
        self.vm.ghcb_exit(self.page, self.gpa);
        match ExitResult::from_ghcb(self.page).map_err(GhcbError::Response)? {
            ExitResult::Ok { info_2 } => Ok(info_2),
            ExitResult::Inject(ev) => Err(GhcbError::Exception(ev)),
            ExitResult::Error(code) => Err(GhcbError::Hypervisor(code)),
        }
    }

    fn require(&self, bit: ValidBit) -> Result<u64, GhcbError> {
        if !self.page.is_valid(bit) {
            return Err(GhcbError::MissingOutput(bit));
        }
        Ok(match bit {
            ValidBit::Rax => self.page.rax(),
            ValidBit::Rbx => self.page.rbx(),
            ValidBit::Rcx => self.page.rcx(),
            ValidBit::Rdx => self.page.rdx(),
            ValidBit::SwExitInfo2 => self.page.sw_exit_info_2(),
            _ => 0,
        })
    }

    /// OUT of `value` (low `size` bytes) to `port` (IOIO 0x7B).
    pub fn io_out(&mut self, port: u16, size: IoSize, value: u32) -> Result<(), GhcbError> {
        self.begin();
        self.page.set_rax(u64::from(value) & size.mask());
        let desc = IoioDescriptor::simple(IoDirection::Out, size, port);
        self.exit(exit_code::IOIO, desc.encode(), 0)?;
        Ok(())
    }

    /// IN of `size` bytes from `port` (IOIO 0x7B); RAX must be marked valid.
    pub fn io_in(&mut self, port: u16, size: IoSize) -> Result<u32, GhcbError> {
        self.begin();
        let desc = IoioDescriptor::simple(IoDirection::In, size, port);
        self.exit(exit_code::IOIO, desc.encode(), 0)?;
        let rax = self.require(ValidBit::Rax)?;
        Ok((rax & size.mask()) as u32)
    }

    /// String I/O (INS/OUTS) of `count` elements through the shared buffer: `desc` must have
    /// `string` set; `data` holds `count * size` bytes (read for OUT, filled for IN).
    pub fn io_string(
        &mut self,
        desc: &IoioDescriptor,
        count: usize,
        data: &mut [u8],
    ) -> Result<(), GhcbError> {
        let len = count
            .checked_mul(desc.size.bytes())
            .ok_or(GhcbError::BadStringIo)?;
        if !desc.string || count == 0 || len > SHARED_BUFFER_SIZE || data.len() != len {
            return Err(GhcbError::BadStringIo);
        }
        self.begin();
        if desc.direction == IoDirection::Out {
            self.page
                .shared_buffer_mut()
                .get_mut(..len)
                .ok_or(GhcbError::BadStringIo)?
                .copy_from_slice(data);
        }
        self.page
            .set_sw_scratch(self.gpa + OFF_SHARED_BUFFER as u64);
        self.exit(exit_code::IOIO, desc.encode(), count as u64)?;
        if desc.direction == IoDirection::In {
            data.copy_from_slice(
                self.page
                    .shared_buffer()
                    .get(..len)
                    .ok_or(GhcbError::BadStringIo)?,
            );
        }
        Ok(())
    }

    /// RDMSR via the GHCB (0x7C, info_1 = 0); RAX and RDX must be marked valid.
    pub fn rdmsr(&mut self, msr: u32) -> Result<u64, GhcbError> {
        self.begin();
        self.page.set_rcx(u64::from(msr));
        self.exit(exit_code::MSR, 0, 0)?;
        let lo = self.require(ValidBit::Rax)? & 0xFFFF_FFFF;
        let hi = self.require(ValidBit::Rdx)? & 0xFFFF_FFFF;
        Ok((hi << 32) | lo)
    }

    /// WRMSR via the GHCB (0x7C, info_1 = 1).
    pub fn wrmsr(&mut self, msr: u32, value: u64) -> Result<(), GhcbError> {
        self.begin();
        self.page.set_rcx(u64::from(msr));
        self.page.set_rax(value & 0xFFFF_FFFF);
        self.page.set_rdx(value >> 32);
        self.exit(exit_code::MSR, 1, 0)?;
        Ok(())
    }

    /// RDTSC via the GHCB (0x6E); RAX and RDX must be marked valid.
    pub fn rdtsc(&mut self) -> Result<u64, GhcbError> {
        self.begin();
        self.exit(exit_code::RDTSC, 0, 0)?;
        let lo = self.require(ValidBit::Rax)? & 0xFFFF_FFFF;
        let hi = self.require(ValidBit::Rdx)? & 0xFFFF_FFFF;
        Ok((hi << 32) | lo)
    }

    /// RDTSCP via the GHCB (0x87); returns (TSC, TSC_AUX); RAX, RDX, RCX must be valid.
    pub fn rdtscp(&mut self) -> Result<(u64, u32), GhcbError> {
        self.begin();
        self.exit(exit_code::RDTSCP, 0, 0)?;
        let lo = self.require(ValidBit::Rax)? & 0xFFFF_FFFF;
        let hi = self.require(ValidBit::Rdx)? & 0xFFFF_FFFF;
        let aux = self.require(ValidBit::Rcx)? as u32;
        Ok(((hi << 32) | lo, aux))
    }

    /// Runs one PSC descriptor through the shared buffer (0x8000_0010), re-issuing the exit
    /// until the hypervisor reports all entries done; stops on an error in sw_exit_info_2, on
    /// hostile progress and after [`PSC_MAX_STALLS`] exits without progress.
    pub fn psc_descriptor(&mut self, desc: &PscDescriptor) -> Result<(), GhcbError> {
        if desc.is_empty() {
            return Ok(());
        }
        desc.write_to(self.page.shared_buffer_mut())?;
        let mut tracker = ProgressTracker::new(desc)?;
        let mut stalls = 0;
        loop {
            self.begin();
            self.page
                .set_sw_scratch(self.gpa + OFF_SHARED_BUFFER as u64);
            let info_2 = self.exit(exit_code::PSC, 0, 0)?;
            if info_2 != 0 {
                return Err(GhcbError::PscFailed { info_2 });
            }
            match tracker.check(self.page.shared_buffer())? {
                Progress::Done => return Ok(()),
                Progress::More => stalls = 0,
                Progress::Stalled => {
                    stalls += 1;
                    if stalls >= PSC_MAX_STALLS {
                        return Err(GhcbError::PscStalled);
                    }
                }
            }
        }
    }

    /// Changes the page state of `[start, end)` (4 KiB aligned) with as few descriptors as
    /// possible (2 MiB entries where aligned).
    pub fn page_state_change(&mut self, start: u64, end: u64, op: PscOp) -> Result<(), GhcbError> {
        let mut range = PscRange::new(start, end, op)?;
        while !range.is_done() {
            let desc = range.next_descriptor();
            self.psc_descriptor(&desc)?;
        }
        Ok(())
    }

    fn guest_request_common(
        &mut self,
        code: u64,
        req_gpa: u64,
        resp_gpa: u64,
    ) -> Result<GuestRequestOutcome, GhcbError> {
        let _ = self.exit(code, req_gpa, resp_gpa)?;
        let info_2 = self.require(ValidBit::SwExitInfo2)?;
        let psp_status = info_2 as u32;
        match (info_2 >> 32) as u32 {
            0 => Ok(GuestRequestOutcome::Completed { psp_status }),
            VMM_ERR_BUSY => Ok(GuestRequestOutcome::Busy),
            VMM_ERR_INVALID_LEN if code == exit_code::EXT_GUEST_REQUEST => {
                let pages_needed = self.require(ValidBit::Rbx)?;
                Ok(GuestRequestOutcome::InvalidLength { pages_needed })
            }
            other => Err(GhcbError::GuestRequestVmmError(other)),
        }
    }

    /// SNP guest request (0x8000_0011): the encrypted request is already in the shared page
    /// at `req_gpa`; the PSP's response will be at `resp_gpa`.
    pub fn guest_request(
        &mut self,
        req_gpa: u64,
        resp_gpa: u64,
    ) -> Result<GuestRequestOutcome, GhcbError> {
        for gpa in [req_gpa, resp_gpa] {
            if gpa & 0xFFF != 0 {
                return Err(GhcbError::UnalignedGpa(gpa));
            }
        }
        self.begin();
        self.guest_request_common(exit_code::GUEST_REQUEST, req_gpa, resp_gpa)
    }

    /// SNP extended guest request (0x8000_0012): as [`Self::guest_request`] plus a shared
    /// certificate buffer of `cert_pages` pages at `cert_gpa` (RAX/RBX inputs).
    pub fn ext_guest_request(
        &mut self,
        req_gpa: u64,
        resp_gpa: u64,
        cert_gpa: u64,
        cert_pages: u64,
    ) -> Result<GuestRequestOutcome, GhcbError> {
        for gpa in [req_gpa, resp_gpa, cert_gpa] {
            if gpa & 0xFFF != 0 {
                return Err(GhcbError::UnalignedGpa(gpa));
            }
        }
        self.begin();
        self.page.set_rax(cert_gpa);
        self.page.set_rbx(cert_pages);
        self.guest_request_common(exit_code::EXT_GUEST_REQUEST, req_gpa, resp_gpa)
    }
}
