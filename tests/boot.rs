//! Boots the real firmware image in QEMU and checks the kernel core: banner, heap, clocks,
//! exception reporting, and refusal of bad platform data. Exit codes are those documented in
//! kernel/core/src/exit.rs (0 success, 110 panic, 111 CPU exception, 112 bad platform data,
//! 113 out of memory).

use elastic_tests::{Boot, Image, accelerators, e820, scratch_dir};
use std::time::Duration;

#[test]
fn boots_with_banner_memory_size_and_clock_source() {
    for accel in accelerators() {
        let out = Boot {
            accel,
            ..Boot::new(Image::Plain)
        }
        .run();
        out.expect_code(0)
            .expect("Elastic 0.1.0 - RAM 512 MiB")
            .expect("clock: TSC")
            .expect("boot: reset to main")
            .expect("wall clock: ");
    }
}

#[test]
fn boots_on_microvm_and_pc_machines() {
    for machine in ["microvm", "pc"] {
        let out = Boot {
            machine,
            memory: "256M",
            ..Boot::new(Image::Plain)
        }
        .run();
        out.expect_code(0).expect("RAM 256 MiB");
    }
}

#[test]
fn vc_handler_answers_cpuid_from_the_cpuid_page() {
    // The SEV-SNP #VC path of the real kernel on a synthetic frame: instruction fetch from
    // kernel code, register mapping, RIP advance, CPUID-page answers (docs/snp.md).
    Boot::new(Image::SelfTest)
        .selftest("vc-cpuid")
        .run()
        .expect_code(0)
        .expect("selftest: #VC CPUID from the CPUID page ok");
}

#[test]
fn heap_stress_passes() {
    Boot::new(Image::SelfTest)
        .selftest("heap")
        .run()
        .expect_code(0)
        .expect("selftest heap: ok");
}

#[test]
fn monotonic_clock_is_monotonic_and_matches_host_time() {
    let out = Boot::new(Image::SelfTest).selftest("clock").run();
    out.expect_code(0).expect("clock-test: end");
    let start = out.time_of("clock-test: start").expect("start marker");
    let end = out.time_of("clock-test: end").expect("end marker");
    let host = (end - start).as_secs_f64();
    // One second of guest monotonic time must be one second of host time within 5 %.
    assert!(
        (0.95..=1.05).contains(&host),
        "1 s of guest time took {host:.3} s of host time"
    );
}

#[test]
fn sleeps_halt_until_the_timer_and_end_on_time() {
    Boot::new(Image::SelfTest)
        .selftest("sleep")
        .run()
        .expect_code(0)
        .expect("selftest sleep: ok");
}

fn expect_fault(scenario: &str, needles: &[&str]) {
    let out = Boot::new(Image::SelfTest).selftest(scenario).run();
    out.expect_code(111);
    for n in needles {
        out.expect(n);
    }
}

#[test]
fn page_fault_is_reported() {
    expect_fault(
        "pagefault",
        &[
            "#PF page fault (vector 14)",
            "CR2 0x0000000000000010",
            "null pointer",
        ],
    );
}

#[test]
fn divide_error_is_reported() {
    expect_fault("divide", &["#DE divide error (vector 0)", "RIP 0xffffffff"]);
}

#[test]
fn write_to_code_is_reported() {
    expect_fault(
        "write-code",
        &[
            "#PF page fault",
            "error code 0x3",
            "write to read-only memory",
        ],
    );
}

#[test]
fn execute_from_data_is_reported() {
    expect_fault(
        "exec-data",
        &[
            "#PF page fault",
            "error code 0x11",
            "instruction fetch from non-executable",
        ],
    );
}

#[test]
fn stack_overflow_hits_the_guard_page() {
    expect_fault(
        "stack-overflow",
        &[
            "#PF page fault",
            "stack overflow (guard page) of the boot stack",
        ],
    );
}

#[test]
fn panic_prints_message_and_location() {
    let out = Boot::new(Image::SelfTest).selftest("panic").run();
    out.expect_code(110)
        .expect("kernel panic: deliberate panic")
        .expect("selftest.rs:");
}

#[test]
fn a_failed_allocation_ends_the_kernel_as_out_of_memory() {
    Boot::new(Image::SelfTest)
        .selftest("oom")
        .run()
        .expect_code(113)
        .expect("kernel panic: memory allocation of 1099511627776 bytes failed");
}

#[test]
fn too_little_ram_is_refused_with_a_clear_message() {
    let out = Boot {
        memory: "20M",
        ..Boot::new(Image::Plain)
    }
    .run();
    out.expect_code(112).expect("too little RAM");
}

fn boot_with_map(name: &str, map: &[u8]) -> elastic_tests::Outcome {
    let file = scratch_dir(name).join("e820");
    std::fs::write(&file, map).expect("write e820 file");
    Boot {
        qemu_args: vec![
            "-fw_cfg".into(),
            format!("name=opt/elastic/e820,file={}", file.display()),
        ],
        timeout: Duration::from_secs(120),
        ..Boot::new(Image::SelfTest).selftest("heap")
    }
    .run()
}

#[test]
fn overlapping_memory_map_is_refused() {
    let map = e820(&[
        (0, 0x9_F000, 1),
        (0x10_0000, 0x1000_0000, 1),
        (0x800_0000, 0x100_0000, 2),
    ]);
    boot_with_map("overlap", &map)
        .expect_code(112)
        .expect("invalid memory map: e820 entries overlap");
}

#[test]
fn absurd_and_truncated_memory_maps_are_refused() {
    let wrapping = e820(&[(0x10_0000, u64::MAX - 0x1000, 1)]);
    boot_with_map("wrap", &wrapping)
        .expect_code(112)
        .expect("wraps or ends above 2^52");
    let mut truncated = e820(&[(0x10_0000, 0x1000_0000, 1)]);
    truncated.pop();
    boot_with_map("trunc", &truncated)
        .expect_code(112)
        .expect("not a multiple of 20");
    let over_rom = e820(&[(0x10_0000, 0xFFFF_0000, 1)]);
    boot_with_map("rom", &over_rom)
        .expect_code(112)
        .expect("overlaps the firmware image");
}
