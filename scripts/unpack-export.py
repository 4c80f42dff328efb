#!/usr/bin/env python3
"""Unpacks the export stream the kernel writes on COM2 (docs/image.md):
   ELASTIC-EXPORT-BEGIN <len>\\n <tar bytes> ELASTIC-EXPORT-END <sha256>\\n
Checks the length and SHA-256, then extracts the tar into DIR (paths stay inside DIR).
Usage: unpack-export.py RAW_FILE DIR"""
import hashlib
import io
import os
import sys
import tarfile


def main() -> int:
    raw_path, dest = sys.argv[1], sys.argv[2]
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
