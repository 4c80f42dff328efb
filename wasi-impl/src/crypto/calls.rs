//! The witx functions of `wasi_ephemeral_crypto_common` and `wasi_ephemeral_crypto_symmetric`
//! over guest memory: argument decoding, bounds checks, results written back.
//!
//! ABI (witx, as `wasi-crypto-guest` 0.1.7 calls it): handles, `size` and enum values are
//! `i32`; `version` is `i64`; strings and buffers are pointer/length pairs; the optional
//! `opt_options`/`opt_symmetric_key` variants are passed by pointer to an 8-byte record
//! (`u8` tag at offset 0: 0 = some, 1 = none; the `u32` handle at offset 4); results go to
//! out-pointers. Every output pointer is checked before any object is created, so a bad
//! pointer never leaks a handle.

// The witx signatures fix the argument counts.
#![allow(clippy::too_many_arguments)]

use super::handles::{ArrayOutput, Kind, Object};
use super::symmetric::{Alg, GCM_TAG_LEN, SymKey, SymOptions, SymState};
use super::{CR, CryptoCtx, CryptoErrno};
use crate::Services;
use crate::fallible;
use crate::guest_mem::GuestMem;
use alloc::boxed::Box;
use alloc::vec::Vec;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// witx `algorithm_type::symmetric`.
const ALGORITHM_TYPE_SYMMETRIC: u32 = 1;
/// Largest valid `algorithm_type` (`key_exchange`).
const ALGORITHM_TYPE_MAX: u32 = 2;
/// witx `version.unspecified`.
pub const VERSION_UNSPECIFIED: u64 = 0xff00_0000_0000_0000;
/// witx `version.latest`.
pub const VERSION_LATEST: u64 = 0xff00_0000_0000_0001;
/// The version of every sealing key.
pub const SEALING_KEY_VERSION: u64 = 1;
/// Prefix of a sealing key identifier; 16 hex digits of GUEST_FIELD_SELECT follow.
pub const SEALING_ID_PREFIX: &[u8] = b"elastic.sealing:";

/// Checks that `len` bytes at `ptr` are writable guest memory.
fn check_out(mem: &GuestMem<'_>, ptr: u32, len: u32) -> CR {
    mem.slice(ptr, len)?;
    Ok(())
}

/// A `size` result.
fn to_size(n: usize) -> CR<u32> {
    u32::try_from(n).map_err(|_| CryptoErrno::Overflow)
}

/// Decodes an optional-handle variant (`opt_options`, `opt_symmetric_key`) at `ptr`.
fn read_opt(mem: &GuestMem<'_>, ptr: u32) -> CR<Option<u32>> {
    match mem.read_u8(ptr)? {
        0 => {
            let p = ptr.checked_add(4).ok_or(CryptoErrno::GuestError)?;
            Ok(Some(mem.read_u32(p)?))
        }
        1 => Ok(None),
        _ => Err(CryptoErrno::GuestError),
    }
}

/// The symmetric options behind an `opt_options` pointer (cloned), if any.
fn opt_options(cx: &CryptoCtx, mem: &GuestMem<'_>, ptr: u32) -> CR<Option<SymOptions>> {
    match read_opt(mem, ptr)? {
        Some(h) => Ok(Some(cx.handles.options(h)?.clone())),
        None => Ok(None),
    }
}

fn alg_arg(mem: &GuestMem<'_>, ptr: u32, len: u32) -> CR<Alg> {
    Alg::parse(mem.slice(ptr, len)?)
}

/// Heap asked of the gauge before an object joins the handle table (its box and table node;
/// its data was asked for when it was copied).
const OBJECT_HEADROOM: usize = 1024;

/// Writes a new handle for `obj` to `out` (checked first).
fn push(
    cx: &mut CryptoCtx,
    svc: &dyn Services,
    mem: &mut GuestMem<'_>,
    out: u32,
    obj: Object,
) -> CR {
    check_out(mem, out, 4)?;
    fallible::room(svc, OBJECT_HEADROOM)?;
    let h = cx.handles.insert(obj)?;
    mem.write_u32(out, h)?;
    Ok(())
}

/// Parses `elastic.sealing:<16 hex digits>` into the field select.
fn parse_sealing_id(id: &[u8]) -> Option<u64> {
    let hex = id.strip_prefix(SEALING_ID_PREFIX)?;
    if hex.len() != 16 {
        return None;
    }
    let s = core::str::from_utf8(hex).ok()?;
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// The identifier of the sealing key with `field_select`.
fn sealing_id(field_select: u64) -> Vec<u8> {
    let mut v = SEALING_ID_PREFIX.to_vec();
    v.extend_from_slice(alloc::format!("{field_select:016x}").as_bytes());
    v
}

/// Asks the embedder for the sealing key; `unsupported_feature` without one.
fn sealing_key(svc: &mut dyn Services, field_select: u64) -> CR<SymKey> {
    let k = svc
        .sealing_key(field_select)
        .ok_or(CryptoErrno::UnsupportedFeature)?;
    Ok(SymKey::sealing(field_select, k))
}

// ---------------------------------------------------------------- common

/// `options_open(algorithm_type) -> options`: symmetric only; signatures and key exchange
/// are `not_implemented`, an undefined type `guest_error`.
pub fn options_open(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    ty: u32,
    out: u32,
) -> CR {
    if ty > ALGORITHM_TYPE_MAX {
        return Err(CryptoErrno::GuestError);
    }
    if ty != ALGORITHM_TYPE_SYMMETRIC {
        return Err(CryptoErrno::NotImplemented);
    }
    push(cx, svc, mem, out, Object::Options(SymOptions::default()))
}

/// `options_close`.
pub fn options_close(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    _mem: &mut GuestMem<'_>,
    h: u32,
) -> CR {
    cx.handles.close(h, Kind::Options)
}

/// `options_set(options, name, value)`.
pub fn options_set(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    name: u32,
    name_len: u32,
    value: u32,
    value_len: u32,
) -> CR {
    let o = cx.handles.options_mut(h)?;
    let name = mem.slice(name, name_len)?;
    let value = mem.slice(value, value_len)?;
    o.set(name, value, svc)
}

/// `options_set_u64(options, name, value)`.
pub fn options_set_u64(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    name: u32,
    name_len: u32,
    value: u64,
) -> CR {
    let o = cx.handles.options_mut(h)?;
    o.set_u64(mem.slice(name, name_len)?, value)
}

/// `options_set_guest_buffer(options, name, buffer)`: no supported algorithm uses a guest
/// buffer, so every name is `unsupported_option` (after the handle and buffer are checked).
pub fn options_set_guest_buffer(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    name: u32,
    name_len: u32,
    buf: u32,
    buf_len: u32,
) -> CR {
    cx.handles.options(h)?;
    mem.slice(name, name_len)?;
    mem.slice(buf, buf_len)?;
    Err(CryptoErrno::UnsupportedOption)
}

/// `array_output_len(array_output) -> size`.
pub fn array_output_len(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
) -> CR {
    let a = cx.handles.array_output_mut(h)?;
    let n = to_size(a.data.len())?;
    mem.write_u32(out, n)?;
    Ok(())
}

/// `array_output_pull(array_output, buf) -> size`: copies what fits, may be called again
/// for the rest (streaming, as the witx allows); the handle is closed once everything has
/// been pulled.
pub fn array_output_pull(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    buf: u32,
    buf_len: u32,
    out: u32,
) -> CR {
    check_out(mem, out, 4)?;
    let a = cx.handles.array_output_mut(h)?;
    let rest = a.data.get(a.pos..).unwrap_or(&[]);
    let n = rest
        .len()
        .min(usize::try_from(buf_len).unwrap_or(usize::MAX));
    let chunk = rest.get(..n).unwrap_or(&[]);
    mem.write_bytes(buf, chunk)?;
    a.pos = a.pos.saturating_add(n);
    let done = a.pos >= a.data.len();
    mem.write_u32(out, to_size(n)?)?;
    if done {
        cx.handles.close(h, Kind::ArrayOutput)?;
    }
    Ok(())
}

/// `secrets_manager_open(opt_options) -> secrets_manager`: the secrets manager gives access
/// to the sealing keys (`symmetric_key_from_id`).
pub fn secrets_manager_open(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    opts: u32,
    out: u32,
) -> CR {
    opt_options(cx, mem, opts)?;
    push(cx, svc, mem, out, Object::SecretsManager)
}

/// `secrets_manager_close`.
pub fn secrets_manager_close(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    _mem: &mut GuestMem<'_>,
    h: u32,
) -> CR {
    cx.handles.close(h, Kind::SecretsManager)
}

/// `secrets_manager_invalidate`: sealing keys cannot be revoked (`unsupported_feature`).
pub fn secrets_manager_invalidate(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    id: u32,
    id_len: u32,
    _version: u64,
) -> CR {
    cx.handles.get(h, Kind::SecretsManager)?;
    mem.slice(id, id_len)?;
    Err(CryptoErrno::UnsupportedFeature)
}

// ---------------------------------------------------------------- symmetric keys

/// `symmetric_key_generate(algorithm, opt_options) -> symmetric_key`: random material from
/// the embedder's CSPRNG; with the u64 option `elastic.sealing` (AES-256-GCM only, else
/// `unsupported_option`) the sealing key with that field select instead.
pub fn symmetric_key_generate(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    alg: u32,
    alg_len: u32,
    opts: u32,
    out: u32,
) -> CR {
    let alg = alg_arg(mem, alg, alg_len)?;
    let opts = opt_options(cx, mem, opts)?;
    check_out(mem, out, 4)?;
    cx.handles.ensure_room()?;
    let key = match opts.and_then(|o| o.sealing) {
        Some(fs) if alg == Alg::Aes256Gcm => sealing_key(svc, fs)?,
        Some(_) => return Err(CryptoErrno::UnsupportedOption),
        None => SymKey::generate(alg, |b| svc.random(b))?,
    };
    push(cx, svc, mem, out, Object::Key(key))
}

/// `symmetric_key_import(algorithm, raw) -> symmetric_key`.
pub fn symmetric_key_import(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    alg: u32,
    alg_len: u32,
    raw: u32,
    raw_len: u32,
    out: u32,
) -> CR {
    let alg = alg_arg(mem, alg, alg_len)?;
    let key = SymKey::import(alg, mem.slice(raw, raw_len)?)?;
    push(cx, svc, mem, out, Object::Key(key))
}

/// `symmetric_key_export(symmetric_key) -> array_output`: sealing keys are
/// `prohibited_operation`.
pub fn symmetric_key_export(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
) -> CR {
    let data = cx.handles.key(h)?.export()?;
    push(
        cx,
        svc,
        mem,
        out,
        Object::ArrayOutput(ArrayOutput { data, pos: 0 }),
    )
}

/// `symmetric_key_close`.
pub fn symmetric_key_close(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    _mem: &mut GuestMem<'_>,
    h: u32,
) -> CR {
    cx.handles.close(h, Kind::Key)
}

/// `symmetric_key_generate_managed`: the host stores no guest keys (`unsupported_feature`).
pub fn symmetric_key_generate_managed(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    sm: u32,
    alg: u32,
    alg_len: u32,
    opts: u32,
    _out: u32,
) -> CR {
    cx.handles.get(sm, Kind::SecretsManager)?;
    alg_arg(mem, alg, alg_len)?;
    opt_options(cx, mem, opts)?;
    Err(CryptoErrno::UnsupportedFeature)
}

/// `symmetric_key_store_managed`: `unsupported_feature`.
pub fn symmetric_key_store_managed(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    sm: u32,
    key: u32,
    id: u32,
    id_max: u32,
) -> CR {
    cx.handles.get(sm, Kind::SecretsManager)?;
    cx.handles.key(key)?;
    mem.slice(id, id_max)?;
    Err(CryptoErrno::UnsupportedFeature)
}

/// `symmetric_key_replace_managed`: `unsupported_feature`.
pub fn symmetric_key_replace_managed(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    _mem: &mut GuestMem<'_>,
    sm: u32,
    old: u32,
    new: u32,
    _out: u32,
) -> CR {
    cx.handles.get(sm, Kind::SecretsManager)?;
    cx.handles.key(old)?;
    cx.handles.key(new)?;
    Err(CryptoErrno::UnsupportedFeature)
}

/// `symmetric_key_id(symmetric_key, buf) -> (size, version)`: for a sealing key its
/// identifier and version 1 (`overflow` if `buf` is too small); other keys are not managed
/// (`unsupported_feature`).
pub fn symmetric_key_id(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    buf: u32,
    buf_max: u32,
    out_len: u32,
    out_version: u32,
) -> CR {
    let fs = cx
        .handles
        .key(h)?
        .sealing
        .ok_or(CryptoErrno::UnsupportedFeature)?;
    mem.slice(buf, buf_max)?;
    check_out(mem, out_len, 4)?;
    check_out(mem, out_version, 8)?;
    let id = sealing_id(fs);
    if id.len() > usize::try_from(buf_max).unwrap_or(usize::MAX) {
        return Err(CryptoErrno::Overflow);
    }
    mem.write_bytes(buf, &id)?;
    mem.write_u32(out_len, to_size(id.len())?)?;
    mem.write_u64(out_version, SEALING_KEY_VERSION)?;
    Ok(())
}

/// `symmetric_key_from_id(secrets_manager, id, version) -> symmetric_key`: the sealing key
/// `elastic.sealing:<16 hex digits of GUEST_FIELD_SELECT>` (version `latest`, `unspecified`
/// or 1). Any other identifier or version is `not_found`; an embedder without sealing keys
/// gives `unsupported_feature`.
pub fn symmetric_key_from_id(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    sm: u32,
    id: u32,
    id_len: u32,
    version: u64,
    out: u32,
) -> CR {
    cx.handles.get(sm, Kind::SecretsManager)?;
    let fs = parse_sealing_id(mem.slice(id, id_len)?).ok_or(CryptoErrno::NotFound)?;
    if ![VERSION_LATEST, VERSION_UNSPECIFIED, SEALING_KEY_VERSION].contains(&version) {
        return Err(CryptoErrno::NotFound);
    }
    check_out(mem, out, 4)?;
    cx.handles.ensure_room()?;
    let key = sealing_key(svc, fs)?;
    push(cx, svc, mem, out, Object::Key(key))
}

// ---------------------------------------------------------------- symmetric states

/// `symmetric_state_open(algorithm, opt_symmetric_key, opt_options) -> symmetric_state`.
pub fn symmetric_state_open(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    alg: u32,
    alg_len: u32,
    key: u32,
    opts: u32,
    out: u32,
) -> CR {
    let alg = alg_arg(mem, alg, alg_len)?;
    let key = match read_opt(mem, key)? {
        Some(h) => Some(cx.handles.key(h)?),
        None => None,
    };
    let opts = match read_opt(mem, opts)? {
        Some(h) => Some(cx.handles.options(h)?),
        None => None,
    };
    let st = SymState::open(alg, key, opts)?;
    push(cx, svc, mem, out, Object::State(Box::new(st)))
}

/// `symmetric_state_options_get(state, name, buf) -> size`: an option given at open time
/// (e.g. `nonce`); `option_not_set`, `unsupported_option`, `overflow` if `buf` is too small.
pub fn symmetric_state_options_get(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    name: u32,
    name_len: u32,
    buf: u32,
    buf_max: u32,
    out: u32,
) -> CR {
    let st = cx.handles.state_mut(h)?;
    mem.slice(name, name_len)?;
    mem.slice(buf, buf_max)?;
    check_out(mem, out, 4)?;
    let v = st.options.get(mem.slice(name, name_len)?)?;
    if v.len() > usize::try_from(buf_max).unwrap_or(usize::MAX) {
        return Err(CryptoErrno::Overflow);
    }
    let n = to_size(v.len())?;
    mem.write_bytes(buf, v)?;
    mem.write_u32(out, n)?;
    Ok(())
}

/// `symmetric_state_options_get_u64(state, name) -> u64`.
pub fn symmetric_state_options_get_u64(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    name: u32,
    name_len: u32,
    out: u32,
) -> CR {
    let st = cx.handles.state_mut(h)?;
    mem.slice(name, name_len)?;
    check_out(mem, out, 8)?;
    let v = st.options.get_u64(mem.slice(name, name_len)?)?;
    mem.write_u64(out, v)?;
    Ok(())
}

/// `symmetric_state_clone(state) -> symmetric_state`.
pub fn symmetric_state_clone(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
) -> CR {
    let st = cx.handles.state(h)?.try_clone(svc)?;
    push(cx, svc, mem, out, Object::State(Box::new(st)))
}

/// `symmetric_state_close`.
pub fn symmetric_state_close(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    _mem: &mut GuestMem<'_>,
    h: u32,
) -> CR {
    cx.handles.close(h, Kind::State)
}

/// `symmetric_state_absorb(state, data)`.
pub fn symmetric_state_absorb(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    data: u32,
    data_len: u32,
) -> CR {
    let st = cx.handles.state_mut(h)?;
    st.absorb(mem.slice(data, data_len)?, svc)
}

/// `symmetric_state_squeeze(state, out)`.
pub fn symmetric_state_squeeze(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
    out_len: u32,
) -> CR {
    let st = cx.handles.state(h)?;
    st.squeeze(mem.slice_mut(out, out_len)?)
}

/// `symmetric_state_squeeze_tag(state) -> symmetric_tag`.
pub fn symmetric_state_squeeze_tag(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
) -> CR {
    let tag = cx.handles.state(h)?.squeeze_tag()?;
    push(cx, svc, mem, out, Object::Tag(tag))
}

/// `symmetric_state_squeeze_key(state, algorithm) -> symmetric_key`: none of the supported
/// algorithms derives keys (`invalid_operation`).
pub fn symmetric_state_squeeze_key(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    alg: u32,
    alg_len: u32,
    _out: u32,
) -> CR {
    cx.handles.state(h)?;
    alg_arg(mem, alg, alg_len)?;
    Err(CryptoErrno::InvalidOperation)
}

/// `symmetric_state_max_tag_len(state) -> size`.
pub fn symmetric_state_max_tag_len(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
) -> CR {
    let n = cx.handles.state(h)?.max_tag_len()?;
    mem.write_u32(out, to_size(n)?)?;
    Ok(())
}

/// Copies `data_len` guest bytes at `data` to the host (they may overlap the output), with
/// room for a tag after them; the copy is as large as the guest says, so it is fallible
/// (`internal_error`).
fn read_data(
    svc: &dyn Services,
    mem: &GuestMem<'_>,
    data: u32,
    data_len: u32,
) -> CR<Zeroizing<Vec<u8>>> {
    let bytes = mem.slice(data, data_len)?;
    Ok(Zeroizing::new(fallible::copy_with_spare(
        svc,
        bytes,
        GCM_TAG_LEN,
    )?))
}

/// `symmetric_state_encrypt(state, out, data) -> size`: ciphertext followed by the 16-byte
/// tag; `out` must hold at least `data_len + 16` bytes (`overflow`).
pub fn symmetric_state_encrypt(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
    out_len: u32,
    data: u32,
    data_len: u32,
    out_size: u32,
) -> CR {
    let st = cx.handles.state_mut(h)?;
    st.check_nonce()?;
    let mut buf = read_data(svc, mem, data, data_len)?;
    mem.slice(out, out_len)?;
    check_out(mem, out_size, 4)?;
    let total = buf
        .len()
        .checked_add(GCM_TAG_LEN)
        .ok_or(CryptoErrno::Overflow)?;
    if usize::try_from(out_len).unwrap_or(usize::MAX) < total {
        return Err(CryptoErrno::Overflow);
    }
    let tag = st.encrypt_in_place(&mut buf)?;
    buf.extend_from_slice(&tag);
    mem.write_bytes(out, &buf)?;
    mem.write_u32(out_size, to_size(total)?)?;
    Ok(())
}

/// `symmetric_state_encrypt_detached(state, out, data) -> symmetric_tag`: `out` and `data`
/// must have the same length (`invalid_length`).
pub fn symmetric_state_encrypt_detached(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
    out_len: u32,
    data: u32,
    data_len: u32,
    out_tag: u32,
) -> CR {
    cx.handles.state_mut(h)?.check_nonce()?;
    let mut buf = read_data(svc, mem, data, data_len)?;
    mem.slice(out, out_len)?;
    check_out(mem, out_tag, 4)?;
    if out_len != data_len {
        return Err(CryptoErrno::InvalidLength);
    }
    cx.handles.ensure_room()?;
    let tag = cx.handles.state_mut(h)?.encrypt_in_place(&mut buf)?;
    mem.write_bytes(out, &buf)?;
    push(
        cx,
        svc,
        mem,
        out_tag,
        Object::Tag(Zeroizing::new(tag.to_vec())),
    )
}

/// `symmetric_state_decrypt(state, out, data) -> size`: `data` is ciphertext followed by the
/// tag (shorter than a tag: `invalid_tag`); `out` must hold `data_len - 16` bytes
/// (`overflow`). On `invalid_tag` `out` is zeroed (as the reference implementation does).
pub fn symmetric_state_decrypt(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
    out_len: u32,
    data: u32,
    data_len: u32,
    out_size: u32,
) -> CR {
    let st = cx.handles.state_mut(h)?;
    st.check_nonce()?;
    let mut buf = read_data(svc, mem, data, data_len)?;
    mem.slice(out, out_len)?;
    check_out(mem, out_size, 4)?;
    let Some(ct_len) = buf.len().checked_sub(GCM_TAG_LEN) else {
        return Err(CryptoErrno::InvalidTag);
    };
    if usize::try_from(out_len).unwrap_or(usize::MAX) < ct_len {
        return Err(CryptoErrno::Overflow);
    }
    let (ct, tag) = buf.split_at_mut(ct_len);
    if let Err(e) = st.decrypt_in_place(ct, tag) {
        mem.slice_mut(out, out_len)?.fill(0);
        return Err(e);
    }
    mem.write_bytes(out, ct)?;
    mem.write_u32(out_size, to_size(ct_len)?)?;
    Ok(())
}

/// `symmetric_state_decrypt_detached(state, out, data, raw_tag) -> size`: `out` and `data`
/// must have the same length (`invalid_length`); a wrong tag is `invalid_tag` and `out` is
/// zeroed.
pub fn symmetric_state_decrypt_detached(
    cx: &mut CryptoCtx,
    svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
    out_len: u32,
    data: u32,
    data_len: u32,
    tag: u32,
    tag_len: u32,
    out_size: u32,
) -> CR {
    let st = cx.handles.state_mut(h)?;
    st.check_nonce()?;
    let mut buf = read_data(svc, mem, data, data_len)?;
    // Only a 16-byte tag can verify: keep that one, anything else is `invalid_tag` below.
    let tag: Option<[u8; GCM_TAG_LEN]> = mem.slice(tag, tag_len)?.try_into().ok();
    mem.slice(out, out_len)?;
    check_out(mem, out_size, 4)?;
    if out_len != data_len {
        return Err(CryptoErrno::InvalidLength);
    }
    if let Err(e) = st.decrypt_in_place(&mut buf, tag.as_ref().map_or(&[][..], |t| &t[..])) {
        mem.slice_mut(out, out_len)?.fill(0);
        return Err(e);
    }
    mem.write_bytes(out, &buf)?;
    mem.write_u32(out_size, data_len)?;
    Ok(())
}

/// `symmetric_state_ratchet(state)`: no supported algorithm ratchets (`invalid_operation`).
pub fn symmetric_state_ratchet(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    _mem: &mut GuestMem<'_>,
    h: u32,
) -> CR {
    cx.handles.state(h)?;
    Err(CryptoErrno::InvalidOperation)
}

// ---------------------------------------------------------------- tags

/// `symmetric_tag_len(symmetric_tag) -> size`.
pub fn symmetric_tag_len(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    out: u32,
) -> CR {
    let n = cx.handles.tag(h)?.len();
    mem.write_u32(out, to_size(n)?)?;
    Ok(())
}

/// `symmetric_tag_pull(symmetric_tag, buf) -> size`: `overflow` if `buf` is too small;
/// the tag is closed after a successful pull.
pub fn symmetric_tag_pull(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    buf: u32,
    buf_len: u32,
    out: u32,
) -> CR {
    let t = cx.handles.tag(h)?;
    mem.slice(buf, buf_len)?;
    check_out(mem, out, 4)?;
    if t.len() > usize::try_from(buf_len).unwrap_or(usize::MAX) {
        return Err(CryptoErrno::Overflow);
    }
    let n = to_size(t.len())?;
    mem.write_bytes(buf, t)?;
    mem.write_u32(out, n)?;
    cx.handles.close(h, Kind::Tag)
}

/// `symmetric_tag_verify(symmetric_tag, expected)`: constant-time comparison; a mismatch
/// (or another length) is `invalid_tag`. The tag stays open.
pub fn symmetric_tag_verify(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    mem: &mut GuestMem<'_>,
    h: u32,
    expected: u32,
    expected_len: u32,
) -> CR {
    let t = cx.handles.tag(h)?;
    let e = mem.slice(expected, expected_len)?;
    if bool::from(t.ct_eq(e)) {
        Ok(())
    } else {
        Err(CryptoErrno::InvalidTag)
    }
}

/// `symmetric_tag_close`.
pub fn symmetric_tag_close(
    cx: &mut CryptoCtx,
    _svc: &mut dyn Services,
    _mem: &mut GuestMem<'_>,
    h: u32,
) -> CR {
    cx.handles.close(h, Kind::Tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_ids_round_trip() {
        assert_eq!(parse_sealing_id(&sealing_id(0x1f)), Some(0x1f));
        assert_eq!(
            parse_sealing_id(b"elastic.sealing:000000000000001F"),
            Some(0x1f)
        );
        assert_eq!(parse_sealing_id(b"elastic.sealing:1f"), None);
        assert_eq!(parse_sealing_id(b"elastic.sealing:+00000000000001f"), None);
        assert_eq!(parse_sealing_id(b"other"), None);
    }
}
