//! Host-testable kernel logic for Elastic.
//!
//! Everything the kernel decides without touching hardware lives here, so it compiles for the
//! host and is unit-tested with plain `cargo test -p elastic-core`: parsing the hypervisor's
//! memory map ([`memory_map`]) and fw_cfg directory ([`fw_cfg`]), TSC calibration arithmetic and
//! the nanosecond clock ([`clock`]), CMOS RTC decoding ([`rtc`]), the page-table plan with its
//! W^X policy ([`paging`]), the exit-code contract with the outside world ([`exit`]), the image's
//! bundle descriptor ([`image`]), turning a verified bundle into guest configurations, summaries
//! and an export archive ([`launch`], [`tar`]), the timer decisions of the wall-clock watchdog
//! ([`watchdog`]).
//! The firmware binary (`kernel/`) supplies the hardware side: port I/O, MSRs, page-table writes.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
// Hypervisor data (memory map, fw_cfg), the image (descriptor, bundle) and what guests leave
// (exports) are parsed here: no panicking shortcuts outside tests (docs/robustness.md,
// "Panic-freedom and fallible allocation").
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

extern crate alloc;

pub mod clock;
pub mod exit;
pub mod fw_cfg;
pub mod image;
pub mod launch;
pub mod memory_map;
pub mod paging;
pub mod rtc;
pub mod tar;
pub mod watchdog;
