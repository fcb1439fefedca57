"""End-to-end tests of the comparison report (DESIGN.md "## The report").

Real pytest runs through ``pytester``, without xdist and with ``-n 2``. The
Markdown they write is read back with a small GitHub-table parser written here
(cells split on unescaped ``|``, escapes undone), and compared with what the
experiments returned: metrics are computed from the params, so every expected
value is known exactly.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from pathlib import Path
from typing import Any

# numpy and importlib_metadata are imported here, at collection, so that they
# stay loaded: pytester's in-process runs restore sys.modules afterwards and drop
# what a test imported first. In-process experiment runs import numpy (the
# seed), and a later `import mlflow` (store_runs) then fails with numpy's
# "cannot load module more than once per process"; mlflow imports the
# importlib_metadata backport, whose sys.meta_path finder outlives its dropped
# module and hides every pytest11 entry point from later in-process runs
# ("unrecognized arguments: --exp-...").
import numpy  # noqa: F401
import pytest
from _forked import runpytest_forked
from _markdown import (
    BREAK,
    FENCE,
    Table,
    cell_value,
    outside_code,
    parse_tables,
    unescape,
)

from conftest import store_runs

try:
    import importlib_metadata  # noqa: F401
except ImportError:  # pragma: no cover - not installed: nothing to guard against
    pass

# ------------------------------------------------------------------ Markdown parser


def table(markdown: str, heading: str) -> Table:
    found = [t for t in parse_tables(markdown) if t.title.startswith(heading)]
    assert len(found) == 1, [t.title for t in parse_tables(markdown)]
    return found[0]


def header_fields(markdown: str) -> dict[str, str]:
    """The ``- Name: value`` lines before the first section."""
    head = markdown.split("\n## ", 1)[0]
    fields = dict(re.findall(r"^- ([^:\n]+): (.*)$", head, flags=re.M))
    assert fields, head
    return fields


def failures(markdown: str) -> dict[str, tuple[str, str]]:
    """Failures section: unescaped node id -> (outcome, message in its code block)."""
    assert markdown.count("\n## Failures\n") == 1, markdown
    section = markdown.split("\n## Failures\n", 1)[1]
    found: dict[str, tuple[str, str]] = {}
    for block in section.split("\n### ")[1:]:
        lines = block.split("\n")
        outcome = re.fullmatch(r"Outcome: (\w+(?: error)?)", lines[2])
        assert outcome is not None, block
        fence = FENCE.match(lines[4])
        assert fence is not None, block
        end = lines.index(fence.group(1), 5)
        found[unescape(lines[0])] = (outcome.group(1), "\n".join(lines[5:end]))
    return found


# ------------------------------------------------------------------ project files

GRID = '''
"""Module docstring: not the description, the function has its own."""
import os

from pytest_experiments import experiment

SHIFT = float(os.environ.get("EXP_SHIFT", "0"))


@experiment(
    params={"a": [1, 2, 4], "b": [0.5, 0.25]},
    expect={"score": ">= 0"},
    lower_is_better=("log_loss",),
)
def exp_grid(a, b):
    """Score grows with a; the loss shrinks with it.

    Details that stay out of the report.
    """
    shift = SHIFT if a >= 2 else 0.0
    return {"score": a * b + shift, "log_loss": b / a + shift}
'''

OTHER = '''
from pytest_experiments import experiment


@experiment(params={"k": [3]})
def exp_other(k):
    """Returns no score, so it has no place on a score leaderboard."""
    return {"accuracy": k / 4}
'''

BAD = """
from pytest_experiments import experiment


@experiment(params={"mode": ["low", "boom"]}, expect={"score": ">= 10"})
def exp_bad(mode):
    if mode == "boom":
        raise RuntimeError("model diverged at step 7")
    return {"score": 1.0}
"""

HOSTILE_VALUES = ["a|b", "<b>x</b>", "line1\nline2", "`tick`", "[x](javascript:alert(1))"]

HOSTILE = f'''
from pytest_experiments import experiment


@experiment(params=[{{"p": v}} for v in {HOSTILE_VALUES!r}], expect={{"size": ">= 4"}})
def exp_hostile(p):
    """Params with <i>markup</i> | pipes and `ticks`."""
    if p.startswith("<"):
        raise ValueError("bad <script>alert(1)</script> | `x`")
    return {{"size": len(p)}}
'''


def grid_cases(shift: float = 0.0) -> dict[str, dict[str, Any]]:
    """What exp_grid returns, by case label."""
    cases: dict[str, dict[str, Any]] = {}
    for a in (1, 2, 4):
        for b in (0.5, 0.25):
            s = shift if a >= 2 else 0.0
            cases[f"a={a}-b={b}"] = {
                "params": {"a": a, "b": b},
                "metrics": {"score": a * b + s, "log_loss": b / a + s},
            }
    return cases


def git(path: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=path, check=True, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def init_git(path: Path) -> str:
    """Commit everything in *path* on branch ``main``; the commit's sha."""
    git(path, "init", "-q")
    git(path, "checkout", "-q", "-b", "main")
    who = ("-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false")
    git(path, "add", "-A")
    git(path, *who, "commit", "-qm", "study")
    return git(path, "rev-parse", "HEAD")


@pytest.fixture
def study(project: pytest.Pytester) -> pytest.Pytester:
    project.makepyfile(exp_001_grid=GRID, exp_002_other=OTHER)
    project.mkdir("data").joinpath("points.csv").write_text("x,y\n1,2\n")
    return project


MODES = pytest.mark.parametrize("xdist", [False, True], ids=["no-xdist", "n2"])
#: Rendering checks that need no second run under xdist: results reach the
#: controller the same way for every report (test_report_tables... checks it).
IN_PROCESS = pytest.mark.parametrize("xdist", [False], ids=["no-xdist"])


def run(
    pytester: pytest.Pytester, xdist: bool, *args: str, tracking: bool = False
) -> pytest.RunResult:
    """One pytest run: in-process when possible, a subprocess for xdist or tracking."""
    if not tracking:
        args = (*args, "--exp-no-tracking")
    if xdist:
        return runpytest_forked(pytester, "-n", "2", *args)
    if tracking:
        return runpytest_forked(pytester, *args)
    return pytester.runpytest(*args)


def read(path: Path) -> str:
    assert path.is_file(), f"{path} was not written"
    return path.read_text(encoding="utf-8")


# ------------------------------------------------------------------ the tests


@MODES
def test_report_tables_header_terminal_and_json(study: pytest.Pytester, xdist: bool) -> None:
    sha = init_git(study.path)
    before = datetime.datetime.now().astimezone()
    result = run(study, xdist, "--exp-report", "out/sub/report.md", "--exp-json", "out/r.json")
    assert result.ret == 0, result.stdout.str()

    # The folder was created; the controller wrote the file once.
    markdown = read(study.path / "out" / "sub" / "report.md")
    assert markdown.split("\n").count("# Experiment report") == 1
    assert result.stdout.str().count("wrote ") == 2

    # Header.
    fields = header_fields(markdown)
    started = datetime.datetime.fromisoformat(fields["Date"])
    assert before - datetime.timedelta(seconds=5) <= started <= datetime.datetime.now().astimezone()
    assert fields["Commit"] == sha  # clean work tree: no "(dirty)"
    assert fields["Branch"] == "main"
    assert re.fullmatch(r"[0-9a-f]{12}", fields["Data fingerprint"])
    assert fields["Tracking"] == "off"
    assert fields["Cases"] == "7 new"
    # Seconds, or minutes and seconds on a very slow machine.
    assert re.fullmatch(r"\d+\.\d\d s|\d+ min \d\d s", fields["Wall time"])
    assert fields["Wall time"] != "0.00 s"

    # The experiment table: one column per param and metric, no deltas yet (no
    # baseline), no run column (tracking off).
    grid = table(markdown, "exp_grid (exp_001_grid.py)")
    assert grid.header == ["case", "a", "b", "score", "log_loss", "outcome", "duration"]
    assert grid.header.index("outcome") == len(grid.header) - 2
    expected = grid_cases()
    records = grid.records()
    assert list(records) == list(expected)  # collection order, also under xdist
    best_score = max(c["metrics"]["score"] for c in expected.values())
    best_loss = min(c["metrics"]["log_loss"] for c in expected.values())
    for label, case in expected.items():
        row = records[label]
        assert unescape(row["a"]) == str(case["params"]["a"])
        assert unescape(row["b"]) == str(case["params"]["b"])
        for metric, best in (("score", best_score), ("log_loss", best_loss)):
            bold, text = cell_value(row[metric])
            assert float(text) == case["metrics"][metric], (label, metric, text)
            # score: higher is better; log_loss: lower is better (by its name).
            assert bold == (case["metrics"][metric] == best), (label, metric)
        assert unescape(row["outcome"]) == "new"
        assert re.fullmatch(r"\d+\.\d\d s", unescape(row["duration"]))

    # The docstring's first paragraph is the description.
    section = markdown.split("## exp\\_grid (exp\\_001\\_grid.py)\n\n", 1)[1]
    assert section.startswith("Score grows with a; the loss shrinks with it.\n\n|")
    assert "Details that stay out" not in markdown and "Module docstring" not in markdown

    other = table(markdown, "exp_other (exp_002_other.py)")
    assert other.header == ["case", "k", "accuracy", "outcome", "duration"]
    assert [cell_value(c) for c in other.column("accuracy")] == [(True, "0.75")]

    # Leaderboard by the first metric in an expect (score); exp_other has one
    # case only, nothing to rank it against.
    board = table(markdown, "Leaderboard")
    assert board.header == ["rank", "experiment", "case", "score", "outcome"]
    assert "By score (higher is better)." in markdown
    ordered = sorted(expected, key=lambda label: -expected[label]["metrics"]["score"])
    assert [unescape(c) for c in board.column("case")] == ordered
    assert [float(unescape(c)) for c in board.column("score")] == [
        expected[label]["metrics"]["score"] for label in ordered
    ]
    assert set(board.column("experiment")) == {"exp\\_grid"}
    # Ties share a rank: 2.0, 1.0, 1.0, 0.5, 0.5, 0.25.
    assert [unescape(c) for c in board.column("rank")] == ["1", "2", "2", "4", "4", "6"]
    assert "## Failures" not in markdown

    # Terminal: a compact table per experiment, then the counts.
    lines = result.stdout.lines
    assert any(re.fullmatch(r"=+ experiments =+", line) for line in lines)
    title = lines.index("exp_grid (exp_001_grid.py)")
    assert lines[title + 1].split() == ["case", "score", "log_loss", "outcome", "time"]
    for offset, (label, case) in enumerate(expected.items(), start=3):
        cells = lines[title + offset].split()
        assert cells[0] == label
        assert [float(cells[1]), float(cells[2])] == list(case["metrics"].values())
        assert cells[3] == "new"
    assert "exp_other (exp_002_other.py)" in lines
    assert "experiments: 7 new" in lines

    # JSON: strict (no NaN), the same cases, outcomes, params and metrics.
    def reject(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(read(study.path / "out" / "r.json"), parse_constant=reject)
    assert data["counts"]["new"] == 7 and sum(data["counts"].values()) == 7
    assert data["session"]["commit"] == sha and data["session"]["branch"] == "main"
    assert data["session"]["data_fingerprint"][:12] == fields["Data fingerprint"]
    shown: dict[str, dict[str, str]] = {
        **{f"exp_grid[{k}]": v for k, v in records.items()},
        **{f"exp_other[{k}]": v for k, v in other.records().items()},
    }
    assert [r["case_id"] for r in data["results"]] == list(shown)
    for entry in data["results"]:
        row = shown[entry["case_id"]]
        assert entry["outcome"] == unescape(row["outcome"])
        for name, value in entry["params"].items():
            assert unescape(row[name]) == str(value)
        for name, value in entry["metrics"].items():
            assert float(cell_value(row[name])[1]) == value


def test_ini_report_path_and_primary_metric(study: pytest.Pytester) -> None:
    # Settings are read on the controller alike with or without xdist (the
    # other tests cover -n 2), so one in-process run is enough here.
    study.makeini(
        "[pytest]\nexperiments_report = reports/nested/study.md\n"
        "experiments_primary_metric = log_loss\n"
    )
    result = run(study, False)
    assert result.ret == 0, result.stdout.str()
    markdown = read(study.path / "reports" / "nested" / "study.md")
    assert markdown.split("\n").count("# Experiment report") == 1
    assert "By log\\_loss (lower is better)." in markdown
    board = table(markdown, "Leaderboard")
    assert board.header == ["rank", "experiment", "case", "log_loss", "outcome"]
    expected = grid_cases()
    # Lowest loss first; exp_other (no log_loss) is left out.
    ordered = sorted(expected, key=lambda label: expected[label]["metrics"]["log_loss"])
    assert [unescape(c) for c in board.column("case")] == ordered
    assert [float(unescape(c)) for c in board.column("log_loss")] == [
        expected[label]["metrics"]["log_loss"] for label in ordered
    ]
    # Not a git repository here.
    fields = header_fields(markdown)
    assert fields["Commit"] == "unknown" and fields["Branch"] == "unknown"


@IN_PROCESS
def test_deltas_by_direction_and_failures(
    study: pytest.Pytester, xdist: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = study.runpytest("--exp-no-tracking", "--exp-update-baseline")
    assert accepted.ret == 0, accepted.stdout.str()
    assert (study.path / "baselines" / "exp_001_grid.json").is_file()

    # Both metrics rise by 0.125 for a >= 2: better for score, worse for log_loss.
    monkeypatch.setenv("EXP_SHIFT", "0.125")
    study.makepyfile(exp_003_bad=BAD)
    result = run(study, xdist, "--exp-report", "report.md")
    assert result.ret == 1, result.stdout.str()
    markdown = read(study.path / "report.md")
    assert markdown.split("\n").count("# Experiment report") == 1
    assert header_fields(markdown)["Cases"] == "3 passed, 1 failed, 4 regressed, 1 error"

    grid = table(markdown, "exp_grid")
    # Each metric is followed by its delta vs the baseline.
    assert grid.header == [
        "case",
        "a",
        "b",
        "score",
        "Δ score",
        "log_loss",
        "Δ log_loss",
        "outcome",
        "duration",
    ]
    expected = grid_cases(shift=0.125)
    records = grid.records()
    for label, case in expected.items():
        row = records[label]
        for metric in ("score", "log_loss"):
            assert float(cell_value(row[metric])[1]) == case["metrics"][metric]
        score_delta, loss_delta = unescape(row["Δ score"]), unescape(row["Δ log_loss"])
        if case["params"]["a"] == 1:
            assert (score_delta, loss_delta) == ("= same", "= same")
            assert unescape(row["outcome"]) == "passed"
            continue
        # The same sign, opposite verdicts: marked by direction, not by sign.
        assert score_delta.startswith("+0.125 ") and loss_delta.startswith("+0.125 ")
        assert "▲" in score_delta and "better" in score_delta and "worse" not in score_delta
        assert "▼" in loss_delta and "worse" in loss_delta and "regressed" in loss_delta
        assert unescape(row["outcome"]) == "regressed"

    # exp_other did not move: its unchanged delta is a sentence, not a column.
    other = table(markdown, "exp_other")
    assert other.header == ["case", "k", "accuracy", "outcome", "duration"]
    assert [unescape(c) for c in other.column("outcome")] == ["passed"]
    assert "\n\nThe case matches the baseline on accuracy.\n\n| case | k |" in markdown
    bad = table(markdown, "exp_bad")
    assert bad.header == ["case", "mode", "score", "outcome", "duration"]
    assert [unescape(c) for c in bad.column("outcome")] == ["failed", "error"]

    # Every failed, regressed or errored case, with its message.
    listed = failures(markdown)
    regressed = [f"exp_001_grid.py::exp_grid[{k}]" for k in expected if not k.startswith("a=1")]
    assert set(listed) == {
        *regressed,
        "exp_003_bad.py::exp_bad[mode=low]",
        "exp_003_bad.py::exp_bad[mode=boom]",
    }
    for nodeid in regressed:
        outcome, message = listed[nodeid]
        assert outcome == "regressed"
        assert "log_loss regressed" in message and "baseline" in message
        assert "score" not in message  # score got better: not a failure
    outcome, message = listed["exp_003_bad.py::exp_bad[mode=low]"]
    assert outcome == "failed" and "score" in message and ">= 10" in message
    outcome, message = listed["exp_003_bad.py::exp_bad[mode=boom]"]
    assert outcome == "error" and "RuntimeError: model diverged at step 7" in message


@MODES  # hostile text must also survive the trip from a worker
def test_hostile_params_keep_tables_well_formed(project: pytest.Pytester, xdist: bool) -> None:
    project.makepyfile(exp_001_hostile=HOSTILE)
    result = run(project, xdist, "--exp-report", "report.md")
    assert result.ret == 1, result.stdout.str()  # the "<b>" case raises
    markdown = read(project.path / "report.md")

    hostile = table(markdown, "exp_hostile")  # parse_tables checks every table
    assert hostile.header == ["case", "p", "size", "outcome", "duration"]
    shown = [unescape(c) for c in hostile.column("p")]
    assert shown == [v.replace("\n", BREAK) for v in HOSTILE_VALUES]
    sizes = [cell_value(c)[1] for c in hostile.column("size")]
    assert sizes == [str(len(v)) if not v.startswith("<") else "" for v in HOSTILE_VALUES]
    assert [unescape(c) for c in hostile.column("outcome")] == [
        "failed",
        "error",
        "new",
        "new",
        "new",
    ]

    text = outside_code(markdown)
    # No raw HTML at all, and no link (the escaped "\](" is plain text) but
    # the plugin's own plot image (size vs p), which is checked and removed.
    plot = "![size vs p](report_files/exp_001_hostile-exp_hostile-size.png)"
    assert text.count(plot) == 1
    text = text.replace(plot, "")
    assert "<" not in text and ">" not in text
    assert re.search(r"(?<!\\)\]\(", text) is None
    assert "Params with &lt;i&gt;markup&lt;/i&gt; \\| pipes and \\`ticks\\`." in text

    # Messages are kept intact inside code blocks.
    listed = failures(markdown)
    assert listed["exp_001_hostile.py::exp_hostile[p=<b>x</b>]"] == (
        "error",
        "ValueError: bad <script>alert(1)</script> | `x`",
    )
    assert listed["exp_001_hostile.py::exp_hostile[p=a|b]"][0] == "failed"


@IN_PROCESS
def test_appended_to_github_step_summary(
    study: pytest.Pytester, xdist: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = study.path / "step_summary.md"
    earlier = "## Lint\n\nall good\n"
    summary.write_text(earlier, encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run(study, xdist, "--exp-report", "report.md")
    assert result.ret == 0, result.stdout.str()
    report = read(study.path / "report.md")
    text = read(summary)
    assert text.startswith(earlier)
    appended = text[len(earlier) :]
    assert appended.split("\n").count("# Experiment report") == 1
    # The report without its plots: relative images cannot render in a job summary.
    images = re.compile(r"\n\n!\[[^\n]*\]\(report_files/[^)\n]*\.png\)(?=\n)")
    assert images.search(report) is not None
    assert appended.rstrip("\n") == images.sub("", report).rstrip("\n")
    assert [t.title for t in parse_tables(appended)] == [
        "exp_grid (exp_001_grid.py)",
        "exp_other (exp_002_other.py)",
        "Leaderboard",
    ]


def test_github_summary_without_report_option_and_opt_out(
    study: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = study.path / "step_summary.md"
    summary.write_text("earlier\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    # No --exp-report: the summary still gets the report.
    assert study.runpytest("--exp-no-tracking").ret == 0
    text = read(summary)
    assert text.startswith("earlier\n") and text.count("\n# Experiment report\n") == 1
    assert len(parse_tables(text)) == 3

    study.makeini("[pytest]\nexperiments_github_summary = false\n")
    result = study.runpytest("--exp-no-tracking", "--exp-report", "report.md")
    assert result.ret == 0
    assert read(summary) == text  # untouched
    assert "# Experiment report" in read(study.path / "report.md")


def check_run_column(markdown: str, document: dict[str, Any], new_runs: dict[str, Any]) -> None:
    """Each case's run cell is the short id of its MLflow run (sqlite: no web
    page, no link); the JSON keeps the whole id."""
    ids = {r["case_id"]: r["run_id"] for r in document["results"]}
    for experiment in ("exp_grid", "exp_other"):
        found = table(markdown, experiment)
        assert found.header[-3:] == ["outcome", "duration", "run"]
        for label, row in found.records().items():
            run_id = new_runs[f"{experiment}[{label}]"].info.run_id
            assert len(run_id) == 32 and ids[f"{experiment}[{label}]"] == run_id
            assert unescape(row["run"]) == run_id[:8]
            assert "](" not in row["run"]


@pytest.mark.slow
def test_run_column_with_tracking(study: pytest.Pytester) -> None:
    # One project for both modes: the second run reuses the store the first
    # one created (creating an MLflow store is the slow part).
    sha = init_git(study.path)
    db = study.path / "mlflow.db"
    seen: set[str] = set()
    for xdist in (False, True):
        result = run(
            study, xdist, "--exp-report", "report.md", "--exp-json", "r.json", tracking=True
        )
        assert result.ret == 0, result.stdout.str()
        markdown = read(study.path / "report.md")
        runs = [r for r in store_runs(db) if r.info.run_id not in seen]
        new_runs = {r.info.run_name: r for r in runs}
        assert len(runs) == len(new_runs) == 7, xdist
        seen.update(r.info.run_id for r in runs)

        fields = header_fields(markdown)
        assert unescape(fields["Tracking"]) == f"sqlite:///{db.as_posix()}"
        tags = new_runs["exp_grid[a=1-b=0.5]"].data.tags
        assert fields["Commit"] == sha == tags["git.commit"]
        assert fields["Data fingerprint"] == tags["data.fingerprint"][:12]
        check_run_column(markdown, json.loads(read(study.path / "r.json")), new_runs)


@MODES
def test_user_hooks_add_a_column_and_a_section(study: pytest.Pytester, xdist: bool) -> None:
    study.makeconftest(
        """
        def pytest_experiments_report_columns(result):
            if "a" in result.params:
                return {"note | <i>": f"<b>{result.params['a']}</b> | *ok*"}
            return None

        def pytest_experiments_report_sections(results, session_info):
            new = sum(r.outcome == "new" for r in results)
            return [f"## Sign-off\\n\\n{new} new cases, tracking {session_info.tracking_uri}."]
        """
    )
    result = run(study, xdist, "--exp-report", "report.md")
    assert result.ret == 0, result.stdout.str()
    markdown = read(study.path / "report.md")
    grid = table(markdown, "exp_grid")
    assert grid.header[-3:] == ["note | <i>", "outcome", "duration"]
    expected = [f"<b>{case['params']['a']}</b> | *ok*" for case in grid_cases().values()]
    assert [unescape(c) for c in grid.column("note | <i>")] == expected
    # exp_other's hook returned nothing: no column there.
    assert "note | <i>" not in table(markdown, "exp_other").header
    assert "<" not in outside_code(markdown.split("## Sign-off")[0])
    assert markdown.endswith("\n\n## Sign-off\n\n7 new cases, tracking None.\n")
    assert markdown.count("## Sign-off") == 1


EMPTY_GRID = """
from pytest_experiments import experiment


@experiment(params={"a": []})
def exp_empty(a):
    return {"score": a}
"""


@MODES
def test_collection_error_is_counted_and_explained(study: pytest.Pytester, xdist: bool) -> None:
    # A red run says why in its report: the file that failed to collect is
    # counted in the header and listed under Failures with pytest's message.
    study.makepyfile(exp_000_empty=EMPTY_GRID)
    result = run(study, xdist, "--exp-report", "report.md", "--exp-json", "r.json")
    assert result.ret != 0, result.stdout.str()
    markdown = read(study.path / "report.md")
    listed = failures(markdown)
    outcome, message = listed["exp_000_empty.py"]
    assert outcome == "collection error"
    assert "exp_empty: params['a'] is empty" in message
    cases = header_fields(markdown)["Cases"]
    if xdist:  # xdist runs the other files' cases; pytest alone stops at the error
        assert cases == "7 new; 1 collection error"
        assert "PARTIAL" not in markdown
        assert "experiments: 7 new; 1 collection error" in result.stdout.lines
    else:
        assert cases == "no cases; 1 collection error"
        assert "> **PARTIAL REPORT**: 1 collection error (exp\\_000\\_empty.py) stopped" in (
            markdown
        )
    data = json.loads(read(study.path / "r.json"))
    assert [e["nodeid"] for e in data["session"]["collection_errors"]] == ["exp_000_empty.py"]


@pytest.mark.parametrize("option", ["--exp-report", "--exp-json"])
def test_unwritable_output_path_is_a_usage_error_at_start_up(
    study: pytest.Pytester, option: str
) -> None:
    study.makeconftest("")
    study.mkdir("reports")
    marker = study.path / "ran"
    body = f"def exp_mark():\n    open({str(marker)!r}, 'w').close()\n    return {{'x': 1}}\n"
    study.makepyfile(exp_003_mark=body)
    for target, reason in (
        ("conftest.py/report.md", "conftest.py is not a directory"),
        ("conftest.py/sub/report.md", "conftest.py is not a directory"),
        ("reports", "reports is a directory"),
    ):
        result = run(study, False, option, target)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
        err = result.stderr.str()
        assert f"{option} {target}: cannot write the file there:" in err, err
        assert reason in err, err
        assert not marker.exists()  # no case ran
    # Under xdist too, before any worker runs a case.
    result = run(study, True, option, "conftest.py/report.md")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "conftest.py is not a directory" in result.stderr.str()
    assert not marker.exists()


DIGITS = """
from pytest_experiments import experiment


@experiment(params={"C": [0.1, 1.0]}, expect={"accuracy": ">= 0.5"})
def exp_digits(C):
    return {"accuracy": 0.8 + C / 10}
"""

DIABETES = """
from pytest_experiments import experiment


@experiment(params={{"alpha": [0.1, 1.0, 10.0]}}, expect={{"mse": "<= 100"}}{primary})
def exp_diabetes(alpha):
    return {{"mse": 50 + alpha, "r2": 0.5 - alpha / 100}}
"""


@MODES
def test_a_file_without_the_ini_primary_metric_is_ranked_by_its_own(
    project: pytest.Pytester, xdist: bool
) -> None:
    project.makeini("[pytest]\nexperiments_primary_metric = accuracy\n")
    project.makepyfile(exp_001_digits=DIGITS, exp_002_diabetes=DIABETES.format(primary=""))
    result = run(project, xdist, "--exp-report", "report.md")
    assert result.ret == 0, result.stdout.str()
    markdown = read(project.path / "report.md")
    board = markdown.split("\n## Leaderboard\n", 1)[1]
    digits, diabetes = board.split("\n### exp\\_002\\_diabetes.py\n", 1)
    assert "By accuracy (higher is better)." in digits
    # No accuracy in the diabetes file: ranked by its own first metric, and said so.
    assert "No case returned accuracy (ini experiments\\_primary\\_metric)" in diabetes
    assert "By mse (lower is better)." in diabetes
    ranked = [t for t in parse_tables(markdown) if "mse" in t.header and "rank" in t.header]
    assert [unescape(c) for c in ranked[0].column("case")] == [
        "alpha=0.1",
        "alpha=1.0",
        "alpha=10.0",
    ]

    # The experiment names its own: ranked by r2, nothing to explain.
    project.makepyfile(exp_002_diabetes=DIABETES.format(primary=', primary_metric="r2"'))
    result = run(project, xdist, "--exp-report", "report.md", "--exp-json", "r.json")
    assert result.ret == 0, result.stdout.str()
    markdown = read(project.path / "report.md")
    diabetes = markdown.split("\n### exp\\_002\\_diabetes.py\n", 1)[1]
    assert "By r2 (higher is better)." in diabetes and "No case returned" not in diabetes
    data = json.loads(read(project.path / "r.json"))
    assert data["session"]["primary_metrics"] == {
        "exp_001_digits.py": "accuracy",
        "exp_002_diabetes.py": "r2",
    }


def test_a_primary_metric_that_is_not_a_name_is_a_collection_error(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(exp_002_diabetes=DIABETES.format(primary=", primary_metric=''"))
    result = project.runpytest("--exp-no-tracking")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*exp_002_diabetes.py::exp_diabetes: primary_metric='' must be a metric name*"]
    )
