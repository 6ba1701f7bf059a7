"""CI: the wheel, installed outside the checkout, imports every module and upscales a clip.

Run from a folder outside the checkout with the wheel's environment: an editable install or the
checkout on sys.path would hide a module the wheel lacks.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

import vsr

checkout = Path(sys.argv[1]).resolve()
installed = Path(vsr.__file__).resolve().parent
assert checkout not in installed.parents, f"vsr imports from the checkout ({installed}), not the wheel"
modules = [m.name for m in pkgutil.walk_packages(vsr.__path__, "vsr.")]
# The web app's modules import Starlette, which comes with the extra vsr[serve]; the wheel is
# installed here without extras.
SERVE_EXTRA = {"vsr.serve.app", "vsr.serve.security"}
serve_extra = importlib.util.find_spec("starlette") is not None
for name in modules:
    if name != "vsr.__main__" and (serve_extra or name not in SERVE_EXTRA):  # `python -m vsr` runs the CLI
        importlib.import_module(name)
expected = {".".join(p.relative_to(checkout).with_suffix("").parts).removesuffix(".__init__")
            for p in (checkout / "vsr").rglob("*.py")} - {"vsr"}
missing = expected - set(modules)
assert not missing, f"the wheel lacks {sorted(missing)}"
assert (installed / "weights" / "realesr-animevideov3.safetensors").is_file(), "the wheel lacks the built-in weights"
for page in ("index.html", "app.js", "style.css", "favicon.svg"):
    assert (installed / "serve" / "static" / page).is_file(), f"the wheel lacks the web app's {page}"
print(f"imported {len(modules)} modules from {installed}")

with tempfile.TemporaryDirectory() as tmp:
    src, dst = Path(tmp) / "in.mp4", Path(tmp) / "out.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for i in range(5):
            rgb = np.zeros((32, 48, 3), np.uint8)
            rgb[:, : 8 + 6 * i] = (200, 120, 40)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    vsr_command = Path(sys.executable).with_name("vsr")
    subprocess.run([str(vsr_command), "upscale", str(src), str(dst), "--scale", "2", "--quiet"], check=True, cwd=tmp)
    with av.open(str(dst)) as result:
        frames = list(result.decode(video=0))
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == (96, 64), (len(frames), frames[0].width)
print(f"vsr upscale from the wheel: 5 frames 48x32 → 96x64 in {dst.name}")
