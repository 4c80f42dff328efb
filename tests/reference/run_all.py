#!/usr/bin/env python3
"""Runs every guest listed in guests.json under the reference runtime (wasmtime_run.py)
and checks its exit status, trap/error line and, for deterministic guests, its stdout
against expected/<name>[-<args>].stdout. Prints one line per guest and a closing
`N passed, M failed` line; exits 1 if anything failed.

    run_all.py [--guests DIR] [--update] [--runner CMD] [--trap-exit N] [--loose-stderr] [NAME...]

--update rewrites the golden stdout files from this run (after checking exit/trap).
--runner runs another runtime instead of wasmtime_run.py (e.g. "elastic run"); it must
accept the same options (--dir HOST::GUEST, --env K=V, --stdin FILE, --fuel N,
--max-memory BYTES, then the module and its arguments). For such a runner, trap/error
entries only need exit status --trap-exit (default 134) and their stderr is not compared;
--loose-stderr skips the remaining stderr checks too (for runtimes that log there).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class Skip(Exception):
    """The entry cannot run here (e.g. no permission to mount its quota tmpfs)."""


def golden_name(g: Dict) -> str:
    """Golden file stem and display label: `label` if given, else the guest name."""
    return g.get("label", g["name"])


REFERENCE = [sys.executable, os.path.join(HERE, "wasmtime_run.py")]


def command(g: Dict, guests: str, dirs: List[str], runner: List[str]) -> List[str]:
    """Runner command line for one manifest entry."""
    cmd = list(runner)
    for host, guest in zip(dirs, g["dirs"]):
        cmd += ["--dir", f"{host}::{guest}"]
    for k, v in g["env"].items():
        cmd += ["--env", f"{k}={v}"]
    if "fuel" in g:
        cmd += ["--fuel", str(g["fuel"])]
    if "stdin" in g:
        cmd += ["--stdin", os.path.join(HERE, g["stdin"])]
    if "max_memory" in g:
        cmd += ["--max-memory", str(g["max_memory"])]
    if "quota_mib" in g and runner != REFERENCE:
        # Elastic's runners enforce the quota in their ramfs instead of a tmpfs mount.
        cmd += ["--ramfs-quota", str(g["quota_mib"] << 20)]
    cmd.append(os.path.join(guests, g["name"] + ".wasm"))
    return cmd + g["args"]


def run_one(g: Dict, guests: str, update: bool, runner: List[str], trap_exit: int,
            loose_stderr: bool) -> List[str]:
    """Runs one entry; returns the list of problems (empty = pass)."""
    problems = []
    if runner != REFERENCE and "elastic" in g:
        # A documented, deliberate difference of Elastic's WASI from wasmtime's (docs/wasi.md):
        # the entry says what Elastic's runners must do instead.
        g = {k: v for k, v in {**g, **g["elastic"]}.items() if v is not None}
    with tempfile.TemporaryDirectory(prefix="elastic-ref-") as tmp:
        dirs = []
        for i, _ in enumerate(g["dirs"]):
            d = os.path.join(tmp, f"dir{i}")
            os.mkdir(d)
            dirs.append(d)
        mounted = None
        if "quota_mib" in g and runner == REFERENCE:
            m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={g['quota_mib']}m", "tmpfs", dirs[0]],
                               capture_output=True)
            if m.returncode != 0:
                raise Skip(f"cannot mount a {g['quota_mib']} MiB tmpfs: {m.stderr.decode().strip()}")
            mounted = dirs[0]
        try:
            try:
                p = subprocess.run(command(g, guests, dirs, runner), capture_output=True, timeout=120,
                                   stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                return ["did not finish within 120 s"]
            leftovers = [n for d in dirs for n in os.listdir(d)]
        finally:
            if mounted:
                subprocess.run(["umount", mounted], check=False)
    reference = runner == REFERENCE
    faulting = "trap" in g or "error" in g
    want_exit = g["exit"] if reference or not faulting else trap_exit
    if p.returncode != want_exit:
        problems.append(f"exit {p.returncode}, expected {want_exit}")
    err = p.stderr.decode(errors="replace")
    if reference and "trap" in g and f"wasmtime_run: trap: {g['trap']}\n" != err:
        problems.append(f"stderr {err!r}, expected trap {g['trap']}")
    if reference and "error" in g and f"wasmtime_run: error: {g['error']}\n" != err:
        problems.append(f"stderr {err!r}, expected error {g['error']!r}")
    if not loose_stderr and "stderr" in g and err != g["stderr"]:
        problems.append(f"stderr {err!r}, expected {g['stderr']!r}")
    if not loose_stderr and not faulting and "stderr" not in g and err:
        problems.append(f"unexpected stderr {err!r}")
    if leftovers:
        problems.append(f"left files in its preopened directory: {sorted(leftovers)}")
    out = p.stdout.decode(errors="replace")
    for line in out.splitlines():
        if line.startswith("FAIL"):
            problems.append(line)
    if g.get("golden"):
        path = os.path.join(HERE, "expected", golden_name(g) + ".stdout")
        if update and not problems:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(p.stdout)
        elif not os.path.exists(path):
            problems.append(f"no golden file {os.path.relpath(path, ROOT)} (run with --update)")
        else:
            with open(path, "rb") as f:
                if f.read() != p.stdout:
                    problems.append(f"stdout differs from {os.path.relpath(path, ROOT)}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--guests", default=os.path.join(ROOT, "target", "guests"))
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--runner", help="command to run instead of wasmtime_run.py (shell-quoted)")
    ap.add_argument("--trap-exit", type=int, default=134, help="exit status of a trap for --runner")
    ap.add_argument("--loose-stderr", action="store_true", help="do not compare stderr")
    ap.add_argument("names", nargs="*")
    ns = ap.parse_args()
    runner = shlex.split(ns.runner) if ns.runner else REFERENCE
    if ns.update and runner != REFERENCE:
        ap.error("--update only with the reference runner")
    with open(os.path.join(HERE, "guests.json"), encoding="utf-8") as f:
        manifest = json.load(f)["guests"]
    passed = failed = skipped = 0
    for g in manifest:
        label = golden_name(g)
        if ns.names and g["name"] not in ns.names and label not in ns.names:
            continue
        try:
            problems = run_one(g, ns.guests, ns.update, runner, ns.trap_exit, ns.loose_stderr)
        except Skip as e:
            skipped += 1
            print(f"skip {label}: {e}")
            continue
        if problems:
            failed += 1
            print(f"FAIL {label}")
            for pr in problems:
                print(f"    {pr}")
        else:
            passed += 1
            print(f"ok   {label}")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
