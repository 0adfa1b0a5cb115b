"""Type stubs of the relaxvqa package (the native classes included)."""

import os
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._results import Score as Score
from ._results import Segment as Segment

__version__: str
FEATURE_LEN: int
DEFAULT_HEAD: str
DEFAULT_MAX_PIXELS: int
DEFAULT_BATCH_SIZE: int

# A video: a path, a video file's bytes, or a binary file object.
VideoInput = Union[str, os.PathLike[str], bytes, bytearray, memoryview, IO[bytes]]
PathLike = Union[str, os.PathLike[str]]
FrameRate = Union[str, int, float]
Progress = Union[bool, None, Callable[[int, Optional[int]], Any]]

class Error(Exception):
    """Base class of every relaxvqa error."""

class DecodeError(Error):
    """The video could not be opened or decoded."""

class RefusedError(DecodeError):
    """Bytes or a file object refused before they were read as media: a
    playlist or manifest, or a container not on the accepted list."""

class LimitError(DecodeError):
    """The video goes over a decoder limit (frame size; for bytes and file
    objects also streams, duration and sampled frames)."""

class WeightsError(Error):
    """The backbone weights could not be found, downloaded or read."""

class ModelError(Error):
    """The quality head could not be fetched, read or run."""

class InputError(Error, ValueError):
    """An argument is not what it must be."""

class FileError(Error, OSError):
    """Reading or writing a file (other than the video) failed."""

class CancelledError(Error):
    """The work was cancelled through a CancelToken."""

class CancelToken:
    """A flag that stops running work (``cancel=``)."""

    def __init__(self) -> None: ...
    def cancel(self) -> None:
        """Asks every call holding this token to stop."""
    @property
    def cancelled(self) -> bool:
        """True once ``cancel()`` was called."""

class Features:
    """A video's features and how they were made."""

    @property
    def values(self) -> npt.NDArray[np.float64]: ...
    @property
    def per_sample(self) -> Optional[npt.NDArray[np.float32]]: ...
    @property
    def frame_numbers(self) -> Optional[List[int]]: ...
    @property
    def dump(self) -> Optional[Dict[str, np.ndarray]]: ...
    @property
    def input(self) -> str: ...
    @property
    def frames(self) -> int: ...
    @property
    def sampled_frames(self) -> int: ...
    @property
    def pairs(self) -> int: ...
    @property
    def frame_interval(self) -> int: ...
    @property
    def fps(self) -> float: ...
    @property
    def warnings(self) -> List[str]: ...
    @property
    def info(self) -> Dict[str, Any]: ...
    @property
    def timings(self) -> Dict[str, float]: ...
    @property
    def provenance(self) -> Dict[str, Any]: ...
    def to_dict(self) -> Dict[str, Any]:
        """What ``relaxvqa extract --json`` prints about this extraction."""
    def save(self, path: PathLike, *, f32: bool = False) -> None: ...
    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray: ...
    def __len__(self) -> int: ...

class Model:
    """ReLaX-VQA: both backbones and, optionally, a quality head, loaded once."""

    def __init__(
        self,
        head: Optional[PathLike] = None,
        weights: str = "hub",
        threads: Optional[int] = None,
        batch_size: int = 8,
        max_pixels: Optional[int] = ...,
    ) -> None: ...
    def extract(
        self,
        input: VideoInput,
        *,
        name: Optional[str] = None,
        size: Optional[str] = None,
        pix_fmt: Optional[str] = None,
        fps: Optional[FrameRate] = None,
        decode_threads: int = 0,
        cancel: Optional[CancelToken] = None,
        progress: Progress = None,
    ) -> npt.NDArray[np.float64]: ...
    def extract_features(
        self,
        input: VideoInput,
        *,
        per_sample: bool = False,
        dump: bool = False,
        name: Optional[str] = None,
        size: Optional[str] = None,
        pix_fmt: Optional[str] = None,
        fps: Optional[FrameRate] = None,
        decode_threads: int = 0,
        cancel: Optional[CancelToken] = None,
        progress: Progress = None,
    ) -> Features: ...
    def extract_to_file(
        self,
        input: VideoInput,
        output: PathLike,
        *,
        dump: bool = False,
        f32: bool = False,
        name: Optional[str] = None,
        size: Optional[str] = None,
        pix_fmt: Optional[str] = None,
        fps: Optional[FrameRate] = None,
        decode_threads: int = 0,
        cancel: Optional[CancelToken] = None,
        progress: Progress = None,
    ) -> Features: ...
    def score(
        self,
        input: VideoInput,
        *,
        segments: Union[str, float, None] = None,
        scale: Optional[str] = None,
        name: Optional[str] = None,
        size: Optional[str] = None,
        pix_fmt: Optional[str] = None,
        fps: Optional[FrameRate] = None,
        decode_threads: int = 0,
        cancel: Optional[CancelToken] = None,
        progress: Progress = None,
    ) -> Score: ...
    def score_features(
        self, features: Features, *, segments: Union[str, float, None] = None, scale: Optional[str] = None
    ) -> Score: ...
    def extract_many(
        self,
        inputs: Iterable[Any],
        *,
        workers: int = 1,
        progress: bool = False,
        cancel: Optional[CancelToken] = None,
        **kwargs: Any,
    ) -> Iterator[Tuple[Any, Union[npt.NDArray[np.float64], BaseException]]]: ...
    def score_many(
        self,
        inputs: Iterable[Any],
        *,
        workers: int = 1,
        progress: bool = False,
        cancel: Optional[CancelToken] = None,
        **kwargs: Any,
    ) -> Iterator[Tuple[Any, Union[Score, BaseException]]]: ...
    @property
    def weights(self) -> str: ...
    @property
    def head(self) -> Optional[str]: ...
    @property
    def head_source(self) -> Optional[str]: ...
    @property
    def scale(self) -> Optional[str]: ...
    @property
    def threads(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def max_pixels(self) -> Optional[int]: ...

def extract(
    input: VideoInput,
    *,
    weights: str = "hub",
    threads: Optional[int] = None,
    batch_size: int = 8,
    max_pixels: Optional[int] = ...,
    **kwargs: Any,
) -> npt.NDArray[np.float64]: ...
def extract_features(
    input: VideoInput,
    *,
    weights: str = "hub",
    threads: Optional[int] = None,
    batch_size: int = 8,
    max_pixels: Optional[int] = ...,
    **kwargs: Any,
) -> Features: ...
def extract_to_file(
    input: VideoInput,
    output: PathLike,
    *,
    weights: str = "hub",
    threads: Optional[int] = None,
    batch_size: int = 8,
    max_pixels: Optional[int] = ...,
    **kwargs: Any,
) -> Features: ...
def score(
    input: VideoInput,
    *,
    head: PathLike = ...,
    weights: str = "hub",
    threads: Optional[int] = None,
    batch_size: int = 8,
    max_pixels: Optional[int] = ...,
    **kwargs: Any,
) -> Score: ...
def heads() -> List[str]:
    """The names of the published quality heads."""

def parse_duration(text: str) -> float:
    """Seconds in a window length such as ``"2s"`` or ``"500ms"``."""
