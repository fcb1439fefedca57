"""``--exp-devices``: each xdist worker gets its own accelerator.

No GPU is needed: the tests give explicit device lists (and ``auto`` reads
``CUDA_VISIBLE_DEVICES`` when it is set) and check what every worker process
saw, from its conftest.py on, and what its runs were tagged with.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from _forked import runpytest_forked
from _server import copy_store, runs_by_name, write
from hypothesis import given
from hypothesis import strategies as st

from pytest_experiments.devices import device_for
from pytest_experiments.settings import parse_devices

# conftest.py records the device the worker saw when pytest loaded it (before
# collection); the experiment records what each case saw.
CONFTEST = """
    import json, os
    from pathlib import Path

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(f"conftest-{worker}.json").write_text(json.dumps(os.environ.get("CUDA_VISIBLE_DEVICES")))
"""

EXPERIMENT = """
    import json, os
    from pathlib import Path
    from pytest_experiments import experiment

    @experiment(params={"i": list(range(6))})
    def exp_device(i):
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        Path(f"case-{i}.json").write_text(
            json.dumps([worker, os.environ.get("CUDA_VISIBLE_DEVICES")])
        )
        return {"score": float(i)}
"""


def _seen(root: Path) -> tuple[dict[str, str | None], dict[str, list[str | None]]]:
    conftests = {
        p.stem.removeprefix("conftest-"): json.loads(p.read_text())
        for p in root.glob("conftest-*.json")
    }
    cases = {p.stem: json.loads(p.read_text()) for p in root.glob("case-*.json")}
    return conftests, cases


@pytest.fixture(autouse=True)
def _not_inside_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The projects' controllers are not xdist workers, even when this suite's are."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.slow
def test_each_worker_sees_its_own_device_from_conftest_on_and_tags_its_runs(
    project: pytest.Pytester, template: Path
) -> None:
    write(project.path, "conftest.py", CONFTEST)
    write(project.path, "exp_001_device.py", EXPERIMENT)
    copy_store(template, project.path / "mlflow.db")
    result = runpytest_forked(project, "-n", "3", "--exp-devices", "4,7")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*experiments: devices 4,7, one per xdist worker*"])

    conftests, cases = _seen(project.path)
    # The controller keeps what it had; every worker its own.
    assert conftests == {"main": None, "gw0": "4", "gw1": "7", "gw2": "4"}
    assert len(cases) == 6
    for worker, device in cases.values():
        assert worker is not None and device == conftests[worker]
    runs = runs_by_name(project.path / "mlflow.db")
    for i in range(6):
        worker, device = cases[f"case-{i}"]
        assert runs[f"exp_device[i={i}]"].data.tags["experiments.device"] == device


def test_auto_takes_the_visible_devices(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project.path, "conftest.py", CONFTEST)
    write(project.path, "exp_001_device.py", EXPERIMENT)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    result = runpytest_forked(project, "-n", "2", "--exp-no-tracking", "--exp-devices", "auto")
    assert result.ret == 0, result.stdout.str()
    conftests, _ = _seen(project.path)
    assert conftests == {"main": "2,3", "gw0": "2", "gw1": "3"}


def test_a_bad_device_list_is_a_usage_error_naming_it(project: pytest.Pytester) -> None:
    write(project.path, "exp_001_device.py", EXPERIMENT)
    result = project.runpytest("-n", "2", "--exp-devices", "0,gpu one")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--exp-devices '0,gpu one'*not understood: 'gpu one'*"])


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=16, unique=True))
def test_a_list_of_distinct_indices_reads_back_as_written(devices: list[int]) -> None:
    text = " , ".join(map(str, devices))
    assert parse_devices(text) == ",".join(map(str, devices))


@pytest.mark.parametrize("text", ["", "0,,1", "cuda:0", "0,0", "-1", "1.5"])
def test_what_is_not_a_device_list_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="--exp-devices"):
        parse_devices(text)


@given(
    devices=st.lists(st.sampled_from(["0", "1", "2", "3", "GPU-ab12"]), min_size=1, unique=True),
    worker=st.integers(min_value=0, max_value=64),
)
def test_worker_n_gets_device_n_mod_the_count(devices: list[str], worker: int) -> None:
    assert device_for(f"gw{worker}", devices) == devices[worker % len(devices)]
    assert device_for("main", devices) is None
    assert device_for(f"gw{worker}", []) is None
