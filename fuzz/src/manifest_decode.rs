//! Fuzz harness `manifest_decode`: [`Manifest::decode`] on arbitrary bytes (the manifest
//! section of an untrusted bundle, `kernel/bundle/src/manifest.rs`).
//!
//! Properties: decoding never panics; an accepted manifest passes `validate`, its canonical
//! encoding decodes to the same value, and re-encoding is byte-identical to the input (the
//! encoding is canonical: one byte string per manifest). Error values must render (their
//! `Display` is what the kernel prints).

use elastic_bundle::Manifest;

/// Runs one input.
pub fn run(data: &[u8]) {
    match Manifest::decode(data) {
        Ok(m) => {
            assert!(m.validate().is_ok(), "decode accepted an invalid manifest");
            let encoded = m.encode();
            assert_eq!(encoded, data, "accepted manifest is not in canonical form");
            let again = Manifest::decode(&encoded).expect("canonical encoding must decode");
            assert_eq!(again, m, "decode(encode(m)) != m");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
