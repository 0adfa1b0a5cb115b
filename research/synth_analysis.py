#!/usr/bin/env python3
"""Analysis helpers for the synthetic-distortion learnability experiment
(issue 6). Python 3 standard library only.

usage:
  synth_analysis.py target VIDEOS_CSV
      Is the PSNR-derived target sensible? Per content: range, clamped values,
      order of the distortion levels.
  synth_analysis.py columns FEATURES_NPY VIDEOS_CSV [--mos-column C] [--top N]
      Spearman of every feature column with the target, pooled over all clips
      and within each content (mean over contents), summarised per block of
      the 35,203-value vector (spec section 5).
  synth_analysis.py preds VIDEOS_CSV PRED_CSV...
      Pooled, within-content and per-distortion SRCC of prediction CSVs
      (name, mos, pred; as `eval --write-predictions` writes them).
  synth_analysis.py splits SPLITS_JSON
      Per-split test metrics of `train --splits` and their medians.
"""
import ast
import csv
import json
import math
import os
import struct
import sys
from collections import defaultdict

BLOCKS = [
    ("frame.resnet_stack", 0, 13120),
    ("frame.vit_pool", 13120, 2304),
    ("fragment.resnet_stack", 15424, 13120),
    ("merged.resnet_pool", 28544, 2051),
    ("fragment.vit_pool", 30595, 2304),
    ("merged.vit_pool", 32899, 2304),
]
# Sub-blocks of a ResNet layer stack (offsets within the 13,120 values).
STACK = [("conv1", 64)] + [(f"layer1[{i}]", 256) for i in range(3)] + [(f"layer2[{i}]", 512) for i in range(4)] + \
    [(f"layer3[{i}]", 1024) for i in range(4)] + [(f"layer4[{i}]", 2048) for i in range(3)]


def ranks(v):
    """Average ranks (ties share the mean rank)."""
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def pearson(a, b):
    n = len(a)
    if n < 2:
        return float("nan")
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    if saa <= 0 or sbb <= 0:
        return float("nan")
    return sab / math.sqrt(saa * sbb)


def spearman(a, b):
    return pearson(ranks(a), ranks(b))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def stem(p):
    return os.path.splitext(os.path.basename(p))[0]


def read_npy(path):
    with open(path, "rb") as f:
        magic = f.read(6)
        assert magic == b"\x93NUMPY", "not a .npy file"
        major = f.read(2)[0]
        hlen = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        header = ast.literal_eval(f.read(hlen).decode("latin1"))
        rows, cols = header["shape"]
        code = {"<f8": "d", "<f4": "f"}[header["descr"]]
        size = struct.calcsize(code)
        data = f.read()
    out = []
    for r in range(rows):
        out.append(struct.unpack_from(f"<{cols}{code}", data, r * cols * size))
    return out, cols


def cmd_target(videos):
    rows = read_csv(videos)
    by = defaultdict(list)
    for r in rows:
        by[r["content"]].append(r)
    print(f"{'content':18} {'min':>5} {'max':>5} {'at1':>4} {'at5':>4} {'distinct':>8}  monotone-in-level")
    for c, rs in by.items():
        m = [float(r["mos"]) for r in rs]
        mono = []
        d = defaultdict(list)
        for r in rs:
            d[r["distortion"]].append((float(r["level"]), float(r["mos"])))
        for k, v in d.items():
            if len(v) > 1:
                v.sort()
                ok = all(v[i][1] >= v[i + 1][1] for i in range(len(v) - 1))
                mono.append(f"{k}:{'ok' if ok else 'NO'}")
        print(f"{c:18} {min(m):5.2f} {max(m):5.2f} {sum(x <= 1.0 for x in m):4d} {sum(x >= 5.0 for x in m):4d} "
              f"{len(set(m)):8d}  {' '.join(mono)}")
    allm = [float(r["mos"]) for r in rows]
    print(f"all: {len(allm)} clips, {len(set(allm))} distinct targets, {sum(x <= 1 for x in allm)} at 1, "
          f"{sum(x >= 5 for x in allm)} at 5")
    # How far apart the contents' targets are for the same distortion level:
    # a pooled ranking over contents asks the model for the content's own PSNR scale.
    d = defaultdict(dict)
    for r in rows:
        d[(r["distortion"], r["level"])][r["content"]] = float(r["mos"])
    print("spread of the target over contents for each distortion level (max - min):")
    print("  " + ", ".join(f"{k[0]}_{k[1]}={max(v.values()) - min(v.values()):.2f}" for k, v in d.items()))


def cmd_columns(npy, videos, mos_column="mos", top=15):
    x, cols = read_npy(npy)
    names_path = npy[:-4] + ".names.txt"
    names = [l.strip() for l in open(names_path)] if os.path.exists(names_path) else None
    rows = {stem(r["path"]): r for r in read_csv(videos)}
    if names is None:
        raise SystemExit(f"{names_path} missing")
    keep = [i for i, n in enumerate(names) if n in rows]
    y = [float(rows[names[i]][mos_column]) for i in keep]
    content = [rows[names[i]]["content"] for i in keep]
    x = [x[i] for i in keep]
    groups = defaultdict(list)
    for k, c in enumerate(content):
        groups[c].append(k)
    yr = ranks(y)
    yg = {c: ranks([y[k] for k in ks]) for c, ks in groups.items()}
    pooled = [0.0] * cols
    within = [0.0] * cols
    for j in range(cols):
        col = [row[j] for row in x]
        if max(col) == min(col):
            pooled[j] = within[j] = float("nan")
            continue
        pooled[j] = pearson(ranks(col), yr)
        acc, n = 0.0, 0
        for c, ks in groups.items():
            v = [col[k] for k in ks]
            if max(v) == min(v):
                continue
            r = pearson(ranks(v), yg[c])
            if not math.isnan(r):
                acc += r
                n += 1
        within[j] = acc / n if n else float("nan")

    def summ(lo, ln):
        p = [abs(v) for v in pooled[lo:lo + ln] if not math.isnan(v)]
        w = [abs(v) for v in within[lo:lo + ln] if not math.isnan(v)]
        p.sort()
        w.sort()
        const = ln - len(p)
        if not p:
            return f"all {ln} constant"
        return (f"pooled |rho| max {p[-1]:.3f} p90 {p[int(0.9 * (len(p) - 1))]:.3f} med {p[len(p) // 2]:.3f} "
                f">0.5: {sum(v > 0.5 for v in p):5d} | within |rho| max {w[-1]:.3f} med {w[len(w) // 2]:.3f} "
                f">0.7: {sum(v > 0.7 for v in w):5d} | constant {const}")

    print(f"{len(y)} clips, {len(groups)} contents, target column {mos_column}")
    for name, lo, ln in BLOCKS:
        print(f"{name:24} {summ(lo, ln)}")
        if ln == 13120:
            off = lo
            for sub, sl in STACK:
                print(f"    {sub:20} {summ(off, sl)}")
                off += sl
    def block_of(j):
        for name, lo, ln in BLOCKS:
            if lo <= j < lo + ln:
                return f"{name}+{j - lo}"
    best = sorted((j for j in range(cols) if not math.isnan(within[j])), key=lambda j: -abs(within[j]))[:top]
    print(f"top {top} columns by within-content |rho|:")
    for j in best:
        print(f"  {j:6d} {block_of(j):28} within {within[j]:+.3f} pooled {pooled[j]:+.3f}")
    best = sorted((j for j in range(cols) if not math.isnan(pooled[j])), key=lambda j: -abs(pooled[j]))[:top]
    print(f"top {top} columns by pooled |rho|:")
    for j in best:
        print(f"  {j:6d} {block_of(j):28} pooled {pooled[j]:+.3f} within {within[j]:+.3f}")


def cmd_preds(videos, preds):
    meta = {stem(r["path"]): r for r in read_csv(videos)}
    allrows = []
    for p in preds:
        for r in read_csv(p):
            n = stem(r.get("name") or r.get("path"))
            allrows.append((meta[n], float(r["mos"]), float(r["pred"]), os.path.basename(p)))
    def srcc(rs):
        if len(rs) < 3 or len({r[1] for r in rs}) < 2:
            return float("nan")
        return spearman([r[1] for r in rs], [r[2] for r in rs])
    for p in preds:
        rs = [r for r in allrows if r[3] == os.path.basename(p)]
        bc = defaultdict(list)
        for r in rs:
            bc[r[0]["content"]].append(r)
        within = {c: srcc(v) for c, v in bc.items()}
        print(f"{os.path.basename(p)}: {len(rs)} clips, pooled SRCC {srcc(rs):.3f}; within content: "
              + ", ".join(f"{c} {v:.3f}" for c, v in within.items()))
    print(f"all predictions pooled ({len(allrows)} clips): SRCC {srcc(allrows):.3f}")
    bd = defaultdict(list)
    for r in allrows:
        bd[r[0]["distortion"]].append(r)
    print("per distortion type (pooled over contents; pristine rows added to each):")
    for d, v in bd.items():
        if d == "pristine":
            continue
        print(f"  {d:8} SRCC {srcc(v + bd['pristine']):.3f} ({len(v)} clips)")
    # Within one content and one distortion type: is the level order right?
    acc = defaultdict(list)
    for (c, d), v in _group(allrows, lambda r: (r[0]["content"], r[0]["distortion"])).items():
        if d != "pristine" and len(v) >= 2:
            v = v + [r for r in allrows if r[0]["content"] == c and r[0]["distortion"] == "pristine"]
            s = srcc(v)
            if not math.isnan(s):
                acc[d].append(s)
    print("per distortion type within each content (mean SRCC over contents, pristine included):")
    for d, v in acc.items():
        print(f"  {d:8} {sum(v) / len(v):+.3f} over {len(v)} contents")


def _group(rows, key):
    g = defaultdict(list)
    for r in rows:
        g[key(r)].append(r)
    return g


M64 = (1 << 64) - 1


class SplitMix64:
    """crates/train/src/rng.rs, to recover which groups each split held out."""

    def __init__(self, seed):
        self.state = seed & M64

    def fork(self, stream):
        r = SplitMix64(self.state ^ ((stream * 0xD1B54A32D192ED03) & M64))
        r.next_u64()
        return r

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n):
        zone = M64 - M64 % n
        while True:
            v = self.next_u64()
            if v < zone:
                return v % n

    def permutation(self, n):
        v = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            v[i], v[j] = v[j], v[i]
        return v


def held_out(groups, splits, test_fraction, seed):
    """Group names held out by each split of `train --splits --group-column`
    (preprocess.rs group_split with root.fork(1000 + r))."""
    g = len(groups)
    n_test = min(max(math.ceil(test_fraction * g), 1), g - 1)
    root = SplitMix64(seed)
    return [[groups[k] for k in root.fork(1000 + r).permutation(g)[:n_test]] for r in range(splits)]


def cmd_splits(path):
    r = json.load(open(path))
    tests = r.get("test") or r.get("splits_test") or []
    held = held_out(r["groups"], r["splits"], r["test_fraction"], r["seed"]) if r.get("groups") else [[]] * len(tests)
    print(f"{'split':>5} {'SRCC':>7} {'KRCC':>7} {'PLCC':>7} {'RMSE':>7} fold  held-out groups")
    folds = r.get("chosen_folds", [None] * len(tests))
    for i, (m, f) in enumerate(zip(tests, folds)):
        print(f"{i:5d} {m['srcc']:7.4f} {m['krcc']:7.4f} {m['plcc']:7.4f} {m['rmse']:7.4f} {f}  {' + '.join(held[i])}")
    if r.get("groups"):
        per = defaultdict(list)
        for m, h in zip(tests, held):
            for c in h:
                per[c].append(m["srcc"])
        print("mean test SRCC of the splits holding out each group:")
        for c, v in sorted(per.items(), key=lambda kv: sum(kv[1]) / len(kv[1])):
            print(f"  {c:20} {sum(v) / len(v):.3f} ({len(v)} splits)")
    print("median", json.dumps(r.get("median")))


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd, rest = argv[1], argv[2:]
    if cmd == "target":
        cmd_target(rest[0])
    elif cmd == "columns":
        mos_column, top = "mos", 15
        pos = []
        i = 0
        while i < len(rest):
            if rest[i] == "--mos-column":
                mos_column = rest[i + 1]
                i += 2
            elif rest[i] == "--top":
                top = int(rest[i + 1])
                i += 2
            else:
                pos.append(rest[i])
                i += 1
        cmd_columns(pos[0], pos[1], mos_column, top)
    elif cmd == "preds":
        cmd_preds(rest[0], rest[1:])
    elif cmd == "splits":
        cmd_splits(rest[0])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
