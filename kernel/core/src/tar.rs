//! A minimal POSIX ustar writer for exporting files from the ramfs (reading archives is done
//! with the `tar-no-std` crate; this side is small enough that no no_std writer crate exists).
//! Entries: directories, regular files, symlinks; names up to 255 bytes (ustar prefix + name).
//! Longer names are skipped and reported by [`TarWriter::skipped`].

use alloc::string::String;
use alloc::vec::Vec;

const BLOCK: usize = 512;

/// Builds a ustar archive in memory.
#[derive(Debug, Default)]
pub struct TarWriter {
    out: Vec<u8>,
    skipped: Vec<String>,
}

fn octal(field: &mut [u8], value: u64) {
    // `len - 1` octal digits and a NUL terminator.
    let digits = field.len() - 1;
    let mut v = value;
    for i in (0..digits).rev() {
        field[i] = b'0' + (v & 7) as u8;
        v >>= 3;
    }
    field[digits] = 0;
}

/// Splits `path` into ustar (prefix, name), or `None` if it cannot be represented.
fn split(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // The prefix must end at a '/', be at most 155 bytes, and leave a name of at most 100.
    let bytes = path.as_bytes();
    (0..bytes.len().min(156))
        .rev()
        .filter(|&i| bytes[i] == b'/')
        .find_map(|i| {
            let (prefix, name) = (&path[..i], &path[i + 1..]);
            (name.len() <= 100 && !name.is_empty()).then_some((prefix, name))
        })
}

impl TarWriter {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
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
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], mode);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], mtime);
        h[148..156].fill(b' ');
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        octal(&mut h[148..155], sum);
        h[155] = b' ';
        self.out.extend_from_slice(&h);
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
        if self.header(path, b'0', data.len() as u64, 0o644, "", mtime) {
            self.out.extend_from_slice(data);
            let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
            self.out.resize(self.out.len() + pad, 0);
        }
    }

    /// Adds a symbolic link with modification time `mtime` (seconds since the epoch).
    pub fn symlink(&mut self, path: &str, target: &str, mtime: u64) {
        self.header(path, b'2', 0, 0o777, target, mtime);
    }

    /// Paths that could not be represented.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Ends the archive (two zero blocks) and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.resize(self.out.len() + 2 * BLOCK, 0);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::io::Read;

    #[test]
    fn the_tar_crate_reads_what_we_write() {
        let mut w = TarWriter::new();
        w.directory("out", 0);
        w.file("out/a.txt", b"hello", 1_700_000_000);
        let long_dir = "d".repeat(120);
        let long = std::format!("out/{long_dir}/file.bin");
        w.file(&long, &[7u8; 1000], 0);
        w.symlink("out/link", "a.txt", 0);
        w.file(&"x".repeat(300), b"too long", 0);
        assert_eq!(w.skipped(), ["x".repeat(300)]);
        let bytes = w.finish();
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
}
