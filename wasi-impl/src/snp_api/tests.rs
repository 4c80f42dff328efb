//! Host tests of `elastic_snp`: WAT guests import the functions through the real linker and
//! report each result (and any memory they want checked) on stdout; a plain embedder (the
//! trait's defaults, as in plain QEMU / `elastic run`) and a fake SNP embedder with canned
//! answers check the ABI: bytes written, size reporting, `fault`/`inval`/`range`/`notsup`
//! and the mapping of platform errors.

use super::*;
use crate::*;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// Memory layout of the test guests.
const DATA: u32 = 64; // 64 bytes of report data
const WRITTEN: u32 = 256; // out_written
const OUT: u32 = 1024; // output buffer
const MEM_END: u32 = 2 * 65536;

#[derive(Debug, Default)]
struct Svc {
    out: Vec<u8>,
    snp: bool,
    report: Option<Result<Vec<u8>, SnpError>>,
    certs: Option<Result<Vec<u8>, SnpError>>,
    key: Option<Result<[u8; 32], SnpError>>,
    trust: ClockTrust,
    asked_reports: Vec<([u8; 64], u32)>,
    asked_certs: usize,
    asked_keys: Vec<u64>,
}

impl Services for Svc {
    fn monotonic_now(&mut self) -> u64 {
        0
    }
    fn monotonic_resolution(&self) -> u64 {
        1
    }
    fn wall_now(&mut self) -> u64 {
        0
    }
    fn wall_resolution(&self) -> u64 {
        1
    }
    fn random(&mut self, buf: &mut [u8]) {
        buf.fill(7);
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn stderr(&mut self, _bytes: &[u8]) {}
    fn read_stdin(&mut self, _buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(0)
    }
    fn sleep_until(&mut self, _deadline_ns: u64) {}
    fn is_snp_guest(&self) -> bool {
        self.snp
    }
    fn snp_report(&mut self, report_data: &[u8; 64], vmpl: u32) -> Result<Vec<u8>, SnpError> {
        self.asked_reports.push((*report_data, vmpl));
        self.report.clone().unwrap_or(Err(SnpError::NotSupported))
    }
    fn snp_certificates(&mut self) -> Result<Vec<u8>, SnpError> {
        self.asked_certs += 1;
        self.certs.clone().unwrap_or(Err(SnpError::NotSupported))
    }
    fn snp_derived_key(&mut self, field_select: u64) -> Result<[u8; 32], SnpError> {
        self.asked_keys.push(field_select);
        self.key.unwrap_or(Err(SnpError::NotSupported))
    }
    fn clock_trust(&self) -> ClockTrust {
        self.trust
    }
}

/// The plain embedder: only the required methods, every SNP method at its default.
#[derive(Debug, Default)]
struct Plain {
    out: Vec<u8>,
}

impl Services for Plain {
    fn monotonic_now(&mut self) -> u64 {
        0
    }
    fn monotonic_resolution(&self) -> u64 {
        1
    }
    fn wall_now(&mut self) -> u64 {
        0
    }
    fn wall_resolution(&self) -> u64 {
        1
    }
    fn random(&mut self, buf: &mut [u8]) {
        buf.fill(7);
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn stderr(&mut self, _bytes: &[u8]) {}
    fn read_stdin(&mut self, _buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(0)
    }
    fn sleep_until(&mut self, _deadline_ns: u64) {}
}

/// WAT string literal of `b`.
fn lit(b: &[u8]) -> String {
    b.iter().map(|x| format!("\\{x:02x}")).collect()
}

/// The 64 report-data bytes every test guest holds at [`DATA`].
fn report_data() -> [u8; 64] {
    core::array::from_fn(|i| (i as u8).wrapping_mul(3).wrapping_add(1))
}

/// A guest with the five imports and, if `memory`, an exported 2-page memory holding
/// [`report_data`] at `DATA`, 0x55555555 at `WRITTEN` and 0xAA in `[OUT, OUT+4096)`
/// (otherwise an unexported memory, so every pointer is `fault`). In the body,
/// `(call $r X)` reports the i32 `X` and `(call $dump ptr len)` reports memory.
fn module(memory: bool, body: &str) -> Vec<u8> {
    let mem = if memory {
        format!(
            r#"(memory (export "memory") 2)
  (data (i32.const {DATA}) "{}")
  (data (i32.const {WRITTEN}) "\55\55\55\55")
  (data (i32.const {OUT}) "{}")"#,
            lit(&report_data()),
            lit(&[0xAA; 4096])
        )
    } else {
        String::from("(memory 1)")
    };
    let wat = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "elastic_snp" "is_snp" (func $is_snp (result i32)))
  (import "elastic_snp" "attestation_report" (func $report (param i32 i32 i32 i32 i32) (result i32)))
  (import "elastic_snp" "certificates" (func $certs (param i32 i32 i32) (result i32)))
  (import "elastic_snp" "derived_key" (func $key (param i64 i32) (result i32)))
  (import "elastic_snp" "clock_trust" (func $trust (result i32)))
  {mem}
  (func $dump (param $p i32) (param $n i32)
    (i32.store (i32.const 16) (local.get $p))
    (i32.store (i32.const 20) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))
  (func $r (param $v i32)
    (i32.store (i32.const 28) (local.get $v))
    (call $dump (i32.const 28) (i32.const 4)))
  (func (export "_start")
    {body}))"#
    );
    wat::parse_str(&wat).unwrap()
}

/// Runs a guest and checks it exited cleanly (its stdout is in the services).
fn run_guest(wasm: &[u8], svc: &mut dyn Services) {
    let rep = run(wasm, GuestConfig::default(), svc);
    assert_eq!(rep.outcome, Outcome::Exited(0), "{:?}", rep.outcome);
}

/// Reads reported values in order.
struct Rd(Vec<u8>, usize);

impl Rd {
    fn i32(&mut self) -> i32 {
        let v = i32::from_le_bytes(self.0[self.1..self.1 + 4].try_into().unwrap());
        self.1 += 4;
        v
    }
    fn errno(&mut self, e: Errno) {
        let at = self.1;
        assert_eq!(
            self.i32(),
            i32::from(e.raw()),
            "expected {e:?} at offset {at}"
        );
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let v = self.0[self.1..self.1 + n].to_vec();
        self.1 += n;
        v
    }
    fn done(&self) {
        assert_eq!(self.1, self.0.len(), "unread output");
    }
}

/// A canned report: 1184 bytes that are not all alike.
fn canned_report() -> Vec<u8> {
    (0..REPORT_SIZE).map(|i| (i % 251) as u8).collect()
}

fn snp_svc() -> Svc {
    Svc {
        snp: true,
        report: Some(Ok(canned_report())),
        ..Svc::default()
    }
}

/// `attestation_report` body: `(call $r (call $report DATA vmpl OUT len WRITTEN))`.
fn report_call(data: u32, vmpl: u32, out: u32, len: u32, written: u32) -> String {
    format!(
        "(call $r (call $report (i32.const {data}) (i32.const {vmpl}) (i32.const {out}) (i32.const {len}) (i32.const {written})))\n"
    )
}

#[test]
fn plain_embedder_is_not_snp_and_writes_nothing() {
    let body = format!(
        "(call $r (call $is_snp)) (call $r (call $trust))
         {}
         (call $r (call $certs (i32.const {OUT}) (i32.const 4096) (i32.const {WRITTEN})))
         (call $r (call $key (i64.const 0x9) (i32.const {OUT})))
         (call $dump (i32.const {WRITTEN}) (i32.const 4))
         (call $dump (i32.const {OUT}) (i32.const 4096))",
        report_call(DATA, 0, OUT, 4096, WRITTEN)
    );
    let mut svc = Plain::default();
    run_guest(&module(true, &body), &mut svc);
    let mut rd = Rd(core::mem::take(&mut svc.out), 0);
    assert_eq!(rd.i32(), 0, "is_snp");
    assert_eq!(rd.i32(), 0, "clock_trust");
    rd.errno(Errno::Notsup);
    rd.errno(Errno::Notsup);
    rd.errno(Errno::Notsup);
    assert_eq!(rd.bytes(4), [0x55; 4], "out_written untouched");
    assert_eq!(rd.bytes(4096), [0xAA; 4096], "no report fabricated");
    rd.done();
}

#[test]
fn not_snp_is_notsup_even_with_bad_pointers_and_asks_nothing() {
    let body = format!(
        "{}(call $r (call $key (i64.const -1) (i32.const -1)))",
        report_call(u32::MAX, 9, u32::MAX, 4096, u32::MAX)
    );
    // A fake that could answer but says it is not an SNP guest is never asked.
    let mut svc = Svc {
        snp: false,
        ..snp_svc()
    };
    run_guest(&module(true, &body), &mut svc);
    let mut rd = Rd(core::mem::take(&mut svc.out), 0);
    rd.errno(Errno::Notsup);
    rd.errno(Errno::Notsup);
    rd.done();
    assert!(svc.asked_reports.is_empty() && svc.asked_keys.is_empty());
}

#[test]
fn report_is_written_with_its_size() {
    let body = format!(
        "(call $r (call $is_snp)){}(call $dump (i32.const {WRITTEN}) (i32.const 4))
         (call $dump (i32.const {OUT}) (i32.const {}))",
        report_call(DATA, 2, OUT, 4096, WRITTEN),
        REPORT_SIZE + 4
    );
    let mut svc = snp_svc();
    run_guest(&module(true, &body), &mut svc);
    let mut rd = Rd(core::mem::take(&mut svc.out), 0);
    assert_eq!(rd.i32(), 1, "is_snp");
    rd.errno(Errno::Success);
    assert_eq!(rd.i32(), REPORT_SIZE as i32, "out_written");
    assert_eq!(rd.bytes(REPORT_SIZE as usize), canned_report());
    assert_eq!(rd.bytes(4), [0xAA; 4], "nothing written past the report");
    rd.done();
    assert_eq!(svc.asked_reports, vec![(report_data(), 2)]);
}

#[test]
fn report_buffer_exactly_the_size_and_one_short() {
    let body = format!(
        "{}(call $dump (i32.const {WRITTEN}) (i32.const 4))
         {}(call $dump (i32.const {WRITTEN}) (i32.const 4))
         (call $dump (i32.const {OUT}) (i32.const 4))
         {}(call $dump (i32.const {WRITTEN}) (i32.const 4))
         (call $dump (i32.const {}) (i32.const {REPORT_SIZE}))",
        report_call(DATA, 0, OUT, REPORT_SIZE - 1, WRITTEN),
        report_call(DATA, 0, OUT, 0, WRITTEN),
        // the report ends exactly at the end of memory
        report_call(DATA, 0, MEM_END - REPORT_SIZE, REPORT_SIZE, WRITTEN),
        MEM_END - REPORT_SIZE,
    );
    let mut svc = snp_svc();
    run_guest(&module(true, &body), &mut svc);
    let mut rd = Rd(core::mem::take(&mut svc.out), 0);
    rd.errno(Errno::Range);
    assert_eq!(rd.i32(), REPORT_SIZE as i32, "required size");
    rd.errno(Errno::Range);
    assert_eq!(rd.i32(), REPORT_SIZE as i32, "required size");
    assert_eq!(rd.bytes(4), [0xAA; 4], "too small: nothing written");
    rd.errno(Errno::Success);
    assert_eq!(rd.i32(), REPORT_SIZE as i32);
    assert_eq!(rd.bytes(REPORT_SIZE as usize), canned_report());
    rd.done();
    // The PSP is only asked once the buffer is big enough.
    assert_eq!(svc.asked_reports.len(), 1);
}

#[test]
fn report_bad_pointers_are_fault_before_the_psp_is_asked() {
    let body = [
        report_call(MEM_END - 63, 0, OUT, 4096, WRITTEN), // report data past the end
        report_call(u32::MAX, 0, OUT, 4096, WRITTEN),     // wraps around
        report_call(DATA, 0, OUT, 4096, MEM_END - 3),     // out_written past the end
        report_call(DATA, 0, MEM_END - 4095, 4096, WRITTEN), // buffer past the end
        report_call(DATA, 0, OUT, u32::MAX, WRITTEN),     // huge length
        report_call(DATA, 0, MEM_END - 100, 50, WRITTEN), // small buffer in bounds: range
        format!("(call $dump (i32.const {WRITTEN}) (i32.const 4))"),
    ]
    .concat();
    let mut svc = snp_svc();
    run_guest(&module(true, &body), &mut svc);
    let mut rd = Rd(core::mem::take(&mut svc.out), 0);
    for _ in 0..5 {
        rd.errno(Errno::Fault);
    }
    rd.errno(Errno::Range);
    assert_eq!(rd.i32(), REPORT_SIZE as i32);
    rd.done();
    assert!(svc.asked_reports.is_empty());
}

#[test]
fn guest_without_memory_gets_fault() {
    let body = format!(
        "{}(call $r (call $key (i64.const 0) (i32.const 0)))
         (call $r (call $certs (i32.const 0) (i32.const 0) (i32.const 0)))",
        report_call(0, 0, 0, 0, 0)
    );
    // $r needs memory for its output, so report through the exit code instead: run each
    // call and check the services were never asked.
    let wasm = module(false, &body.replace("(call $r ", "(drop "));
    let mut svc = snp_svc();
    let rep = run(&wasm, GuestConfig::default(), &mut svc);
    assert_eq!(rep.outcome, Outcome::Exited(0));
    assert!(svc.asked_reports.is_empty() && svc.asked_keys.is_empty() && svc.asked_certs == 0);
    // The same calls' results, checked directly against an empty memory.
    let mut empty: [u8; 0] = [];
    let mut mem = GuestMem::new(&mut empty);
    assert_eq!(
        attestation_report(&mut svc, &mut mem, 0, 0, 0, 0, 0),
        Err(Errno::Fault)
    );
    assert_eq!(derived_key(&mut svc, &mut mem, 0, 0), Err(Errno::Fault));
    assert_eq!(certificates(&mut svc, &mut mem, 0, 0, 0), Err(Errno::Fault));
}

#[test]
fn vmpl_above_3_is_inval() {
    let body = [
        report_call(DATA, 4, OUT, 4096, WRITTEN),
        report_call(DATA, u32::MAX, OUT, 4096, WRITTEN),
        report_call(DATA, 3, OUT, 4096, WRITTEN),
    ]
    .concat();
    let mut svc = snp_svc();
    run_guest(&module(true, &body), &mut svc);
    let mut rd = Rd(core::mem::take(&mut svc.out), 0);
    rd.errno(Errno::Inval);
    rd.errno(Errno::Inval);
    rd.errno(Errno::Success);
    rd.done();
    assert_eq!(svc.asked_reports, vec![(report_data(), 3)]);
}

#[test]
fn platform_errors_map_to_errnos() {
    let cases = [
        (Err(SnpError::NotSupported), Errno::Notsup),
        (Err(SnpError::InvalidArgument), Errno::Inval),
        (Err(SnpError::Busy), Errno::Again),
        (Err(SnpError::Failed), Errno::Io),
        // an embedder handing back something that is not a report
        (Ok(vec![1u8; 1000]), Errno::Io),
        (Ok(vec![1u8; REPORT_SIZE as usize + 1]), Errno::Io),
    ];
    for (answer, want) in cases {
        let body = format!(
            "{}(call $dump (i32.const {WRITTEN}) (i32.const 4))
             (call $dump (i32.const {OUT}) (i32.const 4))",
            report_call(DATA, 0, OUT, 4096, WRITTEN)
        );
        let mut svc = Svc {
            report: Some(answer),
            ..snp_svc()
        };
        run_guest(&module(true, &body), &mut svc);
        let mut rd = Rd(core::mem::take(&mut svc.out), 0);
        rd.errno(want);
        assert_eq!(rd.bytes(4), [0x55; 4], "{want:?}: out_written untouched");
        assert_eq!(rd.bytes(4), [0xAA; 4], "{want:?}: nothing written");
        rd.done();
    }
}

#[test]
fn certificates_sizes_and_data() {
    let blob: Vec<u8> = (0..300u32).map(|i| (i * 7 % 256) as u8).collect();
    let body = format!(
        "(call $r (call $certs (i32.const {OUT}) (i32.const 299) (i32.const {WRITTEN})))
         (call $dump (i32.const {WRITTEN}) (i32.const 4))
         (call $dump (i32.const {OUT}) (i32.const 4))
         (call $r (call $certs (i32.const {OUT}) (i32.const 300) (i32.const {WRITTEN})))
         (call $dump (i32.const {WRITTEN}) (i32.const 4))
         (call $dump (i32.const {OUT}) (i32.const 301))
         (call $r (call $certs (i32.const {}) (i32.const 300) (i32.const {WRITTEN})))
         (call $r (call $certs (i32.const {OUT}) (i32.const 300) (i32.const -4)))",
        MEM_END - 299
    );
    let mut svc = Svc {
        certs: Some(Ok(blob.clone())),
        ..snp_svc()
    };
    run_guest(&module(true, &body), &mut svc);
    let mut rd = Rd(core::mem::take(&mut svc.out), 0);
    rd.errno(Errno::Range);
    assert_eq!(rd.i32(), 300, "required size");
    assert_eq!(rd.bytes(4), [0xAA; 4]);
    rd.errno(Errno::Success);
    assert_eq!(rd.i32(), 300);
    assert_eq!(rd.bytes(300), blob);
    assert_eq!(rd.bytes(1), [0xAA]);
    rd.errno(Errno::Fault);
    rd.errno(Errno::Fault);
    rd.done();
    assert_eq!(svc.asked_certs, 2, "faults never reach the host");
}

#[test]
fn certificates_none_supplied_and_errors() {
    for (answer, want, written) in [
        (Ok(Vec::new()), Errno::Success, 0i32),
        (Err(SnpError::Failed), Errno::Io, 0x5555_5555),
        (Err(SnpError::NotSupported), Errno::Notsup, 0x5555_5555),
    ] {
        let body = format!(
            "(call $r (call $certs (i32.const {OUT}) (i32.const 0) (i32.const {WRITTEN})))
             (call $dump (i32.const {WRITTEN}) (i32.const 4))"
        );
        let mut svc = Svc {
            certs: Some(answer),
            ..snp_svc()
        };
        run_guest(&module(true, &body), &mut svc);
        let mut rd = Rd(core::mem::take(&mut svc.out), 0);
        rd.errno(want);
        assert_eq!(rd.i32(), written);
        rd.done();
    }
}

#[test]
fn derived_key_is_hmac_of_the_psp_key_never_the_key() {
    let psp_key: [u8; 32] = core::array::from_fn(|i| 0xC0 ^ i as u8);
    let body = format!(
        "(call $r (call $key (i64.const 0x9) (i32.const {OUT})))
         (call $dump (i32.const {OUT}) (i32.const 33))
         (call $r (call $key (i64.const 0x7f) (i32.const {})))
         (call $r (call $key (i64.const 0x80) (i32.const {OUT})))
         (call $r (call $key (i64.const -1) (i32.const {OUT})))
         (call $r (call $key (i64.const 0x1) (i32.const {})))",
        MEM_END - 32,
        MEM_END - 31
    );
    let mut svc = Svc {
        key: Some(Ok(psp_key)),
        ..snp_svc()
    };
    run_guest(&module(true, &body), &mut svc);
    let mut rd = Rd(core::mem::take(&mut svc.out), 0);
    rd.errno(Errno::Success);
    let got = rd.bytes(32);
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&psp_key).unwrap();
    mac.update(b"elastic_snp derived_key v1");
    let want: [u8; 32] = mac.finalize().into_bytes().into();
    assert_eq!(got, want);
    assert_ne!(got, psp_key);
    assert_eq!(rd.bytes(1), [0xAA], "exactly 32 bytes written");
    rd.errno(Errno::Success); // all defined bits, key ending at the end of memory
    rd.errno(Errno::Inval); // reserved bit 7
    rd.errno(Errno::Inval);
    rd.errno(Errno::Fault);
    rd.done();
    assert_eq!(svc.asked_keys, vec![0x9, 0x7f]);
}

#[test]
fn derived_key_platform_errors() {
    for (e, want) in [
        (SnpError::InvalidArgument, Errno::Inval),
        (SnpError::Busy, Errno::Again),
        (SnpError::Failed, Errno::Io),
    ] {
        let body = format!(
            "(call $r (call $key (i64.const 0x8) (i32.const {OUT})))
             (call $dump (i32.const {OUT}) (i32.const 32))"
        );
        let mut svc = Svc {
            key: Some(Err(e)),
            ..snp_svc()
        };
        run_guest(&module(true, &body), &mut svc);
        let mut rd = Rd(core::mem::take(&mut svc.out), 0);
        rd.errno(want);
        assert_eq!(rd.bytes(32), [0xAA; 32]);
        rd.done();
    }
}

#[test]
fn clock_trust_levels() {
    for (trust, want) in [
        (ClockTrust::None, 0),
        (ClockTrust::Hypervisor, 1),
        (ClockTrust::SecureTsc, 2),
    ] {
        let mut svc = Svc { trust, ..snp_svc() };
        run_guest(&module(true, "(call $r (call $trust))"), &mut svc);
        let mut rd = Rd(core::mem::take(&mut svc.out), 0);
        assert_eq!(rd.i32(), want);
        rd.done();
    }
}

#[test]
fn unknown_function_in_the_module_fails_to_load_naming_it() {
    let wasm = wat::parse_str(
        r#"(module (import "elastic_snp" "vmpck" (func (result i32)))
             (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .unwrap();
    let mut svc = Plain::default();
    let rep = run(&wasm, GuestConfig::default(), &mut svc);
    match rep.outcome {
        Outcome::LoadFailed(m) => assert!(m.contains("elastic_snp::vmpck"), "{m}"),
        o => panic!("{o:?}"),
    }
    assert!(super::link::provides(MODULE, "derived_key"));
    assert!(!super::link::provides(
        "wasi_snapshot_preview1",
        "derived_key"
    ));
}
