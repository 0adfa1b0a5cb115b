"""relaxvqa.ray on a real two-node Ray cluster on this machine.

The cluster is a head and a second node, each started by ``ray start
--block`` with one CPU, on the loopback address 127.0.0.2 (Ray rewrites
127.0.0.1 and localhost into the machine's interface address; any other
127.x address stays on the loopback device). It is torn down at the end,
even after a failure: each ``ray start`` runs in a process group of its
own, which is terminated, then every process still naming the cluster's
temporary folder is killed by its id (never ``ray stop``, which would stop
every Ray instance of the machine).

The outputs are compared with the command line's (``relaxvqa extract
--list`` and ``relaxvqa score --list --output``, ``RELAXVQA_CLI`` or
target/debug/relaxvqa) on the fixture videos (tests/data) plus a broken file, and
a worker's process is killed mid-video.
"""

import csv
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import numpy as np
import pytest

import relaxvqa
import relaxvqa.ray
from conftest import cli_path, write_synthetic_head

REPO = Path(__file__).resolve().parents[2]
VIDEOS = REPO / "tests" / "data" / "videos"
FIXTURES = ["carphone_pristine.mp4", "testsrc2_noise.mp4", "testsrc2_static.mp4"]
HOST = "127.0.0.2"
# Every step of starting the cluster is bounded.
START_TIMEOUT_S = 90


def cli(*args: str) -> subprocess.CompletedProcess:
    exe = Path(os.environ.get("RELAXVQA_CLI", REPO / "target" / "debug" / "relaxvqa"))
    if not exe.is_file():
        pytest.fail(f"{exe}: build the CLI first (cargo build -p relaxvqa-cli) or set RELAXVQA_CLI")
    env = dict(os.environ, RELAXVQA_LOG="error")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=600)


def read_safetensors(path: Path) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Tensors (NumPy arrays) and metadata of a .safetensors file."""
    dtypes = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4", "U64": "<u8", "U8": "u1"}
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out, meta


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, deadline: float, procs: List[subprocess.Popen]) -> None:
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                pytest.fail(f"ray start exited with status {p.returncode} (see its log in the temp folder)")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the Ray head did not listen on {host}:{port} within {START_TIMEOUT_S} s")


def processes_naming(text: str) -> List[int]:
    """Ids of this machine's processes whose command line contains ``text``."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        pids.append(int(d))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray cluster of a head and a second node (1 CPU each); its address."""
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.is_file():
        pytest.fail(f"{ray_bin}: Ray is not installed in this environment (pip install 'relaxvqa[ray]')")
    # Short: Ray's socket paths live under it.
    tmp = tempfile.mkdtemp(prefix="rvqa-", dir="/tmp")
    port = free_port()
    address = f"{HOST}:{port}"
    env = dict(os.environ, RELAXVQA_LOG="error", RAY_USAGE_STATS_ENABLED="0")
    procs: List[subprocess.Popen] = []

    def start(args: List[str], log: str, ports: Tuple[int, int]) -> None:
        cmd = [
            str(ray_bin), "start", "--block", f"--node-ip-address={HOST}", "--num-cpus=1",
            "--disable-usage-stats", f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}", f"--metrics-export-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--min-worker-port={ports[0]}",
            f"--max-worker-port={ports[1]}", *args,
        ]  # fmt: skip
        with open(os.path.join(tmp, log), "w") as out:
            procs.append(
                subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            )

    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        start(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={tmp}"], "head.log",
              (20000, 20499))  # fmt: skip
        wait_port(HOST, port, deadline, procs)
        start([f"--address={address}"], "node2.log", (20500, 20999))
        import ray

        ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        try:
            while sum(1 for n in ray.nodes() if n["Alive"]) < 2:
                if time.monotonic() > deadline:
                    pytest.fail(f"the second Ray node did not join within {START_TIMEOUT_S} s")
                time.sleep(0.3)
        finally:
            ray.shutdown()
        yield address
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=30)
        # Workers that left the process groups: by id, found by our folder.
        for pid in processes_naming(tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A CSV list: the three fixture videos, a broken file, an extra column."""
    for name in FIXTURES:
        if not (VIDEOS / name).is_file():
            pytest.fail(f"{VIDEOS / name}: the test data is missing (tests/data of the checkout)")
    d = tmp_path_factory.mktemp("dataset")
    (d / "broken.mp4").write_bytes(b"this is not a video\n" * 10)
    with open(d / "videos.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "mos"])
        for i, name in enumerate(FIXTURES):
            w.writerow([str(VIDEOS / name), f"{3 + i * 0.5}"])
        w.writerow(["broken.mp4", "1.0"])
    return d / "videos.csv"


@pytest.fixture(scope="module")
def cli_out(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "feats"
    r = cli("extract", "--list", str(dataset), "--out-dir", str(out), "--weights", "synthetic", "--quiet")
    assert r.returncode == 3, r.stderr  # some failed: the broken file
    return out


@pytest.fixture(scope="module")
def ray_run(cluster, dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray") / "feats"
    events: List[relaxvqa.ray.Event] = []
    summary = relaxvqa.ray.extract_dataset(
        dataset, out, weights="synthetic", address=cluster, concurrency=2, threads_per_worker=1,
        progress=events.append,
    )  # fmt: skip
    return summary, out, events


def test_import_relaxvqa_does_not_import_ray():
    code = "import sys, relaxvqa; assert 'ray' not in sys.modules, 'ray imported'; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_extract_on_two_nodes_matches_cli(ray_run, cli_out):
    summary, out, events = ray_run
    assert (summary.total, summary.done, summary.skipped, summary.failed) == (4, 3, 0, 1)
    assert summary.exit_status == 3
    assert summary.workers == 2 and summary.threads_per_worker == 1
    assert len(summary.nodes) == 2, f"the workers ran on {summary.nodes}, not on both nodes"
    starts = [e for e in events if e.kind == "start"]
    assert sorted(e.name for e in starts) == ["broken", "carphone_pristine", "testsrc2_noise", "testsrc2_static"]
    assert len({e.worker.node_id for e in starts}) == 2
    failed = [o for o in summary.outcomes if o["status"] == "failed"]
    assert [o["name"] for o in failed] == ["broken"] and "broken.mp4" in failed[0]["error"]

    # Per-video files: the same tensors bit for bit, the same metadata.
    for name in FIXTURES:
        stem = Path(name).stem
        mine, mine_meta = read_safetensors(out / f"{stem}.safetensors")
        theirs, theirs_meta = read_safetensors(cli_out / f"{stem}.safetensors")
        assert mine.keys() == theirs.keys()
        for k in mine:
            assert mine[k].dtype == theirs[k].dtype and mine[k].tobytes() == theirs[k].tobytes(), f"{stem}: {k}"
        assert mine["video.features"].shape == (relaxvqa.FEATURE_LEN,)
        assert mine_meta == theirs_meta, stem
    # The combined matrix, in list order, byte for byte.
    for f in ["features.npy", "features.safetensors", "features.names.txt", "failures.csv"]:
        assert (out / f).read_bytes() == (cli_out / f).read_bytes(), f
    assert (out / "features.names.txt").read_text().split() == [Path(n).stem for n in FIXTURES]
    matrix = np.load(out / "features.npy")
    for row, name in zip(matrix, FIXTURES):
        v, _ = read_safetensors(out / f"{Path(name).stem}.safetensors")
        assert row.tobytes() == v["video.features"].tobytes()
    index = (out / "index.csv").read_text().replace(str(out), "OUT")
    assert index == (cli_out / "index.csv").read_text().replace(str(cli_out), "OUT")
    assert "mos" in index.splitlines()[0]
    # Nothing half-written.
    assert not list(out.glob(".relaxvqa-*"))


def test_each_front_end_resumes_the_other(ray_run, cli_out, dataset, cluster):
    _, out, _ = ray_run
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors") if p.name != "features.safetensors"}
    r = cli("extract", "--list", str(dataset), "--out-dir", str(out), "--weights", "synthetic")
    assert r.returncode == 3, r.stderr
    assert "0 extracted, 3 already done, 1 failed" in r.stdout
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors") if p.name != "features.safetensors"}
    assert after == before
    # Ray on the command line's folder: only the broken file is tried again.
    s = relaxvqa.ray.extract_dataset(dataset, cli_out, weights="synthetic", address=cluster, concurrency=1)
    assert (s.done, s.skipped, s.failed) == (0, 3, 1)


@pytest.fixture(scope="module")
def slow_clip(tmp_path_factory) -> Path:
    """A 3-second clip: several network batches with one thread, so that
    a worker can be killed while on it."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("the ffmpeg command is not installed (scripts/setup.sh installs it)")
    path = tmp_path_factory.mktemp("slow") / "slow.mp4"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-y", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120)
    return path


def test_killed_worker_video_is_retried_once(cluster, slow_clip, cli_out, tmp_path):
    videos = [str(slow_clip), str(VIDEOS / "testsrc2_static.mp4")]
    out = tmp_path / "feats"
    killed: List[int] = []
    events: List[relaxvqa.ray.Event] = []

    def on_event(ev: relaxvqa.ray.Event) -> None:
        events.append(ev)
        if ev.kind == "start" and ev.name == "slow" and not killed:
            pid = ev.worker.pid
            killed.append(pid)
            # Mid-video: the model is loaded and the first batches run.
            threading.Timer(3.0, os.kill, (pid, signal.SIGKILL)).start()

    s = relaxvqa.ray.extract_dataset(
        videos, out, weights="synthetic", address=cluster, concurrency=2, threads_per_worker=1,
        progress=on_event,
    )  # fmt: skip
    assert killed, "the slow clip was never started"
    assert s.deaths >= 1 and s.retries >= 1, f"no worker died ({s.deaths} deaths, {s.retries} retries)"
    retry = [e for e in events if e.kind == "retry"]
    assert retry and retry[0].name == "slow" and retry[0].worker.pid == killed[0]
    assert (s.done, s.skipped, s.failed) == (2, 0, 0), s.outcomes
    finished = [e.name for e in events if e.kind in ("done", "failed")]
    assert sorted(finished) == ["slow", "testsrc2_static"], "each video is finished exactly once"
    assert (out / "features.names.txt").read_text().split() == ["slow", "testsrc2_static"]
    index = list(csv.DictReader((out / "index.csv").read_text().splitlines()))
    assert [(r["name"], r["status"]) for r in index] == [("slow", "done"), ("testsrc2_static", "done")]
    assert (out / "failures.csv").read_text().strip() == "name,path,error"
    assert not list(out.glob(".relaxvqa-*"))
    mine, _ = read_safetensors(out / "testsrc2_static.safetensors")
    theirs, _ = read_safetensors(cli_out / "testsrc2_static.safetensors")
    assert mine["video.features"].tobytes() == theirs["video.features"].tobytes()
    assert np.isfinite(read_safetensors(out / "slow.safetensors")[0]["video.features"][:100]).all()

    # Run again from the shell: nothing recomputed, and Ray is not even
    # connected to (the address is a closed port).
    def per_video_mtimes() -> Dict[str, int]:
        return {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors") if p.name != "features.safetensors"}

    mtimes = per_video_mtimes()
    r = subprocess.run(
        [sys.executable, "-m", "relaxvqa.ray", "extract", *videos, "--out-dir", str(out), "--weights", "synthetic",
         "--address", "127.0.0.2:1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "2 videos: 0 extracted, 2 already done, 0 failed" in r.stdout
    assert per_video_mtimes() == mtimes


def test_score_matches_cli(cluster, dataset, tmp_path):
    head = tmp_path / "head.safetensors"
    write_synthetic_head(head)
    lst = tmp_path / "score.csv"
    lst.write_text(f"path\n{VIDEOS / 'testsrc2_static.mp4'}\n{dataset.parent / 'broken.mp4'}\n")
    theirs = tmp_path / "cli_scores.csv"
    r = cli("score", "--list", str(lst), "--model", str(head), "--weights", "synthetic", "--output", str(theirs),
            "--quiet")  # fmt: skip
    assert r.returncode == 3, r.stderr
    mine = tmp_path / "ray_scores.csv"
    s = relaxvqa.ray.score_dataset(lst, mine, head=head, weights="synthetic", address=cluster, concurrency=2)
    assert (s.total, s.scored, s.skipped, s.failed, s.exit_status) == (2, 1, 0, 1, 3)
    assert sorted(csv.reader(mine.read_text().splitlines())) == sorted(csv.reader(theirs.read_text().splitlines()))
    # Resumed: the scored row is kept, the failed video tried again.
    again = relaxvqa.ray.score_dataset(lst, mine, head=head, weights="synthetic", address=cluster, concurrency=1)
    assert (again.scored, again.skipped, again.failed) == (0, 1, 1)


def test_errors_are_one_line(tmp_path, dataset):
    r = subprocess.run(
        [sys.executable, "-m", "relaxvqa.ray", "extract", str(VIDEOS / "testsrc2_static.mp4"), "--out-dir",
         str(tmp_path / "o3"), "--weights", "synthetic", "--address", "127.0.0.2:1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.startswith("relaxvqa: error: cannot connect to Ray at 127.0.0.2:1") and r.stderr.count("\n") == 1
    with pytest.raises(relaxvqa.InputError, match="no column named nope"):
        relaxvqa.ray.extract_dataset(dataset, tmp_path / "o", weights="synthetic", path_column="nope")
    with pytest.raises(relaxvqa.InputError, match="no videos to process"):
        empty = tmp_path / "empty"
        empty.mkdir()
        relaxvqa.ray.extract_dataset(empty, tmp_path / "o", weights="synthetic")
    with pytest.raises(relaxvqa.ray.ClusterError, match="cannot connect to Ray at 127.0.0.2:1"):
        relaxvqa.ray.extract_dataset(
            [str(VIDEOS / "testsrc2_static.mp4")], tmp_path / "o2", weights="synthetic", address="127.0.0.2:1"
        )


def test_every_front_end_gives_the_same_score_document(cluster, tmp_path):
    """One clip scored by the command line, Python, Ray and the HTTP service
    (the real binary on 127.0.0.1): the same score and timeline, bit for bit,
    and every field of the library's score document in each answer."""
    head = tmp_path / "head.safetensors"
    write_synthetic_head(head)
    clip = VIDEOS / "testsrc2_static.mp4"
    r = cli("score", str(clip), "--model", str(head), "--weights", "synthetic", "--segments", "1s", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    from_cli = json.loads(r.stdout)["videos"][0]
    model = relaxvqa.Model(weights="synthetic", head=str(head))
    from_python = model.score(str(clip), segments="1s").to_dict()
    summary = relaxvqa.ray.score_dataset(
        [str(clip)], tmp_path / "ray.csv", head=head, weights="synthetic", segments="1s", address=cluster
    )
    from_ray = summary.outcomes[0]
    from_service = _score_with_service(clip, head, tmp_path / "service")
    fields = set(from_python)
    assert fields == {"score", "scale", "segments", "warnings", "model", "model_source", "provenance"}, fields
    docs = {"cli": from_cli, "ray": from_ray, "service": from_service}
    for name, doc in docs.items():
        missing = fields - set(doc)
        assert not missing, f"{name} lacks {missing}: {doc}"
        print(name, doc["score"], len(doc["segments"]))
        for key in ("score", "scale", "segments", "warnings", "model"):
            assert doc[key] == from_python[key], f"{name}: {key} {doc[key]!r} != {from_python[key]!r}"
        same = lambda p: {k: v for k, v in p.items() if k != "input"}  # noqa: E731
        assert same(doc["provenance"]) == same(from_python["provenance"]), name
    assert len(from_python["segments"]) >= 2


def _score_with_service(clip: Path, head: Path, data_dir: Path) -> Dict:
    """The done job of ``clip`` uploaded to a ``relaxvqa serve`` started on a
    free port of 127.0.0.1 (stopped after)."""
    import urllib.request

    proc = subprocess.Popen(
        [str(cli_path()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), "--weights", "synthetic",
         "--model", str(head), "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, RELAXVQA_LOG="error"),
    )  # fmt: skip
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "listening on http://" not in line:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else "timeout"
            line = proc.stdout.readline()
        base = line.strip().split("listening on ", 1)[1]
        req = urllib.request.Request(
            f"{base}/v1/score?segments=1s&wait=120s", data=clip.read_bytes(),
            headers={"Content-Type": "video/mp4"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=150) as answer:
            doc = json.loads(answer.read())
        assert doc["status"] == "done", doc
        return doc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
