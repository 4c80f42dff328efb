//! The kernel's main sequence, from the first Rust instruction to the exit code.
//!
//! 1. console and logging (COM1), so every later failure can be reported;
//! 2. CPU tables: GDT/TSS with IST stacks, IDT reporting every exception;
//! 3. the memory map from fw_cfg `etc/e820`, validated (untrusted input);
//! 4. the heap over free RAM below 4 GiB (identity-mapped by the boot page tables);
//! 5. clocks: TSC frequency (and its source), RTC wall clock;
//! 6. final page tables: W^X, NX data, guard pages, no null page; then RAM above 4 GiB joins
//!    the heap;
//! 7. the banner with memory size, clock source and boot time; the APIC timer for sleeps;
//! 8. the work: self-tests in test images, otherwise the baked guests (`guests`).

use crate::platform::{self, fw_cfg::PortTransport, heap, layout};
use crate::{clock, platform::cpu};
use alloc::vec::Vec;
use elastic_core::exit::ExitReason;
use elastic_core::fw_cfg::FwCfg;
use elastic_core::image::{self, Descriptor};
use elastic_core::memory_map::{E820_ENTRY_SIZE, MAX_REGIONS, MemoryMap, Range};
use elastic_core::paging::{self, KernelLayout};
use log::{error, info, warn};

/// RAM the kernel needs beyond its own image to be useful.
const MIN_FREE_RAM: u64 = 24 << 20;
/// RAM below this is left alone (real-mode area, BIOS data, legacy holes).
const LOW_MEMORY_END: u64 = 0x10_0000;
/// The local APIC's MMIO page (mapped uncached for the timer).
const LAPIC: Range = Range {
    start: 0xFEE0_0000,
    end: 0xFEE0_1000,
};

/// The bundle descriptor in the boot page (docs/image.md); a malformed one ends the run.
fn descriptor() -> Option<Descriptor> {
    match Descriptor::parse(&platform::rom::descriptor()) {
        Ok(d) => d,
        Err(e) => fail(ExitReason::BundleInvalid, format_args!("{e}")),
    }
}

fn fail(reason: ExitReason, what: core::fmt::Arguments<'_>) -> ! {
    error!("{what}");
    platform::exit(reason)
}

/// `-fw_cfg name=opt/elastic/console,string=split` sends kernel logs and guest stderr to the
/// debug console (port 0xE9), leaving COM1 to guest stdout. Only routing is affected, so the
/// value needs no trust.
fn console_mode() {
    let Ok(mut fw) = FwCfg::probe(PortTransport) else {
        return;
    };
    let Ok(Some(file)) = fw.find("opt/elastic/console") else {
        return;
    };
    let mut buf = [0u8; 16];
    if let Ok(value) = fw.read_file(file, &mut buf) {
        platform::console::set_split(value.trim_ascii() == b"split");
    }
}

/// Reads and validates the memory map.
fn memory_map(firmware: Range) -> MemoryMap {
    let mut fw = match FwCfg::probe(PortTransport) {
        Ok(fw) => fw,
        Err(e) => fail(
            ExitReason::PlatformData,
            format_args!("memory map unavailable: {e}"),
        ),
    };
    // Test images can be handed a deliberately broken map through a user fw_cfg file (QEMU
    // refuses to replace its own etc/e820), so the QEMU tests reach this very parser.
    #[cfg(feature = "selftest")]
    let name = match fw.find("opt/elastic/e820") {
        Ok(Some(_)) => "opt/elastic/e820",
        _ => "etc/e820",
    };
    #[cfg(not(feature = "selftest"))]
    let name = "etc/e820";
    let file = match fw.find(name) {
        Ok(Some(file)) => file,
        Ok(None) => fail(
            ExitReason::PlatformData,
            format_args!("fw_cfg has no etc/e820 file"),
        ),
        Err(e) => fail(
            ExitReason::PlatformData,
            format_args!("fw_cfg directory: {e}"),
        ),
    };
    let mut buf = [0u8; E820_ENTRY_SIZE * MAX_REGIONS];
    let bytes = match fw.read_file(file, &mut buf) {
        Ok(b) => b,
        Err(e) => fail(ExitReason::PlatformData, format_args!("{name}: {e}")),
    };
    match MemoryMap::parse_e820(bytes, firmware) {
        Ok(map) => map,
        Err(e) => fail(
            ExitReason::PlatformData,
            format_args!("invalid memory map: {e}"),
        ),
    }
}

/// The kernel's entry, called by the platform layer.
pub fn main() -> ! {
    let main_tsc = cpu::rdtsc();
    // 1. Console.
    platform::console::init();
    crate::logger::init(log::LevelFilter::Info);
    // 2. CPU tables.
    platform::init_cpu_tables();
    platform::pit::mask_legacy_pics();
    let avx = platform::enable_extended_fpu();
    console_mode();
    // 3. Memory map (checked against the whole image, bundle included).
    let descriptor = descriptor();
    let firmware = image::firmware_range(descriptor.as_ref());
    let map = memory_map(firmware);
    // 4. Heap below 4 GiB (the boot page tables map only the low 4 GiB). The heap is not up yet,
    // so the reserved list lives on the stack here.
    let early_reserved = [
        Range {
            start: 0,
            end: LOW_MEMORY_END,
        },
        layout::ram_image(),
        layout::SNP_LAUNCH_PAGES,
    ];
    if let Err(e) = map.require_free(&early_reserved, MIN_FREE_RAM) {
        fail(ExitReason::PlatformData, format_args!("{e}"));
    }
    let mut high_ram = [Range { start: 0, end: 0 }; 8];
    let mut high_count = 0;
    map.for_each_free(&early_reserved, |r| {
        if r.end <= 0x1_0000_0000 {
            if !heap::add_region(r) {
                warn!(
                    "heap: ignoring RAM {:#x}..{:#x} (too many ranges)",
                    r.start, r.end
                );
            }
        } else if let Some(slot) = high_ram.get_mut(high_count) {
            *slot = Range {
                start: r.start.max(0x1_0000_0000),
                end: r.end,
            };
            high_count += 1;
        }
    });
    // 5. Clocks.
    let Some(_) = clock::init() else {
        fail(
            ExitReason::PlatformData,
            format_args!("cannot determine the TSC frequency"),
        )
    };
    // 6. Final page tables.
    let mut unmapped: Vec<Range> = platform::stack_guards().collect();
    unmapped.push(Range {
        start: 0,
        end: 0x1000,
    });
    let kernel = KernelLayout {
        text: layout::text(),
        rodata: layout::rodata(),
        high_offset: layout::HIGH_OFFSET,
        firmware,
        unmapped,
        mmio: alloc::vec![LAPIC],
    };
    let plan = paging::plan(&map, &kernel);
    if let Err(e) = platform::paging::install(&plan) {
        fail(ExitReason::PlatformData, format_args!("page tables: {e}"));
    }
    for r in high_ram.iter().take(high_count) {
        heap::add_region(*r);
    }
    drop(plan);
    // 7. Banner.
    let (_, heap_total) = heap::usage();
    let hz = clock::tsc_hz();
    info!(
        "Elastic {} - RAM {} MiB in {} ranges, heap {} MiB",
        env!("CARGO_PKG_VERSION"),
        map.total_ram() >> 20,
        map.ram().count(),
        heap_total >> 20
    );
    if let Some(source) = clock::source() {
        info!(
            "clock: {source}, {}.{:03} GHz",
            hz / 1_000_000_000,
            hz / 1_000_000 % 1000
        );
    }
    if clock::wall_clock_valid() {
        info!(
            "wall clock: {} s since the epoch, from the CMOS RTC",
            clock::wall_ns() / 1_000_000_000
        );
    } else {
        warn!("wall clock: the CMOS RTC gave no valid time; wall time starts at the epoch");
    }
    info!("cpu: {}", platform::cpu_features());
    match platform::apic::init(hz) {
        Some(timer_hz) => info!("timer: local APIC, {} MHz", timer_hz / 1_000_000),
        None => warn!("timer: no usable local APIC; guest sleeps will spin"),
    }
    let to_main = clock::ns_at(main_tsc);
    let to_ready = clock::monotonic_ns();
    info!(
        "boot: reset to main {}.{:03} ms, to ready {}.{:03} ms{}",
        to_main / 1_000_000,
        to_main / 1000 % 1000,
        to_ready / 1_000_000,
        to_ready / 1000 % 1000,
        if avx { ", AVX enabled" } else { "" }
    );
    // 8. The work.
    #[cfg(feature = "selftest")]
    crate::selftest::run();
    #[cfg(not(feature = "selftest"))]
    crate::guests::run(descriptor)
}
