"""Which runs left RUNNING by other pytest sessions are provably dead.

A run is ended KILLED by a later session only when its death is proven: its
controller ran on this very machine (same host name, same boot, same PID
namespace) and that process is gone. A run of another machine, another boot,
or a container with its own PID namespace (where ``os.kill(pid, 0)`` says
nothing) might still be alive, and is left as it is.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

from .tags import TAG_CONTROLLER, TAG_MACHINE, TAG_SESSION


def machine_id() -> str | None:
    """This boot of this machine and this PID namespace (Linux), or None where
    that cannot be read: a PID only means the same process under the same id."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}:{namespace}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def provably_dead(tags: Mapping[str, str], session_id: str, here: str | None = None) -> bool:
    """Whether a RUNNING run with these tags belongs to another session whose
    controller provably died (``here``: this machine's id, read when None; an
    empty id means it cannot be read, and then nothing is proven)."""
    controller = tags.get(TAG_CONTROLLER)
    if controller is None or tags.get(TAG_SESSION) == session_id:
        return False
    me = machine_id() if here is None else here
    run_host, _, pid = controller.rpartition(":")
    same_machine = bool(me) and run_host == socket.gethostname() and tags.get(TAG_MACHINE) == me
    return same_machine and pid.isdigit() and not pid_alive(int(pid))
