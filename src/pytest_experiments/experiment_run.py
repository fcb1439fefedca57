"""The ``experiment_run`` fixture's object: the case's tracked run.

This module never imports mlflow. Params, metrics and tags are buffered and
written in one batch when the case ends (few transactions per case keep the
shared sqlite store fast under xdist); artifacts and models go to the active
run as soon as it exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

#: Most points of one ``log_metric`` series kept for the report's learning curves.
CURVE_POINTS = 1000


class ActiveRun(Protocol):
    """What a tracking backend provides for a started run."""

    run_id: str
    url: str | None

    def log_artifact(self, path: str, artifact_path: str | None) -> None: ...
    def log_model(self, model: Any, name: str, kwargs: dict[str, Any]) -> None: ...
    def log_figure(self, figure: Any, filename: str) -> None: ...
    def log_text(self, text: str, filename: str) -> None: ...


class ExperimentRun:
    """The tracked run of one experiment case (the ``experiment_run`` fixture).

    With tracking off every method is a harmless no-op and :attr:`run_id` is
    None, so experiments never branch on whether tracking is on.
    """

    def __init__(self, tracking: bool = True) -> None:
        self._tracking = tracking
        self._active: ActiveRun | None = None
        self._pending: list[Callable[[ActiveRun], None]] = []
        self.params: dict[str, Any] = {}
        self.metrics: list[tuple[str, float, int, int]] = []  # name, value, ms, step
        self.tags: dict[str, str] = {}
        #: The first repeat's ``log_metric`` series, tracked or not: name ->
        #: ``[[step, value], ...]``, drawn as learning curves in the report.
        self.curves: dict[str, list[list[float]]] = {}
        #: Index of the repeat running now (0 for the first; see ``repeats=``).
        self._repeat = 0
        #: What ``log_predictions`` received, by repeat (checked, as arrays).
        self._predictions: dict[int, dict[str, Any]] = {}

    # -- read-only facts ------------------------------------------------------
    @property
    def run_id(self) -> str | None:
        """The MLflow run id (None with tracking off or before the case starts)."""
        return self._active.run_id if self._active is not None else None

    @property
    def url(self) -> str | None:
        """The run's page in the MLflow UI (HTTP tracking servers only)."""
        return self._active.url if self._active is not None else None

    @property
    def repeat(self) -> int:
        """Which repeat of the case is running: 0, 1, ... (always 0 without repeats).

        Artifacts, figures, text and models are kept from the first repeat
        only (later repeats' calls are no-ops), so a case with ``repeats=5``
        logs one model, not five; params, tags and metrics come from every repeat.
        """
        return self._repeat

    @property
    def tracking(self) -> bool:
        """Whether this run is recorded anywhere."""
        return self._tracking

    # -- logging --------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Record a param besides the case's own (written when the case ends)."""
        if self._tracking:
            self.params[str(key)] = value

    def log_params(self, params: dict[str, Any]) -> None:
        for key, value in params.items():
            self.log_param(key, value)

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record a metric value, e.g. a learning curve with ``step``.

        Metrics the experiment *returns* are logged for it; use this for
        extra series that expectations and baselines should not look at.
        The first repeat's series also go to the report as learning curves,
        with tracking on or off.
        """
        number = float(value)
        if not self._repeat:
            curve = self.curves.setdefault(str(name), [])
            curve.append([float(len(curve) if step is None else int(step)), number])
        if not self._tracking:
            return
        step_no = step if step is not None else len([m for m in self.metrics if m[0] == name])
        self.metrics.append((str(name), number, int(time.time() * 1000), int(step_no)))

    def log_predictions(
        self, y_true: Any, y_pred: Any, *, index: Any = None, y_score: Any = None
    ) -> None:
        """Hand over the predictions behind the returned metrics, once per repeat.

        ``y_true`` and ``y_pred`` hold one entry per test example (lists, NumPy
        arrays or pandas Series); ``index`` names the examples (default
        0..n-1; a DataFrame's index works); ``y_score`` holds a score (or a row
        of class scores) per example, for metrics such as roc_auc and log_loss.

        With predictions on both sides, the gate compares the current model
        with the baseline's on the same test examples, which sees the test
        set's noise as well as the seed's, and works with one fit per case.
        They are stored in the baseline's sidecar file on
        ``--exp-update-baseline`` and as the run artifact ``predictions.npz``.
        Works with tracking off too (the gate still uses them).
        """
        from .predictions import logged_entry

        self._predictions[self._repeat] = logged_entry(y_true, y_pred, index, y_score)

    def set_tag(self, key: str, value: Any) -> None:
        if self._tracking:
            self.tags[str(key)] = str(value)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Copy a local file (or folder) into the run's artifacts."""
        local = str(path)
        if not Path(local).exists():
            raise FileNotFoundError(f"log_artifact: no such file or folder: {local}")
        self._do(lambda run: run.log_artifact(local, artifact_path))

    def log_model(self, model: Any, name: str = "model", **kwargs: Any) -> None:
        """Log a model to the run.

        scikit-learn estimators (tree ensembles included) are saved with
        cloudpickle and pinned requirements worked out once per session; pass
        ``flavor="xgboost"`` (any ``mlflow.<flavor>``) for other libraries, and
        any keyword of that flavor's ``log_model`` (``input_example``,
        ``signature``, ``pip_requirements``...).
        """
        self._do(lambda run: run.log_model(model, name, dict(kwargs)))

    def log_figure(self, figure: Any, filename: str) -> None:
        """Save a matplotlib/plotly figure as an artifact."""
        self._do(lambda run: run.log_figure(figure, filename))

    def log_text(self, text: str, filename: str) -> None:
        """Save text as an artifact file."""
        self._do(lambda run: run.log_text(text, filename))

    # -- used by the runner (documented internals, not for experiments) -------
    def start_attempt(self) -> None:
        """Forget the predictions of an earlier attempt (pytest-rerunfailures)."""
        self._predictions = {}

    def stop_tracking(self) -> None:
        """The store is gone: the case runs untracked."""
        self._tracking = False

    def enter_repeat(self, repeat: int) -> None:
        """The case's repeat ``repeat`` (from 0) runs now."""
        self._repeat = repeat

    def logged_predictions(self) -> dict[int, dict[str, Any]]:
        """What ``log_predictions`` received, by repeat."""
        return self._predictions

    def _do(self, action: Callable[[ActiveRun], None]) -> None:
        if not self._tracking or self._repeat:
            return
        if self._active is None:
            self._pending.append(action)
        else:
            action(self._active)

    def attach(self, active: ActiveRun) -> None:
        """Bind to the started run and replay what was logged before it."""
        self._active = active
        pending, self._pending = self._pending, []
        for action in pending:
            action(active)

    def detach(self) -> None:
        """The case's run has ended."""
        self._active = None

    def report_curves(self) -> dict[str, list[list[float]]]:
        """:attr:`curves` for the case's result: about :data:`CURVE_POINTS`
        points per series at most (every k-th step, the last one kept), so that a long
        training loop does not swell what travels between processes."""
        thinned: dict[str, list[list[float]]] = {}
        for name, points in self.curves.items():
            stride = -(-len(points) // CURVE_POINTS)
            kept = points[::stride]
            if kept[-1] is not points[-1]:
                kept.append(points[-1])
            thinned[name] = [list(point) for point in kept]
        return thinned

    def __repr__(self) -> str:
        return f"<ExperimentRun run_id={self.run_id!r} tracking={self._tracking}>"
