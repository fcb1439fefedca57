"""Where a tracking URI points and whether it can be used, without importing
MLflow: the sqlite file of a ``sqlite:///`` URI, a cheap health check of a
store or tracking server, and the one usage error a session stops with when
tracking cannot start."""

from __future__ import annotations

import base64
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from . import mlflow_internals
from .redaction import redact_uri
from .settings import Settings


def store_lost(uri: str) -> str | None:
    """After a tracking call failed: why the store is gone for good (a tracking
    server that no longer answers its health check within 2 s), else None (a
    failure of that one call)."""
    if not is_http(uri):
        return None
    return check_store(uri, timeout=2.0)


# -- URIs ---------------------------------------------------------------------


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores)."""
    if not uri.startswith("sqlite:"):
        return None
    path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
    if not path or path == ":memory:":
        return None
    if uri.startswith("sqlite:////"):
        return Path("/" + path.lstrip("/"))
    return Path(path) if os.path.isabs(path) else Path.cwd() / path


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def check_store(uri: str, timeout: float = 5.0) -> str | None:
    """A cheap reachability check with no mlflow import: None if usable, else why not."""
    db = sqlite_path(uri)
    if db is not None:
        if db.exists():
            return None if os.access(db, os.W_OK) else f"sqlite store {db} is not writable"
        # Really try: permission bits say little when running as root.
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".pytest-experiments-", dir=db.parent)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return f"cannot create sqlite store {db}: {exc.strerror or exc}"
        return None
    if is_http(uri):
        parts = urllib.parse.urlsplit(uri)
        # urllib cannot take user:password in the URL: send it as basic auth.
        netloc = parts.netloc.rsplit("@", 1)[-1]
        base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        request = urllib.request.Request(base.rstrip("/") + "/health")
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                if resp.status >= 500:
                    return f"tracking server {redact_uri(uri)} answered {resp.status}"
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                return f"tracking server {redact_uri(uri)} answered {exc.code}"
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"cannot reach tracking server {redact_uri(uri)}: {reason}"
    return None


def check_baseline_filter(filter_string: str) -> str | None:
    """None if MLflow can parse ``--exp-baseline mlflow:<filter>``, else why not
    (checked once before any case runs, rather than failing every case)."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow_internals.parse_search_filter(f"attributes.status = 'FINISHED' and {filter_string}")
    except MlflowException as exc:
        return f"--exp-baseline filter {filter_string!r}: {exc.message}"
    return None


def usage_problem(settings: Settings) -> str | None:
    """Why tracking cannot start (an unusable store, an unparsable baseline
    filter), as the message to stop the session with; None when it can."""
    assert settings.tracking_uri is not None
    problem = check_store(settings.tracking_uri)
    if problem is not None:
        return f"pytest-experiments: {problem} (use --exp-tracking-uri, or --exp-no-tracking)"
    if settings.baseline.filter:
        problem = check_baseline_filter(settings.baseline.filter)
        if problem is not None:
            return f"pytest-experiments: {problem}"
    return None
