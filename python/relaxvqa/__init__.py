"""relaxvqa: no-reference video quality (ReLaX-VQA) from Python.

A quality score for a video with no pristine reference: the authors' 35,203
ReLaX-VQA features (ResNet-50 layer stacking and DINO ViT-B/16 on frames,
residual fragments and optical-flow fragments) and their published quality
heads, computed by the ``relaxvqa`` Rust library.

>>> import relaxvqa
>>> model = relaxvqa.Model(head="konvid-1k")          # weights="hub" by default
>>> feats = model.extract("clip.mp4")                 # numpy float64, shape (35203,)
>>> result = model.score("clip.mp4", segments="2s")   # a Score
>>> result.score, result.scale, result.segments

Inputs are paths, ``bytes`` / ``bytearray`` / ``memoryview`` holding a video
file, binary file objects, or any of these as raw video (``size="WxH"``,
``pix_fmt=``, ``fps=``). Errors are subclasses of ``relaxvqa.Error``.
"""

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple, Union

from . import _errors, _native
from ._errors import *  # noqa: F403 (the exception classes: _errors.__all__)
from ._native import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_HEAD,
    DEFAULT_MAX_PIXELS,
    FEATURE_LEN,
    CancelToken,
    Features,
    __version__,
    heads,
    parse_duration,
)
from ._progress import Bar as _Bar
from ._results import Score, Segment

__all__ = [
    "Model",
    "extract",
    "extract_features",
    "extract_to_file",
    "score",
    "heads",
    "parse_duration",
    "CancelToken",
    "Features",
    "Score",
    "Segment",
    *_errors.__all__,
    "FEATURE_LEN",
    "DEFAULT_HEAD",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_BATCH_SIZE",
    "__version__",
]


class Model(_native.Model):
    """ReLaX-VQA: both backbones and, optionally, a quality head, loaded once.

    ``head``: a published head (``relaxvqa.heads()``, e.g. ``"konvid-1k"``)
    or a head file (``.safetensors``); None for a model that only extracts.
    ``weights``: ``"hub"`` (the real pretrained weights, looked up in the
    Hugging Face and PyTorch caches, downloaded when missing), a folder or
    file, ``"resnet50=SRC,vit=SRC"``, or ``"synthetic"`` (deterministic, for
    tests only). ``threads``: compute threads (default: all cores).
    ``batch_size``: images per network batch. ``max_pixels``: refuse larger
    frames (None: no limit).

    Load a model once and call ``extract`` / ``score`` for each video, or
    ``extract_many`` / ``score_many`` for many. A model can be used from
    several Python threads at once; the work runs without the GIL, and
    Ctrl-C stops it promptly.
    """

    __slots__ = ()

    def extract(
        self,
        input: Any,
        *,
        name: Optional[str] = None,
        size: Optional[str] = None,
        pix_fmt: Optional[str] = None,
        fps: Any = None,
        decode_threads: int = 0,
        cancel: Optional[CancelToken] = None,
        progress: Any = None,
    ) -> Any:
        """The 35,203 ReLaX-VQA features of a video, as a float64 NumPy array.

        ``input``: a path (str or os.PathLike), ``bytes`` / ``bytearray`` /
        ``memoryview`` holding a video file, or a binary file object
        (``open(p, "rb")``, ``io.BytesIO``). With ``size="WxH"`` (and
        ``pix_fmt=``, default yuv420p; ``fps=``, default 25) the input is
        headerless raw video. ``name`` names a bytes or file-object input in
        results and messages. ``decode_threads``: FFmpeg's (0: its choice).
        ``cancel``: a CancelToken. ``progress``: True for a progress bar, or a
        callable taking ``(done, total)`` samples.
        """
        call = dict(name=name, size=size, pix_fmt=pix_fmt, fps=fps, decode_threads=decode_threads)
        return self.extract_features(input, cancel=cancel, progress=progress, **call).values

    def score(
        self,
        input: Any,
        *,
        segments: Any = None,
        scale: Optional[str] = None,
        name: Optional[str] = None,
        size: Optional[str] = None,
        pix_fmt: Optional[str] = None,
        fps: Any = None,
        decode_threads: int = 0,
        cancel: Optional[CancelToken] = None,
        progress: Any = None,
    ) -> Score:
        """A video's quality score with the model's head (a ``Score``).

        ``segments``: also score windows of this length (``"2s"``,
        ``"500ms"``, or seconds as a number). ``scale``: report on ``"1-5"``,
        ``"0-100"`` or ``"raw"`` instead of the head's own. Other arguments as
        ``extract``.
        """
        call = dict(name=name, size=size, pix_fmt=pix_fmt, fps=fps, decode_threads=decode_threads)
        doc = super().score(input, segments=segments, scale=scale, cancel=cancel, progress=progress, **call)
        return Score(doc)

    def score_features(self, features: Features, *, segments: Any = None, scale: Optional[str] = None) -> Score:
        """Scores features already extracted (a ``Features`` from
        ``extract_features``; ``segments`` needs it made with
        ``per_sample=True``), without decoding the video again. ``segments``
        and ``scale`` as for ``score``."""
        return Score(super().score_features(features, segments=segments, scale=scale))

    def extract_many(
        self,
        inputs: Iterable[Any],
        *,
        workers: int = 1,
        progress: bool = False,
        cancel: Optional[CancelToken] = None,
        **kwargs: Any,
    ) -> Iterator[Tuple[Any, Any]]:
        """Extracts each input, yielding ``(input, features)`` as each
        finishes, or ``(input, exception)`` for one that failed (the others
        go on).

        ``workers``: videos extracted at once (each shares the model's
        threads; 1, the default, is usually fastest: the model already uses
        every core). ``progress=True`` shows a bar over the videos.
        ``cancel``: a CancelToken stopping every video. Other keyword
        arguments go to ``extract`` (``size``, ``pix_fmt``, ``fps``,
        ``decode_threads``, ...). Leaving the loop early (``break``, an
        exception, Ctrl-C) cancels the videos still running.
        """
        return _many(self.extract, inputs, workers, progress, cancel, kwargs)

    def score_many(
        self,
        inputs: Iterable[Any],
        *,
        workers: int = 1,
        progress: bool = False,
        cancel: Optional[CancelToken] = None,
        **kwargs: Any,
    ) -> Iterator[Tuple[Any, Any]]:
        """Scores each input, yielding ``(input, Score)`` as each finishes,
        or ``(input, exception)`` for one that failed. Arguments as
        ``extract_many``; other keyword arguments go to ``score``
        (``segments``, ``scale``, ...)."""
        return _many(self.score, inputs, workers, progress, cancel, kwargs)


def _many(
    call: Callable[..., Any],
    inputs: Iterable[Any],
    workers: int,
    progress: bool,
    cancel: Optional[CancelToken],
    kwargs: dict,
) -> Iterator[Tuple[Any, Any]]:
    if workers < 1:
        raise InputError(f"workers {workers}: give at least 1")
    if "progress" in kwargs:
        raise TypeError("progress= here is a bar over the videos; per-video progress is not shown")
    token = CancelToken()
    total = len(inputs) if hasattr(inputs, "__len__") else None  # type: ignore[arg-type]

    def one(item: Any) -> Any:
        if cancel is not None and cancel.cancelled:
            token.cancel()
        return call(item, cancel=token, **kwargs)

    def gen() -> Iterator[Tuple[Any, Any]]:
        bar = _Bar("videos", "videos") if progress else None
        done = 0
        watcher = _CancelRelay(cancel, token)
        try:
            if workers == 1:
                for item in inputs:
                    try:
                        result: Any = one(item)
                    except Exception as e:  # every failure is a result of its input
                        result = e
                    done += 1
                    if bar is not None:
                        bar(done, total)
                    yield item, result
                    watcher.check()
                return
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="relaxvqa") as pool:
                pending: "dict[Future[Any], Any]" = {}
                it = iter(inputs)
                exhausted = False
                try:
                    while True:
                        while not exhausted and len(pending) < 2 * workers:
                            try:
                                item = next(it)
                            except StopIteration:
                                exhausted = True
                                break
                            pending[pool.submit(one, item)] = item
                        if not pending:
                            break
                        # Short waits, so that Ctrl-C reaches this thread.
                        finished, _ = wait(list(pending), timeout=0.1, return_when=FIRST_COMPLETED)
                        watcher.check()
                        for f in finished:
                            item = pending.pop(f)
                            e = f.exception()
                            done += 1
                            if bar is not None:
                                bar(done, total)
                            yield item, (e if e is not None else f.result())
                finally:
                    # Leaving early: stop what still runs, then wait for it.
                    if pending:
                        token.cancel()
                        for f in pending:
                            f.cancel()
        finally:
            token.cancel()
            if bar is not None:
                bar.close()

    return gen()


class _CancelRelay:
    """Passes a cancelled caller's token on to the batch's own token."""

    def __init__(self, caller: Optional[CancelToken], token: CancelToken) -> None:
        self._caller = caller
        self._token = token

    def check(self) -> None:
        if self._caller is not None and self._caller.cancelled:
            self._token.cancel()


_PathOrData = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]


def _probe_first(input: Any, max_pixels: Optional[int], kwargs: "dict[str, Any]") -> None:
    """Opens a path or bytes and checks them against the limits before a
    model is loaded for them, so that a bad file or a decompression bomb
    fails in milliseconds and costs no memory. File objects are checked by
    the extraction itself (reading one twice may not be possible)."""
    if hasattr(input, "read"):
        return
    _native.probe(
        input,
        max_pixels,
        kwargs.get("size"),
        kwargs.get("pix_fmt"),
        kwargs.get("fps"),
        kwargs.get("name"),
    )


def extract(
    input: _PathOrData,
    *,
    weights: str = "hub",
    threads: Optional[int] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    **kwargs: Any,
) -> Any:
    """One video's 35,203 features (float64 NumPy array) with a model loaded
    for this call only: ``Model(weights=...).extract(input, **kwargs)``.
    Load a ``Model`` once for several videos."""
    _probe_first(input, max_pixels, kwargs)
    model = Model(weights=weights, threads=threads, batch_size=batch_size, max_pixels=max_pixels)
    return model.extract(input, **kwargs)


def extract_features(
    input: _PathOrData,
    *,
    weights: str = "hub",
    threads: Optional[int] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    **kwargs: Any,
) -> Features:
    """``Model(weights=...).extract_features(input, **kwargs)`` with a model
    loaded for this call only."""
    _probe_first(input, max_pixels, kwargs)
    model = Model(weights=weights, threads=threads, batch_size=batch_size, max_pixels=max_pixels)
    return model.extract_features(input, **kwargs)


def extract_to_file(
    input: _PathOrData,
    output: "Union[str, os.PathLike[str]]",
    *,
    weights: str = "hub",
    threads: Optional[int] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    **kwargs: Any,
) -> Features:
    """Writes the feature file ``relaxvqa extract VIDEO -o OUTPUT`` writes
    (``dump=True``: every intermediate, as ``--dump all``), with a model
    loaded for this call only; returns the ``Features``."""
    _probe_first(input, max_pixels, kwargs)
    model = Model(weights=weights, threads=threads, batch_size=batch_size, max_pixels=max_pixels)
    return model.extract_to_file(input, output, **kwargs)


def score(
    input: _PathOrData,
    *,
    head: "Union[str, os.PathLike[str]]" = DEFAULT_HEAD,
    weights: str = "hub",
    threads: Optional[int] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    **kwargs: Any,
) -> Score:
    """One video's quality ``Score`` with a model loaded for this call only:
    ``Model(head=..., weights=...).score(input, **kwargs)`` (``segments``,
    ``scale``, ...)."""
    _probe_first(input, max_pixels, kwargs)
    model = Model(head=head, weights=weights, threads=threads, batch_size=batch_size, max_pixels=max_pixels)
    return model.score(input, **kwargs)
