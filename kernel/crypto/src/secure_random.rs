//! [`SecureRandom`]: a self-seeding, self-reseeding CTR_DRBG for embedders.
//!
//! It instantiates a [`CtrDrbg`] from its [`EntropySource`] (entropy input and nonce both
//! taken from the source, as SP 800-90A Rev.1 section 8.6.7 allows), serves requests of
//! any size by splitting them into generate requests of at most
//! [`MAX_BYTES_PER_REQUEST`] bytes, reseeds from the source when the reseed interval is
//! reached (section 9.3.1 step 6, "reseed required"), and optionally asks for prediction
//! resistance on every request (section 9.3.1 step 7).

use zeroize::Zeroizing;

use crate::drbg::{CtrDrbg, DEFAULT_RESEED_INTERVAL, MAX_BYTES_PER_REQUEST, MIN_ENTROPY_LEN};
use crate::{EntropySource, Error};

/// Nonce length drawn from the entropy source at instantiation (128 bits).
const NONCE_LEN: usize = 16;

/// Settings of a [`SecureRandom`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Generate requests between reseeds (1..=2^48). Default 2^20.
    pub reseed_interval: u64,
    /// Reseed from the entropy source before every generate request. Default off.
    pub prediction_resistance: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            reseed_interval: DEFAULT_RESEED_INTERVAL,
            prediction_resistance: false,
        }
    }
}

/// A CTR_DRBG (AES-256, derivation function) bound to its entropy source.
pub struct SecureRandom<E: EntropySource> {
    drbg: CtrDrbg,
    source: E,
    prediction_resistance: bool,
    reseeds: u64,
}

impl<E: EntropySource> core::fmt::Debug for SecureRandom<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecureRandom")
            .field("drbg", &self.drbg)
            .field("prediction_resistance", &self.prediction_resistance)
            .field("reseeds", &self.reseeds)
            .finish_non_exhaustive()
    }
}

impl<E: EntropySource> SecureRandom<E> {
    /// Instantiates with the default [`Config`]; `personalization` may be empty (the
    /// kernel passes something instance-specific, e.g. the launch measurement).
    pub fn new(source: E, personalization: &[u8]) -> Result<Self, Error> {
        Self::with_config(source, personalization, Config::default())
    }

    /// Instantiates with the given settings, drawing 256 bits of entropy input and a
    /// 128-bit nonce from `source`.
    pub fn with_config(
        mut source: E,
        personalization: &[u8],
        config: Config,
    ) -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; MIN_ENTROPY_LEN + NONCE_LEN]);
        source.fill_entropy(&mut seed[..])?;
        let (entropy, nonce) = seed
            .split_at_checked(MIN_ENTROPY_LEN)
            .unwrap_or((&seed[..], &[]));
        let mut drbg = CtrDrbg::instantiate(entropy, nonce, personalization)?;
        drbg.set_reseed_interval(config.reseed_interval)?;
        Ok(Self {
            drbg,
            source,
            prediction_resistance: config.prediction_resistance,
            reseeds: 0,
        })
    }

    /// Fills `buf` with random bytes, splitting it into requests of at most
    /// [`MAX_BYTES_PER_REQUEST`] bytes and reseeding from the entropy source when needed.
    pub fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        self.fill_with_additional_input(buf, &[])
    }

    /// Like [`fill`](Self::fill), mixing `additional_input` into every generate request.
    pub fn fill_with_additional_input(
        &mut self,
        buf: &mut [u8],
        additional_input: &[u8],
    ) -> Result<(), Error> {
        for chunk in buf.chunks_mut(MAX_BYTES_PER_REQUEST) {
            if self.prediction_resistance {
                self.drbg.generate_with_prediction_resistance(
                    chunk,
                    additional_input,
                    &mut self.source,
                )?;
                self.reseeds = self.reseeds.saturating_add(1);
                continue;
            }
            if self.drbg.reseed_required() {
                self.reseed(&[])?;
            }
            self.drbg.generate(chunk, additional_input)?;
        }
        Ok(())
    }

    /// Reseeds now with fresh entropy from the source and `additional_input`.
    pub fn reseed(&mut self, additional_input: &[u8]) -> Result<(), Error> {
        let mut entropy = Zeroizing::new([0u8; MIN_ENTROPY_LEN]);
        self.source.fill_entropy(&mut entropy[..])?;
        self.drbg.reseed(&entropy[..], additional_input)?;
        self.reseeds = self.reseeds.saturating_add(1);
        Ok(())
    }

    /// How many reseeds (interval-driven, explicit or for prediction resistance) happened.
    pub fn reseed_count(&self) -> u64 {
        self.reseeds
    }

    /// Whether every request reseeds first (prediction resistance).
    pub fn prediction_resistance(&self) -> bool {
        self.prediction_resistance
    }

    /// The underlying DRBG state (counters only are observable).
    pub fn drbg(&self) -> &CtrDrbg {
        &self.drbg
    }

    /// The entropy source.
    pub fn source_mut(&mut self) -> &mut E {
        &mut self.source
    }
}
