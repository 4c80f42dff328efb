//! A deterministic [`Services`] for fuzzing: clocks that advance on every read, a fixed
//! xorshift "random" stream, stdin from a given byte string, stdout/stderr counted and
//! dropped, and `sleep_until` that jumps the clock (never blocks). Same input, same run.

use wasi_impl::{Errno, Services};

/// Deterministic platform services.
#[derive(Debug, Clone)]
pub struct FakeServices {
    /// Monotonic clock, ns.
    pub now: u64,
    /// xorshift64 state.
    pub rng: u64,
    /// Remaining stdin bytes.
    pub stdin: Vec<u8>,
    /// Bytes written to stdout and stderr.
    pub output_bytes: u64,
    /// Number of `sleep_until` calls.
    pub sleeps: u64,
}

impl FakeServices {
    /// Services whose stdin yields `stdin`.
    pub fn new(stdin: &[u8]) -> Self {
        Self {
            now: 1_000_000,
            rng: 0x9E37_79B9_7F4A_7C15,
            stdin: stdin.to_vec(),
            output_bytes: 0,
            sleeps: 0,
        }
    }
}

impl Services for FakeServices {
    fn monotonic_now(&mut self) -> u64 {
        // Saturating: after `sleep_until(u64::MAX)` the clock must stay at the end of time,
        // not wrap to the past (a wrapped clock made `poll_oneoff` sleep forever).
        self.now = self.now.saturating_add(1_000);
        self.now
    }

    fn monotonic_resolution(&self) -> u64 {
        1
    }

    fn wall_now(&mut self) -> u64 {
        1_700_000_000_000_000_000u64.saturating_add(self.monotonic_now())
    }

    fn wall_resolution(&self) -> u64 {
        1_000
    }

    fn random(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            *b = self.rng as u8;
        }
    }

    fn stdout(&mut self, bytes: &[u8]) {
        self.output_bytes = self.output_bytes.wrapping_add(bytes.len() as u64);
    }

    fn stderr(&mut self, bytes: &[u8]) {
        self.output_bytes = self.output_bytes.wrapping_add(bytes.len() as u64);
    }

    fn read_stdin(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        let n = buf.len().min(self.stdin.len());
        buf[..n].copy_from_slice(&self.stdin[..n]);
        self.stdin.drain(..n);
        Ok(n)
    }

    fn sleep_until(&mut self, deadline_ns: u64) {
        self.sleeps += 1;
        self.now = self.now.max(deadline_ns);
    }
}
