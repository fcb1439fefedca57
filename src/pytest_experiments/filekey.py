"""Files as they enter the run cache's key: any file by the sha256 of its
bytes (:func:`file_digest`), and an experiment file by its source with the
literal values of its ``@experiment(params=...)`` declarations left out
(:func:`experiment_file_key`). Both are memoised per process in one memo, by
path, modification time (ns) and size.

A sweep grows: a value added to a grid, or a case added to a list, must not
change the key of the cases that were there before (each case's own params
are in its key already). Any other edit (a comment, a function body, a
default, ``expect=``) still changes every key of the file.

What is left out, found with :mod:`ast` (never by matching text): in the value
of the ``params=`` keyword of a decorator call ``experiment(...)`` (or
``<anything>.experiment(...)``, or a name the file imports ``experiment``
as), every *literal*: a constant (number, string, bool, None), a sign or an
operator applied to literals (``-1``, ``2 ** -3``), and a list, tuple, set or
dict made of literals only. What is kept is the code in it: names,
attributes, calls and their keyword names (``np.logspace(...)``,
``ParameterSampler(..., n_iter=..., random_state=...)``), comprehensions,
and whole lambdas (their body is code), each form once per list (``[rf,
RandomForestClassifier(max_depth=3)]`` grows by another ``RandomForestClassifier(...)``
without a change; a name or a call of a new form changes the key). A
``params=`` holding an assignment expression (``:=``, which binds a name for
other code) is kept verbatim.

:func:`file_key` also gives each experiment's ``params=`` text verbatim, for
the key of cases whose values the key cannot describe in full (a closure, an
object without a faithful repr): those re-run on any edit of their sweep.

Pure: reads nothing but the bytes it is given (and :func:`file_digest` and
:func:`experiment_file_key` the file).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import os
from dataclasses import dataclass

#: Names that :func:`pytest_experiments.experiment` goes by when not imported
#: under another name.
DECORATOR = "experiment"


@dataclass(frozen=True)
class FileKey:
    """What an experiment file contributes to its cases' keys."""

    #: sha256 of the source with the literals of every ``params=`` left out.
    digest: str
    #: Each decorated function's ``params=`` source, verbatim, by function name.
    params: dict[str, str]

    def for_experiment(self, name: str, verbatim: bool) -> str:
        """The digest for one experiment's cases: with ``verbatim``, its own
        ``params=`` text counts in full."""
        text = self.params.get(name)
        if not verbatim or text is None:
            return self.digest
        return hashlib.sha256(f"{self.digest}\0{text}".encode()).hexdigest()


def file_key(source: bytes) -> FileKey:
    """The key of an experiment file's ``source``. A file that does not parse
    counts byte for byte (it cannot run anyway)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return FileKey(hashlib.sha256(source).hexdigest(), {})
    names = _decorator_names(tree)
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    spans: list[tuple[int, int, bytes]] = []
    verbatim: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            if not (isinstance(decorator, ast.Call) and _is_decorator(decorator.func, names)):
                continue
            for keyword in decorator.keywords:
                value = keyword.value
                if keyword.arg != "params" or value.end_lineno is None:
                    continue
                start = starts[value.lineno - 1] + value.col_offset
                end = starts[value.end_lineno - 1] + (value.end_col_offset or 0)
                verbatim[node.name] = source[start:end].decode("utf-8", "surrogateescape")
                spans.append((start, end, _code_only(value).encode()))
    stripped = bytearray(source)
    for start, end, text in sorted(spans, reverse=True):
        stripped[start:end] = b"<params: " + text + b">"
    return FileKey(hashlib.sha256(bytes(stripped)).hexdigest(), verbatim)


@dataclass
class _Seen:
    """What this process worked out about one version of a file."""

    digest: str | None = None
    key: FileKey | None = None


#: (path, modification time in ns, size) -> what is known of that file.
_memo: dict[tuple[str, int, int], _Seen] = {}


def _seen(name: str) -> _Seen:
    """The memo entry of the file as it is now (OSError when it cannot be stat'ed)."""
    stat = os.stat(name)
    return _memo.setdefault((name, stat.st_mtime_ns, stat.st_size), _Seen())


def file_digest(path: str | os.PathLike[str]) -> str | None:
    """sha256 of a file's bytes (None when it cannot be read), memoised per
    process by path, modification time (ns) and size."""
    name = os.fspath(path)
    try:
        seen = _seen(name)
        if seen.digest is None:
            h = hashlib.sha256()
            with open(name, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            seen.digest = h.hexdigest()
    except OSError:
        return None
    return seen.digest


def experiment_file_key(path: str | os.PathLike[str]) -> FileKey | None:
    """:func:`file_key` of a file (None when it cannot be read), memoised per
    process by path, modification time (ns) and size."""
    name = os.fspath(path)
    try:
        seen = _seen(name)
        if seen.key is None:
            with open(name, "rb") as fh:
                seen.key = file_key(fh.read())
    except OSError:
        return None
    return seen.key


def _decorator_names(tree: ast.Module) -> set[str]:
    """``experiment`` and the names the file imports it as."""
    names = {DECORATOR}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "pytest_experiments"
        ):
            names.update(a.asname for a in node.names if a.name == DECORATOR and a.asname)
    return names


def _is_decorator(func: ast.expr, names: set[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in names
    return isinstance(func, ast.Attribute) and func.attr == DECORATOR


def is_literal(node: ast.AST) -> bool:
    """A value written out in full: a constant, operators on literals, and
    lists, tuples, sets and dicts of literals."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return is_literal(node.operand)
    if isinstance(node, ast.BinOp):
        return is_literal(node.left) and is_literal(node.right)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and is_literal(k) for k in node.keys) and all(
            is_literal(v) for v in node.values
        )
    return False


class _Verbatim(Exception):
    """The expression binds a name: it is kept as written."""


class _LeaveOutLiterals(ast.NodeTransformer):
    def visit(self, node: ast.AST) -> ast.AST | None:
        if isinstance(node, ast.NamedExpr):
            raise _Verbatim
        if isinstance(node, ast.Lambda):
            if any(isinstance(n, ast.NamedExpr) for n in ast.walk(node)):
                raise _Verbatim
            return node  # code: every constant in it counts
        if isinstance(node, ast.expr) and is_literal(node):
            return ast.Constant(value=...)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            # Literal elements go entirely, and the others count once per
            # form: one more value, or another of a form already there, does
            # not show.
            kept = (self.visit(e) for e in node.elts if not is_literal(e))
            forms = {ast.dump(e): e for e in kept if isinstance(e, ast.expr)}
            node.elts = [forms[k] for k in sorted(forms)]
            return node
        if isinstance(node, ast.Dict):
            pairs = [
                (k, v) for k, v in zip(node.keys, node.values, strict=True) if not is_literal(v)
            ]
            node.keys = [None if k is None else self.visit(k) for k, _ in pairs]  # type: ignore[misc]
            node.values = [self.visit(v) for _, v in pairs]  # type: ignore[misc]
            return node
        return self.generic_visit(node)


def _code_only(value: ast.expr) -> str:
    """``value`` with its literals left out, as text; verbatim (as parsed)
    when it holds an assignment expression."""
    try:
        kept = _LeaveOutLiterals().visit(copy.deepcopy(value))
    except _Verbatim:
        return "verbatim " + ast.dump(value)
    return ast.dump(kept) if kept is not None else ""
