"""The pipeline: what `vsr upscale` does with a file, in three parts that depend one way:

    stream/    one input as one stream: batches through the engine, the threaded pump
    segments/  a long video cut at keyframes, its work folder and manifest, resume, the join
    workers/   tasks, the worker, where workers run (this process, local processes, Ray), scheduling

around the records they share (`options`, `plan`, `summary`, `progress`), and on top the `Job`
that runs and watches an upscale, and `upscale` / `upscale_folder` for a caller who only wants
the result. Other layers use the names below; importing this package loads nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr.lazy import exports

if TYPE_CHECKING:
    from vsr.pipeline.job import Job
    from vsr.pipeline.options import (
        DEFAULT_SEGMENT_SECONDS,
        EXECUTORS,
        ExecutionOptions,
        ExecutorName,
        ImageEncoding,
        RuntimeOptions,
        UpscaleOptions,
        VideoEncoding,
    )
    from vsr.pipeline.plan import probe_input
    from vsr.pipeline.preview import Preview, preview
    from vsr.pipeline.progress import STAGES, Listener, Progress, Stage, progress_bar
    from vsr.pipeline.stream.batches import to_tensor
    from vsr.pipeline.summary import FileFailure, FolderReport, Summary
    from vsr.pipeline.upscale import upscale, upscale_folder

__all__ = ["DEFAULT_SEGMENT_SECONDS", "EXECUTORS", "STAGES", "ExecutionOptions", "ExecutorName", "FileFailure",
           "FolderReport", "ImageEncoding", "Job", "Listener", "Preview", "Progress", "RuntimeOptions", "Stage",
           "Summary", "UpscaleOptions", "VideoEncoding", "preview", "probe_input", "progress_bar", "to_tensor",
           "upscale", "upscale_folder"]

_ORIGINS = {
    **dict.fromkeys(["DEFAULT_SEGMENT_SECONDS", "EXECUTORS", "ExecutionOptions", "ExecutorName", "ImageEncoding",
                     "RuntimeOptions", "UpscaleOptions", "VideoEncoding"], "vsr.pipeline.options"),
    **dict.fromkeys(["STAGES", "Listener", "Progress", "Stage", "progress_bar"], "vsr.pipeline.progress"),
    **dict.fromkeys(["FileFailure", "FolderReport", "Summary"], "vsr.pipeline.summary"),
    "Job": "vsr.pipeline.job",
    "probe_input": "vsr.pipeline.plan",
    **dict.fromkeys(["Preview", "preview"], "vsr.pipeline.preview"),
    "to_tensor": "vsr.pipeline.stream.batches",
    "upscale": "vsr.pipeline.upscale",
    "upscale_folder": "vsr.pipeline.upscale",
}
__getattr__, __dir__ = exports(__name__, _ORIGINS)
