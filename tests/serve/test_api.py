"""The job API through Starlette's test client: each endpoint, each refusal, and jobs that give what
the CLI gives."""

from __future__ import annotations

import json
import os
import signal
import time

import av
import numpy as np
import pytest

from clips import make_clip
from vsr.cli import main
from webapp import PORT, make_app, wait_for

OPTIONS = {"model": "tiny-x4", "codec": "ffv1", "precision": "fp32"}


def _frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# -- the page -----------------------------------------------------------------------------------

def test_the_page_and_its_files_come_with_strict_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    info = client.get("/api/info").json()
    assert {"realesr-animevideov3", "tiny-x4"} <= {m["name"] for m in info["models"]}
    assert "segment_seconds" in info["options"] and "mkv" in info["formats"]


def test_unknown_paths_and_methods_are_one_sentence(client):
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.json()["error"].startswith("nothing here")
    assert client.put("/api/jobs").status_code == 405


# -- who may ask ----------------------------------------------------------------------------------

def test_a_foreign_host_is_refused(client):
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends its own name."""
    refused = client.get("/api/info", headers={"Host": "evil.example"})
    assert refused.status_code == 403 and "host" in refused.json()["error"]
    assert client.get("/api/info", headers={"Host": f"localhost:{PORT}"}).status_code == 200


def test_a_foreign_origin_may_not_change_anything(client, served):
    make_clip(served["root"] / "a.mp4", frames=3)
    body = {"input": str(served["root"] / "a.mp4"), "options": OPTIONS}
    refused = client.post("/api/jobs", json=body, headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and "evil.example" in refused.json()["error"]
    cross_site = client.post("/api/jobs", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    assert client.get("/api/jobs", headers={"Origin": "http://evil.example"}).status_code == 200  # reading is not changing
    same = client.post("/api/jobs", json=body, headers={"Origin": f"http://127.0.0.1:{PORT}"})
    assert same.status_code == 201


def test_api_bodies_are_json_only(client, served):
    make_clip(served["root"] / "a.mp4", frames=3)
    form = client.post("/api/jobs", content=f"input={served['root'] / 'a.mp4'}",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    broken = client.post("/api/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]


def test_a_token_is_exchanged_for_a_strict_cookie_and_compared_on_every_request(served):
    from starlette.testclient import TestClient

    with TestClient(make_app(served, token="s3cret").starlette, base_url=f"http://127.0.0.1:{PORT}") as c:
        assert c.get("/api/info").status_code == 401
        assert c.get("/api/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/info", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        landing = c.get("/?token=s3cret", follow_redirects=False)
        assert landing.status_code == 303 and landing.headers["location"] == "/"
        cookie = landing.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/api/info").status_code == 200  # the cookie, from now on
        c.cookies.clear()
        assert c.get("/?token=wrong", follow_redirects=False).status_code == 401


def test_a_server_other_machines_can_reach_needs_a_token(tmp_path, capsys):
    from vsr.errors import InputError
    from vsr.serve.config import ServeConfig

    with pytest.raises(InputError, match="needs a `token`"):
        ServeConfig(host="0.0.0.0", state=tmp_path)
    ServeConfig(host="0.0.0.0", token="t", state=tmp_path)
    ServeConfig(host="::1", state=tmp_path)  # loopback
    assert main(["serve", "--host", "0.0.0.0", "--token", "", "--port", "0"]) == 2
    assert "--host 0.0.0.0: a server other machines can reach needs a --token" in capsys.readouterr().err


# -- inputs ----------------------------------------------------------------------------------------

def test_paths_outside_the_roots_are_refused_symlinks_included(client, served, tmp_path):
    outside = tmp_path / "outside.mp4"
    make_clip(outside, frames=3)
    (served["root"] / "link.mp4").symlink_to(outside)
    (served["root"] / "sub").mkdir()
    make_clip(served["root"] / "sub" / "ok.mp4", frames=3)
    for given in (str(outside), str(served["root"] / "link.mp4"), str(served["root"] / ".." / "outside.mp4"),
                  "../outside.mp4", "/etc/passwd"):
        refused = client.post("/api/jobs", json={"input": given, "options": OPTIONS})
        assert refused.status_code == 403, given
        assert client.get("/api/probe", params={"input": given}).status_code == 403
    assert client.post("/api/jobs", json={"input": "sub/ok.mp4", "options": OPTIONS}).status_code == 201
    listing = client.get("/api/files", params={"path": str(served["root"])}).json()
    assert [e["name"] for e in listing["entries"]] == ["sub"]  # the link out is not listed
    assert client.get("/api/files", params={"path": str(tmp_path)}).status_code == 403


def test_uploads_stream_to_disk_under_their_base_name_and_a_cap(served, tmp_path):
    from starlette.testclient import TestClient

    src = tmp_path / "clip.mp4"
    make_clip(src, frames=3)
    data = src.read_bytes()
    with TestClient(make_app(served, max_upload_bytes=len(data)).starlette,
                    base_url=f"http://127.0.0.1:{PORT}") as c:
        done = c.post("/api/uploads", params={"name": "../../evil/clip.mp4"}, content=data)
        assert done.status_code == 201 and done.json()["bytes"] == len(data)
        stored = served["state"] / "uploads" / done.json()["upload"] / "clip.mp4"
        assert stored.read_bytes() == data
        probe = c.get("/api/probe", params={"upload": done.json()["upload"]}).json()
        assert probe["kind"] == "video" and probe["width"] == 32 and probe["frames"] == 3
        over = c.post("/api/uploads", params={"name": "big.mp4"}, content=data + b"\0")
        assert over.status_code == 413 and "bytes" in over.json()["error"]

        def chunks():  # no Content-Length: the cap is counted while streaming
            yield data
            yield b"\0" * 10

        streamed = c.post("/api/uploads", params={"name": "big.mp4"}, content=chunks())
        assert streamed.status_code == 413
        assert c.post("/api/uploads", params={"name": "notes.txt"}, content=b"hi").status_code == 400
    assert not list((served["state"] / "uploads").rglob("*.part"))
    assert len(list((served["state"] / "uploads").iterdir())) == 1  # refused uploads leave no folder


# -- options ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "said"), [
    ({"model": "/tmp/evil.pth"}, "not in the catalogue"),
    ({"work_dir": "/tmp"}, "unknown option 'work_dir'"),
    ({"scale": "2"}, "option scale: '2' is not a"),
    ({"crf": True}, "option crf: True is not a"),
    ({"precision": "fp8"}, "invalid precision 'fp8'"),
    ({"temporal_blend": 1.5}, "invalid temporal_blend 1.5"),
])
def test_bad_options_are_one_sentence(client, served, options, said):
    make_clip(served["root"] / "a.mp4", frames=3)
    refused = client.post("/api/jobs", json={"input": "a.mp4", "options": options})
    assert refused.status_code == 400 and said in refused.json()["error"], refused.json()


def test_presets_are_saved_checked_and_listed(client):
    assert client.put("/api/presets/anime", json={"options": {"crf": 18, "model": "tiny-x4"}}).status_code == 200
    assert client.get("/api/presets").json()["presets"] == {"anime": {"crf": 18, "model": "tiny-x4"}}
    assert client.put("/api/presets/bad", json={"options": {"crf": -1}}).status_code == 400
    assert client.delete("/api/presets/anime").status_code == 204
    assert client.delete("/api/presets/anime").status_code == 404


# -- jobs ------------------------------------------------------------------------------------------

def test_a_job_gives_the_clis_frames_and_its_result_by_id_with_ranges(client, served, tmp_path):
    src = served["root"] / "clip.mp4"
    make_clip(src, frames=10, size=(48, 32), options={"g": "4"})
    made = client.post("/api/jobs", json={"input": str(src), "output": "clip-x4.mkv",
                                          "options": {**OPTIONS, "segment_seconds": 0.15}})
    assert made.status_code == 201 and made.json()["state"] == "queued"
    job = wait_for(client, made.json()["id"])
    assert job["state"] == "done", job
    assert job["frames_done"] == job["frames_total"] == 10 and job["summary"]["segments"] >= 2
    result = client.get(f"/api/jobs/{job['id']}/result")
    assert result.status_code == 200
    got = tmp_path / "got.mkv"
    got.write_bytes(result.content)
    cli = tmp_path / "cli.mkv"
    assert main(["upscale", str(src), str(cli), "--model", "tiny-x4", "--codec", "ffv1", "--precision", "fp32",
                 "--segment-seconds", "0.15", "--quiet"]) == 0
    assert all(np.array_equal(a, b) for a, b in zip(_frames(got), _frames(cli), strict=True))
    part = client.get(f"/api/jobs/{job['id']}/result", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == result.content[:100]
    listed = client.get("/api/jobs").json()
    assert listed["jobs"][0]["id"] == job["id"] and listed["queue"]["queued"] == 0


def test_a_job_that_fails_fails_alone_with_vsrs_message(client, served):
    (served["root"] / "broken.mp4").write_bytes(b"\0" * 2000)
    refused = client.post("/api/jobs", json={"input": "broken.mp4", "options": OPTIONS})
    assert refused.status_code == 422 and "broken.mp4" in refused.json()["error"]
    make_clip(served["root"] / "ok.mp4", frames=3)
    ok = client.post("/api/jobs", json={"input": "ok.mp4", "options": OPTIONS}).json()
    assert wait_for(client, ok["id"])["state"] == "done"


def test_queued_jobs_move_cancel_retry_and_delete(client, served):
    make_clip(served["root"] / "long.mp4", frames=150, size=(96, 64))
    make_clip(served["root"] / "a.mp4", frames=3)
    first = client.post("/api/jobs", json={"input": "long.mp4", "options": OPTIONS}).json()["id"]
    second = client.post("/api/jobs", json={"input": "a.mp4", "output": "a1.mkv", "options": OPTIONS}).json()["id"]
    third = client.post("/api/jobs", json={"input": "a.mp4", "output": "a2.mkv", "options": OPTIONS}).json()["id"]
    wait_for(client, first, states=("running",))
    assert client.post(f"/api/jobs/{third}/move", json={"to": 0}).status_code == 200
    order = [j["id"] for j in client.get("/api/jobs").json()["jobs"]]
    assert order.index(third) < order.index(second)
    assert client.post(f"/api/jobs/{first}/move", json={"to": 0}).status_code == 409  # running
    cancelled = client.post(f"/api/jobs/{first}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.post(f"/api/jobs/{first}/cancel").status_code == 409
    for job in (third, second):
        assert wait_for(client, job)["state"] == "done"
    retried = client.post(f"/api/jobs/{first}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "queued"
    client.post(f"/api/jobs/{first}/cancel")
    output = served["state"] / "outputs" / second
    assert output.is_dir()
    assert client.delete(f"/api/jobs/{second}").status_code == 204
    assert not output.exists() and client.get(f"/api/jobs/{second}").status_code == 404
    assert client.get(f"/api/jobs/{second}/result").status_code == 404


def test_events_send_a_whole_snapshot_then_changes(client, served):
    make_clip(served["root"] / "a.mp4", frames=3)
    job = client.post("/api/jobs", json={"input": "a.mp4", "options": OPTIONS}).json()["id"]
    seen = []
    with client.stream("GET", f"/api/jobs/{job}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
    assert seen[-1]["state"] == "done" and seen[-1]["summary"]["frames"] == 3
    assert len(seen) >= 2 and seen[0]["state"] in ("queued", "running")
    with client.stream("GET", "/api/events") as stream:
        first = next(line for line in stream.iter_lines() if line.startswith("data: "))
    snapshot = json.loads(first[6:])
    assert [j["id"] for j in snapshot["jobs"]] == [job] and snapshot["queue"]["running"] == 0


# -- previews --------------------------------------------------------------------------------------

def test_a_preview_is_one_frame_before_and_after_at_the_output_size_and_cached(client, served):
    from PIL import Image

    make_clip(served["root"] / "a.mp4", frames=25, size=(48, 32))
    body = {"input": "a.mp4", "time": 0.5, "options": {"model": "tiny-x4", "scale": 2}}
    start = time.monotonic()
    shown = client.post("/api/preview", json=body)
    took = time.monotonic() - start
    assert shown.status_code == 200, shown.json()
    p = shown.json()
    assert (p["width"], p["height"]) == (96, 64) and p["time"] == pytest.approx(0.52, abs=0.05)
    for which in ("before", "after"):
        image = client.get(p[which])
        assert image.headers["content-type"] == "image/png"
        (served["state"] / f"{which}.png").write_bytes(image.content)
        assert Image.open(served["state"] / f"{which}.png").size == (96, 64)
    start = time.monotonic()
    assert client.post("/api/preview", json=body).json() == p
    assert time.monotonic() - start < max(0.5, took)  # from the cache
    assert client.get("/api/previews/../../jobs.sqlite/after.png").status_code == 404
    assert client.post("/api/preview", json={**body, "time": -1}).status_code == 400


# -- restarts --------------------------------------------------------------------------------------

def test_a_killed_server_started_again_resumes_its_running_job(live, served):
    """SIGKILL: the worker goes with its server (it is told to stop, keeps its finished segments),
    and the next start resumes the job from them."""
    import httpx

    make_clip(served["root"] / "long.mp4", frames=240, size=(96, 64), options={"g": "5"})
    server = live()
    made = httpx.post(f"{server.url}/api/jobs", json={
        "input": "long.mp4", "options": {**OPTIONS, "segment_seconds": 0.2}}).json()
    work = served["state"] / "outputs" / made["id"] / ".long.mkv.vsr-work" / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if work.is_file() and any(s["done"] for s in json.loads(work.read_text())["segments"]):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("no segment finished")
    pid = httpx.get(f"{server.url}/api/jobs").json()
    server.stop(signal.SIGKILL)
    again = live()
    job = httpx.get(f"{again.url}/api/jobs/{made['id']}").json()
    deadline = time.monotonic() + 120
    while job["state"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = httpx.get(f"{again.url}/api/jobs/{made['id']}").json()
    assert job["state"] == "done", job
    assert job["summary"]["segments_resumed"] >= 1 and job["summary"]["frames"] == 240
    assert "resumes from its finished segments" in job["note"]
    assert pid is not None


def test_ctrl_c_stops_the_server_within_seconds_with_a_stream_open(live, served):
    import httpx

    make_clip(served["root"] / "long.mp4", frames=600, size=(128, 96), options={"g": "5"}, audio_tracks=0)
    server = live()
    made = httpx.post(f"{server.url}/api/jobs", json={
        "input": "long.mp4", "options": {**OPTIONS, "segment_seconds": 0.2}}).json()
    with httpx.stream("GET", f"{server.url}/api/events", timeout=30) as stream:
        lines = stream.iter_lines()
        next(line for line in lines if line.startswith("data: "))
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/api/jobs/{made['id']}").json()["frames_done"] < 10:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        took = server.stop(signal.SIGINT)
    assert took < 5, f"Ctrl-C took {took:.1f} s"
    assert server.process.returncode in (0, -signal.SIGINT, 130)
    from vsr.serve.store import Store

    job = Store(served["state"] / "jobs.sqlite").job(made["id"])
    assert job is not None and job.state == "queued" and "resumes" in (job.note or "")
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_worker(p, made["id"])]


def _is_worker(pid: str, job_id: str) -> bool:
    try:
        return job_id.encode() in open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return False


def test_an_upload_short_of_disk_is_refused_up_front(client, monkeypatch):
    from collections import namedtuple

    from vsr.serve import app as app_module

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(app_module.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1000))
    refused = client.post("/api/uploads", params={"name": "clip.mp4"}, content=b"\0" * 5000)
    assert refused.status_code == 507 and "disk" in refused.json()["error"]


def test_an_upload_the_client_abandons_leaves_nothing(live, served):
    """The connection dropped half-way: the .part file and its folder go."""
    import socket
    from urllib.parse import urlsplit

    server = live()
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    with socket.create_connection((host, port)) as conn:
        conn.sendall(f"POST /api/uploads?name=clip.mp4 HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n".encode())
        conn.sendall(b"\0" * 300_000)
        deadline = time.monotonic() + 10
        while not list((served["state"] / "uploads").rglob("*.part")):
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while list((served["state"] / "uploads").iterdir()):
        assert time.monotonic() < deadline, list((served["state"] / "uploads").rglob("*"))
        time.sleep(0.1)
