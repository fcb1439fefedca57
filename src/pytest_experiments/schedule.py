"""Longest cases first under xdist, so that no worker idles at the end.

xdist hands out cases in collection order. When a study's slowest cases come
last, one worker is still fitting them while the others have nothing left to
do. Every session records each experiment case's call duration in pytest's
cache (``.pytest_cache``, key ``experiments/durations``); the next session
under xdist collects its experiment cases longest first (cases with no
recorded duration first of all, since nothing is known about them). Plain
tests keep their places, the report keeps the declared order, and every
worker computes the same order from the same cache file, as xdist requires.

Off with ini ``experiments_longest_first = false``, with ``-p no:cacheprovider``,
and without xdist (one process runs everything in the same total time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pytest

from .discovery import in_experiment_file, is_experiment_item

#: Key in pytest's cache: node id -> seconds of its last call phase.
DURATIONS_KEY = "experiments/durations"
#: ini switch.
INI = "experiments_longest_first"

T = TypeVar("T")


def longest_first(items: Sequence[T], durations: Mapping[str, float], key: Any) -> list[T]:
    """``items`` longest first by ``durations[key(item)]``; items with no known
    duration come first (in their own order), ties keep their order."""

    def sort_key(item: T) -> float:
        seconds = durations.get(key(item))
        return -math.inf if seconds is None else -float(seconds)

    return sorted(items, key=sort_key)


def reorder(items: list[Any], durations: Mapping[str, float]) -> None:
    """Put the experiment cases among ``items`` longest first, into the slots
    experiment cases held (plain tests do not move)."""
    slots = [i for i, item in enumerate(items) if is_experiment_item(item)]
    ordered = longest_first([items[i] for i in slots], durations, lambda item: item.nodeid)
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


def _cache(config: pytest.Config) -> Any:
    return getattr(config, "cache", None)


class Scheduler:
    """Records case durations (the controller, or pytest itself without
    xdist) and orders cases longest first (each xdist worker)."""

    def __init__(self, config: pytest.Config, patterns: Sequence[str]) -> None:
        self.config = config
        self.patterns = list(patterns)
        self.durations: dict[str, float] = {}

    @staticmethod
    def enabled(config: pytest.Config) -> bool:
        return bool(config.getini(INI)) and _cache(config) is not None

    @pytest.hookimpl(tryfirst=True)  # before plugins that shuffle on purpose
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[Any]) -> None:
        if not hasattr(config, "workerinput") or not self.enabled(config):
            return
        recorded = _cache(config).get(DURATIONS_KEY, {})
        if isinstance(recorded, dict):
            reorder(items, {k: v for k, v in recorded.items() if isinstance(v, int | float)})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and in_experiment_file(report.nodeid, self.patterns):
            self.durations[report.nodeid] = round(float(report.duration), 3)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput") or not self.durations:
            return
        cache = _cache(self.config)
        if cache is None:
            return
        recorded = cache.get(DURATIONS_KEY, {})
        merged = dict(recorded) if isinstance(recorded, dict) else {}
        merged.update(self.durations)
        cache.set(DURATIONS_KEY, merged)


#: The plugin name the scheduler is registered under.
SCHEDULER = "experiments-scheduler"


def register(config: pytest.Config, patterns: Sequence[str]) -> None:
    """Register the scheduler once per process, when experiments are found:
    by the first experiment file a process collects, and on the xdist
    controller by the first experiment node id a worker reports."""
    if config.pluginmanager.get_plugin(SCHEDULER) is None:
        config.pluginmanager.register(Scheduler(config, patterns), SCHEDULER)
