"""Upscale one video with options of your own and watch it as it goes.

    python examples/upscale_with_progress.py in.mp4 out.mp4

The same events drive vsr's own progress bar and its web app: the stage, frames done of how many,
the steady rate and the time left. Ctrl-C stops the job cleanly (nothing half-written is left; a
long video's finished segments are kept, and running the same command again resumes).
"""

from __future__ import annotations

import sys

import vsr


def show(progress: vsr.Progress) -> None:
    """One line, rewritten in place, from each event."""
    if progress.stage == "upscaling" and progress.frames_total:
        rate = f"{progress.fps:.1f} fps" if progress.fps else "measuring"
        left = f", {progress.eta_seconds:.0f} s left" if progress.eta_seconds is not None else ""
        print(f"\r{progress.frames_done}/{progress.frames_total} frames, {rate}{left}   ", end="", file=sys.stderr)
    elif progress.stage in ("probing", "starting", "joining"):
        print(f"\r{progress.stage}…", end="", file=sys.stderr)


def main(source: str, destination: str) -> int:
    options = vsr.UpscaleOptions(
        scale=2,  # the built-in model is ×4; vsr resizes its output to ×2
        runtime=vsr.RuntimeOptions(device="auto"),  # a CUDA GPU where there is one, else the CPU
        video=vsr.VideoEncoding(crf=20),  # the encoder's constant rate factor
    )
    job = vsr.Job(source, destination, options, overwrite=True, on_event=show)
    try:
        summary = job.run()
    except KeyboardInterrupt:
        print("\nstopped; run it again to resume", file=sys.stderr)
        return 130
    print(f"\n{summary.output}: {summary.frames} frames, {summary.input_size} → {summary.output_size}, "
          f"{summary.seconds:.1f} s on {summary.device} ({summary.backend}, {summary.precision})")
    for warning in summary.warnings:
        print(f"warning: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
