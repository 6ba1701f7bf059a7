"""Peak memory of upscales run one after another in one fresh process, for the tests that memory
does not grow with the input's length."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Eager fp32, pinned: under auto, a longer input may pay for building OpenVINO (or a timed
# precision choice may differ) where a shorter one does not, which is a choice, not memory
# growing with length. Unpinned, a fresh-clone CI run on a Zen 4 VM measured 382 → 558 MB
# between the 10- and 130-frame GIFs; pinned, 285-304 → 299-325 MB.
# Before each run the peak is reset (Linux: writing 5 to clear_refs resets VmHWM), so each run's
# figure is its own peak, model and codecs already loaded, not the process's high-water mark.
_SCRIPT = """
import json, re, sys
from pathlib import Path
from vsr.pipeline import ImageEncoding, RuntimeOptions, UpscaleOptions, upscale
job = json.loads(sys.argv[1])
image = ImageEncoding(gif_palette=job["palette"]) if job["palette"] else ImageEncoding()
options = UpscaleOptions(runtime=RuntimeOptions(model=job["model"], precision="fp32", backend="eager"), image=image)
for src, dst in job["runs"]:
    Path("/proc/self/clear_refs").write_text("5")
    upscale(src, dst, options, progress=False)
    print(re.search(r"VmHWM:\\s*(\\d+) kB", Path("/proc/self/status").read_text()).group(1), flush=True)
"""


def peak_rss_mb(runs: list[tuple[Path, Path]], model: Path, *, gif_palette: str | None = None) -> list[float]:
    """Each (input, output) upscale's own peak RSS in MB, in order, all in one process: torch is
    imported once (seconds on a slow CPU), and the later runs start where the first left off."""
    job = {"runs": [[str(s), str(d)] for s, d in runs], "model": str(model), "palette": gif_palette}
    result = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(job)], capture_output=True, text=True,
                            check=True)
    return [int(line) / 1024 for line in result.stdout.split()]
