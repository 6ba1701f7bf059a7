"""The web app in tests: an app over a state folder and a root of inputs, waiting for a job, and
`vsr serve` run as a user runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

PORT = 8000  # what the test client calls itself; a live server takes any free port


def make_app(served: dict[str, Path], **settings):
    from vsr.serve.app import App
    from vsr.serve.config import ServeConfig

    config = ServeConfig(roots=(served["root"],), state=served["state"], **settings)
    return App(config, port=PORT)


def wait_for(client, job_id: str, states=("done", "failed", "cancelled"), timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


class LiveServer:
    """`vsr serve` in a process of its own, as a user starts it."""

    def __init__(self, state: Path, root: Path, *args: str) -> None:
        env = {**os.environ, "VSR_HOME": str(state.parent)}
        self.process = subprocess.Popen([sys.executable, "-m", "vsr", "serve", "--port", "0", "--root", str(root), *args],
                                        stderr=subprocess.PIPE, text=True, env=env)
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        found = re.search(r"vsr: serving on (http://[^/]+/)", line)
        assert found, line + self.process.stderr.read() if self.process.poll() is not None else line
        self.url = found.group(1).rstrip("/")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10) -> float:
        start = time.monotonic()
        self.process.send_signal(sig)
        self.process.wait(timeout)
        return time.monotonic() - start


