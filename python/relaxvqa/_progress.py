"""The progress bar behind ``progress=True``: tqdm when it is installed (it
is not a dependency), else one line on stderr rewritten in place."""

import sys
import time
from typing import Any, Callable, Optional, Tuple


class Bar:
    """A progress bar called as ``bar(done, total)``; ``close()`` ends it."""

    def __init__(self, desc: str, unit: str) -> None:
        self._desc = desc
        self._unit = unit
        self._tqdm = None
        self._done = 0
        self._last = 0.0
        self._shown = False
        try:
            from tqdm.auto import tqdm  # type: ignore[import-not-found]
        except ImportError:
            pass
        else:
            self._tqdm = tqdm(desc=desc, unit=unit, total=None, leave=False)

    def __call__(self, done: int, total: Optional[int] = None) -> None:
        if self._tqdm is not None:
            if total is not None and self._tqdm.total != total:
                self._tqdm.total = total
                self._tqdm.refresh()
            self._tqdm.update(done - self._done)
            self._done = done
            return
        self._done = done
        now = time.monotonic()
        if now - self._last < 0.2 and (total is None or done < total):
            return
        self._last = now
        of = f"/{total}" if total is not None else ""
        sys.stderr.write(f"\r{self._desc}: {done}{of} {self._unit}")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        elif self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._shown = False


def callback(progress: Any, name: str) -> "Tuple[Optional[Bar], Optional[Callable[..., Any]]]":
    """What a ``progress=`` argument asks for, as ``(bar to close, callback)``:
    None or False for nothing, True for a bar over ``name``'s samples, or a
    callable taking ``(done, total)``."""
    if progress is None or progress is False:
        return None, None
    if progress is True:
        bar = Bar(name, "samples")
        return bar, bar
    if not callable(progress):
        raise TypeError("progress: expected True, False or a callable taking (done, total)")
    return None, progress
