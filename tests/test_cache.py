"""The run cache (``--exp-cache``): the key and its dependencies (pure parts,
hypothesis), then real sessions that change one input at a time and check
that exactly the cases depending on it run again, on the sqlite default and
on a real ``mlflow server``, without xdist and with ``-n 2``.

Which cases ran is read twice: from a file every experiment body appends its
case id to (the body really ran), and from the ``--exp-json`` results and the
store (a cached case names the run that computed its metrics).
"""

from __future__ import annotations

import json
import math
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _forked import runpytest_forked
from _runs import all_runs, own_metrics, sqlite_uri
from _server import copy_store, results_by_case, running_server, write
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_experiments import cache
from pytest_experiments.cache import (
    CacheCandidate,
    Deps,
    KeyParts,
    canonical_json,
    case_key,
    conftest_chain,
    find_hit,
    hit_index,
    project_relpath,
    samples_from_history,
)
from pytest_experiments.distributions import DistIndex
from pytest_experiments.filekey import file_digest
from pytest_experiments.tags import (
    TAG_CACHE_DEPS,
    TAG_CACHE_KEY,
    TAG_CACHED_FROM,
    TAG_METRICS,
    TAG_OUTCOME,
    TAG_SESSION,
    TAG_STATS,
)

# -- the key: pure parts -----------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
digests = st.text("0123456789abcdef", min_size=4, max_size=8)


@given(st.dictionaries(names, scalars, max_size=6), st.randoms(use_true_random=False))
def test_canonical_json_ignores_key_order(params: dict[str, Any], rnd: Any) -> None:
    items = list(params.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(params)


def test_canonical_json_keeps_types_apart() -> None:
    texts = {canonical_json({"a": v}) for v in (1, 1.0, True, "1", None, "None")}
    assert len(texts) == 6


key_parts = st.builds(
    KeyParts,
    nodeid=names,
    experiment=st.one_of(st.none(), digests),
    conftests=st.dictionaries(names, st.one_of(st.none(), digests), max_size=3),
    params=st.dictionaries(names, scalars, max_size=4),
    seeds=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=3),
    repeats=st.integers(1, 5),
    data=st.one_of(st.none(), digests),
    python=names,
    plugin=st.one_of(st.none(), names),
)


def _changed(value: Any) -> Any:
    """A value of the same kind that differs from ``value``."""
    if value is None:
        return "x"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, 7]
    assert isinstance(value, dict)
    return {**value, "a key longer than any name drawn": "x"}


@given(key_parts, st.sampled_from(list(KeyParts.__dataclass_fields__)))
def test_case_key_changes_with_each_part_and_nothing_else(parts: KeyParts, name: str) -> None:
    key = case_key(parts)
    assert len(key) == 64 and key == case_key(KeyParts(**vars(parts)))
    changed = KeyParts(**{**vars(parts), name: _changed(getattr(parts, name))})
    assert case_key(changed) != key


@given(st.lists(st.sampled_from(["a", "b", "sub", "x y"]), max_size=4))
def test_conftest_chain_walks_from_rootdir_down_to_the_folder(parts: list[str]) -> None:
    root = Path("/proj/root")
    folder = root.joinpath(*parts)
    chain = conftest_chain(root, folder)
    assert chain[0] == root / "conftest.py"
    assert chain[-1] == folder / "conftest.py"
    assert len(chain) == len(parts) + 1
    assert [c.parent for c in chain[1:]] == [
        root.joinpath(*parts[: i + 1]) for i in range(len(parts))
    ]
    assert conftest_chain(root, Path("/elsewhere/x")) == [Path("/elsewhere/x/conftest.py")]


segments = st.lists(
    st.sampled_from(["pkg", "src", "site-packages", "dist-packages", ".venv", "lib", "m.py"]),
    min_size=1,
    max_size=5,
)


@given(segments, st.booleans())
def test_project_relpath_keeps_project_code_only(parts: list[str], outside: bool) -> None:
    root = "/proj/root"
    base = "/proj/rootless" if outside else root
    file = "/".join([base, *parts])
    venvs = {f"{root}/.venv"}
    rel = project_relpath(file, root, venvs.__contains__)
    inside_venv = any(p in ("site-packages", "dist-packages") for p in parts) or (
        len(parts) > 1 and parts[0] == ".venv"
    )
    if outside or inside_venv:
        assert rel is None
    else:
        assert rel == "/".join(parts)
        assert os.path.join(root, rel) == file


deps_maps = st.dictionaries(names, st.one_of(st.none(), digests), max_size=8)


@given(deps_maps, deps_maps)
def test_deps_round_trip_through_tags(files: dict[str, Any], dists: dict[str, Any]) -> None:
    deps = Deps(files=files, dists=dists)
    tags = deps.encode()
    assert all(len(v) <= 8000 for v in tags.values())
    assert Deps.decode(tags) == deps


def test_long_deps_span_several_tags_and_a_cut_one_is_no_deps() -> None:
    # random digests do not compress: this needs several tags
    deps = Deps(files={f"pkg/m{i}.py": os.urandom(32).hex() for i in range(600)}, dists={})
    tags = deps.encode()
    assert len(tags) > 1 and all(len(v) <= 8000 for v in tags.values())
    assert Deps.decode(tags) == deps
    last = max(tags, key=len)
    assert Deps.decode({**tags, last: tags[last][:-10]}) is None
    assert Deps.decode({k: v for k, v in tags.items() if k != f"{TAG_CACHE_DEPS}.1"}) is None
    assert Deps.decode({TAG_CACHE_DEPS: "not base64 at all!"}) is None
    assert Deps.decode({}) is None


def test_deps_problem_names_what_changed() -> None:
    then = Deps(files={"h.py": "1", "lazy.py": "2"}, dists={"numpy": "2.0", "lib": "1.0"})
    disk = {"h.py": "1", "lazy.py": "2"}
    versions = {"numpy": "2.0", "lib": "1.0"}

    def problem(now: Deps) -> str | None:
        return then.problem(now, disk.get, versions.get)

    same_now = Deps(files={"h.py": "1"}, dists={"numpy": "2.0"})
    assert problem(same_now) is None  # less loaded now is fine: checked on disk
    assert problem(Deps(files={"h.py": "9"})) == "module h.py changed"
    assert "loaded now but was not then" in str(problem(Deps(files={"new.py": "1"})))
    assert "loaded now but was not then" in str(problem(Deps(dists={"torch": "2.1"})))
    assert problem(Deps(dists={"numpy": "2.1"})) == "distribution numpy is 2.1 now, was 2.0"
    disk["lazy.py"] = "3"
    assert problem(same_now) == "module lazy.py changed"
    disk["lazy.py"] = "2"
    versions["lib"] = "1.1"
    assert problem(same_now) == "distribution lib is 1.1 now, was 1.0"
    del versions["lib"]
    assert problem(same_now) == "distribution lib is None now, was 1.0"


def lookup(values: dict[str, str]) -> Callable[[str], str | None]:
    """``values.get`` as :func:`find_hit` takes today's digests and versions."""
    return values.get


def _stored(
    run_id: str,
    *,
    outcome: str = "new",
    session: str = "earlier",
    metrics: dict[str, float] | None = None,
    stats: dict[str, Any] | None = None,
    key: str = "k",
    extra: dict[str, str] | None = None,
) -> CacheCandidate:
    metrics = {"acc": 0.5} if metrics is None else metrics
    tags = {
        TAG_CACHE_KEY: key,
        TAG_OUTCOME: outcome,
        TAG_SESSION: session,
        TAG_METRICS: json.dumps(sorted(metrics)),
        **Deps(files={"h.py": "1"}, dists={"numpy": "2"}).encode(),
        **(extra or {}),
    }
    if stats:
        tags[TAG_STATS] = json.dumps(stats)
    return CacheCandidate(run_id, "1", tags, metrics)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["passed", "new", "failed", "regressed", "error", "crashed", "skipped", "xpassed"]
            ),
            st.sampled_from(["now", "earlier"]),
            st.booleans(),  # superseded
            st.booleans(),  # every returned metric recorded
            st.sampled_from(["k1", "k2"]),
        ),
        max_size=12,
    )
)
def test_hit_index_keeps_only_runs_that_produced_valid_metrics(runs: list[Any]) -> None:
    stored = []
    for i, (outcome, session, superseded, complete, key) in enumerate(runs):
        extra = {"experiments.superseded_by": "x"} if superseded else {}
        run = _stored(f"r{i}", outcome=outcome, session=session, key=key, extra=extra)
        if not complete:  # a non-finite mean is not logged
            run = CacheCandidate(run.run_id, "1", {**run.tags, TAG_METRICS: '["acc", "nan"]'}, {})
        stored.append(run)
    index = hit_index(stored, session_id="now")
    kept = [r.run_id for rs in index.values() for r in rs]
    expected = [
        f"r{i}"
        for i, (outcome, session, superseded, complete, _) in enumerate(runs)
        if outcome in ("passed", "new", "failed", "regressed")
        and session == "earlier"
        and not superseded
        and complete
    ]
    assert sorted(kept) == sorted(expected)
    for key, listed in index.items():  # newest (first given) first
        assert all(r.key == key for r in listed)
        order = [r.run_id for r in stored if r.run_id in {x.run_id for x in listed}]
        assert [r.run_id for r in listed] == order


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=8))
def test_samples_come_back_from_the_metric_history(values: list[float]) -> None:
    n = len(values)
    mean = math.fsum(values) / n
    history = [(i, v) for i, v in enumerate(values)] + [(n, mean)]
    assert samples_from_history(mean, n, reversed(history)) == values
    assert samples_from_history(mean, n, history[1:]) is None  # one missing
    assert samples_from_history(mean, n, [*history, (0, values[0])]) is None  # a step twice
    assert samples_from_history(mean + 1.0, n, history) is None  # not those samples


def test_find_hit_takes_the_newest_run_whose_dependencies_hold() -> None:
    now = Deps(files={"h.py": "1"}, dists={"numpy": "2"})
    stats = {"acc": {"mean": 0.5, "n": 2, "std": 0.1}}
    # The samples under "acc.samples", the mean alone under "acc"; a run of
    # an earlier version kept both in the history of "acc".
    histories = {
        ("ok", "acc.samples"): [(0, 0.4), (1, 0.6)],
        ("ok", "acc"): [(0, 0.5)],
        ("old", "acc.samples"): [],
        ("old", "acc"): [(0, 0.4), (1, 0.6), (2, 0.5)],
        ("short", "acc.samples"): [(0, 0.4)],
        ("short", "acc"): [(0, 0.5)],
    }
    moved = _stored("moved", extra=Deps(files={"h.py": "0"}, dists={"numpy": "2"}).encode())
    runs = [moved, _stored("short", stats=stats), _stored("ok", stats=stats)]
    calls: list[tuple[str, str]] = []

    def history(run_id: str, metric: str) -> list[tuple[int, float]]:
        calls.append((run_id, metric))
        return histories[run_id, metric]

    hit = find_hit(runs, now, lookup({"h.py": "1"}), lookup({"numpy": "2"}), history)
    assert hit is not None and hit.run.run_id == "ok"
    assert hit.samples == {"acc": [0.4, 0.6]}
    # The moved run was never read.
    assert calls == [("short", "acc.samples"), ("short", "acc"), ("ok", "acc.samples")]
    old = find_hit([_stored("old", stats=stats)], now, lookup({}), lookup({}), history)
    assert old is not None and old.samples == {"acc": [0.4, 0.6]}
    plain = find_hit([_stored("p")], now, lookup({}), lookup({}), history)
    assert plain is not None and plain.samples == {"acc": [0.5]}
    assert find_hit([moved], now, lookup({}), lookup({}), history) is None


def test_environment_sees_project_modules_and_loaded_distributions(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, "helper_5a1e.py", "A = 1\n")
    write(root, "exp_5a1e.py", "B = 1\n")
    write(root, "conftest.py", "\n")
    write(root, "venv/pyvenv.cfg", "home = /usr\n")
    write(root, "venv/lib/vendored_5a1e.py", "C = 1\n")
    import importlib.util

    loaded = {}
    for name, rel in [
        ("helper_5a1e", "helper_5a1e.py"),
        ("exp_5a1e", "exp_5a1e.py"),
        ("conftest_5a1e", "conftest.py"),
        ("vendored_5a1e", "venv/lib/vendored_5a1e.py"),
    ]:
        spec = importlib.util.spec_from_file_location(name, root / rel)
        assert spec is not None
        loaded[name] = importlib.util.module_from_spec(spec)
    index = DistIndex(tops={"vendored_5a1e": ("vendored",), "json": ()}, versions={})
    env = cache.Environment(str(root), ["exp_*.py", "test_*.py"], index)
    sys.modules.update(loaded)
    try:
        deps = env.loaded()
    finally:
        for name in loaded:
            del sys.modules[name]
    assert deps.files == {"helper_5a1e.py": file_digest(root / "helper_5a1e.py")}
    assert deps.dists == {"vendored": None}
    assert env.file_now("helper_5a1e.py") == deps.files["helper_5a1e.py"]


# -- real sessions -----------------------------------------------------------------

ROOT_CONFTEST = """
    import pytest


    @pytest.fixture
    def ran(request):
        \"\"\"Call from an experiment body: appends the case id to ran.txt.\"\"\"

        def mark():
            with open(request.config.rootpath / "ran.txt", "a") as fh:
                fh.write(request.node.name + "\\n")

        return mark
"""

EXP_A = """
    from pytest_experiments import experiment


    @experiment(params={"n": [1, 2]})
    def exp_a(n, ran):
        ran()
        return {"x": float(n)}
"""

SUB_CONFTEST = """
    import pytest


    @pytest.fixture
    def offset():
        return {offset}
"""

EXP_B = """
    from pytest_experiments import experiment


    @experiment(params={"n": [1, 2]})
    def exp_b(n, offset, ran):
        ran()
        return {"x": n + offset}
"""

EXP_C = """
    import json
    from pathlib import Path

    from pytest_experiments import experiment

    GRID = json.loads((Path(__file__).parent / "grid.json").read_text())


    @experiment(params={"k": GRID})
    def exp_c(k, ran):
        ran()
        return {"x": float(k)}
"""

EXP_E = """
    from pytest_experiments import experiment


    @experiment(params={"ok": [True, False]})
    def exp_e(ok, ran):
        ran()
        if not ok:
            raise ValueError("boom")
        return {"x": 1.0}
"""

EXP_F = """
    import random

    from pytest_experiments import experiment


    @experiment(params={"seed": [5]}, repeats=2)
    def exp_f(seed, ran):
        ran()
        return {"x": random.random()}
"""

EXP_Z = """
    def exp_z(ran):
        import fakelib  # a library, and a project module, imported in the body only
        import zhelper

        ran()
        return {"x": zhelper.VALUE + fakelib.VALUE}
"""

ALL = {
    "exp_b[n=1]",
    "exp_b[n=2]",
    "exp_a[n=1]",
    "exp_a[n=2]",
    "exp_c[k=1]",
    "exp_c[k=2]",
    "exp_e[ok=True]",
    "exp_e[ok=False]",
    "exp_f[seed=5]",
    "exp_z",
}
ERRORED = "exp_e[ok=False]"


def fake_library(site: Path, version: str) -> None:
    """A distribution ``fakelib`` installed the way pip leaves one: a package
    and its ``fakelib-<version>.dist-info`` (the old one removed)."""
    for old in site.glob("fakelib-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    write(site, "fakelib/__init__.py", "VALUE = 0.0\n")
    info = f"fakelib-{version}.dist-info"
    write(site, f"{info}/METADATA", f"Metadata-Version: 2.1\nName: fakelib\nVersion: {version}\n")
    write(site, f"{info}/top_level.txt", "fakelib\n")


def make_study(root: Path) -> None:
    (root / "tox.ini").unlink(missing_ok=True)  # the project fixture's
    write(root, "pytest.ini", "[pytest]\nexperiments_data = data\n")
    write(root, "conftest.py", ROOT_CONFTEST)
    write(root, "a_sub/conftest.py", SUB_CONFTEST.format(offset="0.0"))
    write(root, "a_sub/exp_b.py", EXP_B)
    write(root, "exp_a.py", EXP_A)
    write(root, "exp_c.py", EXP_C)
    write(root, "grid.json", "[1, 2]\n")
    write(root, "exp_e.py", EXP_E)
    write(root, "exp_f.py", EXP_F)
    write(root, "exp_z.py", EXP_Z)
    write(root, "zhelper.py", "VALUE = 1.0\n")
    write(root, "data/d.csv", "a\n1\n")


class Study:
    """Sessions of one project, each read back: which bodies ran, which
    results say they were cached, and each case's run in the store."""

    def __init__(self, project: pytest.Pytester, uri: str) -> None:
        self.project = project
        self.root = project.path
        self.uri = uri
        self.sessions = 0

    def run(self, *args: str) -> tuple[set[str], dict[str, dict[str, Any]], pytest.RunResult]:
        (self.root / "ran.txt").unlink(missing_ok=True)
        self.sessions += 1
        out = self.root / f"out{self.sessions}.json"
        result = runpytest_forked(
            self.project, "--exp-tracking-uri", self.uri, "--exp-json", str(out), *args, timeout=300
        )
        ran_file = self.root / "ran.txt"
        ran = set(ran_file.read_text().split()) if ran_file.exists() else set()
        assert out.exists(), result.stdout.str()[-3000:]
        return ran, results_by_case(out), result

    def check(
        self, *args: str, reran: set[str], before: dict[str, dict[str, Any]] | None
    ) -> dict[str, dict[str, Any]]:
        """A session in which exactly ``reran`` run their bodies; every other
        case is cached from the run that computed it before."""
        ran, results, result = self.run(*args)
        assert ran == reran, result.stdout.str()[-3000:]
        for case_id, res in results.items():
            if case_id in reran:
                assert res["cached_from"] is None, case_id
            else:
                assert before is not None
                origin = before[case_id]["cached_from"] or before[case_id]["run_id"]
                assert res["cached_from"] == origin, case_id
                assert res["metrics"] == before[case_id]["metrics"], case_id
                assert res["spread"] == before[case_id]["spread"], case_id
                assert res["duration"] < 0.05, case_id
            assert res["run_id"] is not None, case_id
        assert result.ret == 1  # exp_e[ok=False] errors every time
        assert results[ERRORED]["outcome"] == "error"
        return results


def runs_by_id(uri: str) -> dict[str, Any]:
    """The store's case runs (not the sessions' parent runs), by id."""
    return {r.info.run_id: r for r in all_runs(uri) if "pytest.nodeid" in r.data.tags}


def sqlite_study(
    project: pytest.Pytester,
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Study, Path, dict[str, dict[str, Any]]]:
    """The study on a sqlite store, after a first tracked session without
    the cache (every case runs and records its key): the study, the folder
    holding ``fakelib`` and the first session's results."""
    root = project.path
    make_study(root)
    site = tmp_path_factory.mktemp("site")  # outside the rootdir
    fake_library(site, "1.0")
    monkeypatch.setenv("PYTHONPATH", str(site))
    uri = sqlite_uri(copy_store(template, root / "store.db"))
    study = Study(project, uri)
    ran, first, _ = study.run()
    assert ran == ALL
    runs = runs_by_id(uri)
    assert len(runs) == len(ALL)
    assert all(
        TAG_CACHE_KEY in r.data.tags and TAG_CACHE_DEPS in r.data.tags for r in runs.values()
    )
    assert all(res["cached_from"] is None for res in first.values())
    return study, site, first


@pytest.mark.slow
def test_code_changes_rerun_exactly_their_cases_sqlite(
    project: pytest.Pytester,
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study, _, first = sqlite_study(project, template, tmp_path_factory, monkeypatch)
    root, uri = study.root, study.uri

    # Nothing changed: every case is cached, except the one that errored.
    second = study.check("--exp-cache", "--exp-report", "r.md", reran={ERRORED}, before=first)
    runs = runs_by_id(uri)
    for case_id, res in second.items():
        run = runs[res["run_id"]]
        origin = runs[first[case_id]["run_id"]]
        assert run.data.tags[TAG_CACHE_KEY] == origin.data.tags[TAG_CACHE_KEY]
        if case_id == ERRORED:
            assert run.info.status == "FAILED" and TAG_CACHED_FROM not in run.data.tags
            continue
        assert run.info.status == "FINISHED" and run.info.run_name == case_id
        assert run.data.tags[TAG_CACHED_FROM] == origin.info.run_id
        assert TAG_CACHE_DEPS not in run.data.tags  # it never answers a case itself
        assert origin.info.run_id in run.data.tags["mlflow.note.content"]
        assert run.data.tags[TAG_OUTCOME] == res["outcome"] == "new"
        assert run.data.params == origin.data.params
        assert run.data.metrics == own_metrics(origin)  # no cost: it computed nothing
    f_samples = second["exp_f[seed=5]"]["spread"]["x"]["samples"]
    assert len(f_samples) == 2 and f_samples[0] != f_samples[1]
    report = (root / "r.md").read_text()
    assert report.count("new (cached)") == len(ALL) - 1
    assert f"cached from {first['exp_a[n=1]']['run_id'][:8]}" in report  # short, as every run id
    assert "9 cached: not run again" in report

    # The experiment file.
    write(root, "exp_a.py", textwrap.dedent(EXP_A) + "# edited\n")
    third = study.check("--exp-cache", reran={"exp_a[n=1]", "exp_a[n=2]", ERRORED}, before=second)
    # A fixture in the conftest.py on the cases' path.
    write(root, "a_sub/conftest.py", SUB_CONFTEST.format(offset="0.5"))
    fourth = study.check("--exp-cache", reran={"exp_b[n=1]", "exp_b[n=2]", ERRORED}, before=third)
    assert fourth["exp_b[n=2]"]["metrics"]["x"] == 2.5
    # A project module imported by an experiment (here in its body only).
    write(root, "zhelper.py", "VALUE = 2.0\n")
    fifth = study.check("--exp-cache", reran={"exp_z", ERRORED}, before=fourth)
    assert fifth["exp_z"]["metrics"]["x"] == 2.0
    # A param (the grid comes from a file outside the key). A cached case
    # still fails when today's baseline says its metrics regressed.
    write(root, "grid.json", "[1, 3]\n")
    write(root, "baselines/exp_a.json", '{"exp_a[n=1]": {"x": 100.0}}\n')
    sixth = study.check("--exp-cache", reran={"exp_c[k=3]", ERRORED}, before=fifth)
    assert sixth["exp_a[n=1]"]["outcome"] == "regressed"
    assert sixth["exp_a[n=1]"]["cached_from"] == third["exp_a[n=1]"]["run_id"]
    # Under xdist, the cases hit the runs of a session without it.
    study.check("--exp-cache", "-n", "2", reran={ERRORED}, before=sixth)


@pytest.mark.slow
def test_environment_changes_rerun_exactly_their_cases_sqlite(
    project: pytest.Pytester,
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study, site, first = sqlite_study(project, template, tmp_path_factory, monkeypatch)
    root = study.root
    everything = set(first)
    # The data.
    write(root, "data/d.csv", "a\n2\n")
    second = study.check("--exp-cache", reran=everything, before=first)
    # The seed (exp_f's seed is its own param).
    third = study.check(
        "--exp-cache", "--exp-seed", "7", reran=everything - {"exp_f[seed=5]"}, before=second
    )
    # Repeats (exp_f declares its own).
    again = ("--exp-seed", "7", "--exp-repeats", "2")
    fourth = study.check("--exp-cache", *again, reran=everything - {"exp_f[seed=5]"}, before=third)
    assert fourth["exp_a[n=2]"]["spread"]["x"]["n"] == 2
    # A library's version (imported by exp_z's body only); the cache switched
    # on by ini this time.
    fake_library(site, "2.0")
    write(root, "pytest.ini", "[pytest]\nexperiments_data = data\nexperiments_cache = true\n")
    fifth = study.check(*again, reran={"exp_z", ERRORED}, before=fourth)
    # --exp-no-cache runs everything although ini switches the cache on.
    study.check("--exp-no-cache", *again, reran=everything, before=fifth)


@pytest.mark.slow
def test_cache_on_a_tracking_server_under_xdist_with_mlflow_baselines(
    project: pytest.Pytester, template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from mlflow.tracking import MlflowClient

    root = project.path
    (root / "tox.ini").unlink(missing_ok=True)
    write(root, "pytest.ini", "[pytest]\n")
    write(root, "conftest.py", ROOT_CONFTEST)
    write(root, "exp_a.py", EXP_A)
    write(root, "exp_e.py", EXP_E)
    write(root, "exp_f.py", EXP_F)
    cases = {"exp_a[n=1]", "exp_a[n=2]", "exp_e[ok=True]", ERRORED, "exp_f[seed=5]"}
    with running_server(tmp_path_factory.mktemp("server"), template) as server:
        study = Study(project, server.uri)
        ran, first, _ = study.run()
        assert ran == cases
        gate = ("--exp-cache", "--exp-baseline", "mlflow")
        second = study.check(
            "-n", "2", *gate, "--exp-report", "r.md", reran={ERRORED}, before=first
        )
        client = MlflowClient(server.uri)
        experiment = client.get_experiment_by_name("exp_a")
        assert experiment is not None
        for case_id, res in second.items():
            if case_id == ERRORED:
                continue
            run_id = first[case_id]["run_id"]
            exp_id = client.get_run(run_id).info.experiment_id
            url = f"{server.uri}/#/experiments/{exp_id}/runs/{run_id}"
            assert res["cached_from_url"] == url
            assert res["outcome"] == "passed"  # against the first session's runs
        report = (root / "r.md").read_text()
        assert f"cached from [{first['exp_a[n=1]']['run_id'][:8]}]({server.uri}/#/" in report

        # Another session's run of exp_a[n=1] on the server, far better: today's
        # baseline. The case stays cached, and fails.
        other = client.create_run(
            experiment.experiment_id,
            run_name="exp_a[n=1]",
            tags={
                "pytest.nodeid": "exp_a.py::exp_a[n=1]",
                TAG_OUTCOME: "passed",
                TAG_SESSION: "another",
                TAG_METRICS: '["x"]',
            },
        )
        client.log_metric(other.info.run_id, "x", 100.0)
        client.set_terminated(other.info.run_id, "FINISHED")
        # The experiment file changes too: its cases run, the others stay cached.
        write(root, "exp_f.py", textwrap.dedent(EXP_F) + "# edited\n")
        third = study.check(*gate, reran={"exp_f[seed=5]", ERRORED}, before=second)
    a1 = third["exp_a[n=1]"]
    assert a1["outcome"] == "regressed" and a1["cached_from"] == first["exp_a[n=1]"]["run_id"]
    assert a1["comparisons"]["x"]["baseline"] == 50.5  # 1.0 and 100.0, pooled
    # The first session's run and the second's record of it are one computation:
    # the baseline counts it once.
    assert third["exp_a[n=2]"]["comparisons"]["x"]["baseline_n"] == 1
    assert third["exp_a[n=2]"]["outcome"] == "passed"


def test_exp_cache_needs_tracking(project: pytest.Pytester) -> None:
    write(project.path, "exp_a.py", "def exp_a():\n    return {'x': 1.0}\n")
    result = project.runpytest("-p", "no:xdist", "--exp-cache", "--exp-no-tracking")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--exp-cache reads earlier results from the tracking store" in result.stderr.str()
    # ini experiments_cache = true with --exp-no-tracking: the cache is simply off
    project.makeini("[pytest]\nexperiments_cache = true\n")
    project.runpytest("-p", "no:xdist", "--exp-no-tracking").assert_outcomes(passed=1)


@settings(max_examples=20)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=5))
def test_a_run_of_this_session_never_answers(outcomes: list[int]) -> None:
    pool = ["passed", "new", "failed", "regressed"]
    runs = [_stored(f"r{i}", outcome=pool[o], session="me") for i, o in enumerate(outcomes)]
    assert hit_index(runs, session_id="me") == {}


SWEEP = """
    from pytest_experiments import experiment


    @experiment(params={{"n": {grid}}})
    def exp_grid(n, ran):
        ran()
        scale = {scale}  # a default in the body
        return {{"x": n * scale}}


    @experiment(params={cases})
    def exp_cases(k, ran):
        ran()
        return {{"x": float(k)}}
"""


@pytest.mark.slow
def test_a_grown_sweep_runs_only_its_new_cases(project: pytest.Pytester, template: Path) -> None:
    """Grow a grid by one value and a list by one case: only those two run
    (under xdist); change a default in a function body: every case runs."""
    root = project.path
    write(root, "conftest.py", ROOT_CONFTEST)
    uri = sqlite_uri(copy_store(template, root / "store.db"))

    def session(grid: list[int], cases: list[dict[str, int]], scale: str, *args: str) -> set[str]:
        write(root, "exp_sweep.py", SWEEP.format(grid=grid, cases=cases, scale=scale))
        (root / "ran.txt").unlink(missing_ok=True)
        result = runpytest_forked(project, "--exp-tracking-uri", uri, *args, timeout=300)
        assert result.ret == 0, result.stdout.str()[-3000:]
        return set((root / "ran.txt").read_text().split())

    grid, cases = [1, 2, 3, 4, 5], [{"k": 1}, {"k": 2}]
    five = {f"exp_grid[n={n}]" for n in grid} | {"exp_cases[k=1]", "exp_cases[k=2]"}
    assert session(grid, cases, "1.0") == five
    grown = {"exp_grid[n=6]", "exp_cases[k=3]"}
    assert session([*grid, 6], [*cases, {"k": 3}], "1.0", "--exp-cache", "-n", "2") == grown
    assert session([*grid, 6], [*cases, {"k": 3}], "2.0", "--exp-cache") == five | grown


EXP_PRED = """
    import numpy as np

    from pytest_experiments import experiment


    @experiment(params={{"k": [1]}}, tolerance={{"accuracy": 0.05}})
    def exp_pred(k, ran, experiment_run):
        ran()
        rng = np.random.default_rng(k)
        y = rng.integers(0, 2, 400)
        pred = np.where(rng.random(400) < {right}, y, 1 - y)
        experiment_run.log_predictions(y, pred)
        return {{"accuracy": float(np.mean(pred == y))}}
"""


@pytest.mark.slow
def test_a_cache_hit_keeps_its_predictions(project: pytest.Pytester, template: Path) -> None:
    """A cached case is gated with the predictions of the run that computed
    it (the paired test, not the fallback to the tolerance alone),
    ``--exp-update-baseline`` keeps them in the sidecar, and
    ``--exp-compare`` reads them through the run that recorded the hit."""
    from pytest_experiments.baselines import baseline_path
    from pytest_experiments.predictions import load_sidecar, sidecar_path

    root = project.path
    write(root, "conftest.py", ROOT_CONFTEST)
    uri = sqlite_uri(copy_store(template, root / "store.db"))
    sidecar = sidecar_path(baseline_path(root / "exp_pred.py"))
    case = "exp_pred[k=1]"

    def session(right: float, *args: str) -> dict[str, Any]:
        write(root, "exp_pred.py", EXP_PRED.format(right=right))
        (root / "ran.txt").unlink(missing_ok=True)
        result = runpytest_forked(
            project, "--exp-tracking-uri", uri, "--exp-json", "out.json", *args, timeout=300
        )
        assert result.ret == 0, result.stdout.str()[-3000:]
        return results_by_case(root / "out.json")[case]

    session(0.8, "--exp-update-baseline", "--exp-session-group", "S1")
    computed = session(0.75, "--exp-session-group", "S2")  # changed: runs, and is kept
    assert computed["comparisons"]["accuracy"]["test"] == "paired t"
    assert (root / "ran.txt").exists()

    cached = session(0.75, "--exp-cache", "--exp-session-group", "S3")
    assert not (root / "ran.txt").exists()  # the body did not run
    assert cached["cached_from"] == computed["run_id"]
    assert cached["comparisons"]["accuracy"] == computed["comparisons"]["accuracy"]

    compared = session(0.75, "--exp-compare", "S1", "S3")
    assert compared["comparisons"]["accuracy"] == computed["comparisons"]["accuracy"]

    session(0.75, "--exp-cache", "--exp-update-baseline")
    assert not (root / "ran.txt").exists()
    kept = load_sidecar(sidecar)
    assert case in kept, "the accepted baseline lost the cached case's predictions"
    session(0.75, "--exp-update-baseline")  # no --exp-cache: computes again
    assert (root / "ran.txt").exists()
    assert kept[case].to_bytes() == load_sidecar(sidecar)[case].to_bytes()
