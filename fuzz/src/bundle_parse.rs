//! Fuzz harness `bundle_parse`: [`Bundle::parse`] on arbitrary bytes and on mutated valid
//! bundles (the baked-guest image section, `kernel/bundle`).
//!
//! The first input byte selects the mode: bit 0 clear parses the rest verbatim; bit 0 set
//! first repairs the header lengths, the manifest SHA-256 and the bundle SHA-384 of the rest,
//! so mutations reach the manifest decoder and the ustar/file-table checks behind the
//! digests. Properties: no panic; an accepted bundle's digest is the recomputed SHA-384; every
//! guest's module exists and starts with the wasm magic; every file's contents match its
//! recorded size and SHA-256 and are found again by path; `files_under` of each preopen's
//! directory yields only files below it.

use elastic_bundle::{
    Bundle, DIGEST_LEN, DIGEST_OFFSET, HEADER_LEN, Manifest, WASM_MAGIC, compute_digest,
};

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check(rest);
    } else {
        let mut fixed = rest.to_vec();
        repair(&mut fixed);
        check(&fixed);
    }
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Makes the header lengths and both digests consistent with the bytes, so a mutation in
/// the manifest or archive is judged by the structural checks rather than the digest.
pub fn repair(b: &mut [u8]) {
    if b.len() < HEADER_LEN {
        return;
    }
    let total = b.len() as u64;
    let body = total - HEADER_LEN as u64;
    let manifest_len = le_u64(b, 24).unwrap_or(0).min(body);
    b[16..24].copy_from_slice(&total.to_le_bytes());
    b[24..32].copy_from_slice(&manifest_len.to_le_bytes());
    b[32..40].copy_from_slice(&(body - manifest_len).to_le_bytes());
    let manifest_end = HEADER_LEN + manifest_len as usize;
    let manifest = &b[HEADER_LEN..manifest_end];
    let counts = Manifest::decode(manifest).map(|m| (m.guests.len(), m.files.len()));
    let sha = sha256(manifest);
    if let Ok((guests, files)) = counts {
        b[40..44].copy_from_slice(&(guests as u32).to_le_bytes());
        b[44..48].copy_from_slice(&(files as u32).to_le_bytes());
    }
    b[48..80].copy_from_slice(&sha);
    let digest = compute_digest(b);
    b[DIGEST_OFFSET..DIGEST_OFFSET + DIGEST_LEN].copy_from_slice(&digest);
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn check(bytes: &[u8]) {
    let peeked = Bundle::peek_total_len(bytes);
    let bundle = match Bundle::parse(bytes) {
        Ok(b) => b,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(peeked.ok(), Some(bytes.len() as u64));
    assert_eq!(bundle.digest(), compute_digest(bytes));
    assert_eq!(bundle.header().total_len, bytes.len() as u64);
    for g in bundle.guests() {
        let wasm = bundle
            .wasm(g)
            .expect("accepted bundle lacks a guest's module");
        assert!(wasm.starts_with(&WASM_MAGIC));
        if let Some(p) = &g.stdin {
            assert_eq!(Some(bundle.stdin(g)), bundle.file(p));
        }
    }
    let mut count = 0usize;
    for f in bundle.files() {
        count += 1;
        assert_eq!(sha256(f.data), *f.sha256);
        assert_eq!(bundle.file(f.path), Some(f.data));
    }
    assert_eq!(count, bundle.manifest().files.len());
    for g in bundle.guests() {
        for p in &g.preopens {
            let dir = p.bundle_dir.trim_end_matches('/');
            for f in bundle.files_under(&p.bundle_dir) {
                assert!(dir.is_empty() || f.path.starts_with(dir));
                assert!(f.path.ends_with(f.relative));
            }
        }
    }
    let _ = bundle.exports();
    let _ = bundle.shared_ramfs();
}
