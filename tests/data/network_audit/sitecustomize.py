"""Loaded by every Python process started with this folder on PYTHONPATH (tests/test_offline.py):
each attempt to reach the network is written to the file named by VSR_TEST_NETWORK_LOG. Python's
audit events cover name lookups, connections and urllib requests, in forked children too."""

import os
import sys

_LOG = os.environ.get("VSR_TEST_NETWORK_LOG")
_NETWORK = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto",
            "socket.sendmsg", "urllib.Request", "http.client.connect")


def _audit(event: str, args: tuple) -> None:
    if _LOG and event in _NETWORK:
        with open(_LOG, "a") as log:
            log.write(f"{os.getpid()} {event} {args!r:.300}\n")


sys.addaudithook(_audit)
