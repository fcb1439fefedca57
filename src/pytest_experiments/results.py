"""Plain result records that travel from workers to the controller.

Everything here is JSON-friendly (``to_dict``/``from_dict``) because results
ride on pytest reports, which xdist serialises between processes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

#: Every outcome a case can be recorded with.
Outcome = Literal[
    "passed",
    "new",
    "failed",
    "regressed",
    "error",
    "crashed",
    "skipped",
    "xfailed",
    "xpassed",
    "missing",
]
#: Which way is better for a metric.
Direction = Literal["higher", "lower"]
#: How a metric compares with its baseline (see :class:`Comparison`).
Status = Literal["better", "same", "worse", "noise", "regressed"]
ALL_OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

#: Every outcome a case can end with, in the order the report lists them.
OUTCOMES = ("passed", "new", "failed", "regressed", "error", "crashed")
#: pytest's own outcomes, recorded as such (counted after OUTCOMES when present).
PYTEST_OUTCOMES = ("skipped", "xfailed", "xpassed")
#: A case a merge (``--exp-merge``) found no run of (counted after OUTCOMES when present).
MERGE_OUTCOMES = ("missing",)
#: Outcomes that make pytest's exit status non-zero.
BAD_OUTCOMES = frozenset({"failed", "regressed", "error", "crashed", "missing"})


@dataclass(frozen=True)
class Comparison:
    """One metric of a case compared with its baseline."""

    metric: str
    #: Baseline mean and current mean.
    baseline: float
    current: float
    #: ``current - baseline`` (sign is raw; use ``status`` for good/bad).
    delta: float
    #: ``"higher"`` or ``"lower"``: which way is better for this metric.
    direction: Direction
    #: The allowed drop as written (``0.01`` or ``"2%"``), for messages.
    tolerance: str
    #: ``"better"``, ``"same"``, ``"worse"`` (within tolerance), ``"noise"``
    #: (worse beyond the tolerance, but not statistically significant) or
    #: ``"regressed"``.
    status: Status
    #: Samples behind each mean (1: a single value, no spread known).
    baseline_n: int = 1
    current_n: int = 1
    #: Half widths of the 95% confidence intervals (None when n == 1).
    baseline_ci: float | None = None
    current_ci: float | None = None
    #: One-sided p-value of H0 "the worsening is at most the tolerance" (None:
    #: no test was made, see ``noise``), and the test that gave it ("paired
    #: t" over test examples or paired seeds, "corrected resampled t" over
    #: folds, "fold Welch t" over folds that do not pair, "permutation" or
    #: "Welch t").
    p_value: float | None = None
    test: str | None = None
    #: Whether the metric gates the case (declared, or all when none is).
    gated: bool = True
    #: The allowed worsening in the metric's units (the tolerance applied).
    allowed: float = 0.0
    #: One-sided upper 95% confidence bound on the worsening (None: no test).
    bound: float | None = None
    #: The smallest true worsening the gate catches with 80% power at the
    #: threshold a case decides alone (None: not known, or it cannot fire).
    detectable: float | None = None
    #: The smallest p-value the test can give with these n (0: unbounded).
    p_floor: float = 0.0
    #: Which noise the test saw: "test examples and seeds", "test examples",
    #: "<k> paired seeds", "<K> folds" or "<R> x <K> folds", "seeds", or why
    #: there is no test ("no noise estimate", "constant", "constant
    #: differences over <k> paired seeds" or "... over <K> folds"); where a
    #: side declared folds that could not be paired, why, in brackets after
    #: it ("seeds (folds not paired: the baseline records no folds)").
    noise: str = "no noise estimate"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        return cls(**data)

    def with_status(self, status: Status) -> Comparison:
        return dataclasses.replace(self, status=status)


@dataclass
class CaseResult:
    """What one experiment case produced, as the controller sees it."""

    #: pytest node id, e.g. ``experiments/exp_002_rf.py::exp_rf[n_estimators=100]``.
    nodeid: str
    #: Path of the experiment file relative to the rootdir (``/`` separators).
    file: str
    #: Name of the experiment function (``exp_rf``).
    experiment: str
    #: Case id without the file: ``exp_rf[n_estimators=100]`` (baseline key, run name).
    case_id: str
    #: Case parameters; values that are not JSON scalars are given as their id text.
    params: dict[str, Any] = field(default_factory=dict)
    #: Returned metrics (finite or not; non-finite ones make the case fail):
    #: the mean of each metric's samples.
    metrics: dict[str, float] = field(default_factory=dict)
    #: Per metric with more than one sample: n, mean, std and the samples
    #: (see :class:`~pytest_experiments.stats.Summary`).
    spread: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Series the experiment logged with ``experiment_run.log_metric`` in its
    #: first repeat (learning curves): metric -> ``[[step, value], ...]``.
    curves: dict[str, list[list[float]]] = field(default_factory=dict)
    #: How many times the case body ran, and the seed of each repeat.
    repeats: int = 1
    seeds: list[int] = field(default_factory=list)
    #: One of OUTCOMES.
    outcome: Outcome = "passed"
    #: Failure/error message shown to the user (None when the case passed).
    message: str | None = None
    #: Wall seconds of the call phase.
    duration: float = 0.0
    #: What the case cost (:mod:`.cost`): ``cost.wall_seconds``,
    #: ``cost.cpu_seconds``, ``cost.peak_memory_mb``, ``cost.gpu_peak_memory_mb``.
    cost: dict[str, float] = field(default_factory=dict)
    #: ``"higher"``/``"lower"`` per metric, for marking best values and deltas.
    directions: dict[str, Direction] = field(default_factory=dict)
    #: Baseline comparison per metric (empty when the case is new).
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    #: Whether a baseline entry existed for this case.
    has_baseline: bool = False
    #: Expectations as written, metric -> condition text.
    expect: dict[str, str] = field(default_factory=dict)
    #: The metrics the experiment declares (expect, tolerance, direction
    #: lists), which gate its cases; empty: every returned metric gates.
    gated_metrics: list[str] = field(default_factory=list)
    #: ``@experiment(primary_metric=...)``: the metric its file is ranked by.
    primary_metric: str | None = None
    #: Tracking run id and its web page (only for an HTTP tracking server).
    run_id: str | None = None
    run_url: str | None = None
    #: Experiment description: the function's docstring, else the module's.
    doc: str | None = None
    #: Things the user should know that did not fail the case (e.g. a param
    #: MLflow truncated).
    notes: list[str] = field(default_factory=list)
    #: Why the case has no complete MLflow run although tracking was on (the
    #: tracking server stopped answering during the session), else None.
    untracked: str | None = None
    #: ``--exp-cache``: the case was not run again; its metrics come from this
    #: earlier run (id, and its web page for an HTTP tracking server).
    cached_from: str | None = None
    cached_from_url: str | None = None
    #: The case's logged predictions (:meth:`Predictions.to_text`), carried to
    #: the controller only when it writes baselines (``--exp-update-baseline``).
    predictions: str | None = None

    @classmethod
    def for_item(cls, nodeid: str, file: str, **fields: Any) -> CaseResult:
        """A result for the case with this node id (file relative to rootdir):
        experiment and case id are read off the node id."""
        case_id = nodeid.split("::", 1)[1] if "::" in nodeid else nodeid
        experiment = case_id.split("[", 1)[0]
        return cls(nodeid=nodeid, file=file, experiment=experiment, case_id=case_id, **fields)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["comparisons"] = {k: v.to_dict() for k, v in self.comparisons.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        data = dict(data)
        data["comparisons"] = {
            k: Comparison.from_dict(v) for k, v in data.get("comparisons", {}).items()
        }
        return cls(**data)


@dataclass
class SessionInfo:
    """Session-wide facts for the report header."""

    started: str  # ISO 8601 local time
    wall_time: float = 0.0
    commit: str | None = None
    branch: str | None = None
    dirty: bool = False
    data_fingerprint: str | None = None
    #: Tracking URI with credentials removed, or None with tracking off.
    tracking_uri: str | None = None
    #: True when the session was interrupted (Ctrl-C) or stopped early.
    partial: bool = False
    #: Name of the primary metric for the leaderboard (None: choose automatically).
    primary_metric: str | None = None
    #: How the leaderboard ranks cases: ``"file"`` (each experiment file its
    #: own cases, by its own primary metric) or ``"global"`` (all together).
    leaderboard: str = "file"
    #: The session group its runs were tagged with (None with tracking off).
    session_group: str | None = None
    #: For ``--exp-merge``: group, what the name matched ("session group" or
    #: "session id"), runs, sessions and missing cases; None for a session.
    merged: dict[str, Any] | None = None
    #: Files (or other collectors) that failed to collect, each as
    #: ``{"nodeid": ..., "message": ...}``: a red run says why in its report.
    collection_errors: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
