//! Deferring a module's `start` function so the watchdog can stop it.
//!
//! wasmi runs the start function (WebAssembly core spec §5.5.11, section id 8) inside
//! instantiation with an ordinary, non-resumable call, so it could not be run in fuel slices:
//! a start function that loops forever would never reach a watchdog check. For a guest with a
//! wall-clock limit the module is rewritten: the start section is dropped and its function is
//! exported as [`START_EXPORT`] instead, and the runner calls that export (sliced) right after
//! instantiation, before `_start`, which is what instantiation would have done. Function
//! indices do not change, so backtraces and names are unaffected.
//!
//! The rewrite never makes an invalid module valid: a module with more than one start or
//! export section, an export section after its start section, trailing bytes in the start
//! section or an existing export named [`START_EXPORT`] is [`Start::Unsupported`]; the
//! runner then compiles the original (invalid modules fail there with wasmi's message) and
//! refuses a valid one rather than run a start function it could not stop. A start function
//! of the wrong type is exported fine but refused by the runner's type check.

use crate::shadow::{append_item, leb_u32, read_leb, section, split};
use alloc::vec::Vec;
use wasmparser::{BinaryReader, ExportSectionReader};

/// Export name given to a deferred start function.
pub const START_EXPORT: &str = "elastic:start";

/// What [`defer`] made of a module.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// No start section: run the module as it is.
    Absent,
    /// The rewritten module (start section removed, its function exported).
    Deferred(Vec<u8>),
    /// The module has (or may have) a start section that cannot be deferred.
    Unsupported,
}

/// Rewrites `wasm` so its start function is exported instead of run at instantiation.
pub fn defer(wasm: &[u8]) -> Start {
    defer_inner(wasm).unwrap_or(Start::Unsupported)
}

fn defer_inner(wasm: &[u8]) -> Option<Start> {
    let sections = split(wasm)?;
    let position = |id: u8| sections.iter().position(|s| s.0 == id);
    let count = |id: u8| sections.iter().filter(|s| s.0 == id).count();
    let Some(start_at) = position(8) else {
        return Some(Start::Absent);
    };
    if count(8) != 1 || count(7) > 1 {
        return None;
    }
    let export_at = position(7);
    if export_at.is_some_and(|e| e > start_at) {
        return None;
    }
    let start = sections.get(start_at)?.2;
    let mut p = 0;
    let func = read_leb(start, &mut p)?;
    if p != start.len() {
        return None;
    }
    let existing = match export_at {
        Some(e) => {
            let (_, offset, contents) = sections.get(e)?;
            Some((*offset, *contents))
        }
        None => None,
    };
    if let Some((offset, contents)) = existing {
        for export in ExportSectionReader::new(BinaryReader::new(contents, offset)).ok()? {
            if export.ok()?.name == START_EXPORT {
                return None;
            }
        }
    }
    let mut entry = Vec::new();
    leb_u32(&mut entry, START_EXPORT.len() as u32);
    entry.extend_from_slice(START_EXPORT.as_bytes());
    entry.push(0x00); // function export
    leb_u32(&mut entry, func);
    let exports = append_item(existing.map(|(_, c)| c), &entry)?;

    let mut out = wasm.get(0..8)?.to_vec();
    for (id, _, contents) in &sections {
        match id {
            7 => section(&mut out, 7, &exports)?,
            // The new export section takes the start section's place when there was none
            // (export sections come right before start sections).
            8 if export_at.is_none() => section(&mut out, 7, &exports)?,
            8 => {}
            _ => section(&mut out, *id, contents)?,
        }
    }
    Some(Start::Deferred(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(src: &str) -> Vec<u8> {
        wat::parse_str(src).expect("valid wat")
    }

    fn exports(wasm: &[u8]) -> Vec<(String, u32)> {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, wasm).expect("the rewrite compiles");
        module
            .exports()
            .map(|e| (e.name().into(), u32::from(e.ty().func().is_some())))
            .collect()
    }

    #[test]
    fn a_module_without_a_start_section_is_left_alone() {
        let m = wat(r#"(module (func (export "_start")))"#);
        assert_eq!(defer(&m), Start::Absent);
    }

    #[test]
    fn the_start_function_becomes_an_export_and_the_section_goes() {
        // with an export section, and without one
        for src in [
            r#"(module (func $s) (func (export "_start")) (start $s) (memory (export "memory") 1))"#,
            r#"(module (func $a) (func $s) (start $s))"#,
        ] {
            let m = wat(src);
            let Start::Deferred(out) = defer(&m) else {
                panic!("not deferred: {src}")
            };
            let sections = split(&out).expect("well formed");
            assert!(
                sections.iter().all(|s| s.0 != 8),
                "start section left: {src}"
            );
            let names = exports(&out);
            assert!(
                names.contains(&(START_EXPORT.into(), 1)),
                "{names:?} for {src}"
            );
            // the original exports are still there
            for (name, _) in exports(&m) {
                assert!(names.iter().any(|(n, _)| *n == name));
            }
        }
    }

    /// `base` re-emitted with its start section replaced by `with(contents)` (sections).
    fn remix(base: &[u8], with: impl Fn(&[u8]) -> Vec<(u8, Vec<u8>)>) -> Vec<u8> {
        let mut out = base[..8].to_vec();
        for (id, _, c) in split(base).unwrap() {
            if id == 8 {
                for (nid, nc) in with(c) {
                    section(&mut out, nid, &nc).unwrap();
                }
            } else {
                section(&mut out, id, c).unwrap();
            }
        }
        out
    }

    #[test]
    fn modules_the_rewrite_could_make_valid_are_unsupported() {
        let base = wat(r#"(module (func $s) (start $s))"#);
        assert!(matches!(defer(&base), Start::Deferred(_)));
        assert_eq!(remix(&base, |c| vec![(8, c.to_vec())]), base);
        let twice = remix(&base, |c| vec![(8, c.to_vec()), (8, c.to_vec())]);
        assert_eq!(defer(&twice), Start::Unsupported);
        let export_after_start = remix(&base, |c| vec![(8, c.to_vec()), (7, vec![0])]);
        assert_eq!(defer(&export_after_start), Start::Unsupported);
        let trailing = remix(&base, |c| vec![(8, [c, &[0]].concat())]);
        assert_eq!(defer(&trailing), Start::Unsupported);
        let taken = wat(r#"(module (func $s) (export "elastic:start" (func $s)) (start $s))"#);
        assert_eq!(defer(&taken), Start::Unsupported);
        // not a module, or a section running past the end
        assert_eq!(defer(b"\0asm\x01\0\0\0\x08\x05"), Start::Unsupported);
        assert_eq!(defer(b"junk"), Start::Unsupported);
    }
}
