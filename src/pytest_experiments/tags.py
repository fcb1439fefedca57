"""Names of the MLflow run tags the plugin writes and reads (one place)."""

from __future__ import annotations

#: The case's outcome: passed, new, failed, regressed, error, skipped, xfailed...
TAG_OUTCOME = "outcome"
#: The case's pytest node id: how a run is matched to its case.
TAG_NODEID = "pytest.nodeid"
#: The pytest session (one id per invocation, shared with its xdist workers).
TAG_SESSION = "pytest.session"
#: ``host:pid`` of the controlling pytest process.
TAG_CONTROLLER = "pytest.controller"
#: Boot and PID namespace of the controller's machine (see tracking._machine_id).
TAG_MACHINE = "pytest.machine"
#: JSON list of the metrics the experiment returned (not those logged on the side).
TAG_METRICS = "experiments.metrics"
#: JSON spread of metrics with n > 1: metric -> {"mean", "n", "std"}.
TAG_STATS = "experiments.stats"
