"""Extraction from Python against the CLI on the same clips: wall time of a
whole process (load the synthetic weights, extract one video), alternating
CLI and Python runs so that both see the same machine load, and the Python
extraction alone (model already loaded).

usage: python benches/cli_vs_python.py [--runs 3] [CLI] [VIDEO ...]
(CLI defaults to target/debug/relaxvqa; the package must be built with the
same profile, as scripts/test_python.sh does.)
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VIDEOS = REPO / "tests" / "data" / "videos"
CLIPS = [VIDEOS / "testsrc2_noise.mp4", VIDEOS / "carphone_pristine.mp4"]

PY_RUN = """
import sys, time, relaxvqa
t0 = time.perf_counter()
m = relaxvqa.Model(weights="synthetic")
t1 = time.perf_counter()
m.extract(sys.argv[1])
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def timed(cmd):
    """Wall seconds, CPU seconds (user + system) and stdout of a command."""
    c0, start = cpu(), time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, RELAXVQA_LOG="error"))
    took, used = time.perf_counter() - start, cpu() - c0
    if r.returncode != 0:
        sys.exit(f"{cmd}: {r.stderr}")
    return took, used, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cli", default=str(REPO / "target/debug/relaxvqa"))
    ap.add_argument("videos", nargs="*", default=[str(c) for c in CLIPS])
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp()) / "out.safetensors"
    print(f"load average before: {os.getloadavg()}")
    for video in a.videos:
        cli, py, cli_extract, py_extract, cli_cpu, py_cpu = [], [], [], [], [], []
        for _ in range(a.runs):
            t, c, stdout = timed([a.cli, "extract", video, "--weights", "synthetic", "--quiet", "-o", str(out)])
            cli.append(t)
            # "VIDEO: N frames, k = K, S sampled, P pairs, T s -> OUT": the extraction's own time
            cli_extract.append(float(stdout.rsplit(" s -> ", 1)[0].rsplit(", ", 1)[1]))
            cli_cpu.append(c)
            t, c, stdout = timed([sys.executable, "-c", PY_RUN, video])
            py.append(t)
            py_cpu.append(c)
            py_extract.append(float(stdout.split()[1]))
        fmt = lambda xs: " ".join(f"{x:.2f}" for x in xs) + f" (median {statistics.median(xs):.2f})"
        print(f"{Path(video).name}:")
        print(f"  CLI process     s: {fmt(cli)}")
        print(f"  Python process  s: {fmt(py)}")
        print(f"  CLI extract     s: {fmt(cli_extract)}")
        print(f"  Python extract  s: {fmt(py_extract)}")
        print(f"  CLI CPU         s: {fmt(cli_cpu)}")
        print(f"  Python CPU      s: {fmt(py_cpu)}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
