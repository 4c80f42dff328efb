//! Manifest rules (`Manifest::validate`, run by both the builder and the decoder) and
//! builder input errors.

use elastic_bundle::{
    BuildError, BundleBuilder, Export, Guest, Limits, Manifest, ManifestError, Preopen,
};

const WASM: &[u8] = b"\0asm\x01\0\0\0";

fn base() -> Manifest {
    Manifest {
        guests: vec![Guest::new("a", "a.wasm"), Guest::new("b", "b.wasm")],
        ..Manifest::default()
    }
}

fn rejects(m: &Manifest) -> ManifestError {
    let err = m.validate().expect_err("manifest accepted");
    // The decoder enforces the same rules on the encoded form.
    assert_eq!(Manifest::decode(&m.encode()).unwrap_err(), err);
    err
}

#[test]
fn encode_decode_round_trip() {
    let mut m = base();
    m.guests[0].args = vec!["x".into(), "ünïcode".into(), String::new()];
    m.guests[0].env = vec![("K".into(), "v=w".into())];
    m.guests[0].preopens = vec![Preopen {
        guest_path: ".".into(),
        bundle_dir: "d/e".into(),
        readonly: true,
    }];
    m.guests[1].limits.fuel = Some(u64::MAX);
    m.guests[1].limits.wall_time_ms = Some(1500);
    m.exports = vec![Export {
        guest: "b".into(),
        path: "/out".into(),
    }];
    m.shared_ramfs = true;
    assert_eq!(Manifest::decode(&m.encode()), Ok(m));
}

#[test]
fn rules() {
    assert_eq!(rejects(&Manifest::default()), ManifestError::NoGuests);

    let mut m = base();
    m.guests[1].name = "a".into();
    assert_eq!(
        rejects(&m),
        ManifestError::DuplicateGuest { name: "a".into() }
    );

    for bad in ["", "x\ny"] {
        let mut m = base();
        m.guests[0].name = bad.into();
        assert!(matches!(rejects(&m), ManifestError::BadGuestName { .. }));
    }
    for bad in ["../a.wasm", "/a.wasm", "a//b", "a/./b", "a/", ""] {
        let mut m = base();
        m.guests[0].wasm = bad.into();
        assert!(
            matches!(rejects(&m), ManifestError::BadPath { ref path, .. } if path == bad),
            "{bad:?}"
        );
    }
    let mut m = base();
    m.guests[0].stdin = Some("x/../y".into());
    assert!(matches!(rejects(&m), ManifestError::BadPath { .. }));

    let mut m = base();
    m.guests[0].env = vec![("K".into(), "1".into()), ("K".into(), "2".into())];
    assert_eq!(
        rejects(&m),
        ManifestError::DuplicateEnv {
            guest: "a".into(),
            key: "K".into()
        }
    );
    for (k, v) in [("", "v"), ("A=B", "v"), ("K", "nul\0")] {
        let mut m = base();
        m.guests[0].env = vec![(k.into(), v.into())];
        assert!(matches!(rejects(&m), ManifestError::BadString { .. }));
    }
    let mut m = base();
    m.guests[0].args = vec!["nul\0".into()];
    assert!(matches!(rejects(&m), ManifestError::BadString { .. }));

    let limits = [
        Limits {
            fuel: Some(0),
            ..Limits::default()
        },
        Limits {
            wall_time_ms: Some(0),
            ..Limits::default()
        },
        Limits {
            max_memory_bytes: 0,
            ..Limits::default()
        },
        Limits {
            max_memory_bytes: (1 << 32) + 1,
            ..Limits::default()
        },
        Limits {
            max_open_fds: 2,
            ..Limits::default()
        },
    ];
    for l in limits {
        let mut m = base();
        m.guests[1].limits = l;
        assert!(
            matches!(rejects(&m), ManifestError::BadLimit { ref guest, .. } if guest == "b"),
            "{l:?}"
        );
    }

    let mut m = base();
    m.exports = vec![Export {
        guest: "nope".into(),
        path: "/out".into(),
    }];
    assert_eq!(
        rejects(&m),
        ManifestError::UnknownExportGuest {
            guest: "nope".into()
        }
    );
}

#[test]
fn decoder_bounds() {
    let enc = base().encode();
    for len in 0..enc.len() {
        assert!(
            matches!(
                Manifest::decode(&enc[..len]),
                Err(ManifestError::Truncated { .. })
            ),
            "len {len}"
        );
    }
    let mut bad_flag = enc.clone();
    bad_flag[4] = 2; // shared_ramfs
    assert_eq!(
        Manifest::decode(&bad_flag),
        Err(ManifestError::BadTag {
            what: "shared_ramfs",
            value: 2
        })
    );
    // A version-1 manifest (before wall_time_ms) is refused by its version word.
    let mut v1 = enc.clone();
    v1[0..4].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(
        Manifest::decode(&v1),
        Err(ManifestError::UnsupportedVersion(1))
    );
    let mut not_utf8 = enc.clone();
    // version(4) shared(1) count(4) name len(4) then name "a".
    not_utf8[13] = 0xff;
    assert_eq!(
        Manifest::decode(&not_utf8),
        Err(ManifestError::NotUtf8 { what: "guest name" })
    );
}

#[test]
fn builder_errors() {
    let err = |b: BundleBuilder| b.build().expect_err("bundle built");
    let ok = || {
        BundleBuilder::new(base())
            .add_file("a.wasm", WASM)
            .add_file("b.wasm", WASM)
    };
    ok().build().expect("valid");
    assert!(matches!(
        err(ok().add_file("a.wasm", WASM)),
        BuildError::DuplicateFile { path } if path == "a.wasm"
    ));
    assert!(matches!(
        err(ok().add_file("../x", b"x".to_vec())),
        BuildError::BadFilePath { .. }
    ));
    assert!(matches!(
        err(BundleBuilder::new(base()).add_file("a.wasm", WASM)),
        BuildError::MissingFile { guest, what: "wasm module", .. } if guest == "b"
    ));
    assert!(matches!(
        err(BundleBuilder::new(base())
            .add_file("a.wasm", WASM)
            .add_file("b.wasm", b"#!/bin/sh".to_vec())),
        BuildError::NotWasm { guest, .. } if guest == "b"
    ));
    let mut m = base();
    m.guests[0].stdin = Some("in.txt".into());
    assert!(matches!(
        err(BundleBuilder::new(m)
            .add_file("a.wasm", WASM)
            .add_file("b.wasm", WASM)),
        BuildError::MissingFile {
            what: "stdin file",
            ..
        }
    ));
    let too_long = format!("{}/{}", "d".repeat(200), "f".repeat(50));
    assert!(matches!(
        err(ok().add_file(too_long, b"x".to_vec())),
        BuildError::Archive(_)
    ));
}
