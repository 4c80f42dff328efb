//! Bounds-checked access to a guest's linear memory.
//!
//! Every read and write the WASI functions make into guest memory goes through [`GuestMem`]:
//! a pointer/length pair that does not lie inside the memory gives [`Errno::Fault`] (witx
//! `errno::fault`), never a panic or an out-of-bounds access. All arithmetic on guest-supplied
//! values is checked. Records are little-endian as the WebAssembly memory model requires.
//! Alignment is not enforced (the witx ABI allows a trap there; this host accepts it).

use crate::Errno;
use alloc::vec::Vec;

/// Most iovec records accepted in one call (wasi-libc's and Linux's `IOV_MAX`).
pub const IOV_MAX: u32 = 1024;

/// A guest's linear memory (or an empty one if the module exports none).
#[derive(Debug)]
pub struct GuestMem<'a> {
    bytes: &'a mut [u8],
}

impl<'a> GuestMem<'a> {
    /// Wraps the bytes of a linear memory.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Self { bytes }
    }

    /// Size of the memory in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True if the guest has no (or an empty) memory.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn range(&self, ptr: u32, len: u32) -> Result<core::ops::Range<usize>, Errno> {
        let start = usize::try_from(ptr).map_err(|_| Errno::Fault)?;
        let len = usize::try_from(len).map_err(|_| Errno::Fault)?;
        let end = start.checked_add(len).ok_or(Errno::Fault)?;
        if end > self.bytes.len() {
            return Err(Errno::Fault);
        }
        Ok(start..end)
    }

    /// Borrows `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
        let r = self.range(ptr, len)?;
        self.bytes.get(r).ok_or(Errno::Fault)
    }

    /// Mutably borrows `len` bytes at `ptr`.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let r = self.range(ptr, len)?;
        self.bytes.get_mut(r).ok_or(Errno::Fault)
    }

    /// Copies `data` to `ptr`.
    pub fn write_bytes(&mut self, ptr: u32, data: &[u8]) -> Result<(), Errno> {
        let len = u32::try_from(data.len()).map_err(|_| Errno::Fault)?;
        self.slice_mut(ptr, len)?.copy_from_slice(data);
        Ok(())
    }

    /// Reads `N` bytes at `ptr`.
    fn read_array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], Errno> {
        let s = self.slice(ptr, N as u32)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Reads a byte.
    pub fn read_u8(&self, ptr: u32) -> Result<u8, Errno> {
        Ok(self.read_array::<1>(ptr)?[0])
    }

    /// Reads a little-endian `u16`.
    pub fn read_u16(&self, ptr: u32) -> Result<u16, Errno> {
        Ok(u16::from_le_bytes(self.read_array(ptr)?))
    }

    /// Reads a little-endian `u32`.
    pub fn read_u32(&self, ptr: u32) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.read_array(ptr)?))
    }

    /// Reads a little-endian `u64`.
    pub fn read_u64(&self, ptr: u32) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.read_array(ptr)?))
    }

    /// Writes a byte.
    pub fn write_u8(&mut self, ptr: u32, v: u8) -> Result<(), Errno> {
        self.write_bytes(ptr, &[v])
    }

    /// Writes a little-endian `u16`.
    pub fn write_u16(&mut self, ptr: u32, v: u16) -> Result<(), Errno> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u32`.
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u64`.
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    /// Reads a guest string (`path`, `string` in witx) as bytes; invalid UTF-8 is `EILSEQ`
    /// as wasmtime reports it.
    pub fn read_str(&self, ptr: u32, len: u32) -> Result<&str, Errno> {
        core::str::from_utf8(self.slice(ptr, len)?).map_err(|_| Errno::Ilseq)
    }

    /// Reads an array of `iovec`/`ciovec` records (`{ buf: u32, buf_len: u32 }`) and checks
    /// that each buffer lies inside memory. Returns `(ptr, len)` pairs. More than
    /// [`IOV_MAX`] records is `EINVAL` (as `readv`/`writev` on Linux), which bounds the host
    /// allocation a guest can cause (at most 8 KiB, for the call; `ENOMEM` if even that
    /// fails).
    pub fn read_iovecs(&self, iovs: u32, iovs_len: u32) -> Result<Vec<(u32, u32)>, Errno> {
        if iovs_len > IOV_MAX {
            return Err(Errno::Inval);
        }
        let bytes = iovs_len
            .checked_mul(crate::abi::size::IOVEC)
            .ok_or(Errno::Fault)?;
        self.range(iovs, bytes)?;
        let mut out = Vec::new();
        out.try_reserve_exact(iovs_len as usize)
            .map_err(|_| Errno::Nomem)?;
        for i in 0..iovs_len {
            let rec = iovs + i * crate::abi::size::IOVEC; // in range: checked above
            let buf = self.read_u32(rec)?;
            let len = self.read_u32(rec + 4)?;
            self.range(buf, len)?;
            out.push((buf, len));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_in_bounds() {
        let mut buf = [0u8; 16];
        let mut m = GuestMem::new(&mut buf);
        m.write_u32(4, 0xdead_beef).unwrap();
        m.write_u64(8, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(m.read_u32(4), Ok(0xdead_beef));
        assert_eq!(m.read_u8(8), Ok(0x08));
        assert_eq!(m.read_u64(8), Ok(0x0102_0304_0506_0708));
        assert_eq!(m.slice(16, 0), Ok(&[][..]));
    }

    #[test]
    fn out_of_range_is_fault() {
        let mut buf = [0u8; 16];
        let mut m = GuestMem::new(&mut buf);
        assert_eq!(m.read_u32(13), Err(Errno::Fault));
        assert_eq!(m.write_u64(9, 1), Err(Errno::Fault));
        assert_eq!(m.slice(u32::MAX, 2), Err(Errno::Fault));
        assert_eq!(m.slice(17, 0), Err(Errno::Fault));
        assert_eq!(m.read_iovecs(0, IOV_MAX + 1), Err(Errno::Inval));
        assert_eq!(m.read_iovecs(16, 1), Err(Errno::Fault));
        // an iovec whose buffer points past the end
        m.write_u32(0, 10).unwrap();
        m.write_u32(4, 10).unwrap();
        assert_eq!(m.read_iovecs(0, 1), Err(Errno::Fault));
        let mut empty: [u8; 0] = [];
        let e = GuestMem::new(&mut empty);
        assert_eq!(e.read_u8(0), Err(Errno::Fault));
    }

    #[test]
    fn invalid_utf8_is_ilseq() {
        let mut buf = [0xffu8, 0xfe, b'a'];
        let m = GuestMem::new(&mut buf);
        assert_eq!(m.read_str(0, 2), Err(Errno::Ilseq));
        assert_eq!(m.read_str(2, 1), Ok("a"));
    }
}
