//! The kernel's main sequence, from the first Rust instruction to the exit code.
//!
//! 1. CPU tables: GDT/TSS with IST stacks, IDT reporting every exception (and serving #VC);
//! 2. SEV-SNP, when boot/reset.s found it active: launch checks, GHCB, shared pages
//!    (`platform::snp`, docs/snp.md); then console and logging (COM1, through the GHCB under
//!    SNP), so every later failure can be reported;
//! 3. the memory map from fw_cfg `etc/e820`, validated (untrusted input);
//! 4. the heap over free RAM below 4 GiB (identity-mapped by the boot page tables; accepted
//!    with page-state changes and PVALIDATE first under SNP);
//! 5. clocks: TSC frequency (and its source; Secure TSC under SNP when active), RTC wall
//!    clock;
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

/// A missing or inconsistent memory map (hypervisor data): under SEV-SNP the run ends with
/// its own termination reason (set 2 code 0, docs/snp.md).
fn fail_map(what: core::fmt::Arguments<'_>) -> ! {
    error!("{what}");
    if platform::snp::active() {
        platform::snp::terminate(elastic_snp::sev_status::elastic::BAD_MEMORY_MAP);
    }
    platform::exit(ExitReason::PlatformData)
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
        Err(e) => fail_map(format_args!("memory map unavailable: {e}")),
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
        Ok(None) => fail_map(format_args!("fw_cfg has no etc/e820 file")),
        Err(e) => fail_map(format_args!("fw_cfg directory: {e}")),
    };
    let mut buf = [0u8; E820_ENTRY_SIZE * MAX_REGIONS];
    let bytes = match fw.read_file(file, &mut buf) {
        Ok(b) => b,
        Err(e) => fail_map(format_args!("{name}: {e}")),
    };
    match MemoryMap::parse_e820(bytes, firmware) {
        Ok(map) => map,
        Err(e) => fail_map(format_args!("invalid memory map: {e}")),
    }
}

/// The kernel's entry, called by the platform layer.
pub fn main() -> ! {
    let main_tsc = cpu::rdtsc();
    // 1. CPU tables (under SNP the #VC handler must be in place before the first CPUID or
    // port access).
    platform::init_cpu_tables();
    // 2. SEV-SNP, then the console (which needs the GHCB under SNP).
    let snp = platform::snp::init();
    platform::console::init();
    crate::logger::init(log::LevelFilter::Info);
    if let Some(s) = &snp {
        info!(
            "SEV-SNP: active (SEV_STATUS {:#x}), C-bit {}, GHCB protocol {}, hypervisor features {:#x}",
            s.status.0, s.cbit, s.protocol, s.hv_features
        );
    }
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
        fail_map(format_args!("{e}"));
    }
    let mut high_ram = [Range { start: 0, end: 0 }; 8];
    let mut high_count = 0;
    let mut accepted = 0;
    // `for_each_free` gives whole pages (aligned inwards), as PVALIDATE needs under SNP.
    map.for_each_free(&early_reserved, |r| {
        if r.end <= 0x1_0000_0000 {
            if snp.is_some() {
                accepted += platform::snp::accept(r);
            }
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
    if snp.is_some() {
        info!(
            "SEV-SNP: accepted {} MiB of RAM below 4 GiB",
            accepted >> 20
        );
    }
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
        shared: snp
            .as_ref()
            .map(|_| platform::snp::shared_ranges().to_vec())
            .unwrap_or_default(),
    };
    let plan = paging::plan(&map, &kernel);
    if let Err(e) = platform::paging::install(&plan) {
        fail(ExitReason::PlatformData, format_args!("page tables: {e}"));
    }
    for r in high_ram.iter().take(high_count) {
        if snp.is_some() {
            platform::snp::accept(*r);
        }
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
    if snp.is_some() && !platform::snp::secure_tsc() {
        warn!("clock: the TSC and its frequency are hypervisor-controlled (no SNP Secure TSC)");
    }
    if clock::wall_clock_valid() {
        info!(
            "wall clock: {} s since the epoch, from the CMOS RTC{}",
            clock::wall_ns() / 1_000_000_000,
            if snp.is_some() {
                " (hypervisor-controlled: not trustworthy under SEV-SNP)"
            } else {
                ""
            }
        );
    } else {
        warn!("wall clock: the CMOS RTC gave no valid time; wall time starts at the epoch");
    }
    info!("cpu: {}", platform::cpu_features());
    if snp.is_some() {
        // The xAPIC is MMIO, which #VC does not emulate here.
        warn!("timer: the local APIC is not used under SEV-SNP; guest sleeps will spin");
    } else {
        match platform::apic::init(hz) {
            Some(timer_hz) => info!("timer: local APIC, {} MHz", timer_hz / 1_000_000),
            None => warn!("timer: no usable local APIC; guest sleeps will spin"),
        }
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
    crate::guests::run(descriptor, snp_services(snp.is_some()))
}

/// The guest-message services under SNP; with Secure TSC the TSC_INFO request must succeed
/// (as Linux requires), otherwise the run ends.
#[cfg(not(feature = "selftest"))]
fn snp_services(snp: bool) -> Option<crate::snp_services::SnpServices> {
    if !snp {
        return None;
    }
    let secure_tsc = platform::snp::secure_tsc();
    let mut services = crate::snp_services::open_ghcb(secure_tsc);
    if secure_tsc {
        match services.as_mut().map(|s| s.tsc_info()) {
            Some(Ok(info)) if info.is_plausible() => info!(
                "SEV-SNP: Secure TSC, scale {:#x}, offset {:#x}, factor {}",
                info.guest_tsc_scale, info.guest_tsc_offset, info.tsc_factor
            ),
            other => {
                error!("SEV-SNP: Secure TSC is on but TSC_INFO failed: {other:?}");
                platform::snp::terminate(elastic_snp::sev_status::set1::SECURE_TSC)
            }
        }
    }
    services
}
