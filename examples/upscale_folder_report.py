"""Upscale every image and video in a folder and report on each file.

    python examples/upscale_folder_report.py photos/ photos-x4/

A file that fails (damaged, too large) is reported and the others go on; the exit code says
whether any failed.
"""

from __future__ import annotations

import sys

import vsr


def main(source: str, destination: str) -> int:
    report = vsr.upscale_folder(source, destination, vsr.UpscaleOptions(scale=4), overwrite=True, progress=False)
    for entry in report.files:
        if isinstance(entry, vsr.FileFailure):
            print(f"FAILED  {entry.input}: {entry.error}")
        else:
            (iw, ih), (ow, oh) = entry.input_size, entry.output_size
            print(f"ok      {entry.output}: {entry.frames} frame(s), {iw}x{ih} → {ow}x{oh}, {entry.seconds:.1f} s")
    print(f"{len(report.files) - len(report.failures)} of {len(report.files)} files upscaled")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
