"""Frozen settings read once from the pytest config, and sent to xdist workers."""

from __future__ import annotations

import argparse
import os
import re
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import pytest

if TYPE_CHECKING:
    from .conditions import Tolerance

DEFAULT_EXPERIMENT_FILES = ("exp_*.py",)


class BaselineSource(NamedTuple):
    """Where each case's baseline comes from (``--exp-baseline``).

    ``file``: the committed ``baselines/<file>.json``, entries keyed by case id.
    ``mlflow``: the case's latest passed runs in the tracking store, matched by
    node id, narrowed by ``filter`` (an MLflow search filter; empty: none).
    """

    kind: Literal["file", "mlflow"] = "file"
    filter: str = ""

    @property
    def from_mlflow(self) -> bool:
        return self.kind == "mlflow"

    def __str__(self) -> str:
        return f"mlflow:{self.filter}" if self.filter else self.kind

    @classmethod
    def parse(cls, text: str) -> BaselineSource:
        """``file``, ``mlflow`` or ``mlflow:<search filter>``."""
        if text in ("file", "mlflow"):
            return cls(kind="file" if text == "file" else "mlflow")
        if text.startswith("mlflow:"):
            filt = text[len("mlflow:") :].strip()
            if not filt:
                raise ValueError("--exp-baseline mlflow: needs a filter after ':'")
            return cls(kind="mlflow", filter=filt)
        raise ValueError(
            f"--exp-baseline must be 'file', 'mlflow' or 'mlflow:<filter>', got {text!r}"
        )


class Settings(NamedTuple):
    """Everything the plugin needs from options and ini, as plain values.

    A NamedTuple rather than a frozen dataclass: it is built on every pytest
    run, and a dataclass's generated methods cost ~4 ms of start-up to compile.
    """

    rootdir: str
    experiment_files: tuple[str, ...]
    seed: int
    #: Resolved tracking URI, or None when tracking is off.
    tracking_uri: str | None
    mlflow_experiment: str | None
    update_baseline: bool
    strict_baseline: bool
    baseline: BaselineSource
    tolerance: str
    #: Times each case's body runs unless its experiment says (>= 1).
    repeats: int
    #: Level of the one-sided regression test, family-wise over the session (Holm).
    alpha: float
    #: With an MLflow baseline: how many of each case's latest runs are pooled.
    baseline_window: int
    data_paths: tuple[str, ...]
    #: Where ``--exp-report`` (or ini experiments_report) writes Markdown.
    report_path: str | None
    #: Where ``--exp-json`` writes the results as JSON.
    json_path: str | None
    primary_metric: str | None
    #: "file" (rank within each experiment file) or "global".
    leaderboard: str
    github_summary: bool
    #: Unique per pytest invocation, shared by the controller and its workers.
    session_id: str
    #: ``host:pid`` of the controlling pytest process (to spot dead sessions).
    controller: str
    #: ``--exp-cache``: a case whose inputs match a stored run is not run again.
    cache: bool = False
    #: Tagged on every run: the shards one report covers (``--exp-session-group``).
    session_group: str = ""
    #: ``--exp-merge``: the session group (or session id) to report on; no case runs.
    merge: str | None = None
    #: ``--exp-compare A B``: B's runs judged against A's (a session group, a
    #: session id, or ``baseline`` for the committed files); no case runs.
    compare: tuple[str, str] | None = None
    #: ``--exp-report-cost``: a cost column in the report, and totals per experiment.
    report_cost: bool = False

    @property
    def tracking(self) -> bool:
        return self.tracking_uri is not None

    @property
    def reads_store(self) -> bool:
        """``--exp-merge`` or ``--exp-compare``: no case runs; results come from the store."""
        return self.merge is not None or self.compare is not None

    @property
    def default_tolerance(self) -> Tolerance:
        from .conditions import Tolerance

        return Tolerance.parse(_number_or_text(self.tolerance))

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as execnet can send to workers (no class of ours)."""
        data = self._asdict()
        data["baseline"] = tuple(self.baseline)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        data = dict(data)
        data["experiment_files"] = tuple(data["experiment_files"])
        data["data_paths"] = tuple(data["data_paths"])
        data["baseline"] = BaselineSource(*data["baseline"])
        if data.get("compare") is not None:
            data["compare"] = tuple(data["compare"])
        return cls(**data)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and "experiments_settings" in workerinput:
            return cls.from_dict(workerinput["experiments_settings"])
        opt = config.option
        rootdir = str(config.rootpath)
        uri: str | None = None
        if not opt.exp_no_tracking:
            uri = (
                opt.exp_tracking_uri
                or os.environ.get("MLFLOW_TRACKING_URI")
                or config.getini("experiments_tracking_uri")
                or default_tracking_uri(config.rootpath)
            )
        baseline: BaselineSource = opt.exp_baseline or BaselineSource()
        if baseline.from_mlflow and uri is None:
            raise pytest.UsageError(
                "--exp-baseline mlflow needs tracking; it cannot be used with --exp-no-tracking"
            )
        tolerance = str(config.getini("experiments_tolerance") or "0")
        if tolerance != "0":  # the default needs no check (nor the import)
            from .conditions import DeclarationError, Tolerance

            try:
                Tolerance.parse(_number_or_text(tolerance))
            except DeclarationError as exc:
                raise pytest.UsageError(f"ini experiments_tolerance: {exc}") from None
        leaderboard = str(config.getini("experiments_leaderboard") or "file").strip().lower()
        if leaderboard not in ("file", "global"):
            raise pytest.UsageError(
                f"ini experiments_leaderboard must be 'file' or 'global', got {leaderboard!r}"
            )
        repeats = opt.exp_repeats
        if repeats is None:
            repeats = _ini_number(config, "experiments_repeats", int, 1, None)
        cache = bool(config.getini("experiments_cache")) if opt.exp_cache is None else opt.exp_cache
        if opt.exp_cache and uri is None:
            raise pytest.UsageError(
                "--exp-cache reads earlier results from the tracking store; "
                "it cannot be used with --exp-no-tracking"
            )
        merge = opt.exp_merge
        if merge is not None:
            if uri is None:
                raise pytest.UsageError(
                    "--exp-merge reads the group's runs from the tracking store; "
                    "it cannot be used with --exp-no-tracking"
                )
            if opt.exp_update_baseline:
                raise pytest.UsageError(
                    "--exp-merge runs no case, so it has no metrics to accept: run the "
                    "study itself with --exp-update-baseline"
                )
        compare = _compare_sides(opt, uri, baseline)
        session_id = uuid.uuid4().hex
        return cls(
            rootdir=rootdir,
            experiment_files=tuple(config.getini("experiment_files")) or DEFAULT_EXPERIMENT_FILES,
            seed=opt.exp_seed,
            tracking_uri=uri,
            mlflow_experiment=config.getini("experiments_mlflow_experiment") or None,
            update_baseline=opt.exp_update_baseline,
            strict_baseline=opt.exp_strict_baseline,
            baseline=baseline,
            tolerance=tolerance,
            repeats=int(repeats),
            alpha=_ini_number(config, "experiments_alpha", float, 0.0, 1.0),
            baseline_window=int(_ini_number(config, "experiments_baseline_window", int, 1, None)),
            data_paths=tuple(config.getini("experiments_data")) or ("data",),
            report_path=opt.exp_report or config.getini("experiments_report") or None,
            json_path=opt.exp_json,
            primary_metric=config.getini("experiments_primary_metric") or None,
            leaderboard=leaderboard,
            github_summary=config.getini("experiments_github_summary"),
            session_id=session_id,
            controller=f"{socket.gethostname()}:{os.getpid()}",
            cache=cache and uri is not None,
            session_group=opt.exp_session_group or _github_run_id() or session_id,
            merge=merge,
            compare=compare,
            report_cost=bool(opt.exp_report_cost or config.getini("experiments_report_cost")),
        )


#: ``--exp-compare``'s name for the committed baseline files (side A only).
COMPARE_BASELINE = "baseline"


def _compare_sides(opt: Any, uri: str | None, baseline: BaselineSource) -> tuple[str, str] | None:
    """``--exp-compare A B`` checked against the options it cannot go with."""
    sides = getattr(opt, "exp_compare", None)
    if sides is None:
        return None
    a, b = sides
    clashes = [
        (opt.exp_merge is not None, "--exp-merge (compare reports on side B already)"),
        (
            bool(opt.exp_update_baseline),
            "--exp-update-baseline (a comparison runs no case, so it has no metrics to accept)",
        ),
        (uri is None, "--exp-no-tracking (a comparison reads both sides' runs from the store)"),
        (
            baseline.from_mlflow,
            f"--exp-baseline {baseline} (side A is the baseline of a comparison)",
        ),
    ]
    for clash, text in clashes:
        if clash:
            raise pytest.UsageError(f"--exp-compare {a} {b} cannot be used with {text}")
    if b == COMPARE_BASELINE:
        raise pytest.UsageError(
            f"--exp-compare {a} {b}: side B cannot be {COMPARE_BASELINE!r} (the baseline "
            f"files hold no outcomes to judge); put it first: --exp-compare "
            f"{COMPARE_BASELINE} {a}"
        )
    return a, b


def default_tracking_uri(rootdir: Path) -> str:
    """The embedded store: ``sqlite:///<rootdir>/mlflow.db``."""
    return f"sqlite:///{(rootdir / 'mlflow.db').as_posix()}"


def _github_run_id() -> str | None:
    """``$GITHUB_RUN_ID``: the same for every job (shard) of one workflow run
    and its re-runs; None when unset or not a name a group can have."""
    value = os.environ.get("GITHUB_RUN_ID", "").strip()
    try:
        return parse_session_group(value) if value else None
    except argparse.ArgumentTypeError:
        return None


def _ini_number(
    config: pytest.Config, name: str, kind: type[int] | type[float], low: float, high: float | None
) -> float:
    """An ini number, checked: ``low <= value`` for ints, ``low < value < high`` for floats."""
    text = str(config.getini(name)).strip()
    try:
        value = kind(text)
    except ValueError:
        value = None
    if kind is int:
        ok = value is not None and value >= low
        wanted = f"an integer >= {low:g}"
    else:
        ok = value is not None and low < value < (high if high is not None else float("inf"))
        wanted = f"a number between {low:g} and {high:g} (exclusive)"
    if not ok or value is None:
        raise pytest.UsageError(f"ini {name} = {text!r}: must be {wanted}")
    return value


def _number_or_text(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


# -- option value parsers (argparse ``type=``) ---------------------------------


def parse_seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"seed must be in 0..2**32-1, got {value}")
    return value


def parse_repeats(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"repeats must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"repeats must be at least 1, got {value}")
    return value


def parse_baseline_source(text: str) -> BaselineSource:
    """``--exp-baseline``'s type: :meth:`BaselineSource.parse`, as argparse wants."""
    try:
        return BaselineSource.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_session_group(text: str) -> str:
    """A session group name (``--exp-session-group``, ``--exp-merge``): 1 to
    200 printable characters without quotes or backslashes (it is matched
    inside an MLflow search filter)."""
    name = text.strip()
    if not name:
        raise argparse.ArgumentTypeError("a session group name cannot be empty")
    if len(name) > 200:
        raise argparse.ArgumentTypeError(
            f"a session group name has at most 200 characters, got {len(name)}"
        )
    bad = sorted({c for c in name if c in "'\"`\\" or not c.isprintable()})
    if bad:
        raise argparse.ArgumentTypeError(
            f"session group {name!r} contains {', '.join(map(repr, bad))}: use letters, "
            "digits, spaces and punctuation other than quotes and backslashes"
        )
    return name


_DEVICE_NAME = re.compile(r"[0-9]+|(?:GPU|MIG)-[0-9A-Za-z/-]+")


def parse_devices(text: str) -> str:
    """The option's value, checked: ``auto`` or a comma-separated list of device
    indices or UUIDs (``0,1``, ``GPU-5c1a...``). Returned as written (tidied)."""
    value = text.strip()
    if value.lower() == "auto":
        return "auto"
    items = [part.strip() for part in value.split(",")]
    bad = [item for item in items if not _DEVICE_NAME.fullmatch(item)]
    if not value or bad:
        raise argparse.ArgumentTypeError(
            f"--exp-devices {text!r}: expected 'auto' or a comma-separated list of device "
            f"indices or UUIDs such as '0,1'; not understood: "
            f"{', '.join(map(repr, bad)) or '(empty)'}"
        )
    if len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"--exp-devices {text!r}: a device is listed twice")
    return ",".join(items)


def output_problems(config: pytest.Config, settings: Settings) -> str | None:
    """Why the report or JSON file could not be written, checked at start-up
    so that a typo fails before any case runs (None: both can be written).
    Nothing is created here; missing folders are created with the file."""
    base = Path(config.invocation_params.dir)
    targets = [
        (
            "--exp-report" if config.option.exp_report else "ini experiments_report",
            settings.report_path,
        ),
        ("--exp-json", settings.json_path),
    ]
    for name, target in targets:
        if target:
            problem = unwritable(Path(target) if Path(target).is_absolute() else base / target)
            if problem is not None:
                return f"{name} {target}: cannot write the file there: {problem}"
    return None


def unwritable(path: Path) -> str | None:
    """Why a file cannot be written at *path* (its missing folders would be
    created), or None when nothing stands in the way that can be seen."""
    if path.is_dir():
        return f"{path} is a directory"
    folder = path.parent
    while not folder.exists():  # also False below a file (NotADirectoryError)
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a directory"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path}: permission denied"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder}: permission denied"
    return None
