"""The heart study's 15 fits and scores in one script, with no tracking at all.

The floor for what the plugin can cost: ``python benchmarks/heart_plain/fits_only.py``.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=study.DATA)
    parser.add_argument(
        "--experiments", type=int, default=3, help="the first N experiments (5 cases each)"
    )
    args = parser.parse_args()

    import numpy as np

    X_train, X_test, y_train, y_test = study.load(args.data)
    done = 0
    for _name, _param, _value, model in study.cases(args.experiments):
        random.seed(study.SEED)
        np.random.seed(study.SEED)
        model.fit(X_train, y_train)
        study.score(model, X_test, y_test)
        done += 1
    print(f"fits_only: {done} cases")


if __name__ == "__main__":
    main()
