//! The kernel heap: `linked_list_allocator` heaps over every free RAM range of the memory map
//! (the map can have several, e.g. below and above the 4 GiB PCI hole), behind one lock.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{NonNull, null_mut};
use elastic_core::memory_map::Range;
use linked_list_allocator::Heap;
use spin::Mutex;

/// How many separate RAM ranges the heap can span.
const MAX_HEAPS: usize = 8;

/// Several heaps, tried in order.
struct MultiHeap {
    heaps: [Heap; MAX_HEAPS],
    count: usize,
}

/// The global allocator.
pub struct KernelAllocator(Mutex<MultiHeap>);

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator(Mutex::new(MultiHeap {
    heaps: [const { Heap::empty() }; MAX_HEAPS],
    count: 0,
}));

/// Adds a free, identity-mapped RAM range to the heap. Ranges beyond [`MAX_HEAPS`] are ignored
/// (returns false).
pub fn add_region(range: Range) -> bool {
    let mut heap = ALLOCATOR.0.lock();
    let index = heap.count;
    let Some(slot) = heap.heaps.get_mut(index) else {
        return false;
    };
    // SAFETY: the caller passes RAM that the memory map reports usable, that no other part of
    // the kernel uses (the kernel image, stacks and low memory are excluded) and that is mapped
    // read/write at its identity address; each range is added once.
    unsafe { slot.init(range.start as *mut u8, range.len() as usize) };
    heap.count += 1;
    true
}

/// `(used, total)` heap bytes.
pub fn usage() -> (usize, usize) {
    let heap = ALLOCATOR.0.lock();
    heap.heaps
        .iter()
        .take(heap.count)
        .fold((0, 0), |(u, t), h| (u + h.used(), t + h.size()))
}

// SAFETY: allocation and deallocation are serialised by the lock; each block is returned to the
// heap whose range contains it.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        let count = heap.count;
        for h in heap.heaps.iter_mut().take(count) {
            if let Ok(p) = h.allocate_first_fit(layout) {
                return p.as_ptr();
            }
        }
        null_mut()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut heap = self.0.lock();
        let count = heap.count;
        let addr = ptr as usize;
        if let Some(h) = heap
            .heaps
            .iter_mut()
            .take(count)
            .find(|h| (h.bottom() as usize) <= addr && addr < h.top() as usize)
            && let Some(p) = NonNull::new(ptr)
        {
            // SAFETY: `ptr` was allocated from this heap with `layout` (GlobalAlloc contract).
            unsafe { h.deallocate(p, layout) };
        }
    }
}
