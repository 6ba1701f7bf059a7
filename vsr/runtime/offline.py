"""vsr sends nothing over the network, ever.

OpenVINO's model converter and NNCF report each conversion and quantisation to Google Analytics
through the `openvino_telemetry` package, unless the user has opted out account-wide or a CI
variable is set. The sending was worse than a privacy leak: it forks a process from a thread
pool, and a fork from vsr's threaded process deadlocked, so a finished run never exited (five
~680 MB children waiting forever on a lock, seen on a 2-core Zen 3).

Both libraries are written to run without that package (each imports it in a `try` and falls back
to a stub that sends nothing when it is missing), so vsr makes it missing for its own processes:
a `None` in `sys.modules` is Python's documented way to make an import fail. The documented
opt-out, `opt_in_out --opt_out`, is not used: it writes a consent file in the user's home that
every OpenVINO tool on the account reads, and a user who had opted in for other tools would
still have vsr send.
"""

from __future__ import annotations

import sys

TELEMETRY_PACKAGE = "openvino_telemetry"


def telemetry_off() -> None:
    """Make `openvino_telemetry` unimportable in this process, before OpenVINO's converter or NNCF
    is imported. A program that imported the package itself keeps it (its own choice)."""
    sys.modules.setdefault(TELEMETRY_PACKAGE, None)  # type: ignore[arg-type]
