"""Settings: the baseline source's parser, and the trip to xdist workers."""

from __future__ import annotations

import argparse
import json

import execnet
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_experiments.settings import BaselineSource, Settings, parse_baseline_source

#: Filters as users write them: any text without surrounding blanks.
filters = st.text(min_size=1).map(str.strip).filter(bool)


@given(filters)
def test_a_source_reads_back_from_its_text(filt: str) -> None:
    for source in (BaselineSource(), BaselineSource("mlflow"), BaselineSource("mlflow", filt)):
        assert BaselineSource.parse(str(source)) == source
    parsed = BaselineSource.parse(f"mlflow: {filt} ")
    assert parsed.from_mlflow and parsed.filter == filt


def test_file_is_the_default_and_plain_mlflow_has_no_filter() -> None:
    assert BaselineSource() == BaselineSource.parse("file")
    assert not BaselineSource().from_mlflow
    plain = BaselineSource.parse("mlflow")
    assert plain.from_mlflow and plain.filter == ""


@given(st.text())
def test_anything_else_is_refused_naming_the_text(text: str) -> None:
    if text in ("file", "mlflow") or (text.startswith("mlflow:") and text[7:].strip()):
        return
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_baseline_source(text)
    message = str(info.value)
    assert "--exp-baseline" in message
    assert repr(text) in message or text.startswith("mlflow:")


@given(filters, st.booleans())
def test_settings_survive_a_plain_data_round_trip(filt: str, mlflow: bool) -> None:
    """Workers get settings through execnet's serializer, which takes plain
    data only (and JSON, for good measure, turns tuples into lists)."""
    settings = Settings(
        rootdir="/r",
        experiment_files=("exp_*.py",),
        seed=3,
        tracking_uri="sqlite:////r/mlflow.db",
        mlflow_experiment=None,
        update_baseline=False,
        strict_baseline=False,
        baseline=BaselineSource("mlflow", filt) if mlflow else BaselineSource(),
        tolerance="0",
        repeats=1,
        alpha=0.05,
        baseline_window=5,
        data_paths=("data",),
        report_path=None,
        json_path="r.json",
        primary_metric=None,
        leaderboard="file",
        github_summary=True,
        session_id="s",
        controller="h:1",
    )
    for back in (
        Settings.from_dict(execnet.loads(execnet.dumps(settings.to_dict()))),
        Settings.from_dict(json.loads(json.dumps(settings.to_dict()))),
    ):
        assert back == settings
        assert isinstance(back.baseline, BaselineSource) and back.baseline.from_mlflow is mlflow
