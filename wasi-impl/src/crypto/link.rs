//! Registers the wasi-crypto functions (`wasi_ephemeral_crypto_common`,
//! `wasi_ephemeral_crypto_symmetric`) with a wasmi [`Linker`]. Each returns its
//! `crypto_errno` as the function's `i32` result.
//!
//! Fuel: native crypto costs the guest no instructions, so each call that processes guest
//! data is charged one fuel unit per [`FUEL_BYTES_PER_UNIT`] bytes of its data argument, so a
//! fuel limit still bounds the CPU time a guest can use through this API. A call the
//! remaining fuel cannot pay for does nothing and ends the guest with wasmi's out-of-fuel
//! trap (reported as the fuel limit).

use super::calls;
use super::{CR, CryptoCtx};
use crate::Services;
use crate::ctx::Ctx;
use crate::guest_mem::GuestMem;
use wasmi::{Caller, Error, Extern, Linker, TrapCode};

/// Guest bytes processed per unit of fuel charged.
pub const FUEL_BYTES_PER_UNIT: u64 = 16;

/// The common module.
pub const COMMON_MODULE: &str = "wasi_ephemeral_crypto_common";
/// The symmetric module.
pub const SYMMETRIC_MODULE: &str = "wasi_ephemeral_crypto_symmetric";

/// Functions of [`COMMON_MODULE`] this host provides (all of its witx functions).
pub const COMMON_FUNCTIONS: [&str; 10] = [
    "options_open",
    "options_close",
    "options_set",
    "options_set_u64",
    "options_set_guest_buffer",
    "array_output_len",
    "array_output_pull",
    "secrets_manager_open",
    "secrets_manager_close",
    "secrets_manager_invalidate",
];

/// Functions of [`SYMMETRIC_MODULE`] this host provides (all of its witx functions).
pub const SYMMETRIC_FUNCTIONS: [&str; 28] = [
    "symmetric_key_generate",
    "symmetric_key_import",
    "symmetric_key_export",
    "symmetric_key_close",
    "symmetric_key_generate_managed",
    "symmetric_key_store_managed",
    "symmetric_key_replace_managed",
    "symmetric_key_id",
    "symmetric_key_from_id",
    "symmetric_state_open",
    "symmetric_state_options_get",
    "symmetric_state_options_get_u64",
    "symmetric_state_clone",
    "symmetric_state_close",
    "symmetric_state_absorb",
    "symmetric_state_squeeze",
    "symmetric_state_squeeze_tag",
    "symmetric_state_squeeze_key",
    "symmetric_state_max_tag_len",
    "symmetric_state_encrypt",
    "symmetric_state_encrypt_detached",
    "symmetric_state_decrypt",
    "symmetric_state_decrypt_detached",
    "symmetric_state_ratchet",
    "symmetric_tag_len",
    "symmetric_tag_pull",
    "symmetric_tag_verify",
    "symmetric_tag_close",
];

/// True if `module::name` is a wasi-crypto function this host provides.
pub fn provides(module: &str, name: &str) -> bool {
    (module == COMMON_MODULE && COMMON_FUNCTIONS.contains(&name))
        || (module == SYMMETRIC_MODULE && SYMMETRIC_FUNCTIONS.contains(&name))
}

/// Runs `f` with the crypto context, the services and the guest memory; maps the result to
/// the `crypto_errno` value.
fn call<'a>(
    caller: &mut Caller<'_, Ctx<'a>>,
    name: &'static str,
    bytes: u64,
    f: impl FnOnce(&mut CryptoCtx, &mut dyn Services, &mut GuestMem<'_>) -> CR,
) -> Result<i32, Error> {
    let cost = bytes.div_ceil(FUEL_BYTES_PER_UNIT);
    if cost > 0
        && let Ok(fuel) = caller.get_fuel()
    {
        // In fuel slices (the watchdog) the store holds one slice: charge the whole budget.
        let after = match caller.data_mut().meter.as_mut() {
            Some(meter) => meter.draw(fuel, cost),
            None => fuel.checked_sub(cost),
        };
        let Some(after) = after else {
            caller.data_mut().last_call = name;
            caller.set_fuel(0)?;
            return Err(TrapCode::OutOfFuel.into());
        };
        caller.set_fuel(after)?;
    }
    let memory = caller.get_export("memory").and_then(Extern::into_memory);
    let r = match memory {
        Some(m) => {
            let (data, ctx) = m.data_and_store_mut(&mut *caller);
            ctx.last_call = name;
            f(
                &mut ctx.crypto,
                &mut *ctx.services,
                &mut GuestMem::new(data),
            )
        }
        None => {
            let ctx = caller.data_mut();
            ctx.last_call = name;
            f(
                &mut ctx.crypto,
                &mut *ctx.services,
                &mut GuestMem::new(&mut []),
            )
        }
    };
    Ok(match r {
        Ok(()) => 0,
        Err(e) => i32::from(e.raw()),
    })
}

macro_rules! crypto_fns {
    ($linker:ident, $module:expr;
     $( $name:ident ( $( $arg:ident : $ty:ty ),* ) $( => $bytes:ident )? ;)* ) => {
        $(
            #[allow(clippy::too_many_arguments)]
            fn $name(mut caller: Caller<'_, Ctx<'_>>, $( $arg: $ty ),*) -> Result<i32, Error> {
                let bytes: u64 = 0 $( + u64::from($bytes) )?;
                call(&mut caller, stringify!($name), bytes, |cx, svc, mem| {
                    calls::$name(cx, svc, mem, $( $arg ),*)
                })
            }
            $linker.func_wrap($module, stringify!($name), $name)?;
        )*
    };
}

/// Adds every function of both modules to `linker`.
pub fn add_to_linker(linker: &mut Linker<Ctx<'_>>) -> Result<(), wasmi::errors::LinkerError> {
    crypto_fns! { linker, COMMON_MODULE;
        options_open(ty: u32, out: u32);
        options_close(h: u32);
        options_set(h: u32, name: u32, name_len: u32, value: u32, value_len: u32) => value_len;
        options_set_u64(h: u32, name: u32, name_len: u32, value: u64);
        options_set_guest_buffer(h: u32, name: u32, name_len: u32, buf: u32, buf_len: u32);
        array_output_len(h: u32, out: u32);
        array_output_pull(h: u32, buf: u32, buf_len: u32, out: u32);
        secrets_manager_open(opts: u32, out: u32);
        secrets_manager_close(h: u32);
        secrets_manager_invalidate(h: u32, id: u32, id_len: u32, version: u64);
    }
    crypto_fns! { linker, SYMMETRIC_MODULE;
        symmetric_key_generate(alg: u32, alg_len: u32, opts: u32, out: u32);
        symmetric_key_import(alg: u32, alg_len: u32, raw: u32, raw_len: u32, out: u32) => raw_len;
        symmetric_key_export(h: u32, out: u32);
        symmetric_key_close(h: u32);
        symmetric_key_generate_managed(sm: u32, alg: u32, alg_len: u32, opts: u32, out: u32);
        symmetric_key_store_managed(sm: u32, key: u32, id: u32, id_max: u32);
        symmetric_key_replace_managed(sm: u32, old: u32, new: u32, out: u32);
        symmetric_key_id(h: u32, buf: u32, buf_max: u32, out_len: u32, out_version: u32);
        symmetric_key_from_id(sm: u32, id: u32, id_len: u32, version: u64, out: u32);
        symmetric_state_open(alg: u32, alg_len: u32, key: u32, opts: u32, out: u32);
        symmetric_state_options_get(h: u32, name: u32, name_len: u32, buf: u32, buf_max: u32, out: u32);
        symmetric_state_options_get_u64(h: u32, name: u32, name_len: u32, out: u32);
        symmetric_state_clone(h: u32, out: u32);
        symmetric_state_close(h: u32);
        symmetric_state_absorb(h: u32, data: u32, data_len: u32) => data_len;
        symmetric_state_squeeze(h: u32, out: u32, out_len: u32) => out_len;
        symmetric_state_squeeze_tag(h: u32, out: u32);
        symmetric_state_squeeze_key(h: u32, alg: u32, alg_len: u32, out: u32);
        symmetric_state_max_tag_len(h: u32, out: u32);
        symmetric_state_encrypt(h: u32, out: u32, out_len: u32, data: u32, data_len: u32, out_size: u32) => data_len;
        symmetric_state_encrypt_detached(h: u32, out: u32, out_len: u32, data: u32, data_len: u32, out_tag: u32) => data_len;
        symmetric_state_decrypt(h: u32, out: u32, out_len: u32, data: u32, data_len: u32, out_size: u32) => data_len;
        symmetric_state_decrypt_detached(h: u32, out: u32, out_len: u32, data: u32, data_len: u32, tag: u32, tag_len: u32, out_size: u32) => data_len;
        symmetric_state_ratchet(h: u32);
        symmetric_tag_len(h: u32, out: u32);
        symmetric_tag_pull(h: u32, buf: u32, buf_len: u32, out: u32);
        symmetric_tag_verify(h: u32, expected: u32, expected_len: u32);
        symmetric_tag_close(h: u32);
    }
    Ok(())
}
