//! Sequential throughput benchmark: writes and reads a file in 64 KiB calls.
//! Run with `cargo run --release -p elastic-ramfs --example throughput [MiB]`.

use std::time::Instant;

use elastic_ramfs::{Config, OpenOptions, Ramfs};

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let total = mib << 20;
    let start = Instant::now();
    let mut fs = Ramfs::new(
        Config::default(),
        Box::new(move || start.elapsed().as_nanos() as u64),
    );
    let root = fs.root();
    let f = fs
        .open(
            root,
            "big",
            OpenOptions {
                create: true,
                write: true,
                ..OpenOptions::default()
            },
        )
        .expect("create");
    let block: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
    let mut buf = vec![0u8; 65536];
    for round in 0..2 {
        let t = Instant::now();
        let mut off = 0;
        while off < total {
            let n = fs.write_at(f, off, &block).expect("write");
            off += n as u64;
        }
        let w = t.elapsed();
        let t = Instant::now();
        let mut off = 0;
        let mut sum = 0u64;
        while off < total {
            let n = fs.read_at(f, off, &mut buf).expect("read");
            sum = sum.wrapping_add(u64::from(buf[n - 1]));
            off += n as u64;
        }
        let r = t.elapsed();
        let gbs = |d: std::time::Duration| total as f64 / d.as_secs_f64() / 1e9;
        println!(
            "round {round} ({}): write {:.2} GB/s, read {:.2} GB/s (checksum {sum})",
            if round == 0 { "fresh" } else { "overwrite" },
            gbs(w),
            gbs(r)
        );
    }
}
