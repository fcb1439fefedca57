"""Which files and items are experiments: the checks every pytest run makes.

Imported at start-up by :mod:`.plugin`, so it stays tiny: the rest of the
plugin (collection, running, the session) is imported only once an
experiment file or case turns up.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Iterable
from pathlib import Path

import pytest

from . import SPEC_ATTR

#: The key of an experiment entry inside a serialised report (see
#: ``keys.REPORTS_KEY``).
REPORT_ENTRY = "pytest_experiments"
#: The mark on each case's ``pytest.param`` that carries the case it runs
#: (``collection.parametrize_values``, read back by ``collection.case_of``);
#: registered by the plugin, and named after it, apart from a project's own marks.
CASE_MARK = "experiments_case"


def matches_any(path: Path, patterns: Iterable[str]) -> bool:
    """pytest's ``python_files`` semantics: a pattern without a path separator
    matches the file name, one with a separator matches the end of the path."""
    for pattern in patterns:
        if "/" in pattern or "\\" in pattern:
            posix = pattern.replace("\\", "/")
            if not posix.startswith("/"):
                posix = f"*/{posix}"  # a whole trailing part of the path, as pytest does
            if fnmatch.fnmatch(path.as_posix(), posix):
                return True
        elif fnmatch.fnmatch(path.name, pattern):
            return True
    return False


def in_experiment_file(nodeid: str, patterns: Iterable[str]) -> bool:
    """Whether a node id lies in an experiment file (the xdist controller,
    which never collects, uses it to know that experiments may follow)."""
    file, _, rest = nodeid.partition("::")
    return bool(rest) and matches_any(Path(file), patterns)


def is_experiment_function(obj: object, name: str) -> bool:
    """An experiment is a function named ``exp_*`` or decorated with @experiment."""
    if not (inspect.isfunction(obj) or inspect.iscoroutinefunction(obj)):
        return False
    return hasattr(obj, SPEC_ATTR) or name.startswith("exp_")


def is_experiment_item(item: pytest.Item) -> bool:
    """A collected experiment case (cheap for every other test: one getattr)."""
    return (
        getattr(item.parent, "is_experiment_module", False)
        and isinstance(item, pytest.Function)
        and is_experiment_function(item.function, item.originalname)
    )


def relative_file(node: pytest.Item | pytest.Collector) -> str:
    """The node's file relative to rootdir (absolute when outside it)."""
    try:
        return node.path.relative_to(node.config.rootpath).as_posix()
    except ValueError:
        return node.path.as_posix()
