"""Segments: a long video cut at keyframes, done piece by piece (resumable, over workers or a
Ray cluster) and joined by a remux, gives what one stream gives."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import make_clip, stream_packets, video_timing
from vsr.pipeline import ExecutionOptions, RuntimeOptions, UpscaleOptions, VideoEncoding, upscale

KEYS = {"g": "7"}  # a keyframe every 7 frames, so short clips have several segments
SEGMENT = 0.3  # seconds: 8-frame segments at 25 fps


def _options(model: Path, *, seconds: float = SEGMENT, codec: str | None = None, workers: int | None = None,
             executor: str = "local", blend: float = 0.0, **execution) -> UpscaleOptions:
    return UpscaleOptions(runtime=RuntimeOptions(model=str(model), precision="fp32"), video=VideoEncoding(codec=codec),
                          temporal_blend=blend,
                          execution=ExecutionOptions(segment_seconds=seconds, workers=workers, executor=executor,
                                                     **execution))


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb48le" if "10" in f.format.name else "rgb24") for f in c.decode(video=0)]


def _tags(path: Path):
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        rotation = next(c.decode(video=0)).rotation
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        return (int(ctx.colorspace), int(ctx.color_primaries), int(ctx.color_trc), int(ctx.color_range), ctx.pix_fmt,
                ctx.sample_aspect_ratio, rotation)


@pytest.mark.parametrize(("name", "kwargs", "suffix"), [
    ("vfr-offset", {"durations_ms": (20, 60, 35, 41), "start_ms": 1500, "audio_tracks": 1}, ".mp4"),
    ("two-audio-90k", {"audio_tracks": 2, "time_base": Fraction(1, 90000)}, ".mkv"),
    ("10bit", {"pix_fmt": "yuv420p10le", "audio_tracks": 1}, ".mkv"),
    ("bt709-rotated", {"colorspace": 1, "rotation": 90, "sar": Fraction(4, 3)}, ".mp4"),
    ("subtitles", {"subtitles": True}, ".mkv"),
])
def test_segments_give_what_one_stream_gives(tmp_path, tiny_model, name, kwargs, suffix):
    src = tmp_path / f"in{suffix}"
    make_clip(src, frames=30, size=(48, 32), options=KEYS, **kwargs)
    one, cut = tmp_path / f"one{suffix}", tmp_path / f"cut{suffix}"
    # ffv1 is lossless and intra-only: one stream and segments must decode to the same pixels.
    told: dict[str, list[int]] = {"one": [], "cut": []}  # the caller's own count of frames written
    whole = upscale(src, one, _options(tiny_model, seconds=0, codec="ffv1"), progress=False,
                    on_frames=told["one"].append)
    parts = upscale(src, cut, _options(tiny_model, codec="ffv1"), progress=False, on_frames=told["cut"].append)
    assert whole.segments == 1 and parts.segments >= 3 and parts.frames == whole.frames == 30
    assert sum(told["one"]) == sum(told["cut"]) == 30 and len(told["one"]) == 30
    assert video_timing(cut) == video_timing(one) == video_timing(src)
    assert stream_packets(cut, "audio") == stream_packets(one, "audio")
    assert stream_packets(cut, "subtitle") == stream_packets(one, "subtitle")
    assert _tags(cut) == _tags(one)
    with av.open(str(cut)) as a, av.open(str(one)) as b:
        assert a.metadata.get("title") == b.metadata.get("title") == "vsr test clip"
        assert len(a.streams) == len(b.streams)
    assert all(np.array_equal(a, b) for a, b in zip(_frames(cut), _frames(one), strict=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, one.name, cut.name])  # no work folder left


def test_segments_with_b_frames_join_into_one_valid_stream(tmp_path, tiny_model):
    """libx264 with B-frames: each segment's encoder reorders on its own; the joined stream's
    decode timestamps must still be monotonic and before presentation, and every frame decode."""
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=40, durations_ms=(40, 40, 20, 60), size=(48, 32), options=KEYS, audio_tracks=1)
    summary = upscale(src, out, _options(tiny_model), progress=False)
    assert summary.segments >= 3 and summary.frames == 40
    with av.open(str(out)) as c:
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
        assert all(a.dts < b.dts for a, b in itertools.pairwise(packets))
        assert all(p.dts <= p.pts for p in packets)
    assert video_timing(out) == video_timing(src)
    assert stream_packets(out, "audio") == stream_packets(src, "audio")


def test_temporal_blend_does_not_depend_on_the_cuts(tmp_path, tiny_model):
    """Each segment first runs the frames just before it through the blend (not written), so
    what the blend remembers at a cut is what one stream would remember, within a level."""
    src = tmp_path / "in.mkv"
    make_clip(src, frames=30, size=(48, 32), options=KEYS, audio_tracks=0)
    one, cut = tmp_path / "one.mkv", tmp_path / "cut.mkv"
    upscale(src, one, _options(tiny_model, seconds=0, codec="ffv1", blend=0.5), progress=False)
    assert upscale(src, cut, _options(tiny_model, codec="ffv1", blend=0.5), progress=False).segments >= 3
    worst = max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(_frames(cut), _frames(one), strict=True))
    assert worst <= 1


def _same_pictures(a: Path, b: Path) -> None:
    """Lossless outputs of the same frames: equal but for the last bit of a convolution summed in
    another order (a worker's share of the cores sets how oneDNN splits the work)."""
    pairs = list(zip(_frames(a), _frames(b), strict=True))
    assert max(np.abs(x.astype(int) - y.astype(int)).max() for x, y in pairs) <= 1
    assert np.mean([np.mean(x != y) for x, y in pairs]) < 0.01


def test_two_workers_give_what_one_gives(tmp_path, tiny_model):
    src = tmp_path / "in.mkv"
    make_clip(src, frames=30, size=(48, 32), options=KEYS, audio_tracks=1)
    one, two = tmp_path / "one.mkv", tmp_path / "two.mkv"
    a = upscale(src, one, _options(tiny_model, workers=1, codec="ffv1"), progress=False)
    b = upscale(src, two, _options(tiny_model, workers=2, codec="ffv1"), progress=False)
    assert (a.workers, b.workers, a.executor, b.executor) == (1, 2, "local", "local")
    assert a.segments == b.segments >= 3
    assert video_timing(two) == video_timing(one) and stream_packets(two, "audio") == stream_packets(one, "audio")
    _same_pictures(two, one)


def test_workers_from_the_command_line(tmp_path, tiny_model):
    """`python -m vsr` with worker processes: each imports vsr's entry point again, which must
    not run the command a second time."""
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=30, size=(48, 32), options=KEYS, audio_tracks=1)
    run = subprocess.run(_command(src, out, tiny_model, "--workers", "2"), capture_output=True, text=True, check=True)
    summary = json.loads(run.stdout)
    assert (summary["workers"], summary["frames"]) == (2, 30) and summary["segments"] >= 3
    assert video_timing(out) == video_timing(src) and stream_packets(out, "audio") == stream_packets(src, "audio")


# ---------------------------------------------------------------- resume


def _command(src: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vsr", "upscale", str(src), str(out), "--model", str(model), "--precision", "fp32",
            "--segment-seconds", str(SEGMENT), "--json", *extra]


def _in_process(capfd: pytest.CaptureFixture[str], command: list[str]) -> subprocess.CompletedProcess[str]:
    """`command` (a `python -m vsr` line) run by vsr's CLI in this process, returned as
    `subprocess.run(..., check=True)` would: where the test is not about processes, a new one
    only costs torch's import (4 s on a slow CPU)."""
    from vsr.cli import main

    capfd.readouterr()
    code = main(command[3:])
    out, err = capfd.readouterr()
    assert code == 0, err
    return subprocess.CompletedProcess(command, code, out, err)


def _work(out: Path) -> Path:
    return out.with_name(f".{out.name}.vsr-work")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _interrupt(command: list[str], out: Path, how: signal.Signals, *, done: int = 2) -> int:
    """Start the command, stop it with `how` once `done` segments are finished; how many were.
    Worker processes must not outlive it."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = _work(out) / "manifest.json"
    deadline = time.monotonic() + 120
    finished = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            finished = sum(1 for s in json.loads(manifest.read_text())["segments"] if s["done"])
        except (OSError, ValueError, KeyError):
            finished = 0
        if finished >= done:
            break
        time.sleep(0.02)
    workers = _children(proc.pid)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, "the run ended before it could be interrupted"
    if how == signal.SIGINT:
        assert proc.returncode == 130 and err.strip().splitlines()[-1] == "vsr: error: interrupted", err
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker outlived its driver"
    return sum(1 for s in json.loads(manifest.read_text())["segments"] if s["done"])


@pytest.fixture
def long_clip(tmp_path) -> Path:
    src = tmp_path / "in.mp4"
    make_clip(src, frames=90, size=(96, 64), options=KEYS, audio_tracks=1)
    return src


@pytest.mark.parametrize(("how", "workers"), [(signal.SIGINT, "1"), (signal.SIGINT, "2"), (signal.SIGKILL, "2")])
def test_an_interrupted_run_resumes_and_redoes_only_the_rest(tmp_path, long_clip, tiny_model, how, workers, capfd):
    out, reference = tmp_path / "out.mp4", tmp_path / "reference.mp4"
    finished = _interrupt(_command(long_clip, out, tiny_model, "--workers", workers), out, how)
    assert finished >= 2 and not out.exists()
    if how == signal.SIGINT:  # stopped, not killed: what was being written is gone with its writer
        names = {p.name for p in _work(out).iterdir()} - {"manifest.json"}
        videos = {n.removesuffix(".mkv") for n in names if n.endswith(".mkv")}
        # Whole segments only (some finished after the driver stopped listening: the next run,
        # which did not record them, removes them).
        assert names == {f"{v}{ext}" for v in videos for ext in (".mkv", ".timing.json")}, names
        assert all(v.startswith("segment-") for v in videos)
    run = _in_process(capfd, _command(long_clip, out, tiny_model))
    summary = json.loads(run.stdout)
    assert summary["segments_resumed"] == finished < summary["segments"]  # the rest, and only the rest, redone
    assert f"resuming: {finished} of {summary['segments']} segments done" in run.stderr
    assert not _work(out).exists()
    _in_process(capfd, _command(long_clip, reference, tiny_model))
    assert video_timing(out) == video_timing(reference) == video_timing(long_clip)
    assert stream_packets(out, "audio") == stream_packets(long_clip, "audio")
    assert all(np.array_equal(a, b) for a, b in zip(_frames(out), _frames(reference), strict=True))


def _done(manifest: Path) -> int:
    return sum(1 for s in json.loads(manifest.read_text())["segments"] if s["done"])


def test_a_lost_local_worker_stops_the_run_in_words_and_the_next_resumes(tmp_path, tiny_model, capfd):
    long_clip, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(long_clip, frames=90, size=(192, 128), options=KEYS, audio_tracks=1)  # segments that take a while
    proc = subprocess.Popen(_command(long_clip, out, tiny_model, "--workers", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    manifest = _work(out) / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if any(s["done"] for s in json.loads(manifest.read_text())["segments"]):
                break
        time.sleep(0.02)
    workers = [pid for pid in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert proc.poll() is None and len(workers) == 2
    before = _done(manifest)
    os.kill(workers[0], signal.SIGKILL)  # the other goes on sending progress: the loss must still be seen
    _, err = proc.communicate(timeout=60)
    total = len(json.loads(manifest.read_text())["segments"])
    assert _done(manifest) <= before + 2 < total - 2, "the run went on without the lost worker"
    assert proc.returncode == 1, err
    # vsr's last word is the error. After it, CPython's resource tracker (its own process, which
    # outlives vsr) may warn of a queue semaphore when a worker was SIGKILLed: seen once in a
    # full suite on a loaded 2-core VM, never in 14 runs of this scenario alone.
    ours = [line for line in err.strip().splitlines() if "resource_tracker" not in line]
    assert ours[-1].startswith("vsr: error: a worker process stopped (signal 9) with "), err
    assert ours[-1].endswith("job(s) left; run the same command again to resume"), err
    run = _in_process(capfd, _command(long_clip, out, tiny_model))
    assert json.loads(run.stdout)["segments_resumed"] >= 1 and video_timing(out) == video_timing(long_clip)


def test_a_damaged_segment_is_done_again(tmp_path, long_clip, tiny_model, capfd):
    out = tmp_path / "out.mp4"
    finished = _interrupt(_command(long_clip, out, tiny_model), out, signal.SIGKILL)
    damaged = _work(out) / "segment-00000.mkv"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    run = _in_process(capfd, _command(long_clip, out, tiny_model))
    assert "segment 1 of" in run.stderr and "damaged or missing: doing it again" in run.stderr
    summary = json.loads(run.stdout)
    assert summary["segments_resumed"] == finished - 1 and summary["frames"] == 90
    assert video_timing(out) == video_timing(long_clip)


def test_a_manifest_that_cannot_be_trusted_starts_afresh(tmp_path, long_clip, tiny_model, capfd):
    out = tmp_path / "out.mp4"
    _interrupt(_command(long_clip, out, tiny_model), out, signal.SIGKILL)
    left = tmp_path / "left"
    shutil.copytree(_work(out), left)
    for damage in ("garbage", "a segment less", "wrong shape"):
        out.unlink(missing_ok=True)
        shutil.rmtree(_work(out), ignore_errors=True)
        shutil.copytree(left, _work(out))
        manifest = _work(out) / "manifest.json"
        data = json.loads(manifest.read_text())
        if damage == "garbage":
            manifest.write_bytes(b"\x00{not json")
        elif damage == "a segment less":
            data["segments"].pop()
            manifest.write_text(json.dumps(data))
        else:
            data["segments"] = {"0": data["segments"][0]}
            manifest.write_text(json.dumps(data))
        run = _in_process(capfd, _command(long_clip, out, tiny_model))
        assert "starting afresh:" in run.stderr and json.loads(run.stdout)["segments_resumed"] == 0, damage
        assert video_timing(out) == video_timing(long_clip)


def test_a_changed_option_or_input_or_no_resume_starts_afresh(tmp_path, long_clip, tiny_model, capfd):
    out = tmp_path / "out.mp4"
    _interrupt(_command(long_clip, out, tiny_model), out, signal.SIGKILL)
    left = tmp_path / "left"  # what the interrupted run left, for each case below
    shutil.copytree(_work(out), left)

    def again(*extra: str) -> subprocess.CompletedProcess[str]:
        out.unlink(missing_ok=True)
        shutil.rmtree(_work(out), ignore_errors=True)
        shutil.copytree(left, _work(out))
        return _in_process(capfd, _command(long_clip, out, tiny_model, *extra))

    run = again("--crf", "30")
    assert "starting afresh: the options changed (crf)" in run.stderr
    assert json.loads(run.stdout)["segments_resumed"] == 0
    run = again("--no-resume")
    assert "starting afresh: --no-resume" in run.stderr and json.loads(run.stdout)["segments_resumed"] == 0
    with long_clip.open("ab") as f:  # the same name, other content
        f.write(b"\0" * 16)
    os.utime(long_clip, ns=(time.time_ns(), time.time_ns() + 10**9))
    run = again()
    assert "starting afresh: the input changed" in run.stderr and json.loads(run.stdout)["segments_resumed"] == 0
    assert video_timing(out) == video_timing(long_clip)


def test_a_work_dir_of_ones_own_keeps_its_other_files(tmp_path, tiny_model):
    """Only the output's own folder in it is used and removed; outputs of one name from other
    folders get folders of their own."""
    from vsr.pipeline.segments.work_folder import work_dir

    src, out, work = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "scratch"
    make_clip(src, frames=20, size=(32, 24), options=KEYS, audio_tracks=0)
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    summary = upscale(src, out, _options(tiny_model, work_dir=work), progress=False)
    assert summary.segments >= 2 and sorted(p.name for p in work.iterdir()) == ["notes.txt"]
    assert not _work(out).exists()
    assert work_dir(tmp_path / "a" / "out.mp4", work) != work_dir(tmp_path / "b" / "out.mp4", work)


def test_two_runs_cannot_make_the_same_output_at_once(tmp_path, tiny_model, capfd):
    """While one run holds the output's lock, another is refused; the lock goes with its run."""
    from vsr.pipeline.segments.work_folder import claim

    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=20, size=(32, 24), options=KEYS, audio_tracks=0)
    with claim(out):  # as a first run making it holds it
        second = subprocess.run(_command(src, out, tiny_model), capture_output=True, text=True, check=False)
    assert second.returncode == 2 and "another vsr is making it right now" in second.stderr, second.stderr
    assert second.stderr.count("\n") == 1 and not out.exists() and not _work(out).exists()
    _in_process(capfd, _command(src, out, tiny_model))
    assert len(video_timing(out)) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]  # the lock is gone too


def test_segments_keep_the_users_auto_precision_for_int8_while_pinning_what_it_resolved_to(tmp_path, tiny_model,
                                                                                              monkeypatch):
    import dataclasses

    from vsr.pipeline.stream import one_stream as run

    built = []
    engine = run.Engine

    def recording(**kwargs):
        built.append((kwargs["dtype"], kwargs["quantise"]))
        return engine(**kwargs)

    monkeypatch.setattr(run, "Engine", recording)
    src = tmp_path / "in.mp4"
    make_clip(src, frames=16, size=(32, 24), options=KEYS)
    options = _options(tiny_model)
    for precision, quantise in (("auto", True), ("fp32", False)):
        built.clear()
        runtime = dataclasses.replace(options.runtime, precision=precision, backend="eager")
        summary = upscale(src, tmp_path / f"{precision}.mp4", dataclasses.replace(options, runtime=runtime),
                          progress=False)
        assert summary.segments >= 2 and built and all(q is quantise for _, q in built), built


def test_segments_report_the_precision_openvino_computed_in_and_say_why(tmp_path, tiny_model, monkeypatch):
    """What an engine says while it is built reaches the summary from a segmented run too, and
    the summary's precision is what the segments computed in, not what was asked for."""
    import dataclasses

    pytest.importorskip("openvino")
    from vsr.runtime import openvino

    hint = openvino.precision_hint
    monkeypatch.setattr(openvino, "precision_hint", lambda dtype, _: hint(dtype, ["FP32"]))  # no native bf16
    src = tmp_path / "in.mp4"
    make_clip(src, frames=16, size=(32, 24), options=KEYS)
    options = _options(tiny_model)
    runtime = dataclasses.replace(options.runtime, precision="bf16", backend="openvino")
    summary = upscale(src, tmp_path / "out.mp4", dataclasses.replace(options, runtime=runtime), progress=False)
    assert summary.segments >= 2 and (summary.backend, summary.precision) == ("openvino", "fp32")
    assert "this CPU does not compute bf16 natively: OpenVINO runs in fp32" in summary.warnings


def test_json_says_how_the_work_was_done(tmp_path, tiny_model, capfd):
    from vsr.cli import main

    src = tmp_path / "in.mp4"
    make_clip(src, frames=12, size=(32, 24), audio_tracks=0)
    assert main(["upscale", str(src), str(tmp_path / "out.mp4"), "--model", str(tiny_model), "--json", "--quiet"]) == 0
    row = json.loads(capfd.readouterr().out)
    assert (row["segments"], row["segments_resumed"], row["executor"], row["workers"]) == (1, 0, "local", 1)


# ---------------------------------------------------------------- Ray


def test_ray_gives_what_a_local_run_gives(tmp_path, tiny_model, ray_cluster):
    src = tmp_path / "in.mkv"
    make_clip(src, frames=30, size=(48, 32), options=KEYS, audio_tracks=1)
    local, on_ray = tmp_path / "local.mkv", tmp_path / "ray.mkv"
    upscale(src, local, _options(tiny_model, codec="ffv1"), progress=False)
    summary = upscale(src, on_ray, _options(tiny_model, executor="ray", workers=2, codec="ffv1"), progress=False)
    assert (summary.executor, summary.workers) == ("ray", 2) and summary.segments >= 3
    assert video_timing(on_ray) == video_timing(local) and stream_packets(on_ray, "audio") == stream_packets(local, "audio")
    _same_pictures(on_ray, local)


def _ray_workers() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"VsrWorker" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_lost_ray_worker_costs_no_frame(tmp_path, tiny_model, ray_cluster):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=120, size=(96, 64), options=KEYS, audio_tracks=1)
    command = _command(src, out, tiny_model, "--executor", "ray", "--workers", "2", "--ray-address", ray_cluster)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = _work(out) / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if any(s["done"] for s in json.loads(manifest.read_text())["segments"]) and _ray_workers():
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before a worker could be lost"
    os.kill(_ray_workers()[0], signal.SIGKILL)
    out_text, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    summary = json.loads(out_text)
    assert summary["frames"] == 120 and summary["executor"] == "ray"
    assert video_timing(out) == video_timing(src) and stream_packets(out, "audio") == stream_packets(src, "audio")


def test_sigterm_stops_a_ray_run_as_ctrl_c_does(tmp_path, tiny_model, ray_cluster):
    """ray.init put its own SIGTERM handler in place of vsr's: exit 15, no line."""
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=120, size=(96, 64), options=KEYS, audio_tracks=0)
    command = _command(src, out, tiny_model, "--executor", "ray", "--workers", "2", "--ray-address", ray_cluster,
                       "--quiet")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = _work(out) / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not manifest.exists():
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and err.strip() == "vsr: error: stopped by SIGTERM", err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.mp4.vsr-work", "in.mp4"]


def test_a_folder_spreads_over_ray(tmp_path, tiny_model, ray_cluster):
    from PIL import Image

    from vsr.pipeline import upscale_folder

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    make_clip(folder / "long.mp4", frames=30, size=(48, 32), options=KEYS, audio_tracks=1)
    make_clip(folder / "short.mkv", frames=4, size=(32, 24), audio_tracks=0)
    Image.new("RGB", (16, 12), "teal").save(folder / "still.png")
    (folder / "broken.mp4").write_text("not a video")
    report = upscale_folder(folder, out, _options(tiny_model, executor="ray", workers=2), progress=False)
    rows = {Path(r["input"]).name: r for r in report.as_rows()}
    assert "error" in rows["broken.mp4"] and len(report.failures) == 1
    assert rows["long.mp4"]["segments"] >= 3 and rows["long.mp4"]["executor"] == "ray"
    assert video_timing(out / "long.mp4") == video_timing(folder / "long.mp4")
    assert len(video_timing(out / "short.mkv")) == 4
    assert Image.open(out / "still.png").size == (64, 48)
    assert sorted(p.name for p in out.iterdir()) == ["long.mp4", "short.mkv", "still.png"]


def test_ray_missing_is_one_line(tmp_path, tiny_model, monkeypatch, capfd):
    from vsr.cli import main

    src = tmp_path / "in.mp4"
    make_clip(src, frames=4, size=(32, 24), audio_tracks=0)
    monkeypatch.setitem(sys.modules, "ray", None)  # not installed
    code = main(["upscale", str(src), str(tmp_path / "out.mp4"), "--model", str(tiny_model), "--executor", "ray"])
    err = capfd.readouterr().err
    assert code == 2 and "--executor ray needs Ray: pip install 'vsr[ray]'" in err and err.count("\n") == 1
