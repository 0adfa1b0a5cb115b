"""Shared fixtures of the Python tests: the fixture videos (tests/data), the CLI
binary to compare with, a synthetic-weights model (loaded once), a synthetic
head file, and the features of testsrc2_noise (extracted once per run, so
that every test comparing with them costs no extraction of its own)."""

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import relaxvqa

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
VIDEOS = DATA / "videos"
REFERENCE = DATA / "reference"
NOISE = VIDEOS / "testsrc2_noise.mp4"


def cli_path() -> Path:
    """The command-line binary (``RELAXVQA_CLI``, else target/debug)."""
    return Path(os.environ.get("RELAXVQA_CLI", REPO / "target" / "debug" / "relaxvqa"))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    exe = cli_path()
    if not exe.is_file():
        pytest.fail(f"{exe}: build the CLI first (cargo build -p relaxvqa-cli) or set RELAXVQA_CLI")
    env = dict(os.environ, RELAXVQA_LOG="error")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env)


def write_synthetic_head(path: Path) -> None:
    """Writes the test head (synthetic weights, the KoNViD-1k imputer and
    scaler of tests/data) with relaxvqa-fixtures' ``synthetic_head`` program
    (``RELAXVQA_SYNTHETIC_HEAD``, else target/debug): a test helper, so it
    is not in the package."""
    exe = Path(os.environ.get("RELAXVQA_SYNTHETIC_HEAD", REPO / "target" / "debug" / "synthetic_head"))
    if not exe.is_file():
        pytest.fail(f"{exe}: build it first (cargo test --workspace --no-run builds it)")
    r = subprocess.run([str(exe), str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def read_safetensors(path: Path) -> dict:
    """The tensors of a .safetensors file as NumPy arrays (the format: an
    8-byte little-endian header length, a JSON header, the raw data)."""
    dtypes = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4", "U8": "u1"}
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


@pytest.fixture(scope="session", autouse=True)
def _data_present():
    if not NOISE.is_file():
        pytest.exit(f"{NOISE}: the test data is missing (tests/data of the checkout)", returncode=2)


@pytest.fixture(scope="session")
def model() -> relaxvqa.Model:
    return relaxvqa.Model(weights="synthetic")


@pytest.fixture(scope="session")
def head_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("head") / "synthetic_head.safetensors"
    write_synthetic_head(path)
    return path


@pytest.fixture(scope="session")
def scored_model(head_file) -> relaxvqa.Model:
    return relaxvqa.Model(weights="synthetic", head=str(head_file))


@pytest.fixture(scope="session")
def noise_values(model) -> np.ndarray:
    """testsrc2_noise's features through ``Model.extract`` on its path."""
    return model.extract(str(NOISE))


@pytest.fixture(scope="session")
def cli_noise_values(tmp_path_factory) -> np.ndarray:
    """testsrc2_noise's features as the CLI writes them."""
    out = tmp_path_factory.mktemp("cli") / "noise.safetensors"
    r = run_cli("extract", str(NOISE), "--weights", "synthetic", "--quiet", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return read_safetensors(out)["video.features"]


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory) -> Path:
    """A 60-second clip (small frames): long enough to cancel mid-way."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("the ffmpeg command is not installed (scripts/setup.sh installs it)")
    path = tmp_path_factory.mktemp("long") / "long60.mp4"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=60",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-y", str(path)]
    subprocess.run(cmd, check=True)
    return path


def compare_tool() -> list:
    return [sys.executable, str(REPO / "tools" / "compare_features.py")]
