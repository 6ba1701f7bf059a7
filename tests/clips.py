"""Small synthetic media made with PyAV, for the pipeline tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

_PHOTO_FILE = Path(__file__).parent / "data" / "photos" / "astronaut.png"
PHOTO = np.tile(np.asarray(Image.open(_PHOTO_FILE).convert("RGB")), (4, 4, 1))  # 384×288, room for any test size


def make_clip(path: Path, *, frames: int = 8, size: tuple[int, int] = (32, 24), durations_ms=(40,), start_ms: int = 0,
              audio_tracks: int = 1, codec: str = "libx264", pix_fmt: str = "yuv420p",
              rate: Fraction = Fraction(25), colorspace: int | None = None, time_base: Fraction = Fraction(1, 1000),
              options: dict | None = None, rotation: int = 0, sar: Fraction | None = None,
              subtitles: bool = False, audio_codec: str = "aac") -> list[np.ndarray]:
    """Write a clip panning over a photograph; returns the RGB frames that went in."""
    w, h = size
    images = []
    with av.open(str(path), "w") as out:
        out.metadata["title"] = "vsr test clip"
        v = out.add_stream(codec, rate=rate, options=options or {})
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        v.codec_context.time_base = time_base
        if rotation:
            v.set_display_rotation(rotation)
        if sar is not None:
            v.codec_context.sample_aspect_ratio = sar
        if colorspace is not None:
            v.codec_context.colorspace = colorspace
            v.codec_context.color_primaries = colorspace
            v.codec_context.color_trc = colorspace
        audios = []
        for i in range(audio_tracks):
            a = out.add_stream(audio_codec, rate=48000)
            a.layout = "stereo"
            a.metadata["language"] = ["eng", "fra", "deu"][i % 3]
            audios.append(a)
        sub = out.add_stream("ass") if subtitles else None
        pts = round(start_ms / 1000 / time_base)
        for i in range(frames):
            # A slow pan over a real photograph: the colour detail of real footage, not of noise.
            img = np.roll(PHOTO, (i % PHOTO.shape[0], (2 * i) % PHOTO.shape[1]), axis=(0, 1))[:h, :w].copy()
            images.append(img)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if colorspace is not None:
                frame = frame.reformat(format=pix_fmt, dst_colorspace="itu709" if colorspace == 1 else None)
                frame.colorspace = colorspace
            frame.pts, frame.time_base = pts, time_base
            pts += round(durations_ms[i % len(durations_ms)] / 1000 / time_base)
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode(None):
            out.mux(packet)
        total_s = float(pts * time_base)
        for k, a in enumerate(audios):
            t = 0
            while t < (total_s + 0.1) * 48000:
                samples = (0.1 * np.sin(np.arange(t, t + 1024) * (0.01 + 0.01 * k))).astype(np.float32)
                if audio_codec == "pcm_s16le":  # packed 16-bit: left and right samples interleaved
                    pcm = (np.repeat(samples, 2) * 32767).astype(np.int16)[None]
                    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
                else:
                    frame = av.AudioFrame.from_ndarray(np.stack([samples, samples]), format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = 48000, t
                for packet in a.encode(frame):
                    out.mux(packet)
                t += 1024
            for packet in a.encode(None):
                out.mux(packet)
        if sub is not None:
            for i, text in enumerate(("Dialogue: 0,0:00:00.00,0:00:00.10,Default,,0,0,0,,hello",
                                      "Dialogue: 0,0:00:00.10,0:00:00.20,Default,,0,0,0,,world")):
                packet = av.Packet(text.encode())
                packet.stream, packet.pts, packet.dts, packet.duration = sub, i * 100, i * 100, 100
                packet.time_base = Fraction(1, 1000)
                out.mux(packet)
    return images


def video_timing(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        return [f.pts * f.time_base for f in c.decode(c.streams.video[0])]


def stream_packets(path: Path, kind: str) -> list[list[tuple[bytes, int]]]:
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        if not streams:  # demux([]) would read every stream
            return []
        out: dict[int, list] = {s.index: [] for s in streams}
        for packet in c.demux(streams):
            if packet.size:
                out[packet.stream.index].append((bytes(packet), packet.pts * packet.time_base))
    return list(out.values())
