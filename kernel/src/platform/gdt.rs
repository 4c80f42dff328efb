//! Global descriptor table and task-state segment.
//!
//! Every interrupt and exception runs on an IST stack: besides protecting against stack
//! overflow, this keeps interrupt frames off the interrupted stack, whose red zone may be live
//! (the prebuilt `core` library is compiled with the red zone; our own code is not).

use super::stacks;
use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (1-based, as the IDT encodes it) for double faults.
pub const IST_DOUBLE_FAULT: u8 = 1;
/// IST slot for NMIs.
pub const IST_NMI: u8 = 2;
/// IST slot for machine checks.
pub const IST_MACHINE_CHECK: u8 = 3;
/// IST slot for every other exception and interrupt.
pub const IST_DEFAULT: u8 = 4;
/// IST slot for #VC (SEV-ES/SNP).
pub const IST_VC: u8 = 5;

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(
    GlobalDescriptorTable,
    SegmentSelector,
    SegmentSelector,
    SegmentSelector,
)> = Once::new();

/// Loads the kernel's GDT and TSS, replacing the boot GDT in ROM.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        // The TSS is packed: fill a copy of the table, then store it back.
        let mut ist = tss.interrupt_stack_table;
        for (i, slot) in ist.iter_mut().take(stacks::IST_COUNT).enumerate() {
            *slot = VirtAddr::new(stacks::ist_top(i));
        }
        tss.interrupt_stack_table = ist;
        tss
    });
    let (gdt, code, data, tss_sel) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss_sel = gdt.append(Descriptor::tss_segment(tss));
        (gdt, code, data, tss_sel)
    });
    gdt.load();
    // SAFETY: the selectors come from the GDT just loaded, which lives for the whole run.
    unsafe {
        CS::set_reg(*code);
        SS::set_reg(*data);
        DS::set_reg(*data);
        ES::set_reg(*data);
        load_tss(*tss_sel);
    }
}
