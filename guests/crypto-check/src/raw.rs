//! Direct calls of a few wasi-crypto functions, for the checks that need raw handles (which
//! `wasi-crypto-guest` hides): closed handles, handles of the wrong type, bad pointers, the
//! secrets manager. Signatures as in the proposal's witx (`wasi_ephemeral_crypto_common`,
//! `wasi_ephemeral_crypto_symmetric`). Every function returns the raw `crypto_errno`.

/// An `opt_options` / `opt_symmetric_key` variant: tag 0 = some, 1 = none.
#[repr(C)]
struct Opt {
    tag: u8,
    handle: u32,
}

impl Opt {
    fn of(h: Option<u32>) -> Opt {
        match h {
            Some(handle) => Opt { tag: 0, handle },
            None => Opt { tag: 1, handle: 0 },
        }
    }
}

mod common {
    #[link(wasm_import_module = "wasi_ephemeral_crypto_common")]
    unsafe extern "C" {
        pub fn secrets_manager_open(options: *const super::Opt, out: *mut u32) -> i32;
        pub fn secrets_manager_close(sm: u32) -> i32;
    }
}

mod symmetric {
    #[link(wasm_import_module = "wasi_ephemeral_crypto_symmetric")]
    unsafe extern "C" {
        pub fn symmetric_key_import(
            alg: *const u8,
            alg_len: usize,
            raw: *const u8,
            raw_len: usize,
            out: *mut u32,
        ) -> i32;
        pub fn symmetric_key_export(key: u32, out: *mut u32) -> i32;
        pub fn symmetric_key_close(key: u32) -> i32;
        pub fn symmetric_key_from_id(
            sm: u32,
            id: *const u8,
            id_len: usize,
            version: u64,
            out: *mut u32,
        ) -> i32;
        pub fn symmetric_state_open(
            alg: *const u8,
            alg_len: usize,
            key: *const super::Opt,
            options: *const super::Opt,
            out: *mut u32,
        ) -> i32;
        pub fn symmetric_state_absorb(state: u32, data: usize, data_len: usize) -> i32;
        pub fn symmetric_state_close(state: u32) -> i32;
        pub fn symmetric_tag_close(tag: u32) -> i32;
    }
}

/// witx `version.latest`.
const VERSION_LATEST: u64 = 0xff00_0000_0000_0001;

fn out(r: i32, h: u32) -> Result<u32, i32> {
    if r == 0 { Ok(h) } else { Err(r) }
}

/// `Ok` if `got` is `want`.
pub fn check(what: &str, got: i32, want: i32) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: errno {got}, want {want}"))
    }
}

/// `symmetric_state_open(alg, key, none)`.
pub fn state_open(alg: &str, key: Option<u32>) -> Result<u32, i32> {
    let (k, o) = (Opt::of(key), Opt::of(None));
    let mut h = 0u32;
    // SAFETY: all pointers refer to live locals or `alg`, with their lengths.
    let r = unsafe { symmetric::symmetric_state_open(alg.as_ptr(), alg.len(), &k, &o, &mut h) };
    out(r, h)
}

/// `symmetric_state_absorb`.
pub fn absorb(state: u32, data: &[u8]) -> i32 {
    absorb_raw(state, data.as_ptr() as usize, data.len())
}

/// `symmetric_state_absorb` with an arbitrary (possibly invalid) guest address.
pub fn absorb_raw(state: u32, ptr: usize, len: usize) -> i32 {
    // SAFETY: the host only reads guest memory, bounds-checked; an invalid range is an error.
    unsafe { symmetric::symmetric_state_absorb(state, ptr, len) }
}

/// `symmetric_state_close`.
pub fn state_close(state: u32) -> i32 {
    // SAFETY: plain integer argument.
    unsafe { symmetric::symmetric_state_close(state) }
}

/// `symmetric_tag_close`.
pub fn tag_close(tag: u32) -> i32 {
    // SAFETY: plain integer argument.
    unsafe { symmetric::symmetric_tag_close(tag) }
}

/// `symmetric_key_import`.
pub fn key_import(alg: &str, raw: &[u8]) -> Result<u32, i32> {
    let mut h = 0u32;
    // SAFETY: pointers to `alg`, `raw` and a live local, with their lengths.
    let r = unsafe {
        symmetric::symmetric_key_import(alg.as_ptr(), alg.len(), raw.as_ptr(), raw.len(), &mut h)
    };
    out(r, h)
}

/// `symmetric_key_export` (the array output, if any, is left to the host to free at exit).
pub fn key_export(key: u32) -> i32 {
    let mut h = 0u32;
    // SAFETY: pointer to a live local.
    unsafe { symmetric::symmetric_key_export(key, &mut h) }
}

/// `symmetric_key_close`.
pub fn key_close(key: u32) -> i32 {
    // SAFETY: plain integer argument.
    unsafe { symmetric::symmetric_key_close(key) }
}

/// `secrets_manager_open(none)`.
pub fn secrets_manager_open() -> Result<u32, i32> {
    let o = Opt::of(None);
    let mut h = 0u32;
    // SAFETY: pointers to live locals.
    let r = unsafe { common::secrets_manager_open(&o, &mut h) };
    out(r, h)
}

/// `secrets_manager_close`.
pub fn secrets_manager_close(sm: u32) -> i32 {
    // SAFETY: plain integer argument.
    unsafe { common::secrets_manager_close(sm) }
}

/// `symmetric_key_from_id(sm, id, version.latest)`.
pub fn key_from_id(sm: u32, id: &[u8]) -> Result<u32, i32> {
    let mut h = 0u32;
    // SAFETY: pointers to `id` and a live local, with their lengths.
    let r = unsafe {
        symmetric::symmetric_key_from_id(sm, id.as_ptr(), id.len(), VERSION_LATEST, &mut h)
    };
    out(r, h)
}
