"""The exceptions relaxvqa raises. Each carries the library's one-line message
(it names the input and says what is wrong); the class says which kind of
problem it is."""

__all__ = [
    "Error",
    "DecodeError",
    "RefusedError",
    "LimitError",
    "WeightsError",
    "ModelError",
    "InputError",
    "FileError",
    "CancelledError",
]


class Error(Exception):
    """Base class of every relaxvqa error (also raised for internal errors,
    which are bugs: please report them)."""


class DecodeError(Error):
    """The video could not be opened or decoded: missing, not media, damaged
    beyond use, or frames larger than ``max_pixels``."""


class RefusedError(DecodeError):
    """Bytes or a file object refused before they were read as media: a
    playlist (HLS, ffconcat) that names other files or URLs,
    or a container not on the accepted list (``docs/security.md``)."""


class LimitError(DecodeError):
    """The video goes over one of the decoder's limits: frames larger than
    ``max_pixels`` (any input), or, for bytes and file objects, more streams,
    a longer duration or more sampled frames than the untrusted-input
    defaults allow (``docs/security.md``, "Limits"). The message names the
    limit."""


class WeightsError(Error):
    """The backbone weights could not be found, downloaded or read."""


class ModelError(Error):
    """The quality head could not be fetched, read or run, or a score came out
    non-finite."""


class InputError(Error, ValueError):
    """An argument is not what it must be (an unknown head name, a bad
    ``segments``, ``size`` or ``scale``, a model without a head asked to
    score, ...)."""


class FileError(Error, OSError):
    """Reading or writing a file (other than the video) failed."""


class CancelledError(Error):
    """The work was cancelled through a ``CancelToken``."""

# Tracebacks and reprs name them as users import them.
for _cls in (Error, DecodeError, RefusedError, LimitError, WeightsError, ModelError, InputError, FileError, CancelledError):
    _cls.__module__ = "relaxvqa"
del _cls
