//! GHCB MSR protocol codec (AMD 56421 GHCB specification §2.3.1 "GHCB MSR Protocol", table
//! "GHCB MSR protocol" in section 2).
//!
//! Before a GHCB page exists (and for a few requests afterwards) the guest talks to the
//! hypervisor by writing a value to the GHCB MSR (0xC001_0130), executing VMGEXIT and reading
//! the MSR back. Bits [11:0] (GHCBInfo) name the request or response, bits [63:12] (GHCBData)
//! carry its data. This module encodes every request Elastic sends and decodes every response,
//! rejecting responses whose reserved bits are set or whose code is not the expected one.
//! The flows that use these messages live in [`crate::ghcb_session`].

/// The GHCB MSR (SEV-ES GHCB address / MSR protocol register).
pub const GHCB_MSR: u32 = 0xC001_0130;

/// Mask of GHCBInfo, bits [11:0].
pub const INFO_MASK: u64 = 0xFFF;

/// GHCBInfo code: SEV information response (hypervisor → guest).
pub const SEV_INFO_RESP: u64 = 0x001;
/// GHCBInfo code: SEV information request.
pub const SEV_INFO_REQ: u64 = 0x002;
/// GHCBInfo code: CPUID request.
pub const CPUID_REQ: u64 = 0x004;
/// GHCBInfo code: CPUID response.
pub const CPUID_RESP: u64 = 0x005;
/// GHCBInfo code: AP reset hold request.
pub const AP_RESET_HOLD_REQ: u64 = 0x006;
/// GHCBInfo code: AP reset hold response.
pub const AP_RESET_HOLD_RESP: u64 = 0x007;
/// GHCBInfo code: preferred GHCB GPA request.
pub const PREFERRED_GPA_REQ: u64 = 0x010;
/// GHCBInfo code: preferred GHCB GPA response.
pub const PREFERRED_GPA_RESP: u64 = 0x011;
/// GHCBInfo code: register GHCB GPA request.
pub const REGISTER_GPA_REQ: u64 = 0x012;
/// GHCBInfo code: register GHCB GPA response.
pub const REGISTER_GPA_RESP: u64 = 0x013;
/// GHCBInfo code: SNP page state change request.
pub const PSC_REQ: u64 = 0x014;
/// GHCBInfo code: SNP page state change response.
pub const PSC_RESP: u64 = 0x015;
/// GHCBInfo code: hypervisor feature support request.
pub const HV_FEATURES_REQ: u64 = 0x080;
/// GHCBInfo code: hypervisor feature support response.
pub const HV_FEATURES_RESP: u64 = 0x081;
/// GHCBInfo code: termination request (no response: the guest halts afterwards).
pub const TERMINATE_REQ: u64 = 0x100;

/// GHCBData value (bits [63:12] all ones) meaning "no preference" in a preferred-GPA response
/// and "refused" in a register-GPA response.
pub const DATA_ALL_ONES: u64 = (1 << 52) - 1;

/// Largest guest frame number a page-state-change request can carry (GHCBData[51:12], 40 bits).
pub const PSC_MAX_GFN: u64 = (1 << 40) - 1;

/// Hypervisor feature bit 0: SEV-SNP supported (GHCB spec §2.3.1, HV feature response).
pub const HV_FEATURE_SNP: u64 = 1 << 0;
/// Hypervisor feature bit 1: SNP AP creation supported.
pub const HV_FEATURE_AP_CREATION: u64 = 1 << 1;
/// Hypervisor feature bit 2: SNP restricted injection supported.
pub const HV_FEATURE_RESTRICTED_INJECTION: u64 = 1 << 2;
/// Hypervisor feature bit 3: SNP restricted injection timer supported.
pub const HV_FEATURE_RESTRICTED_INJECTION_TIMER: u64 = 1 << 3;

/// Errors decoding an MSR-protocol value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsrError {
    /// The GHCBInfo field was not the code expected for this exchange.
    UnexpectedCode {
        /// Code expected.
        expected: u64,
        /// Code found.
        found: u64,
    },
    /// The GHCBInfo field is not a code this module knows.
    UnknownCode(u64),
    /// A reserved (must-be-zero) bit is set in the value.
    ReservedBitsSet(u64),
    /// A field value is out of range (for example a page-state operation other than 1 or 2).
    InvalidField(&'static str),
}

impl core::fmt::Display for MsrError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnexpectedCode { expected, found } => {
                write!(
                    f,
                    "GHCB MSR response code {found:#x}, expected {expected:#x}"
                )
            }
            Self::UnknownCode(c) => write!(f, "unknown GHCB MSR protocol code {c:#x}"),
            Self::ReservedBitsSet(v) => write!(f, "reserved bits set in GHCB MSR value {v:#x}"),
            Self::InvalidField(name) => write!(f, "invalid field in GHCB MSR value: {name}"),
        }
    }
}

/// The register a CPUID MSR-protocol request asks for (GHCBData[31:30]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuidReg {
    /// EAX (0).
    Eax = 0,
    /// EBX (1).
    Ebx = 1,
    /// ECX (2).
    Ecx = 2,
    /// EDX (3).
    Edx = 3,
}

impl CpuidReg {
    fn from_bits(bits: u64) -> Self {
        match bits & 3 {
            0 => Self::Eax,
            1 => Self::Ebx,
            2 => Self::Ecx,
            _ => Self::Edx,
        }
    }
}

/// Page-state-change operation in the MSR protocol (GHCBData[55:52]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsrPscOp {
    /// Make the page private (assign to the guest) — 1.
    Private = 1,
    /// Make the page shared (hypervisor-owned) — 2.
    Shared = 2,
}

/// A request the guest writes to the GHCB MSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsrRequest {
    /// SEV information request (0x002).
    SevInfo,
    /// CPUID request (0x004) for one register of a leaf (subleaf 0; leaf 0xD not supported).
    Cpuid {
        /// CPUID function (EAX input).
        leaf: u32,
        /// Register wanted.
        reg: CpuidReg,
    },
    /// AP reset hold request (0x006).
    ApResetHold,
    /// Preferred GHCB GPA request (0x010).
    PreferredGpa,
    /// Register GHCB GPA request (0x012) for guest frame `gfn`.
    RegisterGpa {
        /// Guest frame number (GPA >> 12) of the GHCB page.
        gfn: u64,
    },
    /// Page state change request (0x014) for one 4 KiB page.
    PageStateChange {
        /// Guest frame number (40 bits).
        gfn: u64,
        /// Operation.
        op: MsrPscOp,
    },
    /// Hypervisor feature support request (0x080).
    HvFeatures,
    /// Termination request (0x100).
    Terminate {
        /// Reason code set (4 bits).
        set: u8,
        /// Reason code within the set.
        code: u8,
    },
}

impl MsrRequest {
    /// Encodes the request as the 64-bit value to write to the GHCB MSR.
    ///
    /// Fails when a field does not fit its bit range (GFN too large, reason set > 15).
    pub fn encode(&self) -> Result<u64, MsrError> {
        Ok(match *self {
            Self::SevInfo => SEV_INFO_REQ,
            Self::Cpuid { leaf, reg } => CPUID_REQ | ((reg as u64) << 30) | (u64::from(leaf) << 32),
            Self::ApResetHold => AP_RESET_HOLD_REQ,
            Self::PreferredGpa => PREFERRED_GPA_REQ,
            Self::RegisterGpa { gfn } => {
                if gfn > DATA_ALL_ONES {
                    return Err(MsrError::InvalidField("GHCB GFN wider than 52 bits"));
                }
                REGISTER_GPA_REQ | (gfn << 12)
            }
            Self::PageStateChange { gfn, op } => {
                if gfn > PSC_MAX_GFN {
                    return Err(MsrError::InvalidField("PSC GFN wider than 40 bits"));
                }
                PSC_REQ | (gfn << 12) | ((op as u64) << 52)
            }
            Self::HvFeatures => HV_FEATURES_REQ,
            Self::Terminate { set, code } => {
                if set > 0xF {
                    return Err(MsrError::InvalidField(
                        "termination reason set wider than 4 bits",
                    ));
                }
                TERMINATE_REQ | (u64::from(set) << 12) | (u64::from(code) << 16)
            }
        })
    }

    /// Decodes a request value (used by tests and by simulators written against this codec).
    pub fn decode(value: u64) -> Result<Self, MsrError> {
        let data = value >> 12;
        let no_data = |req: Self| {
            if data != 0 {
                Err(MsrError::ReservedBitsSet(value))
            } else {
                Ok(req)
            }
        };
        match value & INFO_MASK {
            SEV_INFO_REQ => no_data(Self::SevInfo),
            CPUID_REQ => {
                if bits(value, 12, 29) != 0 {
                    return Err(MsrError::ReservedBitsSet(value));
                }
                Ok(Self::Cpuid {
                    leaf: (value >> 32) as u32,
                    reg: CpuidReg::from_bits(value >> 30),
                })
            }
            AP_RESET_HOLD_REQ => no_data(Self::ApResetHold),
            PREFERRED_GPA_REQ => no_data(Self::PreferredGpa),
            REGISTER_GPA_REQ => Ok(Self::RegisterGpa { gfn: data }),
            PSC_REQ => {
                if bits(value, 56, 63) != 0 {
                    return Err(MsrError::ReservedBitsSet(value));
                }
                let op = match bits(value, 52, 55) {
                    1 => MsrPscOp::Private,
                    2 => MsrPscOp::Shared,
                    _ => return Err(MsrError::InvalidField("PSC operation")),
                };
                Ok(Self::PageStateChange {
                    gfn: bits(value, 12, 51),
                    op,
                })
            }
            HV_FEATURES_REQ => no_data(Self::HvFeatures),
            TERMINATE_REQ => {
                if bits(value, 24, 63) != 0 {
                    return Err(MsrError::ReservedBitsSet(value));
                }
                Ok(Self::Terminate {
                    set: bits(value, 12, 15) as u8,
                    code: bits(value, 16, 23) as u8,
                })
            }
            other => Err(MsrError::UnknownCode(other)),
        }
    }

    /// The response code this request expects, or `None` for termination (no response).
    pub fn response_code(&self) -> Option<u64> {
        match self {
            Self::SevInfo => Some(SEV_INFO_RESP),
            Self::Cpuid { .. } => Some(CPUID_RESP),
            Self::ApResetHold => Some(AP_RESET_HOLD_RESP),
            Self::PreferredGpa => Some(PREFERRED_GPA_RESP),
            Self::RegisterGpa { .. } => Some(REGISTER_GPA_RESP),
            Self::PageStateChange { .. } => Some(PSC_RESP),
            Self::HvFeatures => Some(HV_FEATURES_RESP),
            Self::Terminate { .. } => None,
        }
    }
}

/// SEV information returned by the hypervisor (response 0x001).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SevInfo {
    /// Highest GHCB protocol version the hypervisor supports (GHCBData[63:48]).
    pub max_version: u16,
    /// Lowest GHCB protocol version the hypervisor supports (GHCBData[47:32]).
    pub min_version: u16,
    /// C-bit position as reported by the hypervisor (GHCBData[31:24]); untrusted.
    pub cbit: u8,
}

/// Why version negotiation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionError {
    /// The hypervisor's range is empty (min > max): a malformed response.
    EmptyRange {
        /// Hypervisor minimum.
        min: u16,
        /// Hypervisor maximum.
        max: u16,
    },
    /// The hypervisor's range and ours do not overlap.
    NoCommonVersion {
        /// Hypervisor minimum.
        hv_min: u16,
        /// Hypervisor maximum.
        hv_max: u16,
    },
}

impl SevInfo {
    /// Picks the protocol version to use: the highest version in both `[our_min, our_max]`
    /// and the hypervisor's `[min_version, max_version]` (GHCB spec §2.2: the guest must use
    /// a version within the advertised range).
    pub fn negotiate(&self, our_min: u16, our_max: u16) -> Result<u16, VersionError> {
        if self.min_version > self.max_version {
            return Err(VersionError::EmptyRange {
                min: self.min_version,
                max: self.max_version,
            });
        }
        let chosen = our_max.min(self.max_version);
        if chosen < our_min || chosen < self.min_version {
            return Err(VersionError::NoCommonVersion {
                hv_min: self.min_version,
                hv_max: self.max_version,
            });
        }
        Ok(chosen)
    }
}

/// A response the hypervisor leaves in the GHCB MSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsrResponse {
    /// SEV information (0x001).
    SevInfo(SevInfo),
    /// CPUID value for one register (0x005).
    Cpuid {
        /// Register the value belongs to.
        reg: CpuidReg,
        /// Register value.
        value: u32,
    },
    /// AP reset hold response (0x007); `woken` is GHCBData != 0.
    ApResetHold {
        /// GHCBData[63:12] (non-zero: the AP was woken).
        data: u64,
    },
    /// Preferred GHCB GPA (0x011); `None` = no preference (all ones).
    PreferredGpa {
        /// Preferred GHCB guest frame number, if any.
        gfn: Option<u64>,
    },
    /// Register GPA response (0x013); `None` = registration refused (all ones).
    RegisterGpa {
        /// Echoed guest frame number, or `None` if refused.
        gfn: Option<u64>,
    },
    /// Page state change response (0x015); error 0 = success.
    PageStateChange {
        /// Error code from GHCBData[63:32]; 0 means success.
        error: u32,
    },
    /// Hypervisor feature bitmap (0x081).
    HvFeatures {
        /// Feature bitmap GHCBData[63:12] (bit 0 = SNP).
        features: u64,
    },
}

impl MsrResponse {
    /// Encodes the response as the hypervisor would leave it in the MSR (for tests).
    pub fn encode(&self) -> Result<u64, MsrError> {
        Ok(match *self {
            Self::SevInfo(info) => {
                SEV_INFO_RESP
                    | (u64::from(info.max_version) << 48)
                    | (u64::from(info.min_version) << 32)
                    | (u64::from(info.cbit) << 24)
            }
            Self::Cpuid { reg, value } => {
                CPUID_RESP | ((reg as u64) << 30) | (u64::from(value) << 32)
            }
            Self::ApResetHold { data } => {
                if data > DATA_ALL_ONES {
                    return Err(MsrError::InvalidField(
                        "AP reset hold data wider than 52 bits",
                    ));
                }
                AP_RESET_HOLD_RESP | (data << 12)
            }
            Self::PreferredGpa { gfn } => {
                PREFERRED_GPA_RESP | (checked_gfn(gfn.unwrap_or(DATA_ALL_ONES))? << 12)
            }
            Self::RegisterGpa { gfn } => {
                REGISTER_GPA_RESP | (checked_gfn(gfn.unwrap_or(DATA_ALL_ONES))? << 12)
            }
            Self::PageStateChange { error } => PSC_RESP | (u64::from(error) << 32),
            Self::HvFeatures { features } => {
                if features > DATA_ALL_ONES {
                    return Err(MsrError::InvalidField("feature bitmap wider than 52 bits"));
                }
                HV_FEATURES_RESP | (features << 12)
            }
        })
    }

    /// Decodes any response value, checking reserved bits.
    pub fn decode(value: u64) -> Result<Self, MsrError> {
        let data = value >> 12;
        match value & INFO_MASK {
            SEV_INFO_RESP => {
                // GHCBData[23:12] is reserved in the SEV information response.
                if bits(value, 12, 23) != 0 {
                    return Err(MsrError::ReservedBitsSet(value));
                }
                Ok(Self::SevInfo(SevInfo {
                    max_version: bits(value, 48, 63) as u16,
                    min_version: bits(value, 32, 47) as u16,
                    cbit: bits(value, 24, 31) as u8,
                }))
            }
            CPUID_RESP => {
                if bits(value, 12, 29) != 0 {
                    return Err(MsrError::ReservedBitsSet(value));
                }
                Ok(Self::Cpuid {
                    reg: CpuidReg::from_bits(value >> 30),
                    value: (value >> 32) as u32,
                })
            }
            AP_RESET_HOLD_RESP => Ok(Self::ApResetHold { data }),
            PREFERRED_GPA_RESP => Ok(Self::PreferredGpa {
                gfn: (data != DATA_ALL_ONES).then_some(data),
            }),
            REGISTER_GPA_RESP => Ok(Self::RegisterGpa {
                gfn: (data != DATA_ALL_ONES).then_some(data),
            }),
            PSC_RESP => {
                if bits(value, 12, 31) != 0 {
                    return Err(MsrError::ReservedBitsSet(value));
                }
                Ok(Self::PageStateChange {
                    error: (value >> 32) as u32,
                })
            }
            HV_FEATURES_RESP => Ok(Self::HvFeatures { features: data }),
            other => Err(MsrError::UnknownCode(other)),
        }
    }

    /// Decodes `value` and checks that it answers `request` (right code; for CPUID the same
    /// register). Register-GPA echo checking is done by the caller, which knows the GFN sent.
    pub fn decode_for(request: &MsrRequest, value: u64) -> Result<Self, MsrError> {
        let expected = request
            .response_code()
            .ok_or(MsrError::InvalidField("termination has no response"))?;
        let found = value & INFO_MASK;
        if found != expected {
            return Err(MsrError::UnexpectedCode { expected, found });
        }
        let resp = Self::decode(value)?;
        if let (MsrRequest::Cpuid { reg, .. }, Self::Cpuid { reg: got, .. }) = (request, &resp)
            && reg != got
        {
            return Err(MsrError::InvalidField(
                "CPUID response for another register",
            ));
        }
        Ok(resp)
    }
}

fn checked_gfn(gfn: u64) -> Result<u64, MsrError> {
    if gfn > DATA_ALL_ONES {
        Err(MsrError::InvalidField("GFN wider than 52 bits"))
    } else {
        Ok(gfn)
    }
}

/// Extracts bits `lo..=hi` of `value`.
pub(crate) const fn bits(value: u64, lo: u32, hi: u32) -> u64 {
    let width = hi - lo + 1;
    if width >= 64 {
        value >> lo
    } else {
        (value >> lo) & ((1u64 << width) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_req(req: MsrRequest) -> u64 {
        let v = req.encode().unwrap();
        assert_eq!(MsrRequest::decode(v).unwrap(), req, "value {v:#x}");
        v
    }

    fn round_trip_resp(resp: MsrResponse) -> u64 {
        let v = resp.encode().unwrap();
        assert_eq!(MsrResponse::decode(v).unwrap(), resp, "value {v:#x}");
        v
    }

    #[test]
    fn sev_info_round_trip_and_layout() {
        assert_eq!(round_trip_req(MsrRequest::SevInfo), 0x002);
        let info = SevInfo {
            max_version: 2,
            min_version: 1,
            cbit: 51,
        };
        let v = round_trip_resp(MsrResponse::SevInfo(info));
        assert_eq!(v, (2 << 48) | (1 << 32) | (51 << 24) | 1);
        assert_eq!(
            MsrResponse::decode(v | 0x1000),
            Err(MsrError::ReservedBitsSet(v | 0x1000))
        );
    }

    #[test]
    fn version_negotiation() {
        let info = |min, max| SevInfo {
            min_version: min,
            max_version: max,
            cbit: 51,
        };
        assert_eq!(info(1, 2).negotiate(2, 2), Ok(2));
        assert_eq!(info(1, 5).negotiate(2, 2), Ok(2));
        assert_eq!(info(2, 2).negotiate(1, 2), Ok(2));
        assert_eq!(info(1, 2).negotiate(1, 3), Ok(2));
        assert_eq!(
            info(1, 1).negotiate(2, 2),
            Err(VersionError::NoCommonVersion {
                hv_min: 1,
                hv_max: 1
            })
        );
        assert_eq!(
            info(3, 4).negotiate(2, 2),
            Err(VersionError::NoCommonVersion {
                hv_min: 3,
                hv_max: 4
            })
        );
        assert_eq!(
            info(3, 1).negotiate(1, 3),
            Err(VersionError::EmptyRange { min: 3, max: 1 })
        );
    }

    #[test]
    fn cpuid_round_trip_and_reserved_bits() {
        for reg in [CpuidReg::Eax, CpuidReg::Ebx, CpuidReg::Ecx, CpuidReg::Edx] {
            let req = MsrRequest::Cpuid {
                leaf: 0x8000_001F,
                reg,
            };
            let v = round_trip_req(req);
            assert_eq!(v >> 32, 0x8000_001F);
            assert_eq!((v >> 30) & 3, reg as u64);
            let resp = MsrResponse::Cpuid {
                reg,
                value: 0xDEAD_BEEF,
            };
            let rv = round_trip_resp(resp);
            assert_eq!(MsrResponse::decode_for(&req, rv), Ok(resp));
            // any bit in [29:12] set is rejected
            for bit in 12..30 {
                assert_eq!(
                    MsrResponse::decode(rv | (1 << bit)),
                    Err(MsrError::ReservedBitsSet(rv | (1 << bit)))
                );
            }
        }
        let req = MsrRequest::Cpuid {
            leaf: 1,
            reg: CpuidReg::Eax,
        };
        let other_reg = MsrResponse::Cpuid {
            reg: CpuidReg::Ebx,
            value: 1,
        }
        .encode()
        .unwrap();
        assert!(MsrResponse::decode_for(&req, other_reg).is_err());
    }

    #[test]
    fn ap_reset_hold_and_preferred_gpa() {
        assert_eq!(round_trip_req(MsrRequest::ApResetHold), 0x006);
        round_trip_resp(MsrResponse::ApResetHold { data: 1 });
        assert_eq!(round_trip_req(MsrRequest::PreferredGpa), 0x010);
        let v = round_trip_resp(MsrResponse::PreferredGpa { gfn: Some(0x1234) });
        assert_eq!(v, 0x0123_4011);
        let none = round_trip_resp(MsrResponse::PreferredGpa { gfn: None });
        assert_eq!(none, 0xFFFF_FFFF_FFFF_F011);
    }

    #[test]
    fn register_gpa_round_trip_and_refusal() {
        let v = round_trip_req(MsrRequest::RegisterGpa {
            gfn: 0x7_F000 >> 12,
        });
        assert_eq!(v, 0x7_F012);
        let echo = round_trip_resp(MsrResponse::RegisterGpa { gfn: Some(0x7F) });
        assert_eq!(echo, 0x7_F013);
        let refused = round_trip_resp(MsrResponse::RegisterGpa { gfn: None });
        assert_eq!(refused, 0xFFFF_FFFF_FFFF_F013);
        assert!(MsrRequest::RegisterGpa { gfn: 1 << 52 }.encode().is_err());
    }

    #[test]
    fn psc_round_trip_and_errors() {
        let req = MsrRequest::PageStateChange {
            gfn: 0xAB_CDEF_0123,
            op: MsrPscOp::Shared,
        };
        let v = round_trip_req(req);
        assert_eq!(v, 0x002A_BCDE_F012_3014);
        round_trip_req(MsrRequest::PageStateChange {
            gfn: 5,
            op: MsrPscOp::Private,
        });
        assert!(
            MsrRequest::PageStateChange {
                gfn: 1 << 40,
                op: MsrPscOp::Private
            }
            .encode()
            .is_err()
        );
        // bad op / reserved bits in request
        assert!(MsrRequest::decode(0x0030_0000_0000_1014).is_err());
        assert!(MsrRequest::decode(0x0120_0000_0000_1014).is_err());
        let ok = round_trip_resp(MsrResponse::PageStateChange { error: 0 });
        assert_eq!(ok, 0x015);
        let err = round_trip_resp(MsrResponse::PageStateChange { error: 7 });
        assert_eq!(err, 0x0000_0007_0000_0015);
        assert!(MsrResponse::decode(0x0000_0000_8000_0015).is_err());
    }

    #[test]
    fn hv_features_round_trip() {
        assert_eq!(round_trip_req(MsrRequest::HvFeatures), 0x080);
        let v = round_trip_resp(MsrResponse::HvFeatures {
            features: HV_FEATURE_SNP | HV_FEATURE_AP_CREATION,
        });
        assert_eq!(v, 0x3081);
    }

    #[test]
    fn terminate_encoding() {
        let v = round_trip_req(MsrRequest::Terminate { set: 1, code: 4 });
        assert_eq!(v, 0x0004_1100);
        let v = round_trip_req(MsrRequest::Terminate { set: 0, code: 2 });
        assert_eq!(v, 0x0002_0100);
        assert!(MsrRequest::Terminate { set: 16, code: 0 }.encode().is_err());
        assert_eq!(
            MsrRequest::Terminate { set: 0, code: 0 }.response_code(),
            None
        );
    }

    #[test]
    fn malformed_responses_rejected() {
        assert_eq!(
            MsrResponse::decode(0xFFF),
            Err(MsrError::UnknownCode(0xFFF))
        );
        // A request code echoed back instead of the response.
        assert_eq!(
            MsrResponse::decode_for(&MsrRequest::SevInfo, 0x002),
            Err(MsrError::UnexpectedCode {
                expected: 0x001,
                found: 0x002
            })
        );
        assert!(MsrResponse::decode_for(&MsrRequest::HvFeatures, 0x013).is_err());
        // Data in requests that carry none.
        assert!(MsrRequest::decode(0x1002).is_err());
    }

    /// Every decodable response re-encodes to the same value (the codec is exact), and
    /// arbitrary values never panic.
    #[test]
    fn decode_encode_is_identity_on_accepted_values() {
        let mut x: u64 = 0x0F0F_1234_8765_4321;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for code in [0x001, 0x005, 0x007, 0x011, 0x013, 0x015, 0x081] {
                let v = (x & !INFO_MASK) | code;
                if let Ok(r) = MsrResponse::decode(v) {
                    assert_eq!(r.encode(), Ok(v), "{v:#x}");
                }
            }
            let _ = MsrRequest::decode(x);
        }
    }
}
