//! `bench-crypto`: crypto workload for scripts/bench.sh. Measures SHA-256 and AES-256-GCM
//! (a) through the wasi-crypto API (`wasi-crypto-guest`; the host runs RustCrypto natively) and
//! (b) with the same RustCrypto crates (`sha2`, `aes-gcm`) compiled into this guest, i.e.
//! interpreted wasm without SIMD. Both sides must give the same bytes, so the benchmark is also
//! a correctness check of the API against an independent build of the same algorithms.
//!
//! Usage: `bench-crypto [BYTES] [API_REPS] [WASM_REPS]` (defaults 1048576, 16, 1). The
//! message is BYTES bytes of the pattern `i % 251` (any length: the tests use one that is not a
//! multiple of the block sizes). Each side hashes it REPS times (a fresh SHA-256 per
//! repetition) and encrypts it REPS times (AES-256-GCM, a fixed key, no associated data, the
//! 12-byte nonce `bench-cr` || repetition number as u32 big-endian, 16-byte tag). The API side
//! may run more repetitions than the interpreted one: it is much faster, and its clock needs
//! more work to measure. It also makes one untimed warm-up call per algorithm. Repetitions
//! that both sides run are compared byte for byte (digests, ciphertexts, tags), and the API
//! decrypts the guest's first ciphertext back to the message.
//! Before timing, both sides are checked against known answers (FIPS 180-4 "abc"; AES-256-GCM
//! test case 14 of the GCM specification).
//!
//! stdout (deterministic for given arguments): `sha256 <hex digest of the message> bytes=<n>`,
//! `aes-256-gcm tag=<hex tag of repetition 0> bytes=<n>` and `ok api == wasm ...`.
//! stderr: `result name=crypto_<alg>_<side> value=<MB/s> unit=MB/s` for alg `sha256` and
//! `aes256gcm`, side `api` and `wasm` (MB = 10^6 bytes, time from the WASI monotonic clock via
//! `std::time::Instant`; filling the message and key set-up are not timed). Any mismatch or
//! API error prints `bench-crypto: ...` on stderr and exits 1.

use aes_gcm::aead::{Aead as _, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use std::process::ExitCode;
use std::time::Instant;
use wasi_crypto_guest::error::Error as CryptoError;
use wasi_crypto_guest::symmetric::{Aead, AeadKey, Hash};

/// The AES-256-GCM key of the timed runs (a benchmark constant, not a secret).
const KEY: [u8; 32] = *b"elastic bench-crypto key 32 byte";
/// wasi-crypto's name of the AEAD.
const AES: &str = "AES-256-GCM";
/// GCM tag length.
const TAG_LEN: usize = 16;

/// The nonce of repetition `i` (`u32::MAX` for the untimed warm-up): never repeated within one
/// run.
fn nonce(i: u32) -> [u8; 12] {
    let mut n = *b"bench-cr\0\0\0\0";
    n[8..].copy_from_slice(&i.to_be_bytes());
    n
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from a hex literal.
fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex literal"))
        .collect()
}

/// Names a failed API call.
fn api<T>(what: &str, r: Result<T, CryptoError>) -> Result<T, String> {
    r.map_err(|e| format!("wasi-crypto {what}: {e:?}"))
}

/// SHA-256 through the API.
fn sha256_api(data: &[u8]) -> Result<Vec<u8>, String> {
    api("SHA-256", Hash::hash("SHA-256", data, 32, None))
}

/// SHA-256 in the guest.
fn sha256_wasm(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// AES-256-GCM (ciphertext || tag) through the API, with an imported key.
fn gcm_api(key: &AeadKey, nonce: &[u8; 12], data: &[u8]) -> Result<Vec<u8>, String> {
    let mut state = api("AES-256-GCM open", Aead::new(key, Some(nonce), None))?;
    api("AES-256-GCM encrypt", state.encrypt(data))
}

/// AES-256-GCM (ciphertext || tag) in the guest.
fn gcm_wasm(cipher: &Aes256Gcm, nonce: &[u8; 12], data: &[u8]) -> Result<Vec<u8>, String> {
    cipher
        .encrypt(&Nonce::from(*nonce), data)
        .map_err(|e| format!("aes-gcm encrypt: {e:?}"))
}

/// Checks both sides against known answers before anything is timed.
fn known_answers() -> Result<(), String> {
    let want = unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    if sha256_api(b"abc")? != want || sha256_wasm(b"abc") != want {
        return Err("SHA-256(\"abc\") differs from FIPS 180-4".into());
    }
    // The GCM specification (McGrew, Viega), test case 14: zero key, IV and 16-byte plaintext.
    let want = unhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
    let key = api("key import", AeadKey::from_raw(AES, [0u8; 32]))?;
    let via_api = gcm_api(&key, &[0; 12], &[0; 16])?;
    let via_wasm = gcm_wasm(&Aes256Gcm::new(&[0u8; 32].into()), &[0; 12], &[0; 16])?;
    if via_api != want || via_wasm != want {
        return Err(format!(
            "AES-256-GCM test case 14: api {} wasm {}, want {}",
            hex(&via_api),
            hex(&via_wasm),
            hex(&want)
        ));
    }
    Ok(())
}

/// Runs `f` for repetitions `0..reps` and returns the seconds taken and the outputs of the
/// first `keep` repetitions (the others are dropped inside the loop, as a caller would).
fn timed<T>(
    reps: u32,
    keep: u32,
    mut f: impl FnMut(u32) -> Result<T, String>,
) -> Result<(f64, Vec<T>), String> {
    let mut kept = Vec::new();
    let start = Instant::now();
    for i in 0..reps {
        let out = f(i)?;
        if i < keep {
            kept.push(out);
        }
    }
    Ok((start.elapsed().as_secs_f64(), kept))
}

/// Prints one throughput result line.
fn report(name: &str, bytes: usize, reps: u32, secs: f64) {
    let rate = bytes as f64 * f64::from(reps) / secs.max(1e-9) / 1e6;
    eprintln!("result name={name} value={rate:.3} unit=MB/s");
}

/// Parses argument `n`, or returns the default.
fn arg(n: usize, default: u32) -> Result<u32, String> {
    match std::env::args().nth(n) {
        None => Ok(default),
        Some(a) => a
            .parse()
            .ok()
            .filter(|&v| v > 0)
            .ok_or(format!("argument {n}: {a:?} is not a positive number")),
    }
}

fn run() -> Result<(), String> {
    let n = arg(1, 1 << 20)? as usize;
    let api_reps = arg(2, 16)?;
    let wasm_reps = arg(3, 1)?;
    let check = api_reps.min(wasm_reps);
    known_answers()?;

    let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();

    // SHA-256. One untimed call first, as for AES-GCM below: the rates are for steady state,
    // not for the first touch of host buffers (and it grows the guest's heap for both sides).
    sha256_api(&data)?;
    let (t_api, d_api) = timed(api_reps, api_reps, |_| sha256_api(&data))?;
    let (t_wasm, d_wasm) = timed(wasm_reps, check, |_| Ok(sha256_wasm(&data)))?;
    if let Some(bad) = d_api.iter().find(|d| **d != d_wasm[0]) {
        return Err(format!(
            "SHA-256: api {} != wasm {}",
            hex(bad),
            hex(&d_wasm[0])
        ));
    }
    report("crypto_sha256_api", n, api_reps, t_api);
    report("crypto_sha256_wasm", n, wasm_reps, t_wasm);

    // AES-256-GCM.
    let key = api("key import", AeadKey::from_raw(AES, KEY))?;
    let cipher = Aes256Gcm::new(&KEY.into());
    gcm_api(&key, &nonce(u32::MAX), &data)?;
    let (t_api, c_api) = timed(api_reps, check, |i| gcm_api(&key, &nonce(i), &data))?;
    let (t_wasm, c_wasm) = timed(wasm_reps, check, |i| gcm_wasm(&cipher, &nonce(i), &data))?;
    for (i, (a, w)) in c_api.iter().zip(&c_wasm).enumerate() {
        if a != w {
            let at = a.iter().zip(w).position(|(x, y)| x != y).unwrap_or(n);
            return Err(format!(
                "AES-256-GCM repetition {i}: api and wasm differ at byte {at} (lengths {} {})",
                a.len(),
                w.len()
            ));
        }
    }
    // And back: the API opens what the guest's own AES-GCM sealed.
    let mut open = api("AES-256-GCM open", Aead::new(&key, Some(&nonce(0)), None))?;
    if api("AES-256-GCM decrypt", open.decrypt(&c_wasm[0]))? != data {
        return Err("AES-256-GCM: the API's decryption differs from the message".into());
    }
    report("crypto_aes256gcm_api", n, api_reps, t_api);
    report("crypto_aes256gcm_wasm", n, wasm_reps, t_wasm);

    println!("sha256 {} bytes={n}", hex(&d_wasm[0]));
    println!(
        "aes-256-gcm tag={} bytes={n}",
        hex(&c_wasm[0][c_wasm[0].len() - TAG_LEN..])
    );
    println!("ok api == wasm (sha256 x{check}, aes-256-gcm x{check}, decrypt x1)");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-crypto: {e}");
            ExitCode::FAILURE
        }
    }
}
