"""`vsr.upscale`: decode → batched model → encode and remux, in threads joined by bounded
queues, so memory stays flat however long the input is."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from vsr.catalogue import DEFAULT_MODEL
from vsr.engine import Engine, resolve_device, resolve_precision
from vsr.errors import BackendError, InputError, OutputError, VsrError
from vsr.media import reader, writer
from vsr.media.image import IMAGE_SUFFIXES, is_image, read_image, write_image
from vsr.media.reader import DecodedFrame

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".m4v", ".webm", ".avi", ".gif", ".ts", ".mts", ".flv", ".wmv", ".mpg", ".mpeg"}
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

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_output(input_path: Path, output: Path, *, overwrite: bool) -> None:
    if not output.parent.is_dir():
        raise OutputError(f"{output}: the folder {output.parent} does not exist")
    if output.exists() and output.resolve() == input_path.resolve():
        raise OutputError(f"{output}: is the input; choose another output file")
    if output.exists() and not overwrite:
        raise OutputError(f"{output}: exists; use --overwrite to replace it")


def upscale(input: str | Path, output: str | Path, *, model: str = DEFAULT_MODEL, scale: float | None = None,
            device: str = "auto", precision: str = "auto", batch_size: int | None = None, tile: int = 0,
            codec: str | None = None, crf: int | None = None, preset: str | None = None,
            pix_fmt: str | None = None, audio: bool = True, overwrite: bool = False,
            progress: bool = True) -> Summary | list[Summary | dict]:
    """Upscale a video, a still image, or every image and video in a folder.

    Video: every frame keeps its timestamp, every audio track is remuxed. A folder gives a list
    with one summary per file, or `{"input", "error"}` for a file that failed.
    """
    if batch_size is not None and batch_size < 1:
        raise InputError(f"invalid --batch-size {batch_size}: must be at least 1")
    if tile < 0:
        raise InputError(f"invalid --tile {tile}: 0 (off) or a size in pixels")
    options = dict(model=model, scale=scale, device=device, precision=precision, batch_size=batch_size, tile=tile,
                   codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, audio=audio, overwrite=overwrite, progress=progress)
    input_path, output_path = Path(input), Path(output)
    if input_path.is_dir():
        return _upscale_folder(input_path, output_path, options)
    if is_image(input_path):
        return _upscale_image(input_path, output_path, model=model, scale=scale, device=device,
                              precision=precision, tile=tile, overwrite=overwrite)
    return _upscale_video(input_path, output_path, **options)


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
                   precision: str, tile: int, overwrite: bool) -> Summary:
    from PIL import Image

    if not is_image(output_path):
        raise OutputError(f"{output_path}: a still image needs an image output ({', '.join(IMAGE_SUFFIXES)})")
    check_output(input_path, output_path, overwrite=overwrite)
    rgb, alpha, carry = read_image(input_path)
    net, scale = _load(model, scale)
    h, w = rgb.shape[:2]
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    dev = resolve_device(device)
    engine = Engine(model=net, device=dev, dtype=resolve_precision(precision, dev), out_size=(out_h, out_w), tile=tile)
    start = time.perf_counter()
    out = engine(torch.from_numpy(rgb[None]))[0].numpy()
    if alpha is not None:  # alpha is a mask, not a picture: a sharp resampler keeps its edges clean
        alpha = np.asarray(Image.fromarray(alpha).resize((out_w, out_h), Image.Resampling.LANCZOS))
    write_image(output_path, out, alpha, carry)
    seconds = time.perf_counter() - start
    return Summary(input=str(input_path), output=str(output_path), frames=1, seconds=round(seconds, 3),
                   fps=round(1 / seconds, 3), input_size=(w, h), output_size=(out_w, out_h),
                   codec=output_path.suffix.lower().lstrip("."), pix_fmt="rgba" if alpha is not None else "rgb24",
                   model=net.name, device=str(dev), bytes=output_path.stat().st_size, warnings=list(engine.warnings))


def _upscale_folder(input_dir: Path, output_dir: Path, options: dict) -> list[Summary | dict]:
    """Every image and video in the folder, same names in the output folder; one failure is
    reported and the rest go on."""
    if not output_dir.parent.is_dir():
        raise OutputError(f"{output_dir}: the folder {output_dir.parent} does not exist")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: exists and is not a folder")
    files = sorted(p for p in input_dir.iterdir() if p.is_file() and (is_image(p) or p.suffix.lower() in VIDEO_SUFFIXES))
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


def _upscale_video(input_path: Path, output_path: Path, *, model, scale, device, precision, batch_size, tile,
                   codec, crf, preset, pix_fmt, audio, overwrite, progress) -> Summary:
    container = reader.open_input(input_path)
    try:
        check_output(input_path, output_path, overwrite=overwrite)
        info = reader.probe(container, input_path)
        net, scale = _load(model, scale)
        codec_name = codec or writer.default_codec(output_path)
        try:
            av_codec = av.Codec(codec_name, "w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(f"unknown encoder --codec {codec_name!r}") from exc
        out_fmt = writer.choose_pix_fmt(av_codec, pix_fmt or info.pix_fmt)
        if pix_fmt and out_fmt != pix_fmt:
            raise InputError(f"--pix-fmt {pix_fmt}: {codec_name} cannot encode it")
        warnings: list[str] = []
        if out_fmt != info.pix_fmt and not pix_fmt:
            warnings.append(f"{codec_name} cannot encode {info.pix_fmt}; writing {out_fmt}")
        want = (round(info.width * scale), round(info.height * scale))
        out_w, out_h = writer.even_size(*want, out_fmt)
        if (out_w, out_h) != want:
            warnings.append(f"output size {want[0]}x{want[1]} rounded to {out_w}x{out_h} for {out_fmt}")
        writer.check_encoder(codec_name, width=out_w, height=out_h, pix_fmt=out_fmt,
                             options=writer.encoder_options(crf, preset))
        dev = resolve_device(device)
        engine = Engine(model=net, device=dev, dtype=resolve_precision(precision, dev), out_size=(out_h, out_w), tile=tile)
        batch = batch_size or (4 if dev.type == "cuda" else 1)
        copy_streams = list(container.streams.audio) if audio else []
        video = container.streams.video[0]
        for other in container.streams:
            if other is not video and other.type not in ("audio", "subtitle"):
                warnings.append(f"{other.type} stream #{other.index} is not carried over")
        if not audio and container.streams.audio:
            warnings.append(f"{len(container.streams.audio)} audio track(s) left out (--no-audio)")
        for sub in container.streams.subtitles:
            if writer.can_hold_subtitle(output_path, sub.codec_context.name):
                copy_streams.append(sub)
            else:
                warnings.append(f"subtitle track #{sub.index} ({sub.codec_context.name}) cannot go into "
                                f"{output_path.suffix}; left out (use .mkv to keep it)")
        start = time.perf_counter()
        frames = _run(container, info, engine, batch, copy_streams, progress, lambda: writer.VideoWriter(
            output_path, source=info, input_container=container, copy_streams=copy_streams,
            width=out_w, height=out_h, codec=codec_name, pix_fmt=out_fmt, crf=crf, preset=preset))
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
    for w in warnings:
        log.warning(w)
    return Summary(input=str(input_path), output=str(output_path), frames=frames, seconds=round(seconds, 3),
                   fps=round(frames / seconds, 3) if seconds else 0.0, input_size=(info.width, info.height),
                   output_size=(out_w, out_h), codec=codec_name, pix_fmt=out_fmt, model=net.name, device=str(dev),
                   bytes=output_path.stat().st_size, warnings=warnings)


def _run(container, info, engine: Engine, batch: int, copy_streams, progress: bool, open_writer) -> int:
    """Three stages in three threads; the first error anywhere stops all of them."""
    from tqdm import tqdm

    decoded: queue.Queue = queue.Queue(QUEUE_FRAMES)
    upscaled: queue.Queue = queue.Queue(QUEUE_FRAMES)
    stop = threading.Event()
    errors: list[BaseException] = []
    state = {"writer": None, "frames": 0}
    bar = tqdm(total=info.frames or None, unit="frame", disable=not progress, dynamic_ncols=True, leave=False)

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
        for item in reader.demux(container, info, copy_streams):
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
                state["writer"].write(item.rgb, item.pts, item.time_base)
                state["frames"] += 1
                bar.update(1)
            elif state["writer"] is None:
                pending.append(item)
            else:
                state["writer"].mux(item)
        if stop.is_set():
            return
        if state["writer"] is None:
            raise InputError(f"{info.path}: no video frame could be decoded")
        state["writer"].finish()

    threads = [threading.Thread(target=guarded(decode), name="vsr-decode", daemon=True),
               threading.Thread(target=guarded(encode), name="vsr-encode", daemon=True)]
    for t in threads:
        t.start()
    try:
        guarded(lambda: _infer(decoded, upscaled, engine, batch, get, put))()
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
            where = state["writer"].path if state["writer"] is not None else info.path
            raise BackendError(f"{where}: processing failed and nothing was written ({exc})") from exc
        raise exc
    return state["frames"]


def _infer(decoded, upscaled, engine: Engine, batch: int, get, put) -> None:
    frames: list[DecodedFrame] = []

    def flush():
        if not frames:
            return
        stack = np.stack([f.rgb for f in frames])
        tensor = torch.from_numpy(stack.astype(np.int32) if stack.dtype == np.uint16 else stack)
        out = engine(tensor).numpy()
        if out.dtype == np.int32:
            out = out.astype(np.uint16)
        for f, rgb in zip(frames, out):
            put(upscaled, DecodedFrame(rgb=rgb, pts=f.pts, time_base=f.time_base))
        frames.clear()

    while (item := get(decoded)) is not _DONE:
        if isinstance(item, DecodedFrame):
            frames.append(item)
            if len(frames) >= batch:
                flush()
        else:
            put(upscaled, item)
    flush()
    put(upscaled, _DONE)
