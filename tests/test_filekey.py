"""The experiment file as it enters the run cache's key (:mod:`.filekey`):
a sweep that grows keeps the key; every other edit changes it. Real sessions
that grow a sweep are in test_cache.py."""

from __future__ import annotations

import enum
import hashlib
import textwrap
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from pytest_experiments.filekey import FileKey, experiment_file_key, file_digest, file_key
from pytest_experiments.ids import described_in_full

literals = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="ascii", categories=("L", "N")), max_size=6),
    st.booleans(),
    st.none(),
)
columns = st.lists(literals, min_size=1, max_size=5)
param_names = st.sampled_from(["alpha", "n", "depth", "kernel"])

TEMPLATE = """\
import numpy as np
from pytest_experiments import experiment as exp
import pytest_experiments


@exp(params={grid}, expect={{"acc": ">= 0.5"}})
def exp_grid(params, data):
    \"\"\"The grid.\"\"\"
    lr = 0.1  # a default in the body
    return {{"acc": lr}}


@pytest_experiments.experiment(
    params={cases},
    repeats=2,
)
def exp_cases(params):
    return {{"acc": 1.0}}
"""


def source(grid: dict[str, list[object]], cases: list[dict[str, object]]) -> bytes:
    return TEMPLATE.format(grid=repr(grid), cases=repr(cases)).encode()


def digest(text: bytes) -> str:
    return file_key(text).digest


@given(
    st.dictionaries(param_names, columns, min_size=1, max_size=3),
    st.lists(st.dictionaries(param_names, literals, max_size=2), min_size=1, max_size=4),
    literals,
    st.dictionaries(param_names, literals, max_size=2),
    st.data(),
)
def test_a_sweep_that_grows_keeps_the_key(
    grid: dict[str, list[object]],
    cases: list[dict[str, object]],
    value: object,
    case: dict[str, object],
    data: st.DataObject,
) -> None:
    before = source(grid, cases)
    column = data.draw(st.sampled_from(sorted(grid)))
    grown_grid = {k: [*v, value] if k == column else v for k, v in grid.items()}
    at = data.draw(st.integers(0, len(cases)))
    grown_cases = [*cases[:at], case, *cases[at:]]
    assert digest(source(grown_grid, grown_cases)) == digest(before)
    # Laid out over several lines, the key is the same too.
    wrapped = repr(grown_grid).replace(", ", ",\n    ")
    text = TEMPLATE.format(grid=wrapped, cases=repr(grown_cases)).encode()
    assert digest(text) == digest(before)


EDITS = [
    ("lr = 0.1", "lr = 0.2"),  # a default in the body
    ("# a default in the body", "# a comment"),
    ('">= 0.5"', '">= 0.6"'),  # expect=
    ("repeats=2", "repeats=3"),
    ('"""The grid."""', '"""A grid."""'),
    ("import numpy as np\n", "import numpy as np\nSCALE = 2\n"),
]


def test_every_other_edit_changes_the_key() -> None:
    base = source({"n": [1, 2]}, [{"alpha": 0.1}])
    for old, new in EDITS:
        assert old.encode() in base, old
        assert digest(base.replace(old.encode(), new.encode(), 1)) != digest(base), (old, new)


def key_of(params: str, *, body: str = "return {'x': 1.0}") -> FileKey:
    text = f"""
        from pytest_experiments import experiment

        @experiment(params={params})
        def exp_x(params):
            {body}
    """
    return file_key(textwrap.dedent(text).encode())


def test_code_in_params_counts_and_literals_in_it_do_not() -> None:
    same = [
        ("{'alpha': np.logspace(-3, 0, 5)}", "{'alpha': np.logspace(-4, 1, 6)}"),
        (
            "ParameterSampler({'a': loguniform(1e-4, 1e-1)}, n_iter=5, random_state=0)",
            "ParameterSampler({'a': loguniform(1e-3, 1.0)}, n_iter=8, random_state=0)",
        ),
        ("ParameterGrid({'a': [1, 2]})", "ParameterGrid({'a': [1, 2, 3], 'b': [-1]})"),
        ("[{'m': rf, 'n': 1}, {'n': 2}]", "[{'m': rf, 'n': 1}, {'n': 2}, {'n': 3}]"),
        ("{'n': [2 ** -3, -1]}", "{'n': [2 ** -3, -1, 1e-2]}"),
        ("[{'n': n} for n in range(3)]", "[{'n': n} for n in range(5)]"),
    ]
    for old, new in same:
        assert key_of(old).digest == key_of(new).digest, (old, new)
    changed = [
        ("{'alpha': np.logspace(-3, 0, 5)}", "{'alpha': np.linspace(-3, 0, 5)}"),
        ("{'alpha': np.logspace(-3, 0, 5)}", "{'alpha': np.logspace(-3, 0, num=5)}"),
        ("ParameterGrid({'a': [1, 2]})", "ParameterSampler({'a': [1, 2]})"),
        ("{'m': [rf]}", "{'m': [gb]}"),
        ("{'f': [lambda x: x * 2]}", "{'f': [lambda x: x * 3]}"),  # a lambda is code
        ("[{'n': n} for n in range(3)]", "[{'n': n * k} for n in range(3)]"),
        ("{'n': (N := [1, 2])}", "{'n': (N := [1, 2, 3])}"),  # binds a name: verbatim
        ("{'n': [1, 2]}", "{'n': [1, 2]} if FAST else {'n': [1]}"),
    ]
    for old, new in changed:
        assert key_of(old).digest != key_of(new).digest, (old, new)
    other_body = key_of("{'n': [1, 2]}", body="return {'x': 2.0}")
    assert other_body.digest != key_of("{'n': [1, 2]}").digest


def test_each_experiment_params_text_is_kept_for_values_not_described_in_full() -> None:
    small, grown = key_of("{'f': [make(0.1)]}"), key_of("{'f': [make(0.1), make(0.2)]}")
    assert small.params == {"exp_x": "{'f': [make(0.1)]}"}
    assert small.for_experiment("exp_x", verbatim=False) == grown.for_experiment("exp_x", False)
    assert small.for_experiment("exp_x", verbatim=True) != grown.for_experiment("exp_x", True)
    assert small.for_experiment("exp_other", verbatim=True) == small.digest


def test_a_file_that_does_not_parse_counts_byte_for_byte() -> None:
    broken = b"@experiment(params={'n': [1]}\ndef"
    assert digest(broken) != digest(broken.replace(b"[1]", b"[1, 2]"))


def test_file_digest_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("A = 1\n")
    first = file_digest(path)
    assert first == file_digest(str(path)) == hashlib.sha256(b"A = 1\n").hexdigest()
    path.write_text("A = 22\n")
    assert file_digest(path) not in (None, first)
    assert file_digest(tmp_path / "missing.py") is None


def test_a_file_read_for_its_digest_and_its_key_follows_both_edits(tmp_path: Path) -> None:
    """One memo serves both: an entry made for the digest still gives the key
    of that version of the file, and an edit gives new ones of both."""
    path = tmp_path / "exp_m.py"
    source = b"@experiment(params={'n': [1]})\ndef exp_m(params): ...\n"
    path.write_bytes(source)
    assert file_digest(path) == hashlib.sha256(source).hexdigest()
    assert experiment_file_key(path) == file_key(source)
    path.write_bytes(source.replace(b"[1]", b"[1, 2]"))
    grown = experiment_file_key(path)
    assert grown is not None and grown.digest == file_key(source).digest
    assert file_digest(path) != hashlib.sha256(source).hexdigest()
    assert experiment_file_key(tmp_path / "missing.py") is None


class Color(enum.Enum):
    RED = 1


def test_described_in_full() -> None:
    plain = [None, True, 3, 0.5, "a", Color.RED, np.float64(0.1), np.arange(3), [1, (2, {3})]]
    for value in plain:
        assert described_in_full(value), value
    assert described_in_full({"a": [1.0]}) and described_in_full(LogisticRegression(C=2.0))

    def closure(x: float) -> float:
        return x

    class Opaque:
        def __repr__(self) -> str:
            return "Opaque()"

    for opaque in (closure, Opaque(), [1, closure], {"k": Opaque()}, np.array([closure])):
        assert not described_in_full(opaque), opaque
    assert not described_in_full(LogisticRegression(C=closure))
