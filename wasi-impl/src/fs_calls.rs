//! The descriptor and path functions of `wasi_snapshot_preview1` (`fd_*`, `path_*`), over
//! `elastic-ramfs`.
//!
//! Descriptor checks follow wasmtime's preview1: path functions need a directory fd (`EBADF`
//! otherwise; `path_open` on a file fd is `ENOTDIR`), positional and seek calls on stdio are
//! `ESPIPE`, reads/writes on an fd not opened for them are `EBADF`. Every other right the fd
//! lacks (after `fd_fdstat_set_rights` narrowed it, or beneath a read-only preopen) gives
//! `ENOTCAPABLE`. Invalid flag bits and enum values are `EINVAL`, checked before the fd as
//! wasmtime's generated bindings do. Path resolution (confinement to the directory, symlinks,
//! `..`) is the ramfs's.

// The methods mirror the witx signatures one-to-one.
#![allow(clippy::too_many_arguments)]

use crate::abi::{self, fdflags, filetype, fstflags, oflags, rights, size, whence};
use crate::ctx::{Ctx, R};
use crate::fdtable::{Entry, Kind};
use crate::guest_mem::GuestMem;
use crate::ramfs::{Filestat, Filetype, Ino, OpenOptions, SetTime};
use crate::{Errno, SharedFs};
use alloc::rc::Rc;

/// Current size of a regular file (for `poll_oneoff` read readiness).
pub(crate) fn file_size(fs: &SharedFs, ino: Ino) -> R<u64> {
    Ok(fs.try_borrow().map_err(|_| Errno::Busy)?.stat(ino)?.size)
}

/// Encodes a `filestat` record.
fn filestat_bytes(st: &Filestat) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(&st.dev.to_le_bytes());
    b[8..16].copy_from_slice(&st.ino.to_le_bytes());
    b[16] = st.filetype.raw();
    b[24..32].copy_from_slice(&st.nlink.to_le_bytes());
    b[32..40].copy_from_slice(&st.size.to_le_bytes());
    b[40..48].copy_from_slice(&st.atim.to_le_bytes());
    b[48..56].copy_from_slice(&st.mtim.to_le_bytes());
    b[56..64].copy_from_slice(&st.ctim.to_le_bytes());
    b
}

/// Decodes one timestamp of `fstflags` (`ATIM`+`ATIM_NOW` together is `EINVAL`).
fn set_time(flags: u16, set: u16, now: u16, value: u64) -> R<SetTime> {
    match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(Errno::Inval),
        (true, false) => Ok(SetTime::At(value)),
        (false, true) => Ok(SetTime::Now),
        (false, false) => Ok(SetTime::Omit),
    }
}

fn times(fst: u32, atim: u64, mtim: u64) -> R<(SetTime, SetTime)> {
    let f = u16::try_from(fst).map_err(|_| Errno::Inval)?;
    if f & !fstflags::ALL != 0 {
        return Err(Errno::Inval);
    }
    Ok((
        set_time(f, fstflags::ATIM, fstflags::ATIM_NOW, atim)?,
        set_time(f, fstflags::MTIM, fstflags::MTIM_NOW, mtim)?,
    ))
}

/// Rights of a descriptor opened by `path_open`, computed as wasmtime's `fd_fdstat_get`
/// reports them: everything, less read/readdir unless opened for reading, less write unless
/// opened for writing, less seek and both set-size rights for directories; less all mutating rights beneath
/// a read-only preopen.
fn opened_rights(is_dir: bool, read: bool, write: bool, readonly: bool) -> u64 {
    let mut r = rights::ALL;
    if is_dir {
        r &= !(rights::FD_SEEK | rights::FD_FILESTAT_SET_SIZE | rights::PATH_FILESTAT_SET_SIZE);
    }
    if !read {
        r &= !(rights::FD_READ | rights::FD_READDIR);
    }
    if !write {
        r &= !rights::FD_WRITE;
    }
    if readonly {
        r &= !rights::MUTATING;
    }
    r
}

/// The original descriptor number of a stdio entry (it may have been renumbered).
fn stdio_no(k: &Kind) -> u32 {
    match k {
        Kind::Stdin => 0,
        Kind::Stdout => 1,
        _ => 2,
    }
}

fn flags16(v: u32, all: u16) -> R<u16> {
    let f = u16::try_from(v).map_err(|_| Errno::Inval)?;
    if f & !all != 0 {
        return Err(Errno::Inval);
    }
    Ok(f)
}

impl Ctx<'_> {
    /// A directory fd with right `need` (`EBADF` if not a directory, `ENOTCAPABLE` if the
    /// right is missing).
    fn dir(&self, fd: u32, need: u64) -> R<(SharedFs, Ino, bool)> {
        let e = self.entry(fd)?;
        match &e.kind {
            Kind::Dir { fs, ino, .. } => {
                e.require(need, Errno::Notcapable)?;
                Ok((fs.clone(), *ino, e.readonly))
            }
            _ => Err(Errno::Badf),
        }
    }

    /// A regular-file fd (`EBADF` otherwise).
    fn file(&self, fd: u32) -> R<(&Entry, SharedFs, Ino, u64)> {
        let e = self.entry(fd)?;
        match &e.kind {
            Kind::File { fs, ino, pos } => Ok((e, fs.clone(), *ino, *pos)),
            _ => Err(Errno::Badf),
        }
    }

    /// A file or directory fd (`EBADF` for stdio).
    fn node(&self, fd: u32) -> R<(&Entry, SharedFs, Ino)> {
        let e = self.entry(fd)?;
        match &e.kind {
            Kind::File { fs, ino, .. } | Kind::Dir { fs, ino, .. } => Ok((e, fs.clone(), *ino)),
            _ => Err(Errno::Badf),
        }
    }

    fn set_pos(&mut self, fd: u32, new: u64) -> R {
        if let Kind::File { pos, .. } = &mut self.fds.get_mut(fd)?.kind {
            *pos = new;
        }
        Ok(())
    }

    /// Releases the ramfs pin an entry held.
    fn unpin(e: &Entry) {
        if let Kind::File { fs, ino, .. } | Kind::Dir { fs, ino, .. } = &e.kind
            && let Ok(mut f) = fs.try_borrow_mut()
        {
            let _ = f.release(*ino);
        }
    }

    /// Releases every pin still held (called when the guest ends).
    pub(crate) fn close_all(&mut self) {
        for e in self.fds.take_all() {
            Self::unpin(&e);
        }
    }

    /// `fd_advise`: accepted (and ignored) on regular files.
    pub fn fd_advise(
        &mut self,
        _m: &mut GuestMem<'_>,
        fd: u32,
        _off: u64,
        _len: u64,
        advice: u32,
    ) -> R {
        if advice > abi::ADVICE_MAX {
            return Err(Errno::Inval);
        }
        let (e, ..) = self.file(fd)?;
        e.require(rights::FD_ADVISE, Errno::Notcapable)
    }

    /// `fd_allocate`: `ENOTSUP` on regular files, as wasmtime (`EBADF` on anything else).
    pub fn fd_allocate(&mut self, _m: &mut GuestMem<'_>, fd: u32, _off: u64, _len: u64) -> R {
        self.file(fd)?;
        Err(Errno::Notsup)
    }

    /// `fd_close`.
    pub fn fd_close(&mut self, _m: &mut GuestMem<'_>, fd: u32) -> R {
        let e = self.fds.remove(fd)?;
        Self::unpin(&e);
        Ok(())
    }

    /// `fd_datasync`: nothing to flush in RAM; regular files only.
    pub fn fd_datasync(&mut self, _m: &mut GuestMem<'_>, fd: u32) -> R {
        self.file(fd).map(|_| ())
    }

    /// `fd_sync`: nothing to flush in RAM; regular files only.
    pub fn fd_sync(&mut self, _m: &mut GuestMem<'_>, fd: u32) -> R {
        self.file(fd).map(|_| ())
    }

    /// `fd_fdstat_get`.
    pub fn fd_fdstat_get(&mut self, m: &mut GuestMem<'_>, fd: u32, out: u32) -> R {
        let e = self.entry(fd)?;
        let ft = match &e.kind {
            Kind::Stdin | Kind::Stdout | Kind::Stderr => {
                if self.services.is_tty(stdio_no(&e.kind)) {
                    filetype::CHARACTER_DEVICE
                } else {
                    filetype::UNKNOWN
                }
            }
            Kind::Dir { .. } => filetype::DIRECTORY,
            Kind::File { fs, ino, .. } => fs
                .try_borrow()
                .map_err(|_| Errno::Busy)?
                .filetype(*ino)
                .map(Filetype::raw)
                .unwrap_or(filetype::REGULAR_FILE),
        };
        let mut b = [0u8; size::FDSTAT as usize];
        b[0] = ft;
        b[2..4].copy_from_slice(&e.flags.to_le_bytes());
        b[8..16].copy_from_slice(&e.base.to_le_bytes());
        b[16..24].copy_from_slice(&e.inheriting.to_le_bytes());
        m.write_bytes(out, &b)
    }

    /// `fd_fdstat_set_flags`: only `append` and `nonblock` can change (`EINVAL` for the sync
    /// flags, as wasmtime); regular files only.
    pub fn fd_fdstat_set_flags(&mut self, _m: &mut GuestMem<'_>, fd: u32, flags: u32) -> R {
        let f = flags16(flags, fdflags::ALL)?;
        let (e, ..) = self.file(fd)?;
        e.require(rights::FD_FDSTAT_SET_FLAGS, Errno::Notcapable)?;
        if f & (fdflags::DSYNC | fdflags::SYNC | fdflags::RSYNC) != 0 {
            return Err(Errno::Inval);
        }
        let e = self.fds.get_mut(fd)?;
        e.flags = (e.flags & !(fdflags::APPEND | fdflags::NONBLOCK)) | f;
        Ok(())
    }

    /// `fd_fdstat_set_rights`: `ENOTSUP` for files and directories, `EBADF` otherwise, as
    /// wasmtime (which no longer lets guests change rights); invalid rights bits are `EINVAL`.
    pub fn fd_fdstat_set_rights(
        &mut self,
        _m: &mut GuestMem<'_>,
        fd: u32,
        base: u64,
        inh: u64,
    ) -> R {
        if (base | inh) & !rights::ALL != 0 {
            return Err(Errno::Inval);
        }
        self.node(fd)?;
        Err(Errno::Notsup)
    }

    /// `fd_filestat_get` (stdio: all zero but the file type, as wasmtime).
    pub fn fd_filestat_get(&mut self, m: &mut GuestMem<'_>, fd: u32, out: u32) -> R {
        let e = self.entry(fd)?;
        let st = match &e.kind {
            Kind::Stdin | Kind::Stdout | Kind::Stderr => {
                let ft = if self.services.is_tty(stdio_no(&e.kind)) {
                    Filetype::CharacterDevice
                } else {
                    Filetype::Unknown
                };
                Filestat {
                    dev: 0,
                    ino: 0,
                    filetype: ft,
                    nlink: 0,
                    size: 0,
                    atim: 0,
                    mtim: 0,
                    ctim: 0,
                }
            }
            Kind::File { fs, ino, .. } | Kind::Dir { fs, ino, .. } => {
                e.require(rights::FD_FILESTAT_GET, Errno::Notcapable)?;
                fs.try_borrow().map_err(|_| Errno::Busy)?.stat(*ino)?
            }
        };
        m.write_bytes(out, &filestat_bytes(&st))
    }

    /// `fd_filestat_set_size`: regular files opened for writing (`EINVAL` otherwise, as
    /// wasmtime).
    pub fn fd_filestat_set_size(&mut self, _m: &mut GuestMem<'_>, fd: u32, size: u64) -> R {
        let (e, fs, ino, _) = self.file(fd)?;
        e.require(rights::FD_WRITE, Errno::Inval)?;
        e.require(rights::FD_FILESTAT_SET_SIZE, Errno::Notcapable)?;
        not_negative(size)?;
        fs.try_borrow_mut()
            .map_err(|_| Errno::Busy)?
            .set_size(ino, size)
    }

    /// `fd_filestat_set_times` (files and directories).
    pub fn fd_filestat_set_times(
        &mut self,
        _m: &mut GuestMem<'_>,
        fd: u32,
        atim: u64,
        mtim: u64,
        fst: u32,
    ) -> R {
        let (a, mt) = times(fst, atim, mtim)?;
        let (e, fs, ino) = self.node(fd)?;
        e.require(rights::FD_FILESTAT_SET_TIMES, Errno::Notcapable)?;
        fs.try_borrow_mut()
            .map_err(|_| Errno::Busy)?
            .set_times(ino, a, mt)
    }

    /// Reads from a file at `pos` into the iovecs; returns bytes read.
    fn read_file(
        fs: &SharedFs,
        ino: Ino,
        mut pos: u64,
        m: &mut GuestMem<'_>,
        iovs: &[(u32, u32)],
    ) -> R<u32> {
        let mut total: u32 = 0;
        let f = fs.try_borrow().map_err(|_| Errno::Busy)?;
        for &(p, l) in iovs {
            if l == 0 {
                continue;
            }
            let buf = m.slice_mut(p, l)?;
            let n = f.read_at(ino, pos, buf)?;
            let n32 = u32::try_from(n).map_err(|_| Errno::Overflow)?;
            total = total.checked_add(n32).ok_or(Errno::Overflow)?;
            pos = pos.checked_add(u64::from(n32)).ok_or(Errno::Overflow)?;
            if n32 < l {
                break;
            }
        }
        Ok(total)
    }

    /// Writes the iovecs to a file at `pos` (or at the end in append mode); returns bytes
    /// written and the position after the write.
    fn write_file(
        fs: &SharedFs,
        ino: Ino,
        mut pos: u64,
        append: bool,
        m: &GuestMem<'_>,
        iovs: &[(u32, u32)],
    ) -> R<(u32, u64)> {
        let mut total: u32 = 0;
        let mut f = fs.try_borrow_mut().map_err(|_| Errno::Busy)?;
        if append {
            pos = f.stat(ino)?.size;
        }
        for &(p, l) in iovs {
            if l == 0 {
                continue;
            }
            let data = m.slice(p, l)?;
            let n = match f.write_at(ino, pos, data) {
                Ok(n) => n,
                // A short write: report what was written before the error.
                Err(e) if total > 0 => {
                    let _ = e;
                    break;
                }
                Err(e) => return Err(e),
            };
            let n32 = u32::try_from(n).map_err(|_| Errno::Overflow)?;
            total = total.checked_add(n32).ok_or(Errno::Overflow)?;
            pos = pos.checked_add(u64::from(n32)).ok_or(Errno::Overflow)?;
            if n32 < l {
                break;
            }
        }
        Ok((total, pos))
    }

    /// `fd_read`.
    pub fn fd_read(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        out: u32,
    ) -> R {
        let e = self.entry(fd)?;
        let n = match &e.kind {
            Kind::Stdin => {
                let v = m.read_iovecs(iovs, iovs_len)?;
                self.read_stdin(m, &v)?
            }
            Kind::File { fs, ino, pos } => {
                e.require(rights::FD_READ, Errno::Badf)?;
                let (fs, ino, pos) = (fs.clone(), *ino, *pos);
                let v = m.read_iovecs(iovs, iovs_len)?;
                let n = Self::read_file(&fs, ino, pos, m, &v)?;
                let new = pos.checked_add(u64::from(n)).ok_or(Errno::Overflow)?;
                self.set_pos(fd, new)?;
                n
            }
            _ => return Err(Errno::Badf),
        };
        m.write_u32(out, n)
    }

    /// `fd_pread`.
    pub fn fd_pread(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        off: u64,
        out: u32,
    ) -> R {
        let e = self.entry(fd)?;
        let n = match &e.kind {
            Kind::Stdin => return Err(Errno::Spipe),
            Kind::File { fs, ino, .. } => {
                e.require(rights::FD_READ, Errno::Badf)?;
                e.require(rights::FD_SEEK, Errno::Notcapable)?;
                not_negative(off)?;
                let (fs, ino) = (fs.clone(), *ino);
                let v = m.read_iovecs(iovs, iovs_len)?;
                Self::read_file(&fs, ino, off, m, &v)?
            }
            _ => return Err(Errno::Badf),
        };
        m.write_u32(out, n)
    }

    /// `fd_write`.
    pub fn fd_write(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        out: u32,
    ) -> R {
        let e = self.entry(fd)?;
        let n = match &e.kind {
            Kind::Stdout | Kind::Stderr => {
                let is_err = matches!(e.kind, Kind::Stderr);
                let v = m.read_iovecs(iovs, iovs_len)?;
                self.write_stdio(m, is_err, &v)?
            }
            Kind::File { fs, ino, pos } => {
                e.require(rights::FD_WRITE, Errno::Badf)?;
                let (fs, ino, pos, append) = (fs.clone(), *ino, *pos, e.append());
                let v = m.read_iovecs(iovs, iovs_len)?;
                let (n, new) = Self::write_file(&fs, ino, pos, append, m, &v)?;
                self.set_pos(fd, new)?;
                n
            }
            _ => return Err(Errno::Badf),
        };
        m.write_u32(out, n)
    }

    /// `fd_pwrite` (in append mode the offset is ignored, as on Linux and in wasmtime).
    pub fn fd_pwrite(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        off: u64,
        out: u32,
    ) -> R {
        let e = self.entry(fd)?;
        let n = match &e.kind {
            Kind::Stdout | Kind::Stderr => return Err(Errno::Spipe),
            Kind::File { fs, ino, .. } => {
                e.require(rights::FD_WRITE, Errno::Badf)?;
                e.require(rights::FD_SEEK, Errno::Notcapable)?;
                not_negative(off)?;
                let (fs, ino, append) = (fs.clone(), *ino, e.append());
                let v = m.read_iovecs(iovs, iovs_len)?;
                Self::write_file(&fs, ino, off, append, m, &v)?.0
            }
            _ => return Err(Errno::Badf),
        };
        m.write_u32(out, n)
    }

    /// `fd_prestat_get`.
    pub fn fd_prestat_get(&mut self, m: &mut GuestMem<'_>, fd: u32, out: u32) -> R {
        match &self.entry(fd)?.kind {
            Kind::Dir {
                preopen: Some(name),
                ..
            } => {
                let len = u32::try_from(name.len()).map_err(|_| Errno::Overflow)?;
                let mut b = [0u8; size::PRESTAT as usize];
                b[0] = abi::PREOPENTYPE_DIR;
                b[4..8].copy_from_slice(&len.to_le_bytes());
                m.write_bytes(out, &b)
            }
            _ => Err(Errno::Badf),
        }
    }

    /// `fd_prestat_dir_name` (`ENAMETOOLONG` if the buffer is too small, `ENOTDIR` for an
    /// open fd that is not a preopen, as wasmtime).
    pub fn fd_prestat_dir_name(&mut self, m: &mut GuestMem<'_>, fd: u32, path: u32, len: u32) -> R {
        match &self.entry(fd)?.kind {
            Kind::Dir {
                preopen: Some(name),
                ..
            } => {
                if name.len() > len as usize {
                    return Err(Errno::Nametoolong);
                }
                m.write_bytes(path, name.as_bytes())
            }
            _ => Err(Errno::Notdir),
        }
    }

    /// `fd_readdir`: `dirent` records from `cookie` on, the last one truncated to fill the
    /// buffer exactly (the guest then asks again with a larger buffer), as wasmtime does.
    pub fn fd_readdir(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        buf: u32,
        buf_len: u32,
        cookie: u64,
        out: u32,
    ) -> R {
        // No `fd_readdir` right check: wasmtime lists any directory fd (its fdstat may not
        // show the right when the directory was opened without `fd_read`).
        let (fs, ino, _) = self.dir(fd, 0)?;
        m.slice(buf, buf_len)?;
        let f = fs.try_borrow().map_err(|_| Errno::Busy)?;
        let mut used: u32 = 0;
        for ent in f.readdir(ino, cookie)? {
            let name = ent.name.as_bytes();
            let namlen = u32::try_from(name.len()).map_err(|_| Errno::Overflow)?;
            let mut hdr = [0u8; size::DIRENT as usize];
            hdr[0..8].copy_from_slice(&ent.next.to_le_bytes());
            hdr[8..16].copy_from_slice(&ent.ino.to_le_bytes());
            hdr[16..20].copy_from_slice(&namlen.to_le_bytes());
            hdr[20] = ent.filetype.raw();
            for part in [&hdr[..], name] {
                let room = usize::try_from(buf_len - used).map_err(|_| Errno::Overflow)?;
                let (head, _) = part.split_at_checked(room).unwrap_or((part, &[]));
                m.write_bytes(buf + used, head)?; // within buf: checked above
                used += u32::try_from(head.len()).map_err(|_| Errno::Overflow)?;
                if used == buf_len {
                    return m.write_u32(out, used);
                }
            }
        }
        m.write_u32(out, used)
    }

    /// `fd_renumber`.
    pub fn fd_renumber(&mut self, _m: &mut GuestMem<'_>, fd: u32, to: u32) -> R {
        if let Some(old) = self.fds.renumber(fd, to)? {
            Self::unpin(&old);
        }
        Ok(())
    }

    /// Seekable file: `ESPIPE` for stdio, `EBADF` for directories.
    fn seekable(&self, fd: u32) -> R<(&Entry, SharedFs, Ino, u64)> {
        let e = self.entry(fd)?;
        match &e.kind {
            Kind::Stdin | Kind::Stdout | Kind::Stderr => Err(Errno::Spipe),
            Kind::File { fs, ino, pos } => Ok((e, fs.clone(), *ino, *pos)),
            Kind::Dir { .. } => Err(Errno::Badf),
        }
    }

    /// `fd_seek` (a resulting negative offset is `EINVAL`).
    pub fn fd_seek(&mut self, m: &mut GuestMem<'_>, fd: u32, off: u64, wh: u32, out: u32) -> R {
        if wh > whence::END {
            return Err(Errno::Inval);
        }
        let (e, fs, ino, pos) = self.seekable(fd)?;
        let need = if wh == whence::CUR && off == 0 {
            rights::FD_TELL | rights::FD_SEEK
        } else {
            rights::FD_SEEK
        };
        if e.base & need == 0 {
            return Err(Errno::Notcapable);
        }
        let delta = off as i64;
        let new = match wh {
            whence::SET => u64::try_from(delta).map_err(|_| Errno::Inval)?,
            whence::CUR => pos.checked_add_signed(delta).ok_or(Errno::Inval)?,
            _ => {
                let size = fs.try_borrow().map_err(|_| Errno::Busy)?.stat(ino)?.size;
                size.checked_add_signed(delta).ok_or(Errno::Inval)?
            }
        };
        if new > i64::MAX as u64 {
            return Err(Errno::Inval);
        }
        self.set_pos(fd, new)?;
        m.write_u64(out, new)
    }

    /// `fd_tell`.
    pub fn fd_tell(&mut self, m: &mut GuestMem<'_>, fd: u32, out: u32) -> R {
        let (e, _, _, pos) = self.seekable(fd)?;
        e.require(rights::FD_TELL, Errno::Notcapable)?;
        m.write_u64(out, pos)
    }

    /// `path_create_directory`.
    pub fn path_create_directory(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        path: u32,
        len: u32,
    ) -> R {
        let (fs, dir, _) = self.dir(fd, rights::PATH_CREATE_DIRECTORY)?;
        let p = m.read_str(path, len)?;
        fs.try_borrow_mut()
            .map_err(|_| Errno::Busy)?
            .create_dir(dir, p)
            .map(|_| ())
    }

    /// `path_filestat_get`.
    pub fn path_filestat_get(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        flags: u32,
        path: u32,
        len: u32,
        out: u32,
    ) -> R {
        if flags & !abi::LOOKUP_SYMLINK_FOLLOW != 0 {
            return Err(Errno::Inval);
        }
        let (fs, dir, _) = self.dir(fd, rights::PATH_FILESTAT_GET)?;
        let p = m.read_str(path, len)?;
        let follow = flags & abi::LOOKUP_SYMLINK_FOLLOW != 0;
        let st = fs
            .try_borrow()
            .map_err(|_| Errno::Busy)?
            .stat_at(dir, p, follow)?;
        m.write_bytes(out, &filestat_bytes(&st))
    }

    /// `path_filestat_set_times`.
    #[allow(clippy::too_many_arguments)]
    pub fn path_filestat_set_times(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        flags: u32,
        path: u32,
        len: u32,
        atim: u64,
        mtim: u64,
        fst: u32,
    ) -> R {
        if flags & !abi::LOOKUP_SYMLINK_FOLLOW != 0 {
            return Err(Errno::Inval);
        }
        let (a, mt) = times(fst, atim, mtim)?;
        let (fs, dir, _) = self.dir(fd, rights::PATH_FILESTAT_SET_TIMES)?;
        let p = m.read_str(path, len)?;
        let follow = flags & abi::LOOKUP_SYMLINK_FOLLOW != 0;
        fs.try_borrow_mut()
            .map_err(|_| Errno::Busy)?
            .set_times_at(dir, p, follow, a, mt)
    }

    /// `path_link` (`EXDEV` across filesystems).
    #[allow(clippy::too_many_arguments)]
    pub fn path_link(
        &mut self,
        m: &mut GuestMem<'_>,
        old_fd: u32,
        old_flags: u32,
        old_path: u32,
        old_len: u32,
        new_fd: u32,
        new_path: u32,
        new_len: u32,
    ) -> R {
        if old_flags & !abi::LOOKUP_SYMLINK_FOLLOW != 0 {
            return Err(Errno::Inval);
        }
        let (fs, odir, _) = self.dir(old_fd, rights::PATH_LINK_SOURCE)?;
        let (fs2, ndir, _) = self.dir(new_fd, rights::PATH_LINK_TARGET)?;
        let op = m.read_str(old_path, old_len)?;
        let np = m.read_str(new_path, new_len)?;
        if !Rc::ptr_eq(&fs, &fs2) {
            return Err(Errno::Xdev);
        }
        // wasmtime rejects `symlink_follow` for links (EINVAL), as linkat without
        // AT_SYMLINK_FOLLOW semantics.
        if old_flags & abi::LOOKUP_SYMLINK_FOLLOW != 0 {
            return Err(Errno::Inval);
        }
        fs.try_borrow_mut()
            .map_err(|_| Errno::Busy)?
            .link(odir, op, false, ndir, np)
    }

    /// `path_open`.
    #[allow(clippy::too_many_arguments)]
    pub fn path_open(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        dirflags: u32,
        path: u32,
        len: u32,
        of: u32,
        base: u64,
        _inh: u64,
        fdf: u32,
        out: u32,
    ) -> R {
        if dirflags & !abi::LOOKUP_SYMLINK_FOLLOW != 0 {
            return Err(Errno::Inval);
        }
        let of = flags16(of, oflags::ALL)?;
        let fdf = flags16(fdf, fdflags::ALL)?;
        if base & !rights::ALL != 0 {
            return Err(Errno::Inval);
        }
        let e = self.entry(fd)?;
        let (fs, dir, readonly) = match &e.kind {
            Kind::Dir { fs, ino, .. } => (fs.clone(), *ino, e.readonly),
            Kind::File { .. } => return Err(Errno::Notdir),
            _ => return Err(Errno::Badf),
        };
        e.require(rights::PATH_OPEN, Errno::Notcapable)?;
        if of & oflags::CREAT != 0 {
            e.require(rights::PATH_CREATE_FILE, Errno::Notcapable)?;
        }
        // wasmtime's preopen rights lack `path_filestat_set_size` yet allow `O_TRUNC`; only a
        // read-only tree refuses truncation.
        if of & oflags::TRUNC != 0 && readonly {
            return Err(Errno::Notcapable);
        }
        // As wasmtime: readable iff `fd_read` was requested.
        let read = base & rights::FD_READ != 0;
        let write = base & rights::FD_WRITE != 0;
        if write && e.inheriting & rights::FD_WRITE == 0 {
            return Err(Errno::Notcapable);
        }
        let p = m.read_str(path, len)?;
        // wasmtime refuses the synchronized-I/O open flags.
        if fdf & (fdflags::DSYNC | fdflags::SYNC | fdflags::RSYNC) != 0 {
            return Err(Errno::Notsup);
        }
        if self.fds.len() >= self.fds.max_open() as usize {
            return Err(Errno::Mfile);
        }
        // The descriptor outlives the call and `max_open_fds` may be large: ask first.
        crate::fallible::room(&*self.services, FD_HEADROOM)?;
        let opts = OpenOptions {
            follow: dirflags & abi::LOOKUP_SYMLINK_FOLLOW != 0,
            create: of & oflags::CREAT != 0,
            exclusive: of & oflags::EXCL != 0,
            truncate: of & oflags::TRUNC != 0,
            directory: of & oflags::DIRECTORY != 0,
            write,
        };
        let (ino, is_dir) = {
            let mut f = fs.try_borrow_mut().map_err(|_| Errno::Busy)?;
            let ino = f.open(dir, p, opts)?;
            let is_dir = f.filetype(ino)? == Filetype::Directory;
            f.retain(ino)?;
            (ino, is_dir)
        };
        let r = opened_rights(is_dir, read, write, readonly);
        let kind = if is_dir {
            Kind::Dir {
                fs: fs.clone(),
                ino,
                preopen: None,
            }
        } else {
            Kind::File {
                fs: fs.clone(),
                ino,
                pos: 0,
            }
        };
        let entry = Entry {
            kind,
            base: r,
            inheriting: r,
            flags: fdf,
            readonly,
        };
        let newfd = match self.fds.push(entry) {
            Ok(n) => n,
            Err(err) => {
                if let Ok(mut f) = fs.try_borrow_mut() {
                    let _ = f.release(ino);
                }
                return Err(err);
            }
        };
        m.write_u32(out, newfd)
    }

    /// `path_readlink` (the target is truncated to the buffer, as wasmtime).
    pub fn path_readlink(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        path: u32,
        len: u32,
        buf: u32,
        buf_len: u32,
        out: u32,
    ) -> R {
        let (fs, dir, _) = self.dir(fd, rights::PATH_READLINK)?;
        let p = m.read_str(path, len)?;
        let f = fs.try_borrow().map_err(|_| Errno::Busy)?;
        let bytes = f.readlink(dir, p)?.as_bytes();
        let room = usize::try_from(buf_len).map_err(|_| Errno::Overflow)?;
        let (head, _) = bytes.split_at_checked(room).unwrap_or((bytes, &[]));
        m.write_bytes(buf, head)?;
        m.write_u32(out, u32::try_from(head.len()).map_err(|_| Errno::Overflow)?)
    }

    /// `path_remove_directory`.
    pub fn path_remove_directory(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        path: u32,
        len: u32,
    ) -> R {
        let (fs, dir, _) = self.dir(fd, rights::PATH_REMOVE_DIRECTORY)?;
        let p = m.read_str(path, len)?;
        fs.try_borrow_mut()
            .map_err(|_| Errno::Busy)?
            .remove_dir(dir, p)
    }

    /// `path_rename` (`EXDEV` across filesystems).
    pub fn path_rename(
        &mut self,
        m: &mut GuestMem<'_>,
        fd: u32,
        old_path: u32,
        old_len: u32,
        new_fd: u32,
        new_path: u32,
        new_len: u32,
    ) -> R {
        let (fs, odir, _) = self.dir(fd, rights::PATH_RENAME_SOURCE)?;
        let (fs2, ndir, _) = self.dir(new_fd, rights::PATH_RENAME_TARGET)?;
        let op = m.read_str(old_path, old_len)?;
        let np = m.read_str(new_path, new_len)?;
        if !Rc::ptr_eq(&fs, &fs2) {
            return Err(Errno::Xdev);
        }
        fs.try_borrow_mut()
            .map_err(|_| Errno::Busy)?
            .rename(odir, op, ndir, np)
    }

    /// `path_symlink`.
    pub fn path_symlink(
        &mut self,
        m: &mut GuestMem<'_>,
        old_path: u32,
        old_len: u32,
        fd: u32,
        new_path: u32,
        new_len: u32,
    ) -> R {
        let (fs, dir, _) = self.dir(fd, rights::PATH_SYMLINK)?;
        let target = m.read_str(old_path, old_len)?;
        let p = m.read_str(new_path, new_len)?;
        fs.try_borrow_mut()
            .map_err(|_| Errno::Busy)?
            .symlink(target, dir, p)
            .map(|_| ())
    }

    /// `path_unlink_file`.
    pub fn path_unlink_file(&mut self, m: &mut GuestMem<'_>, fd: u32, path: u32, len: u32) -> R {
        let (fs, dir, _) = self.dir(fd, rights::PATH_UNLINK_FILE)?;
        let p = m.read_str(path, len)?;
        fs.try_borrow_mut()
            .map_err(|_| Errno::Busy)?
            .unlink_file(dir, p)
    }
}

/// Heap asked of the gauge before a descriptor is added: its entry and table node.
const FD_HEADROOM: usize = 1024;

/// Sizes and offsets above `i64::MAX` are negative `off_t` values to POSIX hosts, which
/// wasmtime reports as `EINVAL` (`EFBIG` stays for large but valid sizes).
fn not_negative(v: u64) -> Result<(), Errno> {
    if v > i64::MAX as u64 {
        return Err(Errno::Inval);
    }
    Ok(())
}
