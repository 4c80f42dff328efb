//! Elastic's GHCB flows (elastic-snp `ghcb_session`, `vc`) run against the spec-written
//! simulated hypervisor, well-behaved and misbehaving.

use elastic_snp::cpuid_page::{CpuidContext, CpuidEntry, CpuidTable, build_page};
use elastic_snp::ghcb::{EventType, GhcbPage, HvErrorCode, ResponseError, ValidBit};
use elastic_snp::ghcb_session::{
    self, GhcbError, GhcbSession, GuestRequestOutcome, PSC_MAX_STALLS, Vmgexit,
};
use elastic_snp::ioio::{AddrSize, IoDirection, IoSize, IoioDescriptor, Segment};
use elastic_snp::msr_protocol::{MsrPscOp, VersionError};
use elastic_snp::psc::{PscError, PscOp};
use elastic_snp::sev_status::{elastic, set0, set1};
use elastic_snp::vc::{self, InsnBytes, MemFault, Reg, VcCpu, VcError, VcPolicy};
use snp_sim::hypervisor::{GuestRequestBackend, Hypervisor, PAGE_SIZE, PageState, PortWrite};

const GHCB_GPA: u64 = 0x7000;

/// Adapter: the simulated hypervisor behind Elastic's `Vmgexit` trait.
struct Sim<'a>(&'a mut Hypervisor);

impl Vmgexit for Sim<'_> {
    fn msr_exit(&mut self, request: u64) -> u64 {
        self.0.vmgexit_msr(request)
    }

    fn ghcb_exit(&mut self, ghcb: &mut GhcbPage, ghcb_gpa: u64) {
        self.0.vmgexit_ghcb(ghcb_gpa, ghcb.as_bytes_mut());
    }
}

/// Registers the GHCB through the MSR protocol, as the kernel does.
fn registered() -> Hypervisor {
    let mut hv = Hypervisor::new();
    ghcb_session::register_ghcb(&mut Sim(&mut hv), GHCB_GPA).unwrap();
    hv
}

fn session<'a>(hv: &'a mut Hypervisor, page: &'a mut GhcbPage) -> GhcbSession<'a, Sim<'a>> {
    GhcbSession::new(Sim(hv), page, GHCB_GPA).unwrap()
}

// ----- MSR protocol flows -----

#[test]
fn version_negotiation_picks_2() {
    let mut hv = Hypervisor::new();
    let (info, v) = ghcb_session::negotiate_protocol(&mut Sim(&mut hv)).unwrap();
    assert_eq!(
        (v, info.cbit, info.min_version, info.max_version),
        (2, 51, 1, 2)
    );
    hv.min_version = 2;
    hv.max_version = 7;
    assert_eq!(
        ghcb_session::negotiate_protocol(&mut Sim(&mut hv))
            .unwrap()
            .1,
        2
    );
}

#[test]
fn version_negotiation_refused() {
    let mut hv = Hypervisor::new();
    hv.max_version = 1;
    let err = ghcb_session::negotiate_protocol(&mut Sim(&mut hv)).unwrap_err();
    assert_eq!(
        err,
        GhcbError::Version(VersionError::NoCommonVersion {
            hv_min: 1,
            hv_max: 1
        })
    );
    assert_eq!(err.termination_reason(), set0::PROTOCOL_UNSUPPORTED);
    // The kernel then terminates; the simulator records the reason.
    ghcb_session::request_termination(&mut Sim(&mut hv), err.termination_reason());
    assert_eq!(hv.terminated, Some((0, 1)));

    let mut hv = Hypervisor::new();
    hv.min_version = 3;
    hv.max_version = 4;
    assert!(matches!(
        ghcb_session::negotiate_protocol(&mut Sim(&mut hv)),
        Err(GhcbError::Version(_))
    ));
}

#[test]
fn registration_ok_refused_and_wrong_echo() {
    let mut hv = Hypervisor::new();
    ghcb_session::register_ghcb(&mut Sim(&mut hv), GHCB_GPA).unwrap();
    assert_eq!(hv.registered_gpa, Some(GHCB_GPA));

    let mut hv = Hypervisor::new();
    hv.misbehavior.refuse_registration = true;
    let err = ghcb_session::register_ghcb(&mut Sim(&mut hv), GHCB_GPA).unwrap_err();
    assert_eq!(err, GhcbError::RegistrationRefused);
    assert_eq!(err.termination_reason(), set1::REGISTER);

    let mut hv = Hypervisor::new();
    hv.misbehavior.wrong_echo = true;
    assert_eq!(
        ghcb_session::register_ghcb(&mut Sim(&mut hv), GHCB_GPA),
        Err(GhcbError::RegistrationMismatch { sent: 7, echoed: 8 })
    );
    assert_eq!(
        ghcb_session::register_ghcb(&mut Sim(&mut hv), GHCB_GPA + 1),
        Err(GhcbError::UnalignedGpa(GHCB_GPA + 1))
    );
}

#[test]
fn hv_features_require_snp() {
    let mut hv = Hypervisor::new();
    hv.features = 0b11;
    assert_eq!(
        ghcb_session::require_snp_hv_features(&mut Sim(&mut hv)),
        Ok(0b11)
    );
    hv.features = 0b10;
    let err = ghcb_session::require_snp_hv_features(&mut Sim(&mut hv)).unwrap_err();
    assert_eq!(err, GhcbError::SnpFeatureMissing { features: 0b10 });
    assert_eq!(err.termination_reason(), elastic::HV_FEATURES_MISSING);
}

#[test]
fn msr_page_state_change_ok_and_error() {
    let mut hv = Hypervisor::new();
    ghcb_session::msr_page_state_change(&mut Sim(&mut hv), GHCB_GPA, MsrPscOp::Shared).unwrap();
    assert_eq!(hv.page_state(GHCB_GPA), PageState::Shared);
    ghcb_session::msr_page_state_change(&mut Sim(&mut hv), GHCB_GPA, MsrPscOp::Private).unwrap();
    assert_eq!(hv.page_state(GHCB_GPA), PageState::Private);
    hv.misbehavior.msr_psc_error = 0x5;
    let err = ghcb_session::msr_page_state_change(&mut Sim(&mut hv), GHCB_GPA, MsrPscOp::Shared)
        .unwrap_err();
    assert_eq!(err, GhcbError::MsrPscFailed { gfn: 7, error: 5 });
    assert_eq!(err.termination_reason(), elastic::PSC_FAILURE);
}

// ----- GHCB page flows -----

#[test]
fn unregistered_ghcb_is_reported() {
    let mut hv = Hypervisor::new();
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(
        s.io_out(0x3F8, IoSize::Byte, 0x41),
        Err(GhcbError::Hypervisor(HvErrorCode::NotRegistered))
    );
}

#[test]
fn ioio_out_and_in() {
    let mut hv = registered();
    hv.port_in.insert(0x3FD, 0x60);
    hv.port_in.insert(0xCFC, 0x1234_5678);
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    s.io_out(0x3F8, IoSize::Byte, 0x41).unwrap();
    s.io_out(0x510, IoSize::Word, 0x0019).unwrap();
    assert_eq!(s.io_in(0x3FD, IoSize::Byte).unwrap(), 0x60);
    assert_eq!(s.io_in(0xCFC, IoSize::Dword).unwrap(), 0x1234_5678);
    assert_eq!(s.io_in(0xCFC, IoSize::Word).unwrap(), 0x5678);
    assert_eq!(
        hv.port_writes,
        vec![
            PortWrite {
                port: 0x3F8,
                size: 1,
                value: 0x41
            },
            PortWrite {
                port: 0x510,
                size: 2,
                value: 0x19
            },
        ]
    );
}

#[test]
fn string_io_through_shared_buffer() {
    let mut hv = registered();
    hv.port_in_stream.extend([1u8, 2, 3, 4]);
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    let out = IoioDescriptor {
        direction: IoDirection::Out,
        string: true,
        rep: true,
        size: IoSize::Byte,
        addr_size: AddrSize::A64,
        segment: Segment::Ds,
        port: 0x3F8,
    };
    s.io_string(&out, 3, &mut [b'a', b'b', b'c']).unwrap();
    let inn = IoioDescriptor {
        direction: IoDirection::In,
        segment: Segment::Es,
        ..out
    };
    let mut buf = [0u8; 4];
    s.io_string(&inn, 4, &mut buf).unwrap();
    assert_eq!(buf, [1, 2, 3, 4]);
    assert_eq!(
        s.io_string(&out, 3000, &mut [0u8; 3000]),
        Err(GhcbError::BadStringIo)
    );
    let written: Vec<u8> = hv.port_writes.iter().map(|w| w.value as u8).collect();
    assert_eq!(written, b"abc");
}

#[test]
fn msr_and_tsc() {
    let mut hv = registered();
    hv.msrs.insert(0x1B, 0xFEE0_0900);
    hv.tsc_aux = 3;
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(s.rdmsr(0x1B).unwrap(), 0xFEE0_0900);
    s.wrmsr(0xC000_0103, 0x1_0000_0002).unwrap();
    assert_eq!(s.rdmsr(0xC000_0103).unwrap(), 0x1_0000_0002);
    let t1 = s.rdtsc().unwrap();
    let (t2, aux) = s.rdtscp().unwrap();
    assert!(t2 > t1);
    assert_eq!(aux, 3);
    // Unknown MSR: the simulated hypervisor asks for #GP(0).
    match s.rdmsr(0xDEAD) {
        Err(GhcbError::Exception(ev)) => {
            assert_eq!(
                (ev.vector, ev.kind, ev.error_code),
                (13, EventType::Exception, Some(0))
            );
        }
        other => panic!("expected #GP injection, got {other:?}"),
    }
}

#[test]
fn hypervisor_asks_to_inject_an_exception() {
    let mut hv = registered();
    hv.misbehavior.inject_exception = Some((6, None));
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    let err = s.io_out(0x80, IoSize::Byte, 1).unwrap_err();
    match err {
        GhcbError::Exception(ev) => assert_eq!((ev.vector, ev.error_code), (6, None)),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.termination_reason(), elastic::GHCB_RESPONSE_INVALID);
    assert!(hv.port_writes.is_empty());
}

#[test]
fn missing_valid_bits_are_rejected() {
    // Output RAX not marked valid.
    let mut hv = registered();
    hv.port_in.insert(0x71, 5);
    hv.misbehavior.drop_output_valid_bits = true;
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(
        s.io_in(0x71, IoSize::Byte),
        Err(GhcbError::MissingOutput(ValidBit::Rax))
    );
    assert_eq!(s.rdtsc(), Err(GhcbError::MissingOutput(ValidBit::Rax)));
    // OUT has no outputs: still fine.
    s.io_out(0x80, IoSize::Byte, 1).unwrap();

    // sw_exit_info_1 not marked valid.
    let mut hv = registered();
    hv.misbehavior.drop_info_valid_bits = true;
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    let err = s.io_out(0x80, IoSize::Byte, 1).unwrap_err();
    assert_eq!(err, GhcbError::Response(ResponseError::Info1NotValid));
    assert_eq!(err.termination_reason(), elastic::GHCB_RESPONSE_INVALID);
}

#[test]
fn garbage_info_1_is_rejected() {
    let mut hv = registered();
    hv.misbehavior.garbage_info_1 = Some(0xDEAD_BEEF_0000_0000);
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(
        s.io_out(0x80, IoSize::Byte, 1),
        Err(GhcbError::Response(ResponseError::GarbageInfo1(
            0xDEAD_BEEF_0000_0000
        )))
    );
    let mut hv = registered();
    hv.misbehavior.garbage_info_1 = Some(7);
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(
        s.rdtsc(),
        Err(GhcbError::Response(ResponseError::GarbageInfo1(7)))
    );
}

// ----- page state change via the GHCB -----

#[test]
fn psc_converts_a_mixed_range() {
    let mut hv = registered();
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    // 4K + 2M + 4K pages, 2M entry where aligned.
    s.page_state_change(0x1F_F000, 0x40_1000, PscOp::Shared)
        .unwrap();
    for gpa in [0x1F_F000, 0x20_0000, 0x3F_F000, 0x40_0000] {
        assert_eq!(hv.page_state(gpa), PageState::Shared, "{gpa:#x}");
    }
    assert_eq!(hv.page_state(0x1F_E000), PageState::Private);
    assert_eq!(hv.page_state(0x40_1000), PageState::Private);
    assert_eq!(hv.counts.psc, 1);
}

#[test]
fn psc_large_range_uses_several_descriptors() {
    let mut hv = registered();
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    // 300 4K pages starting unaligned => 253 + 47 entries (no 2M alignment inside).
    s.page_state_change(0x1000, 0x1000 + 300 * 0x1000, PscOp::Shared)
        .unwrap();
    assert_eq!(hv.counts.psc, 2);
    assert_eq!(hv.page_state(0x1000 + 299 * 0x1000), PageState::Shared);
}

#[test]
fn psc_partial_progress_completes() {
    let mut hv = registered();
    hv.misbehavior.psc_entries_per_exit = Some(2);
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    s.page_state_change(0x10_0000, 0x10_0000 + 7 * 0x1000, PscOp::Shared)
        .unwrap();
    assert_eq!(hv.counts.psc, 4); // 2 + 2 + 2 + 1
    assert_eq!(hv.page_state(0x10_6000), PageState::Shared);
}

#[test]
fn psc_partial_progress_then_error() {
    let mut hv = registered();
    hv.misbehavior.psc_entries_per_exit = Some(2);
    hv.misbehavior.psc_fail_after = Some((3, 0x100_0000_0001));
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    let err = s
        .page_state_change(0x10_0000, 0x10_0000 + 7 * 0x1000, PscOp::Shared)
        .unwrap_err();
    assert_eq!(
        err,
        GhcbError::PscFailed {
            info_2: 0x100_0000_0001
        }
    );
    assert_eq!(err.termination_reason(), elastic::PSC_FAILURE);
    assert_eq!(hv.page_state(0x10_2000), PageState::Shared);
    assert_eq!(hv.page_state(0x10_3000), PageState::Private);
}

#[test]
fn psc_hostile_progress_is_detected() {
    let mut hv = registered();
    hv.misbehavior.psc_stall = true;
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(
        s.page_state_change(0x10_0000, 0x10_2000, PscOp::Private),
        Err(GhcbError::PscStalled)
    );
    assert_eq!(hv.counts.psc, PSC_MAX_STALLS);

    let mut hv = registered();
    hv.misbehavior.psc_entries_per_exit = Some(1);
    hv.misbehavior.psc_move_backwards = true;
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(
        s.page_state_change(0x10_0000, 0x10_3000, PscOp::Private),
        Err(GhcbError::Psc(PscError::MovedBackwards))
    );

    let mut hv = registered();
    hv.misbehavior.psc_skip_past_end = true;
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(
        s.page_state_change(0x10_0000, 0x10_3000, PscOp::Private),
        Err(GhcbError::Psc(PscError::PastEnd))
    );
}

// ----- guest request -----

struct EchoPsp;

impl GuestRequestBackend for EchoPsp {
    fn handle(&mut self, request: &[u8; PAGE_SIZE], response: &mut [u8; PAGE_SIZE]) -> u32 {
        response.copy_from_slice(request);
        response[0] ^= 0xFF;
        0
    }
}

#[test]
fn guest_request_busy_then_completed() {
    const REQ: u64 = 0x20_0000;
    const RESP: u64 = 0x20_1000;
    let mut hv = registered();
    hv.set_psp(Box::new(EchoPsp));
    hv.set_page_state(REQ, PageState::Shared);
    hv.set_page_state(RESP, PageState::Shared);
    hv.guest_page_mut(REQ)[0] = 0x0F;
    hv.misbehavior.guest_request_busy = 1;
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(s.guest_request(REQ, RESP), Ok(GuestRequestOutcome::Busy));
    assert_eq!(
        s.guest_request(REQ, RESP),
        Ok(GuestRequestOutcome::Completed { psp_status: 0 })
    );
    assert_eq!(hv.guest_page(RESP).unwrap()[0], 0xF0);
    assert_eq!(hv.counts.guest_request, 2);
}

#[test]
fn guest_request_private_page_gives_psp_error_and_ext_needs_pages() {
    const REQ: u64 = 0x20_0000;
    const RESP: u64 = 0x20_1000;
    const CERTS: u64 = 0x30_0000;
    let mut hv = registered();
    hv.set_page_state(RESP, PageState::Shared);
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(
        s.guest_request(REQ, RESP),
        Ok(GuestRequestOutcome::Completed { psp_status: 0x16 })
    );
    hv.cert_pages_needed = 3;
    hv.cert_blob = vec![0xAB; 5000];
    hv.set_page_state(REQ, PageState::Shared);
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    assert_eq!(
        s.ext_guest_request(REQ, RESP, CERTS, 1),
        Ok(GuestRequestOutcome::InvalidLength { pages_needed: 3 })
    );
    assert_eq!(
        s.ext_guest_request(REQ, RESP, CERTS, 3),
        Ok(GuestRequestOutcome::Completed { psp_status: 0 })
    );
    assert_eq!(hv.guest_page(CERTS + 0x1000).unwrap()[903], 0xAB);
}

// ----- #VC handling -----

fn cpuid_table() -> CpuidTable {
    let e = |eax_in, ecx_in, out: [u32; 4]| CpuidEntry {
        eax_in,
        ecx_in,
        xcr0_in: 0,
        xss_in: 0,
        eax: out[0],
        ebx: out[1],
        ecx: out[2],
        edx: out[3],
    };
    let entries = [
        e(0, 0, [0xD, 0x6874_7541, 0x444D_4163, 0x6974_6E65]),
        e(1, 0, [0x00A0_0F11, 0x0000_0800, 0x7EF8_3203, 0x178B_FBFF]),
        e(0x8000_0000, 0, [0x8000_0021, 0, 0, 0]),
        e(0x8000_001F, 0, [0x0001_009F, 0x0000_0173, 0, 0]),
    ];
    CpuidTable::parse(&build_page(&entries).unwrap()).unwrap()
}

/// A fake interrupted CPU: registers, instruction bytes at RIP and a flat memory.
struct FakeCpu {
    regs: [u64; 8],
    insn: Vec<u8>,
    mem_base: u64,
    mem: Vec<u8>,
}

impl FakeCpu {
    fn new(insn: &[u8]) -> Self {
        let mut regs = [0; 8];
        regs[6] = 0x10_0000; // RIP
        Self {
            regs,
            insn: insn.to_vec(),
            mem_base: 0x5000,
            mem: vec![0; 0x4000],
        }
    }
    fn idx(r: Reg) -> usize {
        match r {
            Reg::Rax => 0,
            Reg::Rbx => 1,
            Reg::Rcx => 2,
            Reg::Rdx => 3,
            Reg::Rsi => 4,
            Reg::Rdi => 5,
            Reg::Rip => 6,
            Reg::Rflags => 7,
        }
    }
    fn with(mut self, r: Reg, v: u64) -> Self {
        self.regs[Self::idx(r)] = v;
        self
    }
    fn get(&self, r: Reg) -> u64 {
        self.regs[Self::idx(r)]
    }
    fn range(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, MemFault> {
        let start = addr.checked_sub(self.mem_base).ok_or(MemFault { addr })? as usize;
        if start + len > self.mem.len() {
            return Err(MemFault { addr });
        }
        Ok(start..start + len)
    }
}

impl InsnBytes for FakeCpu {
    fn insn_byte(&mut self, index: usize) -> Result<u8, MemFault> {
        self.insn
            .get(index)
            .copied()
            .ok_or(MemFault { addr: index as u64 })
    }
}

impl VcCpu for FakeCpu {
    fn reg(&self, reg: Reg) -> u64 {
        self.get(reg)
    }
    fn set_reg(&mut self, reg: Reg, value: u64) {
        self.regs[Self::idx(reg)] = value;
    }
    fn read_mem(&mut self, _seg: Segment, addr: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        let r = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.mem[r]);
        Ok(())
    }
    fn write_mem(&mut self, _seg: Segment, addr: u64, data: &[u8]) -> Result<(), MemFault> {
        let r = self.range(addr, data.len())?;
        self.mem[r].copy_from_slice(data);
        Ok(())
    }
    fn cpuid_context(&self) -> CpuidContext {
        CpuidContext {
            cr4_osxsave: true,
            ..CpuidContext::default()
        }
    }
}

fn handle(hv: &mut Hypervisor, exit_code: u64, cpu: &mut FakeCpu) -> Result<vc::Decoded, VcError> {
    let mut page = GhcbPage::new();
    let mut s = session(hv, &mut page);
    vc::handle_vc(
        exit_code,
        cpu,
        Some(&mut s),
        &cpuid_table(),
        &VcPolicy::default(),
    )
}

#[test]
fn cpuid_is_answered_from_the_page_never_the_hypervisor() {
    let mut hv = registered();
    // The hypervisor would lie (no SEV), but it is never asked.
    hv.cpuid.insert(0x8000_001F, [0, 0, 0, 0]);
    let before = hv.counts;
    let mut cpu = FakeCpu::new(&[0x0F, 0xA2])
        .with(Reg::Rax, 0x8000_001F)
        .with(Reg::Rcx, 0x55);
    handle(&mut hv, 0x72, &mut cpu).unwrap();
    assert_eq!(cpu.get(Reg::Rax), 0x0001_009F);
    assert_eq!(cpu.get(Reg::Rbx), 0x173);
    assert_eq!(cpu.get(Reg::Rip), 0x10_0002);
    // leaf 1: OSXSAVE reflected from CR4
    let mut cpu = FakeCpu::new(&[0x0F, 0xA2]).with(Reg::Rax, 1);
    handle(&mut hv, 0x72, &mut cpu).unwrap();
    assert_ne!(cpu.get(Reg::Rcx) & (1 << 27), 0);
    assert_eq!(hv.counts.cpuid, before.cpuid);
    assert_eq!(hv.counts.ghcb, before.ghcb);
    assert_eq!(hv.counts.msr_protocol, before.msr_protocol);
    // CPUID also works before a GHCB exists.
    let mut cpu = FakeCpu::new(&[0x0F, 0xA2]).with(Reg::Rax, 0);
    vc::handle_vc::<_, Sim<'_>>(0x72, &mut cpu, None, &cpuid_table(), &VcPolicy::default())
        .unwrap();
    assert_eq!(cpu.get(Reg::Rax), 0xD);
    assert!(!cpuid_table().says_no_sev());
}

#[test]
fn vc_in_out_all_encodings() {
    let mut hv = registered();
    hv.port_in.insert(0x71, 0xA5);
    hv.port_in.insert(0x3FD, 0x1_2360);
    // out dx, al  (uart_16550 write)
    let mut cpu = FakeCpu::new(&[0xEE])
        .with(Reg::Rdx, 0x3F8)
        .with(Reg::Rax, 0xFFFF_FF41);
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    assert_eq!(cpu.get(Reg::Rip), 0x10_0001);
    // in al, dx keeps the upper RAX bits
    let mut cpu = FakeCpu::new(&[0xEC])
        .with(Reg::Rdx, 0x3FD)
        .with(Reg::Rax, 0xAAAA_BBBB_CCCC_DD00);
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    assert_eq!(cpu.get(Reg::Rax), 0xAAAA_BBBB_CCCC_DD60);
    // in eax, 0x71 zero-extends
    let mut cpu = FakeCpu::new(&[0xE5, 0x71]).with(Reg::Rax, u64::MAX);
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    assert_eq!(cpu.get(Reg::Rax), 0xA5);
    assert_eq!(cpu.get(Reg::Rip), 0x10_0002);
    // in ax, dx (0x66) keeps bits 63:16
    let mut cpu = FakeCpu::new(&[0x66, 0xED])
        .with(Reg::Rdx, 0x3FD)
        .with(Reg::Rax, 0xFFFF_0000);
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    assert_eq!(cpu.get(Reg::Rax), 0xFFFF_2360);
    // out 0x80, al / out 0x70, eax / out dx, ax
    let mut cpu = FakeCpu::new(&[0xE6, 0x80]).with(Reg::Rax, 0x1234);
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    let mut cpu = FakeCpu::new(&[0xE7, 0x70]).with(Reg::Rax, 0x1_2345_6789);
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    let mut cpu = FakeCpu::new(&[0x66, 0xEF])
        .with(Reg::Rdx, 0x510)
        .with(Reg::Rax, 0xABCD_0019);
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    assert_eq!(
        hv.port_writes,
        vec![
            PortWrite {
                port: 0x3F8,
                size: 1,
                value: 0x41
            },
            PortWrite {
                port: 0x80,
                size: 1,
                value: 0x34
            },
            PortWrite {
                port: 0x70,
                size: 4,
                value: 0x2345_6789
            },
            PortWrite {
                port: 0x510,
                size: 2,
                value: 0x19
            },
        ]
    );
}

#[test]
fn vc_rep_outs_and_ins() {
    let mut hv = registered();
    // rep outsb: 5 bytes from [rsi]
    let mut cpu = FakeCpu::new(&[0xF3, 0x6E])
        .with(Reg::Rdx, 0x3F8)
        .with(Reg::Rsi, 0x5000)
        .with(Reg::Rcx, 5);
    cpu.mem[..5].copy_from_slice(b"hello");
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    assert_eq!(
        (cpu.get(Reg::Rsi), cpu.get(Reg::Rcx), cpu.get(Reg::Rip)),
        (0x5005, 0, 0x10_0002)
    );
    let s: Vec<u8> = hv.port_writes.iter().map(|w| w.value as u8).collect();
    assert_eq!(s, b"hello");
    // rep insw with 3000 elements: more than one shared-buffer chunk (1016 words each)
    hv.port_in.insert(0x510, 0xBEEF);
    let mut cpu = FakeCpu::new(&[0x66, 0xF3, 0x6D])
        .with(Reg::Rdx, 0x510)
        .with(Reg::Rdi, 0x6000)
        .with(Reg::Rcx, 3000);
    let exits_before = hv.counts.ghcb;
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    assert_eq!(hv.counts.ghcb - exits_before, 3);
    assert_eq!((cpu.get(Reg::Rdi), cpu.get(Reg::Rcx)), (0x6000 + 6000, 0));
    assert_eq!(&cpu.mem[0x1000..0x1004], &[0xEF, 0xBE, 0xEF, 0xBE]);
    assert_eq!(&cpu.mem[0x1000 + 5998..0x1000 + 6000], &[0xEF, 0xBE]);
    // rep with rcx = 0 does nothing but advance RIP
    let mut cpu = FakeCpu::new(&[0xF3, 0x6C])
        .with(Reg::Rdx, 0x510)
        .with(Reg::Rdi, 0x6000);
    let n = hv.counts.ghcb;
    handle(&mut hv, 0x7B, &mut cpu).unwrap();
    assert_eq!((hv.counts.ghcb, cpu.get(Reg::Rip)), (n, 0x10_0002));
    // outsb from unmapped memory => error, RIP unchanged
    let mut cpu = FakeCpu::new(&[0x6E]).with(Reg::Rsi, 0x1);
    assert_eq!(
        handle(&mut hv, 0x7B, &mut cpu),
        Err(VcError::Mem(MemFault { addr: 1 }))
    );
    assert_eq!(cpu.get(Reg::Rip), 0x10_0000);
}

#[test]
fn vc_msr_and_rdtsc() {
    let mut hv = registered();
    hv.msrs.insert(0x1B, 0x1_FEE0_0900);
    let mut cpu = FakeCpu::new(&[0x0F, 0x32]).with(Reg::Rcx, 0x1B);
    handle(&mut hv, 0x7C, &mut cpu).unwrap();
    assert_eq!((cpu.get(Reg::Rax), cpu.get(Reg::Rdx)), (0xFEE0_0900, 1));
    let mut cpu = FakeCpu::new(&[0x0F, 0x30])
        .with(Reg::Rcx, 0x277)
        .with(Reg::Rax, 0x0007_0406)
        .with(Reg::Rdx, 0x0007_0406);
    handle(&mut hv, 0x7C, &mut cpu).unwrap();
    assert_eq!(hv.msrs[&0x277], 0x0007_0406_0007_0406);
    let mut cpu = FakeCpu::new(&[0x0F, 0x31]);
    handle(&mut hv, 0x6E, &mut cpu).unwrap();
    assert_ne!(cpu.get(Reg::Rax) | cpu.get(Reg::Rdx), 0);
    // Secure TSC policy: an RDTSC #VC means the hypervisor misbehaves.
    let mut page = GhcbPage::new();
    let mut s = session(&mut hv, &mut page);
    let mut cpu = FakeCpu::new(&[0x0F, 0x31]);
    let policy = VcPolicy { secure_tsc: true };
    assert_eq!(
        vc::handle_vc(0x6E, &mut cpu, Some(&mut s), &cpuid_table(), &policy),
        Err(VcError::SecureTscViolation)
    );
}

#[test]
fn vc_rejects_mismatch_unknown_and_missing_ghcb() {
    let mut hv = registered();
    // exit code says IOIO but the instruction is CPUID
    let mut cpu = FakeCpu::new(&[0x0F, 0xA2]);
    assert!(matches!(
        handle(&mut hv, 0x7B, &mut cpu),
        Err(VcError::ExitCodeMismatch { .. })
    ));
    // unknown instruction
    let mut cpu = FakeCpu::new(&[0x0F, 0x09]);
    let err = handle(&mut hv, 0x7B, &mut cpu).unwrap_err();
    assert_eq!(err.termination_reason(), elastic::VC_UNHANDLED);
    // page-not-validated #VC is never handled
    let mut cpu = FakeCpu::new(&[0x90]);
    assert_eq!(
        handle(&mut hv, 0x404, &mut cpu),
        Err(VcError::UnsupportedExitCode(0x404))
    );
    // port I/O before the GHCB exists
    let mut cpu = FakeCpu::new(&[0xEC]);
    assert_eq!(
        vc::handle_vc::<_, Sim<'_>>(0x7B, &mut cpu, None, &cpuid_table(), &VcPolicy::default()),
        Err(VcError::NoGhcb)
    );
    // a GHCB failure inside #VC keeps its own reason
    hv.misbehavior.drop_output_valid_bits = true;
    let mut cpu = FakeCpu::new(&[0xEC]);
    let err = handle(&mut hv, 0x7B, &mut cpu).unwrap_err();
    assert_eq!(err, VcError::Ghcb(GhcbError::MissingOutput(ValidBit::Rax)));
    assert_eq!(err.termination_reason(), elastic::GHCB_RESPONSE_INVALID);
    assert_eq!(cpu.get(Reg::Rip), 0x10_0000);
}
