//! Writes the seed corpora to `fuzz/seeds/<target>/`: real inputs for every fuzz target.
//!
//! Run from anywhere with `cargo run --manifest-path fuzz/Cargo.toml --bin gen_seeds`
//! (stable is enough); `scripts/fuzz.sh` runs it when a seed directory is missing. The output
//! is deterministic, so regenerating leaves the committed seeds unchanged.
//!
//! Sources: the WAT guests in `src/seed_wat/` (plus, when `rustc` can target
//! wasm32-wasip1, a real Rust-compiled guest), bundles from `elastic_bundle::BundleBuilder`
//! with those guests, guest-message responses from `snp-sim`'s PSP, the real Milan
//! attestation report in `tests/data/snp/` (or `$ELASTIC_SNP_TESTDATA`), CPUID pages
//! from `elastic_snp::cpuid_page::build_page`, and the instruction encodings #VC handles.

use std::fs;
use std::path::{Path, PathBuf};

use elastic_bundle::{BundleBuilder, Export, Guest, Manifest, OutputMode, Preopen};

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = seeds_dir().join(target);
    fs::create_dir_all(&dir).expect("create seed dir");
    fs::write(dir.join(name), bytes).expect("write seed");
}

const WATS: [(&str, &str); 6] = [
    ("hello", include_str!("../seed_wat/hello.wat")),
    ("spin", include_str!("../seed_wat/spin.wat")),
    ("grow", include_str!("../seed_wat/grow.wat")),
    ("traps", include_str!("../seed_wat/traps.wat")),
    ("fs", include_str!("../seed_wat/fs.wat")),
    ("misc", include_str!("../seed_wat/misc.wat")),
];

/// A small real Rust guest, if this machine's rustc has the wasm32-wasip1 target.
fn rust_guest() -> Option<Vec<u8>> {
    let tmp = std::env::temp_dir().join(format!("elastic-seed-{}", std::process::id()));
    fs::create_dir_all(&tmp).ok()?;
    let src = tmp.join("guest.rs");
    fs::write(
        &src,
        "use std::io::Read;\nfn main() {\n    let mut s = String::new();\n    \
         let _ = std::io::stdin().read_to_string(&mut s);\n    \
         let n: usize = std::env::args().count();\n    \
         let _ = std::fs::write(\"/data/out.txt\", s.as_bytes());\n    \
         println!(\"args {n} stdin {} bytes\", s.len());\n}\n",
    )
    .ok()?;
    let out = tmp.join("guest.wasm");
    let status = std::process::Command::new("rustc")
        .args(["+1.95.0", "--edition", "2021", "--target", "wasm32-wasip1"])
        .args([
            "-C",
            "opt-level=z",
            "-C",
            "strip=symbols",
            "-C",
            "panic=abort",
            "-o",
        ])
        .arg(&out)
        .arg(&src)
        .status()
        .ok()?;
    let bytes = if status.success() {
        fs::read(&out).ok()
    } else {
        None
    };
    let _ = fs::remove_dir_all(&tmp);
    bytes
}

fn modules() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = WATS
        .iter()
        .map(|(n, w)| (n.to_string(), wat::parse_str(w).expect("seed WAT parses")))
        .collect();
    match rust_guest() {
        Some(m) => v.push(("rust_guest".to_string(), m)),
        None => eprintln!("gen_seeds: rustc cannot build wasm32-wasip1; no Rust guest seed"),
    }
    v
}

fn bundles(mods: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let hello = &mods[0].1;
    let fs_mod = &mods[4].1;
    let mut out = Vec::new();

    let one = Manifest {
        guests: vec![Guest::new("hello", "hello.wasm")],
        ..Manifest::default()
    };
    out.push((
        "one_guest".to_string(),
        BundleBuilder::new(one)
            .add_file("hello.wasm", hello.clone())
            .build(),
    ));

    let mut g1 = Guest::new("writer", "bin/fs.wasm");
    g1.args = vec!["fs".into(), "-v".into()];
    g1.env = vec![("RUST_LOG".into(), "debug".into())];
    g1.preopens = vec![Preopen {
        guest_path: "/data".into(),
        bundle_dir: "data".into(),
        readonly: false,
    }];
    g1.stdin = Some("data/input.txt".into());
    g1.limits.fuel = Some(1_000_000);
    g1.limits.wall_time_ms = Some(5_000);
    g1.output = OutputMode::Prefixed;
    let mut g2 = Guest::new("reader", "bin/hello.wasm");
    g2.preopens = vec![Preopen {
        guest_path: "/data".into(),
        bundle_dir: "data".into(),
        readonly: true,
    }];
    let two = Manifest {
        guests: vec![g1, g2],
        shared_ramfs: true,
        exports: vec![Export {
            guest: "writer".into(),
            path: "/data/out.txt".into(),
        }],
        ..Manifest::default()
    };
    out.push((
        "two_guests_shared".to_string(),
        BundleBuilder::new(two)
            .add_file("bin/fs.wasm", fs_mod.clone())
            .add_file("bin/hello.wasm", hello.clone())
            .add_file("data/input.txt", b"line one\nline two\n".to_vec())
            .add_file("data/hello.txt", b"hello".to_vec())
            .add_file("data/sub/empty", Vec::new())
            .build(),
    ));

    let all = Manifest {
        guests: mods
            .iter()
            .map(|(n, _)| Guest::new(n.clone(), format!("{n}.wasm")))
            .collect(),
        ..Manifest::default()
    };
    let mut b = BundleBuilder::new(all);
    for (n, m) in mods {
        b = b.add_file(format!("{n}.wasm"), m.clone());
    }
    out.push(("all_modules".to_string(), b.build()));
    out.into_iter()
        .map(|(n, r)| (n, r.expect("seed bundle builds")))
        .collect()
}

// ----- ramfs_ops: operation programs (format in src/ramfs_ops.rs) -----

/// A path byte from component indices (0 = "a" .. 3 = "d").
fn rp(comps: &[u8]) -> u8 {
    let mut b = comps.len() as u8;
    for (i, c) in comps.iter().enumerate() {
        b |= c << (2 + 2 * i);
    }
    b
}

fn ramfs_seeds() {
    const CREATE: u8 = 1;
    const EXCL: u8 = 2;
    const TRUNC: u8 = 4;
    const DIR: u8 = 8;
    const WRITE: u8 = 16;
    let mut s1 = vec![
        0,
        rp(&[0]),
        0,
        rp(&[0, 1]),
        1,
        rp(&[0, 1, 2]),
        CREATE | WRITE,
    ];
    s1.extend([6, 0, 0, 0, 5]);
    s1.extend(b"hello");
    s1.extend([
        8,
        0,
        1,
        0,
        16,
        5,
        rp(&[0, 1, 2]),
        rp(&[0, 3]),
        11,
        rp(&[0, 3]),
    ]);
    s1.extend([
        4,
        rp(&[0]),
        rp(&[1]),
        11,
        rp(&[1]),
        3,
        rp(&[1, 3]),
        11,
        rp(&[1, 1]),
        10,
        0,
    ]);
    write("ramfs_ops", "tree_link_rename", &s1);

    let mut s2 = vec![1, rp(&[0]), CREATE | WRITE, 6, 0, 0xE8, 0x03, 4];
    s2.extend(b"data");
    s2.extend([9, 0, 10, 0, 3, rp(&[0]), 8, 0, 0, 0, 64, 6, 0, 2, 0, 3]);
    s2.extend(b"xyz");
    s2.extend([11, rp(&[0]), 10, 0]);
    write("ramfs_ops", "unlink_while_open", &s2);

    let s3 = vec![
        0,
        rp(&[0]),
        0,
        rp(&[0, 1]),
        4,
        rp(&[0]),
        rp(&[0, 1, 2]),
        4,
        rp(&[0, 1]),
        rp(&[0]),
        2,
        rp(&[0]),
        2,
        rp(&[0, 1]),
        2,
        rp(&[0]),
        0,
        rp(&[0]),
        1,
        rp(&[0]),
        CREATE | EXCL,
        1,
        rp(&[0]),
        DIR,
        1,
        rp(&[0]),
        WRITE,
        1,
        rp(&[0]),
        CREATE | DIR,
        11,
        rp(&[0]),
    ];
    write("ramfs_ops", "dir_errors", &s3);

    let s4 = vec![
        1,
        rp(&[0]),
        CREATE,
        1,
        rp(&[1]),
        CREATE | TRUNC,
        4,
        rp(&[0]),
        rp(&[1]),
        0,
        rp(&[2]),
        4,
        rp(&[1]),
        rp(&[2]),
        0,
        rp(&[3]),
        4,
        rp(&[3]),
        rp(&[2]),
        5,
        rp(&[2]),
        rp(&[0]),
        5,
        rp(&[1]),
        rp(&[1, 0]),
        1,
        rp(&[1, 0]),
        CREATE,
        4,
        rp(&[1]),
        rp(&[1]),
        11,
        rp(&[2]),
    ];
    write("ramfs_ops", "rename_replace", &s4);
}

// ----- wasi_calls: call programs (format in src/wasi_calls.rs) -----

fn wasi_arg32(out: &mut Vec<u8>, v: u32) {
    if v < 256 {
        out.extend([1, v as u8]);
    } else if v < 4096 {
        out.push(2);
        out.extend((v as u16).to_le_bytes());
    } else {
        out.push(5);
        out.extend(v.to_le_bytes());
    }
}

fn wasi_arg64(out: &mut Vec<u8>, v: u64) {
    if v < 256 {
        out.extend([0, v as u8]);
    } else if v < 65536 {
        out.push(1);
        out.extend((v as u16).to_le_bytes());
    } else if v >= u64::MAX - 255 {
        out.extend([2, (u64::MAX - v) as u8]);
    } else {
        out.push(3);
        out.extend(v.to_le_bytes());
    }
}

fn wasi_call(out: &mut Vec<u8>, name: &str, args: &[u64]) {
    let sigs = &elastic_fuzz::wasi_calls::SIGNATURES;
    let index = sigs
        .iter()
        .position(|(n, _)| *n == name)
        .expect("known WASI function");
    out.push(index as u8);
    let params = sigs[index].1;
    assert_eq!(params.len(), args.len(), "{name}: argument count");
    for (c, &a) in params.chars().zip(args) {
        if c == 'I' {
            wasi_arg64(out, a);
        } else {
            wasi_arg32(out, a as u32);
        }
    }
}

fn wasi_seeds() {
    let mut mem = [0u8; 4096];
    let mut put = |at: usize, bytes: &[u8]| mem[at..at + bytes.len()].copy_from_slice(bytes);
    // iovecs: (1024, 64) and (1100, 32)
    put(0, &1024u32.to_le_bytes());
    put(4, &64u32.to_le_bytes());
    put(8, &1100u32.to_le_bytes());
    put(12, &32u32.to_le_bytes());
    put(100, b"hello.txt");
    put(120, b"sub/dir/x");
    put(140, b"newfile");
    put(160, b"newdir");
    put(180, b"lnk1");
    put(190, b"hard1");
    put(200, b"moved1");
    put(1024, b"written by the fuzz seed\n");
    // one relative clock subscription (userdata 7, 1 ms) at 2048
    put(2048, &7u64.to_le_bytes());
    put(2048 + 8, &[0]);
    put(2048 + 16, &1u32.to_le_bytes());
    put(2048 + 24, &1_000_000u64.to_le_bytes());
    let mut p = Vec::new();
    p.extend(4096u16.to_le_bytes());
    p.extend(mem);
    let max = u64::MAX;
    let calls: &[(&str, &[u64])] = &[
        ("args_sizes_get", &[16, 20]),
        ("args_get", &[300, 400]),
        ("environ_sizes_get", &[16, 20]),
        ("environ_get", &[300, 400]),
        ("clock_res_get", &[1, 16]),
        ("clock_time_get", &[0, 1, 16]),
        ("fd_prestat_get", &[3, 16]),
        ("fd_prestat_dir_name", &[3, 500, 5]),
        ("path_open", &[3, 1, 100, 9, 0, max, max, 0, 16]),
        ("fd_read", &[4, 0, 2, 20]),
        ("fd_seek", &[4, 3, 0, 24]),
        ("fd_tell", &[4, 24]),
        ("fd_pread", &[4, 0, 1, 2, 20]),
        ("fd_fdstat_get", &[4, 600]),
        ("fd_filestat_get", &[4, 700]),
        ("path_open", &[3, 0, 140, 7, 1, max, max, 1, 16]),
        ("fd_write", &[5, 0, 2, 20]),
        ("fd_pwrite", &[5, 0, 1, 100, 20]),
        ("fd_allocate", &[5, 0, 4096]),
        ("fd_filestat_set_size", &[5, 10]),
        ("fd_filestat_set_times", &[5, 1, 2, 5]),
        ("fd_advise", &[5, 0, 10, 1]),
        ("fd_datasync", &[5]),
        ("fd_sync", &[5]),
        ("fd_fdstat_set_flags", &[5, 1]),
        ("fd_fdstat_set_rights", &[5, 0, 0]),
        ("fd_renumber", &[5, 6]),
        ("path_create_directory", &[3, 160, 6]),
        ("path_filestat_get", &[3, 1, 120, 9, 700]),
        ("path_filestat_set_times", &[3, 0, 160, 6, 1, 2, 5]),
        ("path_symlink", &[100, 9, 3, 180, 4]),
        ("path_readlink", &[3, 180, 4, 800, 64, 20]),
        ("path_link", &[3, 0, 140, 7, 3, 190, 5]),
        ("path_rename", &[3, 140, 7, 3, 200, 6]),
        ("path_unlink_file", &[3, 200, 6]),
        ("path_remove_directory", &[3, 160, 6]),
        ("fd_readdir", &[3, 900, 512, 0, 20]),
        ("poll_oneoff", &[2048, 2200, 1, 20]),
        ("random_get", &[1500, 32]),
        ("sched_yield", &[]),
        ("proc_raise", &[1]),
        ("sock_accept", &[0, 0, 20]),
        ("sock_recv", &[0, 0, 1, 0, 20, 24]),
        ("sock_send", &[1, 0, 1, 0, 20]),
        ("sock_shutdown", &[0, 1]),
        ("fd_close", &[4]),
        ("fd_write", &[1, 0, 1, 20]),
        ("proc_exit", &[0]),
    ];
    for (name, args) in calls {
        wasi_call(&mut p, name, args);
    }
    write("wasi_calls", "every_function", &p);
    // The same memory, with the fd-level calls aimed at stdio and an invalid exit status.
    let mut q = Vec::new();
    q.extend(4096u16.to_le_bytes());
    q.extend(mem);
    for (name, args) in calls.iter().take(8) {
        wasi_call(&mut q, name, args);
    }
    wasi_call(&mut q, "fd_read", &[0, 0, 2, 20]);
    wasi_call(&mut q, "fd_write", &[2, 0, 2, 20]);
    wasi_call(&mut q, "fd_fdstat_get", &[1, 600]);
    wasi_call(&mut q, "proc_exit", &[300]);
    write("wasi_calls", "stdio_and_bad_exit", &q);
}

// ----- SNP targets -----

fn snp_testdata() -> PathBuf {
    std::env::var_os("ELASTIC_SNP_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/snp"))
}

fn from_hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|c| (c as char).to_digit(16).expect("hex digit") as u8)
        .collect();
    digits
        .chunks(2)
        .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0))
        .collect()
}

fn snp_seeds() {
    use elastic_snp::cert_table::{GUID_ARK, GUID_ASK, GUID_VCEK};
    use elastic_snp::cpuid_page::{CpuidEntry, build_page};
    use elastic_snp::guest_msg::{MsgType, PAGE_SIZE, RequestParams, seal_request};
    use elastic_snp::messages::{REPORT_RSP_SIZE, ReportRequest};
    use elastic_snp::secrets_page::Vmpck;
    use snp_sim::psp::{LaunchState, PspSim, cert_blob};

    // snp_ghcb: each operation once against the honest simulator (zero corruption bytes).
    for op in 0u8..24 {
        let mut v = vec![op];
        v.extend([0u8; 40]);
        write("snp_ghcb", &format!("op{op:02}"), &v);
    }
    // A 2 MiB-aligned page state change of 2 MiB + 16 KiB (2M and 4K entries).
    let mut psc = vec![13u8, 0, 0];
    psc.extend(0x0020_4000u32.to_le_bytes());
    psc.extend(0x0020_0000u64.to_le_bytes());
    psc.push(0);
    psc.extend([0u8; 32]);
    write("snp_ghcb", "psc_range", &psc);
    // The kernel's bring-up (GHCB set-up, accepting and sharing 2 MiB + 4 KiB at 2 MiB)
    // against the honest simulator and honest PVALIDATE results.
    for (op, name) in [
        (24u8, "bring_up_ghcb"),
        (25, "bring_up_accept"),
        (26, "bring_up_share"),
    ] {
        let mut v = vec![op, 0, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02];
        v.extend([0u8; 40]);
        write("snp_ghcb", name, &v);
    }

    // snp_vc: the instructions #VC handles, each with its exit code.
    let insns: &[(&str, u8, &[u8])] = &[
        ("cpuid", 0, &[0x0F, 0xA2]),
        ("in_imm8", 1, &[0xE4, 0x71]),
        ("out_imm32", 1, &[0xE7, 0x80]),
        ("in_dx16", 1, &[0x66, 0xED]),
        ("out_dx8", 1, &[0xEE]),
        ("rep_insb", 1, &[0xF3, 0x6C]),
        ("rep_outsd_a32", 1, &[0x67, 0xF3, 0x6F]),
        ("outs_fs", 1, &[0x64, 0x6E]),
        ("rdmsr", 2, &[0x0F, 0x32]),
        ("wrmsr", 2, &[0x0F, 0x30]),
        ("rdtsc", 3, &[0x0F, 0x31]),
        ("rdtscp", 4, &[0x0F, 0x01, 0xF9]),
        ("rex_cpuid", 0, &[0x48, 0x0F, 0xA2]),
    ];
    for (name, exit, bytes) in insns {
        let mut v = vec![*exit, 0, bytes.len() as u8];
        let mut insn = [0x90u8; 16];
        insn[..bytes.len()].copy_from_slice(bytes);
        v.extend(insn);
        // Registers: small values; RSI/RDI inside the memory window; RIP 0x40_0000.
        for (i, r) in [1u8, 0, 4, 0x70, 0x10, 0x20, 0, 0].iter().enumerate() {
            if i == 4 || i == 5 {
                v.extend([1, *r]);
            } else if i == 6 {
                v.push(2);
                v.extend(0x0040_0000u32.to_le_bytes());
            } else {
                v.extend([0, *r]);
            }
        }
        v.push(64);
        v.extend((0u8..64).collect::<Vec<u8>>());
        v.extend([0u8; 24]);
        write("snp_vc", name, &v);
    }

    // snp_cpuid: a realistic table (mode 1, entries from bytes) and the same page raw.
    let entries: &[(u32, u32, [u32; 4])] = &[
        (0, 0, [0x10, 0x6874_7541, 0x444D_4163, 0x6974_6E65]),
        (1, 0, [0x00A0_0F11, 0x0080_0800, 0x7EF8_320B, 0x178B_FBFF]),
        (7, 0, [0, 0x219C_97A9, 0x0040_069C, 0]),
        (0xB, 0, [1, 2, 0x100, 0]),
        (0xB, 1, [4, 8, 0x201, 0]),
        (0xD, 0, [0x207, 0x340, 0x988, 0]),
        (0xD, 1, [0xF, 0x340, 0, 0]),
        (0xD, 2, [0x100, 0x240, 0, 0]),
        (0xD, 9, [0x8, 0x980, 0, 0]),
        (
            0x8000_0000,
            0,
            [0x8000_0021, 0x6874_7541, 0x444D_4163, 0x6974_6E65],
        ),
        (0x8000_0001, 0, [0x00A0_0F11, 0, 0x7580_3FF3, 0x2FD3_FBFF]),
        (0x8000_0008, 0, [0x3030, 0x791E_F257, 0x501F, 0]),
        (0x8000_001F, 0, [0x0101_FD3F, 0x4173, 0x1FD, 1]),
    ];
    let mut m1 = vec![1u8, entries.len() as u8];
    let mut built = Vec::new();
    for (leaf, sub, out) in entries {
        m1.push(3);
        m1.extend(leaf.to_le_bytes());
        m1.push(*sub as u8);
        m1.extend(1u64.to_le_bytes());
        m1.extend(0u64.to_le_bytes());
        for r in out {
            m1.extend(r.to_le_bytes());
        }
        built.push(CpuidEntry {
            eax_in: *leaf,
            ecx_in: *sub,
            xcr0_in: 1,
            xss_in: 0,
            eax: out[0],
            ebx: out[1],
            ecx: out[2],
            edx: out[3],
        });
    }
    // Queries: leaves 0, 1, 7, 0xD/0, 0xD/1, 0x8000_001F, 0x4000_0000, an unlisted one.
    for (sel, leaf, sub) in [
        (0u8, 0u8, 0u8),
        (0, 1, 0),
        (0, 7, 0),
        (0, 0xD, 0),
        (0, 0xD, 1),
        (1, 0x1F, 0),
        (2, 0, 0),
        (0, 0x1E, 0),
    ] {
        m1.extend([sel, leaf, sub, 3]);
        m1.extend(7u64.to_le_bytes());
        m1.extend(0u64.to_le_bytes());
    }
    write("snp_cpuid", "milan_like_entries", &m1);
    let page = build_page(&built).expect("seed CPUID page builds");
    let mut m0 = vec![0u8, 0];
    m0.extend(page);
    write("snp_cpuid", "milan_like_page", &m0);

    // snp_guest_msg, session mode: honest runs of each request kind, with certificates.
    for (name, ops) in [
        ("session_report", vec![0u8, 0, 0]),
        ("session_ext_report", vec![1u8, 2, 0, 0, 0]),
        ("session_key_tsc", vec![2u8, 0, 3, 0]),
        ("session_all", vec![0u8, 0, 1, 2, 0, 0, 2, 0, 3, 0]),
    ] {
        let mut v = vec![0u8, 0, 1];
        v.extend(ops);
        write("snp_guest_msg", name, &v);
    }
    // Decoder mode: the real Milan report, certificate tables, and a real sealed response.
    let dir = snp_testdata();
    match fs::read_to_string(dir.join("report_milan.hex")) {
        Ok(hex) => {
            let report = from_hex(&hex);
            let mut v = vec![1u8, 0, 0];
            v.extend(&report);
            write("snp_guest_msg", "report_milan", &v);
        }
        Err(e) => eprintln!("gen_seeds: no Milan report ({e}); skipped"),
    }
    let vcek = fs::read(dir.join("vcek_milan.der")).unwrap_or_else(|_| vec![0x30; 1200]);
    let chain = fs::read(dir.join("cert_chain_milan")).unwrap_or_else(|_| vec![0x2D; 3000]);
    let blob = cert_blob(&[
        (GUID_VCEK, &vcek),
        (GUID_ASK, &chain[..chain.len() / 2]),
        (GUID_ARK, &chain[chain.len() / 2..]),
    ]);
    let mut v = vec![1u8, 1];
    v.extend(&blob);
    write("snp_guest_msg", "cert_table_milan", &v);

    const KEYS: [[u8; 32]; 4] = elastic_snp_keys();
    let mut psp = PspSim::new(KEYS, LaunchState::default(), b"fuzz");
    let params = RequestParams {
        msg_type: MsgType::ReportReq,
        msg_version: 1,
        seqno: 1,
        vmpck_index: 0,
    };
    let mut req = Box::new([0u8; PAGE_SIZE]);
    seal_request(
        &Vmpck::new(KEYS[0]),
        &params,
        &ReportRequest::new([7; 64]).to_bytes(),
        &mut req,
    )
    .expect("seal the seed request");
    let mut rsp = Box::new([0u8; PAGE_SIZE]);
    psp.guest_request(&req, &mut rsp, None)
        .expect("simulated PSP answers");
    // mode 1, op 3 (header + open), index 0, ReportReq, version 1, seqno 1, sizes.
    let mut v = vec![1u8, 3, 0, 0, 1, 1];
    v.extend((REPORT_RSP_SIZE as u16).to_le_bytes());
    v.extend(4000u16.to_le_bytes());
    v.extend(&rsp[..]);
    write("snp_guest_msg", "sealed_report_response", &v);
    let mut v = vec![1u8, 2];
    let mut payload = vec![0u8; REPORT_RSP_SIZE];
    payload[4..8].copy_from_slice(&0x4A0u32.to_le_bytes());
    v.extend(payload);
    write("snp_guest_msg", "report_payload", &v);
}

/// The VMPCKs the `snp_guest_msg` harness shares with its simulated PSP.
const fn elastic_snp_keys() -> [[u8; 32]; 4] {
    elastic_fuzz::snp_guest_msg::KEYS
}

// ----- hv_boot_data: a QEMU-like e820 table, directly and through fw_cfg -----

fn e820(entries: &[(u64, u64, u32)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (addr, len, kind) in entries {
        v.extend(addr.to_le_bytes());
        v.extend(len.to_le_bytes());
        v.extend(kind.to_le_bytes());
    }
    v
}

fn boot_data_seeds() {
    // QEMU q35 with 256 MiB, as `etc/e820` lists it.
    let table = e820(&[
        (0, 0x9_FC00, 1),
        (0x9_FC00, 0x400, 2),
        (0xF_0000, 0x1_0000, 2),
        (0x10_0000, 0x0FF0_0000, 1),
        (0xB000_0000, 0x1000_0000, 2),
        (0xFED1_C000, 0x4000, 2),
        (0xFEFF_C000, 0x4000, 2),
    ]);
    // Reserved ranges: the kernel image at 1 MiB (2 MiB long) and a 64 KiB stack.
    let mut reserved = Vec::new();
    reserved.extend((0x10_0000u32 / 16).to_le_bytes());
    reserved.extend(0x2000u16.to_le_bytes());
    reserved.extend((0x40_0000u32 / 16).to_le_bytes());
    reserved.extend(0x100u16.to_le_bytes());
    let mut direct = vec![0u8];
    direct.extend(&reserved);
    direct.extend(&table);
    write("hv_boot_data", "e820_q35", &direct);

    let mut dev = vec![1u8];
    dev.extend(&reserved);
    dev.push(16);
    let mut name = [0u8; 64];
    name[..16].copy_from_slice(b"opt/elastic/boot");
    dev.extend(name);
    dev.extend(b"QEMU");
    dev.extend(3u32.to_le_bytes());
    let dir_entry = |size: u32, select: u16, name: &str| {
        let mut e = Vec::new();
        e.extend(size.to_be_bytes());
        e.extend(select.to_be_bytes());
        e.extend([0, 0]);
        let mut n = [0u8; 56];
        n[..name.len()].copy_from_slice(name.as_bytes());
        e.extend(n);
        e
    };
    // First lookup (etc/e820): a two-file directory, then the file contents.
    dev.extend(2u32.to_be_bytes());
    dev.extend(dir_entry(64, 0x20, "etc/boot-fail-wait"));
    dev.extend(dir_entry(table.len() as u32, 0x21, "etc/e820"));
    dev.extend(&table);
    // Second lookup: the directory again, with the input-chosen name present.
    dev.extend(2u32.to_be_bytes());
    dev.extend(dir_entry(64, 0x20, "etc/boot-fail-wait"));
    dev.extend(dir_entry(40, 0x22, "opt/elastic/boot"));
    dev.extend(&table[..40]);
    write("hv_boot_data", "fw_cfg_q35", &dev);
}

fn main() {
    boot_data_seeds();
    ramfs_seeds();
    wasi_seeds();
    snp_seeds();
    let mods = modules();
    for (name, m) in &mods {
        // Byte 0 selects the fuel budget: 4 → 16k units.
        let mut seed = vec![4u8];
        seed.extend_from_slice(m);
        write("wasm_load", name, &seed);
    }
    for (name, bundle) in bundles(&mods) {
        for mode in [0u8, 1] {
            let mut seed = vec![mode];
            seed.extend_from_slice(&bundle);
            write("bundle_parse", &format!("{name}_mode{mode}"), &seed);
        }
        let parsed = elastic_bundle::Bundle::parse(&bundle).expect("seed bundle parses");
        write("manifest_decode", &name, &parsed.manifest().encode());
    }
    println!("seeds written to {}", seeds_dir().display());
}
