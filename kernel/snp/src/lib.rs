//! elastic-snp: `no_std` codecs for the AMD SEV-SNP guest side.
//!
//! Everything here is pure data handling (no instructions, no MMIO) so it is unit-tested on the
//! host. Authorities: AMD 56860 (SEV Secure Nested Paging Firmware ABI) and AMD 56421 (GHCB
//! standardization).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cert_table;
pub mod guest_msg;
pub mod messages;
pub mod report;
pub mod secrets_page;
