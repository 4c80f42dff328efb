//! Fuzz harness `hv_boot_data`: the hypervisor's boot-time data in `elastic-core`: the
//! `etc/e820` memory map (`memory_map::MemoryMap::parse_e820`, QEMU `e820_memory_layout.h`)
//! and the fw_cfg device (`fw_cfg::FwCfg`, QEMU `docs/specs/fw_cfg.rst`): signature, feature
//! bitmap, file directory and file reads, all answered from the input.
//!
//! Byte 0 selects the mode. Even: the rest is an e820 table; an accepted map must be sorted
//! and non-overlapping, keep RAM off the firmware range, and `for_each_free` must report only
//! page-aligned pieces inside RAM and outside the reserved ranges (two input-chosen ranges
//! plus the firmware), whose total is `free_bytes`. Odd: a fw_cfg device whose every read
//! returns the next input bytes (zeros once exhausted) is probed, searched for `etc/e820` and
//! an input-chosen name, and the found file read into a 4 KiB buffer and parsed as a map.
//! Properties: no panic, `read_file` never returns more than the buffer or the file size.

use crate::input::Input;
use elastic_core::fw_cfg::{FwCfg, Transport};
use elastic_core::memory_map::{MemoryMap, Range, RegionKind};

/// The firmware image range used in these runs (top of the 4 GiB space, as in the kernel).
const FIRMWARE: Range = Range {
    start: 0xFFC0_0000,
    end: 0x1_0000_0000,
};

/// A fw_cfg device whose data port yields input bytes.
#[derive(Debug)]
struct FuzzFwCfg<'i, 'a> {
    input: &'i mut Input<'a>,
    selects: u32,
}

impl Transport for FuzzFwCfg<'_, '_> {
    fn select(&mut self, _key: u16) {
        self.selects += 1;
    }

    fn read(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.input.u8();
        }
    }
}

fn check_map(bytes: &[u8], reserved: &[Range]) {
    let map = match MemoryMap::parse_e820(bytes, FIRMWARE) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let regions = map.regions();
    for pair in regions.windows(2) {
        assert!(
            pair[0].range.end <= pair[1].range.start,
            "regions unsorted or overlapping: {pair:?}"
        );
    }
    let mut total = 0u64;
    for r in regions {
        assert!(!r.range.is_empty());
        if r.kind == RegionKind::Ram {
            assert!(
                !r.range.overlaps(&FIRMWARE),
                "RAM {r:?} overlaps the firmware"
            );
            total += r.range.len();
        }
    }
    assert_eq!(map.total_ram(), total);
    let mut all_reserved = reserved.to_vec();
    all_reserved.push(FIRMWARE);
    let mut sum = 0u64;
    map.for_each_free(&all_reserved, |piece| {
        assert!(
            piece.start % 4096 == 0 && piece.end % 4096 == 0,
            "unaligned {piece:?}"
        );
        assert!(!piece.is_empty());
        assert!(
            map.ram()
                .any(|r| r.start <= piece.start && piece.end <= r.end),
            "free piece {piece:?} outside RAM"
        );
        for r in &all_reserved {
            assert!(
                !piece.overlaps(r),
                "free piece {piece:?} overlaps reserved {r:?}"
            );
        }
        sum += piece.len();
    });
    assert_eq!(sum, map.free_bytes(&all_reserved));
    let _ = map.require_free(&all_reserved, sum);
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let mut reserved = Vec::new();
    for _ in 0..2 {
        let start = input.u32() as u64 * 0x1000 / 0x100;
        let len = u64::from(input.u16()) * 0x100;
        reserved.push(Range {
            start,
            end: start + len,
        });
    }
    if mode & 1 == 0 {
        check_map(input.rest(), &reserved);
        return;
    }
    let name_len = usize::from(input.below(64));
    let name_bytes = input.array::<64>();
    let name = String::from_utf8_lossy(&name_bytes[..name_len]).into_owned();
    let transport = FuzzFwCfg {
        input: &mut input,
        selects: 0,
    };
    let mut dev = match FwCfg::probe(transport) {
        Ok(d) => d,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = dev.has_dma();
    for wanted in ["etc/e820", name.as_str()] {
        match dev.find(wanted) {
            Ok(Some(file)) => {
                let mut buf = [0u8; 4096];
                match dev.read_file(file, &mut buf) {
                    Ok(got) => {
                        assert!(got.len() <= 4096 && got.len() == file.size as usize);
                        let copy = got.to_vec();
                        check_map(&copy, &reserved);
                    }
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}
