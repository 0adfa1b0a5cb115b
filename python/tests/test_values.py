"""Values: Python's features equal the CLI's bit for bit, per-block parity
with the reference fixtures, and every input kind gives the same values."""

import io
import json
import shutil
import subprocess
import threading

import numpy as np
import pytest

import relaxvqa
from conftest import NOISE, REFERENCE, VIDEOS, compare_tool, read_safetensors, run_cli


def assert_bitwise(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    assert ours.shape == theirs.shape == (relaxvqa.FEATURE_LEN,)
    same = (ours.view(np.uint64) == theirs.view(np.uint64)).sum()
    print(f"{what}: {same} of {ours.size} values bit-identical")
    assert same == ours.size, f"{what}: {ours.size - same} values differ"


def test_extract_equals_cli_bit_for_bit(noise_values, cli_noise_values):
    assert noise_values.dtype == np.float64
    assert noise_values.flags.writeable
    assert_bitwise(noise_values, cli_noise_values, "extract(path) vs relaxvqa extract")


def test_features_to_dict_is_the_cli_summary(model, tmp_path):
    """``Features.to_dict()`` and ``relaxvqa extract --json`` are one library
    document: the same fields, and the same values but for the times."""
    ours = model.extract_to_file(str(NOISE), tmp_path / "py.safetensors").to_dict()
    r = run_cli("extract", str(NOISE), "--weights", "synthetic", "--json", "-o", str(tmp_path / "cli.safetensors"))
    assert r.returncode == 0, r.stderr
    theirs = json.loads(r.stdout)
    print(sorted(ours), sorted(theirs))
    assert sorted(ours) == sorted(theirs) and ours["schema"] == "relaxvqa.extract/1"
    assert sorted(ours["timings"]) == sorted(theirs["timings"])
    for key in set(ours) - {"output", "seconds", "timings"}:
        assert ours[key] == theirs[key], key
    assert ours["output"].endswith("py.safetensors") and theirs["output"].endswith("cli.safetensors")
    assert model.extract_features(str(NOISE)).to_dict()["output"] is None


@pytest.mark.parametrize("stem", ["testsrc2_noise", "carphone_pristine"])
def test_dump_file_passes_compare_features(model, tmp_path, stem, noise_values):
    out = tmp_path / f"{stem}.safetensors"
    features = model.extract_to_file(str(VIDEOS / f"{stem}.mp4"), out, dump=True)
    r = subprocess.run([*compare_tool(), str(out), str(REFERENCE / f"{stem}.safetensors")],
                       capture_output=True, text=True)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    written = read_safetensors(out)
    np.testing.assert_array_equal(written["video.features"], features.values)
    assert written["video.sampled_frame_count"].item() == features.sampled_frames
    assert features.dump is not None and "video.features" not in features.dump
    if stem == "testsrc2_noise":
        assert_bitwise(features.values, noise_values, "extract_to_file(dump=True) vs extract")


def test_bytes_input_equals_path(model, noise_values):
    data = NOISE.read_bytes()
    seen = []
    values = model.extract(data, progress=lambda done, total: seen.append((done, total)))
    assert_bitwise(values, noise_values, "extract(bytes) vs extract(path)")
    assert seen and seen[-1][0] == 4, seen  # 4 sampled frames


def test_file_object_input_equals_path(model, noise_values):
    with open(NOISE, "rb") as f:
        values = model.extract(f, progress=True)
    assert_bitwise(values, noise_values, "extract(file object) vs extract(path)")


def test_two_threads_share_one_model(model, noise_values):
    inputs = [str(NOISE), memoryview(bytearray(NOISE.read_bytes())), io.BytesIO(NOISE.read_bytes())]
    results = [None] * len(inputs)

    def work(i):
        try:
            results[i] = model.extract(inputs[i])
        except BaseException as e:  # reported below
            results[i] = e

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, r in zip(["path", "memoryview", "BytesIO"], results):
        assert isinstance(r, np.ndarray), r
        assert_bitwise(r, noise_values, f"thread with {name}")


@pytest.fixture(scope="module")
def noise_score(scored_model):
    return scored_model.score(str(NOISE), segments="1s")


def test_score_equals_cli(noise_score, head_file):
    result = noise_score
    r = run_cli("score", str(NOISE), "--weights", "synthetic", "--model", str(head_file), "--segments", "1s",
                "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    video = json.loads(r.stdout)["videos"][0]
    print(f"python {result.score!r}, cli {video['score']!r}")
    assert result.score == video["score"]
    assert result.scale == video["scale"] == "raw"
    assert [s.to_dict() for s in result.segments] == video["segments"]
    d = result.to_dict()
    assert d["score"] == result.score and d["segments"] == video["segments"]
    assert d["model"] == "synthetic_head" and d["provenance"]["input"] == str(NOISE)
    assert float(result) == result.score
    assert relaxvqa.Score.__name__ in repr(result)
    assert json.loads(result.to_json()) == d and relaxvqa.Score(d) == result
    assert isinstance(result.segments[0], relaxvqa.Segment) and result.segments[0].end > result.segments[0].start
    d["segments"][0]["score"] = -1.0  # to_dict is a copy: the result stays as it was
    assert result.segments[0].score == video["segments"][0]["score"] and result.to_dict() != d


def test_score_features_equals_score(scored_model, noise_score, tmp_path):
    features = scored_model.extract_features(str(NOISE), per_sample=True)
    assert features.per_sample.shape == (features.sampled_frames, relaxvqa.FEATURE_LEN)
    assert features.per_sample.dtype == np.float32
    assert len(features.frame_numbers) == features.sampled_frames
    assert features.info["width"] == 320 and features.info["r_frame_rate"] == "24/1"
    np.testing.assert_array_equal(np.asarray(features), features.values)
    whole = noise_score
    again = scored_model.score_features(features, segments="1s")
    assert again.score == whole.score
    assert [s.score for s in again.segments] == [s.score for s in whole.segments]
    path = tmp_path / "noise.safetensors"
    features.save(path, f32=True)
    assert read_safetensors(path)["video.features"].dtype == np.float32


def test_raw_video_path_and_bytes(model, tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.fail("the ffmpeg command is not installed (scripts/setup.sh installs it)")
    raw = tmp_path / "clip.yuv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10:duration=1",
                    "-pix_fmt", "yuv420p", "-f", "rawvideo", "-y", str(raw)], check=True)
    a = model.extract_features(str(raw), size="96x64", pix_fmt="yuv420p", fps=10)
    b = model.extract(raw.read_bytes(), size="96x64", fps="10/1", name="clip.yuv")
    assert a.info["width"] == 96 and a.frames == 10
    assert_bitwise(b, a.values, "raw bytes vs raw path")


def test_extract_many_yields_results_and_errors(model, noise_values, tmp_path):
    missing = str(tmp_path / "missing.mp4")
    got = dict(model.extract_many([str(NOISE), missing]))
    assert isinstance(got[missing], relaxvqa.DecodeError)
    assert_bitwise(got[str(NOISE)], noise_values, "extract_many")
    # Several workers, inputs that fail fast: every input comes back once.
    bad = [str(tmp_path / f"missing{i}.mp4") for i in range(5)]
    out = list(model.extract_many(iter(bad), workers=3, progress=True))
    assert sorted(i for i, _ in out) == sorted(bad)
    assert all(isinstance(e, relaxvqa.DecodeError) for _, e in out)


def test_score_many(scored_model, tmp_path):
    missing = str(tmp_path / "missing.mp4")
    [(item, e)] = list(scored_model.score_many([missing], segments="2s"))
    assert item == missing and isinstance(e, relaxvqa.DecodeError)
