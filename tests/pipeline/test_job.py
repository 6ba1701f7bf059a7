"""vsr.Job: one upscale run and watched through its events, cancelled from another thread, and
resumed by a new job with the same options."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

import vsr
from clips import make_clip, video_timing
from vsr.pipeline import ExecutionOptions, Progress, RuntimeOptions, UpscaleOptions
from vsr.pipeline.progress import RATE_WINDOW, Tracker

KEYS = {"g": "7"}  # a keyframe every 7 frames: short clips have several segments


def _options(model: Path, *, seconds: float = 0.3, workers: int | None = None) -> UpscaleOptions:
    return UpscaleOptions(runtime=RuntimeOptions(model=str(model), precision="fp32"),
                          execution=ExecutionOptions(segment_seconds=seconds, workers=workers))


def test_a_job_tells_its_stages_frames_and_result_in_order(tmp_path, tiny_model):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=12, size=(32, 24))
    events: list[Progress] = []
    job = vsr.Job(src, out, _options(tiny_model, seconds=0), on_event=events.append)
    summary = job.run()
    stages = [e.stage for e in events]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == \
        ["probing", "starting", "upscaling", "done"]
    frames = [e.frames_done for e in events if e.stage == "upscaling"]
    assert frames == sorted(frames) and frames[-1] == 12 and events[-1].frames_total == 12
    assert events[-1].result is summary and job.progress.result is summary and job.done
    assert summary.frames == 12 and out.is_file()
    assert any(e.fps for e in events) and events[-1].eta_seconds == 0


def test_a_failed_job_says_why_in_its_last_event(tmp_path):
    events: list[Progress] = []
    with pytest.raises(vsr.InputError, match="no such file"):
        vsr.Job(tmp_path / "missing.mp4", tmp_path / "out.mp4", on_event=events.append).run()
    assert events[-1].stage == "failed" and "no such file" in events[-1].error


def test_a_listener_that_raises_stops_the_job_and_its_exception_comes_out(tmp_path, tiny_model):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=12, size=(32, 24))

    class Enough(Exception):
        pass

    def stop_at_five(p: Progress) -> None:
        if p.frames_done >= 5:
            raise Enough

    with pytest.raises(Enough):
        vsr.Job(src, out, _options(tiny_model, seconds=0), on_event=stop_at_five).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # nothing half-written


def test_a_cancelled_one_stream_job_stops_and_leaves_nothing(tmp_path, tiny_model):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=200, size=(64, 48), audio_tracks=0)
    job = vsr.Job(src, out, _options(tiny_model, seconds=0))
    job.listen(lambda p: job.cancel() if p.frames_done >= 10 else None)
    job.start()
    with pytest.raises(vsr.Cancelled):
        job.wait(timeout=60)
    assert job.progress.stage == "cancelled" and job.progress.frames_done < 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_cancel_stops_worker_processes_within_seconds_keeps_segments_and_a_new_job_resumes(tmp_path, tiny_model):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=240, size=(96, 64), options=KEYS, audio_tracks=0)
    options = _options(tiny_model, workers=2)
    job = vsr.Job(src, out, options)
    asked: list[float] = []

    def cancel_after_two_segments(p: Progress) -> None:
        if p.frames_done >= 60 and not asked:  # 14-frame segments, two workers: some are finished
            asked.append(time.monotonic())
            threading.Thread(target=job.cancel).start()  # as a web server's request thread would

    job.listen(cancel_after_two_segments)
    job.start()
    with pytest.raises(vsr.Cancelled):
        job.wait(timeout=120)
    stopped = time.monotonic() - asked[0]
    assert stopped < 5, f"cancel took {stopped:.1f} s"
    assert multiprocessing.active_children() == []
    assert not out.exists()
    work = tmp_path / ".out.mp4.vsr-work"
    kept = sorted(p.name for p in work.glob("segment-*.mkv"))
    assert kept, "finished segments are kept for the next run"
    again = vsr.Job(src, out, options).run()
    assert again.segments_resumed >= 1 and again.frames == 240
    assert video_timing(out) == video_timing(src)


def test_the_rate_and_time_left_come_from_the_steady_frames_not_the_start_up():
    now = [0.0]
    tracker = Tracker(clock=lambda: now[0])
    tracker.expect(100)
    now[0] = 30.0  # a slow start: model load, backend build
    tracker.frames(1)
    for _ in range(9):
        now[0] += 0.5
        tracker.frames(1)
    p = tracker.progress
    assert p.fps == pytest.approx(2.0) and p.eta_seconds == pytest.approx(45.0)
    for _ in range(int(RATE_WINDOW) * 8):  # then twice as fast, for twice the window: the rate follows
        now[0] += 0.25
        tracker.frames(1)
    assert tracker.progress.fps == pytest.approx(4.0)


def test_warnings_are_told_once_per_file_and_kept_in_the_events(caplog):
    tracker = Tracker()
    tracker.stage("upscaling", file="a.mp4")
    for _ in range(2):
        tracker.warning("no audio")
    tracker.warning("no audio", file="b.mp4")
    assert tracker.progress.warnings == ("no audio", "no audio")
    assert [r.getMessage() for r in caplog.records].count("no audio") == 2
