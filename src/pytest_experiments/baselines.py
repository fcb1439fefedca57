"""Baseline files: ``baselines/<experiment file stem>.json`` beside the file.

Format: one JSON object keyed by case id, each value an object of metric ->
entry; keys sorted, two-space indent, one trailing newline, so a change of
baseline reads well in a pull-request diff. An entry is a plain number for a
single value (n = 1; the only form older files hold), or, when the case had
several samples (repeats), an object ``{"mean", "n", "std", "samples"}``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .stats import Summary


class BaselineError(ValueError):
    """A baseline file exists but cannot be used (names the file and the problem)."""


Baselines = dict[str, dict[str, Summary]]


def baseline_path(experiment_file: Path) -> Path:
    return experiment_file.parent / "baselines" / f"{experiment_file.stem}.json"


def load(path: Path) -> Baselines:
    """Read a baseline file; a missing file is an empty baseline."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise BaselineError(f"cannot read baseline file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"baseline file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); fix it or delete it and rerun with --exp-update-baseline"
        ) from None
    if not isinstance(data, dict):
        raise BaselineError(
            f"baseline file {path} must hold an object keyed by case id, not {type(data).__name__}"
        )
    result: Baselines = {}
    for case_id, metrics in data.items():
        if not isinstance(metrics, dict):
            raise BaselineError(
                f"baseline file {path}: entry {case_id!r} must be an object of "
                f"metric -> number, not {json.dumps(metrics)[:60]}"
            )
        entry: dict[str, Summary] = {}
        for metric, value in metrics.items():
            try:
                summary = Summary.from_json(value)
            except ValueError as exc:
                raise BaselineError(
                    f"baseline file {path}: {case_id!r} metric {metric!r} is "
                    f"{json.dumps(value)[:60]}, {exc}"
                ) from None
            if not math.isfinite(summary.mean):
                raise BaselineError(
                    f"baseline file {path}: {case_id!r} metric {metric!r} is not finite"
                )
            entry[str(metric)] = summary
        result[str(case_id)] = entry
    return result


def dumps(baselines: Mapping[str, Mapping[str, Summary]]) -> str:
    """The file's text: keys sorted, two-space indent, final newline."""
    ordered = {
        k: {m: x.to_json() for m, x in sorted(v.items())} for k, v in sorted(baselines.items())
    }
    return json.dumps(ordered, indent=2, sort_keys=True, allow_nan=False) + "\n"


@dataclass
class BaselineUpdate:
    """What an update changed in one baseline file."""

    path: Path
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    #: The predictions sidecar, when the update wrote it.
    predictions: Path | None = None

    @property
    def written(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def update(
    path: Path,
    current: Mapping[str, Mapping[str, Summary]],
    existing_cases: Iterable[str] | None,
) -> BaselineUpdate:
    """Merge ``current`` metrics into the file at ``path`` and write it.

    ``existing_cases`` is every case the experiment file declares now; entries
    for other cases are stale and dropped. None keeps every old entry.
    Non-finite metrics are never written.
    """
    try:
        old = load(path)
    except BaselineError:
        old = {}  # a corrupt file is replaced by the accepted numbers
    new: Baselines = {k: dict(v) for k, v in old.items()}
    if existing_cases is not None:
        keep = set(existing_cases)
        for case_id in list(new):
            if case_id not in keep:
                del new[case_id]
    for case_id, metrics in current.items():
        finite = {
            k: v
            for k, v in metrics.items()
            if math.isfinite(v.mean) and (v.std is None or math.isfinite(v.std))
        }
        if finite:  # nothing to compare with later: keep what was accepted before
            new[case_id] = finite
    report = BaselineUpdate(path=path)
    for case_id in sorted(set(old) | set(new)):
        if case_id not in new:
            report.removed.append(case_id)
        elif case_id not in old:
            report.added.append(case_id)
        elif _entry_json(old[case_id]) != _entry_json(new[case_id]):
            report.changed.append(case_id)
        else:
            report.unchanged += 1
    if report.written or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(dumps(new), encoding="utf-8")
        os.replace(tmp, path)
    return report


def _entry_json(entry: Mapping[str, Summary]) -> dict[str, object]:
    return {m: x.to_json() for m, x in entry.items()}


def stale_entries(path: Path, existing_cases: Iterable[str]) -> list[str]:
    """Baseline entries for cases the experiment file no longer declares."""
    try:
        old = load(path)
    except BaselineError:
        return []
    keep = set(existing_cases)
    return sorted(k for k in old if k not in keep)
