#!/usr/bin/env python3
"""Writes COUNT distinct hostile-but-valid images of SIDE x SIDE pixels (default 8000, 64 megapixels, the
decoder's limit) into DIR, by the formats' own tools: progressive JPEGs with EXIF orientation 6 (cjpeg
-progressive from libjpeg-turbo, the EXIF segment spliced in after SOI), PNGs (pnmtopng from netpbm) and
lossy WebPs (cwebp). The pixels are noise over gradients, so the files are large (bodies of tens of MiB)
as well as large to decode. Needs only Python's standard library and those tools.
Usage: make-hostile.py DIR COUNT [SIDE]"""
import os
import random
import struct
import subprocess
import sys

directory, count = sys.argv[1], int(sys.argv[2])
side = int(sys.argv[3]) if len(sys.argv) > 3 else 8000
os.makedirs(directory, exist_ok=True)

# One EXIF APP1 segment: a little-endian TIFF header and one IFD entry, Orientation (0x0112) = 6.
tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 0)
exif = b"Exif\x00\x00" + tiff
app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif


def portable_pixmap(seed):
    """A PPM of SIDE x SIDE: a gradient per row, with random bytes sprinkled so every image differs and
    compresses badly."""
    rng = random.Random(seed)
    noise = rng.randbytes(side * 3)
    rows = []
    for y in range(0, side, 64):
        base = bytes((x + y + seed) & 0xFF for x in range(side * 3))
        row = bytes(a ^ (b & 0x3F) for a, b in zip(base, noise))
        rows.append(row * min(64, side - y))
        noise = noise[1:] + noise[:1]
    return b"P6\n%d %d\n255\n" % (side, side) + b"".join(rows)


for index in range(count):
    kind = ("jpeg", "png", "webp")[index % 3]
    ppm = os.path.join(directory, "source.ppm")
    with open(ppm, "wb") as out:
        out.write(portable_pixmap(index))
    name = os.path.join(directory, f"hostile-{index:03d}.{ 'jpg' if kind == 'jpeg' else kind }")
    if kind == "jpeg":
        jpeg = subprocess.run(["cjpeg", "-quality", "92", "-progressive", ppm], check=True, capture_output=True).stdout
        with open(name, "wb") as out:
            out.write(jpeg[:2] + app1 + jpeg[2:])
    elif kind == "png":
        with open(name, "wb") as out:
            subprocess.run(["pnmtopng", "-compression", "1", ppm], check=True, stdout=out, stderr=subprocess.DEVNULL)
    else:
        subprocess.run(["cwebp", "-quiet", "-q", "80", "-m", "0", ppm, "-o", name], check=True)
    os.remove(ppm)
