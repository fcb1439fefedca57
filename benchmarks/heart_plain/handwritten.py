"""The heart study logged to MLflow by hand, the way people usually write it.

A loop over the 15 cases: ``mlflow.start_run``, ``log_params``, fit,
``mlflow.sklearn.log_model(model, name="model")`` (cloudpickle, because the
default skops format refuses tree ensembles; MLflow's requirement inference
left on, as by default) and one ``log_metric`` per metric.

    python benchmarks/heart_plain/handwritten.py --tracking-uri sqlite:////tmp/x/mlflow.db
    python benchmarks/heart_plain/handwritten.py --tracking-uri ... --no-models
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--data", type=Path, default=study.DATA)
    parser.add_argument(
        "--experiments", type=int, default=3, help="the first N experiments (5 cases each)"
    )
    parser.add_argument("--no-models", action="store_true", help="params and metrics only")
    args = parser.parse_args()

    import mlflow
    import mlflow.sklearn
    import numpy as np

    mlflow.set_tracking_uri(args.tracking_uri)
    X_train, X_test, y_train, y_test = study.load(args.data)
    done = 0
    for name, param, value, model in study.cases(args.experiments):
        mlflow.set_experiment(name)
        with mlflow.start_run(run_name=f"{name}[{param}={value}]"):
            mlflow.log_params({param: value, "seed": study.SEED})
            random.seed(study.SEED)
            np.random.seed(study.SEED)
            model.fit(X_train, y_train)
            if not args.no_models:
                mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
            for metric, number in study.score(model, X_test, y_test).items():
                mlflow.log_metric(metric, number)
        done += 1
    print(f"handwritten: {done} runs")


if __name__ == "__main__":
    main()
