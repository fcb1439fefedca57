"""The controller's side: collect results, end orphaned runs, write files.

Registered only in the process that controls the session (pytest itself, or
the xdist controller), so files and terminal output are written once.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .discovery import REPORT_ENTRY, in_experiment_file
from .keys import DECLARED_KEY, REPORTS_KEY
from .settings import Settings

if TYPE_CHECKING:
    from . import baselines as baseline_files
    from .merge import Merged
    from .provenance import Provenance
    from .results import CaseResult, SessionInfo
    from .stats import Summary
    from .tracking import MlflowBackend
    from .warmup import Warmup


class ExperimentSession:
    """Results of one pytest session, as they arrive on reports."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.results: dict[str, CaseResult] = {}
        #: Collection order of node ids (reports arrive in any order under xdist).
        self.order: dict[str, int] = {}
        #: Node ids whose reports the runner flagged as an experiment's.
        self.experiments: set[str] = set()
        #: Every test (experiment or not) that ran to its teardown.
        self.finished: set[str] = set()
        self.declared: dict[str, list[str]] | None = None
        self.start = time.perf_counter()
        self.started_at = datetime.datetime.now().astimezone()
        self.updates: list[baseline_files.BaselineUpdate] = []
        self.stale: dict[str, list[str]] = {}
        self.written: list[str] = []
        self.runs_killed = 0
        self.problems: list[str] = []
        self.partial = False
        #: Cases found regressed by the session-wide Holm correction.
        self.holm_regressed: list[str] = []
        #: With ``--exp-merge``: the group's runs and results (no case ran here).
        self.merge: Merged | None = None
        #: The report's PNG plots per (file, experiment), once written.
        self.plots: dict[tuple[str, str], list[Path]] = {}
        #: Under xdist: MLflow imported here while the workers run cases.
        self.warmup: Warmup | None = None
        #: Collectors that failed to collect: node id -> pytest's message.
        self.collection_errors: dict[str, str] = {}
        #: The controller's tracking backend (see :meth:`tracking_backend`).
        self._backend: MlflowBackend | None = None

    # -- incoming ---------------------------------------------------------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A file that failed to collect (under xdist, each failure once: the
        controller hears of it from the first worker that reports it)."""
        if report.failed:
            nodeid = report.nodeid or "."
            self.collection_errors.setdefault(nodeid, str(report.longrepr).strip())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.finished.add(report.nodeid)
        entry = self.config.stash.get(REPORTS_KEY, {}).pop((report.nodeid, report.when), None)
        if entry is None:
            return  # not an experiment's report (its runner flags every one)
        self.experiments.add(report.nodeid)
        data = entry.get("result")
        if isinstance(data, dict):
            from .results import CaseResult

            self.results[report.nodeid] = CaseResult.from_dict(data)
            if self.warmup is None and data.get("run_id") and self.settings.tracking_uri:
                from .warmup import Warmup

                self.warmup = Warmup()
                self.warmup.start(self.settings.tracking_uri)

    def crashed(self, nodeid: str, message: str) -> None:
        """An experiment's worker died while running it (xdist's crash hook)."""
        if nodeid not in self.experiments or (
            nodeid in self.results and self.results[nodeid].outcome != "error"
        ):
            return
        from .results import CaseResult

        self.results[nodeid] = CaseResult.for_item(
            nodeid, nodeid.split("::", 1)[0], outcome="crashed", message=message
        )

    # -- end of session ---------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.USAGE_ERROR:
            return  # a bad option or -k: nothing ran, so nothing is written
        stopped = bool(session.shouldstop or session.shouldfail)  # -x, --maxfail, Ctrl-C
        unfinished = len(self.finished) < len(self.order or session.items)
        self.partial = exitstatus == pytest.ExitCode.INTERRUPTED or (stopped and unfinished)
        if self.declared is None:
            self.declared = session.config.stash.get(DECLARED_KEY, None)
        if (
            not self.results
            and not self.experiments
            and not self.collection_errors
            and not self.wants_output()
        ):
            return
        if self.merge is not None:
            self.merge_exit_status(session)
        elif not self.settings.update_baseline:
            self.apply_holm(session)
        lost = self.tracking_lost()
        if lost is not None:
            self.problems.append(lost)
        elif self.settings.tracking and self.merge is None:
            self.end_orphaned_runs()
        if self.settings.update_baseline:
            self.update_baselines()
        else:
            self.find_stale()
        self.write_outputs()
        if self.settings.tracking and self.merge is None and lost is None:
            self.finish_parents()

    def finish_parents(self) -> None:
        """End this session's parent runs with their tables, plots and best cases."""
        results = [r for r in self.ordered_results() if r.run_id]
        if not results:
            return
        from .parents import finish_parents

        try:
            backend = self.tracking_backend()
        except Exception as exc:
            from .redaction import scrub_credentials

            self.problems.append(
                scrub_credentials(f"could not find this session's parent runs: {exc}")
            )
            return
        self.problems.extend(finish_parents(backend, self.session_info(), results, self.plots))

    def merged(self, merge: Merged) -> None:
        """``--exp-merge``: the group's results stand for the collected cases."""
        self.merge = merge
        self.results = {result.nodeid: result for result in merge.results}
        self.set_order(result.nodeid for result in merge.results)

    def merge_exit_status(self, session: pytest.Session) -> None:
        """A merge runs no test (pytest would exit 5): it exits as the group's
        session would have, 1 when any case is bad (missing included), else 0."""
        if session.exitstatus not in (
            pytest.ExitCode.OK,
            pytest.ExitCode.TESTS_FAILED,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            return  # collection errors, Ctrl-C: pytest's status stands
        from .results import BAD_OUTCOMES
        from .verdict import rejudge

        # Holm over every shard's p-values: the group fails exactly when one
        # session of the whole study would.
        rejudge(self.ordered_results(), self.settings.alpha)
        bad = any(r.outcome in BAD_OUTCOMES for r in self.results.values())
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if bad else pytest.ExitCode.OK

    def tracking_lost(self) -> str | None:
        """Why tracking stopped mid-session (a server that died), as a case
        reported it; then nothing more is sent to the store from here."""
        return next((r.untracked for r in self.results.values() if r.untracked), None)

    def apply_holm(self, session: pytest.Session) -> None:
        """The session-wide half of the gate: Holm's correction over every
        tested comparison. A case decided alone only what no other p-value
        could change; metrics it left "within noise" that Holm rejects are
        regressions, which fail the session (and are marked so in MLflow)."""
        from .verdict import holm_upgrades

        upgraded = holm_upgrades(self.ordered_results(), self.settings.alpha)
        if not upgraded:
            return
        self.holm_regressed = [r.nodeid for r in upgraded]
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        lost = self.tracking_lost() is not None
        if self.settings.tracking and not lost and any(r.run_id for r in upgraded):
            try:
                from .codec import outcome_tags

                backend = self.tracking_backend()
                for result in upgraded:
                    if result.run_id:
                        for key, value in outcome_tags(result).items():  # read by --exp-merge
                            backend.set_tag(result.run_id, key, value)
            except Exception as exc:
                from .redaction import scrub_credentials

                self.problems.append(
                    scrub_credentials(f"could not mark regressed runs in MLflow: {exc}")
                )

    def wants_output(self) -> bool:
        return bool(self.settings.report_path or self.settings.json_path)

    def session_provenance(self) -> Provenance:
        from .provenance import session_provenance

        return session_provenance(self.config, self.settings)

    def tracking_backend(self) -> MlflowBackend:
        """The controller's one tracking backend, built when first needed and
        reused for Holm's upgrades, orphaned runs and parent runs."""
        if self._backend is None:
            from .tracking import MlflowBackend

            self._backend = MlflowBackend(self.settings, self.session_provenance())
        return self._backend

    def end_orphaned_runs(self) -> None:
        """Runs of crashed workers or an interrupted session end KILLED."""
        unfinished = [n for n in self.experiments if n not in self.results]
        crashed = [r for r in self.results.values() if r.outcome == "crashed"]
        if not unfinished and not crashed and not self.partial:
            return
        if not self.experiments and not self.results:
            return
        files = {n.split("::", 1)[0] for n in (*self.experiments, *self.results)}
        try:
            self.runs_killed = self.tracking_backend().kill_session_runs(files)
        except Exception as exc:
            from .redaction import scrub_credentials

            self.problems.append(
                scrub_credentials(f"could not end this session's orphaned runs: {exc}")
            )

    def experiment_files(self) -> dict[str, list[CaseResult]]:
        files: dict[str, list[CaseResult]] = {}
        for result in self.results.values():
            files.setdefault(result.file, []).append(result)
        return files

    def update_baselines(self) -> None:
        from . import baselines as baseline_files

        rootdir = Path(self.settings.rootdir)
        for file, results in self.experiment_files().items():
            current = {
                r.case_id: summaries(r) for r in results if r.outcome not in ("error", "crashed")
            }
            current = {case_id: entry for case_id, entry in current.items() if entry}
            if not current:
                continue
            declared = (self.declared or {}).get(file)
            path = baseline_files.baseline_path(rootdir / file)
            self.updates.append(baseline_files.update(path, current, declared))
            self.update_predictions(path, results, current, declared)

    def update_predictions(
        self,
        path: Path,
        results: list[CaseResult],
        written: Mapping[str, object],
        declared: list[str] | None,
    ) -> None:
        """The predictions sidecar beside a baseline file: each written case's
        predictions (or none), stale cases dropped."""
        from .predictions import Predictions, PredictionsError, sidecar_path, update_sidecar

        current: dict[str, Predictions | None] = {}
        for result in results:
            if result.case_id in written:
                text = result.predictions
                current[result.case_id] = None if text is None else Predictions.from_text(text)
        sidecar = sidecar_path(path)
        try:
            if update_sidecar(sidecar, current, declared):
                self.updates[-1].predictions = sidecar
        except (OSError, PredictionsError) as exc:
            self.problems.append(f"could not write baseline predictions {sidecar}: {exc}")

    def find_stale(self) -> None:
        from . import baselines as baseline_files

        rootdir = Path(self.settings.rootdir)
        for file in self.experiment_files():
            declared = (self.declared or {}).get(file)
            if declared is None:
                continue
            path = baseline_files.baseline_path(rootdir / file)
            stale = baseline_files.stale_entries(path, declared)
            if stale:
                self.stale[file] = stale

    def session_info(self) -> SessionInfo:
        from .redaction import redact_uri
        from .results import SessionInfo

        p = self.session_provenance()
        info = SessionInfo(
            started=self.started_at.isoformat(timespec="seconds"),
            wall_time=time.perf_counter() - self.start,
            commit=p.commit,
            branch=p.branch,
            dirty=p.dirty,
            data_fingerprint=p.data_fingerprint,
            tracking_uri=redact_uri(self.settings.tracking_uri),
            partial=self.partial,
            primary_metric=self.settings.primary_metric,
            leaderboard=self.settings.leaderboard,
            session_group=self.settings.session_group if self.settings.tracking else None,
            collection_errors=[
                {"nodeid": nodeid, "message": message}
                for nodeid, message in self.collection_errors.items()
            ],
        )
        return info if self.merge is None else self.merge.session_info(info)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.set_order(item.nodeid for item in session.items)

    def set_order(self, nodeids: Any) -> None:
        if not self.order:
            self.order = {nodeid: i for i, nodeid in enumerate(nodeids)}

    def ordered_results(self) -> list[CaseResult]:
        """Results in the order the cases are declared (files as collected, cases
        as defined), whatever order they ran in (see schedule.py)."""
        declared: dict[tuple[str, str], int] = {}
        for file, names in (self.declared or {}).items():
            for name in names:
                declared.setdefault((file, name), len(declared))
        last = len(self.order)
        return sorted(
            self.results.values(),
            key=lambda r: (
                declared.get((r.file, r.case_id), len(declared)),
                self.order.get(r.nodeid, last),
                r.nodeid,
            ),
        )

    def write_outputs(self) -> None:
        from . import reporting
        from .cost import cost_cell, cost_section

        results = self.ordered_results()
        info = self.session_info()
        hook = self.config.hook
        if self.settings.report_path or self._github_summary_path():
            extra_columns: dict[str, dict[str, str]] = {}
            for result in results:
                columns: dict[str, str] = {}
                for part in hook.pytest_experiments_report_columns(result=result):
                    columns.update({str(k): str(v) for k, v in (part or {}).items()})
                if self.settings.report_cost and result.cost:
                    columns["cost"] = cost_cell(result.cost)
                if columns:
                    extra_columns[result.nodeid] = columns
            sections = [
                s
                for part in hook.pytest_experiments_report_sections(
                    results=results, session_info=info
                )
                for s in (part or [])
            ]
            if self.settings.report_cost:
                sections.append(cost_section(results))
            links = self._write_plots(results) if self.settings.report_path else {}
            markdown = reporting.render_markdown(
                info, results, extra_columns=extra_columns, extra_sections=sections, plots=links
            )
            if self.settings.report_path:
                self._write(self.settings.report_path, markdown)
            summary = self._github_summary_path()
            if summary and results:
                if links:  # relative images cannot render in a job summary
                    markdown = reporting.render_markdown(
                        info, results, extra_columns=extra_columns, extra_sections=sections
                    )
                try:
                    with open(summary, "a", encoding="utf-8") as fh:
                        fh.write(markdown + "\n")
                except OSError as exc:
                    self.problems.append(
                        f"could not append the report to GITHUB_STEP_SUMMARY ({summary}): "
                        f"{exc.strerror or exc}"
                    )
        if self.settings.json_path:
            self._write(self.settings.json_path, reporting.render_json(info, results))

    def _write_plots(
        self, results: list[CaseResult]
    ) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """Write the report's plots into ``<report stem>_files/`` beside it
        (kept in :attr:`plots` for other outputs) and return, per experiment,
        each plot's (title, path relative to the report). A plot that fails
        is a problem line; the report is written regardless."""
        from . import plots

        report = Path(self.settings.report_path or "")
        if not report.is_absolute():
            report = Path(self.config.invocation_params.dir) / report
        folder = report.parent / f"{report.stem}_files"
        try:
            written = plots.write_all(results, folder)
        except Exception as exc:  # write_all reports its own failures; this is a bug
            self.problems.append(f"could not write the report's plots: {exc}")
            return {}
        self.problems.extend(written.problems)
        self.plots = written.paths()
        return {
            key: [(p.spec.title, f"{folder.name}/{p.path.name}") for p in files]
            for key, files in written.by_experiment.items()
        }

    def _github_summary_path(self) -> str | None:
        path = os.environ.get("GITHUB_STEP_SUMMARY")
        return path if path and self.settings.github_summary else None

    def _write(self, target: str, text: str) -> None:
        path = Path(target)
        if not path.is_absolute():
            path = Path(self.config.invocation_params.dir) / path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            self.written.append(str(path))
        except OSError as exc:  # changed since start-up: say what stands in the way
            from .settings import unwritable

            self.problems.append(f"could not write {path}: {unwritable(path) or exc.strerror}")

    # -- terminal -----------------------------------------------------------------
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        if not self.results and not self.problems and not self.written:
            return
        from . import terminal

        tr.section("experiments")
        if self.results:
            width = self.config.get_terminal_writer().fullwidth
            lines = terminal.render_terminal(
                self.ordered_results(), width=width, collection_errors=len(self.collection_errors)
            )
            for line in lines:
                tr.write_line(line)
        for text, bad in self.merge.summary_lines() if self.merge is not None else ():
            tr.write_line(text, red=bad)
        for update in self.updates:
            rel = _relative(update.path, self.settings.rootdir)
            if update.written:
                parts = [
                    f"{len(update.added)} added",
                    f"{len(update.changed)} changed",
                    f"{len(update.removed)} removed",
                ]
                tr.write_line(f"baseline {rel}: " + ", ".join(parts), green=True)
                for label, names in (
                    ("+", update.added),
                    ("~", update.changed),
                    ("-", update.removed),
                ):
                    for name in names:
                        tr.write_line(f"  {label} {name}")
            else:
                tr.write_line(f"baseline {rel}: unchanged ({_count(update.unchanged, 'case')})")
            if update.predictions is not None:
                sidecar = _relative(update.predictions, self.settings.rootdir)
                tr.write_line(f"baseline predictions {sidecar}: written", green=True)
        for file, stale in self.stale.items():
            tr.write_line(
                f"{file}: baseline has {_count(len(stale), 'entry', 'entries')} for cases "
                "that no longer "
                f"exist ({', '.join(stale[:3])}{'...' if len(stale) > 3 else ''}); "
                "--exp-update-baseline drops them",
                yellow=True,
            )
        if self.holm_regressed:
            n = len(self.holm_regressed)
            tr.write_line(
                f"{_count(n, 'case')} regressed once the p-values of the whole session were "
                f"Holm-corrected ({'its test line reads' if n == 1 else 'their test lines read'} "
                "PASSED: no single case could tell alone): " + ", ".join(self.holm_regressed),
                red=True,
            )
        if self.runs_killed:
            tr.write_line(
                f"{self.runs_killed} unfinished MLflow runs of this session ended KILLED",
                yellow=True,
            )
        for path in self.written:
            tr.write_line(f"wrote {path}")
        for problem in self.problems:
            tr.write_line(f"pytest-experiments: {problem}", red=True)


def plugin_conflict(config: pytest.Config) -> str | None:
    """Another plugin's option that would corrupt experiment records, as the
    message to stop the session with; None when there is none."""
    count = config.getoption("count", None)  # pytest-repeat
    if isinstance(count, int) and count > 1:
        return (
            f"pytest-experiments: pytest-repeat's --count {count} runs each experiment case "
            "under a new id (exp[...-1-3]), so every case would be new and baselines keyed "
            f"by the wrong ids; use --exp-repeats {count} instead: it runs each case's body "
            f"{count} times with its own seeds and gates on their mean and spread"
        )
    return None


def summaries(result: CaseResult) -> dict[str, Summary]:
    """A result's metrics as summaries (with spread where it had samples)."""
    from .stats import Summary

    return {
        m: Summary.from_dict(result.spread[m]) if m in result.spread else Summary(mean=v)
        for m, v in result.metrics.items()
    }


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _relative(path: Path, rootdir: str) -> str:
    try:
        return path.relative_to(rootdir).as_posix()
    except ValueError:
        return str(path)


SESSION_PLUGIN = "experiments-session"


def experiment_session(config: pytest.Config, settings: Settings) -> ExperimentSession:
    """The controller's session object, registered on first use."""
    plugin = config.pluginmanager.get_plugin(SESSION_PLUGIN)
    if plugin is None:
        plugin = ExperimentSession(config, settings)
        config.pluginmanager.register(plugin, SESSION_PLUGIN)
    assert isinstance(plugin, ExperimentSession)
    return plugin


class XdistHooks:
    """xdist controller hooks: hand settings and provenance to workers,
    check the tracking store once, and gather what workers declared."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.checked = False

    def _session(self) -> ExperimentSession:
        return experiment_session(self.config, self.settings)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # Settings only: provenance (git, data hashing) is worked out by each
        # process when its first experiment runs, so a plain suite pays nothing.
        node.workerinput["experiments_settings"] = self.settings.to_dict()

    @pytest.hookimpl(wrapper=True)
    def pytest_report_from_serializable(
        self, config: pytest.Config, data: dict[str, Any]
    ) -> Generator[None, Any, Any]:
        """The experiment entry that travelled with a worker's report."""
        report = yield
        entry = data.get(REPORT_ENTRY)
        if isinstance(entry, dict) and report is not None:
            config.stash.setdefault(REPORTS_KEY, {})[report.nodeid, report.when] = entry
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        try:
            return (yield)
        finally:
            # Before pytest_sessionfinish, where pytest records the warnings
            # of every thread: the warm-up's imports stay outside of that.
            plugin = self.config.pluginmanager.get_plugin(SESSION_PLUGIN)
            if isinstance(plugin, ExperimentSession) and plugin.warmup is not None:
                plugin.warmup.wait()

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        self._session().crashed(crashitem, str(report.longrepr))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        patterns = self.settings.experiment_files
        if not any(in_experiment_file(i, patterns) for i in ids):
            return
        session = self._session()
        session.set_order(ids)
        from .schedule import register

        register(self.config, patterns)  # records durations from workers' reports
        if self.checked:
            return
        self.checked = True
        from .stores import usage_problem

        problem = plugin_conflict(self.config)
        if problem is None and self.settings.tracking_uri is not None:
            problem = usage_problem(self.settings)
        if problem is not None:
            # A usage error, said as pytest says one ("ERROR: ...", exit 4);
            # pytest.exit printed "! _pytest.outcomes.Exit: ..." from here.
            raise pytest.UsageError(problem)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None)
        if output and output.get("experiments_declared"):
            session = self._session()
            if session.declared is None:
                session.declared = dict(output["experiments_declared"])
