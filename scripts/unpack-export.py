#!/usr/bin/env python3
"""Unpacks the export stream the kernel writes on COM2 (docs/image.md):
   ELASTIC-EXPORT-BEGIN <len>\\n <tar bytes> ELASTIC-EXPORT-END <sha256>\\n
Checks the length and SHA-256, then extracts the tar into DIR (paths stay inside DIR).
Usage: unpack-export.py RAW_FILE DIR [--sync GUEST_PATH HOST_DIR]...
--sync makes HOST_DIR mirror the exported GUEST_PATH tree (files the guest removed are removed
from HOST_DIR), like `elastic run`'s write-back; it is skipped when the export lacks that path."""
import hashlib
import io
import os
import shutil
import sys
import tarfile


def sync(src: str, dst: str) -> None:
    """Makes dst mirror src (regular files, directories, symlinks)."""
    os.makedirs(dst, exist_ok=True)
    wanted = set(os.listdir(src))
    for name in os.listdir(dst):
        if name not in wanted:
            path = os.path.join(dst, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    for name in wanted:
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s) and not os.path.islink(s):
            if os.path.lexists(d) and not os.path.isdir(d):
                os.remove(d)
            sync(s, d)
        else:
            if os.path.isdir(d) and not os.path.islink(d):
                shutil.rmtree(d)
            shutil.copy2(s, d, follow_symlinks=False)


def main() -> int:
    raw_path, dest = sys.argv[1], sys.argv[2]
    syncs = []
    rest = sys.argv[3:]
    while rest:
        if rest[0] != "--sync" or len(rest) < 3:
            print("usage: unpack-export.py RAW DIR [--sync GUEST_PATH HOST_DIR]...", file=sys.stderr)
            return 2
        syncs.append((rest[1], rest[2]))
        rest = rest[3:]
    data = open(raw_path, "rb").read()
    begin = data.find(b"ELASTIC-EXPORT-BEGIN ")
    if begin < 0:
        print("unpack-export: no export stream (did the manifest name exports?)", file=sys.stderr)
        return 1
    nl = data.index(b"\n", begin)
    length = int(data[begin + 21:nl])
    tar = data[nl + 1:nl + 1 + length]
    trailer = data[nl + 1 + length:].split(b"\n", 1)[0]
    if len(tar) != length or not trailer.startswith(b"ELASTIC-EXPORT-END "):
        print(f"unpack-export: truncated export ({len(tar)} of {length} bytes)", file=sys.stderr)
        return 1
    digest = trailer.split(b" ", 1)[1].decode()
    if hashlib.sha256(tar).hexdigest() != digest:
        print("unpack-export: export digest mismatch", file=sys.stderr)
        return 1
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        root = os.path.realpath(dest)
        for member in archive.getmembers():
            target = os.path.realpath(os.path.join(dest, member.name))
            if not (target == root or target.startswith(root + os.sep)):
                print(f"unpack-export: refusing {member.name!r} (outside {dest})", file=sys.stderr)
                return 1
        archive.extractall(dest)
    for guest_path, host_dir in syncs:
        src = os.path.join(dest, guest_path.strip("/"))
        if os.path.isdir(src):
            sync(src, host_dir)
        else:
            print(f"unpack-export: the export has no {guest_path}; {host_dir} left as it was", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
