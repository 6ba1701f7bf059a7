"""Test GIFs built block by block (Pillow's getheader/getdata), so each file has exactly the
structure a test asks for: disposal methods, partial frames at offsets, local palettes, a
transparency index, identical frames. Pillow's own writer would optimise those away."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import GifImagePlugin, Image

from clips import PHOTO

TRANSPARENT = 255  # the palette index kept for transparency in every test GIF
_KEY = (0, 255, 0)  # its colour: a vivid one, so a fringe of it would show in the output


def _quantised(rgb: np.ndarray, palette_from: Image.Image | None) -> Image.Image:
    im = Image.fromarray(rgb)
    q = im.quantize(255, palette=palette_from) if palette_from is not None else im.quantize(255)
    palette = (q.getpalette() or [])[: 255 * 3]
    palette += [0] * (255 * 3 - len(palette)) + list(_KEY)
    indices = np.asarray(q).copy()
    indices[indices == TRANSPARENT] = 0  # only the holes punched later may be transparent
    out = Image.frombytes("P", q.size, indices.tobytes())
    out.putpalette(palette)
    return out


def make_gif(path: Path, *, size: tuple[int, int] = (32, 24), delays=(40, 100, 250, 60), loop: int | None = 0,
             disposal: int | tuple[int, ...] = 1, transparent: bool = True, local_palettes: bool = False, partial: bool = True,
             repeat: int | None = None, shift: int = 0) -> None:
    """Frames pan over a photograph; a transparent hole moves across them. Frame 0 is full size;
    with `partial`, later frames are half-size patches at offsets. `repeat=i` makes frame i an
    exact copy of frame i-1."""
    w, h = size
    header_done = False
    first: Image.Image | None = None
    blocks: list[bytes] = []
    for i, delay in enumerate(delays):
        k = i - 1 if repeat is not None and i == repeat else i
        rgb = np.roll(PHOTO, (k + shift, 3 * k + shift), axis=(0, 1))[:h, :w].copy()
        box = (0, 0, w, h)
        if partial and i > 0 and w >= 4 and h >= 4:
            pw, ph = max(2, w // 2), max(2, h // 2)
            x, y = min(w - pw, 2 * k), min(h - ph, 3 * k)
            box = (x, y, x + pw, y + ph)
        patch_rgb = rgb[box[1]: box[3], box[0]: box[2]]
        frame = _quantised(patch_rgb, None if (local_palettes or first is None) else first)
        if transparent and frame.width >= 2 and frame.height >= 2:
            indices = np.asarray(frame).copy()
            hole = max(1, min(frame.width, frame.height) // 3)
            indices[:hole, k % (frame.width - hole + 1): k % (frame.width - hole + 1) + hole] = TRANSPARENT
            palette = frame.getpalette()
            frame = Image.frombytes("P", frame.size, indices.tobytes())
            frame.putpalette(palette)
        if first is None:
            first = frame
        if not header_done:
            frame.info["version"] = b"89a"
            info = {"optimize": False, "background": TRANSPARENT}
            if loop is not None:
                info["loop"] = loop
            header, _ = GifImagePlugin.getheader(frame, info=info)
            blocks += header
            header_done = True
        params = {"duration": delay, "disposal": disposal if isinstance(disposal, int) else disposal[i],
                  "include_color_table": local_palettes and i > 0}
        if transparent:
            params["transparency"] = TRANSPARENT
        blocks += GifImagePlugin.getdata(frame, offset=box[:2], **params)
    blocks.append(b";")
    path.write_bytes(b"".join(blocks))


def gif_blocks(path: Path) -> list[dict]:
    """Each frame's graphic control and image descriptor, read from the bytes: what a test GIF
    (or an output) really contains."""
    data = path.read_bytes()
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    frames, control = [], {}
    while pos < len(data) and data[pos] != 0x3B:
        if data[pos] == 0x21:  # extension
            label = data[pos + 1]
            pos += 2
            if label == 0xF9:
                packed, delay, index = data[pos + 1], struct.unpack("<H", data[pos + 2: pos + 4])[0], data[pos + 4]
                control = {"disposal": (packed >> 2) & 7, "delay_cs": delay,
                           "transparent": index if packed & 1 else None}
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        elif data[pos] == 0x2C:  # image descriptor
            x, y, w, h = struct.unpack("<HHHH", data[pos + 1: pos + 9])
            packed = data[pos + 9]
            pos += 10 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)
            pos += 1  # LZW minimum code size
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
            frames.append({"disposal": 0, "delay_cs": 0, "transparent": None, **control,
                           "box": (x, y, w, h), "local_palette": bool(packed & 0x80)})
            control = {}
        else:
            raise ValueError(f"unexpected GIF block 0x{data[pos]:02x} at {pos}")
    return frames


def composed(path: Path) -> tuple[list[np.ndarray], list[int], int | None]:
    """The frames as a browser shows them (RGBA, composed by Pillow), their delays in ms, and
    the NETSCAPE loop value (None when the file has none)."""
    frames, delays = [], []
    with Image.open(path) as im:
        loop = im.info.get("loop")
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGBA")).copy())
            delays.append(int(im.info.get("duration", 0)))
    return frames, delays, loop
