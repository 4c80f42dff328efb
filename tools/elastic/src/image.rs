//! Firmware image assembly and the bundle descriptor (`docs/image.md`).
//!
//! An image is one flat `-bios` blob ending at 4 GiB: an optional embedded bundle, zero
//! padding, then the 4 MiB kernel. The kernel finds the bundle through a 128-byte descriptor
//! at offset 0xE00 of the image's last 4 KiB page (physical 0xFFFFFE00):
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0x00 | 8 | magic `"ELBDESC1"` (anything else: no bundle) |
//! | 0x08 | 4 | version (1) |
//! | 0x0C | 4 | mode: 1 embedded, 2 external (fw_cfg `opt/elastic/bundle`) |
//! | 0x10 | 8 | bundle_len |
//! | 0x18 | 8 | bundle_gpa (embedded: address of the first byte; external: 0) |
//! | 0x20 | 48 | bundle_digest (SHA-384, `elastic_bundle::compute_digest`) |
//! | 0x50 | 48 | reserved, zero |
//!
//! Embedded placement: the bundle is the first byte of the image, so
//! `image_size = round_up(bundle_len, 64 KiB) + 4 MiB` and `bundle_gpa = 4 GiB - image_size`;
//! an image is at most 16 MiB (below the IOAPIC/LAPIC windows), so a larger bundle is
//! external: the image is the kernel alone and the bundle goes to `IMAGE.bundle`.
//!
//! [`parse_descriptor`] performs exactly the checks `docs/image.md` lists for the kernel, so
//! host tools and tests see what the kernel will accept. This module depends only on `std`
//! and `elastic-bundle`, so tests may include it by path.

use std::fmt;

use elastic_bundle::{DIGEST_LEN, HEADER_LEN};

/// Size of the kernel template (`target/elastic-kernel.bin`): 4 MiB.
pub const KERNEL_SIZE: usize = 4 << 20;
/// Image sizes are multiples of this (QEMU and SEV-SNP require 64 KiB granularity).
pub const IMAGE_ALIGN: u64 = 64 << 10;
/// Largest image: 16 MiB, so the image stays within 0xFF000000..4 GiB.
pub const MAX_IMAGE_SIZE: u64 = 16 << 20;
/// The top of the image (it ends at 4 GiB).
pub const FOUR_GIB: u64 = 1 << 32;
/// Physical address of the kernel's first byte (4 GiB - 4 MiB); an embedded bundle must end
/// at or below it.
pub const KERNEL_BASE: u64 = FOUR_GIB - KERNEL_SIZE as u64;
/// Lowest address an embedded bundle may start at (4 GiB - 16 MiB).
pub const MIN_BUNDLE_GPA: u64 = FOUR_GIB - MAX_IMAGE_SIZE;
/// Offset of the descriptor inside the image's last 4 KiB page.
pub const DESCRIPTOR_PAGE_OFFSET: usize = 0xE00;
/// Size of the descriptor.
pub const DESCRIPTOR_LEN: usize = 128;
/// Descriptor magic.
pub const DESCRIPTOR_MAGIC: [u8; 8] = *b"ELBDESC1";
/// Descriptor version written and accepted.
pub const DESCRIPTOR_VERSION: u32 = 1;
/// `mode` value: the bundle is embedded in the image.
pub const MODE_EMBEDDED: u32 = 1;
/// `mode` value: the bundle is the fw_cfg file `opt/elastic/bundle`.
pub const MODE_EXTERNAL: u32 = 2;

/// The descriptor's fields as stored (no validation beyond the length; see
/// [`parse_descriptor`] for the kernel's checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// `"ELBDESC1"` when a bundle is present.
    pub magic: [u8; 8],
    /// Format version.
    pub version: u32,
    /// [`MODE_EMBEDDED`] or [`MODE_EXTERNAL`].
    pub mode: u32,
    /// Bundle size in bytes.
    pub bundle_len: u64,
    /// Embedded: physical address of the bundle; external: 0.
    pub bundle_gpa: u64,
    /// SHA-384 bundle digest.
    pub bundle_digest: [u8; DIGEST_LEN],
    /// Reserved bytes (zero when written by [`Descriptor::encode`]).
    pub reserved: [u8; 48],
}

impl Descriptor {
    /// A version-1 descriptor for a bundle embedded at `bundle_gpa`.
    pub fn embedded(bundle_len: u64, bundle_gpa: u64, bundle_digest: [u8; DIGEST_LEN]) -> Self {
        Self {
            magic: DESCRIPTOR_MAGIC,
            version: DESCRIPTOR_VERSION,
            mode: MODE_EMBEDDED,
            bundle_len,
            bundle_gpa,
            bundle_digest,
            reserved: [0; 48],
        }
    }

    /// A version-1 descriptor for an external (fw_cfg) bundle.
    pub fn external(bundle_len: u64, bundle_digest: [u8; DIGEST_LEN]) -> Self {
        Self {
            magic: DESCRIPTOR_MAGIC,
            version: DESCRIPTOR_VERSION,
            mode: MODE_EXTERNAL,
            bundle_len,
            bundle_gpa: 0,
            bundle_digest,
            reserved: [0; 48],
        }
    }

    /// The 128 little-endian bytes of the descriptor.
    pub fn encode(&self) -> [u8; DESCRIPTOR_LEN] {
        let mut b = [0u8; DESCRIPTOR_LEN];
        b[0x00..0x08].copy_from_slice(&self.magic);
        b[0x08..0x0C].copy_from_slice(&self.version.to_le_bytes());
        b[0x0C..0x10].copy_from_slice(&self.mode.to_le_bytes());
        b[0x10..0x18].copy_from_slice(&self.bundle_len.to_le_bytes());
        b[0x18..0x20].copy_from_slice(&self.bundle_gpa.to_le_bytes());
        b[0x20..0x50].copy_from_slice(&self.bundle_digest);
        b[0x50..0x80].copy_from_slice(&self.reserved);
        b
    }

    /// Reads the fields from `bytes`, which must be at least 128 bytes (only the first 128
    /// are read). No field is checked.
    pub fn decode(bytes: &[u8]) -> Result<Self, DescriptorError> {
        let Some(b) = bytes.get(..DESCRIPTOR_LEN) else {
            return Err(DescriptorError::Truncated { have: bytes.len() });
        };
        let mut d = Self {
            magic: [0; 8],
            version: 0,
            mode: 0,
            bundle_len: 0,
            bundle_gpa: 0,
            bundle_digest: [0; DIGEST_LEN],
            reserved: [0; 48],
        };
        let mut u32_at = [0u8; 4];
        let mut u64_at = [0u8; 8];
        d.magic.copy_from_slice(&b[0x00..0x08]);
        u32_at.copy_from_slice(&b[0x08..0x0C]);
        d.version = u32::from_le_bytes(u32_at);
        u32_at.copy_from_slice(&b[0x0C..0x10]);
        d.mode = u32::from_le_bytes(u32_at);
        u64_at.copy_from_slice(&b[0x10..0x18]);
        d.bundle_len = u64::from_le_bytes(u64_at);
        u64_at.copy_from_slice(&b[0x18..0x20]);
        d.bundle_gpa = u64::from_le_bytes(u64_at);
        d.bundle_digest.copy_from_slice(&b[0x20..0x50]);
        d.reserved.copy_from_slice(&b[0x50..0x80]);
        Ok(d)
    }
}

/// Where a descriptor that passed the kernel's checks says the bundle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleLocation {
    /// In the image at physical address `gpa`.
    Embedded {
        /// Physical address of the first byte (4 KiB aligned, within 4 GiB - 16 MiB .. 0xFFC00000).
        gpa: u64,
        /// Bundle length.
        len: u64,
        /// Pinned SHA-384 digest.
        digest: [u8; DIGEST_LEN],
    },
    /// The fw_cfg file `opt/elastic/bundle` (the host's `IMAGE.bundle`).
    External {
        /// Bundle length.
        len: u64,
        /// Pinned SHA-384 digest.
        digest: [u8; DIGEST_LEN],
    },
}

impl BundleLocation {
    /// The bundle length.
    pub fn len(&self) -> u64 {
        match *self {
            Self::Embedded { len, .. } | Self::External { len, .. } => len,
        }
    }

    /// The pinned digest.
    pub fn digest(&self) -> &[u8; DIGEST_LEN] {
        match self {
            Self::Embedded { digest, .. } | Self::External { digest, .. } => digest,
        }
    }

    /// The kernel's check of an external bundle: the fw_cfg file must hold at least
    /// `len` bytes. Returns the bundle bytes (the first `len` bytes of `file`).
    pub fn external_bytes<'a>(&self, file: &'a [u8]) -> Result<&'a [u8], DescriptorError> {
        let len = self.len();
        usize::try_from(len).ok().and_then(|n| file.get(..n)).ok_or(
            DescriptorError::ExternalTooShort {
                bundle_len: len,
                file_len: file.len() as u64,
            },
        )
    }
}

/// Why a descriptor, template or image was refused; each variant names the failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DescriptorError {
    /// Fewer than 128 bytes.
    Truncated {
        /// Bytes available.
        have: usize,
    },
    /// The version is not 1.
    BadVersion(u32),
    /// The mode is neither 1 nor 2.
    BadMode(u32),
    /// Embedded: `bundle_gpa` is not 4 KiB aligned.
    MisalignedGpa(u64),
    /// Embedded: `bundle_gpa` is below 4 GiB - 16 MiB.
    GpaTooLow(u64),
    /// Embedded: `bundle_gpa + bundle_len` overflows or ends above 0xFFC00000.
    BundleOverlapsKernel {
        /// The address.
        gpa: u64,
        /// The length.
        len: u64,
    },
    /// External: `bundle_gpa` is not 0.
    ExternalGpaNonZero(u64),
    /// External: the fw_cfg file is shorter than `bundle_len`.
    ExternalTooShort {
        /// Length from the descriptor.
        bundle_len: u64,
        /// Length of the file.
        file_len: u64,
    },
    /// The image's size is not a multiple of 64 KiB, is below 4 MiB or above 16 MiB.
    BadImageSize(u64),
    /// Embedded: the bundle does not lie inside the image.
    BundleOutsideImage {
        /// The address.
        gpa: u64,
        /// The image size.
        image_size: u64,
    },
    /// The kernel template is not exactly 4 MiB.
    BadTemplateSize(u64),
    /// The kernel template's descriptor slot is not all zero (it already carries a bundle).
    TemplateHasBundle,
    /// The bundle is shorter than its header or larger than the 4 GiB bundle limit.
    BadBundleLength(u64),
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { have } => {
                write!(f, "descriptor truncated: {have} of {DESCRIPTOR_LEN} bytes")
            }
            Self::BadVersion(v) => write!(f, "descriptor version {v} (expected 1)"),
            Self::BadMode(m) => write!(f, "descriptor mode {m} (expected 1 or 2)"),
            Self::MisalignedGpa(g) => write!(f, "bundle_gpa {g:#x} is not 4 KiB aligned"),
            Self::GpaTooLow(g) => {
                write!(
                    f,
                    "bundle_gpa {g:#x} is below 4 GiB - 16 MiB ({MIN_BUNDLE_GPA:#x})"
                )
            }
            Self::BundleOverlapsKernel { gpa, len } => write!(
                f,
                "bundle at {gpa:#x} of {len} bytes does not end at or below {KERNEL_BASE:#x}"
            ),
            Self::ExternalGpaNonZero(g) => {
                write!(f, "external bundle with non-zero bundle_gpa {g:#x}")
            }
            Self::ExternalTooShort {
                bundle_len,
                file_len,
            } => write!(
                f,
                "external bundle file has {file_len} bytes, descriptor says {bundle_len}"
            ),
            Self::BadImageSize(s) => write!(
                f,
                "image size {s} is not a multiple of 64 KiB between 4 MiB and 16 MiB"
            ),
            Self::BundleOutsideImage { gpa, image_size } => write!(
                f,
                "bundle at {gpa:#x} starts below the image ({image_size} bytes ending at 4 GiB)"
            ),
            Self::BadTemplateSize(s) => write!(
                f,
                "kernel template is {s} bytes, expected exactly {KERNEL_SIZE} (4 MiB)"
            ),
            Self::TemplateHasBundle => f.write_str(
                "kernel template's descriptor slot is not zero: it already carries a bundle \
                 (use the plain kernel from scripts/build-kernel.sh)",
            ),
            Self::BadBundleLength(l) => write!(f, "bundle length {l} is out of range"),
        }
    }
}

impl std::error::Error for DescriptorError {}

/// Validates a descriptor exactly as the kernel does (`docs/image.md`): magic (anything but
/// `"ELBDESC1"` means no bundle: `Ok(None)`), version 1, mode 1 or 2; embedded: `bundle_gpa`
/// 4 KiB aligned, at least 4 GiB - 16 MiB, `bundle_gpa + bundle_len` without overflow and at
/// most 0xFFC00000; external: `bundle_gpa` 0 (the fw_cfg length is checked with
/// [`BundleLocation::external_bytes`]). The reserved bytes are not checked.
pub fn parse_descriptor(bytes: &[u8]) -> Result<Option<BundleLocation>, DescriptorError> {
    let d = Descriptor::decode(bytes)?;
    if d.magic != DESCRIPTOR_MAGIC {
        return Ok(None);
    }
    if d.version != DESCRIPTOR_VERSION {
        return Err(DescriptorError::BadVersion(d.version));
    }
    match d.mode {
        MODE_EMBEDDED => {
            let gpa = d.bundle_gpa;
            if !gpa.is_multiple_of(4096) {
                return Err(DescriptorError::MisalignedGpa(gpa));
            }
            if gpa < MIN_BUNDLE_GPA {
                return Err(DescriptorError::GpaTooLow(gpa));
            }
            match gpa.checked_add(d.bundle_len) {
                Some(end) if end <= KERNEL_BASE => Ok(Some(BundleLocation::Embedded {
                    gpa,
                    len: d.bundle_len,
                    digest: d.bundle_digest,
                })),
                _ => Err(DescriptorError::BundleOverlapsKernel {
                    gpa,
                    len: d.bundle_len,
                }),
            }
        }
        MODE_EXTERNAL => {
            if d.bundle_gpa != 0 {
                return Err(DescriptorError::ExternalGpaNonZero(d.bundle_gpa));
            }
            Ok(Some(BundleLocation::External {
                len: d.bundle_len,
                digest: d.bundle_digest,
            }))
        }
        mode => Err(DescriptorError::BadMode(mode)),
    }
}

/// Offset of the descriptor in an image (or kernel template) of `image_len` bytes:
/// `image_len - 4096 + 0xE00`; `None` when the image is shorter than a page.
pub fn descriptor_offset(image_len: usize) -> Option<usize> {
    image_len
        .checked_sub(4096)
        .map(|o| o + DESCRIPTOR_PAGE_OFFSET)
}

/// The descriptor slot of an image.
fn descriptor_slot(image: &[u8]) -> Result<&[u8], DescriptorError> {
    descriptor_offset(image.len())
        .and_then(|o| image.get(o..o + DESCRIPTOR_LEN))
        .ok_or(DescriptorError::BadImageSize(image.len() as u64))
}

/// Checks a kernel template: exactly 4 MiB, descriptor slot all zero.
pub fn check_template(kernel: &[u8]) -> Result<(), DescriptorError> {
    if kernel.len() != KERNEL_SIZE {
        return Err(DescriptorError::BadTemplateSize(kernel.len() as u64));
    }
    if descriptor_slot(kernel)?.iter().any(|&b| b != 0) {
        return Err(DescriptorError::TemplateHasBundle);
    }
    Ok(())
}

/// `n` rounded up to a multiple of 64 KiB (`None` on overflow).
pub fn round_up_64k(n: u64) -> Option<u64> {
    n.checked_add(IMAGE_ALIGN - 1)
        .map(|v| v & !(IMAGE_ALIGN - 1))
}

/// Whether a bundle of `bundle_len` bytes is embedded:
/// `round_up(bundle_len, 64 KiB) + 4 MiB <= 16 MiB`.
pub fn fits_embedded(bundle_len: u64) -> bool {
    round_up_64k(bundle_len)
        .and_then(|p| p.checked_add(KERNEL_SIZE as u64))
        .is_some_and(|size| size <= MAX_IMAGE_SIZE)
}

/// An assembled image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assembled {
    /// The `-bios` image bytes.
    pub image: Vec<u8>,
    /// How the bundle travels (its digest and length included).
    pub location: BundleLocation,
}

/// Builds the image from a checked kernel template and a bundle (`docs/image.md`): embedded
/// when it fits in a 16 MiB image, else external (the image is the kernel alone and the
/// caller writes `bundle` to `IMAGE.bundle`). The digest is read from the bundle header
/// (`elastic_bundle::compute_digest` of a sealed bundle); the bundle is not re-verified here.
pub fn assemble(kernel: &[u8], bundle: &[u8]) -> Result<Assembled, DescriptorError> {
    check_template(kernel)?;
    let bundle_len = bundle.len() as u64;
    if bundle.len() < HEADER_LEN || bundle_len > elastic_bundle::MAX_TOTAL_LEN {
        return Err(DescriptorError::BadBundleLength(bundle_len));
    }
    let digest = elastic_bundle::compute_digest(bundle);
    let (mut image, descriptor, location) = if fits_embedded(bundle_len) {
        let padded =
            round_up_64k(bundle_len).ok_or(DescriptorError::BadBundleLength(bundle_len))?;
        let image_size = padded + KERNEL_SIZE as u64;
        let gpa = FOUR_GIB - image_size;
        let mut image = Vec::with_capacity(image_size as usize);
        image.extend_from_slice(bundle);
        image.resize(padded as usize, 0);
        image.extend_from_slice(kernel);
        (
            image,
            Descriptor::embedded(bundle_len, gpa, digest),
            BundleLocation::Embedded {
                gpa,
                len: bundle_len,
                digest,
            },
        )
    } else {
        (
            kernel.to_vec(),
            Descriptor::external(bundle_len, digest),
            BundleLocation::External {
                len: bundle_len,
                digest,
            },
        )
    };
    let at = descriptor_offset(image.len()).ok_or(DescriptorError::BadImageSize(0))?;
    image[at..at + DESCRIPTOR_LEN].copy_from_slice(&descriptor.encode());
    Ok(Assembled { image, location })
}

/// Reads an image's descriptor: checks the image size (a multiple of 64 KiB, 4..=16 MiB)
/// and the descriptor as the kernel does ([`parse_descriptor`]).
pub fn read_descriptor(image: &[u8]) -> Result<Option<BundleLocation>, DescriptorError> {
    let size = image.len() as u64;
    if !size.is_multiple_of(IMAGE_ALIGN) || size < KERNEL_SIZE as u64 || size > MAX_IMAGE_SIZE {
        return Err(DescriptorError::BadImageSize(size));
    }
    parse_descriptor(descriptor_slot(image)?)
}

/// The bytes of an embedded bundle inside `image` (which ends at 4 GiB), for a location
/// from [`read_descriptor`]; `Ok(None)` for an external bundle.
pub fn embedded_bundle<'a>(
    image: &'a [u8],
    location: &BundleLocation,
) -> Result<Option<&'a [u8]>, DescriptorError> {
    let BundleLocation::Embedded { gpa, len, .. } = *location else {
        return Ok(None);
    };
    let image_size = image.len() as u64;
    let base = FOUR_GIB
        .checked_sub(image_size)
        .ok_or(DescriptorError::BadImageSize(image_size))?;
    let outside = DescriptorError::BundleOutsideImage { gpa, image_size };
    let start = gpa.checked_sub(base).ok_or(outside.clone())?;
    let end = start.checked_add(len).ok_or(outside.clone())?;
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return Err(outside);
    };
    image.get(start..end).map(Some).ok_or(outside)
}

/// Lower-case hex of `bytes` (for printing digests).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(seed: u8) -> [u8; DIGEST_LEN] {
        core::array::from_fn(|i| seed.wrapping_add(i as u8))
    }

    #[test]
    fn encode_layout_matches_the_table() {
        let d = Descriptor::embedded(0x1234, 0xFF00_0000, digest(7));
        let b = d.encode();
        assert_eq!(&b[0..8], b"ELBDESC1");
        assert_eq!(b[8..12], 1u32.to_le_bytes());
        assert_eq!(b[12..16], 1u32.to_le_bytes());
        assert_eq!(b[16..24], 0x1234u64.to_le_bytes());
        assert_eq!(b[24..32], 0xFF00_0000u64.to_le_bytes());
        assert_eq!(b[32..80], digest(7));
        assert!(b[80..128].iter().all(|&x| x == 0));
        assert_eq!(Descriptor::decode(&b), Ok(d));
        let e = Descriptor::external(99, digest(1)).encode();
        assert_eq!(e[12..16], 2u32.to_le_bytes());
        assert_eq!(e[24..32], [0; 8]);
    }

    #[test]
    fn decode_needs_128_bytes() {
        assert_eq!(
            Descriptor::decode(&[0; 127]),
            Err(DescriptorError::Truncated { have: 127 })
        );
        assert_eq!(
            parse_descriptor(&[]),
            Err(DescriptorError::Truncated { have: 0 })
        );
    }

    #[test]
    fn no_magic_means_no_bundle() {
        assert_eq!(parse_descriptor(&[0; 128]), Ok(None));
        let mut d = Descriptor::embedded(1, 0xFF00_0000, digest(0));
        d.magic = *b"ELBDESC2";
        assert_eq!(parse_descriptor(&d.encode()), Ok(None));
    }

    #[test]
    fn parse_accepts_what_assemble_writes_and_checks_each_rule() {
        let ok = Descriptor::embedded(4096, MIN_BUNDLE_GPA, digest(3));
        assert_eq!(
            parse_descriptor(&ok.encode()),
            Ok(Some(BundleLocation::Embedded {
                gpa: MIN_BUNDLE_GPA,
                len: 4096,
                digest: digest(3)
            }))
        );
        let with = |f: &dyn Fn(&mut Descriptor)| {
            let mut d = ok;
            f(&mut d);
            parse_descriptor(&d.encode())
        };
        assert_eq!(
            with(&|d| d.version = 2),
            Err(DescriptorError::BadVersion(2))
        );
        assert_eq!(with(&|d| d.mode = 0), Err(DescriptorError::BadMode(0)));
        assert_eq!(with(&|d| d.mode = 3), Err(DescriptorError::BadMode(3)));
        let g = MIN_BUNDLE_GPA + 16;
        assert_eq!(
            with(&|d| d.bundle_gpa = g),
            Err(DescriptorError::MisalignedGpa(g))
        );
        let low = MIN_BUNDLE_GPA - 4096;
        assert_eq!(
            with(&|d| d.bundle_gpa = low),
            Err(DescriptorError::GpaTooLow(low))
        );
        // Ending exactly at the kernel is allowed; one byte more is not.
        let max = KERNEL_BASE - MIN_BUNDLE_GPA;
        assert!(matches!(with(&|d| d.bundle_len = max), Ok(Some(_))));
        assert_eq!(
            with(&|d| d.bundle_len = max + 1),
            Err(DescriptorError::BundleOverlapsKernel {
                gpa: MIN_BUNDLE_GPA,
                len: max + 1
            })
        );
        assert!(matches!(
            with(&|d| d.bundle_len = u64::MAX),
            Err(DescriptorError::BundleOverlapsKernel { .. })
        ));
        // External: gpa must be 0; any length is fine here (the fw_cfg file bounds it).
        let ext = Descriptor::external(u64::MAX, digest(9));
        assert!(matches!(
            parse_descriptor(&ext.encode()),
            Ok(Some(BundleLocation::External { .. }))
        ));
        let mut bad = ext;
        bad.bundle_gpa = 0x1000;
        assert_eq!(
            parse_descriptor(&bad.encode()),
            Err(DescriptorError::ExternalGpaNonZero(0x1000))
        );
        // Reserved bytes are not part of the kernel's checks.
        assert!(matches!(with(&|d| d.reserved = [0xAA; 48]), Ok(Some(_))));
    }

    #[test]
    fn external_bytes_needs_a_long_enough_file() {
        let loc = BundleLocation::External {
            len: 10,
            digest: digest(0),
        };
        let file = [5u8; 12];
        assert_eq!(loc.external_bytes(&file), Ok(&file[..10]));
        assert_eq!(
            loc.external_bytes(&file[..9]),
            Err(DescriptorError::ExternalTooShort {
                bundle_len: 10,
                file_len: 9
            })
        );
    }

    #[test]
    fn threshold_is_12_mib_after_rounding() {
        assert!(fits_embedded(12 << 20));
        assert!(!fits_embedded((12 << 20) + 1));
        assert!(!fits_embedded(u64::MAX));
        assert_eq!(round_up_64k(1), Some(IMAGE_ALIGN));
        assert_eq!(round_up_64k(IMAGE_ALIGN), Some(IMAGE_ALIGN));
        assert_eq!(round_up_64k(u64::MAX), None);
    }

    #[test]
    fn template_checks() {
        let mut k = vec![0x90u8; KERNEL_SIZE];
        let slot = descriptor_offset(KERNEL_SIZE).unwrap();
        k[slot..slot + DESCRIPTOR_LEN].fill(0);
        assert_eq!(check_template(&k), Ok(()));
        assert_eq!(
            check_template(&k[..KERNEL_SIZE - 4096]),
            Err(DescriptorError::BadTemplateSize(
                (KERNEL_SIZE - 4096) as u64
            ))
        );
        k[slot + 127] = 1;
        assert_eq!(check_template(&k), Err(DescriptorError::TemplateHasBundle));
    }

    #[test]
    fn assemble_places_the_bundle_at_the_image_start() {
        let mut k = vec![0xCCu8; KERNEL_SIZE];
        let slot = descriptor_offset(KERNEL_SIZE).unwrap();
        k[slot..slot + DESCRIPTOR_LEN].fill(0);
        // Any sealed-looking bytes work for placement (the digest is computed, not checked).
        let bundle: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let a = assemble(&k, &bundle).unwrap();
        assert_eq!(a.image.len(), 128 * 1024 + KERNEL_SIZE);
        let loc = read_descriptor(&a.image).unwrap().unwrap();
        assert_eq!(loc, a.location);
        assert_eq!(
            loc,
            BundleLocation::Embedded {
                gpa: FOUR_GIB - a.image.len() as u64,
                len: bundle.len() as u64,
                digest: elastic_bundle::compute_digest(&bundle),
            }
        );
        assert_eq!(embedded_bundle(&a.image, &loc).unwrap(), Some(&bundle[..]));
        // Padding is zero and the kernel follows unchanged outside the descriptor.
        assert!(a.image[bundle.len()..128 * 1024].iter().all(|&b| b == 0));
        assert_eq!(a.image[128 * 1024..128 * 1024 + slot], k[..slot]);
        // A template that already has a descriptor is refused.
        assert_eq!(
            assemble(&a.image[a.image.len() - KERNEL_SIZE..], &bundle),
            Err(DescriptorError::TemplateHasBundle)
        );
        assert_eq!(
            assemble(&k, &bundle[..10]),
            Err(DescriptorError::BadBundleLength(10))
        );
    }

    #[test]
    fn embedded_bundle_must_lie_inside_the_image() {
        let image = vec![0u8; KERNEL_SIZE + IMAGE_ALIGN as usize];
        let loc = BundleLocation::Embedded {
            gpa: MIN_BUNDLE_GPA,
            len: 10,
            digest: digest(0),
        };
        assert_eq!(
            embedded_bundle(&image, &loc),
            Err(DescriptorError::BundleOutsideImage {
                gpa: MIN_BUNDLE_GPA,
                image_size: image.len() as u64
            })
        );
        assert_eq!(
            read_descriptor(&image[..100]),
            Err(DescriptorError::BadImageSize(100))
        );
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xAB, 0x0F]), "00ab0f");
    }
}
