"""What a case's run records, and how it is read back: the run-record codec.

One place for the format of a run in the tracking store. Writers (the
runner, the session's Holm upgrades, the parent runs, the tracking
backend's provenance tags) encode through it; readers (``--exp-merge`` and
``--exp-compare``, the run cache, MLflow baselines) decode through it. Tag
names come from :mod:`.tags`; no other module spells one.

A leaf: no pytest, no mlflow, nothing of the package but :mod:`.tags`,
:mod:`.results` and :mod:`.stats`.

What a case's run holds:

* tags: its outcome (:data:`.tags.TAG_OUTCOME`), the metrics its experiment
  returned, in that order (:data:`.tags.TAG_METRICS`, JSON list), the
  spread of those with several samples (:data:`.tags.TAG_STATS`, JSON
  ``metric -> {"mean", "n", "std"}``), repeats and their seeds, duration,
  message and baseline comparisons (:func:`result_tags`), the attempt
  (pytest-rerunfailures), the cache key and what was loaded, provenance;
* metrics: each returned metric's value (the mean of its samples) at step 0,
  the samples at steps 0 to n-1 under ``<metric>.samples``
  (:func:`metric_history`);
* artifacts: ``predictions.npz`` (:data:`.predictions.ARTIFACT`) and
  ``traceback.txt``; a parent run ``table.md`` and ``plots/``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .results import CaseResult, Comparison
from .stats import Summary
from .tags import (
    LIB_PREFIX,
    MLFLOW_GIT_BRANCH,
    MLFLOW_GIT_COMMIT,
    MLFLOW_NOTE,
    SAMPLES_SUFFIX,
    TAG_ATTEMPT,
    TAG_CACHE_KEY,
    TAG_CACHED_FROM,
    TAG_COMPARISONS,
    TAG_DATA_FINGERPRINT,
    TAG_DURATION,
    TAG_GIT_BRANCH,
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_MESSAGE,
    TAG_METRICS,
    TAG_NODEID,
    TAG_OUTCOME,
    TAG_REPEATS,
    TAG_SEEDS,
    TAG_STATS,
    TAG_SUPERSEDED_BY,
)

#: MLflow keeps tag values up to this many characters.
MAX_TAG = 8000
#: Run statuses of runs that ended.
ENDED = frozenset({"FINISHED", "FAILED", "KILLED"})

#: The artifact of a case's run that holds its traceback (an error).
TRACEBACK_ARTIFACT = "traceback.txt"
#: A parent run's artifacts: the file's table, and the folder of its plots.
TABLE_ARTIFACT = "table.md"
PLOTS_ARTIFACT = "plots"


# -- encoding: what a case's run ends with ----------------------------------------------


def result_tags(result: CaseResult) -> dict[str, str]:
    """The tags a case's run ends with so that a merge can rebuild its result:
    duration, message (when there is one) and, when the case had a baseline
    entry, its comparisons as JSON (``null`` when too long for a tag)."""
    tags = {TAG_DURATION: repr(float(result.duration))}
    if result.message:
        message = result.message
        tags[TAG_MESSAGE] = message if len(message) <= MAX_TAG else message[: MAX_TAG - 3] + "..."
    if result.has_baseline:
        text = json.dumps(
            {m: c.to_dict() for m, c in result.comparisons.items()}, separators=(",", ":")
        )
        tags[TAG_COMPARISONS] = text if len(text) <= MAX_TAG else "null"
    return tags


def outcome_tags(result: CaseResult) -> dict[str, str]:
    """A finished run's outcome and what a merge reads back with it: what
    the session writes when its Holm correction upgrades a case."""
    return {TAG_OUTCOME: result.outcome, **result_tags(result)}


def metric_tags(metrics: Mapping[str, Summary]) -> dict[str, str]:
    """Which metrics were returned (in that order), and the spread of those with n > 1."""
    if not metrics:
        return {}
    tags = {TAG_METRICS: json.dumps(list(metrics))}  # in the order returned
    spread = {
        # folds: K fold scores a repeat (@experiment(folds=K)), one seed a repeat
        m: {"mean": s.mean, "n": s.n, "std": s.std, **({"folds": s.folds} if s.folds else {})}
        for m, s in sorted(metrics.items())
        if s.spread_known
    }
    if spread:
        tags[TAG_STATS] = json.dumps(spread, separators=(",", ":"))
    return tags


def repeat_tags(result: CaseResult) -> dict[str, str]:
    """How many times the case body ran, and each repeat's seed (only when
    it ran more than once)."""
    if result.repeats <= 1:
        return {}
    return {
        TAG_REPEATS: str(result.repeats),
        TAG_SEEDS: json.dumps(result.seeds),
    }


def attempt_tags(attempt: object) -> dict[str, str]:
    """The attempt of a case within its session (pytest-rerunfailures'
    ``item.execution_count``, from 1), when there is one."""
    return {TAG_ATTEMPT: str(attempt)} if isinstance(attempt, int) else {}


def cached_tags(origin: str, key: str) -> dict[str, str]:
    """A run that records a cached case: the run that computed its metrics,
    a note MLflow's UI shows, and the key."""
    note = (
        f"Cached by pytest-experiments (--exp-cache): the experiment did not run again. "
        f"Its metrics were computed by run {origin}, which also holds its artifacts and models."
    )
    return {
        TAG_CACHED_FROM: origin,
        MLFLOW_NOTE: note,
        TAG_CACHE_KEY: key,
    }


def computed_by(run_id: str, tags: Mapping[str, str]) -> str:
    """The run that computed a run's metrics and holds its artifacts: the run
    itself, or for one that recorded a cached case (``--exp-cache``), the run
    it names."""
    return tags.get(TAG_CACHED_FROM) or run_id


def provenance_tags(
    commit: str | None, dirty: bool, branch: str | None, data_fingerprint: str | None
) -> dict[str, str]:
    """The commit, branch, dirty flag and data fingerprint of a run (each
    when known; commit and branch also under MLflow's own names)."""
    tags: dict[str, str] = {}
    if commit:
        tags[TAG_GIT_COMMIT] = commit
        tags[MLFLOW_GIT_COMMIT] = commit
        tags[TAG_GIT_DIRTY] = str(dirty).lower()
    if branch:
        tags[TAG_GIT_BRANCH] = branch
        tags[MLFLOW_GIT_BRANCH] = branch
    if data_fingerprint:
        tags[TAG_DATA_FINGERPRINT] = data_fingerprint
    return tags


def lib_tag(dist: str) -> str:
    """The tag holding a key library's version."""
    return f"{LIB_PREFIX}{dist}"


def metric_history(metrics: Mapping[str, Summary]) -> list[tuple[str, float, int, int]]:
    """(name, value, ms, step) for MLflow: the value, or the mean of several
    samples, at step 0 (MLflow's headline value, and the only point of its
    chart); the samples at their index under ``<name>.samples``."""
    now = int(time.time() * 1000)
    history: list[tuple[str, float, int, int]] = []
    for name, summary in metrics.items():
        if not math.isfinite(summary.mean):
            continue
        if summary.n > 1:
            history += [
                (name + SAMPLES_SUFFIX, v, now, i)
                for i, v in enumerate(summary.samples)
                if math.isfinite(v)
            ]
        history.append((name, summary.mean, now, 0))
    return history


def samples_metric(metric: str) -> str:
    """The metric whose history holds ``metric``'s samples."""
    return metric + SAMPLES_SUFFIX


# -- decoding -------------------------------------------------------------------------


def json_tag(tags: Mapping[str, str], tag: str) -> Any:
    """The JSON value of a tag; None when the run does not have it;
    ``ValueError`` when it is not JSON."""
    text = tags.get(tag)
    return None if text is None else json.loads(text)


def returned_names(tags: Mapping[str, str]) -> Any:
    """The JSON list of the metrics the experiment returned (None when the
    run does not name them; ``ValueError`` when unreadable)."""
    return json_tag(tags, TAG_METRICS)


def returned_stats(tags: Mapping[str, str]) -> Any:
    """The JSON spread of the returned metrics with n > 1 (None when the run
    has none; ``ValueError`` when unreadable)."""
    return json_tag(tags, TAG_STATS)


def run_summaries(metrics: Mapping[str, float], tags: Mapping[str, str]) -> dict[str, Summary]:
    """What a run recorded of the metrics its experiment returned: the mean,
    with n and std from the ``experiments.stats`` tag when it had samples.
    Metrics logged on the side (autolog, ``log_metric``) are left out when the
    run names its returned metrics (``experiments.metrics``)."""
    try:
        names = returned_names(tags)
        spread = returned_stats(tags)
        if spread is None:
            spread = {}
    except ValueError:
        names, spread = None, {}
    wanted = names if isinstance(names, list) else list(metrics)
    summaries: dict[str, Summary] = {}
    for name in wanted:
        if name not in metrics:
            continue
        stats = spread.get(name) if isinstance(spread, dict) else None
        try:
            summaries[name] = Summary.from_json(stats) if stats else Summary(float(metrics[name]))
        except ValueError:
            summaries[name] = Summary(float(metrics[name]))
    return summaries


@dataclass(frozen=True)
class StoredRun:
    """One case's run, as the tracking store gave it (see
    ``tracking.MlflowBackend.group_runs``)."""

    run_id: str
    #: RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.
    status: str
    #: Milliseconds since the epoch (end: None while running).
    start_time: int
    end_time: int | None
    #: Latest value of each metric (the mean, for metrics with samples).
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    #: The run's page in the MLflow UI (HTTP stores only).
    url: str | None = None

    @property
    def nodeid(self) -> str | None:
        return self.tags.get(TAG_NODEID)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def superseded(self) -> bool:
        return TAG_SUPERSEDED_BY in self.tags

    @property
    def attempt(self) -> int:
        text = self.tags.get(TAG_ATTEMPT, "")
        return int(text) if text.isdigit() else 0


def run_seeds(tags: Mapping[str, str]) -> list[int]:
    """Each repeat's seed as the run recorded it (``experiments.seeds``,
    written when the case ran more than once); empty when it has none."""
    seeds = _json(tags.get(TAG_SEEDS), None)
    if isinstance(seeds, list) and all(
        isinstance(s, int) and not isinstance(s, bool) for s in seeds
    ):
        return seeds
    return []


def run_folds(tags: Mapping[str, str]) -> dict[str, int]:
    """Metric -> K for the metrics a run recorded as K cross-validation fold
    scores a repeat (``folds`` in ``experiments.stats``); empty when none."""
    try:
        spread = returned_stats(tags)
    except ValueError:
        return {}
    if not isinstance(spread, dict):
        return {}
    return {
        str(m): s["folds"]
        for m, s in spread.items()
        if isinstance(s, dict)
        and isinstance(s.get("folds"), int)
        and not isinstance(s["folds"], bool)
        and s["folds"] >= 2
    }


def fold_seeds(tags: Mapping[str, str], params: Mapping[str, str]) -> list[int]:
    """Each repeat's seed, the seed that drew its folds: ``experiments.seeds``,
    else (one repeat) the run's ``seed`` param."""
    seeds = run_seeds(tags)
    if seeds:
        return seeds
    seed = params.get("seed", "")
    return [int(seed)] if seed.lstrip("-").isdigit() else []


def _json(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


@dataclass
class Record:
    """What a case's run recorded of its result (see :func:`decode`)."""

    metrics: dict[str, float]
    spread: dict[str, dict[str, Any]]
    repeats: int
    seeds: list[int]
    comparisons: dict[str, Comparison]
    #: Whether the case had a baseline entry.
    has_baseline: bool
    #: The failure message the run recorded (None: none).
    message: str | None
    duration: float
    #: What could not be read back.
    notes: list[str]


def decode(run: StoredRun) -> Record:
    """The result a case's run recorded (see :func:`result_tags`,
    :func:`metric_tags` and :func:`repeat_tags`). Metrics are the ones the
    experiment returned (tag ``experiments.metrics``; metrics logged on the
    side are left out), each the run's value, which is the mean of its
    samples; a returned metric the run does not hold was not finite (NaN
    here). Spread: n, mean and std from tag ``experiments.stats`` (the
    samples themselves stay in the metric's history)."""
    tags = run.tags
    names = _json(tags.get(TAG_METRICS), [])
    names = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
    metrics = {n: float(run.metrics[n]) if n in run.metrics else math.nan for n in names}
    stats = _json(tags.get(TAG_STATS), {})
    spread: dict[str, dict[str, Any]] = {}
    for name in names:
        entry = stats.get(name) if isinstance(stats, dict) else None
        if isinstance(entry, dict) and {"mean", "n", "std"} <= set(entry):
            spread[name] = {
                "mean": float(entry["mean"]),
                "n": int(entry["n"]),
                "std": None if entry["std"] is None else float(entry["std"]),
                "samples": [],
            }
    repeats_text = tags.get(TAG_REPEATS, "1")
    repeats = int(repeats_text) if repeats_text.isdigit() and int(repeats_text) > 0 else 1
    seeds = run_seeds(tags)
    if not seeds:
        seed = run.params.get("seed", "")
        seeds = [int(seed)] if seed.lstrip("-").isdigit() else []
    comparisons: dict[str, Comparison] = {}
    notes: list[str] = []
    raw = _json(tags.get(TAG_COMPARISONS), None)
    if isinstance(raw, dict):
        try:
            comparisons = {str(m): Comparison.from_dict(c) for m, c in raw.items()}
        except TypeError:
            notes.append("its run's baseline comparisons could not be read")
    elif TAG_COMPARISONS in tags:
        notes.append("its run did not record its baseline comparisons (too many metrics)")
    try:
        duration = float(tags[TAG_DURATION])
    except (KeyError, ValueError):
        duration = max(0.0, ((run.end_time or run.start_time) - run.start_time) / 1000)
    return Record(
        metrics=metrics,
        spread=spread,
        repeats=repeats,
        seeds=list(seeds),
        comparisons=comparisons,
        has_baseline=TAG_COMPARISONS in tags,
        message=tags.get(TAG_MESSAGE),
        duration=duration,
        notes=notes,
    )


def provenance_of(runs: list[StoredRun]) -> tuple[list[str], list[str], bool, list[str]]:
    """The distinct commits, branches and data fingerprints the runs
    recorded (sorted), and whether any ran on a dirty work tree."""

    def values(tag: str) -> list[str]:
        return sorted({r.tags[tag] for r in runs if r.tags.get(tag)})

    dirty = any(r.tags.get(TAG_GIT_DIRTY) == "true" for r in runs)
    return values(TAG_GIT_COMMIT), values(TAG_GIT_BRANCH), dirty, values(TAG_DATA_FINGERPRINT)
