//! #VC (vector 29) support: an x86-64 instruction decoder for the instructions that raise
//! #VC under SEV-ES/SNP, and [`handle_vc`], which turns a #VC into the GHCB request to make
//! and the register/RIP updates to apply.
//!
//! Sources: AMD APM vol. 2 §15.35.5 "#VC Exception" (error code = SVM exit code, RIP at the
//! faulting instruction), AMD 56421 GHCB spec §4.1 (NAE events) and snp-facts §5. Under SNP
//! the CPU gives no exit information for port I/O, so the guest decodes IN/OUT/INS/OUTS
//! itself. CPUID is answered from the SNP CPUID page and never from the hypervisor.
//!
//! The decoder assumes 64-bit mode (the only mode Elastic takes #VC in): default operand size
//! 32 (0x66 → 16), default address size 64 (0x67 → 32). Handled legacy prefixes: 0x66, 0x67,
//! 0xF2/0xF3 (REP for INS/OUTS), segment overrides 0x26/0x2E/0x36/0x3E/0x64/0x65, and REX
//! (0x40-0x4F, ignored by these instructions). LOCK (0xF0) is rejected (it would #UD). The
//! instruction is at most 15 bytes. Anything else is an error: the kernel terminates.

use crate::cpuid_page::{CpuidContext, CpuidError, CpuidTable};
use crate::ghcb::exit_code;
use crate::ghcb_session::{GhcbError, GhcbSession, Vmgexit};
use crate::ioio::{AddrSize, IoDirection, IoSize, IoioDescriptor, Segment};
use crate::sev_status::MSR_GUEST_TSC_FREQ;

/// Maximum x86 instruction length.
pub const MAX_INSN_LEN: usize = 15;

/// Reading guest memory failed (unmapped page, fault while fetching).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemFault {
    /// Address that could not be accessed.
    pub addr: u64,
}

/// Source of instruction bytes: byte `index` of the instruction at the faulting RIP.
pub trait InsnBytes {
    /// Returns the byte at RIP + `index`, or the fault that prevented reading it.
    fn insn_byte(&mut self, index: usize) -> Result<u8, MemFault>;
}

impl InsnBytes for &[u8] {
    fn insn_byte(&mut self, index: usize) -> Result<u8, MemFault> {
        self.get(index)
            .copied()
            .ok_or(MemFault { addr: index as u64 })
    }
}

/// Where a port number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoPort {
    /// Immediate byte (E4-E7).
    Imm(u8),
    /// DX register (EC-EF, 6C-6F).
    Dx,
}

/// A decoded port I/O instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoInsn {
    /// IN/INS or OUT/OUTS.
    pub direction: IoDirection,
    /// Operand size.
    pub size: IoSize,
    /// Port source.
    pub port: IoPort,
    /// INS/OUTS.
    pub string: bool,
    /// REP (F3 or F2) on a string instruction.
    pub rep: bool,
    /// Address size (RSI/RDI/RCX width for string forms).
    pub addr_size: AddrSize,
    /// Effective segment of the memory operand: ES for INS (fixed), DS or the override for OUTS.
    pub segment: Segment,
}

/// A decoded instruction that can raise #VC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insn {
    /// CPUID (0F A2).
    Cpuid,
    /// RDMSR (0F 32).
    Rdmsr,
    /// WRMSR (0F 30).
    Wrmsr,
    /// RDTSC (0F 31).
    Rdtsc,
    /// RDTSCP (0F 01 F9).
    Rdtscp,
    /// IN/OUT/INS/OUTS.
    Io(IoInsn),
}

/// A decoded instruction and its length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The instruction.
    pub insn: Insn,
    /// Length including prefixes.
    pub len: usize,
}

/// Decoding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// An instruction byte could not be read.
    Fetch(MemFault),
    /// More than 15 bytes.
    TooLong,
    /// LOCK prefix on an instruction that does not allow it.
    Lock,
    /// Not an instruction #VC handling supports; the first opcode bytes are given.
    Unsupported([u8; 3]),
}

/// Decodes the instruction whose bytes `bytes` provides.
pub fn decode<B: InsnBytes + ?Sized>(bytes: &mut B) -> Result<Decoded, DecodeError> {
    let mut i = 0usize;
    let mut next = |i: &mut usize| -> Result<u8, DecodeError> {
        if *i >= MAX_INSN_LEN {
            return Err(DecodeError::TooLong);
        }
        let b = bytes.insn_byte(*i).map_err(DecodeError::Fetch)?;
        *i += 1;
        Ok(b)
    };
    let mut opsize16 = false;
    let mut addr32 = false;
    let mut rep = false;
    let mut seg: Option<Segment> = None;
    let mut op;
    loop {
        op = next(&mut i)?;
        match op {
            0x66 => opsize16 = true,
            0x67 => addr32 = true,
            0xF2 | 0xF3 => rep = true,
            0x26 => seg = Some(Segment::Es),
            0x2E => seg = Some(Segment::Cs),
            0x36 => seg = Some(Segment::Ss),
            0x3E => seg = Some(Segment::Ds),
            0x64 => seg = Some(Segment::Fs),
            0x65 => seg = Some(Segment::Gs),
            0xF0 => return Err(DecodeError::Lock),
            // REX: only meaningful directly before the opcode; these instructions ignore it.
            0x40..=0x4F => {}
            _ => break,
        }
    }
    let size = if opsize16 {
        IoSize::Word
    } else {
        IoSize::Dword
    };
    let addr_size = if addr32 { AddrSize::A32 } else { AddrSize::A64 };
    let io = |direction, size, port, string: bool| IoInsn {
        direction,
        size,
        port,
        string,
        rep: string && rep,
        addr_size,
        segment: match (string, direction) {
            (true, IoDirection::In) => Segment::Es,
            _ => seg.unwrap_or(Segment::Ds),
        },
    };
    let insn = match op {
        0x0F => {
            let op2 = next(&mut i)?;
            match op2 {
                0xA2 => Insn::Cpuid,
                0x32 => Insn::Rdmsr,
                0x30 => Insn::Wrmsr,
                0x31 => Insn::Rdtsc,
                0x01 => {
                    let op3 = next(&mut i)?;
                    if op3 == 0xF9 {
                        Insn::Rdtscp
                    } else {
                        return Err(DecodeError::Unsupported([0x0F, 0x01, op3]));
                    }
                }
                other => return Err(DecodeError::Unsupported([0x0F, other, 0])),
            }
        }
        0xE4..=0xE7 => {
            let port = next(&mut i)?;
            let dir = if op & 2 == 0 {
                IoDirection::In
            } else {
                IoDirection::Out
            };
            let sz = if op & 1 == 0 { IoSize::Byte } else { size };
            Insn::Io(io(dir, sz, IoPort::Imm(port), false))
        }
        0xEC..=0xEF => {
            let dir = if op & 2 == 0 {
                IoDirection::In
            } else {
                IoDirection::Out
            };
            let sz = if op & 1 == 0 { IoSize::Byte } else { size };
            Insn::Io(io(dir, sz, IoPort::Dx, false))
        }
        0x6C..=0x6F => {
            let dir = if op & 2 == 0 {
                IoDirection::In
            } else {
                IoDirection::Out
            };
            let sz = if op & 1 == 0 { IoSize::Byte } else { size };
            Insn::Io(io(dir, sz, IoPort::Dx, true))
        }
        other => return Err(DecodeError::Unsupported([other, 0, 0])),
    };
    Ok(Decoded { insn, len: i })
}

/// Registers [`handle_vc`] reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    /// RAX.
    Rax,
    /// RBX.
    Rbx,
    /// RCX.
    Rcx,
    /// RDX.
    Rdx,
    /// RSI.
    Rsi,
    /// RDI.
    Rdi,
    /// RIP (points at the faulting instruction on entry).
    Rip,
    /// RFLAGS (DF, bit 10, gives the string direction).
    Rflags,
}

/// The interrupted CPU state as the #VC handler sees it. The kernel implements this over its
/// trap frame; tests implement it over a fake.
pub trait VcCpu: InsnBytes {
    /// Reads a register of the interrupted context.
    fn reg(&self, reg: Reg) -> u64;
    /// Writes a register of the interrupted context.
    fn set_reg(&mut self, reg: Reg, value: u64);
    /// Reads guest memory at `seg:addr`. The implementation applies the segment base (in
    /// 64-bit mode only FS and GS have one) and must fail rather than fault on unmapped or
    /// non-canonical addresses.
    fn read_mem(&mut self, seg: Segment, addr: u64, buf: &mut [u8]) -> Result<(), MemFault>;
    /// Writes guest memory at `seg:addr`.
    fn write_mem(&mut self, seg: Segment, addr: u64, data: &[u8]) -> Result<(), MemFault>;
    /// CR4.OSXSAVE/PKE, XCR0 and XSS in force (for CPUID from the CPUID page).
    fn cpuid_context(&self) -> CpuidContext;
}

/// Policy switches for #VC handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcPolicy {
    /// Secure TSC is active: RDTSC(P) and GUEST_TSC_FREQ must not trap; a #VC for them means
    /// the hypervisor is misbehaving.
    pub secure_tsc: bool,
}

/// Why a #VC could not be handled (the kernel terminates with
/// [`crate::sev_status::elastic::VC_UNHANDLED`] or the GHCB error's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcError {
    /// The instruction could not be decoded or is not supported.
    Decode(DecodeError),
    /// The #VC error code is not one Elastic handles (e.g. 0x404 page not validated).
    UnsupportedExitCode(u64),
    /// The #VC error code does not match the decoded instruction.
    ExitCodeMismatch {
        /// #VC error code.
        exit_code: u64,
        /// Decoded instruction.
        insn: Insn,
    },
    /// The exit needs the GHCB but none is set up yet.
    NoGhcb,
    /// The GHCB exchange failed.
    Ghcb(GhcbError),
    /// The CPUID page cannot answer (leaf 0xD size not computable).
    Cpuid(CpuidError),
    /// Reading or writing the memory operand of INS/OUTS failed.
    Mem(MemFault),
    /// A #VC for something Secure TSC makes untrappable (hypervisor misbehaving).
    SecureTscViolation,
}

impl From<GhcbError> for VcError {
    fn from(e: GhcbError) -> Self {
        Self::Ghcb(e)
    }
}

impl VcError {
    /// Termination reason for this failure.
    pub fn termination_reason(&self) -> crate::sev_status::TerminationReason {
        match self {
            Self::Ghcb(e) => e.termination_reason(),
            Self::Cpuid(_) => crate::sev_status::set1::CPUID,
            _ => crate::sev_status::elastic::VC_UNHANDLED,
        }
    }
}

/// Writes `value` into `reg` the way an x86-64 write of `size` does: 8/16-bit writes keep the
/// upper bits, 32-bit writes zero-extend.
fn write_sized<C: VcCpu + ?Sized>(cpu: &mut C, reg: Reg, size: IoSize, value: u64) {
    let v = match size {
        IoSize::Dword => value & 0xFFFF_FFFF,
        IoSize::Byte | IoSize::Word => (cpu.reg(reg) & !size.mask()) | (value & size.mask()),
    };
    cpu.set_reg(reg, v);
}

/// Updates an address-size register (RSI/RDI/RCX) to `new` the way the CPU does.
fn write_addr_reg<C: VcCpu + ?Sized>(cpu: &mut C, reg: Reg, a: AddrSize, new: u64) {
    let old = cpu.reg(reg);
    let v = match a {
        AddrSize::A64 => new,
        AddrSize::A32 => new & 0xFFFF_FFFF,
        AddrSize::A16 => (old & !0xFFFF) | (new & 0xFFFF),
    };
    cpu.set_reg(reg, v);
}

fn advance_rip<C: VcCpu + ?Sized>(cpu: &mut C, len: usize) {
    let rip = cpu.reg(Reg::Rip);
    cpu.set_reg(Reg::Rip, rip.wrapping_add(len as u64));
}

fn expected_exit(insn: &Insn) -> u64 {
    match insn {
        Insn::Cpuid => exit_code::CPUID,
        Insn::Rdmsr | Insn::Wrmsr => exit_code::MSR,
        Insn::Rdtsc => exit_code::RDTSC,
        Insn::Rdtscp => exit_code::RDTSCP,
        Insn::Io(_) => exit_code::IOIO,
    }
}

/// Handles a #VC with error code `exit_code` for the interrupted context `cpu`.
///
/// CPUID is answered from `cpuid` (the SNP CPUID page) and works without a GHCB (pass
/// `ghcb: None` before the GHCB is registered). Port I/O, MSR access and RDTSC(P) are
/// forwarded through `ghcb`. On success registers are updated and RIP advanced past the
/// instruction; on error nothing is advanced and the kernel must terminate.
pub fn handle_vc<C, V>(
    exit_code: u64,
    cpu: &mut C,
    ghcb: Option<&mut GhcbSession<'_, V>>,
    cpuid: &CpuidTable,
    policy: &VcPolicy,
) -> Result<Decoded, VcError>
where
    C: VcCpu + ?Sized,
    V: Vmgexit,
{
    match exit_code {
        exit_code::CPUID
        | exit_code::IOIO
        | exit_code::MSR
        | exit_code::RDTSC
        | exit_code::RDTSCP => {}
        other => return Err(VcError::UnsupportedExitCode(other)),
    }
    let decoded = decode(cpu).map_err(VcError::Decode)?;
    if expected_exit(&decoded.insn) != exit_code {
        return Err(VcError::ExitCodeMismatch {
            exit_code,
            insn: decoded.insn,
        });
    }
    if decoded.insn == Insn::Cpuid {
        let leaf = cpu.reg(Reg::Rax) as u32;
        let subleaf = cpu.reg(Reg::Rcx) as u32;
        let r = cpuid
            .lookup(leaf, subleaf, &cpu.cpuid_context())
            .map_err(VcError::Cpuid)?;
        cpu.set_reg(Reg::Rax, u64::from(r.eax));
        cpu.set_reg(Reg::Rbx, u64::from(r.ebx));
        cpu.set_reg(Reg::Rcx, u64::from(r.ecx));
        cpu.set_reg(Reg::Rdx, u64::from(r.edx));
        advance_rip(cpu, decoded.len);
        return Ok(decoded);
    }
    let ghcb = ghcb.ok_or(VcError::NoGhcb)?;
    match decoded.insn {
        Insn::Cpuid => {}
        Insn::Rdmsr => {
            let msr = cpu.reg(Reg::Rcx) as u32;
            if policy.secure_tsc && msr == MSR_GUEST_TSC_FREQ {
                return Err(VcError::SecureTscViolation);
            }
            let v = ghcb.rdmsr(msr)?;
            cpu.set_reg(Reg::Rax, v & 0xFFFF_FFFF);
            cpu.set_reg(Reg::Rdx, v >> 32);
        }
        Insn::Wrmsr => {
            let msr = cpu.reg(Reg::Rcx) as u32;
            if policy.secure_tsc && msr == MSR_GUEST_TSC_FREQ {
                return Err(VcError::SecureTscViolation);
            }
            let v = (cpu.reg(Reg::Rdx) << 32) | (cpu.reg(Reg::Rax) & 0xFFFF_FFFF);
            ghcb.wrmsr(msr, v)?;
        }
        Insn::Rdtsc => {
            if policy.secure_tsc {
                return Err(VcError::SecureTscViolation);
            }
            let t = ghcb.rdtsc()?;
            cpu.set_reg(Reg::Rax, t & 0xFFFF_FFFF);
            cpu.set_reg(Reg::Rdx, t >> 32);
        }
        Insn::Rdtscp => {
            if policy.secure_tsc {
                return Err(VcError::SecureTscViolation);
            }
            let (t, aux) = ghcb.rdtscp()?;
            cpu.set_reg(Reg::Rax, t & 0xFFFF_FFFF);
            cpu.set_reg(Reg::Rdx, t >> 32);
            cpu.set_reg(Reg::Rcx, u64::from(aux));
        }
        Insn::Io(io) => handle_io(cpu, ghcb, &io)?,
    }
    advance_rip(cpu, decoded.len);
    Ok(decoded)
}

fn handle_io<C, V>(cpu: &mut C, ghcb: &mut GhcbSession<'_, V>, io: &IoInsn) -> Result<(), VcError>
where
    C: VcCpu + ?Sized,
    V: Vmgexit,
{
    let port = match io.port {
        IoPort::Imm(p) => u16::from(p),
        IoPort::Dx => cpu.reg(Reg::Rdx) as u16,
    };
    if !io.string {
        match io.direction {
            IoDirection::Out => {
                let v = (cpu.reg(Reg::Rax) & io.size.mask()) as u32;
                ghcb.io_out(port, io.size, v)?;
            }
            IoDirection::In => {
                let v = ghcb.io_in(port, io.size)?;
                write_sized(cpu, Reg::Rax, io.size, u64::from(v));
            }
        }
        return Ok(());
    }
    let amask = io.addr_size.mask();
    let elem = io.size.bytes();
    let mut remaining = if io.rep { cpu.reg(Reg::Rcx) & amask } else { 1 };
    let backwards = cpu.reg(Reg::Rflags) & (1 << 10) != 0;
    let (ptr_reg, seg) = match io.direction {
        IoDirection::Out => (Reg::Rsi, io.segment),
        IoDirection::In => (Reg::Rdi, Segment::Es),
    };
    let max_chunk = (crate::ghcb::SHARED_BUFFER_SIZE / elem) as u64;
    let desc = IoioDescriptor {
        direction: io.direction,
        string: true,
        rep: io.rep,
        size: io.size,
        addr_size: io.addr_size,
        segment: seg,
        port,
    };
    let mut buf = [0u8; crate::ghcb::SHARED_BUFFER_SIZE];
    while remaining > 0 {
        let chunk = remaining.min(max_chunk) as usize;
        let len = chunk * elem;
        let mut ptr = cpu.reg(ptr_reg) & amask;
        let step = |p: u64| {
            if backwards {
                p.wrapping_sub(elem as u64) & amask
            } else {
                p.wrapping_add(elem as u64) & amask
            }
        };
        if io.direction == IoDirection::Out {
            for slot in buf
                .get_mut(..len)
                .ok_or(GhcbError::BadStringIo)?
                .chunks_exact_mut(elem)
            {
                cpu.read_mem(seg, ptr, slot).map_err(VcError::Mem)?;
                ptr = step(ptr);
            }
            ghcb.io_string(
                &desc,
                chunk,
                buf.get_mut(..len).ok_or(GhcbError::BadStringIo)?,
            )?;
        } else {
            let data = buf.get_mut(..len).ok_or(GhcbError::BadStringIo)?;
            ghcb.io_string(&desc, chunk, data)?;
            for slot in data.chunks_exact(elem) {
                cpu.write_mem(seg, ptr, slot).map_err(VcError::Mem)?;
                ptr = step(ptr);
            }
        }
        write_addr_reg(cpu, ptr_reg, io.addr_size, ptr);
        remaining -= chunk as u64;
        if io.rep {
            write_addr_reg(cpu, Reg::Rcx, io.addr_size, remaining);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let mut b = bytes;
        decode(&mut b)
    }

    fn io_of(d: Decoded) -> IoInsn {
        match d.insn {
            Insn::Io(io) => io,
            other => panic!("not I/O: {other:?}"),
        }
    }

    #[test]
    fn two_byte_opcodes() {
        assert_eq!(
            dec(&[0x0F, 0xA2]).unwrap(),
            Decoded {
                insn: Insn::Cpuid,
                len: 2
            }
        );
        assert_eq!(dec(&[0x0F, 0x32]).unwrap().insn, Insn::Rdmsr);
        assert_eq!(dec(&[0x0F, 0x30]).unwrap().insn, Insn::Wrmsr);
        assert_eq!(dec(&[0x0F, 0x31]).unwrap().insn, Insn::Rdtsc);
        assert_eq!(
            dec(&[0x0F, 0x01, 0xF9]).unwrap(),
            Decoded {
                insn: Insn::Rdtscp,
                len: 3
            }
        );
        // prefixes count toward the length
        assert_eq!(dec(&[0x66, 0x48, 0x0F, 0xA2]).unwrap().len, 4);
    }

    #[test]
    fn in_out_immediate_and_dx() {
        let d = dec(&[0xE4, 0x71]).unwrap();
        assert_eq!(d.len, 2);
        let io = io_of(d);
        assert_eq!(
            (io.direction, io.size, io.port, io.string),
            (IoDirection::In, IoSize::Byte, IoPort::Imm(0x71), false)
        );
        let io = io_of(dec(&[0xE5, 0x40]).unwrap());
        assert_eq!(io.size, IoSize::Dword);
        let io = io_of(dec(&[0x66, 0xE5, 0x40]).unwrap());
        assert_eq!(io.size, IoSize::Word);
        let io = io_of(dec(&[0xE6, 0x80]).unwrap());
        assert_eq!((io.direction, io.size), (IoDirection::Out, IoSize::Byte));
        let io = io_of(dec(&[0xE7, 0x80]).unwrap());
        assert_eq!((io.direction, io.size), (IoDirection::Out, IoSize::Dword));
        for (op, dir, size) in [
            (0xEC, IoDirection::In, IoSize::Byte),
            (0xED, IoDirection::In, IoSize::Dword),
            (0xEE, IoDirection::Out, IoSize::Byte),
            (0xEF, IoDirection::Out, IoSize::Dword),
        ] {
            let d = dec(&[op]).unwrap();
            assert_eq!(d.len, 1);
            let io = io_of(d);
            assert_eq!((io.direction, io.size, io.port), (dir, size, IoPort::Dx));
        }
        let d = dec(&[0x66, 0xEF]).unwrap();
        assert_eq!((d.len, io_of(d).size), (2, IoSize::Word));
    }

    #[test]
    fn string_forms_with_prefixes() {
        let d = dec(&[0xF3, 0x6E]).unwrap();
        assert_eq!(d.len, 2);
        let io = io_of(d);
        assert!(io.string && io.rep);
        assert_eq!(
            (io.direction, io.size, io.segment),
            (IoDirection::Out, IoSize::Byte, Segment::Ds)
        );
        // segment override applies to OUTS
        let io = io_of(dec(&[0x65, 0xF3, 0x6F]).unwrap());
        assert_eq!((io.segment, io.size), (Segment::Gs, IoSize::Dword));
        // INS always uses ES, override ignored
        let io = io_of(dec(&[0x64, 0x6C]).unwrap());
        assert_eq!(
            (io.segment, io.rep, io.direction),
            (Segment::Es, false, IoDirection::In)
        );
        // 0x67 => 32-bit addressing, 0x66 => word
        let d = dec(&[0x67, 0x66, 0xF3, 0x6D]).unwrap();
        assert_eq!(d.len, 4);
        let io = io_of(d);
        assert_eq!((io.addr_size, io.size), (AddrSize::A32, IoSize::Word));
        // REP on a non-string instruction is ignored
        assert!(!io_of(dec(&[0xF3, 0xEC]).unwrap()).rep);
    }

    #[test]
    fn rejects_unknown_lock_and_long() {
        assert_eq!(dec(&[0x90]), Err(DecodeError::Unsupported([0x90, 0, 0])));
        assert_eq!(
            dec(&[0x0F, 0x05]),
            Err(DecodeError::Unsupported([0x0F, 0x05, 0]))
        );
        assert_eq!(
            dec(&[0x0F, 0x01, 0xD9]),
            Err(DecodeError::Unsupported([0x0F, 0x01, 0xD9]))
        );
        assert_eq!(dec(&[0xF0, 0xEC]), Err(DecodeError::Lock));
        assert_eq!(dec(&[0x66; 20]), Err(DecodeError::TooLong));
        // 14 prefixes + 1-byte opcode = 15 bytes is fine
        let mut v = vec![0x66u8; 14];
        v.push(0xED);
        assert_eq!(dec(&v).unwrap().len, 15);
        // truncated fetch
        assert_eq!(dec(&[0xE4]), Err(DecodeError::Fetch(MemFault { addr: 1 })));
        assert_eq!(dec(&[]), Err(DecodeError::Fetch(MemFault { addr: 0 })));
    }

    /// Hostile instruction bytes never panic and never yield a length above 15.
    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut bytes = [0u8; 16];
            for b in bytes.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Bias toward prefixes and the interesting opcodes.
                const POOL: [u8; 16] = [
                    0x66, 0x67, 0xF3, 0xF2, 0x65, 0x48, 0x0F, 0xA2, 0x01, 0xF9, 0xE4, 0xED, 0x6E,
                    0x6D, 0x32, 0x90,
                ];
                *b = if x & 1 == 0 {
                    POOL[(x >> 8) as usize % 16]
                } else {
                    (x >> 16) as u8
                };
            }
            let len = (x >> 40) as usize % 17;
            if let Ok(d) = dec(&bytes[..len]) {
                assert!(d.len <= MAX_INSN_LEN && d.len <= len);
                accepted += 1;
            }
        }
        assert!(accepted > 1000, "only {accepted} decoded");
    }
}
