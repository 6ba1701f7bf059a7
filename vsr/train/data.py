"""Training data: high-resolution frames from images and videos, the degradation that makes their
low-resolution inputs, and aligned random patches with flips and 90° rotations.

The low-resolution input must look like what the model will meet, so the degradation is a chain
the user sets: Gaussian blur (on the high-resolution frame), area or bicubic downscale, Gaussian
noise, JPEG, H.264. Each parameter is a value or a range `A:B` drawn from per patch. When nothing
is random (no range, no noise), the whole frames are degraded once before training: a video's
frames go through H.264 as one stream, so the model learns from real inter-frame artefacts, as
`vsr eval --degrade-crf` makes them. Otherwise each batch is degraded afresh (its patches go
through H.264 together, as one short stream). For the temporal loss, a video's crops come in
pairs of neighbouring frames, cropped and flipped alike.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image, ImageFilter

from vsr.errors import InputError
from vsr.media.image import read_image
from vsr.media.kinds import IMAGE_SUFFIXES, VIDEO_SUFFIXES, is_image
from vsr.media.limits import available_memory
from vsr.quality import degrade

log = logging.getLogger(__name__)

# Videos, and GIFs read as videos (their frames, composed by FFmpeg).
TRAINING_VIDEO_SUFFIXES = VIDEO_SUFFIXES | {".gif"}
DOWNSCALES = ("area", "bicubic")


@dataclass(frozen=True)
class Span:
    """A fixed value (`low == high`) or a range drawn from uniformly; written "V" or "A:B"."""

    low: float
    high: float

    @classmethod
    def parse(cls, text: str | float | int, what: str, lowest: float, highest: float) -> Span:
        try:
            parts = [float(p) for p in str(text).split(":")]
        except ValueError:
            parts = []
        if len(parts) not in (1, 2) or parts[0] > parts[-1] or parts[0] < lowest or parts[-1] > highest:
            raise InputError(f"`{what}`: {text!r} is not a value or a range A:B within [{lowest:g}, {highest:g}]",
                             option=what)
        return cls(parts[0], parts[-1])

    @property
    def fixed(self) -> bool:
        return self.low == self.high

    def draw(self, rng: np.random.Generator) -> float:
        return self.low if self.fixed else float(rng.uniform(self.low, self.high))

    def __str__(self) -> str:
        return f"{self.low:g}" if self.fixed else f"{self.low:g}:{self.high:g}"


@dataclass(frozen=True)
class Degradation:
    """HR frames → LR frames: blur (σ in HR pixels), downscale, noise (σ in 8-bit levels),
    JPEG (quality), H.264 (CRF). None leaves a step out."""

    scale: int
    downscale: str = "area"
    blur: Span | None = None
    noise: Span | None = None
    jpeg: Span | None = None
    crf: Span | None = None

    def __post_init__(self) -> None:
        if self.downscale not in DOWNSCALES:
            raise InputError(f"`degrade_downscale`: {self.downscale!r}; expected one of {', '.join(DOWNSCALES)}",
                             option="degrade_downscale")

    @property
    def random(self) -> bool:
        """Whether two passes over the same frame can differ (then it is degraded per batch)."""
        spans = [s for s in (self.blur, self.jpeg, self.crf) if s is not None]
        return self.noise is not None or any(not s.fixed for s in spans)

    def apply(self, frames: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """Degrade equal-sized HWC uint8 frames, in order (H.264 sees them as one stream)."""
        out = []
        for hr in frames:
            if self.blur is not None and (sigma := self.blur.draw(rng)) > 0:
                hr = np.asarray(Image.fromarray(hr).filter(ImageFilter.GaussianBlur(sigma)))
            lr = self._downscale(hr)
            if self.noise is not None and (sigma := self.noise.draw(rng)) > 0:
                lr = np.clip(lr + rng.normal(0.0, sigma, lr.shape), 0, 255).round().astype(np.uint8)
            if self.jpeg is not None:
                buffer = io.BytesIO()
                Image.fromarray(lr).save(buffer, format="JPEG", quality=round(self.jpeg.draw(rng)))
                lr = np.asarray(Image.open(buffer).convert("RGB"))
            out.append(lr)
        if self.crf is not None:
            out = degrade.h264_round_trip(out, round(self.crf.draw(rng)))
        return out

    def _downscale(self, hr: np.ndarray) -> np.ndarray:
        if self.downscale == "area":
            return degrade.area_downscale(hr, self.scale)
        h, w = hr.shape[:2]
        # Pillow's bicubic widens its kernel when shrinking (antialiased, like MATLAB's imresize).
        return np.asarray(Image.fromarray(hr).resize((w // self.scale, h // self.scale), Image.Resampling.BICUBIC))

    def describe(self) -> str:
        steps = [f"blur σ {self.blur}"] if self.blur else []
        steps.append(f"{self.downscale} ÷{self.scale}")
        steps += [f"{name} {span}" for name, span in (("noise σ", self.noise), ("JPEG q", self.jpeg),
                                                        ("H.264 CRF", self.crf)) if span is not None]
        return ", ".join(steps)


@dataclass(frozen=True)
class FrameRange:
    """Which frames of a video to use: Python slice bounds, `START:END` (either may be left out)."""

    start: int = 0
    end: int | None = None
    step: int = 1

    @classmethod
    def parse(cls, text: str | None, step: int = 1, what: str = "frames") -> FrameRange:
        if step < 1:
            raise InputError(f"`frame_step` must be at least 1, not {step}", option="frame_step")
        if not text:
            return cls(step=step)
        parts = text.split(":")
        try:
            start = int(parts[0]) if parts[0] else 0
            end = int(parts[1]) if len(parts) == 2 and parts[1] else None
        except ValueError:
            parts = []
        if len(parts) != 2 or start < 0 or (end is not None and end <= start):
            raise InputError(f"`{what}`: {text!r} is not a frame range START:END (e.g. 0:100, 100:)", option=what)
        return cls(start, end, step)


@dataclass
class Source:
    """One image or video: its high-resolution frames, cropped to a multiple of the scale, in order."""

    path: Path
    frames: list[np.ndarray]
    video: bool
    lr: list[np.ndarray] | None = field(default=None, repr=False)  # the degraded frames, when fixed

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].shape[1], self.frames[0].shape[0]


def media_files(paths: list[Path]) -> list[Path]:
    """The files named, and the images and videos inside the folders named (not recursive)."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and (is_image(p) or p.suffix.lower() in TRAINING_VIDEO_SUFFIXES))
            if not found:
                raise InputError(f"{path}: no images or videos in this folder "
                                 f"({', '.join(sorted(IMAGE_SUFFIXES))}, {', '.join(sorted(TRAINING_VIDEO_SUFFIXES))})")
            files += found
        else:
            files.append(path)
    return files


class MemoryBudget:
    """The training frames are held in memory; refuse, while reading them, a set that would not
    fit (half of what is available now), with what to change, rather than be killed mid-run."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = available_memory() // 2 if limit is None else limit
        self.used = self.frames = 0

    def take(self, frame: np.ndarray, path: Path) -> None:
        self.used += frame.nbytes
        self.frames += 1
        if self.used > self.limit:
            raise InputError(f"{path}: the training frames need more than {self.limit / 2**30:.1f} GiB of memory "
                             f"(half of what is free; {self.frames} frames read so far); use fewer with "
                             f"`frames` START:END, `frame_step` N or fewer `data` files", option=("frames", "frame_step", "data"))


def _read_frames(path: Path, frames: FrameRange, budget: MemoryBudget) -> tuple[list[np.ndarray], bool]:
    if is_image(path):
        image = read_image(path)[0]
        budget.take(image, path)
        return [image], False
    picked = []
    try:
        for frame in islice(degrade.decode(path), frames.start, frames.end, frames.step):
            budget.take(frame, path)
            picked.append(frame)
    except av.error.FFmpegError as exc:  # a decoder failing part-way (corrupt data)
        raise InputError(f"{path}: cannot decode its frames ({exc})") from exc
    if not picked:
        raise InputError(f"{path}: no frames in the range {frames.start}:{frames.end if frames.end is not None else ''}")
    return picked, True


def load_sources(paths: list[Path], *, scale: int, frames: FrameRange, patch_size: int,
                 budget: MemoryBudget | None = None) -> list[Source]:
    """Read every frame the training will use, checking each file is usable for this scale and crop."""
    budget = budget or MemoryBudget()
    sources = []
    for path in media_files(paths):
        picked, video = _read_frames(path, frames, budget)
        multiple = 2 * scale  # even low-resolution sizes, which H.264's 4:2:0 needs
        h, w = picked[0].shape[:2]
        if min(h, w) < patch_size or min(h, w) < multiple:
            raise InputError(f"{path}: {w}x{h} is smaller than the {patch_size}-pixel training crop; "
                             f"lower `patch_size` or leave this file out", option="patch_size")
        sources.append(Source(path, [degrade.crop_to_multiple(f, multiple) for f in picked], video))
    return sources


def hold_out(sources: list[Source], fraction: float, rng: np.random.Generator) -> tuple[list[Source], list[Source]]:
    """Split off a validation set: the last `fraction` of each video's frames (neighbouring frames
    are near copies, so a random pick would leak them into training), and a random `fraction`
    of the still images."""
    if not 0 < fraction < 1:
        raise InputError(f"`val_fraction` must be between 0 and 1, not {fraction}", option="val_fraction")
    train, val = [], []
    for s in (s for s in sources if s.video):
        if len(s.frames) < 2:
            train.append(s)
            continue
        cut = len(s.frames) - max(1, round(len(s.frames) * fraction))
        train.append(Source(s.path, s.frames[:cut], True))
        val.append(Source(s.path, s.frames[cut:], True))
    images = [s for s in sources if not s.video]
    if len(images) >= 2:
        order = rng.permutation(len(images))
        count = max(1, round(len(images) * fraction))
        val += [images[i] for i in sorted(order[:count])]
        train += [images[i] for i in sorted(order[count:])]
    else:
        train += images
    if not val:
        raise InputError("nothing to hold out for validation (one still image); give `val` PATH", option="val")
    return train, val


@dataclass(frozen=True)
class Batch:
    """Training crops: frames 2k and 2k+1 for k < `pairs` are neighbouring frames of a video."""

    lr: torch.Tensor
    hr: torch.Tensor
    pairs: int = 0

    def pin_memory(self) -> Batch:
        return Batch(self.lr.pin_memory(), self.hr.pin_memory(), self.pairs)

    def to(self, device: torch.device) -> Batch:
        return Batch(self.lr.to(device, non_blocking=True), self.hr.to(device, non_blocking=True), self.pairs)


class PatchSampler:
    """Random aligned (LR, HR) patch batches as float NCHW tensors in [0, 1], and how many
    neighbour pairs lead the batch. All randomness comes from `rng`, so a run restarted from a
    saved state draws the same batches.

    With `neighbours`, a crop from a video comes with the same crop of the next frame (same place,
    same flips), as frames 2k and 2k+1 at the head of the batch, for a loss on how the output
    changes from frame to frame; crops of still images (and a last free slot) come singly after
    them. A batch holds `batch_size` frames either way, so a step costs the same."""

    def __init__(self, sources: list[Source], degradation: Degradation, *, patch_size: int, batch_size: int,
                 rng: np.random.Generator, neighbours: bool = False) -> None:
        self.sources, self.degradation, self.rng = sources, degradation, rng
        self.patch, self.batch_size, self.scale = patch_size, batch_size, degradation.scale
        self.neighbours = neighbours
        if not degradation.random:
            for s in sources:  # once, whole frames, a video's as one stream
                s.lr = degradation.apply(s.frames, rng)
        counts = np.array([len(s.frames) for s in sources], dtype=np.float64)
        self._weights = counts / counts.sum()  # every frame equally likely

    def __iter__(self) -> Iterator[Batch]:
        while True:
            yield self.next_batch()

    def next_batch(self) -> Batch:
        s, rng, p = self.scale, self.rng, self.patch // self.scale
        pairs: list[list[tuple[np.ndarray, np.ndarray | None]]] = []
        singles: list[tuple[np.ndarray, np.ndarray | None]] = []
        while 2 * len(pairs) + len(singles) < self.batch_size:
            source = self.sources[rng.choice(len(self.sources), p=self._weights)]
            pair = (self.neighbours and source.video and len(source.frames) >= 2
                    and 2 * len(pairs) + len(singles) + 2 <= self.batch_size)
            i = int(rng.integers(len(source.frames) - pair))
            h, w = source.frames[i].shape[:2]
            y, x = int(rng.integers(h // s - p + 1)), int(rng.integers(w // s - p + 1))
            flips = rng.integers(2, size=3)
            crops = []
            for j in (i, i + 1) if pair else (i,):
                hr = _augment(source.frames[j][y * s : (y + p) * s, x * s : (x + p) * s], *flips)
                lr = None if source.lr is None else _augment(source.lr[j][y : y + p, x : x + p], *flips)
                crops.append((hr, lr))
            if pair:
                pairs.append(crops)
            else:
                singles += crops
        ordered = [c for pair_crops in pairs for c in pair_crops] + singles
        hr_patches = [hr for hr, _ in ordered]
        ready = [lr for _, lr in ordered if lr is not None]
        if len(ready) < len(ordered):  # degraded per batch, in this order: a pair's frames follow each other
            ready = self.degradation.apply(hr_patches, rng)
        return Batch(to_tensor(ready), to_tensor(hr_patches), len(pairs))


class Prefetcher:
    """A sampler's batches made ahead in a background thread, so that degrading them (H.264 over a
    batch's patches takes about 20 ms, longer than a small network's GPU step) overlaps training.
    The batches come in exactly the sampler's order. `rng_state` is the sampler's random state
    after the last batch *taken*, not the last one made: what a checkpoint must hold to resume
    exactly. Nothing else may draw from the sampler's generator while this runs."""

    def __init__(self, sampler: PatchSampler, *, depth: int = 3, pin: bool = False) -> None:
        self.sampler, self.pin = sampler, pin
        self.rng_state = sampler.rng.bit_generator.state
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._make, name="vsr-batches", daemon=True)
        self._thread.start()

    def _put(self, item: tuple) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _make(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.sampler.next_batch()
                if self.pin:  # page-locked memory: the copy to the GPU can overlap its work
                    batch = batch.pin_memory()
                self._put((batch, self.sampler.rng.bit_generator.state))
        except BaseException as exc:  # handed to the training loop, which raises it
            self._put((exc,))

    def next_batch(self) -> Batch:
        while True:
            try:
                item = self._queue.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._thread.is_alive():
                    raise RuntimeError("the batch-making thread stopped") from None
        if len(item) == 1:
            raise item[0]
        batch, self.rng_state = item
        return batch

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _augment(a: np.ndarray, flip_v: int, flip_h: int, transpose: int) -> np.ndarray:
    """The eight symmetries of the square: flips and a transpose make the 90° rotations."""
    if flip_v:
        a = a[::-1]
    if flip_h:
        a = a[:, ::-1]
    if transpose:
        a = a.transpose(1, 0, 2)
    return a


def to_tensor(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack(frames))).permute(0, 3, 1, 2).float().div_(255)


def validation_pairs(sources: list[Source], degradation: Degradation, *, count: int, crop: int,
                     seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fixed validation set: up to `count` frames spread over the sources, centre-cropped to at
    most `crop` pixels a side, degraded once with their own seed (a video's crops as one stream)."""
    rng = np.random.default_rng(seed)
    frames = [(k, i) for k, s in enumerate(sources) for i in range(len(s.frames))]
    picks = [frames[round(j)] for j in np.linspace(0, len(frames) - 1, min(count, len(frames)))]
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    multiple = 2 * degradation.scale
    for k in sorted({k for k, _ in picks}):
        crops = []
        for f in (sources[k].frames[i] for kk, i in picks if kk == k):
            ch, cw = (min(crop, d) // multiple * multiple for d in f.shape[:2])
            y, x = (f.shape[0] - ch) // 2 // multiple * multiple, (f.shape[1] - cw) // 2 // multiple * multiple
            crops.append(np.ascontiguousarray(f[y : y + ch, x : x + cw]))
        pairs += zip(degradation.apply(crops, rng), crops)
    return pairs
