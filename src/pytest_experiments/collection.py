"""The collector of experiment files: :class:`ExperimentModule` checks every
experiment's declaration up front and collects its cases, and each case's
``pytest.param`` (:func:`parametrize_values`) carries the :class:`.grids.Case`
it runs, which :func:`case_of` reads back from the collected item.

Which files and functions are experiments is :mod:`.discovery`'s job, the
checks themselves :mod:`.declarations`'. Nothing here imports mlflow.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from .conditions import DeclarationError, problems_of
from .declarations import Declaration, declaration_for
from .discovery import CASE_MARK, is_experiment_function, relative_file
from .grids import Case
from .keys import DECLARED_KEY, SETTINGS_KEY


def parametrize_values(declaration: Declaration) -> list[Any]:
    """``pytest.param`` entries for ``metafunc.parametrize(declaration.argnames, ...)``,
    each marked with its case's ``params`` and with the :class:`.grids.Case`
    itself (:data:`.discovery.CASE_MARK`, read by :func:`case_of`)."""
    entries = []
    for case in declaration.cases:
        values = [
            dict(case.values) if arg == "params" else case.values[arg]
            for arg in declaration.argnames
        ]
        marks = [pytest.mark.params(**case.mark), getattr(pytest.mark, CASE_MARK).with_args(case)]
        entries.append(pytest.param(*values, id=case.id, marks=marks))
    return entries


def case_of(item: pytest.Item, declaration: Declaration) -> Case:
    """The case a collected item of *declaration*'s experiment runs: the one
    its ``pytest.param`` carries (:func:`parametrize_values`), whatever ids
    pytest made (counters, escapes, a stacked ``parametrize``'s ids joined),
    or the only case of an experiment that :func:`parametrize_values` does
    not parametrize (one without params)."""
    mark = item.get_closest_marker(CASE_MARK)
    if mark is not None:
        case: Case = mark.args[0]
        return case
    if len(declaration.cases) == 1:
        return declaration.cases[0]
    raise LookupError(f"{item.nodeid} carries no {CASE_MARK} mark of {declaration.name}'s cases")


class ExperimentModule(pytest.Module):
    """A module of experiments: collects ``exp_*`` and @experiment functions
    besides whatever pytest would collect from it as tests."""

    #: What :func:`.discovery.is_experiment_item` looks for (no import needed).
    is_experiment_module = True

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        self._check_declarations()
        collected = list(super().collect())
        self.config.stash.setdefault(DECLARED_KEY, {})[relative_file(self)] = [
            node.name
            for node in collected
            if isinstance(node, pytest.Function)
            and is_experiment_function(node.function, node.originalname)
        ]
        return collected

    def _check_declarations(self) -> None:
        """Check every experiment of the module before pytest generates its
        cases (which would stop at the first bad one) and raise one
        CollectError listing every problem, a line ``file::experiment: problem``
        each."""
        module = self.obj
        tolerance = self.config.stash[SETTINGS_KEY].default_tolerance
        module_doc = getattr(module, "__doc__", None)
        problems: list[str] = []
        for name, obj in list(vars(module).items()):
            if not (
                is_experiment_function(obj, name)
                and self.istestfunction(obj, name)
                and getattr(obj, "__test__", True)
                and not inspect.isgeneratorfunction(obj)
            ):
                continue
            try:
                declaration_for(obj, name, tolerance, module_doc)
            except DeclarationError as exc:
                file = relative_file(self)
                problems.extend(f"{file}::{name}: {problem}" for problem in problems_of(exc))
        if problems:
            raise self.CollectError("\n".join(problems))

    def istestfunction(self, obj: object, name: str) -> bool:
        if is_experiment_function(obj, name):
            # Imported experiments belong to the module that defines them.
            return bool(getattr(obj, "__module__", None) == self.obj.__name__)
        return super().istestfunction(obj, name)
