"""What ``Model.score`` returns: the library's score document (the one the
command line's ``score --json`` and the service print) as Python objects.

The native module hands over the document as a dict; these classes only give
it attributes, so every front end reports the same fields.
"""

import json
from typing import Any, Dict, List, NamedTuple, Optional


class Segment(NamedTuple):
    """The score of one time window of a video (``Score.segments``)."""

    start: float
    """Start, seconds."""
    end: float
    """End, seconds (the window's nominal end, or the video's end)."""
    frames: int
    """Sampled frames in the window."""
    pairs: int
    """Of which have a pair."""
    score: float
    """The window's score, on the result's scale."""

    def to_dict(self) -> Dict[str, Any]:
        """``{"start", "end", "frames", "pairs", "score"}``."""
        return dict(self._asdict())


class Score:
    """A video's quality score (``Model.score``): the whole video's, per-window
    scores when asked for, and how it was made. ``float(result)`` is
    ``result.score``."""

    __slots__ = ("_doc", "_segments")

    def __init__(self, doc: Dict[str, Any]) -> None:
        self._doc = doc
        segments = doc.get("segments")
        self._segments = None if segments is None else [Segment(**s) for s in segments]

    @property
    def score(self) -> float:
        """The whole video's score."""
        return float(self._doc["score"])

    @property
    def scale(self) -> str:
        """The scale of every score here: ``"mos_1_5"``, ``"mos_0_100"`` or ``"raw"``."""
        return str(self._doc["scale"])

    @property
    def segments(self) -> Optional[List[Segment]]:
        """Per-window scores (``segments=`` given), else None."""
        return None if self._segments is None else list(self._segments)

    @property
    def warnings(self) -> List[str]:
        """What a user should know about the result."""
        return list(self._doc["warnings"])

    @property
    def model(self) -> str:
        """The head that scored."""
        return str(self._doc["model"])

    @property
    def model_source(self) -> str:
        """Where the head came from."""
        return str(self._doc["model_source"])

    @property
    def input(self) -> str:
        """The input's name."""
        return str(self._doc["provenance"]["input"])

    @property
    def provenance(self) -> Dict[str, Any]:
        """What was scored, with which weights, by which version."""
        return dict(self._doc["provenance"])

    def to_dict(self) -> Dict[str, Any]:
        """Everything as plain Python objects: score, scale, segments (a list
        of dicts or None), warnings, model, model_source, provenance."""
        return json.loads(json.dumps(self._doc))

    def to_json(self) -> str:
        """``to_dict()`` as a JSON string."""
        return json.dumps(self._doc, separators=(",", ":"), allow_nan=False)

    def __float__(self) -> float:
        return self.score

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Score) and self._doc == other._doc

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        segments = "None" if self._segments is None else str(len(self._segments))
        return (
            f"Score(score={self.score!r}, scale={self.scale!r}, model={self.model!r}, "
            f"input={self.input!r}, segments={segments})"
        )
