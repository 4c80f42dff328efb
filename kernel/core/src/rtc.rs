//! Decoding the CMOS real-time clock into Unix time.
//!
//! The platform layer reads the MC146818 registers (seconds 0x00, minutes 0x02, hours 0x04,
//! day 0x07, month 0x08, year 0x09, century 0x32 when present, status B 0x0B) twice with the
//! update-in-progress flag clear; this module turns those raw bytes into seconds since the
//! epoch. Status B bit 2 set = binary (else BCD), bit 1 set = 24-hour (else bit 7 of the hour
//! byte means PM). Out-of-range values (a hostile or broken RTC) are errors, not panics.

/// Raw register values as read from the RTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawRtc {
    /// Register 0x00.
    pub seconds: u8,
    /// Register 0x02.
    pub minutes: u8,
    /// Register 0x04.
    pub hours: u8,
    /// Register 0x07.
    pub day: u8,
    /// Register 0x08.
    pub month: u8,
    /// Register 0x09.
    pub year: u8,
    /// Register 0x32 (0 when the century is unknown: 20xx is assumed).
    pub century: u8,
    /// Register 0x0B.
    pub status_b: u8,
}

/// The RTC returned values that are not a valid date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidRtc;

impl core::fmt::Display for InvalidRtc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the CMOS RTC returned an invalid date or time")
    }
}

fn bcd(v: u8) -> Result<u8, InvalidRtc> {
    let (hi, lo) = (v >> 4, v & 0xF);
    if hi > 9 || lo > 9 {
        return Err(InvalidRtc);
    }
    Ok(hi * 10 + lo)
}

impl RawRtc {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(&self) -> Result<u64, InvalidRtc> {
        let binary = self.status_b & 0x04 != 0;
        let h24 = self.status_b & 0x02 != 0;
        let conv = |v: u8| if binary { Ok(v) } else { bcd(v) };
        let pm = !h24 && self.hours & 0x80 != 0;
        let sec = conv(self.seconds)?;
        let min = conv(self.minutes)?;
        let mut hour = conv(self.hours & 0x7F)?;
        let day = conv(self.day)?;
        let month = conv(self.month)?;
        let year = conv(self.year)?;
        let century = if self.century == 0 {
            20
        } else {
            conv(self.century)?
        };
        if !h24 {
            if !(1..=12).contains(&hour) {
                return Err(InvalidRtc);
            }
            hour = match (hour, pm) {
                (12, false) => 0,
                (12, true) => 12,
                (h, true) => h + 12,
                (h, false) => h,
            };
        }
        let year = u64::from(century) * 100 + u64::from(year);
        if sec > 59 || min > 59 || hour > 23 || !(1..=12).contains(&month) || year < 1970 {
            return Err(InvalidRtc);
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(InvalidRtc);
        }
        let days = days_from_civil(year, month, day);
        Ok(days * 86_400 + u64::from(hour) * 3600 + u64::from(min) * 60 + u64::from(sec))
    }
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (proleptic Gregorian, year >= 1970).
fn days_from_civil(y: u64, m: u8, d: u8) -> u64 {
    let mut days = 0;
    for year in 1970..y {
        days += if is_leap(year) { 366 } else { 365 };
    }
    for month in 1..m {
        days += u64::from(days_in_month(y, month));
    }
    days + u64::from(d) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_24h() {
        // 2026-11-27 22:24:29, BCD, 24-hour mode (status B = 0x02), as QEMU reports it.
        let raw = RawRtc {
            seconds: 0x29,
            minutes: 0x24,
            hours: 0x22,
            day: 0x27,
            month: 0x11,
            year: 0x26,
            century: 0x20,
            status_b: 0x02,
        };
        assert_eq!(raw.unix_seconds(), Ok(1_795_818_269));
    }

    #[test]
    fn binary_12h_and_leap_day() {
        // 2024-02-29 12:30:00 PM and 12:30 AM in binary 12-hour mode.
        let mut raw = RawRtc {
            seconds: 0,
            minutes: 30,
            hours: 0x80 | 12,
            day: 29,
            month: 2,
            year: 24,
            century: 0,
            status_b: 0x04,
        };
        assert_eq!(raw.unix_seconds(), Ok(1_709_209_800));
        raw.hours = 12;
        assert_eq!(raw.unix_seconds(), Ok(1_709_209_800 - 12 * 3600));
        raw.day = 30;
        assert_eq!(raw.unix_seconds(), Err(InvalidRtc));
    }

    #[test]
    fn garbage_is_refused() {
        let good = RawRtc {
            day: 1,
            month: 1,
            year: 0x70,
            century: 0x19,
            status_b: 0x02,
            ..Default::default()
        };
        assert_eq!(good.unix_seconds(), Ok(0));
        for bad in [
            RawRtc {
                seconds: 0x5A,
                ..good
            },
            RawRtc {
                minutes: 0x60,
                ..good
            },
            RawRtc {
                month: 0x13,
                ..good
            },
            RawRtc { day: 0, ..good },
            RawRtc { year: 0x69, ..good },
            RawRtc {
                hours: 0x24,
                status_b: 0x02,
                ..good
            },
            RawRtc {
                hours: 0,
                status_b: 0x00,
                ..good
            },
        ] {
            assert_eq!(bad.unix_seconds(), Err(InvalidRtc), "{bad:?}");
        }
        // Every byte pattern decodes or errors, never panics.
        for v in 0..=255u8 {
            let _ = RawRtc {
                seconds: v,
                hours: v,
                status_b: v,
                ..good
            }
            .unix_seconds();
        }
    }
}
