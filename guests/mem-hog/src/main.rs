//! `mem-hog`: grows linear memory with `memory.grow` in steps of argv[1] pages (default 16
//! pages = 1 MiB) until the runtime refuses, writing one byte into every new step to prove
//! the memory is usable, then prints how far it got and exits 0. A runtime that traps or
//! dies instead of failing `memory.grow` with -1 never prints the last line.
//! Without a limit wasmtime lets a 32-bit memory reach 65536 pages (4 GiB); run it with
//! `--max-memory` (reference runner) or the kernel's memory cap to exercise the failure.

use core::arch::wasm32::{memory_grow, memory_size};

const PAGE: usize = 65536;

fn main() {
    let step: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .filter(|s| *s > 0)
        .unwrap_or(16);
    let start = memory_size(0);
    println!("mem-hog: start {start} pages, step {step} pages");
    let mut grown = 0usize;
    loop {
        let old = memory_grow(0, step);
        if old == usize::MAX {
            break;
        }
        // Touch the first byte of the new region.
        let addr = old * PAGE;
        // SAFETY: memory.grow just made [addr, addr + step * PAGE) part of linear memory,
        // and nothing else in the program refers to it.
        unsafe { core::ptr::write_volatile(addr as *mut u8, 0xA5) };
        grown += step;
        if grown.is_multiple_of(64 * step) {
            println!("mem-hog: grew {grown} pages so far");
        }
    }
    let end = memory_size(0);
    println!(
        "mem-hog: memory.grow failed after growing {grown} pages; size {end} pages ({} MiB)",
        end * PAGE / (1 << 20)
    );
}
