//! The GHCB page: a 4096-byte shared page the guest and hypervisor exchange state through
//! (AMD 56421 GHCB specification §2.3 "GHCB Layout", table 3 "GHCB save area", and
//! appendix "NAE events"; offsets cross-checked with snp-facts §4).
//!
//! [`GhcbPage`] is a plain byte array with typed accessors at fixed offsets; every offset is
//! checked against the page size at compile time. The valid bitmap (offset 0x3F0, 16 bytes)
//! has one bit per quadword of the save area: bit n marks the qword at offset n*8 valid.
//! [`ExitResult`] decodes `sw_exit_info_1`/`sw_exit_info_2` after a VMGEXIT.

/// Size of the GHCB page.
pub const GHCB_SIZE: usize = 4096;

/// Offset of `cpl` (u8).
pub const OFF_CPL: usize = 0x0CB;
/// Offset of `xss` (u64).
pub const OFF_XSS: usize = 0x140;
/// Offset of `dr7` (u64).
pub const OFF_DR7: usize = 0x160;
/// Offset of `rax` (u64).
pub const OFF_RAX: usize = 0x1F8;
/// Offset of `rcx` (u64).
pub const OFF_RCX: usize = 0x308;
/// Offset of `rdx` (u64).
pub const OFF_RDX: usize = 0x310;
/// Offset of `rbx` (u64).
pub const OFF_RBX: usize = 0x318;
/// Offset of `sw_exit_code` (u64).
pub const OFF_SW_EXIT_CODE: usize = 0x390;
/// Offset of `sw_exit_info_1` (u64).
pub const OFF_SW_EXIT_INFO_1: usize = 0x398;
/// Offset of `sw_exit_info_2` (u64).
pub const OFF_SW_EXIT_INFO_2: usize = 0x3A0;
/// Offset of `sw_scratch` (u64).
pub const OFF_SW_SCRATCH: usize = 0x3A8;
/// Offset of `xcr0` (u64).
pub const OFF_XCR0: usize = 0x3E8;
/// Offset of the valid bitmap (16 bytes).
pub const OFF_VALID_BITMAP: usize = 0x3F0;
/// Offset of `x87_state_gpa` (u64).
pub const OFF_X87_STATE_GPA: usize = 0x400;
/// Offset of the shared buffer.
pub const OFF_SHARED_BUFFER: usize = 0x800;
/// Size of the shared buffer (0x800..0xFF0).
pub const SHARED_BUFFER_SIZE: usize = 2032;
/// Offset of `protocol_version` (u16).
pub const OFF_PROTOCOL_VERSION: usize = 0xFFA;
/// Offset of `ghcb_usage` (u32).
pub const OFF_GHCB_USAGE: usize = 0xFFC;

/// GHCB protocol version Elastic speaks (SNP requires version 2).
pub const GHCB_PROTOCOL_VERSION: u16 = 2;
/// `ghcb_usage` value for the standard GHCB format.
pub const GHCB_USAGE_STANDARD: u32 = 0;

const _: () = {
    assert!(OFF_CPL < OFF_VALID_BITMAP);
    assert!(OFF_X87_STATE_GPA + 8 <= OFF_SHARED_BUFFER);
    assert!(OFF_SHARED_BUFFER + SHARED_BUFFER_SIZE == 0xFF0);
    assert!(OFF_PROTOCOL_VERSION + 2 == OFF_GHCB_USAGE);
    assert!(OFF_GHCB_USAGE + 4 == GHCB_SIZE);
    assert!(core::mem::size_of::<GhcbPage>() == GHCB_SIZE);
    assert!(core::mem::align_of::<GhcbPage>() == GHCB_SIZE);
    // valid-bitmap bit numbers match the offsets (bit n = qword at n*8)
    assert!(ValidBit::Rax as usize * 8 == OFF_RAX);
    assert!(ValidBit::Rcx as usize * 8 == OFF_RCX);
    assert!(ValidBit::Rdx as usize * 8 == OFF_RDX);
    assert!(ValidBit::Rbx as usize * 8 == OFF_RBX);
    assert!(ValidBit::SwExitCode as usize * 8 == OFF_SW_EXIT_CODE);
    assert!(ValidBit::SwExitInfo1 as usize * 8 == OFF_SW_EXIT_INFO_1);
    assert!(ValidBit::SwExitInfo2 as usize * 8 == OFF_SW_EXIT_INFO_2);
    assert!(ValidBit::SwScratch as usize * 8 == OFF_SW_SCRATCH);
    assert!(ValidBit::Xcr0 as usize * 8 == OFF_XCR0);
    assert!(ValidBit::Xss as usize * 8 == OFF_XSS);
    assert!(ValidBit::Dr7 as usize * 8 == OFF_DR7);
    assert!(ValidBit::Cpl as usize * 8 == OFF_CPL & !7);
};

/// A bit in the GHCB valid bitmap (bit n = save-area qword at offset n*8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidBit {
    /// `cpl` (25).
    Cpl = 25,
    /// `xss` (40).
    Xss = 40,
    /// `dr7` (44).
    Dr7 = 44,
    /// `rax` (63).
    Rax = 63,
    /// `rcx` (97).
    Rcx = 97,
    /// `rdx` (98).
    Rdx = 98,
    /// `rbx` (99).
    Rbx = 99,
    /// `sw_exit_code` (114).
    SwExitCode = 114,
    /// `sw_exit_info_1` (115).
    SwExitInfo1 = 115,
    /// `sw_exit_info_2` (116).
    SwExitInfo2 = 116,
    /// `sw_scratch` (117).
    SwScratch = 117,
    /// `xcr0` (125).
    Xcr0 = 125,
}

/// Non-automatic-exit (NAE) exit codes written to `sw_exit_code` (GHCB spec table 7).
pub mod exit_code {
    /// RDTSC.
    pub const RDTSC: u64 = 0x6E;
    /// CPUID.
    pub const CPUID: u64 = 0x72;
    /// IN/OUT/INS/OUTS.
    pub const IOIO: u64 = 0x7B;
    /// RDMSR/WRMSR.
    pub const MSR: u64 = 0x7C;
    /// VMMCALL.
    pub const VMMCALL: u64 = 0x81;
    /// RDTSCP.
    pub const RDTSCP: u64 = 0x87;
    /// WBINVD.
    pub const WBINVD: u64 = 0x89;
    /// Nested page fault (MMIO) — as a #VC error code.
    pub const NPF: u64 = 0x400;
    /// Access to a private page that is not validated — as a #VC error code.
    pub const PAGE_NOT_VALIDATED: u64 = 0x404;
    /// MMIO read.
    pub const MMIO_READ: u64 = 0x8000_0001;
    /// MMIO write.
    pub const MMIO_WRITE: u64 = 0x8000_0002;
    /// AP jump table (SEV-ES only).
    pub const AP_JUMP_TABLE: u64 = 0x8000_0005;
    /// SNP page state change.
    pub const PSC: u64 = 0x8000_0010;
    /// SNP guest request.
    pub const GUEST_REQUEST: u64 = 0x8000_0011;
    /// SNP extended guest request.
    pub const EXT_GUEST_REQUEST: u64 = 0x8000_0012;
    /// SNP AP creation.
    pub const AP_CREATION: u64 = 0x8000_0013;
    /// Hypervisor feature support.
    pub const HV_FEATURES: u64 = 0x8000_FFFD;
    /// Termination request.
    pub const TERMINATE: u64 = 0x8000_FFFE;
    /// Unsupported event.
    pub const UNSUPPORTED: u64 = 0x8000_FFFF;
}

/// The GHCB page: 4096 bytes, page aligned. The kernel maps its shared GHCB page as this type.
#[derive(Clone, PartialEq, Eq)]
#[repr(C, align(4096))]
pub struct GhcbPage {
    bytes: [u8; GHCB_SIZE],
}

impl core::fmt::Debug for GhcbPage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GhcbPage")
            .field("sw_exit_code", &self.sw_exit_code())
            .field("sw_exit_info_1", &self.sw_exit_info_1())
            .field("sw_exit_info_2", &self.sw_exit_info_2())
            .field("valid_bitmap", &self.valid_bitmap())
            .finish_non_exhaustive()
    }
}

impl Default for GhcbPage {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! qword_field {
    ($get:ident, $set:ident, $off:expr, $bit:expr, $name:literal) => {
        #[doc = concat!("Reads `", $name, "`.")]
        pub fn $get(&self) -> u64 {
            self.read_u64::<{ $off }>()
        }
        #[doc = concat!("Writes `", $name, "` and marks it valid.")]
        pub fn $set(&mut self, value: u64) {
            self.write_u64::<{ $off }>(value);
            self.set_valid($bit);
        }
    };
}

impl GhcbPage {
    /// An all-zero GHCB page.
    pub const fn new() -> Self {
        Self {
            bytes: [0; GHCB_SIZE],
        }
    }

    /// The raw page bytes.
    pub fn as_bytes(&self) -> &[u8; GHCB_SIZE] {
        &self.bytes
    }

    /// The raw page bytes, mutable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8; GHCB_SIZE] {
        &mut self.bytes
    }

    fn read_u64<const OFF: usize>(&self) -> u64 {
        const { assert!(OFF + 8 <= GHCB_SIZE) };
        self.bytes
            .get(OFF..OFF + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    }

    fn write_u64<const OFF: usize>(&mut self, value: u64) {
        const { assert!(OFF + 8 <= GHCB_SIZE) };
        if let Some(b) = self.bytes.get_mut(OFF..OFF + 8) {
            b.copy_from_slice(&value.to_le_bytes());
        }
    }

    qword_field!(rax, set_rax, OFF_RAX, ValidBit::Rax, "rax");
    qword_field!(rbx, set_rbx, OFF_RBX, ValidBit::Rbx, "rbx");
    qword_field!(rcx, set_rcx, OFF_RCX, ValidBit::Rcx, "rcx");
    qword_field!(rdx, set_rdx, OFF_RDX, ValidBit::Rdx, "rdx");
    qword_field!(xss, set_xss, OFF_XSS, ValidBit::Xss, "xss");
    qword_field!(dr7, set_dr7, OFF_DR7, ValidBit::Dr7, "dr7");
    qword_field!(xcr0, set_xcr0, OFF_XCR0, ValidBit::Xcr0, "xcr0");
    qword_field!(
        sw_exit_code,
        set_sw_exit_code,
        OFF_SW_EXIT_CODE,
        ValidBit::SwExitCode,
        "sw_exit_code"
    );
    qword_field!(
        sw_exit_info_1,
        set_sw_exit_info_1,
        OFF_SW_EXIT_INFO_1,
        ValidBit::SwExitInfo1,
        "sw_exit_info_1"
    );
    qword_field!(
        sw_exit_info_2,
        set_sw_exit_info_2,
        OFF_SW_EXIT_INFO_2,
        ValidBit::SwExitInfo2,
        "sw_exit_info_2"
    );
    qword_field!(
        sw_scratch,
        set_sw_scratch,
        OFF_SW_SCRATCH,
        ValidBit::SwScratch,
        "sw_scratch"
    );

    /// Reads `cpl`.
    pub fn cpl(&self) -> u8 {
        self.bytes[OFF_CPL]
    }

    /// Writes `cpl` and marks it valid.
    pub fn set_cpl(&mut self, cpl: u8) {
        self.bytes[OFF_CPL] = cpl;
        self.set_valid(ValidBit::Cpl);
    }

    /// Reads `protocol_version`.
    pub fn protocol_version(&self) -> u16 {
        u16::from_le_bytes([
            self.bytes[OFF_PROTOCOL_VERSION],
            self.bytes[OFF_PROTOCOL_VERSION + 1],
        ])
    }

    /// Writes `protocol_version`.
    pub fn set_protocol_version(&mut self, version: u16) {
        self.bytes[OFF_PROTOCOL_VERSION..OFF_PROTOCOL_VERSION + 2]
            .copy_from_slice(&version.to_le_bytes());
    }

    /// Reads `ghcb_usage`.
    pub fn ghcb_usage(&self) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.bytes[OFF_GHCB_USAGE..OFF_GHCB_USAGE + 4]);
        u32::from_le_bytes(b)
    }

    /// Writes `ghcb_usage`.
    pub fn set_ghcb_usage(&mut self, usage: u32) {
        self.bytes[OFF_GHCB_USAGE..OFF_GHCB_USAGE + 4].copy_from_slice(&usage.to_le_bytes());
    }

    /// The valid bitmap as a 128-bit little-endian integer.
    pub fn valid_bitmap(&self) -> u128 {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.bytes[OFF_VALID_BITMAP..OFF_VALID_BITMAP + 16]);
        u128::from_le_bytes(b)
    }

    /// Marks `bit` valid.
    pub fn set_valid(&mut self, bit: ValidBit) {
        let n = bit as usize;
        if let Some(b) = self.bytes.get_mut(OFF_VALID_BITMAP + n / 8) {
            *b |= 1 << (n % 8);
        }
    }

    /// Whether `bit` is marked valid.
    pub fn is_valid(&self, bit: ValidBit) -> bool {
        let n = bit as usize;
        self.bytes
            .get(OFF_VALID_BITMAP + n / 8)
            .is_some_and(|b| b & (1 << (n % 8)) != 0)
    }

    /// Clears the valid bitmap (done before building each request so that only fields set for
    /// this request, and fields the hypervisor marks as outputs, are valid).
    pub fn clear_valid_bitmap(&mut self) {
        self.bytes[OFF_VALID_BITMAP..OFF_VALID_BITMAP + 16].fill(0);
    }

    /// Clears the save area (everything before the shared buffer) and sets the protocol
    /// version and usage: the state for building a fresh request.
    pub fn reset_for_request(&mut self) {
        self.bytes[..OFF_SHARED_BUFFER].fill(0);
        self.set_protocol_version(GHCB_PROTOCOL_VERSION);
        self.set_ghcb_usage(GHCB_USAGE_STANDARD);
    }

    /// The shared buffer (0x800..0xFF0, 2032 bytes).
    pub fn shared_buffer(&self) -> &[u8] {
        &self.bytes[OFF_SHARED_BUFFER..OFF_SHARED_BUFFER + SHARED_BUFFER_SIZE]
    }

    /// The shared buffer, mutable.
    pub fn shared_buffer_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[OFF_SHARED_BUFFER..OFF_SHARED_BUFFER + SHARED_BUFFER_SIZE]
    }
}

/// Event type in an event-injection value (`[10:8]`, AMD APM vol. 2 §15.20 EVENTINJ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// External interrupt (0).
    ExternalInterrupt,
    /// NMI (2).
    Nmi,
    /// Exception (3).
    Exception,
    /// Software interrupt (4).
    SoftwareInterrupt,
    /// Reserved type values (1, 5, 6, 7).
    Reserved(u8),
}

/// An event the hypervisor asks the guest to inject (sw_exit_info_1 = 1; value in info_2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInjection {
    /// Vector [7:0].
    pub vector: u8,
    /// Type [10:8].
    pub kind: EventType,
    /// Error code [63:32] when bit 11 (EV) is set.
    pub error_code: Option<u32>,
}

/// Decoding an event-injection value failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventError {
    /// Bit 31 (V) is clear: the hypervisor gave no valid event.
    NotValid(u64),
    /// Reserved bits [30:12] are set.
    ReservedBitsSet(u64),
}

impl EventInjection {
    /// Decodes an EVENTINJ-format value.
    pub fn decode(value: u64) -> Result<Self, EventError> {
        if value & (1 << 31) == 0 {
            return Err(EventError::NotValid(value));
        }
        if value & 0x7FFF_F000 != 0 {
            return Err(EventError::ReservedBitsSet(value));
        }
        let kind = match ((value >> 8) & 7) as u8 {
            0 => EventType::ExternalInterrupt,
            2 => EventType::Nmi,
            3 => EventType::Exception,
            4 => EventType::SoftwareInterrupt,
            other => EventType::Reserved(other),
        };
        Ok(Self {
            vector: value as u8,
            kind,
            error_code: (value & (1 << 11) != 0).then_some((value >> 32) as u32),
        })
    }

    /// Encodes the event (for tests and simulators).
    pub fn encode(&self) -> u64 {
        let kind: u64 = match self.kind {
            EventType::ExternalInterrupt => 0,
            EventType::Nmi => 2,
            EventType::Exception => 3,
            EventType::SoftwareInterrupt => 4,
            EventType::Reserved(t) => u64::from(t & 7),
        };
        let mut v = u64::from(self.vector) | (kind << 8) | (1 << 31);
        if let Some(ec) = self.error_code {
            v |= (1 << 11) | (u64::from(ec) << 32);
        }
        v
    }
}

/// Error codes the hypervisor returns in sw_exit_info_2 when sw_exit_info_1 = 2
/// (GHCB spec §4.1.7 / Linux `GHCB_ERR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HvErrorCode {
    /// 1: GHCB GPA not registered.
    NotRegistered,
    /// 2: invalid GHCB usage.
    InvalidUsage,
    /// 3: invalid scratch area.
    InvalidScratchArea,
    /// 4: missing input.
    MissingInput,
    /// 5: invalid input.
    InvalidInput,
    /// 6: invalid event.
    InvalidEvent,
    /// Any other value.
    Other(u64),
}

impl HvErrorCode {
    /// Classifies an sw_exit_info_2 error value.
    pub fn from_info2(value: u64) -> Self {
        match value {
            1 => Self::NotRegistered,
            2 => Self::InvalidUsage,
            3 => Self::InvalidScratchArea,
            4 => Self::MissingInput,
            5 => Self::InvalidInput,
            6 => Self::InvalidEvent,
            other => Self::Other(other),
        }
    }
}

/// Outcome of a GHCB exit as read from `sw_exit_info_1` / `sw_exit_info_2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitResult {
    /// info_1[31:0] = 0: the request completed; info_2 carries request-specific data.
    Ok {
        /// sw_exit_info_2 (request specific; PSC and guest requests put status here).
        info_2: u64,
    },
    /// info_1[31:0] = 1: the hypervisor asks the guest to take this exception.
    Inject(EventInjection),
    /// info_1[31:0] = 2: the hypervisor reports an error.
    Error(HvErrorCode),
}

/// A GHCB response that does not follow the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// sw_exit_info_1 was not marked valid by the hypervisor.
    Info1NotValid,
    /// sw_exit_info_2 was needed (result 1 or 2) but not marked valid.
    Info2NotValid,
    /// sw_exit_info_1 holds a value the spec does not define (upper bits set or result > 2).
    GarbageInfo1(u64),
    /// The event-injection value in sw_exit_info_2 is malformed.
    BadEvent(EventError),
}

impl ExitResult {
    /// Decodes the result fields of `ghcb`, requiring the valid bits the spec mandates.
    /// sw_exit_info_1 must be exactly 0, 1 or 2 (upper 32 bits zero): hypervisors that leave
    /// garbage there are rejected rather than guessed about.
    pub fn from_ghcb(ghcb: &GhcbPage) -> Result<Self, ResponseError> {
        if !ghcb.is_valid(ValidBit::SwExitInfo1) {
            return Err(ResponseError::Info1NotValid);
        }
        let info_1 = ghcb.sw_exit_info_1();
        let info_2_valid = ghcb.is_valid(ValidBit::SwExitInfo2);
        let info_2 = ghcb.sw_exit_info_2();
        match info_1 {
            0 => Ok(Self::Ok {
                // info_2 carries data only for some requests; absent = 0.
                info_2: if info_2_valid { info_2 } else { 0 },
            }),
            1 => {
                if !info_2_valid {
                    return Err(ResponseError::Info2NotValid);
                }
                EventInjection::decode(info_2)
                    .map(Self::Inject)
                    .map_err(ResponseError::BadEvent)
            }
            2 => {
                if !info_2_valid {
                    return Err(ResponseError::Info2NotValid);
                }
                Ok(Self::Error(HvErrorCode::from_info2(info_2)))
            }
            other => Err(ResponseError::GarbageInfo1(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_write_at_spec_offsets() {
        let mut g = GhcbPage::new();
        g.set_rax(0x1111);
        g.set_rbx(0x2222);
        g.set_rcx(0x3333);
        g.set_rdx(0x4444);
        g.set_sw_exit_code(0x7B);
        g.set_sw_exit_info_1(0xAA);
        g.set_sw_exit_info_2(0xBB);
        g.set_sw_scratch(0x1000_0800);
        g.set_xcr0(7);
        g.set_protocol_version(2);
        let b = g.as_bytes();
        let q = |off: usize| u64::from_le_bytes(b[off..off + 8].try_into().unwrap());
        assert_eq!(q(0x1F8), 0x1111);
        assert_eq!(q(0x318), 0x2222);
        assert_eq!(q(0x308), 0x3333);
        assert_eq!(q(0x310), 0x4444);
        assert_eq!(q(0x390), 0x7B);
        assert_eq!(q(0x398), 0xAA);
        assert_eq!(q(0x3A0), 0xBB);
        assert_eq!(q(0x3A8), 0x1000_0800);
        assert_eq!(q(0x3E8), 7);
        assert_eq!(u16::from_le_bytes([b[0xFFA], b[0xFFB]]), 2);
        // valid bits: rax 63, rcx 97, rdx 98, rbx 99, exit 114..117, xcr0 125
        let vb = g.valid_bitmap();
        for bit in [63, 97, 98, 99, 114, 115, 116, 117, 125] {
            assert!(vb & (1u128 << bit) != 0, "bit {bit}");
        }
        assert_eq!(vb.count_ones(), 9);
        // byte 0x3F7 bit 7 is bit 63 (rax)
        assert_eq!(b[0x3F7], 0x80);
    }

    #[test]
    fn valid_bitmap_set_test_clear() {
        let mut g = GhcbPage::new();
        assert!(!g.is_valid(ValidBit::Rax));
        g.set_valid(ValidBit::Rax);
        assert!(g.is_valid(ValidBit::Rax));
        assert!(!g.is_valid(ValidBit::Rbx));
        g.set_cpl(0);
        assert!(g.is_valid(ValidBit::Cpl));
        g.clear_valid_bitmap();
        assert_eq!(g.valid_bitmap(), 0);
    }

    #[test]
    fn reset_keeps_shared_buffer_and_sets_version() {
        let mut g = GhcbPage::new();
        g.shared_buffer_mut()[0] = 0x5A;
        g.set_rax(9);
        g.reset_for_request();
        assert_eq!(g.rax(), 0);
        assert_eq!(g.valid_bitmap(), 0);
        assert_eq!(g.protocol_version(), GHCB_PROTOCOL_VERSION);
        assert_eq!(g.ghcb_usage(), 0);
        assert_eq!(g.shared_buffer()[0], 0x5A);
        assert_eq!(g.as_bytes()[OFF_SHARED_BUFFER], 0x5A);
    }

    fn with_result(info1: Option<u64>, info2: Option<u64>) -> GhcbPage {
        let mut g = GhcbPage::new();
        if let Some(v) = info1 {
            g.set_sw_exit_info_1(v);
        }
        if let Some(v) = info2 {
            g.set_sw_exit_info_2(v);
        }
        g
    }

    #[test]
    fn exit_result_decoding() {
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(0), None)),
            Ok(ExitResult::Ok { info_2: 0 })
        );
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(0), Some(5))),
            Ok(ExitResult::Ok { info_2: 5 })
        );
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(2), Some(1))),
            Ok(ExitResult::Error(HvErrorCode::NotRegistered))
        );
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(2), Some(99))),
            Ok(ExitResult::Error(HvErrorCode::Other(99)))
        );
        let gp = EventInjection {
            vector: 13,
            kind: EventType::Exception,
            error_code: Some(0),
        };
        assert_eq!(gp.encode(), 0x8000_0B0D);
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(1), Some(gp.encode()))),
            Ok(ExitResult::Inject(gp))
        );
        let ud = EventInjection {
            vector: 6,
            kind: EventType::Exception,
            error_code: None,
        };
        assert_eq!(EventInjection::decode(ud.encode()), Ok(ud));
    }

    #[test]
    fn exit_result_rejects_bad_responses() {
        assert_eq!(
            ExitResult::from_ghcb(&with_result(None, Some(0))),
            Err(ResponseError::Info1NotValid)
        );
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(2), None)),
            Err(ResponseError::Info2NotValid)
        );
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(1), None)),
            Err(ResponseError::Info2NotValid)
        );
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(3), Some(0))),
            Err(ResponseError::GarbageInfo1(3))
        );
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(0xDEAD_0000_0000), Some(0))),
            Err(ResponseError::GarbageInfo1(0xDEAD_0000_0000))
        );
        // event without V bit, and with reserved bits
        assert_eq!(
            ExitResult::from_ghcb(&with_result(Some(1), Some(0x30D))),
            Err(ResponseError::BadEvent(EventError::NotValid(0x30D)))
        );
        assert!(matches!(
            ExitResult::from_ghcb(&with_result(Some(1), Some(0x8001_030D))),
            Err(ResponseError::BadEvent(EventError::ReservedBitsSet(_)))
        ));
    }
}
