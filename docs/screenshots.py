"""Make the README's screenshots: the heart study's report as GitHub renders it,
and the MLflow UI showing one experiment file's parent run with its case runs
nested under it.

    docs/report.png     report.md rendered with GitHub's cmark-gfm, from the top
                        to the first experiment's first plot
    docs/mlflow-ui.png  `mlflow ui` on ./mlflow.db: the runs of
                        experiments/exp_002_random_forest, the session's parent
                        run expanded, its five case runs under it

Needs two things that are not project dependencies:

    apt-get install -y --no-install-recommends chromium
    python3 -m venv /tmp/gfm && /tmp/gfm/bin/pip install cmarkgfm

Run it from the repository root with the project's venv (it uses MLflow, and
Pillow when present to shrink the PNGs):

    .venv/bin/python docs/screenshots.py [--run] [--gfm-python /tmp/gfm/bin/python]

It runs the heart study (`make experiments`, which writes ./mlflow.db, report.md
and report_files/) only when report.md or mlflow.db is missing, or with --run.
The rendered HTML goes to a temporary directory, not into the repository.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe,
no extra packages): the MLflow UI is a single-page app whose nested runs are
collapsed by default, so the script sets the page's saved view (the "Model
training" layout, the parent run expanded, param and metric columns) in the
page's localStorage before loading it, waits until the case runs are drawn, and
screenshots only the part of the page that matters.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import html
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REPORT = ROOT / "report.md"
DB = ROOT / "mlflow.db"
EXPERIMENT = "experiments/exp_002_random_forest"
MAX_BYTES = 400_000

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# A small subset of github-markdown-css (light theme) plus GitHub's file-view frame.
GITHUB_CSS = """
body { margin: 0; background: #fff; }
.frame { max-width: 1000px; margin: 24px auto; border: 1px solid #d1d9e0;
  border-radius: 6px; }
.frame-head { background: #f6f8fa; border-bottom: 1px solid #d1d9e0;
  border-radius: 6px 6px 0 0; padding: 10px 16px; color: #1f2328;
  font: 600 14px -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans",
  Helvetica, Arial, sans-serif; }
.markdown-body { padding: 32px; color: #1f2328; font-size: 16px; line-height: 1.5;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans",
  Helvetica, Arial, sans-serif; word-wrap: break-word; }
.markdown-body > *:first-child { margin-top: 0 !important; }
.markdown-body h1, .markdown-body h2, .markdown-body h3 { margin-top: 24px;
  margin-bottom: 16px; font-weight: 600; line-height: 1.25; }
.markdown-body h1 { font-size: 2em; padding-bottom: .3em;
  border-bottom: 1px solid #d1d9e0b3; }
.markdown-body h2 { font-size: 1.5em; padding-bottom: .3em;
  border-bottom: 1px solid #d1d9e0b3; }
.markdown-body h3 { font-size: 1.25em; }
.markdown-body p, .markdown-body ul, .markdown-body table { margin-top: 0;
  margin-bottom: 16px; }
.markdown-body ul { padding-left: 2em; }
.markdown-body li + li { margin-top: .25em; }
.markdown-body a { color: #0969da; text-decoration: none; }
.markdown-body code { padding: .2em .4em; margin: 0; font-size: 85%;
  background: #818b981f; border-radius: 6px;
  font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas,
  "Liberation Mono", monospace; }
.markdown-body table { border-spacing: 0; border-collapse: collapse;
  display: block; width: max-content; max-width: 100%; overflow: auto;
  font-variant: tabular-nums; }
.markdown-body th { font-weight: 600; }
.markdown-body th, .markdown-body td { padding: 6px 13px;
  border: 1px solid #d1d9e0; }
.markdown-body tr { background: #fff; border-top: 1px solid #d1d9e0b3; }
.markdown-body tr:nth-child(2n) { background: #f6f8fa; }
.markdown-body img { max-width: 100%; box-sizing: content-box; }
"""

GFM_RENDER = (
    "import sys, cmarkgfm\n"
    "sys.stdout.write(cmarkgfm.github_flavored_markdown_to_html(sys.stdin.read()))\n"
)


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe.

    Chromium reads NUL-terminated JSON commands on fd 3 and writes replies and
    events on fd 4 (--remote-debugging-pipe), so no WebSocket client is needed.
    """

    def __init__(self, width: int, height: int) -> None:
        self.profile = tempfile.mkdtemp(prefix="screenshots-chromium-")
        to_chrome_r, self._out = os.pipe()
        self._in, from_chrome_w = os.pipe()

        def on_fds_3_and_4() -> None:  # in the child, before exec
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                "chromium",
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            preexec_fn=on_fds_3_and_4,
            pass_fds=(3, 4),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.session: str | None = None
        target = self.call("Target.createTarget", url="about:blank", browser=True)
        self.session = self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True, browser=True
        )["sessionId"]
        self.resize(width, height)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium exited")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        result: dict[str, Any] = json.loads(message)
        return result

    def call(self, method: str, browser: bool = False, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self.session and not browser:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def resize(self, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def js(self, expression: str) -> Any:
        reply = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(reply["exceptionDetails"].get("exception", reply))
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js(expression):
                    return
            except RuntimeError:
                pass  # the page is still loading
            time.sleep(0.5)
        raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")

    def screenshot(self, path: Path, width: int, height: int) -> None:
        data = self.call(
            "Page.captureScreenshot",
            format="png",
            clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            captureBeyondViewport=True,
        )["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", browser=True)
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._in)
        os.close(self._out)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shrink(path: Path) -> None:
    """Re-save with Pillow's optimizer when Pillow is there; say the size."""
    try:
        from PIL import Image
    except ImportError:
        pass
    else:
        with Image.open(path) as image:
            image.load()
        image.convert("RGB").save(path, optimize=True)
        if path.stat().st_size > MAX_BYTES:  # still big: 256 colours look the same here
            image.convert("RGB").quantize(256).save(path, optimize=True)
    size = path.stat().st_size
    note = "" if size <= MAX_BYTES else f" (over {MAX_BYTES // 1000} KB)"
    print(f"wrote {path.relative_to(ROOT)}: {size // 1000} KB{note}")


def render_report(gfm_python: str, out_dir: Path) -> Path:
    """report.md to HTML with cmark-gfm, in GitHub's look; images resolve beside the report."""
    body = subprocess.run(
        [gfm_python, "-c", GFM_RENDER],
        input=REPORT.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<base href='{REPORT.parent.as_uri()}/'>"
        f"<title>{html.escape(REPORT.name)}</title><style>{GITHUB_CSS}</style></head>"
        f"<body><div class='frame'><div class='frame-head'>{html.escape(REPORT.name)}</div>"
        f"<article class='markdown-body'>{body}</article></div></body></html>\n"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def shoot_report(page: Path, out: Path) -> None:
    width = 1200
    with Chromium(width, 3000) as browser:
        browser.goto(page.as_uri())
        browser.wait_for(
            "document.readyState === 'complete' && document.images.length > 0"
            " && [...document.images].every(i => i.complete)",
            60,
            "the report and its images",
        )
        broken = browser.js("[...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
        if broken:
            raise SystemExit(f"images did not load: {broken}")
        # From the top to the first experiment's first plot (its table is above it).
        bottom = browser.js(
            """(() => {
              const h2 = document.querySelector('.markdown-body h2');
              const img = [...document.images].find(
                i => h2.compareDocumentPosition(i) & Node.DOCUMENT_POSITION_FOLLOWING);
              return Math.ceil(img.getBoundingClientRect().bottom + window.scrollY) + 24;
            })()"""
        )
        browser.screenshot(out, width, int(bottom))
    shrink(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_mlflow_ui(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "mlflow"),
            "ui",
            "--backend-store-uri",
            f"sqlite:///{DB}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=ROOT,
        start_new_session=True,  # its own process group, so stop_server ends its workers too
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300  # a loaded machine takes minutes to import MLflow
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"mlflow ui exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(1)
    stop_server(server)
    raise SystemExit("mlflow ui did not answer /health within 300 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(wait)
            time.sleep(1)  # let the workers go with their parent
        except subprocess.TimeoutExpired:
            continue
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            return


def newest_parent_run() -> tuple[str, str, list[str]]:
    """(experiment id, parent run id, case run ids) of the newest session's parent run."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{DB}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        raise SystemExit(f"no experiment {EXPERIMENT!r} in {DB}; rerun with --run")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    for run in runs:
        if "mlflow.parentRunId" in run.data.tags:
            continue
        children = [
            r.info.run_id for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id
        ]
        if children:
            return experiment.experiment_id, run.info.run_id, children
    raise SystemExit(f"no parent run with nested case runs in {EXPERIMENT!r}")


def shoot_mlflow_ui(out: Path) -> None:
    experiment_id, parent, children = newest_parent_run()
    widths = {  # column id: width in px (0: as the UI draws it)
        "1": 0,  # the checkboxes
        "attributes.`Run Name`": 340,
        "runDateAndNestInfo": 0,  # Created
        "duration": 0,
        "metrics.`accuracy`": 130,
        "metrics.`f1`": 130,
        "metrics.`roc_auc`": 130,
        "params.`n_estimators`": 130,
    }
    # The runs page's saved view, as the UI itself stores it in localStorage.
    view = {
        "selectedColumns": [
            "params.`n_estimators`",
            "metrics.`accuracy`",
            "metrics.`f1`",
            "metrics.`roc_auc`",
        ],
        # The UI applies saved widths only to the columns named in columnOrder.
        "columnOrder": list(widths),
        "columnWidths": {col: w for col, w in widths.items() if w},
        "runsExpanded": {parent: True},
    }
    storage = {
        f'MLflowLocalStorage-1.1-ExperimentPage-["{experiment_id}"]-ReactComponentState': view,
        "mlflow.workflowType_v1": "machine_learning",  # "Model training", not GenAI
        "mlflow.assistant.panelOpen_v1": False,
        "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True,
    }
    port = free_port()
    server = start_mlflow_ui(port)
    try:
        base = f"http://127.0.0.1:{port}"
        width = 1500
        with Chromium(width, 900) as browser:
            browser.goto(f"{base}/health")  # same origin, no app to overwrite the storage
            browser.wait_for("document.readyState === 'complete'", 60, "/health")
            browser.js(
                f"Object.entries({json.dumps(storage)})"
                ".forEach(([k, v]) => localStorage.setItem(k, JSON.stringify(v)))"
            )
            browser.goto(f"{base}/#/experiments/{experiment_id}/runs")
            rows = "[...document.querySelectorAll('[role=row]')]"
            drawn = (
                f"{rows}.filter(r => {json.dumps(children)}.some(id => r.innerHTML.includes(id)))"
                f".length === {len(children)}"
                " && document.querySelector('[col-id=\"metrics.`accuracy`\"]') !== null"
            )
            browser.wait_for(drawn, 120, "the parent run's nested case runs")
            time.sleep(2)  # let the grid settle its column widths
            bottom = browser.js(
                f"Math.ceil(Math.max(...{rows}.map(r => r.getBoundingClientRect().bottom)))"
            )
            browser.screenshot(out, width, int(bottom) + 24)
    finally:
        stop_server(server)
    shrink(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run `make experiments` first")
    parser.add_argument(
        "--gfm-python",
        default=os.environ.get("GFM_PYTHON", "/tmp/gfm/bin/python"),
        help="a Python with cmarkgfm installed (default $GFM_PYTHON or /tmp/gfm/bin/python)",
    )
    args = parser.parse_args()
    if shutil.which("chromium") is None:
        sys.exit("chromium not found: apt-get install -y --no-install-recommends chromium")
    if args.run or not REPORT.exists() or not DB.exists():
        subprocess.run(["make", "experiments"], cwd=ROOT, check=True)
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        page = render_report(args.gfm_python, Path(tmp))
        shoot_report(page, DOCS / "report.png")
    shoot_mlflow_ui(DOCS / "mlflow-ui.png")


if __name__ == "__main__":
    main()
