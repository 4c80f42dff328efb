//! The SEV-SNP bring-up sequence the kernel runs at boot, over small traits so that it is
//! tested on the host against the simulated hypervisor (crate `snp-sim`) and an RMP model.
//!
//! Order (facts and sources: `shared/design/snp-facts.md` sections 2, 3, 6, 16):
//! 1. [`check_launch`]: SEV_STATUS (hardware) says SNP; the PSP-validated CPUID page agrees
//!    (SEV and SNP present, C-bit at the position the boot page tables used) and every active
//!    SEV feature that needs guest support is implemented.
//! 2. [`establish_ghcb`]: MSR protocol: SEV information and protocol version 2 (the C-bit the
//!    hypervisor reports must match too), hypervisor features with SNP, then the GHCB page is
//!    made shared (PVALIDATE rescind, page-state change to shared, C-bit cleared in its PTE)
//!    and its GPA registered (echo checked).
//! 3. [`accept_ram`]: every RAM range the kernel is going to use (the memory map is
//!    untrusted) is made private with a page-state change and validated with PVALIDATE,
//!    2 MiB pages where aligned with a 4 KiB fallback; CF=1 on a first validation (the page
//!    was already valid: a double-validation / aliasing attack) is fatal; stale cache lines
//!    are evicted afterwards.
//! 4. [`share_pages`]: pages never validated (guest-request and certificate buffers) become
//!    shared with a page-state change and are mapped with the C-bit clear.
//!
//! Every failure maps to a GHCB termination reason ([`BringUpError::termination_reason`]).

use crate::cpuid_page::CpuidTable;
use crate::ghcb_session::{self, GhcbError, GhcbSession, Vmgexit};
use crate::msr_protocol::MsrPscOp;
use crate::psc::{PageSize, PscOp};
use crate::sev_status::{
    ImplementedFeatures, SevStatus, TerminationReason, UnsupportedFeatures, check_features,
    elastic, set0, set1,
};
use core::fmt;

/// The C-bit position Elastic's boot page tables use (boot/reset.s), as on every SNP-capable
/// EPYC generation so far (Milan, Genoa, Bergamo, Turin). Any other value terminates.
pub const EXPECTED_CBIT: u8 = 51;

/// 4 KiB.
pub const PAGE_4K: u64 = 4096;
/// 2 MiB.
pub const PAGE_2M: u64 = 2 << 20;

/// PVALIDATE return code FAIL_SIZEMISMATCH (a 2 MiB request over a range the RMP holds as
/// 4 KiB pages): retry with 4 KiB pages.
pub const PVALIDATE_FAIL_SIZEMISMATCH: u32 = 6;

/// The result of one PVALIDATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pvalidated {
    /// EAX = 0; `unchanged` is CF: the RMP entry was already in the requested state.
    Done {
        /// CF=1: nothing changed.
        unchanged: bool,
    },
    /// EAX != 0 (1 FAIL_INPUT, 6 FAIL_SIZEMISMATCH, ...).
    Failed(u32),
}

/// The page-level operations the kernel performs on its own mappings (identity-mapped
/// GPAs). Implemented by the platform layer over PVALIDATE and its page tables; by an RMP
/// model in tests.
pub trait PageOps {
    /// PVALIDATE the page at `gpa` (validate or rescind) with the given page size.
    fn pvalidate(&mut self, gpa: u64, size: PageSize, validate: bool) -> Pvalidated;
    /// Sets (`true`) or clears the C-bit of the 4 KiB mapping of `gpa` and flushes its TLB
    /// entry.
    fn set_encrypted(&mut self, gpa: u64, encrypted: bool);
    /// Reads the first and last byte of every 4 KiB page in `gpa..gpa+len` (evicts stale
    /// cache lines after validation).
    fn evict(&mut self, gpa: u64, len: u64);
}

/// Why the SNP bring-up failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BringUpError {
    /// SEV_STATUS does not say SNP (SEV or SEV-ES alone are not supported).
    NotSnp(u64),
    /// The CPUID page is missing leaf 0x8000_001F or says SEV/SNP is absent.
    CpuidSaysNoSev,
    /// The C-bit position (from the CPUID page, or the hypervisor's SEV information) is not
    /// the one the boot page tables used.
    CbitMismatch {
        /// Where the value came from.
        source: &'static str,
        /// The value found.
        found: u8,
    },
    /// Active SEV features Elastic does not implement (SEV_STATUS bits).
    Unsupported(UnsupportedFeatures),
    /// A GHCB protocol step failed.
    Ghcb(GhcbError),
    /// A range to accept or share is not 4 KiB aligned or is empty/overflowing.
    BadRange {
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// PVALIDATE reported CF=1 on a first validation (or rescind of the GHCB page): the page
    /// was already in that state. Double-validation attack.
    DoubleValidation {
        /// The page.
        gpa: u64,
    },
    /// PVALIDATE failed.
    Pvalidate {
        /// The page.
        gpa: u64,
        /// Its return code.
        code: u32,
    },
}

impl From<GhcbError> for BringUpError {
    fn from(e: GhcbError) -> Self {
        Self::Ghcb(e)
    }
}

impl BringUpError {
    /// The GHCB termination reason this failure ends with.
    pub fn termination_reason(&self) -> TerminationReason {
        match self {
            Self::NotSnp(_) | Self::Unsupported(_) => set0::SNP_UNSUPPORTED,
            Self::CpuidSaysNoSev => elastic::CPUID_SAYS_NO_SEV,
            Self::CbitMismatch { .. } => elastic::CBIT_MISMATCH,
            Self::Ghcb(e) => e.termination_reason(),
            Self::BadRange { .. } => elastic::BAD_MEMORY_MAP,
            Self::DoubleValidation { .. } => elastic::PVALIDATE_DOUBLE_VALIDATION,
            Self::Pvalidate { .. } => set1::PVALIDATE,
        }
    }
}

impl fmt::Display for BringUpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSnp(s) => write!(f, "SEV_STATUS {s:#x} does not say SNP"),
            Self::CpuidSaysNoSev => f.write_str("the CPUID page says SEV-SNP is absent"),
            Self::CbitMismatch { source, found } => write!(
                f,
                "C-bit position {found} from the {source}, expected {EXPECTED_CBIT}"
            ),
            Self::Unsupported(u) => write!(f, "unsupported SEV features {:#x}", u.0),
            Self::Ghcb(e) => write!(f, "GHCB: {e}"),
            Self::BadRange { start, end } => write!(f, "bad range {start:#x}..{end:#x}"),
            Self::DoubleValidation { gpa } => write!(
                f,
                "page {gpa:#x} was already validated (double-validation attack)"
            ),
            Self::Pvalidate { gpa, code } => write!(f, "PVALIDATE {gpa:#x} failed: {code}"),
        }
    }
}

/// What the launch checks established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchFacts {
    /// SEV_STATUS.
    pub status: SevStatus,
    /// The C-bit position (checked to be [`EXPECTED_CBIT`]).
    pub cbit: u8,
}

/// Step 1: SEV_STATUS says SNP, the CPUID page agrees and carries the expected C-bit, and
/// every active feature needing guest support is implemented.
pub fn check_launch(
    status: SevStatus,
    cpuid: &CpuidTable,
    implemented: ImplementedFeatures,
) -> Result<LaunchFacts, BringUpError> {
    if !(status.sev() && status.sev_es() && status.snp()) {
        return Err(BringUpError::NotSnp(status.0));
    }
    if cpuid.says_no_sev() {
        return Err(BringUpError::CpuidSaysNoSev);
    }
    let cbit = cpuid.cbit_position().ok_or(BringUpError::CpuidSaysNoSev)?;
    if cbit != EXPECTED_CBIT {
        return Err(BringUpError::CbitMismatch {
            source: "CPUID page",
            found: cbit,
        });
    }
    check_features(status, implemented).map_err(BringUpError::Unsupported)?;
    Ok(LaunchFacts { status, cbit })
}

/// What the GHCB set-up established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GhcbFacts {
    /// The negotiated GHCB protocol version.
    pub protocol: u16,
    /// The hypervisor feature bitmap.
    pub hv_features: u64,
}

/// Step 2: negotiates the protocol, checks hypervisor features, makes the (pre-validated)
/// GHCB page at `ghcb_gpa` shared and registers it. After this the caller may build a
/// [`GhcbSession`] on the page.
pub fn establish_ghcb<V: Vmgexit + ?Sized, P: PageOps + ?Sized>(
    vm: &mut V,
    pages: &mut P,
    ghcb_gpa: u64,
) -> Result<GhcbFacts, BringUpError> {
    let (info, protocol) = ghcb_session::negotiate_protocol(vm)?;
    if info.cbit != EXPECTED_CBIT {
        return Err(BringUpError::CbitMismatch {
            source: "hypervisor's SEV information",
            found: info.cbit,
        });
    }
    let hv_features = ghcb_session::require_snp_hv_features(vm)?;
    if !ghcb_gpa.is_multiple_of(PAGE_4K) {
        return Err(BringUpError::BadRange {
            start: ghcb_gpa,
            end: ghcb_gpa.wrapping_add(PAGE_4K),
        });
    }
    // Private -> shared: rescind, page-state change, clear the C-bit.
    match pages.pvalidate(ghcb_gpa, PageSize::Size4K, false) {
        Pvalidated::Done { unchanged: false } => {}
        Pvalidated::Done { unchanged: true } => {
            return Err(BringUpError::DoubleValidation { gpa: ghcb_gpa });
        }
        Pvalidated::Failed(code) => {
            return Err(BringUpError::Pvalidate {
                gpa: ghcb_gpa,
                code,
            });
        }
    }
    ghcb_session::msr_page_state_change(vm, ghcb_gpa, MsrPscOp::Shared)?;
    pages.set_encrypted(ghcb_gpa, false);
    ghcb_session::register_ghcb(vm, ghcb_gpa)?;
    Ok(GhcbFacts {
        protocol,
        hv_features,
    })
}

fn check_range(start: u64, end: u64) -> Result<(), BringUpError> {
    if !start.is_multiple_of(PAGE_4K) || !end.is_multiple_of(PAGE_4K) || end <= start {
        return Err(BringUpError::BadRange { start, end });
    }
    Ok(())
}

fn validate_one<P: PageOps + ?Sized>(
    pages: &mut P,
    gpa: u64,
    size: PageSize,
) -> Result<Pvalidated, BringUpError> {
    let r = pages.pvalidate(gpa, size, true);
    match r {
        Pvalidated::Done { unchanged: true } => Err(BringUpError::DoubleValidation { gpa }),
        Pvalidated::Done { unchanged: false } => Ok(r),
        Pvalidated::Failed(PVALIDATE_FAIL_SIZEMISMATCH) if size == PageSize::Size2M => Ok(r),
        Pvalidated::Failed(code) => Err(BringUpError::Pvalidate { gpa, code }),
    }
}

/// Step 3: accepts the RAM range `start..end` (4 KiB aligned, never validated before):
/// page-state change to private, PVALIDATE (2 MiB where aligned, else or on size mismatch
/// 4 KiB), cache eviction. Returns the number of 2 MiB and 4 KiB validations.
pub fn accept_ram<V: Vmgexit, P: PageOps + ?Sized>(
    session: &mut GhcbSession<'_, V>,
    pages: &mut P,
    start: u64,
    end: u64,
) -> Result<(u64, u64), BringUpError> {
    check_range(start, end)?;
    session.page_state_change(start, end, PscOp::Private)?;
    let (mut large, mut small) = (0, 0);
    let mut gpa = start;
    while gpa < end {
        if gpa.is_multiple_of(PAGE_2M) && end - gpa >= PAGE_2M {
            match validate_one(pages, gpa, PageSize::Size2M)? {
                Pvalidated::Done { .. } => {
                    large += 1;
                    gpa += PAGE_2M;
                    continue;
                }
                Pvalidated::Failed(_) => {
                    // Size mismatch: this 2 MiB region in 4 KiB pages.
                    for page in (gpa..gpa + PAGE_2M).step_by(PAGE_4K as usize) {
                        validate_one(pages, page, PageSize::Size4K)?;
                        small += 1;
                    }
                    gpa += PAGE_2M;
                    continue;
                }
            }
        }
        validate_one(pages, gpa, PageSize::Size4K)?;
        small += 1;
        gpa += PAGE_4K;
    }
    pages.evict(start, end - start);
    Ok((large, small))
}

/// Step 4: makes the never-validated pages `start..end` shared (page-state change) and maps
/// them with the C-bit clear (guest-request and certificate buffers).
pub fn share_pages<V: Vmgexit, P: PageOps + ?Sized>(
    session: &mut GhcbSession<'_, V>,
    pages: &mut P,
    start: u64,
    end: u64,
) -> Result<(), BringUpError> {
    check_range(start, end)?;
    session.page_state_change(start, end, PscOp::Shared)?;
    for page in (start..end).step_by(PAGE_4K as usize) {
        pages.set_encrypted(page, false);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_specific() {
        assert_eq!(
            BringUpError::DoubleValidation { gpa: 0 }.termination_reason(),
            elastic::PVALIDATE_DOUBLE_VALIDATION
        );
        assert_eq!(
            BringUpError::CbitMismatch {
                source: "x",
                found: 47
            }
            .termination_reason(),
            elastic::CBIT_MISMATCH
        );
        assert_eq!(
            BringUpError::NotSnp(3).termination_reason(),
            set0::SNP_UNSUPPORTED
        );
    }
}
