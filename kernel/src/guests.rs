//! Running the baked guests: find and verify the bundle, give each guest its ramfs and
//! configuration (`elastic_core::launch`), run it with `wasi_impl` on the kernel's services,
//! print a summary line per guest, stream the exports, and return the image's exit reason.

use crate::entropy::HardwareEntropy;
use crate::platform::{self, apic, console, fw_cfg as fw_port, rom};
use crate::snp_services::SnpServices;
use crate::{clock, platform::cpu};
use alloc::format;
use alloc::vec::Vec;
use elastic_bundle::{Bundle, OutputMode};
use elastic_core::exit::ExitReason;
use elastic_core::fw_cfg::FwCfg;
use elastic_core::image::{Descriptor, EXTERNAL_BUNDLE_FW_CFG, Location};
use elastic_core::launch::{self, Filesystems, Summary};
use elastic_crypto::SecureRandom;
use log::{error, info, warn};
use wasi_impl::{Errno, Services};

/// The platform services one guest runs on.
struct KernelServices<'a> {
    name: &'a str,
    output: OutputMode,
    line_start: bool,
    stdin: &'a [u8],
    rng: &'a mut SecureRandom<HardwareEntropy>,
    /// The SEV-SNP services (real, or simulated in the test-only `snp-sim` image).
    snp: Option<&'a mut SnpServices>,
}

impl KernelServices<'_> {
    fn emit(&mut self, bytes: &[u8], write: fn(&[u8])) {
        match self.output {
            OutputMode::Raw => write(bytes),
            OutputMode::Prefixed => {
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    if self.line_start {
                        write(format!("[{}] ", self.name).as_bytes());
                    }
                    write(line);
                    self.line_start = line.ends_with(b"\n");
                }
            }
        }
    }
}

impl Services for KernelServices<'_> {
    fn monotonic_now(&mut self) -> u64 {
        clock::monotonic_ns()
    }
    fn monotonic_resolution(&self) -> u64 {
        1
    }
    fn wall_now(&mut self) -> u64 {
        clock::wall_ns()
    }
    fn wall_resolution(&self) -> u64 {
        1
    }
    fn random(&mut self, buf: &mut [u8]) {
        if let Err(e) = self.rng.fill(buf) {
            // Handing out predictable bytes would be worse than stopping.
            error!("random_get: the entropy source failed ({e:?}); stopping");
            platform::exit(ExitReason::PlatformData);
        }
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.emit(bytes, console::write_bytes);
    }
    fn stderr(&mut self, bytes: &[u8]) {
        self.emit(bytes, console::write_log_bytes);
    }
    fn read_stdin(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        let n = buf.len().min(self.stdin.len());
        let (head, rest) = self.stdin.split_at_checked(n).unwrap_or((self.stdin, &[]));
        let Some(dst) = buf.get_mut(..head.len()) else {
            return Ok(0);
        };
        dst.copy_from_slice(head);
        self.stdin = rest;
        Ok(head.len())
    }
    fn has_heap_room(&self, bytes: usize) -> bool {
        heap_headroom(bytes)
    }
    fn sleep_until(&mut self, deadline_ns: u64) {
        apic::sleep_until_tsc(clock::tsc_at(deadline_ns));
    }
    fn watchdog_arm(&mut self, deadline_ns: Option<u64>) {
        match deadline_ns {
            Some(ns) => apic::watchdog_arm(clock::tsc_at(ns)),
            None => apic::watchdog_disarm(),
        }
    }
    fn watchdog_fired(&mut self) -> bool {
        apic::watchdog_fired()
    }
    fn is_snp_guest(&self) -> bool {
        self.snp.is_some()
    }
    fn snp_report(
        &mut self,
        report_data: &[u8; 64],
        vmpl: u32,
    ) -> Result<Vec<u8>, wasi_impl::SnpError> {
        match self.snp.as_deref_mut() {
            Some(snp) => snp.report(report_data, vmpl),
            None => Err(wasi_impl::SnpError::NotSupported),
        }
    }
    fn snp_certificates(&mut self) -> Result<Vec<u8>, wasi_impl::SnpError> {
        match self.snp.as_deref_mut() {
            Some(snp) => snp.certificates(),
            None => Err(wasi_impl::SnpError::NotSupported),
        }
    }
    fn snp_derived_key(&mut self, field_select: u64) -> Result<[u8; 32], wasi_impl::SnpError> {
        match self.snp.as_deref_mut() {
            Some(snp) => snp.derived_key(field_select),
            None => Err(wasi_impl::SnpError::NotSupported),
        }
    }
    fn sealing_key(&mut self, field_select: u64) -> Option<[u8; 32]> {
        // The PSP's derived key for these guest fields; guests can only ever hold it as an
        // unexportable wasi-crypto key (their own derived keys are HMACs of it).
        self.snp.as_deref_mut()?.derived_key(field_select).ok()
    }
    fn clock_trust(&self) -> wasi_impl::ClockTrust {
        self.snp
            .as_deref()
            .map_or(wasi_impl::ClockTrust::None, SnpServices::clock_trust)
    }
}

/// The kernel's heap gauge for guest-driven growth (`wasi_impl::Services::has_heap_room`,
/// `Ramfs::set_headroom`): room for `bytes` more while keeping
/// [`launch::KERNEL_HEAP_RESERVE`] free.
fn heap_headroom(bytes: usize) -> bool {
    let (used, total) = platform::heap::usage();
    launch::heap_has_room(used, total, bytes, launch::KERNEL_HEAP_RESERVE)
}

/// Reads an external bundle from fw_cfg into memory.
fn read_external(len: u64) -> Result<Vec<u8>, &'static str> {
    let mut fw = FwCfg::probe(fw_port::PortTransport).map_err(|_| "no fw_cfg device")?;
    let file = fw
        .find(EXTERNAL_BUNDLE_FW_CFG)
        .map_err(|_| "fw_cfg directory unreadable")?
        .ok_or("the image expects an external bundle but fw_cfg has no opt/elastic/bundle")?;
    if u64::from(file.size) < len {
        return Err("the fw_cfg bundle is shorter than the descriptor says");
    }
    let len = usize::try_from(len).map_err(|_| "bundle too large")?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len)
        .map_err(|_| "not enough memory for the bundle")?;
    buf.resize(len, 0);
    // Under SEV-SNP the device cannot DMA into private memory: port I/O (through the GHCB).
    if fw.has_dma() && !platform::snp::active() {
        fw_port::dma_read(file.select, &mut buf).map_err(|_| "fw_cfg DMA error")?;
    } else {
        use elastic_core::fw_cfg::Transport;
        fw.stream(file).read(&mut buf);
    }
    Ok(buf)
}

fn refuse(what: core::fmt::Arguments<'_>) -> ! {
    error!("bundle refused: {what}");
    platform::exit(ExitReason::BundleInvalid)
}

/// Runs every guest of the image's bundle and exits with the image's exit code.
pub fn run(descriptor: Option<Descriptor>, mut snp: Option<SnpServices>) -> ! {
    #[cfg(feature = "snp-sim")]
    if snp.is_none() {
        snp = crate::snp_sim::open();
    }
    let Some(descriptor) = descriptor else {
        info!("no guests are baked into this image");
        platform::exit(ExitReason::Success)
    };
    let external;
    let bytes: &[u8] = match descriptor.location {
        Location::Embedded { .. } => {
            let range = descriptor
                .embedded_range()
                .unwrap_or(elastic_core::memory_map::Range { start: 0, end: 0 });
            match rom::slice(range) {
                Some(b) => b,
                None => refuse(format_args!("embedded bundle outside the image")),
            }
        }
        Location::External => {
            external = match read_external(descriptor.len) {
                Ok(b) => b,
                Err(e) => refuse(format_args!("{e}")),
            };
            &external
        }
    };
    let bundle = match Bundle::parse_pinned(bytes, &descriptor.digest) {
        Ok(b) => b,
        Err(e) => refuse(format_args!("{e}")),
    };
    info!(
        "bundle: {} guest(s), {} file(s), {} bytes, {}, digest {}",
        bundle.guests().len(),
        bundle.manifest().files.len(),
        bytes.len(),
        match descriptor.location {
            Location::Embedded { .. } => "embedded",
            Location::External => "external (fw_cfg), digest checked",
        },
        hex(&bundle.digest())
    );

    if !HardwareEntropy::available() {
        error!("no RDSEED/RDRAND: guests cannot get secure randomness; use a CPU model with them");
        platform::exit(ExitReason::PlatformData);
    }
    let mut rng = match SecureRandom::new(HardwareEntropy::default(), b"elastic random_get") {
        Ok(r) => r,
        Err(e) => {
            error!("CTR_DRBG could not be seeded: {e:?}");
            platform::exit(ExitReason::PlatformData);
        }
    };

    let mut filesystems = Filesystems::new(&bundle, clock::wall_ns).with_headroom(heap_headroom);
    let mut summaries = Vec::new();
    for guest in bundle.guests() {
        let fs = filesystems.of(guest);
        let prepared = match launch::prepare(&bundle, guest, &fs) {
            Ok(p) => p,
            Err(e) => {
                error!("{e}");
                platform::exit(ExitReason::GuestTrap);
            }
        };
        let first_instruction = cpu::rdtsc();
        if summaries.is_empty() {
            info!(
                "first guest starts {} us after reset",
                clock::ns_at(first_instruction) / 1000
            );
        }
        let start = clock::monotonic_ns();
        let mut services = KernelServices {
            name: &guest.name,
            output: prepared.output,
            line_start: true,
            stdin: prepared.stdin,
            rng: &mut rng,
            snp: snp.as_mut(),
        };
        let report = wasi_impl::run(prepared.wasm, prepared.config, &mut services);
        let summary = Summary {
            name: guest.name.clone(),
            report,
            elapsed_ns: clock::monotonic_ns() - start,
        };
        info!("{}", summary.line());
        summaries.push(summary);
    }
    if !bundle.exports().is_empty() {
        export(&bundle, &filesystems);
    }
    platform::exit(launch::exit_reason(&summaries))
}

/// Streams the export archive on COM2 with the framing of docs/image.md. The archive is
/// never held in memory (the guests decide its size): a first pass computes the length the
/// framing announces, the second streams the bytes and hashes them on the way.
fn export(bundle: &Bundle<'_>, filesystems: &Filesystems) {
    use sha2::Digest;
    let plan = launch::export_archive(bundle, filesystems, None);
    for p in &plan.problems {
        warn!("{p}");
    }
    let begin = format!("ELASTIC-EXPORT-BEGIN {}\n", plan.len);
    if !console::write_export(begin.as_bytes()) {
        warn!("export: no second serial port; exports dropped");
        return;
    }
    let mut hasher = sha2::Sha256::new();
    let mut sink = |bytes: &[u8]| {
        hasher.update(bytes);
        console::write_export(bytes);
    };
    let sent = launch::export_archive(bundle, filesystems, Some(&mut sink));
    if sent.len != plan.len {
        // Nothing changes the filesystems between the passes; the host will see the
        // length mismatch and refuse the archive.
        error!("export: {} bytes sent, {} announced", sent.len, plan.len);
    }
    let end = format!("ELASTIC-EXPORT-END {}\n", hex(&hasher.finalize()));
    console::write_export(end.as_bytes());
    info!("export: {} bytes of tar on COM2", sent.len);
}

fn hex(bytes: &[u8]) -> alloc::string::String {
    let mut s = alloc::string::String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
