"""Running one experiment case: call, validate, check, compare, track.

Lives in every process that runs tests (xdist workers, or pytest itself
without xdist). mlflow is imported through :mod:`.tracking` only when the
first experiment case starts.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import numbers
import random
import time
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import baselines as baseline_files
from .codec import (
    attempt_tags,
    cached_tags,
    metric_history,
    metric_tags,
    repeat_tags,
    result_tags,
)
from .collection import case_of
from .cost import CostMeter
from .declarations import Declaration
from .discovery import relative_file
from .experiment_run import ExperimentRun
from .grids import Case
from .ids import described_in_full, mask_secret, tracked_params
from .keys import RESULT_KEY, RUN_KEY, SEED_FIXTURE_KEY
from .predictions import ARTIFACT as PREDICTIONS_ARTIFACT
from .predictions import Predictions, PredictionsError, load_sidecar, sidecar_path
from .provenance import Provenance, session_provenance
from .redaction import is_secret_name
from .results import BAD_OUTCOMES, CaseResult, Outcome
from .settings import Settings
from .stats import Summary
from .tags import (
    TAG_CACHE_KEY,
    TAG_OUTCOME,
    TAG_SUPERSEDED_BY,
)
from .verdict import SEVERITY, Gate, evaluate

if TYPE_CHECKING:
    from .cache import CacheCandidate, CacheHit, Environment
    from .tracking import MlflowBackend


def repeat_seeds(base: int, repeats: int) -> list[int]:
    """The seed of each repeat: the case's own seed first, then seeds derived
    from it (sha256 of ``"<base>:<i>"``, 32 bits), the same on every machine."""
    seeds = [base]
    for i in range(1, repeats):
        digest = hashlib.sha256(f"{base}:{i}".encode()).digest()
        seeds.append(int.from_bytes(digest[:4], "big"))
    return seeds


class MetricsError(TypeError):
    """The experiment returned something that is not a mapping of numbers."""


def validate_metrics(value: object) -> dict[str, list[float]]:
    """The returned metrics as lists of samples; MetricsError for anything else.

    A metric is a real number (one sample) or a non-empty sequence of real
    numbers (samples: CV folds, bootstrap draws). Non-finite numbers are kept
    (they fail the case, they are not an error).
    """
    if not isinstance(value, Mapping):
        raise MetricsError(
            "an experiment must return a mapping of metric name to number, "
            f"got {type(value).__name__}: {_short(value)}"
        )
    metrics: dict[str, list[float]] = {}
    bad: list[str] = []
    for key, number in value.items():
        if not isinstance(key, str):
            bad.append(f"metric name {key!r} is not a string")
            continue
        samples = _samples(number)
        if samples is None:
            bad.append(
                f"metric {key!r} is {type(number).__name__} {_short(number)}, "
                "not a number or a sequence of numbers"
            )
        else:
            metrics[key] = samples
    if bad:
        raise MetricsError("; ".join(bad))
    return metrics


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _samples(value: object) -> list[float] | None:
    """``value`` as a list of samples, or None when it is not a metric."""
    if _is_real(value):
        return [float(value)]  # type: ignore[arg-type]
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        return None
    if getattr(value, "ndim", 1) != 1:  # a numpy array must be 1-d
        return None
    try:
        items = list(value)  # type: ignore[call-overload]
    except TypeError:
        return None
    if not items or not all(_is_real(v) for v in items):
        return None
    return [float(v) for v in items]


def _fold_problem(
    returned: object, metrics: Mapping[str, list[float]], folds: int, repeat: int, repeats: int
) -> str | None:
    """What is wrong with a repeat's metrics under ``folds=K``: every
    returned sequence must hold K fold scores (a plain number is a metric of
    its own, not a fold score); None when nothing is."""
    assert isinstance(returned, Mapping)  # validate_metrics checked it
    wrong = [
        f"{metric!r} has {len(values)}"
        for metric, values in metrics.items()
        if not _is_real(returned[metric]) and len(values) != folds
    ]
    if not wrong:
        return None
    return (
        f"{_repeat_prefix(repeat, repeats)}folds={folds} declares {folds} fold scores in "
        f"every returned sequence, but {', '.join(wrong)}: return one score a fold, "
        "in the folds' order"
    )


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
        self._baselines: dict[str, dict[str, dict[str, Summary]]] = {}
        self._baseline_predictions: dict[str, dict[str, Predictions]] = {}
        #: Gated comparisons that cannot fail, found by :meth:`prepare_gate`.
        self.gate_warnings: list[str] = []
        #: Node ids of the selected cases, by experiment file.
        self._nodeids: dict[str, set[str]] = {}
        #: Why tracking stopped for good in this process (a server that died).
        self.tracking_lost: str | None = None
        #: The run of each case's latest attempt (pytest-rerunfailures).
        self._attempts: dict[str, str] = {}
        #: The run cache: loaded code, and per experiment file the stored runs
        #: that may answer a case, by key (one search per file and process).
        self._environment: Environment | None = None
        self._cached_runs: dict[str, dict[str, list[CacheCandidate]]] = {}
        self.gate = Gate(
            alpha=settings.alpha,
            update_baseline=settings.update_baseline,
            strict_baseline=settings.strict_baseline,
        )

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
        self.environment  # noqa: B018 - read the installed distributions now, not in a case

    def declaration(self, item: pytest.Function) -> Declaration:
        assert item.parent is not None
        return self.declarations[f"{item.parent.nodeid}::{item.originalname}"]

    def baseline_for(self, item: pytest.Function, case_id: str) -> dict[str, Summary] | None:
        """The case's baseline entry (None: the case is new). Baseline files
        are keyed by case id (one file per experiment file); MLflow runs are
        matched by the case's node id."""
        key = item.path.as_posix()
        if key not in self._baselines:
            if self.settings.baseline.from_mlflow:
                self._baselines[key] = self.backend.baseline_summaries(
                    relative_file(item), self.settings.baseline.filter, self._nodeids.get(key)
                )
            else:
                self._baselines[key] = baseline_files.load(baseline_files.baseline_path(item.path))
        source = self._baselines[key]
        return source.get(item.nodeid if self.settings.baseline.from_mlflow else case_id)

    def baseline_predictions_for(self, item: pytest.Function, case_id: str) -> Predictions | None:
        """The baseline's predictions for the case, from the sidecar beside its
        baseline file or from the runs of an MLflow baseline (None: none were
        accepted with predictions)."""
        if self.settings.baseline.from_mlflow:
            self.baseline_for(item, case_id)  # picks the runs, once per file
            return self.backend.baseline_predictions(item.nodeid)
        key = item.path.as_posix()
        if key not in self._baseline_predictions:
            path = sidecar_path(baseline_files.baseline_path(item.path))
            self._baseline_predictions[key] = load_sidecar(path)
        return self._baseline_predictions[key].get(case_id)

    def _keep_predictions(
        self,
        active: Any,
        result: CaseResult,
        predictions: Predictions,
        notes: list[str],
    ) -> None:
        """Log the case's predictions as a run artifact, and carry them to the
        controller when it writes baselines."""
        if self.settings.update_baseline:
            result.predictions = predictions.to_text()
        if active is None:
            return
        import tempfile

        try:
            with tempfile.TemporaryDirectory(prefix="pytest-experiments-") as folder:
                path = Path(folder) / PREDICTIONS_ARTIFACT
                path.write_bytes(predictions.to_bytes())
                active.log_artifact(str(path), None)
        except Exception as exc:
            notes.append(f"could not log the predictions artifact: {_describe(exc)}")

    def prepare_gate(self, items: list[pytest.Item]) -> None:
        """Plan the session's gated comparisons (:func:`verdict.plan_gate`):
        Holm's m, so each case can apply the part of the correction it can
        decide alone, and a warning for each comparison that cannot fail.
        Every process collects the same items, so every worker gets the same
        plan."""
        from .paired import metric_spec
        from .stats import common_seeds
        from .verdict import Planned, plan_gate

        cases = [i for i in items if isinstance(i, pytest.Function)]
        for item in cases:
            self._nodeids.setdefault(item.path.as_posix(), set()).add(item.nodeid)
        planned: list[Planned] = []
        for item in cases:
            case_id = item.nodeid.split("::", 1)[1]
            try:
                decl = self.declaration(item)
                entry = self.baseline_for(item, case_id)
                predictions = self.baseline_predictions_for(item, case_id) if entry else None
                repeats = decl.repeats or self.settings.repeats
                # (a single repeat's seed counts for folds: it draws them)
                seeded = repeats > 1 or decl.folds is not None
                seeds = repeat_seeds(self.case_seed(item, None), repeats) if seeded else []
            except Exception:  # reported by the case itself when it runs
                continue
            if not entry:
                continue
            gated = decl.gated(()) or set(entry)
            for metric, summary in entry.items():
                if metric not in gated:
                    continue
                # One repeat may still return a sequence of samples; with
                # folds=K, K of them a repeat (where the baseline's were folds).
                current_n = repeats if repeats > 1 else None
                if decl.folds is not None and summary.folds:
                    current_n = repeats * decl.folds
                paired = (
                    predictions is not None
                    and metric_spec(metric, decl.metric_functions) is not None
                )
                planned.append(
                    Planned(
                        case=item.nodeid,
                        metric=metric,
                        paired=paired,
                        baseline_n=summary.n if summary.spread_known else 1,
                        current_n=current_n,
                        pairs=common_seeds(summary.seeds, seeds)
                        if summary.has_samples and not summary.folds
                        else 0,
                        # fold scores on both sides: the corrected test
                        # where they pair, else Welch's counting K a side;
                        # neither has a floor
                        folded=summary.has_samples
                        and bool(summary.folds)
                        and decl.folds is not None,
                    )
                )
        m, first_step, self.gate_warnings = plan_gate(planned, self.settings.alpha)
        self.gate = Gate(
            alpha=self.settings.alpha,
            comparisons=m,
            first_step=first_step,
            update_baseline=self.settings.update_baseline,
            strict_baseline=self.settings.strict_baseline,
        )

    # -- one case -------------------------------------------------------------
    def seed(self, item: pytest.Item | None = None) -> None:
        """Seed Python's and NumPy's global RNGs before a case."""
        seed_rngs(self.settings.seed if item is None else self.case_seed(item, None))

    def case_seed(self, item: pytest.Item, params: Mapping[str, Any] | None) -> int:
        """The case's own seed: a grid param named ``seed``, else the value of
        a project's own ``seed`` fixture, else ``--exp-seed``."""
        if params is None:
            params = self.case(item).values
        value = params.get("seed")
        funcargs = getattr(item, "funcargs", {})
        if value is None and "seed" in funcargs and not item.stash.get(SEED_FIXTURE_KEY, False):
            value = funcargs["seed"]  # the project's own fixture
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        return self.settings.seed

    def case(self, item: pytest.Item) -> Case:
        """The declared case this item runs."""
        assert isinstance(item, pytest.Function)
        return case_of(item, self.declaration(item))

    def case_params(self, item: pytest.Item) -> dict[str, Any]:
        """The case's params as shown in results and reports."""
        return dict(self.case(item).display)

    def record_outcome(self, result: CaseResult, outcome: Outcome) -> None:
        """Correct a case's outcome after pytest settled it (an xfail mark)."""
        result.outcome = outcome
        if result.run_id is not None and self.settings.tracking:
            try:
                self.backend.set_outcome(result.run_id, outcome)
            except Exception as exc:
                result.notes.append(f"could not set outcome {outcome} in MLflow: {_describe(exc)}")

    def run(self, item: pytest.Function) -> None:
        """Run the case (the call phase) and leave its CaseResult in the stash."""
        decl = self.declaration(item)
        case = self.case(item)
        params = dict(case.display)
        case_id = item.nodeid.split("::", 1)[1]
        handle = item.stash.get(RUN_KEY, None)
        if handle is None:
            handle = item.stash[RUN_KEY] = ExperimentRun(tracking=self.settings.tracking)
        handle.start_attempt()  # a rerun (pytest-rerunfailures) starts afresh
        base_seed = self.case_seed(item, case.values)
        repeats = decl.repeats or self.settings.repeats
        result = CaseResult.for_item(
            item.nodeid,
            relative_file(item),
            params=params,
            expect={k: c.text for k, c in decl.expect.items()},
            gated_metrics=list(decl.declared_metrics()),
            primary_metric=decl.primary_metric,
            doc=decl.doc,
            repeats=repeats,
            seeds=repeat_seeds(base_seed, repeats),
        )
        item.stash[RESULT_KEY] = result
        problems: list[tuple[Outcome, str]] = []  # (outcome, message)

        cache_key = self._cache_key(item, case, result)
        hit = self._cache_hit(result, cache_key) if cache_key and self.settings.cache else None

        active = None
        tracking_notes: list[str] = []
        if self.tracking_lost is not None:
            handle.stop_tracking()  # the store is gone: the case runs untracked
            result.untracked = self.tracking_lost
        elif self.settings.tracking:
            try:
                active = self.backend.start(
                    file=result.file,
                    run_name=case_id,
                    nodeid=item.nodeid,
                    tags={
                        **self._user_tags(item),
                        **attempt_tags(getattr(item, "execution_count", None)),
                    },
                )
                handle.attach(active)
                result.run_id, result.run_url = active.run_id, active.url
                self._supersede(item, active.run_id)
            except Exception as exc:
                if not self._lost(exc, result):
                    message = f"MLflow tracking failed at run start: {_describe(exc)}"
                    problems.append(("error", message))

        meter = CostMeter()
        meter.start()
        start = time.perf_counter()
        # A cache hit runs no repeat: its samples are those of the stored run.
        samples: dict[str, list[float]] = dict(hit.samples) if hit is not None else {}
        invalid: str | None = None  # what was wrong with a returned value
        raised: BaseException | None = None
        for repeat, repeat_seed in enumerate(result.seeds if hit is None else ()):
            handle.enter_repeat(repeat)
            # Right before the call: fixtures set up for this case (or a
            # session fixture built only for the first case) must not shift the draws.
            seed_rngs(repeat_seed)
            try:
                returned = self._call(item, repeat_seed if repeat else None)
            except BaseException as exc:
                raised = exc
                break
            try:
                metrics = validate_metrics(returned)
            except MetricsError as exc:
                invalid = f"{_repeat_prefix(repeat, repeats)}{exc}"
                break
            if repeat and set(metrics) != set(samples):
                invalid = (
                    f"repeat {repeat + 1} returned metrics {_names(metrics)}, "
                    f"repeat 1 returned {_names(samples)}: every repeat must return "
                    "the same metrics"
                )
                break
            if decl.folds is not None:
                invalid = _fold_problem(returned, metrics, decl.folds, repeat, repeats)
                if invalid is not None:
                    break
            for metric, values in metrics.items():
                samples.setdefault(metric, []).extend(values)
        handle.enter_repeat(0)
        result.duration = time.perf_counter() - start
        cost = meter.stop()
        # A cached case computed nothing: its cost is in the run it came from.
        result.cost = cost if hit is None else {}
        result.curves = handle.report_curves()

        if raised is not None:
            # pytest.xfail() raises a subclass of pytest.fail's exception: first.
            outcome: Outcome
            if isinstance(raised, pytest.xfail.Exception):
                outcome, status = "xfailed", "FINISHED"
            elif isinstance(raised, pytest.skip.Exception):
                outcome, status = "skipped", "FINISHED"
            elif isinstance(raised, (KeyboardInterrupt, SystemExit)):
                outcome, status = "error", "KILLED"  # interrupted: the run ends KILLED
            else:
                outcome, status = "error", "FAILED"
            result.outcome = outcome
            result.message = "".join(traceback.format_exception_only(type(raised), raised)).strip()
            tb = "".join(traceback.format_exception(raised)) if status == "FAILED" else None
            self._finish(
                active,
                handle,
                result,
                status,
                {TAG_OUTCOME: outcome, **self._cache_tags(cache_key, None)},
                {},
                tb,
                tracking_notes,
                case.values,
            )
            raise raised

        if invalid is not None:
            problems.append(("error", invalid))
        current_predictions = None
        if hit is not None:
            # The run that computed a cached case holds its predictions: they
            # gate it and go into an accepted baseline; none is logged again.
            current_predictions = self._hit_predictions(hit, result, tracking_notes)
        elif invalid is None and handle.logged_predictions():
            try:
                current_predictions = _stacked_predictions(handle, repeats)
            except PredictionsError as exc:
                problems.append(("error", str(exc)))
            else:
                self._keep_predictions(active, result, current_predictions, tracking_notes)
        # One value a repeat: each sample is known by its repeat's seed (the
        # gate pairs it with the baseline's sample of the same seed). Fold
        # scores (``folds=K``, K a repeat): each repeat's K by its seed, the
        # seed that drew its folds (paired fold by fold).
        summaries = (
            {
                m: Summary.of(v, result.seeds, decl.folds)
                if decl.folds is not None and len(v) == repeats * decl.folds
                else Summary.of(v, result.seeds if len(v) == repeats else None)
                for m, v in samples.items()
            }
            if invalid is None
            else {}
        )
        result.metrics = {m: s.mean for m, s in summaries.items()}
        result.spread = {m: s.to_dict() for m, s in summaries.items() if s.n > 1}
        result.directions = {m: decl.direction(m) for m in {*summaries, *decl.expect}}
        if not any(o == "error" for o, _ in problems):
            try:
                baseline = self.baseline_for(item, case_id)
            except Exception as exc:
                problems.append(("error", f"{item.nodeid.split('[')[0]}: {_describe(exc)}"))
            else:
                if baseline is not None and self.settings.baseline.from_mlflow:
                    # Only what the experiment returns today is compared.
                    baseline = {m: b for m, b in baseline.items() if m in summaries}
                base_predictions = None
                if baseline is not None and current_predictions is not None:
                    try:
                        base_predictions = self.baseline_predictions_for(item, case_id)
                    except PredictionsError as exc:
                        if self.settings.update_baseline:  # the update rewrites it
                            tracking_notes.append(str(exc))
                        else:
                            problems.append(("error", str(exc)))
                verdict = evaluate(
                    case_id,
                    summaries,
                    decl,
                    baseline,
                    self.gate,
                    (base_predictions, current_predictions),
                )
                tracking_notes.extend(verdict.notes)
                problems.extend(verdict.problems)
                result.comparisons = verdict.comparisons
                result.has_baseline = verdict.has_baseline

        worst = max((o for o, _ in problems), key=SEVERITY.__getitem__, default=None)
        outcome = worst or ("passed" if result.has_baseline else "new")
        result.outcome = outcome
        result.message = "\n".join(m for _, m in problems) or None
        status = "FAILED" if outcome == "error" else "FINISHED"
        self._finish(
            active,
            handle,
            result,
            status,
            {
                TAG_OUTCOME: outcome,
                **metric_tags(summaries),
                **repeat_tags(result),
                **self._cache_tags(cache_key, hit),
            },
            summaries,
            None,
            tracking_notes,
            case.values,
        )
        if result.outcome in BAD_OUTCOMES:
            pytest.fail(f"[{result.outcome}] {result.message}", pytrace=False)

    # -- the run cache (--exp-cache) ---------------------------------------------
    @property
    def environment(self) -> Environment:
        """This process's loaded code (project modules, distributions)."""
        if self._environment is None:
            from .cache import Environment
            from .distributions import dist_index

            patterns = (*self.settings.experiment_files, *self.config.getini("python_files"))
            index = dist_index(getattr(self.config, "cache", None))
            self._environment = Environment(self.settings.rootdir, patterns, index)
        return self._environment

    def _cache_key(self, item: pytest.Function, case: Case, result: CaseResult) -> str | None:
        """The case's cache key, recorded on every tracked run (None with
        tracking off, or with a warning when it cannot be worked out)."""
        if not self.settings.tracking or self.tracking_lost is not None:
            return None
        from . import cache
        from .filekey import file_digest

        try:
            rootdir = Path(self.settings.rootdir)
            conftests: dict[str, str | None] = {}
            for path in cache.conftest_chain(rootdir, item.path.parent):
                digest = file_digest(path)
                if digest is not None:
                    conftests[_relative(Path(path), rootdir)] = digest
            parts = cache.KeyParts(
                nodeid=item.nodeid,
                experiment=cache.experiment_digest(
                    item.path,
                    item.originalname,
                    verbatim=not all(map(described_in_full, case.values.values())),
                ),
                conftests=conftests,
                params=tracked_params(case.values),
                seeds=result.seeds,
                repeats=result.repeats,
                data=self.provenance.data_fingerprint,
                python=cache.python_version(),
                plugin=cache.plugin_version(),
            )
            return cache.case_key(parts)
        except Exception as exc:
            warnings.warn(
                pytest.PytestWarning(f"{item.nodeid}: no cache key: {_describe(exc)}"),
                stacklevel=1,
            )
            return None

    def _cache_hit(self, result: CaseResult, key: str) -> CacheHit | None:
        """The newest stored run that may stand in for running the case, or None."""
        from .cache import find_hit, hit_index

        runs = self._cached_runs.get(result.file)
        try:
            if runs is None:
                found = self.backend.cache_candidates(result.file)
                runs = self._cached_runs[result.file] = hit_index(found, self.settings.session_id)
            env = self.environment
            hit = find_hit(
                runs.get(key, ()),
                env.loaded(),
                env.file_now,
                env.version_now,
                self.backend.metric_history,
            )
        except Exception as exc:
            self._cached_runs.setdefault(result.file, {})  # one warning per file
            warnings.warn(
                pytest.PytestWarning(
                    f"{result.case_id}: could not read the run cache, so the case runs: "
                    f"{_describe(exc)}"
                ),
                stacklevel=1,
            )
            return None
        if hit is not None:
            result.cached_from = hit.run.origin
            result.cached_from_url = self.backend.run_url(hit.run.experiment_id, hit.run.origin)
        return hit

    def _hit_predictions(
        self, hit: CacheHit, result: CaseResult, notes: list[str]
    ) -> Predictions | None:
        """The predictions the run behind a cache hit logged (None: it logged
        none, or they cannot be read: the gate then decides from the samples)."""
        try:
            predictions = self.backend.run_predictions(hit.run.origin)
        except Exception as exc:
            notes.append(
                f"could not read the predictions of run {hit.run.origin}, which computed "
                f"this cached case: {_describe(exc)}"
            )
            return None
        if predictions is not None:  # not logged again: the run it came from has them
            self._keep_predictions(None, result, predictions, notes)
        return predictions

    def _cache_tags(self, key: str | None, hit: CacheHit | None) -> dict[str, str]:
        """The key, and what was loaded; for a hit, the run that computed
        the metrics instead (only runs that computed theirs answer a case)."""
        if key is None:
            return {}
        if hit is None:
            try:
                deps = self.environment.loaded()
            except Exception as exc:  # the run then never answers a case
                warnings.warn(
                    pytest.PytestWarning(f"no cache dependencies recorded: {_describe(exc)}"),
                    stacklevel=1,
                )
                return {TAG_CACHE_KEY: key}
            return {**deps.encode(), TAG_CACHE_KEY: key}
        return cached_tags(hit.run.origin, key)

    def _call(self, item: pytest.Function, repeat_seed: int | None) -> object:
        function = item.obj
        names = inspect.signature(function).parameters
        kwargs = {name: item.funcargs[name] for name in names if name in item.funcargs}
        if repeat_seed is not None and "seed" in kwargs and self._seed_is_ours(item):
            kwargs["seed"] = repeat_seed
        returned = function(**kwargs)
        if inspect.isawaitable(returned):
            import asyncio

            returned = asyncio.run(_await(returned))
        return returned

    def _seed_is_ours(self, item: pytest.Function) -> bool:
        """The ``seed`` argument comes from the plugin's fixture or a grid param
        (a project's own fixture keeps its value in every repeat)."""
        return "seed" in self.case(item).values or item.stash.get(SEED_FIXTURE_KEY, False)

    def _lost(self, exc: Exception, result: CaseResult) -> bool:
        """Whether ``exc`` means the tracking store is gone for good; then
        tracking is off for the rest of this process's cases (no case waits on
        retries again), with one warning, and the result says why."""
        from .stores import store_lost

        reason = store_lost(self.settings.tracking_uri or "")
        if reason is None:
            return False
        self.tracking_lost = result.untracked = (
            f"{reason}; tracking is off for the rest of this session "
            f"(first noticed in {result.case_id}: {_describe(exc)})"
        )
        warnings.warn(
            pytest.PytestWarning(
                f"pytest-experiments: {reason}; tracking is off for the rest of this "
                "session, results still go to the report and JSON"
            ),
            stacklevel=1,
        )
        return True

    def _supersede(self, item: pytest.Function, run_id: str) -> None:
        """Tag the run of this case's previous attempt as superseded by this
        one, so only the attempt that decided the outcome lacks the tag."""
        previous = self._attempts.get(item.nodeid)
        self._attempts[item.nodeid] = run_id
        if previous is not None:
            try:
                self.backend.set_tag(previous, TAG_SUPERSEDED_BY, run_id)
            except Exception as exc:
                warnings.warn(
                    pytest.PytestWarning(f"{item.nodeid}: {_describe(exc)}"), stacklevel=1
                )

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
        metrics: Mapping[str, Summary],
        traceback_text: str | None,
        notes: list[str],
        values: Mapping[str, Any],
    ) -> None:
        if active is None:
            handle.detach()
            return
        all_metrics = metric_history(metrics) + handle.metrics
        all_metrics += _cost_metrics(result.cost, {m[0] for m in all_metrics}, notes)
        all_tags = {**handle.tags, **tags, **result_tags(result)}
        user_params = {
            k: mask_secret(v) if is_secret_name(k) else v for k, v in handle.params.items()
        }
        case_params = {**tracked_params(values), "seed": result.seeds[0] if result.seeds else None}
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
            if not self._lost(exc, result):
                message = f"MLflow tracking failed at run end: {_describe(exc)}"
                if result.outcome != "error" or result.message is None:
                    result.outcome = "error"
                    result.message = "\n".join(filter(None, [result.message, message]))
                if status != "FAILED" or traceback_text is None:
                    failure = f"[error] {result.message}"
        finally:
            handle.detach()
        for note in notes:
            result.notes.append(note)
            warnings.warn(pytest.PytestWarning(f"{result.case_id}: {note}"), stacklevel=1)
        if failure is not None:  # outside the except: no chain of MLflow's exceptions
            pytest.fail(failure, pytrace=False)


def _stacked_predictions(handle: ExperimentRun, repeats: int) -> Predictions:
    """What the case logged with ``log_predictions``, one row per repeat."""
    logged = handle.logged_predictions()
    if sorted(logged) != list(range(repeats)):
        called = ", ".join(str(r + 1) for r in sorted(logged))
        raise PredictionsError(
            f"log_predictions was called in repeat {called} of {repeats}: call it in "
            "every repeat (each repeat's predictions enter the paired test)"
        )
    return Predictions.of_repeats([logged[r] for r in range(repeats)])


def _cost_metrics(
    cost: Mapping[str, float], taken: set[str], notes: list[str]
) -> list[tuple[str, float, int, int]]:
    """The case's cost as metrics at step 0; a name the experiment itself
    logged or returned keeps the experiment's value."""
    now = int(time.time() * 1000)
    for name in sorted(taken & cost.keys()):
        notes.append(
            f"metric {name!r} is the experiment's own; the case's cost is not logged there"
        )
    return [(k, v, now, 0) for k, v in cost.items() if k not in taken and math.isfinite(v)]


def _relative(path: Path, rootdir: Path) -> str:
    try:
        return path.relative_to(rootdir).as_posix()
    except ValueError:
        return path.as_posix()


def seed_rngs(seed: int) -> None:
    """Seed Python's and NumPy's global RNGs."""
    random.seed(seed)
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy comes with scikit-learn
        return
    numpy.random.seed(seed % 2**32)


def _repeat_prefix(repeat: int, repeats: int) -> str:
    return f"repeat {repeat + 1} of {repeats}: " if repeats > 1 else ""


def _names(metrics: Mapping[str, Any]) -> str:
    return "{" + ", ".join(sorted(map(repr, metrics))) + "}"


def final_outcome(report: pytest.TestReport, outcome: Outcome) -> Outcome:
    """The outcome pytest settled on for a case: with an xfail mark, a case
    that failed in any way is *xfailed* and one that passed *xpassed*."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return outcome


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _describe(exc: BaseException) -> str:
    from .redaction import scrub_credentials

    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return scrub_credentials(f"{type(exc).__name__}: {message}".splitlines()[0])[:500]
