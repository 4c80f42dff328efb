//! Behaviour of the DRBG limits (SP 800-90A Rev.1 table 3, section 9.3.1) and of
//! `SecureRandom`'s chunking, reseeding and error propagation.

use elastic_crypto::{
    Config, CtrDrbg, EntropyError, EntropySource, Error, MAX_BYTES_PER_REQUEST,
    MAX_RESEED_INTERVAL, SecureRandom,
};

/// Deterministic counting source: byte i of the stream is (i * 7 + salt) mod 256.
struct Counting {
    pos: u64,
    salt: u8,
    calls: usize,
    fail_after: Option<usize>,
}

impl Counting {
    fn new(salt: u8) -> Self {
        Self {
            pos: 0,
            salt,
            calls: 0,
            fail_after: None,
        }
    }
}

impl EntropySource for Counting {
    fn fill_entropy(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        if self.fail_after.is_some_and(|n| self.calls >= n) {
            return Err(EntropyError::new("test source exhausted"));
        }
        self.calls += 1;
        for b in buf.iter_mut() {
            *b = (self.pos.wrapping_mul(7) as u8).wrapping_add(self.salt);
            self.pos += 1;
        }
        Ok(())
    }
}

fn drbg() -> CtrDrbg {
    CtrDrbg::instantiate(&[0x42; 32], &[0x24; 16], b"test").expect("instantiate")
}

#[test]
fn instantiate_rejects_short_entropy_and_nonce() {
    assert_eq!(
        CtrDrbg::instantiate(&[0; 31], &[0; 16], b"").err(),
        Some(Error::EntropyTooShort { len: 31 })
    );
    assert_eq!(
        CtrDrbg::instantiate(&[0; 32], &[0; 15], b"").err(),
        Some(Error::NonceTooShort { len: 15 })
    );
    let huge = vec![0u8; elastic_crypto::MAX_INPUT_LEN + 1];
    assert_eq!(
        CtrDrbg::instantiate(&[0; 32], &[0; 16], &huge).err(),
        Some(Error::InputTooLong {
            what: "personalization_string",
            len: huge.len()
        })
    );
}

#[test]
fn request_size_limit_is_2_pow_16_bytes() {
    let mut d = drbg();
    let mut ok = vec![0u8; MAX_BYTES_PER_REQUEST];
    d.generate(&mut ok, b"").expect("2^19 bits is allowed");
    assert!(ok.iter().any(|&b| b != 0));
    let mut too_big = vec![0u8; MAX_BYTES_PER_REQUEST + 1];
    assert_eq!(
        d.generate(&mut too_big, b""),
        Err(Error::RequestTooLarge {
            len: MAX_BYTES_PER_REQUEST + 1
        })
    );
    assert!(too_big.iter().all(|&b| b == 0), "nothing written on error");
}

#[test]
fn reseed_counter_and_interval() {
    let mut d = drbg();
    d.set_reseed_interval(3).expect("interval");
    let mut out = [0u8; 16];
    for expected in 1..=3u64 {
        assert_eq!(d.reseed_counter(), expected);
        d.generate(&mut out, b"").expect("within interval");
    }
    assert!(d.reseed_required());
    assert_eq!(d.generate(&mut out, b""), Err(Error::ReseedRequired));
    d.reseed(&[7; 32], b"more").expect("reseed");
    assert_eq!(d.reseed_counter(), 1);
    d.generate(&mut out, b"").expect("after reseed");
    assert_eq!(
        d.set_reseed_interval(0),
        Err(Error::InvalidReseedInterval { interval: 0 })
    );
    assert_eq!(
        d.set_reseed_interval(MAX_RESEED_INTERVAL + 1),
        Err(Error::InvalidReseedInterval {
            interval: MAX_RESEED_INTERVAL + 1
        })
    );
    d.set_reseed_interval(MAX_RESEED_INTERVAL)
        .expect("2^48 allowed");
}

#[test]
fn outputs_differ_between_calls_and_inputs() {
    let mut a = drbg();
    let mut b = drbg();
    let (mut x, mut y) = ([0u8; 64], [0u8; 64]);
    a.generate(&mut x, b"").expect("gen");
    b.generate(&mut y, b"").expect("gen");
    assert_eq!(x, y, "same seed, same output");
    a.generate(&mut x, b"").expect("gen");
    assert_ne!(x, y, "state advances");
    b.generate(&mut y, b"extra").expect("gen");
    assert_ne!(x, y, "additional input changes the output");
}

#[test]
fn fill_chunks_large_requests_like_sequential_generates() {
    // A 150000-byte fill must equal generate(65536) || generate(65536) || generate(18928)
    // on a DRBG seeded identically (entropy 32 bytes then nonce 16 bytes from the source).
    let mut rng = SecureRandom::new(Counting::new(3), b"p").expect("new");
    let mut big = vec![0u8; 150_000];
    rng.fill(&mut big).expect("fill");

    let mut seed = [0u8; 48];
    Counting::new(3).fill_entropy(&mut seed).expect("seed");
    let mut d = CtrDrbg::instantiate(&seed[..32], &seed[32..], b"p").expect("instantiate");
    let mut expected = vec![0u8; 150_000];
    for chunk in expected.chunks_mut(MAX_BYTES_PER_REQUEST) {
        d.generate(chunk, b"").expect("generate");
    }
    assert_eq!(big, expected);
    assert_eq!(rng.drbg().reseed_counter(), 4);
}

#[test]
fn fill_reseeds_at_the_interval() {
    let config = Config {
        reseed_interval: 2,
        prediction_resistance: false,
    };
    let mut rng = SecureRandom::with_config(Counting::new(9), b"", config).expect("new");
    let mut buf = [0u8; 32];
    for _ in 0..5 {
        rng.fill(&mut buf).expect("fill");
    }
    // Requests 1,2 on the first seed; reseed before 3 and before 5.
    assert_eq!(rng.reseed_count(), 2);
    assert_eq!(rng.source_mut().calls, 3, "instantiate + two reseeds");
}

#[test]
fn prediction_resistance_reseeds_every_request() {
    let config = Config {
        prediction_resistance: true,
        ..Config::default()
    };
    let mut rng = SecureRandom::with_config(Counting::new(1), b"", config).expect("new");
    let mut buf = vec![0u8; MAX_BYTES_PER_REQUEST * 2 + 1];
    rng.fill(&mut buf).expect("fill");
    assert_eq!(rng.reseed_count(), 3, "one reseed per 2^16-byte request");
    assert!(rng.prediction_resistance());
}

#[test]
fn entropy_failures_propagate() {
    let mut failing = Counting::new(0);
    failing.fail_after = Some(0);
    assert_eq!(
        SecureRandom::new(failing, b"").err(),
        Some(Error::Entropy(EntropyError::new("test source exhausted")))
    );

    let mut src = Counting::new(0);
    src.fail_after = Some(1);
    let config = Config {
        reseed_interval: 1,
        prediction_resistance: false,
    };
    let mut rng = SecureRandom::with_config(src, b"", config).expect("instantiate works");
    let mut buf = [0u8; 8];
    rng.fill(&mut buf)
        .expect("first request on the initial seed");
    let before = buf;
    assert!(matches!(rng.fill(&mut buf), Err(Error::Entropy(_))));
    assert_eq!(buf, before, "no output without the required reseed");
}
