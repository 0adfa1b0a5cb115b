#!/usr/bin/env python3
"""A linear yardstick for the learnability experiment (issue 6): ridge
regression on the same features, with the same held-out-content splits, to
tell whether a weak result comes from the head's training or from the
features themselves.

Needs numpy, scipy and scikit-learn (`pip install numpy scipy scikit-learn`);
nothing in the build or the tests uses this script.

usage:
  synth_baseline.py FEATURE_DIR VIDEOS_CSV [--target COLUMN] [--group COLUMN]
                    [--alphas 1e2,1e4,1e5] [--distortions pristine,crf,...]
                    [--splits 21] [--test-fraction 0.2] [--seed 0]

FEATURE_DIR holds one `extract` output per clip (`<clip stem>.safetensors`
with `video.features`). For each ridge penalty it prints the median SRCC of
leave-one-group-out (ranking within one unseen content) and of random
80/20 group splits (ranking over all held-out clips together, as
`relaxvqa train --splits` reports it). Features are standardised on the
training part of each split; NaN (no pair) becomes 0 after that.
"""
import argparse
import csv
import json
import os
import struct

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

DTYPES = {"F64": np.float64, "F32": np.float32}


def read_features(path):
    """`video.features` of one safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        info = header["video.features"]
        start, end = info["data_offsets"]
        f.seek(8 + n + start)
        return np.frombuffer(f.read(end - start), dtype=DTYPES[info["dtype"]]).astype(np.float64)


def fit_predict(x, y, train, test, alpha):
    scaler = StandardScaler().fit(x[train])
    xt = np.nan_to_num(scaler.transform(x[train]))
    xs = np.nan_to_num(scaler.transform(x[test]))
    return Ridge(alpha=alpha).fit(xt, y[train]).predict(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("features")
    ap.add_argument("videos_csv")
    ap.add_argument("--target", default="mos")
    ap.add_argument("--group", default="content")
    ap.add_argument("--alphas", default="1e2,1e4,1e5")
    ap.add_argument("--distortions", default=None)
    ap.add_argument("--splits", type=int, default=21)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    rows = list(csv.DictReader(open(a.videos_csv, newline="")))
    if a.distortions:
        keep = set(a.distortions.split(","))
        rows = [r for r in rows if r["distortion"] in keep]
    x, y, g = [], [], []
    for r in rows:
        p = os.path.join(a.features, os.path.splitext(os.path.basename(r["path"]))[0] + ".safetensors")
        if os.path.exists(p):
            x.append(read_features(p))
            y.append(float(r[a.target]))
            g.append(r[a.group])
    x, y, g = np.array(x), np.array(y), np.array(g)
    groups = sorted(set(g))
    print(f"{len(y)} clips, {len(groups)} groups by {a.group}, target {a.target}")
    rng = np.random.default_rng(a.seed)
    held = [set(rng.permutation(groups)[: max(1, round(a.test_fraction * len(groups)))]) for _ in range(a.splits)]
    for alpha in [float(v) for v in a.alphas.split(",")]:
        logo = []
        for c in groups:
            test = g == c
            logo.append(spearmanr(fit_predict(x, y, ~test, test, alpha), y[test])[0])
        pooled = []
        for h in held:
            test = np.array([c in h for c in g])
            pooled.append(spearmanr(fit_predict(x, y, ~test, test, alpha), y[test])[0])
        print(
            f"ridge alpha {alpha:g}: leave-one-{a.group}-out median SRCC {np.nanmedian(logo):.3f}; "
            f"{a.splits} random {1 - a.test_fraction:.0%}/{a.test_fraction:.0%} splits median SRCC "
            f"{np.nanmedian(pooled):.3f}"
        )


if __name__ == "__main__":
    main()
