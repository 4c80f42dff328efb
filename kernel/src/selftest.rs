//! Kernel self-tests, compiled only into the test image (feature `selftest`). The QEMU tests in
//! `tests/` pick one with `-fw_cfg name=opt/elastic/selftest,string=NAME` and check the serial
//! output and exit code:
//! - `heap`: many allocation sizes with interleaved frees, contents verified;
//! - `clock`: the monotonic clock never goes backwards; it prints markers one clock-second
//!   apart so the host can compare the rate with its own wall time;
//! - `sleep`: 300 ms sleeps on the APIC timer end on time, and the CPU halts meanwhile (few
//!   wake-ups, not a spin);
//! - `vc-cpuid`: the SEV-SNP #VC handler's trap-frame adapter and CPUID-page answers, on a
//!   synthetic #VC frame (no SNP needed);
//! - `pagefault`, `divide`, `write-code`, `exec-data`, `stack-overflow`: deliberate faults that
//!   must be reported and end the run with the CPU-exception code.

use crate::clock;
use crate::platform::{self, fw_cfg::PortTransport, selftest_faults as faults};
use alloc::vec::Vec;
use elastic_core::exit::ExitReason;
use elastic_core::fw_cfg::FwCfg;
use log::{error, info};

fn scenario(buf: &mut [u8; 64]) -> &str {
    let Ok(mut fw) = FwCfg::probe(PortTransport) else {
        return "";
    };
    let Ok(Some(file)) = fw.find("opt/elastic/selftest") else {
        return "";
    };
    match fw.read_file(file, buf) {
        Ok(bytes) => core::str::from_utf8(bytes).unwrap_or("").trim(),
        Err(_) => "",
    }
}

/// Runs the selected self-test and exits.
pub fn run() -> ! {
    let mut buf = [0u8; 64];
    let name = scenario(&mut buf);
    info!("selftest: {name}");
    let ok = match name {
        "heap" => heap(),
        "clock" => clock_rate(),
        "sleep" => sleep(),
        "pagefault" => fault(faults::page_fault),
        "divide" => fault(faults::divide_error),
        "write-code" => fault(faults::write_to_code),
        "exec-data" => fault(faults::execute_data),
        "stack-overflow" => fault(|| {
            faults::stack_overflow(0);
        }),
        #[allow(
            clippy::panic,
            reason = "the `panic` self-test scenario checks the panic handler"
        )]
        "panic" => panic!("deliberate panic from the self-test"),
        "oom" => {
            // An infallible allocation far beyond any heap: the panic handler must report
            // the allocation failure as out of memory (113), not as a plain panic.
            let v = alloc::vec![1u8; 1 << 40];
            core::hint::black_box(&v);
            false
        }
        "vc-cpuid" => match platform::snp::selftest_vc_cpuid() {
            Ok(()) => {
                info!("selftest: #VC CPUID from the CPUID page ok");
                true
            }
            Err(e) => {
                error!("selftest: #VC CPUID: {e}");
                false
            }
        },
        "" => {
            info!("selftest: no scenario selected");
            true
        }
        other => {
            error!("selftest: unknown scenario {other:?}");
            false
        }
    };
    platform::exit(if ok {
        ExitReason::Success
    } else {
        ExitReason::SelfTestFailed
    })
}

fn fault(f: fn()) -> bool {
    f();
    error!("selftest: the fault did not happen");
    false
}

/// xorshift64*: deterministic sizes without an RNG dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn heap() -> bool {
    let (used_before, total) = platform::heap::usage();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut live: Vec<Vec<u8>> = Vec::new();
    let mut allocations = 0u64;
    for round in 0..20_000u64 {
        let r = next(&mut state);
        if r.is_multiple_of(3) && !live.is_empty() {
            let i = (r as usize / 3) % live.len();
            let v = live.swap_remove(i);
            let tag = v.len() as u8;
            if v.iter().any(|&b| b != tag) {
                error!("selftest heap: block of {} bytes corrupted", v.len());
                return false;
            }
        } else {
            // Mostly small blocks, sometimes up to 256 KiB, rarely 4 MiB.
            let size = match r % 100 {
                0 => 4 << 20,
                1..=9 => (r >> 8) as usize % (256 << 10) + 1,
                _ => (r >> 8) as usize % 512 + 1,
            };
            live.push(alloc::vec![size as u8; size]);
            allocations += 1;
        }
        if round % 5000 == 0 && live.len() > 64 {
            live.truncate(32);
        }
    }
    for v in &live {
        if v.iter().any(|&b| b != v.len() as u8) {
            error!("selftest heap: corruption at the end");
            return false;
        }
    }
    drop(live);
    let (used_after, _) = platform::heap::usage();
    info!(
        "selftest heap: ok, {allocations} allocations, heap {} MiB, {} bytes in use before and {} after",
        total >> 20,
        used_before,
        used_after
    );
    used_after <= used_before + 4096
}

fn sleep() -> bool {
    let tsc_hz = clock::tsc_hz();
    for _ in 0..3 {
        let start = clock::monotonic_ns();
        let deadline = start + 300_000_000;
        let wakeups = platform::apic::sleep_until_tsc_counting(clock::tsc_at(deadline));
        let slept = clock::monotonic_ns() - start;
        info!(
            "selftest sleep: slept {} ms with {wakeups} wake-up(s)",
            slept / 1_000_000
        );
        // Late by more than 50 ms, early at all, or woken more than a few times per sleep: fail.
        if !(300_000_000..=350_000_000).contains(&slept) || wakeups > 8 {
            error!("selftest sleep: wrong sleep ({slept} ns, {wakeups} wake-ups, TSC {tsc_hz} Hz)");
            return false;
        }
    }
    info!("selftest sleep: ok");
    true
}

fn clock_rate() -> bool {
    let mut last = clock::monotonic_ns();
    let wall_start = clock::wall_ns();
    info!("clock-test: start monotonic={last}");
    let deadline = last + 1_000_000_000;
    let mut reads = 0u64;
    loop {
        let now = clock::monotonic_ns();
        reads += 1;
        if now < last {
            error!("clock-test: monotonic clock went backwards: {last} -> {now}");
            return false;
        }
        last = now;
        if now >= deadline {
            break;
        }
    }
    let wall_end = clock::wall_ns();
    info!(
        "clock-test: end monotonic={last} reads={reads} wall_delta_ms={}",
        (wall_end - wall_start) / 1_000_000
    );
    true
}
