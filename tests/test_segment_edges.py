"""Segments at their edges: where the work goes on a cluster, a segment that fails in a folder,
an input changed mid-run, a run killed after its last segment, files joined end to end, and a
lock taken in the instant another run lets it go."""

from __future__ import annotations

from pathlib import Path

import pytest

from clips import make_clip, video_timing
from vsr.errors import InputError, OutputError
from vsr.pipeline import ExecutionOptions, RuntimeOptions, UpscaleOptions, upscale, upscale_folder
from vsr.pipeline.workers import schedule
from vsr.pipeline.workers.local import InProcess
from vsr.pipeline.workers.ray_cluster import place
from vsr.pipeline.workers.tasks import TaskKey

KEYS = {"g": "7"}
SEGMENT = 0.3


def _options(model: Path, **execution) -> UpscaleOptions:
    return UpscaleOptions(runtime=RuntimeOptions(model=str(model), device="cpu", precision="fp32"),
                          execution=ExecutionOptions(segment_seconds=SEGMENT, **execution))


def _work(out: Path) -> Path:
    return out.with_name(f".{out.name}.vsr-work")


# ---------------------------------------------------------------- placement on a Ray cluster


def test_cpu_workers_default_to_the_smallest_nodes_cores_as_many_as_fit():
    p = place([{"CPU": 8.0}, {"CPU": 8.0}], "auto", None)
    assert (p.device, p.workers, p.threads, p.gpu_of) == ("cpu", 2, 8, ())  # alike: one per node, all its cores
    p = place([{"CPU": 16.0}, {"CPU": 2.0, "memory": 1e9}], "auto", None)
    assert (p.workers, p.threads) == (9, 2)  # no core left idle, none asked of a node that lacks it
    p = place([{"CPU": 8.0}, {"CPU": 4.0}], "cpu", 3)  # 12 cores, 4 each: two on the 8-core node
    assert (p.workers, p.threads) == (3, 4)
    p = place([{"CPU": 8.0}, {"CPU": 4.0}], "cpu", 5)  # 2 each: 4 + 2 whole actors fit
    assert (p.workers, p.threads) == (5, 2)
    assert place([{"CPU": 3.0}], "cpu", 2).threads == 1  # 3 // 2 = 1: two 1-thread workers fit


def test_no_more_cpu_workers_than_the_cluster_has_cores():
    with pytest.raises(InputError, match="`workers` 9: the Ray cluster has 8 CPU"):
        place([{"CPU": 4.0}, {"CPU": 4.0}], "cpu", 9)
    with pytest.raises(InputError, match="the Ray cluster has no CPU for a worker"):
        place([{"GPU": 1.0}], "cpu", None)


NODES = [{"CPU": 16.0, "GPU": 2.0}, {"CPU": 16.0, "GPU": 1.0}, {"CPU": 8.0}]


def test_gpu_workers_one_per_gpu():
    p = place(NODES, "auto", None)
    assert (p.device, p.workers, p.gpus, p.threads) == ("cuda", 3, 3, None)
    assert [p.gpu_share(i) for i in range(3)] == [1, 1, 1] and p.describe() == "a GPU"
    assert place(NODES, "cuda:all", None).workers == 3
    assert place(NODES, "cuda", None).workers == 1
    assert place(NODES, "cuda:0,cuda:1", None).workers == 2
    assert place(NODES, "cpu", None).device == "cpu"  # the CPU asked for on a GPU cluster


def test_more_workers_than_gpus_share_every_gpu_evenly():
    p = place(NODES, "cuda:all", 5)  # 2, 2 and 1 to a GPU; never 2, 2, 1 and an idle one
    assert p.workers == 5 and p.gpus == 3 and p.describe() == "a share of a GPU"
    assert sorted(p.gpu_of.count(g) for g in range(3)) == [1, 2, 2]
    for gpu in range(3):
        tied = [i for i in range(5) if p.gpu_of[i] == gpu]
        assert sum(p.gpu_share(i) for i in tied) == pytest.approx(1)


def test_gpus_the_cluster_lacks_are_refused():
    with pytest.raises(InputError, match="`device` cuda: the Ray cluster has no GPU; use `device` cpu"):
        place([{"CPU": 4.0}], "cuda", None)
    with pytest.raises(InputError, match="names 4 GPUs, the Ray cluster has 3; use `device` cuda:all"):
        place(NODES, "cuda:0,cuda:1,cuda:2,cuda:3", None)


_FAKE_GPUS = """
import json, ray
ray.init(address="local", num_cpus=2, num_gpus=4, include_dashboard=False, log_to_driver=False,
         logging_level="ERROR")
from vsr.pipeline.workers.ray_cluster import RayExecutor
executor = RayExecutor("unused", "cuda:all", 5, start_timeout=60)
executor._wait_started()
print(json.dumps(ray.get([a.where.remote() for a in executor.actors])))
executor.close()
ray.shutdown()
"""


def test_ray_ties_each_worker_to_one_gpu_and_uses_them_all(tmp_path):
    """On a Ray of its own declaring four GPUs (none is used: the model is never loaded)."""
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _FAKE_GPUS], capture_output=True, text=True, timeout=180,
                         cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    gpus = [ids for _, ids in json.loads(run.stdout.strip().splitlines()[-1])]
    assert sorted(map(tuple, gpus)) == [(0,), (0,), (1,), (2,), (3,)]  # Ray alone would pack 2, 2, 1, 0


def test_a_busy_ray_cluster_is_said_in_words(tiny_model, ray_cluster):
    """Resources the cluster has, but another job holds: the run says so instead of waiting."""
    import ray

    from vsr.errors import BackendError
    from vsr.pipeline.workers.ray_cluster import RayExecutor, VsrProgress

    hog = ray.remote(num_cpus=1)(VsrProgress).remote()  # any actor holding a core (importable by workers)
    ray.get(hog.take.remote())
    # Time enough for the free core's worker to start on a slow machine (torch's import alone
    # takes 4 s on a 2-core Zen 3 VM), so that the message can say one of two.
    executor = RayExecutor(str(tiny_model), "cpu", 2, start_timeout=10)
    try:
        with pytest.raises(BackendError, match=r"only 1 of 2 Ray workers started within 10 s \(each needs 1 CPU\)"):
            executor.precision("auto")
    finally:
        executor.close(wait=False)
        ray.kill(hog)


def test_ray_address_needs_the_ray_executor():
    with pytest.raises(InputError, match="^`ray_address` is for `executor` ray$") as refused:
        ExecutionOptions(ray_address="10.0.0.1:6379")
    assert refused.value.for_command_line() == "--ray-address is for --executor ray"


# ---------------------------------------------------------------- failures and interruptions


class _Scripted(InProcess):
    """This process's worker, with a failure, a change or an interruption where a test wants one."""

    fail: TaskKey | None = None
    bug: TaskKey | None = None  # an error that is not vsr's own
    touch: Path | None = None  # appended to after the first job: the input changing under the run
    stop_after_all = False  # Ctrl-C once every job is done, before the join

    def run(self, jobs, on_result, on_frames, on_error=None, cancellation=None):
        def result(r):
            on_result(r)
            if self.touch is not None:
                with self.touch.open("ab") as f:
                    f.write(b"\0" * 8)
                self.touch = None

        def worker_run(job, frames, cancellation=None, run=self.worker.run):
            if job.key == self.fail:
                raise InputError(f"{job.key}: could not be read")
            if job.key == self.bug:
                raise RuntimeError("a bug")
            return run(job, frames, cancellation)

        self.worker.run = worker_run
        super().run(jobs, result, on_frames, on_error, cancellation)
        if self.stop_after_all:
            raise KeyboardInterrupt


def _scripted(monkeypatch, **script) -> None:
    def make(options, model):
        executor = _Scripted(model, "cpu")
        for k, v in script.items():
            setattr(executor, k, v)
        return executor

    monkeypatch.setattr(schedule, "make_executor", make)


def test_a_segment_failing_in_a_folder_fails_that_file_alone_and_keeps_its_other_segments(
        tmp_path, tiny_model, monkeypatch):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    make_clip(folder / "a.mp4", frames=30, size=(32, 24), options=KEYS, audio_tracks=0)
    make_clip(folder / "b.mp4", frames=30, size=(32, 24), options=KEYS, audio_tracks=0)
    _scripted(monkeypatch, fail=TaskKey(0, 1))
    # Several workers take a folder through one pool (here, one scripted worker in this process).
    report = upscale_folder(folder, out, _options(tiny_model, workers=2), progress=False)
    rows = {Path(r["input"]).name: r for r in report.as_rows()}
    assert rows["a.mp4"]["error"] == "TaskKey(file=0, segment=1): could not be read"
    assert rows["b.mp4"]["frames"] == 30 and rows["b.mp4"]["segments"] >= 3
    assert sorted(p.name for p in out.iterdir()) == [".a.mp4.vsr-work", "b.mp4"]
    monkeypatch.undo()
    again = upscale(folder / "a.mp4", out / "a.mp4", _options(tiny_model), progress=False)
    assert again.segments_resumed == again.segments - 1  # only the failed one done again
    assert video_timing(out / "a.mp4") == video_timing(folder / "a.mp4")


def test_an_error_vsr_did_not_foresee_fails_only_its_own_file_with_workers(tmp_path, tiny_model, monkeypatch):
    """With several workers a folder run stopped at the first error that was not one of vsr's own:
    in a segment's job, or while cutting a file."""
    import struct

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        make_clip(folder / name, frames=30, size=(32, 24), options=KEYS, audio_tracks=0)
    _scripted(monkeypatch, bug=TaskKey(0, 1))
    real_cut = schedule.cut

    def cut(info, output, options):
        if output.name == "c.mp4":
            raise struct.error("unpack requires a buffer of 4 bytes")
        return real_cut(info, output, options)

    monkeypatch.setattr(schedule, "cut", cut)
    report = upscale_folder(folder, out, _options(tiny_model, workers=2), progress=False)
    rows = {Path(r["input"]).name: r for r in report.as_rows()}
    assert rows["a.mp4"]["error"] == "unexpected RuntimeError: a bug"
    assert rows["c.mp4"]["error"] == "unexpected error: unpack requires a buffer of 4 bytes"
    assert rows["b.mp4"]["frames"] == 30
    assert sorted(p.name for p in out.iterdir()) == [".a.mp4.vsr-work", "b.mp4"]


def test_an_input_changed_during_the_run_is_not_joined(tmp_path, tiny_model, monkeypatch):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=30, size=(32, 24), options=KEYS, audio_tracks=0)
    _scripted(monkeypatch, touch=src)
    with pytest.raises(InputError, match="changed while it was being upscaled; run the same command again"):
        upscale(src, out, _options(tiny_model), progress=False)
    assert not out.exists()


def test_a_run_stopped_before_its_join_is_finished_by_the_next(tmp_path, tiny_model, monkeypatch):
    """Every segment resumed: the summary still says how they were made."""
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=30, size=(32, 24), options=KEYS, audio_tracks=0)
    _scripted(monkeypatch, stop_after_all=True)
    with pytest.raises(KeyboardInterrupt):
        upscale(src, out, _options(tiny_model), progress=False)
    assert not out.exists() and (_work(out) / "manifest.json").is_file()
    monkeypatch.undo()
    summary = upscale(src, out, _options(tiny_model), progress=False)
    assert summary.segments_resumed == summary.segments >= 3 and summary.frames == 30
    assert (summary.backend, summary.precision, summary.device, summary.fps) == ("eager", "fp32", "cpu", 0.0)
    assert video_timing(out) == video_timing(src) and not _work(out).exists()


def test_files_joined_end_to_end_are_not_cut(tmp_path):
    """Two MPEG-TS files concatenated: the clock goes back at the join, a range of times would
    name frames of both halves, so the video is one segment."""
    from vsr.media.video_source import probe
    from vsr.pipeline.segments.cutting import plan_segments

    halves = [tmp_path / "a.ts", tmp_path / "b.ts"]
    for half in halves:
        make_clip(half, frames=75, size=(32, 24), options=KEYS, audio_tracks=0)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(halves[0].read_bytes() + halves[1].read_bytes())
    assert len(plan_segments(probe(halves[0]), SEGMENT)) > 3  # each half alone is cut
    assert len(plan_segments(probe(joined), SEGMENT)) == 1


def test_a_lock_let_go_while_being_taken_is_taken_afresh(tmp_path, monkeypatch):
    """The run holding it removes the lock file between this run's open and its flock: the
    lock taken must be the file now at the path, or a third run could take that one too."""
    import fcntl

    from vsr.pipeline.segments.work_folder import claim

    out = tmp_path / "out.mp4"
    lock = tmp_path / ".out.mp4.vsr-lock"
    real, calls = fcntl.flock, []

    def racing_flock(fd, how):
        calls.append(how)
        if len(calls) == 1:  # the other run finishes now
            lock.unlink()
        return real(fd, how)

    monkeypatch.setattr(fcntl, "flock", racing_flock)
    with claim(out):
        monkeypatch.setattr(fcntl, "flock", real)
        with pytest.raises(OutputError, match="another vsr is making it right now"), claim(out):
            pass
    assert len(calls) == 2 and not lock.exists()


class _TwoPartError(Exception):
    def __init__(self, what: str, where: str) -> None:
        super().__init__(f"{what} at {where}")


def test_an_exception_that_cannot_cross_to_the_driver_crosses_as_its_line():
    from vsr.errors import BackendError
    from vsr.pipeline.workers.local import _portable

    crossed = _portable(_TwoPartError("out of memory", "cuda:1"))  # pickles, but cannot be rebuilt
    assert isinstance(crossed, BackendError) and str(crossed) == "_TwoPartError: out of memory at cuda:1"
    same = InputError("a line")
    assert _portable(same) is same
