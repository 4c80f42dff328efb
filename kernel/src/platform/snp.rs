//! SEV-SNP hardware access: VMGEXIT, PVALIDATE, the GHCB page, C-bit changes in the boot
//! page tables, the #VC handler (vector 29) and the termination request.
//!
//! The sequence and every check live in `elastic_snp::bring_up` (host-tested against the
//! simulated hypervisor); this module only supplies the instructions. Nothing here runs on a
//! plain VM: [`init`] returns `None` unless boot/reset.s found SNP active (SEV_STATUS), and
//! then every failure ends in a GHCB termination request with a specific reason code
//! (docs/snp.md lists them), never in using unvalidated memory.

use super::{cpu, layout};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};
use elastic_core::memory_map::{self, Range};
use elastic_snp::bring_up::{self, BringUpError, PageOps, Pvalidated};
use elastic_snp::cpuid_page::{CpuidContext, CpuidTable};
use elastic_snp::ghcb::GhcbPage;
use elastic_snp::ghcb_session::{GhcbSession, GuestRequestOutcome, Vmgexit};
use elastic_snp::guest_msg::TransportError;
use elastic_snp::ioio::Segment;
use elastic_snp::psc::PageSize;
use elastic_snp::sev_status::{
    ImplementedFeatures, MSR_GUEST_TSC_FREQ, SevStatus, TerminationReason, elastic, set1,
};
use elastic_snp::vc::{self, InsnBytes, MemFault, Reg, VcCpu, VcPolicy};
use spin::{Mutex, Once};

use super::interrupts::TrapFrame;

/// The GHCB MSR.
const MSR_GHCB: u32 = 0xC001_0130;

/// The hypervisor-communication session (the GHCB page), once registered.
static GHCB: Mutex<Option<GhcbSession<'static, HwVmgexit>>> = Mutex::new(None);
/// The PSP-validated CPUID page, parsed.
static CPUID: Once<CpuidTable> = Once::new();
/// SNP is active (set once the launch checks passed).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Secure TSC is active (RDTSC is not intercepted; a #VC for it is an attack).
static SECURE_TSC: AtomicBool = AtomicBool::new(false);
/// Accepted RAM the #VC handler may read or write for string I/O (plus the launch memory).
static ACCEPTED: Mutex<[Range; 16]> = Mutex::new([Range { start: 0, end: 0 }; 16]);

/// What the SNP bring-up established (for the boot log).
#[derive(Debug, Clone, Copy)]
pub struct SnpInfo {
    /// SEV_STATUS.
    pub status: SevStatus,
    /// Negotiated GHCB protocol version.
    pub protocol: u16,
    /// Hypervisor feature bitmap.
    pub hv_features: u64,
    /// C-bit position.
    pub cbit: u8,
}

/// VMGEXIT (`rep vmmcall`).
#[inline]
fn vmgexit() {
    // SAFETY: VMGEXIT hands control to the hypervisor, which may read and write the shared
    // GHCB page (hence no `nomem`: the compiler must assume memory changed) and resumes after
    // the instruction with all registers preserved.
    unsafe {
        asm!(
            ".byte 0xF3, 0x0F, 0x01, 0xD9",
            options(nostack, preserves_flags)
        )
    }
}

/// The real VMGEXIT path: the GHCB MSR and the instruction, with interrupts off.
pub struct HwVmgexit;

impl Vmgexit for HwVmgexit {
    fn msr_exit(&mut self, request: u64) -> u64 {
        x86_64::instructions::interrupts::without_interrupts(|| {
            // MSR-protocol requests clobber the GHCB MSR; put the registered GPA back.
            let saved = cpu::rdmsr(MSR_GHCB);
            cpu::wrmsr(MSR_GHCB, request);
            vmgexit();
            let response = cpu::rdmsr(MSR_GHCB);
            cpu::wrmsr(MSR_GHCB, saved);
            response
        })
    }

    fn ghcb_exit(&mut self, ghcb: &mut GhcbPage, ghcb_gpa: u64) {
        let page: *mut GhcbPage = ghcb;
        x86_64::instructions::interrupts::without_interrupts(|| {
            cpu::wrmsr(MSR_GHCB, ghcb_gpa);
            // SAFETY: as `vmgexit`; the page pointer is an operand so the compiler treats the
            // page as read and written by the exit.
            unsafe {
                asm!(".byte 0xF3, 0x0F, 0x01, 0xD9", in("rdi") page, options(nostack, preserves_flags))
            }
        })
    }
}

/// PVALIDATE the page at virtual address `va`.
fn pvalidate(va: u64, size: PageSize, validate: bool) -> Pvalidated {
    let size_flag: u32 = match size {
        PageSize::Size4K => 0,
        PageSize::Size2M => 1,
    };
    let rax: u64;
    let cf: u8;
    // SAFETY: PVALIDATE changes only the RMP validated bit of the page at `va`, which the
    // caller maps with the C-bit set and does not use until the sequence completes; it
    // returns the status in EAX and CF.
    unsafe {
        asm!(
            ".byte 0xF2, 0x0F, 0x01, 0xFF",
            "setc {cf}",
            inout("rax") va => rax,
            in("ecx") size_flag,
            in("edx") u32::from(validate),
            cf = out(reg_byte) cf,
            options(nostack)
        )
    }
    match rax as u32 {
        0 => Pvalidated::Done { unchanged: cf != 0 },
        code => Pvalidated::Failed(code),
    }
}

unsafe extern "C" {
    /// The boot page table for 8..10 MiB (boot/reset.s, boot/layout.ld).
    static mut boot_pt_snp: [u64; 512];
}

/// The C-bit in a page-table entry.
const CBIT: u64 = 1 << bring_up::EXPECTED_CBIT;
/// The 2 MiB region boot_pt_snp maps.
const BOOT_PT_BASE: u64 = 0x80_0000;

/// Page operations on identity-mapped memory, during boot (C-bit changes go to
/// `boot_pt_snp`) and after (validation only).
struct KernelPages;

impl PageOps for KernelPages {
    fn pvalidate(&mut self, gpa: u64, size: PageSize, validate: bool) -> Pvalidated {
        pvalidate(gpa, size, validate)
    }

    fn set_encrypted(&mut self, gpa: u64, encrypted: bool) {
        let index = gpa.wrapping_sub(BOOT_PT_BASE) >> 12;
        if index >= 512 {
            terminate(elastic::BAD_MEMORY_MAP);
        }
        // SAFETY: boot_pt_snp is the live page table of 8..10 MiB; only this function
        // changes it, on the boot CPU, with the index checked above. The TLB entry is
        // flushed before the page is used.
        unsafe {
            let entry = core::ptr::addr_of_mut!(boot_pt_snp)
                .cast::<u64>()
                .add(index as usize);
            let value = entry.read_volatile();
            entry.write_volatile(if encrypted {
                value | CBIT
            } else {
                value & !CBIT
            });
        }
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(gpa));
    }

    fn evict(&mut self, gpa: u64, len: u64) {
        let mut page = gpa;
        while page < gpa + len {
            // SAFETY: the range was just validated and is identity-mapped private memory;
            // reading a byte has no effect but filling the cache line with current data.
            unsafe {
                core::ptr::read_volatile(page as *const u8);
                core::ptr::read_volatile((page + 4095) as *const u8);
            }
            page += 4096;
        }
    }
}

/// Ends the run with a GHCB termination request (MSR protocol 0x100) and halts.
pub fn terminate(reason: TerminationReason) -> ! {
    HwVmgexit.msr_exit(reason.msr_value());
    cpu::halt_forever()
}

/// True once the SNP bring-up succeeded.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// True when boot/reset.s found SEV active (the #VC handler then serves #VC, even before
/// [`init`] finished: CPUID from the CPUID page needs no GHCB).
pub fn active_or_starting() -> bool {
    layout::boot_sev_status() != 0
}

/// True when Secure TSC is active.
pub fn secure_tsc() -> bool {
    SECURE_TSC.load(Ordering::Relaxed)
}

fn fail(e: BringUpError) -> ! {
    terminate(e.termination_reason())
}

/// Brings up SEV-SNP when boot/reset.s found it active: launch checks, GHCB, shared
/// guest-request pages. Returns `None` on a VM without SEV. Runs before the console (which
/// needs the GHCB under SNP), right after the IDT is loaded.
pub fn init() -> Option<SnpInfo> {
    let raw = layout::boot_sev_status();
    if raw == 0 {
        return None;
    }
    let status = SevStatus(raw);
    // SAFETY: the CPUID page is launch memory at a fixed address (boot/reset.s metadata),
    // validated by the PSP and identity-mapped private by the boot page tables; nothing
    // writes it.
    let page = unsafe { &*(layout::SNP_CPUID as *const [u8; 4096]) };
    let table = match CpuidTable::parse(page) {
        Ok(t) => CPUID.call_once(|| t),
        Err(_) => terminate(set1::CPUID),
    };
    let facts = bring_up::check_launch(status, table, ImplementedFeatures::ELASTIC)
        .unwrap_or_else(|e| fail(e));
    let ghcb = bring_up::establish_ghcb(&mut HwVmgexit, &mut KernelPages, layout::SNP_GHCB)
        .unwrap_or_else(|e| fail(e));
    // SAFETY: the GHCB page is now shared, mapped with the C-bit clear at its identity
    // address, and owned by this session for the rest of the run.
    let page = unsafe { &mut *(layout::SNP_GHCB as *mut GhcbPage) };
    let mut session = GhcbSession::new(HwVmgexit, page, layout::SNP_GHCB)
        .unwrap_or_else(|e| fail(BringUpError::Ghcb(e)));
    bring_up::share_pages(
        &mut session,
        &mut KernelPages,
        layout::SNP_REQUEST,
        layout::SNP_CERTS.end,
    )
    .unwrap_or_else(|e| fail(e));
    *GHCB.lock() = Some(session);
    record_accepted(layout::SNP_SEC_MEM);
    SECURE_TSC.store(status.secure_tsc(), Ordering::Relaxed);
    ACTIVE.store(true, Ordering::Relaxed);
    Some(SnpInfo {
        status,
        protocol: ghcb.protocol,
        hv_features: ghcb.hv_features,
        cbit: facts.cbit,
    })
}

fn record_accepted(r: Range) {
    let mut list = ACCEPTED.lock();
    if let Some(slot) = list.iter_mut().find(|s| s.start == s.end) {
        *slot = r;
    }
}

/// Accepts RAM the kernel is about to use (heap), skipping the pre-validated launch memory:
/// page-state change to private and PVALIDATE (see `bring_up::accept_ram`). Returns the
/// bytes accepted; terminates on any failure.
pub fn accept(r: Range) -> u64 {
    let prevalidated = [layout::SNP_SEC_MEM, layout::SNP_LAUNCH_PAGES];
    let mut total = 0;
    let mut guard = GHCB.lock();
    let Some(session) = guard.as_mut() else {
        terminate(elastic::VC_UNHANDLED)
    };
    memory_map::subtract(r, &prevalidated, &mut |part| {
        // A failure terminates (without the lock: the MSR protocol needs no GHCB).
        if let Err(e) = bring_up::accept_ram(session, &mut KernelPages, part.start, part.end) {
            fail(e)
        }
        total += part.len();
    });
    drop(guard);
    record_accepted(r);
    total
}

/// The shared pages the final page tables must map with the C-bit clear.
pub fn shared_ranges() -> [Range; 1] {
    [Range {
        start: layout::SNP_GHCB,
        end: layout::SNP_CERTS.end,
    }]
}

/// The C-bit mask for private leaf entries (0 without SNP).
pub fn cbit_mask() -> u64 {
    if active() { CBIT } else { 0 }
}

/// GUEST_TSC_FREQ (MSR 0xC001_0134) in MHz, readable only with Secure TSC.
pub fn guest_tsc_mhz() -> Option<u64> {
    if !secure_tsc() {
        return None;
    }
    // With Secure TSC this MSR is not intercepted (the hardware answers).
    Some(cpu::rdmsr(MSR_GUEST_TSC_FREQ) & 0xFFFF_FFFF)
}

/// The secrets page (launch memory, 4096 bytes).
pub fn secrets_page() -> Option<&'static [u8; 4096]> {
    if !active() {
        return None;
    }
    // SAFETY: the secrets page is launch memory at a fixed address, filled and validated by
    // the PSP, identity-mapped private, and never written by the kernel.
    Some(unsafe { &*(layout::SNP_SECRETS as *const [u8; 4096]) })
}

/// One guest request through the GHCB (AMD 56421 section 4.1.8): copies the encrypted
/// request into the shared request page, performs the exit (extended, with the shared
/// certificate buffer, when `certs` is given), and copies the response (and certificates)
/// back into private memory for the caller to check and decrypt.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn guest_request(
    request: &[u8; 4096],
    response: &mut [u8; 4096],
    certs: Option<&mut [u8]>,
) -> Result<(), TransportError> {
    let mut guard = GHCB.try_lock().ok_or(TransportError::Other(0))?;
    let session = guard.as_mut().ok_or(TransportError::Other(0))?;
    let shared_request = layout::SNP_REQUEST as *mut [u8; 4096];
    let shared_response = layout::SNP_RESPONSE as *const [u8; 4096];
    let certs_len = (layout::SNP_CERTS.end - layout::SNP_CERTS.start) as usize;
    // SAFETY: the request page is shared (C-bit clear), never heap, and only used here under
    // the GHCB lock.
    unsafe { shared_request.write_volatile(*request) };
    let outcome = match certs {
        None => session.guest_request(layout::SNP_REQUEST, layout::SNP_RESPONSE),
        Some(ref buf) => {
            let pages = (buf.len().min(certs_len) / 4096) as u64;
            // SAFETY: the certificate buffer is shared memory reserved for this use.
            unsafe {
                core::ptr::write_bytes(layout::SNP_CERTS.start as *mut u8, 0, certs_len);
            }
            session.ext_guest_request(
                layout::SNP_REQUEST,
                layout::SNP_RESPONSE,
                layout::SNP_CERTS.start,
                pages,
            )
        }
    }
    .map_err(|e| TransportError::Other(u64::from(e.termination_reason().code)))?;
    match outcome {
        GuestRequestOutcome::Completed { psp_status: 0 } => {
            // SAFETY: as above; the response is copied out before it is looked at.
            *response = unsafe { shared_response.read_volatile() };
            if let Some(buf) = certs {
                let n = buf.len().min(certs_len);
                for (i, b) in buf.iter_mut().take(n).enumerate() {
                    // SAFETY: `i` < the certificate buffer's length.
                    *b = unsafe {
                        core::ptr::read_volatile((layout::SNP_CERTS.start as *const u8).add(i))
                    };
                }
            }
            Ok(())
        }
        GuestRequestOutcome::Completed { psp_status } => Err(TransportError::PspStatus(psp_status)),
        GuestRequestOutcome::Busy => Err(TransportError::Busy),
        GuestRequestOutcome::InvalidLength { pages_needed } => {
            Err(TransportError::InvalidLen { pages_needed })
        }
    }
}

// ----- #VC -----

/// The interrupted context as `elastic_snp::vc` sees it.
struct FrameCpu<'a>(&'a mut TrapFrame);

fn in_ranges(addr: u64, len: u64) -> bool {
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    let Some(list) = ACCEPTED.try_lock() else {
        return false;
    };
    list.iter()
        .any(|r| r.start <= addr && end <= r.end && r.start < r.end)
}

impl InsnBytes for FrameCpu<'_> {
    fn insn_byte(&mut self, index: usize) -> Result<u8, MemFault> {
        let addr = self.0.rip.wrapping_add(index as u64);
        let text = layout::text();
        let (lo, hi) = (
            layout::HIGH_OFFSET.wrapping_add(text.start),
            layout::HIGH_OFFSET.wrapping_add(text.end),
        );
        if addr < lo || addr >= hi {
            return Err(MemFault { addr });
        }
        // SAFETY: `addr` lies in the kernel's code, mapped for the whole run.
        Ok(unsafe { core::ptr::read_volatile(addr as *const u8) })
    }
}

impl VcCpu for FrameCpu<'_> {
    fn reg(&self, reg: Reg) -> u64 {
        let f = &*self.0;
        match reg {
            Reg::Rax => f.rax,
            Reg::Rbx => f.rbx,
            Reg::Rcx => f.rcx,
            Reg::Rdx => f.rdx,
            Reg::Rsi => f.rsi,
            Reg::Rdi => f.rdi,
            Reg::Rip => f.rip,
            Reg::Rflags => f.rflags,
        }
    }

    fn set_reg(&mut self, reg: Reg, value: u64) {
        let f = &mut *self.0;
        match reg {
            Reg::Rax => f.rax = value,
            Reg::Rbx => f.rbx = value,
            Reg::Rcx => f.rcx = value,
            Reg::Rdx => f.rdx = value,
            Reg::Rsi => f.rsi = value,
            Reg::Rdi => f.rdi = value,
            Reg::Rip => f.rip = value,
            Reg::Rflags => f.rflags = value,
        }
    }

    fn read_mem(&mut self, seg: Segment, addr: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        if matches!(seg, Segment::Fs | Segment::Gs) || !in_ranges(addr, buf.len() as u64) {
            return Err(MemFault { addr });
        }
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: the range lies in accepted, identity-mapped RAM (checked above).
            *b = unsafe { core::ptr::read_volatile((addr + i as u64) as *const u8) };
        }
        Ok(())
    }

    fn write_mem(&mut self, seg: Segment, addr: u64, data: &[u8]) -> Result<(), MemFault> {
        if matches!(seg, Segment::Fs | Segment::Gs) || !in_ranges(addr, data.len() as u64) {
            return Err(MemFault { addr });
        }
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: as in `read_mem`; the interrupted code asked for exactly this write.
            unsafe { core::ptr::write_volatile((addr + i as u64) as *mut u8, b) };
        }
        Ok(())
    }

    fn cpuid_context(&self) -> CpuidContext {
        use x86_64::registers::control::{Cr4, Cr4Flags};
        let cr4 = Cr4::read();
        let osxsave = cr4.contains(Cr4Flags::OSXSAVE);
        CpuidContext {
            cr4_osxsave: osxsave,
            cr4_pke: cr4.contains(Cr4Flags::PROTECTION_KEY_USER),
            xcr0: if osxsave {
                x86_64::registers::xcontrol::XCr0::read_raw()
            } else {
                1
            },
            xss: 0,
        }
    }
}

/// Handles a #VC (vector 29) for the interrupted context: CPUID from the CPUID page, port
/// I/O, MSRs and RDTSC(P) through the GHCB. Never logs (logging is port I/O, which would
/// trap again); any failure terminates with the failure's reason code.
pub fn handle_vc(frame: &mut TrapFrame) {
    let Some(table) = CPUID.get() else {
        terminate(elastic::VC_UNHANDLED)
    };
    let exit_code = frame.error_code;
    let policy = VcPolicy {
        secure_tsc: secure_tsc(),
    };
    // A #VC while the session is in use (e.g. port I/O inside a GHCB exchange) cannot be
    // served: the GHCB would be overwritten.
    let Some(mut guard) = GHCB.try_lock() else {
        terminate(elastic::VC_UNHANDLED)
    };
    let result = vc::handle_vc(
        exit_code,
        &mut FrameCpu(frame),
        guard.as_mut(),
        table,
        &policy,
    );
    drop(guard);
    if let Err(e) = result {
        terminate(e.termination_reason())
    }
}

// ----- self-test (test image only) -----

#[cfg(feature = "selftest")]
core::arch::global_asm!(
    ".pushsection .text.vc_selftest, \"ax\"",
    ".global vc_selftest_cpuid",
    "vc_selftest_cpuid:",
    "cpuid",
    "ret",
    ".popsection",
);

#[cfg(feature = "selftest")]
unsafe extern "C" {
    /// A CPUID instruction in the kernel's code (the self-test points a #VC frame at it).
    fn vc_selftest_cpuid();
}

/// Self-test of the kernel's #VC path on a plain VM: a synthetic #VC frame (exit code CPUID)
/// pointing at a real CPUID instruction in kernel code, a synthetic CPUID page, no GHCB.
/// Checks the trap-frame adapter (instruction fetch from kernel text, register mapping, RIP
/// advance) and the CPUID-page answers, for a present leaf and an absent one in range.
#[cfg(feature = "selftest")]
pub fn selftest_vc_cpuid() -> Result<(), &'static str> {
    use elastic_snp::cpuid_page::{CpuidEntry, build_page};
    let entry = |eax_in, eax, ebx, ecx, edx| CpuidEntry {
        eax_in,
        eax,
        ebx,
        ecx,
        edx,
        ..CpuidEntry::default()
    };
    let page = build_page(&[
        entry(0x8000_0000, 0x8000_001F, 0, 0, 0),
        entry(0x8000_001F, 0x1B, 51 | (1 << 6), 0x1234, 0x5678),
    ])
    .map_err(|_| "building the CPUID page failed")?;
    let table = CpuidTable::parse(&page).map_err(|_| "the CPUID page does not parse")?;
    if CPUID.get().is_some() {
        return Err("a CPUID page is already installed");
    }
    CPUID.call_once(|| table);
    let rip = vc_selftest_cpuid as *const () as u64;
    let frame = |leaf: u64| TrapFrame {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rbp: 0,
        rdi: 0,
        rsi: 0,
        rdx: 0xDEAD,
        rcx: 0,
        rbx: 0xDEAD,
        rax: leaf,
        vector: 29,
        error_code: 0x72,
        rip,
        cs: 0x08,
        rflags: 0x2,
        rsp: 0,
        ss: 0x10,
    };
    let mut f = frame(0x8000_001F);
    handle_vc(&mut f);
    if (f.rax, f.rbx, f.rcx, f.rdx) != (0x1B, 51 | (1 << 6), 0x1234, 0x5678) {
        return Err("CPUID 0x8000001F: wrong registers");
    }
    if f.rip != rip + 2 {
        return Err("RIP not advanced past CPUID");
    }
    // In range but absent: all zero (Linux's rule), never the hypervisor's answer.
    let mut f = frame(0x8000_0010);
    handle_vc(&mut f);
    if (f.rax, f.rbx, f.rcx, f.rdx) != (0, 0, 0, 0) || f.rip != rip + 2 {
        return Err("CPUID 0x80000010: expected zeros");
    }
    Ok(())
}
