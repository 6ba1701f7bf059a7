"""The engine: out-of-memory recovery and the fp16 NaN guard (simulated on the CPU), backends,
and the automatic precision."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch

import vsr
from vsr.errors import BackendError, InputError
from vsr.runtime.engine import Engine


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
    model = dataclasses.replace(model, model=limited)
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
    model = dataclasses.replace(model, model=_NaNInHalf(model.model))
    engine = Engine(model=model, device=torch.device("cpu"), dtype=torch.bfloat16, out_size=(32, 32))
    out = engine(_frames(1, 8, 8))
    assert out.shape == (1, 32, 32, 3) and out.float().std() > 0
    assert any("redone in fp32" in w for w in engine.warnings)
    assert model.dtype == torch.bfloat16  # back to the requested precision for the next batch


def _tiny():
    from vsr.models.archs.compact import SRVGGNetCompact
    from vsr.models.descriptor import Model

    torch.manual_seed(0)
    net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, scale=2, activation="prelu").eval()
    return Model(model=net, name="tiny", arch="compact", scale=2, hyperparameters={})


def test_backend_choice():
    from vsr.runtime.backends import candidates

    assert candidates("auto", torch.device("cpu")) == ["openvino", "eager"]
    assert candidates("auto", torch.device("cuda")) == ["tensorrt", "compile", "eager"]
    assert candidates("compile", torch.device("cpu")) == ["compile"]
    with pytest.raises(InputError, match="`backend`"):
        candidates("onnx", torch.device("cpu"))


def test_tensorrt_says_why_it_cannot_run(monkeypatch):
    from vsr.runtime import tensorrt

    reason = tensorrt.unavailable()
    assert reason is not None  # no CUDA and no torch-tensorrt on the test machines
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "torch_tensorrt", None)  # an import that fails
    assert "pip install 'vsr[tensorrt]'" in tensorrt.unavailable()
    with pytest.raises(BackendError, match="`backend` tensorrt: torch-tensorrt does not import"):
        tensorrt.build(torch.nn.Identity(), shape=(1, 3, 8, 8), dtype=torch.float16, device=torch.device("cuda"))


def test_tensorrt_request_fails_cleanly_from_the_cli(tmp_path, capsys):
    from clips import make_clip
    from vsr.cli import main

    src = tmp_path / "in.mp4"
    make_clip(src, frames=2)
    assert main(["upscale", str(src), str(tmp_path / "out.mp4"), "--backend", "tensorrt", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vsr: error: --backend tensorrt:") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".mp4") == ["in.mp4"]


def test_compiled_backend_matches_eager_and_pads_short_batches():
    frames = _frames(3, 12, 16)
    eager = Engine(model=_tiny(), device=torch.device("cpu"), dtype=torch.float32, out_size=(24, 32))(frames)
    engine = Engine(model=_tiny(), device=torch.device("cpu"), dtype=torch.float32, out_size=(24, 32),
                    backend="compile", in_size=(12, 16), batch=2)
    assert engine.backend_used == "compile"
    out = torch.cat([engine(frames[:2]), engine(frames[2:])])  # the second call is one frame short of the batch
    assert out.shape == eager.shape and (out.int() - eager.int()).abs().max() <= 1


def test_auto_precision_on_cpu_is_measured_once():
    import time

    from vsr.runtime.device import resolve_precision

    model = vsr.load_model("realesr-animevideov3")
    dtype = resolve_precision("auto", torch.device("cpu"), model)
    assert dtype in (torch.float32, torch.bfloat16)
    start = time.perf_counter()
    assert resolve_precision("auto", torch.device("cpu"), model) == dtype  # the verdict is kept, not measured again
    assert time.perf_counter() - start < 0.005
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32  # no model to time: the safe choice
