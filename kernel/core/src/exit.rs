//! The kernel's exit codes and how they travel out of QEMU.
//!
//! QEMU's `isa-debug-exit` device (I/O port 0xF4) ends QEMU with status `(value << 1) | 1`.
//! QEMU itself exits with 1 on its own errors and with 0 when the machine resets (e.g. a triple
//! fault with `-no-reboot`), so the kernel writes `code + 1`: QEMU's status is then
//! `2 * code + 3`, which is never 0 or 1, and `scripts/run-qemu.sh` turns it back into `code`.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (every guest exited 0) |
//! | 1..=99 | the first failing guest's exit code (codes above 99 become 99; the exact code is in the log) |
//! | 100 | a guest trapped or hit a limit |
//! | 110 | kernel panic |
//! | 111 | unexpected CPU exception |
//! | 112 | invalid platform data (memory map, fw_cfg) |
//! | 113 | out of memory |
//! | 114 | the baked bundle was refused |
//! | 115 | watchdog: a guest exceeded its wall-clock limit |
//! | 116 | a kernel self-test failed (test images only) |
//! | 125 | (run script) the machine reset without reporting: triple fault |
//! | 126 | (run script) QEMU failed to start or died |

/// Why the kernel stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// Everything succeeded.
    Success,
    /// A guest exited with this non-zero code.
    GuestExit(u32),
    /// A guest trapped or hit a limit.
    GuestTrap,
    /// The kernel panicked.
    Panic,
    /// An unexpected CPU exception.
    CpuException,
    /// Hypervisor-provided platform data was invalid.
    PlatformData,
    /// Memory ran out.
    OutOfMemory,
    /// The baked bundle was refused.
    BundleInvalid,
    /// A guest exceeded its wall-clock limit.
    Watchdog,
    /// A kernel self-test failed.
    SelfTestFailed,
}

impl ExitReason {
    /// The documented exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::GuestExit(0) => 0,
            Self::GuestExit(c) => u8::try_from(c.min(99)).unwrap_or(99),
            Self::GuestTrap => 100,
            Self::Panic => 110,
            Self::CpuException => 111,
            Self::PlatformData => 112,
            Self::OutOfMemory => 113,
            Self::BundleInvalid => 114,
            Self::Watchdog => 115,
            Self::SelfTestFailed => 116,
        }
    }
}

/// What `alloc` panics with when an allocation fails (`handle_alloc_error` in `no_std`:
/// "memory allocation of N bytes failed").
const ALLOC_FAILURE_PREFIX: &[u8] = b"memory allocation of ";

/// Keeps the first bytes written to it and drops the rest.
struct Prefix {
    buf: [u8; 32],
    len: usize,
}

impl core::fmt::Write for Prefix {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// The exit reason for a kernel panic with `message`: [`ExitReason::OutOfMemory`] for the
/// panic of a failed allocation, [`ExitReason::Panic`] otherwise. It allocates nothing (the
/// heap may be exhausted): the message's first bytes are formatted into a fixed buffer.
/// (`PanicMessage::as_str` cannot be used: it is `None` for formatted messages such as the
/// allocation failure's.)
pub fn panic_reason(message: &dyn core::fmt::Display) -> ExitReason {
    use core::fmt::Write;
    let mut p = Prefix {
        buf: [0; 32],
        len: 0,
    };
    let _ = write!(p, "{message}");
    if p.buf
        .get(..p.len)
        .is_some_and(|m| m.starts_with(ALLOC_FAILURE_PREFIX))
    {
        ExitReason::OutOfMemory
    } else {
        ExitReason::Panic
    }
}

/// The value to write to `isa-debug-exit` for `code`.
pub fn debug_exit_value(code: u8) -> u32 {
    u32::from(code.min(124)) + 1
}

/// What a QEMU process exit status means, given the encoding above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuStatus {
    /// The kernel exited with this code.
    Kernel(u8),
    /// The machine reset without reporting (status 0).
    Reset,
    /// QEMU failed (status 1 or an even status).
    QemuFailed,
}

/// Decodes QEMU's exit status.
pub fn decode_qemu_status(status: i32) -> QemuStatus {
    match status {
        0 => QemuStatus::Reset,
        s if (3..=255).contains(&s) && s % 2 == 1 => QemuStatus::Kernel(((s - 3) / 2) as u8),
        _ => QemuStatus::QemuFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_qemu() {
        for code in 0..=124u8 {
            let status = (debug_exit_value(code) << 1) | 1;
            assert_eq!(decode_qemu_status(status as i32), QemuStatus::Kernel(code));
        }
        assert_eq!(decode_qemu_status(0), QemuStatus::Reset);
        assert_eq!(decode_qemu_status(1), QemuStatus::QemuFailed);
        assert_eq!(decode_qemu_status(2), QemuStatus::QemuFailed);
        assert_eq!(ExitReason::GuestExit(255).code(), 99);
        assert_eq!(ExitReason::GuestExit(7).code(), 7);
        assert_eq!(ExitReason::GuestExit(0).code(), 0);
        assert_eq!(ExitReason::Panic.code(), 110);
    }

    #[test]
    fn allocation_failure_panics_are_out_of_memory() {
        let n = 368;
        assert_eq!(
            panic_reason(&format_args!("memory allocation of {n} bytes failed")),
            ExitReason::OutOfMemory
        );
        assert_eq!(
            panic_reason(&format_args!("index out of bounds: the len is {n}")),
            ExitReason::Panic
        );
        assert_eq!(panic_reason(&"memory allocation"), ExitReason::Panic);
        assert_eq!(panic_reason(&""), ExitReason::Panic);
    }
}
