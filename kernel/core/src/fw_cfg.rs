//! QEMU's firmware configuration device (fw_cfg): signature check and file directory lookup.
//!
//! Protocol facts (QEMU `docs/specs/fw_cfg.rst`): a 16-bit selector is written to the control
//! port, then the item is read byte by byte from the data port (the platform layer implements
//! [`Transport`] with I/O ports 0x510/0x511, or the DMA interface at 0x514). Item 0x0000 is the
//! signature "QEMU", 0x0001 the feature bitmap (bit 0 traditional interface, bit 1 DMA), 0x0019
//! the file directory: a big-endian u32 count, then `count` entries of
//! `{ u32 size (BE), u16 select (BE), u16 reserved, char name[56] }`.
//!
//! The device is hypervisor-controlled: counts, sizes and names are validated before use.

use core::fmt;

/// Selector of the signature item.
pub const SELECT_SIGNATURE: u16 = 0x0000;
/// Selector of the feature bitmap.
pub const SELECT_ID: u16 = 0x0001;
/// Selector of the file directory.
pub const SELECT_FILE_DIR: u16 = 0x0019;
/// Feature bit: the DMA interface is available.
pub const FEATURE_DMA: u32 = 1 << 1;
/// Bytes per directory entry.
pub const DIR_ENTRY_SIZE: usize = 64;
/// Length of the name field in a directory entry.
pub const NAME_SIZE: usize = 56;
/// Directories longer than this are treated as corrupt (QEMU has a few dozen files).
pub const MAX_FILES: u32 = 4096;

/// Raw access to the device: select an item, then read its bytes sequentially.
pub trait Transport {
    /// Selects an item and rewinds its read offset to 0.
    fn select(&mut self, key: u16);
    /// Reads the next `buf.len()` bytes of the selected item (zeros past its end).
    fn read(&mut self, buf: &mut [u8]);
}

/// Errors from the fw_cfg layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwCfgError {
    /// The signature is not "QEMU": no fw_cfg device.
    NotPresent,
    /// The directory claims more files than [`MAX_FILES`].
    DirectoryTooLarge(u32),
    /// A file is larger than the buffer given for it.
    FileTooLarge {
        /// The file's size.
        size: u32,
        /// The buffer's size.
        capacity: usize,
    },
}

impl fmt::Display for FwCfgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPresent => write!(f, "no QEMU fw_cfg device (bad signature)"),
            Self::DirectoryTooLarge(n) => write!(f, "fw_cfg directory claims {n} files"),
            Self::FileTooLarge { size, capacity } => {
                write!(
                    f,
                    "fw_cfg file of {size} bytes does not fit a {capacity}-byte buffer"
                )
            }
        }
    }
}

/// A file found in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct File {
    /// Its selector.
    pub select: u16,
    /// Its size in bytes.
    pub size: u32,
}

/// The fw_cfg device over a transport.
#[derive(Debug)]
pub struct FwCfg<T: Transport> {
    transport: T,
    features: u32,
}

impl<T: Transport> FwCfg<T> {
    /// Checks the signature and reads the feature bitmap.
    pub fn probe(mut transport: T) -> Result<Self, FwCfgError> {
        transport.select(SELECT_SIGNATURE);
        let mut signature = [0u8; 4];
        transport.read(&mut signature);
        if &signature != b"QEMU" {
            return Err(FwCfgError::NotPresent);
        }
        transport.select(SELECT_ID);
        let mut id = [0u8; 4];
        transport.read(&mut id);
        Ok(Self {
            transport,
            features: u32::from_le_bytes(id),
        })
    }

    /// True when the device offers the DMA interface.
    pub fn has_dma(&self) -> bool {
        self.features & FEATURE_DMA != 0
    }

    /// Looks a file up by name. Names longer than the 55 usable bytes never match.
    pub fn find(&mut self, name: &str) -> Result<Option<File>, FwCfgError> {
        self.transport.select(SELECT_FILE_DIR);
        let mut count = [0u8; 4];
        self.transport.read(&mut count);
        let count = u32::from_be_bytes(count);
        if count > MAX_FILES {
            return Err(FwCfgError::DirectoryTooLarge(count));
        }
        let wanted = name.as_bytes();
        for _ in 0..count {
            let mut entry = [0u8; DIR_ENTRY_SIZE];
            self.transport.read(&mut entry);
            let size = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let select = u16::from_be_bytes([entry[4], entry[5]]);
            let raw_name = &entry[8..8 + NAME_SIZE];
            // The name ends at its first NUL (or fills the field).
            let name = raw_name.split(|&b| b == 0).next().unwrap_or(raw_name);
            if name == wanted {
                return Ok(Some(File { select, size }));
            }
        }
        Ok(None)
    }

    /// Reads a whole file into `buf`, returning the filled prefix.
    pub fn read_file<'b>(&mut self, file: File, buf: &'b mut [u8]) -> Result<&'b [u8], FwCfgError> {
        let size = file.size as usize;
        let capacity = buf.len();
        let Some(dest) = buf.get_mut(..size) else {
            return Err(FwCfgError::FileTooLarge {
                size: file.size,
                capacity,
            });
        };
        self.transport.select(file.select);
        self.transport.read(dest);
        Ok(dest)
    }

    /// Selects a file and hands back the transport for streaming reads of large files.
    pub fn stream(&mut self, file: File) -> &mut T {
        self.transport.select(file.select);
        &mut self.transport
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! An in-memory fw_cfg device for host tests.
    extern crate std;
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    /// Items by selector, with a read cursor.
    #[derive(Debug, Default)]
    pub struct FakeFwCfg {
        pub items: BTreeMap<u16, Vec<u8>>,
        selected: u16,
        offset: usize,
    }

    impl FakeFwCfg {
        /// A device with the signature, DMA feature and the given files.
        pub fn with_files(files: &[(&str, Vec<u8>)]) -> Self {
            let mut dev = Self::default();
            dev.items.insert(SELECT_SIGNATURE, b"QEMU".to_vec());
            dev.items.insert(SELECT_ID, 3u32.to_le_bytes().to_vec());
            let mut dir = (files.len() as u32).to_be_bytes().to_vec();
            for (i, (name, data)) in files.iter().enumerate() {
                let select = 0x20 + i as u16;
                dir.extend_from_slice(&(data.len() as u32).to_be_bytes());
                dir.extend_from_slice(&select.to_be_bytes());
                dir.extend_from_slice(&[0, 0]);
                let mut n = [0u8; NAME_SIZE];
                n[..name.len()].copy_from_slice(name.as_bytes());
                dir.extend_from_slice(&n);
                dev.items.insert(select, data.clone());
            }
            dev.items.insert(SELECT_FILE_DIR, dir);
            dev
        }
    }

    impl Transport for FakeFwCfg {
        fn select(&mut self, key: u16) {
            self.selected = key;
            self.offset = 0;
        }
        fn read(&mut self, buf: &mut [u8]) {
            let item = self
                .items
                .get(&self.selected)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for b in buf.iter_mut() {
                *b = item.get(self.offset).copied().unwrap_or(0);
                self.offset += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeFwCfg;
    use super::*;
    extern crate std;
    use std::vec;

    #[test]
    fn finds_and_reads_files() {
        let dev = FakeFwCfg::with_files(&[
            ("etc/boot-fail-wait", vec![1, 2, 3, 4]),
            ("etc/e820", vec![9; 40]),
        ]);
        let mut fw = FwCfg::probe(dev).unwrap();
        assert!(fw.has_dma());
        let file = fw.find("etc/e820").unwrap().unwrap();
        assert_eq!(file.size, 40);
        let mut buf = [0u8; 64];
        assert_eq!(fw.read_file(file, &mut buf).unwrap(), &[9; 40][..]);
        assert_eq!(fw.find("etc/e82").unwrap(), None);
        assert_eq!(fw.find("missing").unwrap(), None);
        let mut small = [0u8; 8];
        assert_eq!(
            fw.read_file(file, &mut small).unwrap_err(),
            FwCfgError::FileTooLarge {
                size: 40,
                capacity: 8
            }
        );
    }

    #[test]
    fn rejects_missing_device_and_huge_directory() {
        assert_eq!(
            FwCfg::probe(FakeFwCfg::default()).unwrap_err(),
            FwCfgError::NotPresent
        );
        let mut dev = FakeFwCfg::with_files(&[]);
        dev.items
            .insert(SELECT_FILE_DIR, 100_000u32.to_be_bytes().to_vec());
        let mut fw = FwCfg::probe(dev).unwrap();
        assert_eq!(
            fw.find("x").unwrap_err(),
            FwCfgError::DirectoryTooLarge(100_000)
        );
    }

    #[test]
    fn a_name_filling_the_whole_field_is_compared_safely() {
        let long = "a".repeat(NAME_SIZE);
        let dev = FakeFwCfg::with_files(&[(&long, vec![1])]);
        let mut fw = FwCfg::probe(dev).unwrap();
        assert!(fw.find(&long).unwrap().is_some());
        assert!(fw.find(&"a".repeat(NAME_SIZE + 1)).unwrap().is_none());
    }
}
