from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import vsr
from clips import make_clip, stream_packets, video_timing
from peak_memory import peak_rss_mb
from vsr.cli import main
from vsr.media.frames import RgbFrame
from vsr.media.video_source import VideoSource, probe
from vsr.pipeline import ExecutionOptions, RuntimeOptions, UpscaleOptions, VideoEncoding, upscale
from vsr.runtime.engine import Engine


def _frames(path: Path) -> list[np.ndarray]:
    with VideoSource(probe(path)) as source:
        return [f.rgb for f in source if isinstance(f, RgbFrame)]


def _psnr(a, b, peak=255.0) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def _expected(path: Path, scale: int = 4) -> list[np.ndarray]:
    """The model applied to the decoded input frames, as the pipeline should produce them."""
    frames = _frames(path)
    model = vsr.load_model("realesr-animevideov3")
    h, w = frames[0].shape[:2]
    engine = Engine(model=model, device=torch.device("cpu"), dtype=torch.float32, out_size=(h * scale, w * scale))
    return [engine(torch.from_numpy(f[None]))[0].numpy() for f in frames]


def _rotation_and_sar(path: Path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frame = next(c.decode(stream))
        return int(frame.rotation or 0), stream.codec_context.sample_aspect_ratio


def _color_tags(path: Path):
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        return int(ctx.colorspace), int(ctx.color_primaries), int(ctx.color_trc), int(ctx.color_range)


@pytest.mark.parametrize(("name", "kwargs", "suffix"), [
    ("cfr", {}, ".mp4"),
    ("vfr-offset", {"durations_ms": (20, 60, 35, 41), "start_ms": 1500}, ".mkv"),
    ("ntsc", {"rate": Fraction(30000, 1001), "durations_ms": (1001 / 30,), "time_base": Fraction(1, 30000)}, ".mp4"),
    ("two-audio", {"audio_tracks": 2}, ".mkv"),
    ("no-audio", {"audio_tracks": 0}, ".mp4"),
    ("bt709", {"colorspace": 1}, ".mp4"),
    ("10bit", {"pix_fmt": "yuv420p10le", "audio_tracks": 0}, ".mkv"),
    ("rotated-sar", {"rotation": 90, "sar": Fraction(4, 3)}, ".mp4"),
    ("subtitles", {"subtitles": True}, ".mkv"),
])
def test_everything_but_the_pixels_is_kept(tmp_path, name, kwargs, suffix):
    src, dst = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    make_clip(src, **kwargs)
    summary = upscale(src, dst, progress=False)
    assert summary.frames == 8 and summary.output_size == (128, 96)
    assert video_timing(dst) == video_timing(src)
    assert stream_packets(dst, "audio") == stream_packets(src, "audio")
    assert stream_packets(dst, "subtitle") == stream_packets(src, "subtitle")
    if name == "subtitles":
        assert len(stream_packets(src, "subtitle")[0]) == 2
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        assert len(a.streams) == len(b.streams)
        assert b.metadata.get("title") == a.metadata.get("title") == "vsr test clip"
        assert [s.metadata.get("language") for s in a.streams.audio] == [s.metadata.get("language") for s in b.streams.audio]
        assert b.streams.video[0].codec_context.pix_fmt == a.streams.video[0].codec_context.pix_fmt
    if name == "bt709":
        assert _color_tags(dst) == _color_tags(src)
    assert _rotation_and_sar(dst) == _rotation_and_sar(src)
    if name == "rotated-sar":
        assert _rotation_and_sar(src) == (90, Fraction(4, 3))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, dst.name])


def test_subtitles_the_container_cannot_hold_are_reported(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mp4"
    make_clip(src, subtitles=True, audio_tracks=0)
    summary = upscale(src, dst, progress=False)
    assert any("subtitle track #1 (ssa) cannot go into .mp4" in w for w in summary.warnings)
    assert len(video_timing(dst)) == 8


@pytest.mark.parametrize(("audio_codec", "src_suffix", "dst_suffix", "expected"), [
    ("pcm_s16le", ".mkv", ".mp4", "aac"),
    ("aac", ".mp4", ".webm", "opus"),
])
def test_audio_the_container_cannot_hold_is_reencoded(tmp_path, audio_codec, src_suffix, dst_suffix, expected):
    src, dst = tmp_path / f"in{src_suffix}", tmp_path / f"out{dst_suffix}"
    make_clip(src, audio_codec=audio_codec, frames=6)
    summary = upscale(src, dst, progress=False)
    assert any(f"({audio_codec}) cannot go into {dst_suffix}" in w for w in summary.warnings), summary.warnings
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        assert b.streams.audio[0].codec_context.name == expected
        def duration(c):
            return sum(f.samples for f in c.decode(c.streams.audio[0])) / c.streams.audio[0].codec_context.sample_rate

        assert abs(duration(a) - duration(b)) < 0.05
    assert video_timing(dst) == video_timing(src)


def test_untagged_small_input_is_tagged_with_the_matrix_used(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, audio_tracks=0)
    upscale(src, dst, progress=False)
    assert _color_tags(dst)[0] == 5  # BT.601 (below 720 lines), written so players need not guess


@pytest.mark.parametrize(("size", "scale", "pix_fmt", "expected"), [
    ((35, 27), 3, "yuv420p", (104, 80)),  # 105×81 rounded down to even for 4:2:0
    ((1, 1), 4, "yuv444p", (4, 4)),
    ((8, 8), 4, "yuv420p", (32, 32)),
])
def test_odd_and_tiny_sizes(tmp_path, size, scale, pix_fmt, expected):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    # ffv1 takes any size; x264 refuses odd sizes in 4:2:0
    make_clip(src, size=size, pix_fmt=pix_fmt, audio_tracks=0, frames=4, codec="ffv1")
    summary = upscale(src, dst, UpscaleOptions(scale=scale), progress=False)
    assert summary.output_size == expected
    assert video_timing(dst) == video_timing(src)
    if expected != (size[0] * scale, size[1] * scale):
        assert any("rounded" in w for w in summary.warnings)


def test_pixels_match_the_model_lossless(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, pix_fmt="yuv444p", audio_tracks=0, codec="libx264", options={"qp": "0"})
    upscale(src, dst, UpscaleOptions(video=VideoEncoding(codec="ffv1")), progress=False)
    got, want = _frames(dst), _expected(src)
    assert len(got) == len(want)
    assert min(_psnr(g, w) for g, w in zip(got, want)) >= 40


def test_pixels_match_the_model_default_codec_bt709(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, colorspace=1, audio_tracks=0)
    upscale(src, dst, progress=False)
    got, want = _frames(dst), _expected(src)
    assert min(_psnr(g, w) for g, w in zip(got, want)) >= 30


def test_bt709_colours_are_right_not_only_tagged(tmp_path):
    """A flat colour encoded with the BT.709 matrix must decode to that colour; read as BT.601
    it would be visibly off, so this catches a matrix mix-up that tags alone would hide."""
    rgb = np.array([200, 60, 30], np.float64)
    kr, kb = 0.2126, 0.0722
    y = kr * rgb[0] + (1 - kr - kb) * rgb[1] + kb * rgb[2]
    cb, cr = (rgb[2] - y) / (2 * (1 - kb)), (rgb[0] - y) / (2 * (1 - kr))
    planes = [np.full((16, 16), round(16 + y * 219 / 255), np.uint8),
              np.full((16, 16), round(128 + cb * 224 / 255), np.uint8),
              np.full((16, 16), round(128 + cr * 224 / 255), np.uint8)]
    src = tmp_path / "flat709.mkv"
    with av.open(str(src), "w") as out:
        v = out.add_stream("ffv1", rate=25)
        v.width = v.height = 16
        v.pix_fmt = "yuv444p"
        v.codec_context.colorspace = 1
        frame = av.VideoFrame(16, 16, "yuv444p")
        for plane, data in zip(frame.planes, planes):
            plane.update(data.tobytes())
        frame.colorspace, frame.pts = 1, 0
        for packet in [*v.encode(frame), *v.encode(None)]:
            out.mux(packet)
    decoded = _frames(src)[0].reshape(-1, 3).mean(axis=0)
    assert np.abs(decoded - rgb).max() <= 2


def test_memory_does_not_grow_with_length(tmp_path, tiny_model):
    """Memory is bounded by the queues, not the input: 150 more output frames of 640×480 would
    hold 140 MB if anything kept them. Both runs are past the first 50 frames, where libx264's
    lookahead fills up to its steady size. A tiny model: the model is not what this is about."""
    clips = [(tmp_path / f"in{n}.mp4", tmp_path / f"out{n}.mp4") for n in (50, 200)]
    for (src, _), n in zip(clips, (50, 200), strict=True):
        make_clip(src, frames=n, size=(160, 120), audio_tracks=1)
    peaks = peak_rss_mb(clips, tiny_model)
    assert [len(video_timing(dst)) for _, dst in clips] == [50, 200]
    assert peaks[1] - peaks[0] < 50, peaks


def test_truncated_input_keeps_what_decodes(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, frames=40, audio_tracks=0, codec="ffv1", size=(48, 32))
    data = src.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 6 // 10])
    summary = upscale(cut, dst, progress=False)
    assert 10 < summary.frames < 40
    assert len(video_timing(dst)) == summary.frames
    assert video_timing(dst) == video_timing(src)[: summary.frames]


class _CallerStop(Exception):
    pass


@pytest.mark.parametrize("segment_seconds", [0, 0.5], ids=["one-stream", "segments"])
@pytest.mark.parametrize("raised", [_CallerStop(), OSError(errno.ENOSPC, "the caller's own")], ids=["own", "oserror"])
def test_a_callback_that_raises_stops_the_run_as_raised(tmp_path, caplog, tiny_model, segment_seconds, raised):
    """The exception of a caller's `on_frames` comes out as raised, from a segment run in this
    process too: not taken for a full disk or an I/O failure of the output. Nothing is
    published, and a run stopped part-way says nothing about frames the input "declares"."""
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=30, size=(48, 32), audio_tracks=0, options={"g": "10"})
    options = UpscaleOptions(runtime=RuntimeOptions(model=str(tiny_model)),
                             execution=ExecutionOptions(segment_seconds=segment_seconds, workers=1))

    def stop(_frames: int) -> None:
        raise raised

    with pytest.raises(type(raised)) as caught:
        upscale(src, dst, options, progress=False, on_frames=stop)
    assert caught.value is raised
    assert not dst.exists()
    if not segment_seconds:  # (a segment's read is ranged: it never compares counts)
        assert not [r.message for r in caplog.records if "declares" in r.message]


def test_a_damaged_input_read_to_its_end_says_how_many_declared_frames_it_lost(tmp_path, tiny_model):
    src = tmp_path / "in.mp4"
    make_clip(src, frames=30, size=(48, 32), audio_tracks=0, options={"g": "10"})
    data = bytearray(src.read_bytes())
    data[len(data) * 3 // 10 : len(data) * 3 // 10 + 300] = bytes(300)  # 21 of 30 frames decode
    (tmp_path / "bad.mp4").write_bytes(bytes(data))
    summary = upscale(tmp_path / "bad.mp4", tmp_path / "out.mp4",
                      UpscaleOptions(runtime=RuntimeOptions(model=str(tiny_model))), progress=False)
    assert summary.frames < 30
    assert f"the input declares 30 frames; {summary.frames} decoded" in summary.warnings


def test_corrupt_packets_are_skipped_and_counted(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, frames=20, audio_tracks=0, codec="ffv1", size=(48, 32))
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 400] = bytes(400)  # zero out the middle of one frame's data
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(bytes(data))
    summary = upscale(bad, dst, progress=False)
    # vsr loses nothing beyond what the damage took: every frame FFmpeg can still decode is kept.
    assert summary.frames >= 15
    assert video_timing(dst) == video_timing(bad)
    if summary.frames < 20:  # never shorter in silence
        assert any("corrupt" in w or "timestamps jump" in w for w in summary.warnings), summary.warnings


# ---------------------------------------------------------------- failures


def _cli(capsys, *args):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.fixture
def clip(tmp_path) -> Path:
    path = tmp_path / "in.mp4"
    make_clip(path, audio_tracks=0, frames=4)
    return path


def test_failures_are_one_line_exit_2_and_leave_nothing(tmp_path, capsys, clip):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    audio_only = tmp_path / "audio.m4a"
    with av.open(str(audio_only), "w") as out:
        a = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for packet in [*a.encode(frame), *a.encode(None)]:
            out.mux(packet)
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"precious")
    bad_model = tmp_path / "model.onnx"
    bad_model.write_bytes(b"")
    out = tmp_path / "out.mp4"
    (tmp_path / "folder.mp4").mkdir()
    os.mkfifo(tmp_path / "fifo.mp4")
    cases = [
        ([tmp_path / "missing.mp4", out], "no such file"),
        # Checked before any work, even with --overwrite: a folder failed only at the final rename,
        # and a FIFO was replaced by a regular file.
        ([clip, tmp_path / "folder.mp4", "--overwrite"], "is a folder"),
        ([clip, tmp_path / "fifo.mp4", "--overwrite"], "not a regular file"),
        ([text, out], "not a media file"),
        ([audio_only, out], "no video stream"),
        ([clip, out, "--model", bad_model], "unsupported model file"),
        ([clip, tmp_path / "nowhere" / "out.mp4"], "does not exist"),
        ([clip, existing], "--overwrite"),
        ([clip, out, "--scale", "8"], "above"),
        ([clip, out, "--scale", "-1"], "must be positive"),
        ([clip, out, "--batch-size", "0"], "at least 1"),
        ([clip, out, "--codec", "nonesuch"], "unknown encoder"),
        ([clip, out, "--preset", "bogus"], "libx264 cannot encode 128x96 yuv420p with --preset bogus"),
        ([clip, tmp_path / "out.xyz"], "unknown output container"),
        ([clip, out, "--frobnicate"], "No such option"),
        # These were `unexpected` errors (rc 1), some after decoding had begun.
        ([clip, out, "--pix-fmt", "bogus"], "not a pixel format"),
        ([clip, out, "--codec", "gif"], "a .mp4 file cannot hold gif video"),
        ([clip, tmp_path / "out.webm", "--codec", "libx264"], "a .webm file cannot hold libx264 video"),
        ([clip, out, "--crf", "99"], "libx264 takes 0 to 51"),
        ([clip, tmp_path / ("a" * 300 + ".mp4")], "cannot be an output (File name too long)"),
        ([clip, tmp_path / ("a" * 240 + ".mp4")], "too long for the temporary file written beside it"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in cases:
        code, err = _cli(capsys, "upscale", *args)
        assert code == 2, (args, err)
        assert err.startswith("vsr: error: ") and message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert existing.read_bytes() == b"precious"


def test_a_file_that_appears_at_the_output_meanwhile_is_not_replaced(tmp_path, capsys, clip, monkeypatch):
    """The --overwrite check runs at the start; publishing used to replace whatever was there by
    then (a second run to the same output, another program), and exit 0."""
    from vsr.media.video_sink import VideoSink

    out = tmp_path / "out.mp4"
    finish = VideoSink.finish

    def someone_else_writes_first(self):
        out.write_bytes(b"the other run's result")
        return finish(self)

    monkeypatch.setattr(VideoSink, "finish", someone_else_writes_first)
    code, err = _cli(capsys, "upscale", clip, out, "--quiet")
    assert code == 2 and "appeared while vsr was working" in err and err.count("\n") == 1, err
    assert out.read_bytes() == b"the other run's result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]  # no temporary file left
    out.unlink()  # with --overwrite, what appeared is replaced, as asked
    assert _cli(capsys, "upscale", clip, out, "--quiet", "--overwrite")[0] == 0
    assert len(video_timing(out)) == 4


def test_a_later_run_removes_what_a_killed_one_left(tmp_path, capsys, clip):
    """After SIGKILL the hidden temporary file stayed for ever; its name now says whose it is."""
    from vsr.atomic import _OWNER

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead = int(gone.stdout)  # a process that has exited
    stale = tmp_path / f".out.{_OWNER}-{dead}.abc123de.part.mp4"
    other = tmp_path / f".other.{_OWNER}-{dead}.jkl012mn.part.png"  # another output's, as dead: goes too
    running = tmp_path / f".out.{_OWNER}-{os.getpid()}.def456gh.part.mp4"  # a live process's: kept
    elsewhere = tmp_path / f".out.0badf00d-{dead}.ghi789jk.part.mp4"  # another machine's: kept
    mine = tmp_path / ".notes.txt"  # not vsr's: kept
    for path in (stale, other, running, elsewhere, mine):
        path.write_bytes(b"partial")
    assert _cli(capsys, "upscale", clip, tmp_path / "out.mp4", "--quiet")[0] == 0
    assert not stale.exists() and not other.exists()
    assert running.exists() and elsewhere.exists() and mine.exists()


def test_publishing_without_replacing_falls_back_where_there_are_no_hard_links(tmp_path, monkeypatch):
    from vsr.atomic import AtomicFile
    from vsr.errors import OutputError

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = AtomicFile(tmp_path / "a.png", replace=False)
    target.tmp.write_bytes(b"new")
    target.publish()
    assert (tmp_path / "a.png").read_bytes() == b"new" and not target.tmp.exists()
    taken = AtomicFile(tmp_path / "a.png", replace=False)
    taken.tmp.write_bytes(b"newer")
    with pytest.raises(OutputError, match="appeared while vsr was working"):
        taken.publish()
    taken.discard()
    assert (tmp_path / "a.png").read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_overwrite_replaces(tmp_path, capsys, clip):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    code, err = _cli(capsys, "upscale", clip, out, "--overwrite", "--quiet")
    assert code == 0, err
    assert len(video_timing(out)) == 4


def test_no_audio_leaves_audio_out_and_says_so(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, audio_tracks=2)
    summary = upscale(src, dst, UpscaleOptions(video=VideoEncoding(audio=False)), progress=False)
    with av.open(str(dst)) as c:
        assert len(c.streams.audio) == 0
    assert any("2 audio track(s) left out" in w for w in summary.warnings)


def test_json_summary(tmp_path, capsys, clip):
    out = tmp_path / "out.mp4"
    assert main(["upscale", str(clip), str(out), "--json", "--quiet", "--scale", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 4 and summary["output_size"] == [64, 48] and summary["codec"] == "libx264"


# SIGTERM and SIGHUP used to leave the hidden .part file and exit without a word.
@pytest.mark.parametrize("sig, code, said", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "stopped by SIGTERM"),
                                             (signal.SIGHUP, 129, "stopped by SIGHUP")])
def test_ctrl_c_and_termination_exit_128_plus_the_signal_and_leave_nothing(tmp_path, sig, code, said):
    src = tmp_path / "long.mp4"
    make_clip(src, frames=600, size=(96, 64), audio_tracks=0)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "vsr", "upscale", str(src), str(out)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.startswith(".out.") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"vsr: error: {said}"
    assert "declares" not in err  # a stopped run has not read the input through: no count to compare
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


# ---------------------------------------------------------------- images and folders


def test_still_image_with_alpha(tmp_path):
    from PIL import Image

    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., :3] = np.asarray(Image.open(Path(__file__).parent / "data" / "photos" / "coffee.png"))[:10, :12]
    rgba[2:8, 3:9, 3] = 255  # an opaque square on a transparent field
    src, dst = tmp_path / "in.png", tmp_path / "out.webp"
    Image.fromarray(rgba).save(src)
    summary = upscale(src, dst, progress=False)
    assert summary.output_size == (48, 40)
    out = np.asarray(Image.open(dst).convert("RGBA"))
    assert out.shape == (40, 48, 4)
    assert out[0, 0, 3] == 0 and out[20, 24, 3] == 255
    jpg = tmp_path / "out.jpg"
    assert upscale(src, jpg, UpscaleOptions(scale=2), progress=False).output_size == (24, 20)


def _png_header(width: int, height: int, *, whole: bool = False) -> bytes:
    """A PNG that claims `width`×`height` pixels in a few dozen bytes; `whole`: black pixels that
    are all there (deflate makes a 10000×10000 frame 300 KB)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0")
    if whole:
        deflate, row = zlib.compressobj(9), bytes(3 * width + 1)  # each row: filter 0, then black
        pixels = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _gif_screen(width: int, height: int) -> bytes:
    """A GIF of one 1×1 frame on a `width`×`height` logical screen: a few dozen bytes."""
    import struct

    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b";"


def test_a_truncated_gif_keeps_the_frames_that_decode(tmp_path):
    """Pillow's seek raised IndexError on it: `unexpected IndexError`, rc 1."""
    from PIL import Image

    frames = [Image.new("RGB", (16, 12), (40 * i, 0, 0)) for i in range(5)]
    whole = tmp_path / "whole.gif"
    frames[0].save(whole, save_all=True, append_images=frames[1:], duration=100)
    data = whole.read_bytes()
    for n, end in enumerate(range(len(data) // 3, len(data) - 2, len(data) // 12)):  # cuts in the later frames
        cut = tmp_path / f"cut{n}.gif"
        cut.write_bytes(data[:end])
        summary = upscale(cut, tmp_path / f"out{n}.gif", UpscaleOptions(scale=2), progress=False)
        assert 1 <= summary.frames <= 5, end


def test_huge_frames_in_tiny_files_are_refused_from_the_header(tmp_path, capsys, monkeypatch):
    """A 2 KB GIF with an 8000×8000 screen took over 11 GB; PNGs claiming 10000² or more printed
    Pillow's raw warning or ended in `unexpected DecompressionBombError`."""
    cases = [(tmp_path / "screen.gif", _gif_screen(8000, 8000), "the output frame of 32000x32000"),
             (tmp_path / "huge.gif", _gif_screen(65535, 65535), "over the limit"),
             (tmp_path / "png10k.png", _png_header(10_000, 10_000, whole=True), "the output frame of 40000x40000"),
             (tmp_path / "png100k.png", _png_header(100_000, 100_000), "over the limit")]
    for path, data, said in cases:
        path.write_bytes(data)
        code, err = _cli(capsys, "upscale", path, tmp_path / f"out{path.suffix}")
        assert code == 2 and said in err and "--max-pixels" in err and err.count("\n") == 1, (path.name, err)
        assert "DecompressionBomb" not in err
    # --max-pixels lifts the pixel limit; what then does not fit in memory is refused too.
    from vsr.media import limits

    monkeypatch.setattr(limits, "available_memory", lambda: 2**30)
    code, err = _cli(capsys, "upscale", cases[0][0], tmp_path / "out.gif", "--max-pixels", str(2**31))
    assert code == 2 and "GiB of memory" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p, _, _ in cases)


def test_an_output_larger_than_its_format_holds_is_refused_before_any_work(tmp_path, capsys):
    """A JPEG holds at most 65500 pixels a side: libjpeg printed its own raw line on stderr, then vsr
    failed after the model had run (found by benchmarks/fuzz.py)."""
    from PIL import Image

    Image.new("RGB", (16400, 2), (9, 9, 9)).save(tmp_path / "wide.png")
    code, err = _cli(capsys, "upscale", tmp_path / "wide.png", tmp_path / "out.jpg")
    assert code == 2 and "65600x8 is larger than .jpg allows (65500 pixels a side)" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide.png"]


def test_the_memory_check_counts_an_address_space_limit(tmp_path):
    """Under `ulimit -v` (or a container's memory limit) the machine's free memory is not what the
    process can take: a frame that fits the machine but not the limit ended in `unexpected
    RuntimeError: DefaultCPUAllocator: can't allocate memory` (found by benchmarks/fuzz.py)."""
    import resource
    import subprocess
    import sys

    from PIL import Image

    Image.new("RGB", (4000, 2000), (9, 9, 9)).save(tmp_path / "big.png")  # ×4: 128 M pixels, about 4.3 GiB
    limit = 3 << 30

    def lower_limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    run = subprocess.run([sys.executable, "-m", "vsr", "upscale", str(tmp_path / "big.png"), str(tmp_path / "out.png")],
                         check=False, capture_output=True, text=True, preexec_fn=lower_limit, timeout=120)
    assert run.returncode == 2 and "GiB of memory" in run.stderr and run.stderr.count("\n") == 1, run.stderr
    room = subprocess.run([sys.executable, "-c", "from vsr.media.limits import available_memory; print(available_memory())"],
                          capture_output=True, text=True, preexec_fn=lower_limit, check=True).stdout
    assert 0 < int(room) < limit


def test_an_allocation_that_fails_anyway_is_one_line(tmp_path, capsys, monkeypatch):
    import importlib

    def no_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(importlib.import_module("vsr.pipeline.job"), "make_plan", no_memory)
    make_clip(tmp_path / "in.mp4", frames=2, audio_tracks=0)
    code, err = _cli(capsys, "upscale", tmp_path / "in.mp4", tmp_path / "out.mp4")
    assert code == 1 and "out of memory" in err and "unexpected" not in err and err.count("\n") == 1, err


def test_a_full_disk_is_said_in_words(tmp_path, capsys, monkeypatch):
    """A still image on a full disk gave "processing failed … ([Errno 28] No space left on device)"."""
    from PIL import Image

    Image.new("RGB", (16, 12), (9, 9, 9)).save(tmp_path / "in.png")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    code, err = _cli(capsys, "upscale", tmp_path / "in.png", tmp_path / "out.png")
    assert code == 1 and "the disk is full (No space left on device); nothing was written" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_folder_goes_on_after_a_failure(tmp_path, capsys):
    from PIL import Image

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    Image.open(Path(__file__).parent / "data" / "photos" / "chelsea.png").crop((0, 0, 16, 12)).save(folder / "a.png")
    make_clip(folder / "b.mp4", frames=3, audio_tracks=0)
    (folder / "c.mp4").write_text("broken")
    (folder / "notes.txt").write_text("ignored")
    (folder / "a-bomb.png").write_bytes(_png_header(100_000, 100_000))  # an error vsr did not foresee: stopped the run
    code = main(["upscale", str(folder), str(out), "--quiet", "--json"])
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert code == 1 and "2 of 4 files failed" in captured.err
    assert captured.err.count("c.mp4: not a media file") == 1  # the failure is on stderr, once, --quiet or not
    assert [Path(r.get("output", r["input"])).name for r in rows] == ["a-bomb.png", "a.png", "b.mp4", "c.mp4"]
    assert "error" in rows[3] and "not a media file" in rows[3]["error"]
    assert "error" in rows[0]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.mp4"]
    # Without --json: the files done on stdout, the failure on stderr.
    code = main(["upscale", str(folder), str(out), "--overwrite"])
    captured = capsys.readouterr()
    assert code == 1 and [line.split(":")[0] for line in captured.out.splitlines()] == [str(out / "a.png"), str(out / "b.mp4")]
    assert captured.err.count("c.mp4: not a media file") == 1


# ---------------------------------------------------------------- warnings


def test_a_warning_reaches_the_terminal_once(tmp_path, tiny_model):
    src = tmp_path / "in.mkv"
    make_clip(src, audio_tracks=2, frames=3)
    run = subprocess.run([sys.executable, "-m", "vsr", "upscale", str(src), str(tmp_path / "out.mkv"), "--no-audio",
                          "--model", str(tiny_model)], capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stderr.count("vsr: warning: 2 audio track(s) left out (--no-audio)") == 1, run.stderr


def test_engine_warnings_are_reported_once(tmp_path, caplog):
    """A model not safe in half precision, asked for bf16, runs in fp32; the engine says so and
    the run reports it once, in the log and in the summary."""
    import dataclasses
    import logging

    from vsr.pipeline.plan import make_plan, probe_input
    from vsr.pipeline.progress import Tracker
    from vsr.pipeline.stream.one_stream import build_engine, upscale_stream

    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=3, audio_tracks=0)
    options = UpscaleOptions(runtime=RuntimeOptions(precision="bf16"))
    model = dataclasses.replace(vsr.load_model("realesr-animevideov3"), half_precision=False)
    plan = make_plan(probe_input(src, dst), dst, options, model.scale)
    with caplog.at_level(logging.WARNING):
        summary = upscale_stream(plan, build_engine(model, plan, options), options, Tracker())
    said = "not safe in half precision: running it in fp32"
    assert sum(said in r.getMessage() for r in caplog.records) == 1
    assert sum(said in w for w in summary.warnings) == 1 and summary.precision == "fp32"


def test_what_the_input_and_output_names_allow_is_said_before_the_model_loads(tmp_path, capsys):
    """Input, then output, then model: a damaged image or an impossible output is named as such
    even when the model is wrong too, and nothing is loaded or written first."""
    from PIL import Image

    still, bad = tmp_path / "a.png", tmp_path / "bad.png"
    Image.new("RGB", (8, 6), "red").save(still)
    bad.write_bytes(still.read_bytes()[:40])  # a header, then nothing
    gif = tmp_path / "b.gif"
    frames = [Image.new("RGB", (8, 6), c) for c in ("red", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=40)
    cases = [
        ([bad, tmp_path / "nowhere" / "o.png", "--model", "nosuch"], "not an image Pillow can read"),
        ([still, tmp_path / "o.txt", "--model", "nosuch"], "a still image needs an image output"),
        ([gif, tmp_path / "o.txt", "--model", "nosuch"], "an animated image becomes"),
        ([still, tmp_path / "o.png", "--model", "nosuch"], "unknown model"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in cases:
        code, err = _cli(capsys, "upscale", *args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_transparency_into_a_format_without_it_is_composited(tmp_path, tiny_model):
    """A transparent PNG to JPEG shows what a viewer shows over the background, not the colour
    hidden under the transparent pixels, and says so."""
    from PIL import Image

    rgba = np.zeros((12, 16, 4), np.uint8)
    rgba[..., :3] = (255, 0, 0)  # red, fully transparent
    rgba[4:8, 6:10] = (0, 0, 255, 255)  # a blue, opaque square
    src, dst = tmp_path / "in.png", tmp_path / "out.jpg"
    Image.fromarray(rgba).save(src)
    options = UpscaleOptions(runtime=vsr.RuntimeOptions(model=str(tiny_model)), image=vsr.ImageEncoding(background="white"))
    summary = upscale(src, dst, options, progress=False)
    assert any(".jpg holds no transparency: composited over #ffffff" in w for w in summary.warnings)
    out = np.asarray(Image.open(dst).convert("RGB")).astype(int)
    assert np.abs(out[0, 0] - [255, 255, 255]).max() <= 8  # the background, not the hidden red
    assert out[24, 32, 2] > 200 and out[24, 32, 0] < 60  # the square stays blue


def test_a_folder_with_a_scale_above_the_model_is_one_usage_error(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_clip(folder / name, frames=2, audio_tracks=0)
    code, err = _cli(capsys, "upscale", folder, tmp_path / "out", "--scale", "8", "--quiet")
    assert code == 2 and "above" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_device_names_torch_accepts(tmp_path):

    for name in ("auto", "cpu", "cpu:0", "cuda", "cuda:1"):
        RuntimeOptions(device=name)
    for name in ("gpu", "cuda:x", "", "mps"):
        with pytest.raises(vsr.InputError, match="^invalid `device` ") as refused:  # the library's name for it
            RuntimeOptions(device=name)
        assert refused.value.for_command_line().startswith("invalid --device ")  # the CLI's
