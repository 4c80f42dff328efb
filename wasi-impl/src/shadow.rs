//! A cheap shadow call stack, so a trap can be reported with a wasm backtrace even though
//! wasmi 2.0 has no backtrace API.
//!
//! Before compiling, the module is rewritten (WebAssembly core spec 1.0+ binary format,
//! §5.5: sections; multi-memory proposal for the extra memory):
//! * a new memory (one page) and a new mutable `i32` global `depth` are appended (appending
//!   keeps every existing index valid) and exported as [`STACK_EXPORT`] / [`DEPTH_EXPORT`];
//! * every function body gets one extra `i32` local `my` and the prologue
//!   `my = depth + 4; depth = my; mem[my & 0xfffc] = func_index`;
//! * after every `call`/`call_indirect`/`call_ref`: `depth = my` (the caller's depth is
//!   restored whenever a callee returns); before every `return_call*`: `depth = my - 4` (the
//!   callee takes over this frame's slot).
//!
//! When a trap unwinds, nothing restores `depth`, so the slots up to it are the active frames,
//! innermost at `depth`; the last 16384 frames are kept (a ring in the 64 KiB memory).
//! Cost: 10 instructions per function entry and 2 per call site (fib-style call-bound code
//! runs about 1.6x slower; see docs/wasi.md); `GuestConfig::wasm_backtrace = false` turns it off. Names come
//! from the `name` custom section when present. Any module this rewriter does not understand
//! is left as is (no backtrace), and a rewritten module that fails to compile falls back to
//! the original bytes, so instrumentation can never make a valid module fail.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use wasmparser::{
    BinaryReader, CompositeInnerType, FunctionBody, ImportSectionReader, Name, NameSectionReader,
    Operator, SectionLimited, TypeRef, TypeSectionReader,
};

/// Export name of the shadow-stack memory.
pub const STACK_EXPORT: &str = "elastic:shadow-stack";
/// Export name of the shadow-stack depth global (bytes used, grows by 4 per frame).
pub const DEPTH_EXPORT: &str = "elastic:shadow-depth";
/// Frames kept (the ring's size).
pub const RING_FRAMES: u32 = 16384;
/// Mask turning a depth into a 4-byte slot address inside the ring.
const MASK: u32 = RING_FRAMES * 4 - 4;

pub(crate) fn leb_u32(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn leb_i32(out: &mut Vec<u8>, mut v: i32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
        if done {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads an unsigned LEB128 `u32` at `*pos`.
pub(crate) fn read_leb(data: &[u8], pos: &mut usize) -> Option<u32> {
    let mut result: u64 = 0;
    for shift in (0..35).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        result |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return u32::try_from(result).ok();
        }
    }
    None
}

pub(crate) fn section(out: &mut Vec<u8>, id: u8, contents: &[u8]) -> Option<()> {
    out.push(id);
    leb_u32(out, u32::try_from(contents.len()).ok()?);
    out.extend_from_slice(contents);
    Some(())
}

/// A vector section's contents with `extra` appended as one more item.
pub(crate) fn append_item(contents: Option<&[u8]>, extra: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match contents {
        Some(c) => {
            let mut pos = 0;
            let n = read_leb(c, &mut pos)?;
            leb_u32(&mut out, n.checked_add(1)?);
            out.extend_from_slice(c.get(pos..)?);
        }
        None => leb_u32(&mut out, 1),
    }
    out.extend_from_slice(extra);
    Some(out)
}

fn count(contents: Option<&[u8]>) -> Option<u32> {
    match contents {
        Some(c) => read_leb(c, &mut 0),
        None => Some(0),
    }
}

/// Order of known sections in a module (custom sections may appear anywhere).
fn order(id: u8) -> u8 {
    match id {
        1 => 1,
        2 => 2,
        3 => 3,
        4 => 4,
        5 => 5,
        13 => 6,
        6 => 7,
        7 => 8,
        8 => 9,
        9 => 10,
        12 => 11,
        10 => 12,
        11 => 13,
        _ => 0,
    }
}

/// `memarg` for an aligned i32 access to memory `mem` at offset 0.
fn memarg(out: &mut Vec<u8>, mem: u32) {
    if mem == 0 {
        out.push(2);
    } else {
        out.push(2 | 0x40);
        leb_u32(out, mem);
    }
    out.push(0);
}

/// Rewrites one function body (see the module docs).
fn body(
    raw: &[u8],
    offset: usize,
    nparams: u32,
    func_idx: u32,
    g: u32,
    mem: u32,
) -> Option<Vec<u8>> {
    let fb = FunctionBody::new(BinaryReader::new(raw, offset));
    let mut locals = fb.get_locals_reader().ok()?;
    let groups = locals.get_count();
    let mut nlocals: u32 = nparams;
    for _ in 0..groups {
        let (n, _) = locals.read().ok()?;
        nlocals = nlocals.checked_add(n)?;
    }
    let ops_start = locals.original_position().checked_sub(offset)?;
    let mut pos = 0;
    read_leb(raw, &mut pos)?; // group count
    let groups_raw = raw.get(pos..ops_start)?;
    let my = nlocals;
    let mut out = Vec::new();
    leb_u32(&mut out, groups.checked_add(1)?);
    out.extend_from_slice(groups_raw);
    out.extend_from_slice(&[1, 0x7f]); // one i32 local
    // prologue: my = depth + 4; depth = my; mem[my & MASK] = func_idx
    out.push(0x23); // global.get
    leb_u32(&mut out, g);
    out.extend_from_slice(&[0x41, 4, 0x6a]); // i32.const 4; i32.add
    out.push(0x22); // local.tee
    leb_u32(&mut out, my);
    out.push(0x24); // global.set
    leb_u32(&mut out, g);
    out.push(0x20); // local.get
    leb_u32(&mut out, my);
    out.push(0x41); // i32.const
    leb_i32(&mut out, MASK as i32);
    out.push(0x71); // i32.and
    out.push(0x41);
    leb_i32(&mut out, func_idx as i32);
    out.push(0x36); // i32.store
    memarg(&mut out, mem);
    // depth = my (after a call returns) or my - 4 (before a tail call)
    let restore = |out: &mut Vec<u8>, minus: bool| {
        out.push(0x20); // local.get
        leb_u32(out, my);
        if minus {
            out.extend_from_slice(&[0x41, 4, 0x6b]); // i32.const 4; i32.sub
        }
        out.push(0x24); // global.set
        leb_u32(out, g);
    };
    let mut ops = fb.get_operators_reader().ok()?;
    while !ops.eof() {
        let start = ops.original_position().checked_sub(offset)?;
        let op = ops.read().ok()?;
        let end = ops.original_position().checked_sub(offset)?;
        let bytes = raw.get(start..end)?;
        match op {
            Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. } => {
                restore(&mut out, true);
                out.extend_from_slice(bytes);
            }
            Operator::Call { .. } | Operator::CallIndirect { .. } | Operator::CallRef { .. } => {
                out.extend_from_slice(bytes);
                restore(&mut out, false);
            }
            _ => out.extend_from_slice(bytes),
        }
    }
    let mut sized = Vec::new();
    leb_u32(&mut sized, u32::try_from(out.len()).ok()?);
    sized.extend_from_slice(&out);
    Some(sized)
}

/// A module's sections as `(id, offset of the contents, contents)`, or `None` if it is not a
/// version-1 module or a section overruns the end.
pub(crate) fn split(wasm: &[u8]) -> Option<Vec<(u8, usize, &[u8])>> {
    if wasm.get(0..8)? != b"\0asm\x01\0\0\0" {
        return None;
    }
    let mut sections = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let id = *wasm.get(pos)?;
        pos += 1;
        let len = read_leb(wasm, &mut pos)? as usize;
        let end = pos.checked_add(len)?;
        sections.push((id, pos, wasm.get(pos..end)?));
        pos = end;
    }
    Some(sections)
}

/// Returns the instrumented module, or `None` if the module is not understood.
pub fn instrument(wasm: &[u8]) -> Option<Vec<u8>> {
    let sections = split(wasm)?;
    let find = |id: u8| sections.iter().find(|s| s.0 == id).map(|s| (s.1, s.2));

    // Imports.
    let (mut imp_funcs, mut imp_mems, mut imp_globals) = (0u32, 0u32, 0u32);
    if let Some((off, c)) = find(2) {
        for imp in ImportSectionReader::new(BinaryReader::new(c, off)).ok()? {
            match imp.ok()?.ty {
                TypeRef::Func(_) => imp_funcs += 1,
                TypeRef::Memory(_) => imp_mems += 1,
                TypeRef::Global(_) => imp_globals += 1,
                _ => {}
            }
        }
    }
    // Parameter counts per type.
    let mut params: Vec<Option<u32>> = Vec::new();
    if let Some((off, c)) = find(1) {
        for rg in TypeSectionReader::new(BinaryReader::new(c, off)).ok()? {
            for st in rg.ok()?.into_types() {
                params.push(match &st.composite_type.inner {
                    CompositeInnerType::Func(ft) => u32::try_from(ft.params().len()).ok(),
                    _ => None,
                });
            }
        }
    }
    let mut func_types: Vec<u32> = Vec::new();
    if let Some((off, c)) = find(3) {
        let r: SectionLimited<'_, u32> = SectionLimited::new(BinaryReader::new(c, off)).ok()?;
        for t in r {
            func_types.push(t.ok()?);
        }
    }
    let g = imp_globals.checked_add(count(find(6).map(|s| s.1))?)?;
    let mem = imp_mems.checked_add(count(find(5).map(|s| s.1))?)?;

    // New code section. The copies are as large as the module: reserved fallibly up front
    // (prologues and call-site restores add about a third; beyond that they grow as needed),
    // so a module the heap cannot copy is run without a backtrace instead.
    let mut code = Vec::new();
    if let Some((off, c)) = find(10) {
        let mut p = 0;
        let n = read_leb(c, &mut p)?;
        if n as usize != func_types.len() {
            return None;
        }
        code.try_reserve(
            c.len()
                .checked_add(c.len() / 3)?
                .checked_add(32 * n as usize)?,
        )
        .ok()?;
        leb_u32(&mut code, n);
        for (i, &ty) in func_types.iter().enumerate() {
            let len = read_leb(c, &mut p)? as usize;
            let raw = c.get(p..p.checked_add(len)?)?;
            let np = (*params.get(ty as usize)?)?;
            let idx = imp_funcs.checked_add(u32::try_from(i).ok()?)?;
            code.extend_from_slice(&body(raw, off + p, np, idx, g, mem)?);
            p += len;
        }
    }

    let mut new_mem = Vec::new();
    new_mem.extend_from_slice(&[0x00, 0x01]); // limits: min 1 page, no max
    let new_global = [0x7f, 0x01, 0x41, 0x00, 0x0b]; // mut i32 = i32.const 0
    let mut new_exports = Vec::new();
    for (name, kind, idx) in [(STACK_EXPORT, 0x02u8, mem), (DEPTH_EXPORT, 0x03u8, g)] {
        leb_u32(&mut new_exports, name.len() as u32);
        new_exports.extend_from_slice(name.as_bytes());
        new_exports.push(kind);
        leb_u32(&mut new_exports, idx);
    }
    let memory = append_item(find(5).map(|s| s.1), &new_mem)?;
    let globals = append_item(find(6).map(|s| s.1), &new_global)?;
    let exports = {
        let first = append_item(find(7).map(|s| s.1), &new_exports)?;
        // append_item added one item; we appended two.
        let mut p = 0;
        let n = read_leb(&first, &mut p)?;
        let mut v = Vec::new();
        leb_u32(&mut v, n.checked_add(1)?);
        v.extend_from_slice(first.get(p..)?);
        v
    };

    // Re-emit in order, inserting the sections we create where they belong.
    let mut out = Vec::new();
    out.try_reserve(wasm.len().checked_add(code.len())?.checked_add(256)?)
        .ok()?;
    out.extend_from_slice(wasm.get(0..8)?);
    let mut done = [false; 3]; // memory, global, export written
    let ours: [(u8, &[u8]); 3] = [(5, &memory), (6, &globals), (7, &exports)];
    let emit_missing_before = |out: &mut Vec<u8>, done: &mut [bool; 3], ord: u8| -> Option<()> {
        for ((id, c), done) in ours.iter().zip(done.iter_mut()) {
            if !*done && order(*id) < ord {
                section(out, *id, c)?;
                *done = true;
            }
        }
        Some(())
    };
    for (id, _, c) in &sections {
        if *id != 0 {
            emit_missing_before(&mut out, &mut done, order(*id))?;
        }
        match id {
            5 => {
                section(&mut out, 5, &memory)?;
                done[0] = true;
            }
            6 => {
                section(&mut out, 6, &globals)?;
                done[1] = true;
            }
            7 => {
                section(&mut out, 7, &exports)?;
                done[2] = true;
            }
            10 => section(&mut out, 10, &code)?,
            _ => section(&mut out, *id, c)?,
        }
    }
    emit_missing_before(&mut out, &mut done, u8::MAX)?;
    Some(out)
}

/// Function names from the `name` custom section (empty if absent or malformed).
pub fn function_names(wasm: &[u8]) -> BTreeMap<u32, String> {
    let mut names = BTreeMap::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let Some(&id) = wasm.get(pos) else { break };
        pos += 1;
        let Some(len) = read_leb(wasm, &mut pos) else {
            break;
        };
        let Some(end) = pos.checked_add(len as usize) else {
            break;
        };
        let Some(c) = wasm.get(pos..end) else { break };
        if id == 0 {
            let mut p = 0;
            if let Some(nl) = read_leb(c, &mut p)
                && let Some(start) = p.checked_add(nl as usize)
                && c.get(p..start) == Some(b"name")
                && let Some(sub) = c.get(start..)
            {
                let reader = NameSectionReader::new(BinaryReader::new(sub, pos + start));
                for sub in reader.into_iter().flatten() {
                    if let Name::Function(map) = sub {
                        for n in map.into_iter().flatten() {
                            names.insert(n.index, n.name.to_string());
                        }
                    }
                }
            }
        }
        pos = end;
    }
    names
}

/// Formats the frames (innermost first) from the shadow memory and depth, at most `max`.
pub fn frames(stack: &[u8], depth: u32, names: &BTreeMap<u32, String>, max: usize) -> Vec<String> {
    let n = (depth / 4).min(RING_FRAMES);
    let mut out = Vec::new();
    for k in 0..n {
        if out.len() == max {
            out.push(format!("... {} more frames", n as usize - max));
            break;
        }
        let slot = (depth.wrapping_sub(4 * k) & MASK) as usize;
        let Some(b) = stack
            .get(slot..slot + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
        else {
            break;
        };
        let idx = u32::from_le_bytes(b);
        out.push(match names.get(&idx) {
            Some(name) => format!("func[{idx}] {:#}", rustc_demangle::demangle(name)),
            None => format!("func[{idx}]"),
        });
    }
    out
}
