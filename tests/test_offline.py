"""vsr sends nothing over the network and exits when its work is done, with CI unset as on a
user's machine: OpenVINO's and NNCF's telemetry run only outside CI, and once forked a deadlocked
sender from a thread, so a finished run never exited."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clips import make_clip

AUDIT = Path(__file__).parent / "data" / "network_audit"


def _session_members(sid: int) -> list[int]:
    """The processes still alive in session `sid` (its leader has exited)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads sessions from /proc")
@pytest.mark.parametrize("backend", ["openvino", "openvino-int8"])
def test_a_users_openvino_run_exits_at_once_leaves_nothing_and_reaches_no_network(tmp_path, backend):
    src, out, home, log = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "home", tmp_path / "network.log"
    make_clip(src, frames=12, size=(64, 48))
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NNCF_CI", "TF_BUILD", "JENKINS_URL")}
    env.update(HOME=str(home), VSR_TEST_NETWORK_LOG=str(log),
               PYTHONPATH=os.pathsep.join(filter(None, [str(AUDIT), env.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "vsr", "upscale", str(src), str(out), "--backend", backend,
                             "--device", "cpu", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    said: list[tuple[float, bytes]] = []

    def read() -> None:  # a child that inherited stdout keeps the pipe open: read apart from waiting
        for line in proc.stdout:
            said.append((time.monotonic(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=240)
        exited = time.monotonic()
    finally:
        left = _session_members(proc.pid)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    assert code == 0, proc.stderr.read().decode()
    reader.join(timeout=5)
    summary = json.loads(b"".join(line for _, line in said))
    assert summary["backend"] in ("openvino", "openvino-int8")
    assert exited - said[-1][0] < 5, "the run went on after printing its summary"
    assert left == [], f"processes left behind: {left}"
    assert not log.exists(), f"network attempts:\n{log.read_text()}"
    assert not (home / "intel").exists(), "OpenVINO's telemetry kept its client id and statistics in HOME"


def test_a_process_forked_from_a_vsr_process_gets_the_default_signal_handlers():
    """vsr's handlers unwind vsr's own work; a forked copy (a library's helper) must die on
    SIGTERM like any process, not run them or, deadlocked, ignore the signal."""
    script = r"""
import os, signal, threading, time
from vsr.runtime import stops
stops.install(signal.SIGTERM, lambda s, f: print("vsr's handler ran", flush=True))
stops.install(signal.SIGHUP, lambda s, f: None)
def fork_from_a_thread():
    pid = os.fork()
    if pid == 0:
        default = all(signal.getsignal(s) is signal.SIG_DFL for s in (signal.SIGTERM, signal.SIGHUP))
        print("child:", default, flush=True)
        time.sleep(30)
        os._exit(0)
    time.sleep(0.5)
    os.kill(pid, signal.SIGTERM)
    print("child ended by", os.waitpid(pid, 0)[1], flush=True)
thread = threading.Thread(target=fork_from_a_thread)
thread.start()
thread.join()
print("parent keeps vsr's:", signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.splitlines() == ["child: True", f"child ended by {signal.SIGTERM}", "parent keeps vsr's: True"]
