//! The Elastic firmware image.
//!
//! Boots from the reset vector (boot/reset.s), sets the machine up (`platform`, the only module
//! allowed to use `unsafe`), and runs the kernel's main sequence (`boot`). The logic the kernel
//! applies lives in the host-tested `elastic-core` crate.
#![no_std]
#![no_main]
#![deny(unsafe_code)]
// The kernel serves hostile guests, images and (under SEV-SNP) hypervisors: no panicking
// shortcuts (docs/robustness.md, "Panic-freedom and fallible allocation").
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented,
    clippy::indexing_slicing,
    clippy::string_slice
)]

extern crate alloc;

mod boot;
mod clock;
#[cfg(not(feature = "selftest"))]
mod entropy;
#[cfg(not(feature = "selftest"))]
mod guests;
mod logger;
#[allow(unsafe_code)]
mod platform;
#[cfg(feature = "selftest")]
mod selftest;
#[cfg(not(feature = "selftest"))]
mod snp_services;
#[cfg(all(feature = "snp-sim", not(feature = "selftest")))]
mod snp_sim;

use core::fmt::Write;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut w = platform::console::emergency();
    let _ = write!(w, "\nelastic: kernel panic: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(w, " at {}:{}", loc.file(), loc.line());
    }
    let _ = writeln!(w);
    platform::exit(elastic_core::exit::panic_reason(&info.message()))
}
