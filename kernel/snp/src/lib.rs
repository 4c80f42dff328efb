//! elastic-snp: `no_std` codecs and protocol logic for running Elastic as an AMD SEV-SNP guest.
//!
//! Everything here is pure data handling that the kernel's platform layer drives through small
//! traits (`ghcb_session::Vmgexit`, `vc::VcCpu`, `guest_msg::GuestRequestTransport`), so it is
//! tested on the host against simulators of the hypervisor and the PSP (crate `snp-sim`).
//! Authorities: AMD 56421 (GHCB specification) and AMD 56860 (SEV-SNP firmware ABI); the facts
//! used are collected in `shared/design/snp-facts.md` with their sources.
//!
//! - Platform: [`bring_up`] (the boot sequence), [`msr_protocol`], [`ghcb`], [`ghcb_session`], [`psc`], [`cpuid_page`], [`ioio`],
//!   [`vc`], [`sev_status`].
//! - Guest messages and attestation: [`secrets_page`], [`guest_msg`], [`messages`], [`report`],
//!   [`cert_table`].
//! - Launch metadata in the image: [`ovmf_table`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
// Everything here decodes hypervisor- or PSP-controlled data: no panicking shortcuts outside
// tests (docs/robustness.md, "Panic-freedom and fallible allocation").
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

pub mod bring_up;
pub mod cert_table;
pub mod cpuid_page;
pub mod ghcb;
pub mod ghcb_session;
pub mod guest_msg;
pub mod ioio;
pub mod messages;
pub mod msr_protocol;
pub mod ovmf_table;
pub mod psc;
pub mod report;
pub mod secrets_page;
pub mod sev_status;
pub mod vc;
