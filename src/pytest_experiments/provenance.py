"""Where a result came from: git state and a fingerprint of the data.

Computed once per process, when the first experiment needs it.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .keys import PROVENANCE_KEY

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class Provenance:
    commit: str | None = None
    branch: str | None = None
    dirty: bool = False
    data_fingerprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        return cls(**data)


def _git(rootdir: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=rootdir,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(rootdir: Path) -> tuple[str | None, str | None, bool]:
    """(commit, branch, dirty) of the repository holding ``rootdir``."""
    commit = _git(rootdir, "rev-parse", "HEAD")
    if commit is None:
        return None, None, False
    branch = _git(rootdir, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(rootdir, "status", "--porcelain", "--untracked-files=no")
    return commit, (branch if branch != "HEAD" else None), bool(status)


def data_files(rootdir: Path, paths: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for entry in paths:
        path = (rootdir / entry).resolve()
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")
            )
    return files


def data_fingerprint(
    rootdir: Path, paths: Iterable[str], cache: dict[str, str] | None = None
) -> str | None:
    """sha256 over the relative path and content of every file under ``paths``.

    ``cache`` maps ``path|size|mtime_ns`` to a file's digest so that unchanged
    large files are not read again (pytest's cache provides it across sessions).
    """
    files = data_files(rootdir, paths)
    if not files:
        return None
    total = hashlib.sha256()
    for file in files:
        stat = file.stat()
        key = f"{file}|{stat.st_size}|{stat.st_mtime_ns}"
        digest = cache.get(key) if cache is not None else None
        if digest is None:
            h = hashlib.sha256()
            with open(file, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            digest = h.hexdigest()
            if cache is not None:
                cache[key] = digest
        try:
            rel = file.relative_to(rootdir.resolve()).as_posix()
        except ValueError:
            rel = file.as_posix()
        total.update(rel.encode() + b"\0" + digest.encode() + b"\n")
    return total.hexdigest()


def collect(
    rootdir: Path, data_paths: Iterable[str], cache: dict[str, str] | None = None
) -> Provenance:
    commit, branch, dirty = git_state(rootdir)
    return Provenance(
        commit=commit,
        branch=branch,
        dirty=dirty,
        data_fingerprint=data_fingerprint(rootdir, data_paths, cache),
    )


def session_provenance(config: pytest.Config, settings: Settings) -> Provenance:
    """This process's provenance, worked out once, when the first experiment
    needs it (a plain test suite never asks git or hashes data): git is asked
    and the data hashed, with per-file digests kept in pytest's cache (shared
    by xdist workers, so only the first process reads a large file)."""
    known = config.stash.get(PROVENANCE_KEY, None)
    if isinstance(known, Provenance):
        return known
    cache_key = "pytest_experiments/data_digests"
    cache: dict[str, str] = {}
    pytest_cache = getattr(config, "cache", None)
    if pytest_cache is not None:
        cache = dict(pytest_cache.get(cache_key, {}))
    before = dict(cache)
    found = collect(Path(settings.rootdir), settings.data_paths, cache)
    if pytest_cache is not None and cache != before:
        pytest_cache.set(cache_key, cache)
    config.stash[PROVENANCE_KEY] = found
    return found
