"""`vsr upscale`: a video, animated image, image or folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vsr.cli.common import (
    BackendOption,
    BatchSizeOption,
    DevicesOption,
    JsonOption,
    ModelOption,
    OverwriteOption,
    PrecisionOption,
    QuietOption,
    TemporalBlendOption,
    configure_logging,
    report,
)
from vsr.media.animated import DEFAULT_DITHER, Dither, GifPalette
from vsr.media.limits import DEFAULT_MAX_PIXELS
from vsr.models import DEFAULT_MODEL
from vsr.pipeline import DEFAULT_SEGMENT_SECONDS, ExecutorName


def upscale_command(
    input: Annotated[Path, typer.Argument(help="The video, animated image, image or folder to upscale.")],
    output: Annotated[Path, typer.Argument(help="Where to write the result; the container follows the extension.")],
    scale: Annotated[float | None, typer.Option(help="Output scale (default: the model's); at most the model's.")] = None,
    model: ModelOption = DEFAULT_MODEL,
    device: DevicesOption = "auto",
    precision: PrecisionOption = "auto",
    batch_size: BatchSizeOption = None,
    tile: Annotated[int, typer.Option(help="Tile size in pixels, 0 = off (engaged automatically on out-of-memory).")] = 0,
    backend: BackendOption = "auto",
    codec: Annotated[str | None, typer.Option(help="Any PyAV encoder (default: libx264; libvpx-vp9 for .webm).")] = None,
    crf: Annotated[int | None, typer.Option(help="The encoder's constant rate factor.")] = None,
    preset: Annotated[str | None, typer.Option(help="The encoder's preset.")] = None,
    pix_fmt: Annotated[str | None, typer.Option(help="Output pixel format (default: the input's).")] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Leave the audio tracks out.")] = False,
    gif_palette: Annotated[GifPalette, typer.Option(help="GIF output: one palette for all frames, one per frame, or "
                                                    "auto (global when the source's colours fit one palette).")] = "auto",
    dither: Annotated[Dither, typer.Option(help="GIF output: dithering when reducing to 256 colours.")] = DEFAULT_DITHER,
    quality: Annotated[int | None, typer.Option(help="WebP/JPEG output quality 0-100 (default: lossless WebP, JPEG 95).")] = None,
    background: Annotated[str | None, typer.Option(help="Colour under transparent pixels when the output has no alpha "
                                                   "(video); default: the file's background colour, else black.")] = None,
    temporal_blend: TemporalBlendOption = 0.0,
    segment_seconds: Annotated[float, typer.Option(
        help="Cut a longer video into segments at the first keyframe after every this many seconds: each is "
             "done alone, kept for resume and joined without re-encoding; 0 = one stream.")] = DEFAULT_SEGMENT_SECONDS,
    workers: Annotated[int | None, typer.Option(
        help="Segment workers (default: one per --device; with Ray, one per GPU of the cluster, or on CPUs as "
             "many as it holds). Several run several encoders at once.")] = None,
    executor: Annotated[ExecutorName, typer.Option(
        help="local (processes on this machine) or ray (a Ray cluster; needs vsr[ray]).")] = "local",
    ray_address: Annotated[str | None, typer.Option(
        help="The Ray cluster to use (default: RAY_ADDRESS, else a local Ray for this run).")] = None,
    work_dir: Annotated[Path | None, typer.Option(
        help="Where segments are kept until the output is whole (default: hidden beside the output).")] = None,
    no_resume: Annotated[bool, typer.Option(
        "--no-resume", help="Start afresh even where an interrupted run of this job left finished segments.")] = False,
    max_pixels: Annotated[int, typer.Option(
        help="The largest frame, input or output, in pixels; larger files are refused from their header, before "
             "anything is decoded.")] = DEFAULT_MAX_PIXELS,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Upscale a video, an animated GIF/WebP/APNG, an image or a folder.

    Video keeps every frame's timestamp, the audio tracks and the colours; animated images keep
    their delays, loop count and transparency. A long video is done in segments: run the same
    command again after any interruption and the finished ones are kept.
    """
    from vsr.errors import BackendError
    from vsr.pipeline import (
        ExecutionOptions,
        FileFailure,
        FolderReport,
        ImageEncoding,
        Job,
        RuntimeOptions,
        Summary,
        UpscaleOptions,
        VideoEncoding,
        progress_bar,
    )

    configure_logging(quiet)
    options = UpscaleOptions(
        scale=scale,
        runtime=RuntimeOptions(model=model, device=device, precision=precision, backend=backend,
                               batch_size=batch_size, tile=tile),
        video=VideoEncoding(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, audio=not no_audio),
        image=ImageEncoding(gif_palette=gif_palette, dither=dither, quality=quality, background=background),
        temporal_blend=temporal_blend,
        max_pixels=max_pixels,
        execution=ExecutionOptions(segment_seconds=segment_seconds, workers=workers, executor=executor,
                                   ray_address=ray_address, work_dir=work_dir, resume=not no_resume),
    )

    def line(r: Any) -> str:
        (iw, ih), (ow, oh) = r["input_size"], r["output_size"]
        return f"{r['output']}: {r['frames']} frame(s) {iw}x{ih} → {ow}x{oh} in {r['seconds']:.1f} s ({r['fps']:.2f} fps)"

    # The same events drive the bar and give the summary that --json prints.
    job = Job(input, output, options, overwrite=overwrite, on_event=None if quiet else progress_bar())
    job.run()
    result = job.progress.result
    if isinstance(result, FolderReport):
        folder = result
        rows = [{**r, "error": f.for_command_line()} if isinstance(f, FileFailure) else r
                for r, f in zip(folder.as_rows(), folder.files, strict=True)]
        report(rows, as_json=as_json, quiet=quiet, lines=lambda: [line(r) for r in rows if "error" not in r])
        for failure in folder.failures:  # errors go to stderr, --quiet or not
            typer.echo(f"vsr: error: {failure.for_command_line()}", err=True)
        if folder.failures:
            raise BackendError(f"{len(folder.failures)} of {len(rows)} files failed (above)")
        return
    assert isinstance(result, Summary)
    row = result.as_dict()
    report(row, as_json=as_json, quiet=quiet, lines=lambda: [line(row)])
