"""One job of the server, in a process of its own: `python -m vsr.serve.worker STATE JOB_ID`.

It runs the job through `vsr.Job` (segments, resume, workers: as `vsr upscale` does) and writes
its progress to the job table a few times a second. SIGTERM stops it as Ctrl-C stops the CLI:
nothing half-written stays, finished segments are kept. It ends with its server, however the
server ends (a SIGKILL included), and the job is then queued again to resume.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from vsr.errors import Cancelled, VsrError
from vsr.pipeline import Job, Progress, Summary
from vsr.serve.store import Store
from vsr.serve.web_options import upscale_options

WRITE_EVERY = 0.25  # seconds between progress writes: the page updates a few times a second


def _die_with_parent(parent: int) -> None:
    """SIGTERM when the server's process ends, however it ends (Linux); elsewhere the server's
    start finds the job still marked running and queues it again."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run(state: Path, job_id: str, parent: int) -> int:
    store = Store(state / "jobs.sqlite")
    row = store.job(job_id)
    if row is None:
        return 2
    last = [0.0]

    def told(p: Progress) -> None:
        now = time.monotonic()
        if p.stage == "upscaling" and now - last[0] < WRITE_EVERY and p.frames_done != p.frames_total:
            return
        last[0] = now
        store.update(job_id, stage=p.stage, frames_done=p.frames_done, frames_total=p.frames_total, fps=p.fps,
                     eta_seconds=p.eta_seconds, warnings=list(p.warnings))

    job = Job(row.input, row.output, upscale_options(row.options), on_event=told)
    signal.signal(signal.SIGTERM, lambda *_: job.cancel())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides
    _die_with_parent(parent)
    Path(row.output).parent.mkdir(parents=True, exist_ok=True)
    try:
        result = job.run()
    except Cancelled:
        # Cancelled by the user (the server marked it so first), or stopped with the server: then
        # it is queued again and resumes from its finished segments on the next start.
        current = store.job(job_id)
        if current is not None and current.state == "running":
            store.requeue_first(job_id, "interrupted when the server stopped; resumes from its finished segments")
        return 0
    except VsrError as exc:
        store.update(job_id, state="failed", error=exc.plain, finished=time.time(), pid=None)
        return 1
    except Exception as exc:  # a bug: still one line for the page
        store.update(job_id, state="failed", error=f"unexpected {type(exc).__name__}: {exc}", finished=time.time(),
                     pid=None)
        return 1
    summary: Any = result.as_dict() if isinstance(result, Summary) else {"files": list(result.as_rows())}
    store.update(job_id, state="done", stage="done", summary=summary, finished=time.time(), pid=None,
                 frames_done=job.progress.frames_done, eta_seconds=0)
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
