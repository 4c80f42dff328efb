//! Test-only SEV-SNP services (feature `snp-sim`): the `elastic_snp` guest calls are answered
//! by elastic-snp's guest-message session (AMD 56860 §7 messages, §8.26 AEAD) whose transport
//! is snp-sim's PSP simulator in memory (its `guest-transport` adapter), in place of the GHCB guest request (AMD 56421
//! §4.1.8). Reports are signed with the simulator's test P-384 key, so they prove nothing
//! about this machine: this image is not a confidential VM, and every log line says
//! SIMULATED. Used by the QEMU test that checks the WASI extension end to end.

use crate::snp_services::SnpServices;
use alloc::boxed::Box;
use elastic_snp::secrets_page::Vmpck;
use log::info;
use snp_sim::psp::{KERNEL_TEST_SEED, KERNEL_TEST_VMPCKS, LaunchState, PspSim};
use wasi_impl::ClockTrust;

/// The fixed test VMPCK0..3 both sides share (a real guest reads them from the secrets page),
/// and the seed of the simulator's signing key: `snp_sim::psp::KERNEL_TEST_*`, which
/// `tests/snp_sim.rs` uses to rebuild the same simulator and get its public key.
const SIM_VMPCKS: [[u8; 32]; 4] = KERNEL_TEST_VMPCKS;
const SIM_SEED: &[u8] = KERNEL_TEST_SEED;

/// The simulated services, and says so in the log.
pub fn open() -> Option<SnpServices> {
    info!("SIMULATED SNP: PSP simulator in place of the GHCB transport; not a confidential VM");
    let psp = PspSim::new(SIM_VMPCKS, LaunchState::default(), SIM_SEED);
    let [key0, ..] = SIM_VMPCKS;
    // An SNP guest without Secure TSC: the (here simulated) host controls the TSC.
    SnpServices::new(
        Box::new(psp),
        Vmpck::new(key0),
        "SIMULATED SNP",
        ClockTrust::Hypervisor,
    )
}
