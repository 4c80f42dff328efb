//! A simulated SEV-SNP hypervisor, written from the GHCB specification (AMD 56421 rev 2.x:
//! §2.3.1 MSR protocol, §2.3 GHCB layout, §4.1 NAE events, §4.1.6 page state change,
//! §4.1.8 guest request) independently of Elastic's guest-side codecs: every offset and bit
//! position below is re-derived here from the spec so that a shared misreading would have to
//! be made twice.
//!
//! [`Hypervisor`] holds what a real hypervisor holds for one vCPU: the GHCB MSR value, the
//! registered GHCB GPA, guest memory pages (GPA → 4 KiB page), the private/shared state of
//! each page, port and MSR models and a pluggable PSP backend for guest requests. It answers
//! MSR-protocol requests ([`Hypervisor::vmgexit_msr`]) and GHCB-page requests
//! ([`Hypervisor::vmgexit_ghcb`]) the way the spec says a hypervisor must: it checks that the
//! inputs it needs are marked valid, clears the valid bitmap after reading inputs, and marks
//! its outputs valid. [`Misbehavior`] makes it break the protocol in specific ways so the
//! guest's checks can be tested.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

/// Page size.
pub const PAGE_SIZE: usize = 4096;

/// GHCB page offsets (GHCB spec table "GHCB Save Area").
mod off {
    pub const RAX: usize = 0x01F8;
    pub const RCX: usize = 0x0308;
    pub const RDX: usize = 0x0310;
    pub const RBX: usize = 0x0318;
    pub const EXIT_CODE: usize = 0x0390;
    pub const EXIT_INFO_1: usize = 0x0398;
    pub const EXIT_INFO_2: usize = 0x03A0;
    pub const SCRATCH: usize = 0x03A8;
    pub const BITMAP: usize = 0x03F0;
    pub const BUFFER: usize = 0x0800;
    pub const BUFFER_END: usize = 0x0FF0;
    pub const VERSION: usize = 0x0FFA;
    pub const USAGE: usize = 0x0FFC;
}

/// Exit codes the simulator implements (GHCB spec table "NAE events").
pub mod exits {
    /// RDTSC.
    pub const RDTSC: u64 = 0x6E;
    /// CPUID.
    pub const CPUID: u64 = 0x72;
    /// IOIO.
    pub const IOIO: u64 = 0x7B;
    /// MSR.
    pub const MSR: u64 = 0x7C;
    /// RDTSCP.
    pub const RDTSCP: u64 = 0x87;
    /// Page state change.
    pub const PSC: u64 = 0x8000_0010;
    /// Guest request.
    pub const GUEST_REQUEST: u64 = 0x8000_0011;
    /// Extended guest request.
    pub const EXT_GUEST_REQUEST: u64 = 0x8000_0012;
    /// Termination.
    pub const TERMINATE: u64 = 0x8000_FFFE;
}

/// sw_exit_info_2 error codes when sw_exit_info_1 = 2.
pub mod errors {
    /// GHCB not registered.
    pub const NOT_REGISTERED: u64 = 1;
    /// Invalid GHCB usage / version.
    pub const INVALID_USAGE: u64 = 2;
    /// Invalid scratch area.
    pub const INVALID_SCRATCH: u64 = 3;
    /// Missing input.
    pub const MISSING_INPUT: u64 = 4;
    /// Invalid input.
    pub const INVALID_INPUT: u64 = 5;
}

/// The state of a guest page in the simulated RMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Assigned to the guest (the default for guest RAM).
    Private,
    /// Shared with the hypervisor.
    Shared,
}

/// Ways the simulated hypervisor can break the protocol.
#[derive(Debug, Clone, Default)]
pub struct Misbehavior {
    /// Answer GHCB registration with "refused" (all ones).
    pub refuse_registration: bool,
    /// Echo a different GFN on registration.
    pub wrong_echo: bool,
    /// Process at most this many PSC entries per exit (legal partial progress).
    pub psc_entries_per_exit: Option<usize>,
    /// After this many PSC entries in total, fail with this sw_exit_info_2 error.
    pub psc_fail_after: Option<(usize, u64)>,
    /// On a PSC exit that starts past entry 0, move cur_entry back by one instead of working.
    pub psc_move_backwards: bool,
    /// Return from PSC exits without doing anything.
    pub psc_stall: bool,
    /// Report PSC success but set cur_entry beyond end_entry + 1.
    pub psc_skip_past_end: bool,
    /// Error code for MSR-protocol page-state changes (0 = success).
    pub msr_psc_error: u32,
    /// Do not mark output registers (RAX, RBX, RCX, RDX) valid.
    pub drop_output_valid_bits: bool,
    /// Do not mark sw_exit_info_1/2 valid.
    pub drop_info_valid_bits: bool,
    /// Ask the guest to inject this exception (vector, error code) instead of answering.
    pub inject_exception: Option<(u8, Option<u32>)>,
    /// Put this value into sw_exit_info_1 instead of the real result.
    pub garbage_info_1: Option<u64>,
    /// Answer this many guest requests with BUSY before processing.
    pub guest_request_busy: u32,
}

/// What the simulated PSP does with a guest request: reads the (encrypted) request page and
/// writes the response page, returning the PSP firmware status. The `psp` simulator
/// implements this; tests can provide their own.
pub trait GuestRequestBackend {
    /// Handles one guest message.
    fn handle(&mut self, request: &[u8; PAGE_SIZE], response: &mut [u8; PAGE_SIZE]) -> u32;
}

/// One recorded port write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortWrite {
    /// Port.
    pub port: u16,
    /// Size in bytes.
    pub size: u8,
    /// Value written.
    pub value: u32,
}

/// Counters of what the guest asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitCounts {
    /// MSR-protocol exits.
    pub msr_protocol: u32,
    /// GHCB-page exits.
    pub ghcb: u32,
    /// CPUID requests (either protocol).
    pub cpuid: u32,
    /// PSC exits (GHCB page).
    pub psc: u32,
    /// Guest requests.
    pub guest_request: u32,
}

/// The simulated hypervisor for one vCPU.
pub struct Hypervisor {
    /// Current GHCB MSR value.
    pub msr: u64,
    /// Registered GHCB GPA.
    pub registered_gpa: Option<u64>,
    /// Lowest GHCB protocol version supported.
    pub min_version: u16,
    /// Highest GHCB protocol version supported.
    pub max_version: u16,
    /// C-bit position reported in SEV information.
    pub cbit: u8,
    /// Hypervisor feature bitmap (bit 0 = SNP).
    pub features: u64,
    /// Preferred GHCB GFN, if any.
    pub preferred_gfn: Option<u64>,
    /// Misbehaviour switches.
    pub misbehavior: Misbehavior,
    /// The hypervisor's own CPUID answers (untrusted; a guest under SNP must not use them).
    pub cpuid: BTreeMap<u32, [u32; 4]>,
    /// Values returned by IN per port.
    pub port_in: BTreeMap<u16, u32>,
    /// Bytes returned, in order, by string IN (INS); falls back to `port_in`.
    pub port_in_stream: VecDeque<u8>,
    /// Port writes, in order.
    pub port_writes: Vec<PortWrite>,
    /// MSR values (RDMSR of an absent MSR injects #GP).
    pub msrs: BTreeMap<u32, u64>,
    /// Current TSC (advances by 1000 per read).
    pub tsc: u64,
    /// TSC_AUX for RDTSCP.
    pub tsc_aux: u32,
    /// Termination requested by the guest: (reason set, reason code).
    pub terminated: Option<(u8, u8)>,
    /// Exit counters.
    pub counts: ExitCounts,
    /// Certificate pages an extended guest request needs (0 = no certificates).
    pub cert_pages_needed: u64,
    /// Certificate blob written to the guest's buffer on extended requests.
    pub cert_blob: Vec<u8>,
    states: BTreeMap<u64, PageState>,
    memory: BTreeMap<u64, Box<[u8; PAGE_SIZE]>>,
    psp: Option<Box<dyn GuestRequestBackend>>,
    psc_entries_done: usize,
}

impl core::fmt::Debug for Hypervisor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hypervisor")
            .field("msr", &self.msr)
            .field("registered_gpa", &self.registered_gpa)
            .field("terminated", &self.terminated)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Default for Hypervisor {
    fn default() -> Self {
        Self::new()
    }
}

fn rd64(page: &[u8; PAGE_SIZE], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&page[at..at + 8]);
    u64::from_le_bytes(b)
}

fn wr64(page: &mut [u8; PAGE_SIZE], at: usize, v: u64) {
    page[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Bit index in the valid bitmap for the qword at `at`.
fn bit_of(at: usize) -> usize {
    at / 8
}

fn is_valid(page: &[u8; PAGE_SIZE], at: usize) -> bool {
    let n = bit_of(at);
    page[off::BITMAP + n / 8] & (1 << (n % 8)) != 0
}

fn mark_valid(page: &mut [u8; PAGE_SIZE], at: usize) {
    let n = bit_of(at);
    page[off::BITMAP + n / 8] |= 1 << (n % 8);
}

/// A GHCB-protocol outcome before misbehaviour is applied.
enum Outcome {
    /// info_1 = 0, info_2 as given.
    Done(u64),
    /// info_1 = 1, inject (vector, error code).
    Inject(u8, Option<u32>),
    /// info_1 = 2, info_2 = error.
    Error(u64),
}

impl Hypervisor {
    /// A well-behaved hypervisor: protocol versions 1..=2, C-bit 51, SNP feature, no ports.
    pub fn new() -> Self {
        Self {
            msr: 0,
            registered_gpa: None,
            min_version: 1,
            max_version: 2,
            cbit: 51,
            features: 1,
            preferred_gfn: None,
            misbehavior: Misbehavior::default(),
            cpuid: BTreeMap::new(),
            port_in: BTreeMap::new(),
            port_in_stream: VecDeque::new(),
            port_writes: Vec::new(),
            msrs: BTreeMap::new(),
            tsc: 1_000_000,
            tsc_aux: 0,
            terminated: None,
            counts: ExitCounts::default(),
            cert_pages_needed: 0,
            cert_blob: Vec::new(),
            states: BTreeMap::new(),
            memory: BTreeMap::new(),
            psp: None,
            psc_entries_done: 0,
        }
    }

    /// Installs the PSP backend for guest requests.
    pub fn set_psp(&mut self, psp: Box<dyn GuestRequestBackend>) {
        self.psp = Some(psp);
    }

    /// State of the page containing `gpa` (private unless changed).
    pub fn page_state(&self, gpa: u64) -> PageState {
        self.states
            .get(&(gpa >> 12))
            .copied()
            .unwrap_or(PageState::Private)
    }

    /// Sets the state of the page containing `gpa` (test setup).
    pub fn set_page_state(&mut self, gpa: u64, state: PageState) {
        self.states.insert(gpa >> 12, state);
    }

    /// Guest memory page at `gpa` (created zeroed on first use).
    pub fn guest_page_mut(&mut self, gpa: u64) -> &mut [u8; PAGE_SIZE] {
        self.memory
            .entry(gpa >> 12)
            .or_insert_with(|| Box::new([0u8; PAGE_SIZE]))
    }

    /// Guest memory page at `gpa`, if it was ever written.
    pub fn guest_page(&self, gpa: u64) -> Option<&[u8; PAGE_SIZE]> {
        self.memory.get(&(gpa >> 12)).map(|b| &**b)
    }

    // ----- MSR protocol -----

    /// The guest wrote `value` to the GHCB MSR and executed VMGEXIT: handle the MSR-protocol
    /// request and return the MSR value the guest reads back.
    pub fn vmgexit_msr(&mut self, value: u64) -> u64 {
        self.counts.msr_protocol += 1;
        self.msr = value;
        let info = value & 0xFFF;
        let data = value >> 12;
        let resp = match info {
            // SEV information request
            0x002 => {
                0x001
                    | (u64::from(self.max_version) << 48)
                    | (u64::from(self.min_version) << 32)
                    | (u64::from(self.cbit) << 24)
            }
            // CPUID request: [31:30] register, [63:32] function
            0x004 => {
                self.counts.cpuid += 1;
                let reg = ((value >> 30) & 3) as usize;
                let leaf = (value >> 32) as u32;
                let regs = self.cpuid.get(&leaf).copied().unwrap_or([0; 4]);
                0x005 | ((reg as u64) << 30) | (u64::from(regs[reg]) << 32)
            }
            // AP reset hold: wake immediately
            0x006 => 0x007 | (1 << 12),
            // preferred GHCB GPA
            0x010 => 0x011 | (self.preferred_gfn.unwrap_or((1 << 52) - 1) << 12),
            // register GHCB GPA
            0x012 => {
                if self.misbehavior.refuse_registration {
                    0x013 | (((1u64 << 52) - 1) << 12)
                } else {
                    self.registered_gpa = Some(data << 12);
                    let echo = if self.misbehavior.wrong_echo {
                        data + 1
                    } else {
                        data
                    };
                    0x013 | (echo << 12)
                }
            }
            // page state change: [51:12] GFN, [55:52] op
            0x014 => {
                let gfn = data & ((1 << 40) - 1);
                let op = (value >> 52) & 0xF;
                let error = if self.misbehavior.msr_psc_error != 0 {
                    self.misbehavior.msr_psc_error
                } else if value >> 56 != 0 {
                    1
                } else {
                    match op {
                        1 => {
                            self.states.insert(gfn, PageState::Private);
                            0
                        }
                        2 => {
                            self.states.insert(gfn, PageState::Shared);
                            0
                        }
                        _ => 1,
                    }
                };
                0x015 | (u64::from(error) << 32)
            }
            // hypervisor features
            0x080 => 0x081 | (self.features << 12),
            // termination: [15:12] set, [23:16] code
            0x100 => {
                self.terminated = Some((((value >> 12) & 0xF) as u8, ((value >> 16) & 0xFF) as u8));
                value
            }
            // Unknown request: answer with an unused code so the guest sees garbage.
            _ => 0xFFF,
        };
        self.msr = resp;
        resp
    }

    // ----- GHCB page protocol -----

    /// The guest wrote `gpa` to the GHCB MSR and executed VMGEXIT; `page` is the GHCB page at
    /// that GPA. Handles the NAE event described in the page and writes the results back.
    pub fn vmgexit_ghcb(&mut self, gpa: u64, page: &mut [u8; PAGE_SIZE]) {
        self.counts.ghcb += 1;
        self.msr = gpa;
        let mut outputs = Vec::new();
        let outcome = self.dispatch(gpa, page, &mut outputs);
        // Inputs consumed: clear the valid bitmap, then mark the results.
        page[off::BITMAP..off::BITMAP + 16].fill(0);
        if !self.misbehavior.drop_output_valid_bits {
            for at in outputs {
                mark_valid(page, at);
            }
        }
        let (mut info_1, info_2) = match outcome {
            Outcome::Done(i2) => (0, i2),
            Outcome::Inject(vector, ec) => {
                let mut ev = u64::from(vector) | (3 << 8) | (1 << 31);
                if let Some(ec) = ec {
                    ev |= (1 << 11) | (u64::from(ec) << 32);
                }
                (1, ev)
            }
            Outcome::Error(e) => (2, e),
        };
        if let Some(g) = self.misbehavior.garbage_info_1 {
            info_1 = g;
        }
        wr64(page, off::EXIT_INFO_1, info_1);
        wr64(page, off::EXIT_INFO_2, info_2);
        if !self.misbehavior.drop_info_valid_bits {
            mark_valid(page, off::EXIT_INFO_1);
            mark_valid(page, off::EXIT_INFO_2);
        }
    }

    fn dispatch(&mut self, gpa: u64, page: &mut [u8; PAGE_SIZE], out: &mut Vec<usize>) -> Outcome {
        if self.registered_gpa != Some(gpa) {
            return Outcome::Error(errors::NOT_REGISTERED);
        }
        let version = u16::from_le_bytes([page[off::VERSION], page[off::VERSION + 1]]);
        let usage = u32::from_le_bytes([
            page[off::USAGE],
            page[off::USAGE + 1],
            page[off::USAGE + 2],
            page[off::USAGE + 3],
        ]);
        if usage != 0 || version < self.min_version || version > self.max_version {
            return Outcome::Error(errors::INVALID_USAGE);
        }
        for at in [off::EXIT_CODE, off::EXIT_INFO_1, off::EXIT_INFO_2] {
            if !is_valid(page, at) {
                return Outcome::Error(errors::MISSING_INPUT);
            }
        }
        if let Some((vector, ec)) = self.misbehavior.inject_exception {
            return Outcome::Inject(vector, ec);
        }
        let code = rd64(page, off::EXIT_CODE);
        let info_1 = rd64(page, off::EXIT_INFO_1);
        let info_2 = rd64(page, off::EXIT_INFO_2);
        match code {
            exits::IOIO => self.ioio(gpa, page, info_1, info_2, out),
            exits::MSR => self.msr_access(page, info_1, out),
            exits::RDTSC | exits::RDTSCP => {
                let t = self.tsc;
                self.tsc += 1000;
                output(page, off::RAX, t & 0xFFFF_FFFF, out);
                output(page, off::RDX, t >> 32, out);
                if code == exits::RDTSCP {
                    output(page, off::RCX, u64::from(self.tsc_aux), out);
                }
                Outcome::Done(0)
            }
            exits::CPUID => {
                self.counts.cpuid += 1;
                if !is_valid(page, off::RAX) {
                    return Outcome::Error(errors::MISSING_INPUT);
                }
                let leaf = rd64(page, off::RAX) as u32;
                let r = self.cpuid.get(&leaf).copied().unwrap_or([0; 4]);
                for (at, v) in [off::RAX, off::RBX, off::RCX, off::RDX].into_iter().zip(r) {
                    output(page, at, u64::from(v), out);
                }
                Outcome::Done(0)
            }
            exits::PSC => self.psc(gpa, page),
            exits::GUEST_REQUEST | exits::EXT_GUEST_REQUEST => {
                self.guest_request(code, page, info_1, info_2, out)
            }
            exits::TERMINATE => {
                self.terminated = Some(((info_1 & 0xF) as u8, ((info_1 >> 4) & 0xFF) as u8));
                Outcome::Done(0)
            }
            _ => Outcome::Error(errors::INVALID_INPUT),
        }
    }

    /// IOIO (exit 0x7B). EXITINFO1 per the APM IOIO intercept format: bit 0 IN, bit 2 string,
    /// bit 3 REP, bits 4-6 operand size 1/2/4, bits 7-9 address size, [31:16] port.
    fn ioio(
        &mut self,
        gpa: u64,
        page: &mut [u8; PAGE_SIZE],
        info_1: u64,
        info_2: u64,
        out: &mut Vec<usize>,
    ) -> Outcome {
        let is_in = info_1 & 1 != 0;
        let string = info_1 & (1 << 2) != 0;
        let size: usize = match (info_1 >> 4) & 7 {
            1 => 1,
            2 => 2,
            4 => 4,
            _ => return Outcome::Error(errors::INVALID_INPUT),
        };
        if (info_1 >> 7) & 7 == 0 && string {
            return Outcome::Error(errors::INVALID_INPUT);
        }
        let port = (info_1 >> 16) as u16;
        let mask: u64 = (1u64 << (size * 8)) - 1;
        if !string {
            if is_in {
                let v = u64::from(self.port_in.get(&port).copied().unwrap_or(0xFFFF_FFFF)) & mask;
                output(page, off::RAX, v, out);
            } else {
                if !is_valid(page, off::RAX) {
                    return Outcome::Error(errors::MISSING_INPUT);
                }
                let v = rd64(page, off::RAX) & mask;
                self.port_writes.push(PortWrite {
                    port,
                    size: size as u8,
                    value: v as u32,
                });
            }
            return Outcome::Done(0);
        }
        // String: sw_scratch points into the shared buffer, info_2 = element count.
        if !is_valid(page, off::SCRATCH) {
            return Outcome::Error(errors::MISSING_INPUT);
        }
        let scratch = rd64(page, off::SCRATCH);
        let start = gpa + off::BUFFER as u64;
        let count = info_2 as usize;
        let len = count.saturating_mul(size);
        if scratch < start || scratch - start + len as u64 > (off::BUFFER_END - off::BUFFER) as u64
        {
            return Outcome::Error(errors::INVALID_SCRATCH);
        }
        let base = off::BUFFER + (scratch - start) as usize;
        for k in 0..count {
            let at = base + k * size;
            if is_in {
                let mut v: u64 = 0;
                for byte in 0..size {
                    let b = match self.port_in_stream.pop_front() {
                        Some(b) => b,
                        None => {
                            (self.port_in.get(&port).copied().unwrap_or(0xFFFF_FFFF) >> (8 * byte))
                                as u8
                        }
                    };
                    v |= u64::from(b) << (8 * byte);
                }
                page[at..at + size].copy_from_slice(&v.to_le_bytes()[..size]);
            } else {
                let mut b = [0u8; 8];
                b[..size].copy_from_slice(&page[at..at + size]);
                self.port_writes.push(PortWrite {
                    port,
                    size: size as u8,
                    value: u64::from_le_bytes(b) as u32,
                });
            }
        }
        Outcome::Done(0)
    }

    /// MSR (exit 0x7C): info_1 0 = RDMSR, 1 = WRMSR; RCX = MSR, RAX/RDX = low/high.
    fn msr_access(
        &mut self,
        page: &mut [u8; PAGE_SIZE],
        info_1: u64,
        out: &mut Vec<usize>,
    ) -> Outcome {
        if !is_valid(page, off::RCX) {
            return Outcome::Error(errors::MISSING_INPUT);
        }
        let msr = rd64(page, off::RCX) as u32;
        match info_1 {
            0 => match self.msrs.get(&msr).copied() {
                Some(v) => {
                    output(page, off::RAX, v & 0xFFFF_FFFF, out);
                    output(page, off::RDX, v >> 32, out);
                    Outcome::Done(0)
                }
                // Unknown MSR: the hypervisor asks the guest to take #GP(0).
                None => Outcome::Inject(13, Some(0)),
            },
            1 => {
                if !is_valid(page, off::RAX) || !is_valid(page, off::RDX) {
                    return Outcome::Error(errors::MISSING_INPUT);
                }
                let v = (rd64(page, off::RDX) << 32) | (rd64(page, off::RAX) & 0xFFFF_FFFF);
                self.msrs.insert(msr, v);
                Outcome::Done(0)
            }
            _ => Outcome::Error(errors::INVALID_INPUT),
        }
    }

    /// Page state change (exit 0x8000_0010): descriptor in the shared buffer at sw_scratch,
    /// header {cur_entry u16, end_entry u16, reserved u32}, entries u64: [11:0] cur_page,
    /// [51:12] GFN, [55:52] op (1 private, 2 shared), [56] 2 MiB.
    fn psc(&mut self, gpa: u64, page: &mut [u8; PAGE_SIZE]) -> Outcome {
        self.counts.psc += 1;
        if !is_valid(page, off::SCRATCH) {
            return Outcome::Error(errors::MISSING_INPUT);
        }
        if rd64(page, off::SCRATCH) != gpa + off::BUFFER as u64 {
            return Outcome::Error(errors::INVALID_SCRATCH);
        }
        let b = off::BUFFER;
        let cur = usize::from(u16::from_le_bytes([page[b], page[b + 1]]));
        let end = usize::from(u16::from_le_bytes([page[b + 2], page[b + 3]]));
        if end >= 253 {
            return Outcome::Error(errors::INVALID_INPUT);
        }
        let m = self.misbehavior.clone();
        let write_cur = |page: &mut [u8; PAGE_SIZE], v: usize| {
            page[b..b + 2].copy_from_slice(&(v as u16).to_le_bytes());
        };
        if m.psc_stall {
            return Outcome::Done(0);
        }
        if m.psc_move_backwards && cur > 0 {
            write_cur(page, cur - 1);
            return Outcome::Done(0);
        }
        let budget = m.psc_entries_per_exit.unwrap_or(usize::MAX);
        let mut i = cur;
        let mut done_now = 0;
        while i <= end && done_now < budget {
            if let Some((after, err)) = m.psc_fail_after
                && self.psc_entries_done >= after
            {
                write_cur(page, i);
                return Outcome::Done(err);
            }
            let at = b + 8 + i * 8;
            let e = rd64(page, at);
            let gfn = (e >> 12) & ((1 << 40) - 1);
            let state = match (e >> 52) & 0xF {
                1 => PageState::Private,
                2 => PageState::Shared,
                _ => {
                    write_cur(page, i);
                    return Outcome::Done(1);
                }
            };
            let pages = if e & (1 << 56) != 0 { 512 } else { 1 };
            for p in 0..pages {
                self.states.insert(gfn + p, state);
            }
            i += 1;
            done_now += 1;
            self.psc_entries_done += 1;
        }
        write_cur(page, if m.psc_skip_past_end { end + 5 } else { i });
        Outcome::Done(0)
    }

    /// Guest request (0x8000_0011) / extended guest request (0x8000_0012): info_1 = request
    /// page GPA, info_2 = response page GPA; extended: RAX = certificate buffer GPA, RBX =
    /// pages. Result in info_2: [31:0] PSP status, [63:32] VMM error (1 invalid length with
    /// RBX = pages needed, 2 busy).
    fn guest_request(
        &mut self,
        code: u64,
        page: &mut [u8; PAGE_SIZE],
        req_gpa: u64,
        resp_gpa: u64,
        out: &mut Vec<usize>,
    ) -> Outcome {
        self.counts.guest_request += 1;
        if req_gpa & 0xFFF != 0 || resp_gpa & 0xFFF != 0 {
            return Outcome::Error(errors::INVALID_INPUT);
        }
        if self.misbehavior.guest_request_busy > 0 {
            self.misbehavior.guest_request_busy -= 1;
            return Outcome::Done(2 << 32);
        }
        if code == exits::EXT_GUEST_REQUEST {
            if !is_valid(page, off::RAX) || !is_valid(page, off::RBX) {
                return Outcome::Error(errors::MISSING_INPUT);
            }
            let cert_gpa = rd64(page, off::RAX);
            let pages = rd64(page, off::RBX);
            if pages < self.cert_pages_needed {
                output(page, off::RBX, self.cert_pages_needed, out);
                return Outcome::Done(1 << 32);
            }
            let blob = self.cert_blob.clone();
            for (k, chunk) in blob.chunks(PAGE_SIZE).enumerate() {
                let p = self.guest_page_mut(cert_gpa + (k * PAGE_SIZE) as u64);
                p[..chunk.len()].copy_from_slice(chunk);
            }
        }
        // The PSP can only reach shared pages: a private page is an invalid parameter.
        if self.page_state(req_gpa) != PageState::Shared
            || self.page_state(resp_gpa) != PageState::Shared
        {
            return Outcome::Done(0x16);
        }
        let request = *self.guest_page_mut(req_gpa);
        let mut response = [0u8; PAGE_SIZE];
        let status = match self.psp.as_mut() {
            Some(psp) => psp.handle(&request, &mut response),
            None => 0,
        };
        *self.guest_page_mut(resp_gpa) = response;
        Outcome::Done(u64::from(status))
    }
}

fn output(page: &mut [u8; PAGE_SIZE], at: usize, v: u64, out: &mut Vec<usize>) {
    wr64(page, at, v);
    out.push(at);
}

#[cfg(test)]
mod tests {
    use super::*;

    const GHCB_GPA: u64 = 0x7000;

    fn registered() -> Hypervisor {
        let mut hv = Hypervisor::new();
        assert_eq!(hv.vmgexit_msr(GHCB_GPA | 0x012), GHCB_GPA | 0x013);
        hv
    }

    /// A raw request page: version 2, usage 0, exit code/info fields marked valid.
    fn raw_request(code: u64, info_1: u64, info_2: u64) -> [u8; PAGE_SIZE] {
        let mut p = [0u8; PAGE_SIZE];
        p[off::VERSION..off::VERSION + 2].copy_from_slice(&2u16.to_le_bytes());
        for (at, v) in [
            (off::EXIT_CODE, code),
            (off::EXIT_INFO_1, info_1),
            (off::EXIT_INFO_2, info_2),
        ] {
            wr64(&mut p, at, v);
            mark_valid(&mut p, at);
        }
        p
    }

    #[test]
    fn msr_protocol_answers() {
        let mut hv = Hypervisor::new();
        let info = hv.vmgexit_msr(0x002);
        assert_eq!(info & 0xFFF, 0x001);
        assert_eq!(
            (info >> 48, (info >> 32) & 0xFFFF, (info >> 24) & 0xFF),
            (2, 1, 51)
        );
        assert_eq!(hv.vmgexit_msr(0x080), 0x1081);
        assert_eq!(hv.vmgexit_msr(0x010), 0xFFFF_FFFF_FFFF_F011);
        // PSC: GFN 0x42 -> shared
        assert_eq!(hv.vmgexit_msr((2 << 52) | (0x42 << 12) | 0x014), 0x015);
        assert_eq!(hv.page_state(0x42_000), PageState::Shared);
        hv.vmgexit_msr((3 << 16) | (2 << 12) | 0x100);
        assert_eq!(hv.terminated, Some((2, 3)));
    }

    #[test]
    fn registration_refused_and_wrong_echo() {
        let mut hv = Hypervisor::new();
        hv.misbehavior.refuse_registration = true;
        assert_eq!(hv.vmgexit_msr(GHCB_GPA | 0x012), 0xFFFF_FFFF_FFFF_F013);
        assert_eq!(hv.registered_gpa, None);
        let mut hv = Hypervisor::new();
        hv.misbehavior.wrong_echo = true;
        assert_eq!(
            hv.vmgexit_msr(GHCB_GPA | 0x012),
            (GHCB_GPA + 0x1000) | 0x013
        );
    }

    #[test]
    fn unregistered_ghcb_is_an_error() {
        let mut hv = Hypervisor::new();
        let mut p = raw_request(exits::RDTSC, 0, 0);
        hv.vmgexit_ghcb(GHCB_GPA, &mut p);
        assert_eq!(rd64(&p, off::EXIT_INFO_1), 2);
        assert_eq!(rd64(&p, off::EXIT_INFO_2), errors::NOT_REGISTERED);
        assert!(is_valid(&p, off::EXIT_INFO_1) && is_valid(&p, off::EXIT_INFO_2));
    }

    #[test]
    fn ioio_out_and_in_raw() {
        let mut hv = registered();
        // OUT AL -> 0x3F8: IN bit clear, size8 bit 4, a16 bit 7
        let mut p = raw_request(exits::IOIO, (0x3F8 << 16) | 0x90, 0);
        wr64(&mut p, off::RAX, 0x41);
        mark_valid(&mut p, off::RAX);
        hv.vmgexit_ghcb(GHCB_GPA, &mut p);
        assert_eq!(rd64(&p, off::EXIT_INFO_1), 0);
        assert_eq!(
            hv.port_writes,
            vec![PortWrite {
                port: 0x3F8,
                size: 1,
                value: 0x41
            }]
        );
        // inputs consumed: RAX no longer valid
        assert!(!is_valid(&p, off::RAX));
        // IN AX <- 0x71
        hv.port_in.insert(0x71, 0xBEEF);
        let mut p = raw_request(exits::IOIO, (0x71 << 16) | 0xA1, 0);
        hv.vmgexit_ghcb(GHCB_GPA, &mut p);
        assert_eq!(rd64(&p, off::RAX), 0xBEEF);
        assert!(is_valid(&p, off::RAX));
        // OUT without RAX valid => missing input
        let mut p = raw_request(exits::IOIO, (0x80 << 16) | 0x90, 0);
        hv.vmgexit_ghcb(GHCB_GPA, &mut p);
        assert_eq!(
            (rd64(&p, off::EXIT_INFO_1), rd64(&p, off::EXIT_INFO_2)),
            (2, 4)
        );
    }

    #[test]
    fn missing_exit_code_valid_bit() {
        let mut hv = registered();
        let mut p = raw_request(exits::RDTSC, 0, 0);
        p[off::BITMAP..off::BITMAP + 16].fill(0);
        hv.vmgexit_ghcb(GHCB_GPA, &mut p);
        assert_eq!(
            (rd64(&p, off::EXIT_INFO_1), rd64(&p, off::EXIT_INFO_2)),
            (2, 4)
        );
    }

    #[test]
    fn psc_raw_processes_entries() {
        let mut hv = registered();
        let mut p = raw_request(exits::PSC, 0, 0);
        wr64(&mut p, off::SCRATCH, GHCB_GPA + off::BUFFER as u64);
        mark_valid(&mut p, off::SCRATCH);
        // two entries: 4K shared at GFN 0x100, 2M shared at GFN 0x200
        p[off::BUFFER + 2] = 1; // end_entry = 1
        wr64(&mut p, off::BUFFER + 8, (2 << 52) | (0x100 << 12));
        wr64(
            &mut p,
            off::BUFFER + 16,
            (1 << 56) | (2 << 52) | (0x200 << 12),
        );
        hv.vmgexit_ghcb(GHCB_GPA, &mut p);
        assert_eq!(rd64(&p, off::EXIT_INFO_2), 0);
        assert_eq!(u16::from_le_bytes([p[off::BUFFER], p[off::BUFFER + 1]]), 2);
        assert_eq!(hv.page_state(0x100_000), PageState::Shared);
        assert_eq!(hv.page_state(0x200_000), PageState::Shared);
        assert_eq!(hv.page_state(0x3FF_000), PageState::Shared);
        assert_eq!(hv.page_state(0x400_000), PageState::Private);
    }
}
