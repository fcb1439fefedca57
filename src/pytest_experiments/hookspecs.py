"""Hooks that projects can implement (in ``conftest.py``) to extend the plugin.

Example ``conftest.py``::

    def pytest_experiments_run_tags(item):
        return {"team": "cardiology", "gpu": "none"}

    def pytest_experiments_report_columns(result):
        return {"params/s": f"{len(result.params) / max(result.duration, 1e-9):.1f}"}

    def pytest_experiments_report_sections(results, session_info):
        n = sum(r.outcome == "passed" for r in results)
        return [f"## Sign-off\\n\\n{n} cases passed; reviewed by the on-call ML engineer."]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .results import CaseResult, SessionInfo

hookspec = pytest.hookspec


@hookspec
def pytest_experiments_run_tags(item: pytest.Item) -> dict[str, str] | None:
    """Extra MLflow tags for the run of experiment case ``item``.

    Called in the process that runs the case (an xdist worker) just before
    the run starts. Return a dict of tag name to value; all results are merged.
    """


@hookspec
def pytest_experiments_report_columns(result: CaseResult) -> dict[str, str] | None:
    """Extra columns for ``result``'s row in the Markdown report.

    Called on the controller after all cases ran. Return a dict of column
    title to cell text (it is escaped); results of all implementations are
    merged, and a column missing for some row is left empty there.
    """


@hookspec
def pytest_experiments_report_sections(
    results: list[CaseResult], session_info: SessionInfo
) -> list[str] | None:
    """Extra Markdown sections appended to the report (and the job summary).

    Called once on the controller. Return a list of Markdown strings; they
    are written as given (escape user values yourself).
    """
