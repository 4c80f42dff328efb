//! Elastic's randomness and crypto helpers for the freestanding kernel.
//!
//! The centre piece is [`CtrDrbg`], the CTR_DRBG mechanism of NIST SP 800-90A Rev.1
//! (section 10.2.1) instantiated with AES-256 and the block-cipher derivation function
//! (`Block_Cipher_df`, section 10.3.2, built on `BCC`, section 10.3.3). It is checked
//! against the NIST CAVP DRBGVS known-answer vectors (`tests/kat.rs`).
//!
//! [`SecureRandom`] wraps a [`CtrDrbg`] together with an [`EntropySource`] (RDSEED/RDRAND
//! in the kernel, `getrandom` on the host): it seeds itself, splits large requests into
//! requests of at most [`MAX_BYTES_PER_REQUEST`], reseeds when the reseed interval is
//! reached and can run with prediction resistance (a reseed before every request).
//!
//! The crate is `no_std`, allocation-free and contains no `unsafe` code. AES comes from
//! the RustCrypto `aes` crate, which picks AES-NI at run time when the CPU has it.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
// Guests size the requests served here: no panicking shortcuts outside tests
// (docs/robustness.md, "Panic-freedom and fallible allocation").
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

mod drbg;
#[cfg(feature = "getrandom")]
mod os_entropy;
mod secure_random;

#[cfg(feature = "getrandom")]
pub use os_entropy::OsEntropy;

pub use drbg::{
    CtrDrbg, DEFAULT_RESEED_INTERVAL, MAX_BYTES_PER_REQUEST, MAX_INPUT_LEN, MAX_RESEED_INTERVAL,
    MIN_ENTROPY_LEN, MIN_NONCE_LEN, SEED_LEN,
};
pub use secure_random::{Config, SecureRandom};

use core::fmt;

/// Whether the AES implementation in use is hardware accelerated (AES-NI on x86_64).
///
/// Useful for the kernel's boot summary; the DRBG output is identical either way.
pub fn aes_hardware_accelerated() -> bool {
    aes::hardware_accelerated()
}

/// A source of entropy input for the DRBG (SP 800-90A Rev.1 section 8.6.5).
///
/// The kernel implements it with RDSEED (falling back to RDRAND), the host with
/// `getrandom`. Implementations must fill the whole buffer or fail.
pub trait EntropySource {
    /// Fills `buf` completely with entropy, or returns an error naming why it could not.
    fn fill_entropy(&mut self, buf: &mut [u8]) -> Result<(), EntropyError>;
}

impl<E: EntropySource + ?Sized> EntropySource for &mut E {
    fn fill_entropy(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        (**self).fill_entropy(buf)
    }
}

/// Why an [`EntropySource`] could not deliver entropy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntropyError {
    reason: &'static str,
}

impl EntropyError {
    /// Creates an error with a short static description (e.g. "RDSEED retries exhausted").
    pub const fn new(reason: &'static str) -> Self {
        Self { reason }
    }

    /// The description given by the entropy source.
    pub const fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entropy source failed: {}", self.reason)
    }
}

impl core::error::Error for EntropyError {}

/// Errors of the DRBG functions (SP 800-90A Rev.1 sections 9.1-9.3 error statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The entropy input is shorter than the 256-bit security strength requires.
    EntropyTooShort {
        /// Bytes supplied.
        len: usize,
    },
    /// The nonce is shorter than half the security strength (128 bits, section 8.6.7).
    NonceTooShort {
        /// Bytes supplied.
        len: usize,
    },
    /// An input string is longer than [`MAX_INPUT_LEN`].
    InputTooLong {
        /// Which input ("entropy_input", "nonce", "personalization_string", "additional_input").
        what: &'static str,
        /// Bytes supplied.
        len: usize,
    },
    /// A single generate request asked for more than [`MAX_BYTES_PER_REQUEST`] bytes.
    RequestTooLarge {
        /// Bytes requested.
        len: usize,
    },
    /// The reseed counter passed the reseed interval: reseed before generating again.
    ReseedRequired,
    /// A reseed interval of 0 or above [`MAX_RESEED_INTERVAL`] was configured.
    InvalidReseedInterval {
        /// The rejected interval.
        interval: u64,
    },
    /// The entropy source failed.
    Entropy(EntropyError),
    /// The built-in known-answer test ([`CtrDrbg::self_test`]) gave a wrong answer.
    SelfTestFailed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EntropyTooShort { len } => write!(
                f,
                "entropy input of {len} bytes is shorter than {MIN_ENTROPY_LEN} bytes"
            ),
            Self::NonceTooShort { len } => {
                write!(
                    f,
                    "nonce of {len} bytes is shorter than {MIN_NONCE_LEN} bytes"
                )
            }
            Self::InputTooLong { what, len } => {
                write!(
                    f,
                    "{what} of {len} bytes is longer than {MAX_INPUT_LEN} bytes"
                )
            }
            Self::RequestTooLarge { len } => write!(
                f,
                "request of {len} bytes exceeds {MAX_BYTES_PER_REQUEST} bytes per request"
            ),
            Self::ReseedRequired => f.write_str("reseed required: reseed interval reached"),
            Self::InvalidReseedInterval { interval } => write!(
                f,
                "reseed interval {interval} is not in 1..={MAX_RESEED_INTERVAL}"
            ),
            Self::Entropy(e) => fmt::Display::fmt(e, f),
            Self::SelfTestFailed => f.write_str("CTR_DRBG known-answer self-test failed"),
        }
    }
}

impl core::error::Error for Error {}

impl From<EntropyError> for Error {
    fn from(e: EntropyError) -> Self {
        Self::Entropy(e)
    }
}
