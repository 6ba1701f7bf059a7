"""`vsr bench`: every figure the issue asks for is there and self-consistent (speed is not tested)."""

from __future__ import annotations

import json

import av
import torch

from vsr.bench.roofline import model_flops
from vsr.bench.stages import STEADY_LEAD, steady_seconds_per_frame
from vsr.cli import main


def test_bench_reports_stages_roofline_baseline_and_memory(capsys):
    assert main(["bench", "--size", "48x32", "--frames", "8", "--precision", "fp32", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["device"] == "cpu" and r["device_name"] and r["torch"] == torch.__version__ and r["av"] == av.__version__
    assert (r["size"], r["frames"], r["precision"], r["backend"], r["batch_size"]) == ("48x32", 8, "fp32", "eager", 1)
    assert set(r["stages_fps"]) == {"decode", "convert_upload", "model", "download", "encode"}
    assert all(v > 0 for v in r["stages_fps"].values())
    assert r["model_gflop_per_frame"] > 0 and r["roofline_fraction"] > 0 and r["roofline_tflops"] > 0
    assert r["end_to_end_fps"] > 0 and r["end_to_end_marginal_ms_per_frame"] is not None
    assert r["naive_fps"] > 0 and abs(r["speedup_model_vs_naive"] - r["model_fps"] / r["naive_fps"]) < 0.02
    assert r["peak_rss_mib"] > 0 and r["peak_gpu_memory_mib"] is None


def test_flop_count_matches_the_design_figure():
    """DESIGN.md: SRVGGNetCompact ×4 is about 1.24 MFLOP per input pixel."""
    import vsr

    model = vsr.load_model("realesr-animevideov3")
    per_pixel = model_flops(model.model, (1, 3, 64, 64)) / (64 * 64)
    assert 1.1e6 < per_pixel < 1.4e6


def test_bench_rejects_bad_sizes(capsys):
    assert main(["bench", "--size", "big"]) == 2
    assert "invalid --size" in capsys.readouterr().err


def test_steady_cost_is_taken_where_every_stage_is_busy():
    """libx264 buffers its lookahead before it encodes: the first frames are written faster than
    the pipeline runs. Only the second half of a long enough run counts."""
    def run(filling: int, steady: int) -> list[float]:
        fast = [0.1 * i for i in range(filling)]  # written before any encoding is paid for
        return fast + [fast[-1] + 1.0 + 0.3 * i for i in range(steady)]  # a pause, then steady

    assert abs(steady_seconds_per_frame(run(STEADY_LEAD, STEADY_LEAD)) - 0.3) < 1e-9
    # Filling past the lead: the window is the second half, all of it steady.
    assert abs(steady_seconds_per_frame(run(STEADY_LEAD + 20, STEADY_LEAD + 40)) - 0.3) < 1e-9
    assert steady_seconds_per_frame(run(STEADY_LEAD, STEADY_LEAD - 1)) is None  # too short for a steady half
