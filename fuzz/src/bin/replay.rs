//! Replays inputs through the fuzz harnesses on stable, without libFuzzer:
//! `cargo run --manifest-path fuzz/Cargo.toml --bin replay -- [TARGET [FILE|DIR ...]]`.
//! With only a target, replays its seeds and regressions; with no argument, every target.
//! Exits non-zero if any input panics (the panic message names the input).

use std::path::{Path, PathBuf};

type Harness = fn(&[u8]);

const TARGETS: [(&str, Harness); 10] = [
    ("wasm_load", elastic_fuzz::wasm_load::run),
    ("wasi_calls", elastic_fuzz::wasi_calls::run),
    ("ramfs_ops", elastic_fuzz::ramfs_ops::run),
    ("bundle_parse", elastic_fuzz::bundle_parse::run),
    ("manifest_decode", elastic_fuzz::manifest_decode::run),
    ("snp_ghcb", elastic_fuzz::snp_ghcb::run),
    ("snp_cpuid", elastic_fuzz::snp_cpuid::run),
    ("snp_vc", elastic_fuzz::snp_vc::run),
    ("snp_guest_msg", elastic_fuzz::snp_guest_msg::run),
    ("hv_boot_data", elastic_fuzz::hv_boot_data::run),
];

fn files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            v.sort();
            out.extend(v.into_iter().filter(|f| f.is_file()));
        } else if p.is_file() {
            out.push(p.clone());
        }
    }
    out
}

/// `--smoke N`: N pseudo-random inputs per target (a quick harness self-check on stable).
fn smoke(n: u32) {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for (name, run) in TARGETS {
        let start = std::time::Instant::now();
        for _ in 0..n {
            let len = (next() % 600) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                let path = std::env::temp_dir().join(format!("smoke-{name}"));
                let _ = std::fs::write(&path, &data);
                eprintln!("smoke: {name} panicked; input in {}", path.display());
                std::process::exit(1);
            }
        }
        println!("{name}: {n} random inputs in {:?}", start.elapsed());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--smoke") {
        smoke(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000));
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let selected: Vec<&(&str, Harness)> = match args.first() {
        Some(t) => TARGETS.iter().filter(|(n, _)| n == t).collect(),
        None => TARGETS.iter().collect(),
    };
    if selected.is_empty() {
        eprintln!("replay: unknown target");
        std::process::exit(2);
    }
    let mut failed = 0;
    for (name, run) in selected {
        let paths: Vec<PathBuf> = if args.len() > 1 {
            args[1..].iter().map(PathBuf::from).collect()
        } else {
            vec![
                root.join("seeds").join(name),
                root.join("regressions").join(name),
            ]
        };
        let inputs = files(&paths);
        let start = std::time::Instant::now();
        for f in &inputs {
            let data = std::fs::read(f).expect("read input");
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                eprintln!("replay: {name}: {} panicked", f.display());
                failed += 1;
            }
        }
        println!("{name}: {} inputs in {:?}", inputs.len(), start.elapsed());
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
