"""The workers and the scheduler of ``relaxvqa.ray``.

Each worker is a long-lived Ray actor holding one ``relaxvqa._native.BatchWorker``
(the backbones, and a head when scoring, loaded once). The driver hands out
one video per call to an idle worker and waits with ``ray.wait``; every
failure of a video is the video's outcome (returned, never raised, by the
worker), so only the death of a worker's process reaches the scheduler. Then
the video goes back to the front of the queue (``max_attempts`` in all), the
worker is restarted by Ray (``max_restarts``) and rejoins the pool when it
answers again. Ray's own task retries are off (``max_task_retries=0``): a
retry is the scheduler's decision, made after checking whether the video's
output was completed just before the worker died.
"""

import collections
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import ray
import ray.exceptions

from .. import _errors, _native

# Exceptions that mean the worker's process (or its node) is gone, not that
# the video failed.
_DIED: Tuple[type, ...] = tuple(
    c
    for c in (
        getattr(ray.exceptions, "RayActorError", None),
        getattr(ray.exceptions, "WorkerCrashedError", None),
        getattr(ray.exceptions, "OutOfMemoryError", None),
        getattr(ray.exceptions, "NodeDiedError", None),
        getattr(ray.exceptions, "LocalRayletDiedError", None),
        getattr(ray.exceptions, "ObjectLostError", None),
        getattr(ray.exceptions, "OwnerDiedError", None),
    )
    if isinstance(c, type)
)

# How long a scheduler wait lasts (Ctrl-C is seen between waits).
_WAIT_S = 0.5


class Worker:
    """A Ray actor's state: one model, one video per call.

    A model that cannot be loaded (weights missing, a bad head) is not raised
    from ``__init__`` (Ray would restart the actor in a loop): ``info()``
    reports it and the driver raises it once, in the package's error class.
    """

    def __init__(self, model_args: Dict[str, Any]) -> None:
        os.environ.setdefault("RELAXVQA_LOG", "error")
        self._worker: Optional[Any] = None
        self._error: Optional[Tuple[str, str]] = None
        try:
            self._worker = _native.BatchWorker(**model_args)
        except _errors.Error as e:
            self._error = (type(e).__name__, str(e))

    def info(self) -> Dict[str, Any]:
        """The worker's process and node, and a model-loading error if any."""
        return {
            "pid": os.getpid(),
            "node": ray.util.get_node_ip_address(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "threads": None if self._worker is None else self._worker.threads,
            "error": self._error,
        }

    def extract(self, task: Dict[str, Any]) -> Dict[str, Any]:
        """One video into its per-video feature file; its outcome."""
        assert self._worker is not None, "the model did not load"
        return self._worker.extract(task)

    def score(self, task: Dict[str, Any]) -> Dict[str, Any]:
        """One video's score; its outcome."""
        assert self._worker is not None, "the model did not load"
        return self._worker.score(task)


@dataclass(frozen=True)
class WorkerInfo:
    """Where a worker runs: its process id and its node's address."""

    pid: int
    node: str
    node_id: str


@dataclass(frozen=True)
class Event:
    """Something that happened in a run, as given to ``on_event``.

    ``kind``: ``"start"`` (a video was handed to a worker), ``"done"``,
    ``"failed"`` (its outcome: ``outcome``), ``"retry"`` (its worker died
    while on it; it goes to another, ``error`` says what happened),
    ``"worker_ready"`` / ``"worker_lost"`` (a worker joined or left the
    pool). ``index``, ``name``, ``path``: the video (None for worker
    events); ``worker``: the worker; ``attempt``: 1 for the first try;
    ``finished`` / ``total``: videos finished so far, and to do.
    """

    kind: str
    index: Optional[int] = None
    name: Optional[str] = None
    path: Optional[str] = None
    worker: Optional[WorkerInfo] = None
    attempt: int = 1
    outcome: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    finished: int = 0
    total: int = 0


@dataclass
class _Slot:
    actor: Any
    info: Optional[WorkerInfo] = None
    ever_ready: bool = False


@dataclass
class _Job:
    index: int
    task: Dict[str, Any]
    attempt: int = 1


@dataclass
class PoolStats:
    """What the pool did: workers started, worker deaths, videos retried,
    and the ids of the nodes its workers ran on."""

    workers: int = 0
    deaths: int = 0
    retries: int = 0
    nodes: List[str] = field(default_factory=list)


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def run_pool(
    jobs: List[Tuple[int, Dict[str, Any]]],
    *,
    method: str,
    model_args: Dict[str, Any],
    workers: int,
    threads: int,
    max_attempts: int,
    max_restarts: int,
    is_complete: Callable[[int], bool],
    on_outcome: Callable[[int, Dict[str, Any]], None],
    on_event: Callable[[Event], None],
    worker_error: Callable[[str], Exception],
) -> PoolStats:
    """Runs ``jobs`` (``(index, task)``) on ``workers`` actors of ``threads``
    CPUs each, calling ``on_outcome(index, outcome)`` once per job as
    outcomes arrive. Raises the package's error when no worker could load
    its model, and ``worker_error(message)`` when every worker is gone
    with work left."""
    total = len(jobs)
    queue: Deque[_Job] = collections.deque(_Job(i, t) for i, t in jobs)
    names = {i: (str(t.get("name")), str(t.get("path"))) for i, t in jobs}
    actor_cls = ray.remote(Worker).options(
        num_cpus=threads,
        max_restarts=max_restarts,
        max_task_retries=0,
        # A second concurrent call lets ``info`` answer while a video runs
        # (the native call releases the GIL).
        max_concurrency=2,
        scheduling_strategy="SPREAD",
    )
    slots = [_Slot(actor_cls.remote(model_args)) for _ in range(workers)]
    stats = PoolStats(workers=workers)
    probes: Dict[Any, _Slot] = {s.actor.info.remote(): s for s in slots}
    running: Dict[Any, Tuple[_Slot, _Job]] = {}
    idle: List[_Slot] = []
    finished = 0
    load_error: Optional[Tuple[str, str]] = None

    def emit(kind: str, job: Optional[_Job] = None, slot: Optional[_Slot] = None, **kw: Any) -> None:
        name, path = names.get(job.index, (None, None)) if job is not None else (None, None)
        on_event(
            Event(
                kind=kind,
                index=None if job is None else job.index,
                name=name,
                path=path,
                worker=None if slot is None else slot.info,
                attempt=1 if job is None else job.attempt,
                finished=finished,
                total=total,
                **kw,
            )
        )

    try:
        while queue or running:
            while idle and queue:
                slot, job = idle.pop(), queue.popleft()
                running[getattr(slot.actor, method).remote(job.task)] = (slot, job)
                emit("start", job, slot)
            if not running and not probes:
                if load_error is not None:
                    cls = getattr(_errors, load_error[0], _errors.Error)
                    raise cls(load_error[1])
                raise worker_error(
                    f"every worker is gone ({stats.deaths} deaths) with {len(queue)} video(s) left; "
                    "the finished ones are kept: run again to resume"
                )
            ready, _ = ray.wait(list(running) + list(probes), num_returns=1, timeout=_WAIT_S)
            for ref in ready:
                if ref in probes:
                    slot = probes.pop(ref)
                    try:
                        info = ray.get(ref)
                    except _DIED as e:
                        emit("worker_lost", slot=slot, error=_one_line(e))
                        continue
                    if info["error"] is not None:
                        # The model did not load: the same on every worker.
                        load_error = (str(info["error"][0]), str(info["error"][1]))
                        ray.kill(slot.actor, no_restart=True)
                        continue
                    slot.info = WorkerInfo(info["pid"], info["node"], info["node_id"])
                    slot.ever_ready = True
                    if info["node_id"] not in stats.nodes:
                        stats.nodes.append(info["node_id"])
                    idle.append(slot)
                    emit("worker_ready", slot=slot)
                    continue
                slot, job = running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except _DIED as e:
                    stats.deaths += 1
                    why = _one_line(e)
                    if is_complete(job.index):
                        # Written whole just before the process died.
                        outcome = {"status": "done", "seconds": 0.0, "frames": 0, "warnings": []}
                    elif job.attempt >= max_attempts:
                        _, path = names[job.index]
                        outcome = {
                            "status": "failed",
                            "error": f"{path}: its worker process died on each of {job.attempt} attempts "
                            f"(last: {why})",
                        }
                    else:
                        stats.retries += 1
                        emit("retry", job, slot, error=why)
                        queue.appendleft(_Job(job.index, job.task, job.attempt + 1))
                        outcome = None
                    # Ray restarts the actor (max_restarts); it rejoins the
                    # pool when it answers again, or is dropped.
                    probes[slot.actor.info.remote()] = slot
                    if outcome is None:
                        continue
                except ray.exceptions.RayTaskError as e:
                    # A bug in the worker code, not in the video: recorded.
                    _, path = names[job.index]
                    outcome = {"status": "failed", "error": f"{path}: internal error: {_one_line(e)}"}
                    idle.append(slot)
                else:
                    idle.append(slot)
                finished += 1
                on_outcome(job.index, outcome)
                emit("failed" if outcome.get("status") == "failed" else "done", job, slot, outcome=outcome)
    finally:
        for s in slots:
            try:
                ray.kill(s.actor, no_restart=True)
            except Exception:  # already dead
                pass
    return stats


def cluster_cpus() -> List[int]:
    """CPUs of each alive node of the connected cluster."""
    cpus = []
    for n in ray.nodes():
        if n.get("Alive"):
            c = int(n.get("Resources", {}).get("CPU", 0))
            if c > 0:
                cpus.append(c)
    return cpus


def connect(address: Optional[str], error: Callable[[str], Exception]) -> bool:
    """Connects to the cluster at ``address`` (None: a new local one;
    ``"auto"``: the one ``ray start`` made on this machine) unless this
    process is already connected. Returns True when it connected (and so
    must disconnect)."""
    if ray.is_initialized():
        return False
    import logging

    kwargs: Dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:
        kwargs["include_dashboard"] = False
    elif address not in ("auto", "local") and "://" not in address:
        # Ray retries an unreachable head for minutes: say so at once.
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise error(f"address {address}: expected HOST:PORT (the head's, from `ray start --head`) or auto")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
        except OSError as e:
            raise error(
                f"cannot connect to Ray at {address}: {e.strerror or e} (is `ray start --head` running there?)"
            ) from None
    started = time.monotonic()
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = address or "a new local instance"
        raise error(
            f"cannot connect to Ray at {where} after {time.monotonic() - started:.0f} s: {_one_line(e)}"
        ) from None
    return True
