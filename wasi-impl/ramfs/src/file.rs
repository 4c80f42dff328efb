//! Sparse chunked storage for regular-file contents.
//!
//! A file is a logical `size` plus a `BTreeMap` from chunk index to a byte vector of at most
//! [`CHUNK_SIZE`] bytes. Missing chunks, and the tail of a chunk beyond its vector length, read as
//! zeros, so holes (e.g. a write at offset 1 GiB) cost nothing. Every allocation is fallible
//! (`try_reserve`) and is charged to the caller-supplied byte budget before it happens.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::Errno;

/// Size of one storage chunk (64 KiB): sequential 64 KiB I/O touches one chunk per call.
pub const CHUNK_SIZE: usize = 64 * 1024;
const CHUNK_U64: u64 = CHUNK_SIZE as u64;

/// Largest file size accepted (`i64::MAX`, as a WASI `filesize` is used with signed offsets).
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// Heap asked of [`Headroom`] before an operation adds a node (an inode, a directory entry,
/// a file chunk): more than the `BTreeMap` nodes, names and inode records it allocates
/// infallibly.
pub const NODE_HEADROOM: usize = 4096;

/// The embedder's answer to "may `bytes` more heap go to guest-driven data?" (see
/// [`crate::Ramfs::set_headroom`]).
pub type Headroom = fn(usize) -> bool;

/// The default [`Headroom`]: always yes (the quotas and fallible allocation still apply).
pub fn unlimited_headroom(_bytes: usize) -> bool {
    true
}

/// Byte accounting shared by all files of one filesystem.
#[derive(Debug)]
pub(crate) struct Budget {
    /// Bytes currently charged.
    pub used: u64,
    /// Maximum bytes that may be charged.
    pub limit: u64,
    /// Whether the heap can take more guest data.
    pub headroom: Headroom,
}

impl Budget {
    /// `Nospc` unless the embedder's heap has room for `bytes` more.
    pub fn room(&self, bytes: usize) -> Result<(), Errno> {
        if (self.headroom)(bytes) {
            Ok(())
        } else {
            Err(Errno::Nospc)
        }
    }

    /// Charges `n` bytes, or fails with `Nospc` if the limit would be exceeded.
    pub fn charge(&mut self, n: u64) -> Result<(), Errno> {
        match self.used.checked_add(n) {
            Some(total) if total <= self.limit => {
                self.used = total;
                Ok(())
            }
            _ => Err(Errno::Nospc),
        }
    }

    /// Returns `n` previously charged bytes.
    pub fn refund(&mut self, n: u64) {
        self.used = self.used.saturating_sub(n);
    }
}

/// Contents of one regular file.
#[derive(Debug, Default)]
pub(crate) struct FileData {
    size: u64,
    chunks: BTreeMap<u64, Vec<u8>>,
    /// Bytes stored in `chunks` (sum of vector lengths), i.e. what this file is charged.
    stored: u64,
}

/// Splits a byte offset into (chunk index, offset inside the chunk).
fn split(offset: u64) -> (u64, usize) {
    // The remainder is < CHUNK_SIZE, so it fits in usize.
    (offset / CHUNK_U64, (offset % CHUNK_U64) as usize)
}

impl FileData {
    /// Logical file size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes charged to the budget for this file.
    #[cfg(test)]
    pub fn stored(&self) -> u64 {
        self.stored
    }

    /// Bytes actually held in chunks, recounted (for the invariant check).
    pub fn stored_bytes(&self) -> u64 {
        let held: u64 = self.chunks.values().map(|c| c.len() as u64).sum();
        debug_assert_eq!(held, self.stored);
        held
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns the count (0 at or past EOF).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size {
            return 0;
        }
        let avail = self.size - offset;
        let want = usize::try_from(avail).map_or(buf.len(), |a| a.min(buf.len()));
        let mut done = 0usize;
        while done < want {
            let pos = offset + done as u64;
            let (idx, within) = split(pos);
            let n = (CHUNK_SIZE - within).min(want - done);
            let Some(dst) = buf.get_mut(done..done + n) else {
                break;
            };
            // Bytes of the chunk at `within` (none for a hole or past the chunk's length).
            let src = self
                .chunks
                .get(&idx)
                .and_then(|c| c.get(within..))
                .unwrap_or(&[]);
            let have = src.len().min(n);
            if let (Some(d), Some(s)) = (dst.get_mut(..have), src.get(..have)) {
                d.copy_from_slice(s);
            }
            if let Some(tail) = dst.get_mut(have..) {
                tail.fill(0);
            }
            done += n;
        }
        done
    }

    /// Writes all of `data` at `offset`, growing the file (with a hole if needed).
    ///
    /// Fails with `Fbig` if the end would exceed [`MAX_FILE_SIZE`] and `Nospc` if the budget or
    /// the allocator is exhausted; on failure, chunks already written stay written (as a short
    /// write would) and the size covers them.
    pub fn write_at(
        &mut self,
        offset: u64,
        data: &[u8],
        budget: &mut Budget,
    ) -> Result<usize, Errno> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|e| *e <= MAX_FILE_SIZE)
            .ok_or(Errno::Fbig)?;
        if data.is_empty() {
            // POSIX: a zero-length write changes nothing, not even the size.
            return Ok(0);
        }
        let mut done = 0usize;
        let mut result = Ok(data.len());
        while done < data.len() {
            let pos = offset + done as u64;
            let (idx, within) = split(pos);
            let n = (CHUNK_SIZE - within).min(data.len() - done);
            let Some(src) = data.get(done..done + n) else {
                break;
            };
            if let Err(e) = self.write_in_chunk(idx, within, src, budget) {
                result = if done == 0 { Err(e) } else { Ok(done) };
                break;
            }
            done += n;
        }
        let written_end = offset + done as u64;
        if written_end > self.size {
            self.size = written_end;
        }
        debug_assert!(written_end <= end);
        result
    }

    fn write_in_chunk(
        &mut self,
        idx: u64,
        within: usize,
        src: &[u8],
        budget: &mut Budget,
    ) -> Result<(), Errno> {
        let new_len = within + src.len();
        let (len, capacity) = self
            .chunks
            .get(&idx)
            .map_or((0, 0), |c| (c.len(), c.capacity()));
        if new_len <= len {
            // An overwrite inside the bytes already stored: no allocation.
            if let Some(dst) = self
                .chunks
                .get_mut(&idx)
                .and_then(|c| c.get_mut(within..new_len))
            {
                dst.copy_from_slice(src);
            }
            return Ok(());
        }
        // Amortised doubling, capped at the chunk size; exact for whole-chunk writes.
        let target = new_len.max(capacity.saturating_mul(2)).min(CHUNK_SIZE);
        let new_node = if len == 0 { NODE_HEADROOM } else { 0 };
        if new_len > capacity {
            // A reallocation holds the new block while the old one is still alive.
            budget.room(target + new_node)?;
        } else if new_node != 0 {
            budget.room(new_node)?;
        }
        let grow = new_len - len;
        budget.charge(grow as u64)?;
        let chunk = self.chunks.entry(idx).or_default();
        if new_len > chunk.capacity() && chunk.try_reserve_exact(target - chunk.len()).is_err() {
            budget.refund(grow as u64);
            if chunk.is_empty() {
                self.chunks.remove(&idx);
            }
            return Err(Errno::Nospc);
        }
        self.stored += grow as u64;
        // Zeros up to `within` (a hole inside the chunk), then the data: the bytes before
        // `len` overwrite, the rest extend.
        if within > chunk.len() {
            chunk.resize(within, 0);
        }
        let overlap = chunk.len() - within;
        let (over, extend) = src.split_at_checked(overlap).unwrap_or((&[], src));
        if let Some(dst) = chunk.get_mut(within..) {
            dst.copy_from_slice(over);
        }
        chunk.extend_from_slice(extend);
        Ok(())
    }

    /// Sets the logical size: shrinking frees the cut-off bytes, growing adds a hole.
    pub fn set_size(&mut self, size: u64, budget: &mut Budget) -> Result<(), Errno> {
        if size > MAX_FILE_SIZE {
            return Err(Errno::Fbig);
        }
        if size < self.size {
            let (idx, within) = split(size);
            // Whole chunks at or past the new end go away.
            let first_gone = if within == 0 { idx } else { idx + 1 };
            let gone = self.chunks.split_off(&first_gone);
            let mut freed: u64 = gone.values().map(|c| c.len() as u64).sum();
            if within != 0
                && let Some(chunk) = self.chunks.get_mut(&idx)
                && chunk.len() > within
            {
                freed += (chunk.len() - within) as u64;
                chunk.truncate(within);
            }
            self.stored -= freed;
            budget.refund(freed);
        }
        self.size = size;
        Ok(())
    }

    /// Releases all storage (when the inode is freed); returns the bytes refunded.
    pub fn clear(&mut self, budget: &mut Budget) -> u64 {
        let freed = self.stored;
        self.chunks.clear();
        self.stored = 0;
        self.size = 0;
        budget.refund(freed);
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget {
            used: 0,
            limit: u64::MAX,
            headroom: unlimited_headroom,
        }
    }

    #[test]
    fn sparse_write_far_away_allocates_one_chunk() {
        let mut b = budget();
        let mut f = FileData::default();
        assert_eq!(f.write_at(1 << 30, b"hello", &mut b), Ok(5));
        assert_eq!(f.size(), (1 << 30) + 5);
        assert_eq!(f.chunks.len(), 1);
        assert_eq!(b.used, 5);
        let mut buf = [0xffu8; 8];
        assert_eq!(f.read_at((1 << 30) - 3, &mut buf), 8);
        assert_eq!(&buf, b"\0\0\0hello");
        assert_eq!(f.read_at(12345, &mut buf), 8);
        assert_eq!(buf, [0; 8]);
    }

    #[test]
    fn write_spanning_chunks_round_trips() {
        let mut b = budget();
        let mut f = FileData::default();
        let data: Vec<u8> = (0..3 * CHUNK_SIZE + 17)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        assert_eq!(f.write_at(100, &data, &mut b), Ok(data.len()));
        let mut out = alloc::vec![0u8; data.len() + 200];
        assert_eq!(f.read_at(0, &mut out), data.len() + 100);
        assert_eq!(&out[..100], &[0u8; 100][..]);
        assert_eq!(&out[100..100 + data.len()], &data[..]);
        assert_eq!(b.used, f.stored());
    }

    #[test]
    fn shrink_then_grow_reads_zeros() {
        let mut b = budget();
        let mut f = FileData::default();
        f.write_at(0, &[7u8; 200_000], &mut b).unwrap();
        f.set_size(70_000, &mut b).unwrap();
        assert_eq!(b.used, 70_000);
        f.set_size(300_000, &mut b).unwrap();
        let mut out = alloc::vec![1u8; 300_000];
        assert_eq!(f.read_at(0, &mut out), 300_000);
        assert!(out[..70_000].iter().all(|&x| x == 7));
        assert!(out[70_000..].iter().all(|&x| x == 0));
        f.set_size(0, &mut b).unwrap();
        assert_eq!(b.used, 0);
        assert_eq!(f.stored(), 0);
    }

    #[test]
    fn budget_exhaustion_gives_short_write_then_nospc() {
        let mut b = Budget {
            used: 0,
            limit: CHUNK_U64 + 10,
            headroom: unlimited_headroom,
        };
        let mut f = FileData::default();
        let data = alloc::vec![3u8; 2 * CHUNK_SIZE];
        assert_eq!(f.write_at(0, &data, &mut b), Ok(CHUNK_SIZE));
        assert_eq!(f.size(), CHUNK_U64);
        assert_eq!(f.write_at(CHUNK_U64, &data, &mut b), Err(Errno::Nospc));
        assert_eq!(f.size(), CHUNK_U64);
        assert_eq!(b.used, CHUNK_U64);
    }

    #[test]
    fn too_big_offsets_are_rejected() {
        let mut b = budget();
        let mut f = FileData::default();
        assert_eq!(f.write_at(MAX_FILE_SIZE, b"x", &mut b), Err(Errno::Fbig));
        assert_eq!(f.write_at(u64::MAX, b"x", &mut b), Err(Errno::Fbig));
        assert_eq!(f.set_size(MAX_FILE_SIZE + 1, &mut b), Err(Errno::Fbig));
        assert_eq!(f.set_size(MAX_FILE_SIZE, &mut b), Ok(()));
        let mut buf = [9u8; 4];
        assert_eq!(f.read_at(MAX_FILE_SIZE - 2, &mut buf), 2);
        assert_eq!(&buf[..2], &[0, 0]);
    }
}
