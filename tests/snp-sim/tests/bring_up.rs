//! The kernel's SNP bring-up sequence (elastic-snp `bring_up`) against the simulated
//! hypervisor and an RMP model of PVALIDATE written from the APM (vol. 3, PVALIDATE):
//! EAX = 0 and CF = 1 when the validated bit already has the requested value, FAIL_INPUT (1)
//! for a page not assigned to the guest, FAIL_SIZEMISMATCH (6) for a 2 MiB request over a
//! region the RMP holds as 4 KiB entries.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use elastic_snp::bring_up::{
    self, BringUpError, EXPECTED_CBIT, PAGE_2M, PAGE_4K, PageOps, Pvalidated,
};
use elastic_snp::cpuid_page::{CpuidEntry, CpuidTable, build_page};
use elastic_snp::ghcb::GhcbPage;
use elastic_snp::ghcb_session::{GhcbError, GhcbSession, Vmgexit};
use elastic_snp::psc::PageSize;
use elastic_snp::sev_status::{ImplementedFeatures, SevStatus, bits, elastic, set0, set1};
use snp_sim::hypervisor::{Hypervisor, PageState};

const GHCB_GPA: u64 = 0x80_2000;

struct Sim<'a>(&'a mut Hypervisor);

/// The simulator shared with the RMP model, which checks page states live.
struct Live(Rc<RefCell<Hypervisor>>);

impl Vmgexit for Live {
    fn msr_exit(&mut self, request: u64) -> u64 {
        self.0.borrow_mut().vmgexit_msr(request)
    }
    fn ghcb_exit(&mut self, ghcb: &mut GhcbPage, ghcb_gpa: u64) {
        self.0
            .borrow_mut()
            .vmgexit_ghcb(ghcb_gpa, ghcb.as_bytes_mut());
    }
}

impl Vmgexit for Sim<'_> {
    fn msr_exit(&mut self, request: u64) -> u64 {
        self.0.vmgexit_msr(request)
    }
    fn ghcb_exit(&mut self, ghcb: &mut GhcbPage, ghcb_gpa: u64) {
        self.0.vmgexit_ghcb(ghcb_gpa, ghcb.as_bytes_mut());
    }
}

/// The guest's view of the RMP validated bits and its own PTE C-bits.
#[derive(Default)]
struct Rmp {
    /// Validated 4 KiB pages (GFNs).
    validated: BTreeSet<u64>,
    /// 2 MiB regions (first GFN) the RMP holds as 4 KiB entries.
    small_only: BTreeSet<u64>,
    /// Pages whose mapping has the C-bit clear.
    unencrypted: BTreeSet<u64>,
    /// Ranges evicted.
    evicted: Vec<(u64, u64)>,
    /// PVALIDATE calls: (gpa, size, validate).
    calls: Vec<(u64, PageSize, bool)>,
    /// Page states set by the test (without a live hypervisor).
    states: BTreeMap<u64, PageState>,
    /// The hypervisor whose page states PVALIDATE sees.
    live: Option<Rc<RefCell<Hypervisor>>>,
}

impl Rmp {
    fn assigned(&self, gfn: u64) -> bool {
        if let Some(hv) = &self.live {
            return hv.borrow().page_state(gfn << 12) == PageState::Private;
        }
        self.states.get(&gfn).copied().unwrap_or(PageState::Private) == PageState::Private
    }
}

impl PageOps for Rmp {
    fn pvalidate(&mut self, gpa: u64, size: PageSize, validate: bool) -> Pvalidated {
        self.calls.push((gpa, size, validate));
        let first = gpa >> 12;
        let count = size.bytes() / PAGE_4K;
        if size == PageSize::Size2M && self.small_only.contains(&first) {
            return Pvalidated::Failed(6);
        }
        if !(first..first + count).all(|g| self.assigned(g)) {
            return Pvalidated::Failed(1);
        }
        let already = (first..first + count).all(|g| self.validated.contains(&g) == validate);
        if already {
            return Pvalidated::Done { unchanged: true };
        }
        for g in first..first + count {
            if validate {
                self.validated.insert(g);
            } else {
                self.validated.remove(&g);
            }
        }
        Pvalidated::Done { unchanged: false }
    }
    fn set_encrypted(&mut self, gpa: u64, encrypted: bool) {
        if encrypted {
            self.unencrypted.remove(&(gpa >> 12));
        } else {
            self.unencrypted.insert(gpa >> 12);
        }
    }
    fn evict(&mut self, gpa: u64, len: u64) {
        self.evicted.push((gpa, len));
    }
}

fn snp_cpuid(cbit: u32) -> CpuidTable {
    let e = |eax_in, eax, ebx| CpuidEntry {
        eax_in,
        eax,
        ebx,
        ..CpuidEntry::default()
    };
    let page = build_page(&[
        e(0x8000_0000, 0x8000_0021, 0),
        // SME, SEV, SEV-ES, SNP; C-bit, 1 bit of physical-address reduction.
        e(0x8000_001F, 0b1_1011, cbit | (1 << 6)),
    ])
    .unwrap();
    CpuidTable::parse(&page).unwrap()
}

const SNP_STATUS: SevStatus = SevStatus(0b111);

#[test]
fn launch_checks() {
    let facts =
        bring_up::check_launch(SNP_STATUS, &snp_cpuid(51), ImplementedFeatures::ELASTIC).unwrap();
    assert_eq!(facts.cbit, EXPECTED_CBIT);
    // The PSP-validated CPUID page disagrees with the boot page tables' C-bit.
    let e = bring_up::check_launch(SNP_STATUS, &snp_cpuid(47), ImplementedFeatures::ELASTIC)
        .unwrap_err();
    assert_eq!(
        e,
        BringUpError::CbitMismatch {
            source: "CPUID page",
            found: 47
        }
    );
    assert_eq!(e.termination_reason(), elastic::CBIT_MISMATCH);
    // SEV-ES without SNP is not supported.
    let e = bring_up::check_launch(
        SevStatus(0b11),
        &snp_cpuid(51),
        ImplementedFeatures::ELASTIC,
    )
    .unwrap_err();
    assert_eq!(e.termination_reason(), set0::SNP_UNSUPPORTED);
    // A CPUID page that says "no SEV".
    let no_sev = CpuidTable::parse(
        &build_page(&[CpuidEntry {
            eax_in: 0x8000_0000,
            eax: 0x8000_0008,
            ..CpuidEntry::default()
        }])
        .unwrap(),
    )
    .unwrap();
    let e = bring_up::check_launch(SNP_STATUS, &no_sev, ImplementedFeatures::ELASTIC).unwrap_err();
    assert_eq!(e.termination_reason(), elastic::CPUID_SAYS_NO_SEV);
    // An active feature needing guest support that is not implemented (vTOM).
    let e = bring_up::check_launch(
        SevStatus(0b111 | bits::VTOM),
        &snp_cpuid(51),
        ImplementedFeatures::ELASTIC,
    )
    .unwrap_err();
    assert_eq!(e.termination_reason(), set0::SNP_UNSUPPORTED);
}

/// The GHCB page arrives pre-validated (SNP_SEC_MEM in the launch metadata).
fn launched_rmp() -> Rmp {
    let mut rmp = Rmp::default();
    rmp.validated.insert(GHCB_GPA >> 12);
    rmp
}

#[test]
fn ghcb_becomes_shared_and_registered() {
    let mut hv = Hypervisor::new();
    let mut rmp = launched_rmp();
    let facts = bring_up::establish_ghcb(&mut Sim(&mut hv), &mut rmp, GHCB_GPA).unwrap();
    assert_eq!(facts.protocol, 2);
    assert_eq!(facts.hv_features & 1, 1);
    // Rescinded, shared in the hypervisor's view, C-bit cleared, and registered: a GHCB-page
    // exit now works.
    assert!(!rmp.validated.contains(&(GHCB_GPA >> 12)));
    assert_eq!(rmp.calls, vec![(GHCB_GPA, PageSize::Size4K, false)]);
    assert_eq!(hv.page_state(GHCB_GPA), PageState::Shared);
    assert!(rmp.unencrypted.contains(&(GHCB_GPA >> 12)));
    let mut page = GhcbPage::new();
    let mut session = GhcbSession::new(Sim(&mut hv), &mut page, GHCB_GPA).unwrap();
    assert_eq!(session.rdtsc().unwrap(), 1_000_000);
}

#[test]
fn ghcb_setup_refuses_a_lying_hypervisor() {
    // The C-bit the hypervisor reports must match.
    let mut hv = Hypervisor::new();
    hv.cbit = 47;
    let e = bring_up::establish_ghcb(&mut Sim(&mut hv), &mut launched_rmp(), GHCB_GPA).unwrap_err();
    assert!(matches!(e, BringUpError::CbitMismatch { found: 47, .. }));
    // No SNP hypervisor feature.
    let mut hv = Hypervisor::new();
    hv.features = 0;
    let e = bring_up::establish_ghcb(&mut Sim(&mut hv), &mut launched_rmp(), GHCB_GPA).unwrap_err();
    assert_eq!(e.termination_reason(), elastic::HV_FEATURES_MISSING);
    // Only protocol version 1.
    let mut hv = Hypervisor::new();
    hv.max_version = 1;
    let e = bring_up::establish_ghcb(&mut Sim(&mut hv), &mut launched_rmp(), GHCB_GPA).unwrap_err();
    assert_eq!(e.termination_reason(), set0::PROTOCOL_UNSUPPORTED);
    // Registration refused / echoed wrongly.
    for wrong_echo in [false, true] {
        let mut hv = Hypervisor::new();
        hv.misbehavior.refuse_registration = !wrong_echo;
        hv.misbehavior.wrong_echo = wrong_echo;
        let e =
            bring_up::establish_ghcb(&mut Sim(&mut hv), &mut launched_rmp(), GHCB_GPA).unwrap_err();
        assert_eq!(e.termination_reason(), set1::REGISTER, "{e}");
    }
    // The hypervisor fails the page-state change of the GHCB page.
    let mut hv = Hypervisor::new();
    hv.misbehavior.msr_psc_error = 3;
    let e = bring_up::establish_ghcb(&mut Sim(&mut hv), &mut launched_rmp(), GHCB_GPA).unwrap_err();
    assert_eq!(e.termination_reason(), elastic::PSC_FAILURE);
    // The GHCB page was not validated (not the launch we measured): rescind reports CF=1.
    let mut hv = Hypervisor::new();
    let e = bring_up::establish_ghcb(&mut Sim(&mut hv), &mut Rmp::default(), GHCB_GPA).unwrap_err();
    assert_eq!(e, BringUpError::DoubleValidation { gpa: GHCB_GPA });
}

/// A registered GHCB session on the simulator.
fn with_session<R>(hv: &mut Hypervisor, f: impl FnOnce(&mut GhcbSession<'_, Sim<'_>>) -> R) -> R {
    let mut rmp = launched_rmp();
    bring_up::establish_ghcb(&mut Sim(hv), &mut rmp, GHCB_GPA).unwrap();
    let mut page = GhcbPage::new();
    let mut session = GhcbSession::new(Sim(hv), &mut page, GHCB_GPA).unwrap();
    f(&mut session)
}

#[test]
fn accept_ram_validates_every_page_once() {
    let mut hv = Hypervisor::new();
    bring_up::establish_ghcb(&mut Sim(&mut hv), &mut launched_rmp(), GHCB_GPA).unwrap();
    // The hypervisor left the range shared; acceptance makes it private first (PVALIDATE on
    // a shared page would fail in the model).
    for gpa in (0x20_0000..0x90_5000).step_by(PAGE_4K as usize) {
        hv.set_page_state(gpa, PageState::Shared);
    }
    let mut rmp = Rmp::default();
    let (start, end) = (0x20_0000, 0x90_5000); // 3.5 × 2 MiB + 5 pages + tail
    let hv = Rc::new(RefCell::new(hv));
    rmp.live = Some(hv.clone());
    let counts = {
        let mut page = GhcbPage::new();
        let mut session = GhcbSession::new(Live(hv.clone()), &mut page, GHCB_GPA).unwrap();
        bring_up::accept_ram(&mut session, &mut rmp, start, end).unwrap()
    };
    let hv = hv.borrow();
    // 0x200000, 0x400000, 0x600000 as 2 MiB; 0x800000..0x905000 as 4 KiB pages.
    assert_eq!(counts, (3, (0x90_5000 - 0x80_0000) / PAGE_4K));
    for gfn in start >> 12..end >> 12 {
        assert!(rmp.validated.contains(&gfn), "page {gfn:#x} not validated");
        assert_eq!(hv.page_state(gfn << 12), PageState::Private);
    }
    assert_eq!(rmp.evicted, vec![(start, end - start)]);
}

#[test]
fn accept_ram_falls_back_to_4k_on_size_mismatch() {
    let mut hv = Hypervisor::new();
    let mut rmp = Rmp::default();
    rmp.small_only.insert(0x40_0000 >> 12);
    let counts = with_session(&mut hv, |s| {
        bring_up::accept_ram(s, &mut rmp, 0x20_0000, 0x80_0000).unwrap()
    });
    assert_eq!(counts, (2, 512));
    assert!(rmp.calls.contains(&(0x40_0000, PageSize::Size2M, true)));
    assert!(rmp.calls.contains(&(0x5F_F000, PageSize::Size4K, true)));
    assert_eq!(rmp.validated.len(), 3 * 512);
}

#[test]
fn accept_ram_detects_double_validation() {
    // The hypervisor aliased an already-validated page into the range: CF=1 is fatal.
    let mut hv = Hypervisor::new();
    for (pre, size_note) in [(0x20_0000u64, "2 MiB"), (0x80_3000, "4 KiB")] {
        let mut rmp = Rmp::default();
        rmp.validated.insert(pre >> 12);
        if pre.is_multiple_of(PAGE_2M) {
            // Make the whole 2 MiB region look validated so the 2 MiB PVALIDATE is a no-op.
            for g in 0..512 {
                rmp.validated.insert((pre >> 12) + g);
            }
        }
        let e = with_session(&mut hv, |s| {
            bring_up::accept_ram(s, &mut rmp, 0x20_0000, 0x80_5000).unwrap_err()
        });
        assert_eq!(
            e,
            BringUpError::DoubleValidation { gpa: pre },
            "{size_note}"
        );
        assert_eq!(e.termination_reason(), elastic::PVALIDATE_DOUBLE_VALIDATION);
    }
}

#[test]
fn accept_ram_refuses_bad_ranges_and_psc_failures() {
    let mut hv = Hypervisor::new();
    for (s, e) in [
        (0x1001, 0x3000),
        (0x1000, 0x1000),
        (0x3000, 0x1000),
        (0, 0x1800),
    ] {
        let err = with_session(&mut hv, |sess| {
            bring_up::accept_ram(sess, &mut Rmp::default(), s, e).unwrap_err()
        });
        assert_eq!(err.termination_reason(), elastic::BAD_MEMORY_MAP);
    }
    // The hypervisor fails the page-state change half way: nothing is validated.
    let mut hv = Hypervisor::new();
    hv.misbehavior.psc_fail_after = Some((100, 7));
    let mut rmp = Rmp::default();
    let err = with_session(&mut hv, |s| {
        bring_up::accept_ram(s, &mut rmp, 0x20_1000, 0x3F_F000).unwrap_err()
    });
    assert!(matches!(err, BringUpError::Ghcb(_)), "{err}");
    assert_eq!(err.termination_reason(), elastic::PSC_FAILURE);
    assert!(rmp.validated.is_empty());
    // A hypervisor that stalls the PSC forever.
    let mut hv = Hypervisor::new();
    hv.misbehavior.psc_stall = true;
    let err = with_session(&mut hv, |s| {
        bring_up::accept_ram(s, &mut Rmp::default(), 0x20_0000, 0x40_0000).unwrap_err()
    });
    assert_eq!(err, BringUpError::Ghcb(GhcbError::PscStalled));
    // PVALIDATE refuses a page the hypervisor kept shared (FAIL_INPUT).
    let mut hv = Hypervisor::new();
    let mut rmp = Rmp::default();
    rmp.states.insert(0x30_0000 >> 12, PageState::Shared);
    let err = with_session(&mut hv, |s| {
        bring_up::accept_ram(s, &mut rmp, 0x30_0000, 0x30_2000).unwrap_err()
    });
    assert_eq!(
        err,
        BringUpError::Pvalidate {
            gpa: 0x30_0000,
            code: 1
        }
    );
    assert_eq!(err.termination_reason(), set1::PVALIDATE);
}

#[test]
fn shared_buffers() {
    let mut hv = Hypervisor::new();
    let mut rmp = Rmp::default();
    with_session(&mut hv, |s| {
        bring_up::share_pages(s, &mut rmp, 0x80_3000, 0x80_D000).unwrap()
    });
    for gpa in (0x80_3000..0x80_D000).step_by(PAGE_4K as usize) {
        assert_eq!(hv.page_state(gpa), PageState::Shared);
        assert!(rmp.unencrypted.contains(&(gpa >> 12)));
    }
    // Nothing was validated or rescinded: these pages never were.
    assert!(rmp.calls.is_empty());
}
