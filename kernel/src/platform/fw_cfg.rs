//! The fw_cfg transport over the traditional I/O-port interface: selector port 0x510 (16-bit
//! write), data port 0x511 (byte reads, done with `rep insb`), and the DMA interface (port
//! 0x514) for large files such as external bundles. Directory parsing and validation live in
//! `elastic_core::fw_cfg`.

use super::cpu;
use elastic_core::fw_cfg::Transport;

const SELECTOR_PORT: u16 = 0x510;
const DATA_PORT: u16 = 0x511;

/// Port-I/O access to fw_cfg.
#[derive(Debug, Default)]
pub struct PortTransport;

impl Transport for PortTransport {
    fn select(&mut self, key: u16) {
        cpu::outw(SELECTOR_PORT, key);
    }

    fn read(&mut self, buf: &mut [u8]) {
        cpu::insb(DATA_PORT, buf);
    }
}

/// fw_cfg DMA control bits (QEMU docs/specs/fw_cfg.rst).
const DMA_ERROR: u32 = 0x01;
const DMA_READ: u32 = 0x02;
const DMA_SELECT: u32 = 0x08;
const DMA_PORT_HIGH: u16 = 0x514;
const DMA_PORT_LOW: u16 = 0x518;

/// The DMA descriptor: all fields big-endian.
#[repr(C, align(16))]
struct DmaAccess {
    control: u32,
    length: u32,
    address: u64,
}

/// The device reported a DMA error.
#[derive(Debug)]
pub struct DmaError;

/// Reads `buf.len()` bytes of item `select` from offset 0 with the DMA interface.
/// `buf` must be identity-mapped RAM (heap or stacks), since the device writes physical memory.
pub fn dma_read(select: u16, buf: &mut [u8]) -> Result<(), DmaError> {
    let mut first = true;
    for chunk in buf.chunks_mut(1 << 30) {
        let mut control = DMA_READ;
        if first {
            control |= DMA_SELECT | (u32::from(select) << 16);
            first = false;
        }
        let mut access = DmaAccess {
            control: control.to_be(),
            length: (chunk.len() as u32).to_be(),
            address: (chunk.as_mut_ptr() as u64).to_be(),
        };
        let addr = &mut access as *mut DmaAccess as u64;
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        // Writing the low half of the descriptor's address starts the transfer.
        cpu::outl(DMA_PORT_HIGH, ((addr >> 32) as u32).to_be());
        cpu::outl(DMA_PORT_LOW, (addr as u32).to_be());
        loop {
            // SAFETY: `access` is a live local the device updates; a volatile read observes it.
            let control = u32::from_be(unsafe { core::ptr::read_volatile(&access.control) });
            if control & DMA_ERROR != 0 {
                return Err(DmaError);
            }
            if control == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }
    Ok(())
}
