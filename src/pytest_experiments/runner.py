"""Running one experiment case: call, validate, check, compare, track.

Lives in every process that runs tests (xdist workers, or pytest itself
without xdist). mlflow is imported through :mod:`.tracking` only when the
first experiment case starts.
"""

from __future__ import annotations

import inspect
import math
import numbers
import random
import time
import traceback
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from . import baselines as baseline_files
from .collection import MASK, Declaration, is_secret_name
from .conditions import compare, regression_message
from .discovery import relative_file
from .provenance import Provenance, session_provenance
from .results import BAD_OUTCOMES, CaseResult
from .run import ExperimentRun
from .settings import Settings

if TYPE_CHECKING:
    from .tracking import MlflowBackend

#: Outcome severity: the worst one found wins.
_SEVERITY = {"passed": 0, "new": 1, "regressed": 2, "failed": 3, "error": 4, "crashed": 5}

RUN_KEY = pytest.StashKey[ExperimentRun]()
RESULT_KEY = pytest.StashKey[CaseResult]()


class MetricsError(TypeError):
    """The experiment returned something that is not a mapping of numbers."""


def validate_metrics(value: object) -> dict[str, float]:
    """The returned metrics as floats; MetricsError for anything else.

    Non-finite numbers are kept (they fail the case, they are not an error).
    """
    if not isinstance(value, Mapping):
        raise MetricsError(
            "an experiment must return a mapping of metric name to number, "
            f"got {type(value).__name__}: {_short(value)}"
        )
    metrics: dict[str, float] = {}
    bad: list[str] = []
    for key, number in value.items():
        if not isinstance(key, str):
            bad.append(f"metric name {key!r} is not a string")
        elif isinstance(number, bool) or not isinstance(number, numbers.Real):
            bad.append(f"metric {key!r} is {type(number).__name__} {_short(number)}, not a number")
        else:
            metrics[key] = float(number)
    if bad:
        raise MetricsError("; ".join(bad))
    return metrics


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CaseRunner:
    """Runs experiment cases in this process and remembers per-file state."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.declarations: dict[str, Declaration] = {}
        self._backend: MlflowBackend | None = None
        self._baselines: dict[str, baseline_files.Baselines] = {}

    # -- lazily built session state ------------------------------------------
    @property
    def provenance(self) -> Provenance:
        return session_provenance(self.config, self.settings)

    @property
    def backend(self) -> MlflowBackend:
        if self._backend is None:
            from .tracking import MlflowBackend

            self._backend = MlflowBackend(self.settings, self.provenance)
        return self._backend

    def prepare_tracking(self) -> None:
        """Import mlflow before the first case (see MlflowBackend.prepare)."""
        try:
            self.backend.prepare()
        except Exception:
            pass  # the first case's run start raises it again, and reports it there

    def declaration(self, item: pytest.Function) -> Declaration:
        assert item.parent is not None
        return self.declarations[f"{item.parent.nodeid}::{item.originalname}"]

    def baseline_for(self, item: pytest.Function, case_id: str) -> dict[str, float] | None:
        """The case's baseline entry (None: the case is new)."""
        key = item.path.as_posix()
        if key not in self._baselines:
            if self.settings.baseline_filter is not None:
                self._baselines[key] = self.backend.baseline_metrics(
                    item.path.stem, self.settings.baseline_filter
                )
            else:
                self._baselines[key] = baseline_files.load(baseline_files.baseline_path(item.path))
        return self._baselines[key].get(case_id)

    # -- one case -------------------------------------------------------------
    def seed(self) -> None:
        """Seed Python's and NumPy's global RNGs before a case."""
        random.seed(self.settings.seed)
        try:
            import numpy
        except ImportError:  # pragma: no cover - numpy comes with scikit-learn
            return
        numpy.random.seed(self.settings.seed)

    def run(self, item: pytest.Function) -> None:
        """Run the case (the call phase) and leave its CaseResult in the stash."""
        decl = self.declaration(item)
        marker = item.get_closest_marker("params")
        params: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        case_id = item.nodeid.split("::", 1)[1]
        handle = item.stash.get(RUN_KEY, None)
        if handle is None:
            handle = item.stash[RUN_KEY] = ExperimentRun(tracking=self.settings.tracking)
        result = CaseResult(
            nodeid=item.nodeid,
            file=relative_file(item),
            experiment=item.originalname,
            case_id=case_id,
            params=params,
            expect={k: c.text for k, c in decl.expect.items()},
            doc=decl.doc,
        )
        item.stash[RESULT_KEY] = result
        problems: list[tuple[str, str]] = []  # (outcome, message)

        active = None
        tracking_notes: list[str] = []
        if self.settings.tracking:
            try:
                active = self.backend.start(
                    stem=item.path.stem,
                    run_name=case_id,
                    nodeid=item.nodeid,
                    tags=self._user_tags(item),
                )
                handle._attach(active)
                result.run_id, result.run_url = active.run_id, active.url
            except Exception as exc:
                problems.append(("error", f"MLflow tracking failed at run start: {_describe(exc)}"))

        # Again right before the call: fixtures set up for this case (or a
        # session fixture built only for the first case) must not shift the draws.
        self.seed()
        start = time.perf_counter()
        returned: object = None
        raised: BaseException | None = None
        try:
            returned = self._call(item)
        except BaseException as exc:
            raised = exc
        result.duration = time.perf_counter() - start

        if raised is not None:
            skipped = isinstance(raised, pytest.skip.Exception)
            interrupted = isinstance(raised, (KeyboardInterrupt, SystemExit))
            result.outcome = "error"
            result.message = "".join(traceback.format_exception_only(type(raised), raised)).strip()
            status = "FINISHED" if skipped else "KILLED" if interrupted else "FAILED"
            tags = {"outcome": "skipped" if skipped else "interrupted" if interrupted else "error"}
            if skipped:
                del item.stash[RESULT_KEY]
            tb = None if skipped or interrupted else "".join(traceback.format_exception(raised))
            self._finish(active, handle, result, status, tags, {}, tb, tracking_notes)
            raise raised

        metrics: dict[str, float] = {}
        try:
            metrics = validate_metrics(returned)
        except MetricsError as exc:
            problems.append(("error", str(exc)))
        result.metrics = metrics
        result.directions = {m: decl.direction(m) for m in {*metrics, *decl.expect}}
        if not any(o == "error" for o, _ in problems):
            problems.extend(self._check(item, decl, case_id, metrics, result))

        outcome = max((o for o, _ in problems), key=_SEVERITY.__getitem__, default=None)
        if outcome is None:
            outcome = "passed" if result.has_baseline else "new"
        result.outcome = outcome
        result.message = "\n".join(m for _, m in problems) or None
        status = "FAILED" if outcome == "error" else "FINISHED"
        finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
        self._finish(
            active, handle, result, status, {"outcome": outcome}, finite, None, tracking_notes
        )
        if result.outcome in BAD_OUTCOMES:
            pytest.fail(f"[{result.outcome}] {result.message}", pytrace=False)

    def _call(self, item: pytest.Function) -> object:
        function = item.obj
        names = inspect.signature(function).parameters
        kwargs = {name: item.funcargs[name] for name in names if name in item.funcargs}
        returned = function(**kwargs)
        if inspect.isawaitable(returned):
            import asyncio

            returned = asyncio.run(_await(returned))
        return returned

    def _check(
        self,
        item: pytest.Function,
        decl: Declaration,
        case_id: str,
        metrics: dict[str, float],
        result: CaseResult,
    ) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for metric, value in metrics.items():
            if not math.isfinite(value):
                problems.append(("failed", f"metric {metric!r} is {value} (not finite)"))
        for metric, condition in decl.expect.items():
            if metric not in metrics:
                returned = ", ".join(sorted(metrics)) or "nothing"
                problems.append(
                    (
                        "failed",
                        f"expected metric {metric!r} was not returned (returned: {returned})",
                    )
                )
            elif math.isfinite(metrics[metric]):
                message = condition.check(metric, metrics[metric])
                if message:
                    problems.append(("failed", message))
        try:
            baseline = self.baseline_for(item, case_id)
        except Exception as exc:
            return [*problems, ("error", f"{item.nodeid.split('[')[0]}: {_describe(exc)}")]
        if baseline is None:
            if self.settings.strict_baseline and not self.settings.update_baseline:
                problems.append(
                    (
                        "failed",
                        f"no baseline for {case_id} (--exp-strict-baseline); "
                        "accept one with --exp-update-baseline",
                    )
                )
            return problems
        result.has_baseline = True
        for metric, old in baseline.items():
            if metric not in metrics:
                if not self.settings.update_baseline:
                    problems.append(("regressed", f"baseline metric {metric!r} was not returned"))
                continue
            comparison = compare(
                metric, old, metrics[metric], decl.direction(metric), decl.tolerance(metric)
            )
            result.comparisons[metric] = comparison
            if comparison.status == "regressed" and not self.settings.update_baseline:
                problems.append(("regressed", regression_message(comparison)))
        return problems

    def _user_tags(self, item: pytest.Function) -> dict[str, str]:
        tags: dict[str, str] = {}
        for extra in item.ihook.pytest_experiments_run_tags(item=item):
            tags.update({str(k): str(v) for k, v in extra.items()})
        return tags

    def _finish(
        self,
        active: Any,
        handle: ExperimentRun,
        result: CaseResult,
        status: str,
        tags: dict[str, str],
        metrics: dict[str, float],
        traceback_text: str | None,
        notes: list[str],
    ) -> None:
        if active is None:
            handle._detach()
            return
        now = int(time.time() * 1000)
        all_metrics = [(k, v, now, 0) for k, v in metrics.items()] + handle.metrics
        all_tags = {**handle.tags, **tags}
        user_params = {k: MASK if is_secret_name(k) else v for k, v in handle.params.items()}
        case_params = {**result.params, "seed": self.settings.seed}
        for key in user_params.keys() & case_params.keys():
            if str(user_params[key]) != str(case_params[key]):
                notes.append(
                    f"param {key!r} logged by the experiment ({_short(user_params[key], 40)}) "
                    f"differs from the case's; the case's value ({case_params[key]}) is kept"
                )
        all_params = {**user_params, **case_params}
        failure: str | None = None
        try:
            notes.extend(
                self.backend.finish(
                    active,
                    status=status,
                    metrics=all_metrics,
                    params=all_params,
                    tags=all_tags,
                    traceback_text=traceback_text,
                )
            )
        except Exception as exc:
            message = f"MLflow tracking failed at run end: {_describe(exc)}"
            if result.outcome != "error" or result.message is None:
                result.outcome = "error"
                result.message = "\n".join(filter(None, [result.message, message]))
            if status != "FAILED" or traceback_text is None:
                failure = f"[error] {result.message}"
        finally:
            handle._detach()
        for note in notes:
            result.notes.append(note)
            warnings.warn(pytest.PytestWarning(f"{result.case_id}: {note}"), stacklevel=1)
        if failure is not None:  # outside the except: no chain of MLflow's exceptions
            pytest.fail(failure, pytrace=False)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _describe(exc: BaseException) -> str:
    from .tracking import scrub_credentials

    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return scrub_credentials(f"{type(exc).__name__}: {message}".splitlines()[0])[:500]
