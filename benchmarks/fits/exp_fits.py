"""40 fits that dominate the session (benchmarks/parallel_speedup.py)."""

from study import MODELS, SIZES, fit_and_score

from pytest_experiments import experiment


@experiment(params={"model": list(MODELS), "size": list(SIZES)})
def exp_fits(model, size, seed, experiment_run):
    estimator, metrics = fit_and_score(model, size, seed)
    experiment_run.log_model(estimator)
    return metrics
