"""Stands in for ``python`` when an xdist controller forked from the zygote
starts a worker (see ``_forked.py``): hands this process's stdin, stdout and
stderr (execnet's pipes), working directory, environment and arguments to the
zygote, which forks the worker from its warm interpreter; then waits, and
exits as the worker did. Standard library only (run with ``python -S -E``).

Usage: ``python -S -E _zworker.py SOCKET PYTHON-ARGS...``
"""

import json
import os
import signal
import socket
import sys


def main() -> None:
    path, args = sys.argv[1], sys.argv[2:]
    request = {"cwd": os.getcwd(), "env": dict(os.environ), "args": args, "pgid": os.getpgrp()}
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
    # Only the worker holds execnet's pipes now: when it dies, the controller
    # sees the end of its stream at once, as with a worker it started itself.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    pending = b""
    pid = None

    def forward(signum: int, frame: object) -> None:
        if pid is not None:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit(1)  # the zygote went away
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            message = json.loads(line)
            if "pid" in message:
                pid = message["pid"]
                continue
            rc = message["rc"]
            if rc < 0:  # killed by a signal: die of the same one
                signal.signal(-rc, signal.SIG_DFL)
                os.kill(os.getpid(), -rc)
            sys.exit(rc)


if __name__ == "__main__":
    main()
