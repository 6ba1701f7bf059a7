"""`vsr.upscale` and `vsr.upscale_folder`: probe the input, check the output, load the model,
then run one stream (vsr.pipeline.run) or, for a long video, segments over workers
(vsr.pipeline.segmented).

    probe_input ─► make_plan ─► build_engine ─► open source and sink ─► runner.run ─► Summary
"""

from __future__ import annotations

from pathlib import Path

from vsr.atomic import check_output
from vsr.errors import InputError, OutputError, VsrError, as_failure
from vsr.media.kinds import is_media
from vsr.media.sources import InputInfo
from vsr.media.video_source import VideoInfo
from vsr.models.descriptor import Model
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import check_output_kind, make_plan, probe_input
from vsr.pipeline.run import FileFailure, FolderReport, Summary, build_engine, output_scale, run_plan
from vsr.pipeline.segmented import cut, devices, run_folder, run_video
from vsr.pipeline.worker import OnFrames


def upscale(input: str | Path, output: str | Path, options: UpscaleOptions | None = None, *,
            overwrite: bool = False, progress: bool = True, on_frames: OnFrames | None = None) -> Summary:
    """Upscale a video, an animated image (GIF, WebP, APNG) or a still image.

    Video: every frame keeps its timestamp, every audio track is remuxed, colours and 10-bit
    depth are kept; a video longer than `options.execution.segment_seconds` is done in segments
    that an interrupted run resumes. Animated images keep their delays, loop count and
    transparency. The output appears only when complete; an existing file is replaced only with
    `overwrite`. `on_frames(n)` is told of frames as they are written (for a caller's own
    progress display or timing): in this process, on a pipeline thread, never two calls at
    once; over Ray in batches a few times a second; segments a resumed run kept are not told.
    An exception it raises stops the run, as any failure does (nothing is published), and
    comes through to the caller unchanged.
    """
    options = options or UpscaleOptions()
    from vsr.models.catalogue import load_model

    info = probe_input(Path(input), Path(output), options.max_pixels)
    check_output(Path(output), overwrite=overwrite, input_path=Path(input))
    check_output_kind(info, Path(output), options)
    return upscale_file(info, Path(output), options, load_model(options.runtime.model), overwrite=overwrite,
                        progress=progress, on_frames=on_frames)


def upscale_file(info: InputInfo, output: Path, options: UpscaleOptions, model: Model, *, overwrite: bool,
                 progress: bool, on_frames: OnFrames | None = None) -> Summary:
    """A probed input whose output was checked: in segments where it is a long video (or Ray
    was asked for), else as one stream in this process. Without `overwrite`, a file that
    appears at `output` meanwhile is not replaced: the run fails instead."""
    segments = cut(info, output, options)
    if segments is not None and (len(segments) > 1 or options.execution.executor == "ray"):
        assert isinstance(info, VideoInfo)  # only videos are cut
        return run_video(info, output, options, model, segments, overwrite=overwrite, progress=progress,
                         on_frames=on_frames)
    plan = make_plan(info, output, options, output_scale(options, model), overwrite=overwrite)
    return run_plan(plan, build_engine(model, plan, options), options, progress=progress, on_frame=on_frames)


def upscale_folder(input: str | Path, output: str | Path, options: UpscaleOptions | None = None, *,
                   overwrite: bool = False, progress: bool = True) -> FolderReport:
    """Every image and video in a folder (not recursive), under the same names in the output
    folder; a file that fails is reported and the rest go on. With several workers (or Ray) the
    files, and the segments of long videos, are spread over all of them."""
    options = options or UpscaleOptions()
    input_dir, output_dir = Path(input), Path(output)
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: {'is not a folder' if input_dir.exists() else 'no such folder'}")
    if not output_dir.parent.is_dir():
        raise OutputError(f"{output_dir}: the folder {output_dir.parent} does not exist")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: exists and is not a folder")
    files = sorted(p for p in input_dir.iterdir() if p.is_file() and is_media(p))
    if not files:
        raise InputError(f"{input_dir}: no images or videos in this folder")
    from vsr.models.catalogue import load_model

    model = load_model(options.runtime.model)
    output_scale(options, model)  # one usage error, not one failure per file
    output_dir.mkdir(exist_ok=True)
    probed: list[tuple[Path, InputInfo | VsrError, Path]] = []
    for path in files:
        target = output_dir / path.name
        try:
            info = probe_input(path, target, options.max_pixels)
            check_output(target, overwrite=overwrite, input_path=path)
            check_output_kind(info, target, options)
            probed.append((path, info, target))
        except Exception as exc:  # reported in the folder's report, once; the other files go on
            probed.append((path, as_failure(exc), target))
    execution = options.execution
    if execution.executor == "ray" or (execution.workers or len(devices(options))) > 1:
        results = run_folder(probed, options, model, overwrite=overwrite, progress=progress)
    else:
        results = []
        for path, found, target in probed:
            try:
                if isinstance(found, VsrError):
                    raise found
                results.append(upscale_file(found, target, options, model, overwrite=overwrite, progress=progress))
            except Exception as exc:  # one file's failure, whatever it is, stops only that file
                results.append(FileFailure(input=str(path), error=str(as_failure(exc))))
    return FolderReport(input=str(input_dir), output=str(output_dir), files=tuple(results))

