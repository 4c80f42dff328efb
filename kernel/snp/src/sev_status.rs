//! SEV_STATUS (MSR 0xC001_0131) parsing, the set of SNP features Elastic implements, and
//! the termination reason codes Elastic sends with the GHCB termination request.
//!
//! Sources: AMD APM vol. 2 §15.34.10 "SEV_STATUS MSR"; AMD 56421 GHCB spec §2.3.1
//! "Termination request" (reason set 0 is defined by the spec); Linux
//! `arch/x86/include/asm/sev-common.h` (reason set 1) and `snp_get_unsupported_features`
//! (which bits need guest support). Reading SEV_STATUS #GPs where SEV is absent: the caller
//! must first check CPUID Fn8000_0000.EAX >= 0x8000_001F and Fn8000_001F.EAX bit 1.

/// The SEV_STATUS MSR number.
pub const MSR_SEV_STATUS: u32 = 0xC001_0131;
/// The GUEST_TSC_FREQ MSR (Secure TSC guests only; must never trap).
pub const MSR_GUEST_TSC_FREQ: u32 = 0xC001_0134;

/// SEV_STATUS bit numbers.
pub mod bits {
    /// SEV enabled.
    pub const SEV: u64 = 1 << 0;
    /// SEV-ES enabled.
    pub const SEV_ES: u64 = 1 << 1;
    /// SEV-SNP active.
    pub const SNP: u64 = 1 << 2;
    /// Virtual TOM.
    pub const VTOM: u64 = 1 << 3;
    /// ReflectVC.
    pub const REFLECT_VC: u64 = 1 << 4;
    /// Restricted injection.
    pub const RESTRICTED_INJECTION: u64 = 1 << 5;
    /// Alternate injection.
    pub const ALTERNATE_INJECTION: u64 = 1 << 6;
    /// DebugSwap.
    pub const DEBUG_SWAP: u64 = 1 << 7;
    /// Prevent host IBS.
    pub const PREVENT_HOST_IBS: u64 = 1 << 8;
    /// BTB isolation.
    pub const BTB_ISOLATION: u64 = 1 << 9;
    /// VMPL supervisor shadow stack.
    pub const VMPL_SSS: u64 = 1 << 10;
    /// Secure TSC.
    pub const SECURE_TSC: u64 = 1 << 11;
    /// VMGEXIT parameter.
    pub const VMGEXIT_PARAM: u64 = 1 << 12;
    /// Reserved bit 13.
    pub const RESERVED_13: u64 = 1 << 13;
    /// IBS virtualization.
    pub const IBS_VIRT: u64 = 1 << 14;
    /// Reserved bit 15.
    pub const RESERVED_15: u64 = 1 << 15;
    /// VMSA register protection.
    pub const VMSA_REG_PROT: u64 = 1 << 16;
    /// SMT protection.
    pub const SMT_PROT: u64 = 1 << 17;
    /// Bits 18 and up (Secure AVIC on newer parts, then reserved).
    pub const HIGH: u64 = !((1 << 18) - 1);
}

/// Features that change how the guest must behave: if SNP is active and one of these is
/// enabled but not implemented by the guest, the guest must refuse to run
/// (Linux `SNP_FEATURES_IMPL_REQ`).
pub const FEATURES_REQUIRING_SUPPORT: u64 = bits::VTOM
    | bits::REFLECT_VC
    | bits::RESTRICTED_INJECTION
    | bits::ALTERNATE_INJECTION
    | bits::DEBUG_SWAP
    | bits::VMPL_SSS
    | bits::SECURE_TSC
    | bits::VMGEXIT_PARAM
    | bits::RESERVED_13
    | bits::RESERVED_15
    | bits::VMSA_REG_PROT
    | bits::HIGH;

/// A SEV_STATUS value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SevStatus(pub u64);

impl SevStatus {
    /// SEV enabled (bit 0).
    pub fn sev(self) -> bool {
        self.0 & bits::SEV != 0
    }
    /// SEV-ES enabled (bit 1).
    pub fn sev_es(self) -> bool {
        self.0 & bits::SEV_ES != 0
    }
    /// SEV-SNP active (bit 2).
    pub fn snp(self) -> bool {
        self.0 & bits::SNP != 0
    }
    /// Secure TSC enabled (bit 11).
    pub fn secure_tsc(self) -> bool {
        self.0 & bits::SECURE_TSC != 0
    }
    /// DebugSwap enabled (bit 7).
    pub fn debug_swap(self) -> bool {
        self.0 & bits::DEBUG_SWAP != 0
    }
    /// The VMSA `sev_features` value corresponding to this status (SEV_STATUS >> 2).
    pub fn vmsa_sev_features(self) -> u64 {
        self.0 >> 2
    }
}

/// Which optional SNP features a guest implements (a parameter so the check is testable for
/// every combination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImplementedFeatures {
    /// DebugSwap: the hypervisor swaps debug registers; nothing for the guest to do but
    /// must be declared.
    pub debug_swap: bool,
    /// Secure TSC: requires TSC_INFO and GUEST_TSC_FREQ handling.
    pub secure_tsc: bool,
}

impl ImplementedFeatures {
    /// Elastic: SNP with DebugSwap tolerated and Secure TSC (GUEST_TSC_FREQ, TSC_INFO).
    pub const ELASTIC: Self = Self {
        debug_swap: true,
        secure_tsc: true,
    };

    fn mask(self) -> u64 {
        let mut m = 0;
        if self.debug_swap {
            m |= bits::DEBUG_SWAP;
        }
        if self.secure_tsc {
            m |= bits::SECURE_TSC;
        }
        m
    }
}

/// SNP is active with features the guest does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedFeatures(pub u64);

/// Returns the enabled features the guest would have to implement but does not. Only
/// meaningful (and only checked) when SNP is active, as Linux does.
pub fn check_features(
    status: SevStatus,
    implemented: ImplementedFeatures,
) -> Result<(), UnsupportedFeatures> {
    if !status.snp() {
        return Ok(());
    }
    let missing = status.0 & FEATURES_REQUIRING_SUPPORT & !implemented.mask();
    if missing != 0 {
        Err(UnsupportedFeatures(missing))
    } else {
        Ok(())
    }
}

/// A termination reason: set (4 bits) and code (8 bits), sent with MSR request 0x100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminationReason {
    /// Reason code set.
    pub set: u8,
    /// Reason code.
    pub code: u8,
}

impl TerminationReason {
    /// The GHCB MSR value requesting termination with this reason.
    pub const fn msr_value(self) -> u64 {
        0x100 | (((self.set & 0xF) as u64) << 12) | ((self.code as u64) << 16)
    }
}

/// Reason set 0 (GHCB specification).
pub mod set0 {
    use super::TerminationReason;
    /// General termination request.
    pub const GENERAL: TerminationReason = TerminationReason { set: 0, code: 0 };
    /// SEV-ES / GHCB protocol range is not supported.
    pub const PROTOCOL_UNSUPPORTED: TerminationReason = TerminationReason { set: 0, code: 1 };
    /// SEV-SNP features not supported (also: unimplemented SEV_STATUS features).
    pub const SNP_UNSUPPORTED: TerminationReason = TerminationReason { set: 0, code: 2 };
}

/// Reason set 1 (Linux guest, `SEV_TERM_SET_LINUX`).
pub mod set1 {
    use super::TerminationReason;
    /// GHCB GPA registration failed.
    pub const REGISTER: TerminationReason = TerminationReason { set: 1, code: 0 };
    /// Page state change failed.
    pub const PSC: TerminationReason = TerminationReason { set: 1, code: 1 };
    /// PVALIDATE failed.
    pub const PVALIDATE: TerminationReason = TerminationReason { set: 1, code: 2 };
    /// Not running at VMPL0.
    pub const NOT_VMPL0: TerminationReason = TerminationReason { set: 1, code: 3 };
    /// CPUID page/table problem.
    pub const CPUID: TerminationReason = TerminationReason { set: 1, code: 4 };
    /// CPUID from the hypervisor failed.
    pub const CPUID_HV: TerminationReason = TerminationReason { set: 1, code: 5 };
    /// Secrets page problem.
    pub const SECRETS_PAGE: TerminationReason = TerminationReason { set: 1, code: 6 };
    /// SVSM required but absent.
    pub const NO_SVSM: TerminationReason = TerminationReason { set: 1, code: 7 };
    /// SVSM present but guest at VMPL0.
    pub const SVSM_VMPL0: TerminationReason = TerminationReason { set: 1, code: 8 };
    /// SVSM calling area problem.
    pub const SVSM_CAA: TerminationReason = TerminationReason { set: 1, code: 9 };
    /// Secure TSC initialisation failed.
    pub const SECURE_TSC: TerminationReason = TerminationReason { set: 1, code: 10 };
}

/// Reason set 2: Elastic-specific codes (documented in docs/snp.md). A host operator reads
/// them from the hypervisor's termination log as "set 2, code N".
pub mod elastic {
    use super::TerminationReason;
    /// The memory map (E820/fw_cfg) is inconsistent: overflow, overlap with the ROM or
    /// metadata pages, or unaligned ranges.
    pub const BAD_MEMORY_MAP: TerminationReason = TerminationReason { set: 2, code: 0 };
    /// The C-bit position (CPUID page / SEV info) is not the expected one.
    pub const CBIT_MISMATCH: TerminationReason = TerminationReason { set: 2, code: 1 };
    /// The CPUID page says there is no SEV (or is malformed).
    pub const CPUID_SAYS_NO_SEV: TerminationReason = TerminationReason { set: 2, code: 2 };
    /// A GHCB response was invalid: missing valid bits, garbage sw_exit_info_1, wrong
    /// MSR-protocol response, injection request, or hypervisor error code.
    pub const GHCB_RESPONSE_INVALID: TerminationReason = TerminationReason { set: 2, code: 3 };
    /// PVALIDATE reported CF=1 on a first validation (double validation / aliasing attack).
    pub const PVALIDATE_DOUBLE_VALIDATION: TerminationReason =
        TerminationReason { set: 2, code: 4 };
    /// A page-state change failed, stalled, or the hypervisor moved its progress backwards
    /// or past the end.
    pub const PSC_FAILURE: TerminationReason = TerminationReason { set: 2, code: 5 };
    /// An SNP guest request (attestation report, key) failed.
    pub const GUEST_REQUEST_FAILURE: TerminationReason = TerminationReason { set: 2, code: 6 };
    /// A #VC exception could not be handled (unknown instruction, unsupported exit code,
    /// exit code / instruction mismatch, #VC for an untrappable MSR).
    pub const VC_UNHANDLED: TerminationReason = TerminationReason { set: 2, code: 7 };
    /// The hypervisor does not advertise the SNP feature bit (HV features bit 0).
    pub const HV_FEATURES_MISSING: TerminationReason = TerminationReason { set: 2, code: 8 };
    /// Reason set of a normal end of run: the code is Elastic's exit code (0 success, 1-99
    /// the guest's, 100 and up the kernel's; `elastic_core::exit`).
    pub const EXIT_SET: u8 = 3;

    /// The termination reason carrying exit code `code`.
    pub const fn exit_code(code: u8) -> TerminationReason {
        TerminationReason {
            set: EXIT_SET,
            code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bits() {
        let s = SevStatus(0b111 | bits::DEBUG_SWAP);
        assert!(s.sev() && s.sev_es() && s.snp() && s.debug_swap() && !s.secure_tsc());
        assert_eq!(s.vmsa_sev_features(), 0x21);
        assert_eq!(SevStatus(0x7).vmsa_sev_features(), 0x1);
    }

    #[test]
    fn feature_checks() {
        let snp = 0x7;
        assert_eq!(
            check_features(SevStatus(snp), ImplementedFeatures::ELASTIC),
            Ok(())
        );
        assert_eq!(
            check_features(
                SevStatus(snp | bits::DEBUG_SWAP),
                ImplementedFeatures::ELASTIC
            ),
            Ok(())
        );
        let no_tsc = ImplementedFeatures {
            secure_tsc: false,
            ..ImplementedFeatures::ELASTIC
        };
        assert_eq!(
            check_features(SevStatus(snp | bits::SECURE_TSC), no_tsc),
            Err(UnsupportedFeatures(bits::SECURE_TSC))
        );
        let with_tsc = ImplementedFeatures {
            secure_tsc: true,
            ..ImplementedFeatures::ELASTIC
        };
        assert_eq!(
            check_features(SevStatus(snp | bits::SECURE_TSC), with_tsc),
            Ok(())
        );
        // Features that need no guest support are fine.
        assert_eq!(
            check_features(
                SevStatus(snp | bits::BTB_ISOLATION | bits::PREVENT_HOST_IBS | bits::SMT_PROT),
                ImplementedFeatures::ELASTIC
            ),
            Ok(())
        );
        for b in [3, 4, 5, 6, 10, 12, 13, 15, 16, 18, 40, 63] {
            assert_eq!(
                check_features(SevStatus(snp | (1 << b)), ImplementedFeatures::ELASTIC),
                Err(UnsupportedFeatures(1 << b)),
                "bit {b}"
            );
        }
        // Without SNP nothing is checked.
        assert_eq!(
            check_features(SevStatus(0x3 | bits::VTOM), ImplementedFeatures::ELASTIC),
            Ok(())
        );
    }

    #[test]
    fn termination_values() {
        assert_eq!(set0::SNP_UNSUPPORTED.msr_value(), 0x0002_0100);
        assert_eq!(set1::PVALIDATE.msr_value(), 0x0002_1100);
        assert_eq!(elastic::PSC_FAILURE.msr_value(), 0x0005_2100);
        // Elastic codes are distinct.
        let all = [
            elastic::BAD_MEMORY_MAP,
            elastic::CBIT_MISMATCH,
            elastic::CPUID_SAYS_NO_SEV,
            elastic::GHCB_RESPONSE_INVALID,
            elastic::PVALIDATE_DOUBLE_VALIDATION,
            elastic::PSC_FAILURE,
            elastic::GUEST_REQUEST_FAILURE,
            elastic::VC_UNHANDLED,
            elastic::HV_FEATURES_MISSING,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
