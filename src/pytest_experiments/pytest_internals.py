"""The pytest internals the plugin uses, in one place, checked loudly.

pytest has no public API that says whether an item's ``skip``/``skipif``/
``xfail`` marks would skip it; ``--exp-merge`` needs that (a case its marks
skip has no run, and is not *missing*), and pytest's own reading of the
marks is ``_pytest.skipping``. A pytest release that moves it makes the
merge stop with an error naming the pytest version, never silently turns
skipped cases into missing ones.
"""

from __future__ import annotations

from typing import Any

import pytest


class PytestChanged(Exception):
    """pytest's private API the plugin relies on is not what it was."""


def _changed(what: str, exc: BaseException) -> PytestChanged:
    return PytestChanged(
        f"pytest-experiments --exp-merge reads skip and xfail marks with pytest's "
        f"_pytest.skipping.{what}, which pytest {pytest.__version__} does not provide as "
        f"expected ({type(exc).__name__}: {exc}); please report this with your pytest version"
    )


def skipped_by_marks(item: pytest.Item) -> tuple[str | None, str | None]:
    """Why *item*'s marks skip it (else None), and ``"[NOTRUN] reason"`` for an
    ``xfail(run=False)`` (else None), as pytest would decide at setup. A mark
    condition that cannot be evaluated outside a run counts as no skip.
    Raises :class:`PytestChanged` when pytest's API has moved."""
    try:
        from _pytest.skipping import evaluate_skip_marks, evaluate_xfail_marks
    except ImportError as exc:
        raise _changed("evaluate_skip_marks/evaluate_xfail_marks", exc) from None
    try:
        skip: Any = evaluate_skip_marks(item)
        xfail: Any = evaluate_xfail_marks(item)
    except pytest.fail.Exception:  # pytest's own "Error evaluating 'skipif' condition"
        return None, None
    except TypeError as exc:  # called differently now
        raise _changed("evaluate_skip_marks/evaluate_xfail_marks", exc) from None
    try:
        skipped = None if skip is None else (str(skip.reason) or "skipped by its marks")
        not_run = None if xfail is None or xfail.run else f"[NOTRUN] {xfail.reason}".strip()
    except AttributeError as exc:
        raise _changed("Skip/Xfail", exc) from None
    return skipped, not_run
