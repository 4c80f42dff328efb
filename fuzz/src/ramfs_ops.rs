//! Fuzz harness `ramfs_ops`: random operation sequences on `elastic-ramfs` checked against a
//! simple model (differential testing). The model is a map from inode to node (directory =
//! name → inode map, file = byte vector) with POSIX/Linux error rules written from the
//! specifications (`mkdir`, `open`, `rmdir`, `unlink`, `rename`, `link` in POSIX.1-2017 and
//! Linux's check order as the ramfs crate docs state it), not from the ramfs code.
//!
//! Paths have one to three components from a four-name alphabet, so collisions, nesting and
//! cycles (renaming a directory below itself) are frequent. Open files are pinned (`retain`)
//! while the sequence holds them, so unlink-while-open is covered. After every operation the
//! whole tree (`walk` + `read_to_vec`) must equal the model: same paths, same inode numbers
//! (hard links), same kinds, same contents. Each operation's result must be the model's:
//! the same value on success and the same errno on failure.

use crate::input::Input;
use elastic_ramfs::{Config, Errno, Filetype, Ino, OpenOptions, Ramfs, WalkKind};
use std::collections::BTreeMap;

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Debug, Clone)]
enum Node {
    Dir(BTreeMap<String, Ino>),
    File(Vec<u8>),
}

/// The reference model: every inode ever created (never freed; unreachable ones are only
/// reachable through pinned handles).
#[derive(Debug)]
struct Model {
    nodes: BTreeMap<Ino, Node>,
    root: Ino,
}

/// Where a path leads: the parent directory, the final name, and the inode if it exists.
#[derive(Debug)]
struct Loc {
    parent: Ino,
    name: String,
    ino: Option<Ino>,
}

impl Model {
    fn is_dir(&self, ino: Ino) -> bool {
        matches!(self.nodes.get(&ino), Some(Node::Dir(_)))
    }

    fn dir(&self, ino: Ino) -> &BTreeMap<String, Ino> {
        match self.nodes.get(&ino) {
            Some(Node::Dir(d)) => d,
            _ => panic!("model: {ino} is not a directory"),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> &mut BTreeMap<String, Ino> {
        match self.nodes.get_mut(&ino) {
            Some(Node::Dir(d)) => d,
            _ => panic!("model: {ino} is not a directory"),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<&mut Vec<u8>, Errno> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => Ok(f),
            _ => Err(Errno::Isdir),
        }
    }

    /// Resolves all but the last component: a missing one is `Noent`, a file is `Notdir`.
    fn locate(&self, path: &[&str]) -> Result<Loc, Errno> {
        let (last, dirs) = path.split_last().expect("paths are non-empty");
        let mut cur = self.root;
        for comp in dirs {
            match self.dir(cur).get(*comp) {
                None => return Err(Errno::Noent),
                Some(&next) if self.is_dir(next) => cur = next,
                Some(_) => return Err(Errno::Notdir),
            }
        }
        Ok(Loc {
            parent: cur,
            name: last.to_string(),
            ino: self.dir(cur).get(*last).copied(),
        })
    }

    /// True if `anc` is `ino` or one of its ancestors (directories have one parent).
    fn is_ancestor_or_self(&self, anc: Ino, mut ino: Ino) -> bool {
        loop {
            if ino == anc {
                return true;
            }
            if ino == self.root {
                return false;
            }
            let parent = self.nodes.iter().find_map(|(&p, n)| match n {
                Node::Dir(d) if d.values().any(|&c| c == ino) => Some(p),
                _ => None,
            });
            match parent {
                Some(p) => ino = p,
                None => return false,
            }
        }
    }

    /// Number of names linking to `ino`.
    fn nlink(&self, ino: Ino) -> u64 {
        self.nodes
            .values()
            .map(|n| match n {
                Node::Dir(d) => d.values().filter(|&&c| c == ino).count() as u64,
                Node::File(_) => 0,
            })
            .sum()
    }

    /// Every reachable entry, as `walk` reports it: (path, inode, directory?, size).
    fn walk(&self, dir: Ino, prefix: &str, out: &mut Vec<(String, Ino, Option<u64>)>) {
        for (name, &ino) in self.dir(dir) {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match self.nodes.get(&ino) {
                Some(Node::Dir(_)) => {
                    out.push((path.clone(), ino, None));
                    self.walk(ino, &path, out);
                }
                Some(Node::File(f)) => out.push((path, ino, Some(f.len() as u64))),
                None => panic!("model: dangling entry {path}"),
            }
        }
    }
}

/// One byte per path: bits 0-1 give the depth (0 and 1: one component, 2: two, 3: three),
/// bits 2-3, 4-5 and 6-7 the components.
fn path<'a>(input: &mut Input<'_>) -> (Vec<&'a str>, String) {
    let b = input.u8();
    let depth = usize::from(b & 3).clamp(1, 3);
    let comps: Vec<&str> = (0..depth)
        .map(|i| NAMES[usize::from((b >> (2 + 2 * i)) & 3)])
        .collect();
    let s = comps.join("/");
    (comps, s)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mut fs = Ramfs::new(Config::default(), Box::new(|| 42u64));
    let root = fs.root();
    let mut model = Model {
        nodes: BTreeMap::from([(root, Node::Dir(BTreeMap::new()))]),
        root,
    };
    let mut handles: Vec<Ino> = Vec::new();
    let mut steps = 0;
    while !input.is_empty() && steps < 64 {
        steps += 1;
        step(&mut input, &mut fs, &mut model, &mut handles);
        compare_trees(&fs, &model);
    }
    for h in handles {
        fs.release(h).expect("release of a held handle");
    }
}

fn step(input: &mut Input<'_>, fs: &mut Ramfs, model: &mut Model, handles: &mut Vec<Ino>) {
    let root = model.root;
    match input.below(12) {
        0 => {
            let (p, s) = path(input);
            let want = model.locate(&p).and_then(|l| match l.ino {
                Some(_) => Err(Errno::Exist),
                None => Ok(l),
            });
            let got = fs.create_dir(root, &s);
            match (want, got) {
                (Ok(l), Ok(ino)) => {
                    assert!(!model.nodes.contains_key(&ino), "inode {ino} reused");
                    model.nodes.insert(ino, Node::Dir(BTreeMap::new()));
                    model.dir_mut(l.parent).insert(l.name, ino);
                }
                (w, g) => assert_eq!(w.err(), g.err(), "create_dir {s}"),
            }
        }
        1 => {
            let (p, s) = path(input);
            let f = input.u8();
            let opts = OpenOptions {
                follow: false,
                create: f & 1 != 0,
                exclusive: f & 2 != 0,
                truncate: f & 4 != 0,
                directory: f & 8 != 0,
                write: f & 16 != 0,
            };
            // As wasmtime's path_open: `directory` excludes `create`, `exclusive`, `truncate`.
            let want = if opts.directory && (opts.create || opts.exclusive || opts.truncate) {
                Err(Errno::Inval)
            } else {
                model.locate(&p).and_then(|l| match l.ino {
                    Some(_) if opts.create && opts.exclusive => Err(Errno::Exist),
                    Some(ino) if model.is_dir(ino) => {
                        // Linux open(2): O_CREAT on an existing directory is EISDIR too.
                        if opts.write || opts.truncate || opts.create {
                            Err(Errno::Isdir)
                        } else {
                            Ok((l, Some(ino)))
                        }
                    }
                    Some(ino) => {
                        if opts.directory {
                            Err(Errno::Notdir)
                        } else {
                            Ok((l, Some(ino)))
                        }
                    }
                    None if !opts.create => Err(Errno::Noent),
                    None => Ok((l, None)),
                })
            };
            let got = fs.open(root, &s, opts);
            match (want, got) {
                (Ok((l, existing)), Ok(ino)) => {
                    match existing {
                        Some(e) => {
                            assert_eq!(e, ino, "open {s} found another inode");
                            if opts.truncate
                                && let Ok(f) = model.file_mut(e)
                            {
                                f.clear();
                            }
                        }
                        None => {
                            assert!(!model.nodes.contains_key(&ino), "inode {ino} reused");
                            model.nodes.insert(ino, Node::File(Vec::new()));
                            model.dir_mut(l.parent).insert(l.name, ino);
                        }
                    }
                    if !model.is_dir(ino) && handles.len() < 8 {
                        fs.retain(ino).expect("retain an open file");
                        handles.push(ino);
                    }
                }
                (w, g) => assert_eq!(w.err(), g.err(), "open {s} {opts:?}"),
            }
        }
        2 => {
            let (p, s) = path(input);
            let want = model.locate(&p).and_then(|l| match l.ino {
                None => Err(Errno::Noent),
                Some(ino) if !model.is_dir(ino) => Err(Errno::Notdir),
                Some(ino) if !model.dir(ino).is_empty() => Err(Errno::Notempty),
                Some(_) => Ok(l),
            });
            let got = fs.remove_dir(root, &s);
            match (want, got) {
                (Ok(l), Ok(())) => {
                    model.dir_mut(l.parent).remove(&l.name);
                }
                (w, g) => assert_eq!(w.err(), g.err(), "remove_dir {s}"),
            }
        }
        3 => {
            let (p, s) = path(input);
            let want = model.locate(&p).and_then(|l| match l.ino {
                None => Err(Errno::Noent),
                Some(ino) if model.is_dir(ino) => Err(Errno::Isdir),
                Some(_) => Ok(l),
            });
            let got = fs.unlink_file(root, &s);
            match (want, got) {
                (Ok(l), Ok(())) => {
                    model.dir_mut(l.parent).remove(&l.name);
                }
                (w, g) => assert_eq!(w.err(), g.err(), "unlink_file {s}"),
            }
        }
        4 => {
            let (p1, s1) = path(input);
            let (p2, s2) = path(input);
            let want = rename_model(model, &p1, &p2);
            let got = fs.rename(root, &s1, root, &s2);
            match (want, got) {
                (Ok(Some((src, dst))), Ok(())) => {
                    let ino = model.dir_mut(src.parent).remove(&src.name).expect("source");
                    model.dir_mut(dst.parent).insert(dst.name, ino);
                }
                (Ok(None), Ok(())) => {}
                (w, g) => assert_eq!(w.err(), g.err(), "rename {s1} -> {s2}"),
            }
        }
        5 => {
            let (p1, s1) = path(input);
            let (p2, s2) = path(input);
            let want = model.locate(&p1).and_then(|src| {
                let ino = src.ino.ok_or(Errno::Noent)?;
                let dst = model.locate(&p2)?;
                if dst.ino.is_some() {
                    return Err(Errno::Exist);
                }
                if model.is_dir(ino) {
                    return Err(Errno::Perm);
                }
                Ok((ino, dst))
            });
            let got = fs.link(root, &s1, false, root, &s2);
            match (want, got) {
                (Ok((ino, dst)), Ok(())) => {
                    model.dir_mut(dst.parent).insert(dst.name, ino);
                }
                (w, g) => assert_eq!(w.err(), g.err(), "link {s1} -> {s2}"),
            }
        }
        6 | 7 => {
            let Some(&h) = handles.get(usize::from(input.u8()) % handles.len().max(1)) else {
                return;
            };
            let offset = u64::from(input.u16());
            let data = input.bytes(64).to_vec();
            let want = model.file_mut(h).map(|f| {
                if !data.is_empty() {
                    let end = offset as usize + data.len();
                    if f.len() < end {
                        f.resize(end, 0);
                    }
                    f[offset as usize..end].copy_from_slice(&data);
                }
                data.len()
            });
            assert_eq!(
                want,
                fs.write_at(h, offset, &data),
                "write_at {h} @{offset}"
            );
        }
        8 => {
            let Some(&h) = handles.get(usize::from(input.u8()) % handles.len().max(1)) else {
                return;
            };
            let offset = u64::from(input.u16());
            let len = usize::from(input.u8());
            let want = model.file_mut(h).map(|f| {
                let start = (offset as usize).min(f.len());
                let end = (start + len).min(f.len());
                f[start..end].to_vec()
            });
            let mut buf = vec![0u8; len];
            let got = fs.read_at(h, offset, &mut buf).map(|n| buf[..n].to_vec());
            assert_eq!(want, got, "read_at {h} @{offset} len {len}");
        }
        9 => {
            let Some(&h) = handles.get(usize::from(input.u8()) % handles.len().max(1)) else {
                return;
            };
            let size = u64::from(input.u16());
            let want = model.file_mut(h).map(|f| f.resize(size as usize, 0));
            assert_eq!(want, fs.set_size(h, size), "set_size {h} {size}");
            let got = fs.stat(h).map(|st| (st.size, st.nlink));
            assert_eq!(got, Ok((size, model.nlink(h))), "stat of handle {h}");
        }
        10 => {
            if handles.is_empty() {
                return;
            }
            let i = usize::from(input.u8()) % handles.len();
            let h = handles.swap_remove(i);
            fs.release(h).expect("release of a held handle");
        }
        _ => {
            let (p, s) = path(input);
            let want = model.locate(&p).and_then(|l| l.ino.ok_or(Errno::Noent));
            let got = fs.lookup(root, &s, false);
            assert_eq!(want, got, "lookup {s}");
            if let Ok(ino) = got {
                let st = fs.stat_at(root, &s, false).expect("stat of a found path");
                assert_eq!(st.ino, ino);
                if model.is_dir(ino) {
                    assert_eq!(st.filetype, Filetype::Directory);
                    let mut listed: Vec<(String, Ino)> = fs
                        .readdir(ino, 0)
                        .expect("readdir of a directory")
                        .filter(|e| e.name != "." && e.name != "..")
                        .map(|e| (e.name.to_string(), e.ino))
                        .collect();
                    listed.sort();
                    let want: Vec<(String, Ino)> = model
                        .dir(ino)
                        .iter()
                        .map(|(n, &i)| (n.clone(), i))
                        .collect();
                    assert_eq!(listed, want, "readdir {s}");
                } else {
                    assert_eq!(st.filetype, Filetype::RegularFile);
                    assert_eq!(st.nlink, model.nlink(ino), "nlink of {s}");
                }
            }
        }
    }
}

/// The rename rules (POSIX `rename`, Linux check order). `Ok(None)`: both names are the
/// same inode, nothing happens.
fn rename_model(model: &Model, p1: &[&str], p2: &[&str]) -> Result<Option<(Loc, Loc)>, Errno> {
    let src = model.locate(p1)?;
    let dst = model.locate(p2)?;
    let ino = src.ino.ok_or(Errno::Noent)?;
    let src_is_dir = model.is_dir(ino);
    if src_is_dir && model.is_ancestor_or_self(ino, dst.parent) {
        return Err(Errno::Inval);
    }
    if let Some(victim) = dst.ino
        && model.is_dir(victim)
        && model.is_ancestor_or_self(victim, src.parent)
    {
        return Err(Errno::Notempty);
    }
    if dst.ino == Some(ino) {
        return Ok(None);
    }
    if let Some(victim) = dst.ino {
        match (src_is_dir, model.is_dir(victim)) {
            (true, true) if !model.dir(victim).is_empty() => return Err(Errno::Notempty),
            (true, false) => return Err(Errno::Notdir),
            (false, true) => return Err(Errno::Isdir),
            _ => {}
        }
    }
    Ok(Some((src, dst)))
}

fn compare_trees(fs: &Ramfs, model: &Model) {
    let mut want = Vec::new();
    model.walk(model.root, "", &mut want);
    want.sort();
    let mut got: Vec<(String, Ino, Option<u64>)> = fs
        .walk(fs.root())
        .expect("walk of the root")
        .into_iter()
        .map(|e| {
            let size = match e.kind {
                WalkKind::Directory => None,
                WalkKind::File { size } => Some(size),
                WalkKind::Symlink { target } => panic!("unexpected symlink to {target}"),
            };
            (e.path, e.ino, size)
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "tree differs from the model");
    for (path, ino, size) in &got {
        if size.is_some() {
            let data = fs.read_to_vec(*ino).expect("read of a listed file");
            match model.nodes.get(ino) {
                Some(Node::File(f)) => assert_eq!(&data, f, "contents of {path}"),
                _ => panic!("model: {path} is not a file"),
            }
        }
    }
}
