"""`vsr bench`: how fast each stage runs, end to end, and against the way the usual scripts do it.

Stages, each timed on its own over the same frames:
  decode      demux + decode the clip (PyAV, threaded), frames left in their native format
  convert     YUV → RGB with the stream's matrix (swscale) and the copy to the model's device
  model       the network alone on frames already on the device (batched, chosen precision/backend)
  download    the upscaled batch to uint8 in host memory
  encode      RGB → YUV and libx264 at the output size
End to end is `vsr.upscale` on the whole clip; the marginal cost per frame is the difference of two
runs of different lengths, so start-up (model load, engine build, encoder open) cancels out.

The naive baseline does what the usual scripts do: one frame at a time, eager, converted to float
on the CPU, uploaded, run, downloaded, synchronised before the next frame; same model and precision.
"""

from __future__ import annotations

import platform
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from vsr import __version__, yuv
from vsr.engine import Engine, resolve_device, resolve_precision
from vsr.media import color, reader, writer
from vsr.media.reader import DecodedFrame
from vsr.model import load_model


@dataclass
class Timer:
    device: torch.device

    def __enter__(self):
        self._sync()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self._sync()
        self.seconds = time.perf_counter() - self.start

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def pattern(width: int, height: int, index: int) -> np.ndarray:
    """A moving test picture with edges, gradients and texture (deterministic)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = index * 3.0
    r = 128 + 100 * np.sin((x + t) / 23.0) * np.cos(y / 17.0)
    g = 128 + 100 * np.sin((x - 2 * t) / 11.0 + y / 29.0)
    b = (x * 255.0 / max(1, width - 1) + t) % 256
    img = np.stack([r, g, b], axis=-1)
    cx, cy = (width / 2 + width / 3 * np.sin(index / 9)), height / 2
    img[(np.abs(x - cx) < width / 10) & (np.abs(y - cy) < height / 8)] = (250, 240, 20)
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_clip(path: Path, size: tuple[int, int], frames: int) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(*size, i), format="rgb24").reformat(format="yuv420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def model_flops(net, shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass (a multiply-add counts 2), counted on the meta device."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(net).to("meta", torch.float32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(torch.empty(shape, device="meta"))
    return int(counter.get_total_flops())


def peak_tflops(device: torch.device, dtype: torch.dtype) -> dict[str, float]:
    """The roofline, measured: the best of a dense matrix multiply and of a 3×3, 64→64-channel
    convolution (these models' own layer, channels-last) in `dtype` on this device. On the CPU
    the convolution is the fairer roof: MKL's sgemm does not use AVX-512 on AMD processors."""
    cuda = device.type == "cuda"
    n = 8192 if cuda else 2048
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device, dtype).to(memory_format=torch.channels_last)
    x = torch.randn(8 if cuda else 1, 64, 256 if cuda else 128, 256 if cuda else 128, device=device).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    conv_flops = 2 * 64 * 64 * 9 * x.shape[0] * x.shape[2] * x.shape[3]
    out = {}
    with torch.inference_mode():
        for name, fn, flops in (("matmul", lambda: a @ b, 2 * n**3), ("conv3x3", lambda: conv(x), conv_flops)):
            for _ in range(2):
                fn()
            best = float("inf")
            for _ in range(20 if cuda else 5):
                with Timer(device) as t:
                    fn()
                best = min(best, t.seconds)
            out[name] = flops / best / 1e12
    return out


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 3) if seconds > 0 else float("inf")


def run(*, model: str = "realesr-animevideov3", size: tuple[int, int] = (640, 360), batch_size: int | None = None,
        precision: str = "auto", backend: str = "auto", device: str = "auto", frames: int = 32,
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
            "model": net.name, "arch": net.arch, "scale": net.scale, "precision": str(dtype).removeprefix("torch."),
            "backend_requested": backend, "batch_size": batch, "input": str(input) if input else "synthetic",
        }
        stages, decoded = _stages(clip, net, dev, dtype, backend, batch, frames, tmp_dir, result)
        result["stages_fps"] = stages
        result.update(_end_to_end(clip, tmp_dir, model, dev, precision, backend, batch, synthetic=input is None,
                                  size=size))
        if naive:
            result.update(_naive(clip, model, dev, dtype, min(decoded, 8 if dev.type == "cpu" else 64)))
            result["speedup_model_vs_naive"] = round(stages["model"] / result["naive_fps"], 2)
            result["speedup_end_to_end_vs_naive"] = round(result["end_to_end_fps"] / result["naive_fps"], 2)
    slowest = min(stages.values())
    result["end_to_end_vs_slowest_stage"] = round(result["end_to_end_fps"] / slowest, 3)
    result["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1) if dev.type == "cuda" else None
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def _stages(clip, net, dev, dtype, backend, batch, frames, tmp_dir, result) -> tuple[dict[str, float], int]:
    container = reader.open_input(clip)
    with container:
        info = reader.probe(container, clip)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        with Timer(dev) as t:
            video_frames = [f for _, f in zip(range(frames), container.decode(stream))]
        decode = _rate(len(video_frames), t.seconds)
    n = len(video_frames)
    w, h = info.width, info.height
    result["size"] = f"{w}x{h}"
    result["frames"] = n
    out_w, out_h = w * net.scale, h * net.scale
    engine = Engine(model=net, device=dev, dtype=dtype, out_size=(out_h, out_w), backend=backend, in_size=(h, w), batch=batch)
    result["backend"] = engine.backend_used
    info.color = color.describe(video_frames[0])
    uploads = []
    device_colour = dev.type == "cuda" and yuv.supported(video_frames[0].format.name)
    fmt = yuv.YuvFormat(video_frames[0].format.name, info.color.space, info.color.range == 2) if device_colour else None
    with Timer(dev) as t:
        for f in video_frames:  # as the pipeline does it: planes converted on a GPU, swscale on the CPU
            if device_colour:
                planes = [engine._upload(torch.from_numpy(p)[None]) for p in color.planes_of(f)]
                uploads.append(yuv.to_rgb(*planes, fmt)[0])
            else:
                rgb = engine._upload(torch.from_numpy(color.to_rgb(f, info.color, high_depth=False)))
                uploads.append(rgb.permute(2, 0, 1).float().div_(255))
    convert = _rate(n, t.seconds)
    result["colour_conversion"] = "device" if device_colour else "swscale"
    # The model alone: float NCHW batches already on the device.
    x = torch.stack(uploads[:batch]).contiguous(memory_format=torch.channels_last)
    if x.shape[0] < batch:
        x = torch.cat([x, x[-1:].expand(batch - x.shape[0], *x.shape[1:])])
    with torch.inference_mode():
        engine._run(x)  # warm-up: kernels chosen, graphs captured
        repeats = max(1, n // batch)
        with Timer(dev) as t:
            for _ in range(repeats):
                y = engine._run(x)
        model_fps = _rate(repeats * batch, t.seconds)
        with Timer(dev) as t:
            for _ in range(repeats):
                if device_colour:
                    [p.to("cpu") for p in yuv.from_rgb(y.float().clamp(0, 1), fmt)]
                else:
                    y.clamp(0, 1).mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1).to("cpu")
        download = _rate(repeats * batch, t.seconds)
    flops = model_flops(net.model, (1, 3, *net.padded_size(h, w)))
    tflops = flops * model_fps / 1e12
    peaks = peak_tflops(dev, dtype)
    roof = max(peaks.values())
    result.update(model_fps=model_fps, model_output_mpix_per_s=round(model_fps * out_w * out_h / 1e6, 2),
                  model_gflop_per_frame=round(flops / 1e9, 2), model_tflops=round(tflops, 3),
                  matmul_peak_tflops=round(peaks["matmul"], 3), conv_peak_tflops=round(peaks["conv3x3"], 3),
                  roofline_tflops=round(roof, 3), roofline_fraction=round(tflops / roof, 3))
    out_path = tmp_dir / "encode.mp4"
    source = reader.SourceInfo(path=clip, width=w, height=h, pix_fmt="yuv420p", time_base=Fraction(1, 25),
                               average_rate=Fraction(25), frames=n, color=info.color)
    pictures = [pattern(out_w, out_h, i) for i in range(min(n, 4))]  # moving content, as the encoder will see
    video_writer = writer.VideoWriter(out_path, source=source, copy_streams=[], width=out_w, height=out_h,
                                      codec="libx264", pix_fmt="yuv420p", crf=None, preset=None)
    if device_colour:  # the writer then gets planes converted on the GPU, no swscale
        planes = [color.planes_of(color.from_rgb(p, info.color, "yuv420p")) for p in pictures]
        items = [DecodedFrame(rgb=None, planes=planes[i % len(planes)], planes_format="yuv420p", pts=i,
                              time_base=Fraction(1, 25)) for i in range(n)]
    else:
        items = [DecodedFrame(rgb=pictures[i % len(pictures)], pts=i, time_base=Fraction(1, 25)) for i in range(n)]
    with Timer(dev) as t:
        for item in items:
            video_writer.write(item)
        video_writer.finish()
    encode = _rate(n, t.seconds)
    return {"decode": decode, "convert_upload": convert, "model": model_fps, "download": download, "encode": encode}, n


def _end_to_end(clip, tmp_dir, model, dev, precision, backend, batch, *, synthetic: bool,
                size: tuple[int, int]) -> dict[str, Any]:
    from vsr.pipeline import upscale

    def timed(path: Path) -> tuple[int, float]:
        summary = upscale(path, tmp_dir / f"e2e-{path.stem}.mp4", model=model, device=str(dev), precision=precision,
                          backend=backend, batch_size=batch, overwrite=True, progress=False)
        return summary.frames, summary.seconds

    # A first run pays for choosing and caching kernels (oneDNN, cuDNN, compiled graphs); it is
    # not part of either timed run.
    warm = tmp_dir / "warm.mp4"
    synthetic_clip(warm, size, 2)
    timed(warm)
    n, seconds = timed(clip)
    out = {"end_to_end_fps": _rate(n, seconds)}
    if synthetic and n >= 8:  # the cost of one more frame, with start-up cancelled out
        half = tmp_dir / "half.mp4"
        synthetic_clip(half, size, n // 2)
        n_half, seconds_half = timed(half)
        out["end_to_end_marginal_ms_per_frame"] = round((seconds - seconds_half) / (n - n_half) * 1000, 2)
    return out


def _naive(clip, model, dev, dtype, frames) -> dict[str, Any]:
    net = load_model(model, device=dev, dtype=dtype).model.eval()
    with av.open(str(clip)) as container:
        pictures = [f.to_ndarray(format="rgb24") for _, f in zip(range(frames), container.decode(video=0))]
    with torch.inference_mode():
        net(torch.from_numpy(pictures[0]).permute(2, 0, 1)[None].float().div(255).to(dev, dtype))  # warm-up
        with Timer(dev) as t:
            for rgb in pictures:
                x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255)  # float on the CPU
                y = net(x.to(dev, dtype))
                y.float().clamp(0, 1).mul(255).round().byte().cpu().numpy()  # waits for the GPU every frame
    return {"naive_fps": _rate(len(pictures), t.seconds)}
