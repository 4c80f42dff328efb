//! snp-sim: host-side simulators of the SEV-SNP platform, written from the specifications
//! (AMD 56421 GHCB spec, AMD 56860 SNP firmware ABI) independently of Elastic's guest code,
//! so that Elastic's GHCB/#VC/guest-message logic can be tested without SNP hardware:
//! [`hypervisor`] answers the MSR protocol and GHCB exits, [`psp`] answers guest requests.
//! The simulators do not depend on elastic-snp; its tests use elastic-snp as a dev-dependency,
//! and the `guest-transport` feature adds the thin adapter [`transport`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod hypervisor;
pub mod psp;
#[cfg(feature = "guest-transport")]
pub mod transport;
