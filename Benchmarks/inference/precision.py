#!/usr/bin/env python3
"""How far a reduced-precision run strays from fp32: reads two `xceptor embed --json` outputs over the
same files (the reference first) and prints, per image and overall, the cosine between the embeddings,
the largest probability difference and whether the top label agrees. With --golden DIR --size S it also
compares each run with the Keras embeddings (NNNN.embeddingS.f32) of files named NNNN.jpg.

Usage: precision.py FP32.jsonl BF16.jsonl [--golden Tests/Fixtures/golden --size 150]
"""
import argparse, json, os, statistics
import numpy as np


def read(path):
    rows = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows[os.path.basename(row["file"])] = row
    return rows


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reference")
    parser.add_argument("candidate")
    parser.add_argument("--golden")
    parser.add_argument("--size", type=int, default=150)
    args = parser.parse_args()
    reference, candidate = read(args.reference), read(args.candidate)
    names = sorted(set(reference) & set(candidate))
    cosines, probability_gaps, agreements, golden_cosines = [], [], 0, {"reference": [], "candidate": []}
    for name in names:
        ours, theirs = candidate[name], reference[name]
        similarity = cosine(ours["embedding"], theirs["embedding"])
        scores = lambda row: {label["label"]: label["score"] for label in row["labels"]}
        mine, base = scores(ours), scores(theirs)
        gap = max(abs(mine.get(label, 0.0) - base[label]) for label in base)
        agree = ours["labels"][0]["label"] == theirs["labels"][0]["label"]
        cosines.append(similarity)
        probability_gaps.append(gap)
        agreements += agree
        line = "%s: cosine %.6f, max probability difference %.4f, top label %s" % (
            name, similarity, gap, "same" if agree else "DIFFERENT (%s vs %s)" % (ours["labels"][0]["label"], theirs["labels"][0]["label"]))
        if args.golden:
            path = os.path.join(args.golden, "%s.embedding%d.f32" % (os.path.splitext(name)[0], args.size))
            if os.path.exists(path):
                keras = np.fromfile(path, dtype="<f4")
                golden_cosines["reference"].append(cosine(theirs["embedding"], keras))
                golden_cosines["candidate"].append(cosine(ours["embedding"], keras))
                line += ", against Keras: reference %.7f, candidate %.6f" % (golden_cosines["reference"][-1], golden_cosines["candidate"][-1])
        print(line)
    summary = {"images": len(names), "min_cosine": min(cosines), "median_cosine": statistics.median(cosines),
               "max_probability_difference": max(probability_gaps), "top_label_agreement": agreements}
    if golden_cosines["candidate"]:
        summary["min_cosine_against_keras"] = {key: min(values) for key, values in golden_cosines.items()}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
