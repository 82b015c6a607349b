#!/usr/bin/env python3
# From the team's shared benchmark tools (shared/bench), kept here so the benchmarks run from a clone.
"""Make N distinct JPEGs from a few source JPEGs: random crop, flip, colour jitter,
long side in [400, 1000] px, JPEG quality in [85, 92] (Pillow). Writes OUT/NNNNN.jpg and
urls.txt (http://HOST:PORT/NNNNN.jpg lines) next to OUT if --port is given.
Usage: python make_images.py --src SRC_DIR --out www [--n 1000 --seed 7] [--port 8089 --urls urls.txt]"""
import argparse, glob, os, random, json
from PIL import Image, ImageEnhance, ImageOps

ap = argparse.ArgumentParser()
ap.add_argument("--src", required=True)
ap.add_argument("--out", default="www")
ap.add_argument("--n", type=int, default=1000)
ap.add_argument("--seed", type=int, default=7)
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--urls", default="urls.txt")
a = ap.parse_args()
rnd = random.Random(a.seed)
srcs = [Image.open(f).convert("RGB") for f in sorted(glob.glob(os.path.join(a.src, "*.jpg")))]
os.makedirs(a.out, exist_ok=True)
sizes, total = [], 0
for i in range(a.n):
    im = rnd.choice(srcs)
    w, h = im.size
    cw, ch = int(w * rnd.uniform(0.5, 1.0)), int(h * rnd.uniform(0.5, 1.0))
    x0, y0 = rnd.randint(0, w - cw), rnd.randint(0, h - ch)
    im = im.crop((x0, y0, x0 + cw, y0 + ch))
    if rnd.random() < 0.5:
        im = ImageOps.mirror(im)
    if rnd.random() < 0.2:
        im = ImageOps.flip(im)
    im = ImageEnhance.Brightness(im).enhance(rnd.uniform(0.7, 1.3))
    im = ImageEnhance.Contrast(im).enhance(rnd.uniform(0.7, 1.3))
    im = ImageEnhance.Color(im).enhance(rnd.uniform(0.5, 1.5))
    long_side = rnd.randint(400, 1000)
    s = long_side / max(im.size)
    im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BICUBIC)
    p = os.path.join(a.out, f"{i:05d}.jpg")
    im.save(p, "JPEG", quality=rnd.randint(85, 92))
    sizes.append(im.size); total += os.path.getsize(p)
if a.port:
    with open(a.urls, "w") as f:
        for i in range(a.n):
            f.write(f"http://127.0.0.1:{a.port}/{i:05d}.jpg\n")
print(json.dumps({"n": a.n, "total_mb": round(total / 2**20, 1), "mean_kb": round(total / a.n / 1024, 1),
                  "mean_pixels_mp": round(sum(w * h for w, h in sizes) / a.n / 1e6, 3)}))
