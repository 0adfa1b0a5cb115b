"""Datasets past one machine: extraction and scoring on a Ray cluster.

>>> from relaxvqa.ray import extract_dataset, score_dataset
>>> summary = extract_dataset("videos.csv", "feats/", weights="hub", address="auto")
>>> summary.done, summary.failed, summary.exit_status

The outputs are those of ``relaxvqa extract --list videos.csv --out-dir
feats/`` (one ``<name>.safetensors`` per video, the combined
``features.safetensors`` / ``features.npy`` / ``features.names.txt`` in list
order, ``index.csv``, ``failures.csv``), made by the same library code: a
run started by the command line can be finished here and the other way
round. ``score_dataset`` writes the rows of ``relaxvqa score --list ...
--output scores.csv``.

Each worker is a Ray actor that loads the model once and takes one video at
a time; a video that fails is recorded and the run goes on, a worker whose
process dies has its video retried on another worker. Every node must see
the videos and the output folder at the same paths (a shared filesystem).
Needs the ``ray`` extra: ``pip install "relaxvqa[ray]"``.
"""

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

try:
    import ray  # noqa: F401
except ImportError as _e:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"relaxvqa.ray needs Ray ({_e}): pip install 'relaxvqa[ray]' (or 'ray[data]')"
    ) from None

from .. import DEFAULT_HEAD, DEFAULT_MAX_PIXELS, _native
from .._errors import Error, InputError
from ._pool import Event, PoolStats, WorkerInfo, cluster_cpus, connect, run_pool

__all__ = [
    "extract_dataset",
    "score_dataset",
    "DatasetSummary",
    "ScoreSummary",
    "Event",
    "WorkerInfo",
    "ClusterError",
    "WorkerError",
]

PathLike = Union[str, "os.PathLike[str]"]
Videos = Union[PathLike, Sequence[PathLike]]


class ClusterError(Error):
    """Ray could not be reached (a wrong ``address``, a cluster that is
    down), or the cluster cannot run a worker of the size asked for."""


class WorkerError(Error):
    """Every worker died with videos left (the finished ones are kept; run
    again to resume)."""


@dataclass
class DatasetSummary:
    """What ``extract_dataset`` did.

    ``outcomes``: one dict per video in list order (``name``, ``path``,
    ``output``, ``status``: ``"done"``, ``"skipped"`` or ``"failed"``, with
    ``seconds`` / ``frames`` / ``warnings`` or ``error``). ``combined``: the
    matrix files and their row count. ``retries``: videos handed to another
    worker after theirs died; ``deaths``: worker processes that died;
    ``nodes``: the Ray node ids the workers ran on.
    """

    out_dir: Path
    total: int
    done: int
    skipped: int
    failed: int
    outcomes: List[Dict[str, Any]]
    combined: Dict[str, Any]
    seconds: float
    workers: int = 0
    threads_per_worker: int = 0
    retries: int = 0
    deaths: int = 0
    nodes: List[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """As the command line's: 0 none failed, 1 all failed, 3 some."""
        return _exit_status(self.total, self.failed)


@dataclass
class ScoreSummary:
    """What ``score_dataset`` did: ``outcomes`` as ``DatasetSummary``'s, with
    status ``"scored"`` (and every field of ``Score.to_dict()``: ``score``,
    ``scale``, ``segments``, ``warnings``, ``model``, ``model_source``,
    ``provenance``), ``"skipped"`` (kept from the CSV: ``score``, ``scale``)
    or ``"failed"`` (``error``)."""

    output: Path
    total: int
    scored: int
    skipped: int
    failed: int
    outcomes: List[Dict[str, Any]]
    seconds: float
    model: str = ""
    scale: str = ""
    workers: int = 0
    threads_per_worker: int = 0
    retries: int = 0
    deaths: int = 0
    nodes: List[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """As the command line's: 0 none failed, 1 all failed, 3 some."""
        return _exit_status(self.total, self.failed)


def _exit_status(total: int, failed: int) -> int:
    return 0 if failed == 0 else 1 if failed >= total else 3


def _inputs(videos: Videos) -> Tuple[Optional[str], List[str]]:
    """``videos`` as the command line's ``--list`` and VIDEO arguments: one
    path ending in ``.csv`` is a list, any other path a video or a folder,
    a sequence several of them."""
    if isinstance(videos, (str, os.PathLike)):
        p = os.fspath(videos)
        if not os.path.isdir(p) and p.lower().endswith(".csv"):
            return p, []
        return None, [p]
    if isinstance(videos, (bytes, bytearray)) or not isinstance(videos, Sequence):
        raise InputError(
            f"videos: expected a path (a CSV list, a folder or a video) or a list of paths, "
            f"not {type(videos).__name__}"
        )
    return None, [os.fspath(v) for v in videos]


def _printer(enabled: bool) -> Callable[[Event], None]:
    """Progress lines on stderr (``progress=True``)."""
    started = time.monotonic()

    def show(ev: Event) -> None:
        if not enabled:
            return
        where = f"pid {ev.worker.pid} on {ev.worker.node}" if ev.worker else ""
        t = time.monotonic() - started
        if ev.kind in ("done", "failed"):
            o = ev.outcome or {}
            what = (
                f"failed: {o.get('error')}"
                if ev.kind == "failed"
                else ("scored %.4f" % o["score"] if "score" in o else f"done in {o.get('seconds', 0.0):.1f} s")
            )
            line = f"[{ev.finished}/{ev.total}] {ev.name}: {what} ({where})"
        elif ev.kind == "retry":
            line = f"{ev.name}: its worker ({where}) died ({ev.error}); retrying, attempt {ev.attempt + 1}"
        elif ev.kind == "worker_ready":
            line = f"worker ready: {where}"
        elif ev.kind == "worker_lost":
            line = f"worker lost: {ev.error}"
        else:
            return
        print(f"relaxvqa.ray: {t:7.1f} s  {line}", file=sys.stderr, flush=True)

    return show


def _events(progress: Union[bool, Callable[[Event], Any]]) -> Callable[[Event], None]:
    if callable(progress):
        return progress  # type: ignore[return-value]
    return _printer(bool(progress))


def _sizes(concurrency: Optional[int], threads_per_worker: Optional[int], todo: int) -> Tuple[int, int]:
    """Workers and threads per worker for the connected cluster: by default
    workers of up to 4 threads (never more than a node has), as many as
    the nodes' CPUs hold, never more than there are videos."""
    for name, v in (("concurrency", concurrency), ("threads_per_worker", threads_per_worker)):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise InputError(f"{name} {v!r}: give a whole number of at least 1 (or None)")
    cpus = cluster_cpus()
    if not cpus:
        raise ClusterError("the Ray cluster has no node with a CPU")
    largest = max(cpus)
    if threads_per_worker is None:
        if concurrency is not None:
            threads_per_worker = max(1, min(largest, sum(cpus) // concurrency))
        else:
            threads_per_worker = min(largest, 4)
    if threads_per_worker > largest:
        raise ClusterError(
            f"threads_per_worker {threads_per_worker}: no node of the cluster has that many CPUs "
            f"(the largest has {largest})"
        )
    if concurrency is None:
        concurrency = max(1, sum(c // threads_per_worker for c in cpus))
    return max(1, min(concurrency, todo)), threads_per_worker


def extract_dataset(
    videos: Videos,
    out_dir: PathLike,
    *,
    weights: str = "hub",
    concurrency: Optional[int] = None,
    threads_per_worker: Optional[int] = None,
    address: Optional[str] = None,
    force: bool = False,
    path_column: Optional[str] = None,
    video_dir: Optional[PathLike] = None,
    ext: Optional[str] = None,
    f32: bool = False,
    size: Optional[str] = None,
    pix_fmt: Optional[str] = None,
    fps: Optional[str] = None,
    batch_size: int = 8,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    max_attempts: int = 3,
    progress: Union[bool, Callable[[Event], Any]] = False,
) -> DatasetSummary:
    """Extracts every video of a dataset on a Ray cluster, with the outputs
    of ``relaxvqa extract --list ... --out-dir OUT_DIR``.

    ``videos``: a CSV list (a path ending in ``.csv``; ``path_column``,
    ``video_dir``, ``ext`` as the command line's ``--path-column``,
    ``--video-dir``, ``--ext``), a folder of videos, a video, or a list of
    videos and folders. Videos and ``out_dir`` must be at the same paths on
    every node. Videos with a complete output from the same file and
    weights are skipped (``force=True`` recomputes them); with none to do,
    the reports are rewritten without connecting to Ray.

    ``address``: the cluster (``"auto"``: the one ``ray start`` made on
    this machine; ``"HOST:PORT"``; None: a new local Ray instance, unless
    this process is already connected). ``concurrency``: workers (default:
    as many as the cluster's CPUs hold); ``threads_per_worker``: each
    worker's compute threads and Ray CPUs (default: up to 4). Each worker
    holds one model in memory (about 1 GB).

    ``f32``, ``size`` / ``pix_fmt`` / ``fps``, ``batch_size``,
    ``max_pixels``: as ``relaxvqa extract``'s ``--f32``, raw-video flags,
    ``--batch-size``, ``--max-pixels``. ``max_attempts``: tries of a video
    whose worker process dies (killed, out of memory) before it is recorded
    as failed. ``progress``: True for lines on stderr, or a callable taking
    each ``Event``.

    Raises InputError (bad list, no videos), FileError (output folder),
    ClusterError, WorkerError, or the model's error (WeightsError, ...)
    when no worker can load it. A video that fails is not raised: it is in
    the summary and ``failures.csv``.
    """
    started = time.monotonic()
    lst, inputs = _inputs(videos)
    if max_attempts < 1:
        raise InputError(f"max_attempts {max_attempts}: give at least 1")
    plan = _native.extract_plan(
        os.fspath(out_dir),
        list=lst,
        inputs=inputs,
        weights=weights,
        path_column=path_column,
        video_dir=None if video_dir is None else os.fspath(video_dir),
        ext=ext,
        force=force,
        f32=f32,
        size=size,
        pix_fmt=pix_fmt,
        fps=None if fps is None else str(fps),
    )
    entries = plan.entries()
    todo = plan.todo()
    outcomes: List[Optional[Dict[str, Any]]] = [None] * len(entries)
    on_event = _events(progress)
    if plan.duplicates and progress is True:
        print(
            f"relaxvqa.ray: warning: {len(plan.duplicates)} row(s) repeat a video already listed "
            f"and are done once ({plan.duplicates[0]})",
            file=sys.stderr,
        )
    stats, workers, threads = PoolStats(), 0, 0
    if todo:
        model_args = {"weights": weights, "batch_size": batch_size, "max_pixels": max_pixels}
        stats, workers, threads = _run(
            plan,
            todo,
            "extract",
            model_args,
            address,
            concurrency,
            threads_per_worker,
            max_attempts,
            plan.is_complete,
            lambda i, o: outcomes.__setitem__(i, o),
            on_event,
        )
    combined = plan.write_reports(outcomes)
    rows: List[Dict[str, Any]] = []
    for e, o in zip(entries, outcomes):
        row = {"name": e["name"], "path": e["path"], "output": e["output"]}
        row.update(o if o is not None else {"status": "skipped"})
        rows.append(row)
    count = lambda s: sum(1 for r in rows if r["status"] == s)  # noqa: E731
    return DatasetSummary(
        out_dir=Path(plan.out_dir),
        total=len(rows),
        done=count("done"),
        skipped=count("skipped"),
        failed=count("failed"),
        outcomes=rows,
        combined=combined,
        seconds=time.monotonic() - started,
        workers=workers,
        threads_per_worker=threads,
        retries=stats.retries,
        deaths=stats.deaths,
        nodes=stats.nodes,
    )


def score_dataset(
    videos: Videos,
    output: PathLike,
    *,
    head: PathLike = DEFAULT_HEAD,
    weights: str = "hub",
    scale: Optional[str] = None,
    segments: Optional[Union[str, float]] = None,
    concurrency: Optional[int] = None,
    threads_per_worker: Optional[int] = None,
    address: Optional[str] = None,
    force: bool = False,
    path_column: Optional[str] = None,
    video_dir: Optional[PathLike] = None,
    ext: Optional[str] = None,
    size: Optional[str] = None,
    pix_fmt: Optional[str] = None,
    fps: Optional[str] = None,
    batch_size: int = 8,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    max_attempts: int = 3,
    progress: Union[bool, Callable[[Event], Any]] = False,
) -> ScoreSummary:
    """Scores every video of a dataset on a Ray cluster into the scores CSV
    ``output``, with the rows of ``relaxvqa score --list ... --model HEAD
    --output OUTPUT`` (appended as scores arrive, so in the order videos
    finish). Rows kept from an earlier run with the same head, weights and
    scale (and an unchanged video) are not scored again unless
    ``force=True``.

    ``head``: a published head's name or a head file (at the same path on
    every node). ``scale``: ``"1-5"``, ``"0-100"`` or ``"raw"`` instead of
    the head's own. ``segments``: also score windows of this length
    (``"2s"``, or seconds). Other arguments as ``extract_dataset``.
    """
    started = time.monotonic()
    lst, inputs = _inputs(videos)
    if max_attempts < 1:
        raise InputError(f"max_attempts {max_attempts}: give at least 1")
    window = None if segments is None else _native.parse_duration(str(segments))
    plan = _native.score_plan(
        os.fspath(output),
        list=lst,
        inputs=inputs,
        head=os.fspath(head),
        weights=weights,
        scale=scale,
        segments=window,
        path_column=path_column,
        video_dir=None if video_dir is None else os.fspath(video_dir),
        ext=ext,
        force=force,
        size=size,
        pix_fmt=pix_fmt,
        fps=None if fps is None else str(fps),
    )
    entries = plan.entries()
    todo = plan.todo()
    outcomes: List[Optional[Dict[str, Any]]] = [None] * len(entries)
    on_event = _events(progress)
    if plan.warning and progress is True:
        print(f"relaxvqa.ray: warning: {plan.warning}", file=sys.stderr)

    def record(i: int, o: Dict[str, Any]) -> None:
        plan.append(i, o)
        outcomes[i] = o

    stats, workers, threads = PoolStats(), 0, 0
    try:
        if todo:
            model_args = {"weights": weights, "head": plan.head, "batch_size": batch_size, "max_pixels": max_pixels}
            stats, workers, threads = _run(
                plan,
                todo,
                "score",
                model_args,
                address,
                concurrency,
                threads_per_worker,
                max_attempts,
                lambda i: False,
                record,
                on_event,
            )
    finally:
        plan.close()
    rows: List[Dict[str, Any]] = []
    for e, o in zip(entries, outcomes):
        row = {"name": e["name"], "path": e["path"]}
        if o is None:
            row.update({"status": "skipped", "score": e["score"]})
        else:
            row.update(o)
        rows.append(row)
    count = lambda s: sum(1 for r in rows if r["status"] == s)  # noqa: E731
    return ScoreSummary(
        output=Path(plan.output),
        total=len(rows),
        scored=count("scored"),
        skipped=count("skipped"),
        failed=count("failed"),
        outcomes=rows,
        seconds=time.monotonic() - started,
        model=plan.model,
        scale=plan.scale,
        workers=workers,
        threads_per_worker=threads,
        retries=stats.retries,
        deaths=stats.deaths,
        nodes=stats.nodes,
    )


def _run(
    plan: Any,
    todo: List[int],
    method: str,
    model_args: Dict[str, Any],
    address: Optional[str],
    concurrency: Optional[int],
    threads_per_worker: Optional[int],
    max_attempts: int,
    is_complete: Callable[[int], bool],
    on_outcome: Callable[[int, Dict[str, Any]], None],
    on_event: Callable[[Event], None],
) -> Tuple[PoolStats, int, int]:
    """Connects (when not connected), sizes the pool and runs ``todo``."""
    import ray as _ray

    connected = connect(address, ClusterError)
    try:
        workers, threads = _sizes(concurrency, threads_per_worker, len(todo))
        # FFmpeg's decoder gets the worker's share of the node, not every core.
        args = dict(model_args, threads=threads, decode_threads=threads)
        stats = run_pool(
            [(i, plan.task(i)) for i in todo],
            method=method,
            model_args=args,
            workers=workers,
            threads=threads,
            max_attempts=max_attempts,
            max_restarts=max(3, max_attempts),
            is_complete=is_complete,
            on_outcome=on_outcome,
            on_event=on_event,
            worker_error=WorkerError,
        )
        return stats, workers, threads
    finally:
        if connected:
            _ray.shutdown()
