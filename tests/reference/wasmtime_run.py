#!/usr/bin/env python3
"""Reference runner: execute a WASI preview1 module under wasmtime (PyPI `wasmtime`).

This is the oracle that `elastic run` and the QEMU-booted kernel are compared against.
It mirrors the `wasmtime run` command line closely enough for the project's guests:

    wasmtime_run.py [--dir HOST::GUEST]... [--env K=V]... [--stdin FILE]
                    [--stdout FILE] [--stderr FILE] [--argv0 NAME]
                    [--fuel N] [--max-memory BYTES] MODULE.wasm [ARGS...]

* argv[0] seen by the guest is the module's file stem (`hello` for `hello.wasm`) unless
  `--argv0` is given; the remaining positional arguments follow it.
* stdout/stderr go straight through (or to the given files); nothing else is printed on
  stdout, so the output can be compared byte for byte.
* The exit status is the guest's: 0 when `_start` returns, N for `proc_exit(N)`.
  A trap prints `wasmtime_run: trap: <CODE>` (e.g. `UNREACHABLE`, `OUT_OF_FUEL`,
  `MEMORY_OUT_OF_BOUNDS`) on stderr and exits 134, like the wasmtime CLI (128 + SIGABRT).
  A module that fails to load or link exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

import wasmtime

TRAP_EXIT = 134
LOAD_FAIL_EXIT = 2


def parse_args(argv: List[str]) -> argparse.Namespace:
    """Parse the command line (options before the module, guest args after it)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", action="append", default=[], metavar="HOST::GUEST",
                   help="preopen HOST directory as GUEST path (HOST alone means HOST::HOST)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="guest environment variable")
    p.add_argument("--stdin", metavar="FILE", help="file fed to the guest's stdin (default: empty)")
    p.add_argument("--stdout", metavar="FILE", help="write guest stdout to FILE instead of ours")
    p.add_argument("--stderr", metavar="FILE", help="write guest stderr to FILE instead of ours")
    p.add_argument("--argv0", metavar="NAME", help="guest argv[0] (default: module file stem)")
    p.add_argument("--fuel", type=int, metavar="N", help="run with N units of fuel (trap OUT_OF_FUEL)")
    p.add_argument("--max-memory", type=int, metavar="BYTES", help="cap linear memory growth")
    p.add_argument("module", help="the .wasm (or .wat) file")
    p.add_argument("args", nargs=argparse.REMAINDER, help="guest arguments")
    return p.parse_args(argv)


def build_wasi(ns: argparse.Namespace) -> wasmtime.WasiConfig:
    """Translate the options into a WasiConfig."""
    wasi = wasmtime.WasiConfig()
    argv0 = ns.argv0 if ns.argv0 is not None else os.path.splitext(os.path.basename(ns.module))[0]
    wasi.argv = [argv0] + list(ns.args)
    env = []
    for kv in ns.env:
        if "=" not in kv:
            raise SystemExit(f"wasmtime_run: --env needs K=V, got {kv!r}")
        k, v = kv.split("=", 1)
        env.append((k, v))
    wasi.env = env
    for d in ns.dir:
        host, sep, guest = d.partition("::")
        if not sep:
            guest = host
        if not os.path.isdir(host):
            raise SystemExit(f"wasmtime_run: --dir host path is not a directory: {host}")
        wasi.preopen_dir(host, guest)
    if ns.stdin is not None:
        wasi.stdin_file = ns.stdin
    if ns.stdout is not None:
        wasi.stdout_file = ns.stdout
    else:
        wasi.inherit_stdout()
    if ns.stderr is not None:
        wasi.stderr_file = ns.stderr
    else:
        wasi.inherit_stderr()
    return wasi


def run(ns: argparse.Namespace) -> int:
    """Load, link and run the module; return the process exit status."""
    config = wasmtime.Config()
    if ns.fuel is not None:
        config.consume_fuel = True
    engine = wasmtime.Engine(config)
    try:
        module = wasmtime.Module.from_file(engine, ns.module)
    except Exception as e:  # noqa: BLE001 - any load error is reported the same way
        print(f"wasmtime_run: cannot load {ns.module}: {e}", file=sys.stderr)
        return LOAD_FAIL_EXIT
    store = wasmtime.Store(engine)
    if ns.fuel is not None:
        store.set_fuel(ns.fuel)
    if ns.max_memory is not None:
        store.set_limits(memory_size=ns.max_memory)
    store.set_wasi(build_wasi(ns))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    # Python's own buffered stdout must not interleave with the guest's direct writes.
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        start(store)
    except wasmtime.ExitTrap as e:
        return e.code
    except wasmtime.Trap as e:
        code: Optional[wasmtime.TrapCode] = e.trap_code
        name = code.name if code is not None else "UNKNOWN"
        print(f"wasmtime_run: trap: {name}", file=sys.stderr)
        return TRAP_EXIT
    except wasmtime.WasmtimeError as e:
        # Host-side errors (e.g. proc_exit with a status outside [0, 126)) end the run too.
        # The root cause is the last line ("Caused by: ..."), e.g. "Pointer out of bounds".
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        cause = lines[-1] if lines else "error"
        # anyhow numbers the causes ("1: Pointer out of bounds ..."); drop the number.
        head, sep, rest = cause.partition(": ")
        if sep and head.isdigit():
            cause = rest
        print(f"wasmtime_run: error: {cause}", file=sys.stderr)
        return TRAP_EXIT
    except KeyError:
        print("wasmtime_run: module has no _start export", file=sys.stderr)
        return LOAD_FAIL_EXIT
    return 0


def main() -> None:
    """Entry point."""
    ns = parse_args(sys.argv[1:])
    status = run(ns)
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit keeps Python from printing anything after the guest's output.
    os._exit(status & 0xFF if status >= 0 else 1)


if __name__ == "__main__":
    main()
