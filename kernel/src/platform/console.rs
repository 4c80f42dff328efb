//! The serial console on COM1 (I/O port 0x3F8), through the `uart_16550` crate.
//!
//! Normal output takes a spin lock. The exception and panic paths use [`emergency`], which
//! writes directly to the UART without the lock, so a fault while the lock is held (for example
//! inside a log call) still gets reported.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;
use uart_16550::Uart16550;
use uart_16550::backend::PioBackend;

/// COM1's base port.
const COM1: u16 = 0x3F8;
/// COM2's base port (the export channel, see docs/image.md).
#[cfg_attr(feature = "selftest", allow(dead_code))]
const COM2: u16 = 0x2F8;

static UART: Mutex<Option<Uart16550<PioBackend>>> = Mutex::new(None);
#[cfg_attr(feature = "selftest", allow(dead_code))]
static EXPORT_UART: Mutex<Option<Uart16550<PioBackend>>> = Mutex::new(None);

/// Writes bytes to COM2, the export channel. Returns false when there is no second UART.
#[cfg_attr(feature = "selftest", allow(dead_code))]
pub fn write_export(bytes: &[u8]) -> bool {
    let mut port = EXPORT_UART.lock();
    if port.is_none() {
        // SAFETY: 0x2F8..0x300 is COM2, used only for exports.
        let Ok(mut uart) = (unsafe { Uart16550::new_port(COM2) }) else {
            return false;
        };
        if uart.init(uart_16550::Config::default()).is_err() {
            return false;
        }
        *port = Some(uart);
    }
    if let Some(uart) = port.as_mut() {
        uart.send_bytes_exact(bytes);
        return true;
    }
    false
}

/// Initialises COM1 (115200 8N1, FIFOs on). Without a UART, output is dropped.
pub fn init() {
    // SAFETY: 0x3F8..0x400 is COM1, owned by the console for the whole run.
    let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1) }) else {
        return;
    };
    if uart.init(uart_16550::Config::default()).is_ok() {
        *UART.lock() = Some(uart);
    }
}

/// The ISA debug console port (QEMU `-debugcon`), the log channel in split mode.
const DEBUGCON: u16 = 0xE9;

/// Split mode: COM1 carries only guest stdout; kernel logs and guest stderr go to the debug
/// console, so guest output can be compared byte for byte with other runtimes.
static SPLIT: AtomicBool = AtomicBool::new(false);

/// Selects split mode (see [`SPLIT`]).
pub fn set_split(split: bool) {
    SPLIT.store(split, Ordering::Relaxed);
}

/// Writes bytes to the console (COM1).
pub fn write_bytes(bytes: &[u8]) {
    if let Some(uart) = UART.lock().as_mut() {
        uart.send_bytes_exact(bytes);
    }
}

/// Writes kernel log or guest stderr bytes: COM1, or the debug console in split mode.
pub fn write_log_bytes(bytes: &[u8]) {
    if SPLIT.load(Ordering::Relaxed) {
        for &b in bytes {
            super::cpu::outb(DEBUGCON, b);
        }
    } else {
        write_bytes(bytes);
    }
}

/// A `fmt::Write` handle on the log channel (see [`write_log_bytes`]).
#[derive(Debug, Clone, Copy)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_log_bytes(s.as_bytes());
        Ok(())
    }
}

/// A lock-free writer for fatal paths: polls the UART's line-status register directly (or
/// writes the debug console in split mode).
#[derive(Debug, Clone, Copy)]
pub struct Emergency;

/// Returns the lock-free writer.
pub fn emergency() -> Emergency {
    Emergency
}

impl fmt::Write for Emergency {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if SPLIT.load(Ordering::Relaxed) {
            for &b in s.as_bytes() {
                super::cpu::outb(DEBUGCON, b);
            }
            return Ok(());
        }
        for &b in s.as_bytes() {
            // Wait (boundedly) for the transmit holding register to empty: LSR bit 5.
            for _ in 0..100_000 {
                if super::cpu::inb(COM1 + 5) & 0x20 != 0 {
                    break;
                }
                core::hint::spin_loop();
            }
            super::cpu::outb(COM1, b);
        }
        Ok(())
    }
}
