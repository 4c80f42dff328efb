//! The memory intrinsics the compiler emits calls to (`memcpy`, `memmove`, `memset`, `memcmp`,
//! `bcmp`). The kernel is built for the `x86_64-unknown-linux-gnu` target used freestanding,
//! whose `compiler_builtins` expects a C library to provide them; there is none, so they are
//! defined here with the string instructions (fast on every CPU with ERMS, correct on all).

use core::arch::asm;

/// Copies `n` bytes from `src` to `dst` (non-overlapping).
///
/// # Safety
/// `src` must be valid for `n` reads and `dst` for `n` writes, and they must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges are valid; `rep movsb` copies forwards.
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
             options(nostack, preserves_flags))
    };
    dst
}

/// Copies `n` bytes from `src` to `dst`; the ranges may overlap.
///
/// # Safety
/// `src` must be valid for `n` reads and `dst` for `n` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // dst is below src or past its end: a forward copy never reads an overwritten byte.
        // SAFETY: the caller guarantees both ranges are valid.
        return unsafe { memcpy(dst, src, n) };
    }
    // Overlapping with dst above src: copy backwards with the direction flag set.
    // SAFETY: the caller guarantees both ranges are valid; DF is restored before returning.
    unsafe {
        asm!("std", "rep movsb", "cld",
             inout("rcx") n => _, inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
             options(nostack))
    };
    dst
}

/// Fills `n` bytes at `dst` with `c`.
///
/// # Safety
/// `dst` must be valid for `n` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range is valid.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8,
             options(nostack, preserves_flags))
    };
    dst
}

/// Compares `n` bytes.
///
/// # Safety
/// Both pointers must be valid for `n` reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: `i < n` and the caller guarantees `n` readable bytes behind each pointer.
        let (x, y) = unsafe { (a.add(i).read(), b.add(i).read()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// Compares `n` bytes for equality (0 when equal).
///
/// # Safety
/// Both pointers must be valid for `n` reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// Referenced by the landing pads of the prebuilt `alloc`/`core` (compiled with unwinding).
/// The kernel is built with `panic=abort`, so unwinding never starts and this is unreachable;
/// if it were ever reached, the run ends as a panic.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    super::exit(elastic_core::exit::ExitReason::Panic)
}
