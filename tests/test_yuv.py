"""YUV ↔ RGB on the model's device (the GPU path's colour conversion), checked against swscale
on the CPU, and the pipeline with it switched on."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from clips import PHOTO, make_clip
from vsr.media import colour
from vsr.runtime import yuv


def _frame(pix_fmt: str, space: int, full: bool, size=(64, 48)) -> av.VideoFrame:
    w, h = size
    info = colour.ColourInfo(space=space, full_range=full, primaries=space, trc=space, tagged=True)
    return colour.from_rgb(PHOTO[:h, :w].copy(), info, pix_fmt), info


CASES = [("yuv420p", 1, False), ("yuv420p", 5, False), ("yuvj420p", 5, True), ("yuv422p", 1, False),
         ("yuv444p", 9, False), ("yuv420p10le", 9, False), ("yuv444p10le", 1, True)]


@pytest.mark.parametrize(("pix_fmt", "space", "full"), CASES)
def test_device_yuv_to_rgb_matches_swscale(pix_fmt, space, full):
    frame, info = _frame(pix_fmt, space, full)
    high = colour.is_high_depth(pix_fmt)
    reference = colour.to_rgb(frame, info, high_depth=high).astype(np.float64) / (65535 if high else 255)
    planes = [torch.from_numpy(p.astype(np.int32))[None] for p in colour.planes_of(frame)]
    ours = yuv.to_rgb(*planes, yuv.YuvFormat(pix_fmt, space, full))[0].permute(1, 2, 0).numpy()
    diff = np.abs(ours - reference) * 255
    # Under a level on average: swscale interpolates chroma bicubically, we linearly.
    assert diff.mean() < 1.0 and np.percentile(diff, 99) < 6, (diff.mean(), np.percentile(diff, 99))
    # The test can tell: the other matrix, or the other range, is far off.
    wrong = yuv.to_rgb(*planes, yuv.YuvFormat(pix_fmt, 5 if space != 5 else 1, not full))[0].permute(1, 2, 0).numpy()
    assert (np.abs(wrong - reference) * 255).mean() > 3


@pytest.mark.parametrize(("pix_fmt", "space", "full"), CASES)
def test_device_rgb_to_yuv_matches_swscale(pix_fmt, space, full):
    rgb = PHOTO[:48, :64].copy()
    info = colour.ColourInfo(space=space, full_range=full, primaries=space, trc=space, tagged=True)
    reference = [p.astype(np.float64) for p in colour.planes_of(colour.from_rgb(rgb, info, pix_fmt))]
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    ours = [p[0].numpy().astype(np.float64) for p in yuv.from_rgb(x, yuv.YuvFormat(pix_fmt, space, full))]
    scale = 4 if colour.is_high_depth(pix_fmt) else 1  # compare in 8-bit steps
    for name, a, b in zip("YUV", ours, reference):
        assert a.shape == b.shape, name
        diff = np.abs(a - b) / scale
        assert diff.mean() < 1.0 and diff.max() <= 6, (name, diff.mean(), diff.max())


def test_round_trip_is_within_a_level():
    rgb = PHOTO[:48, :64].copy()
    fmt = yuv.YuvFormat("yuv444p", 1, False)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    back = yuv.to_rgb(*yuv.from_rgb(x, fmt), fmt)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(back - rgb).max() <= 2.5


@pytest.mark.parametrize(("pix_fmt", "suffix"), [("yuv420p", ".mp4"), ("yuv420p10le", ".mkv")])
def test_pipeline_with_device_colour_matches_the_cpu_path(tmp_path, monkeypatch, pix_fmt, suffix):
    """The whole pipeline with planes converted on the model's device (as on a GPU) gives what
    the swscale path gives, timestamps and all."""
    from clips import video_timing
    from test_upscale import _frames, _psnr
    from vsr.pipeline import RuntimeOptions, UpscaleOptions, VideoEncoding, upscale

    src = tmp_path / f"in{suffix}"
    make_clip(src, pix_fmt=pix_fmt, colorspace=1, codec="libx264" if suffix == ".mp4" else "ffv1", audio_tracks=1)
    cpu_path, device_path = tmp_path / f"cpu{suffix}", tmp_path / f"device{suffix}"
    video = VideoEncoding(codec="ffv1" if suffix == ".mkv" else None)
    for path, conversion in ((cpu_path, "swscale"), (device_path, "device")):
        runtime = RuntimeOptions(precision="fp32", colour_conversion=conversion)
        upscale(src, path, UpscaleOptions(runtime=runtime, video=video), progress=False)
    assert video_timing(device_path) == video_timing(cpu_path) == video_timing(src)
    peak = 65535.0 if pix_fmt.endswith("10le") else 255.0
    # Lossless ffv1: only the two conversions differ. libx264: two lossy encodes of slightly
    # different frames differ more.
    floor = 40 if suffix == ".mkv" else 34
    for a, b in zip(_frames(device_path), _frames(cpu_path)):
        assert _psnr(a, b, peak) >= floor
