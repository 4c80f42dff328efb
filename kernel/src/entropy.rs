//! The kernel's entropy source for the CTR_DRBG: RDSEED (true entropy), falling back to RDRAND,
//! with the SP 800-90B repetition-count idea applied to 64-bit outputs (a stuck generator that
//! repeats a value is rejected). Guests never see these bytes directly: `random_get` is served
//! by `elastic_crypto::SecureRandom` seeded from here.

use crate::platform::cpu;
use elastic_crypto::{EntropyError, EntropySource};

/// RDSEED/RDRAND entropy.
#[derive(Debug, Default)]
pub struct HardwareEntropy {
    last: Option<u64>,
}

impl HardwareEntropy {
    /// True when the CPU has RDSEED or RDRAND.
    pub fn available() -> bool {
        cpu::has_rdseed() || cpu::has_rdrand()
    }

    fn next(&mut self) -> Result<u64, EntropyError> {
        for _ in 0..1000 {
            if let Some(v) = cpu::rdseed().or_else(cpu::rdrand) {
                if self.last == Some(v) {
                    return Err(EntropyError::new(
                        "hardware generator repeated a 64-bit output",
                    ));
                }
                self.last = Some(v);
                return Ok(v);
            }
            core::hint::spin_loop();
        }
        Err(EntropyError::new("RDSEED and RDRAND returned no data"))
    }
}

impl EntropySource for HardwareEntropy {
    fn fill_entropy(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        for chunk in buf.chunks_mut(8) {
            let v = self.next()?.to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(v) {
                *d = s;
            }
        }
        Ok(())
    }
}
