"""The dataset plans of ``relaxvqa._native`` (what ``relaxvqa.ray`` drives):
a scoring plan's CSV taking rows from many threads at once."""

import csv
import shutil
import threading

from conftest import NOISE

from relaxvqa import _native

THREADS = 8


def test_score_plan_takes_rows_from_8_threads_at_once(tmp_path, head_file):
    videos = []
    for i in range(4 * THREADS):
        p = tmp_path / f"v{i:02}.mp4"
        shutil.copyfile(NOISE, p)
        videos.append(str(p))
    out = tmp_path / "scores.csv"
    plan = _native.score_plan(str(out), inputs=videos, head=str(head_file), weights="synthetic")
    todo = plan.todo()
    assert len(todo) == len(videos)
    start = threading.Barrier(THREADS)
    errors = []

    def append(k: int) -> None:
        try:
            start.wait(timeout=30)
            for i in todo[k::THREADS]:
                plan.append(i, {"status": "failed", "error": f"test row {i}"})
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=append, args=(k,), daemon=True) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads still appending after 60 s (a deadlock): {stuck}"
    assert errors == []
    plan.close()
    rows = list(csv.DictReader(out.read_text().splitlines()))
    print(f"{len(rows)} rows from {THREADS} threads")
    assert sorted(r["name"] for r in rows) == sorted(f"v{i:02}" for i in range(len(videos)))
    assert all(r["error"] == f"test row {int(r['name'][1:])}" for r in rows)
