//! Fuzz harness `snp_ghcb`: the GHCB protocol as a hostile hypervisor drives it (AMD 56421
//! §2.3.1 MSR protocol, §2.3.2 / Table 4 GHCB page and `sw_exit_info` results, §4.1.6 and
//! Table 6 page state change, Table 7 IOIO).
//!
//! The input is a program of operations. Guest-side flows (`ghcb_session`: version
//! negotiation, GHCB registration, HV features, MSR-protocol PSC and CPUID, and the GHCB-page
//! exits for port I/O, MSRs, RDTSC(P), PSC descriptors and guest requests) run against
//! `snp-sim`'s spec-written hypervisor, whose every answer the input may then corrupt: XOR or
//! replace the MSR value, or patch bytes of the GHCB page (biased to the result, valid-bitmap,
//! register and PSC-header fields). Pure decoders (`MsrRequest`/`MsrResponse`,
//! `EventInjection`, `ExitResult::from_ghcb`, `IoioDescriptor`, `PscEntry`,
//! `PscDescriptor::read_from`, `ProgressTracker`) get raw input values.
//!
//! The kernel's SNP bring-up sequence (`bring_up`: GHCB set-up, RAM acceptance, sharing) runs
//! against the same hypervisor with hostile PVALIDATE results.
//!
//! Properties: no panic, no endless loop (libFuzzer's timeout), every error renders and maps
//! to a termination reason; decoders that accept a value re-encode it to the same value.

use crate::input::Input;
use elastic_snp::bring_up::{self, BringUpError, PageOps, Pvalidated};
use elastic_snp::ghcb::{
    EventInjection, ExitResult, GHCB_SIZE, GhcbPage, OFF_GHCB_USAGE, OFF_PROTOCOL_VERSION, OFF_RAX,
    OFF_RBX, OFF_RCX, OFF_RDX, OFF_SHARED_BUFFER, OFF_SW_EXIT_CODE, OFF_SW_EXIT_INFO_1,
    OFF_SW_EXIT_INFO_2, OFF_SW_SCRATCH, OFF_VALID_BITMAP,
};
use elastic_snp::ghcb_session::{self, GhcbError, GhcbSession, Vmgexit};
use elastic_snp::ioio::{AddrSize, IoDirection, IoSize, IoioDescriptor, Segment};
use elastic_snp::msr_protocol::{CpuidReg, MsrPscOp, MsrRequest, MsrResponse};
use elastic_snp::psc::{PSC_DESC_SIZE, PageSize, ProgressTracker, PscDescriptor, PscEntry, PscOp};
use snp_sim::hypervisor::Hypervisor;

/// GPA of the GHCB page in these runs (page aligned, as the kernel's is).
pub const GHCB_GPA: u64 = 0x7000;

/// GHCB fields a corrupting hypervisor is most likely to get wrong.
const HOT_OFFSETS: [usize; 13] = [
    OFF_SW_EXIT_INFO_1,
    OFF_SW_EXIT_INFO_2,
    OFF_VALID_BITMAP,
    OFF_VALID_BITMAP + 8,
    OFF_RAX,
    OFF_RBX,
    OFF_RCX,
    OFF_RDX,
    OFF_SW_EXIT_CODE,
    OFF_SW_SCRATCH,
    OFF_SHARED_BUFFER,
    OFF_PROTOCOL_VERSION,
    OFF_GHCB_USAGE,
];

/// The simulated hypervisor with an input-controlled corruption of every answer.
pub struct Hostile<'i, 'a> {
    hv: Hypervisor,
    input: &'i mut Input<'a>,
    exits: u32,
}

impl<'i, 'a> Hostile<'i, 'a> {
    /// A fresh simulated hypervisor whose answers `input` corrupts, with the GHCB at
    /// [`GHCB_GPA`] already registered (honestly).
    pub fn registered(input: &'i mut Input<'a>) -> Self {
        let mut hv = Hypervisor::new();
        let request = MsrRequest::RegisterGpa {
            gfn: GHCB_GPA >> 12,
        }
        .encode()
        .expect("GHCB GFN encodes");
        let _ = hv.vmgexit_msr(request);
        Self {
            hv,
            input,
            exits: 0,
        }
    }
}

impl core::fmt::Debug for Hostile<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hostile")
            .field("exits", &self.exits)
            .finish()
    }
}

impl Vmgexit for Hostile<'_, '_> {
    fn msr_exit(&mut self, request: u64) -> u64 {
        self.exits += 1;
        let honest = self.hv.vmgexit_msr(request);
        match self.input.below(4) {
            0 | 1 => honest,
            2 => honest ^ self.input.u64(),
            _ => self.input.u64(),
        }
    }

    fn ghcb_exit(&mut self, ghcb: &mut GhcbPage, ghcb_gpa: u64) {
        self.exits += 1;
        self.hv.vmgexit_ghcb(ghcb_gpa, ghcb.as_bytes_mut());
        let patches = self.input.below(4);
        let page = ghcb.as_bytes_mut();
        for _ in 0..patches {
            let sel = self.input.u8();
            let off = if sel < 0xC0 {
                let hot = HOT_OFFSETS[usize::from(sel) % HOT_OFFSETS.len()];
                hot + usize::from(self.input.below(16))
            } else {
                usize::from(self.input.u16()) % GHCB_SIZE
            };
            let value = self.input.u8();
            if let Some(b) = page.get_mut(off) {
                *b = value;
            }
        }
    }
}

fn io_size(b: u8) -> IoSize {
    match b % 3 {
        0 => IoSize::Byte,
        1 => IoSize::Word,
        _ => IoSize::Dword,
    }
}

fn psc_op(b: u8) -> PscOp {
    match b % 4 {
        0 => PscOp::Private,
        1 => PscOp::Shared,
        2 => PscOp::Psmash,
        _ => PscOp::Unsmash,
    }
}

fn report(e: &GhcbError) {
    let _ = e.to_string();
    let _ = e.termination_reason();
}

fn fuzz_descriptor(input: &mut Input<'_>) -> PscDescriptor {
    let mut desc = PscDescriptor::default();
    for _ in 0..input.below(8) {
        let entry = PscEntry {
            cur_page: 0,
            gfn: input.u64() & ((1 << 40) - 1),
            op: psc_op(input.u8()),
            size: if input.bool() {
                PageSize::Size2M
            } else {
                PageSize::Size4K
            },
        };
        let _ = desc.push(entry);
    }
    desc
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mut page = GhcbPage::new();
    let mut ops = 0;
    while !input.is_empty() && ops < 48 {
        ops += 1;
        let op = input.below(27);
        match op {
            0..=13 => session_op(op, &mut input, &mut page),
            24..=26 => bring_up_op(op, &mut input, &mut page),
            _ => decoder_op(op, &mut input),
        }
    }
}

/// PVALIDATE results and C-bit changes as a hostile platform (or an RMP changed behind the
/// guest's back) would give them, from bytes drawn before the flow starts.
struct HostilePages<'a> {
    input: Input<'a>,
    validations: u64,
}

impl PageOps for HostilePages<'_> {
    fn pvalidate(&mut self, _gpa: u64, _size: PageSize, _validate: bool) -> Pvalidated {
        self.validations += 1;
        // Running out of bytes (0) is the honest answer.
        match self.input.below(8) {
            5 => Pvalidated::Done { unchanged: true },
            6 => Pvalidated::Failed(6),
            7 => Pvalidated::Failed(u32::from(self.input.u8())),
            _ => Pvalidated::Done { unchanged: false },
        }
    }
    fn set_encrypted(&mut self, _gpa: u64, _encrypted: bool) {}
    fn evict(&mut self, _gpa: u64, _len: u64) {}
}

/// The kernel's SNP bring-up (`bring_up`): GHCB set-up, RAM acceptance and page sharing
/// against the corrupting hypervisor and hostile PVALIDATE results. Properties: no panic;
/// errors map to termination reasons; a successful acceptance covered exactly the range.
fn bring_up_op(op: u8, input: &mut Input<'_>, page: &mut GhcbPage) {
    let pv_len = usize::from(input.below(64));
    let pv_bytes: Vec<u8> = (0..pv_len).map(|_| input.u8()).collect();
    let mut pages = HostilePages {
        input: Input::new(&pv_bytes),
        validations: 0,
    };
    // Up to 16 MiB in 4 KiB units, at a 4 KiB-aligned (sometimes 2 MiB-aligned) start; now and
    // then unaligned, to reach the range checks.
    let start = (u64::from(input.u16()) << if input.bool() { 21 } else { 12 })
        | if input.below(16) == 0 { 0x800 } else { 0 };
    let len = (u64::from(input.u16()) % 4096) << 12;
    let end = start + len;
    let mut vm = Hostile::registered(input);
    let r = match op {
        24 => bring_up::establish_ghcb(&mut vm, &mut pages, GHCB_GPA).map(|_| ()),
        25 => match GhcbSession::new(&mut vm, page, GHCB_GPA) {
            Ok(mut s) => bring_up::accept_ram(&mut s, &mut pages, start, end).map(|(l, sm)| {
                assert_eq!(l * bring_up::PAGE_2M + sm * bring_up::PAGE_4K, end - start);
            }),
            Err(e) => Err(BringUpError::Ghcb(e)),
        },
        _ => match GhcbSession::new(&mut vm, page, GHCB_GPA) {
            Ok(mut s) => bring_up::share_pages(&mut s, &mut pages, start, end),
            Err(e) => Err(BringUpError::Ghcb(e)),
        },
    };
    if let Err(e) = r {
        let _ = e.to_string();
        let _ = e.termination_reason();
    }
}

fn session_op(op: u8, input: &mut Input<'_>, page: &mut GhcbPage) {
    let mut vm = Hostile {
        hv: Hypervisor::new(),
        input,
        exits: 0,
    };
    // Most flows need a registered GHCB, as in the kernel; the registration itself is also
    // subject to corruption.
    if op >= 6
        && let Err(e) = ghcb_session::register_ghcb(&mut vm, GHCB_GPA)
    {
        report(&e);
    }
    let r: Result<(), GhcbError> = match op {
        0 => ghcb_session::sev_info(&mut vm).map(|_| ()),
        1 => ghcb_session::negotiate_protocol(&mut vm).map(|(info, v)| {
            assert!(v >= info.min_version && v <= info.max_version);
        }),
        2 => ghcb_session::preferred_ghcb_gpa(&mut vm).map(|_| ()),
        3 => {
            let gpa = vm.input.u64();
            ghcb_session::register_ghcb(&mut vm, gpa)
        }
        4 => ghcb_session::require_snp_hv_features(&mut vm).map(|_| ()),
        5 => {
            let gpa = vm.input.u64() & !0xFFF;
            let op = if vm.input.bool() {
                MsrPscOp::Private
            } else {
                MsrPscOp::Shared
            };
            ghcb_session::msr_page_state_change(&mut vm, gpa, op)
        }
        _ => {
            let a = vm.input.u32();
            let b = vm.input.u64();
            let sel = vm.input.u8();
            if op == 6 {
                let reg = match sel % 4 {
                    0 => CpuidReg::Eax,
                    1 => CpuidReg::Ebx,
                    2 => CpuidReg::Ecx,
                    _ => CpuidReg::Edx,
                };
                ghcb_session::msr_cpuid(&mut vm, a, reg).map(|_| ())
            } else {
                ghcb_page_op(op, &mut vm, page, a, b, sel)
            }
        }
    };
    if let Err(e) = r {
        report(&e);
    }
}

fn ghcb_page_op(
    op: u8,
    vm: &mut Hostile<'_, '_>,
    page: &mut GhcbPage,
    a: u32,
    b: u64,
    sel: u8,
) -> Result<(), GhcbError> {
    let desc = if op == 12 {
        Some(fuzz_descriptor(vm.input))
    } else {
        None
    };
    let mut s = GhcbSession::new(&mut *vm, page, GHCB_GPA)?;
    match op {
        7 => s.io_out(a as u16, io_size(sel), (b >> 8) as u32),
        8 => s.io_in(a as u16, io_size(sel)).map(|_| ()),
        9 => {
            let desc = IoioDescriptor {
                direction: if sel & 1 == 0 {
                    IoDirection::In
                } else {
                    IoDirection::Out
                },
                string: true,
                rep: sel & 2 != 0,
                size: io_size(sel >> 2),
                addr_size: AddrSize::A64,
                segment: Segment::Es,
                port: a as u16,
            };
            let count = usize::from((b & 0x3FF) as u16);
            let mut buf = vec![0u8; usize::from((b >> 16) as u16 & 0xFFF)];
            s.io_string(&desc, count, &mut buf)
        }
        10 => {
            if sel & 1 == 0 {
                s.rdmsr(a).map(|_| ())
            } else {
                s.wrmsr(a, b)
            }
        }
        11 => {
            if sel & 1 == 0 {
                s.rdtsc().map(|_| ())
            } else {
                s.rdtscp().map(|_| ())
            }
        }
        12 => match desc {
            Some(d) => s.psc_descriptor(&d),
            None => Ok(()),
        },
        _ => {
            if sel & 1 == 0 {
                // A bounded range (at most 8 MiB) so an honest run stays short.
                let start = (b & 0xF_FFFF_F000) & !0xFFF;
                let end = start + (u64::from(a) & 0x7F_F000);
                s.page_state_change(start, end, psc_op(sel >> 1))
            } else if sel & 2 == 0 {
                s.guest_request(b & !0xFFF, u64::from(a) << 12).map(|_| ())
            } else {
                s.ext_guest_request(
                    b & !0xFFF,
                    u64::from(a) << 12,
                    0x10_0000,
                    u64::from(sel >> 4),
                )
                .map(|_| ())
            }
        }
    }
}

fn decoder_op(op: u8, input: &mut Input<'_>) {
    match op {
        14 => {
            let v = input.u64();
            if let Ok(r) = MsrResponse::decode(v) {
                assert_eq!(
                    r.encode().ok(),
                    Some(v),
                    "MsrResponse {r:?} does not re-encode"
                );
            }
        }
        15 => {
            let v = input.u64();
            if let Ok(r) = MsrRequest::decode(v) {
                assert_eq!(
                    r.encode().ok(),
                    Some(v),
                    "MsrRequest {r:?} does not re-encode"
                );
                let _ = r.response_code();
                let _ = MsrResponse::decode_for(&r, input.u64());
            }
        }
        16 => {
            let v = input.u64();
            if let Ok(e) = EventInjection::decode(v) {
                // The error-code field (63:32) means nothing unless EV (bit 11) is set, and
                // decode ignores it then, as the CPU does (AMD APM vol. 2 §15.20 EVENTINJ).
                let canonical = if v & (1 << 11) == 0 {
                    v & 0xFFFF_FFFF
                } else {
                    v
                };
                assert_eq!(
                    e.encode(),
                    canonical,
                    "EventInjection {e:?} does not re-encode"
                );
                assert_eq!(EventInjection::decode(e.encode()), Ok(e));
            }
        }
        17 => {
            let mut g = GhcbPage::new();
            let bytes = input.bytes(255);
            let at = usize::from(input.u16()) % GHCB_SIZE;
            for (i, b) in bytes.iter().enumerate() {
                if let Some(slot) = g.as_bytes_mut().get_mut(at + i) {
                    *slot = *b;
                }
            }
            // Put the decoded fields in play as well.
            g.as_bytes_mut()[OFF_SW_EXIT_INFO_1..OFF_SW_EXIT_INFO_1 + 8]
                .copy_from_slice(&u64::from(input.below(4)).to_le_bytes());
            g.as_bytes_mut()[OFF_SW_EXIT_INFO_2..OFF_SW_EXIT_INFO_2 + 8]
                .copy_from_slice(&input.u64().to_le_bytes());
            g.as_bytes_mut()[OFF_VALID_BITMAP..OFF_VALID_BITMAP + 16]
                .copy_from_slice(&input.array::<16>());
            let _ = ExitResult::from_ghcb(&g);
        }
        18 => {
            let v = input.u64();
            if let Ok(d) = IoioDescriptor::decode(v) {
                assert_eq!(d.encode(), v, "IOIO descriptor {d:?} does not re-encode");
            }
        }
        19 => {
            let v = input.u64();
            if let Ok(e) = PscEntry::decode(v) {
                let _ = e.pages();
                let _ = e.encode();
            }
        }
        20 => {
            let buf = input.bytes(255);
            let mut full = [0u8; PSC_DESC_SIZE];
            full[..buf.len()].copy_from_slice(buf);
            let _ = PscDescriptor::read_from(buf);
            if let Ok((_, d)) = PscDescriptor::read_from(&full) {
                let mut out = [0u8; PSC_DESC_SIZE];
                if d.write_to(&mut out).is_ok() {
                    let again = PscDescriptor::read_from(&out).map(|(_, d2)| d2);
                    assert_eq!(again.as_ref().ok(), Some(&d), "PSC descriptor round trip");
                }
            }
        }
        _ => {
            // Progress tracking across repeated exits with hostile header/entry updates.
            let desc = fuzz_descriptor(input);
            let Ok(mut t) = ProgressTracker::new(&desc) else {
                return;
            };
            let mut buf = [0u8; PSC_DESC_SIZE];
            if desc.write_to(&mut buf).is_err() {
                return;
            }
            for _ in 0..input.below(16) {
                for _ in 0..input.below(4) {
                    let off = usize::from(input.u8()) % 64;
                    buf[off] = input.u8();
                }
                match t.check(&buf) {
                    Ok(_) => {}
                    Err(e) => {
                        let _ = e.to_string();
                        break;
                    }
                }
            }
        }
    }
}
