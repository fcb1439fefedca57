"""Every private pytest, pytest-xdist and execnet API the test harness uses, in one place.

Forking sessions and workers from the zygote (``_forked.py``) needs seven
things none of the three projects promises to keep:

========================================  =========================================
``_pytest.pathlib.make_numbered_dir``     a forked session's basetemp, named as
                                          ``runpytest_subprocess`` names it
``_pytest.config.get_config``             a config to import the plugins with, as
``_pytest.assertion.install_importhook``  a session does: through the assertion-
``Config._mark_plugins_for_rewrite``      rewriting hook, their modules marked
``_pytest.config._console_main``          what ``python -m pytest`` runs
``execnet.gateway_io.popen_args``         replaced in a forked session, so xdist's
                                          workers start as ``_zworker.py``
``xdist.plugin._sys_path``                xdist's copy of ``sys.path`` at start,
                                          reset to the forked session's own
========================================  =========================================

So this module checks them before the harness forks anything: the installed
versions must lie in :data:`KNOWN` (the ranges the harness was checked
against, ``tests/test_forked.py`` comparing forked processes with cold
ones), and each name must import, with the signature the harness calls. If
not, forking is *unavailable*: every session, server and worker starts cold,
as under ``EXPERIMENTS_TESTS_NO_FORK=1``, which is slower but the same suite,
and the session header says ``forking unavailable: <reason>``. An upgrade
makes the suite slower, never red.

To try forking on a version outside :data:`KNOWN`, run
``EXPERIMENTS_TESTS_FORK_UNKNOWN=1 pytest tests/test_forked.py -n 2``; if it
passes, widen the range. For the harness's own tests,
``EXPERIMENTS_TESTS_PRETEND_VERSION=pytest=99.0`` (``dist=version``, comma
separated) and ``EXPERIMENTS_TESTS_PRETEND_MISSING=<name>`` (names as in the
table, comma separated) stand for an upgrade.

Standard library only at import: the zygote imports this before pytest.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: Versions the harness was checked against: [lowest, first unknown) by
#: (major, minor). The upper bound is the next minor release: pytest changed
#: ``_mark_plugins_for_rewrite``'s signature in a minor release (8.4).
KNOWN: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "pytest": ((9, 2), (9, 3)),
    "pytest-xdist": ((3, 8), (3, 9)),
    "execnet": ((2, 1), (2, 2)),
}

#: The private names, as ``module:attribute``.
PRIVATE = (
    "_pytest.pathlib:make_numbered_dir",
    "_pytest.config:get_config",
    "_pytest.assertion:install_importhook",
    "_pytest.config:Config._mark_plugins_for_rewrite",
    "_pytest.config:_console_main",
    "execnet.gateway_io:popen_args",
    "xdist.plugin:_sys_path",
)

NO_FORK = "EXPERIMENTS_TESTS_NO_FORK"
FORK_UNKNOWN = "EXPERIMENTS_TESTS_FORK_UNKNOWN"
PRETEND_VERSION = "EXPERIMENTS_TESTS_PRETEND_VERSION"
PRETEND_MISSING = "EXPERIMENTS_TESTS_PRETEND_MISSING"

#: The outcome of the check, by the settings it depends on.
_checked: dict[tuple[str, str, str], str | None] = {}


def _name(spec: str) -> str:
    return spec.replace(":", ".")


def _parse(text: str) -> tuple[int, ...]:
    """The leading numeric parts of a version (``9.2.0rc1`` is (9, 2, 0))."""
    parts = []
    for part in text.split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(parts)


def versions() -> dict[str, str]:
    """The installed versions of the three distributions (or a pretended one)."""
    pretend = dict(
        item.split("=", 1) for item in os.environ.get(PRETEND_VERSION, "").split(",") if "=" in item
    )
    found = {}
    for dist in KNOWN:
        try:
            found[dist] = pretend.get(dist) or version(dist)
        except PackageNotFoundError:
            found[dist] = "not installed"
    return found


def version_problems() -> list[str]:
    """Each installed version outside :data:`KNOWN`, said in words."""
    problems = []
    for dist, seen in versions().items():
        low, high = KNOWN[dist]
        if not low <= _parse(seen)[: len(low)] < high:
            known = f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}"
            problems.append(f"{dist} {seen} is outside the known range {known}")
    return problems


def _resolve(spec: str) -> Any:
    module, attribute = spec.split(":")
    found: Any = importlib.import_module(module)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def _shape_problem(spec: str, found: Any) -> str | None:
    """Whether ``found`` still takes the calls the harness makes."""
    calls: dict[str, Callable[[inspect.Signature], Any]] = {
        "_pytest.pathlib:make_numbered_dir": lambda s: s.bind(
            root=Path(), prefix="runpytest-", mode=0o700
        ),
        "_pytest.config:get_config": lambda s: s.bind(),
        "_pytest.assertion:install_importhook": lambda s: s.bind(None),
        "_pytest.config:Config._mark_plugins_for_rewrite": lambda s: s.bind(
            None, None, disable_autoload=False
        ),
        "_pytest.config:_console_main": lambda s: s.bind(),
        "execnet.gateway_io:popen_args": lambda s: s.bind(None),
    }
    if spec == "xdist.plugin:_sys_path":
        return None if isinstance(found, list) else "is no longer a list"
    if spec == "execnet.gateway_io:popen_args":
        # _zworker.py stands in for argv[0]; the zygote runs the rest as
        # ``python -u -c CODE`` would.
        import execnet

        args = found(execnet.XSpec("popen"))
        if args[:2] != [sys.executable, "-u"] or args[-2] != "-c":
            return f"gives {args[:3]}..., not [python, -u, ..., -c, CODE]"
    try:
        calls[spec](inspect.signature(found))
    except TypeError as error:
        return f"takes other arguments ({error})"
    return None


def _check() -> str | None:
    """Why forking is unavailable (None: it is available)."""
    key = (
        os.environ.get(FORK_UNKNOWN, ""),
        os.environ.get(PRETEND_VERSION, ""),
        os.environ.get(PRETEND_MISSING, ""),
    )
    if key in _checked:
        return _checked[key]
    missing = {m.strip() for m in key[2].split(",") if m.strip()}
    problems = [] if key[0] else version_problems()
    for spec in PRIVATE:
        try:
            if _name(spec) in missing:
                raise AttributeError("pretended missing")
            found = _resolve(spec)
        except (ImportError, AttributeError) as error:
            problems.append(f"{_name(spec)} is gone ({error})")
            continue
        shape = _shape_problem(spec, found)
        if shape:
            problems.append(f"{_name(spec)} {shape}")
    _checked[key] = "; ".join(problems) or None
    return _checked[key]


def unavailable() -> str | None:
    """Why the harness cannot fork here (None: it can)."""
    return _check()


def forking_off() -> str | None:
    """Why sessions start cold instead of forked (None: they fork)."""
    if os.environ.get(NO_FORK):
        return f"{NO_FORK} is set"
    return unavailable()


def report_header() -> str:
    """The session header's line: whether sessions fork, and if not, why."""
    if os.environ.get(NO_FORK):
        return f"forking off: {NO_FORK} is set; sessions start cold"
    reason = unavailable()
    if reason:
        return f"forking unavailable: {reason}; sessions start cold"
    seen = ", ".join(f"{dist} {v}" for dist, v in versions().items())
    forced = f", outside the known ranges ({FORK_UNKNOWN})" if version_problems() else ""
    return f"forking: {seen}{forced}"


def _get(spec: str) -> Any:
    """One private object. The test process checks them all
    (:func:`forking_off`) before it starts a zygote; the zygote, which must
    import the plugins through pytest's import hook before anything imports
    xdist, takes each one as it needs it."""
    return _resolve(spec)


# -- what the harness does with them ----------------------------------------------


def make_numbered_dir(root: Path, prefix: str) -> Path:
    """``root/<prefix>N``, the next free N, as pytester numbers basetemps."""
    path: Path = _get("_pytest.pathlib:make_numbered_dir")(root=root, prefix=prefix, mode=0o700)
    return path


def install_session_import_hook() -> Any:
    """Install pytest's assertion-rewriting import hook, with the modules of
    every distribution that provides a plugin marked for rewriting, as a
    session does first; returns the hook (remove it from ``sys.meta_path``)."""
    config = _get("_pytest.config:get_config")()
    hook = _get("_pytest.assertion:install_importhook")(config)
    # The one place that knows which modules a session rewrites.
    _get("_pytest.config:Config._mark_plugins_for_rewrite")(config, hook, disable_autoload=False)
    return hook


def console_main() -> int:
    """Run pytest as ``python -m pytest`` does (argv from ``sys.argv``)."""
    rc: int = _get("_pytest.config:_console_main")()
    return rc


def start_popen_workers_with(python: list[str]) -> None:
    """Have execnet start popen workers as ``python ARGS`` instead of
    ``sys.executable ARGS`` (``-u -c BOOTSTRAP``)."""
    from execnet import gateway_io

    popen_args = _get("execnet.gateway_io:popen_args")

    def forked_popen_args(spec: Any) -> list[str]:
        args: list[str] = popen_args(spec)
        return args if spec.python else [*python, *args[1:]]

    gateway_io.popen_args = forked_popen_args


def reset_xdist_sys_path() -> None:
    """xdist sends the workers it starts the ``sys.path`` it saw when first
    imported (in the zygote); a forked session's is its own."""
    if "xdist.plugin" in sys.modules:
        _get("xdist.plugin:_sys_path")[:] = sys.path
