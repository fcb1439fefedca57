"""A case's predictions on its test examples, and where they are kept.

An experiment hands them over with ``experiment_run.log_predictions(y_true,
y_pred, *, index=None, y_score=None)``, once per repeat. With predictions on
both sides, the gate compares the current model with the baseline's on the
same test examples (:mod:`.paired`), which sees the test set's noise as well
as the seed's.

Storage is compact and binary: NumPy's ``.npz`` (no pickles: ids, labels and
scores must be numbers, booleans or strings). Baseline files keep them in a
sidecar beside the JSON, ``baselines/<stem>.predictions.npz``, one entry per
case id, so the JSON stays small and reviewable; a run keeps its own as the
artifact ``predictions.npz``.

NumPy is imported on first use only.
"""

from __future__ import annotations

import base64
import io
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: The run artifact that holds a case's predictions.
ARTIFACT = "predictions.npz"


class PredictionsError(ValueError):
    """Predictions that cannot be used: the message says what and why."""


@dataclass(frozen=True, eq=False)
class Predictions:
    """One case's predictions: the same test examples in every repeat.

    ``index`` and ``y_true`` have one entry per example; ``y_pred`` one row per
    repeat (shape ``(repeats, examples)``); ``y_score`` likewise, with a third
    axis for one score per class when given so.
    """

    index: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None = None

    @property
    def repeats(self) -> int:
        return int(self.y_pred.shape[0])

    @property
    def rows(self) -> int:
        return int(self.y_true.shape[0])

    # -- building ---------------------------------------------------------------
    @classmethod
    def of_repeats(cls, logged: Sequence[Mapping[str, Any]]) -> Predictions:
        """Stack what each repeat logged (dicts with index, y_true, y_pred,
        y_score as arrays); every repeat must cover the same examples."""
        import numpy as np

        if not logged:
            raise PredictionsError("no predictions were logged")
        first = logged[0]
        for repeat, entry in enumerate(logged[1:], start=2):
            same_rows = entry["index"].shape == first["index"].shape and bool(
                np.array_equal(entry["index"], first["index"])
            )
            if not same_rows:
                raise PredictionsError(
                    f"repeat {repeat} logged predictions for other test examples than "
                    "repeat 1: every repeat must predict the same test set"
                )
            if not np.array_equal(entry["y_true"], first["y_true"]):
                raise PredictionsError(
                    f"repeat {repeat} logged other y_true than repeat 1 for the same examples"
                )
            if (entry["y_score"] is None) != (first["y_score"] is None):
                raise PredictionsError(
                    f"repeat {repeat} {'gave' if entry['y_score'] is not None else 'left out'} "
                    "y_score where repeat 1 did not: log it in every repeat or in none"
                )
        scores = [e["y_score"] for e in logged]
        return cls(
            index=first["index"],
            y_true=first["y_true"],
            y_pred=np.stack([e["y_pred"] for e in logged]),
            y_score=None if scores[0] is None else np.stack(scores),
        )

    @classmethod
    def stacked(cls, parts: Sequence[Predictions]) -> Predictions:
        """The repeats of several runs on the same (aligned) examples as one."""
        import numpy as np

        first = parts[0]
        scores = [p.y_score for p in parts]
        return cls(
            index=first.index,
            y_true=first.y_true,
            y_pred=np.concatenate([p.y_pred for p in parts]),
            y_score=None
            if any(s is None for s in scores)
            else np.concatenate([s for s in scores if s is not None]),
        )

    def aligned_to(self, other: Predictions, what: str) -> Predictions:
        """These predictions with their examples in ``other``'s order.

        The two must cover exactly the same example ids with the same true
        values; otherwise the test set changed and a paired comparison would
        pair the wrong examples: :class:`PredictionsError` says so."""
        import numpy as np

        if self.rows == other.rows and np.array_equal(self.index, other.index):
            order = None
        else:
            mine = {v: i for i, v in enumerate(self.index.tolist())}
            theirs = [v for v in other.index.tolist()]
            missing = [v for v in theirs if v not in mine]
            extra = len(mine) - (len(theirs) - len(missing))
            if missing or extra or len(mine) != self.rows:
                shown = ", ".join(repr(v) for v in missing[:3])
                more = ", ..." if len(missing) > 3 else ""
                absent = f"; ids missing here: {shown}{more}" if missing else ""
                raise PredictionsError(
                    f"the test set changed: {what} has {other.rows} test examples, this "
                    f"run {self.rows}{absent}; predictions are compared example by example, "
                    "so accept the baseline again on the new test set (--exp-update-baseline)"
                )
            order = np.array([mine[v] for v in theirs])
        mine_true = self.y_true if order is None else self.y_true[order]
        if not np.array_equal(mine_true, other.y_true):
            raise PredictionsError(
                f"the test set changed: the same example ids have other y_true values "
                f"than in {what}; accept the baseline again (--exp-update-baseline)"
            )
        if order is None:
            return self
        return Predictions(
            index=other.index,
            y_true=mine_true,
            y_pred=self.y_pred[:, order],
            y_score=None if self.y_score is None else self.y_score[:, order],
        )

    # -- codec ------------------------------------------------------------------
    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        data = {f"{prefix}index": self.index, f"{prefix}y_true": self.y_true}
        data[f"{prefix}y_pred"] = self.y_pred
        if self.y_score is not None:
            data[f"{prefix}y_score"] = self.y_score
        return data

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str = "") -> Predictions:
        try:
            return cls(
                index=arrays[f"{prefix}index"],
                y_true=arrays[f"{prefix}y_true"],
                y_pred=arrays[f"{prefix}y_pred"],
                y_score=arrays.get(f"{prefix}y_score"),
            )
        except KeyError as exc:
            raise PredictionsError(f"stored predictions lack {exc.args[0]!r}") from None

    def to_bytes(self) -> bytes:
        return _npz_bytes(self.arrays())

    @classmethod
    def from_bytes(cls, data: bytes) -> Predictions:
        return cls.from_arrays(_read_npz(data))

    def to_text(self) -> str:
        """A compact text form, for results that travel between processes."""
        return base64.b64encode(self.to_bytes()).decode("ascii")

    @classmethod
    def from_text(cls, text: str) -> Predictions:
        return cls.from_bytes(base64.b64decode(text))


def as_column(value: object, name: str) -> np.ndarray:
    """``value`` (list, NumPy array, pandas Series or Index) as a 1-d array of
    numbers, booleans or strings; PredictionsError naming ``name`` otherwise."""
    import numpy as np

    to_numpy = getattr(value, "to_numpy", None)
    raw = to_numpy() if callable(to_numpy) else value
    if isinstance(raw, np.ndarray) and raw.dtype.kind != "O":
        array = raw
    else:  # lists and object arrays: NumPy's strings would drop a trailing NUL
        items = np.asarray(raw, dtype=object)
        if any(isinstance(v, str) and "\x00" in v for v in items.flat):
            raise PredictionsError(f"log_predictions: {name} has a string with a NUL character")
        array = np.asarray(items.tolist()) if items.size else np.asarray([], dtype=float)
    if array.dtype.kind not in "biufU":
        raise PredictionsError(
            f"log_predictions: {name} must hold numbers, booleans or strings "
            f"(got dtype {array.dtype})"
        )
    return array


def logged_entry(
    y_true: object, y_pred: object, index: object = None, y_score: object = None
) -> dict[str, Any]:
    """One repeat's ``log_predictions`` arguments, checked and as arrays."""
    import numpy as np

    true = as_column(y_true, "y_true")
    pred = as_column(y_pred, "y_pred")
    if true.ndim != 1 or pred.ndim != 1:
        raise PredictionsError(
            f"log_predictions: y_true and y_pred must be 1-d (got shapes {true.shape} "
            f"and {pred.shape})"
        )
    if true.shape != pred.shape:
        raise PredictionsError(
            f"log_predictions: y_true has {true.shape[0]} examples, y_pred {pred.shape[0]}"
        )
    n = true.shape[0]
    if n == 0:
        raise PredictionsError("log_predictions: no examples")
    ids = np.arange(n) if index is None else as_column(index, "index")
    if ids.shape != (n,):
        raise PredictionsError(
            f"log_predictions: index has shape {ids.shape}, expected one id per example ({n})"
        )
    if ids.dtype.kind == "f":
        raise PredictionsError("log_predictions: index ids must be integers or strings, not floats")
    if len(np.unique(ids)) != n:
        raise PredictionsError("log_predictions: index ids must be unique")
    score = None
    if y_score is not None:
        score = np.asarray(
            y_score.to_numpy() if callable(getattr(y_score, "to_numpy", None)) else y_score,  # type: ignore[attr-defined]
            dtype=float,
        )
        if score.ndim not in (1, 2) or score.shape[0] != n:
            raise PredictionsError(
                f"log_predictions: y_score must have one score (or one row of class "
                f"scores) per example; got shape {score.shape} for {n} examples"
            )
    return {"index": ids, "y_true": true, "y_pred": pred, "y_score": score}


# -- files -----------------------------------------------------------------------
def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **dict(sorted(arrays.items())))  # type: ignore[arg-type]
    return buffer.getvalue()


def _read_npz(data: bytes | Path) -> dict[str, np.ndarray]:
    import numpy as np

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with np.load(source, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PredictionsError(f"not a predictions file ({exc})") from None


def sidecar_path(baseline_json: Path) -> Path:
    """``baselines/<stem>.predictions.npz`` beside ``baselines/<stem>.json``."""
    return baseline_json.with_name(f"{baseline_json.stem}.predictions.npz")


_SEP = "::"
#: The sidecar's array of case ids, in the order of its numbered entries.
_CASES = "cases"


def load_sidecar(path: Path) -> dict[str, Predictions]:
    """The predictions in a sidecar, by case id (empty when there is none)."""
    if not path.exists():
        return {}
    try:
        arrays = _read_npz(path)
    except PredictionsError as exc:
        raise PredictionsError(
            f"baseline predictions {path}: {exc}; accept the baseline again with "
            "--exp-update-baseline to rewrite it"
        ) from None
    cases = arrays.get(_CASES)
    if cases is None or cases.dtype.kind != "U":
        raise PredictionsError(
            f"baseline predictions {path}: no list of cases in it (written by an earlier "
            "version?); accept the baseline again with --exp-update-baseline to rewrite it"
        )
    return {
        str(case): Predictions.from_arrays(arrays, f"{i}{_SEP}")
        for i, case in enumerate(cases.tolist())
    }


def update_sidecar(
    path: Path, current: Mapping[str, Predictions | None], keep: Iterable[str] | None
) -> bool:
    """Write ``current`` into the sidecar at ``path``: a case mapped to None
    loses its entry (its accepted baseline has no predictions), entries of
    cases not in ``keep`` are dropped (None keeps them). True when the file
    changed; a sidecar left with no entry is removed."""
    try:
        old = load_sidecar(path)
    except PredictionsError:
        old = {}  # a corrupt file is replaced by the accepted predictions
    kept = None if keep is None else set(keep)
    new = {k: v for k, v in old.items() if kept is None or k in kept}
    for case_id, predictions in current.items():
        if predictions is None:
            new.pop(case_id, None)
        else:
            new[case_id] = predictions
    import numpy as np

    arrays: dict[str, np.ndarray] = {}
    # Entries are named by position (a case id can hold characters a zip
    # member name cannot); the ids themselves are an array of their own.
    ordered = sorted(new)
    for i, case_id in enumerate(ordered):
        arrays.update(new[case_id].arrays(f"{i}{_SEP}"))
    if arrays:
        arrays[_CASES] = np.array(ordered, dtype=str)
    if not arrays:
        if path.exists():
            path.unlink()
            return True
        return False
    data = _npz_bytes(arrays)
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


__all__ = [
    "ARTIFACT",
    "Predictions",
    "PredictionsError",
    "load_sidecar",
    "logged_entry",
    "sidecar_path",
    "update_sidecar",
]
