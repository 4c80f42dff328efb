//! `stdin-echo`: reads stdin to the end (fd_read until 0), prints each line numbered on
//! stdout, then a byte/line count and an FNV-1a checksum of the input, and writes the
//! count to stderr too. With an empty stdin it prints `stdin: 0 bytes, 0 lines`.

use std::io::Read;

fn main() {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        println!("stdin-echo: read failed: {e}");
        std::process::exit(1);
    }
    let text = String::from_utf8_lossy(&input);
    let mut lines = 0;
    for (i, line) in text.lines().enumerate() {
        println!("{:>4}: {line}", i + 1);
        lines += 1;
    }
    let fnv = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    println!(
        "stdin: {} bytes, {lines} lines, fnv1a {fnv:016x}",
        input.len()
    );
    eprintln!("stdin-echo: {} bytes", input.len());
}
