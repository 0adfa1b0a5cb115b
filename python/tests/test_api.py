"""The public surface: every name of the stub exists, has a docstring, and
``help(relaxvqa.Model)`` shows the signatures. No video is decoded here."""

import ast
import inspect
import pydoc
from pathlib import Path

import relaxvqa

STUB = Path(relaxvqa.__file__).with_name("__init__.pyi")


def stub_names():
    tree = ast.parse(STUB.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            members = [n.name for n in getattr(node, "body", []) if isinstance(n, ast.FunctionDef)]
            out[node.name] = members
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = []
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            # `from ._results import Score as Score`: typed where it is written.
            out.update({a.asname or a.name: [] for a in node.names})
    return out


def test_every_stub_name_exists_with_a_docstring():
    for name, members in stub_names().items():
        assert hasattr(relaxvqa, name), name
        obj = getattr(relaxvqa, name)
        if inspect.isclass(obj) or callable(obj):
            assert obj.__doc__, f"{name} has no docstring"
        for m in members:
            if m.startswith("__") and m != "__init__":
                continue
            assert hasattr(obj, m), f"{name}.{m}"
            if m != "__init__":
                assert getattr(obj, m).__doc__, f"{name}.{m} has no docstring"


def test_all_matches_the_stub():
    names = stub_names()
    for name in relaxvqa.__all__:
        assert name in names, f"{name} is exported but missing from the stub"
    assert (Path(relaxvqa.__file__).parent / "py.typed").is_file()


def test_help_reads_well():
    text = pydoc.render_doc(relaxvqa.Model, renderer=pydoc.plaintext)
    for s in ["extract(self, input: Any, *, name: Optional[str] = None", "score(self, input: Any, *, segments: Any = None",
              "extract_features(self, /, input, *, per_sample=False",
              "extract_many(self, inputs", "weights='hub'", "Ctrl-C"]:
        assert s in text, f"{s!r} not in help(relaxvqa.Model)"


def test_constants_and_helpers():
    assert relaxvqa.FEATURE_LEN == 35203
    assert relaxvqa.DEFAULT_HEAD in relaxvqa.heads()
    assert relaxvqa.parse_duration("500ms") == 0.5
    assert relaxvqa.parse_duration("2s") == 2.0
    assert relaxvqa.__version__


def test_model_properties(model, scored_model):
    assert model.head is None and model.scale is None and model.weights == "synthetic"
    assert model.threads >= 1 and model.batch_size == 8
    assert model.max_pixels == relaxvqa.DEFAULT_MAX_PIXELS
    assert scored_model.head == "synthetic_head" and scored_model.scale == "raw"
    assert "synthetic" in repr(model)
    assert relaxvqa.Model(weights="synthetic", max_pixels=None).max_pixels is None
