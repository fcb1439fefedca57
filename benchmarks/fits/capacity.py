"""The same 40 fits as plain Python, no pytest, no MLflow: ``capacity.py K N``
runs every N-th case starting at K (so ``0 2`` and ``1 2`` split the study in
two halves, run as two processes to measure what two cores give)."""

from __future__ import annotations

import sys

from study import MODELS, SIZES, fit_and_score

start, step = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (0, 1)
cases = [(m, s) for m in MODELS for s in SIZES]
for model, size in cases[start::step]:
    fit_and_score(model, size, 42)
