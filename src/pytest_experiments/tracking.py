"""The MLflow adapter: stores, experiments, case runs, parent runs and the
runs read back (baselines, cache hits), through MLflow's public client.
mlflow is imported lazily, on first use; the few MLflow internals needed are
in :mod:`.mlflow_internals`, URI checks in :mod:`.stores`, new sqlite stores in
:mod:`.sqlite_store` and the proof that a run's session died in :mod:`.orphans`.

Each process (an xdist worker, or pytest itself without xdist) owns one
:class:`MlflowBackend`. The sqlite store is created by exactly one process
(under a file lock, built at a temporary path and renamed into place), so
workers racing on a brand-new store never see a half-migrated database.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.metadata
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import mlflow_internals, orphans, sqlite_store
from .codec import (
    MAX_TAG,
    PLOTS_ARTIFACT,
    TABLE_ARTIFACT,
    TRACEBACK_ARTIFACT,
    StoredRun,
    computed_by,
    fold_seeds,
    lib_tag,
    provenance_tags,
    run_folds,
    run_seeds,
    run_summaries,
)
from .devices import DEVICE_ENV
from .provenance import Provenance
from .redaction import redact_uri as redact_uri
from .redaction import scrub_credentials as scrub_credentials
from .settings import Settings
from .stats import Summary
from .stores import is_http, sqlite_path
from .tags import (
    MLFLOW_PARENT_RUN,
    MLFLOW_SOURCE_NAME,
    TAG_CONTROLLER,
    TAG_DEVICE,
    TAG_FILE,
    TAG_HOST,
    TAG_MACHINE,
    TAG_NODEID,
    TAG_OUTCOME,
    TAG_PARENT,
    TAG_PYTHON,
    TAG_SESSION,
    TAG_SESSION_GROUP,
)

if TYPE_CHECKING:
    from .cache import CacheCandidate
    from .predictions import Predictions

T = TypeVar("T")

#: Whether this process has frozen the collector (see :func:`freeze_once`).
_FROZEN = False


def freeze_once() -> None:
    """Move everything alive to the collector's permanent generation, once
    per process, after MLflow is loaded (see :meth:`MlflowBackend.prepare`)."""
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.freeze()


def set_environment(uri: str) -> None:
    """MLflow settings read from the environment, set before mlflow is imported."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    # MLflow prints "View run ... at <tracking URI>" on every end_run, with
    # any user:password of the URI in it; the plugin reports redacted links.
    if redact_uri(uri) != uri:
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    else:
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def load_mlflow(uri: str) -> None:
    """Import mlflow and its client, and for a sqlite *uri* its SQL store,
    with the environment MLflow reads set first. The store's import maps
    MLflow's ORM classes (~1 s) and raises SQLAlchemy deprecation notes about
    MLflow's own ORM setup: nothing a user of this plugin can act on."""
    set_environment(uri)
    import mlflow  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401

    if sqlite_path(uri) is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            mlflow_internals.import_sqlalchemy_store()


#: Libraries whose versions are recorded on every run.
#: Runs read per page of a session group's search (``--exp-merge``).
PAGE = 1000
KEY_LIBRARIES = ("mlflow", "scikit-learn", "pandas", "numpy", "pytest", "pytest-xdist")

#: Params longer than MLflow accepts are cut to this and flagged with a tag.
MAX_PARAM_LENGTH = 6000


class TrackingError(RuntimeError):
    """The tracking store could not be reached or refused a write."""


# -- retries ------------------------------------------------------------------


def _retry(action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``action(*args, **kwargs)``, retrying transient failures with backoff."""
    attempts = 8
    delay = 0.05
    for attempt in range(attempts):
        try:
            return action(*args, **kwargs)
        except Exception as exc:
            if not _transient(exc) or attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def _transient(exc: BaseException) -> bool:
    """Whether asking the store again may well succeed.

    - sqlite lock contention between the processes of a session;
    - an HTTP request that failed before it was sent, because the process
      environment changed while ``requests`` read it for proxy settings (a
      KeyError naming the variable). MLflow's own telemetry thread unsets
      ``_MLFLOW_TELEMETRY_SESSION_ID`` that way when it cannot reach its
      config URL, as on an offline CI machine; MLflow wraps the KeyError in
      an MlflowException without ``from``, so it is the implicit context.
    """
    text = str(exc).lower()
    if "database is locked" in text or "database table is locked" in text:
        return True
    return text.startswith("api request to") and isinstance(exc.__context__, KeyError)


# -- per-run object -----------------------------------------------------------


class MlflowRun:
    """An active MLflow run (what :class:`~.experiment_run.ExperimentRun` logs to)."""

    def __init__(self, backend: MlflowBackend, run_id: str, experiment_id: str) -> None:
        self._backend = backend
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.url = backend.run_url(experiment_id, run_id)

    def log_artifact(self, path: str, artifact_path: str | None) -> None:
        self._backend.client.log_artifact(self.run_id, path, artifact_path)

    def log_text(self, text: str, filename: str) -> None:
        self._backend.client.log_text(self.run_id, text, filename)

    def log_figure(self, figure: Any, filename: str) -> None:
        self._backend.client.log_figure(self.run_id, figure, filename)

    def log_model(self, model: Any, name: str, kwargs: dict[str, Any]) -> None:
        flavor = kwargs.pop("flavor", None)
        if flavor is None:
            if not _is_sklearn_estimator(model):
                raise TypeError(
                    f"log_model: {type(model).__name__} is not a scikit-learn estimator; "
                    "pass flavor='<mlflow flavor>' (e.g. flavor='xgboost')"
                )
            import mlflow.sklearn

            kwargs.setdefault("serialization_format", "cloudpickle")
            if "pip_requirements" not in kwargs and "extra_pip_requirements" not in kwargs:
                kwargs["pip_requirements"] = self._backend.sklearn_requirements()
            with _said_once("mlflow.sklearn"):
                mlflow.sklearn.log_model(model, name=name, **kwargs)
            return
        importlib_flavor(flavor).log_model(model, name=name, **kwargs)


@contextlib.contextmanager
def _said_once(logger: str) -> Iterator[None]:
    """Records of *logger* (MLflow's cloudpickle caution) reach pytest's log
    capture only: MLflow's own stderr handler on the ``mlflow`` logger wrote
    them a second time, so a failure's output showed each twice (under
    "Captured stderr call" and "Captured log call")."""
    import logging

    def elsewhere(record: logging.LogRecord) -> bool:
        return not (record.name == logger or record.name.startswith(logger + "."))

    # MLflow's own handler is a plain StreamHandler; pytest's capture handlers,
    # which pytest also puts on this non-propagating logger, are subclasses.
    handlers = [h for h in logging.getLogger("mlflow").handlers if type(h) is logging.StreamHandler]
    for handler in handlers:
        handler.addFilter(elsewhere)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(elsewhere)


def importlib_flavor(flavor: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"mlflow.{flavor}")
    except ImportError as exc:
        raise ValueError(f"log_model: unknown MLflow flavor {flavor!r}: {exc}") from None


def _is_sklearn_estimator(model: Any) -> bool:
    if "sklearn" not in sys.modules:
        return False
    from sklearn.base import BaseEstimator

    return isinstance(model, BaseEstimator)


# -- the backend --------------------------------------------------------------


class MlflowBackend:
    """Creates the store (once), experiments and runs for one process."""

    def __init__(self, settings: Settings, provenance: Provenance) -> None:
        assert settings.tracking_uri is not None
        self.settings = settings
        self.uri: str = settings.tracking_uri
        self.provenance = provenance
        self._client: Any = None
        self._experiment_ids: dict[str, str] = {}
        self._requirements: list[str] | None = None
        self._base_tags: dict[str, str] | None = None
        #: Experiment file -> this session's parent run (None: could not be had).
        self._parents: dict[str, str | None] = {}
        #: Node id -> the runs (computing runs, cached ones resolved) that
        #: :meth:`baseline_summaries` pooled into the case's baseline.
        self.baseline_runs: dict[str, list[str]] = {}
        self._baseline_predictions: dict[str, Predictions | None] = {}

    # -- setup ----------------------------------------------------------------
    def prepare(self) -> None:
        """Import mlflow (and its sqlalchemy store, for sqlite) before the first
        case, then move everything alive to the collector's permanent generation.

        With mlflow, scikit-learn and pandas loaded a process holds ~300,000
        objects that live until it exits, and every full collection walks them
        all (~0.3 s each): pytest runs two at the end of a session and the
        interpreter one more at exit. Freezing them once makes those (and any
        full collection during the cases) skip what can never be garbage.
        Done once per process, before any fixture of a case exists.
        """
        load_mlflow(self.uri)  # here, before any case
        with warnings.catch_warnings():
            # SQLAlchemy deprecation notes about MLflow's own ORM setup, when
            # a store maps its tables (see load_mlflow).
            warnings.simplefilter("ignore", DeprecationWarning)
            # The store is made here, at collection's end, not inside the first
            # case's call (where pytest-timeout's clock would already be running);
            # so are the tags MLflow works out for every run.
            self._open()
            mlflow_internals.resolve_run_context()
        freeze_once()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._open()
        return self._client

    def _open(self) -> None:
        # Imported before _create_sqlite_store waits on its lock: a worker that
        # finds another one building the store loads these modules meanwhile.
        load_mlflow(self.uri)
        import mlflow
        from mlflow.tracking import MlflowClient

        db = sqlite_path(self.uri)
        if db is not None:
            self._create_sqlite_store(db)
        mlflow.set_tracking_uri(self.uri)
        self._client = MlflowClient(self.uri)

    def _lock(self) -> Any:
        from filelock import FileLock

        key = hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        return FileLock(Path(tempfile.gettempdir()) / f"pytest-experiments-{key}.lock", timeout=600)

    def _create_sqlite_store(self, db: Path) -> None:
        """Create a brand-new sqlite store atomically: build, then rename."""
        if db.exists():
            return
        with self._lock():
            if db.exists():
                return
            db.parent.mkdir(parents=True, exist_ok=True)
            # A fresh name per attempt: an interrupted attempt (a timeout, Ctrl-C)
            # leaves nothing that a later one in this process would build on.
            tmp = db.with_name(f".{db.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
            try:
                sqlite_store.create(tmp, self.artifact_root(db))
                os.replace(tmp, db)
            finally:
                tmp.unlink(missing_ok=True)

    @staticmethod
    def artifact_root(db: Path) -> str:
        """Artifacts of a local sqlite store live beside it, in ``mlruns/``."""
        return (db.parent / "mlruns").as_uri()

    def experiment_name(self, file: str) -> str:
        """The MLflow experiment of an experiment file (its path relative to the
        rootdir, without ``.py``), unless ini ``experiments_mlflow_experiment``
        names one for all: two files with the same name in different folders
        never share an experiment."""
        if self.settings.mlflow_experiment:
            return self.settings.mlflow_experiment
        return file[: -len(".py")] if file.endswith(".py") else file

    def experiment_id(self, name: str) -> str:
        """Id of MLflow experiment ``name``, created if missing (race-safe)."""
        if name in self._experiment_ids:
            return self._experiment_ids[name]
        client = self.client
        found = _retry(client.get_experiment_by_name, name)
        if found is None:
            db = sqlite_path(self.uri)
            with self._lock():
                found = _retry(client.get_experiment_by_name, name)
                if found is None:
                    location = f"{self.artifact_root(db)}/{name}" if db is not None else None
                    try:
                        exp_id = _retry(client.create_experiment, name, location)
                    except Exception:  # created by another machine meanwhile
                        found = client.get_experiment_by_name(name)
                        if found is None:
                            raise
                        exp_id = str(found.experiment_id)
                else:
                    exp_id = found.experiment_id
        else:
            if found.lifecycle_stage == "deleted":
                raise TrackingError(
                    f"MLflow experiment {name!r} is deleted; restore it "
                    f"(mlflow experiments restore --experiment-id {found.experiment_id}) "
                    "or delete it for good with `mlflow gc`"
                )
            exp_id = found.experiment_id
        self._experiment_ids[name] = exp_id = str(exp_id)
        self._end_abandoned_runs(exp_id)
        return exp_id

    def _end_abandoned_runs(self, experiment_id: str) -> None:
        """End KILLED the runs left RUNNING by pytest sessions that provably died.

        Dead means: the run's controller ran on this very machine (same host
        name, boot and PID namespace, see :mod:`.orphans`) and its process
        is gone. Anything else (another host, a container with its own PID
        namespace, a run from before a reboot, or an older run without the
        machine tag) might still be alive or cannot be checked: it is left as
        it is, with one warning that says so."""
        client = self.client
        runs = _retry(
            client.search_runs, [experiment_id], "attributes.status = 'RUNNING'", max_results=1000
        )
        here = orphans.machine_id()
        left = 0
        for run in runs:
            tags = run.data.tags
            if TAG_CONTROLLER not in tags or tags.get(TAG_SESSION) == self.settings.session_id:
                continue
            if orphans.provably_dead(tags, self.settings.session_id, here):
                _retry(client.set_terminated, run.info.run_id, "KILLED")
            else:
                left += 1
        if left:
            warnings.warn(
                f"pytest-experiments: {left} run(s) of other pytest sessions are still RUNNING "
                f"in MLflow experiment {experiment_id}; they may be alive (another machine, "
                "boot or PID namespace), so they were left as they are",
                stacklevel=1,
            )

    # -- provenance -----------------------------------------------------------
    def base_tags(self) -> dict[str, str]:
        if self._base_tags is None:
            p = self.provenance
            tags = {
                TAG_SESSION: self.settings.session_id,
                TAG_SESSION_GROUP: self.settings.session_group or self.settings.session_id,
                TAG_CONTROLLER: self.settings.controller,
                TAG_MACHINE: orphans.machine_id() or "unknown",
                TAG_HOST: socket.gethostname(),
                TAG_PYTHON: sys.version.split()[0],
            }
            tags.update(provenance_tags(p.commit, p.dirty, p.branch, p.data_fingerprint))
            device = os.environ.get(DEVICE_ENV)
            if device:
                tags[TAG_DEVICE] = device
            for dist in KEY_LIBRARIES:
                try:
                    tags[lib_tag(dist)] = importlib.metadata.version(dist)
                except importlib.metadata.PackageNotFoundError:
                    pass
            self._base_tags = tags
        return dict(self._base_tags)

    def sklearn_requirements(self) -> list[str]:
        """Pinned requirements for sklearn models, worked out once per process
        (MLflow's own inference re-imports the model in a subprocess: ~4 s a model)."""
        if self._requirements is None:
            reqs = []
            for dist in ("scikit-learn", "cloudpickle", "numpy", "scipy", "pandas"):
                try:
                    reqs.append(f"{dist}=={importlib.metadata.version(dist)}")
                except importlib.metadata.PackageNotFoundError:
                    pass
            self._requirements = reqs
        return list(self._requirements)

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        if not is_http(self.uri):
            return None
        base = redact_uri(self.uri) or self.uri
        parts = urllib.parse.urlsplit(base)
        netloc = parts.netloc.replace("***@", "")
        root = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")
        return f"{root}/#/experiments/{experiment_id}/runs/{run_id}"

    # -- runs -----------------------------------------------------------------
    def start(
        self,
        *,
        file: str,
        run_name: str,
        nodeid: str,
        tags: Mapping[str, str],
    ) -> MlflowRun:
        """Create the case's run and make it MLflow's active run.

        Params are written with the results by :meth:`finish`: one transaction
        fewer per case (the run name is the case id, so even a run that never
        finishes says which case it was).
        """
        import mlflow

        exp_id = self.experiment_id(self.experiment_name(file))
        all_tags = self.base_tags()
        all_tags.update(tags)
        all_tags[TAG_NODEID] = nodeid
        all_tags[MLFLOW_SOURCE_NAME] = nodeid.split("::", 1)[0]
        if mlflow.active_run() is not None:
            # A run the project started (a fixture's own run, say) stays open:
            # the case's run is nested under it, as MLflow nests runs.
            active = _retry(
                mlflow.start_run,
                experiment_id=exp_id,
                run_name=run_name,
                tags=all_tags,
                nested=True,
            )
        else:
            parent = self.parent_run_id(file)
            if parent is not None:
                all_tags[MLFLOW_PARENT_RUN] = parent
            active = _retry(
                mlflow.start_run, experiment_id=exp_id, run_name=run_name, tags=all_tags
            )
        return MlflowRun(self, active.info.run_id, exp_id)

    # -- parent runs ----------------------------------------------------------
    def parent_run_id(self, file: str) -> str | None:
        """The session's parent run of an experiment file, created by whichever
        process of the session needs it first (a file lock per session and
        file; every xdist worker of a session runs on this machine). None when
        it cannot be had: the cases then run without a parent."""
        if file in self._parents:
            return self._parents[file]
        exp_id = self.experiment_id(self.experiment_name(file))
        from filelock import FileLock

        key = hashlib.sha256(f"{self.settings.session_id}\0{file}".encode()).hexdigest()[:16]
        lock = FileLock(Path(tempfile.gettempdir()) / f"pytest-experiments-parent-{key}.lock")
        parent: str | None = None
        try:
            with lock.acquire(timeout=120):
                found = self.session_parents([file]).get(file)
                if found is not None:
                    parent = found
                else:
                    tags = self.base_tags()
                    tags.update({TAG_PARENT: "true", TAG_FILE: file})
                    run = _retry(
                        self.client.create_run,
                        exp_id,
                        run_name=f"{Path(file).stem} session {self.settings.session_id[:8]}",
                        tags=tags,
                    )
                    parent = str(run.info.run_id)
        except Exception as exc:  # the cases still run and are recorded
            warnings.warn(
                f"pytest-experiments: no parent run for {file}: {scrub_credentials(str(exc))}",
                stacklevel=1,
            )
        self._parents[file] = parent
        return parent

    def session_parents(self, files: Iterable[str]) -> dict[str, str]:
        """This session's parent runs, by experiment file (one search per
        MLflow experiment)."""
        by_experiment: dict[str, list[str]] = {}
        for file in files:
            by_experiment.setdefault(self.experiment_name(file), []).append(file)
        found: dict[str, str] = {}
        for name, wanted in by_experiment.items():
            experiment = _retry(self.client.get_experiment_by_name, name)
            if experiment is None:
                continue
            runs = _retry(
                self.client.search_runs,
                [experiment.experiment_id],
                f"tags.`{TAG_SESSION}` = '{self.settings.session_id}' "
                f"and tags.`{TAG_PARENT}` = 'true'",
                max_results=1000,
                order_by=["attributes.start_time ASC"],
            )
            for run in runs:
                file = run.data.tags.get(TAG_FILE)
                if file in wanted and file not in found:
                    found[file] = str(run.info.run_id)
        return found

    def finish_parent(
        self,
        run_id: str,
        *,
        table: str,
        plots: Iterable[Path],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
    ) -> None:
        """Give a parent run its table, plots, best case and outcome; end it."""
        from mlflow.entities import Metric, RunTag

        client = self.client
        now = int(time.time() * 1000)
        batch_metrics = [Metric(k, v, now, 0) for k, v in metrics.items()]
        batch_tags = [RunTag(k, str(v)[:MAX_TAG]) for k, v in tags.items()]
        _retry(client.log_batch, run_id, metrics=batch_metrics, tags=batch_tags)
        client.log_text(run_id, table, TABLE_ARTIFACT)
        for path in plots:
            client.log_artifact(run_id, str(path), PLOTS_ARTIFACT)
        _retry(client.set_terminated, run_id, "FINISHED")

    def finish(
        self,
        run: MlflowRun,
        *,
        status: str,
        metrics: Iterable[tuple[str, float, int, int]],
        params: Mapping[str, Any],
        tags: Mapping[str, str],
        traceback_text: str | None = None,
    ) -> list[str]:
        """Write the case's params, metrics and tags in one batch and end the run.

        Returns warnings about params that had to be changed."""
        import mlflow
        from mlflow.entities import Metric, Param, RunTag

        clean, warnings = clean_params(params)
        batch_metrics = [Metric(k, v, ts, step) for k, v, ts, step in metrics]
        batch_tags = [RunTag(k, str(v)[:MAX_TAG]) for k, v in tags.items()]
        batch_params = [Param(k, v) for k, v in clean.items()]
        client = self.client
        try:
            try:
                for m, p, t in _batches(batch_metrics, batch_params, batch_tags):
                    _retry(client.log_batch, run.run_id, metrics=m, params=p, tags=t)
            except Exception as exc:
                if "changing param values is not allowed" not in str(exc).lower():
                    raise
                # The experiment (autolog, a plain mlflow.log_param) already logged
                # one of these params with another value: MLflow keeps the first.
                logged = client.get_run(run.run_id).data.params
                for key in sorted(k for k in clean if k in logged and logged[k] != clean[k]):
                    warnings.append(
                        f"param {key!r} was already logged to the run as {logged[key]!r} "
                        f"(autolog or mlflow.log_param); MLflow keeps that value, not "
                        f"the case's {clean[key]!r}"
                    )
                batch_params = [p for p in batch_params if p.key not in logged]
                for m, p, t in _batches(batch_metrics, batch_params, batch_tags):
                    _retry(client.log_batch, run.run_id, metrics=m, params=p, tags=t)
            if traceback_text:
                client.log_text(run.run_id, traceback_text, TRACEBACK_ARTIFACT)
        finally:
            active = mlflow.active_run()
            if active is not None and active.info.run_id == run.run_id:
                mlflow.end_run(status)
            else:
                _retry(client.set_terminated, run.run_id, status)
        return warnings

    def kill_session_runs(self, files: Iterable[str]) -> int:
        """End KILLED this session's runs that are still RUNNING (crashed workers,
        Ctrl-C). Returns how many."""
        client = self.client
        ids = []
        for name in {self.experiment_name(file) for file in files}:
            found = client.get_experiment_by_name(name)
            if found is not None:
                ids.append(found.experiment_id)
        if not ids:
            return 0
        flt = (
            f"attributes.status = 'RUNNING' and tags.`{TAG_SESSION}` = '{self.settings.session_id}'"
        )
        runs = _retry(client.search_runs, ids, flt, max_results=5000)
        # The parent runs are ended by the session itself, once all is known.
        cases = [run for run in runs if run.data.tags.get(TAG_PARENT) != "true"]
        for run in cases:
            _retry(client.set_terminated, run.info.run_id, "KILLED")
        return len(cases)

    def baseline_summaries(
        self, file: str, filter_string: str, nodeids: set[str] | None
    ) -> dict[str, dict[str, Summary]]:
        """Baselines from the store, by node id: per case, the returned metrics
        of its latest ``baseline_window`` runs that FINISHED with outcome
        passed or new, match ``filter_string`` and belong to another session,
        pooled: each run's samples read back from its history, so that the
        same tests apply as with baseline files (a run without them counts
        with its n, mean and std). Runs that are the same computation (the
        same cache key: code, params, seeds, data and versions; or a cached
        case and the run it came from) count once. The runs picked are kept
        for :meth:`baseline_predictions`.

        Pages through every matching run, newest first, and stops early once
        each case in ``nodeids`` has a full window."""
        from mlflow.exceptions import MlflowException

        from .tags import TAG_CACHE_KEY

        client = self.client
        found = client.get_experiment_by_name(self.experiment_name(file))
        if found is None:
            return {}
        flt = "attributes.status = 'FINISHED'"
        if filter_string:
            flt += f" and {filter_string}"
        window = self.settings.baseline_window
        picked: dict[str, list[dict[str, Summary]]] = {}
        counted: set[tuple[str, str]] = set()
        token: str | None = None
        while True:
            try:
                page = _retry(
                    client.search_runs,
                    [found.experiment_id],
                    flt,
                    max_results=1000,
                    order_by=["attributes.start_time DESC"],
                    page_token=token,
                )
            except MlflowException as exc:
                raise TrackingError(
                    f"--exp-baseline filter {filter_string!r}: {exc.message}"
                ) from None
            for run in page:
                tags = run.data.tags
                nodeid = tags.get(TAG_NODEID)
                if (
                    nodeid is None
                    or tags.get(TAG_SESSION) == self.settings.session_id
                    or tags.get(TAG_OUTCOME) not in ("passed", "new")
                    or (nodeids is not None and nodeid not in nodeids)
                ):
                    continue
                # The same computation (same cache key), or a run that recorded
                # a cached case (--exp-cache) and the run that computed it,
                # repeat the same samples: count them once.
                origin = computed_by(run.info.run_id, tags)
                identity = {(nodeid, origin)}
                if tags.get(TAG_CACHE_KEY):
                    identity.add((nodeid, "key:" + tags[TAG_CACHE_KEY]))
                if identity & counted:
                    continue
                counted |= identity
                runs = picked.setdefault(nodeid, [])
                if len(runs) < window:
                    runs.append(
                        self.run_samples(run.info.run_id, run.data.metrics, tags, run.data.params)
                    )
                    self.baseline_runs.setdefault(nodeid, []).append(origin)
            token = page.token
            full = nodeids is not None and all(len(picked.get(n, ())) >= window for n in nodeids)
            if not token or full:
                break
        baselines: dict[str, dict[str, Summary]] = {}
        for nodeid, runs in picked.items():
            names = {m for run in runs for m in run}
            baselines[nodeid] = {
                m: Summary.pooled(run[m] for run in runs if m in run) for m in sorted(names)
            }
        return baselines

    def run_samples(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Summary]:
        """:func:`run_summaries`, with each metric's samples read back from
        the run's history where it had several (fold scores with K and
        each repeat's seed, as the run recorded them)."""
        from .cache import stored_samples

        summaries = run_summaries(metrics, tags)
        seeds = run_seeds(tags)
        folds = run_folds(tags)
        for name, summary in summaries.items():
            if summary.n > 1 and not summary.has_samples:
                got = stored_samples(run_id, name, summary.mean, summary.n, self.metric_history)
                if got is not None and name in folds:
                    k = folds[name]
                    summaries[name] = Summary.of(got, fold_seeds(tags, params or {}), k)
                elif got is not None:
                    # one sample a repeat: each is known by its repeat's seed
                    summaries[name] = Summary.of(got, seeds if len(got) == len(seeds) else None)
        return summaries

    def baseline_predictions(self, nodeid: str) -> Predictions | None:
        """The predictions of the runs :meth:`baseline_summaries` picked for
        the case, their repeats stacked (None unless every one logged them);
        read once per case and process."""
        if nodeid not in self._baseline_predictions:
            self._baseline_predictions[nodeid] = self._read_predictions(nodeid)
        return self._baseline_predictions[nodeid]

    def _read_predictions(self, nodeid: str) -> Predictions | None:
        from .predictions import ARTIFACT, Predictions, PredictionsError

        runs = self.baseline_runs.get(nodeid)
        if not runs:
            return None
        parts: list[Predictions] = []
        with tempfile.TemporaryDirectory(prefix="pytest-experiments-") as folder:
            for i, run_id in enumerate(runs):
                try:
                    path = _retry(self.client.download_artifacts, run_id, ARTIFACT, f"{folder}/{i}")
                except Exception:
                    return None  # a run without predictions: the samples decide
                part = Predictions.from_bytes(Path(path).read_bytes())
                try:
                    parts.append(part if not parts else part.aligned_to(parts[0], "run " + run_id))
                except PredictionsError:
                    return None  # runs on other test sets: not one baseline
        return Predictions.stacked(parts)

    def run_predictions(self, run_id: str) -> Predictions | None:
        """The predictions artifact one run logged, or None when it has none.
        Pass :func:`.codec.computed_by`'s run: one that recorded a cached
        case holds no artifact."""
        from .predictions import ARTIFACT, Predictions

        with tempfile.TemporaryDirectory(prefix="pytest-experiments-") as folder:
            try:
                path = _retry(self.client.download_artifacts, run_id, ARTIFACT, folder)
            except Exception:
                return None  # a run without predictions: the samples decide
            return Predictions.from_bytes(Path(path).read_bytes())

    def set_outcome(self, run_id: str, outcome: str) -> None:
        """Correct a finished run's outcome tag (a regression found at session end)."""
        self.set_tag(run_id, TAG_OUTCOME, outcome)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        _retry(self.client.set_tag, run_id, key, value)

    # -- the run cache (see cache.py) ------------------------------------------
    def cache_candidates(self, file: str) -> list[CacheCandidate]:
        """Every FINISHED run of ``file``'s MLflow experiment that computed
        its metrics and recorded what it loaded (tag ``experiments.cache_deps``:
        the runs that recorded a cached case have none, so what is read grows
        with the computations, not with the sessions), newest first, all
        pages: one search per experiment file (``--exp-cache``). Which of them
        may answer a case is decided by :func:`.cache.hit_index`."""
        from .cache import CacheCandidate
        from .tags import TAG_CACHE_DEPS

        client = self.client
        found = _retry(client.get_experiment_by_name, self.experiment_name(file))
        if found is None:
            return []
        exp_id = str(found.experiment_id)
        flt = f"attributes.status = 'FINISHED' and tags.`{TAG_CACHE_DEPS}` LIKE '%'"
        runs: list[CacheCandidate] = []
        token: str | None = None
        while True:
            page = _retry(
                client.search_runs,
                [exp_id],
                flt,
                max_results=1000,
                order_by=["attributes.start_time DESC"],
                page_token=token,
            )
            runs += [
                CacheCandidate(r.info.run_id, exp_id, dict(r.data.tags), dict(r.data.metrics))
                for r in page
            ]
            token = page.token
            if not token:
                return runs

    # -- a session group's runs (--exp-merge, --exp-compare) ------------------------
    def group_runs(self, names: Iterable[str], group: str) -> tuple[list[StoredRun], str] | None:
        """The runs of session group ``group`` (else, when it has none, of the
        session with that id) in the MLflow experiments ``names``, and which
        of the two the name matched; None when neither has a run. One paged
        search over those experiments, filtered on the tag: never one per case."""
        client = self.client
        ids: list[str] = []
        for name in names:
            found = client.get_experiment_by_name(name)
            if found is not None and found.lifecycle_stage != "deleted":
                ids.append(str(found.experiment_id))
        if ids:
            for tag, matched in ((TAG_SESSION_GROUP, "session group"), (TAG_SESSION, "session id")):
                runs = self._search_group(ids, f"tags.`{tag}` = '{group}'")
                if runs:
                    return runs, matched
        return None

    def _search_group(self, ids: list[str], filter_string: str) -> list[StoredRun]:
        """Every run matching the filter, page by page."""
        client = self.client
        runs: list[StoredRun] = []
        token: str | None = None
        while True:
            page = client.search_runs(ids, filter_string, max_results=PAGE, page_token=token)
            for run in page:
                info, data = run.info, run.data
                runs.append(
                    StoredRun(
                        run_id=info.run_id,
                        status=info.status,
                        start_time=int(info.start_time or 0),
                        end_time=None if info.end_time is None else int(info.end_time),
                        metrics=dict(data.metrics),
                        params=dict(data.params),
                        tags=dict(data.tags),
                        url=self.run_url(info.experiment_id, info.run_id),
                    )
                )
            token = page.token
            if not token:
                return runs

    def metric_history(self, run_id: str, metric: str) -> list[tuple[int, float]]:
        """``(step, value)`` of every value of ``metric`` in run ``run_id``."""
        return [(m.step, m.value) for m in _retry(self.client.get_metric_history, run_id, metric)]


def _batches(
    metrics: list[Any], params: list[Any], tags: list[Any]
) -> Iterable[tuple[list[Any], list[Any], list[Any]]]:
    """Split one logical batch into MLflow's log_batch limits (100 params,
    100 tags, 1000 entities per call); usually a single call."""
    while True:
        p, params = params[:100], params[100:]
        t, tags = tags[:100], tags[100:]
        room = 1000 - len(p) - len(t)
        m, metrics = metrics[:room], metrics[room:]
        yield m, p, t
        if not (metrics or params or tags):
            return


def clean_params(params: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Params as MLflow accepts them, with a warning for each one changed."""
    clean: dict[str, str] = {}
    warnings: list[str] = []
    for key, value in params.items():
        text = "None" if value is None else str(value)
        name = str(key)
        if not mlflow_internals.param_name_is_valid(name):
            safe = "".join(c if c.isalnum() or c in "_-. /" else "_" for c in name)[:250] or "_"
            warnings.append(f"param name {name!r} is not valid in MLflow; logged as {safe!r}")
            name = safe
        if len(text) > MAX_PARAM_LENGTH:
            warnings.append(
                f"param {name!r} is {len(text)} characters; MLflow keeps {MAX_PARAM_LENGTH}, "
                "so it was truncated"
            )
            text = text[: MAX_PARAM_LENGTH - 3] + "..."
        clean[name] = text
    return clean, warnings
