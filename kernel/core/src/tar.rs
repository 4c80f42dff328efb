//! A minimal POSIX ustar writer for exporting files from the ramfs (reading archives is done
//! with the `tar-no-std` crate; this side is small enough that no no_std writer crate exists).
//! Entries: directories, regular files, symlinks; names up to 255 bytes (ustar prefix + name).
//! Longer names are skipped and reported by [`TarWriter::skipped`].
//!
//! The archive is streamed to a sink, never held in memory: a guest decides how much it
//! exports (up to its ramfs quota), so building the archive in one buffer would let it size
//! a kernel allocation. File contents are pulled from a reader in [`BLOCK`]-sized pieces.

use alloc::string::String;
use alloc::vec::Vec;

/// ustar block size.
pub const BLOCK: usize = 512;

/// Where archive bytes go: `None` only counts them.
pub type Sink<'s> = Option<&'s mut dyn FnMut(&[u8])>;

/// Streams a ustar archive to `sink` (a `None` sink only counts: the length of an archive
/// can be known before it is sent).
pub struct TarWriter<'s> {
    sink: Sink<'s>,
    written: u64,
    skipped: Vec<String>,
}

impl core::fmt::Debug for TarWriter<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TarWriter")
            .field("counting_only", &self.sink.is_none())
            .field("written", &self.written)
            .field("skipped", &self.skipped)
            .finish()
    }
}

fn octal(field: &mut [u8], value: u64) {
    // `len - 1` octal digits and a NUL terminator.
    let Some((nul, digits)) = field.split_last_mut() else {
        return;
    };
    *nul = 0;
    let mut v = value;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v & 7) as u8;
        v >>= 3;
    }
}

/// Copies `bytes` into `h` at `at` (the callers check that they fit).
fn put(h: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = at
        .checked_add(bytes.len())
        .and_then(|end| h.get_mut(at..end))
    {
        dst.copy_from_slice(bytes);
    }
}

/// Splits `path` into ustar (prefix, name), or `None` if it cannot be represented.
fn split(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // The prefix must end at a '/', be at most 155 bytes, and leave a name of at most 100.
    path.rmatch_indices('/')
        .filter(|&(i, _)| i <= 155)
        .find_map(|(i, _)| {
            let (prefix, rest) = path.split_at_checked(i)?;
            let name = rest.get(1..)?;
            (name.len() <= 100 && !name.is_empty()).then_some((prefix, name))
        })
}

impl<'s> TarWriter<'s> {
    /// An archive written to `sink`, or only counted when `sink` is `None`.
    pub fn new(sink: Sink<'s>) -> Self {
        Self {
            sink,
            written: 0,
            skipped: Vec::new(),
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        if let Some(sink) = self.sink.as_mut() {
            sink(bytes);
        }
        self.written += bytes.len() as u64;
    }

    fn zeros(&mut self, mut n: u64) {
        const ZEROS: [u8; BLOCK] = [0; BLOCK];
        while n > 0 {
            let take = n.min(BLOCK as u64);
            self.emit(ZEROS.get(..take as usize).unwrap_or(&ZEROS));
            n -= take;
        }
    }

    fn header(
        &mut self,
        path: &str,
        kind: u8,
        size: u64,
        mode: u64,
        link: &str,
        mtime: u64,
    ) -> bool {
        let Some((prefix, name)) = split(path) else {
            self.skipped.push(path.into());
            return false;
        };
        if link.len() > 100 {
            self.skipped.push(path.into());
            return false;
        }
        let mut h = [0u8; BLOCK];
        put(&mut h, 0, name.as_bytes());
        octal(&mut h[100..108], mode);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], mtime);
        h[148..156].fill(b' ');
        h[156] = kind;
        put(&mut h, 157, link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        put(&mut h, 345, prefix.as_bytes());
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        octal(&mut h[148..155], sum);
        h[155] = b' ';
        self.emit(&h);
        true
    }

    /// Adds a directory with modification time `mtime` (seconds since the epoch).
    pub fn directory(&mut self, path: &str, mtime: u64) {
        let mut p = String::from(path.trim_end_matches('/'));
        p.push('/');
        self.header(&p, b'5', 0, 0o755, "", mtime);
    }

    /// Adds a regular file with modification time `mtime` (seconds since the epoch).
    pub fn file(&mut self, path: &str, data: &[u8], mtime: u64) {
        self.file_from(path, data.len() as u64, mtime, |offset, buf| {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let src = data.get(start..).unwrap_or(&[]);
            let n = src.len().min(buf.len());
            if let (Some(d), Some(s)) = (buf.get_mut(..n), src.get(..n)) {
                d.copy_from_slice(s);
            }
            n
        });
    }

    /// Adds a regular file of `size` bytes whose contents `read(offset, buf)` supplies (it
    /// returns how many bytes it filled; 0 ends the file early, the rest is zeros so the
    /// archive stays well formed). Nothing is read when the writer only counts.
    pub fn file_from(
        &mut self,
        path: &str,
        size: u64,
        mtime: u64,
        mut read: impl FnMut(u64, &mut [u8]) -> usize,
    ) {
        if !self.header(path, b'0', size, 0o644, "", mtime) {
            return;
        }
        let mut done = 0u64;
        if self.sink.is_some() {
            let mut buf = [0u8; BLOCK];
            while done < size {
                let want = (size - done).min(BLOCK as u64) as usize;
                let Some(piece) = buf.get_mut(..want) else {
                    break;
                };
                let n = read(done, piece).min(want);
                if n == 0 {
                    break;
                }
                self.emit(buf.get(..n).unwrap_or_default());
                done += n as u64;
            }
        }
        let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        self.zeros(size - done + pad);
    }

    /// Adds a symbolic link with modification time `mtime` (seconds since the epoch).
    pub fn symlink(&mut self, path: &str, target: &str, mtime: u64) {
        self.header(path, b'2', 0, 0o777, target, mtime);
    }

    /// Paths that could not be represented.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Bytes written (or counted) so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Ends the archive (two zero blocks); returns its length and the skipped paths.
    pub fn finish(mut self) -> (u64, Vec<String>) {
        self.zeros(2 * BLOCK as u64);
        (self.written, self.skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::io::Read;

    #[test]
    fn the_tar_crate_reads_what_we_write() {
        let mut bytes = std::vec::Vec::new();
        let mut sink = |b: &[u8]| bytes.extend_from_slice(b);
        let mut w = TarWriter::new(Some(&mut sink));
        w.directory("out", 0);
        w.file("out/a.txt", b"hello", 1_700_000_000);
        let long_dir = "d".repeat(120);
        let long = std::format!("out/{long_dir}/file.bin");
        w.file(&long, &[7u8; 1000], 0);
        w.symlink("out/link", "a.txt", 0);
        w.file(&"x".repeat(300), b"too long", 0);
        assert_eq!(w.skipped(), ["x".repeat(300)]);
        let (len, skipped) = w.finish();
        assert_eq!(skipped, ["x".repeat(300)]);
        assert_eq!(len as usize, bytes.len());
        assert_eq!(bytes.len() % 512, 0);
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = std::vec::Vec::new();
        for entry in archive.entries().unwrap() {
            let mut e = entry.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            if path == "out/a.txt" {
                assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
            }
            let kind = e.header().entry_type();
            let mut data = std::vec::Vec::new();
            e.read_to_end(&mut data).unwrap();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            seen.push((path, kind, data, link));
        }
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0].0, "out/");
        assert!(seen[0].1.is_dir());
        assert_eq!(
            (seen[1].0.as_str(), seen[1].2.as_slice()),
            ("out/a.txt", &b"hello"[..])
        );
        assert_eq!(seen[2].0, long);
        assert_eq!(seen[2].2, [7u8; 1000]);
        assert!(seen[3].1.is_symlink());
        assert_eq!(seen[3].3.as_deref(), Some("a.txt"));
    }

    #[test]
    fn counting_gives_the_streamed_length_without_reading() {
        let mut counter = TarWriter::new(None);
        counter.directory("d", 0);
        counter.file_from("d/big", 1_000_001, 0, |_, _| panic!("read while counting"));
        counter.symlink("d/l", "big", 0);
        let (counted, _) = counter.finish();

        let mut bytes = std::vec::Vec::new();
        let mut sink = |b: &[u8]| bytes.extend_from_slice(b);
        let mut w = TarWriter::new(Some(&mut sink));
        w.directory("d", 0);
        // A reader that gives up early: the rest of the file is zeros.
        w.file_from("d/big", 1_000_001, 0, |off, buf| {
            if off >= 1000 {
                return 0;
            }
            buf.fill(1);
            buf.len()
        });
        w.symlink("d/l", "big", 0);
        let (len, _) = w.finish();
        assert_eq!(len, counted);
        assert_eq!(bytes.len() as u64, len);
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut e = archive.entries().unwrap().nth(1).unwrap().unwrap();
        let mut data = std::vec::Vec::new();
        e.read_to_end(&mut data).unwrap();
        assert_eq!(data.len(), 1_000_001);
        assert!(data[..1024].iter().all(|&b| b == 1));
        assert!(data[1024..].iter().all(|&b| b == 0));
    }
}
