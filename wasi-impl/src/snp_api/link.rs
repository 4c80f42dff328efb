//! Registers the `elastic_snp` functions with a wasmi [`Linker`]: each looks up the guest's
//! exported `memory` (none: every pointer is `fault`), calls the function in the parent
//! module with the embedder's [`Services`], and returns its `i32` result (an errno, or the
//! value of `is_snp` / `clock_trust`).

use super::MODULE;
use crate::Services;
use crate::ctx::Ctx;
use crate::guest_mem::GuestMem;
use wasmi::{Caller, Error, Extern, Linker};

/// True if `module::name` is an `elastic_snp` function this host provides.
pub fn provides(module: &str, name: &str) -> bool {
    module == MODULE && super::FUNCTIONS.contains(&name)
}

/// Runs `f` with the services and the guest memory; maps `Err(errno)` to its number.
fn call<'a>(
    caller: &mut Caller<'_, Ctx<'a>>,
    name: &'static str,
    f: impl FnOnce(&mut dyn Services, &mut GuestMem<'_>) -> Result<(), crate::Errno>,
) -> Result<i32, Error> {
    let memory = caller.get_export("memory").and_then(Extern::into_memory);
    let r = match memory {
        Some(m) => {
            let (data, ctx) = m.data_and_store_mut(&mut *caller);
            ctx.last_call = name;
            f(&mut *ctx.services, &mut GuestMem::new(data))
        }
        None => {
            let ctx = caller.data_mut();
            ctx.last_call = name;
            f(&mut *ctx.services, &mut GuestMem::new(&mut []))
        }
    };
    Ok(match r {
        Ok(()) => 0,
        Err(e) => i32::from(e.raw()),
    })
}

fn is_snp(mut caller: Caller<'_, Ctx<'_>>) -> Result<i32, Error> {
    let ctx = caller.data_mut();
    ctx.last_call = "is_snp";
    Ok(super::is_snp(&mut *ctx.services))
}

fn clock_trust(mut caller: Caller<'_, Ctx<'_>>) -> Result<i32, Error> {
    let ctx = caller.data_mut();
    ctx.last_call = "clock_trust";
    Ok(super::clock_trust(&mut *ctx.services))
}

fn attestation_report(
    mut caller: Caller<'_, Ctx<'_>>,
    report_data: u32,
    vmpl: u32,
    out: u32,
    out_len: u32,
    out_written: u32,
) -> Result<i32, Error> {
    call(&mut caller, "attestation_report", |svc, mem| {
        super::attestation_report(svc, mem, report_data, vmpl, out, out_len, out_written)
    })
}

fn certificates(
    mut caller: Caller<'_, Ctx<'_>>,
    out: u32,
    out_len: u32,
    out_written: u32,
) -> Result<i32, Error> {
    call(&mut caller, "certificates", |svc, mem| {
        super::certificates(svc, mem, out, out_len, out_written)
    })
}

fn derived_key(mut caller: Caller<'_, Ctx<'_>>, field_select: u64, out: u32) -> Result<i32, Error> {
    call(&mut caller, "derived_key", |svc, mem| {
        super::derived_key(svc, mem, field_select, out)
    })
}

/// Adds the five functions of [`MODULE`] to `linker`.
pub fn add_to_linker(linker: &mut Linker<Ctx<'_>>) -> Result<(), wasmi::errors::LinkerError> {
    linker.func_wrap(MODULE, "is_snp", is_snp)?;
    linker.func_wrap(MODULE, "attestation_report", attestation_report)?;
    linker.func_wrap(MODULE, "certificates", certificates)?;
    linker.func_wrap(MODULE, "derived_key", derived_key)?;
    linker.func_wrap(MODULE, "clock_trust", clock_trust)?;
    Ok(())
}
