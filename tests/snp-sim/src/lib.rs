//! snp-sim: spec-written simulators of the SEV-SNP platform for host tests.
//!
//! Written from AMD 56860 (SNP firmware ABI) and AMD 56421 (GHCB) independently of the guest
//! code in `elastic-snp`, so the two can check each other.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod psp;
