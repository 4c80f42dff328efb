//! The fw_cfg transport over the traditional I/O-port interface: selector port 0x510 (16-bit
//! write), data port 0x511 (byte reads, done with `rep insb`). Directory parsing and validation
//! live in `elastic_core::fw_cfg`.

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
