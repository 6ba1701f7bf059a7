"""The web app's tests: an app over a fresh state folder, a root folder of inputs, and the tiny
model imported into the catalogue (the web takes catalogue names only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from webapp import PORT, LiveServer, make_app

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture
def served(tmp_path, vsr_home, tiny_model) -> dict[str, Path]:
    from vsr.models.catalogue import import_model

    import_model(tiny_model)
    root = tmp_path / "root"
    root.mkdir()
    return {"root": root, "state": vsr_home / "serve"}


@pytest.fixture
def client(served):
    from starlette.testclient import TestClient

    with TestClient(make_app(served).starlette, base_url=f"http://127.0.0.1:{PORT}") as test_client:
        yield test_client


@pytest.fixture
def live(served) -> Iterator[type[LiveServer]]:
    started: list[LiveServer] = []

    class Tracked(LiveServer):
        def __init__(self, *args: str) -> None:
            super().__init__(served["state"], served["root"], *args)
            started.append(self)

    yield Tracked
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
