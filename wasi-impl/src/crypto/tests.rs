//! Host tests of the wasi-crypto functions: WAT guests import them through the real linker
//! (so the import check and the ABI are exercised) and report each `crypto_errno` and any
//! output bytes on stdout, in order; the test reads them back.
//!
//! Known answers: FIPS 180-2 appendix B/C (SHA-256/512 of "abc" and the two-block message),
//! RFC 4231 test cases 1 and 2 (HMAC-SHA-256/512), and the GCM specification's test cases 4
//! (AES-128) and 16 (AES-256) as published with NIST's GCM submission (also checked against
//! an independent implementation when the vectors were written down).

use super::CryptoErrno as E;
use crate::*;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug, Default)]
pub(crate) struct Svc {
    out: Vec<u8>,
    rng: u8,
    sealing: Option<[u8; 32]>,
    sealing_asked: Vec<u64>,
    /// What `has_heap_room` grants (`None`: anything).
    pub(crate) heap_room: Option<usize>,
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
        for b in buf {
            self.rng = self.rng.wrapping_add(1);
            *b = self.rng;
        }
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn stderr(&mut self, _bytes: &[u8]) {}
    fn read_stdin(&mut self, _buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(0)
    }
    fn sleep_until(&mut self, _deadline_ns: u64) {}
    fn has_heap_room(&self, bytes: usize) -> bool {
        self.heap_room.is_none_or(|r| bytes <= r)
    }
    fn sealing_key(&mut self, field_select: u64) -> Option<[u8; 32]> {
        self.sealing_asked.push(field_select);
        self.sealing
    }
}

/// Imports with a non-default signature (all others are `(param i32 ...)`).
fn sig(module: &str, name: &str) -> String {
    let i64_at: Option<(usize, usize)> = match name {
        "options_set_u64" => Some((3, 4)),
        "secrets_manager_invalidate" => Some((3, 4)),
        "symmetric_key_from_id" => Some((3, 5)),
        _ => None,
    };
    let arity = match (module, name) {
        (_, "options_open") => 2,
        (_, "options_close") => 1,
        (_, "options_set") => 5,
        (_, "options_set_guest_buffer") => 5,
        (_, "array_output_len") => 2,
        (_, "array_output_pull") => 4,
        (_, "secrets_manager_open") => 2,
        (_, "secrets_manager_close") => 1,
        (_, "symmetric_key_generate") => 4,
        (_, "symmetric_key_import") => 5,
        (_, "symmetric_key_export") => 2,
        (_, "symmetric_key_close") => 1,
        (_, "symmetric_key_generate_managed") => 5,
        (_, "symmetric_key_store_managed") => 4,
        (_, "symmetric_key_replace_managed") => 4,
        (_, "symmetric_key_id") => 5,
        (_, "symmetric_state_open") => 5,
        (_, "symmetric_state_options_get") => 6,
        (_, "symmetric_state_options_get_u64") => 4,
        (_, "symmetric_state_clone") => 2,
        (_, "symmetric_state_close") => 1,
        (_, "symmetric_state_absorb") => 3,
        (_, "symmetric_state_squeeze") => 3,
        (_, "symmetric_state_squeeze_tag") => 2,
        (_, "symmetric_state_squeeze_key") => 4,
        (_, "symmetric_state_max_tag_len") => 2,
        (_, "symmetric_state_encrypt") => 6,
        (_, "symmetric_state_encrypt_detached") => 6,
        (_, "symmetric_state_decrypt") => 6,
        (_, "symmetric_state_decrypt_detached") => 8,
        (_, "symmetric_state_ratchet") => 1,
        (_, "symmetric_tag_len") => 2,
        (_, "symmetric_tag_pull") => 4,
        (_, "symmetric_tag_verify") => 3,
        (_, "symmetric_tag_close") => 1,
        _ => 0,
    };
    let mut s = String::from("(param");
    let (n, at) = match i64_at {
        Some((at, n)) => (n, Some(at)),
        None => (arity, None),
    };
    for i in 0..n {
        s.push_str(if Some(i) == at { " i64" } else { " i32" });
    }
    s.push_str(") (result i32)");
    s
}

/// WAT string literal of `b`.
fn lit(b: &[u8]) -> String {
    b.iter().map(|x| format!("\\{x:02x}")).collect()
}

/// A guest: `data` segments `(address, bytes)`, and a `_start` body. In the body,
/// `(call $r X)` reports the i32 `X` (an errno) and `(call $dump ptr len)` reports memory.
fn module(data: &[(u32, &[u8])], body: &str) -> Vec<u8> {
    let mut imports = String::new();
    for (m, list) in [
        (
            super::link::COMMON_MODULE,
            &super::link::COMMON_FUNCTIONS[..],
        ),
        (
            super::link::SYMMETRIC_MODULE,
            &super::link::SYMMETRIC_FUNCTIONS[..],
        ),
    ] {
        for f in list {
            imports.push_str(&format!(
                "(import \"{m}\" \"{f}\" (func ${f} {}))\n",
                sig(m, f)
            ));
        }
    }
    let mut segs = String::new();
    for (a, b) in data {
        segs.push_str(&format!("(data (i32.const {a}) \"{}\")\n", lit(b)));
    }
    let wat = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  {imports}
  (memory (export "memory") 2)
  {segs}
  (func $dump (param $p i32) (param $n i32)
    (i32.store (i32.const 16) (local.get $p))
    (i32.store (i32.const 20) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))
  (func $r (param $v i32)
    (i32.store (i32.const 28) (local.get $v))
    (call $dump (i32.const 28) (i32.const 4)))
  (func (export "_start") (local $i i32) (local $h i32)
    {body}))"#
    );
    wat::parse_str(&wat).unwrap()
}

/// Runs a guest; returns its stdout and the services.
fn run_guest(wasm: &[u8], mut svc: Svc) -> (Vec<u8>, Svc) {
    let rep = run(wasm, GuestConfig::default(), &mut svc);
    assert_eq!(rep.outcome, Outcome::Exited(0), "{:?}", rep.outcome);
    (core::mem::take(&mut svc.out), svc)
}

/// Reads reported values in order.
struct Rd(Vec<u8>, usize);

impl Rd {
    fn errno(&mut self) -> u32 {
        let v = u32::from_le_bytes(self.0[self.1..self.1 + 4].try_into().unwrap());
        self.1 += 4;
        v
    }
    fn ok(&mut self) {
        assert_eq!(self.errno(), 0, "expected success at offset {}", self.1 - 4);
    }
    fn err(&mut self, e: E) {
        assert_eq!(
            self.errno(),
            u32::from(e.raw()),
            "expected {e:?} at offset {}",
            self.1 - 4
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

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// Memory map of the test guests: 0x100.. u32 result slots; 0x200 "none" option record;
// 0x208 "some" option record (handle at 0x20c, stored at run time); 0x210 a second "some"
// record (handle at 0x214); 0x400.. strings; 0x1000.. inputs; 0x4000.. outputs.
const NONE: u32 = 0x200;
const SOME: u32 = 0x208;
const SOME2: u32 = 0x210;

fn opt_records() -> [(u32, &'static [u8]); 3] {
    [(NONE, &[1, 0, 0, 0]), (SOME, &[0]), (SOME2, &[0])]
}

/// Hash known answers: SHA-256 and SHA-512 of "abc" and the 448-bit message (in two
/// absorbs), with a truncated squeeze and an over-long one.
#[test]
fn sha2_known_answers() {
    let msg2 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    let mut data = opt_records().to_vec();
    data.extend([
        (0x400, &b"SHA-256"[..]),
        (0x410, b"sha-512"),
        (0x1000, b"abc"),
        (0x1100, msg2),
    ]);
    let body = format!(
        r#"
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 7) (i32.const {NONE}) (i32.const {NONE}) (i32.const 0x100)))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x100)) (i32.const 0x1000) (i32.const 3)))
    (call $r (call $symmetric_state_squeeze (i32.load (i32.const 0x100)) (i32.const 0x4000) (i32.const 32)))
    (call $dump (i32.const 0x4000) (i32.const 32))
    (call $r (call $symmetric_state_close (i32.load (i32.const 0x100))))
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 7) (i32.const {NONE}) (i32.const {NONE}) (i32.const 0x100)))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x100)) (i32.const 0x1100) (i32.const 20)))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x100)) (i32.const 0x1114) (i32.const 36)))
    (call $r (call $symmetric_state_squeeze (i32.load (i32.const 0x100)) (i32.const 0x4000) (i32.const 32)))
    (call $dump (i32.const 0x4000) (i32.const 32))
    (call $r (call $symmetric_state_open (i32.const 0x410) (i32.const 7) (i32.const {NONE}) (i32.const {NONE}) (i32.const 0x104)))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x104)) (i32.const 0x1000) (i32.const 3)))
    (call $r (call $symmetric_state_squeeze (i32.load (i32.const 0x104)) (i32.const 0x4000) (i32.const 64)))
    (call $dump (i32.const 0x4000) (i32.const 64))
    (call $r (call $symmetric_state_squeeze (i32.load (i32.const 0x104)) (i32.const 0x4000) (i32.const 16)))
    (call $dump (i32.const 0x4000) (i32.const 16))
    (call $r (call $symmetric_state_squeeze (i32.load (i32.const 0x104)) (i32.const 0x4000) (i32.const 65)))
    (call $r (call $symmetric_state_squeeze_tag (i32.load (i32.const 0x104)) (i32.const 0x108)))
    (call $r (call $symmetric_state_max_tag_len (i32.load (i32.const 0x104)) (i32.const 0x108)))
    "#
    );
    let (out, _) = run_guest(&module(&data, &body), Svc::default());
    let mut r = Rd(out, 0);
    r.ok();
    r.ok();
    r.ok();
    assert_eq!(
        r.bytes(32),
        hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    r.ok();
    for _ in 0..4 {
        r.ok();
    }
    assert_eq!(
        r.bytes(32),
        hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    );
    for _ in 0..3 {
        r.ok();
    }
    let sha512_abc = hex(
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
    assert_eq!(r.bytes(64), sha512_abc);
    r.ok();
    assert_eq!(r.bytes(16), sha512_abc[..16]);
    r.err(E::InvalidLength);
    r.err(E::InvalidOperation);
    r.err(E::InvalidOperation);
    r.done();
}

/// RFC 4231 test cases 1 and 2 for HMAC-SHA-256 and HMAC-SHA-512: import, absorb,
/// squeeze_tag, tag_len, tag_pull; then verify (right tag, wrong tag, wrong length).
#[test]
fn hmac_rfc4231() {
    let cases: [(&str, &[u8], &[u8], &str); 4] = [
        (
            "HMAC/SHA-256",
            &[0x0b; 20],
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            "HMAC/SHA-512",
            &[0x0b; 20],
            b"Hi There",
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
             daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
        (
            "HMAC/SHA-256",
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            "HMAC/SHA-512",
            b"Jefe",
            b"what do ya want for nothing?",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ];
    for (alg, key, msg, want) in cases {
        let want = hex(want);
        let mut wrong = want.clone();
        wrong[0] ^= 1;
        let mut data = opt_records().to_vec();
        data.extend([
            (0x400, alg.as_bytes()),
            (0x1000, key),
            (0x1100, msg),
            (0x1200, &want[..]),
            (0x1300, &wrong[..]),
        ]);
        let (al, kl, ml, tl) = (alg.len(), key.len(), msg.len(), want.len());
        let body = format!(
            r#"
    (call $r (call $symmetric_key_import (i32.const 0x400) (i32.const {al}) (i32.const 0x1000) (i32.const {kl}) (i32.const 0x100)))
    (i32.store (i32.const 0x20c) (i32.load (i32.const 0x100)))
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const {al}) (i32.const {SOME}) (i32.const {NONE}) (i32.const 0x104)))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x104)) (i32.const 0x1100) (i32.const {ml})))
    (call $r (call $symmetric_state_squeeze (i32.load (i32.const 0x104)) (i32.const 0x4000) (i32.const 32)))
    (call $r (call $symmetric_state_squeeze_tag (i32.load (i32.const 0x104)) (i32.const 0x108)))
    (call $r (call $symmetric_tag_len (i32.load (i32.const 0x108)) (i32.const 0x10c)))
    (call $dump (i32.const 0x10c) (i32.const 4))
    (call $r (call $symmetric_tag_pull (i32.load (i32.const 0x108)) (i32.const 0x4000) (i32.const 16) (i32.const 0x110)))
    (call $r (call $symmetric_tag_pull (i32.load (i32.const 0x108)) (i32.const 0x4000) (i32.const 64) (i32.const 0x110)))
    (call $dump (i32.const 0x110) (i32.const 4))
    (call $dump (i32.const 0x4000) (i32.const {tl}))
    (call $r (call $symmetric_tag_close (i32.load (i32.const 0x108))))
    (call $r (call $symmetric_state_squeeze_tag (i32.load (i32.const 0x104)) (i32.const 0x108)))
    (call $r (call $symmetric_tag_verify (i32.load (i32.const 0x108)) (i32.const 0x1200) (i32.const {tl})))
    (call $r (call $symmetric_tag_verify (i32.load (i32.const 0x108)) (i32.const 0x1300) (i32.const {tl})))
    (call $r (call $symmetric_tag_verify (i32.load (i32.const 0x108)) (i32.const 0x1200) (i32.const 16)))
    (call $r (call $symmetric_tag_close (i32.load (i32.const 0x108))))
    "#
        );
        let (out, _) = run_guest(&module(&data, &body), Svc::default());
        let mut r = Rd(out, 0);
        r.ok();
        r.ok();
        r.ok();
        r.err(E::InvalidOperation); // squeeze on a MAC
        r.ok();
        r.ok();
        assert_eq!(r.bytes(4), (tl as u32).to_le_bytes());
        r.err(E::Overflow); // 16-byte buffer
        r.ok();
        assert_eq!(r.bytes(4), (tl as u32).to_le_bytes());
        assert_eq!(r.bytes(tl), want, "{alg} {:?}", msg);
        r.err(E::Closed); // pull closed the tag
        r.ok();
        r.ok();
        r.err(E::InvalidTag);
        r.err(E::InvalidTag);
        r.ok();
        r.done();
    }
}

const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                     1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const GCM_A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const GCM_IV: &str = "cafebabefacedbaddecaf888";

/// GCM test case 4 (AES-128) and 16 (AES-256): attached encryption with associated data
/// absorbed in two pieces, then attached decryption, detached encryption and detached
/// decryption, the nonce read back with `symmetric_state_options_get`.
#[test]
fn aes_gcm_known_answers() {
    let cases = [
        (
            "AES-128-GCM",
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            "AES-256-GCM",
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (alg, key, ct, tag) in cases {
        let (key, p, a, iv) = (hex(key), hex(GCM_P), hex(GCM_A), hex(GCM_IV));
        let mut ct_tag = hex(ct);
        ct_tag.extend(hex(tag));
        let mut data = opt_records().to_vec();
        data.extend([
            (0x400, alg.as_bytes()),
            (0x410, &b"nonce"[..]),
            (0x1000, &key[..]),
            (0x1100, &p[..]),
            (0x1200, &a[..]),
            (0x1300, &iv[..]),
            (0x1400, &ct_tag[..]),
        ]);
        let (al, kl, pl, cl) = (alg.len(), key.len(), p.len(), ct_tag.len());
        let open_state = |slot: u32| {
            format!(
                r#"
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const {al}) (i32.const {SOME}) (i32.const {SOME2}) (i32.const {slot})))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const {slot})) (i32.const 0x1200) (i32.const 7)))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const {slot})) (i32.const 0x1207) (i32.const 13)))"#
            )
        };
        let (s1, s2, s3, s4) = (
            open_state(0x110),
            open_state(0x114),
            open_state(0x118),
            open_state(0x11c),
        );
        let body = format!(
            r#"
    (call $r (call $symmetric_key_import (i32.const 0x400) (i32.const {al}) (i32.const 0x1000) (i32.const {kl}) (i32.const 0x100)))
    (i32.store (i32.const 0x20c) (i32.load (i32.const 0x100)))
    (call $r (call $options_open (i32.const 1) (i32.const 0x104)))
    (i32.store (i32.const 0x214) (i32.load (i32.const 0x104)))
    (call $r (call $options_set (i32.load (i32.const 0x104)) (i32.const 0x410) (i32.const 5) (i32.const 0x1300) (i32.const 12)))
    {s1}
    (call $r (call $options_close (i32.load (i32.const 0x104))))
    (call $r (call $symmetric_state_options_get (i32.load (i32.const 0x110)) (i32.const 0x410) (i32.const 5) (i32.const 0x4000) (i32.const 64) (i32.const 0x120)))
    (call $dump (i32.const 0x120) (i32.const 4))
    (call $dump (i32.const 0x4000) (i32.const 12))
    (call $r (call $symmetric_state_max_tag_len (i32.load (i32.const 0x110)) (i32.const 0x120)))
    (call $dump (i32.const 0x120) (i32.const 4))
    (call $r (call $symmetric_state_encrypt (i32.load (i32.const 0x110)) (i32.const 0x4000) (i32.const {cl}) (i32.const 0x1100) (i32.const {pl}) (i32.const 0x120)))
    (call $dump (i32.const 0x120) (i32.const 4))
    (call $dump (i32.const 0x4000) (i32.const {cl}))
    (call $r (call $symmetric_state_encrypt (i32.load (i32.const 0x110)) (i32.const 0x4000) (i32.const {cl}) (i32.const 0x1100) (i32.const {pl}) (i32.const 0x120)))
    "#
        );
        // the options were closed after s1: reopen them for the other states
        let body2 = format!(
            r#"
    (call $r (call $options_open (i32.const 1) (i32.const 0x104)))
    (i32.store (i32.const 0x214) (i32.load (i32.const 0x104)))
    (call $r (call $options_set (i32.load (i32.const 0x104)) (i32.const 0x410) (i32.const 5) (i32.const 0x1300) (i32.const 12)))
    {s2}
    (call $r (call $symmetric_state_decrypt (i32.load (i32.const 0x114)) (i32.const 0x5000) (i32.const {pl}) (i32.const 0x1400) (i32.const {cl}) (i32.const 0x120)))
    (call $dump (i32.const 0x120) (i32.const 4))
    (call $dump (i32.const 0x5000) (i32.const {pl}))
    {s3}
    (call $r (call $symmetric_state_encrypt_detached (i32.load (i32.const 0x118)) (i32.const 0x6000) (i32.const {pl}) (i32.const 0x1100) (i32.const {pl}) (i32.const 0x124)))
    (call $dump (i32.const 0x6000) (i32.const {pl}))
    (call $r (call $symmetric_tag_pull (i32.load (i32.const 0x124)) (i32.const 0x6100) (i32.const 16) (i32.const 0x120)))
    (call $dump (i32.const 0x6100) (i32.const 16))
    {s4}
    (call $r (call $symmetric_state_decrypt_detached (i32.load (i32.const 0x11c)) (i32.const 0x6000) (i32.const {pl}) (i32.const 0x6000) (i32.const {pl}) (i32.const 0x6100) (i32.const 16) (i32.const 0x120)))
    (call $dump (i32.const 0x120) (i32.const 4))
    (call $dump (i32.const 0x6000) (i32.const {pl}))
    "#
        );
        let body = body + &body2;
        let (out, _) = run_guest(&module(&data, &body), Svc::default());
        let mut r = Rd(out, 0);
        r.ok(); // import
        r.ok(); // options_open
        r.ok(); // options_set
        for _ in 0..3 {
            r.ok();
        }
        r.ok(); // options_close
        r.ok();
        assert_eq!(r.bytes(4), 12u32.to_le_bytes());
        assert_eq!(r.bytes(12), iv);
        r.ok();
        assert_eq!(r.bytes(4), 16u32.to_le_bytes());
        r.ok();
        assert_eq!(r.bytes(4), (cl as u32).to_le_bytes());
        assert_eq!(r.bytes(cl), ct_tag, "{alg} attached");
        r.err(E::NonceRequired); // the nonce was used
        r.ok();
        r.ok();
        for _ in 0..3 {
            r.ok();
        }
        r.ok();
        assert_eq!(r.bytes(4), (pl as u32).to_le_bytes());
        assert_eq!(r.bytes(pl), p, "{alg} decrypt");
        for _ in 0..3 {
            r.ok();
        }
        r.ok();
        assert_eq!(r.bytes(pl), ct_tag[..pl], "{alg} detached");
        r.ok();
        assert_eq!(r.bytes(16), ct_tag[pl..]);
        for _ in 0..3 {
            r.ok();
        }
        r.ok(); // in place
        assert_eq!(r.bytes(4), (pl as u32).to_le_bytes());
        assert_eq!(r.bytes(pl), p);
        r.done();
    }
}

/// Misuse: wrong/closed handles, missing key or nonce, tag mismatch, bad pointers, unknown
/// algorithm, unsupported operations, enum and variant values out of range.
#[test]
fn misuse_gets_the_proposal_errors() {
    let mut data = opt_records().to_vec();
    data.extend([
        (0x400, &b"AES-128-GCM"[..]),
        (0x410, b"SHA-256"),
        (0x420, b"nonce"),
        (0x430, b"BLAKE3"),
        (0x440, b"HMAC/SHA-256"),
        (0x1000, &[7u8; 16][..]),
        (0x1100, &[9u8; 12][..]),
        (0x1200, b"plaintext!"),
        (0x208 + 0x40, &[5, 0, 0, 0, 0, 0, 0, 0]), // bad variant tag at 0x248
    ]);
    let body = format!(
        r#"
    ;; 1 key + options + AES state
    (call $r (call $symmetric_key_import (i32.const 0x400) (i32.const 11) (i32.const 0x1000) (i32.const 16) (i32.const 0x100)))
    (i32.store (i32.const 0x20c) (i32.load (i32.const 0x100)))
    (call $r (call $options_open (i32.const 1) (i32.const 0x104)))
    (i32.store (i32.const 0x214) (i32.load (i32.const 0x104)))
    (call $r (call $options_set (i32.load (i32.const 0x104)) (i32.const 0x420) (i32.const 5) (i32.const 0x1100) (i32.const 12)))
    ;; nonce missing -> nonce_required; key missing -> key_required
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 11) (i32.const {SOME}) (i32.const {NONE}) (i32.const 0x108)))
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 11) (i32.const {NONE}) (i32.const {SOME2}) (i32.const 0x108)))
    ;; the AES key for HMAC -> invalid_key
    (call $r (call $symmetric_state_open (i32.const 0x440) (i32.const 12) (i32.const {SOME}) (i32.const {NONE}) (i32.const 0x108)))
    ;; unknown algorithm
    (call $r (call $symmetric_state_open (i32.const 0x430) (i32.const 6) (i32.const {NONE}) (i32.const {NONE}) (i32.const 0x108)))
    ;; bad variant tag, bad variant pointer, bad output pointer (no handle leaks)
    (call $r (call $symmetric_state_open (i32.const 0x410) (i32.const 7) (i32.const 0x248) (i32.const {NONE}) (i32.const 0x108)))
    (call $r (call $symmetric_state_open (i32.const 0x410) (i32.const 7) (i32.const 0x1fffc) (i32.const {NONE}) (i32.const 0x108)))
    (call $r (call $symmetric_state_open (i32.const 0x410) (i32.const 7) (i32.const {NONE}) (i32.const {NONE}) (i32.const 0x1fffe)))
    ;; the key handle used as options and as a state -> invalid_handle
    (i32.store (i32.const 0x214) (i32.load (i32.const 0x100)))
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 11) (i32.const {SOME}) (i32.const {SOME2}) (i32.const 0x108)))
    (i32.store (i32.const 0x214) (i32.load (i32.const 0x104)))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x100)) (i32.const 0x1200) (i32.const 4)))
    ;; a good AES state
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 11) (i32.const {SOME}) (i32.const {SOME2}) (i32.const 0x108)))
    ;; hash operations on it -> invalid_operation; ratchet/squeeze_key -> invalid_operation
    (call $r (call $symmetric_state_squeeze (i32.load (i32.const 0x108)) (i32.const 0x4000) (i32.const 16)))
    (call $r (call $symmetric_state_ratchet (i32.load (i32.const 0x108))))
    (call $r (call $symmetric_state_squeeze_key (i32.load (i32.const 0x108)) (i32.const 0x400) (i32.const 11) (i32.const 0x10c)))
    ;; bad data pointer -> guest_error
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x108)) (i32.const 0xfffffff0) (i32.const 100)))
    ;; output too small -> overflow; then encrypt properly
    (call $r (call $symmetric_state_encrypt (i32.load (i32.const 0x108)) (i32.const 0x4000) (i32.const 25) (i32.const 0x1200) (i32.const 10) (i32.const 0x110)))
    (call $r (call $symmetric_state_encrypt (i32.load (i32.const 0x108)) (i32.const 0x4000) (i32.const 26) (i32.const 0x1200) (i32.const 10) (i32.const 0x110)))
    ;; tag mismatch: flip a ciphertext byte, decrypt into a pre-filled buffer
    (i32.store8 (i32.const 0x4003) (i32.xor (i32.load8_u (i32.const 0x4003)) (i32.const 1)))
    (memory.fill (i32.const 0x5000) (i32.const 0xaa) (i32.const 10))
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 11) (i32.const {SOME}) (i32.const {SOME2}) (i32.const 0x114)))
    (call $r (call $symmetric_state_decrypt (i32.load (i32.const 0x114)) (i32.const 0x5000) (i32.const 10) (i32.const 0x4000) (i32.const 26) (i32.const 0x110)))
    (call $dump (i32.const 0x5000) (i32.const 10))
    ;; ciphertext shorter than a tag -> invalid_tag
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 11) (i32.const {SOME}) (i32.const {SOME2}) (i32.const 0x114)))
    (call $r (call $symmetric_state_decrypt (i32.load (i32.const 0x114)) (i32.const 0x5000) (i32.const 10) (i32.const 0x4000) (i32.const 15) (i32.const 0x110)))
    ;; detached with different lengths -> invalid_length
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 11) (i32.const {SOME}) (i32.const {SOME2}) (i32.const 0x114)))
    (call $r (call $symmetric_state_encrypt_detached (i32.load (i32.const 0x114)) (i32.const 0x4000) (i32.const 9) (i32.const 0x1200) (i32.const 10) (i32.const 0x110)))
    ;; closed handles: use -> invalid_handle, close again -> closed
    (call $r (call $symmetric_state_close (i32.load (i32.const 0x108))))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x108)) (i32.const 0x1200) (i32.const 4)))
    (call $r (call $symmetric_state_close (i32.load (i32.const 0x108))))
    (call $r (call $symmetric_key_close (i32.load (i32.const 0x100))))
    (call $r (call $symmetric_key_export (i32.load (i32.const 0x100)) (i32.const 0x10c)))
    ;; closing a handle with another type's close -> invalid_handle
    (call $r (call $symmetric_tag_close (i32.load (i32.const 0x104))))
    ;; enum out of range / unimplemented algorithm types
    (call $r (call $options_open (i32.const 7) (i32.const 0x10c)))
    (call $r (call $options_open (i32.const 0) (i32.const 0x10c)))
    (call $r (call $options_set_u64 (i32.load (i32.const 0x104)) (i32.const 0x420) (i32.const 5) (i64.const 1)))
    (call $r (call $options_set_guest_buffer (i32.load (i32.const 0x104)) (i32.const 0x420) (i32.const 5) (i32.const 0x4000) (i32.const 16)))
    ;; key generation for a hash -> unsupported_feature; HMAC key generation works
    (call $r (call $symmetric_key_generate (i32.const 0x410) (i32.const 7) (i32.const {NONE}) (i32.const 0x10c)))
    (call $r (call $symmetric_key_generate (i32.const 0x440) (i32.const 12) (i32.const {NONE}) (i32.const 0x10c)))
    ;; a hash state with a key -> key_not_supported; HMAC state without a key -> key_required
    (i32.store (i32.const 0x20c) (i32.load (i32.const 0x10c)))
    (call $r (call $symmetric_state_open (i32.const 0x410) (i32.const 7) (i32.const {SOME}) (i32.const {NONE}) (i32.const 0x108)))
    (call $r (call $symmetric_state_open (i32.const 0x440) (i32.const 12) (i32.const {NONE}) (i32.const {NONE}) (i32.const 0x108)))
    "#
    );
    let (out, _) = run_guest(&module(&data, &body), Svc::default());
    let mut r = Rd(out, 0);
    r.ok();
    r.ok();
    r.ok();
    r.err(E::NonceRequired);
    r.err(E::KeyRequired);
    r.err(E::InvalidKey);
    r.err(E::UnsupportedAlgorithm);
    r.err(E::GuestError);
    r.err(E::GuestError);
    r.err(E::GuestError);
    r.err(E::InvalidHandle);
    r.err(E::InvalidHandle);
    r.ok();
    r.err(E::InvalidOperation);
    r.err(E::InvalidOperation);
    r.err(E::InvalidOperation);
    r.err(E::GuestError);
    r.err(E::Overflow);
    r.ok();
    r.ok();
    r.err(E::InvalidTag);
    assert_eq!(r.bytes(10), [0u8; 10], "no unauthenticated plaintext");
    r.ok();
    r.err(E::InvalidTag);
    r.ok();
    r.err(E::InvalidLength);
    r.ok();
    r.err(E::InvalidHandle);
    r.err(E::Closed);
    r.ok();
    r.err(E::InvalidHandle);
    r.err(E::InvalidHandle);
    r.err(E::GuestError);
    r.err(E::NotImplemented);
    r.err(E::UnsupportedOption);
    r.err(E::UnsupportedOption);
    r.err(E::UnsupportedFeature);
    r.ok();
    r.err(E::KeyNotSupported);
    r.err(E::KeyRequired);
    r.done();
}

/// Key generation uses the embedder's CSPRNG; export goes through an array output pulled in
/// two pieces, after which the handle is closed.
#[test]
fn generate_export_and_streamed_pull() {
    let mut data = opt_records().to_vec();
    data.push((0x400, &b"HMAC/SHA-256"[..]));
    let body = r#"
    (call $r (call $symmetric_key_generate (i32.const 0x400) (i32.const 12) (i32.const 0x200) (i32.const 0x100)))
    (call $r (call $symmetric_key_export (i32.load (i32.const 0x100)) (i32.const 0x104)))
    (call $r (call $array_output_len (i32.load (i32.const 0x104)) (i32.const 0x108)))
    (call $dump (i32.const 0x108) (i32.const 4))
    (call $r (call $array_output_pull (i32.load (i32.const 0x104)) (i32.const 0x4000) (i32.const 10) (i32.const 0x108)))
    (call $dump (i32.const 0x108) (i32.const 4))
    (call $r (call $array_output_pull (i32.load (i32.const 0x104)) (i32.const 0x400a) (i32.const 100) (i32.const 0x108)))
    (call $dump (i32.const 0x108) (i32.const 4))
    (call $dump (i32.const 0x4000) (i32.const 32))
    (call $r (call $array_output_pull (i32.load (i32.const 0x104)) (i32.const 0x4000) (i32.const 100) (i32.const 0x108)))
    ;; too many handles: open options until refused
    (local.set $i (i32.const 0))
    (block $out (loop $l
      (local.set $h (call $options_open (i32.const 1) (i32.const 0x10c)))
      (br_if $out (local.get $h))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (call $r (local.get $h))
    (call $r (local.get $i))
    "#;
    let (out, svc) = run_guest(&module(&data, body), Svc::default());
    let mut r = Rd(out, 0);
    r.ok();
    r.ok();
    r.ok();
    assert_eq!(r.bytes(4), 32u32.to_le_bytes());
    r.ok();
    assert_eq!(r.bytes(4), 10u32.to_le_bytes());
    r.ok();
    assert_eq!(r.bytes(4), 22u32.to_le_bytes());
    let want: Vec<u8> = (1..=32).collect();
    assert_eq!(r.bytes(32), want, "material came from Services::random");
    assert_eq!(svc.rng, 32);
    r.err(E::InvalidHandle);
    r.err(E::TooManyHandles);
    // one key is still open
    assert_eq!(r.errno() as usize, super::MAX_HANDLES - 1);
    r.done();
}

/// The sealing key: `symmetric_key_from_id` and `symmetric_key_generate` with
/// `elastic.sealing` give an AES-256-GCM key from `Services::sealing_key` that encrypts like
/// the same raw key but cannot be exported; without embedder support the guest gets
/// `unsupported_feature`.
#[test]
fn sealing_key_is_usable_but_not_exportable() {
    let id = b"elastic.sealing:0000000000000009";
    let mut data = opt_records().to_vec();
    data.extend([
        (0x400, &b"AES-256-GCM"[..]),
        (0x420, b"nonce"),
        (0x430, b"elastic.sealing"),
        (0x500, id),
        (0x1100, &[3u8; 12][..]),
        (0x1200, b"sealed data"),
    ]);
    let body = format!(
        r#"
    (call $r (call $secrets_manager_open (i32.const {NONE}) (i32.const 0x100)))
    (call $r (call $symmetric_key_from_id (i32.load (i32.const 0x100)) (i32.const 0x500) (i32.const 32) (i64.const -72057594037927935) (i32.const 0x104)))
    (call $r (call $symmetric_key_from_id (i32.load (i32.const 0x100)) (i32.const 0x500) (i32.const 31) (i64.const 1) (i32.const 0x104)))
    (call $r (call $symmetric_key_from_id (i32.load (i32.const 0x100)) (i32.const 0x500) (i32.const 32) (i64.const 2) (i32.const 0x104)))
    (call $r (call $symmetric_key_export (i32.load (i32.const 0x104)) (i32.const 0x108)))
    (call $r (call $symmetric_key_id (i32.load (i32.const 0x104)) (i32.const 0x4000) (i32.const 64) (i32.const 0x108) (i32.const 0x110)))
    (call $dump (i32.const 0x108) (i32.const 4))
    (call $dump (i32.const 0x110) (i32.const 8))
    (call $dump (i32.const 0x4000) (i32.const 32))
    (call $r (call $symmetric_key_id (i32.load (i32.const 0x104)) (i32.const 0x4000) (i32.const 8) (i32.const 0x108) (i32.const 0x110)))
    (i32.store (i32.const 0x20c) (i32.load (i32.const 0x104)))
    (call $r (call $options_open (i32.const 1) (i32.const 0x118)))
    (i32.store (i32.const 0x214) (i32.load (i32.const 0x118)))
    (call $r (call $options_set (i32.load (i32.const 0x118)) (i32.const 0x420) (i32.const 5) (i32.const 0x1100) (i32.const 12)))
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 11) (i32.const {SOME}) (i32.const {SOME2}) (i32.const 0x11c)))
    (call $r (call $symmetric_state_encrypt (i32.load (i32.const 0x11c)) (i32.const 0x4000) (i32.const 27) (i32.const 0x1200) (i32.const 11) (i32.const 0x108)))
    (call $dump (i32.const 0x4000) (i32.const 27))
    ;; the generate path
    (call $r (call $options_set_u64 (i32.load (i32.const 0x118)) (i32.const 0x430) (i32.const 15) (i64.const 9)))
    (call $r (call $symmetric_key_generate (i32.const 0x400) (i32.const 11) (i32.const {SOME2}) (i32.const 0x120)))
    (call $r (call $symmetric_key_export (i32.load (i32.const 0x120)) (i32.const 0x108)))
    (call $r (call $symmetric_key_generate (i32.const 0x400) (i32.const 7) (i32.const {SOME2}) (i32.const 0x120)))
    "#
    );
    let wasm = module(&data, &body);
    let key = [0x5a; 32];
    let svc = Svc {
        sealing: Some(key),
        ..Svc::default()
    };
    let (out, svc) = run_guest(&wasm, svc);
    let mut r = Rd(out, 0);
    r.ok();
    r.ok();
    r.err(E::NotFound);
    r.err(E::NotFound);
    r.err(E::ProhibitedOperation);
    r.ok();
    assert_eq!(r.bytes(4), 32u32.to_le_bytes());
    assert_eq!(r.bytes(8), 1u64.to_le_bytes());
    assert_eq!(r.bytes(32), id);
    r.err(E::Overflow);
    r.ok();
    r.ok();
    r.ok();
    r.ok();
    // the same encryption with the raw key, on the host
    use aes_gcm::aead::AeadInOut;
    use aes_gcm::{Aes256Gcm, KeyInit};
    let c = Aes256Gcm::new_from_slice(&key).unwrap();
    let mut buf = b"sealed data".to_vec();
    let tag = c
        .encrypt_inout_detached(&[3u8; 12].into(), b"", buf.as_mut_slice().into())
        .unwrap();
    buf.extend_from_slice(&tag);
    assert_eq!(r.bytes(27), buf);
    r.ok();
    r.ok();
    r.err(E::ProhibitedOperation);
    // "AES-256" (7 bytes) is not an algorithm name
    r.err(E::UnsupportedAlgorithm);
    r.done();
    assert_eq!(svc.sealing_asked, [9, 9]);

    // a plain embedder: unsupported_feature
    let (out, _) = run_guest(&wasm, Svc::default());
    let mut r = Rd(out, 0);
    r.ok();
    r.err(E::UnsupportedFeature);
    // the later calls fail for want of the key handle; only the prefix matters here
    assert!(r.1 < r.0.len());
}

/// Crypto work is charged to the fuel budget: a guest hashing its whole memory in a loop runs
/// out of fuel even though it executes few instructions.
#[test]
fn crypto_work_is_charged_fuel() {
    let mut data = opt_records().to_vec();
    data.push((0x400, &b"SHA-256"[..]));
    let body = format!(
        r#"
    (drop (call $symmetric_state_open (i32.const 0x400) (i32.const 7) (i32.const {NONE}) (i32.const {NONE}) (i32.const 0x100)))
    (loop $l
      (drop (call $symmetric_state_absorb (i32.load (i32.const 0x100)) (i32.const 0) (i32.const 0x20000)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
    "#
    );
    let wasm = module(&data, &body);
    let cfg = |fuel| GuestConfig {
        limits: Limits {
            fuel: Some(fuel),
            ..Limits::default()
        },
        ..GuestConfig::default()
    };
    // 100 x 128 KiB = 819,200 units at 16 bytes per unit
    let rep = run(&wasm, cfg(500_000), &mut Svc::default());
    assert!(
        matches!(
            rep.outcome,
            Outcome::LimitExceeded {
                which: LimitKind::Fuel,
                ..
            }
        ),
        "{:?}",
        rep.outcome
    );
    let rep = run(&wasm, cfg(1_000_000), &mut Svc::default());
    assert_eq!(rep.outcome, Outcome::Exited(0));
    assert!(rep.fuel_used >= 100 * 0x20000 / super::link::FUEL_BYTES_PER_UNIT);

    // Under the watchdog the store holds one fuel slice, but the charge is made against the
    // whole budget: the same outcomes and fuel, and a single call costing more than a slice
    // (16 MiB = 2^20 units + the loop) succeeds without a fuel limit.
    let watched = |fuel: Option<u64>| GuestConfig {
        limits: Limits {
            fuel,
            wall_time_ms: Some(3_600_000),
            ..Limits::default()
        },
        ..GuestConfig::default()
    };
    for fuel in [500_000, 1_000_000, 819_200, 819_300] {
        let plain = run(&wasm, cfg(fuel), &mut Svc::default());
        let sliced = run(&wasm, watched(Some(fuel)), &mut Svc::default());
        assert_eq!(plain, sliced, "fuel {fuel}");
    }
    let big = module(
        &data,
        &format!(
            r#"
    (drop (memory.grow (i32.const 256)))
    (drop (call $symmetric_state_open (i32.const 0x400) (i32.const 7) (i32.const {NONE}) (i32.const {NONE}) (i32.const 0x100)))
    (drop (call $symmetric_state_absorb (i32.load (i32.const 0x100)) (i32.const 0) (i32.const 0x1000000)))
    "#
        ),
    );
    let rep = run(&big, watched(None), &mut Svc::default());
    assert_eq!(rep.outcome, Outcome::Exited(0));
    assert!(rep.fuel_used > crate::FUEL_SLICE, "{}", rep.fuel_used);
}

/// Guest-sized host copies (associated data, plaintext) are fallible: past the embedder's
/// heap gauge they are `internal_error`, and the guest goes on.
#[test]
fn heap_exhaustion_is_internal_error() {
    let mut data = opt_records().to_vec();
    data.extend([
        (0x400, &b"AES-128-GCM"[..]),
        (0x420, b"nonce"),
        (0x1000, &[7u8; 16][..]),
        (0x1100, &[9u8; 12][..]),
    ]);
    let body = format!(
        r#"
    (call $r (call $symmetric_key_import (i32.const 0x400) (i32.const 11) (i32.const 0x1000) (i32.const 16) (i32.const 0x100)))
    (i32.store (i32.const 0x20c) (i32.load (i32.const 0x100)))
    (call $r (call $options_open (i32.const 1) (i32.const 0x104)))
    (i32.store (i32.const 0x214) (i32.load (i32.const 0x104)))
    (call $r (call $options_set (i32.load (i32.const 0x104)) (i32.const 0x420) (i32.const 5) (i32.const 0x1100) (i32.const 12)))
    (call $r (call $symmetric_state_open (i32.const 0x400) (i32.const 11) (i32.const {SOME}) (i32.const {SOME2}) (i32.const 0x108)))
    ;; two pages at a time fit the gauge: 6 pages of memory
    (drop (memory.grow (i32.const 2)))
    (drop (memory.grow (i32.const 2)))
    ;; 100,000 bytes of associated data fit, 200,000 do not
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x108)) (i32.const 0x4000) (i32.const 100000)))
    (call $r (call $symmetric_state_absorb (i32.load (i32.const 0x108)) (i32.const 0x4000) (i32.const 100000)))
    (call $r (call $symmetric_state_clone (i32.load (i32.const 0x108)) (i32.const 0x10c)))
    ;; the host copy of 150,000 bytes of plaintext does not fit either; the state is intact
    (call $r (call $symmetric_state_encrypt (i32.load (i32.const 0x108)) (i32.const 0x4000) (i32.const 150016)
      (i32.const 0x4000) (i32.const 150000) (i32.const 0x110)))
    (call $r (call $symmetric_state_encrypt (i32.load (i32.const 0x108)) (i32.const 0x4000) (i32.const 116)
      (i32.const 0x4000) (i32.const 100) (i32.const 0x110)))
    (call $dump (i32.const 0x110) (i32.const 4))
    "#
    );
    let svc = Svc {
        heap_room: Some(140_000),
        ..Svc::default()
    };
    let (out, _) = run_guest(&module(&data, &body), svc);
    let mut r = Rd(out, 0);
    for _ in 0..4 {
        r.ok();
    }
    r.ok();
    r.err(E::InternalError);
    r.ok();
    r.err(E::InternalError);
    r.ok();
    assert_eq!(r.bytes(4), 116u32.to_le_bytes());
    r.done();
}

/// A state's clone copies its associated data fallibly.
#[test]
fn state_clone_is_fallible() {
    use super::symmetric::{Alg, SymKey, SymOptions, SymState};
    let key = SymKey::import(Alg::Aes256Gcm, &[1; 32]).unwrap();
    let mut o = SymOptions::default();
    o.set(b"nonce", &[2; 12], &Svc::default()).unwrap();
    let mut st = SymState::open(Alg::Aes256Gcm, Some(&key), Some(&o)).unwrap();
    st.absorb(&[3; 1000], &Svc::default()).unwrap();
    let tight = Svc {
        heap_room: Some(999),
        ..Svc::default()
    };
    assert_eq!(st.try_clone(&tight).map(|_| ()), Err(E::InternalError));
    assert!(st.try_clone(&Svc::default()).is_ok());
    let mut sha = SymState::open(Alg::Sha256, None, None).unwrap();
    sha.absorb(&[3; 1000], &tight).unwrap();
    assert!(sha.try_clone(&tight).is_ok());
}
