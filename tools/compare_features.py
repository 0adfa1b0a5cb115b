#!/usr/bin/env python3
"""Check a `relaxvqa extract --dump all` file against a reference fixture.

usage: compare_features.py OURS.safetensors REFERENCE.safetensors [--features-only | --fragments-only]
  --features-only   check the six feature blocks and the counts only
  --fragments-only  check the counts, patch positions and fragments only
                    (these need no network weights)

Every check prints one line, starting with "ok" or "FAIL", and the last line
reads "N passed, N failed". The exit status is 1 when a check failed (or when
a file cannot be read), 0 otherwise. Needs nothing beyond the Python 3
standard library.

What is checked (see docs/spec/pipeline.md, sections 4 and 5):
  * `video.features`: same length, and each of the six blocks within its bar
    on the relative L2 error ||ours - ref|| / ||ref||;
  * `video.frame_interval`, `video.sampled_frame_count`, `video.pair_count`:
    equal values;
  * for every pair j of the reference: `pair.j.positions` and
    `pair.j.frame_fragment` identical (shape and values), and
    `pair.j.merged_fragment` of the same length with at least 99.5% of its
    bytes equal.
"""
import json
import math
import struct
import sys
from array import array
from collections import namedtuple

USAGE = __doc__.split("\n\n")[1]

# The six blocks of the 35,203-value vector, in order (spec section 5):
# name, number of values, largest accepted relative L2 error. The merged
# fragment blocks get a looser bar: their input is rounded 8-bit data built
# from the optical flow.
FEATURE_BLOCKS = (
    ("frame_resnet_layerstack", 13120, 1e-3),
    ("frame_vit_pool", 2304, 1e-3),
    ("frag_resnet_layerstack", 13120, 1e-3),
    ("merged_resnet_pool", 2051, 3e-3),
    ("frag_vit_pool", 2304, 1e-3),
    ("merged_vit_pool", 2304, 3e-3),
)
FEATURE_WIDTH = 35203
assert sum(length for _, length, _ in FEATURE_BLOCKS) == FEATURE_WIDTH

COUNT_TENSORS = ("video.frame_interval", "video.sampled_frame_count", "video.pair_count")
EXACT_PAIR_TENSORS = ("positions", "frame_fragment")
MERGED_MIN_SHARE = 0.995

# safetensors dtype -> (array typecode, item size in bytes). Other dtypes
# (F16, BF16, BOOL, ...) are refused.
ARRAY_TYPES = {
    "F64": ("d", 8),
    "F32": ("f", 4),
    "I64": ("q", 8),
    "I32": ("i", 4),
    "U32": ("I", 4),
    "U8": ("B", 1),
}

Tensor = namedtuple("Tensor", "shape values")


class InputError(Exception):
    """A file that cannot be compared; reported on stderr, exit status 1."""


def read_safetensors(path):
    """All tensors of a safetensors file as {name: Tensor(shape, values)}.

    `shape` is the list from the header, `values` a flat array in row-major
    order. The `__metadata__` entry is skipped.
    """
    try:
        with open(path, "rb") as stream:
            header_size = struct.unpack("<Q", stream.read(8))[0]
            header = json.loads(stream.read(header_size))
            payload = stream.read()
    except (OSError, struct.error, ValueError) as error:
        raise InputError(f"{path}: cannot read as safetensors ({error})") from error
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = entry["dtype"]
        if dtype not in ARRAY_TYPES:
            raise InputError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        typecode, itemsize = ARRAY_TYPES[dtype]
        values = array(typecode)
        if values.itemsize != itemsize:
            raise InputError(f"{path}: this Python has no {itemsize}-byte array type for {dtype}")
        begin, end = entry["data_offsets"]
        values.frombytes(payload[begin:end])
        if sys.byteorder == "big":
            values.byteswap()  # safetensors stores little-endian data
        tensors[name] = Tensor(entry["shape"], values)
    return tensors


def reference_tensor(reference, name, path):
    """A tensor the reference must hold; a missing one stops the comparison."""
    if name not in reference:
        raise InputError(f"{path}: the reference has no tensor {name}")
    return reference[name]


def relative_l2_error(ours, ref):
    """||ours - ref|| / ||ref||, or ||ours - ref|| when ref is all zero.

    The difference runs over the common length; the norm of ref over all of it.
    """
    squared_diff = 0.0
    for a, b in zip(ours, ref):
        squared_diff += (float(a) - float(b)) ** 2
    squared_ref = 0.0
    for b in ref:
        squared_ref += float(b) ** 2
    if squared_ref > 0:
        return math.sqrt(squared_diff) / math.sqrt(squared_ref)
    return math.sqrt(squared_diff)


class Tally:
    """Prints one line per check and counts the outcomes."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def record(self, ok, text):
        print(("ok    " if ok else "FAIL  ") + text)
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def summary(self):
        return f"{self.passed} passed, {self.failed} failed"


def check_features(ours, reference, ours_path, ref_path, tally):
    if "video.features" not in ours:
        raise InputError("no video.features in " + ours_path)
    mine = ours["video.features"].values
    theirs = reference_tensor(reference, "video.features", ref_path).values
    tally.record(len(mine) == len(theirs),
                 f"video.features length {len(mine)} (reference {len(theirs)})")
    start = 0
    for name, length, bar in FEATURE_BLOCKS:
        stop = start + length
        error = relative_l2_error(mine[start:stop], theirs[start:stop])
        tally.record(error <= bar, f"block {name}: relative L2 error {error:.3e} (bar {bar:g})")
        start = stop


def check_counts(ours, reference, ref_path, tally):
    for name in COUNT_TENSORS:
        if name not in ours:
            tally.record(False, f"{name} missing")
            continue
        mine = list(ours[name].values)
        theirs = list(reference_tensor(reference, name, ref_path).values)
        tally.record(mine == theirs, f"{name} {mine} (reference {theirs})")


def check_pair(ours, reference, ref_path, j, tally):
    for part in EXACT_PAIR_TENSORS:
        name = f"pair.{j}.{part}"
        if name not in ours:
            tally.record(False, f"{name} missing")
            continue
        mine = ours[name]
        theirs = reference_tensor(reference, name, ref_path)
        same = mine.shape == theirs.shape and list(mine.values) == list(theirs.values)
        if same:
            tally.record(True, f"{name} identical")
        else:
            tally.record(False, f"{name} differs (shape {mine.shape} vs {theirs.shape})")

    name = f"pair.{j}.merged_fragment"
    if name not in ours:
        tally.record(False, f"{name} missing")
        return
    mine = ours[name].values
    theirs = reference_tensor(reference, name, ref_path).values
    equal_bytes = sum(1 for a, b in zip(mine, theirs) if a == b)
    share = equal_bytes / max(1, len(theirs))
    ok = share >= MERGED_MIN_SHARE and len(mine) == len(theirs)
    tally.record(ok, f"{name}: {share:.2%} of bytes identical (bar 99.5%)")


def check_fragments(ours, reference, ref_path, tally):
    pair_count = reference_tensor(reference, "video.pair_count", ref_path).values
    if len(pair_count) == 0:
        raise InputError(f"{ref_path}: video.pair_count is empty")
    for j in range(int(pair_count[0])):
        check_pair(ours, reference, ref_path, j, tally)


def parse_command_line(argv):
    """(ours, reference, features_only, fragments_only), or None on bad usage.

    Arguments starting with `--` are options; unknown ones are ignored (with a
    note on stderr). Giving both options leaves only the count checks.
    """
    files = []
    features_only = fragments_only = False
    for arg in argv:
        if not arg.startswith("--"):
            files.append(arg)
        elif arg == "--features-only":
            features_only = True
        elif arg == "--fragments-only":
            fragments_only = True
        else:
            print(f"compare_features.py: ignoring unknown option {arg}", file=sys.stderr)
    if len(files) != 2:
        return None
    return files[0], files[1], features_only, fragments_only


def main(argv):
    parsed = parse_command_line(argv)
    if parsed is None:
        print(USAGE, file=sys.stderr)
        return 1
    ours_path, ref_path, features_only, fragments_only = parsed
    tally = Tally()
    try:
        ours = read_safetensors(ours_path)
        reference = read_safetensors(ref_path)
        if not fragments_only:
            check_features(ours, reference, ours_path, ref_path, tally)
        check_counts(ours, reference, ref_path, tally)
        if not features_only:
            check_fragments(ours, reference, ref_path, tally)
    except InputError as error:
        sys.stdout.flush()
        print(f"compare_features.py: {error}", file=sys.stderr)
        return 1
    print(tally.summary())
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
