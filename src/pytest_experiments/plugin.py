"""pytest entry point (``pytest11: experiments``): options, ini and hook wiring.

Disable the plugin with ``-p no:experiments``. Nothing here imports mlflow,
pandas or scikit-learn; see :mod:`.tracking` for the one module that does.
Start-up cost matters (every pytest run in the environment pays it), so this
module imports only :mod:`.discovery` and :mod:`.settings`; collection,
running and the session's bookkeeping are imported when an experiment file,
case or result first turns up.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import hookspecs
from .discovery import (
    CASE_MARK,
    REPORT_ENTRY,
    is_experiment_item,
    matches_any,
    relative_file,
)
from .keys import (
    DECLARED_KEY,
    MERGE_KEY,
    REPORTS_KEY,
    RESULT_KEY,
    RUN_KEY,
    RUNNER_KEY,
    SEED_FIXTURE_KEY,
    SELECTED_KEY,
    SETTINGS_KEY,
)
from .settings import (
    Settings,
    parse_baseline_source,
    parse_devices,
    parse_repeats,
    parse_seed,
    parse_session_group,
)

if TYPE_CHECKING:
    from .experiment_run import ExperimentRun
    from .runner import CaseRunner


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("experiments", "ML experiments (pytest-experiments)")
    group.addoption(
        "--exp-seed",
        type=parse_seed,
        default=42,
        metavar="N",
        help="seed for Python's and NumPy's RNGs and the `seed` fixture (default 42)",
    )
    group.addoption(
        "--exp-repeats",
        type=parse_repeats,
        default=None,
        metavar="N",
        help="run each case's body N times with seeds derived from --exp-seed and "
        "gate on mean +- CI (default: ini experiments_repeats, 1); an experiment's "
        "own repeats= wins",
    )
    group.addoption(
        "--exp-tracking-uri",
        default=None,
        metavar="URI",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, ini "
        "experiments_tracking_uri, else sqlite:///<rootdir>/mlflow.db)",
    )
    group.addoption(
        "--exp-devices",
        type=parse_devices,
        default=None,
        metavar="auto|0,1,...",
        help="give each xdist worker its own GPU through CUDA_VISIBLE_DEVICES (worker gwN "
        "gets device N mod the number listed; 'auto': the GPUs present)",
    )
    group.addoption(
        "--exp-no-tracking",
        action="store_true",
        default=False,
        help="do not log experiments to MLflow",
    )
    group.addoption(
        "--exp-update-baseline",
        action="store_true",
        default=False,
        help="write today's metrics to baselines/<file>.json; regressions do not fail",
    )
    group.addoption(
        "--exp-strict-baseline",
        action="store_true",
        default=False,
        help="a case with no baseline entry fails instead of passing as 'new'",
    )
    group.addoption(
        "--exp-baseline",
        type=parse_baseline_source,
        default=None,
        metavar="SOURCE",
        help="where baselines come from: 'file' (default) or 'mlflow[:FILTER]', "
        "the latest passed runs per case (ini experiments_baseline_window), e.g. "
        "\"mlflow:tags.git.branch = 'main'\"",
    )
    group.addoption(
        "--exp-cache",
        action="store_const",
        const=True,
        dest="exp_cache",
        default=None,
        help="do not run a case again when a finished run in the tracking store has its "
        "inputs (code, params, seeds, data, library versions): re-evaluate and record "
        "that run's metrics (default: ini experiments_cache)",
    )
    group.addoption(
        "--exp-no-cache",
        action="store_const",
        const=False,
        dest="exp_cache",
        help="run every case, even when ini experiments_cache is true",
    )
    group.addoption(
        "--exp-report",
        default=None,
        metavar="PATH",
        help="write a Markdown comparison report to PATH",
    )
    group.addoption(
        "--exp-report-cost",
        action="store_true",
        default=None,
        help="add what each case cost (wall and CPU seconds, peak memory) to the report, "
        "with totals per experiment (ini experiments_report_cost)",
    )
    group.addoption(
        "--exp-json",
        default=None,
        metavar="PATH",
        help="write the experiment results as JSON to PATH",
    )
    group.addoption(
        "--exp-session-group",
        type=parse_session_group,
        default=None,
        metavar="NAME",
        help="tag every run with this session group, shared by the shards of one study "
        "(default: $GITHUB_RUN_ID when set, else this session's id)",
    )
    group.addoption(
        "--exp-merge",
        type=parse_session_group,
        default=None,
        metavar="NAME",
        help="run no case: report on the collected cases from the runs of session group "
        "(or session id) NAME in the tracking store; a case with no run is missing",
    )
    group.addoption(
        "--exp-compare",
        type=parse_session_group,
        nargs=2,
        default=None,
        metavar=("A", "B"),
        help="run no case: report on B's runs with A's as their baseline, with the gate's "
        "tests and exit status (each a session group or session id; A may be 'baseline', "
        "the committed baseline files)",
    )
    parser.addini(
        "experiments_longest_first",
        type="bool",
        default=True,
        help="under xdist, run the experiment cases that took longest last time first "
        "(durations kept in pytest's cache; default true)",
    )
    parser.addini(
        "experiment_files",
        type="args",
        default=["exp_*.py"],
        help="glob patterns of experiment files (default exp_*.py)",
    )
    parser.addini(
        "experiments_tracking_uri",
        default="",
        help="MLflow tracking URI when neither option nor environment sets one",
    )
    parser.addini(
        "experiments_mlflow_experiment",
        default="",
        help="one MLflow experiment name for all files (default: the file's stem)",
    )
    parser.addini(
        "experiments_tolerance",
        default="0",
        help="default allowed regression vs baseline: number or 'N%' (default 0)",
    )
    parser.addini(
        "experiments_repeats",
        default="1",
        help="times each case's body runs unless its experiment says (default 1)",
    )
    parser.addini(
        "experiments_alpha",
        default="0.05",
        help="level of the regression test, Holm-corrected over the session (default 0.05)",
    )
    parser.addini(
        "experiments_baseline_window",
        default="5",
        help="with --exp-baseline mlflow: latest passed runs pooled per case (default 5)",
    )
    parser.addini(
        "experiments_cache",
        type="bool",
        default=False,
        help="like --exp-cache for every session (off with --exp-no-tracking; default false)",
    )
    parser.addini(
        "experiments_data",
        type="args",
        default=["data"],
        help="paths whose content is fingerprinted on every run (default data/)",
    )
    parser.addini(
        "experiments_report", default="", help="write the Markdown report here (like --exp-report)"
    )
    parser.addini(
        "experiments_report_cost",
        type="bool",
        default=False,
        help="like --exp-report-cost for every session (default false)",
    )
    parser.addini(
        "experiments_primary_metric",
        default="",
        help="leaderboard metric (default: first metric in an expect)",
    )
    parser.addini(
        "experiments_leaderboard",
        default="file",
        help="how the report's leaderboard ranks cases: 'file' (within each experiment "
        "file, the default) or 'global' (all files together)",
    )
    parser.addini(
        "experiments_github_summary",
        type="bool",
        default=True,
        help="append the report to $GITHUB_STEP_SUMMARY when set (default true)",
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "params(**values): an experiment case's params (select with -m)"
    )
    config.addinivalue_line(
        "markers", f"{CASE_MARK}(case): the experiment case a test runs (set by the plugin)"
    )
    settings = Settings.from_config(config)
    config.stash[SETTINGS_KEY] = settings
    if settings.reads_store and config.pluginmanager.hasplugin("xdist"):
        # A merge runs no case: like --collect-only, it needs no workers (-n is
        # ignored, as xdist does for --pdb with -n auto; it runs before xdist's
        # own pytest_configure, which starts workers).
        config.option.numprocesses = 0
        config.option.dist = "no"
        config.option.tx = []
    if not hasattr(config, "workerinput"):
        if settings.report_path or settings.json_path:  # written even when nothing was collected
            from .settings import output_problems

            problem = output_problems(config, settings)
            if problem is not None:
                raise pytest.UsageError(problem)
            from .session import experiment_session

            experiment_session(config, settings)
        if config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") != "no":
            from .session import XdistHooks

            config.pluginmanager.register(XdistHooks(config, settings), "experiments-xdist")
            devices = config.getoption("exp_devices", None)
            if devices:
                from .devices import DeviceHooks

                config.pluginmanager.register(DeviceHooks(devices), "experiments-devices")


def _activate(config: pytest.Config) -> None:
    """Register the per-case hooks (and, on the controller, the session) once
    this process finds an experiment file: a plain test suite pays nothing per test."""
    pluginmanager = config.pluginmanager
    if pluginmanager.get_plugin(CASE_HOOKS) is not None:
        return
    pluginmanager.register(CaseHooks(), CASE_HOOKS)
    from .schedule import register

    register(config, config.stash[SETTINGS_KEY].experiment_files)
    if not hasattr(config, "workerinput"):
        from .session import experiment_session

        experiment_session(config, config.stash[SETTINGS_KEY])


def _runner(config: pytest.Config) -> CaseRunner:
    """This process's case runner, built when the first experiment needs it."""
    from .runner import CaseRunner

    runner = config.stash.get(RUNNER_KEY, None)
    if not isinstance(runner, CaseRunner):
        runner = CaseRunner(config, config.stash[SETTINGS_KEY])
        config.stash[RUNNER_KEY] = runner
    return runner


# -- collection -----------------------------------------------------------------


def _is_experiment_file(file_path: Path, config: pytest.Config) -> bool:
    return file_path.suffix == ".py" and matches_any(
        file_path, config.stash[SETTINGS_KEY].experiment_files
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect experiment files that pytest's python plugin would not collect itself."""
    config = parent.config
    if not _is_experiment_file(file_path, config):
        return None
    if parent.session.isinitpath(file_path) or matches_any(
        file_path, config.getini("python_files")
    ):
        return None  # python's pytest_collect_file asks pytest_pycollect_makemodule below
    from .collection import ExperimentModule

    _activate(config)
    module: pytest.Module = ExperimentModule.from_parent(parent, path=file_path)
    return module


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: Any) -> pytest.Module | None:
    if _is_experiment_file(module_path, parent.config):
        from .collection import ExperimentModule

        _activate(parent.config)
        module: pytest.Module = ExperimentModule.from_parent(parent, path=module_path)
        return module
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    definition = metafunc.definition
    if not is_experiment_item(definition):
        return
    from .collection import parametrize_values
    from .conditions import DeclarationError
    from .declarations import declaration_for

    config = metafunc.config
    runner = _runner(config)
    name = definition.originalname
    module_doc = getattr(metafunc.module, "__doc__", None)
    try:
        decl = declaration_for(
            metafunc.function, name, config.stash[SETTINGS_KEY].default_tolerance, module_doc
        )
    except DeclarationError as exc:
        raise pytest.Collector.CollectError(f"{relative_file(definition)}::{name}: {exc}") from None
    runner.declarations[definition.nodeid] = decl
    if decl.argnames:
        metafunc.parametrize(list(decl.argnames), parametrize_values(decl))


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    """Notes that selecting succeeded (see :data:`SELECTED_KEY`). With
    ``--exp-merge`` nothing runs: every selected test is deselected (after
    every other selection, ``-k``/``-m`` included), and the experiment cases
    among them are what the merge reports on."""
    yield  # an error selecting (a bad -k) propagates from here
    config.stash[SELECTED_KEY] = True
    if not config.stash[SETTINGS_KEY].reads_store or config.option.collectonly:
        return
    config.stash[MERGE_KEY] = [item for item in items if is_experiment_item(item)]
    if items:
        config.hook.pytest_deselected(items=list(items))
        items[:] = []


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Once experiments are collected: fail fast when the tracking store is
    unusable, and get tracking ready before the first case (or, with
    ``--exp-merge``, read the group's runs instead)."""
    config = session.config
    settings = config.stash[SETTINGS_KEY]
    if config.option.collectonly or SELECTED_KEY not in config.stash:
        return  # nothing runs, or selecting failed (a bad -k): that error stands
    if settings.compare is not None:
        from .compare import compare_session

        compare_session(config, settings, config.stash[MERGE_KEY], _runner(config))
        return
    if settings.merge is not None:
        from .group_session import merge_session

        merge_session(config, settings, config.stash[MERGE_KEY], _runner(config))
        return
    cases = [item for item in session.items if is_experiment_item(item)]
    if not cases:
        return  # also the xdist controller, which never collects
    runner = _runner(config)
    if not hasattr(config, "workerinput"):  # under xdist the controller checked
        from .session import plugin_conflict

        problem = plugin_conflict(config)
        if problem is None and settings.tracking_uri is not None:
            from .stores import usage_problem

            problem = usage_problem(settings)
        if problem is not None:
            raise pytest.UsageError(problem)
    elif settings.tracking_uri is not None and settings.baseline.filter:
        from .stores import check_baseline_filter

        if check_baseline_filter(settings.baseline.filter) is not None:
            # The controller stops the session with this very message as
            # soon as it sees this worker's collection: build nothing it
            # would only interrupt.
            return
    if settings.tracking_uri is not None:
        runner.prepare_tracking()
    runner.prepare_gate(cases)
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker in (None, "gw0") and not settings.update_baseline:  # said once per session
        import warnings

        for text in runner.gate_warnings:
            warnings.warn(pytest.PytestWarning(f"pytest-experiments: {text}"), stacklevel=1)


# -- running ----------------------------------------------------------------------


CASE_HOOKS = "experiments-cases"


class CaseHooks:
    """Hooks that run for every test; registered by :func:`_activate`."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if is_experiment_item(item):
            _runner(item.config).seed(item)

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        if not is_experiment_item(pyfuncitem):
            return None
        _runner(pyfuncitem.config).run(pyfuncitem)
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Flag an experiment's reports and hand its result to the controller
        (see :data:`.keys.REPORTS_KEY`): the same path with and without xdist."""
        report = yield
        if not is_experiment_item(item):
            return report
        from .runner import final_outcome

        result = item.stash.get(RESULT_KEY, None) if call.when == "call" else None
        if call.when == "setup" and (report.failed or report.skipped):
            from .results import CaseResult

            assert isinstance(item, pytest.Function)
            excinfo = call.excinfo
            reason = excinfo.exconly() if excinfo else "error"
            result = CaseResult.for_item(
                item.nodeid,
                relative_file(item),
                outcome="error" if report.failed else "skipped",
                message=f"setup failed: {reason}" if report.failed else None,
                params=_runner(item.config).case_params(item),
            )
        if result is not None:
            outcome = final_outcome(report, result.outcome)
            if outcome != result.outcome:
                _runner(item.config).record_outcome(result, outcome)
        entry = {"result": result.to_dict() if result is not None else None}
        item.config.stash.setdefault(REPORTS_KEY, {})[report.nodeid, report.when] = entry
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(
        self, config: pytest.Config, report: pytest.CollectReport | pytest.TestReport
    ) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
        """On an xdist worker: the experiment's entry travels with its report."""
        data = yield
        entry = config.stash.get(REPORTS_KEY, {}).pop(
            (report.nodeid, getattr(report, "when", "")), None
        )
        if data is not None and entry is not None:
            data[REPORT_ENTRY] = entry
        return data


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["experiments_declared"] = session.config.stash.get(DECLARED_KEY, {})


# -- fixtures ---------------------------------------------------------------------


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """The case's seed, logged as a param: ``--exp-seed`` (default 42); with
    ``repeats=N`` each repeat receives its own seed derived from it."""
    request.node.stash[SEED_FIXTURE_KEY] = True
    return request.config.stash[SETTINGS_KEY].seed


@pytest.fixture
def experiment_run(request: pytest.FixtureRequest) -> ExperimentRun:
    """The case's tracked MLflow run (see :class:`pytest_experiments.ExperimentRun`)."""
    from .experiment_run import ExperimentRun

    node = request.node
    settings = request.config.stash[SETTINGS_KEY]
    if not is_experiment_item(node):
        return ExperimentRun(tracking=False)
    handle: ExperimentRun | None = node.stash.get(RUN_KEY, None)
    if handle is None:
        handle = node.stash[RUN_KEY] = ExperimentRun(tracking=settings.tracking)
    return handle
