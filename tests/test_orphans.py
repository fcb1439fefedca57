"""A RUNNING run of another session is ended only when its death is proven."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from pytest_experiments.orphans import machine_id, provably_dead

HERE = "boot-1:4026531836"


@pytest.fixture(scope="module")
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _tags(host: str, pid: int | str, machine: str = HERE, session: str = "other") -> dict[str, str]:
    return {
        "pytest.controller": f"{host}:{pid}",
        "pytest.machine": machine,
        "pytest.session": session,
    }


def test_a_gone_controller_on_this_machine_is_dead(dead_pid: int) -> None:
    assert provably_dead(_tags(socket.gethostname(), dead_pid), "mine", HERE)


@pytest.mark.parametrize(
    ("why", "tags", "here"),
    [
        ("its controller is alive", _tags(socket.gethostname(), os.getpid()), HERE),
        ("another host", _tags("elsewhere.example", 0), HERE),
        ("another boot or PID namespace", _tags(socket.gethostname(), 0, "boot-2:1"), HERE),
        ("this machine cannot be identified", _tags(socket.gethostname(), 0, ""), ""),
        ("this very session", _tags(socket.gethostname(), 0, session="mine"), HERE),
        ("no controller tag", {"pytest.session": "other"}, HERE),
        ("a pid that is no number", _tags(socket.gethostname(), "abc"), HERE),
    ],
)
def test_anything_unproven_is_left_alive(
    why: str, tags: dict[str, str], here: str, dead_pid: int
) -> None:
    if tags.get("pytest.controller", "").endswith(":0"):  # a dead process, but see `why`
        tags = {**tags, "pytest.controller": tags["pytest.controller"][:-1] + str(dead_pid)}
    assert not provably_dead(tags, "mine", here), why


def test_this_machine_is_told_apart_by_boot_and_pid_namespace() -> None:
    ident = machine_id()
    if ident is None:
        pytest.skip("no /proc here")
    boot, namespace = ident.rsplit(":", 1)
    assert len(boot) == 36 and namespace.isdigit()
