"""The shape of src/: no import circle, tag names spelled in one place, and
the renderers' shared helpers below them.

Static checks over the source (``ast``), no import of the plugin: every
``from .x import`` (or ``from pytest_experiments.x import``) counts, at
module level, inside functions and under ``if TYPE_CHECKING:`` alike.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "pytest_experiments"
#: The modules that may spell a tag's name: where the names live, and the codec.
TAG_MODULES = {"tags", "codec"}


def import_graph(package: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in its source)."""
    modules = {path.stem for path in package.glob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name in modules:
        tree = ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 1:
                targets = [node.module] if node.module else [a.name for a in node.names]
            elif node.level == 0 and (node.module or "").startswith("pytest_experiments"):
                rest = (node.module or "").split(".")[1:]
                targets = rest[:1] if rest else [a.name for a in node.names]
            else:
                continue
            for target in targets:
                head = target.split(".")[0]
                if head in modules and head != name:
                    graph[name].add(head)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def tag_names(package: Path) -> set[str]:
    """The namespaced tag names :mod:`tags` defines (``experiments.metrics``,
    ``git.commit``, ``mlflow.parentRunId``...). The bare ones (``outcome``,
    ``host``) are also plain words of results and reports, so are left out."""
    tree = ast.parse((package / "tags.py").read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            value = node.value.value
            if isinstance(value, str) and "." in value.strip("."):
                names.add(value)
    return names


def tag_literals(package: Path, names: set[str]) -> list[str]:
    """``module:line: 'name'`` for each string literal that spells a tag name
    outside :data:`TAG_MODULES` (docstrings and comments aside)."""
    found = []
    for path in sorted(package.glob("*.py")):
        if path.stem in TAG_MODULES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and node.value in names
            ):
                found.append(f"{path.stem}:{node.lineno}: {node.value!r}")
    return found


def test_src_has_no_import_cycle() -> None:
    assert cycles(import_graph(PACKAGE)) == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f():\n    from .b import x\n")
    (tmp_path / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import y\n"
    )
    (tmp_path / "c.py").write_text("from pytest_experiments.a import f\n")
    (tmp_path / "d.py").write_text("from . import a\n")
    assert cycles(import_graph(tmp_path)) == [["a", "b", "c"]]


def test_tag_names_are_spelled_only_in_tags_and_codec() -> None:
    names = tag_names(PACKAGE)
    assert {"experiments.metrics", "pytest.attempt", "git.commit", "data.fingerprint"} <= names
    assert tag_literals(PACKAGE, names) == []


def test_the_tag_check_finds_a_literal(tmp_path: Path) -> None:
    (tmp_path / "tags.py").write_text('TAG_A = "experiments.a"\nTAG_B = "outcome"\n')
    (tmp_path / "codec.py").write_text('X = "experiments.a"\n')
    (tmp_path / "runner.py").write_text(
        '"""Writes "experiments.a"."""\n\ndef f(tags):\n    return tags["experiments.a"]\n'
    )
    names = tag_names(tmp_path)
    assert names == {"experiments.a"}
    assert tag_literals(tmp_path, names) == ["runner:4: 'experiments.a'"]


def third_party_imports(path: Path) -> set[str]:
    """The top-level names of what a module imports outside the package (anywhere in it)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found - {"__future__", "pytest_experiments"}


def test_ids_grids_and_declaration_checks_are_pure() -> None:
    """What names values, makes cases and checks declarations runs without
    pytest, and never imports what it recognises (NumPy, scikit-learn)."""
    heavy = {"pytest", "_pytest", "mlflow", "numpy", "sklearn", "pandas"}
    for name in ("ids", "grids", "declarations", "conditions"):
        assert third_party_imports(PACKAGE / f"{name}.py") & heavy == set(), name
    assert "pytest" in third_party_imports(PACKAGE / "collection.py")  # the check sees imports


#: Pure rendering: results in, text (or plot specs) out; matplotlib only
#: where plots.py draws, imported there when it draws.
RENDERERS = {"presentation", "formatting", "reporting", "terminal"}
#: What the renderers' shared helpers may build on: plain results and rules.
PRESENTATION_BASE = {"results", "conditions", "stats"}


def test_renderers_import_no_pytest_mlflow_or_matplotlib() -> None:
    for name in sorted(RENDERERS):
        found = third_party_imports(PACKAGE / f"{name}.py")
        assert not found & {"pytest", "_pytest", "mlflow", "matplotlib"}, (name, found)


def test_shared_helpers_sit_below_the_renderers() -> None:
    """The report, the terminal and the plots share labels and rules through
    presentation, numbers and text through formatting: those import none of
    the renderers, and the terminal is no part of the Markdown report."""
    graph = import_graph(PACKAGE)
    assert graph["presentation"] <= PRESENTATION_BASE
    assert graph["formatting"] <= PRESENTATION_BASE | {"presentation"}
    assert "terminal" not in graph["reporting"] and "reporting" not in graph["terminal"]
    shared = graph["presentation"] | graph["formatting"]
    assert {"reporting", "terminal", "plots"}.isdisjoint(shared)


def test_the_run_cache_s_file_and_distribution_modules_are_leaves() -> None:
    """cache.py builds on filekey.py and distributions.py, never the reverse,
    and none of the three imports pytest, mlflow or what experiments use."""
    graph = import_graph(PACKAGE)
    assert graph["filekey"] == set() and graph["distributions"] == set()
    assert {"filekey", "distributions"} <= graph["cache"]
    heavy = {"pytest", "_pytest", "mlflow", "numpy", "sklearn", "pandas"}
    for name in ("cache", "filekey", "distributions"):
        assert third_party_imports(PACKAGE / f"{name}.py") & heavy == set(), name
