//! The guest's descriptor table: stdio, preopened directories, and files/directories opened
//! with `path_open`, each with the rights wasmtime's preview1 computes for it
//! (`fd_fdstat_get`), which the WASI functions enforce.

use crate::abi::{fdflags, rights};
use crate::{Errno, SharedFs, ramfs};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;

/// What a descriptor refers to.
#[derive(Debug, Clone)]
pub enum Kind {
    /// fd 0.
    Stdin,
    /// fd 1.
    Stdout,
    /// fd 2.
    Stderr,
    /// A directory; `preopen` holds the guest-visible name of preopened ones.
    Dir {
        /// Filesystem.
        fs: SharedFs,
        /// Directory inode.
        ino: ramfs::Ino,
        /// Preopen name (`None` for directories opened with `path_open`).
        preopen: Option<String>,
    },
    /// A regular file (or anything else that is not a directory).
    File {
        /// Filesystem.
        fs: SharedFs,
        /// Inode.
        ino: ramfs::Ino,
        /// Current offset.
        pos: u64,
    },
}

/// One open descriptor.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Target.
    pub kind: Kind,
    /// `fs_rights_base`.
    pub base: u64,
    /// `fs_rights_inheriting`.
    pub inheriting: u64,
    /// `fdflags` (append, nonblock, sync bits as opened).
    pub flags: u16,
    /// True if beneath a read-only preopen.
    pub readonly: bool,
}

impl Entry {
    /// Fails with `errno` unless every bit of `need` is in the base rights.
    pub fn require(&self, need: u64, errno: Errno) -> Result<(), Errno> {
        if self.base & need == need {
            Ok(())
        } else {
            Err(errno)
        }
    }

    /// True if opened in append mode.
    pub fn append(&self) -> bool {
        self.flags & fdflags::APPEND != 0
    }

    /// Stdio entry with wasmtime's rights (stdin: `fd_read`; stdout/stderr: `fd_write`;
    /// inheriting = base).
    pub fn stdio(kind: Kind) -> Self {
        let base = match kind {
            Kind::Stdin => rights::FD_READ,
            _ => rights::FD_WRITE,
        };
        Self {
            kind,
            base,
            inheriting: base,
            flags: 0,
            readonly: false,
        }
    }
}

/// The descriptor table. Numbers freed by `fd_close` are reused, highest first, as wasmtime
/// does; otherwise new numbers are one past the highest in use.
#[derive(Debug)]
pub struct FdTable {
    used: BTreeMap<u32, Entry>,
    free: BTreeSet<u32>,
    max_open: u32,
}

impl FdTable {
    /// An empty table admitting at most `max_open` descriptors.
    pub fn new(max_open: u32) -> Self {
        Self {
            used: BTreeMap::new(),
            free: BTreeSet::new(),
            max_open,
        }
    }

    /// Most descriptors allowed open at once.
    pub fn max_open(&self) -> u32 {
        self.max_open
    }

    /// Number of open descriptors.
    pub fn len(&self) -> usize {
        self.used.len()
    }

    /// Adds `e`, returning its number; `EMFILE` when the table is full.
    pub fn push(&mut self, e: Entry) -> Result<u32, Errno> {
        if self.used.len() >= self.max_open as usize {
            return Err(Errno::Mfile);
        }
        let fd = match self.free.pop_last() {
            Some(fd) => fd,
            None => match self.used.last_key_value() {
                Some((&last, _)) => last.checked_add(1).ok_or(Errno::Mfile)?,
                None => 0,
            },
        };
        self.used.insert(fd, e);
        Ok(fd)
    }

    /// The entry for `fd`, or `EBADF`.
    pub fn get(&self, fd: u32) -> Result<&Entry, Errno> {
        self.used.get(&fd).ok_or(Errno::Badf)
    }

    /// The mutable entry for `fd`, or `EBADF`.
    pub fn get_mut(&mut self, fd: u32) -> Result<&mut Entry, Errno> {
        self.used.get_mut(&fd).ok_or(Errno::Badf)
    }

    /// Removes `fd`, or `EBADF`.
    pub fn remove(&mut self, fd: u32) -> Result<Entry, Errno> {
        let e = self.used.remove(&fd).ok_or(Errno::Badf)?;
        self.free.insert(fd);
        Ok(e)
    }

    /// `fd_renumber`: moves `from` onto `to`, closing what `to` was. Both must be open
    /// (`EBADF` otherwise, as wasmtime 50 does).
    pub fn renumber(&mut self, from: u32, to: u32) -> Result<Option<Entry>, Errno> {
        if !self.used.contains_key(&from) || !self.used.contains_key(&to) {
            return Err(Errno::Badf);
        }
        if from == to {
            return Ok(None);
        }
        let e = self.remove(from)?;
        self.free.remove(&to);
        Ok(self.used.insert(to, e))
    }

    /// Closes every descriptor, returning the entries (in descriptor order).
    pub fn take_all(&mut self) -> impl Iterator<Item = Entry> {
        self.free.clear();
        core::mem::take(&mut self.used).into_values()
    }
}
