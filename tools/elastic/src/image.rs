//! Firmware image assembly and reading, for `elastic build` (`docs/image.md`).
//!
//! The descriptor codec, the placement rules and the assembly itself are
//! `elastic_core::image`, the very code the kernel uses to read the descriptor, so the host
//! tool can never write an image the kernel reads differently. This module adds what only the
//! host needs: the bundle digest computed from the bundle, checks on whole images read back
//! from disk, and slicing an embedded bundle out of an image file.

use std::fmt;

use elastic_bundle::{DIGEST_LEN, HEADER_LEN};
use elastic_core::image as core_image;

/// Size of the kernel template (`target/elastic-kernel.bin`): 4 MiB. (Used by the tests.)
#[allow(dead_code)]
pub const KERNEL_SIZE: usize = core_image::KERNEL_SIZE as usize;
/// Size of the descriptor.
pub const DESCRIPTOR_LEN: usize = core_image::DESCRIPTOR_LEN;

/// Where a descriptor that passed the kernel's checks says the bundle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleLocation {
    /// In the image at physical address `gpa`.
    Embedded {
        /// Physical address of the first byte.
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
    fn from_core(d: &core_image::Descriptor) -> Self {
        match d.location {
            core_image::Location::Embedded { gpa } => Self::Embedded {
                gpa,
                len: d.len,
                digest: d.digest,
            },
            core_image::Location::External => Self::External {
                len: d.len,
                digest: d.digest,
            },
        }
    }

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

    /// The kernel's check of an external bundle: the fw_cfg file must hold at least `len`
    /// bytes. Returns the bundle bytes (the first `len` bytes of `file`).
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

/// Why a template, bundle or image was refused; each variant names the failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DescriptorError {
    /// The descriptor fails the kernel's checks.
    Descriptor(core_image::DescriptorError),
    /// The kernel template or bundle cannot be assembled.
    Assemble(core_image::AssembleError),
    /// The bundle is shorter than its header or larger than the format allows.
    BadBundleLength(u64),
    /// An image is not a multiple of 64 KiB between 4 and 16 MiB.
    BadImageSize(u64),
    /// The external bundle file is shorter than the descriptor says.
    ExternalTooShort {
        /// Length in the descriptor.
        bundle_len: u64,
        /// Length of the file.
        file_len: u64,
    },
    /// An embedded bundle does not lie inside the image file.
    BundleOutsideImage {
        /// Claimed address.
        gpa: u64,
        /// The image's size.
        image_size: u64,
    },
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Descriptor(e) => write!(f, "{e}"),
            Self::Assemble(e) => write!(f, "{e}"),
            Self::BadBundleLength(n) => write!(f, "bundle of {n} bytes is not a valid bundle"),
            Self::BadImageSize(n) => write!(
                f,
                "image of {n} bytes: expected a multiple of 64 KiB between 4 and 16 MiB"
            ),
            Self::ExternalTooShort {
                bundle_len,
                file_len,
            } => write!(
                f,
                "the external bundle file has {file_len} bytes, the descriptor says {bundle_len}"
            ),
            Self::BundleOutsideImage { gpa, image_size } => write!(
                f,
                "embedded bundle at {gpa:#x} lies outside the {image_size}-byte image"
            ),
        }
    }
}

impl std::error::Error for DescriptorError {}

/// Offset of the descriptor in an image (or kernel template) of `image_len` bytes;
/// `None` when the image is shorter than a page. (Used by the tests, which include this file.)
#[allow(dead_code)]
pub fn descriptor_offset(image_len: usize) -> Option<usize> {
    (image_len >= 4096).then(|| core_image::descriptor_offset(image_len))
}

/// An assembled image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assembled {
    /// The `-bios` image bytes.
    pub image: Vec<u8>,
    /// How the bundle travels (its digest and length included).
    pub location: BundleLocation,
}

/// Builds the image from the kernel template and a sealed bundle: embedded when it fits in a
/// 16 MiB image, else external (the image is the kernel alone and the caller writes `bundle`
/// to `IMAGE.bundle`). The pinned digest is `elastic_bundle::compute_digest` of the bundle.
pub fn assemble(kernel: &[u8], bundle: &[u8]) -> Result<Assembled, DescriptorError> {
    let bundle_len = bundle.len() as u64;
    if bundle.len() < HEADER_LEN || bundle_len > elastic_bundle::MAX_TOTAL_LEN {
        return Err(DescriptorError::BadBundleLength(bundle_len));
    }
    let digest = elastic_bundle::compute_digest(bundle);
    let a = core_image::assemble(kernel, bundle, digest).map_err(DescriptorError::Assemble)?;
    Ok(Assembled {
        image: a.image,
        location: BundleLocation::from_core(&a.descriptor),
    })
}

/// Reads an image's descriptor exactly as the kernel does, after checking the image size.
pub fn read_descriptor(image: &[u8]) -> Result<Option<BundleLocation>, DescriptorError> {
    let size = image.len() as u64;
    if !size.is_multiple_of(core_image::IMAGE_ALIGN)
        || !(core_image::KERNEL_SIZE..=core_image::MAX_IMAGE_SIZE).contains(&size)
    {
        return Err(DescriptorError::BadImageSize(size));
    }
    let at = core_image::descriptor_offset(image.len());
    let mut slot = [0u8; DESCRIPTOR_LEN];
    slot.copy_from_slice(&image[at..at + DESCRIPTOR_LEN]);
    core_image::Descriptor::parse(&slot)
        .map(|d| d.as_ref().map(BundleLocation::from_core))
        .map_err(DescriptorError::Descriptor)
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
    let outside = DescriptorError::BundleOutsideImage { gpa, image_size };
    let base = core_image::FOUR_GIB
        .checked_sub(image_size)
        .ok_or(outside.clone())?;
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

    fn template() -> Vec<u8> {
        let mut k = vec![0xC3u8; KERNEL_SIZE];
        let at = core_image::descriptor_offset(k.len());
        k[at..at + DESCRIPTOR_LEN].fill(0);
        k
    }

    #[test]
    fn read_back_what_was_assembled() {
        let bundle = vec![9u8; 200_000];
        let a = assemble(&template(), &bundle).unwrap();
        let loc = read_descriptor(&a.image).unwrap().unwrap();
        assert_eq!(loc, a.location);
        assert_eq!(embedded_bundle(&a.image, &loc).unwrap(), Some(&bundle[..]));
    }

    #[test]
    fn bad_inputs_are_named() {
        assert_eq!(
            assemble(&template(), &[0; 10]),
            Err(DescriptorError::BadBundleLength(10))
        );
        assert!(matches!(
            assemble(&template()[1..], &[0; 200]),
            Err(DescriptorError::Assemble(
                core_image::AssembleError::KernelSize(_)
            ))
        ));
        assert_eq!(
            read_descriptor(&[0; 4096]),
            Err(DescriptorError::BadImageSize(4096))
        );
        let loc = BundleLocation::Embedded {
            gpa: 0xFF00_0000,
            len: 10,
            digest: [0; 48],
        };
        assert!(matches!(
            embedded_bundle(&template(), &loc),
            Err(DescriptorError::BundleOutsideImage { .. })
        ));
    }
}
