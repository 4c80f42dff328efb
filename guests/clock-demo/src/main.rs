//! `clock-demo`: prints the wall-clock time (UTC, from `SystemTime`) and the monotonic
//! clock reading (`Instant`, via clock_time_get), sleeps 100 ms with `std::thread::sleep`
//! (poll_oneoff underneath) and prints how long the sleep took. Exits 1 if the sleep was
//! shorter than 100 ms or the wall clock is before 2020. Output contains times, so it is
//! not byte-for-byte comparable between runs.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn main() {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = wall.as_secs() as i64;
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    println!(
        "wall clock: {y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z ({} ns since the epoch)",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        wall.subsec_nanos(),
        wall.as_nanos()
    );
    let start = Instant::now();
    println!("monotonic start: {start:?}");
    std::thread::sleep(Duration::from_millis(100));
    let elapsed = start.elapsed();
    println!(
        "slept 100 ms; monotonic elapsed: {:.3} ms",
        elapsed.as_secs_f64() * 1e3
    );
    let ok = elapsed >= Duration::from_millis(100) && y >= 2020;
    println!("clock-demo {}", if ok { "ok" } else { "FAILED" });
    std::process::exit(if ok { 0 } else { 1 });
}
