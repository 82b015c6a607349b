#!/usr/bin/env python3
"""The Python way to fetch, decode and resize images (img2dataset's): urllib + Pillow in P processes x T
threads, to size x size with BILINEAR, then x/127.5 - 1 as float32. `--draft` adds Pillow's JPEG draft
mode (DCT-domain downscaling). Prints one JSON line: images/s and client CPU ms per image (all processes).
Usage: python_baseline.py URLS.txt [--size 150] [--processes 2] [--threads 64] [--draft]"""
import argparse, concurrent.futures, io, json, multiprocessing, os, resource, time, urllib.request

import numpy as np
from PIL import Image


def work(url, size, draft):
    with urllib.request.urlopen(url, timeout=30) as response:
        data = response.read()
    image = Image.open(io.BytesIO(data))
    if draft:
        image.draft("RGB", (size, size))
    image = image.convert("RGB").resize((size, size), Image.BILINEAR)
    return (np.asarray(image, dtype=np.float32) / 127.5 - 1).shape


def run_process(args):
    urls, size, threads, draft = args
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return sum(1 for _ in pool.map(lambda url: work(url, size, draft), urls))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("urls")
    ap.add_argument("--size", type=int, default=150)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=64)
    ap.add_argument("--draft", action="store_true")
    a = ap.parse_args()
    urls = [line.strip() for line in open(a.urls) if line.strip()]
    chunks = [urls[i::a.processes] for i in range(a.processes)]
    start = time.perf_counter()
    with multiprocessing.Pool(a.processes) as pool:
        done = sum(pool.map(run_process, [(chunk, a.size, a.threads, a.draft) for chunk in chunks]))
    seconds = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = children.ru_utime + children.ru_stime
    print(json.dumps({"kind": "python-pillow" + ("-draft" if a.draft else ""), "images": done,
                      "images_per_second": done / seconds, "cpu_ms_per_image": cpu * 1000 / done}))


if __name__ == "__main__":
    main()
