//! Reading the firmware image in place, through its identity mapping (read-only, NX).

use elastic_core::image::{DESCRIPTOR_GPA, DESCRIPTOR_LEN, FOUR_GIB, MAX_IMAGE_SIZE};
use elastic_core::memory_map::Range;

/// The bundle descriptor bytes from the boot page.
pub fn descriptor() -> [u8; DESCRIPTOR_LEN] {
    // SAFETY: DESCRIPTOR_GPA is inside the kernel's own boot page, which is always mapped
    // (identity, read-only) by both the boot and the final page tables. A volatile read keeps
    // the compiler from assuming the build-time zeros: `elastic build` patches these bytes.
    unsafe { core::ptr::read_volatile(DESCRIPTOR_GPA as *const [u8; DESCRIPTOR_LEN]) }
}

/// A view of part of the image. Returns `None` unless `range` lies inside the largest image
/// window (the last 16 MiB below 4 GiB); `elastic_core::image::Descriptor::parse` has already
/// narrowed embedded bundles to that window.
pub fn slice(range: Range) -> Option<&'static [u8]> {
    if range.start < FOUR_GIB - MAX_IMAGE_SIZE || range.end > FOUR_GIB || range.start > range.end {
        return None;
    }
    // SAFETY: the range is inside the firmware window, which the page tables map read-only at
    // its identity address for the kernel's whole life, and nothing ever writes it.
    Some(unsafe { core::slice::from_raw_parts(range.start as *const u8, range.len() as usize) })
}
