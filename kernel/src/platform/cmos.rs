//! Reading the MC146818 CMOS real-time clock (index port 0x70, data port 0x71). Decoding lives
//! in `elastic_core::rtc`.

use super::cpu;
use elastic_core::rtc::RawRtc;

fn read(reg: u8) -> u8 {
    // Bit 7 of the index keeps NMIs disabled, as firmware conventionally does.
    cpu::outb(0x70, 0x80 | reg);
    cpu::inb(0x71)
}

fn snapshot() -> RawRtc {
    RawRtc {
        seconds: read(0x00),
        minutes: read(0x02),
        hours: read(0x04),
        day: read(0x07),
        month: read(0x08),
        year: read(0x09),
        century: read(0x32),
        status_b: read(0x0B),
    }
}

/// Reads a consistent snapshot: waits (boundedly) for no update in progress, then reads until
/// two consecutive snapshots agree.
pub fn read_rtc() -> RawRtc {
    let mut last = snapshot();
    for _ in 0..8 {
        for _ in 0..100_000 {
            if read(0x0A) & 0x80 == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        let now = snapshot();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}
