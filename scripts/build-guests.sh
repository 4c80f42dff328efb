#!/usr/bin/env bash
# Builds every guest into target/guests/<name>.wasm at the repository root:
#   * Rust guests in guests/ (cargo, --target wasm32-wasip1, release),
#   * WAT fault guests in guests/wat/ (assembled by the host tool guests/wat2wasm),
#   * C guests in guests/c/ (zig cc --target=wasm32-wasi from the PyPI `ziglang` package,
#     installed into .venv/ together with the reference runtime `wasmtime`).
# Idempotent: unchanged outputs are not rewritten, C files are only recompiled when newer
# than their .wasm. Environment: GUESTS_TARGET_DIR (cargo target dir for the guests
# workspace, default guests/target), GUESTS_OUT (output dir, default target/guests).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${GUESTS_OUT:-$ROOT/target/guests}"
export CARGO_TARGET_DIR="${GUESTS_TARGET_DIR:-$ROOT/guests/target}"
# shellcheck source=scripts/venv.sh
. "$ROOT/scripts/venv.sh"

mkdir -p "$OUT"

# Copies $1 to $2 only when the bytes differ (keeps mtimes stable for up-to-date builds).
install_if_changed() {
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2"
        echo "updated $(basename "$2")"
    fi
}

# 1. Rust guests. rust-toolchain.toml lists wasm32-wasip1; add it if this rustup lacks it.
if command -v rustup >/dev/null 2>&1 && ! (cd "$ROOT" && rustup target list --installed | grep -qx wasm32-wasip1); then
    (cd "$ROOT" && rustup target add wasm32-wasip1)
fi
(cd "$ROOT/guests" && cargo build --quiet --release --target wasm32-wasip1)
REL="$CARGO_TARGET_DIR/wasm32-wasip1/release"
for wasm in "$REL"/*.wasm; do
    install_if_changed "$wasm" "$OUT/$(basename "$wasm")"
done

# 2. WAT guests, assembled by the host tool (built for the host, not for wasm).
(cd "$ROOT/guests" && cargo build --quiet --release -p wat2wasm)
"$CARGO_TARGET_DIR/release/wat2wasm" --dir "$ROOT/guests/wat" "$OUT"

# 3. C guests with zig's bundled clang and wasi-libc (no network after the PyPI install).
ensure_venv "$ROOT"
for src in "$ROOT"/guests/c/*.c; do
    [ -e "$src" ] || continue
    name="$(basename "$src" .c)"
    dst="$OUT/$name.wasm"
    if [ ! -e "$dst" ] || [ "$src" -nt "$dst" ] || [ "$ROOT/scripts/build-guests.sh" -nt "$dst" ]; then
        "$VENV_PY" -m ziglang cc --target=wasm32-wasi -O2 -s -Wall -Wextra -Werror \
            -o "$dst.tmp" "$src"
        mv "$dst.tmp" "$dst"
        echo "updated $name.wasm"
    fi
done

echo "guests in $OUT: $(cd "$OUT" && ls -- *.wasm | sed 's/\.wasm$//' | tr '\n' ' ')"
