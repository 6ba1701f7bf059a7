"""Still images: read to RGB (+ alpha) arrays with Pillow, write atomically in the format the
extension names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vsr.atomic import publish, temporary_beside
from vsr.errors import InputError, OutputError

IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """HWC uint8 RGB, the alpha plane if there is one, and what to carry to the output (ICC, DPI, EXIF)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            carry = {k: im.info[k] for k in ("icc_profile", "dpi", "exif") if k in im.info}
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            rgba = im.convert("RGBA" if has_alpha else "RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: not an image Pillow can read ({exc})") from exc
    arr = np.asarray(rgba)
    return (arr[..., :3].copy(), arr[..., 3].copy() if has_alpha else None, carry)


def write_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None, carry: dict, *, quality: int = 95) -> None:
    fmt = IMAGE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(f"{path}: unknown image format {path.suffix or '(none)'}; use one of {', '.join(IMAGE_SUFFIXES)}")
    im = Image.fromarray(rgb)
    if alpha is not None and fmt not in ("JPEG", "BMP"):
        im.putalpha(Image.fromarray(alpha))
    options = dict(carry)
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    tmp = temporary_beside(path)
    try:
        im.save(tmp, format=fmt, **options)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
