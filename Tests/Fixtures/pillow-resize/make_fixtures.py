#!/usr/bin/env python3
"""Makes the Pillow resize fixtures: golden image 0412 decoded by Pillow, resized with BILINEAR to sizes
that exercise each pass order Pillow 13 picks (both axes down, height much more than width, mixed up and
down, both up). Needs Pillow 13.0.0:  python3 -m venv v && v/bin/pip install pillow==13.0.0 &&
v/bin/python make_fixtures.py   (writes NAME_WxH.rgb, raw 8-bit RGB rows)."""
import os
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
source = Image.open(os.path.join(here, "..", "golden", "images", "0412.jpg")).convert("RGB")  # 750x1000
cases = {
    "down-horizontal-first": (source, (37, 211)),
    "down-vertical-first": (source, (500, 60)),
    "wider-shorter": (source, (820, 150)),
    "narrower-taller": (source, (90, 1010)),
}
small = source.resize((40, 30), Image.BILINEAR)
cases["up-from-40x30"] = (small, (97, 61))
for name, (image, size) in cases.items():
    out = image.resize(size, Image.BILINEAR)
    with open(os.path.join(here, f"{name}_{size[0]}x{size[1]}.rgb"), "wb") as f:
        f.write(out.tobytes())
