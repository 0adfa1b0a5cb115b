"""Errors: each exception class from a bad input, with the library's message
(the CLI's, less its `relaxvqa: error: ` prefix); nothing crashes the
interpreter. None of these decodes a video to the end."""

import io

import pytest

import relaxvqa
from conftest import NOISE, run_cli


def cli_message(*args: str) -> str:
    r = run_cli(*args)
    assert r.returncode != 0
    line = r.stderr.strip().splitlines()[-1]
    prefix = "relaxvqa: error: "
    assert line.startswith(prefix), line
    return line[len(prefix):]


def test_class_tree():
    for cls in (relaxvqa.DecodeError, relaxvqa.WeightsError, relaxvqa.ModelError, relaxvqa.InputError,
                relaxvqa.FileError, relaxvqa.CancelledError):
        assert issubclass(cls, relaxvqa.Error)
    assert issubclass(relaxvqa.Error, Exception)
    assert issubclass(relaxvqa.InputError, ValueError)
    assert issubclass(relaxvqa.FileError, OSError)
    assert issubclass(relaxvqa.RefusedError, relaxvqa.DecodeError)


def test_missing_file_is_decode_error(model, tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(relaxvqa.DecodeError) as e:
        model.extract(missing)
    assert str(e.value) == cli_message("extract", str(missing), "--weights", "synthetic", "-o",
                                       str(tmp_path / "o.safetensors"))


def test_text_file_is_decode_error(model, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(relaxvqa.DecodeError) as e:
        model.extract(str(text))
    assert str(e.value) == cli_message("extract", str(text), "--weights", "synthetic", "-o",
                                       str(tmp_path / "o.safetensors"))
    with pytest.raises(relaxvqa.DecodeError):
        model.extract(text.read_bytes())
    with pytest.raises(relaxvqa.DecodeError):
        model.extract(io.BytesIO(b""))


def test_bad_weights_is_weights_error(tmp_path):
    with pytest.raises(relaxvqa.WeightsError) as e:
        relaxvqa.Model(weights=str(tmp_path / "no-such-weights.safetensors"))
    assert "no-such-weights" in str(e.value)


def test_unknown_head_is_input_error():
    with pytest.raises(relaxvqa.InputError) as e:
        relaxvqa.Model(weights="synthetic", head="no-such-head")
    assert str(e.value).startswith("no-such-head: neither a head file nor a published head")


def test_damaged_head_file_is_model_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a head")
    with pytest.raises(relaxvqa.ModelError):
        relaxvqa.Model(weights="synthetic", head=str(bad))


@pytest.mark.parametrize("segments", ["0s", "abc", -1.0, 0, float("nan"), [2]])
def test_bad_segments_is_input_error(scored_model, segments):
    with pytest.raises(relaxvqa.InputError) as e:
        scored_model.score(str(NOISE), segments=segments)
    assert "segments" in str(e.value)


def test_bad_arguments(model, scored_model):
    with pytest.raises(relaxvqa.InputError, match="without a head"):
        model.score(str(NOISE))
    with pytest.raises(relaxvqa.InputError, match="scale"):
        scored_model.score(str(NOISE), scale="1-10")
    with pytest.raises(relaxvqa.InputError, match="size"):
        model.extract(str(NOISE), size="wide")
    with pytest.raises(relaxvqa.InputError, match="size"):
        model.extract(str(NOISE), fps=25)
    with pytest.raises(relaxvqa.InputError, match="fps"):
        model.extract(str(NOISE), size="64x48", fps="fast")
    with pytest.raises(relaxvqa.InputError):
        relaxvqa.Model(weights="synthetic", threads=0)
    with pytest.raises(relaxvqa.InputError):
        relaxvqa.Model(weights="synthetic", batch_size=0)
    with pytest.raises(relaxvqa.InputError):
        list(model.extract_many([], workers=0))
    with pytest.raises(TypeError):
        model.extract(42)
    with pytest.raises(TypeError, match="binary mode"):
        with open(NOISE, encoding="latin-1") as f:
            model.extract(f)
    with pytest.raises(TypeError):
        model.extract(str(NOISE), progress="yes")
    with pytest.raises(OverflowError):
        relaxvqa.Model(weights="synthetic", threads=-1)


def test_file_object_errors_are_decode_errors(model):
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def read(self, n=-1):
            raise OSError("disk on fire")

        def seek(self, pos, whence=0):
            return 0

    with pytest.raises(relaxvqa.DecodeError):
        model.extract(Broken(), name="broken.mp4")


def test_unwritable_output(model, tmp_path):
    with pytest.raises(relaxvqa.Error):
        model.extract_to_file(str(NOISE), tmp_path / "no" / "such" / "dir" / "out.safetensors")


def test_cancelled_token_is_cancelled_error(model):
    token = relaxvqa.CancelToken()
    token.cancel()
    assert token.cancelled
    with pytest.raises(relaxvqa.CancelledError) as e:
        model.extract(str(NOISE), cancel=token)
    assert str(e.value) == "cancelled"
