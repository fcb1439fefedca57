"""``--exp-devices``: one accelerator per xdist worker.

Worker ``gwN`` gets device ``N mod len(devices)`` through
``CUDA_VISIBLE_DEVICES``, set inside the worker process as soon as xdist has
started it: before the worker imports pytest's worker code, conftest.py files
or any experiment, so every CUDA library it loads sees only its own device.
``auto`` lists the devices present: the entries of ``CUDA_VISIBLE_DEVICES`` when
it is set, else the GPUs ``nvidia-smi`` reports; with none, nothing changes.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

#: Set in each worker beside ``CUDA_VISIBLE_DEVICES``: the device it was given
#: (recorded on its runs as tag ``experiments.device``).
DEVICE_ENV = "PYTEST_EXPERIMENTS_DEVICE"


def detect() -> list[str]:
    """The devices present: ``CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi``'s GPUs."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    import subprocess

    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


def device_list(option: str) -> list[str]:
    """The devices an option value stands for (``auto`` detected now)."""
    return detect() if option == "auto" else option.split(",")


def device_for(worker_id: str, devices: list[str]) -> str | None:
    """The device of xdist worker ``gwN`` (N mod the number of devices)."""
    match = re.fullmatch(r"gw([0-9]+)", worker_id)
    if not devices or match is None:
        return None
    return devices[int(match.group(1)) % len(devices)]


def worker_setup_code(device: str) -> str:
    """Python source run inside a freshly started worker (execnet ``remote_exec``)."""
    return (
        "import os\n"
        f"os.environ['CUDA_VISIBLE_DEVICES'] = {device!r}\n"
        f"os.environ[{DEVICE_ENV!r}] = {device!r}\n"
        "channel.send(None)\n"
    )


class DeviceHooks:
    """Registered on the xdist controller with ``--exp-devices``: hands each
    new worker process its device before it runs any code of pytest's."""

    def __init__(self, option: str) -> None:
        self.option = option
        self._devices: list[str] | None = None
        #: Worker id -> device given, for the terminal header.
        self.given: dict[str, str] = {}

    @property
    def devices(self) -> list[str]:
        if self._devices is None:
            self._devices = device_list(self.option)
        return self._devices

    def pytest_xdist_newgateway(self, gateway: Any) -> None:
        device = device_for(str(gateway.id), self.devices)
        if device is None:
            return
        channel = gateway.remote_exec(worker_setup_code(device))
        channel.receive(timeout=60)  # set before xdist starts its worker code
        self.given[str(gateway.id)] = device

    def pytest_report_header(self) -> str:
        if not self.devices:
            return (
                f"experiments: --exp-devices {self.option}: no GPU found "
                "(nvidia-smi lists none and CUDA_VISIBLE_DEVICES is not set); workers unchanged"
            )
        listed = ",".join(self.devices)
        return (
            f"experiments: devices {listed}, one per xdist worker "
            f"(gwN gets device N mod {len(self.devices)})"
        )
