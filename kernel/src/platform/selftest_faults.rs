//! Deliberate faults for the self-test image (feature `selftest`, never in production): each
//! function triggers one exception so the QEMU tests can check it is reported and ends the run.

use core::hint::black_box;

/// Reads from the (unmapped) null page.
pub fn page_fault() {
    // SAFETY: deliberately faulting; the handler never returns.
    let v = unsafe { core::ptr::read_volatile(black_box(0x10 as *const u64)) };
    black_box(v);
}

/// Divides by zero with the DIV instruction (Rust's `/` would panic instead).
pub fn divide_error() {
    // SAFETY: deliberately faulting with #DE; no memory is touched.
    unsafe {
        core::arch::asm!("xor ecx, ecx", "div ecx", out("eax") _, out("edx") _, out("ecx") _,
            options(nomem, nostack))
    };
}

/// Writes to the kernel's own code.
pub fn write_to_code() {
    let target = page_fault as *const () as *mut u8;
    // SAFETY: deliberately faulting: the code is mapped read-only.
    unsafe { core::ptr::write_volatile(black_box(target), 0xCC) };
}

static mut DATA_CODE: [u8; 16] = [0xC3; 16];

/// Jumps into writable data (a `ret` instruction in .data).
pub fn execute_data() {
    let target = core::ptr::addr_of_mut!(DATA_CODE) as *const ();
    // SAFETY: deliberately faulting: .data is mapped no-execute.
    let f: extern "C" fn() = unsafe { core::mem::transmute(black_box(target)) };
    f();
}

/// Recurses until the boot stack's guard page is hit.
#[allow(unconditional_recursion)]
pub fn stack_overflow(depth: u64) -> u64 {
    let mut frame = [0u8; 512];
    black_box(&mut frame);
    frame[0] = depth as u8;
    black_box(stack_overflow(black_box(depth + 1))) + u64::from(frame[0])
}
