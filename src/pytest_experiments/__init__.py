"""pytest-experiments: machine-learning experiments as pytest cases.

Public API: the :func:`experiment` decorator and the :class:`ExperimentRun`
type of the ``experiment_run`` fixture. Importing this package is cheap: it
never imports mlflow, pandas or scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from .experiment_run import ExperimentRun as ExperimentRun
    from .spec import ExperimentSpec as ExperimentSpec

__all__ = ["ExperimentRun", "ExperimentSpec", "experiment"]


def __getattr__(name: str) -> Any:
    # Imported on first use: pytest loads this package at the start of every
    # run, experiments or not.
    if name == "ExperimentRun":
        from .experiment_run import ExperimentRun

        return ExperimentRun
    if name == "ExperimentSpec":
        from .spec import ExperimentSpec

        return ExperimentSpec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


F = TypeVar("F", bound=Callable[..., Any])

#: Attribute under which :func:`experiment` stores its declaration.
SPEC_ATTR = "__pytest_experiment__"


@overload
def experiment(func: F, /) -> F: ...


@overload
def experiment(
    *,
    params: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None = None,
    expect: Mapping[str, str] | None = None,
    tolerance: Mapping[str, float | str] | float | str | None = None,
    lower_is_better: Iterable[str] = (),
    higher_is_better: Iterable[str] = (),
    repeats: int | None = None,
    folds: int | None = None,
    metric_functions: Mapping[str, Callable[..., float]] | None = None,
    primary_metric: str | None = None,
) -> Callable[[F], F]: ...


def experiment(
    func: F | None = None,
    /,
    *,
    params: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None = None,
    expect: Mapping[str, str] | None = None,
    tolerance: Mapping[str, float | str] | float | str | None = None,
    lower_is_better: Iterable[str] = (),
    higher_is_better: Iterable[str] = (),
    repeats: int | None = None,
    folds: int | None = None,
    metric_functions: Mapping[str, Callable[..., float]] | None = None,
    primary_metric: str | None = None,
) -> F | Callable[[F], F]:
    """Declare an experiment: a function that returns a mapping of metrics.

    Usable bare (``@experiment``) or with arguments::

        @experiment(
            params={"n_estimators": [50, 100]},     # grid: dict of lists
            expect={"accuracy": ">= 0.80"},
            tolerance={"accuracy": 0.01},           # or "2%", or one value for all
            repeats=5,                              # 5 seeds: mean +- CI, noise-aware gate
        )
        def exp_forest(n_estimators, heart, seed, experiment_run): ...

    ``params`` may also be a list of dicts (explicit cases). Each case becomes
    one pytest item with the id ``exp_forest[n_estimators=50]``. ``repeats=N``
    runs each case's body N times, each with its own seed derived from the
    session seed (default: ``--exp-repeats``, ini ``experiments_repeats``, 1).

    ``folds=K`` declares that every sequence the experiment returns is the
    scores of the same K cross-validation folds, in order (for example
    ``cross_val_score(model, X, y, cv=KFold(K, shuffle=True,
    random_state=seed))``; with repeats, each repeat's folds drawn with its
    seed). The gate then pairs the scores fold by fold with a baseline that
    ran the same folds and tests them with the corrected resampled t-test;
    a returned sequence of another length is an error.

    With ``experiment_run.log_predictions(...)`` the gate compares predictions
    example by example; ``metric_functions={"f2": fn}`` names how to recompute
    a metric it does not know by name (``fn(y_true, y_pred)`` or
    ``fn(y_true, y_pred, y_score)``).

    ``primary_metric`` names the metric the report's leaderboard ranks the
    experiment's file by (default: ini ``experiments_primary_metric``, else
    the first metric in an ``expect``, else the first returned).
    """

    if func is not None and not callable(func):
        raise TypeError(
            "experiment() takes its declaration as keywords, e.g. "
            f"@experiment(params=...); got a positional {type(func).__name__}"
        )

    def lower(str_or_iter: Iterable[str]) -> tuple[str, ...]:
        return (str_or_iter,) if isinstance(str_or_iter, str) else tuple(str_or_iter)

    from .spec import ExperimentSpec

    spec = ExperimentSpec(
        params=params,
        expect=expect if expect is not None else {},
        tolerance=tolerance,
        lower_is_better=lower(lower_is_better),
        higher_is_better=lower(higher_is_better),
        repeats=repeats,
        folds=folds,
        metric_functions=metric_functions if metric_functions is not None else {},
        primary_metric=primary_metric,
    )

    def decorate(f: F) -> F:
        setattr(f, SPEC_ATTR, spec)
        return f

    if func is not None:
        return decorate(func)
    return decorate
