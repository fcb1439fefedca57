"""Every ``pytest.StashKey`` the plugin uses (one place, a leaf module).

Loaded at start-up with :mod:`.plugin`, so it imports nothing of the
package but :mod:`.settings` (a start-up module too); the other types are
named for the type checker only, from modules that import no key. The case
runner and the session's provenance live in modules that read their keys,
so those two keys hold ``object``: each is read through one typed accessor
(``plugin._runner``, ``provenance.session_provenance``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .settings import Settings

if TYPE_CHECKING:
    from .experiment_run import ExperimentRun
    from .results import CaseResult

# -- on the config ------------------------------------------------------------------

#: The session's settings, parsed once from the options.
SETTINGS_KEY = pytest.StashKey[Settings]()
#: This process's case runner (a ``runner.CaseRunner``; see ``plugin._runner``).
RUNNER_KEY = pytest.StashKey[object]()
#: This process's provenance (a ``provenance.Provenance``; see
#: ``provenance.session_provenance``).
PROVENANCE_KEY = pytest.StashKey[object]()
#: With ``--exp-merge``: the experiment cases selected, which the merge reports on.
MERGE_KEY = pytest.StashKey[list[pytest.Item]]()
#: Set once every ``pytest_collection_modifyitems`` returned: pytest calls
#: ``pytest_collection_finish`` even when selecting raised (a bad ``-k``).
SELECTED_KEY = pytest.StashKey[bool]()
#: Every case id each experiment file declares, by file relative to rootdir.
DECLARED_KEY = pytest.StashKey[dict[str, list[str]]]()
#: Experiment entries in flight, by (node id, phase): ``{"result": dict | None}``.
#: Filled where the case ran (the makereport wrapper); on an xdist worker they
#: travel inside the serialised report (``pytest_report_to_serializable``, under
#: ``discovery.REPORT_ENTRY``) and are put back on the controller
#: (``pytest_report_from_serializable``); the controller's logreport consumes them.
#: An entry also says "this report is an experiment's" without guessing from ids.
REPORTS_KEY = pytest.StashKey[dict[tuple[str, str], dict[str, Any]]]()

# -- on an item ---------------------------------------------------------------------

#: Set on an item by the plugin's own ``seed`` fixture when it provided the seed.
SEED_FIXTURE_KEY = pytest.StashKey[bool]()
#: The case's ``experiment_run`` object.
RUN_KEY: pytest.StashKey[ExperimentRun] = pytest.StashKey()
#: The case's result, left by the runner for the report hooks.
RESULT_KEY: pytest.StashKey[CaseResult] = pytest.StashKey()
