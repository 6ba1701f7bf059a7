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

from vsr.errors import InputError, OutputError

DEFAULT_MAX_PIXELS = 1 << 28  # 268 million: a 16384×16384 frame
# Bytes per output pixel at the peak of a run: the float RGB frame the model writes and its copy
# for the encoder (12 bytes each), and a few 8-bit frames queued for the encoder.
_PEAK_BYTES_PER_PIXEL = 36


def check_pixels(path: Path, what: str, width: int, height: int, limit: int) -> None:
    """Refuse a frame over `limit` pixels, saying how to allow it."""
    if width * height > limit:
        raise InputError(f"{path}: {what} of {width}x{height} ({width * height:,} pixels) is over the limit of "
                         f"{limit:,} a frame; `max_pixels` {width * height} allows it", option="max_pixels")


# The largest side each output format's header or library can hold (PNG, TIFF and BMP: 2^31 − 1,
# beyond any frame the pixel limit allows).
_MAX_SIDE = {".gif": 65535, ".webp": 16383, ".jpg": 65500, ".jpeg": 65500}


def check_format_size(path: Path, width: int, height: int) -> None:
    """Refuse, before any work, an output frame size the format cannot store."""
    limit = _MAX_SIDE.get(path.suffix.lower())
    if limit and max(width, height) > limit:
        raise OutputError(f"{path}: {width}x{height} is larger than {path.suffix} allows ({limit} pixels a side); "
                          "use a smaller `scale` or another format (.png)", option="scale")


def check_memory(path: Path, width: int, height: int) -> None:
    """Refuse an output frame whose run would need more memory than is free, by estimate."""
    need = width * height * _PEAK_BYTES_PER_PIXEL
    free = available_memory()
    if need > free:
        raise InputError(f"{path}: a {width}x{height} output frame needs about {need / 2**30:.1f} GiB of memory and "
                         f"{free / 2**30:.1f} GiB is free; upscale by less (`scale`) or on a machine with more memory",
                         option="scale")


def available_memory() -> int:
    """Bytes this process can still take without swapping or being killed: the least of the
    system's free memory (Linux's MemAvailable), the room under its cgroup's limit (a container's
    memory limit, which MemAvailable does not show) and the room under its address-space limit
    (`ulimit -v`)."""
    room = [_system_available(), *_cgroup_room(), *_address_space_room()]
    return max(0, min(room))


def _system_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # cgroup v2 writes "max" for no limit


def _cgroup_room() -> list[int]:
    """Limit minus usage of this process's memory cgroup (v2, or v1's memory controller), where it
    has a limit. The cgroup's own folder is tried, then the mount's root (inside a container the
    mount is often the container's cgroup already)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if controllers == "":
            root, files = Path("/sys/fs/cgroup"), ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            root, files = Path("/sys/fs/cgroup/memory"), ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        for folder in (root / group.lstrip("/"), root):
            limit, usage = (_read_int(folder / name) for name in files)
            if limit is not None and usage is not None:
                return [limit - usage] if limit < 1 << 60 else []  # v1 writes a huge number for no limit
    return []


def _address_space_room() -> list[int]:
    try:
        import resource
    except ImportError:  # not on Windows
        return []
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return []
    try:
        with open("/proc/self/status") as f:
            size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return []
    return [soft - size]


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
                         f"`max_pixels` N allows more", option="max_pixels") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = None if previous is None else max(previous, limit)
