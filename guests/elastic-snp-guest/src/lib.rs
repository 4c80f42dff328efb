//! Guest side of Elastic's `elastic_snp` host module: AMD SEV-SNP attestation for WASI
//! guests (`wasm32-wasip1`). `docs/guest-api.md` ("elastic_snp host module") documents the
//! ABI; `guests/include/elastic_snp.h` is the same ABI for C.
//!
//! ```no_run
//! let nonce = [7u8; 64];
//! match elastic_snp_guest::attestation_report(&nonce) {
//!     Ok(report) => assert_eq!(report.len(), elastic_snp_guest::REPORT_SIZE),
//!     Err(elastic_snp_guest::Error::NotSupported) => { /* plain QEMU or `elastic run` */ }
//!     Err(e) => panic!("{e}"),
//! }
//! ```
//!
//! Outside Elastic (another runtime) a module importing these functions does not load. When
//! this crate is built for something other than wasm32 (host unit tests) every call behaves
//! as on a platform without SEV-SNP.
#![no_std]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Size of an attestation report in bytes (AMD 56860 `ATTESTATION_REPORT`, 0x4A0).
pub const REPORT_SIZE: usize = 0x4A0;
/// Size of a derived key in bytes.
pub const DERIVED_KEY_SIZE: usize = 32;

/// `GUEST_FIELD_SELECT` bits for [`derived_key`] (AMD 56860 MSG_KEY_REQ): which launch
/// fields are mixed into the key. A key changes whenever a selected field changes.
pub mod fields {
    /// The guest policy.
    pub const POLICY: u64 = 1 << 0;
    /// The image ID.
    pub const IMAGE_ID: u64 = 1 << 1;
    /// The family ID.
    pub const FAMILY_ID: u64 = 1 << 2;
    /// The launch measurement (the image: kernel and baked guests).
    pub const MEASUREMENT: u64 = 1 << 3;
    /// The guest SVN.
    pub const GUEST_SVN: u64 = 1 << 4;
    /// The TCB version.
    pub const TCB_VERSION: u64 = 1 << 5;
    /// The launch mitigation vector (newer firmware only).
    pub const LAUNCH_MIT_VECTOR: u64 = 1 << 6;
    /// All defined bits; any other bit is refused (`Error::InvalidArgument`).
    pub const ALL: u64 = (1 << 7) - 1;
}

/// Raw imports. Each returns a WASI `errno` (0 = success) except `is_snp` and
/// `clock_trust`, which return their value.
pub mod raw {
    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "elastic_snp")]
    unsafe extern "C" {
        /// 1 under SEV-SNP, else 0.
        pub fn is_snp() -> i32;
        /// Writes the raw report for the 64 bytes at `report_data`; see the ABI docs.
        pub fn attestation_report(
            report_data: *const u8,
            vmpl: u32,
            out: *mut u8,
            out_len: usize,
            out_written: *mut usize,
        ) -> i32;
        /// Writes the host's certificate table.
        pub fn certificates(out: *mut u8, out_len: usize, out_written: *mut usize) -> i32;
        /// Writes a 32-byte derived key.
        pub fn derived_key(field_select: u64, out: *mut u8) -> i32;
        /// 0 no trusted time, 1 hypervisor-controlled TSC, 2 SNP Secure TSC.
        pub fn clock_trust() -> i32;
    }

    /// Not wasm32: no Elastic host, so not an SNP guest.
    #[cfg(not(target_arch = "wasm32"))]
    mod host {
        /// `notsup`.
        const NOTSUP: i32 = 58;
        /// Always 0.
        pub fn is_snp() -> i32 {
            0
        }
        /// Always `notsup`.
        ///
        /// # Safety
        /// Never dereferences its arguments.
        pub unsafe fn attestation_report(
            _report_data: *const u8,
            _vmpl: u32,
            _out: *mut u8,
            _out_len: usize,
            _out_written: *mut usize,
        ) -> i32 {
            NOTSUP
        }
        /// Always `notsup`.
        ///
        /// # Safety
        /// Never dereferences its arguments.
        pub unsafe fn certificates(_out: *mut u8, _out_len: usize, _w: *mut usize) -> i32 {
            NOTSUP
        }
        /// Always `notsup`.
        ///
        /// # Safety
        /// Never dereferences its arguments.
        pub unsafe fn derived_key(_field_select: u64, _out: *mut u8) -> i32 {
            NOTSUP
        }
        /// Always 0.
        pub fn clock_trust() -> i32 {
            0
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    pub use host::*;
}

/// Why a call failed (the WASI errno the host returned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `notsup` (58): not an SEV-SNP guest (plain QEMU, `elastic run`), or the host cannot
    /// provide this.
    NotSupported,
    /// `fault` (21): a buffer outside linear memory (a bug in this crate if it happens).
    Fault,
    /// `inval` (28): VMPL above 3, reserved field-select bits, or the PSP refused the
    /// parameters.
    InvalidArgument,
    /// `range` (68): the buffer was too small; this many bytes are needed.
    TooSmall(usize),
    /// `again` (6): the PSP stayed busy; try again later.
    Busy,
    /// `io` (29): the request to the PSP failed (the kernel stops using the channel after a
    /// bad response).
    Io,
    /// Any other errno.
    Other(i32),
}

impl Error {
    /// The error for a non-zero errno (`needed` is what the host wrote for `range`).
    pub fn from_errno(errno: i32, needed: usize) -> Self {
        match errno {
            58 => Error::NotSupported,
            21 => Error::Fault,
            28 => Error::InvalidArgument,
            68 => Error::TooSmall(needed),
            6 => Error::Busy,
            29 => Error::Io,
            e => Error::Other(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotSupported => f.write_str("not supported (not an SEV-SNP guest)"),
            Error::Fault => f.write_str("buffer outside guest memory"),
            Error::InvalidArgument => f.write_str("invalid argument"),
            Error::TooSmall(n) => write!(f, "buffer too small ({n} bytes needed)"),
            Error::Busy => f.write_str("the AMD secure processor is busy"),
            Error::Io => f.write_str("the request to the AMD secure processor failed"),
            Error::Other(e) => write!(f, "errno {e}"),
        }
    }
}

impl core::error::Error for Error {}

/// How far the guest can trust the clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockTrust {
    /// 0: no trusted time (not an SNP guest; the host controls time).
    None,
    /// 1: SNP guest, but the TSC is hypervisor-controlled (no Secure TSC).
    Hypervisor,
    /// 2: SNP Secure TSC: the TSC's scale and offset are attested by the PSP.
    SecureTsc,
    /// A value this crate does not know.
    Unknown(i32),
}

impl ClockTrust {
    /// From the ABI value.
    pub fn from_raw(v: i32) -> Self {
        match v {
            0 => ClockTrust::None,
            1 => ClockTrust::Hypervisor,
            2 => ClockTrust::SecureTsc,
            n => ClockTrust::Unknown(n),
        }
    }
}

impl fmt::Display for ClockTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockTrust::None => f.write_str("0 (no trusted time: the host controls the clocks)"),
            ClockTrust::Hypervisor => f.write_str("1 (SEV-SNP, hypervisor-controlled TSC)"),
            ClockTrust::SecureTsc => f.write_str("2 (SEV-SNP Secure TSC)"),
            ClockTrust::Unknown(n) => write!(f, "{n} (unknown)"),
        }
    }
}

fn check(errno: i32, needed: usize) -> Result<(), Error> {
    if errno == 0 {
        Ok(())
    } else {
        Err(Error::from_errno(errno, needed))
    }
}

/// True if Elastic runs as an AMD SEV-SNP guest (attestation is available).
pub fn is_snp() -> bool {
    // SAFETY: takes no arguments.
    #[allow(unused_unsafe)]
    let v = unsafe { raw::is_snp() };
    v == 1
}

/// The clocks' trust level.
pub fn clock_trust() -> ClockTrust {
    // SAFETY: takes no arguments.
    #[allow(unused_unsafe)]
    let v = unsafe { raw::clock_trust() };
    ClockTrust::from_raw(v)
}

/// An attestation report (raw, [`REPORT_SIZE`] bytes, signed by the AMD PSP) binding
/// `report_data`, for VMPL 0. Put a nonce or a hash of a public key in `report_data`.
pub fn attestation_report(report_data: &[u8; 64]) -> Result<Vec<u8>, Error> {
    attestation_report_vmpl(report_data, 0)
}

/// As [`attestation_report`], requested for `vmpl` (0..=3; the PSP refuses a VMPL more
/// privileged than the kernel's).
pub fn attestation_report_vmpl(report_data: &[u8; 64], vmpl: u32) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; REPORT_SIZE];
    let mut written = 0usize;
    // SAFETY: `report_data` is 64 readable bytes, `out` is `out.len()` writable bytes and
    // `written` a writable usize (u32 on wasm32); the host writes nothing else.
    let e = unsafe {
        raw::attestation_report(
            report_data.as_ptr(),
            vmpl,
            out.as_mut_ptr(),
            out.len(),
            &mut written,
        )
    };
    check(e, written)?;
    out.truncate(written);
    Ok(out)
}

/// The host's certificate table (AMD's GHCB extended-request format: 24-byte entries of
/// GUID, offset, length ending in an all-zero entry, then the certificates: VCEK or VLEK,
/// ASK, ARK), as the host supplied it. Empty if the host supplied none.
pub fn certificates() -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    // Ask for the size first, then retry if the table grew in between.
    for _ in 0..4 {
        let mut written = 0usize;
        // SAFETY: `out` is `out.len()` writable bytes (possibly 0), `written` writable.
        let e = unsafe { raw::certificates(out.as_mut_ptr(), out.len(), &mut written) };
        match check(e, written) {
            Ok(()) => {
                out.truncate(written);
                return Ok(out);
            }
            Err(Error::TooSmall(n)) if n > out.len() => out.resize(n, 0),
            Err(err) => return Err(err),
        }
    }
    Err(Error::TooSmall(out.len()))
}

/// A 32-byte key derived by the AMD PSP from the launch fields selected in `field_select`
/// ([`fields`]), e.g. `fields::MEASUREMENT | fields::POLICY`: the same image with the same
/// policy gets the same key on the same machine, any other gets a different one. (It is
/// not the key behind the wasi-crypto sealing key `elastic.sealing:<fields>`.)
pub fn derived_key(field_select: u64) -> Result<[u8; DERIVED_KEY_SIZE], Error> {
    let mut key = [0u8; DERIVED_KEY_SIZE];
    // SAFETY: `key` is 32 writable bytes.
    let e = unsafe { raw::derived_key(field_select, key.as_mut_ptr()) };
    check(e, 0)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_map_to_errors() {
        assert_eq!(Error::from_errno(58, 0), Error::NotSupported);
        assert_eq!(Error::from_errno(68, 1184), Error::TooSmall(1184));
        assert_eq!(Error::from_errno(6, 0), Error::Busy);
        assert_eq!(Error::from_errno(29, 0), Error::Io);
        assert_eq!(Error::from_errno(28, 0), Error::InvalidArgument);
        assert_eq!(Error::from_errno(21, 0), Error::Fault);
        assert_eq!(Error::from_errno(8, 0), Error::Other(8));
        assert_eq!(ClockTrust::from_raw(2), ClockTrust::SecureTsc);
        assert_eq!(ClockTrust::from_raw(7), ClockTrust::Unknown(7));
    }

    #[test]
    fn off_wasm_nothing_is_supported() {
        assert!(!is_snp());
        assert_eq!(clock_trust(), ClockTrust::None);
        assert_eq!(attestation_report(&[0; 64]), Err(Error::NotSupported));
        assert_eq!(certificates(), Err(Error::NotSupported));
        assert_eq!(derived_key(fields::MEASUREMENT), Err(Error::NotSupported));
    }
}
