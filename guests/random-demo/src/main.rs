//! `random-demo`: draws 32 bytes with the `getrandom` crate (WASI `random_get` underneath)
//! and prints them as hex, then checks that they are not all zero, that a second draw
//! differs and that no byte value repeats more than 8 times. Exits 1 if a
//! check fails. Output contains random bytes, so it differs on every run.

fn draw(buf: &mut [u8]) -> bool {
    getrandom::getrandom(buf).is_ok()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    if !draw(&mut a) || !draw(&mut b) {
        println!("getrandom failed");
        std::process::exit(1);
    }
    println!("random bytes: {}", hex(&a));
    println!("second draw:  {}", hex(&b));
    let not_zero = a.iter().any(|x| *x != 0);
    let differ = a != b;
    let max_count = (0..=255u8)
        .map(|v| a.iter().filter(|x| **x == v).count())
        .max()
        .unwrap_or(0);
    println!("not all zero: {not_zero}");
    println!("draws differ: {differ}");
    println!("most repeated byte value occurs {max_count} times (limit 8)");
    let ok = not_zero && differ && max_count <= 8;
    println!("random-demo {}", if ok { "ok" } else { "FAILED" });
    std::process::exit(if ok { 0 } else { 1 });
}
