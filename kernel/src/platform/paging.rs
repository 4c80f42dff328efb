//! Writes the kernel's final page tables from the plan in `elastic_core::paging` and switches
//! CR3 to them. Page-table frames come from the heap (identity-mapped, below 4 GiB at this
//! point), so physical = virtual for the mapper.

use alloc::alloc::{Layout, alloc_zeroed};
use elastic_core::paging::{Mapping, PAGE_2M, pages};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as F, PhysFrame,
    Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

/// Allocates zeroed page-table frames from the heap.
struct HeapFrames;

// SAFETY: every frame returned is a fresh, zeroed, 4 KiB-aligned heap block that is never freed.
unsafe impl FrameAllocator<Size4KiB> for HeapFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let layout = Layout::from_size_align(4096, 4096).ok()?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return None;
        }
        Some(PhysFrame::containing_address(PhysAddr::new(ptr as u64)))
    }
}

fn flags(m: &Mapping) -> F {
    let mut f = F::PRESENT;
    if m.flags.writable {
        f |= F::WRITABLE;
    }
    if !m.flags.executable {
        f |= F::NO_EXECUTE;
    }
    if m.flags.uncached {
        f |= F::NO_CACHE | F::WRITE_THROUGH;
    }
    f
}

/// Why the page tables could not be built.
#[derive(Debug)]
pub enum PagingError {
    /// The heap ran out of frames.
    OutOfMemory,
    /// The plan maps this virtual address twice or misaligned.
    BadPlan(u64),
}

impl core::fmt::Display for PagingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::OutOfMemory => write!(f, "out of memory for page tables"),
            Self::BadPlan(va) => write!(f, "address {va:#x} mapped twice or misaligned"),
        }
    }
}

/// Builds the page tables for `plan` and loads them. Under SEV-SNP every leaf that is not
/// shared carries the C-bit (`super::snp::cbit_mask`).
pub fn install(plan: &[Mapping]) -> Result<(), PagingError> {
    let cbit = super::snp::cbit_mask();
    let mut frames = HeapFrames;
    let root = frames.allocate_frame().ok_or(PagingError::OutOfMemory)?;
    let root_ptr = root.start_address().as_u64() as *mut PageTable;
    // SAFETY: `root_ptr` is a fresh zeroed frame, identity-mapped, used only through this mapper.
    let mut mapper = unsafe { OffsetPageTable::new(&mut *root_ptr, VirtAddr::new(0)) };
    let parents = F::PRESENT | F::WRITABLE;
    for m in plan {
        let f = flags(m);
        let encrypt = if m.flags.shared { 0 } else { cbit };
        for (virt, phys, size) in pages(m) {
            let phys = phys | encrypt;
            let result = if size == PAGE_2M {
                let page = Page::<Size2MiB>::from_start_address(VirtAddr::new(virt))
                    .map_err(|_| PagingError::BadPlan(virt))?;
                let frame = PhysFrame::<Size2MiB>::from_start_address(PhysAddr::new(phys))
                    .map_err(|_| PagingError::BadPlan(virt))?;
                // SAFETY: the tables are not active yet; the plan never maps memory that Rust
                // code could observe changing type (checked by elastic-core's tests).
                unsafe { mapper.map_to_with_table_flags(page, frame, f, parents, &mut frames) }
                    .map(|flush| flush.ignore())
                    .map_err(|_| PagingError::BadPlan(virt))
            } else {
                let page = Page::<Size4KiB>::from_start_address(VirtAddr::new(virt))
                    .map_err(|_| PagingError::BadPlan(virt))?;
                let frame = PhysFrame::<Size4KiB>::from_start_address(PhysAddr::new(phys))
                    .map_err(|_| PagingError::BadPlan(virt))?;
                // SAFETY: as above.
                unsafe { mapper.map_to_with_table_flags(page, frame, f, parents, &mut frames) }
                    .map(|flush| flush.ignore())
                    .map_err(|_| PagingError::BadPlan(virt))
            };
            result?;
        }
    }
    // SAFETY: the new tables map the running code (text at its high address), the stacks, data,
    // heap and everything the kernel touches afterwards, as the plan guarantees.
    unsafe { Cr3::write(root, Cr3Flags::empty()) };
    Ok(())
}
