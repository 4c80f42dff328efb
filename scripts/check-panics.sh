#!/usr/bin/env bash
# Keeps the panic-freedom audit of issue 10 mechanical (docs/robustness.md, "Panic-freedom
# and fallible allocation"):
# 1. every crate that handles guest-, image- or hypervisor-controlled data denies, in its
#    non-test code, the clippy lints for panicking shortcuts (the clippy runs of
#    scripts/test.sh then reject any new unwrap, expect, panic, indexing or string slice);
# 2. every allowance of one of those lints in them is an #[allow(..)] with a `reason = "..."`
#    saying why the value cannot be attacker-controlled or the index is in bounds.
# Prints the allowances, so the count in the docs can be checked.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python3 - <<'EOF'
import pathlib, re, sys

LINTS = ["unwrap_used", "expect_used", "panic", "unreachable", "todo", "unimplemented",
         "indexing_slicing", "string_slice"]
# Crate root -> its source directory.
CRATES = {
    "kernel/snp/src/lib.rs": "kernel/snp/src",
    "kernel/src/main.rs": "kernel/src",
    "kernel/core/src/lib.rs": "kernel/core/src",
    "kernel/bundle/src/lib.rs": "kernel/bundle/src",
    "kernel/crypto/src/lib.rs": "kernel/crypto/src",
    "wasi-impl/src/lib.rs": "wasi-impl/src",
    "wasi-impl/ramfs/src/lib.rs": "wasi-impl/ramfs/src",
}
failed = False
for lib in CRATES:
    text = pathlib.Path(lib).read_text()
    blocks = re.findall(r"#!\[(?:cfg_attr\(\s*not\(test\),\s*)?deny\(([^)]*)\)", text)
    denied = {l for b in blocks for l in re.findall(r"clippy::(\w+)", b)}
    missing = [l for l in LINTS if l not in denied]
    if missing:
        print(f"{lib}: the crate root does not deny clippy::{', clippy::'.join(missing)}",
              file=sys.stderr)
        failed = True

attr = re.compile(r"#\[(?:allow|expect)\((.*?)\)\]", re.S)
allowances = []
for src in CRATES.values():
    for path in sorted(pathlib.Path(src).rglob("*.rs")):
        if path.name == "tests.rs":
            continue
        text = path.read_text()
        for m in attr.finditer(text):
            body = m.group(1)
            lints = [l for l in re.findall(r"clippy::(\w+)", body) if l in LINTS]
            if not lints:
                continue
            line = text.count("\n", 0, m.start()) + 1
            reason = re.search(r'reason\s*=\s*"([^"]+)"', body)
            if not reason:
                print(f"{path}:{line}: allowance of clippy::{', clippy::'.join(lints)} "
                      "without a reason", file=sys.stderr)
                failed = True
                continue
            allowances.append(f"{path}:{line}: {', '.join(lints)}: {reason.group(1)}")
if failed:
    sys.exit(1)
for a in allowances:
    print(f"  {a}")
print(f"panic lints denied in {len(CRATES)} crates; {len(allowances)} allowance(s) with reasons")
EOF
