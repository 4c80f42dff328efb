//! [`OsEntropy`]: the host's entropy source (`getrandom` feature), for `elastic run` and
//! tests on the host; the kernel supplies its own RDSEED/RDRAND source.

use crate::{EntropyError, EntropySource};

/// Entropy from the operating system (`getrandom(2)` on Linux) via the `getrandom` crate.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

impl EntropySource for OsEntropy {
    fn fill_entropy(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        getrandom::fill(buf).map_err(|_| EntropyError::new("getrandom failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecureRandom;

    #[test]
    fn seeds_a_secure_random() {
        let mut a = SecureRandom::new(OsEntropy, b"").expect("instantiate");
        let mut b = SecureRandom::new(OsEntropy, b"").expect("instantiate");
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        a.fill(&mut x).expect("fill");
        b.fill(&mut y).expect("fill");
        assert_ne!(x, y, "independently seeded instances differ");
    }
}
