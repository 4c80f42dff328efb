//! Symmetric algorithms, options, keys and states of wasi-crypto (`proposal_symmetric.witx`):
//! the part that does not touch guest memory.
//!
//! Semantics follow the witx documentation and, where it is silent, the proposal's reference
//! implementation: hashes squeeze a (possibly truncated) digest and take no key; HMACs need a
//! key and produce tags; AES-GCM needs a key and a 12-byte `nonce` option, treats absorbed
//! data as associated data, and uses its nonce for one encryption or decryption only (a
//! second one is `nonce_required`, so a state can never reuse a nonce).

use super::{CR, CryptoErrno};
use crate::Services;
use crate::fallible;
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use alloc::boxed::Box;
use alloc::vec::Vec;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

/// AES-GCM nonce length in bytes (96-bit IV, NIST SP 800-38D).
pub const GCM_NONCE_LEN: usize = 12;
/// AES-GCM tag length in bytes.
pub const GCM_TAG_LEN: usize = 16;
/// Largest accepted option value (bytes).
pub const MAX_OPTION_LEN: usize = 4096;
/// Largest accepted HMAC key (bytes).
pub const MAX_HMAC_KEY_LEN: usize = 1024;
/// Most associated data an AES-GCM state accumulates before encrypting (`overflow` past it);
/// it is kept in host memory until the encryption.
pub const MAX_AD_LEN: usize = 16 << 20;

/// A supported algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// `SHA-256`.
    Sha256,
    /// `SHA-512`.
    Sha512,
    /// `HMAC/SHA-256`.
    HmacSha256,
    /// `HMAC/SHA-512`.
    HmacSha512,
    /// `AES-128-GCM`.
    Aes128Gcm,
    /// `AES-256-GCM`.
    Aes256Gcm,
}

impl Alg {
    /// All algorithms, in documentation order.
    pub const ALL: [Alg; 6] = [
        Alg::Sha256,
        Alg::Sha512,
        Alg::HmacSha256,
        Alg::HmacSha512,
        Alg::Aes128Gcm,
        Alg::Aes256Gcm,
    ];

    /// The proposal's name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Sha256 => "SHA-256",
            Alg::Sha512 => "SHA-512",
            Alg::HmacSha256 => "HMAC/SHA-256",
            Alg::HmacSha512 => "HMAC/SHA-512",
            Alg::Aes128Gcm => "AES-128-GCM",
            Alg::Aes256Gcm => "AES-256-GCM",
        }
    }

    /// Parses a name (ASCII case-insensitive); unknown is `unsupported_algorithm`.
    pub fn parse(name: &[u8]) -> CR<Alg> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().as_bytes().eq_ignore_ascii_case(name))
            .ok_or(CryptoErrno::UnsupportedAlgorithm)
    }

    /// Key length for generation (and the required length for AES imports).
    fn key_len(self) -> CR<usize> {
        match self {
            Alg::Sha256 | Alg::Sha512 => Err(CryptoErrno::UnsupportedFeature),
            Alg::Aes128Gcm => Ok(16),
            Alg::HmacSha256 | Alg::Aes256Gcm => Ok(32),
            Alg::HmacSha512 => Ok(64),
        }
    }
}

/// A symmetric options object (`options_open` with `algorithm_type::symmetric`).
/// Names are matched ASCII case-insensitively.
#[derive(Clone, Default)]
pub struct SymOptions {
    /// `nonce` (bytes).
    pub nonce: Option<Vec<u8>>,
    /// `context` (bytes; stored, not used by the supported algorithms).
    pub context: Option<Vec<u8>>,
    /// `salt` (bytes; stored, not used by the supported algorithms).
    pub salt: Option<Vec<u8>>,
    /// `memory_limit` (u64; stored only).
    pub memory_limit: Option<u64>,
    /// `ops_limit` (u64; stored only).
    pub ops_limit: Option<u64>,
    /// `parallelism` (u64; stored only).
    pub parallelism: Option<u64>,
    /// `elastic.sealing` (u64): the GUEST_FIELD_SELECT of a sealing key for
    /// `symmetric_key_generate("AES-256-GCM")`.
    pub sealing: Option<u64>,
}

impl core::fmt::Debug for SymOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SymOptions")
            .field("nonce", &self.nonce.as_ref().map(Vec::len))
            .field("sealing", &self.sealing)
            .finish_non_exhaustive()
    }
}

impl SymOptions {
    fn bytes_slot(&mut self, name: &[u8]) -> CR<&mut Option<Vec<u8>>> {
        let n = |s: &str| s.as_bytes().eq_ignore_ascii_case(name);
        if n("nonce") {
            Ok(&mut self.nonce)
        } else if n("context") {
            Ok(&mut self.context)
        } else if n("salt") {
            Ok(&mut self.salt)
        } else {
            Err(CryptoErrno::UnsupportedOption)
        }
    }

    fn u64_slot(&mut self, name: &[u8]) -> CR<&mut Option<u64>> {
        let n = |s: &str| s.as_bytes().eq_ignore_ascii_case(name);
        if n("memory_limit") {
            Ok(&mut self.memory_limit)
        } else if n("ops_limit") {
            Ok(&mut self.ops_limit)
        } else if n("parallelism") {
            Ok(&mut self.parallelism)
        } else if n("elastic.sealing") {
            Ok(&mut self.sealing)
        } else {
            Err(CryptoErrno::UnsupportedOption)
        }
    }

    /// `options_set`.
    pub fn set(&mut self, name: &[u8], value: &[u8], svc: &dyn Services) -> CR {
        let slot = self.bytes_slot(name)?;
        if value.len() > MAX_OPTION_LEN {
            return Err(CryptoErrno::InvalidLength);
        }
        *slot = Some(fallible::copy_with_spare(svc, value, 0)?);
        Ok(())
    }

    /// `options_set_u64`.
    pub fn set_u64(&mut self, name: &[u8], value: u64) -> CR {
        *self.u64_slot(name)? = Some(value);
        Ok(())
    }

    /// `symmetric_state_options_get`.
    pub fn get(&mut self, name: &[u8]) -> CR<&[u8]> {
        self.bytes_slot(name)?
            .as_deref()
            .ok_or(CryptoErrno::OptionNotSet)
    }

    /// `symmetric_state_options_get_u64`.
    pub fn get_u64(&mut self, name: &[u8]) -> CR<u64> {
        self.u64_slot(name)?.ok_or(CryptoErrno::OptionNotSet)
    }
}

/// A symmetric key.
pub struct SymKey {
    /// Its algorithm.
    pub alg: Alg,
    /// Raw material (wiped when dropped).
    pub material: Zeroizing<Vec<u8>>,
    /// For a managed sealing key: the GUEST_FIELD_SELECT it was derived with. Such a key is
    /// never exported.
    pub sealing: Option<u64>,
}

impl core::fmt::Debug for SymKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SymKey")
            .field("alg", &self.alg)
            .field("sealing", &self.sealing)
            .finish_non_exhaustive()
    }
}

impl SymKey {
    /// `symmetric_key_generate` without sealing: random material from `fill`.
    pub fn generate(alg: Alg, fill: impl FnOnce(&mut [u8])) -> CR<SymKey> {
        let mut material = Zeroizing::new(alloc::vec![0u8; alg.key_len()?]);
        fill(&mut material);
        Ok(SymKey {
            alg,
            material,
            sealing: None,
        })
    }

    /// `symmetric_key_import`: AES keys must have their exact length (`invalid_key`), HMAC
    /// keys at most [`MAX_HMAC_KEY_LEN`] bytes; hashes take no key (`unsupported_feature`).
    pub fn import(alg: Alg, raw: &[u8]) -> CR<SymKey> {
        let want = alg.key_len()?;
        let ok = match alg {
            Alg::HmacSha256 | Alg::HmacSha512 => raw.len() <= MAX_HMAC_KEY_LEN,
            _ => raw.len() == want,
        };
        if !ok {
            return Err(CryptoErrno::InvalidKey);
        }
        Ok(SymKey {
            alg,
            material: Zeroizing::new(raw.to_vec()),
            sealing: None,
        })
    }

    /// A sealing key (AES-256-GCM, not exportable).
    pub fn sealing(field_select: u64, key: [u8; 32]) -> SymKey {
        let key = Zeroizing::new(key);
        SymKey {
            alg: Alg::Aes256Gcm,
            material: Zeroizing::new(key.to_vec()),
            sealing: Some(field_select),
        }
    }

    /// `symmetric_key_export`: sealing keys are `prohibited_operation`.
    pub fn export(&self) -> CR<Zeroizing<Vec<u8>>> {
        if self.sealing.is_some() {
            return Err(CryptoErrno::ProhibitedOperation);
        }
        Ok(self.material.clone())
    }
}

/// AES-GCM cipher of either size.
#[derive(Clone)]
enum Gcm {
    A128(Box<Aes128Gcm>),
    A256(Box<Aes256Gcm>),
}

/// AES-GCM state: cipher, associated data so far, nonce not yet used.
#[derive(Clone)]
struct AeadState {
    gcm: Gcm,
    ad: Vec<u8>,
    nonce: Option<[u8; GCM_NONCE_LEN]>,
}

#[derive(Clone)]
enum Inner {
    Sha256(Sha256),
    Sha512(Sha512),
    HmacSha256(Hmac<Sha256>),
    HmacSha512(Hmac<Sha512>),
    Aead(Box<AeadState>),
}

/// A symmetric state.
#[derive(Clone)]
pub struct SymState {
    alg: Alg,
    inner: Inner,
    /// The options given at open time (a copy: later changes to the options object do not
    /// affect the state).
    pub options: SymOptions,
}

impl core::fmt::Debug for SymState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SymState")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SymState {
    /// `symmetric_state_open`. Errors in this order: any key for a hash `key_not_supported`
    /// (no hash key can exist, so this comes before the algorithm check); a key of another
    /// algorithm `invalid_key`; no key for HMAC/AES-GCM `key_required`; no nonce
    /// `nonce_required`; a nonce that is not 12 bytes `invalid_nonce`.
    pub fn open(alg: Alg, key: Option<&SymKey>, options: Option<&SymOptions>) -> CR<SymState> {
        if matches!(alg, Alg::Sha256 | Alg::Sha512) && key.is_some() {
            return Err(CryptoErrno::KeyNotSupported);
        }
        if let Some(k) = key
            && k.alg != alg
        {
            return Err(CryptoErrno::InvalidKey);
        }
        let options = options.cloned().unwrap_or_default();
        let inner = match alg {
            Alg::Sha256 | Alg::Sha512 => {
                if alg == Alg::Sha256 {
                    Inner::Sha256(Sha256::new())
                } else {
                    Inner::Sha512(Sha512::new())
                }
            }
            Alg::HmacSha256 => {
                let k = key.ok_or(CryptoErrno::KeyRequired)?;
                Inner::HmacSha256(
                    Hmac::new_from_slice(&k.material).map_err(|_| CryptoErrno::InvalidKey)?,
                )
            }
            Alg::HmacSha512 => {
                let k = key.ok_or(CryptoErrno::KeyRequired)?;
                Inner::HmacSha512(
                    Hmac::new_from_slice(&k.material).map_err(|_| CryptoErrno::InvalidKey)?,
                )
            }
            Alg::Aes128Gcm | Alg::Aes256Gcm => {
                let k = key.ok_or(CryptoErrno::KeyRequired)?;
                let n = options.nonce.as_ref().ok_or(CryptoErrno::NonceRequired)?;
                let nonce: [u8; GCM_NONCE_LEN] = n
                    .as_slice()
                    .try_into()
                    .map_err(|_| CryptoErrno::InvalidNonce)?;
                let gcm = if alg == Alg::Aes128Gcm {
                    Gcm::A128(Box::new(
                        Aes128Gcm::new_from_slice(&k.material)
                            .map_err(|_| CryptoErrno::InvalidKey)?,
                    ))
                } else {
                    Gcm::A256(Box::new(
                        Aes256Gcm::new_from_slice(&k.material)
                            .map_err(|_| CryptoErrno::InvalidKey)?,
                    ))
                };
                Inner::Aead(Box::new(AeadState {
                    gcm,
                    ad: Vec::new(),
                    nonce: Some(nonce),
                }))
            }
        };
        Ok(SymState {
            alg,
            inner,
            options,
        })
    }

    /// `symmetric_state_absorb`: hash/MAC input, or AES-GCM associated data (at most
    /// [`MAX_AD_LEN`] bytes in total: `overflow`; `internal_error` if the host cannot hold
    /// it).
    pub fn absorb(&mut self, data: &[u8], svc: &dyn Services) -> CR {
        match &mut self.inner {
            Inner::Sha256(h) => h.update(data),
            Inner::Sha512(h) => h.update(data),
            Inner::HmacSha256(m) => m.update(data),
            Inner::HmacSha512(m) => m.update(data),
            Inner::Aead(a) => {
                let total = a.ad.len().checked_add(data.len());
                if total.is_none_or(|t| t > MAX_AD_LEN) {
                    return Err(CryptoErrno::Overflow);
                }
                fallible::extend(svc, &mut a.ad, data)?;
            }
        }
        Ok(())
    }

    /// `symmetric_state_clone`: an independent copy; the associated data of an AES-GCM
    /// state (up to [`MAX_AD_LEN`] bytes) is copied fallibly (`internal_error`).
    pub fn try_clone(&self, svc: &dyn Services) -> CR<SymState> {
        let inner = match &self.inner {
            Inner::Aead(a) => Inner::Aead(Box::new(AeadState {
                gcm: a.gcm.clone(),
                ad: fallible::copy_with_spare(svc, &a.ad, 0)?,
                nonce: a.nonce,
            })),
            other => other.clone(),
        };
        Ok(SymState {
            alg: self.alg,
            inner,
            options: self.options.clone(),
        })
    }

    /// `symmetric_state_squeeze`: a hash's digest of everything absorbed so far, truncated to
    /// `out.len()`; longer than the digest is `invalid_length`; other algorithms
    /// `invalid_operation`.
    pub fn squeeze(&self, out: &mut [u8]) -> CR {
        let digest: Vec<u8> = match &self.inner {
            Inner::Sha256(h) => h.clone().finalize().to_vec(),
            Inner::Sha512(h) => h.clone().finalize().to_vec(),
            _ => return Err(CryptoErrno::InvalidOperation),
        };
        let d = digest.get(..out.len()).ok_or(CryptoErrno::InvalidLength)?;
        out.copy_from_slice(d);
        Ok(())
    }

    /// `symmetric_state_squeeze_tag`: the HMAC of everything absorbed so far; other
    /// algorithms `invalid_operation`.
    pub fn squeeze_tag(&self) -> CR<Zeroizing<Vec<u8>>> {
        let t = match &self.inner {
            Inner::HmacSha256(m) => m.clone().finalize().into_bytes().to_vec(),
            Inner::HmacSha512(m) => m.clone().finalize().into_bytes().to_vec(),
            _ => return Err(CryptoErrno::InvalidOperation),
        };
        Ok(Zeroizing::new(t))
    }

    /// `symmetric_state_max_tag_len`: 16 for AES-GCM; `invalid_operation` otherwise.
    pub fn max_tag_len(&self) -> CR<usize> {
        match self.inner {
            Inner::Aead(_) => Ok(GCM_TAG_LEN),
            _ => Err(CryptoErrno::InvalidOperation),
        }
    }

    fn aead(&mut self) -> CR<&mut AeadState> {
        match &mut self.inner {
            Inner::Aead(a) => Ok(a),
            _ => Err(CryptoErrno::InvalidOperation),
        }
    }

    /// Encrypts `buf` in place with the state's nonce (consuming it) and associated data and
    /// returns the tag. `invalid_operation` for non-AEAD states, `nonce_required` if the nonce
    /// was already used.
    pub fn encrypt_in_place(&mut self, buf: &mut [u8]) -> CR<[u8; GCM_TAG_LEN]> {
        let a = self.aead()?;
        let nonce = a.nonce.take().ok_or(CryptoErrno::NonceRequired)?;
        let n = aes_gcm::Nonce::from(nonce);
        let tag = match &a.gcm {
            Gcm::A128(c) => c.encrypt_inout_detached(&n, &a.ad, buf.into()),
            Gcm::A256(c) => c.encrypt_inout_detached(&n, &a.ad, buf.into()),
        }
        .map_err(|_| CryptoErrno::AlgorithmFailure)?;
        Ok(tag.into())
    }

    /// Decrypts `buf` in place, checking `tag` (consumes the nonce). A tag that does not
    /// verify (or is not 16 bytes) is `invalid_tag` and `buf` is zeroed.
    pub fn decrypt_in_place(&mut self, buf: &mut [u8], tag: &[u8]) -> CR {
        let a = self.aead()?;
        let nonce = a.nonce.take().ok_or(CryptoErrno::NonceRequired)?;
        let Ok(tag) = aes_gcm::Tag::<aes_gcm::aead::consts::U16>::try_from(tag) else {
            buf.fill(0);
            return Err(CryptoErrno::InvalidTag);
        };
        let n = aes_gcm::Nonce::from(nonce);
        let r = match &a.gcm {
            Gcm::A128(c) => c.decrypt_inout_detached(&n, &a.ad, (&mut *buf).into(), &tag),
            Gcm::A256(c) => c.decrypt_inout_detached(&n, &a.ad, (&mut *buf).into(), &tag),
        };
        if r.is_err() {
            buf.fill(0);
            return Err(CryptoErrno::InvalidTag);
        }
        Ok(())
    }

    /// `nonce_required` if the AES-GCM nonce was already used (checked before touching guest
    /// buffers); `invalid_operation` for non-AEAD states.
    pub fn check_nonce(&mut self) -> CR {
        if self.aead()?.nonce.is_none() {
            return Err(CryptoErrno::NonceRequired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::Svc;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn names_parse_case_insensitively() {
        for a in Alg::ALL {
            assert_eq!(Alg::parse(a.name().as_bytes()), Ok(a));
            assert_eq!(Alg::parse(a.name().to_lowercase().as_bytes()), Ok(a));
        }
        assert_eq!(
            Alg::parse(b"SHA-384"),
            Err(CryptoErrno::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn sha512_abc_and_truncation() {
        // FIPS 180-2 appendix C.1 ("abc").
        let mut s = SymState::open(Alg::Sha512, None, None).unwrap();
        s.absorb(b"ab", &Svc::default()).unwrap();
        s.absorb(b"c", &Svc::default()).unwrap();
        let mut out = [0u8; 64];
        s.squeeze(&mut out).unwrap();
        assert_eq!(
            out.to_vec(),
            hex(
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
            )
        );
        let mut short = [0u8; 8];
        s.squeeze(&mut short).unwrap();
        assert_eq!(short[..], out[..8]);
        assert_eq!(s.squeeze(&mut [0u8; 65]), Err(CryptoErrno::InvalidLength));
    }

    #[test]
    fn open_errors() {
        let k = SymKey::import(Alg::HmacSha256, b"k").unwrap();
        assert_eq!(
            SymState::open(Alg::Sha256, Some(&k), None).map(|_| ()),
            Err(CryptoErrno::KeyNotSupported)
        );
        assert_eq!(
            SymState::open(Alg::HmacSha512, Some(&k), None).map(|_| ()),
            Err(CryptoErrno::InvalidKey)
        );
        let hk = SymKey::import(Alg::Aes128Gcm, &[0; 16]).unwrap();
        assert_eq!(
            SymState::open(Alg::Aes128Gcm, Some(&hk), None).map(|_| ()),
            Err(CryptoErrno::NonceRequired)
        );
        let mut o = SymOptions::default();
        o.set(b"NONCE", &[0; 8], &Svc::default()).unwrap();
        assert_eq!(
            SymState::open(Alg::Aes128Gcm, Some(&hk), Some(&o)).map(|_| ()),
            Err(CryptoErrno::InvalidNonce)
        );
        assert_eq!(
            SymState::open(Alg::Aes128Gcm, None, Some(&o)).map(|_| ()),
            Err(CryptoErrno::KeyRequired)
        );
        assert_eq!(
            SymKey::import(Alg::Aes256Gcm, &[0; 16]).map(|_| ()),
            Err(CryptoErrno::InvalidKey)
        );
        assert_eq!(
            SymKey::import(Alg::Sha256, &[0; 16]).map(|_| ()),
            Err(CryptoErrno::UnsupportedFeature)
        );
        assert_eq!(
            o.set(b"bogus", b"", &Svc::default()),
            Err(CryptoErrno::UnsupportedOption)
        );
        assert_eq!(o.get(b"salt"), Err(CryptoErrno::OptionNotSet));
    }

    #[test]
    fn sealing_keys_do_not_export() {
        let k = SymKey::sealing(0x9, [7; 32]);
        assert_eq!(
            k.export().map(|_| ()),
            Err(CryptoErrno::ProhibitedOperation)
        );
        let g = SymKey::generate(Alg::HmacSha512, |b| b.fill(3)).unwrap();
        assert_eq!(g.export().unwrap().as_slice(), &[3u8; 64][..]);
    }

    #[test]
    fn gcm_nonce_is_single_use_and_tamper_is_invalid_tag() {
        let k = SymKey::import(Alg::Aes256Gcm, &[1; 32]).unwrap();
        let mut o = SymOptions::default();
        o.set(b"nonce", &[2; 12], &Svc::default()).unwrap();
        let mut e = SymState::open(Alg::Aes256Gcm, Some(&k), Some(&o)).unwrap();
        e.absorb(b"ad", &Svc::default()).unwrap();
        let mut buf = *b"secret";
        let tag = e.encrypt_in_place(&mut buf).unwrap();
        assert_eq!(
            e.encrypt_in_place(&mut buf),
            Err(CryptoErrno::NonceRequired)
        );
        let mut d = SymState::open(Alg::Aes256Gcm, Some(&k), Some(&o)).unwrap();
        let mut d2 = d.clone();
        d.absorb(b"ad", &Svc::default()).unwrap();
        let mut p = buf;
        d.decrypt_in_place(&mut p, &tag).unwrap();
        assert_eq!(&p, b"secret");
        // the clone never absorbed the associated data: the tag does not verify
        let mut p2 = buf;
        assert_eq!(
            d2.decrypt_in_place(&mut p2, &tag),
            Err(CryptoErrno::InvalidTag)
        );
        assert_eq!(p2, [0u8; 6]);
    }
}
