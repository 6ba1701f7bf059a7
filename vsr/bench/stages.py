"""`vsr bench`: how fast each stage runs, end to end, and against the way the usual scripts do it.

Stages, each timed on its own over the same frames, through the production code (the video
source, the engine's public stages, the video sink):
  decode      demux + decode the clip (PyAV, threaded), frames left in their native format
  convert     to what the engine takes (YUV → RGB with the stream's matrix through swscale, or the
              planes as they are on a GPU) and the engine's upload stage
  model       the engine's infer stage on frames already on the device (batched, chosen
              precision/backend)
  download    the engine's download stage (to RGB, or to the output's planes on a GPU)
  encode      the video sink: RGB → YUV and libx264 at the output size
End to end is `vsr.upscale` on the whole clip; the marginal cost per frame is the difference of two
runs of different lengths, so start-up (model load, engine build, encoder open) cancels out. In a
run of at least 2 × STEADY_LEAD frames, the steady cost per frame is also taken inside the run: the
mean interval between frames written in its second half. It carries none of the variation of
one-off costs (an int8 calibration varies by seconds), but it is only right once every stage is
busy: libx264 takes the first 40-odd frames into its lookahead before it encodes any, so until
then a frame is written without its encoding being paid for.

The naive baseline does what the usual scripts do: one frame at a time, eager, converted to float
on the CPU, uploaded, run, downloaded, synchronised before the next frame; same model and precision.
"""

from __future__ import annotations

import logging
import resource
import sys
import tempfile
import time
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from vsr import __version__
from vsr.bench.roofline import Timer, device_name, model_flops, peak_tflops
from vsr.bench.synthetic import pattern, synthetic_clip
from vsr.media import colour
from vsr.media.frames import Frame, RgbFrame, YuvFrame
from vsr.media.video_sink import VideoSink, VideoSinkSpec
from vsr.media.video_source import VideoSource, probe
from vsr.models import DEFAULT_MODEL
from vsr.models.catalogue import load_model
from vsr.models.descriptor import Model
from vsr.pipeline import RuntimeOptions, UpscaleOptions, to_tensor
from vsr.runtime import Backend, Precision, yuv
from vsr.runtime.device import colour_on_device, precision_name, resolve_device, resolve_precision
from vsr.runtime.engine import Engine

log = logging.getLogger(__name__)


# Frames before the steady window can start: libx264's lookahead at the default preset (40) and
# its frame threads, with the int8 calibration's 8 calls inside them.
STEADY_LEAD = 64


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 3) if seconds > 0 else float("inf")


def run(*, model: str = DEFAULT_MODEL, size: tuple[int, int] = (640, 360), batch_size: int | None = None,
        precision: Precision = "auto", backend: Backend = "auto", device: str = "auto", frames: int = 32,
        input: Path | None = None, naive: bool = True) -> dict[str, Any]:
    dev = resolve_device(device)
    net = load_model(model)
    dtype = resolve_precision(precision, dev, net)
    batch = batch_size or (4 if dev.type == "cuda" else 1)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    with tempfile.TemporaryDirectory(prefix="vsr-bench-") as tmp:
        tmp_dir = Path(tmp)
        clip = input
        if clip is None:
            clip = tmp_dir / "clip.mp4"
            synthetic_clip(clip, size, frames)
        result: dict[str, Any] = {
            "vsr": __version__, "torch": torch.__version__, "av": av.__version__, "python": sys.version.split()[0],
            "device": str(dev), "device_name": device_name(dev), "threads": torch.get_num_threads(),
            "model": net.name, "arch": net.arch, "scale": net.scale, "precision": precision_name(dtype),
            "backend_requested": backend, "batch_size": batch, "input": str(input) if input else "synthetic",
        }
        stages, decoded = _stages(clip, net, dev, dtype, backend, batch, frames, tmp_dir, result)
        result["stages_fps"] = stages
        runtime = RuntimeOptions(model=model, device=str(dev), precision=precision, backend=backend, batch_size=batch)
        result.update(_end_to_end(clip, tmp_dir, UpscaleOptions(runtime=runtime), synthetic=input is None, size=size))
        if naive:
            result.update(_naive(clip, model, dev, dtype, min(decoded, 8 if dev.type == "cpu" else 64)))
            result["speedup_model_vs_naive"] = round(stages["model"] / result["naive_fps"], 2)
            result["speedup_end_to_end_vs_naive"] = round(result["end_to_end_fps"] / result["naive_fps"], 2)
    slowest = min(stages.values())
    result["end_to_end_vs_slowest_stage"] = round(result["end_to_end_fps"] / slowest, 3)
    result["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1) if dev.type == "cuda" else None
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def _stages(clip: Path, net: Model, dev: torch.device, dtype: torch.dtype, backend: Backend, batch: int,
            frames: int, tmp_dir: Path, result: dict[str, Any]) -> tuple[dict[str, float], int]:
    info = probe(clip)
    # As the pipeline does it: planes converted on a GPU, swscale on the CPU.
    device_colour = colour_on_device("auto", dev) and yuv.supported(info.pix_fmt)
    fmt = yuv.YuvFormat(info.pix_fmt, info.colour.space, info.colour.full_range) if device_colour else None
    with VideoSource(info, planes_for=yuv.supported if device_colour else None) as source:
        with Timer(dev) as t:
            video_frames = list(islice(source.decoded(), frames))
        decode = _rate(len(video_frames), t.seconds)
        n = len(video_frames)
        w, h = info.width, info.height
        result["size"] = f"{w}x{h}"
        result["frames"] = n
        out_w, out_h = w * net.scale, h * net.scale
        # The backend `vsr upscale` would pick for the whole clip, not for the frames timed here.
        engine = Engine(model=net, device=dev, dtype=dtype, out_size=(out_h, out_w), backend=backend, in_size=(h, w),
                        batch=batch, frames=info.estimated_frames or None)
        result["backend"] = engine.backend_used
        uploads = []
        with Timer(dev) as t:
            for f in video_frames:
                item = source.convert(f)
                if isinstance(item, YuvFrame) and fmt is not None:
                    uploads.append(engine.upload_planes([to_tensor(p[None]) for p in item.planes], fmt)[0])
                elif isinstance(item, RgbFrame):
                    uploads.append(engine.upload(to_tensor(item.rgb[None]))[0])
        convert = _rate(n, t.seconds)
    result["colour_conversion"] = "device" if device_colour else "swscale"
    # The model alone: float NCHW batches already on the device.
    x = torch.stack(uploads[:batch]).contiguous(memory_format=torch.channels_last)
    if x.shape[0] < batch:
        x = torch.cat([x, x[-1:].expand(batch - x.shape[0], *x.shape[1:])])
    engine.infer(x)  # warm-up: kernels chosen, graphs captured
    for upload in uploads:  # int8 calibrates on the first frames' tiles: time what runs after
        if not engine.calibrating:
            break
        engine.infer(upload[None].contiguous(memory_format=torch.channels_last))
    result["precision"], result["backend"] = engine.precision_used, engine.backend_used
    repeats = max(1, n // batch)
    with Timer(dev) as t:
        for _ in range(repeats):
            y = engine.infer(x)
    model_fps = _rate(repeats * batch, t.seconds)
    with Timer(dev) as t:
        for _ in range(repeats):
            if fmt is not None:
                engine.download_planes(y, fmt)
            else:
                engine.download(y)
    download = _rate(repeats * batch, t.seconds)
    flops = model_flops(net.model, (1, 3, *net.padded_size(h, w)))
    tflops = flops * model_fps / 1e12
    peaks = peak_tflops(dev, dtype)
    roof = max(peaks.values())
    result["warnings"] = list(engine.warnings)  # out-of-memory splitting or tiling changes what was timed
    for message in engine.warnings:
        log.warning("%s", message)
    result.update(model_fps=model_fps, model_output_mpix_per_s=round(model_fps * out_w * out_h / 1e6, 2),
                  model_gflop_per_frame=round(flops / 1e9, 2), model_tflops=round(tflops, 3),
                  matmul_peak_tflops=round(peaks["matmul"], 3), conv_peak_tflops=round(peaks["conv3x3"], 3),
                  roofline_tflops=round(roof, 3), roofline_fraction=round(tflops / roof, 3))
    encode = _encode_rate(info.colour, (out_w, out_h), n, device_colour, tmp_dir / "encode.mp4", dev)
    return {"decode": decode, "convert_upload": convert, "model": model_fps, "download": download, "encode": encode}, n


def _encode_rate(stream_colour: colour.ColourInfo, size: tuple[int, int], n: int, planes: bool, path: Path,
                 dev: torch.device) -> float:
    """The video sink alone, at the output size, on moving pictures (as the encoder will see)."""
    out_w, out_h = size
    spec = VideoSinkSpec(codec="libx264", pix_fmt="yuv420p", width=out_w, height=out_h, time_base=Fraction(1, 25),
                         colour=stream_colour, average_rate=Fraction(25))
    pictures = [pattern(out_w, out_h, i) for i in range(min(n, 4))]
    items: list[Frame]
    if planes:  # the sink then gets planes converted on the GPU, no swscale
        converted = [colour.planes_of(colour.from_rgb(p, stream_colour, "yuv420p")) for p in pictures]
        items = [YuvFrame(planes=(c[0], c[1], c[2]), pix_fmt="yuv420p", pts=i, time_base=Fraction(1, 25))
                 for i, c in ((i, converted[i % len(converted)]) for i in range(n))]
    else:
        items = [RgbFrame(rgb=pictures[i % len(pictures)], pts=i, time_base=Fraction(1, 25)) for i in range(n)]
    sink = VideoSink(path, spec)
    with Timer(dev) as t:
        for item in items:
            sink.write(item)
        sink.finish()
    return _rate(n, t.seconds)


def _end_to_end(clip: Path, tmp_dir: Path, options: UpscaleOptions, *, synthetic: bool,
                size: tuple[int, int]) -> dict[str, Any]:
    from vsr.pipeline import upscale

    def timed(path: Path, written: list[float] | None = None) -> tuple[int, float]:
        """`written`, where given, gets the time each frame was written."""
        stamp = None if written is None else lambda n: written.extend([time.perf_counter()] * n)
        summary = upscale(path, tmp_dir / f"e2e-{path.stem}.mp4", options, overwrite=True, progress=False,
                          on_frames=stamp)
        return summary.frames, summary.seconds

    # A first run pays for choosing and caching kernels (oneDNN, cuDNN, compiled graphs); it is
    # not part of either timed run.
    warm = tmp_dir / "warm.mp4"
    synthetic_clip(warm, size, 2)
    timed(warm)
    written: list[float] = []
    n, seconds = timed(clip, written)
    out: dict[str, Any] = {"end_to_end_fps": _rate(n, seconds)}
    steady = steady_seconds_per_frame(written)
    if steady is not None:
        out["end_to_end_steady_ms_per_frame"] = round(steady * 1000, 2)
    if synthetic and n >= 8:  # the cost of one more frame, with start-up cancelled out
        half = tmp_dir / "half.mp4"
        synthetic_clip(half, size, n // 2)
        n_half, seconds_half = timed(half)
        out["end_to_end_marginal_ms_per_frame"] = round((seconds - seconds_half) / (n - n_half) * 1000, 2)
    return out


def steady_seconds_per_frame(written: list[float]) -> float | None:
    """The mean interval between the frames written in the second half of a run (`written`: the
    time each frame was written), or None where the run is too short for that half to start after
    STEADY_LEAD frames."""
    half = len(written) // 2
    if half < STEADY_LEAD:
        return None
    return (written[-1] - written[half]) / (len(written) - 1 - half)


def _naive(clip: Path, model: str, dev: torch.device, dtype: torch.dtype, frames: int) -> dict[str, Any]:
    net = load_model(model, device=dev, dtype=dtype).model.eval()
    with av.open(str(clip)) as container:
        pictures: list[np.ndarray] = [f.to_ndarray(format="rgb24")
                                      for _, f in zip(range(frames), container.decode(video=0))]
    with torch.inference_mode():
        net(torch.from_numpy(pictures[0]).permute(2, 0, 1)[None].float().div(255).to(dev, dtype))  # warm-up
        with Timer(dev) as t:
            for rgb in pictures:
                x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255)  # float on the CPU
                y = net(x.to(dev, dtype))
                y.float().clamp(0, 1).mul(255).round().byte().cpu().numpy()  # waits for the GPU every frame
    return {"naive_fps": _rate(len(pictures), t.seconds)}
