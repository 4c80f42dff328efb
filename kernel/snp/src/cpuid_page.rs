//! The SNP CPUID page: the PSP-validated CPUID table the guest answers CPUID from
//! (AMD 56860 SNP firmware ABI §8.17.2 "CPUID reporting", table "SNP_CPUID_FUNCTION";
//! lookup rules follow Linux `arch/x86/boot/startup/sev-shared.c` `snp_cpuid*`).
//!
//! Layout (4096 bytes): count u32 @0x0 (at most 64), reserved u32 @0x4, reserved u64 @0x8,
//! then 48-byte entries from 0x10: eax_in u32, ecx_in u32, xcr0_in u64, xss_in u64, eax, ebx,
//! ecx, edx (u32 each), reserved u64.
//!
//! Lookup: `ecx_in` is matched only for indexed leaves; for leaf 0xD subleaves 0 and 1 only
//! the entry for the base XSAVE area (xcr0_in 1 or 3, xss_in 0) is used and the area size in
//! EBX is recomputed from subleaves 2..63 for the XCR0/XSS in force; a leaf absent from the
//! table returns zeros; CR4.OSXSAVE / CR4.PKE are reflected in leaf 1 ECX[27] and leaf 7
//! ECX[4]. Hypervisor-provided APIC-ID fix-ups (leaves 1, 0xB, 0x8000_001E) are not applied:
//! Elastic runs one vCPU and never asks the hypervisor for CPUID values under SNP.

/// Size of the CPUID page.
pub const CPUID_PAGE_SIZE: usize = 4096;
/// Maximum number of entries.
pub const CPUID_MAX_ENTRIES: usize = 64;
/// Offset of the first entry.
pub const ENTRIES_OFFSET: usize = 0x10;
/// Size of one entry.
pub const ENTRY_SIZE: usize = 48;

const _: () = assert!(ENTRIES_OFFSET + CPUID_MAX_ENTRIES * ENTRY_SIZE <= CPUID_PAGE_SIZE);

/// Base (legacy + header) XSAVE area size in bytes.
const XSAVE_BASE_SIZE: u32 = 0x240;

/// One CPUID page entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuidEntry {
    /// Input EAX (leaf).
    pub eax_in: u32,
    /// Input ECX (subleaf).
    pub ecx_in: u32,
    /// Input XCR0.
    pub xcr0_in: u64,
    /// Input XSS.
    pub xss_in: u64,
    /// Output EAX.
    pub eax: u32,
    /// Output EBX.
    pub ebx: u32,
    /// Output ECX.
    pub ecx: u32,
    /// Output EDX.
    pub edx: u32,
}

impl CpuidEntry {
    /// Serialises the entry into 48 bytes (for tests and tools building a page).
    pub fn to_bytes(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        b[0..4].copy_from_slice(&self.eax_in.to_le_bytes());
        b[4..8].copy_from_slice(&self.ecx_in.to_le_bytes());
        b[8..16].copy_from_slice(&self.xcr0_in.to_le_bytes());
        b[16..24].copy_from_slice(&self.xss_in.to_le_bytes());
        b[24..28].copy_from_slice(&self.eax.to_le_bytes());
        b[28..32].copy_from_slice(&self.ebx.to_le_bytes());
        b[32..36].copy_from_slice(&self.ecx.to_le_bytes());
        b[36..40].copy_from_slice(&self.edx.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(Self {
            eax_in: le_u32(b, 0)?,
            ecx_in: le_u32(b, 4)?,
            xcr0_in: le_u64(b, 8)?,
            xss_in: le_u64(b, 16)?,
            eax: le_u32(b, 24)?,
            ebx: le_u32(b, 28)?,
            ecx: le_u32(b, 32)?,
            edx: le_u32(b, 36)?,
        })
    }
}

fn le_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn le_u64(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// Builds a CPUID page image from entries (for tests, simulators and tools).
pub fn build_page(entries: &[CpuidEntry]) -> Result<[u8; CPUID_PAGE_SIZE], CpuidError> {
    if entries.is_empty() || entries.len() > CPUID_MAX_ENTRIES {
        return Err(CpuidError::BadCount(entries.len() as u32));
    }
    let mut page = [0u8; CPUID_PAGE_SIZE];
    let (count, slots) = page.split_at_mut(ENTRIES_OFFSET);
    count
        .get_mut(0..4)
        .ok_or(CpuidError::BadCount(entries.len() as u32))?
        .copy_from_slice(&(entries.len() as u32).to_le_bytes());
    // At most CPUID_MAX_ENTRIES (checked above) fit in the page.
    for (slot, e) in slots.chunks_exact_mut(ENTRY_SIZE).zip(entries) {
        slot.copy_from_slice(&e.to_bytes());
    }
    Ok(page)
}

/// Errors parsing the CPUID page or answering from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuidError {
    /// The page is not 4096 bytes.
    BadSize(usize),
    /// The entry count is 0 or above 64.
    BadCount(u32),
    /// Leaf 0xD subleaf 1 without XSAVEC/XSAVES, or XCR0/XSS enable features the table lacks.
    XsaveSizeUnavailable,
}

impl core::fmt::Display for CpuidError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadSize(n) => write!(f, "CPUID page is {n} bytes, expected 4096"),
            Self::BadCount(c) => write!(f, "CPUID page count {c} (must be 1..=64)"),
            Self::XsaveSizeUnavailable => {
                f.write_str("XSAVE area size cannot be computed from the CPUID page")
            }
        }
    }
}

/// The four output registers of CPUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuidResult {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Guest state the lookup needs (the values in force when CPUID executed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuidContext {
    /// CR4.OSXSAVE.
    pub cr4_osxsave: bool,
    /// CR4.PKE.
    pub cr4_pke: bool,
    /// XCR0 (only consulted when `cr4_osxsave`; otherwise x87 only = 1 is assumed).
    pub xcr0: u64,
    /// IA32_XSS (only consulted for leaf 0xD subleaf 1 when XSAVES is supported).
    pub xss: u64,
}

impl Default for CpuidContext {
    fn default() -> Self {
        Self {
            cr4_osxsave: false,
            cr4_pke: false,
            xcr0: 1,
            xss: 0,
        }
    }
}

/// Whether CPUID function `leaf` takes a subleaf in ECX (Linux `cpuid_function_is_indexed`).
pub fn is_indexed_leaf(leaf: u32) -> bool {
    matches!(
        leaf,
        0x4 | 0x7
            | 0xB
            | 0xD
            | 0xF
            | 0x10
            | 0x12
            | 0x14
            | 0x17
            | 0x18
            | 0x1D
            | 0x1E
            | 0x1F
            | 0x24
            | 0x8000_001D
    )
}

/// A parsed, validated CPUID table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuidTable {
    entries: [CpuidEntry; CPUID_MAX_ENTRIES],
    count: usize,
    std_max: u32,
    hyp_max: u32,
    ext_max: u32,
}

impl CpuidTable {
    /// Parses the CPUID page, rejecting a count of 0 or above 64.
    pub fn parse(page: &[u8]) -> Result<Self, CpuidError> {
        if page.len() != CPUID_PAGE_SIZE {
            return Err(CpuidError::BadSize(page.len()));
        }
        let count = le_u32(page, 0).ok_or(CpuidError::BadSize(page.len()))?;
        if count == 0 || count as usize > CPUID_MAX_ENTRIES {
            return Err(CpuidError::BadCount(count));
        }
        let mut entries = [CpuidEntry::default(); CPUID_MAX_ENTRIES];
        for (i, slot) in entries.iter_mut().take(count as usize).enumerate() {
            let off = ENTRIES_OFFSET + i * ENTRY_SIZE;
            let bytes = page
                .get(off..off + ENTRY_SIZE)
                .ok_or(CpuidError::BadSize(page.len()))?;
            *slot = CpuidEntry::from_bytes(bytes).ok_or(CpuidError::BadSize(page.len()))?;
        }
        let mut t = Self {
            entries,
            count: count as usize,
            std_max: 0,
            hyp_max: 0,
            ext_max: 0,
        };
        // Range maxima come from the table itself (first match, subleaf ignored).
        t.std_max = t.raw(0x0, 0).map_or(0, |e| e.eax);
        t.hyp_max = t.raw(0x4000_0000, 0).map_or(0, |e| e.eax);
        t.ext_max = t.raw(0x8000_0000, 0).map_or(0, |e| e.eax);
        Ok(t)
    }

    /// The table's entries.
    pub fn entries(&self) -> &[CpuidEntry] {
        self.entries.get(..self.count).unwrap_or(&[])
    }

    /// Highest standard leaf (Fn0000_0000 EAX), 0 if absent.
    pub fn std_max(&self) -> u32 {
        self.std_max
    }

    /// Highest extended leaf (Fn8000_0000 EAX), 0 if absent.
    pub fn ext_max(&self) -> u32 {
        self.ext_max
    }

    /// First entry matching `leaf` (and `subleaf` for indexed leaves), applying the leaf 0xD
    /// subleaf 0/1 base-entry rule.
    fn raw(&self, leaf: u32, subleaf: u32) -> Option<&CpuidEntry> {
        self.entries().iter().find(|e| {
            if e.eax_in != leaf {
                return false;
            }
            if is_indexed_leaf(leaf) && e.ecx_in != subleaf {
                return false;
            }
            if leaf == 0xD && (e.ecx_in == 0 || e.ecx_in == 1) {
                return (e.xcr0_in == 1 || e.xcr0_in == 3) && e.xss_in == 0;
            }
            true
        })
    }

    fn in_range(&self, leaf: u32) -> bool {
        leaf <= self.std_max
            || ((0x4000_0000..=self.hyp_max).contains(&leaf))
            || ((0x8000_0000..=self.ext_max).contains(&leaf))
    }

    /// Answers CPUID(`leaf`, `subleaf`) from the table with the Linux lookup rules.
    pub fn lookup(
        &self,
        leaf: u32,
        subleaf: u32,
        ctx: &CpuidContext,
    ) -> Result<CpuidResult, CpuidError> {
        let mut r = match self.raw(leaf, subleaf) {
            Some(e) => CpuidResult {
                eax: e.eax,
                ebx: e.ebx,
                ecx: e.ecx,
                edx: e.edx,
            },
            None => {
                if !self.in_range(leaf) {
                    return Ok(CpuidResult::default());
                }
                CpuidResult::default()
            }
        };
        match leaf {
            0x1 => {
                r.ecx &= !(1 << 27);
                if ctx.cr4_osxsave {
                    r.ecx |= 1 << 27;
                }
            }
            0x7 if subleaf == 0 => {
                r.ecx &= !(1 << 4);
                if ctx.cr4_pke {
                    r.ecx |= 1 << 4;
                }
            }
            0xD if subleaf <= 1 => {
                let xcr0 = if ctx.cr4_osxsave { ctx.xcr0 } else { 1 };
                let mut xss = 0;
                let compacted = subleaf == 1;
                if compacted {
                    // XSAVES (EAX bit 3) gates XSS; XSAVEC (bit 1) or XSAVES needed at all.
                    if r.eax & (1 << 3) != 0 {
                        xss = ctx.xss;
                    }
                    if r.eax & ((1 << 1) | (1 << 3)) == 0 {
                        return Err(CpuidError::XsaveSizeUnavailable);
                    }
                }
                r.ebx = self.xsave_size(xcr0 | xss, compacted)?;
            }
            _ => {}
        }
        Ok(r)
    }

    /// XSAVE area size for the enabled features, from subleaves 2..63 of leaf 0xD.
    fn xsave_size(&self, enabled: u64, compacted: bool) -> Result<u32, CpuidError> {
        let mut found = 0u64;
        let mut size = XSAVE_BASE_SIZE;
        for e in self.entries() {
            if e.eax_in != 0xD || e.ecx_in < 2 || e.ecx_in >= 64 {
                continue;
            }
            let bit = 1u64 << e.ecx_in;
            if enabled & bit == 0 || found & bit != 0 {
                continue;
            }
            found |= bit;
            size = if compacted {
                size.checked_add(e.eax)
            } else {
                e.eax.checked_add(e.ebx).map(|end| size.max(end))
            }
            .ok_or(CpuidError::XsaveSizeUnavailable)?;
        }
        if found != enabled & !3 {
            return Err(CpuidError::XsaveSizeUnavailable);
        }
        Ok(size)
    }

    /// True when the table says the CPU has no SEV: Fn8000_0000.EAX < 0x8000_001F or
    /// Fn8000_001F.EAX bit 1 (SEV) clear. Linux terminates in that case because a lying
    /// hypervisor could otherwise make the guest map secrets unencrypted.
    pub fn says_no_sev(&self) -> bool {
        let ctx = CpuidContext::default();
        let max_ext = self.lookup(0x8000_0000, 0, &ctx).map_or(0, |r| r.eax);
        if max_ext < 0x8000_001F {
            return true;
        }
        let sev = self.lookup(0x8000_001F, 0, &ctx).map_or(0, |r| r.eax);
        sev & (1 << 1) == 0
    }

    /// C-bit position from Fn8000_001F.EBX[5:0], if the leaf is present.
    pub fn cbit_position(&self) -> Option<u8> {
        self.raw(0x8000_001F, 0).map(|e| (e.ebx & 0x3F) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(eax_in: u32, ecx_in: u32, out: [u32; 4]) -> CpuidEntry {
        CpuidEntry {
            eax_in,
            ecx_in,
            xcr0_in: 0,
            xss_in: 0,
            eax: out[0],
            ebx: out[1],
            ecx: out[2],
            edx: out[3],
        }
    }

    fn sample() -> Vec<CpuidEntry> {
        let mut v = vec![
            e(0x0, 0, [0x10, 0x6874_7541, 0x444D_4163, 0x6974_6E65]),
            e(
                0x1,
                0,
                [
                    0x00A0_0F11,
                    0x0080_0800,
                    0x7EF8_3203 | (1 << 27),
                    0x178B_FBFF,
                ],
            ),
            e(0x7, 0, [0, 0x219C_97A9, 0x0040_069C | (1 << 4), 0]),
            e(0x7, 1, [0xAA, 0, 0, 0]),
            e(0x8000_0000, 0, [0x8000_0021, 0, 0, 0]),
            e(0x8000_001F, 0, [0x0001_009B, 0x0000_0173, 0, 0]),
        ];
        let mut d0 = e(0xD, 0, [0x207, 0x340, 0x988, 0]);
        d0.xcr0_in = 1;
        let mut d1 = e(0xD, 1, [0xF, 0x340, 0, 0]);
        d1.xcr0_in = 1;
        // a variant entry for xcr0 = 7 that must be ignored for subleaf 0
        let mut d0_bad = e(0xD, 0, [0x207, 0x9999, 0x988, 0]);
        d0_bad.xcr0_in = 7;
        v.insert(0, d0_bad);
        v.push(d0);
        v.push(d1);
        v.push(e(0xD, 2, [0x100, 0x240, 0, 0])); // AVX: size 256 at offset 576
        v.push(e(0xD, 9, [0x8, 0xA80, 0, 0])); // PKRU
        v
    }

    fn table() -> CpuidTable {
        CpuidTable::parse(&build_page(&sample()).unwrap()).unwrap()
    }

    #[test]
    fn parse_rejects_bad_counts_and_sizes() {
        let mut page = build_page(&sample()).unwrap();
        page[0..4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(CpuidTable::parse(&page), Err(CpuidError::BadCount(0)));
        page[0..4].copy_from_slice(&65u32.to_le_bytes());
        assert_eq!(CpuidTable::parse(&page), Err(CpuidError::BadCount(65)));
        page[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(CpuidTable::parse(&page).is_err());
        assert_eq!(
            CpuidTable::parse(&page[..100]),
            Err(CpuidError::BadSize(100))
        );
        page[0..4].copy_from_slice(&64u32.to_le_bytes());
        assert_eq!(CpuidTable::parse(&page).unwrap().entries().len(), 64);
    }

    #[test]
    fn indexed_and_non_indexed_matching() {
        let t = table();
        let c = CpuidContext::default();
        // leaf 1 is not indexed: garbage ECX still finds it
        assert_eq!(t.lookup(1, 0xDEAD, &c).unwrap().eax, 0x00A0_0F11);
        // leaf 7 is indexed
        assert_eq!(t.lookup(7, 1, &c).unwrap().eax, 0xAA);
        assert_eq!(t.lookup(7, 0, &c).unwrap().ebx, 0x219C_97A9);
        // leaf 7 subleaf 2 absent but in range => zeros
        assert_eq!(t.lookup(7, 2, &c).unwrap(), CpuidResult::default());
    }

    #[test]
    fn absent_leaves_give_zeros() {
        let t = table();
        let c = CpuidContext::default();
        assert_eq!(t.lookup(0x5, 0, &c).unwrap(), CpuidResult::default()); // in range
        assert_eq!(t.lookup(0x20, 0, &c).unwrap(), CpuidResult::default()); // above std max
        assert_eq!(
            t.lookup(0x4000_0000, 0, &c).unwrap(),
            CpuidResult::default()
        );
        assert_eq!(
            t.lookup(0x8000_0030, 0, &c).unwrap(),
            CpuidResult::default()
        );
    }

    #[test]
    fn osxsave_and_ospke_reflect_cr4() {
        let t = table();
        let off = CpuidContext::default();
        let on = CpuidContext {
            cr4_osxsave: true,
            cr4_pke: true,
            xcr0: 0x207,
            xss: 0,
        };
        assert_eq!(t.lookup(1, 0, &off).unwrap().ecx & (1 << 27), 0);
        assert_ne!(t.lookup(1, 0, &on).unwrap().ecx & (1 << 27), 0);
        assert_eq!(t.lookup(7, 0, &off).unwrap().ecx & (1 << 4), 0);
        assert_ne!(t.lookup(7, 0, &on).unwrap().ecx & (1 << 4), 0);
        // other ECX bits untouched
        assert_eq!(
            t.lookup(1, 0, &off).unwrap().ecx | (1 << 27),
            0x7EF8_3203 | (1 << 27)
        );
    }

    #[test]
    fn leaf_d_size_recomputed() {
        let t = table();
        // no OSXSAVE => xcr0 treated as 1 => base size
        let c = CpuidContext::default();
        assert_eq!(t.lookup(0xD, 0, &c).unwrap().ebx, 0x240);
        // x87|SSE|AVX => max(0x240, 0x240 + 0x100)
        let avx = CpuidContext {
            cr4_osxsave: true,
            xcr0: 0x7,
            ..c
        };
        let r = t.lookup(0xD, 0, &avx).unwrap();
        assert_eq!(r.ebx, 0x340);
        assert_eq!(r.eax, 0x207); // from the base entry, not the xcr0=7 variant
        // compacted (subleaf 1, XSAVEC+XSAVES supported): 0x240 + 0x100 + 0x8
        let pkru = CpuidContext {
            cr4_osxsave: true,
            xcr0: 0x207,
            ..c
        };
        assert_eq!(t.lookup(0xD, 1, &pkru).unwrap().ebx, 0x240 + 0x100 + 0x8);
        // XCR0 enabling a feature the table lacks (bit 5) => error
        let bad = CpuidContext {
            cr4_osxsave: true,
            xcr0: 0x27,
            ..c
        };
        assert_eq!(
            t.lookup(0xD, 0, &bad),
            Err(CpuidError::XsaveSizeUnavailable)
        );
    }

    #[test]
    fn no_sev_detection_and_cbit() {
        let t = table();
        assert!(!t.says_no_sev());
        assert_eq!(t.cbit_position(), Some(0x33));
        let mut v = sample();
        for x in v.iter_mut() {
            if x.eax_in == 0x8000_001F {
                x.eax &= !(1 << 1);
            }
        }
        let t = CpuidTable::parse(&build_page(&v).unwrap()).unwrap();
        assert!(t.says_no_sev());
        let mut v = sample();
        for x in v.iter_mut() {
            if x.eax_in == 0x8000_0000 {
                x.eax = 0x8000_0008;
            }
        }
        let t = CpuidTable::parse(&build_page(&v).unwrap()).unwrap();
        assert!(t.says_no_sev());
    }

    /// Arbitrary page contents never panic the parser or the lookup.
    #[test]
    fn random_pages_never_panic() {
        let mut x: u64 = 0xDEAD_BEEF_CAFE_F00D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300 {
            let mut page = [0u8; CPUID_PAGE_SIZE];
            for b in page.iter_mut() {
                *b = next() as u8;
            }
            page[0..4].copy_from_slice(&((next() % 70) as u32).to_le_bytes());
            // steer some entries to leaf 0xD so the size computation runs
            for i in 0..8 {
                let off = ENTRIES_OFFSET + i * ENTRY_SIZE;
                page[off..off + 4].copy_from_slice(&0xDu32.to_le_bytes());
            }
            if let Ok(t) = CpuidTable::parse(&page) {
                for leaf in [0, 1, 7, 0xD, 0x8000_0000, 0x8000_001F, next() as u32] {
                    for sub in [0, 1, 2, next() as u32] {
                        let ctx = CpuidContext {
                            cr4_osxsave: next() & 1 == 0,
                            cr4_pke: true,
                            xcr0: next(),
                            xss: next(),
                        };
                        let _ = t.lookup(leaf, sub, &ctx);
                    }
                }
                let _ = t.says_no_sev();
            }
        }
    }
}
