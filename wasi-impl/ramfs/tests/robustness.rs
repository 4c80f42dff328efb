//! Robustness: hostile operation sequences (odd paths, huge offsets, tight quotas, pins,
//! random bases) must never panic, must keep every internal invariant, and must stay within
//! the configured quotas. Deterministic (fixed seeds).

use elastic_ramfs::{Config, Errno, Ino, OpenOptions, Ramfs, SetTime};

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
}

fn token(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "..".into(),
        1 => ".".into(),
        2 => String::new(),
        3 => "\0".into(),
        4 => "n".repeat(255),
        5 => "n".repeat(256),
        6 => "/".into(),
        _ => ["a", "b", "c"][rng.below(3) as usize].into(),
    }
}

fn path(rng: &mut Rng) -> String {
    let n = 1 + rng.below(4);
    let mut p = String::new();
    for i in 0..n {
        if i > 0 || rng.below(20) == 0 {
            p.push('/');
        }
        p.push_str(&token(rng));
    }
    if rng.below(8) == 0 {
        p.push('/');
    }
    p
}

fn offset(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => u64::MAX - rng.below(10),
        1 => (i64::MAX as u64) - rng.below(10),
        2 => rng.below(1 << 40),
        _ => rng.below(200_000),
    }
}

#[test]
fn hostile_sequences_keep_invariants() {
    const MAX_BYTES: u64 = 300_000;
    const MAX_INODES: u64 = 40;
    let data = vec![0x5au8; 150_000];
    let (mut succeeded, mut total) = (0u32, 0u32);
    for seed in 1..=30u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut fs = Ramfs::new(
            Config {
                dev: 7,
                max_bytes: MAX_BYTES,
                max_inodes: MAX_INODES,
            },
            Box::new(|| 5u64),
        );
        let mut pinned: Vec<Ino> = Vec::new();
        let mut seen: Vec<Ino> = vec![fs.root()];
        for step in 0..600 {
            let base = seen[rng.below(seen.len() as u64) as usize];
            let ino = seen[rng.below(seen.len() as u64) as usize];
            let p = path(&mut rng);
            let q = path(&mut rng);
            let follow = rng.below(2) == 0;
            let res: Result<Option<Ino>, Errno> = match rng.below(17) {
                0 | 1 => fs
                    .open(
                        base,
                        &p,
                        OpenOptions {
                            follow,
                            create: rng.below(2) == 0,
                            exclusive: rng.below(4) == 0,
                            truncate: rng.below(4) == 0,
                            directory: rng.below(4) == 0,
                            write: rng.below(2) == 0,
                        },
                    )
                    .map(Some),
                2 => fs.create_dir(base, &p).map(Some),
                3 => fs.remove_dir(base, &p).map(|_| None),
                4 => fs.unlink_file(base, &p).map(|_| None),
                5 => fs.rename(base, &p, ino, &q).map(|_| None),
                6 => fs.link(base, &p, follow, ino, &q).map(|_| None),
                7 => fs.symlink(&q, base, &p).map(Some),
                8 => fs.readlink(base, &p).map(|_| None),
                9 => {
                    let len = rng.below(data.len() as u64) as usize;
                    fs.write_at(ino, offset(&mut rng), &data[..len])
                        .map(|_| None)
                }
                10 => fs.set_size(ino, offset(&mut rng)).map(|_| None),
                11 => fs
                    .allocate(ino, offset(&mut rng), offset(&mut rng))
                    .map(|_| None),
                12 => {
                    let mut buf = [0u8; 4096];
                    fs.read_at(ino, offset(&mut rng), &mut buf).map(|_| None)
                }
                13 => fs
                    .set_times(ino, SetTime::At(rng.next()), SetTime::Now)
                    .map(|_| None),
                14 => {
                    if rng.below(2) == 0 {
                        fs.retain(ino).map(|_| {
                            pinned.push(ino);
                            None
                        })
                    } else if let Some(i) = pinned.pop() {
                        fs.release(i).map(|_| None)
                    } else {
                        Ok(None)
                    }
                }
                15 => fs
                    .readdir(base, rng.below(6))
                    .map(|it| it.take(3).count())
                    .map(|_| None),
                _ => {
                    let r = fs.set_readonly(ino, rng.below(5) == 0);
                    fs.walk(fs.root()).and(r).map(|_| None)
                }
            };
            if res.is_ok() {
                succeeded += 1;
            }
            total += 1;
            if let Ok(Some(new)) = res {
                seen.push(new);
            }
            if let Err(e) = fs.check_invariants() {
                panic!("seed {seed} step {step}: {e}");
            }
            let u = fs.usage();
            assert!(u.bytes <= MAX_BYTES && u.inodes <= MAX_INODES, "{u:?}");
            // Stale inode numbers must be refused, not crash.
            seen.retain(|&i| fs.exists(i));
            if seen.is_empty() {
                seen.push(fs.root());
            }
        }
        // Releasing every pin frees everything that is unlinked.
        for i in pinned.drain(..) {
            fs.release(i).unwrap();
        }
        fs.check_invariants().unwrap();
    }
    // The sequences must exercise success paths too, not only argument errors.
    assert!(
        succeeded * 5 > total,
        "only {succeeded} of {total} calls succeeded"
    );
}

#[test]
fn deep_trees_and_long_symlink_chains() {
    let mut fs = Ramfs::new(Config::default(), Box::new(|| 0u64));
    let r = fs.root();
    // A tree deeper than any path can name: built by walking down with relative bases.
    let mut cur = r;
    let mut parent = r;
    for _ in 0..5000 {
        parent = cur;
        cur = fs.create_dir(cur, "d").unwrap();
    }
    fs.write_file(cur, "leaf", b"deep").unwrap();
    assert_eq!(fs.walk(r).unwrap().len(), 5001);
    // Long walks down and back up inside a base deep in the tree; `..` at the base escapes.
    let mid = fs.lookup(r, &"d/".repeat(1300), true).unwrap();
    let there_and_back = format!("{}{}", "d/".repeat(800), "../".repeat(800));
    assert_eq!(fs.lookup(mid, &there_and_back, true), Ok(mid));
    assert_eq!(fs.lookup(cur, "..", true), Err(elastic_ramfs::ESCAPE_ERRNO));
    // A chain of symlinks each climbing one level stays confined to its base.
    let mut prev = String::from("leaf");
    for i in 0..30 {
        let name = format!("up{i}");
        fs.symlink(&format!("../d/{prev}"), cur, &name).unwrap();
        prev = name;
    }
    assert_eq!(
        fs.read_to_vec(fs.lookup(parent, &format!("d/{prev}"), true).unwrap())
            .unwrap(),
        b"deep"
    );
    assert_eq!(
        fs.lookup(cur, &prev, true),
        Err(elastic_ramfs::ESCAPE_ERRNO)
    );
    // Moving the whole tree into its own bottom is refused.
    assert_eq!(fs.rename(r, "d", cur, "x"), Err(Errno::Inval));
    fs.check_invariants().unwrap();
}

/// Path resolution is iterative (pending symlink bodies live on the heap), so even symlinks
/// nested to the loop limit resolve on a 16 KiB stack in the unoptimised build, whose frames
/// are the largest. (A recursive resolver needed 48-96 KiB here.)
#[test]
fn nested_symlinks_fit_a_small_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(16 * 1024)
        .spawn(|| {
            let mut fs = Ramfs::new(Config::default(), Box::new(|| 0u64));
            let r = fs.root();
            fs.create_dir(r, "d").unwrap();
            fs.symlink("d", r, "l0").unwrap();
            // Each link names the previous one as an intermediate component, so resolving the
            // last nests every resolution inside the next.
            let max = elastic_ramfs::SYMLOOP_MAX;
            for i in 1..max {
                fs.symlink(&format!("l{}/.", i - 1), r, &format!("l{i}"))
                    .unwrap();
            }
            let d = fs.lookup(r, "d", false).unwrap();
            assert_eq!(fs.lookup(r, &format!("l{}/.", max - 1), true), Ok(d));
            fs.symlink(&format!("l{}/.", max - 1), r, "over").unwrap();
            assert_eq!(fs.lookup(r, "over/.", true), Err(Errno::Loop));
        })
        .unwrap();
    handle.join().unwrap();
}

/// Nothing that walks a tree recurses: a tree 20,000 directories deep (built with relative
/// bases, as no path can name it) is listed, marked read-only, checked for ancestry and
/// dropped on a 64 KiB stack in the unoptimised build.
#[test]
fn very_deep_trees_fit_a_small_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let mut fs = Ramfs::new(Config::default(), Box::new(|| 0u64));
            let r = fs.root();
            let mut cur = r;
            for _ in 0..20_000 {
                cur = fs.create_dir(cur, "d").unwrap();
            }
            fs.write_file(cur, "leaf", b"deep").unwrap();
            let all = fs.walk(r).unwrap();
            assert_eq!(all.len(), 20_001);
            fs.set_readonly_tree(r, true).unwrap();
            assert_eq!(fs.write_file(cur, "more", b"x"), Err(Errno::Rofs));
            fs.set_readonly_tree(r, false).unwrap();
            // Ancestry checks walk up 20,000 parents.
            assert_eq!(fs.rename(r, "d", cur, "x"), Err(Errno::Inval));
            fs.check_invariants().unwrap();
            drop(fs);
        })
        .unwrap();
    handle.join().unwrap();
}
