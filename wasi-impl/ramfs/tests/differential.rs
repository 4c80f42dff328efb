//! Differential test: random operation sequences run on a `Ramfs` and on a real temporary
//! directory through `std::fs`; results (success or errno), file contents and directory
//! listings must agree. Deterministic (fixed seeds, xorshift PRNG).

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use elastic_ramfs::{Config, Errno, Filetype, Ino, OpenOptions, Ramfs};

/// xorshift64* PRNG (deterministic, no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Comparable result of one operation.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Unit,
    Bytes(Vec<u8>),
    Names(BTreeSet<String>),
    Stat {
        kind: Filetype,
        size: u64,
        nlink: u64,
    },
    Target(String),
}

/// File data, printed as its length only.
#[derive(Clone)]
struct Data(Vec<u8>);

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        path: String,
        excl: bool,
        data: Data,
        offset: u64,
    },
    Write {
        path: String,
        data: Data,
        offset: u64,
    },
    Read {
        path: String,
    },
    Truncate {
        path: String,
        size: u64,
    },
    Rename {
        from: String,
        to: String,
    },
    Unlink {
        path: String,
    },
    Mkdir {
        path: String,
    },
    Rmdir {
        path: String,
    },
    Link {
        from: String,
        to: String,
    },
    Symlink {
        target: String,
        path: String,
    },
    Readdir {
        path: String,
    },
    Stat {
        path: String,
        follow: bool,
    },
    Readlink {
        path: String,
    },
}

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// Paths currently present in the tree, to aim operations at things that exist.
struct Known {
    all: Vec<String>,
    dirs: Vec<String>,
}

fn random_path(rng: &mut Rng, known: &Known) -> String {
    let name = NAMES[rng.below(NAMES.len() as u64) as usize];
    let mut p = match rng.below(10) {
        // An existing entry.
        0..=3 if !known.all.is_empty() => {
            known.all[rng.below(known.all.len() as u64) as usize].clone()
        }
        // A (probably) new name in an existing directory.
        4..=7 if !known.dirs.is_empty() => {
            let d = &known.dirs[rng.below(known.dirs.len() as u64) as usize];
            format!("{d}/{name}")
        }
        // Anything, mostly shallow.
        _ => {
            let depth = 1 + rng.below(3);
            let mut p = String::from(name);
            for _ in 1..depth {
                p.push('/');
                p.push_str(NAMES[rng.below(NAMES.len() as u64) as usize]);
            }
            p
        }
    };
    if rng.chance(5) {
        p.push('/');
    }
    p
}

fn random_data(rng: &mut Rng) -> Data {
    let len = match rng.below(10) {
        0 => 0,
        1 => 70_000 + rng.below(70_000),
        _ => rng.below(300),
    };
    let seed = rng.next() as u8;
    Data((0..len).map(|i| seed.wrapping_add(i as u8)).collect())
}

fn random_offset(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => 65_536 * rng.below(4) + rng.below(3),
        1 => rng.below(200_000),
        _ => rng.below(400),
    }
}

fn random_op(rng: &mut Rng, known: &Known) -> Op {
    match rng.below(13) {
        0 | 1 => Op::Create {
            path: random_path(rng, known),
            excl: rng.chance(30),
            data: random_data(rng),
            offset: random_offset(rng),
        },
        2 => Op::Write {
            path: random_path(rng, known),
            data: random_data(rng),
            offset: random_offset(rng),
        },
        3 => Op::Read {
            path: random_path(rng, known),
        },
        4 => Op::Truncate {
            path: random_path(rng, known),
            size: random_offset(rng),
        },
        5 => Op::Rename {
            from: random_path(rng, known),
            to: random_path(rng, known),
        },
        6 => Op::Unlink {
            path: random_path(rng, known),
        },
        7 | 8 => Op::Mkdir {
            path: random_path(rng, known),
        },
        9 => Op::Rmdir {
            path: random_path(rng, known),
        },
        10 => Op::Link {
            from: random_path(rng, known),
            to: random_path(rng, known),
        },
        11 => {
            // Targets stay inside the directory tree: plain relative names, no `..`.
            let target = if rng.chance(50) {
                NAMES[rng.below(NAMES.len() as u64) as usize].to_string()
            } else {
                random_path(rng, known)
            };
            Op::Symlink {
                target,
                path: random_path(rng, known),
            }
        }
        _ => match rng.below(3) {
            0 => Op::Readdir {
                path: random_path(rng, known),
            },
            1 => Op::Readlink {
                path: random_path(rng, known),
            },
            _ => Op::Stat {
                path: random_path(rng, known),
                follow: rng.chance(50),
            },
        },
    }
}

/// Linux errno -> WASI errno, for the kinds the operations above can produce.
fn host_errno(e: &std::io::Error) -> Errno {
    match e.raw_os_error() {
        Some(1) => Errno::Perm,
        Some(2) => Errno::Noent,
        Some(13) => Errno::Acces,
        Some(16) => Errno::Busy,
        Some(17) => Errno::Exist,
        Some(18) => Errno::Xdev,
        Some(20) => Errno::Notdir,
        Some(21) => Errno::Isdir,
        Some(22) => Errno::Inval,
        Some(28) => Errno::Nospc,
        Some(36) => Errno::Nametoolong,
        Some(39) => Errno::Notempty,
        Some(40) => Errno::Loop,
        other => panic!("unmapped host error {other:?}: {e}"),
    }
}

fn kind_of(ft: fs::FileType) -> Filetype {
    if ft.is_symlink() {
        Filetype::SymbolicLink
    } else if ft.is_dir() {
        Filetype::Directory
    } else if ft.is_file() {
        Filetype::RegularFile
    } else {
        Filetype::Unknown
    }
}

fn cap_std_slash(path: &str) -> String {
    if path.ends_with('/') {
        format!("{path}.")
    } else {
        path.to_string()
    }
}

fn run_host(root: &Path, op: &Op) -> Result<Out, Errno> {
    let p = |s: &str| -> PathBuf {
        let mut b = root.as_os_str().to_owned();
        b.push("/");
        b.push(s);
        PathBuf::from(b)
    };
    let r: std::io::Result<Out> = (|| match op {
        Op::Create {
            path,
            excl,
            data,
            offset,
        } => {
            let f = fs::OpenOptions::new()
                .write(true)
                .create(!*excl)
                .create_new(*excl)
                .truncate(false)
                .open(p(path))?;
            f.write_all_at(&data.0, *offset)?;
            Ok(Out::Unit)
        }
        Op::Write { path, data, offset } => {
            let f = fs::OpenOptions::new().write(true).open(p(path))?;
            f.write_all_at(&data.0, *offset)?;
            Ok(Out::Unit)
        }
        Op::Read { path } => {
            let f = fs::OpenOptions::new().read(true).open(p(path))?;
            if f.metadata()?.is_dir() {
                return Err(std::io::Error::from_raw_os_error(21));
            }
            let mut buf = vec![0u8; f.metadata()?.len() as usize];
            f.read_exact_at(&mut buf, 0)?;
            Ok(Out::Bytes(buf))
        }
        Op::Truncate { path, size } => {
            let f = fs::OpenOptions::new().write(true).open(p(path))?;
            f.set_len(*size)?;
            Ok(Out::Unit)
        }
        Op::Rename { from, to } => fs::rename(p(from), p(to)).map(|_| Out::Unit),
        // wasmtime (cap-std) resolves `x/` as `x/.` for unlink and rmdir; do the same on the
        // host so both sides model the reference (Linux alone would remove `dir/`).
        Op::Unlink { path } => fs::remove_file(p(&cap_std_slash(path))).map(|_| Out::Unit),
        Op::Mkdir { path } => fs::create_dir(p(path)).map(|_| Out::Unit),
        Op::Rmdir { path } => fs::remove_dir(p(&cap_std_slash(path))).map(|_| Out::Unit),
        Op::Link { from, to } => fs::hard_link(p(from), p(to)).map(|_| Out::Unit),
        Op::Symlink { target, path } => {
            std::os::unix::fs::symlink(target, p(path)).map(|_| Out::Unit)
        }
        Op::Readdir { path } => {
            let mut names: BTreeSet<String> = [".".to_string(), "..".to_string()].into();
            for e in fs::read_dir(p(path))? {
                names.insert(e?.file_name().into_string().unwrap());
            }
            Ok(Out::Names(names))
        }
        Op::Stat { path, follow } => {
            let m = if *follow {
                fs::metadata(p(path))?
            } else {
                fs::symlink_metadata(p(path))?
            };
            Ok(stat_out(kind_of(m.file_type()), m.len(), m.nlink()))
        }
        Op::Readlink { path } => {
            fs::read_link(p(path)).map(|t| Out::Target(t.into_os_string().into_string().unwrap()))
        }
    })();
    r.map_err(|e| host_errno(&e))
}

/// Directory sizes and link counts are filesystem-specific, so only files are compared fully.
fn stat_out(kind: Filetype, size: u64, nlink: u64) -> Out {
    match kind {
        Filetype::Directory => Out::Stat {
            kind,
            size: 0,
            nlink: 0,
        },
        _ => Out::Stat { kind, size, nlink },
    }
}

fn run_ramfs(fs: &mut Ramfs, op: &Op) -> Result<Out, Errno> {
    let root = fs.root();
    let follow = |create: bool, excl: bool| OpenOptions {
        follow: true,
        create,
        exclusive: excl,
        write: true,
        ..OpenOptions::default()
    };
    let write_all = |fs: &mut Ramfs, ino: Ino, data: &[u8], offset: u64| {
        let n = fs.write_at(ino, offset, data)?;
        assert_eq!(n, data.len());
        Ok(Out::Unit)
    };
    match op {
        Op::Create {
            path,
            excl,
            data,
            offset,
        } => {
            let ino = fs.open(root, path, follow(true, *excl))?;
            write_all(fs, ino, &data.0, *offset)
        }
        Op::Write { path, data, offset } => {
            let ino = fs.open(root, path, follow(false, false))?;
            write_all(fs, ino, &data.0, *offset)
        }
        Op::Read { path } => {
            let ino = fs.open(
                root,
                path,
                OpenOptions {
                    follow: true,
                    ..OpenOptions::default()
                },
            )?;
            Ok(Out::Bytes(fs.read_to_vec(ino)?))
        }
        Op::Truncate { path, size } => {
            let ino = fs.open(root, path, follow(false, false))?;
            fs.set_size(ino, *size).map(|_| Out::Unit)
        }
        Op::Rename { from, to } => fs.rename(root, from, root, to).map(|_| Out::Unit),
        Op::Unlink { path } => fs.unlink_file(root, path).map(|_| Out::Unit),
        Op::Mkdir { path } => fs.create_dir(root, path).map(|_| Out::Unit),
        Op::Rmdir { path } => fs.remove_dir(root, path).map(|_| Out::Unit),
        Op::Link { from, to } => fs.link(root, from, false, root, to).map(|_| Out::Unit),
        Op::Symlink { target, path } => fs.symlink(target, root, path).map(|_| Out::Unit),
        Op::Readdir { path } => {
            let ino = fs.lookup(root, path, true)?;
            let names = fs.readdir(ino, 0)?.map(|e| e.name.to_string()).collect();
            Ok(Out::Names(names))
        }
        Op::Stat { path, follow } => {
            let st = fs.stat_at(root, path, *follow)?;
            Ok(stat_out(st.filetype, st.size, st.nlink))
        }
        Op::Readlink { path } => fs.readlink(root, path).map(|t| Out::Target(t.to_string())),
    }
}

/// The whole tree as (path, kind, payload) for comparison.
fn snapshot_host(root: &Path) -> BTreeSet<(String, Filetype, Vec<u8>)> {
    let mut out = BTreeSet::new();
    let mut todo = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = todo.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = kind_of(e.file_type().unwrap());
            let payload = match kind {
                Filetype::RegularFile => fs::read(e.path()).unwrap(),
                Filetype::SymbolicLink => fs::read_link(e.path())
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
                _ => {
                    todo.push((e.path(), path.clone()));
                    Vec::new()
                }
            };
            out.insert((path, kind, payload));
        }
    }
    out
}

fn snapshot_ramfs(fs: &Ramfs) -> BTreeSet<(String, Filetype, Vec<u8>)> {
    use elastic_ramfs::WalkKind;
    fs.walk(fs.root())
        .unwrap()
        .into_iter()
        .map(|e| match e.kind {
            WalkKind::Directory => (e.path, Filetype::Directory, Vec::new()),
            WalkKind::File { .. } => (
                e.path,
                Filetype::RegularFile,
                fs.read_to_vec(e.ino).unwrap(),
            ),
            WalkKind::Symlink { target } => (e.path, Filetype::SymbolicLink, target.into_bytes()),
        })
        .collect()
}

fn known_paths(fs: &Ramfs) -> Known {
    use elastic_ramfs::WalkKind;
    let walk = fs.walk(fs.root()).unwrap();
    Known {
        dirs: walk
            .iter()
            .filter(|e| e.kind == WalkKind::Directory)
            .map(|e| e.path.clone())
            .collect(),
        all: walk.into_iter().map(|e| e.path).collect(),
    }
}

fn scratch_dir(tag: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("elastic-ramfs-diff-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).unwrap();
    dir
}

fn run_seed(seed: u64, ops: usize) -> (usize, usize) {
    let mut succeeded = 0;
    let dir = scratch_dir(seed);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut fs = Ramfs::new(Config::default(), Box::new(|| 0u64));
    let mut history = Vec::new();
    for step in 0..ops {
        let known = known_paths(&fs);
        let op = random_op(&mut rng, &known);
        history.push(op.clone());
        let host = run_host(&dir, &op);
        let ram = run_ramfs(&mut fs, &op);
        if host != ram {
            let _ = fs::remove_dir_all(&dir);
            let tail: Vec<_> = history.iter().rev().take(12).rev().collect();
            let tree: Vec<_> = snapshot_ramfs(&fs)
                .into_iter()
                .map(|(p, k, v)| match k {
                    Filetype::SymbolicLink => format!("{p} -> {}", String::from_utf8_lossy(&v)),
                    _ => format!("{p} {k:?} {}", v.len()),
                })
                .collect();
            panic!(
                "seed {seed} step {step}: {op:?}\n host: {host:?}\n ramfs: {ram:?}\n recent ops: {tail:?}\n ramfs tree after: {tree:#?}"
            );
        }
        if host.is_ok() {
            succeeded += 1;
        }
        if let Err(e) = fs.check_invariants() {
            panic!("seed {seed} step {step}: {op:?} broke an invariant: {e}");
        }
        if step % 25 == 24 || step + 1 == ops {
            let h = snapshot_host(&dir);
            let r = snapshot_ramfs(&fs);
            if h != r {
                let _ = fs::remove_dir_all(&dir);
                let only_h: Vec<_> = h.difference(&r).map(|e| (&e.0, e.1)).collect();
                let only_r: Vec<_> = r.difference(&h).map(|e| (&e.0, e.1)).collect();
                panic!(
                    "seed {seed} step {step}: trees differ\n host only: {only_h:?}\n ramfs only: {only_r:?}"
                );
            }
        }
    }
    fs::remove_dir_all(&dir).unwrap();
    (succeeded, ops)
}

#[test]
fn differential_against_std_fs() {
    // RAMFS_DIFF_SEEDS widens the search when exploring; the default keeps the test fast.
    let seeds: u64 = std::env::var("RAMFS_DIFF_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let mut ok = 0;
    let mut total = 0;
    for seed in 1..=seeds {
        let (o, t) = run_seed(seed, 400);
        ok += o;
        total += t;
    }
    // Guard against a generator that only produces errors (which would compare trivially).
    assert!(ok * 5 > total, "only {ok} of {total} operations succeeded");
}

#[test]
fn error_kinds_map() {
    // The mapping above must agree with what the host really returns for a missing file.
    let e = fs::metadata("/definitely/not/here").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(host_errno(&e), Errno::Noent);
}
