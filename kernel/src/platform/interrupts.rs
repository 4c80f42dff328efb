//! Interrupt descriptor table, the assembly entry stubs and the Rust dispatcher.
//!
//! Every vector 0..64 has a stub that pushes a uniform frame (a dummy error code where the CPU
//! pushes none, then the vector number), saves all general registers and the FPU/SSE state
//! (`fxsave`, so handlers may use SSE without corrupting the interrupted code), and calls
//! [`trap_dispatch`]. All gates use IST stacks (see `gdt.rs`).
//!
//! Architectural exceptions (vectors 0..32) are fatal: the handler prints the vector, its name,
//! the error code, RIP and CR2 (with a diagnosis for guard pages, writes to code and execution
//! of data) and exits with the CPU-exception code. Vectors 32 and up are device interrupts,
//! handed to the registered handler.

use super::{cpu, gdt, stacks};
use core::sync::atomic::{AtomicUsize, Ordering};
use x86_64::VirtAddr;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;

/// Number of vectors with entry stubs.
pub const STUB_COUNT: usize = 64;

/// The register state saved by the entry stubs, in stack order.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    /// General-purpose registers, pushed by the stub.
    pub r15: u64,
    #[allow(missing_docs)]
    pub r14: u64,
    #[allow(missing_docs)]
    pub r13: u64,
    #[allow(missing_docs)]
    pub r12: u64,
    #[allow(missing_docs)]
    pub r11: u64,
    #[allow(missing_docs)]
    pub r10: u64,
    #[allow(missing_docs)]
    pub r9: u64,
    #[allow(missing_docs)]
    pub r8: u64,
    #[allow(missing_docs)]
    pub rbp: u64,
    #[allow(missing_docs)]
    pub rdi: u64,
    #[allow(missing_docs)]
    pub rsi: u64,
    #[allow(missing_docs)]
    pub rdx: u64,
    #[allow(missing_docs)]
    pub rcx: u64,
    #[allow(missing_docs)]
    pub rbx: u64,
    #[allow(missing_docs)]
    pub rax: u64,
    /// Vector number, pushed by the stub.
    pub vector: u64,
    /// Error code (pushed by the CPU, or 0).
    pub error_code: u64,
    /// Interrupted instruction pointer (pushed by the CPU).
    pub rip: u64,
    /// Interrupted code segment.
    pub cs: u64,
    /// Interrupted flags.
    pub rflags: u64,
    /// Interrupted stack pointer.
    pub rsp: u64,
    /// Interrupted stack segment.
    pub ss: u64,
}

core::arch::global_asm!(
    r#"
    .section .text.trap_entry, "ax"
    .code64
    .irp n, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
trap_stub_\n:
    pushq $0
    pushq $\n
    jmp trap_common
    .endr
    .irp n, 8,10,11,12,13,14,17,21,29,30
trap_stub_\n:
    pushq $\n
    jmp trap_common
    .endr
    .irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63
trap_stub_\n:
    pushq $0
    pushq $\n
    jmp trap_common
    .endr

trap_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    movq %rsp, %rbp
    subq $512, %rsp
    andq $-16, %rsp
    fxsave64 (%rsp)
    cld
    call trap_dispatch
    fxrstor64 (%rsp)
    movq %rbp, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

    .section .rodata.trap_stub_table, "a"
    .balign 8
    .global trap_stub_table
trap_stub_table:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63
    .quad trap_stub_\n
    .endr
    .text
"#,
    options(att_syntax)
);

unsafe extern "C" {
    /// Addresses of the 64 entry stubs, in vector order.
    static trap_stub_table: [u64; STUB_COUNT];
}

/// One 16-byte interrupt gate.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const MISSING: Gate = Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    type_attr: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
};

#[repr(C, align(4096))]
struct Idt([Gate; 256]);

static IDT: spin::Once<Idt> = spin::Once::new();

/// Builds and loads the IDT. Must run after `gdt::init` (the gates use its code selector 0x08).
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = Idt([MISSING; 256]);
        // SAFETY: `trap_stub_table` is an immutable table of addresses emitted above.
        let stubs = unsafe { &trap_stub_table };
        for (vector, &addr) in stubs.iter().enumerate() {
            let ist = match vector {
                8 => gdt::IST_DOUBLE_FAULT,
                2 => gdt::IST_NMI,
                18 => gdt::IST_MACHINE_CHECK,
                29 => gdt::IST_VC,
                _ => gdt::IST_DEFAULT,
            };
            let Some(gate) = idt.0.get_mut(vector) else {
                break;
            };
            *gate = Gate {
                offset_low: addr as u16,
                selector: 0x08,
                ist,
                type_attr: 0x8E, // present, DPL 0, 64-bit interrupt gate (IF cleared on entry)
                offset_mid: (addr >> 16) as u16,
                offset_high: (addr >> 32) as u32,
                reserved: 0,
            };
        }
        idt
    });
    let pointer = DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: VirtAddr::new(idt as *const Idt as u64),
    };
    // SAFETY: the IDT is a 'static, fully initialised table of valid gates.
    unsafe { lidt(&pointer) };
}

/// A device-interrupt handler (vector >= 32).
pub type IrqHandler = fn(vector: u8);

static IRQ_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Installs the handler for vectors 32..64 (the timer that wakes sleeping guests).
#[allow(dead_code)]
pub fn set_irq_handler(handler: IrqHandler) {
    IRQ_HANDLER.store(handler as usize, Ordering::Release);
}

/// Names of the architectural exceptions.
pub fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating point",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating point",
        20 => "#VE virtualization",
        21 => "#CP control protection",
        28 => "#HV hypervisor injection",
        29 => "#VC VMM communication",
        30 => "#SX security",
        _ => "reserved exception",
    }
}

/// Explains a page fault from its error code and address.
fn page_fault_diagnosis(error: u64, addr: u64) -> &'static str {
    if stacks::guard_owner(addr).is_some() {
        return "stack overflow (guard page)";
    }
    let present = error & 1 != 0;
    let write = error & 2 != 0;
    let fetch = error & 16 != 0;
    match (present, write, fetch) {
        (true, true, _) => "write to read-only memory (code or ROM)",
        (true, _, true) => "instruction fetch from non-executable memory",
        (false, _, _) if addr < 4096 => "null pointer dereference",
        (false, _, _) => "access to unmapped memory",
        _ => "protection violation",
    }
}

/// Entry from the assembly stubs.
#[unsafe(no_mangle)]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    if frame.vector >= 32 {
        let handler = IRQ_HANDLER.load(Ordering::Acquire);
        if handler != 0 {
            // SAFETY: only `set_irq_handler` stores non-zero values, and those are `IrqHandler`s.
            let handler: IrqHandler = unsafe { core::mem::transmute::<usize, IrqHandler>(handler) };
            handler(frame.vector as u8);
        }
        return;
    }
    if frame.vector == 29 && super::snp::active_or_starting() {
        // #VC under SEV-SNP: served (RIP advanced) or the run is terminated.
        super::snp::handle_vc(frame);
        return;
    }
    let cr2 = cpu::cr2();
    let console = super::console::emergency();
    use core::fmt::Write;
    let mut w = console;
    let _ = write!(
        w,
        "\nelastic: CPU exception {} (vector {}), error code {:#x}, RIP {:#018x}, RSP {:#018x}",
        exception_name(frame.vector),
        frame.vector,
        frame.error_code,
        frame.rip,
        frame.rsp
    );
    if frame.vector == 14 {
        let _ = write!(
            w,
            ", CR2 {cr2:#018x}: {}",
            page_fault_diagnosis(frame.error_code, cr2)
        );
        if let Some(owner) = stacks::guard_owner(cr2) {
            let _ = write!(w, " of the {owner}");
        }
    } else {
        let _ = write!(w, ", CR2 {cr2:#018x}");
    }
    let _ = writeln!(w);
    super::exit(elastic_core::exit::ExitReason::CpuException);
}
