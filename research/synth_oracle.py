#!/usr/bin/env python3
"""Ceiling for held-out-content ranking on the synthetic dataset: predict each
held-out clip by the mean target of its (distortion, level) over the training
contents (a perfect distortion recogniser that knows nothing of the content),
and score SRCC over every pair of held-out contents (the 2-of-9 splits).

usage: synth_oracle.py VIDEOS_CSV [MOS_COLUMN] [EXCLUDE_CONTENT...]
"""
import csv, itertools, statistics, sys
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from synth_analysis import spearman

rows = list(csv.DictReader(open(sys.argv[1])))
col = sys.argv[2] if len(sys.argv) > 2 else "mos"
excl = set(sys.argv[3:])
rows = [r for r in rows if r["content"] not in excl]
contents = sorted({r["content"] for r in rows})
res = []
for held in itertools.combinations(contents, 2):
    tr = [r for r in rows if r["content"] not in held]
    te = [r for r in rows if r["content"] in held]
    m = {}
    for r in tr:
        m.setdefault((r["distortion"], r["level"]), []).append(float(r[col]))
    pred = [statistics.mean(m[(r["distortion"], r["level"])]) for r in te]
    res.append((spearman([float(r[col]) for r in te], pred), held))
res.sort()
print(f"{len(res)} held-out pairs, target {col}: median SRCC {statistics.median(s for s, _ in res):.3f}, "
      f"min {res[0][0]:.3f} {res[0][1]}, max {res[-1][0]:.3f} {res[-1][1]}")
for s, h in res[:6]:
    print(f"  {s:.3f} {h}")
