//! elastic-ramfs: a hierarchical in-memory filesystem with WASI preview1 semantics.
//!
//! The embedder (wasi-impl) maps WASI calls (`path_open`, `fd_read`, `path_rename`, ... of
//! `wasi_snapshot_preview1`) onto the inode-level API below; errors are [`Errno`] values with the
//! exact witx numbering, so they can be returned to the guest unchanged.
//!
//! # API summary
//!
//! * Construction: [`Ramfs::new`]`(`[`Config`]`, Box<dyn `[`Clock`]`>)`; [`Ramfs::root`] is the
//!   root directory inode. Inodes are plain [`Ino`] numbers (never reused).
//! * Path operations (relative to a directory inode `base`, which the path can never escape):
//!   [`Ramfs::lookup`], [`Ramfs::stat_at`], [`Ramfs::open`] (with [`OpenOptions`]: create, exclusive,
//!   truncate, directory, write, follow), [`Ramfs::create_dir`], [`Ramfs::remove_dir`],
//!   [`Ramfs::unlink_file`], [`Ramfs::rename`], [`Ramfs::link`], [`Ramfs::symlink`],
//!   [`Ramfs::readlink`], [`Ramfs::set_times_at`]. All resolution is iterative (bounded stack).
//! * Inode operations: [`Ramfs::stat`], [`Ramfs::filetype`], [`Ramfs::read_at`],
//!   [`Ramfs::write_at`], [`Ramfs::set_size`], [`Ramfs::allocate`], [`Ramfs::set_times`],
//!   [`Ramfs::readdir`] (an iterator of [`DirEntry`] with stable cookies).
//! * Open-file pinning: [`Ramfs::retain`] / [`Ramfs::release`]. An inode that is unlinked while
//!   pinned stays readable and writable until its last pin is released. `open` does NOT pin.
//! * Quotas: [`Config::max_bytes`] (file data + symlink targets + [`DIRENT_COST`] + name length per
//!   directory entry) gives [`Errno::Nospc`]; [`Config::max_inodes`] gives [`Errno::Dquot`].
//!   [`Ramfs::usage`] reports the current totals.
//! * Read-only trees: [`Ramfs::set_readonly`] / [`Ramfs::set_readonly_tree`]; any change to a
//!   read-only inode (data, times, or, for directories, entries) fails with [`Errno::Rofs`].
//! * Import/export: [`Ramfs::create_dir_all`], [`Ramfs::write_file`],
//!   [`Ramfs::symlink_verbatim`] (accepts the absolute targets host trees may hold),
//!   [`Ramfs::walk`], [`Ramfs::read_to_vec`].
//! * Testing aid: [`Ramfs::check_invariants`] recounts all accounting and links.
//!
//! # Semantics choices
//!
//! * Escapes (absolute paths, `..` above `base`, symlinks whose resolution leaves `base`, creating
//!   absolute symlinks) fail with [`ESCAPE_ERRNO`] = [`Errno::Perm`]: current wasmtime maps cap-std's
//!   escape error (`PermissionDenied`) to `perm`, as the wasi-filesystem path-resolution spec says
//!   (`not-permitted`); wasi-testsuite accepts `perm` or `notcapable`.
//! * Symlinks are followed in intermediate components always and in the final component when the
//!   caller asks (or when the path ends in `/`, for lookups). More than [`SYMLOOP_MAX`] links in one
//!   resolution gives [`Errno::Loop`]. A symlink is resolved relative to the directory holding it.
//! * Errors match wasmtime 50 (cap-std on Linux), checked by `tests/conformance.rs` against
//!   results recorded from wasmtime, and Linux elsewhere (checked by `tests/differential.rs`):
//!   `unlink` of a directory is `Isdir`; a trailing `/` in `unlink`/`remove_dir` means `x/.`
//!   (so `Isdir` / `Inval` for directories); `rmdir` of `.` or `..` is `Inval`; `open(O_CREAT)`
//!   of `"new/"` or of an existing directory is `Isdir`; `directory` with `create`, `exclusive`
//!   or `truncate` is `Inval`; `open` of a symlink without follow is `Loop`; `link`/`symlink`
//!   to `"new/"` is `Noent`; `link` of a directory is `Perm`; renaming `.`/`..` is `Busy`; a
//!   directory renamed below itself is `Inval`, onto an ancestor of the source `Notempty`.
//! * Reads do not update `atim` (like `noatime`).
//! * Names are at most [`NAME_MAX`] bytes, paths and symlink targets shorter than [`PATH_MAX`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
// Guest-controlled paths and offsets reach this crate: no panicking shortcuts outside tests
// (docs/robustness.md, "Panic-freedom and fallible allocation").
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

extern crate alloc;

mod file;
#[cfg(test)]
mod tests;
mod types;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::collections::btree_map;
use alloc::string::String;
use alloc::vec::Vec;

use file::{Budget, FileData};
pub use file::{CHUNK_SIZE, Headroom, MAX_FILE_SIZE, NODE_HEADROOM, unlimited_headroom};
pub use types::{Errno, Filestat, Filetype, SetTime};

/// An inode number. Numbers start at 1 (the root) and are never reused.
pub type Ino = u64;

/// Longest accepted name (bytes) of one path component.
pub const NAME_MAX: usize = 255;
/// Paths and symlink targets must be shorter than this many bytes.
pub const PATH_MAX: usize = 4096;
/// Most symlinks followed in one path resolution before [`Errno::Loop`].
pub const SYMLOOP_MAX: u32 = 40;
/// Error for a path that would leave its base directory (see the crate docs).
pub const ESCAPE_ERRNO: Errno = Errno::Perm;
/// Bytes charged to the byte quota per directory entry, on top of its name length.
pub const DIRENT_COST: u64 = 64;

/// Wall-clock source for timestamps, supplied by the embedder.
pub trait Clock {
    /// Current time in nanoseconds since the Unix epoch.
    fn now_ns(&self) -> u64;
}

impl<F: Fn() -> u64> Clock for F {
    fn now_ns(&self) -> u64 {
        self()
    }
}

/// Construction parameters for a [`Ramfs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Device number reported in every [`Filestat::dev`].
    pub dev: u64,
    /// Byte quota (see the crate docs for what is charged).
    pub max_bytes: u64,
    /// Maximum number of live inodes, the root included.
    pub max_inodes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dev: 0,
            max_bytes: u64::MAX,
            max_inodes: u64::MAX,
        }
    }
}

/// Current quota consumption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Bytes charged against [`Config::max_bytes`].
    pub bytes: u64,
    /// Live inodes (including unlinked ones that are still pinned).
    pub inodes: u64,
}

/// Flags for [`Ramfs::open`] (witx `oflags` plus the `symlink_follow` lookup flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Follow a symlink in the final component (`lookupflags::symlink_follow`).
    pub follow: bool,
    /// Create a regular file if it does not exist (`oflags::creat`).
    pub create: bool,
    /// Fail with `Exist` if it exists (`oflags::excl`, with `create`).
    pub exclusive: bool,
    /// Truncate a regular file to size 0 (`oflags::trunc`).
    pub truncate: bool,
    /// Fail with `Notdir` unless the result is a directory (`oflags::directory`).
    pub directory: bool,
    /// The caller intends to write: directories give `Isdir`, read-only files `Rofs`.
    pub write: bool,
}

/// One directory entry yielded by [`Ramfs::readdir`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// Cookie that continues the listing after this entry (witx `dirent::d_next`).
    pub next: u64,
    /// Inode of the entry.
    pub ino: Ino,
    /// Type of the entry.
    pub filetype: Filetype,
    /// Entry name (`.` and `..` included).
    pub name: &'a str,
}

/// What a [`WalkEntry`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalkKind {
    /// A directory (listed before its contents).
    Directory,
    /// A regular file of this size; read it with [`Ramfs::read_to_vec`] or [`Ramfs::read_at`].
    File {
        /// File size in bytes.
        size: u64,
    },
    /// A symbolic link with this target.
    Symlink {
        /// The link target, verbatim.
        target: String,
    },
}

/// One entry found by [`Ramfs::walk`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkEntry {
    /// Path relative to the walked directory, components joined by `/`.
    pub path: String,
    /// Inode (hard links show up once per name, with the same inode).
    pub ino: Ino,
    /// Kind and payload.
    pub kind: WalkKind,
}

#[derive(Debug)]
struct Entry {
    name: String,
    ino: Ino,
    filetype: Filetype,
}

#[derive(Debug)]
struct Dir {
    /// Parent directory (the root is its own parent).
    parent: Ino,
    /// Name -> insertion sequence number (key into `by_seq`).
    by_name: BTreeMap<String, u64>,
    /// Insertion sequence number -> entry; readdir cookies are derived from these.
    by_seq: BTreeMap<u64, Entry>,
    /// Next sequence number; starts at 2 (0 and 1 are `.` and `..`).
    next_seq: u64,
    /// Set once removed with `remove_dir` (it may live on while pinned).
    removed: bool,
}

impl Dir {
    fn new(parent: Ino) -> Dir {
        Dir {
            parent,
            by_name: BTreeMap::new(),
            by_seq: BTreeMap::new(),
            next_seq: FIRST_SEQ,
            removed: false,
        }
    }

    fn get(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).and_then(|s| self.by_seq.get(s))
    }
}

/// Sequence number of the first real entry; 0 is `.` and 1 is `..`.
const FIRST_SEQ: u64 = 2;

#[derive(Debug)]
enum Node {
    File(FileData),
    Dir(Dir),
    Symlink(String),
}

impl Node {
    fn filetype(&self) -> Filetype {
        match self {
            Node::File(_) => Filetype::RegularFile,
            Node::Dir(_) => Filetype::Directory,
            Node::Symlink(_) => Filetype::SymbolicLink,
        }
    }
}

#[derive(Debug)]
struct Inode {
    node: Node,
    nlink: u64,
    pins: u64,
    readonly: bool,
    atim: u64,
    mtim: u64,
    ctim: u64,
}

/// The final component of a located path.
#[derive(Debug)]
enum Last {
    Dot,
    DotDot,
    Name(String),
}

/// Result of resolving a path down to its final component.
#[derive(Debug)]
struct Loc {
    /// Directory holding the final component.
    parent: Ino,
    /// The final component.
    last: Last,
    /// Inode it names, if it exists.
    ino: Option<Ino>,
    /// The path ended with `/`.
    trailing: bool,
}

/// When to follow a symlink named by the final component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Follow {
    Never,
    /// Only if the path ends with `/` (lookups without `symlink_follow`).
    Trailing,
    Always,
    /// Like `Always`, for `open` with `create`: a final step that ends with `/` (in the path or
    /// in a symlink body) is not looked up at all, as Linux answers `Isdir` without looking.
    Create,
}

/// Position during resolution: a directory and its depth below the base.
#[derive(Clone, Copy, Debug)]
struct Pos {
    dir: Ino,
    depth: usize,
}

fn try_string(s: &str) -> Result<String, Errno> {
    let mut out = String::new();
    out.try_reserve_exact(s.len()).map_err(|_| Errno::Nospc)?;
    out.push_str(s);
    Ok(out)
}

fn check_name(name: &str) -> Result<(), Errno> {
    if name.len() > NAME_MAX {
        Err(Errno::Nametoolong)
    } else if name.contains('\0') {
        // A host path cannot hold NUL; cap-std reports such names as invalid input.
        Err(Errno::Inval)
    } else {
        Ok(())
    }
}

fn dirent_cost(name: &str) -> u64 {
    DIRENT_COST + name.len() as u64
}

/// An in-memory filesystem; see the crate docs.
pub struct Ramfs {
    inodes: BTreeMap<Ino, Inode>,
    next_ino: Ino,
    root: Ino,
    clock: Box<dyn Clock + Send + Sync>,
    budget: Budget,
    max_inodes: u64,
    dev: u64,
}

impl core::fmt::Debug for Ramfs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ramfs")
            .field("inodes", &self.inodes.len())
            .field("bytes", &self.budget.used)
            .field("dev", &self.dev)
            .finish_non_exhaustive()
    }
}

impl Ramfs {
    /// Creates a filesystem holding only an empty, writable root directory.
    pub fn new(config: Config, clock: Box<dyn Clock + Send + Sync>) -> Ramfs {
        let now = clock.now_ns();
        let root: Ino = 1;
        let mut inodes = BTreeMap::new();
        inodes.insert(
            root,
            Inode {
                node: Node::Dir(Dir::new(root)),
                nlink: 2,
                pins: 0,
                readonly: false,
                atim: now,
                mtim: now,
                ctim: now,
            },
        );
        Ramfs {
            inodes,
            next_ino: root + 1,
            root,
            clock,
            budget: Budget {
                used: 0,
                limit: config.max_bytes,
                headroom: unlimited_headroom,
            },
            max_inodes: config.max_inodes,
            dev: config.dev,
        }
    }

    /// Sets the embedder's heap gauge. Before every allocation a guest can repeat (file data,
    /// a new inode, directory entry or chunk) the filesystem asks `headroom(bytes)` and
    /// refuses with `Nospc` on `false`, so a kernel can keep a reserve for its own
    /// infallible allocations however large the quotas are. Default: [`unlimited_headroom`].
    pub fn set_headroom(&mut self, headroom: Headroom) {
        self.budget.headroom = headroom;
    }

    /// The root directory inode.
    pub fn root(&self) -> Ino {
        self.root
    }

    /// Current quota consumption.
    pub fn usage(&self) -> Usage {
        Usage {
            bytes: self.budget.used,
            inodes: self.inodes.len() as u64,
        }
    }

    /// Current time from the embedder's clock.
    fn now(&self) -> u64 {
        self.clock.now_ns()
    }

    // ----- inode access helpers -------------------------------------------------------------

    fn inode(&self, ino: Ino) -> Result<&Inode, Errno> {
        self.inodes.get(&ino).ok_or(Errno::Badf)
    }

    fn inode_mut(&mut self, ino: Ino) -> Result<&mut Inode, Errno> {
        self.inodes.get_mut(&ino).ok_or(Errno::Badf)
    }

    fn dir(&self, ino: Ino) -> Result<&Dir, Errno> {
        match &self.inode(ino)?.node {
            Node::Dir(d) => Ok(d),
            _ => Err(Errno::Notdir),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> Result<&mut Dir, Errno> {
        match &mut self.inode_mut(ino)?.node {
            Node::Dir(d) => Ok(d),
            _ => Err(Errno::Notdir),
        }
    }

    fn is_dir(&self, ino: Ino) -> bool {
        matches!(self.inodes.get(&ino).map(|i| &i.node), Some(Node::Dir(_)))
    }

    /// Whether `ino` still exists (linked, or unlinked but pinned).
    pub fn exists(&self, ino: Ino) -> bool {
        self.inodes.contains_key(&ino)
    }

    /// The type of inode `ino`.
    pub fn filetype(&self, ino: Ino) -> Result<Filetype, Errno> {
        Ok(self.inode(ino)?.node.filetype())
    }

    /// Attributes of inode `ino`.
    pub fn stat(&self, ino: Ino) -> Result<Filestat, Errno> {
        let i = self.inode(ino)?;
        let size = match &i.node {
            Node::File(f) => f.size(),
            Node::Dir(d) => d.by_seq.len() as u64,
            Node::Symlink(t) => t.len() as u64,
        };
        Ok(Filestat {
            dev: self.dev,
            ino,
            filetype: i.node.filetype(),
            nlink: i.nlink,
            size,
            atim: i.atim,
            mtim: i.mtim,
            ctim: i.ctim,
        })
    }

    // ----- pinning --------------------------------------------------------------------------

    /// Pins `ino` (an open descriptor refers to it) so it survives being unlinked.
    pub fn retain(&mut self, ino: Ino) -> Result<(), Errno> {
        let i = self.inode_mut(ino)?;
        i.pins = i.pins.checked_add(1).ok_or(Errno::Nfile)?;
        Ok(())
    }

    /// Drops one pin taken by [`Ramfs::retain`]; frees the inode if it is unlinked and unpinned.
    pub fn release(&mut self, ino: Ino) -> Result<(), Errno> {
        let i = self.inode_mut(ino)?;
        if i.pins == 0 {
            return Err(Errno::Inval);
        }
        i.pins -= 1;
        self.maybe_free(ino);
        Ok(())
    }

    /// Frees `ino` if nothing links or pins it any more, refunding its quota.
    fn maybe_free(&mut self, ino: Ino) {
        let dead = matches!(self.inodes.get(&ino), Some(i) if i.nlink == 0 && i.pins == 0);
        if !dead || ino == self.root {
            return;
        }
        if let Some(mut i) = self.inodes.remove(&ino) {
            match &mut i.node {
                Node::File(f) => {
                    f.clear(&mut self.budget);
                }
                Node::Symlink(t) => self.budget.refund(t.len() as u64),
                Node::Dir(d) => {
                    // Only empty directories are removed, but be thorough with the accounting.
                    let names: u64 = d.by_seq.values().map(|e| dirent_cost(&e.name)).sum();
                    self.budget.refund(names);
                }
            }
        }
    }

    // ----- read-only marking ----------------------------------------------------------------

    /// Marks (or unmarks) one inode read-only.
    pub fn set_readonly(&mut self, ino: Ino, readonly: bool) -> Result<(), Errno> {
        self.inode_mut(ino)?.readonly = readonly;
        Ok(())
    }

    /// Marks (or unmarks) `ino` and everything below it read-only (symlinks are not followed).
    pub fn set_readonly_tree(&mut self, ino: Ino, readonly: bool) -> Result<(), Errno> {
        let mut todo: Vec<Ino> = Vec::new();
        todo.try_reserve(1).map_err(|_| Errno::Nospc)?;
        todo.push(ino);
        while let Some(cur) = todo.pop() {
            let i = self.inode_mut(cur)?;
            i.readonly = readonly;
            if let Node::Dir(d) = &i.node {
                todo.try_reserve(d.by_seq.len()).map_err(|_| Errno::Nospc)?;
                todo.extend(d.by_seq.values().map(|e| e.ino));
            }
        }
        Ok(())
    }

    /// Whether inode `ino` is read-only.
    pub fn is_readonly(&self, ino: Ino) -> Result<bool, Errno> {
        Ok(self.inode(ino)?.readonly)
    }

    fn writable(&self, ino: Ino) -> Result<(), Errno> {
        if self.inode(ino)?.readonly {
            Err(Errno::Rofs)
        } else {
            Ok(())
        }
    }

    // ----- path resolution ------------------------------------------------------------------

    /// Checks a path or symlink body before resolving it.
    fn check_path(path: &str) -> Result<(), Errno> {
        if path.is_empty() {
            Err(Errno::Noent)
        } else if path.len() >= PATH_MAX {
            Err(Errno::Nametoolong)
        } else if path.starts_with('/') {
            Err(ESCAPE_ERRNO)
        } else {
            Ok(())
        }
    }

    /// Resolves `path` from directory `base` down to its final component, iteratively (the
    /// stack use does not depend on the path or on symlinks: pending symlink bodies live in a
    /// heap vector of at most `SYMLOOP_MAX + 1` entries).
    ///
    /// Intermediate symlinks are always followed; a symlink as the final component is followed
    /// as `follow` says, and then its body's final component always. Returns the position of
    /// the directory holding the final component, the inode it names (if any), the component
    /// itself (`.`, `..` or a name) and whether the final step ended with `/` (in the path or
    /// in a symlink body followed as the final component).
    fn resolve<'a>(
        &'a self,
        base: Ino,
        path: &'a str,
        mut follow: Follow,
    ) -> Result<(Pos, Option<Ino>, &'a str, bool), Errno> {
        Self::check_path(path)?;
        let mut pos = Pos {
            dir: base,
            depth: 0,
        };
        let mut links = 0u32;
        let mut trailing = false;
        // Unconsumed remainders of the path and of symlink bodies being expanded, innermost
        // last; every entry still holds at least one component.
        let mut pending: Vec<&'a str> = Vec::new();
        pending
            .try_reserve(SYMLOOP_MAX as usize + 1)
            .map_err(|_| Errno::Nospc)?;
        pending.push(path);
        loop {
            let Some(top) = pending.pop() else {
                // Unreachable: the loop returns at the final component.
                return Err(Errno::Noent);
            };
            let top = top.trim_start_matches('/');
            let (comp, rest) = top.split_once('/').unwrap_or((top, ""));
            let last_here = rest.trim_start_matches('/').is_empty();
            if !last_here {
                pending.push(rest);
            }
            let is_final = last_here && pending.is_empty();
            if is_final && top.len() > comp.len() {
                trailing = true;
            }
            let dir = self.dir(pos.dir)?;
            match comp {
                "." => {
                    if is_final {
                        return Ok((pos, Some(pos.dir), comp, trailing));
                    }
                }
                ".." => {
                    if pos.depth == 0 {
                        return Err(ESCAPE_ERRNO);
                    }
                    if dir.removed {
                        return Err(Errno::Noent);
                    }
                    if is_final {
                        return Ok((pos, Some(dir.parent), comp, trailing));
                    }
                    pos = Pos {
                        dir: dir.parent,
                        depth: pos.depth - 1,
                    };
                }
                name => {
                    check_name(name)?;
                    if is_final && follow == Follow::Create && trailing {
                        return Ok((pos, None, comp, trailing));
                    }
                    let entry = dir.get(name);
                    let follow_this = !is_final
                        || match follow {
                            Follow::Never => false,
                            Follow::Trailing => trailing,
                            Follow::Always | Follow::Create => true,
                        };
                    match entry {
                        None if is_final => return Ok((pos, None, comp, trailing)),
                        None => return Err(Errno::Noent),
                        Some(e) if e.filetype == Filetype::SymbolicLink && follow_this => {
                            links += 1;
                            if links > SYMLOOP_MAX {
                                return Err(Errno::Loop);
                            }
                            let Node::Symlink(body) = &self.inode(e.ino)?.node else {
                                return Err(Errno::Io);
                            };
                            Self::check_path(body)?;
                            if is_final && follow != Follow::Create {
                                // The body's own final symlink is followed to its end.
                                follow = Follow::Always;
                            }
                            pending.push(body);
                        }
                        Some(e) if is_final => return Ok((pos, Some(e.ino), comp, trailing)),
                        Some(e) if e.filetype == Filetype::Directory => {
                            pos = Pos {
                                dir: e.ino,
                                depth: pos.depth + 1,
                            };
                        }
                        Some(_) => return Err(Errno::Notdir),
                    }
                }
            }
        }
    }

    /// Resolves `path` relative to `base` down to its final component.
    fn locate(&self, base: Ino, path: &str, follow: Follow) -> Result<Loc, Errno> {
        self.dir(base)?;
        let (p, ino, last, trailing) = self.resolve(base, path, follow)?;
        let last = match last {
            "." => Last::Dot,
            ".." => Last::DotDot,
            name => Last::Name(try_string(name)?),
        };
        Ok(Loc {
            parent: p.dir,
            last,
            ino,
            trailing,
        })
    }
}

impl Ramfs {
    // ----- entry creation / removal primitives ----------------------------------------------

    /// Checks that a new entry may be added to directory `parent`.
    fn check_insert(&self, parent: Ino) -> Result<(), Errno> {
        let i = self.inode(parent)?;
        match &i.node {
            Node::Dir(d) if d.removed => Err(Errno::Noent),
            Node::Dir(_) if i.readonly => Err(Errno::Rofs),
            Node::Dir(_) => Ok(()),
            _ => Err(Errno::Notdir),
        }
    }

    /// Creates a new inode holding `node` and links it as `name` in `parent`.
    /// `extra` bytes (a symlink target) are charged along with the entry.
    fn create_in(&mut self, parent: Ino, name: String, node: Node) -> Result<Ino, Errno> {
        self.check_insert(parent)?;
        if self.inodes.len() as u64 >= self.max_inodes {
            return Err(Errno::Dquot);
        }
        self.budget.room(NODE_HEADROOM)?;
        let extra = match &node {
            Node::Symlink(t) => t.len() as u64,
            _ => 0,
        };
        let cost = dirent_cost(&name).checked_add(extra).ok_or(Errno::Nospc)?;
        self.budget.charge(cost)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let now = self.now();
        let is_dir = matches!(node, Node::Dir(_));
        let filetype = node.filetype();
        self.inodes.insert(
            ino,
            Inode {
                node,
                nlink: if is_dir { 2 } else { 1 },
                pins: 0,
                readonly: false,
                atim: now,
                mtim: now,
                ctim: now,
            },
        );
        self.insert_entry(parent, name, ino, filetype, now);
        if is_dir && let Ok(p) = self.inode_mut(parent) {
            p.nlink += 1;
        }
        Ok(ino)
    }

    /// Adds an entry (already charged) to `parent` and bumps the directory times.
    fn insert_entry(&mut self, parent: Ino, name: String, ino: Ino, filetype: Filetype, now: u64) {
        if let Some(p) = self.inodes.get_mut(&parent) {
            if let Node::Dir(d) = &mut p.node {
                let seq = d.next_seq;
                d.next_seq += 1;
                d.by_seq.insert(
                    seq,
                    Entry {
                        name: name.clone(),
                        ino,
                        filetype,
                    },
                );
                d.by_name.insert(name, seq);
            }
            p.mtim = now;
            p.ctim = now;
        }
    }

    /// Removes entry `name` from `parent` (refunding it) and returns its inode.
    fn remove_entry(&mut self, parent: Ino, name: &str, now: u64) -> Option<Ino> {
        let p = self.inodes.get_mut(&parent)?;
        let Node::Dir(d) = &mut p.node else {
            return None;
        };
        let seq = d.by_name.remove(name)?;
        let entry = d.by_seq.remove(&seq)?;
        p.mtim = now;
        p.ctim = now;
        self.budget.refund(dirent_cost(name));
        Some(entry.ino)
    }

    /// Drops one link to `ino` after its entry in `parent` was removed.
    fn drop_link(&mut self, parent: Ino, ino: Ino, now: u64) {
        let mut was_dir = false;
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.ctim = now;
            match &mut i.node {
                Node::Dir(d) => {
                    d.removed = true;
                    i.nlink = 0;
                    was_dir = true;
                }
                _ => i.nlink = i.nlink.saturating_sub(1),
            }
        }
        if was_dir && let Some(p) = self.inodes.get_mut(&parent) {
            p.nlink = p.nlink.saturating_sub(1);
        }
        self.maybe_free(ino);
    }

    fn name_of(last: &Last) -> Option<&str> {
        match last {
            Last::Name(n) => Some(n),
            _ => None,
        }
    }

    // ----- path operations ------------------------------------------------------------------

    /// Resolves `path` relative to directory `base` to an inode (`follow`: follow a symlink in
    /// the final component; a trailing `/` always follows and requires a directory).
    pub fn lookup(&self, base: Ino, path: &str, follow: bool) -> Result<Ino, Errno> {
        let loc = self.locate(
            base,
            path,
            if follow {
                Follow::Always
            } else {
                Follow::Trailing
            },
        )?;
        let ino = loc.ino.ok_or(Errno::Noent)?;
        if loc.trailing && !self.is_dir(ino) {
            return Err(Errno::Notdir);
        }
        Ok(ino)
    }

    /// [`Ramfs::stat`] of the inode `path` names (witx `path_filestat_get`).
    pub fn stat_at(&self, base: Ino, path: &str, follow: bool) -> Result<Filestat, Errno> {
        self.stat(self.lookup(base, path, follow)?)
    }

    /// Opens (and optionally creates or truncates) `path` relative to `base` (witx `path_open`).
    /// Returns the inode; it is not pinned (call [`Ramfs::retain`] for a descriptor).
    pub fn open(&mut self, base: Ino, path: &str, opts: OpenOptions) -> Result<Ino, Errno> {
        if opts.directory && (opts.create || opts.exclusive || opts.truncate) {
            // As wasmtime's `path_open`: `directory` excludes `creat`, `excl` and `trunc`.
            return Err(Errno::Inval);
        }
        let follow = if opts.create && opts.exclusive {
            // POSIX: O_CREAT|O_EXCL never follows a final symlink (it is an existing name).
            Follow::Never
        } else if opts.follow && opts.create {
            Follow::Create
        } else if opts.follow {
            Follow::Always
        } else {
            Follow::Trailing
        };
        if opts.create && path.ends_with('/') {
            // Linux refuses O_CREAT with a trailing slash once the parent resolves, without
            // looking at the final component.
            self.locate(base, path, Follow::Never)?;
            return Err(Errno::Isdir);
        }
        let loc = self.locate(base, path, follow)?;
        if opts.create && loc.trailing {
            // A symlink body ending with `/` names a directory, which O_CREAT cannot make.
            return Err(Errno::Isdir);
        }
        match loc.ino {
            Some(ino) => {
                if opts.create && opts.exclusive {
                    return Err(Errno::Exist);
                }
                match self.filetype(ino)? {
                    // O_NOFOLLOW on a symlink (wasmtime: `Loop`, with or without `directory`).
                    Filetype::SymbolicLink => return Err(Errno::Loop),
                    Filetype::Directory => {
                        if opts.write || opts.truncate || opts.create {
                            return Err(Errno::Isdir);
                        }
                    }
                    _ => {
                        if opts.directory || loc.trailing {
                            return Err(Errno::Notdir);
                        }
                        if opts.write || opts.truncate {
                            self.writable(ino)?;
                        }
                        if opts.truncate {
                            self.set_size(ino, 0)?;
                        }
                    }
                }
                Ok(ino)
            }
            None => {
                if !opts.create {
                    return Err(Errno::Noent);
                }
                let Last::Name(name) = loc.last else {
                    return Err(Errno::Exist);
                };
                if loc.trailing {
                    return Err(Errno::Isdir);
                }
                self.create_in(loc.parent, name, Node::File(FileData::default()))
            }
        }
    }

    /// Creates directory `path` (witx `path_create_directory`).
    pub fn create_dir(&mut self, base: Ino, path: &str) -> Result<Ino, Errno> {
        let loc = self.locate(base, path, Follow::Never)?;
        if loc.ino.is_some() {
            return Err(Errno::Exist);
        }
        let Last::Name(name) = loc.last else {
            return Err(Errno::Exist);
        };
        let parent = loc.parent;
        self.create_in(parent, name, Node::Dir(Dir::new(parent)))
    }

    /// Removes the empty directory `path` (witx `path_remove_directory`).
    pub fn remove_dir(&mut self, base: Ino, path: &str) -> Result<(), Errno> {
        if path.ends_with('/') {
            // wasmtime (cap-std) turns `x/` into `x/.`: the directory must exist, then
            // removing `.` is `Inval`.
            self.lookup(base, path, true)?;
            return Err(Errno::Inval);
        }
        let loc = self.locate(base, path, Follow::Never)?;
        let name = match &loc.last {
            Last::Dot | Last::DotDot => return Err(Errno::Inval),
            Last::Name(n) => n.as_str(),
        };
        let ino = loc.ino.ok_or(Errno::Noent)?;
        let d = self.dir(ino)?;
        if !d.by_seq.is_empty() {
            return Err(Errno::Notempty);
        }
        self.writable(loc.parent)?;
        let now = self.now();
        self.remove_entry(loc.parent, name, now);
        self.drop_link(loc.parent, ino, now);
        Ok(())
    }

    /// Removes the non-directory `path` (witx `path_unlink_file`).
    pub fn unlink_file(&mut self, base: Ino, path: &str) -> Result<(), Errno> {
        if path.ends_with('/') {
            // As cap-std: `x/` is `x/.`, so a directory (or a symlink to one) is `Isdir`,
            // anything else `Notdir`.
            self.lookup(base, path, true)?;
            return Err(Errno::Isdir);
        }
        let loc = self.locate(base, path, Follow::Never)?;
        let Some(name) = Self::name_of(&loc.last) else {
            return Err(Errno::Isdir);
        };
        let ino = loc.ino.ok_or(Errno::Noent)?;
        if self.is_dir(ino) {
            return Err(Errno::Isdir);
        }
        self.writable(loc.parent)?;
        let now = self.now();
        self.remove_entry(loc.parent, name, now);
        self.drop_link(loc.parent, ino, now);
        Ok(())
    }

    /// Renames `old_path` (relative to `old_base`) to `new_path` (relative to `new_base`),
    /// replacing a compatible target as POSIX `rename` does (witx `path_rename`).
    pub fn rename(
        &mut self,
        old_base: Ino,
        old_path: &str,
        new_base: Ino,
        new_path: &str,
    ) -> Result<(), Errno> {
        let src = self.locate(old_base, old_path, Follow::Never)?;
        let dst = self.locate(new_base, new_path, Follow::Never)?;
        let (Last::Name(src_name), Last::Name(dst_name)) = (&src.last, &dst.last) else {
            return Err(Errno::Busy);
        };
        let ino = src.ino.ok_or(Errno::Noent)?;
        let src_is_dir = self.is_dir(ino);
        if !src_is_dir && (src.trailing || dst.trailing) {
            return Err(Errno::Notdir);
        }
        self.check_insert(dst.parent)?;
        self.writable(src.parent)?;
        // Linux order: moving a directory below itself is Inval, replacing an ancestor of the
        // source is Notempty; both come before the same-inode and type checks.
        if src_is_dir && self.is_ancestor_or_self(ino, dst.parent)? {
            return Err(Errno::Inval);
        }
        if let Some(victim) = dst.ino
            && self.is_dir(victim)
            && self.is_ancestor_or_self(victim, src.parent)?
        {
            return Err(Errno::Notempty);
        }
        if dst.ino == Some(ino) {
            // Both names refer to the same inode: POSIX says do nothing.
            return Ok(());
        }
        if src_is_dir && src.parent != dst.parent {
            // Moving a directory rewrites its `..`.
            self.writable(ino)?;
        }
        if let Some(victim) = dst.ino {
            match (src_is_dir, self.is_dir(victim)) {
                (true, true) => {
                    if !self.dir(victim)?.by_seq.is_empty() {
                        return Err(Errno::Notempty);
                    }
                }
                (true, false) => return Err(Errno::Notdir),
                (false, true) => return Err(Errno::Isdir),
                (false, false) => {}
            }
        }
        // Check the quota and allocate before changing anything, so a failure leaves no trace.
        // The entries removed below are refunded, so only the net growth must fit.
        let freed = dirent_cost(src_name) + dst.ino.map_or(0, |_| dirent_cost(dst_name));
        let new_cost = dirent_cost(dst_name);
        if self
            .budget
            .used
            .saturating_sub(freed)
            .saturating_add(new_cost)
            > self.budget.limit
        {
            return Err(Errno::Nospc);
        }
        self.budget.room(NODE_HEADROOM)?;
        let new_name = try_string(dst_name)?;
        let now = self.now();
        if let Some(victim) = dst.ino {
            self.remove_entry(dst.parent, dst_name, now);
            self.drop_link(dst.parent, victim, now);
        }
        self.remove_entry(src.parent, src_name, now);
        // Cannot fail: the net growth was checked above and the removals were refunded.
        self.budget.charge(new_cost)?;
        let filetype = self.filetype(ino)?;
        self.insert_entry(dst.parent, new_name, ino, filetype, now);
        if let Ok(i) = self.inode_mut(ino) {
            i.ctim = now;
        }
        if src_is_dir && src.parent != dst.parent {
            if let Ok(d) = self.dir_mut(ino) {
                d.parent = dst.parent;
            }
            if let Ok(p) = self.inode_mut(src.parent) {
                p.nlink = p.nlink.saturating_sub(1);
            }
            if let Ok(p) = self.inode_mut(dst.parent) {
                p.nlink += 1;
            }
        }
        Ok(())
    }

    /// Whether directory `anc` is `dir` or one of its ancestors.
    fn is_ancestor_or_self(&self, anc: Ino, dir: Ino) -> Result<bool, Errno> {
        let mut a = dir;
        loop {
            if a == anc {
                return Ok(true);
            }
            let d = self.dir(a)?;
            if d.parent == a || d.removed {
                return Ok(false);
            }
            a = d.parent;
        }
    }

    /// Creates hard link `new_path` to the non-directory `old_path` (witx `path_link`;
    /// `follow` follows a symlink in `old_path`'s final component).
    pub fn link(
        &mut self,
        old_base: Ino,
        old_path: &str,
        follow: bool,
        new_base: Ino,
        new_path: &str,
    ) -> Result<(), Errno> {
        let follow = if follow {
            Follow::Always
        } else {
            Follow::Trailing
        };
        // Same check order as Linux `linkat`: source lookup, target lookup, then the types.
        let src = self.locate(old_base, old_path, follow)?;
        let ino = src.ino.ok_or(Errno::Noent)?;
        if src.trailing && !self.is_dir(ino) {
            return Err(Errno::Notdir);
        }
        let dst = self.locate(new_base, new_path, Follow::Never)?;
        if dst.ino.is_some() {
            return Err(Errno::Exist);
        }
        let Last::Name(name) = dst.last else {
            return Err(Errno::Exist);
        };
        if dst.trailing {
            return Err(Errno::Noent);
        }
        if self.is_dir(ino) {
            return Err(Errno::Perm);
        }
        self.check_insert(dst.parent)?;
        self.writable(ino)?;
        if self.inode(ino)?.nlink == u64::MAX {
            return Err(Errno::Mlink);
        }
        self.budget.room(NODE_HEADROOM)?;
        self.budget.charge(dirent_cost(&name))?;
        let now = self.now();
        let filetype = self.filetype(ino)?;
        let i = self.inode_mut(ino)?;
        i.nlink = i.nlink.checked_add(1).ok_or(Errno::Mlink)?;
        i.ctim = now;
        self.insert_entry(dst.parent, name, ino, filetype, now);
        Ok(())
    }

    /// Creates symlink `path` with contents `target` (witx `path_symlink`). Absolute targets
    /// are refused with [`ESCAPE_ERRNO`]; an empty target gives `Noent`.
    pub fn symlink(&mut self, target: &str, base: Ino, path: &str) -> Result<Ino, Errno> {
        if target.starts_with('/') {
            return Err(ESCAPE_ERRNO);
        }
        self.symlink_verbatim(target, base, path)
    }

    /// Like [`Ramfs::symlink`] but also accepts absolute targets, for importing host trees
    /// that contain them (a guest can read such a link, but resolving through it is an
    /// escape, as in wasmtime).
    pub fn symlink_verbatim(&mut self, target: &str, base: Ino, path: &str) -> Result<Ino, Errno> {
        if target.is_empty() {
            return Err(Errno::Noent);
        }
        if target.len() >= PATH_MAX {
            return Err(Errno::Nametoolong);
        }
        let loc = self.locate(base, path, Follow::Never)?;
        if loc.ino.is_some() {
            return Err(Errno::Exist);
        }
        let Last::Name(name) = loc.last else {
            return Err(Errno::Exist);
        };
        if loc.trailing {
            return Err(Errno::Noent);
        }
        let target = try_string(target)?;
        self.create_in(loc.parent, name, Node::Symlink(target))
    }

    /// The target of symlink `path` (witx `path_readlink`); `Inval` if it is not a symlink.
    pub fn readlink(&self, base: Ino, path: &str) -> Result<&str, Errno> {
        let ino = self.lookup(base, path, false)?;
        match &self.inode(ino)?.node {
            Node::Symlink(t) => Ok(t),
            _ => Err(Errno::Inval),
        }
    }

    /// [`Ramfs::set_times`] on the inode `path` names (witx `path_filestat_set_times`).
    pub fn set_times_at(
        &mut self,
        base: Ino,
        path: &str,
        follow: bool,
        atim: SetTime,
        mtim: SetTime,
    ) -> Result<(), Errno> {
        let ino = self.lookup(base, path, follow)?;
        self.set_times(ino, atim, mtim)
    }

    // ----- inode operations -----------------------------------------------------------------

    fn file(&self, ino: Ino) -> Result<&FileData, Errno> {
        match &self.inode(ino)?.node {
            Node::File(f) => Ok(f),
            Node::Dir(_) => Err(Errno::Isdir),
            Node::Symlink(_) => Err(Errno::Inval),
        }
    }

    /// Reads from regular file `ino` at `offset` into `buf`; returns the bytes read (0 at EOF).
    pub fn read_at(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(self.file(ino)?.read_at(offset, buf))
    }

    /// Writes `data` to regular file `ino` at `offset` (growing it, with a hole if `offset` is
    /// past the end). Returns the bytes written: fewer than `data.len()` only when the quota
    /// ran out part-way (a short write); `Nospc` if nothing could be written.
    pub fn write_at(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        self.file(ino)?;
        self.writable(ino)?;
        let now = self.now();
        let Some(i) = self.inodes.get_mut(&ino) else {
            return Err(Errno::Badf);
        };
        let Node::File(f) = &mut i.node else {
            return Err(Errno::Isdir);
        };
        let n = f.write_at(offset, data, &mut self.budget)?;
        if n > 0 {
            i.mtim = now;
            i.ctim = now;
        }
        Ok(n)
    }

    /// Sets the size of regular file `ino` (witx `fd_filestat_set_size`): growing adds a hole,
    /// shrinking discards data.
    pub fn set_size(&mut self, ino: Ino, size: u64) -> Result<(), Errno> {
        self.file(ino)?;
        self.writable(ino)?;
        let now = self.now();
        let Some(i) = self.inodes.get_mut(&ino) else {
            return Err(Errno::Badf);
        };
        let Node::File(f) = &mut i.node else {
            return Err(Errno::Isdir);
        };
        f.set_size(size, &mut self.budget)?;
        i.mtim = now;
        i.ctim = now;
        Ok(())
    }

    /// Ensures regular file `ino` is at least `offset + len` bytes long (witx `fd_allocate`).
    /// The new range is a hole (no memory is reserved). `len == 0` gives `Inval`.
    pub fn allocate(&mut self, ino: Ino, offset: u64, len: u64) -> Result<(), Errno> {
        let f = self.file(ino)?;
        if len == 0 {
            return Err(Errno::Inval);
        }
        let end = offset
            .checked_add(len)
            .filter(|e| *e <= MAX_FILE_SIZE)
            .ok_or(Errno::Fbig)?;
        self.writable(ino)?;
        if end > f.size() {
            self.set_size(ino, end)?;
        }
        Ok(())
    }

    /// Sets the access and/or modification time of `ino`; the change time becomes "now"
    /// (witx `fd_filestat_set_times`).
    pub fn set_times(&mut self, ino: Ino, atim: SetTime, mtim: SetTime) -> Result<(), Errno> {
        self.writable(ino)?;
        let now = self.now();
        let i = self.inode_mut(ino)?;
        match atim {
            SetTime::Omit => {}
            SetTime::Now => i.atim = now,
            SetTime::At(t) => i.atim = t,
        }
        match mtim {
            SetTime::Omit => {}
            SetTime::Now => i.mtim = now,
            SetTime::At(t) => i.mtim = t,
        }
        i.ctim = now;
        Ok(())
    }

    /// Lists directory `dir` starting at `cookie` (0 = from the start; otherwise a
    /// [`DirEntry::next`] from an earlier listing). `.` and `..` come first with `next` 1 and
    /// 2; other entries follow in creation order and keep their cookies while entries are added
    /// or removed (witx `fd_readdir`).
    pub fn readdir(&self, dir: Ino, cookie: u64) -> Result<ReadDir<'_>, Errno> {
        let d = self.dir(dir)?;
        let parent = if d.removed { dir } else { d.parent };
        Ok(ReadDir {
            dir,
            parent,
            cookie: cookie.min(FIRST_SEQ),
            entries: d.by_seq.range(cookie.max(FIRST_SEQ)..),
        })
    }
}

/// Iterator over a directory listing; see [`Ramfs::readdir`].
#[derive(Debug)]
pub struct ReadDir<'a> {
    dir: Ino,
    parent: Ino,
    /// 0: `.` next, 1: `..` next, 2: real entries.
    cookie: u64,
    entries: btree_map::Range<'a, u64, Entry>,
}

impl<'a> Iterator for ReadDir<'a> {
    type Item = DirEntry<'a>;

    fn next(&mut self) -> Option<DirEntry<'a>> {
        match self.cookie {
            0 => {
                self.cookie = 1;
                Some(DirEntry {
                    next: 1,
                    ino: self.dir,
                    filetype: Filetype::Directory,
                    name: ".",
                })
            }
            1 => {
                self.cookie = FIRST_SEQ;
                Some(DirEntry {
                    next: FIRST_SEQ,
                    ino: self.parent,
                    filetype: Filetype::Directory,
                    name: "..",
                })
            }
            _ => {
                let (seq, e) = self.entries.next()?;
                Some(DirEntry {
                    next: seq.saturating_add(1),
                    ino: e.ino,
                    filetype: e.filetype,
                    name: &e.name,
                })
            }
        }
    }
}

impl Ramfs {
    // ----- import / export helpers for embedders --------------------------------------------

    /// Creates every missing directory of `path` (relative to `base`, `/`-separated, no `..`)
    /// and returns the innermost one. Existing directories (or symlinks to them) are reused.
    pub fn create_dir_all(&mut self, base: Ino, path: &str) -> Result<Ino, Errno> {
        self.dir(base)?;
        if path.starts_with('/') {
            return Err(ESCAPE_ERRNO);
        }
        let mut cur = base;
        for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if comp == ".." {
                return Err(Errno::Inval);
            }
            check_name(comp)?;
            cur = match self.lookup(cur, comp, true) {
                Ok(ino) if self.is_dir(ino) => ino,
                Ok(_) => return Err(Errno::Notdir),
                Err(Errno::Noent) => self.create_dir(cur, comp)?,
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }

    /// Creates (or truncates) regular file `path` relative to `base`, creating missing parent
    /// directories, and fills it with `data`. Returns its inode.
    pub fn write_file(&mut self, base: Ino, path: &str, data: &[u8]) -> Result<Ino, Errno> {
        let trimmed = path.trim_end_matches('/');
        let (dir, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
        if name.is_empty() || path.len() != trimmed.len() {
            return Err(Errno::Inval);
        }
        let parent = self.create_dir_all(base, dir)?;
        let ino = self.open(
            parent,
            name,
            OpenOptions {
                follow: true,
                create: true,
                truncate: true,
                write: true,
                ..OpenOptions::default()
            },
        )?;
        let n = self.write_at(ino, 0, data)?;
        if n != data.len() {
            return Err(Errno::Nospc);
        }
        Ok(ino)
    }

    /// The whole contents of regular file `ino` (fallible allocation: `Nospc` if it does not
    /// fit in memory).
    pub fn read_to_vec(&self, ino: Ino) -> Result<Vec<u8>, Errno> {
        let f = self.file(ino)?;
        let len = usize::try_from(f.size()).map_err(|_| Errno::Fbig)?;
        let mut out = Vec::new();
        out.try_reserve_exact(len).map_err(|_| Errno::Nospc)?;
        out.resize(len, 0);
        let n = f.read_at(0, &mut out);
        out.truncate(n);
        Ok(out)
    }

    /// Every entry below directory `dir` (not `dir` itself); a directory is listed before its
    /// contents, and siblings appear in byte order of their names. Symlinks are listed, not followed.
    pub fn walk(&self, dir: Ino) -> Result<Vec<WalkEntry>, Errno> {
        self.dir(dir)?;
        let mut out: Vec<WalkEntry> = Vec::new();
        // (directory, index in `out` of its entry, or None for `dir` itself)
        let mut todo: Vec<(Ino, Option<usize>)> = Vec::new();
        todo.try_reserve(1).map_err(|_| Errno::Nospc)?;
        todo.push((dir, None));
        while let Some((cur, at)) = todo.pop() {
            let d = self.dir(cur)?;
            let mut children: Vec<(Ino, usize)> = Vec::new();
            for (name, seq) in &d.by_name {
                let Some(e) = d.by_seq.get(seq) else {
                    continue;
                };
                let prefix = match at {
                    Some(i) => out.get(i).map(|w| w.path.as_str()).unwrap_or(""),
                    None => "",
                };
                let mut path = String::new();
                path.try_reserve_exact(prefix.len() + 1 + name.len())
                    .map_err(|_| Errno::Nospc)?;
                if !prefix.is_empty() {
                    path.push_str(prefix);
                    path.push('/');
                }
                path.push_str(name);
                let kind = match &self.inode(e.ino)?.node {
                    Node::Dir(_) => WalkKind::Directory,
                    Node::File(f) => WalkKind::File { size: f.size() },
                    Node::Symlink(t) => WalkKind::Symlink {
                        target: try_string(t)?,
                    },
                };
                let is_dir = kind == WalkKind::Directory;
                out.try_reserve(1).map_err(|_| Errno::Nospc)?;
                out.push(WalkEntry {
                    path,
                    ino: e.ino,
                    kind,
                });
                if is_dir {
                    children.try_reserve(1).map_err(|_| Errno::Nospc)?;
                    children.push((e.ino, out.len() - 1));
                }
            }
            todo.try_reserve(children.len()).map_err(|_| Errno::Nospc)?;
            for (ino, idx) in children.into_iter().rev() {
                todo.push((ino, Some(idx)));
            }
        }
        Ok(out)
    }
}

impl Ramfs {
    /// Consistency self-check for tests and debugging: verifies the byte and inode
    /// accounting, link counts, parent pointers and the two directory indexes against each
    /// other. Returns a description of the first inconsistency found.
    pub fn check_invariants(&self) -> Result<(), String> {
        use alloc::format;
        let mut bytes: u64 = 0;
        let mut links: BTreeMap<Ino, u64> = BTreeMap::new();
        let mut subdirs: BTreeMap<Ino, u64> = BTreeMap::new();
        for (&ino, i) in &self.inodes {
            match &i.node {
                Node::File(f) => bytes += f.stored_bytes(),
                Node::Symlink(t) => bytes += t.len() as u64,
                Node::Dir(d) => {
                    if d.by_name.len() != d.by_seq.len() {
                        return Err(format!("dir {ino}: index sizes differ"));
                    }
                    for (seq, e) in &d.by_seq {
                        if d.by_name.get(&e.name) != Some(seq) || *seq >= d.next_seq {
                            return Err(format!("dir {ino}: entry {} mis-indexed", e.name));
                        }
                        let Some(child) = self.inodes.get(&e.ino) else {
                            return Err(format!("dir {ino}: entry {} dangles", e.name));
                        };
                        if child.node.filetype() != e.filetype {
                            return Err(format!("dir {ino}: entry {} wrong type", e.name));
                        }
                        if let Node::Dir(cd) = &child.node {
                            if cd.parent != ino {
                                return Err(format!("dir {}: parent is not {ino}", e.ino));
                            }
                            *subdirs.entry(ino).or_default() += 1;
                        }
                        *links.entry(e.ino).or_default() += 1;
                        bytes += dirent_cost(&e.name);
                    }
                }
            }
        }
        for (&ino, i) in &self.inodes {
            let named = links.get(&ino).copied().unwrap_or(0);
            let want = match &i.node {
                Node::Dir(d) if d.removed => 0,
                Node::Dir(_) => 2 + subdirs.get(&ino).copied().unwrap_or(0),
                _ => named,
            };
            if i.nlink != want {
                return Err(format!("inode {ino}: nlink {} != {want}", i.nlink));
            }
            if matches!(i.node, Node::Dir(_)) && ino != self.root && named > 1 {
                return Err(format!("dir {ino} has {named} names"));
            }
            if i.nlink == 0 && i.pins == 0 {
                return Err(format!("inode {ino}: unreferenced but alive"));
            }
        }
        if bytes != self.budget.used {
            return Err(format!(
                "bytes charged {} != counted {bytes}",
                self.budget.used
            ));
        }
        if self.budget.used > self.budget.limit || self.inodes.len() as u64 > self.max_inodes {
            return Err("over quota".into());
        }
        Ok(())
    }
}
