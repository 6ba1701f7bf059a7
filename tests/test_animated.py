"""Animated images: GIF/WebP/APNG in and out, delays, loop counts, transparency, and GIF → video."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

import vsr
from clips import PHOTO, make_clip, video_timing
from gifs import composed, gif_blocks, make_gif
from peak_memory import peak_rss_mb
from vsr.cli import main
from vsr.pipeline import ImageEncoding, UpscaleOptions, VideoEncoding, upscale
from vsr.runtime.alpha import bleed, resize_alpha
from vsr.runtime.engine import Engine

SCALE = 4


def _psnr(a, b) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _model_output(rgba: np.ndarray, *, fill_transparent: bool = True) -> np.ndarray:
    """The model on a composed input frame, before any quantisation. As in the pipeline, the
    colour under transparent pixels is first filled from the opaque ones (vsr.runtime.alpha.bleed)."""
    h, w = rgba.shape[:2]
    engine = Engine(model=vsr.load_model("realesr-animevideov3"), device=torch.device("cpu"), dtype=torch.float32,
                    out_size=(h * SCALE, w * SCALE))
    rgb = torch.from_numpy(np.ascontiguousarray(rgba[None, ..., :3]))
    if fill_transparent:
        rgb = bleed(rgb, torch.from_numpy(np.ascontiguousarray(rgba[None, ..., 3])))
    return engine(rgb)[0].numpy()


def _nearest(mask: np.ndarray) -> np.ndarray:
    return mask.repeat(SCALE, axis=0).repeat(SCALE, axis=1)


def _check_pictures(src_frames, out_frames, *, min_mask_agreement=0.97, min_psnr=25.0):
    """The transparent mask follows the nearest-upscaled input mask; opaque pixels follow the model."""
    for src, out in zip(src_frames, out_frames):
        assert out.shape[:2] == (src.shape[0] * SCALE, src.shape[1] * SCALE)
        want_opaque = _nearest(src[..., 3] >= 128)
        got_opaque = out[..., 3] >= 128
        assert (want_opaque == got_opaque).mean() >= min_mask_agreement
        assert not got_opaque[_nearest(src[..., 3] == 0) & ~_nearest(_grow(src[..., 3] > 0))].any()
        both = want_opaque & got_opaque
        if both.any():
            assert _psnr(out[..., :3][both], _model_output(src)[both]) >= min_psnr


def _grow(mask: np.ndarray) -> np.ndarray:
    """The mask and its 8 neighbours: pixels near an edge may take either side."""
    padded = np.pad(mask, 1)
    h, w = mask.shape
    return np.any([padded[dy: dy + h, dx: dx + w] for dy in range(3) for dx in range(3)], axis=0)


GIF_CASES = {
    "disposal-2-loop-forever": dict(disposal=2, loop=0),
    "disposal-3-loop-3": dict(disposal=(1, 3, 3, 3), loop=3),
    "play-once": dict(loop=None),
    "local-palettes": dict(local_palettes=True),
    "14x25": dict(size=(14, 25)),
    "1x1": dict(size=(1, 1), partial=False, transparent=False),
}


@pytest.mark.parametrize("case", GIF_CASES)
def test_gif_keeps_frames_delays_loop_and_transparency(tmp_path, case):
    src, dst = tmp_path / "in.gif", tmp_path / "out.gif"
    make_gif(src, **GIF_CASES[case])
    blocks = gif_blocks(src)
    if case == "local-palettes":
        assert [b["local_palette"] for b in blocks] == [False, True, True, True]
    if case.startswith("disposal"):
        assert {b["disposal"] for b in blocks} >= {GIF_CASES[case]["disposal"][-1] if case.endswith("3") else 2}
        assert any(b["box"][2:] != blocks[0]["box"][2:] for b in blocks)  # partial frames at offsets
    src_frames, src_delays, src_loop = composed(src)

    summary = upscale(src, dst, progress=False)

    out_frames, out_delays, out_loop = composed(dst)
    assert summary.frames == len(out_frames) == len(src_frames) == 4
    assert out_delays == src_delays == [40, 100, 250, 60]
    assert out_loop == src_loop
    with Image.open(dst) as im:
        assert ("loop" in im.info) == (GIF_CASES[case].get("loop", 0) is not None)
        assert im.size == (src_frames[0].shape[1] * SCALE, src_frames[0].shape[0] * SCALE)
    _check_pictures(src_frames, out_frames)


def test_transparent_colour_does_not_fringe_the_edges(tmp_path):
    """GIF transparency hides a palette colour (here pure green) that the model would otherwise
    smear onto the visible edge; filling it from the opaque neighbours first removes the fringe."""
    src = tmp_path / "in.gif"
    make_gif(src, disposal=2)
    frame = composed(src)[0][1]
    opaque = _nearest(frame[..., 3] >= 128)
    edge = opaque & ~_nearest(~_grow(~(frame[..., 3] >= 128)))  # opaque pixels beside transparent ones

    def green_excess(out):
        rgb = out[edge].astype(float)
        return float(np.mean(rgb[:, 1] - (rgb[:, 0] + rgb[:, 2]) / 2))

    assert green_excess(_model_output(frame, fill_transparent=False)) > green_excess(_model_output(frame)) + 15


def test_alpha_resampling_is_sharp_and_bounded():
    alpha = np.zeros((1, 8, 8), np.uint8)
    alpha[0, 2:6, 3:7] = 255
    alpha[0, 0, 0] = 128
    out = resize_alpha(torch.from_numpy(alpha), (32, 32)).numpy()[0]
    assert set(np.unique(out[_nearest(~_grow(alpha[0] > 0))])) == {0}  # far from any opacity: exactly 0
    assert set(np.unique(out[_nearest(~_grow(alpha[0] < 255))])) == {255}  # deep inside: exactly 255
    assert ((out >= 128) == _nearest(alpha[0] >= 128)).mean() >= 0.97


def test_identical_frames_and_zero_delays_stay(tmp_path):
    src, dst = tmp_path / "in.gif", tmp_path / "out.gif"
    make_gif(src, delays=(40, 0, 10, 0, 250), repeat=2)
    frames, delays, _ = composed(src)
    assert np.array_equal(frames[1], frames[2])
    for palette in ("global", "per-frame"):
        upscale(src, dst, UpscaleOptions(image=ImageEncoding(gif_palette=palette)), overwrite=True, progress=False)
        out, out_delays, _ = composed(dst)
        assert out_delays == [40, 0, 10, 0, 250] and len(out) == 5
        assert np.array_equal(out[1], out[2])


@pytest.mark.parametrize("dither", ["none", "bayer", "floyd-steinberg"])
@pytest.mark.parametrize("palette", ["global", "per-frame"])
def test_gif_palette_and_dither_choices(tmp_path, palette, dither):
    src, dst = tmp_path / "in.gif", tmp_path / "out.gif"
    make_gif(src, local_palettes=True, disposal=2)
    upscale(src, dst, UpscaleOptions(image=ImageEncoding(gif_palette=palette, dither=dither)), progress=False)
    blocks = gif_blocks(dst)
    assert [b["local_palette"] for b in blocks] == [False] + [palette == "per-frame"] * 3
    assert all(b["transparent"] is not None for b in blocks)
    _check_pictures(composed(src)[0], composed(dst)[0])


def test_auto_palette_choice(tmp_path):
    """One palette unless the source GIF needed several (more than 256 colours in all)."""
    one, several, webp = tmp_path / "one.gif", tmp_path / "several.gif", tmp_path / "in.webp"
    make_gif(one)
    make_gif(several, local_palettes=True, partial=False)
    frames = [Image.fromarray(f) for f in composed(several)[0]]
    frames[0].save(webp, save_all=True, append_images=frames[1:], duration=40, lossless=True)
    for src, per_frame in ((one, False), (several, True), (webp, False)):
        dst = tmp_path / f"out-{src.stem}.gif"
        upscale(src, dst, progress=False)
        assert [b["local_palette"] for b in gif_blocks(dst)][1:] == [per_frame] * 3, src.name


def test_opaque_gif_writes_changed_rectangles(tmp_path):
    src, dst = tmp_path / "in.gif", tmp_path / "out.gif"
    make_gif(src, transparent=False, delays=(40, 40, 40), repeat=2, partial=True)
    upscale(src, dst, progress=False)
    boxes = [b["box"] for b in gif_blocks(dst)]
    assert boxes[0] == (0, 0, 128, 96) and boxes[2] == (0, 0, 1, 1)  # the repeat is a 1×1 patch
    src_frames, out_frames = composed(src)[0], composed(dst)[0]
    for s, o in zip(src_frames, out_frames):
        assert _psnr(o[..., :3], _model_output(s)) >= 25


def test_gif_to_webp_and_apng_keep_delays_loop_and_alpha(tmp_path):
    src = tmp_path / "in.gif"
    make_gif(src, disposal=2, loop=3, delays=(40, 0, 250, 60))
    src_frames = composed(src)[0]
    for suffix, plays in ((".webp", 4), (".apng", 4), (".png", 4)):
        dst = tmp_path / f"out{suffix}"
        upscale(src, dst, progress=False)
        with Image.open(dst) as im:
            assert im.format in ("WEBP", "PNG") and im.n_frames == 4 and im.info["loop"] == plays
            delays, frames = [], []
            for i in range(im.n_frames):
                im.seek(i)
                im.load()
                delays.append(int(im.info["duration"]))
                frames.append(np.asarray(im.convert("RGBA")).copy())
        assert delays == [40, 0, 250, 60], suffix
        _check_pictures(src_frames, frames)
    # Lossless WebP holds exactly what the model made; --quality makes it lossy and smaller.
    lossy = tmp_path / "lossy.webp"
    upscale(src, lossy, UpscaleOptions(image=ImageEncoding(quality=60)), progress=False)
    assert lossy.stat().st_size < (tmp_path / "out.webp").stat().st_size


def test_apng_output_is_read_by_ffmpeg_too(tmp_path):
    src, dst = tmp_path / "in.gif", tmp_path / "out.apng"
    make_gif(src, delays=(40, 100, 250, 60))
    upscale(src, dst, progress=False)
    with av.open(str(dst)) as c:
        frames = list(c.decode(c.streams.video[0]))
    assert len(frames) == 4 and (frames[0].width, frames[0].height) == (128, 96)
    assert [round(float(f.pts * f.time_base) * 1000) for f in frames] == [0, 40, 140, 390]


def test_webp_and_apng_inputs(tmp_path):
    """Animated WebP and APNG made by Pillow (libwebp, Pillow's APNG writer) upscale with their
    delays, loop and alpha."""
    rgba = []
    for i in range(3):
        frame = np.dstack([np.roll(PHOTO, (i, 2 * i), axis=(0, 1))[:24, :32], np.full((24, 32), 255, np.uint8)])
        frame[2:10, 3 + 4 * i: 11 + 4 * i, 3] = 0
        rgba.append(frame)
    images = [Image.fromarray(f) for f in rgba]
    for suffix, options in ((".webp", {"lossless": True}), (".png", {})):
        src = tmp_path / f"in{suffix}"
        images[0].save(src, save_all=True, append_images=images[1:], duration=[30, 70, 120], loop=2, **options)
        dst = tmp_path / f"out-{suffix[1:]}.gif"
        upscale(src, dst, progress=False)
        frames, delays, loop = composed(dst)
        assert delays == [30, 70, 120] and loop == 1  # two plays = one repeat in GIF terms
        _check_pictures(rgba, frames)


def test_gif_to_mp4_keeps_frames_and_timestamps(tmp_path):
    src, dst = tmp_path / "in.gif", tmp_path / "out.mp4"
    make_gif(src, delays=(40, 100, 250, 60), disposal=2)
    summary = upscale(src, dst, progress=False)
    assert summary.frames == 4 and summary.output_size == (128, 96)
    assert any("composited" in w for w in summary.warnings)
    # Variable delays become variable timestamps; the running time is kept.
    assert video_timing(dst) == [Fraction(0), Fraction(40, 1000), Fraction(140, 1000), Fraction(390, 1000)]
    with av.open(str(dst)) as c:
        stream = c.streams.video[0]
        end = max(f.pts + f.duration for f in c.decode(stream)) * stream.time_base
        assert abs(float(end) - 0.450) <= 0.060  # ± the last frame
        assert int(stream.codec_context.colorspace) == 1  # tagged BT.709


def test_gif_to_mp4_background_colour(tmp_path):
    src, dst = tmp_path / "in.gif", tmp_path / "out.mkv"
    make_gif(src, size=(32, 24), disposal=2, delays=(40, 40))
    upscale(src, dst, UpscaleOptions(image=ImageEncoding(background="#ff0000"),
                                    video=VideoEncoding(codec="ffv1", pix_fmt="yuv444p")), progress=False)
    with av.open(str(dst)) as c:
        second = list(c.decode(c.streams.video[0]))[1].to_ndarray(format="rgb24")
    clear = _nearest(composed(src)[0][1][..., 3] == 0)
    clear &= ~_nearest(_grow(composed(src)[0][1][..., 3] > 0))
    assert np.abs(second[clear].astype(int) - [255, 0, 0]).max() <= 3


def test_zero_delay_becomes_one_millisecond_in_video(tmp_path):
    src, dst = tmp_path / "in.gif", tmp_path / "out.mp4"
    make_gif(src, delays=(40, 0, 60))
    summary = upscale(src, dst, progress=False)
    assert summary.frames == 3 and any("0 ms" in w for w in summary.warnings)
    assert video_timing(dst) == [Fraction(0), Fraction(40, 1000), Fraction(41, 1000)]


def test_video_to_gif(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.gif"
    make_clip(src, frames=5, durations_ms=(40, 60), audio_tracks=1)
    summary = upscale(src, dst, progress=False)
    frames, delays, loop = composed(dst)
    assert summary.frames == len(frames) == 5 and loop == 0
    assert delays[:4] == [40, 60, 40, 60]


def test_still_gif_and_still_to_gif(tmp_path):
    src = tmp_path / "still.gif"
    make_gif(src, delays=(0,), loop=None)
    out_png = tmp_path / "still.png"
    upscale(src, out_png, progress=False)
    with Image.open(out_png) as im:
        assert im.size == (128, 96) and im.mode == "RGBA"
    out_gif = tmp_path / "still-out.gif"
    upscale(src, out_gif, progress=False)
    frames, _, loop = composed(out_gif)
    assert len(frames) == 1 and loop is None
    _check_pictures(composed(src)[0], frames)


def test_truncated_gif_keeps_what_decodes(tmp_path):
    src, cut, dst = tmp_path / "in.gif", tmp_path / "cut.gif", tmp_path / "out.gif"
    make_gif(src, delays=(40,) * 8, partial=False)
    data = src.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    summary = upscale(cut, dst, progress=False)
    assert 2 <= summary.frames < 8
    assert len(composed(dst)[0]) == summary.frames


@pytest.mark.parametrize(("args", "message"), [
    (["out.jpg"], "an animated image becomes"),
    (["out.gif", "--quality", "101"], "--quality"),
    (["out.mp4", "--background", "notacolour"], "--background"),
    (["out.gif", "--background", "notacolour"], "--background"),
    (["out.gif", "--dither", "sierra"], "--dither"),
    (["out.gif", "--gif-palette", "lots"], "--gif-palette"),
])
def test_bad_animated_options_fail_cleanly(tmp_path, capsys, args, message):
    src = tmp_path / "in.gif"
    make_gif(src)
    code = main(["upscale", str(src), str(tmp_path / args[0]), *args[1:], "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert {p.name for p in tmp_path.iterdir()} <= {"in.gif", "vsr-home"}  # nothing written


def test_frame_too_large_for_the_format_is_refused_before_work(tmp_path, capsys):
    src = tmp_path / "in.gif"
    frames = [Image.new("RGB", (4100, 2), colour) for colour in ("red", "blue")]
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=40)
    code = main(["upscale", str(src), str(tmp_path / "out.webp"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "larger than .webp allows (16383 pixels a side)" in err
    assert {p.name for p in tmp_path.iterdir()} <= {"in.gif", "vsr-home"}


def test_gif_memory_does_not_grow_with_length(tmp_path, tiny_model):
    """120 more output frames of 512×384 would hold 70 MB if anything kept them (the global
    palette's frames wait on disk). A tiny model: the model is not what this is about."""
    for palette in ("global", "per-frame"):
        gifs = [(tmp_path / f"in{n}.gif", tmp_path / f"out{n}-{palette}.gif") for n in (10, 130)]
        for (src, _), n in zip(gifs, (10, 130), strict=True):
            make_gif(src, size=(128, 96), delays=(40,) * n, partial=False)
        peaks = peak_rss_mb(gifs, tiny_model, gif_palette=palette)
        assert [len(composed(dst)[0]) for _, dst in gifs] == [10, 130]
        assert peaks[1] - peaks[0] < 40, (palette, peaks)
        print(f"peak RSS, {palette} palette: 10 frames {peaks[0]:.1f} MB, 130 frames {peaks[1]:.1f} MB")
