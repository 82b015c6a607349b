#!/usr/bin/env python3
"""Writes the image-format fixtures: one golden sample, shrunk to 64x48, saved as PNG (RGB, RGBA,
palette, grey, 16-bit, grey with alpha, palette with tRNS), GIF (interlaced, transparent), WebP
(lossless, lossy, animated) and JPEG (Adobe CMYK, grey, progressive), each next to NAME.rgb: the pixels
Pillow's Image.open(f).convert("RGB") gives (what Keras' load_img sees). Needs Pillow 13.0.0.
Usage: python3 make_fixtures.py   (from this directory)"""
import PIL
from PIL import Image

assert PIL.__version__ == "13.0.0", PIL.__version__
base = Image.open("../golden/images/0412.jpg").convert("RGB").resize((64, 48), Image.BILINEAR)
rgba = base.copy()
rgba.putalpha(Image.linear_gradient("L").resize((64, 48)))

fixtures = {
    "rgb.png": lambda path: base.save(path),
    "rgba.png": lambda path: rgba.save(path),
    "palette.png": lambda path: base.quantize(64).save(path),
    "grey.png": lambda path: base.convert("L").save(path),
    "interlaced.gif": lambda path: base.save(path, interlace=True),
    "lossless.webp": lambda path: base.save(path, lossless=True),
    "lossy.webp": lambda path: base.save(path, quality=90),
    "cmyk.jpg": lambda path: base.convert("CMYK").save(path, quality=95),
    "grey.jpg": lambda path: base.convert("L").save(path, quality=95),
    "progressive.jpg": lambda path: base.save(path, quality=95, progressive=True),
    "transparent.gif": lambda path: base.quantize(32).save(path, transparency=3),
    "grey-alpha.png": lambda path: base.convert("LA").save(path),
    "palette-trns.png": lambda path: base.quantize(16).save(path, transparency=2),
    # Two frames: the first is what Image.open shows (and Keras embeds).
    "animated.webp": lambda path: base.save(
        path, save_all=True, append_images=[base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], duration=100, lossless=True
    ),
}
for name, save in fixtures.items():
    save(name)
    with Image.open(name) as image:
        open(name + ".rgb", "wb").write(image.convert("RGB").tobytes())
    print(name, Image.open(name).mode, Image.open(name).size)

# Formats that are recognised and refused by name (no .rgb: there is nothing to compare).
for name in ["unsupported.tiff", "unsupported.avif", "unsupported.ico"]:
    base.save(name)
    print(name, Image.open(name).format)

# 16-bit grey with the full 16-bit range (v * 257). Pillow's convert("RGB") clips I;16 values to 255, so
# its answer is no reference here: the expected pixels are the 8-bit grey values this was made from.
grey = base.convert("L")
Image.frombytes("I;16", grey.size, bytes(b for v in grey.tobytes() for b in (v * 257).to_bytes(2, "little"))).save("grey16.png")
open("grey16.png.rgb", "wb").write(grey.convert("RGB").tobytes())
print("grey16.png", Image.open("grey16.png").mode)
