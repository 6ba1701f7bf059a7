"""`vsr.upscale` and `vsr.upscale_folder`: a `Job` run in the calling thread, for a caller who only
wants the result (and, by default, the progress bar on stderr)."""

from __future__ import annotations

from pathlib import Path

from vsr.errors import InputError
from vsr.pipeline.job import Job
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.progress import progress_bar
from vsr.pipeline.stream.pump import OnFrames
from vsr.pipeline.summary import FolderReport, Summary


def upscale(input: str | Path, output: str | Path, options: UpscaleOptions | None = None, *,
            overwrite: bool = False, progress: bool = True, on_frames: OnFrames | None = None) -> Summary:
    """Upscale a video, an animated image (GIF, WebP, APNG) or a still image.

    Video: every frame keeps its timestamp, every audio track is remuxed, colours and 10-bit
    depth are kept; a video longer than `options.execution.segment_seconds` is done in segments
    that an interrupted run resumes. Animated images keep their delays, loop count and
    transparency. The output appears only when complete; an existing file is replaced only with
    `overwrite`. `progress`: a bar on stderr. `on_frames(n)` is told of frames as they are
    written (for a caller's own progress display or timing): in this process, on a pipeline
    thread, never two calls at once; over Ray in batches a few times a second; segments a
    resumed run kept are not told. An exception it raises stops the run, as any failure does
    (nothing is published), and comes through to the caller unchanged. For events, cancelling
    and running in the background, use `vsr.Job`.
    """
    if Path(input).is_dir():
        raise InputError(f"{input}: is a folder; upscale a folder with vsr.upscale_folder")
    result = Job(input, output, options, overwrite=overwrite, on_event=progress_bar() if progress else None,
                 on_frames=on_frames).run()
    assert isinstance(result, Summary)
    return result


def upscale_folder(input: str | Path, output: str | Path, options: UpscaleOptions | None = None, *,
                   overwrite: bool = False, progress: bool = True) -> FolderReport:
    """Every image and video in a folder (not recursive), under the same names in the output
    folder; a file that fails is reported and the rest go on. With several workers (or Ray) the
    files, and the segments of long videos, are spread over all of them."""
    input_dir = Path(input)
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: {'is not a folder' if input_dir.exists() else 'no such folder'}")
    result = Job(input_dir, output, options, overwrite=overwrite, on_event=progress_bar() if progress else None).run()
    assert isinstance(result, FolderReport)
    return result
