"""Which GIF quantiser and dithering vsr uses, measured.

Frames: the built-in model's ×4 output on slow pans over the three test photographs (real
colour detail, what a GIF writer actually receives), plus a smooth gradient (banding) and a
static scene with one moving object (dither noise that crawls between frames).

For each quantiser (FFmpeg palettegen/paletteuse through vsr.media.animated.palette; Pillow's median cut)
and dithering: PSNR against the unquantised frames, PSNR after a 5×5 blur on the gradient (how
smooth the gradient looks from a viewing distance), the mean change of static pixels from frame
to frame, and the GIF size per frame. Then vsr's own writer with a global vs a per-frame palette.

    python benchmarks/gif_quantiser.py            # writes benchmarks/results/gif-quantiser-<machine>-<date>.json
"""

from __future__ import annotations

import datetime
import io
import json
import platform
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import vsr
from vsr.media.animated.gif import GifWriter
from vsr.media.animated.palette import GlobalPalette
from vsr.media.animated.writer import AnimationSinkSpec
from vsr.media.frames import RgbFrame
from vsr.runtime.engine import Engine

HERE = Path(__file__).parent
PHOTOS = sorted((HERE.parent / "tests" / "data" / "photos").glob("*.png"))


def psnr(a, b) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def box_blur(a: np.ndarray, k: int = 5) -> np.ndarray:
    x = torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1)[None]
    return torch.nn.functional.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)[0].permute(1, 2, 0).numpy()


def model_frames(photo: Path, frames: int = 6) -> list[np.ndarray]:
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    h, w = rgb.shape[0] - frames, rgb.shape[1] - 2 * frames
    engine = Engine(model=vsr.load_model("realesr-animevideov3"), device=torch.device("cpu"),
                    dtype=torch.float32, out_size=(h * 4, w * 4))
    return [engine(torch.from_numpy(np.ascontiguousarray(rgb[i: i + h, 2 * i: 2 * i + w][None])))[0].numpy()
            for i in range(frames)]


def ffmpeg(frames: list[np.ndarray], dither: str) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    pal = GlobalPalette(w, h, with_alpha=False, dither=dither)
    for f in frames:
        pal.add(f, None)
    pal.palette()
    return [pal.apply(f, None).rgb() for f in frames]


def pillow(frames: list[np.ndarray], dither: str) -> list[np.ndarray]:
    # Median cut over all frames side by side (one palette, as FFmpeg's stats_mode=full).
    strip = Image.fromarray(np.concatenate(frames, axis=1))
    palette = strip.quantize(256, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    mode = Image.Dither.FLOYDSTEINBERG if dither == "floyd-steinberg" else Image.Dither.NONE
    return [np.asarray(Image.fromarray(f).quantize(palette=palette, dither=mode).convert("RGB")) for f in frames]


def gif_bytes(frames: list[np.ndarray]) -> int:
    ims = [Image.fromarray(f).quantize(256, dither=Image.Dither.NONE) for f in frames]  # lossless: ≤256 colours already
    buf = io.BytesIO()
    ims[0].save(buf, "GIF", save_all=True, append_images=ims[1:], duration=40, optimize=False)
    return len(buf.getvalue())


def scenes() -> dict[str, list[np.ndarray]]:
    yy, xx = np.mgrid[0:192, 0:256]
    gradient = np.stack([xx, yy * 1.3, (xx + yy) / 2], -1).astype(np.uint8)
    static = []
    for i in range(6):
        a = gradient.copy()
        a[10:30, 20 + 8 * i: 40 + 8 * i] = [255, 0, 0]
        static.append(a)
    out = {p.stem: model_frames(p) for p in PHOTOS}
    out["gradient"] = [gradient]
    out["static"] = static
    return out


def compare_quantisers(frames_by_scene) -> list[dict]:
    rows = []
    still = np.ones((192, 256), bool)
    still[5:35, :] = False  # rows the moving object never touches
    for name, fn, dithers in (("ffmpeg", ffmpeg, ("none", "bayer", "floyd-steinberg")),
                              ("pillow", pillow, ("none", "floyd-steinberg"))):
        for dither in dithers:
            photo_psnr, photo_bytes = [], []
            for scene in (p.stem for p in PHOTOS):
                q = fn(frames_by_scene[scene], dither)
                photo_psnr.append(np.mean([psnr(a, b) for a, b in zip(q, frames_by_scene[scene])]))
                photo_bytes.append(gif_bytes(q) / len(q))
            grad = frames_by_scene["gradient"][0]
            qg = fn([grad], dither)[0]
            qs = fn(frames_by_scene["static"], dither)
            flicker = np.mean([np.abs(a.astype(int) - b)[still].mean() for a, b in zip(qs[1:], qs[:-1])])
            rows.append({"quantiser": name, "dither": dither, "photo_psnr_db": round(float(np.mean(photo_psnr)), 2),
                         "gradient_psnr_blurred_db": round(psnr(box_blur(qg), box_blur(grad)), 2),
                         "static_flicker": round(float(flicker), 3),
                         "kib_per_frame": round(float(np.mean(photo_bytes)) / 1024, 1)})
    return rows


def write_gif(path: Path, frames: list[np.ndarray], mode: str) -> list[np.ndarray]:
    """Through vsr's GIF writer and back through Pillow's decoder."""
    h, w = frames[0].shape[:2]
    writer = GifWriter(path, AnimationSinkSpec(width=w, height=h, plays=0, has_alpha=False,
                                               gif_palette="global" if mode == "global" else "per-frame"))
    for i, f in enumerate(frames):
        writer.write(RgbFrame(rgb=f, pts=40 * i, time_base=Fraction(1, 1000), duration=40))
    writer.finish()
    with Image.open(path) as im:
        got = []
        for i in range(im.n_frames):
            im.seek(i)
            got.append(np.asarray(im.convert("RGB")))
    return got


def compare_palettes(frames_by_scene) -> list[dict]:
    rows = []
    still = np.ones((192, 256), bool)
    still[5:35, :] = False
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("global", "per-frame"):
            sizes, quality = [], []
            for scene in (p.stem for p in PHOTOS):
                path = Path(tmp) / f"{scene}-{mode}.gif"
                got = write_gif(path, frames_by_scene[scene], mode)
                quality.append(np.mean([psnr(a, b) for a, b in zip(got, frames_by_scene[scene])]))
                sizes.append(path.stat().st_size / len(got))
            qs = write_gif(Path(tmp) / f"static-{mode}.gif", frames_by_scene["static"], mode)
            flicker = np.mean([np.abs(a.astype(int) - b)[still].mean() for a, b in zip(qs[1:], qs[:-1])])
            rows.append({"gif_palette": mode, "photo_psnr_db": round(float(np.mean(quality)), 2),
                         "kib_per_frame": round(float(np.mean(sizes)) / 1024, 1), "static_flicker": round(float(flicker), 3)})
    return rows


def main() -> None:
    torch.set_num_threads(torch.get_num_threads())
    frames = scenes()
    result = {
        "machine": platform.node() or "unknown", "cpu": platform.processor() or platform.machine(),
        "date": datetime.date.today().isoformat(), "python": sys.version.split()[0], "torch": torch.__version__,
        "frames": "realesr-animevideov3 ×4 on 6-frame pans over tests/data/photos (96×72 → 384×288 less the pan)",
        "quantisers": compare_quantisers(frames),
        "vsr_gif_writer": compare_palettes(frames),
    }
    out = HERE / "results" / f"gif-quantiser-cpu-{result['date']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
