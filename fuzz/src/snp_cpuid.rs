//! Fuzz harness `snp_cpuid`: the SNP CPUID page (AMD 56860 §8.17.2.6 / Table 14, filled by the
//! hypervisor and only checked by the PSP against the host's CPUID policy) parsed and queried.
//!
//! Input: a 4096-byte page (zero-padded; or, with the first byte's bit 0 set, a page built
//! from up to 64 entries taken from the input so the count field is plausible), then queries
//! (leaf, subleaf, CR4.OSXSAVE/PKE, XCR0, XSS). Properties: no panic; an accepted table has
//! 1..=64 entries and rebuilding its page with `build_page` parses to the same table; answers
//! for leaves outside the table's ranges are all-zero.

use crate::input::Input;
use elastic_snp::cpuid_page::{
    CPUID_MAX_ENTRIES, CPUID_PAGE_SIZE, CpuidContext, CpuidEntry, CpuidTable, build_page,
};

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let page: Vec<u8> = if mode & 1 == 0 {
        let mut p = vec![0u8; CPUID_PAGE_SIZE];
        let raw = input.bytes(255);
        let raw2 = input.take_rest();
        let (a, b) = (raw.len(), raw2.len().min(CPUID_PAGE_SIZE - raw.len()));
        p[..a].copy_from_slice(raw);
        p[a..a + b].copy_from_slice(&raw2[..b]);
        if mode & 2 != 0 {
            // Truncated or oversized pages must be refused, not indexed.
            p.truncate(usize::from(input.u16()) % (CPUID_PAGE_SIZE + 1));
        }
        // Queries come from the page bytes themselves in this mode.
        input = Input::new(data.get(1..).unwrap_or(&[]));
        p
    } else {
        let n = usize::from(input.u8()) % (CPUID_MAX_ENTRIES + 1);
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let leaf_sel = input.u8();
            let eax_in = match leaf_sel % 4 {
                0 => u32::from(input.u8() & 0x1F),
                1 => 0x8000_0000 | u32::from(input.u8() & 0x1F),
                2 => 0x4000_0000 | u32::from(input.u8() & 0x0F),
                _ => input.u32(),
            };
            entries.push(CpuidEntry {
                eax_in,
                ecx_in: u32::from(input.u8()),
                xcr0_in: input.u64(),
                xss_in: input.u64(),
                eax: input.u32(),
                ebx: input.u32(),
                ecx: input.u32(),
                edx: input.u32(),
            });
        }
        match build_page(&entries) {
            Ok(p) => p.to_vec(),
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        }
    };
    let table = match CpuidTable::parse(&page) {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let count = table.entries().len();
    assert!((1..=CPUID_MAX_ENTRIES).contains(&count));
    let rebuilt = build_page(table.entries()).expect("an accepted table rebuilds");
    assert_eq!(
        CpuidTable::parse(&rebuilt).as_ref().ok(),
        Some(&table),
        "parse(build_page(entries)) differs"
    );
    let _ = table.says_no_sev();
    let _ = table.cbit_position();
    let (std_max, ext_max) = (table.std_max(), table.ext_max());
    for _ in 0..16 {
        if input.is_empty() {
            break;
        }
        let leaf = match input.u8() % 4 {
            0 => u32::from(input.u8() & 0x1F),
            1 => 0x8000_0000 | u32::from(input.u8() & 0x1F),
            2 => 0x4000_0000 | u32::from(input.u8()),
            _ => input.u32(),
        };
        let subleaf = u32::from(input.u8());
        let flags = input.u8();
        let ctx = CpuidContext {
            cr4_osxsave: flags & 1 != 0,
            cr4_pke: flags & 2 != 0,
            xcr0: input.u64(),
            xss: input.u64(),
        };
        match table.lookup(leaf, subleaf, &ctx) {
            Ok(r) => {
                let outside = (leaf > std_max && leaf < 0x4000_0000)
                    || (leaf > ext_max && leaf >= 0x8000_0000);
                let listed = table.entries().iter().any(|e| e.eax_in == leaf);
                if outside && !listed {
                    assert_eq!(r, Default::default(), "leaf {leaf:#x} outside the table");
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}
