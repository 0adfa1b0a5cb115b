"""Videos per hour: `relaxvqa extract --list` against relaxvqa.ray on one
machine (docs/performance-ray.md).

    python/.venv/bin/python scripts/bench_ray.py [--copies 3] [--cli target/debug/relaxvqa]

Makes a list of the fixture videos (tests/data) x COPIES (copies under other
names), then extracts it (synthetic weights) with: the command line
(`--jobs 1`, all threads; and `--jobs 2 --threads 1`), and relaxvqa.ray on a
one-node cluster of this machine's CPUs with one worker of two threads and
two workers of one thread. Prints one JSON line per run: wall seconds,
videos per hour, and for Ray the start-up (connect + workers ready) and the
per-video overhead (from a video's hand-out to its outcome on the driver,
less the extraction time the worker measured). The cluster is started on
127.0.0.2 (loopback) and stopped by process group and id.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "tests" / "data" / "videos"
FIXTURES = ["carphone_pristine.mp4", "testsrc2_noise.mp4", "testsrc2_static.mp4"]
HOST = "127.0.0.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--cli", default=str(ROOT / "target" / "debug" / "relaxvqa"))
    ap.add_argument("--only", nargs="*", default=None, help="runs to do: cli, cli-jobs2, ray-1x2, ray-2x1")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    videos = work / "videos"
    videos.mkdir()
    rows = []
    for c in range(a.copies):
        for f in FIXTURES:
            dst = videos / f"{Path(f).stem}_c{c}.mp4"
            shutil.copyfile(VIDEOS / f, dst)
            rows.append(str(dst))
    lst = work / "videos.csv"
    lst.write_text("path\n" + "\n".join(rows) + "\n")
    n = len(rows)
    runs = a.only or ["cli", "cli-jobs2", "ray-1x2", "ray-2x1"]
    env = dict(os.environ, RELAXVQA_LOG="error")

    def report(name: str, wall: float, **extra: object) -> None:
        print(json.dumps({"run": name, "videos": n, "wall_s": round(wall, 1),
                          "videos_per_hour": round(n * 3600 / wall, 1), "load_after": load(), **extra}),
              flush=True)  # fmt: skip

    for name, args in (("cli", []), ("cli-jobs2", ["--jobs", "2", "--threads", "1"])):
        if name not in runs:
            continue
        out = work / name
        t = time.monotonic()
        r = subprocess.run([a.cli, "extract", "--list", str(lst), "--out-dir", str(out), "--weights", "synthetic",
                            "--quiet", *args], env=env, capture_output=True, text=True)  # fmt: skip
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        report(name, time.monotonic() - t)

    ray_runs = [r for r in runs if r.startswith("ray-")]
    if not ray_runs:
        return 0
    ray_bin = Path(sys.executable).with_name("ray")
    tmp = tempfile.mkdtemp(prefix="rvqa-", dir="/tmp")
    port = free_port()
    cmd = [str(ray_bin), "start", "--block", "--head", f"--port={port}", f"--node-ip-address={HOST}",
           f"--num-cpus={os.cpu_count()}", "--include-dashboard=false", "--disable-usage-stats",
           f"--temp-dir={tmp}"]  # fmt: skip
    head = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the Ray head did not start")
                time.sleep(0.3)
        import relaxvqa.ray

        for name in ray_runs:
            workers, threads = {"ray-1x2": (1, 2), "ray-2x1": (2, 1)}[name]
            out = work / name
            marks: dict = {}
            overheads = []
            ready = []
            t0 = time.monotonic()

            def on_event(ev: "relaxvqa.ray.Event") -> None:
                now = time.monotonic()
                if ev.kind == "worker_ready":
                    ready.append(now - t0)
                elif ev.kind == "start":
                    marks[ev.index] = now
                elif ev.kind == "done":
                    overheads.append(now - marks[ev.index] - float(ev.outcome.get("seconds", 0.0)))

            s = relaxvqa.ray.extract_dataset(lst, out, weights="synthetic", address=f"{HOST}:{port}",
                                             concurrency=workers, threads_per_worker=threads,
                                             progress=on_event)  # fmt: skip
            assert s.done == n, s.outcomes
            report(name, time.monotonic() - t0, startup_s=round(max(ready), 2),
                   overhead_per_video_s=round(statistics.median(overheads), 3),
                   overhead_max_s=round(max(overheads), 3))  # fmt: skip
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if tmp.encode() in open(f"/proc/{d}/cmdline", "rb").read():
                        os.kill(int(d), signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
