"""`vsr.upscale`: decode → batched model → encode and remux, in threads joined by bounded
queues, so memory stays flat however long the input is."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from vsr import yuv
from vsr.atomic import check_output
from vsr.alpha import bleed, resize_alpha
from vsr.catalogue import DEFAULT_MODEL
from vsr.engine import Engine, resolve_device, resolve_precision
from vsr.temporal import TemporalBlend
from vsr.errors import BackendError, InputError, OutputError, VsrError
from vsr.media import animated, reader, writer
from vsr.media.color import RGB_SOURCE
from vsr.media.image import IMAGE_SUFFIXES, is_image, read_image, write_image
from vsr.media.palette import DEFAULT_DITHER, DITHERS
from vsr.media.reader import DecodedFrame

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".m4v", ".webm", ".avi", ".ts", ".mts", ".flv", ".wmv", ".mpg", ".mpeg"}
GIF_PALETTES = ("auto", "global", "per-frame")
QUEUE_FRAMES = 8  # per queue: enough to keep every stage busy, small enough to bound memory
_DONE = object()


@dataclass
class Summary:
    input: str
    output: str
    frames: int
    seconds: float
    fps: float
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    codec: str
    pix_fmt: str
    model: str
    device: str
    bytes: int
    warnings: list[str] = field(default_factory=list)
    backend: str = "eager"
    precision: str = "fp32"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def upscale(input: str | Path, output: str | Path, *, model: str = DEFAULT_MODEL, scale: float | None = None,
            device: str = "auto", precision: str = "auto", batch_size: int | None = None, tile: int = 0,
            backend: str = "auto", codec: str | None = None, crf: int | None = None, preset: str | None = None,
            pix_fmt: str | None = None, audio: bool = True, overwrite: bool = False,
            gif_palette: str = "auto", dither: str = DEFAULT_DITHER, quality: int | None = None,
            background: str | None = None, temporal_blend: float = 0.0,
            progress: bool = True) -> Summary | list[Summary | dict]:
    """Upscale a video, an animated image (GIF, WebP, APNG), a still image, or every image and
    video in a folder.

    Video: every frame keeps its timestamp, every audio track is remuxed. Animated images keep
    their delays, loop count and transparency. A folder gives a list with one summary per file,
    or `{"input", "error"}` for a file that failed.
    """
    if batch_size is not None and batch_size < 1:
        raise InputError(f"invalid --batch-size {batch_size}: must be at least 1")
    if tile < 0:
        raise InputError(f"invalid --tile {tile}: 0 (off) or a size in pixels")
    if gif_palette not in GIF_PALETTES:
        raise InputError(f"invalid --gif-palette {gif_palette!r}: use {', '.join(GIF_PALETTES)}")
    if dither not in DITHERS:
        raise InputError(f"invalid --dither {dither!r}: use {', '.join(DITHERS)}")
    if quality is not None and not 0 <= quality <= 100:
        raise InputError(f"invalid --quality {quality}: 0 to 100")
    if not 0 <= temporal_blend < 1:
        raise InputError(f"invalid --temporal-blend {temporal_blend}: 0 (off) up to, not including, 1")
    if background is not None:
        _colour(background)  # a bad colour is a usage error whatever the output
    options = dict(model=model, scale=scale, device=device, precision=precision, batch_size=batch_size, tile=tile,
                   backend=backend, codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, audio=audio, overwrite=overwrite,
                   gif_palette=gif_palette, dither=dither, quality=quality, background=background,
                   temporal_blend=temporal_blend, progress=progress)
    input_path, output_path = Path(input), Path(output)
    if not input_path.exists():
        raise InputError(f"{input_path}: no such file")
    if input_path.is_dir():
        return _upscale_folder(input_path, output_path, options)
    out_suffix = output_path.suffix.lower()
    if is_image(input_path) or input_path.suffix.lower() in animated.ANIMATED_SUFFIXES:
        if animated.is_animated(input_path) or out_suffix in (".gif", ".apng"):
            return _upscale_animated(input_path, output_path, **options)
        return _upscale_image(input_path, output_path, model=model, scale=scale, device=device,
                              precision=precision, tile=tile, backend=backend, quality=quality, overwrite=overwrite)
    return _upscale_video(input_path, output_path, **options)


def _background(value: str | None, info: animated.AnimationInfo) -> tuple[int, int, int]:
    """--background, else the file's own background colour, else black."""
    return _colour(value) if value is not None else (info.background or (0, 0, 0))


def _colour(value: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    try:
        return ImageColor.getrgb(value)[:3]
    except ValueError as exc:
        raise InputError(f"invalid --background {value!r}: a colour name or #rrggbb") from exc


def _load(model: str, scale: float | None):
    from vsr.model import load_model

    net = load_model(model)
    scale = float(scale if scale is not None else net.scale)
    if scale <= 0:
        raise InputError(f"invalid --scale {scale:g}: must be positive")
    if scale > net.scale:
        raise InputError(f"--scale {scale:g} is above {net.name}'s native ×{net.scale}; use a ×{int(np.ceil(scale))} model or a smaller --scale")
    return net, scale


def _upscale_image(input_path: Path, output_path: Path, *, model: str, scale: float | None, device: str,
                   precision: str, tile: int, backend: str, quality: int | None, overwrite: bool) -> Summary:
    from PIL import Image

    rgb, alpha, carry = read_image(input_path)
    if not is_image(output_path):
        raise OutputError(f"{output_path}: a still image needs an image output ({', '.join(IMAGE_SUFFIXES)}, .gif)")
    check_output(output_path, overwrite=overwrite, input_path=input_path)
    net, scale = _load(model, scale)
    h, w = rgb.shape[:2]
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    # One picture: building a compiled or TensorRT engine would cost more than it saves.
    engine, _ = _engine(net, device=device, precision=precision, backend="eager" if backend == "auto" else backend,
                        in_size=(w, h), out_size=(out_w, out_h), tile=tile, batch_size=1)
    dev = engine.device
    start = time.perf_counter()
    out = engine(torch.from_numpy(rgb[None]))[0].numpy()
    if alpha is not None:  # alpha is a mask, not a picture: a sharp resampler keeps its edges clean
        alpha = np.asarray(Image.fromarray(alpha).resize((out_w, out_h), Image.Resampling.LANCZOS))
    write_image(output_path, out, alpha, carry, quality=95 if quality is None else quality)
    seconds = time.perf_counter() - start
    return Summary(input=str(input_path), output=str(output_path), frames=1, seconds=round(seconds, 3),
                   fps=round(1 / seconds, 3), input_size=(w, h), output_size=(out_w, out_h),
                   codec=output_path.suffix.lower().lstrip("."), pix_fmt="rgba" if alpha is not None else "rgb24",
                   model=net.name, device=str(dev), bytes=output_path.stat().st_size, warnings=list(engine.warnings),
                   backend=engine.backend_used, precision=_dtype_name(engine.dtype))


def _upscale_folder(input_dir: Path, output_dir: Path, options: dict) -> list[Summary | dict]:
    """Every image and video in the folder, same names in the output folder; one failure is
    reported and the rest go on."""
    if not output_dir.parent.is_dir():
        raise OutputError(f"{output_dir}: the folder {output_dir.parent} does not exist")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: exists and is not a folder")
    files = sorted(p for p in input_dir.iterdir() if p.is_file() and (is_image(p) or p.suffix.lower() in VIDEO_SUFFIXES | animated.ANIMATED_SUFFIXES))
    if not files:
        raise InputError(f"{input_dir}: no images or videos in this folder")
    output_dir.mkdir(exist_ok=True)
    results: list[Summary | dict] = []
    for path in files:
        try:
            results.append(upscale(path, output_dir / path.name, **options))
        except VsrError as exc:
            log.warning("%s", exc)
            results.append({"input": str(path), "error": str(exc)})
    return results


@dataclass
class _VideoOutput:
    codec: str
    pix_fmt: str
    width: int
    height: int
    warnings: list[str]


def _video_output(output_path: Path, *, codec: str | None, pix_fmt: str | None, crf: int | None,
                  preset: str | None, source_pix_fmt: str, size: tuple[int, int]) -> _VideoOutput:
    """Encoder, pixel format and frame size for a video output, checked before any work."""
    codec_name = codec or writer.default_codec(output_path)
    try:
        av_codec = av.Codec(codec_name, "w")
    except (av.error.FFmpegError, ValueError) as exc:
        raise InputError(f"unknown encoder --codec {codec_name!r}") from exc
    out_fmt = writer.choose_pix_fmt(av_codec, pix_fmt or source_pix_fmt)
    if pix_fmt and out_fmt != pix_fmt:
        raise InputError(f"--pix-fmt {pix_fmt}: {codec_name} cannot encode it")
    warnings: list[str] = []
    if out_fmt != source_pix_fmt and not pix_fmt:
        warnings.append(f"{codec_name} cannot encode {source_pix_fmt}; writing {out_fmt}")
    out_w, out_h = writer.even_size(*size, out_fmt)
    if (out_w, out_h) != size:
        warnings.append(f"output size {size[0]}x{size[1]} rounded to {out_w}x{out_h} for {out_fmt}")
    writer.check_encoder(codec_name, width=out_w, height=out_h, pix_fmt=out_fmt, options=writer.encoder_options(crf, preset))
    return _VideoOutput(codec_name, out_fmt, out_w, out_h, warnings)


def _engine(net, *, device: str, precision: str, backend: str, in_size: tuple[int, int], out_size: tuple[int, int],
            tile: int, batch_size: int | None, temporal_blend: float = 0.0) -> tuple[Engine, int]:
    """The engine and its batch size; sizes are (width, height)."""
    dev = resolve_device(device)
    batch = batch_size or (4 if dev.type == "cuda" else 1)
    engine = Engine(model=net, device=dev, dtype=resolve_precision(precision, dev, net), out_size=(out_size[1], out_size[0]),
                    tile=tile, backend=backend, in_size=(in_size[1], in_size[0]), batch=batch,
                    temporal=TemporalBlend(temporal_blend) if temporal_blend else None)
    return engine, batch


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def _upscale_video(input_path: Path, output_path: Path, *, model, scale, device, precision, batch_size, tile,
                   backend, codec, crf, preset, pix_fmt, audio, overwrite, gif_palette, dither, quality, background,
                   temporal_blend, progress) -> Summary:
    container = reader.open_input(input_path)
    try:
        check_output(output_path, overwrite=overwrite, input_path=input_path)
        info = reader.probe(container, input_path)
        net, scale = _load(model, scale)
        warnings: list[str] = []
        to_animation = output_path.suffix.lower() in animated.ANIMATED_OUTPUTS
        if to_animation:
            out_w, out_h = _scaled(info.width, info.height, scale)
            codec_name, out_fmt = output_path.suffix.lower().lstrip("."), "rgb24"
            animated.check_size(output_path, out_w, out_h)
            open_writer = lambda: animated.open_writer(  # noqa: E731
                output_path, width=out_w, height=out_h, plays=0, has_alpha=False,
                gif_palette="global" if gif_palette == "auto" else gif_palette, dither=dither, quality=quality)
        else:
            out = _video_output(output_path, codec=codec, pix_fmt=pix_fmt, crf=crf, preset=preset,
                                source_pix_fmt=info.pix_fmt, size=(round(info.width * scale), round(info.height * scale)))
            codec_name, out_fmt, out_w, out_h = out.codec, out.pix_fmt, out.width, out.height
            warnings += out.warnings
        engine, batch = _engine(net, device=device, precision=precision, backend=backend, in_size=(info.width, info.height),
                                out_size=(out_w, out_h), tile=tile, batch_size=batch_size, temporal_blend=temporal_blend)
        video = container.streams.video[0]
        for other in container.streams:
            if other is not video and other.type not in ("audio", "subtitle"):
                warnings.append(f"{other.type} stream #{other.index} is not carried over")
        copy_streams = []
        if to_animation:
            if container.streams.audio or container.streams.subtitles:
                warnings.append(f"{output_path.suffix} holds pictures only: audio and subtitle tracks left out")
        else:
            copy_streams = list(container.streams.audio) if audio else []
            if not audio and container.streams.audio:
                warnings.append(f"{len(container.streams.audio)} audio track(s) left out (--no-audio)")
            for sub in container.streams.subtitles:
                if writer.can_hold_subtitle(output_path, sub.codec_context.name):
                    copy_streams.append(sub)
                else:
                    warnings.append(f"subtitle track #{sub.index} ({sub.codec_context.name}) cannot go into "
                                    f"{output_path.suffix}; left out (use .mkv to keep it)")
            open_writer = lambda: writer.VideoWriter(  # noqa: E731
                output_path, source=info, copy_streams=copy_streams, width=out_w, height=out_h,
                codec=codec_name, pix_fmt=out_fmt, crf=crf, preset=preset)
        start = time.perf_counter()
        if _device_colour(engine):  # frames in formats it cannot convert still come as RGB
            planes_out = out_fmt if not to_animation and yuv.supported(out_fmt) else None
            items = reader.demux(container, info, copy_streams, planes_for=yuv.supported)
            process = _plane_batches(engine, info, planes_out)
        else:
            items, process = reader.demux(container, info, copy_streams), _rgb_batches(engine)
        frames, _ = _run(items, info.frames, process, batch, progress, open_writer, input_path)
        seconds = time.perf_counter() - start
    finally:
        container.close()
    warnings += info.warnings
    if info.timestamp_gaps:
        warnings.append(f"the video timestamps jump by two frame durations or more {info.timestamp_gaps} time(s): "
                        "frames missing from a damaged input, or a variable frame rate; every timestamp is kept as it is")
    if info.corrupt_packets:
        warnings.append(f"{info.corrupt_packets} corrupt video packet(s) skipped")
    if info.frames and frames != info.frames:
        warnings.append(f"the input declares {info.frames} frames; {frames} decoded and written")
    warnings += engine.warnings
    return _summary(input_path, output_path, frames, seconds, (info.width, info.height), (out_w, out_h),
                    codec_name, out_fmt, net, engine, warnings)


def _upscale_animated(input_path: Path, output_path: Path, *, model, scale, device, precision, batch_size, tile,
                      backend, codec, crf, preset, pix_fmt, audio, overwrite, gif_palette, dither, quality, background,
                      temporal_blend, progress) -> Summary:
    """GIF, animated WebP or APNG in; an animated image or a video out."""
    check_output(output_path, overwrite=overwrite, input_path=input_path)
    suffix = output_path.suffix.lower()
    to_video = suffix not in animated.ANIMATED_OUTPUTS
    if to_video and suffix not in writer.DEFAULT_CODECS and codec is None:
        raise OutputError(f"{output_path}: an animated image becomes .gif, .webp, .png/.apng, or a video "
                          f"({', '.join(writer.DEFAULT_CODECS)})")
    info = animated.probe(input_path)
    net, scale = _load(model, scale)
    warnings: list[str] = []
    size = _scaled(info.width, info.height, scale)
    if to_video:
        out = _video_output(output_path, codec=codec, pix_fmt=pix_fmt, crf=crf, preset=preset,
                            source_pix_fmt="yuv420p", size=size)
        codec_name, out_fmt, size = out.codec, out.pix_fmt, (out.width, out.height)
        warnings += out.warnings
        fill = _background(background, info)
        if info.has_alpha:
            warnings.append(f"{suffix} holds no transparency: composited over #{bytes(fill).hex()}")
        source = reader.SourceInfo(path=input_path, width=info.width, height=info.height, pix_fmt="rgb24",
                                   time_base=animated.MS, frames=info.frames, color=RGB_SOURCE,
                                   average_rate=Fraction(info.frames * 1000, info.duration_ms) if info.duration_ms else None)
        open_writer = lambda: writer.VideoWriter(  # noqa: E731
            output_path, source=source, copy_streams=[], width=size[0], height=size[1], codec=codec_name,
            pix_fmt=out_fmt, crf=crf, preset=preset, background=fill)
    else:
        codec_name = "apng" if suffix == ".png" else suffix.lstrip(".")
        out_fmt = "pal8" if suffix == ".gif" else ("rgba" if info.has_alpha else "rgb24")
        animated.check_size(output_path, *size)
        if gif_palette == "auto":
            gif_palette = _auto_gif_palette(info)
        open_writer = lambda: animated.open_writer(  # noqa: E731
            output_path, width=size[0], height=size[1], plays=info.plays, has_alpha=info.has_alpha,
            gif_palette=gif_palette, dither=dither, quality=quality)
    engine, batch = _engine(net, device=device, precision=precision, backend=backend, in_size=(info.width, info.height),
                            out_size=size, tile=tile, batch_size=batch_size, temporal_blend=temporal_blend)
    start = time.perf_counter()
    frames, done = _run(animated.read(info), info.frames, _rgb_batches(engine), batch, progress, open_writer, input_path)
    seconds = time.perf_counter() - start
    warnings += info.warnings
    if getattr(done, "shifted", 0):
        warnings.append(f"{done.shifted} frame(s) with a 0 ms delay moved 1 ms later: a video cannot show two frames at once")
    if getattr(done, "clamped", 0):
        warnings.append(f"{done.clamped} delay(s) longer than {suffix} can hold were shortened to its maximum")
    if suffix == ".gif" and info.format != "GIF" and info.duration_ms % 10:
        warnings.append("GIF delays are whole centiseconds: delays rounded (the total running time is kept)")
    warnings += engine.warnings
    return _summary(input_path, output_path, frames, seconds, (info.width, info.height), size, codec_name,
                    out_fmt, net, engine, warnings)


def _auto_gif_palette(info: animated.AnimationInfo) -> str:
    """One palette for all frames, unless the source is a GIF whose frames needed different
    palettes (more than 256 colours in all). Measured (benchmarks/README.md): a palette per frame
    gained 0.2 dB but made static areas flicker, as each frame's palette differs a little."""
    return "per-frame" if info.format == "GIF" and info.colours > 256 else "global"


def _summary(input_path, output_path, frames, seconds, input_size, output_size, codec, pix_fmt, net,
             engine: Engine, warnings: list[str]) -> Summary:
    for w in warnings:
        log.warning(w)
    return Summary(input=str(input_path), output=str(output_path), frames=frames, seconds=round(seconds, 3),
                   fps=round(frames / seconds, 3) if seconds else 0.0, input_size=input_size,
                   output_size=output_size, codec=codec, pix_fmt=pix_fmt, model=net.name, device=str(engine.device),
                   bytes=output_path.stat().st_size, warnings=warnings, backend=engine.backend_used,
                   precision=_dtype_name(engine.dtype))


def _dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, str(dtype))


def _run(items, total: int, process, batch: int, progress: bool, open_writer, where: Path):
    """Three stages in three threads (read, model, write); the first error anywhere stops all
    of them. Returns the frame count and the finished writer."""
    from tqdm import tqdm

    decoded: queue.Queue = queue.Queue(QUEUE_FRAMES)
    upscaled: queue.Queue = queue.Queue(QUEUE_FRAMES)
    stop = threading.Event()
    errors: list[BaseException] = []
    state = {"writer": None, "frames": 0}
    bar = tqdm(total=total or None, unit="frame", disable=not progress, dynamic_ncols=True, leave=False)

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(q: queue.Queue):
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _DONE

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # handed to the main thread, which raises it
                errors.append(exc)
                stop.set()
        return run

    def decode():
        for item in items:
            if not put(decoded, item):
                return
        put(decoded, _DONE)

    def encode():
        pending: list[av.Packet] = []  # packets that come before the first frame, while the writer cannot exist yet
        while (item := get(upscaled)) is not _DONE:
            if isinstance(item, DecodedFrame):
                if state["writer"] is None:
                    state["writer"] = open_writer()
                    for packet in pending:
                        state["writer"].mux(packet)
                state["writer"].write(item)
                state["frames"] += 1
                bar.update(1)
            elif state["writer"] is None:
                pending.append(item)
            else:
                state["writer"].mux(item)
        if stop.is_set():
            return
        if state["writer"] is None:
            raise InputError(f"{where}: no video frame could be decoded")
        state["writer"].finish()

    threads = [threading.Thread(target=guarded(decode), name="vsr-decode", daemon=True),
               threading.Thread(target=guarded(encode), name="vsr-encode", daemon=True)]
    for t in threads:
        t.start()
    try:
        guarded(lambda: _infer(decoded, upscaled, process, batch, get, put))()
        for t in threads:
            while t.is_alive():
                t.join(0.1)
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
        bar.close()
        for t in threads:
            t.join()
        if state["writer"] is not None and not state["writer"].finished:
            state["writer"].abort()  # nothing half-written stays behind
    if errors:
        exc = errors[0]
        if isinstance(exc, (av.error.FFmpegError, OSError)) and not isinstance(exc, VsrError):
            place = state["writer"].path if state["writer"] is not None else where
            raise BackendError(f"{place}: processing failed and nothing was written ({exc})") from exc
        raise exc
    return state["frames"], state["writer"]


def _infer(decoded, upscaled, process, batch: int, get, put) -> None:
    frames: list[DecodedFrame] = []

    def flush():
        if frames:
            for out in process(frames):
                put(upscaled, out)
            frames.clear()

    while (item := get(decoded)) is not _DONE:
        if isinstance(item, DecodedFrame):
            if frames and (item.planes is None) != (frames[0].planes is None):
                flush()  # a batch is all planes or all RGB
            frames.append(item)
            if len(frames) >= batch:
                flush()
        else:
            put(upscaled, item)
    flush()
    put(upscaled, _DONE)


def _rgb_batches(engine: Engine):
    """Upscale a batch of RGB frames (with alpha, for animated images) through the engine."""
    def process(frames: list[DecodedFrame]) -> list[DecodedFrame]:
        rgb = np.stack([f.rgb for f in frames])
        stack = torch.from_numpy(rgb.astype(np.int32) if rgb.dtype == np.uint16 else rgb)  # 16-bit values ride in int32
        alpha = None
        if frames[0].alpha is not None:  # animated images: all frames have alpha, or none
            alpha = torch.from_numpy(np.stack([f.alpha for f in frames]))
            stack = bleed(stack, alpha)
        out = engine(stack).numpy()
        if out.dtype == np.int32:
            out = out.astype(np.uint16)
        big_alpha = resize_alpha(alpha, engine.out_size).numpy() if alpha is not None else [None] * len(frames)
        return [DecodedFrame(rgb=rgb, pts=f.pts, time_base=f.time_base, alpha=a, duration=f.duration)
                for f, rgb, a in zip(frames, out, big_alpha)]
    return process


def _plane_batches(engine: Engine, info: reader.SourceInfo, out_pix_fmt: str | None):
    """Upscale a batch of frames that arrive as YUV planes: converted to RGB and back to the
    output's planes on the engine's device (or to RGB when the output format is not planar YUV)."""
    rgb_path = _rgb_batches(engine)

    def process(frames: list[DecodedFrame]) -> list[DecodedFrame]:
        if frames[0].planes is None:
            return rgb_path(frames)
        full = info.color.range == 2
        src = yuv.YuvFormat(frames[0].planes_format, info.color.space, full)
        dst = yuv.YuvFormat(out_pix_fmt, info.color.space, full) if out_pix_fmt else None
        stacks = []
        for i in range(3):
            plane = np.stack([f.planes[i] for f in frames])
            stacks.append(torch.from_numpy(plane.astype(np.int32) if plane.dtype == np.uint16 else plane))
        out = engine.upscale_planes(stacks, src, dst)
        if dst is None:
            return [DecodedFrame(rgb=rgb, pts=f.pts, time_base=f.time_base, duration=f.duration)
                    for f, rgb in zip(frames, out.numpy())]
        arrays = [p.numpy().astype(np.uint16) if p.dtype == torch.int32 else p.numpy() for p in out]
        return [DecodedFrame(rgb=None, planes=tuple(a[k] for a in arrays), planes_format=out_pix_fmt, pts=f.pts,
                             time_base=f.time_base, duration=f.duration) for k, f in enumerate(frames)]
    return process


# Colour conversion runs on the model's device when that is a GPU. The CPU path uses swscale;
# tests switch this on to check the device conversion against it.
DEVICE_COLOUR_ON_CPU = False


def _device_colour(engine: Engine) -> bool:
    return engine.device.type == "cuda" or DEVICE_COLOUR_ON_CPU
