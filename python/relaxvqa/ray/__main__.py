"""``python -m relaxvqa.ray``: a dataset on a Ray cluster, from the shell.

    python -m relaxvqa.ray extract --list videos.csv --out-dir feats --weights hub --address auto
    python -m relaxvqa.ray score --list videos.csv --model konvid-1k --output scores.csv --address auto

Progress lines and errors go to stderr, the summary to stdout (``--json``:
one JSON document). Exit status as ``relaxvqa``'s: 0 every video succeeded,
1 an error or every video failed, 3 some failed (listed in failures.csv, or
with an ``error`` in the scores CSV).
"""

import argparse
import json
import sys
from typing import Any, List, Optional

from .. import DEFAULT_HEAD, DEFAULT_MAX_PIXELS
from .._errors import Error


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="*", metavar="VIDEO", help="video files or folders of videos")
    p.add_argument("--list", metavar="CSV", help="a CSV with a column of video paths")
    p.add_argument("--path-column", metavar="NAME", help="the CSV column holding the paths")
    p.add_argument("--video-dir", metavar="DIR", help="folder relative list entries are resolved against")
    p.add_argument("--ext", metavar="EXT", help="extension appended to list entries that have none")
    p.add_argument("--weights", default="hub", metavar="SRC", help="backbone weights (hub, synthetic, a path)")
    p.add_argument("--force", action="store_true", help="recompute videos already done")
    p.add_argument("--address", metavar="ADDR", help="the Ray cluster (auto, HOST:PORT; default: a local one)")
    p.add_argument("--concurrency", type=int, metavar="N", help="workers (default: as the cluster's CPUs hold)")
    p.add_argument("--threads-per-worker", type=int, metavar="N", help="each worker's threads (default: up to 4)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="images per network batch")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N", help="0: no limit")
    p.add_argument("--max-attempts", type=int, default=3, metavar="N", help="tries of a video whose worker dies")
    p.add_argument("--size", metavar="WxH", help="raw video: frame size")
    p.add_argument("--pix-fmt", metavar="FMT", help="raw video: pixel format (default yuv420p)")
    p.add_argument("--fps", metavar="RATE", help="raw video: frame rate (default 25)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON document")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m relaxvqa.ray", description="ReLaX-VQA over a dataset on a Ray cluster."
    )
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extract", help="features of every video (as relaxvqa extract --list)")
    _common(e)
    e.add_argument("--out-dir", required=True, metavar="DIR", help="where the outputs go")
    e.add_argument("--f32", action="store_true", help="store per-video features as float32")
    s = sub.add_parser("score", help="scores of every video (as relaxvqa score --list --output)")
    _common(s)
    s.add_argument("--model", default=DEFAULT_HEAD, metavar="NAME|FILE", help="the quality head")
    s.add_argument("-o", "--output", required=True, metavar="CSV", help="the scores CSV")
    s.add_argument("--scale", metavar="SCALE", help="1-5, 0-100 or raw")
    s.add_argument("--segments", metavar="DURATION", help="also score windows of this length (e.g. 2s)")
    return p


def _plain(v: Any) -> Any:
    return str(v) if hasattr(v, "__fspath__") else v


def main(argv: Optional[List[str]] = None) -> int:
    a = _parser().parse_args(argv)
    from . import extract_dataset, score_dataset

    videos: Any = a.list if a.list is not None else a.videos
    common = dict(
        weights=a.weights,
        concurrency=a.concurrency,
        threads_per_worker=a.threads_per_worker,
        address=a.address,
        force=a.force,
        path_column=a.path_column,
        video_dir=a.video_dir,
        ext=a.ext,
        size=a.size,
        pix_fmt=a.pix_fmt,
        fps=a.fps,
        batch_size=a.batch_size,
        max_pixels=a.max_pixels or None,
        max_attempts=a.max_attempts,
        progress=not (a.quiet or a.json),
    )
    try:
        if a.list is not None and a.videos:
            raise _usage("give either --list CSV or VIDEO arguments, not both")
        if a.list is None and not a.videos:
            raise _usage("no videos: give --list CSV or VIDEO arguments")
        if a.command == "extract":
            r = extract_dataset(videos, a.out_dir, f32=a.f32, **common)  # type: ignore[arg-type]
            if a.json:
                doc = {
                    "schema": "relaxvqa.ray.extract/1",
                    "out_dir": str(r.out_dir),
                    "done": r.done,
                    "skipped": r.skipped,
                    "failed": r.failed,
                    "combined": {k: _plain(v) for k, v in r.combined.items()},
                    "seconds": r.seconds,
                    "workers": r.workers,
                    "threads_per_worker": r.threads_per_worker,
                    "retries": r.retries,
                    "deaths": r.deaths,
                    "nodes": r.nodes,
                    "videos": [{k: _plain(v) for k, v in o.items()} for o in r.outcomes],
                }
                print(json.dumps(doc, indent=2))
            else:
                print(
                    f"{r.total} videos: {r.done} extracted, {r.skipped} already done, {r.failed} failed "
                    f"-> {r.out_dir} ({r.seconds:.1f} s, {r.workers} workers x {r.threads_per_worker} threads"
                    f"{', %d retried' % r.retries if r.retries else ''})"
                )
                if r.failed:
                    print(f"failures listed in {r.out_dir / 'failures.csv'}")
            return r.exit_status
        s = score_dataset(
            videos,
            a.output,
            head=a.model,
            scale=a.scale,
            segments=a.segments,
            **common,  # type: ignore[arg-type]
        )
        if a.json:
            doc = {
                "schema": "relaxvqa.ray.score/1",
                "output": str(s.output),
                "model": s.model,
                "scale": s.scale,
                "scored": s.scored,
                "skipped": s.skipped,
                "failed": s.failed,
                "seconds": s.seconds,
                "retries": s.retries,
                "videos": [{k: _plain(v) for k, v in o.items()} for o in s.outcomes],
            }
            print(json.dumps(doc, indent=2))
        else:
            print(
                f"{s.total} videos: {s.scored} scored, {s.skipped} already in {s.output}, {s.failed} failed "
                f"({s.seconds:.1f} s, {s.workers} workers x {s.threads_per_worker} threads)"
            )
        return s.exit_status
    except Error as e:
        print(f"relaxvqa: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("relaxvqa: interrupted (finished videos are kept: run again to resume)", file=sys.stderr)
        return 130


def _usage(message: str) -> Error:
    from .._errors import InputError

    return InputError(message)


if __name__ == "__main__":
    sys.exit(main())
