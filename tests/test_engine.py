"""Out-of-memory recovery and the fp16 NaN guard, simulated on the CPU."""

from __future__ import annotations

import torch

import vsr
from vsr.engine import Engine


class _MemoryLimited(torch.nn.Module):
    """Wraps a network and raises CUDA's out-of-memory error above a pixel budget, as a GPU would."""

    def __init__(self, inner: torch.nn.Module, budget: int) -> None:
        super().__init__()
        self.inner, self.budget, self.calls = inner, budget, []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        if x.shape[0] * x.shape[-1] * x.shape[-2] > self.budget:
            raise torch.cuda.OutOfMemoryError("simulated")
        return self.inner(x)


def _frames(n=4, h=96, w=128):
    torch.manual_seed(0)
    return (torch.rand(n, h, w, 3) * 255).to(torch.uint8)


def test_out_of_memory_splits_then_tiles_and_drops_nothing():
    frames = _frames()
    reference = Engine(model=vsr.load_model("realesr-animevideov3"), device=torch.device("cpu"),
                       dtype=torch.float32, out_size=(384, 512))(frames)
    model = vsr.load_model("realesr-animevideov3")
    limited = _MemoryLimited(model.model, budget=6000)  # less than one whole 96×128 frame
    model.model = limited
    engine = Engine(model=model, device=torch.device("cpu"), dtype=torch.float32, out_size=(384, 512))
    out = engine(frames)
    assert out.shape == reference.shape == (4, 384, 512, 3)
    # Overlapping tiles keep each tile's centre: the seams match the untiled result closely.
    assert (out.int() - reference.int()).abs().float().mean() < 0.5
    assert any("splitting the batch" in w for w in engine.warnings)
    assert any("tiling" in w for w in engine.warnings)


class _NaNInHalf(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        y = self.inner(x)
        return y * float("nan") if x.dtype == torch.bfloat16 else y


def test_non_finite_half_precision_output_is_redone_in_fp32():
    model = vsr.load_model("realesr-animevideov3")
    model.model = _NaNInHalf(model.model)
    engine = Engine(model=model, device=torch.device("cpu"), dtype=torch.bfloat16, out_size=(32, 32))
    out = engine(_frames(1, 8, 8))
    assert out.shape == (1, 32, 32, 3) and out.float().std() > 0
    assert any("redone in fp32" in w for w in engine.warnings)
    assert model.dtype == torch.bfloat16  # back to the requested precision for the next batch
