"""What a case cost: wall and CPU seconds, peak memory (and GPU memory).

Logged as run metrics under :data:`PREFIX` (never gated: the gate and the
baselines read only the metrics the experiment returned), shown in the
report with ``--exp-report-cost``.

- ``cost.wall_seconds``: wall time of the case body, every repeat.
- ``cost.cpu_seconds``: CPU time (user + system) of the process that ran the
  case, all its threads, over the same span (``time.process_time``). Work
  done in other processes (joblib's loky workers, a data loader's workers) is
  not in it.
- ``cost.peak_memory_mb``: the highest resident memory (RSS) of that process
  while the case ran, everything it held counted (Python, imported
  libraries, fixtures), in MiB. On Linux the kernel's high-water mark is
  reset as the case starts (``/proc/self/clear_refs``) and read as it ends
  (``VmHWM``), exact and free; elsewhere the process's peak
  (``getrusage``) is kept only when the case raised it, else not logged.
- ``cost.gpu_peak_memory_mb``: when PyTorch is imported and has CUDA
  initialised, the largest per-device peak of memory allocated by its
  allocator during the case (``torch.cuda.max_memory_allocated``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

#: Every cost metric's name starts with this.
PREFIX = "cost."
WALL = "cost.wall_seconds"
CPU = "cost.cpu_seconds"
PEAK = "cost.peak_memory_mb"
GPU_PEAK = "cost.gpu_peak_memory_mb"

_MIB = 1024 * 1024
_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"


def _reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux); False when it cannot be."""
    try:
        with open(_CLEAR_REFS, "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_status() -> float | None:
    """``VmHWM`` of /proc/self/status, in bytes."""
    try:
        with open(_STATUS) as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _maxrss() -> float:
    """The process's peak RSS so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    if resource is None:  # pragma: no cover - Windows
        return 0.0
    value = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return value if sys.platform == "darwin" else value * 1024


def _cuda() -> Any:
    """torch.cuda when PyTorch is imported and CUDA is initialised (never
    imports torch, never initialises CUDA)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        if cuda is not None and cuda.is_available() and cuda.is_initialized():
            return cuda
    except Exception:
        return None
    return None


class CostMeter:
    """Measures one case: :meth:`start` before its body, :meth:`stop` after."""

    def __init__(self) -> None:
        self._wall = 0.0
        self._cpu = 0.0
        self._reset = False
        self._maxrss_before = 0.0

    def start(self) -> None:
        self._reset = _reset_peak_rss()
        if not self._reset:
            self._maxrss_before = _maxrss()
        cuda = _cuda()
        if cuda is not None:
            for device in range(cuda.device_count()):
                cuda.reset_peak_memory_stats(device)
        self._cpu = time.process_time()
        self._wall = time.perf_counter()

    def stop(self) -> dict[str, float]:
        """The case's cost metrics (a metric that cannot be measured is left out)."""
        cost = {
            WALL: time.perf_counter() - self._wall,
            CPU: time.process_time() - self._cpu,
        }
        peak = _peak_rss_status() if self._reset else None
        if peak is None and not self._reset:
            after = _maxrss()
            peak = after if after > self._maxrss_before else None
        if peak is not None:
            cost[PEAK] = peak / _MIB
        cuda = _cuda()
        if cuda is not None:
            try:
                peaks = [cuda.max_memory_allocated(device) for device in range(cuda.device_count())]
            except Exception:
                peaks = []
            if peaks:
                cost[GPU_PEAK] = max(peaks) / _MIB
        return cost


# -- in the report (--exp-report-cost) ---------------------------------------------


class _Costed(Protocol):
    file: str
    experiment: str
    cost: dict[str, float]


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def _mib(value: float) -> str:
    return f"{value:.0f} MiB" if value >= 10 else f"{value:.1f} MiB"


def cost_cell(cost: Mapping[str, float]) -> str:
    """A case's cost in one cell: ``1.52 s, CPU 1.40 s, 312 MiB`` (+ ``GPU 2048 MiB``)."""
    parts = []
    if WALL in cost:
        parts.append(_seconds(cost[WALL]))
    if CPU in cost:
        parts.append(f"CPU {_seconds(cost[CPU])}")
    if PEAK in cost:
        parts.append(_mib(cost[PEAK]))
    if GPU_PEAK in cost:
        parts.append(f"GPU {_mib(cost[GPU_PEAK])}")
    return ", ".join(parts)


def cost_section(results: Sequence[_Costed]) -> str:
    """A Markdown section: per experiment, its cases' wall and CPU seconds
    summed and the largest of their memory peaks, then the whole session."""
    from .reporting import escape_cell

    groups: dict[tuple[str, str], list[Mapping[str, float]]] = {}
    for result in results:
        if result.cost:
            groups.setdefault((result.file, result.experiment), []).append(result.cost)
    lines = [
        "## Cost",
        "",
        "What the cases cost in this session: wall and CPU seconds of their bodies "
        "summed, peak memory the largest of their peaks (resident memory of the "
        "process that ran them).",
        "",
    ]
    gpu = any(GPU_PEAK in c for costs in groups.values() for c in costs)
    header = ["experiment", "cases", "wall", "CPU", "peak memory"] + (["GPU peak"] if gpu else [])
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    every = [c for costs in groups.values() for c in costs]
    rows = [(f"{escape_cell(e)} ({escape_cell(f)})", costs) for (f, e), costs in groups.items()]
    for label, costs in [*rows, ("**all**", every)]:
        cells = [label, str(len(costs)), _seconds(_sum(costs, WALL)), _seconds(_sum(costs, CPU))]
        cells.append(_max(costs, PEAK))
        if gpu:
            cells.append(_max(costs, GPU_PEAK))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _sum(costs: Sequence[Mapping[str, float]], name: str) -> float:
    return sum(c.get(name, 0.0) for c in costs)


def _max(costs: Sequence[Mapping[str, float]], name: str) -> str:
    values = [c[name] for c in costs if name in c]
    return _mib(max(values)) if values else ""
