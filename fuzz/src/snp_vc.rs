//! Fuzz harness `snp_vc`: the #VC handler's instruction decoder and the whole handler
//! (`elastic_snp::vc`, AMD 56421 §4.1 "#VC exception" and the NAE events of Table 7).
//!
//! The instruction bytes at the faulting RIP are guest memory the hypervisor cannot change
//! under SNP, but a kernel bug or a hostile guest image could put anything there, and the
//! exit code, registers and every GHCB answer are the hypervisor's. Input: the exit code
//! (picked from the supported ones or raw), up to 16 instruction bytes, the registers, the
//! CPUID context, a 256-byte memory window for string I/O, then the corruption stream for
//! the simulated hypervisor ([`crate::snp_ghcb::Hostile`]).
//!
//! Properties: `decode` never reads past 15 bytes, reports a length within what it read, and
//! decodes its own prefix `bytes[..len]` identically; `handle_vc` never panics, advances RIP by
//! exactly the decoded length on success and leaves RIP alone on failure.

use crate::input::Input;
use crate::snp_ghcb::{GHCB_GPA, Hostile};
use elastic_snp::cpuid_page::{CpuidContext, CpuidEntry, CpuidTable, build_page};
use elastic_snp::ghcb::{GhcbPage, exit_code};
use elastic_snp::ghcb_session::GhcbSession;
use elastic_snp::ioio::Segment;
use elastic_snp::vc::{self, InsnBytes, MemFault, Reg, VcCpu, VcPolicy};

/// Base address of the memory window string I/O may touch.
const MEM_BASE: u64 = 0x1000;

/// The interrupted context, all fields from the input.
#[derive(Debug)]
struct FuzzCpu {
    insn: Vec<u8>,
    regs: [u64; 8],
    mem: [u8; 256],
    ctx: CpuidContext,
}

fn reg_index(r: Reg) -> usize {
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

impl InsnBytes for FuzzCpu {
    fn insn_byte(&mut self, index: usize) -> Result<u8, MemFault> {
        assert!(
            index < 15,
            "decoder read instruction byte {index} (max 15 bytes)"
        );
        self.insn.get(index).copied().ok_or(MemFault {
            addr: self.regs[6].wrapping_add(index as u64),
        })
    }
}

impl FuzzCpu {
    fn window(&self, addr: u64, len: usize) -> Result<core::ops::Range<usize>, MemFault> {
        let start = addr
            .checked_sub(MEM_BASE)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or(MemFault { addr })?;
        let end = start.checked_add(len).ok_or(MemFault { addr })?;
        if end > self.mem.len() {
            return Err(MemFault { addr });
        }
        Ok(start..end)
    }
}

impl VcCpu for FuzzCpu {
    fn reg(&self, reg: Reg) -> u64 {
        self.regs[reg_index(reg)]
    }

    fn set_reg(&mut self, reg: Reg, value: u64) {
        self.regs[reg_index(reg)] = value;
    }

    fn read_mem(&mut self, _seg: Segment, addr: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        let r = self.window(addr, buf.len())?;
        buf.copy_from_slice(&self.mem[r]);
        Ok(())
    }

    fn write_mem(&mut self, _seg: Segment, addr: u64, data: &[u8]) -> Result<(), MemFault> {
        let r = self.window(addr, data.len())?;
        self.mem[r].copy_from_slice(data);
        Ok(())
    }

    fn cpuid_context(&self) -> CpuidContext {
        self.ctx
    }
}

fn cpuid_table() -> CpuidTable {
    let e = |eax_in, ecx_in, eax, ebx, ecx, edx| CpuidEntry {
        eax_in,
        ecx_in,
        eax,
        ebx,
        ecx,
        edx,
        ..CpuidEntry::default()
    };
    let entries = [
        e(0, 0, 0xD, 0x6874_7541, 0x444D_4163, 0x6974_6E65),
        e(1, 0, 0x00A0_0F11, 0x0080_0800, 0x7EF8_320B, 0x178B_FBFF),
        e(7, 0, 0, 0x219C_97A9, 0x0040_069C, 0),
        e(0xD, 0, 0x7, 0x340, 0x340, 0),
        e(0xD, 1, 0xF, 0x340, 0, 0),
        e(0xD, 2, 0x100, 0x240, 0, 0),
        e(0x8000_0000, 0, 0x8000_001F, 0, 0, 0),
        e(0x8000_001F, 0, 0x1_B, 0x33, 0, 0),
    ];
    let page = build_page(&entries).expect("fixed CPUID entries build");
    CpuidTable::parse(&page).expect("fixed CPUID page parses")
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let exit = match input.u8() % 8 {
        0 => exit_code::CPUID,
        1 => exit_code::IOIO,
        2 => exit_code::MSR,
        3 => exit_code::RDTSC,
        4 => exit_code::RDTSCP,
        5 => u64::from(input.u16()),
        _ => input.u64(),
    };
    let flags = input.u8();
    let insn_len = usize::from(input.u8() % 17);
    let insn = input.array::<16>()[..insn_len].to_vec();

    // Decoder properties on the raw bytes.
    let mut slice: &[u8] = &insn;
    if let Ok(d) = vc::decode(&mut slice) {
        assert!(d.len >= 1 && d.len <= 15 && d.len <= insn.len());
        let mut prefix: &[u8] = &insn[..d.len];
        assert_eq!(
            vc::decode(&mut prefix),
            Ok(d),
            "decode of its own prefix differs"
        );
    }

    let mut regs = [0u64; 8];
    for r in &mut regs {
        *r = match input.u8() % 4 {
            0 => u64::from(input.u8()),
            1 => MEM_BASE + u64::from(input.u8()),
            2 => u64::from(input.u32()),
            _ => input.u64(),
        };
    }
    let mut mem = [0u8; 256];
    mem.copy_from_slice(&{
        let mut m = [0u8; 256];
        let b = input.bytes(256);
        m[..b.len()].copy_from_slice(b);
        m
    });
    let ctx = CpuidContext {
        cr4_osxsave: flags & 1 != 0,
        cr4_pke: flags & 2 != 0,
        xcr0: if flags & 4 != 0 { input.u64() } else { 7 },
        xss: 0,
    };
    let mut cpu = FuzzCpu {
        insn,
        regs,
        mem,
        ctx,
    };
    let policy = VcPolicy {
        secure_tsc: flags & 8 != 0,
    };
    let table = cpuid_table();
    let rip = cpu.regs[6];
    let mut page = GhcbPage::new();
    let mut vm = Hostile::registered(&mut input);
    let result = if flags & 16 != 0 {
        vc::handle_vc::<FuzzCpu, &mut Hostile<'_, '_>>(exit, &mut cpu, None, &table, &policy)
    } else {
        let mut session = GhcbSession::new(&mut vm, &mut page, GHCB_GPA).expect("aligned GHCB GPA");
        vc::handle_vc(exit, &mut cpu, Some(&mut session), &table, &policy)
    };
    match result {
        Ok(d) => assert_eq!(
            cpu.regs[6],
            rip.wrapping_add(d.len as u64),
            "RIP not advanced by the instruction length"
        ),
        Err(e) => {
            assert_eq!(cpu.regs[6], rip, "RIP moved although #VC handling failed");
            let _ = e.termination_reason();
        }
    }
}
