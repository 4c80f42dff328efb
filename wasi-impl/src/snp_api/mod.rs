//! The `elastic_snp` host module: AMD SEV-SNP attestation services offered to WASI guests.
//!
//! Under SEV-SNP the kernel talks to the AMD Secure Processor (PSP) through encrypted guest
//! messages (AMD 56860, SEV-SNP Firmware ABI, §7 "Guest Messages": MSG_REPORT_REQ
//! Table 22, MSG_KEY_REQ Table 18) and the GHCB extended guest request (AMD 56421, GHCB
//! specification, §4.1.8.2 "SNP Extended Guest Request", NAE event 0x8000_0012) that also
//! returns the host's certificate table. This module gives a guest five functions over that, with an errno-style ABI (every result is an `i32`; pointers and
//! lengths are `i32` offsets into the guest's exported `memory`):
//!
//! | function | signature | result |
//! |---|---|---|
//! | `is_snp` | `() -> i32` | 1 under SEV-SNP, else 0 |
//! | `attestation_report` | `(report_data: i32, vmpl: i32, out: i32, out_len: i32, out_written: i32) -> i32` | errno |
//! | `certificates` | `(out: i32, out_len: i32, out_written: i32) -> i32` | errno |
//! | `derived_key` | `(field_select: i64, out: i32) -> i32` | errno |
//! | `clock_trust` | `() -> i32` | [`ClockTrust`] as 0, 1 or 2 |
//!
//! Errors are witx `errno` values (`wasi_snapshot_preview1` `typenames.witx`, see
//! [`crate::Errno`]), checked in this order: `notsup` (58) when Elastic is not an SNP guest
//! (plain QEMU, `elastic run`): never a fabricated report; `fault` (21) for a pointer/length
//! outside linear memory, checked before anything is asked of the PSP; `inval` (28) for a VMPL
//! above 3 or reserved `field_select` bits; `range` (68) for an output buffer that is too
//! small, after writing the size needed to `out_written`; then the platform's: `inval` (the
//! PSP refused the parameters), `again` (6, the PSP stayed busy), `io` (29, the request failed
//! or the guest-message channel was disabled after a bad response). `docs/guest-api.md`
//! ("elastic_snp host module") is the user-facing description.
//!
//! Derived keys: the guest never receives the PSP's key itself but
//! HMAC-SHA-256(key, [`DERIVED_KEY_CONTEXT`]), so that the wasi-crypto sealing key
//! (`elastic.sealing:<fields>`, the PSP key for the same fields, see [`crate::crypto`]) stays
//! unexportable even though a guest can ask for a derived key with the same field selection.

pub(crate) mod link;
#[cfg(test)]
mod tests;

use crate::guest_mem::GuestMem;
use crate::{Errno, Services};
use hmac::{KeyInit, Mac};
use zeroize::Zeroize;

/// The module name guests import from.
pub const MODULE: &str = "elastic_snp";

/// The functions of [`MODULE`].
pub const FUNCTIONS: [&str; 5] = [
    "is_snp",
    "attestation_report",
    "certificates",
    "derived_key",
    "clock_trust",
];

/// Size of an attestation report (AMD 56860 Table 23, `ATTESTATION_REPORT`, 0x4A0 bytes in
/// every version so far).
pub const REPORT_SIZE: u32 = 0x4A0;

/// Size of the caller data bound into a report (`REPORT_DATA`, AMD 56860 Table 22,
/// MSG_REPORT_REQ).
pub const REPORT_DATA_SIZE: u32 = 64;

/// Size of a derived key (`DERIVED_KEY`, AMD 56860 Table 19, MSG_KEY_RSP).
pub const DERIVED_KEY_SIZE: u32 = 32;

/// Highest VMPL a report may be requested for (AMD 56860 Table 22: VMPL 0–3).
pub const MAX_VMPL: u32 = 3;

/// `GUEST_FIELD_SELECT` bits defined by AMD 56860 Table 18 (bit 0 guest policy, 1 image ID,
/// 2 family ID, 3 measurement, 4 guest SVN, 5 TCB version, 6 launch mitigation vector);
/// the others are reserved and refused with `inval`.
pub const FIELD_SELECT_MASK: u64 = (1 << 7) - 1;

/// HMAC message that turns the PSP's derived key into the key `derived_key` returns.
pub const DERIVED_KEY_CONTEXT: &[u8] = b"elastic_snp derived_key v1";

/// Why the platform could not serve an SNP request ([`Services`] methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnpError {
    /// Not an SEV-SNP guest, or this service is not available (guest sees `notsup`).
    NotSupported,
    /// The PSP refused the parameters, e.g. a VMPL below the kernel's own (`inval`).
    InvalidArgument,
    /// The PSP stayed busy past the retry budget (`again`).
    Busy,
    /// The request failed, or the channel is disabled after a bad response (`io`).
    Failed,
}

impl SnpError {
    /// The witx errno the guest sees.
    pub fn errno(self) -> Errno {
        match self {
            SnpError::NotSupported => Errno::Notsup,
            SnpError::InvalidArgument => Errno::Inval,
            SnpError::Busy => Errno::Again,
            SnpError::Failed => Errno::Io,
        }
    }
}

impl From<SnpError> for Errno {
    fn from(e: SnpError) -> Self {
        e.errno()
    }
}

/// How far the guest can trust the clocks (`clock_trust`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u32)]
pub enum ClockTrust {
    /// No trusted time: not an SNP guest (plain QEMU, `elastic run`), the host controls time.
    #[default]
    None = 0,
    /// SNP guest without Secure TSC: the TSC is hypervisor-controlled (it can scale, offset
    /// and intercept it).
    Hypervisor = 1,
    /// SNP Secure TSC (AMD 56860 MSG_TSC_INFO): the TSC runs at a PSP-provided scale and
    /// offset the hypervisor cannot change.
    SecureTsc = 2,
}

impl ClockTrust {
    /// The ABI value (0, 1 or 2).
    pub fn raw(self) -> u32 {
        self as u32
    }
}

/// Result of an `elastic_snp` function.
type R = Result<(), Errno>;

/// Checks that `len` bytes at `ptr` lie in guest memory.
fn check(mem: &mut GuestMem<'_>, ptr: u32, len: u32) -> R {
    mem.slice_mut(ptr, len).map(|_| ())
}

/// `is_snp() -> i32`.
pub(crate) fn is_snp(svc: &mut dyn Services) -> i32 {
    i32::from(svc.is_snp_guest())
}

/// `clock_trust() -> i32`.
pub(crate) fn clock_trust(svc: &mut dyn Services) -> i32 {
    // 0..=2 always fits.
    svc.clock_trust().raw() as i32
}

/// `attestation_report(report_data, vmpl, out, out_len, out_written) -> errno`: writes the
/// raw 1184-byte report for the 64 bytes at `report_data`, requested for `vmpl`.
pub(crate) fn attestation_report(
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    report_data: u32,
    vmpl: u32,
    out: u32,
    out_len: u32,
    out_written: u32,
) -> R {
    if !svc.is_snp_guest() {
        return Err(Errno::Notsup);
    }
    let mut data = [0u8; REPORT_DATA_SIZE as usize];
    data.copy_from_slice(mem.slice(report_data, REPORT_DATA_SIZE)?);
    check(mem, out_written, 4)?;
    check(mem, out, out_len)?;
    if vmpl > MAX_VMPL {
        return Err(Errno::Inval);
    }
    if out_len < REPORT_SIZE {
        mem.write_u32(out_written, REPORT_SIZE)?;
        return Err(Errno::Range);
    }
    let report = svc.snp_report(&data, vmpl)?;
    if report.len() != REPORT_SIZE as usize {
        // The embedder broke its contract; the guest must not get a malformed report.
        return Err(Errno::Io);
    }
    mem.write_bytes(out, &report)?;
    mem.write_u32(out_written, REPORT_SIZE)
}

/// `certificates(out, out_len, out_written) -> errno`: writes the host's certificate table
/// (GHCB extended guest request format: GUID/offset/length entries, an all-zero terminator,
/// then the certificates). Zero bytes written means the host supplied none.
pub(crate) fn certificates(
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    out: u32,
    out_len: u32,
    out_written: u32,
) -> R {
    if !svc.is_snp_guest() {
        return Err(Errno::Notsup);
    }
    check(mem, out_written, 4)?;
    check(mem, out, out_len)?;
    let blob = svc.snp_certificates()?;
    let len = u32::try_from(blob.len()).map_err(|_| Errno::Io)?;
    if len > out_len {
        mem.write_u32(out_written, len)?;
        return Err(Errno::Range);
    }
    mem.write_bytes(out, &blob)?;
    mem.write_u32(out_written, len)
}

/// `derived_key(field_select, out) -> errno`: writes 32 bytes derived from the PSP key for
/// `field_select` (see the module docs).
pub(crate) fn derived_key(
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    field_select: u64,
    out: u32,
) -> R {
    if !svc.is_snp_guest() {
        return Err(Errno::Notsup);
    }
    check(mem, out, DERIVED_KEY_SIZE)?;
    if field_select & !FIELD_SELECT_MASK != 0 {
        return Err(Errno::Inval);
    }
    let mut key = svc.snp_derived_key(field_select)?;
    let guest_key = guest_derived_key(&key);
    key.zeroize();
    let mut guest_key = guest_key?;
    let r = mem.write_bytes(out, &guest_key);
    guest_key.zeroize();
    r
}

/// HMAC-SHA-256(`psp_key`, [`DERIVED_KEY_CONTEXT`]): the key a guest receives. (HMAC takes
/// keys of any length, so the `io` error cannot happen.)
pub fn guest_derived_key(psp_key: &[u8; 32]) -> Result<[u8; 32], Errno> {
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(psp_key).map_err(|_| Errno::Io)?;
    mac.update(DERIVED_KEY_CONTEXT);
    Ok(mac.finalize().into_bytes().into())
}
