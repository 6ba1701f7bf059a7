"""Temporal blending: less frame-to-frame flicker where the source did not change, no ghosting
where it did.

Each output frame is blended with the previous *output* (a running average) with a per-pixel
weight `strength × agreement`, where agreement comes from the low-resolution frames: 1 where
this and the previous input frame agree, falling to 0 where their 5×5 mean difference reaches
`tolerance` (motion moves a neighbourhood together; noise averages out) or any pixel within one
of it changed by 4 × `tolerance` (a thin edge that moved). A scene cut (the whole frame changed)
starts afresh. It runs on the engine's device, inside the stream.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

TOLERANCE = 0.04  # about 10 levels of 255: compression noise agrees, motion does not
SCENE_CUT = 0.12  # mean absolute difference of the whole frame that starts a new scene


class TemporalBlend:
    def __init__(self, strength: float, *, tolerance: float = TOLERANCE, scene_cut: float = SCENE_CUT) -> None:
        if not 0 <= strength < 1:
            raise ValueError(f"temporal blend strength must be in [0, 1), got {strength}")
        self.strength, self.tolerance, self.scene_cut = strength, tolerance, scene_cut
        self._lr: torch.Tensor | None = None
        self._out: torch.Tensor | None = None
        self.cuts = 0

    def __call__(self, lr: torch.Tensor, sr: torch.Tensor) -> torch.Tensor:
        """NCHW float batches in [0, 1] (input and upscaled), in stream order → blended SR."""
        if self.strength == 0:
            return sr
        out = torch.empty_like(sr)
        for i in range(sr.shape[0]):
            out[i] = self._one(lr[i : i + 1].float(), sr[i : i + 1].float())[0]
        return out

    def _one(self, lr: torch.Tensor, sr: torch.Tensor) -> torch.Tensor:
        prev_lr, prev_out = self._lr, self._out
        self._lr = lr
        if prev_lr is None or prev_out is None or prev_lr.shape != lr.shape:
            self._out = sr
            return sr
        diff = lr - prev_lr
        if float(diff.abs().mean()) > self.scene_cut:
            self.cuts += 1
            self._out = sr
            return sr
        # Motion changes a neighbourhood coherently; noise does not, and averages out over 5×5.
        coherent = F.avg_pool2d(diff, 5, stride=1, padding=2, count_include_pad=False).abs().amax(dim=1, keepdim=True)
        # A large change at any single pixel (a thin edge that moved) also stops the blend there.
        sharp = F.max_pool2d(diff.abs().amax(dim=1, keepdim=True), 3, stride=1, padding=1)
        agreement = (1 - coherent / self.tolerance).clamp_(0, 1) * (1 - sharp / (4 * self.tolerance)).clamp_(0, 1)
        weight = F.interpolate(agreement, size=sr.shape[-2:], mode="bilinear", align_corners=False)
        out = sr + self.strength * weight * (prev_out - sr)
        self._out = out
        return out
