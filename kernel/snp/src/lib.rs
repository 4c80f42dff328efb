//! elastic-snp: `no_std` codecs and protocol logic for running Elastic as an AMD SEV-SNP guest.
//!
//! Everything here is pure data handling that the kernel's platform layer drives through small
//! traits (`ghcb_session::Vmgexit`, `vc::VcCpu`), so it is tested on the host against a
//! simulated hypervisor (crate `snp-sim`). Authorities: AMD 56421 (GHCB specification) and
//! AMD 56860 (SEV-SNP firmware ABI); the facts used are collected in
//! `shared/design/snp-facts.md` with their sources.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod cpuid_page;
pub mod ghcb;
pub mod ghcb_session;
pub mod ioio;
pub mod msr_protocol;
pub mod psc;
pub mod sev_status;
pub mod vc;
