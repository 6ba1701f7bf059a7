"""What a file is, by its name: the one place the suffixes vsr reads and writes are listed."""

from __future__ import annotations

import enum
from pathlib import Path

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".m4v", ".webm", ".avi", ".ts", ".mts", ".flv", ".wmv", ".mpg",
                            ".mpeg"})
# Still images, by Pillow's name for their format.
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
                 ".tiff": "TIFF"}
IMAGE_SUFFIXES = frozenset(IMAGE_FORMATS)
# Files that may hold an animation (a .png or .webp may also be a still image).
ANIMATED_SUFFIXES = frozenset({".gif", ".webp", ".png", ".apng"})
MEDIA_SUFFIXES = VIDEO_SUFFIXES | IMAGE_SUFFIXES | ANIMATED_SUFFIXES


class OutputKind(enum.Enum):
    """What a sink writes; the key of the sink registry (vsr.media.sinks)."""

    VIDEO = "video"
    GIF = "gif"
    WEBP = "webp"
    APNG = "apng"
    IMAGE = "image"


ANIMATED_OUTPUTS = {".gif": OutputKind.GIF, ".webp": OutputKind.WEBP, ".png": OutputKind.APNG,
                    ".apng": OutputKind.APNG}


def suffix(path: Path) -> str:
    return path.suffix.lower()


def is_image(path: Path) -> bool:
    return suffix(path) in IMAGE_SUFFIXES


def is_media(path: Path) -> bool:
    return suffix(path) in MEDIA_SUFFIXES
