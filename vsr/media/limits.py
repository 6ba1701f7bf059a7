"""How large a frame vsr takes on, checked from a file's header before anything is decoded or
allocated: a 2 KB GIF may claim an 8000×8000 screen, and ×4 that is a billion pixels a frame.

One limit covers input and output frames alike (`--max-pixels`); an output that fits it must also
fit, by a rough estimate, in the memory the machine has free. Pillow's own decompression-bomb
check is set to the same limit for the files vsr opens, and its warning never reaches the
terminal: the file is refused in one line instead.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from vsr.errors import InputError

DEFAULT_MAX_PIXELS = 1 << 28  # 268 million: a 16384×16384 frame
# Bytes per output pixel at the peak of a run: the float RGB frame the model writes and its copy
# for the encoder (12 bytes each), and a few 8-bit frames queued for the encoder.
_PEAK_BYTES_PER_PIXEL = 36


def check_pixels(path: Path, what: str, width: int, height: int, limit: int) -> None:
    """Refuse a frame over `limit` pixels, saying how to allow it."""
    if width * height > limit:
        raise InputError(f"{path}: {what} of {width}x{height} ({width * height:,} pixels) is over the limit of "
                         f"{limit:,} a frame; --max-pixels {width * height} allows it")


def check_memory(path: Path, width: int, height: int) -> None:
    """Refuse an output frame whose run would need more memory than is free, by estimate."""
    need = width * height * _PEAK_BYTES_PER_PIXEL
    free = available_memory()
    if need > free:
        raise InputError(f"{path}: a {width}x{height} output frame needs about {need / 2**30:.1f} GiB of memory and "
                         f"{free / 2**30:.1f} GiB is free; upscale by less (--scale) or on a machine with more memory")


def available_memory() -> int:
    """Bytes of memory the system can give without swapping (Linux's MemAvailable), else all of it."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def pillow_limit(path: Path, limit: int) -> Iterator[None]:
    """Probe images under `limit` pixels a frame: Pillow's bomb check (a warning over its limit,
    an error over twice that) refuses anything larger, in one line. Afterwards Pillow's limit is
    at least `limit`, so that decoding what was accepted here never trips it later in the run
    (Pillow checks again at each GIF frame)."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{path}: its header claims a frame over the limit of {limit:,} pixels; "
                         f"--max-pixels N allows more") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = None if previous is None else max(previous, limit)
