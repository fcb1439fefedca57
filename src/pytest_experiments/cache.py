"""The run cache (``--exp-cache``): what a case's result depends on, and
which stored run may stand in for running it again.

A case's inputs come in two parts:

- its **key** (tag ``experiments.cache_key``): a sha256 over the case's node
  id, its experiment file's source without the literal values of its
  ``params=`` declarations (:mod:`.filekey`; a sweep grows without
  re-running the cases it had), every ``conftest.py`` from the rootdir
  down to the file's folder, its params (canonical JSON), seeds and repeats,
  the data fingerprint, and the versions of Python and of the plugin;
- its **dependencies** (tag ``experiments.cache_deps``): the source digest of
  every project-local module (under the rootdir, outside virtual
  environments; experiment, test and conftest files excluded, they have their
  own place) and the version of every distribution whose top-level module is
  loaded, as found in ``sys.modules`` when the case ended.

A stored run answers a case when its key is the case's key, every dependency
it recorded is unchanged today, and nothing loaded now was missing then. Only
runs that computed their metrics record dependencies, so only they answer: a
run that recorded a cached case (tag ``experiments.cached_from``) carries the
key alone.
Recording what was loaded at the *end* of the case (rather than hashing what
is loaded at its start into the key) keeps hits stable: a helper or library
imported inside an experiment's body is still checked, and a session in
which cached cases import nothing still hits the runs of one in which they
did.

Which distribution a loaded module belongs to, and its version, come from
:mod:`.distributions`; file digests and experiment files' keys from
:mod:`.filekey`. Pure apart from reading files and ``sys.modules``; never
imports mlflow.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from .codec import computed_by, returned_names, returned_stats, samples_metric
from .discovery import matches_any
from .distributions import DistIndex
from .filekey import experiment_file_key, file_digest
from .tags import (
    TAG_CACHE_DEPS,
    TAG_CACHE_KEY,
    TAG_OUTCOME,
    TAG_SESSION,
    TAG_SUPERSEDED_BY,
)

#: Changes whenever what goes into a key or its dependencies changes, so that
#: runs recorded by an older recipe never answer.
RECIPE = "2"

#: Outcomes of runs whose metrics are valid (they are evaluated again today).
HIT_OUTCOMES = frozenset({"passed", "new", "failed", "regressed"})

#: The plugin's distribution (its version is part of every key).
PLUGIN_DISTRIBUTION = "pytest-mlflow-experiments"

#: A dependency tag's value is cut into chunks of this size (MLflow keeps 8000).
_CHUNK = 7000

_VENV_PARTS = frozenset({"site-packages", "dist-packages"})


# -- files ----------------------------------------------------------------------


def conftest_chain(rootdir: PurePath, folder: PurePath) -> list[PurePath]:
    """Where a ``conftest.py`` applying to files in ``folder`` may live, from the
    rootdir down to ``folder`` (``folder`` alone when it is outside the rootdir)."""
    try:
        parts = folder.relative_to(rootdir).parts
    except ValueError:
        return [folder / "conftest.py"]
    chain = [rootdir / "conftest.py"]
    current = rootdir
    for part in parts:
        current = current / part
        chain.append(current / "conftest.py")
    return chain


def project_relpath(
    file: str, rootdir: str, is_venv_dir: Callable[[str], bool] = lambda _: False
) -> str | None:
    """``file`` relative to ``rootdir`` (``/`` separators) when it is project
    code: inside the rootdir, not in a ``site-packages``/``dist-packages``
    folder and not inside a virtual environment (a folder below the rootdir
    that ``is_venv_dir``, i.e. holds ``pyvenv.cfg``). None otherwise. Both
    paths are absolute and normalised (``os.path.abspath``)."""
    root = os.path.join(rootdir, "")
    if not file.startswith(root) or len(file) == len(root):
        return None
    parts = file[len(root) :].split(os.sep)
    if any(part in _VENV_PARTS for part in parts):
        return None
    current = root
    for part in parts[:-1]:
        current = os.path.join(current, part)
        if is_venv_dir(current):
            return None
    return "/".join(parts)


# -- the key --------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """One text per value: keys sorted, no spaces; 1, 1.0, True and "1" differ."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class KeyParts:
    """Everything a case's key is made of."""

    nodeid: str
    #: The experiment file without the literals of its sweeps (:func:`experiment_digest`).
    experiment: str | None
    #: conftest.py files on the case's path: path relative to rootdir -> sha256.
    conftests: Mapping[str, str | None]
    #: The case's params as logged (JSON scalars).
    params: Mapping[str, Any]
    seeds: Sequence[int]
    repeats: int
    data: str | None
    python: str
    plugin: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": RECIPE,
            "nodeid": self.nodeid,
            "experiment": self.experiment,
            "conftests": dict(self.conftests),
            "params": dict(self.params),
            "seeds": list(self.seeds),
            "repeats": self.repeats,
            "data": self.data,
            "python": self.python,
            "plugin": self.plugin,
        }


def experiment_digest(path: str | os.PathLike[str], function: str, verbatim: bool) -> str | None:
    """What an experiment file puts in the key of a case of ``function``: its
    source with the literals of its ``params=`` declarations left out (see
    :mod:`.filekey`), and with ``verbatim`` (the case's values are not
    described in full by its params) the function's own ``params=`` text as
    written. None when the file cannot be read."""
    key = experiment_file_key(path)
    return None if key is None else key.for_experiment(function, verbatim)


def case_key(parts: KeyParts) -> str:
    """The case's key: sha256 over the canonical JSON of ``parts``."""
    return hashlib.sha256(canonical_json(parts.to_dict()).encode()).hexdigest()


def python_version() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


_plugin_version: list[str | None] = []


def plugin_version() -> str | None:
    if not _plugin_version:
        try:
            _plugin_version.append(importlib.metadata.version(PLUGIN_DISTRIBUTION))
        except importlib.metadata.PackageNotFoundError:
            _plugin_version.append(None)
    return _plugin_version[0]


# -- dependencies -----------------------------------------------------------------


@dataclass(frozen=True)
class Deps:
    """Project modules (relative path -> sha256) and distributions (name ->
    version) that were loaded."""

    files: Mapping[str, str | None] = field(default_factory=dict)
    dists: Mapping[str, str | None] = field(default_factory=dict)

    def encode(self) -> dict[str, str]:
        """As run tags: ``experiments.cache_deps`` holding zlib-compressed JSON
        (base64), continued in ``experiments.cache_deps.1``, ``.2``, ... when
        longer than one tag holds."""
        raw = canonical_json({"files": dict(self.files), "dists": dict(self.dists)})
        text = base64.b64encode(zlib.compress(raw.encode(), 9)).decode("ascii")
        chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
        return {
            (TAG_CACHE_DEPS if i == 0 else f"{TAG_CACHE_DEPS}.{i}"): chunk
            for i, chunk in enumerate(chunks)
        }

    @classmethod
    def decode(cls, tags: Mapping[str, str]) -> Deps | None:
        """Inverse of :meth:`encode`; None when absent, cut or damaged."""
        text = tags.get(TAG_CACHE_DEPS)
        if text is None:
            return None
        i = 1
        while f"{TAG_CACHE_DEPS}.{i}" in tags:
            text += tags[f"{TAG_CACHE_DEPS}.{i}"]
            i += 1
        try:
            data = json.loads(zlib.decompress(base64.b64decode(text, validate=True)))
        except (ValueError, zlib.error):
            return None
        if not isinstance(data, dict):
            return None
        files, dists = data.get("files"), data.get("dists")
        if not (isinstance(files, dict) and isinstance(dists, dict)):
            return None
        if not (_str_map(files) and _str_map(dists)):
            return None
        return cls(files=files, dists=dists)

    def problem(
        self,
        now: Deps,
        file_now: Callable[[str], str | None],
        version_now: Callable[[str], str | None],
    ) -> str | None:
        """Why a run that recorded these dependencies cannot stand in for a
        case today (None: it can). ``now`` is what is loaded as the case
        starts; ``file_now`` and ``version_now`` give today's digest of a
        project file and version of a distribution."""
        for rel, digest in now.files.items():
            if rel not in self.files:
                return f"module {rel} is loaded now but was not then"
            if self.files[rel] != digest:
                return f"module {rel} changed"
        for name, version in now.dists.items():
            if name not in self.dists:
                return f"distribution {name} is loaded now but was not then"
            if self.dists[name] != version:
                return f"distribution {name} is {version} now, was {self.dists[name]}"
        for rel, digest in self.files.items():
            if rel not in now.files and file_now(rel) != digest:
                return f"module {rel} changed"
        for name, version in self.dists.items():
            if name not in now.dists and version_now(name) != version:
                return f"distribution {name} is {version_now(name)} now, was {version}"
        return None


def _str_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    )


class Environment:
    """This process's view of loaded code: which modules in ``sys.modules`` are
    project code and which distributions are loaded. Each module is
    classified once; file digests are memoised by :func:`file_digest`."""

    def __init__(self, rootdir: str, test_patterns: Sequence[str], index: DistIndex) -> None:
        self.rootdir = rootdir
        self.real_rootdir = os.path.realpath(rootdir)
        self.test_patterns = tuple(test_patterns)
        self.index = index
        self._seen: set[str] = set()
        #: Project modules: relative path -> absolute path.
        self._files: dict[str, str] = {}
        #: Top-level names of loaded modules that are not project code.
        self._tops: set[str] = set()
        self._venv: dict[str, bool] = {}
        self._dists: dict[str, str | None] | None = None
        self._roots = tuple(dict.fromkeys((os.path.abspath(rootdir), self.real_rootdir)))

    def loaded(self) -> Deps:
        """What is loaded now: project modules with their digests, distributions
        with their versions."""
        tops = len(self._tops)
        for name, module in list(sys.modules.items()):
            if name not in self._seen:
                self._seen.add(name)
                self._classify(name, module)
        if self._dists is None or len(self._tops) != tops:
            self._dists = self.index.versions_of(self._tops)
        files = {rel: file_digest(path) for rel, path in sorted(self._files.items())}
        return Deps(files=files, dists=self._dists)

    def file_now(self, rel: str) -> str | None:
        return file_digest(os.path.join(self.rootdir, rel))

    def version_now(self, name: str) -> str | None:
        return self.index.versions.get(name)

    def _classify(self, name: str, module: object) -> None:
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file:
            path = os.path.abspath(file)
            rel = None
            for root in self._roots:
                rel = project_relpath(path, root, self._is_venv)
                if rel is not None:
                    break
            if rel is not None:
                test = os.path.basename(path) == "conftest.py"
                if not test and not matches_any(Path(path), self.test_patterns):
                    self._files[rel] = path
                return
        self._tops.add(name.partition(".")[0])

    def _is_venv(self, folder: str) -> bool:
        known = self._venv.get(folder)
        if known is None:
            known = self._venv[folder] = os.path.isfile(os.path.join(folder, "pyvenv.cfg"))
        return known


# -- stored runs ----------------------------------------------------------------


@dataclass(frozen=True)
class CacheCandidate:
    """A FINISHED run that carries a cache key, as the tracking store gave it."""

    run_id: str
    experiment_id: str
    tags: Mapping[str, str]
    #: Latest value of each metric (the mean, for metrics with samples).
    metrics: Mapping[str, float]

    @property
    def key(self) -> str | None:
        return self.tags.get(TAG_CACHE_KEY)

    @property
    def origin(self) -> str:
        """The run that computed these metrics (a cached run points at it)."""
        return computed_by(self.run_id, self.tags)

    def returned(self) -> dict[str, int] | None:
        """The metrics the experiment returned, with their number of samples;
        None when the run does not hold every one of them as a finite value
        (then it cannot stand in for a run)."""
        try:
            names = returned_names(self.tags)
            stats = returned_stats(self.tags)
        except ValueError:
            return None
        names = [] if names is None else names
        stats = {} if stats is None else stats
        if not isinstance(names, list) or not isinstance(stats, dict):
            return None
        counts: dict[str, int] = {}
        for name in names:
            value = self.metrics.get(name) if isinstance(name, str) else None
            if value is None or not math.isfinite(value):
                return None  # a non-finite mean is not logged: the run failed on it
            spread = stats.get(name)
            n = spread.get("n", 1) if isinstance(spread, dict) else 1
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                return None
            counts[name] = n
        return counts


def hit_index(runs: Iterable[CacheCandidate], session_id: str) -> dict[str, list[CacheCandidate]]:
    """Runs that may answer a case, by key, newest first (``runs`` come newest
    first): outcome passed, new, failed or regressed (never error, crashed,
    skipped, xfailed or xpassed), not of this session, not superseded by a
    later attempt, every returned metric recorded, dependencies readable (a
    run that recorded a cached case has none)."""
    index: dict[str, list[CacheCandidate]] = {}
    for run in runs:
        tags = run.tags
        key = run.key
        if (
            not key
            or tags.get(TAG_OUTCOME) not in HIT_OUTCOMES
            or tags.get(TAG_SESSION) == session_id
            or TAG_SUPERSEDED_BY in tags
            or run.returned() is None
            or Deps.decode(tags) is None
        ):
            continue
        index.setdefault(key, []).append(run)
    return index


def samples_from_history(
    mean: float, n: int, history: Iterable[tuple[int, float]]
) -> list[float] | None:
    """A metric's ``n`` samples from an MLflow history (sample ``i`` at step
    ``i``; steps from ``n`` on, where runs of earlier versions logged the
    mean, are ignored), checked against the recorded mean; None when the
    history does not hold exactly those samples."""
    by_step: dict[int, float] = {}
    for step, value in history:
        if step < n:
            if step in by_step or step < 0:
                return None
            by_step[step] = value
    if sorted(by_step) != list(range(n)):
        return None
    samples = [by_step[i] for i in range(n)]
    if math.fsum(samples) / n != mean:
        return None
    return samples


def stored_samples(
    run_id: str,
    metric: str,
    mean: float,
    n: int,
    history: Callable[[str, str], Iterable[tuple[int, float]]],
) -> list[float] | None:
    """The samples under ``<metric>.samples``, else (a run logged before they
    moved there) in the metric's own history."""
    return samples_from_history(
        mean, n, history(run_id, samples_metric(metric))
    ) or samples_from_history(mean, n, history(run_id, metric))


@dataclass(frozen=True)
class CacheHit:
    """A stored run that stands in for running a case, with its samples."""

    run: CacheCandidate
    #: Every returned metric's samples (n of them; one for a plain value).
    samples: dict[str, list[float]]
    #: What the run recorded as loaded.
    deps: Deps


def find_hit(
    candidates: Iterable[CacheCandidate],
    now: Deps,
    file_now: Callable[[str], str | None],
    version_now: Callable[[str], str | None],
    history: Callable[[str, str], Iterable[tuple[int, float]]],
) -> CacheHit | None:
    """The newest of ``candidates`` (runs with the case's key, newest first)
    whose dependencies are unchanged (see :meth:`Deps.problem`) and whose
    samples can be read back (``history(run_id, metric)`` gives a metric's
    ``(step, value)`` pairs; asked only for metrics with several samples)."""
    for run in candidates:
        deps = Deps.decode(run.tags)
        counts = run.returned()
        if deps is None or counts is None:
            continue
        if deps.problem(now, file_now, version_now) is not None:
            continue
        samples: dict[str, list[float]] = {}
        for metric, n in counts.items():
            mean = run.metrics[metric]
            got = [mean] if n == 1 else stored_samples(run.run_id, metric, mean, n, history)
            if got is None:
                break
            samples[metric] = got
        else:
            return CacheHit(run=run, samples=samples, deps=deps)
    return None
