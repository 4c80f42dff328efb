//! Host side of the wasi-crypto proposal, symmetric part: the witx modules
//! `wasi_ephemeral_crypto_common` (options, array outputs, secrets managers) and
//! `wasi_ephemeral_crypto_symmetric` (keys, states, tags), with the ABI the `wasi-crypto-guest`
//! crate (0.1.7) and the proposal's witx (`proposal_common.witx`, `proposal_symmetric.witx`
//! of WebAssembly/wasi-crypto) define.
//!
//! Algorithms: `SHA-256`, `SHA-512`, `HMAC/SHA-256`, `HMAC/SHA-512`, `AES-128-GCM`,
//! `AES-256-GCM` (names matched ASCII case-insensitively, as the proposal's reference
//! implementation does). Every function returns a witx `crypto_errno` ([`CryptoErrno`]); a
//! guest pointer outside linear memory is `guest_error` (the proposal's conversion error, the
//! equivalent of WASI's `EFAULT`). Objects live in a per-guest, bounded handle table
//! ([`CryptoCtx`]); a handle of the wrong type is `invalid_handle`.
//!
//! Sealing: the managed key `elastic.sealing:<16 hex digits of GUEST_FIELD_SELECT>` obtained
//! with `symmetric_key_from_id` (or `symmetric_key_generate("AES-256-GCM")` with the u64
//! option `elastic.sealing`) is an AES-256-GCM key whose material comes from
//! [`crate::Services::sealing_key`] (under SEV-SNP, a PSP-derived key, AMD 56860 MSG_KEY_REQ);
//! it can be used but never exported (`prohibited_operation`). See `docs/guest-api.md`.
//!
//! Modules: `handles` (the handle table), `symmetric` (algorithms, keys, states), `calls`
//! (the witx functions over guest memory), `link` (wasmi registration).

mod calls;
mod handles;
pub(crate) mod link;
mod symmetric;
#[cfg(test)]
mod tests;

pub use handles::MAX_HANDLES;

use crate::Errno;

/// The witx `crypto_errno` enum (`proposal_common.witx`), with its numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CryptoErrno {
    /// `success`.
    Success = 0,
    /// `guest_error`: a guest pointer/length or enum value could not be converted.
    GuestError = 1,
    /// `not_implemented`: valid, but not implemented by this host.
    NotImplemented = 2,
    /// `unsupported_feature`: not supported for this algorithm / by this host.
    UnsupportedFeature = 3,
    /// `prohibited_operation`: administratively prohibited (e.g. exporting a sealing key).
    ProhibitedOperation = 4,
    /// `unsupported_encoding`.
    UnsupportedEncoding = 5,
    /// `unsupported_algorithm`.
    UnsupportedAlgorithm = 6,
    /// `unsupported_option`.
    UnsupportedOption = 7,
    /// `invalid_key`: wrong key for the algorithm (or wrong length).
    InvalidKey = 8,
    /// `invalid_length`: unsupported output/input length.
    InvalidLength = 9,
    /// `verification_failed`.
    VerificationFailed = 10,
    /// `rng_error`.
    RngError = 11,
    /// `algorithm_failure`: the underlying primitive failed.
    AlgorithmFailure = 12,
    /// `invalid_signature`.
    InvalidSignature = 13,
    /// `closed`: the handle was already closed.
    Closed = 14,
    /// `invalid_handle`: unassigned or closed handle, or a handle of another type.
    InvalidHandle = 15,
    /// `overflow`: a guest buffer is too small (or too much data was fed).
    Overflow = 16,
    /// `internal_error`.
    InternalError = 17,
    /// `too_many_handles`.
    TooManyHandles = 18,
    /// `key_not_supported`: a key was given to an unkeyed algorithm.
    KeyNotSupported = 19,
    /// `key_required`.
    KeyRequired = 20,
    /// `invalid_tag`: an authentication tag did not verify.
    InvalidTag = 21,
    /// `invalid_operation`: not possible with this algorithm.
    InvalidOperation = 22,
    /// `nonce_required`.
    NonceRequired = 23,
    /// `invalid_nonce`: wrong nonce length.
    InvalidNonce = 24,
    /// `option_not_set`.
    OptionNotSet = 25,
    /// `not_found`: no managed key with that identifier/version.
    NotFound = 26,
    /// `parameters_missing`.
    ParametersMissing = 27,
    /// `in_progress`.
    InProgress = 28,
    /// `incompatible_keys`.
    IncompatibleKeys = 29,
    /// `expired`.
    Expired = 30,
}

impl CryptoErrno {
    /// The witx numeric value.
    pub fn raw(self) -> u16 {
        self as u16
    }
}

impl From<Errno> for CryptoErrno {
    /// Guest-memory errors (`EFAULT`, invalid UTF-8) are the proposal's `guest_error`.
    fn from(_: Errno) -> Self {
        CryptoErrno::GuestError
    }
}

impl From<crate::fallible::NoMemory> for CryptoErrno {
    /// The host could not hold the data (heap gauge or allocation failure): the proposal
    /// has no out-of-memory code, so `internal_error`.
    fn from(_: crate::fallible::NoMemory) -> Self {
        CryptoErrno::InternalError
    }
}

/// Result of a wasi-crypto function.
pub type CR<T = ()> = Result<T, CryptoErrno>;

/// Per-guest wasi-crypto state: the handle table of options, array outputs, secrets
/// managers, keys, states and tags.
#[derive(Debug)]
pub struct CryptoCtx {
    handles: handles::Handles,
}

impl Default for CryptoCtx {
    fn default() -> Self {
        Self::new(MAX_HANDLES)
    }
}

impl CryptoCtx {
    /// A context allowing at most `max_handles` open objects (`too_many_handles` past it).
    pub fn new(max_handles: usize) -> Self {
        Self {
            handles: handles::Handles::new(max_handles),
        }
    }

    /// Number of open objects.
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }
}
