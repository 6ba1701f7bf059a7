"""`vsr models export`: every architecture to ONNX with dynamic batch, height and width, checked by
onnxruntime against PyTorch; fp16; a static size; the metadata; nothing on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import onnxruntime
import pytest
import torch

from vsr.models import registry
from vsr.models.descriptor import describe_network
from vsr.models.onnx_export import export_onnx, verify_onnx

# One example of each architecture whose output is image-like from the start (a nearest,
# bilinear or bicubic base under the learned residual), so the comparison is of real values.
EXAMPLES = [("compact", 0), ("rrdb", 1), ("srresnet", 3), ("msrresnet", 0)]


def _model(arch: str, example: int):
    spec = registry.get_spec(arch)
    hp = spec.examples[example]
    torch.manual_seed(0)
    net = registry.build(spec, hp).eval()
    return describe_network(net, spec, hp, name=f"test-{arch}")


@pytest.mark.parametrize(("arch", "example"), EXAMPLES)
def test_every_architecture_exports_with_dynamic_axes(tmp_path, arch, example):
    model = _model(arch, example)
    path = tmp_path / "m.onnx"
    result = export_onnx(model, path)
    assert result.dynamic and result.psnr_db is not None and result.psnr_db >= 50
    assert len({s[0] for s in result.input_shapes}) == 2 and len({s[2:] for s in result.input_shapes}) == 2
    # Two more sizes, not the ones the export checked, through the same file.
    m = model.pad_multiple
    assert verify_onnx(path, model, [(1, 3, 7 * m, 13 * m), (3, 3, 11 * m, 5 * m)], seed=1) >= 50
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert (meta["name"], meta["arch"], meta["scale"], meta["pad_multiple"]) == (
        f"test-{arch}", arch, str(model.scale), str(m))
    assert json.loads(meta["hyperparameters"]) == dict(model.hyperparameters)
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]


def test_a_static_export_holds_one_size(tmp_path):
    model = _model("compact", 0)
    path = tmp_path / "s.onnx"
    result = export_onnx(model, path, static=(20, 36))
    assert not result.dynamic and result.input_shapes == ((1, 3, 20, 36),) and result.psnr_db >= 50
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert list(session.get_inputs()[0].shape) == [1, 3, 20, 36]


def test_the_export_command_fp16_quiet_and_checked(tmp_path):
    """The built-in model in fp16 through the CLI: ≥ 40 dB against PyTorch fp32, the metadata
    says so, and nothing reaches stderr (the exporter prints progress and warnings of its own)."""
    out = tmp_path / "anime.onnx"
    run = subprocess.run([sys.executable, "-m", "vsr", "models", "export", "realesr-animevideov3", str(out), "--fp16",
                          "--json"], capture_output=True, text=True, check=False, timeout=240)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    result = json.loads(run.stdout)
    assert result["fp16"] and result["dynamic"] and result["psnr_db"] >= 40 and result["arch"] == "compact"
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["dtype"] == "float16" and meta["licence"] == "BSD-3-Clause"


def test_export_refuses_what_it_cannot_do(tmp_path, capsys):
    from vsr.cli import main

    existing = tmp_path / "taken.onnx"
    existing.write_bytes(b"mine")
    cases = [
        (["realesr-animevideov3", str(tmp_path / "m.safetensors")], "the output must be a .onnx file"),
        (["realesr-animevideov3", str(existing)], "exists"),
        (["realesr-animevideov3", str(tmp_path / "a.onnx"), "--static", "wide"], "invalid --static 'wide'"),
        (["realesr-animevideov3", str(tmp_path / "b.onnx"), "--opset", "11"], "opset 18 or later"),
        (["no-such-model", str(tmp_path / "c.onnx")], "no-such-model"),
    ]
    for args, said in cases:
        assert main(["models", "export", *args]) == 2, args
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err
    assert existing.read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.onnx"]
