//! Fallible allocation for data whose size a guest chooses.
//!
//! The kernel's allocator aborts on failure (`docs/architecture.md`: exit 113), so every
//! buffer a guest can size goes through these helpers: they ask the embedder's heap gauge
//! ([`Services::has_heap_room`]) when the allocation is large or outlives the call, then use
//! `try_reserve`, and report failure as an error the caller maps to the guest's errno.

use crate::Services;
use alloc::vec::Vec;

/// Allocations at most this large that only live for one call are not put to the heap
/// gauge (the embedder's reserve covers them); they are still fallible.
pub const TRANSIENT_UNGAUGED: usize = 64 * 1024;

/// The allocation could not (or may not) be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMemory;

impl From<NoMemory> for crate::Errno {
    fn from(_: NoMemory) -> Self {
        crate::Errno::Nomem
    }
}

/// `Ok` if the embedder lets `bytes` more heap go to guest data.
pub fn room(svc: &dyn Services, bytes: usize) -> Result<(), NoMemory> {
    if svc.has_heap_room(bytes) {
        Ok(())
    } else {
        Err(NoMemory)
    }
}

/// An empty vector with room for `n` elements, for the duration of one call: gauged only
/// when larger than [`TRANSIENT_UNGAUGED`] bytes.
pub fn transient_vec<T>(svc: &dyn Services, n: usize) -> Result<Vec<T>, NoMemory> {
    let bytes = n.saturating_mul(core::mem::size_of::<T>());
    if bytes > TRANSIENT_UNGAUGED {
        room(svc, bytes)?;
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| NoMemory)?;
    Ok(v)
}

/// A copy of `bytes` with `extra` spare capacity (always gauged: it may be kept).
pub fn copy_with_spare(
    svc: &dyn Services,
    bytes: &[u8],
    extra: usize,
) -> Result<Vec<u8>, NoMemory> {
    let cap = bytes.len().checked_add(extra).ok_or(NoMemory)?;
    room(svc, cap)?;
    let mut v = Vec::new();
    v.try_reserve_exact(cap).map_err(|_| NoMemory)?;
    v.extend_from_slice(bytes);
    Ok(v)
}

/// Appends `bytes` to `v` (gauged when `v` must grow).
pub fn extend(svc: &dyn Services, v: &mut Vec<u8>, bytes: &[u8]) -> Result<(), NoMemory> {
    if v.capacity() - v.len() < bytes.len() {
        // Amortised growth may double the buffer, and the old one lives during the copy.
        let want = v.len().checked_add(bytes.len()).ok_or(NoMemory)?;
        room(svc, want.max(v.capacity().saturating_mul(2)))?;
        v.try_reserve(bytes.len()).map_err(|_| NoMemory)?;
    }
    v.extend_from_slice(bytes);
    Ok(())
}
