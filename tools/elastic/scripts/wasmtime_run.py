#!/usr/bin/env python3
"""Reference runner: runs a WASI preview1 module under wasmtime (PyPI `wasmtime`) the way
`elastic run` does, so the two can be compared.

usage: wasmtime_run.py [--dir HOST[::GUEST]]... [--env K=V]... FILE.wasm [ARGS...]
stdout/stderr go to this process's; the exit status is the guest's exit code, or 134 on a
trap (what the wasmtime CLI uses), printing the trap to stderr.
"""
import os
import sys
import tempfile

import wasmtime


def main(argv):
    dirs, env, i = [], [], 0
    while i < len(argv) and argv[i].startswith("--"):
        if argv[i] == "--dir":
            dirs.append(argv[i + 1])
            i += 2
        elif argv[i] == "--env":
            env.append(argv[i + 1].split("=", 1))
            i += 2
        else:
            sys.exit(f"unknown flag {argv[i]}")
    path, args = argv[i], argv[i + 1:]
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, path)
    store = wasmtime.Store(engine)
    cfg = wasmtime.WasiConfig()
    cfg.argv = [path] + args
    cfg.env = env
    for d in dirs:
        host, _, guest = d.partition("::")
        cfg.preopen_dir(host, guest or host)
    # The Python API cannot hand over our stdout fd directly; capture to files and copy.
    out = tempfile.NamedTemporaryFile(delete=False)
    err = tempfile.NamedTemporaryFile(delete=False)
    cfg.stdout_file = out.name
    cfg.stderr_file = err.name
    cfg.inherit_stdin()
    store.set_wasi(cfg)
    code = 0
    try:
        instance = linker.instantiate(store, module)
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        code = e.code
    except wasmtime.Trap as e:
        code = 134
        trap = str(e)
    except wasmtime.WasmtimeError as e:
        code = 134 if "exit status" in str(e) or "wasm trap" in str(e) else 1
        trap = str(e)
    sys.stdout.buffer.write(open(out.name, "rb").read())
    sys.stdout.flush()
    sys.stderr.buffer.write(open(err.name, "rb").read())
    if code == 134 or code == 1 and "trap" in locals():
        print(f"wasmtime: {trap}", file=sys.stderr)
    os.unlink(out.name)
    os.unlink(err.name)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
