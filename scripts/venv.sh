# Sourced by the guest scripts: creates or reuses the Python venv at $ROOT/.venv with the
# pinned packages from tests/reference/requirements.txt (wasmtime, ziglang).
# Sets VENV_PY to the venv's python. Re-installs only when the requirements file changed.
ensure_venv() {
    local root="$1"
    local venv="$root/.venv"
    local req="$root/tests/reference/requirements.txt"
    local stamp="$venv/.elastic-requirements"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    if ! cmp -s "$req" "$stamp" 2>/dev/null; then
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
        cp "$req" "$stamp"
    fi
    VENV_PY="$venv/bin/python"
}
