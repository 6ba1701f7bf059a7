"""Metrics against independently computed values, BD-rate with a known answer, temporal blending,
and the `vsr eval` / `vsr bandwidth` commands."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from clips import PHOTO, make_clip
from vsr.cli import main
from vsr.quality import metrics
from vsr.quality.degrade import area_downscale
from vsr.runtime.temporal import TemporalBlend


def test_psnr_of_known_differences():
    a = np.full((20, 30, 3), 100, np.uint8)
    assert metrics.psnr_rgb(a + 4, a) == pytest.approx(10 * math.log10(255**2 / 16))
    # A grey step of k levels moves Y by k·219/255.
    k = 6
    assert metrics.psnr_y(a + k, a) == pytest.approx(10 * math.log10(255**2 / (k * 219 / 255) ** 2))
    assert metrics.psnr_y(a, a) == math.inf


def test_border_crop_ignores_the_edges():
    a = PHOTO[:40, :40].copy()
    b = a.copy()
    b[:4] = 0
    b[:, -4:] = 255
    assert metrics.psnr_y(b, a, crop=4) == math.inf and metrics.psnr_y(b, a) < 30


def _ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Straight from the definition: an 11×11 Gaussian (σ 1.5) weighted sum at every valid position."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    h, wd = x.shape
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(h - 10):
        for j in range(wd - 10):
            px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cov = (w * (px - mx) * (py - my)).sum()
            values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_against_the_definition():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (24, 30))
    assert metrics.ssim(x, x) == pytest.approx(1.0)
    for noise in (5, 40):
        y = np.clip(x + rng.normal(0, noise, x.shape), 0, 255)
        assert metrics.ssim(x, y) == pytest.approx(_ssim_reference(x, y), abs=1e-9)


def test_flicker_index():
    hr = [np.full((16, 16, 3), v, np.uint8) for v in (50, 60, 60, 90)]
    same = metrics.Flicker()
    for h in hr:
        same.add(h, h)
    assert same.value == 0
    frozen = metrics.Flicker()
    for h in hr:
        frozen.add(hr[0], h)  # an output that never changes, against a truth that does
    steps = np.abs(np.diff([metrics.y_channel(h)[0, 0] for h in hr]))
    assert frozen.value == pytest.approx(steps.mean())


def test_gradient_energy_reads_blur_below_one_and_noise_above():
    from PIL import Image, ImageFilter

    photo = PHOTO[:96, :96]
    blurred = np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(1.5)))
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    assert metrics.gradient_energy(photo, photo, 4) == 1.0
    assert metrics.gradient_energy(blurred, photo, 4) < 0.5
    assert metrics.gradient_energy(noisy, photo, 4) > 1.5
    flat = np.full_like(photo, 100)
    assert metrics.gradient_energy(flat, photo) == 0.0
    assert math.isnan(metrics.gradient_energy(photo, flat))  # a flat truth: nothing to compare with


def test_bd_rate_of_a_constant_rate_factor():
    rate = np.array([100.0, 200, 400, 800, 1600])
    quality = np.array([30.0, 33, 35.5, 37.5, 39])
    assert metrics.bd_rate(rate, quality, rate * 0.8, quality) == pytest.approx(-20.0)
    assert metrics.bd_rate(rate, quality, rate * 1.5, quality) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="overlap"):
        metrics.bd_rate(rate, quality, rate, quality + 20)
    with pytest.raises(ValueError, match="4 different"):
        metrics.bd_rate(rate, quality, rate, [30.0, 30.0, 35.5, 37.5, 37.5])


def test_curve_bd_rate_says_how_to_make_curves_overlap(caplog):
    from vsr.quality.bandwidth import curve_bd_rate

    caplog.set_level("WARNING", logger="vsr")  # an earlier --quiet command may have raised the level

    def rows(method, rates, psnrs):
        return [{"method": method, "kbps": r, "psnr": q} for r, q in zip(rates, psnrs)]

    direct = rows("direct", [400, 700, 1200, 2000], [33.0, 36.0, 39.0, 43.0])
    sr = rows("sr", [50, 90, 160, 300], [26.0, 28.0, 29.0, 30.5])
    assert curve_bd_rate(direct, sr, "psnr") is None
    assert "direct 33-43, sr 26-30.5" in caplog.text and "higher CRFs" in caplog.text
    cheaper = rows("sr", [r["kbps"] * 0.8 for r in direct], [r["psnr"] for r in direct])
    assert curve_bd_rate(direct, cheaper, "psnr") == pytest.approx(-20.0)


def _sr(frames, blend: float):
    import vsr
    from vsr.runtime.engine import Engine

    h, w = frames[0].shape[:2]
    engine = Engine(model=vsr.load_model("realesr-animevideov3"), device=torch.device("cpu"), dtype=torch.float32,
                    out_size=(h * 4, w * 4), temporal=TemporalBlend(blend) if blend else None)
    return [engine(torch.from_numpy(f[None]))[0].numpy() for f in frames], engine


def test_static_noisy_scene_becomes_steadier():
    rng = np.random.default_rng(0)
    hr = PHOTO[:96, :128].copy()
    clean = area_downscale(hr, 4)
    lr = [np.clip(clean + rng.normal(0, 2, clean.shape), 0, 255).astype(np.uint8) for _ in range(8)]

    def flicker(blend):
        f = metrics.Flicker(crop=4)
        for out in _sr(lr, blend)[0]:
            f.add(out, hr)
        return f.value

    off, on = flicker(0), flicker(0.5)
    assert on < 0.7 * off, (off, on)


def test_moving_object_leaves_no_trail():
    background = PHOTO[:96, :128].copy()
    hr_frames = []
    for i in range(6):
        frame = background.copy()
        frame[32:64, 8 + 16 * i: 40 + 16 * i] = (250, 30, 30)
        hr_frames.append(frame)
    lr = [area_downscale(f, 4) for f in hr_frames]
    plain, blended = _sr(lr, 0)[0], _sr(lr, 0.5)[0]
    for t in range(1, 6):
        moved = (hr_frames[t] != hr_frames[t - 1]).any(axis=-1)
        gain = metrics.psnr(blended[t][moved], hr_frames[t][moved]) - metrics.psnr(plain[t][moved], hr_frames[t][moved])
        assert abs(gain) <= 0.1


def test_scene_cut_resets_the_blend():
    a, b = area_downscale(PHOTO[:96, :128].copy(), 4), area_downscale(PHOTO[160:256, 200:328].copy(), 4)
    blended, engine = _sr([a, a, b, b], 0.5)
    plain = _sr([b], 0)[0][0]
    assert engine.temporal.cuts == 1
    assert np.abs(blended[2].astype(int) - plain).max() <= 1  # the first frame after a cut is not blended


def test_upscale_with_temporal_blend(tmp_path):
    from clips import video_timing
    from vsr.pipeline import UpscaleOptions, upscale

    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=6)
    summary = upscale(src, dst, UpscaleOptions(temporal_blend=0.5), progress=False)
    assert summary.frames == 6 and video_timing(dst) == video_timing(src)


def test_eval_command_rows(tmp_path, capsys):
    ref = tmp_path / "ref.mkv"
    make_clip(ref, frames=4, size=(64, 48), codec="ffv1", pix_fmt="yuv444p", audio_tracks=0)
    code = main(["eval", str(ref), "--model", "realesr-animevideov3", "--model", "bicubic", "--model", "lanczos",
                 "--degrade-crf", "26", "--temporal-blend", "0.5", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    assert "eval" in captured.err  # the progress bar, on stderr
    rows = json.loads(captured.out)
    assert [r["model"] for r in rows] == ["realesr-animevideov3 (blend 0.5)", "bicubic", "lanczos"]
    for r in rows:
        assert set(r) == {"reference", "model", "psnr", "ssim", "psnr_rgb", "flicker", "fps", "frames"}
        assert r["frames"] == 4 and 15 < r["psnr"] < 60 and 0 < r["ssim"] <= 1 and r["flicker"] >= 0


def test_eval_with_paired_low_resolution(tmp_path, capsys):
    ref, lr = tmp_path / "ref.png", tmp_path / "lr.png"
    from PIL import Image

    Image.fromarray(PHOTO[:96, :128]).save(ref)
    Image.fromarray(area_downscale(PHOTO[:96, :128].copy(), 4)).save(lr)
    assert main(["eval", str(ref), "--lr", str(lr), "--model", "bicubic", "--scale", "4", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["frames"] == 1 and row["flicker"] is None and row["psnr"] > 20


def test_bandwidth_command(tmp_path, capsys):
    ref = tmp_path / "ref.mkv"
    make_clip(ref, frames=6, size=(96, 64), codec="ffv1", pix_fmt="yuv444p", audio_tracks=0)
    assert main(["bandwidth", str(ref), "--crf", "18,26,34,42", "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # --quiet: no progress bar
    out = json.loads(captured.out)
    assert len(out["rows"]) == 12 and {r["method"] for r in out["rows"]} == {"direct", "sr", "bicubic"}
    sr = [r for r in out["rows"] if r["method"] == "sr"]
    bicubic = [r for r in out["rows"] if r["method"] == "bicubic"]
    assert [r["bytes"] for r in sr] == [r["bytes"] for r in bicubic]  # the same small stream
    assert all(a["bytes"] > b["bytes"] for a, b in itertools.pairwise(sr))  # higher CRF, fewer bytes
    assert set(out["bd_rate"]) == {"sr_vs_direct_psnr", "sr_vs_direct_ssim", "sr_vs_bicubic_psnr", "sr_vs_bicubic_ssim"}


def test_bandwidth_plot_is_checked_before_the_work_and_not_overwritten(tmp_path, capsys, monkeypatch):
    import sys

    ref, plot = tmp_path / "ref.mkv", tmp_path / "rd.png"
    make_clip(ref, frames=3, size=(64, 48), codec="ffv1", pix_fmt="yuv444p", audio_tracks=0)
    args = ["bandwidth", str(ref), "--crf", "18,26,34,42", "--model", "realesr-animevideov3", "--quiet"]
    assert main([*args, "--plot", str(plot)]) == 0
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rd.png", "ref.mkv"]  # no temporary left
    capsys.readouterr()
    before = plot.read_bytes()
    for extra, message in ((["--plot", str(plot)], "use --overwrite"),
                           (["--plot", str(tmp_path / "nowhere" / "rd.png")], "does not exist"),
                           (["--plot", str(tmp_path / "rd.txt")], ".png")):
        assert main([*args, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert plot.read_bytes() == before
    assert main([*args, "--plot", str(plot), "--overwrite"]) == 0
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # not installed: said at once
    assert main([*args, "--plot", str(tmp_path / "other.png")]) == 2
    assert "pip install 'vsr[plot]'" in capsys.readouterr().err


def test_bandwidth_needs_four_crfs(tmp_path, capsys):
    ref = tmp_path / "ref.mkv"
    make_clip(ref, frames=3, size=(64, 48), codec="ffv1", audio_tracks=0)
    assert main(["bandwidth", str(ref), "--crf", "20,30"]) == 2
    assert "at least 4" in capsys.readouterr().err
    assert main(["bandwidth", str(ref), "--crf", "20,30,30,30"]) == 2
    assert "4 different" in capsys.readouterr().err
    assert main(["bandwidth", str(ref), "--crf", "20,30,40,60"]) == 2
    assert "from 0 to 51" in capsys.readouterr().err
    assert main(["bandwidth", str(ref), "--codec", "mpeg4"]) == 2  # ignores a CRF: every point the same
    assert "no CRF mode" in capsys.readouterr().err
    assert main(["bandwidth", str(ref), "--codec", "nosuch"]) == 2
    assert "not an encoder" in capsys.readouterr().err


def test_eval_refuses_what_it_cannot_measure(tmp_path, capsys):
    from PIL import Image

    tiny, ref, lr = tmp_path / "tiny.png", tmp_path / "ref.png", tmp_path / "lr.png"
    Image.fromarray(PHOTO[:8, :8]).save(tiny)
    Image.fromarray(PHOTO[:96, :128]).save(ref)
    Image.fromarray(PHOTO[:20, :20]).save(lr)  # not ref / 4
    assert main(["eval", str(tiny), "--model", "bicubic"]) == 2
    assert "too small to evaluate" in capsys.readouterr().err
    assert main(["eval", str(ref), "--lr", str(lr), "--model", "bicubic", "--scale", "4"]) == 2
    err = capsys.readouterr().err
    assert "but the reference" in err and err.count("\n") == 1
