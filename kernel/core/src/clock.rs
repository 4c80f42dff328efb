//! Time: TSC frequency calibration arithmetic and the TSC-to-nanoseconds conversion.
//!
//! The kernel's monotonic clock is the TSC scaled to nanoseconds. Its frequency comes from, in
//! order of preference (the platform layer probes and the boot log names the one used):
//! 1. the hypervisor timing leaf CPUID 0x4000_0010 (EAX = TSC kHz; QEMU/KVM with invariant TSC,
//!    VMware convention),
//! 2. CPUID leaf 0x15 (TSC/crystal ratio EBX/EAX times the crystal frequency ECX),
//! 3. counting TSC ticks over a PIT channel 2 gate of known length.
//!
//! The conversion uses a 32.32 fixed-point multiplier so reading the clock costs one
//! multiplication (no division on the hot path).

use core::fmt;

/// The PIT's input clock in Hz (8254 datasheet).
pub const PIT_HZ: u64 = 1_193_182;
/// Frequencies outside this range are treated as bogus calibration results.
pub const MIN_TSC_HZ: u64 = 50_000_000;
/// Upper plausibility bound for a TSC frequency.
pub const MAX_TSC_HZ: u64 = 20_000_000_000;

/// Where the TSC frequency came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSource {
    /// CPUID 0x4000_0010 (hypervisor timing leaf).
    HypervisorLeaf,
    /// CPUID 0x15 (TSC/crystal ratio).
    CpuidLeaf15,
    /// PIT channel 2 gate.
    Pit,
    /// SEV-SNP Secure TSC (GUEST_TSC_FREQ MSR scaled by tsc_factor).
    SecureTsc,
}

impl fmt::Display for ClockSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HypervisorLeaf => "TSC, frequency from CPUID 0x40000010",
            Self::CpuidLeaf15 => "TSC, frequency from CPUID 0x15",
            Self::Pit => "TSC, calibrated against the PIT",
            Self::SecureTsc => "SNP Secure TSC",
        })
    }
}

/// Calibration failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibrationError {
    /// The source gave no usable data (zero fields).
    Unavailable,
    /// The computed frequency is outside the plausible range.
    Implausible(u64),
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable => write!(f, "no frequency information"),
            Self::Implausible(hz) => write!(f, "implausible TSC frequency {hz} Hz"),
        }
    }
}

fn plausible(hz: u64) -> Result<u64, CalibrationError> {
    if (MIN_TSC_HZ..=MAX_TSC_HZ).contains(&hz) {
        Ok(hz)
    } else {
        Err(CalibrationError::Implausible(hz))
    }
}

/// Frequency from CPUID 0x4000_0010 EAX (kHz).
pub fn from_hypervisor_leaf(eax_khz: u32) -> Result<u64, CalibrationError> {
    if eax_khz == 0 {
        return Err(CalibrationError::Unavailable);
    }
    plausible(u64::from(eax_khz) * 1000)
}

/// Frequency from CPUID 0x15: EAX = denominator, EBX = numerator, ECX = crystal Hz.
pub fn from_cpuid_15(eax: u32, ebx: u32, ecx: u32) -> Result<u64, CalibrationError> {
    if eax == 0 || ebx == 0 || ecx == 0 {
        return Err(CalibrationError::Unavailable);
    }
    plausible(u64::from(ecx) * u64::from(ebx) / u64::from(eax))
}

/// Frequency under SEV-SNP Secure TSC: GUEST_TSC_FREQ (MSR 0xC001_0134, bits 17:0 in MHz)
/// scaled by the secrets page's `tsc_factor`: effective kHz = f - f * tsc_factor / 100000
/// (AMD 56860 Table 71; Linux `SNP_SCALE_TSC_FREQ`).
pub fn from_secure_tsc(guest_tsc_freq_msr: u64, tsc_factor: u32) -> Result<u64, CalibrationError> {
    let mhz = guest_tsc_freq_msr & 0x3_FFFF;
    if mhz == 0 {
        return Err(CalibrationError::Unavailable);
    }
    let khz = mhz * 1000;
    let scaled = khz - khz * u64::from(tsc_factor.min(100_000)) / 100_000;
    plausible(scaled * 1000)
}

/// Frequency from `tsc_ticks` counted while the PIT counted `pit_ticks`.
pub fn from_pit(tsc_ticks: u64, pit_ticks: u64) -> Result<u64, CalibrationError> {
    if pit_ticks == 0 {
        return Err(CalibrationError::Unavailable);
    }
    let hz = u128::from(tsc_ticks) * u128::from(PIT_HZ) / u128::from(pit_ticks);
    plausible(u64::try_from(hz).unwrap_or(u64::MAX))
}

/// One reading of the PIT's free-running counter, bracketed by TSC reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PitSample {
    /// TSC just before latching the counter.
    pub tsc_before: u64,
    /// TSC just after reading it.
    pub tsc_after: u64,
    /// The counter (counts down, wraps modulo 65536).
    pub count: u16,
}

impl PitSample {
    fn width(&self) -> u64 {
        self.tsc_after.saturating_sub(self.tsc_before)
    }

    fn mid(&self) -> u64 {
        self.tsc_before + self.width() / 2
    }
}

/// PIT ticks one calibration run spans (10 ms).
pub const PIT_GATE_TICKS: u64 = 11_932;
/// Attempts per bracketed sample; the tightest bracket wins.
const TIGHT_ATTEMPTS: usize = 5;
/// Calibration runs whose median is taken.
const RUNS: usize = 3;
/// Upper bound on samples per run (a dead PIT must not hang the boot).
const MAX_SAMPLES_PER_RUN: usize = 10_000_000;

/// Calibrates the TSC against a free-running PIT (mode 2, period 65536) read through `sample`.
///
/// Robust against the vCPU being descheduled (emulators on a loaded host): only tightly
/// bracketed samples serve as end points, the ticks between them are accumulated from frequent
/// reads so wraps are counted, and the median of several runs is returned.
pub fn calibrate_with_pit(mut sample: impl FnMut() -> PitSample) -> Result<u64, CalibrationError> {
    let tight = |sample: &mut dyn FnMut() -> PitSample| {
        let mut best = sample();
        for _ in 1..TIGHT_ATTEMPTS {
            let s = sample();
            if s.width() < best.width() {
                best = s;
            }
        }
        best
    };
    let mut results = [0u64; RUNS];
    for slot in results.iter_mut() {
        let start = tight(&mut sample);
        let mut last = start.count;
        let mut elapsed: u64 = 0;
        let mut samples = 0;
        while elapsed < PIT_GATE_TICKS {
            let s = sample();
            elapsed += u64::from(last.wrapping_sub(s.count));
            last = s.count;
            samples += 1;
            if samples > MAX_SAMPLES_PER_RUN {
                return Err(CalibrationError::Unavailable);
            }
        }
        let end = tight(&mut sample);
        elapsed += u64::from(last.wrapping_sub(end.count));
        let tsc = end.mid().saturating_sub(start.mid());
        *slot = from_pit(tsc, elapsed)?;
    }
    results.sort_unstable();
    Ok(results[RUNS / 2])
}

/// Converts TSC readings to nanoseconds since a base reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TscScale {
    /// The TSC frequency in Hz.
    pub hz: u64,
    /// Nanoseconds per tick in 32.32 fixed point.
    mult: u64,
    /// TSC value that maps to 0 ns.
    base: u64,
}

impl TscScale {
    /// A scale for `hz` whose zero is the TSC value `base`.
    pub fn new(hz: u64, base: u64) -> Self {
        let hz = hz.max(1);
        let mult = ((1_000_000_000u128 << 32) / u128::from(hz)) as u64;
        Self { hz, mult, base }
    }

    /// Nanoseconds elapsed from `base` to `tsc` (0 if `tsc` is before `base`).
    #[inline]
    pub fn ns(&self, tsc: u64) -> u64 {
        let ticks = tsc.saturating_sub(self.base);
        ((u128::from(ticks) * u128::from(self.mult)) >> 32) as u64
    }

    /// Ticks corresponding to `ns` nanoseconds (for deadlines).
    pub fn ticks(&self, ns: u64) -> u64 {
        let t = u128::from(ns) * u128::from(self.hz) / 1_000_000_000;
        u64::try_from(t).unwrap_or(u64::MAX)
    }

    /// The TSC value at which `ns` nanoseconds have elapsed.
    pub fn deadline(&self, ns: u64) -> u64 {
        self.base.saturating_add(self.ticks(ns))
    }

    /// The TSC value that maps to 0 ns.
    pub fn base(&self) -> u64 {
        self.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_tsc_frequency() {
        // 2 GHz with no factor; a factor of 1000 (1 %) takes 20 MHz off; upper bits ignored.
        assert_eq!(from_secure_tsc(2000, 0), Ok(2_000_000_000));
        assert_eq!(from_secure_tsc(2000, 1000), Ok(1_980_000_000));
        assert_eq!(from_secure_tsc((1 << 40) | 2000, 0), Ok(2_000_000_000));
        assert_eq!(from_secure_tsc(0, 0), Err(CalibrationError::Unavailable));
        // A factor beyond 100 % cannot underflow: the result is implausible instead.
        assert_eq!(
            from_secure_tsc(2000, u32::MAX),
            Err(CalibrationError::Implausible(0))
        );
    }

    #[test]
    fn sources() {
        assert_eq!(from_hypervisor_leaf(2_100_000), Ok(2_100_000_000));
        assert_eq!(from_hypervisor_leaf(0), Err(CalibrationError::Unavailable));
        assert_eq!(
            from_hypervisor_leaf(1),
            Err(CalibrationError::Implausible(1000))
        );
        // Skylake-style: crystal 24 MHz, ratio 216/2 -> 2.592 GHz.
        assert_eq!(from_cpuid_15(2, 216, 24_000_000), Ok(2_592_000_000));
        assert_eq!(from_cpuid_15(2, 216, 0), Err(CalibrationError::Unavailable));
        // 10 ms of PIT (11932 ticks) at 3 GHz.
        // 10 ms of PIT (11932 ticks) while the TSC advanced 30 million ticks: ~3 GHz.
        assert_eq!(
            from_pit(30_000_000, 11_932),
            Ok(30_000_000 * PIT_HZ / 11_932)
        );
        assert_eq!(from_pit(1, 0), Err(CalibrationError::Unavailable));
    }

    /// A simulated PIT + TSC: the TSC runs at `hz`, each read costs `cost` TSC ticks, and the
    /// reads listed in `stalls` are preempted for that many ticks between latch and TSC read.
    fn simulated(hz: u64, cost: u64, stalls: &[(usize, u64)]) -> impl FnMut() -> PitSample + '_ {
        let mut tsc = 1_000_000u64;
        let mut n = 0usize;
        move || {
            let before = tsc;
            tsc += cost / 2;
            let count =
                (65536 - (u128::from(tsc) * u128::from(PIT_HZ) / u128::from(hz)) % 65536) as u16;
            tsc += cost / 2;
            if let Some(&(_, stall)) = stalls.iter().find(|&&(i, _)| i == n) {
                tsc += stall;
            }
            n += 1;
            PitSample {
                tsc_before: before,
                tsc_after: tsc,
                count,
            }
        }
    }

    #[test]
    fn pit_calibration_is_accurate() {
        for hz in [500_000_000u64, 2_300_000_000, 3_700_000_000] {
            let got = calibrate_with_pit(simulated(hz, 3000, &[])).unwrap();
            let err = got.abs_diff(hz) as f64 / hz as f64;
            assert!(err < 0.001, "{hz}: {got}");
        }
    }

    #[test]
    fn pit_calibration_survives_preemption() {
        // Stalls of 5 ms right after the first tight sample and inside the end sample of the
        // second run: the tight-sample choice and the median keep the result within 1 %.
        let hz = 2_300_000_000u64;
        let stall = hz / 200;
        let got = calibrate_with_pit(simulated(hz, 3000, &[(1, stall), (4, stall), (900, stall)]))
            .unwrap();
        let err = got.abs_diff(hz) as f64 / hz as f64;
        assert!(err < 0.01, "{got}");
    }

    #[test]
    fn dead_pit_is_an_error_not_a_hang() {
        let mut tsc = 0;
        let frozen = move || {
            tsc += 100;
            PitSample {
                tsc_before: tsc,
                tsc_after: tsc + 10,
                count: 1234,
            }
        };
        assert_eq!(
            calibrate_with_pit(frozen),
            Err(CalibrationError::Unavailable)
        );
    }

    #[test]
    fn scale_is_accurate_and_monotonic() {
        for hz in [1_000_000_000u64, 2_592_000_000, 3_000_000_001, 123_456_789] {
            let s = TscScale::new(hz, 1000);
            assert_eq!(s.ns(1000), 0);
            assert_eq!(s.ns(0), 0);
            // One second of ticks is one second, within 1 ns per second of rounding.
            let one_s = s.ns(1000 + hz);
            assert!(
                (999_999_998..=1_000_000_001).contains(&one_s),
                "{hz}: {one_s}"
            );
            // A day later the error is still below a microsecond per second.
            let day = s.ns(1000 + hz * 86_400);
            let err = (day as i128 - 86_400_000_000_000i128).abs();
            assert!(err < 86_400_000, "{hz}: {err}");
            let mut last = 0;
            for t in (1000..1000 + hz).step_by((hz / 997) as usize) {
                let now = s.ns(t);
                assert!(now >= last);
                last = now;
            }
            assert!(s.ticks(1_000_000_000).abs_diff(hz) <= 1);
            assert_eq!(s.deadline(0), 1000);
        }
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let s = TscScale::new(MIN_TSC_HZ, 0);
        let _ = s.ns(u64::MAX);
        // 50 MHz is 1/20 of a tick per ns.
        assert_eq!(s.ticks(u64::MAX), u64::MAX / 20);
    }
}
