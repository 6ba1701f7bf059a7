"""How far can blending the output against flicker go? Bounds for the temporal-blend target.

Issue 6 asks for a ≥ 20% lower flicker index at X = 0.5 with PSNR down at most 0.15 dB, on real
footage whose low-resolution input went through libx264 CRF 26. This script measures, on the
same clips and frames as quality.py:

- `none`: the model's output, no blending.
- `vsr blend`: vsr's TemporalBlend (vsr/temporal.py) at X = 0.5.
- `oracle mc`: blending against the previous output *warped by motion measured on the true
  high-resolution frames* (block matching at low resolution, refined to 1/2 pixel at high
  resolution, bicubic warp, a gate on the high-resolution warp error). No real blend can know
  the motion better than this, so its figures bound any motion-compensated blend.
- `oracle hold`: wherever the *true high-resolution* frame did not change by T levels or more,
  blend with the previous output at strength s (s = 1 holds it). This is the best a blend
  without motion compensation can do: it knows exactly where the scene was still, which
  vsr's blend must guess from the compressed input.
- `clean input`: the model on the low-resolution frames *before* compression. A blend only
  removes the flicker that compression adds, so this is roughly the floor.

    python benchmarks/blend_ceiling.py     # about 9 min on this CPU; writes results/blend-ceiling-cpu-<date>.json
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import torch
from quality import FRAMES, sample_clips
from torch.nn import functional as F

from vsr.quality import degrade
from vsr.quality.evaluate import read_frames, score, upscaler

HERE = Path(__file__).parent
SCALE, CRF, MODEL = 4, 26, "realesr-animevideov3"


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255


def to_frames(x: torch.Tensor) -> list[np.ndarray]:
    return list((x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())


def warp(img: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """img sampled at (y + dy, x + dx) for every pixel (dy, dx: N×H×W in pixels)."""
    n, _, h, w = img.shape
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1) + dy
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w) + dx
    grid = torch.stack((2 * (xs + 0.5) / w - 1, 2 * (ys + 0.5) / h - 1), dim=-1)
    return F.grid_sample(img, grid, mode=mode, padding_mode="border", align_corners=False)


def block_match(cur: torch.Tensor, prev: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor,
                radius: int, step: float, window: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    """Around the motion (dy, dx), the offset in `step`s within ±radius with the lowest mean
    absolute difference over a window."""
    costs, offsets = [], []
    for oy in range(-radius, radius + 1):
        for ox in range(-radius, radius + 1):
            moved = warp(prev, dy + oy * step, dx + ox * step)
            diff = (cur - moved).abs().mean(dim=1, keepdim=True)
            costs.append(F.avg_pool2d(diff, window, stride=1, padding=window // 2, count_include_pad=False))
            offsets.append((oy * step, ox * step))
    best = torch.cat(costs, dim=1).argmin(dim=1)
    table = torch.tensor(offsets)
    return dy + table[best][..., 0], dx + table[best][..., 1]


def oracle_blend(lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor, strength: float, gate: float = 0.03) -> torch.Tensor:
    out = sr.clone()
    h, w = sr.shape[-2:]
    for t in range(1, len(sr)):
        zero = torch.zeros(1, *lr.shape[-2:])
        dy, dx = block_match(lr[t : t + 1], lr[t - 1 : t], zero, zero, radius=4, step=1.0)
        dy = F.interpolate(dy[:, None] * SCALE, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        dx = F.interpolate(dx[:, None] * SCALE, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        dy, dx = block_match(hr[t : t + 1], hr[t - 1 : t], dy, dx, radius=2, step=1.0)
        dy, dx = block_match(hr[t : t + 1], hr[t - 1 : t], dy, dx, radius=1, step=0.5)
        error = (hr[t : t + 1] - warp(hr[t - 1 : t], dy, dx, "bicubic")).abs().mean(dim=1, keepdim=True)
        weight = (1 - F.avg_pool2d(error, 5, stride=1, padding=2) / gate).clamp(0, 1)
        out[t : t + 1] = sr[t : t + 1] + strength * weight * (warp(out[t - 1 : t], dy, dx, "bicubic") - sr[t : t + 1])
    return out


def oracle_hold(sr: torch.Tensor, hr: torch.Tensor, strength: float, levels: int) -> torch.Tensor:
    out = sr.clone()
    for t in range(1, len(sr)):
        still = ((hr[t] - hr[t - 1]).abs().amax(dim=0, keepdim=True) < levels / 255).float()
        out[t] = sr[t] + strength * still * (out[t - 1] - sr[t])
    return out


def relative(row: dict, base: dict) -> dict:
    return {"psnr": row["psnr"], "flicker": row["flicker"], "psnr_change_db": round(row["psnr"] - base["psnr"], 3),
            "flicker_change_pct": round((row["flicker"] / base["flicker"] - 1) * 100, 1)}


def clip_bounds(path: Path) -> dict:
    hr = [degrade.crop_to_multiple(f, 2 * SCALE) for f in read_frames(path, FRAMES)]
    clean = [degrade.area_downscale(f, SCALE) for f in hr]
    lr = degrade.h264_round_trip(clean, CRF)
    _, model = upscaler(MODEL, SCALE)
    _, blended = upscaler(MODEL, SCALE, temporal_blend=0.5)
    sr = model(lr)
    base = score(sr, hr, SCALE)
    rows = {"none": relative(base, base), "vsr blend 0.5": relative(score(blended(lr), hr, SCALE), base)}
    lr_t, sr_t, hr_t = to_tensor(np.stack(lr)), to_tensor(np.stack(sr)), to_tensor(np.stack(hr))
    for x in (0.5, 0.9):
        rows[f"oracle mc {x}"] = relative(score(to_frames(oracle_blend(lr_t, sr_t, hr_t, x)), hr, SCALE), base)
    for levels in (2, 4):
        for x in (0.5, 1.0):
            rows[f"oracle hold {x} T{levels}"] = relative(score(to_frames(oracle_hold(sr_t, hr_t, x, levels)), hr, SCALE), base)
    rows["clean input"] = relative(score(model(clean), hr, SCALE), base)
    print(path.name, json.dumps(rows, indent=1), flush=True)
    return rows


def main() -> None:
    clips = sample_clips()
    date = datetime.date.today().isoformat()
    result = {"date": date, "model": MODEL, "scale": SCALE, "degrade_crf": CRF, "frames": FRAMES,
              "clips": {name: clip_bounds(clips[name]) for name in ("bigbuckbunny", "bikes")}}
    (HERE / "results" / f"blend-ceiling-cpu-{date}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
