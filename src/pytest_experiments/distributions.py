"""Which installed distributions a case's imports come from, for the run
cache's dependencies (:mod:`.cache`).

:class:`DistIndex` maps each top-level module name to the distributions that
install it, and gives each distribution's version, read from the metadata
files of every distribution on ``sys.path``. :func:`dist_fingerprint` tells
cheaply (a stat per distribution) whether what is installed changed, and
:func:`dist_index` keeps the index in pytest's cache (shared by xdist workers)
and in this process's memory under that fingerprint, so it is read again only
when a distribution was installed, removed or upgraded.

Pure apart from reading the metadata files; never imports mlflow.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import inspect
import io
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Protocol


class CacheStore(Protocol):
    """pytest's ``config.cache`` (what is used of it)."""

    def get(self, key: str, default: Any) -> Any: ...
    def set(self, key: str, value: object) -> None: ...


@dataclass(frozen=True)
class DistIndex:
    """Installed distributions: top-level module name -> distribution names,
    and each distribution's version."""

    tops: Mapping[str, tuple[str, ...]]
    versions: Mapping[str, str]

    @classmethod
    def build(cls) -> DistIndex:
        """Read every distribution on ``sys.path``: what
        ``importlib.metadata.packages_distributions()`` and each
        distribution's ``Name``/``Version`` give, read directly from its
        metadata files. Those functions parse each METADATA file as an email
        and, with the ``importlib_metadata`` backport that MLflow imports,
        stat every file a RECORD lists: ~0.5 s with ~110 distributions, in
        every tracked process, against ~0.07 s here."""
        tops: dict[str, list[str]] = {}
        versions: dict[str, str] = {}
        for dist in importlib.metadata.distributions():
            name, version = _name_and_version(dist)
            if name is None:
                continue
            if name not in versions and version is not None:
                versions[name] = version
            for top in _top_level_names(dist):
                tops.setdefault(top, []).append(name)
        return cls(
            tops={top: tuple(dict.fromkeys(names)) for top, names in tops.items()},
            versions=versions,
        )

    def versions_of(self, tops: Iterable[str]) -> dict[str, str | None]:
        """The distributions that install the top-level modules ``tops``, with
        their versions (None when unknown), by name in sorted order; a module
        of no distribution counts for none."""
        dists: dict[str, str | None] = {}
        for top in tops:
            for dist in self.tops.get(top, ()):
                dists[dist] = self.versions.get(dist)
        return dict(sorted(dists.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"tops": {k: list(v) for k, v in self.tops.items()}, "versions": dict(self.versions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DistIndex:
        return cls(
            tops={str(k): tuple(map(str, v)) for k, v in data["tops"].items()},
            versions={str(k): str(v) for k, v in data["versions"].items()},
        )


def _name_and_version(dist: importlib.metadata.Distribution) -> tuple[str | None, str | None]:
    """The ``Name`` and ``Version`` fields of a distribution's metadata
    header (core metadata never folds them over lines)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in text.split("\n\n", 1)[0].splitlines():
        field_name, sep, value = line.partition(":")
        if not sep:
            continue
        key = field_name.strip().lower()
        if key == "name" and name is None:
            name = value.strip()
        elif key == "version" and version is None:
            version = value.strip()
    return name or None, version


def _top_level_names(dist: importlib.metadata.Distribution) -> set[str]:
    """Top-level modules of a distribution, as
    ``importlib.metadata.packages_distributions`` finds them on Python 3.12
    and later: those ``top_level.txt`` declares, else for each installed file
    the first folder of its path, or for a file at the top its module name
    (``.py``, extension modules), keeping names without a dot. The files
    come from RECORD, read without checking that each one exists."""
    declared = (dist.read_text("top_level.txt") or "").split()
    if declared:
        return set(declared)
    record = dist.read_text("RECORD")
    if record is None:  # egg-info: installed-files.txt or SOURCES.txt
        files = [PurePath(f).as_posix() for f in dist.files or ()]
    else:
        files = [row[0] for row in csv.reader(io.StringIO(record)) if row]
    tops = set()
    for file in files:
        parts = [part for part in file.split("/") if part not in ("", ".")]
        if not parts:
            continue
        top = parts[0] if len(parts) > 1 else inspect.getmodulename(parts[0]) or parts[0]
        if "." not in top:
            tops.add(top)
    return tops


def dist_fingerprint(paths: Iterable[str]) -> str:
    """What the installed distributions look like, cheaply (a stat per
    distribution): every ``*.dist-info``/``*.egg-info`` on ``paths`` with
    the time and size of its metadata file, in ``sys.path`` order, and each
    zip file and ``.egg`` on ``paths``. A folder that holds no distribution
    (the project, its tests) leaves it unchanged."""
    h = hashlib.sha256()
    for entry in paths:
        folder = entry or "."
        try:
            names = sorted(os.listdir(folder))
        except NotADirectoryError:  # a zip file: its time and size stand for it
            try:
                stat = os.stat(folder)
            except OSError:
                continue
            h.update(f"path {entry} {stat.st_mtime_ns} {stat.st_size}\n".encode())
            continue
        except OSError:
            continue
        metas = [name for name in names if name.endswith((".dist-info", ".egg-info"))]
        if not metas and not entry.lower().endswith(".egg"):
            continue
        h.update(f"path {entry}\n".encode())
        for name in metas:
            meta = os.path.join(folder, name)
            if os.path.isdir(meta):
                meta = os.path.join(meta, "METADATA" if name.endswith(".dist-info") else "PKG-INFO")
            try:
                stat = os.stat(meta)
            except OSError:
                h.update(f"{name} -\n".encode())
                continue
            h.update(f"{name} {stat.st_mtime_ns} {stat.st_size}\n".encode())
    return h.hexdigest()


#: Indexes this process built or read, by fingerprint: a process that runs
#: several sessions (pytester's in-process runs, a process forked for each)
#: reads the installed distributions once.
_INDEXES: dict[str, DistIndex] = {}


def dist_index(store: CacheStore | None) -> DistIndex:
    """The distributions installed now: from pytest's cache when nothing on
    ``sys.path`` changed since it was stored (shared by xdist workers), else
    from this process's memory, else read (and stored)."""
    fingerprint = dist_fingerprint(sys.path)
    name = "pytest_experiments/dist_index"
    if store is not None:
        stored = store.get(name, None)
        if isinstance(stored, dict) and stored.get("fingerprint") == fingerprint:
            try:
                index = _INDEXES[fingerprint] = DistIndex.from_dict(stored)
                return index
            except (KeyError, AttributeError, TypeError):
                pass
    index = _INDEXES.get(fingerprint) or DistIndex.build()
    _INDEXES[fingerprint] = index
    if store is not None:
        store.set(name, {"fingerprint": fingerprint, **index.to_dict()})
    return index
