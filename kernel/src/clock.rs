//! The kernel's clocks: monotonic nanoseconds from the calibrated TSC, and a wall clock that is
//! the CMOS RTC reading at boot advanced by the monotonic clock.

use crate::platform::{cmos, cpu, pit, snp};
use elastic_core::clock::{self, ClockSource, TscScale};
use spin::Once;

struct Clocks {
    scale: TscScale,
    source: ClockSource,
    /// Unix time in ns at monotonic 0, if the RTC gave a valid reading.
    wall_base_ns: Option<u64>,
}

static CLOCKS: Once<Clocks> = Once::new();

/// Determines the TSC frequency: SNP Secure TSC (GUEST_TSC_FREQ scaled by the secrets page's
/// tsc_factor) when active, else the hypervisor leaf, CPUID 0x15, then the PIT.
fn calibrate() -> Option<(u64, ClockSource)> {
    if let Some(msr) = snp::guest_tsc_mhz() {
        let factor = snp::secrets_page()
            .and_then(|p| elastic_snp::secrets_page::SecretsPage::parse(p).ok())
            .map_or(0, |s| s.tsc_factor);
        return clock::from_secure_tsc(msr, factor)
            .ok()
            .map(|hz| (hz, ClockSource::SecureTsc));
    }
    let hv_max = cpu::cpuid(0x4000_0000, 0).eax;
    if (0x4000_0010..0x4001_0000).contains(&hv_max)
        && let Ok(hz) = clock::from_hypervisor_leaf(cpu::cpuid(0x4000_0010, 0).eax)
    {
        return Some((hz, ClockSource::HypervisorLeaf));
    }
    if cpu::cpuid(0, 0).eax >= 0x15 {
        let l = cpu::cpuid(0x15, 0);
        if let Ok(hz) = clock::from_cpuid_15(l.eax, l.ebx, l.ecx) {
            return Some((hz, ClockSource::CpuidLeaf15));
        }
    }
    pit::start_free_running();
    clock::calibrate_with_pit(pit::sample)
        .ok()
        .map(|hz| (hz, ClockSource::Pit))
}

/// Calibrates the clocks; monotonic 0 is the reset vector. Returns the source, or `None` when
/// no frequency could be determined.
pub fn init() -> Option<ClockSource> {
    let (hz, source) = calibrate()?;
    let scale = TscScale::new(hz, crate::platform::layout::boot_tsc());
    let boot_ns = scale.ns(cpu::rdtsc());
    let wall_base_ns = cmos::read_rtc()
        .unix_seconds()
        .ok()
        .map(|s| s.saturating_mul(1_000_000_000).saturating_sub(boot_ns));
    CLOCKS.call_once(|| Clocks {
        scale,
        source,
        wall_base_ns,
    });
    Some(source)
}

/// Nanoseconds since the reset vector.
pub fn monotonic_ns() -> u64 {
    CLOCKS.get().map(|c| c.scale.ns(cpu::rdtsc())).unwrap_or(0)
}

/// Nanoseconds since the Unix epoch (0 if the RTC was unreadable).
pub fn wall_ns() -> u64 {
    CLOCKS
        .get()
        .and_then(|c| {
            c.wall_base_ns
                .map(|b| b.saturating_add(c.scale.ns(cpu::rdtsc())))
        })
        .unwrap_or(0)
}

/// True when the RTC gave a valid time at boot.
pub fn wall_clock_valid() -> bool {
    CLOCKS.get().is_some_and(|c| c.wall_base_ns.is_some())
}

/// The TSC frequency in Hz.
pub fn tsc_hz() -> u64 {
    CLOCKS.get().map(|c| c.scale.hz).unwrap_or(0)
}

/// Where the frequency came from.
pub fn source() -> Option<ClockSource> {
    CLOCKS.get().map(|c| c.source)
}

/// Nanoseconds from the reset vector to the TSC value `tsc`.
pub fn ns_at(tsc: u64) -> u64 {
    CLOCKS.get().map(|c| c.scale.ns(tsc)).unwrap_or(0)
}

/// The TSC value at which the monotonic clock reads `ns` (for timer deadlines).
pub fn tsc_at(ns: u64) -> u64 {
    CLOCKS.get().map(|c| c.scale.deadline(ns)).unwrap_or(0)
}
