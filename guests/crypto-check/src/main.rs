//! `crypto-check`: a wasm32-wasip1 guest that exercises the host's wasi-crypto symmetric API
//! through the `wasi-crypto-guest` crate and checks known answers and error codes.
//!
//! Usage: `crypto-check [kat|misuse|sealing|all]` (default `all`). Every check prints one
//! deterministic `ok <name>` line; the first failure prints `FAIL <name>: <why>` and exits 1.
//!
//! Known answers: FIPS 180-2 (SHA-256/512 of "abc", SHA-256 of the 448-bit message),
//! RFC 4231 test cases 1 and 2 (HMAC-SHA-256/512), the GCM specification's test cases 4
//! (AES-128) and 16 (AES-256). Misuse: the proposal's `crypto_errno` codes for a closed
//! handle, a handle of the wrong type, a tag mismatch, a missing nonce or key, an unknown
//! algorithm, a bad pointer. Sealing: the managed key `elastic.sealing:<field select>` is
//! usable but not exportable where the platform has one, and `unsupported_feature` elsewhere.

use std::process::ExitCode;
use wasi_crypto_guest::prelude::*;

mod raw;

/// The result of one check.
type Check = Result<(), String>;

/// A named check.
type Named = (&'static str, fn() -> Check);

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("valid hex literal"))
        .collect()
}

fn eq(what: &str, got: &[u8], want: &[u8]) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:02x?}, want {want:02x?}"))
    }
}

fn expect_err<T>(what: &str, r: Result<T, WasiCryptoError>, want: WasiCryptoError) -> Check {
    match r {
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!("{what}: got {e:?}, want {want:?}")),
        Ok(_) => Err(format!("{what}: succeeded, want {want:?}")),
    }
}

fn c<T>(what: &str, r: Result<T, WasiCryptoError>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

// ------------------------------------------------------------------ known answers

fn sha256_abc() -> Check {
    let d = c("hash", Hash::hash("SHA-256", b"abc", 32, None))?;
    eq(
        "digest",
        &d,
        &hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    )
}

fn sha256_two_blocks() -> Check {
    let mut h = c("open", Hash::unkeyed("SHA-256"))?;
    c("absorb", h.absorb(b"abcdbcdecdefdefgefghfghighijhijk"))?;
    c("absorb", h.absorb(b"ijkljklmklmnlmnomnopnopq"))?;
    let d = c("squeeze", h.squeeze(32))?;
    eq(
        "digest",
        &d,
        &hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    )
}

fn sha512_abc() -> Check {
    let d = c("hash", Hash::hash("SHA-512", b"abc", 64, None))?;
    eq(
        "digest",
        &d,
        &hex(
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    )
}

fn hmac(alg: &'static str, key: &[u8], msg: &[u8], want: &str) -> Check {
    let k = c("import", AuthKey::from_raw(alg, key))?;
    let tag = c("auth", Auth::auth(msg, &k))?;
    eq("tag", &tag, &hex(want))?;
    c("verify", Auth::auth_verify(msg, &k, &tag))
}

fn hmac_sha256_tc1() -> Check {
    hmac(
        "HMAC/SHA-256",
        &[0x0b; 20],
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    )
}

fn hmac_sha256_tc2() -> Check {
    hmac(
        "HMAC/SHA-256",
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    )
}

fn hmac_sha512_tc1() -> Check {
    hmac(
        "HMAC/SHA-512",
        &[0x0b; 20],
        b"Hi There",
        "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
         daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    )
}

fn hmac_sha512_tc2() -> Check {
    hmac(
        "HMAC/SHA-512",
        b"Jefe",
        b"what do ya want for nothing?",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
         9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    )
}

const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                     1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const GCM_A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const GCM_IV: &str = "cafebabefacedbaddecaf888";

fn gcm(alg: &'static str, key: &str, ct: &str, tag: &str) -> Check {
    let (key, p, a, iv) = (hex(key), hex(GCM_P), hex(GCM_A), hex(GCM_IV));
    let mut want = hex(ct);
    want.extend(hex(tag));
    let k = c("import", AeadKey::from_raw(alg, &key))?;
    let mut enc = c("open", Aead::new(&k, Some(&iv), Some(&a)))?;
    let got = c("encrypt", enc.encrypt(&p))?;
    eq("ciphertext||tag", &got, &want)?;
    let mut dec = c("open", Aead::new(&k, Some(&iv), Some(&a)))?;
    let back = c("decrypt", dec.decrypt(&got))?;
    eq("plaintext", &back, &p)?;
    // detached, through the low-level state
    let mut opts = SymmetricOptions::new();
    c("nonce", opts.set("nonce", &iv))?;
    let mut st = c("open", SymmetricState::new(alg, Some(&k), Some(&opts)))?;
    c("absorb", st.absorb(&a))?;
    let mut ct_only = vec![0u8; p.len()];
    let t = c("encrypt_detached", st.encrypt_detached(&mut ct_only, &p))?;
    eq("detached ciphertext", &ct_only, &want[..p.len()])?;
    eq("detached tag", &t, &want[p.len()..])?;
    let mut st = c("open", SymmetricState::new(alg, Some(&k), Some(&opts)))?;
    c("absorb", st.absorb(&a))?;
    let mut pt = vec![0u8; p.len()];
    c(
        "decrypt_detached",
        st.decrypt_detached(&mut pt, &ct_only, &t),
    )?;
    eq("detached plaintext", &pt, &p)
}

fn aes128_gcm_tc4() -> Check {
    gcm(
        "AES-128-GCM",
        "feffe9928665731c6d6a8f9467308308",
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
        "5bc94fbc3221a5db94fae95ae7121a47",
    )
}

fn aes256_gcm_tc16() -> Check {
    gcm(
        "AES-256-GCM",
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
         8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    )
}

fn generated_key_round_trip() -> Check {
    let k = c("generate", AeadKey::generate("AES-256-GCM"))?;
    let raw = c("export", k.raw())?;
    if raw.len() != 32 {
        return Err(format!("exported key is {} bytes, want 32", raw.len()));
    }
    let nonce = [7u8; 12];
    let msg = b"a message to seal and open again";
    let ct = c(
        "encrypt",
        c("open", Aead::new(&k, Some(&nonce), None))?.encrypt(msg),
    )?;
    let pt = c(
        "decrypt",
        c("open", Aead::new(&k, Some(&nonce), None))?.decrypt(&ct),
    )?;
    eq("plaintext", &pt, msg)?;
    // the same material imported gives the same ciphertext
    let k2 = c("import", AeadKey::from_raw("AES-256-GCM", &raw))?;
    let ct2 = c(
        "encrypt",
        c("open", Aead::new(&k2, Some(&nonce), None))?.encrypt(msg),
    )?;
    eq("ciphertext with the exported key", &ct2, &ct)
}

// ------------------------------------------------------------------ misuse

fn tag_mismatch() -> Check {
    let k = c("generate", AeadKey::generate("AES-128-GCM"))?;
    let nonce = [1u8; 12];
    let mut ct = c(
        "encrypt",
        c("open", Aead::new(&k, Some(&nonce), None))?.encrypt(b"data"),
    )?;
    ct[0] ^= 1;
    let mut dec = c("open", Aead::new(&k, Some(&nonce), None))?;
    expect_err("decrypt", dec.decrypt(&ct), WasiCryptoError::InvalidTag)?;
    let mk = c("import", AuthKey::from_raw("HMAC/SHA-256", b"key"))?;
    let mut tag = c("auth", Auth::auth(b"msg", &mk))?;
    tag[31] ^= 0x80;
    expect_err(
        "verify",
        Auth::auth_verify(b"msg", &mk, &tag),
        WasiCryptoError::InvalidTag,
    )
}

fn nonce_required() -> Check {
    let k = c("generate", AeadKey::generate("AES-256-GCM"))?;
    expect_err(
        "open without nonce",
        Aead::new(&k, None, None),
        WasiCryptoError::NonceRequired,
    )?;
    expect_err(
        "open with an 8-byte nonce",
        Aead::new(&k, Some(&[0u8; 8]), None),
        WasiCryptoError::InvalidNonce,
    )?;
    // a state encrypts once with its nonce
    let mut a = c("open", Aead::new(&k, Some(&[0u8; 12]), None))?;
    c("encrypt", a.encrypt(b"once"))?;
    expect_err(
        "second encrypt",
        a.encrypt(b"twice"),
        WasiCryptoError::NonceRequired,
    )
}

fn key_required_and_unsupported() -> Check {
    expect_err(
        "HMAC without key",
        SymmetricState::new("HMAC/SHA-512", None, None),
        WasiCryptoError::KeyRequired,
    )?;
    expect_err(
        "unknown algorithm",
        Hash::hash("BLAKE3", b"x", 32, None),
        WasiCryptoError::UnsupportedAlgorithm,
    )?;
    expect_err(
        "SHA-256 longer than its digest",
        Hash::hash("SHA-256", b"x", 33, None),
        WasiCryptoError::InvalidLength,
    )?;
    let k = c("import", AuthKey::from_raw("HMAC/SHA-256", b"key"))?;
    let mut st = c("open", SymmetricState::new("HMAC/SHA-256", Some(&k), None))?;
    expect_err(
        "squeeze a MAC",
        st.squeeze(32),
        WasiCryptoError::InvalidOperation,
    )?;
    expect_err("ratchet", st.ratchet(), WasiCryptoError::InvalidOperation)?;
    expect_err(
        "AES key of the wrong size",
        AeadKey::from_raw("AES-256-GCM", [0u8; 16]),
        WasiCryptoError::InvalidKey,
    )
}

fn handles() -> Check {
    // raw handles, which the high-level API hides
    let h = raw::state_open("SHA-256", None).map_err(|e| format!("open: errno {e}"))?;
    raw::check("absorb", raw::absorb(h, b"abc"), 0)?;
    raw::check("close", raw::state_close(h), 0)?;
    raw::check("absorb after close", raw::absorb(h, b"abc"), 15)?;
    raw::check("close twice", raw::state_close(h), 14)?;
    let k = raw::key_import("HMAC/SHA-256", b"key").map_err(|e| format!("import: errno {e}"))?;
    raw::check("key used as a state", raw::absorb(k, b"abc"), 15)?;
    raw::check(
        "key given to a hash",
        raw::state_open("SHA-256", Some(k))
            .map(|_| ())
            .err()
            .unwrap_or(0),
        19,
    )?;
    raw::check("key closed as a tag", raw::tag_close(k), 15)?;
    raw::check("bad pointer", raw::absorb_raw(k, 0xffff_fff0, 64), 15)?;
    let s = raw::state_open("SHA-256", None).map_err(|e| format!("open: errno {e}"))?;
    raw::check("bad pointer", raw::absorb_raw(s, 0xffff_fff0, 64), 1)?;
    raw::check("close", raw::state_close(s), 0)?;
    raw::check("key close", raw::key_close(k), 0)
}

// ------------------------------------------------------------------ sealing

/// Sealing key with GUEST_FIELD_SELECT = measurement (bit 3) | policy (bit 0).
const FIELD_SELECT: u64 = 0b1001;

fn sealing() -> Result<&'static str, String> {
    let sm = raw::secrets_manager_open().map_err(|e| format!("secrets_manager_open: errno {e}"))?;
    let id = format!("elastic.sealing:{FIELD_SELECT:016x}");
    let r = raw::key_from_id(sm, id.as_bytes());
    raw::check("secrets_manager_close", raw::secrets_manager_close(sm), 0)?;
    // the same key through the options path of wasi-crypto-guest
    let mut opts = SymmetricOptions::new();
    c("option", opts.set_u64("elastic.sealing", FIELD_SELECT))?;
    let g = SymmetricKey::generate("AES-256-GCM", Some(&opts));
    match r {
        Err(3) => {
            expect_err("generate", g, WasiCryptoError::UnsupportedFeature)?;
            Ok("unsupported_feature (no sealing key on this platform)")
        }
        Err(e) => Err(format!("symmetric_key_from_id: errno {e}")),
        Ok(h) => {
            raw::check("export", raw::key_export(h), 4)?;
            raw::check("close", raw::key_close(h), 0)?;
            let k = AeadKey::from(c("generate", g)?);
            expect_err("export", k.raw(), WasiCryptoError::ProhibitedOperation)?;
            let nonce = [9u8; 12];
            let ct = c(
                "seal",
                c("open", Aead::new(&k, Some(&nonce), None))?.encrypt(b"secret"),
            )?;
            let pt = c(
                "unseal",
                c("open", Aead::new(&k, Some(&nonce), None))?.decrypt(&ct),
            )?;
            eq("unsealed", &pt, b"secret")?;
            Ok("aes-256-gcm round trip, export prohibited")
        }
    }
}

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let kat: &[Named] = &[
        ("sha-256 abc", sha256_abc),
        ("sha-256 448-bit message", sha256_two_blocks),
        ("sha-512 abc", sha512_abc),
        ("hmac/sha-256 rfc4231 tc1", hmac_sha256_tc1),
        ("hmac/sha-256 rfc4231 tc2", hmac_sha256_tc2),
        ("hmac/sha-512 rfc4231 tc1", hmac_sha512_tc1),
        ("hmac/sha-512 rfc4231 tc2", hmac_sha512_tc2),
        ("aes-128-gcm tc4 attached+detached", aes128_gcm_tc4),
        ("aes-256-gcm tc16 attached+detached", aes256_gcm_tc16),
        (
            "aes-256-gcm generated key round trip",
            generated_key_round_trip,
        ),
    ];
    let misuse: &[Named] = &[
        ("misuse tag mismatch -> invalid_tag", tag_mismatch),
        (
            "misuse nonce -> nonce_required/invalid_nonce",
            nonce_required,
        ),
        (
            "misuse keys/algorithms/operations",
            key_required_and_unsupported,
        ),
        (
            "misuse handles -> invalid_handle/closed/guest_error",
            handles,
        ),
    ];
    let mut checks: Vec<Named> = Vec::new();
    match mode.as_str() {
        "kat" => checks.extend_from_slice(kat),
        "misuse" => checks.extend_from_slice(misuse),
        "sealing" => {}
        "all" => {
            checks.extend_from_slice(kat);
            checks.extend_from_slice(misuse);
        }
        other => {
            eprintln!("usage: crypto-check [kat|misuse|sealing|all] (got {other:?})");
            return ExitCode::from(2);
        }
    }
    for (name, f) in checks {
        match f() {
            Ok(()) => println!("ok {name}"),
            Err(why) => {
                println!("FAIL {name}: {why}");
                return ExitCode::FAILURE;
            }
        }
    }
    if mode == "sealing" || mode == "all" {
        match sealing() {
            Ok(what) => println!("ok sealing key: {what}"),
            Err(why) => {
                println!("FAIL sealing key: {why}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("ok crypto-check {mode}");
    ExitCode::SUCCESS
}
