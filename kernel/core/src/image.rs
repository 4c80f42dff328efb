//! The firmware image's bundle descriptor (see `docs/image.md`): where the baked-guest bundle
//! is and which SHA-384 digest it must have. The kernel reads it from its boot page; the image
//! builder (`elastic build`) writes it. Both use this one codec.

use crate::memory_map::Range;
use core::fmt;

/// Size of the kernel part of every image.
pub const KERNEL_SIZE: u64 = 4 << 20;
/// Largest image: it must stay within 0xFF000000..4 GiB (below it lie the IOAPIC/LAPIC windows).
pub const MAX_IMAGE_SIZE: u64 = 16 << 20;
/// Image sizes are multiples of this (QEMU and SEV-SNP require 64 KiB).
pub const IMAGE_ALIGN: u64 = 64 << 10;
/// The end of the image.
pub const FOUR_GIB: u64 = 1 << 32;
/// Physical address of the kernel part.
pub const KERNEL_BASE: u64 = FOUR_GIB - KERNEL_SIZE;
/// Offset of the descriptor in the image's last 4 KiB page.
pub const DESCRIPTOR_OFFSET_IN_LAST_PAGE: u64 = 0xE00;
/// Physical address of the descriptor.
pub const DESCRIPTOR_GPA: u64 = FOUR_GIB - 0x1000 + DESCRIPTOR_OFFSET_IN_LAST_PAGE;
/// Size of the descriptor.
pub const DESCRIPTOR_LEN: usize = 128;
/// The descriptor's magic.
pub const DESCRIPTOR_MAGIC: [u8; 8] = *b"ELBDESC1";
/// The only descriptor version.
pub const DESCRIPTOR_VERSION: u32 = 1;
/// The fw_cfg file that carries an external bundle.
pub const EXTERNAL_BUNDLE_FW_CFG: &str = "opt/elastic/bundle";

/// Where the bundle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// Inside the image, at this physical address.
    Embedded {
        /// Physical address of the first byte.
        gpa: u64,
    },
    /// In the fw_cfg file [`EXTERNAL_BUNDLE_FW_CFG`].
    External,
}

/// A validated descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// Where the bundle is.
    pub location: Location,
    /// Its length in bytes.
    pub len: u64,
    /// Its SHA-384 bundle digest.
    pub digest: [u8; 48],
}

/// Why a descriptor was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescriptorError {
    /// Not all zero, but the magic is wrong.
    BadMagic,
    /// Unknown version.
    BadVersion(u32),
    /// Unknown mode.
    BadMode(u32),
    /// Zero length.
    Empty,
    /// An embedded bundle outside the allowed window or misaligned.
    BadPlacement {
        /// Claimed address.
        gpa: u64,
        /// Claimed length.
        len: u64,
    },
    /// An external bundle with a non-zero address.
    ExternalWithAddress(u64),
    /// Reserved bytes are not zero.
    ReservedNotZero,
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => write!(f, "bundle descriptor: bad magic"),
            Self::BadVersion(v) => write!(f, "bundle descriptor: unknown version {v}"),
            Self::BadMode(m) => write!(f, "bundle descriptor: unknown mode {m}"),
            Self::Empty => write!(f, "bundle descriptor: zero-length bundle"),
            Self::BadPlacement { gpa, len } => write!(
                f,
                "bundle descriptor: embedded bundle at {gpa:#x} ({len} bytes) is not a 4 KiB-aligned range inside the image"
            ),
            Self::ExternalWithAddress(gpa) => {
                write!(
                    f,
                    "bundle descriptor: external bundle with address {gpa:#x}"
                )
            }
            Self::ReservedNotZero => write!(f, "bundle descriptor: reserved bytes are not zero"),
        }
    }
}

/// The `N` bytes at `at` (zeros past the end: the callers' offsets are constants inside
/// the descriptor).
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..)
        .and_then(|s| s.first_chunk::<N>())
        .copied()
        .unwrap_or([0; N])
}

fn u32_at(b: &[u8; DESCRIPTOR_LEN], at: usize) -> u32 {
    u32::from_le_bytes(bytes_at(b, at))
}

fn u64_at(b: &[u8; DESCRIPTOR_LEN], at: usize) -> u64 {
    u64::from_le_bytes(bytes_at(b, at))
}

impl Descriptor {
    /// Parses the 128 descriptor bytes. All zeros means "no bundle" (`Ok(None)`).
    pub fn parse(bytes: &[u8; DESCRIPTOR_LEN]) -> Result<Option<Self>, DescriptorError> {
        if bytes.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if bytes[..8] != DESCRIPTOR_MAGIC {
            return Err(DescriptorError::BadMagic);
        }
        let version = u32_at(bytes, 0x08);
        if version != DESCRIPTOR_VERSION {
            return Err(DescriptorError::BadVersion(version));
        }
        let mode = u32_at(bytes, 0x0C);
        let len = u64_at(bytes, 0x10);
        let gpa = u64_at(bytes, 0x18);
        let digest: [u8; 48] = bytes_at(bytes, 0x20);
        if bytes[0x50..].iter().any(|&b| b != 0) {
            return Err(DescriptorError::ReservedNotZero);
        }
        if len == 0 {
            return Err(DescriptorError::Empty);
        }
        let location = match mode {
            1 => {
                let end = gpa.checked_add(len);
                let inside = gpa >= FOUR_GIB - MAX_IMAGE_SIZE
                    && gpa.is_multiple_of(4096)
                    && end.is_some_and(|e| e <= KERNEL_BASE);
                if !inside {
                    return Err(DescriptorError::BadPlacement { gpa, len });
                }
                Location::Embedded { gpa }
            }
            2 if gpa != 0 => return Err(DescriptorError::ExternalWithAddress(gpa)),
            2 => Location::External,
            other => return Err(DescriptorError::BadMode(other)),
        };
        Ok(Some(Self {
            location,
            len,
            digest,
        }))
    }

    /// Encodes the descriptor.
    pub fn encode(&self) -> [u8; DESCRIPTOR_LEN] {
        let mut out = [0u8; DESCRIPTOR_LEN];
        out[..8].copy_from_slice(&DESCRIPTOR_MAGIC);
        out[0x08..0x0C].copy_from_slice(&DESCRIPTOR_VERSION.to_le_bytes());
        let (mode, gpa) = match self.location {
            Location::Embedded { gpa } => (1u32, gpa),
            Location::External => (2u32, 0),
        };
        out[0x0C..0x10].copy_from_slice(&mode.to_le_bytes());
        out[0x10..0x18].copy_from_slice(&self.len.to_le_bytes());
        out[0x18..0x20].copy_from_slice(&gpa.to_le_bytes());
        out[0x20..0x50].copy_from_slice(&self.digest);
        out
    }

    /// The physical range of an embedded bundle.
    pub fn embedded_range(&self) -> Option<Range> {
        match self.location {
            Location::Embedded { gpa } => Some(Range {
                start: gpa,
                end: gpa + self.len,
            }),
            Location::External => None,
        }
    }
}

/// The physical range the firmware image occupies, given its descriptor.
pub fn firmware_range(descriptor: Option<&Descriptor>) -> Range {
    let start = descriptor
        .and_then(Descriptor::embedded_range)
        .map(|r| r.start / IMAGE_ALIGN * IMAGE_ALIGN)
        .unwrap_or(KERNEL_BASE);
    Range {
        start,
        end: FOUR_GIB,
    }
}

/// Size of an image that embeds a bundle of `bundle_len` bytes, if it fits the 16 MiB limit.
pub fn embedded_image_size(bundle_len: u64) -> Option<u64> {
    let size = bundle_len
        .checked_next_multiple_of(IMAGE_ALIGN)?
        .checked_add(KERNEL_SIZE)?;
    (size <= MAX_IMAGE_SIZE).then_some(size)
}

/// Why an image could not be assembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssembleError {
    /// The kernel template is not exactly [`KERNEL_SIZE`] bytes.
    KernelSize(usize),
    /// The template's descriptor slot is not all zeros (it already carries a bundle).
    TemplateHasBundle,
    /// The bundle is empty.
    EmptyBundle,
}

impl fmt::Display for AssembleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KernelSize(n) => {
                write!(
                    f,
                    "kernel template is {n} bytes, expected 4 MiB ({KERNEL_SIZE} bytes; build it with scripts/build-kernel.sh)"
                )
            }
            Self::TemplateHasBundle => {
                write!(f, "kernel template already carries a bundle descriptor")
            }
            Self::EmptyBundle => write!(f, "the bundle is empty"),
        }
    }
}

/// An assembled image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// The `-bios` image.
    pub image: alloc::vec::Vec<u8>,
    /// The bundle to pass as fw_cfg `opt/elastic/bundle` when it is too large to embed.
    pub external_bundle: Option<alloc::vec::Vec<u8>>,
    /// The descriptor written into the image.
    pub descriptor: Descriptor,
}

/// Offset of the descriptor inside a kernel template or image of `len` bytes.
pub fn descriptor_offset(len: usize) -> usize {
    len - 0x1000 + DESCRIPTOR_OFFSET_IN_LAST_PAGE as usize
}

/// Combines the kernel template with a bundle whose SHA-384 digest is `digest`: embedded
/// when the image stays within [`MAX_IMAGE_SIZE`], external otherwise.
pub fn assemble(
    kernel: &[u8],
    bundle: &[u8],
    digest: [u8; 48],
) -> Result<Assembled, AssembleError> {
    if kernel.len() as u64 != KERNEL_SIZE {
        return Err(AssembleError::KernelSize(kernel.len()));
    }
    let slot = descriptor_offset(kernel.len());
    if kernel
        .get(slot..slot + DESCRIPTOR_LEN)
        .is_none_or(|d| d.iter().any(|&b| b != 0))
    {
        return Err(AssembleError::TemplateHasBundle);
    }
    if bundle.is_empty() {
        return Err(AssembleError::EmptyBundle);
    }
    let len = bundle.len() as u64;
    let (mut image, external_bundle, location) = match embedded_image_size(len) {
        Some(size) => {
            // The bundle area; the kernel is appended below.
            // Room for the bundle: `embedded_image_size` only fits one that is smaller.
            let mut image = alloc::vec![0u8; (size - KERNEL_SIZE) as usize];
            if let Some(area) = image.get_mut(..bundle.len()) {
                area.copy_from_slice(bundle);
            }
            (
                image,
                None,
                Location::Embedded {
                    gpa: FOUR_GIB - size,
                },
            )
        }
        None => (
            alloc::vec::Vec::new(),
            Some(bundle.to_vec()),
            Location::External,
        ),
    };
    let kernel_at = image.len();
    image.extend_from_slice(kernel);
    let descriptor = Descriptor {
        location,
        len,
        digest,
    };
    let at = kernel_at + slot;
    // Inside the kernel just appended (checked at the top).
    if let Some(d) = image.get_mut(at..at + DESCRIPTOR_LEN) {
        d.copy_from_slice(&descriptor.encode());
    }
    Ok(Assembled {
        image,
        external_bundle,
        descriptor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded(len: u64) -> Descriptor {
        let size = embedded_image_size(len).unwrap();
        Descriptor {
            location: Location::Embedded {
                gpa: FOUR_GIB - size,
            },
            len,
            digest: [7; 48],
        }
    }

    #[test]
    fn round_trip() {
        for d in [
            embedded(1),
            embedded(12 << 20),
            Descriptor {
                location: Location::External,
                len: 100 << 20,
                digest: [1; 48],
            },
        ] {
            assert_eq!(Descriptor::parse(&d.encode()), Ok(Some(d)));
        }
        assert_eq!(Descriptor::parse(&[0; 128]), Ok(None));
    }

    #[test]
    fn sizes_and_ranges() {
        assert_eq!(embedded_image_size(1), Some(KERNEL_SIZE + IMAGE_ALIGN));
        assert_eq!(embedded_image_size(12 << 20), Some(16 << 20));
        assert_eq!(embedded_image_size((12 << 20) + 1), None);
        assert_eq!(embedded_image_size(u64::MAX), None);
        let d = embedded(100_000);
        assert_eq!(
            firmware_range(Some(&d)).start,
            FOUR_GIB - KERNEL_SIZE - 2 * IMAGE_ALIGN
        );
        assert_eq!(firmware_range(None).start, KERNEL_BASE);
    }

    #[test]
    fn assembly_places_bundle_and_descriptor() {
        let mut kernel = alloc::vec![0x90u8; KERNEL_SIZE as usize];
        let slot = descriptor_offset(kernel.len());
        kernel[slot..slot + DESCRIPTOR_LEN].fill(0);
        let bundle = alloc::vec![5u8; 100_000];
        let a = assemble(&kernel, &bundle, [9; 48]).unwrap();
        assert_eq!(a.image.len() as u64 % IMAGE_ALIGN, 0);
        assert_eq!(a.image.len() as u64, KERNEL_SIZE + 2 * IMAGE_ALIGN);
        let slot = descriptor_offset(a.image.len());
        let mut raw = [0u8; DESCRIPTOR_LEN];
        raw.copy_from_slice(&a.image[slot..slot + DESCRIPTOR_LEN]);
        let d = Descriptor::parse(&raw).unwrap().unwrap();
        let range = d.embedded_range().unwrap();
        let offset = (range.start - (FOUR_GIB - a.image.len() as u64)) as usize;
        assert_eq!(&a.image[offset..offset + bundle.len()], &bundle[..]);
        assert!(a.external_bundle.is_none());
        // Too large to embed: the kernel alone, descriptor in external mode.
        let big = alloc::vec![1u8; (12 << 20) + 1];
        let a = assemble(&kernel, &big, [9; 48]).unwrap();
        assert_eq!(a.image.len() as u64, KERNEL_SIZE);
        assert_eq!(a.descriptor.location, Location::External);
        assert_eq!(a.external_bundle.as_deref(), Some(&big[..]));
        // Bad templates.
        assert_eq!(
            assemble(&kernel[1..], &bundle, [0; 48]),
            Err(AssembleError::KernelSize(KERNEL_SIZE as usize - 1))
        );
        let mut used = kernel.clone();
        let slot = descriptor_offset(used.len());
        used[slot] = 1;
        assert_eq!(
            assemble(&used, &bundle, [0; 48]),
            Err(AssembleError::TemplateHasBundle)
        );
        assert_eq!(
            assemble(&kernel, &[], [0; 48]),
            Err(AssembleError::EmptyBundle)
        );
    }

    #[test]
    fn every_bad_field_is_refused() {
        let good = embedded(4096).encode();
        let mut b = good;
        b[0] ^= 1;
        assert_eq!(Descriptor::parse(&b), Err(DescriptorError::BadMagic));
        let mut b = good;
        b[8] = 2;
        assert_eq!(Descriptor::parse(&b), Err(DescriptorError::BadVersion(2)));
        let mut b = good;
        b[12] = 3;
        assert_eq!(Descriptor::parse(&b), Err(DescriptorError::BadMode(3)));
        let mut b = good;
        b[0x10..0x18].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(Descriptor::parse(&b), Err(DescriptorError::Empty));
        let mut b = good;
        b[0x7F] = 1;
        assert_eq!(Descriptor::parse(&b), Err(DescriptorError::ReservedNotZero));
        for (gpa, len) in [
            (FOUR_GIB - MAX_IMAGE_SIZE - 4096, 4096u64), // below the window
            (KERNEL_BASE - 4096 + 8, 8),                 // misaligned
            (KERNEL_BASE - 4096, 8192),                  // runs into the kernel
            (FOUR_GIB - 4096, u64::MAX),                 // overflows
        ] {
            let d = Descriptor {
                location: Location::Embedded { gpa },
                len,
                digest: [0; 48],
            };
            assert_eq!(
                Descriptor::parse(&d.encode()),
                Err(DescriptorError::BadPlacement { gpa, len })
            );
        }
        let mut b = Descriptor {
            location: Location::External,
            len: 1,
            digest: [0; 48],
        }
        .encode();
        b[0x18] = 1;
        assert_eq!(
            Descriptor::parse(&b),
            Err(DescriptorError::ExternalWithAddress(1))
        );
    }
}
