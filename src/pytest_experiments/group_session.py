"""Sessions that read a session group's runs instead of running cases:
``--exp-merge``, and the store side of ``--exp-compare``.

A merge collects the declared cases as a session would, runs none of them,
reads the group's runs (:meth:`.tracking.MlflowBackend.group_runs`: one
paged search over the experiment files' MLflow experiments), rebuilds each
case's result from its run (:func:`.merge.merge_results`, pure) and hands
the results to the session, which writes the report, JSON and job summary
and exits as if every case had run there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .merge import DeclaredCase, merge_results

if TYPE_CHECKING:
    import pytest

    from .codec import StoredRun
    from .runner import CaseRunner
    from .settings import Settings


def declared_cases(
    items: list[pytest.Item], runner: CaseRunner, option: str, selection: str
) -> list[DeclaredCase]:
    """The collected cases as declared, for a command that runs none of them
    (``--exp-merge``, ``--exp-compare``): a usage error naming ``option``
    when nothing was collected, and pytest's exit (internal error) when the
    pytest API that reads skip marks moved."""
    import pytest

    from .pytest_internals import PytestChanged

    if not items:
        raise pytest.UsageError(
            f"{option}: no experiment case was collected; give the paths and selection {selection}"
        )
    try:
        return [declared_case(item, runner) for item in items]
    except PytestChanged as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.INTERNAL_ERROR)


def declared_case(item: pytest.Item, runner: CaseRunner) -> DeclaredCase:
    """What the merge knows of a collected case without running it."""
    import pytest

    from .discovery import relative_file

    assert isinstance(item, pytest.Function)
    decl = runner.declaration(item)
    from .pytest_internals import skipped_by_marks

    skipped, not_run = skipped_by_marks(item)
    return DeclaredCase(
        nodeid=item.nodeid,
        file=relative_file(item),
        params=runner.case_params(item),
        expect={k: c.text for k, c in decl.expect.items()},
        gated_metrics=decl.declared_metrics(),
        primary_metric=decl.primary_metric,
        doc=decl.doc,
        direction=decl.direction,
        skipped=skipped,
        not_run=not_run,
    )


def store_backend(settings: Settings, option: str, group: str) -> Any:
    """The tracking store ready to read (an ``MlflowBackend``), checked
    first: ``pytest.UsageError`` naming ``option`` when it does not exist or
    cannot be used."""
    import pytest

    from .provenance import Provenance
    from .redaction import redact_uri
    from .stores import check_store, sqlite_path
    from .tracking import MlflowBackend

    uri = settings.tracking_uri
    assert uri is not None
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise pytest.UsageError(
            f"{option}: no runs in group {group!r} in {redact_uri(uri)}: the store does not exist"
        )
    problem = check_store(uri)
    if problem is not None:
        raise pytest.UsageError(f"{option}: {problem}")
    return MlflowBackend(settings, Provenance())


def read_group(
    settings: Settings,
    files: Iterable[str],
    group: str,
    option: str = "--exp-merge",
    backend: Any = None,
) -> tuple[list[StoredRun], str]:
    """The runs of session group ``group`` (else, when it has none, of the
    session with that id) in the MLflow experiments of ``files``, and which
    of the two the name matched. One paged search over those experiments,
    filtered on the tag: never one per case. ``pytest.UsageError`` with a
    one-line reason (credentials removed), naming ``option``, when the store
    cannot say. ``backend``: an ``MlflowBackend`` from :func:`store_backend`
    (else one is made)."""
    import pytest

    from .redaction import redact_uri, scrub_credentials

    where = redact_uri(settings.tracking_uri)
    if backend is None:
        backend = store_backend(settings, option, group)
    names: list[str] = []
    try:
        backend.prepare()  # mlflow imported as a session imports it (its warnings quiet)
        names = sorted({backend.experiment_name(f) for f in files})
        found: tuple[list[StoredRun], str] | None = backend.group_runs(names, group)
        if found is not None:
            return found
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise pytest.UsageError(
            scrub_credentials(
                f"{option}: could not read group {group!r} from {where}: "
                f"{type(exc).__name__}: {message}".splitlines()[0]
            )
        ) from None
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise pytest.UsageError(
        f"{option}: no runs in group {group!r} in {where} "
        f"(MLflow experiments searched: {shown}; the name is a session group, "
        f"--exp-session-group, or a session id)"
    )


def merge_session(
    config: pytest.Config, settings: Settings, items: list[pytest.Item], runner: CaseRunner
) -> None:
    """``--exp-merge``: read the group's runs for the collected cases and hand
    the results to the session (which writes report, JSON and summary, and
    sets the exit status). Runs when collection ends, on the controller."""

    from .redaction import redact_uri
    from .session import experiment_session

    group = settings.merge
    assert group is not None
    cases = declared_cases(
        items,
        runner,
        f"--exp-merge {group}",
        "the group ran, e.g. pytest experiments/ --exp-merge NAME",
    )
    runs, matched = read_group(settings, {case.file for case in cases}, group)
    merged = merge_results(cases, runs, group, matched)
    merged.uri = redact_uri(settings.tracking_uri)
    experiment_session(config, settings).merged(merged)
