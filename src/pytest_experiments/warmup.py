"""Warm the xdist controller up for the end of a tracked session.

Under xdist the controller runs no case, so nothing has loaded MLflow there
when the last result arrives. Ending the session's parent runs (and marking
Holm's regressions, and ending orphaned runs) then imports MLflow, its SQL
store for a sqlite URI and matplotlib, about 5 s of CPU, after every worker has
finished, with their cores idle. :class:`Warmup` does those imports in a daemon
thread while the workers still run cases, then freezes the collector (an
unfrozen controller holding MLflow spends ~2 s in the collector at exit).

The session waits for the thread at the end of pytest's run loop, before its
own end-of-session work: two threads importing overlapping modules at once can
see each other's half-initialised modules, and pytest records warnings from
every thread in ``pytest_sessionfinish``.
"""

from __future__ import annotations

import sys
import threading
import warnings


class Warmup:
    """At most one background import per session; :meth:`wait` before use."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self, uri: str) -> None:
        """Import what the end of a session tracked at *uri* needs, in the
        background; does nothing when started before or MLflow is loaded
        (``-n 0``: the process that runs the cases loaded it for them)."""
        if self._thread is not None or "mlflow" in sys.modules:
            return
        self._thread = threading.Thread(
            target=_import_for_the_end,
            args=(uri,),
            name="pytest-experiments-warmup",
            daemon=True,  # never holds up an interrupted session's exit
        )
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()


def _import_for_the_end(uri: str) -> None:
    # SQLAlchemy deprecation notes about MLflow's own ORM setup are silenced as
    # in the workers (tracking.load_mlflow), and so is all else imported here.
    # ``catch_warnings`` swaps process-wide state, so it is only safe because
    # the main thread meanwhile sits in xdist's loop, which changes no filter,
    # and the session waits for this thread at the loop's end, before pytest's
    # end-of-session warning capture begins (session.XdistHooks.pytest_runtestloop).
    # Whatever fails here is imported again, in the main thread, where it is
    # needed; that import reports the error as the session always has.
    from . import tracking

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            tracking.load_mlflow(uri)
        except Exception:
            return
        try:
            from . import plots

            plots.preload()
        except Exception:
            pass
    tracking.freeze_once()
