//! The kernel's stacks, each preceded by a guard page that the final page tables leave
//! unmapped, so an overflow faults (#PF on the guard, handled on a separate IST stack) instead
//! of silently corrupting memory.

use core::cell::UnsafeCell;
use elastic_core::memory_map::Range;

/// Size of one page.
const PAGE: usize = 4096;

/// A stack of `N` bytes with a guard page below it. The memory is only ever touched by the CPU
/// (pushes, calls), never through Rust references, hence the `UnsafeCell`.
#[repr(C, align(4096))]
pub struct GuardedStack<const N: usize> {
    guard: UnsafeCell<[u8; PAGE]>,
    stack: UnsafeCell<[u8; N]>,
}

// SAFETY: Rust code never reads or writes the contents; only addresses are shared.
unsafe impl<const N: usize> Sync for GuardedStack<N> {}

impl<const N: usize> GuardedStack<N> {
    const fn new() -> Self {
        Self {
            guard: UnsafeCell::new([0; PAGE]),
            stack: UnsafeCell::new([0; N]),
        }
    }

    fn guard_start(&self) -> u64 {
        self.guard.get() as u64
    }

    fn top(&self) -> u64 {
        self.stack.get() as u64 + N as u64
    }
}

/// Main kernel stack size: wasmi keeps guest frames on its own heap-allocated stack, but module
/// validation and compilation recurse on this one.
pub const BOOT_STACK_SIZE: usize = 1 << 20;
/// Size of each interrupt stack.
pub const IST_STACK_SIZE: usize = 32 * 1024;
/// Number of interrupt stacks (double fault, NMI, machine check, everything else, #VC).
pub const IST_COUNT: usize = 5;

/// The stack `kernel_entry` runs on (boot/reset.s loads `__boot_stack_top`).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".bss.stacks")]
static BOOT_STACK: GuardedStack<BOOT_STACK_SIZE> = GuardedStack::new();

core::arch::global_asm!(
    ".global __boot_stack_top",
    ".set __boot_stack_top, BOOT_STACK + {size}",
    size = const PAGE + BOOT_STACK_SIZE,
);

#[unsafe(link_section = ".bss.stacks")]
static IST_STACKS: [GuardedStack<IST_STACK_SIZE>; IST_COUNT] =
    [const { GuardedStack::new() }; IST_COUNT];

/// Top (initial RSP) of interrupt stack `index` (0-based).
pub fn ist_top(index: usize) -> u64 {
    IST_STACKS.get(index).map_or(0, GuardedStack::top)
}

/// The guard pages of all stacks, as physical ranges (identity-mapped).
pub fn guard_pages() -> [Range; IST_COUNT + 1] {
    let guard = |start: u64| Range {
        start,
        end: start + PAGE as u64,
    };
    let mut out = [guard(BOOT_STACK.guard_start()); IST_COUNT + 1];
    for (slot, stack) in out[1..].iter_mut().zip(IST_STACKS.iter()) {
        *slot = guard(stack.guard_start());
    }
    out
}

/// Names the stack whose guard page contains `addr`, if any.
pub fn guard_owner(addr: u64) -> Option<&'static str> {
    let names = [
        "boot stack",
        "double-fault stack",
        "NMI stack",
        "machine-check stack",
        "interrupt stack",
        "#VC stack",
    ];
    guard_pages()
        .iter()
        .zip(names)
        .find(|(r, _)| r.start <= addr && addr < r.end)
        .map(|(_, n)| n)
}
