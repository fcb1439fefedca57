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
#: Boot and PID namespace of the controller's machine (see orphans.machine_id).
TAG_MACHINE = "pytest.machine"
#: JSON list of the metrics the experiment returned (not those logged on the side).
TAG_METRICS = "experiments.metrics"
#: JSON spread of metrics with n > 1: metric -> {"mean", "n", "std"}.
TAG_STATS = "experiments.stats"
#: A metric with several samples keeps them in the history of the metric
#: ``<metric>.samples`` (steps 0 to n-1), so a chart of the metric itself
#: shows the mean alone.
SAMPLES_SUFFIX = ".samples"
#: sha256 over what a case's result depends on (see cache.py), on every case run.
TAG_CACHE_KEY = "experiments.cache_key"
#: Project modules and distributions loaded when the case ended (compressed
#: JSON, continued in ``.1``, ``.2``... when long), checked before a cache hit.
TAG_CACHE_DEPS = "experiments.cache_deps"
#: On a run that records a cached case: the run that computed its metrics.
TAG_CACHED_FROM = "experiments.cached_from"
#: The accelerator an xdist worker was given with ``--exp-devices``.
TAG_DEVICE = "experiments.device"
#: The session group (``--exp-session-group``; default ``$GITHUB_RUN_ID``, else
#: the session id): the shards whose runs ``--exp-merge`` reports together.
TAG_SESSION_GROUP = "experiments.session_group"
#: Set on a run whose case ran again in the same session (pytest-rerunfailures).
TAG_SUPERSEDED_BY = "experiments.superseded_by"
#: The attempt of a case within its session (pytest-rerunfailures), from 1.
TAG_ATTEMPT = "pytest.attempt"
#: What ``--exp-merge`` needs to rebuild a case's result from its run: the
#: failure message, the JSON baseline comparisons (present when the case had a
#: baseline entry) and the call's duration in seconds.
TAG_MESSAGE = "experiments.message"
TAG_COMPARISONS = "experiments.comparisons"
TAG_DURATION = "experiments.duration"
#: How many times the case body ran (only when more than once), and the JSON
#: list of each repeat's seed.
TAG_REPEATS = "experiments.repeats"
TAG_SEEDS = "experiments.seeds"
#: On the one parent run per experiment file and session ("true"), and the
#: file it stands for; each case run is nested under it (``mlflow.parentRunId``).
TAG_PARENT = "experiments.parent"
TAG_FILE = "experiments.file"
#: On a parent run: the best case by the primary metric, and its run.
TAG_BEST_CASE = "experiments.best_case"
TAG_BEST_RUN = "experiments.best_run_id"
TAG_PRIMARY_METRIC = "experiments.primary_metric"
#: On a parent run: the outcome counts ("3 passed, 1 failed") and whether any
#: case was bad ("true"/"false").
TAG_OUTCOMES = "experiments.outcomes"
TAG_FAILED = "experiments.failed"

# -- provenance, on every run (see tracking.MlflowBackend.base_tags) -----------------
TAG_HOST = "host"
TAG_PYTHON = "python.version"
TAG_GIT_COMMIT = "git.commit"
TAG_GIT_BRANCH = "git.branch"
#: "true"/"false": the work tree had changes the commit does not hold.
TAG_GIT_DIRTY = "git.dirty"
TAG_DATA_FINGERPRINT = "data.fingerprint"
#: ``lib.<distribution>``: the version of a key library.
LIB_PREFIX = "lib."

# -- MLflow's own tags, which its UI reads --------------------------------------------
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
MLFLOW_PARENT_RUN = "mlflow.parentRunId"
MLFLOW_NOTE = "mlflow.note.content"
