"""The progress bar vsr shows on stderr for frames (tqdm)."""

from __future__ import annotations

import sys
import threading
from typing import Any


def frame_bar(total: int, *, enabled: bool, initial: int = 0) -> Any:
    """A bar of frames done; `total` 0 when unknown. tqdm's lock is a thread lock: its default,
    a multiprocessing one, starts a resource tracker that reports the lock as leaked when a run
    with worker processes is interrupted."""
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    return tqdm(total=total or None, initial=initial, unit="frame", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, leave=False)
