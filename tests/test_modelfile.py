from __future__ import annotations

import json
import os

import pytest
import torch

import vsr
from vsr.errors import ModelError
from vsr.models import registry as zoo
from vsr.models.files import write_safetensors


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _tiny(name="compact", i=0):
    spec = zoo.get_spec(name)
    torch.manual_seed(i)
    return spec.build(**spec.examples[i]).eval()


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"params": _tiny().state_dict(), "payload": _RunsCode(marker)}, path)
    with pytest.raises(ModelError, match="refused.*would run code"):
        vsr.load_model(path)
    assert not marker.exists()


def test_plain_pth_checkpoint_loads(tmp_path):
    net = _tiny("msrresnet")
    path = tmp_path / "msr.pth"
    torch.save({"params": net.state_dict(), "iter": 100}, path)
    model = vsr.load_model(path)
    assert (model.name, model.arch, model.scale) == ("msr", "msrresnet", 4)
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x).clamp(0, 1))


def test_safetensors_metadata_keeps_what_shapes_cannot_tell(tmp_path):
    spec = zoo.get_spec("compact")
    hp = spec.examples[2]  # leakyrelu: no weights say so
    torch.manual_seed(0)
    net = spec.build(**hp).eval()
    path = tmp_path / "leaky.safetensors"
    write_safetensors(path, net.state_dict(), {"name": "leaky", "arch": "compact", "hyperparameters": json.dumps(hp)})
    model = vsr.load_model(path)
    assert model.hyperparameters == hp
    x = torch.rand(1, 1, 4, 4)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x).clamp(0, 1))


@pytest.mark.parametrize(("name", "content", "message"), [
    ("garbage.pth", b"not a checkpoint", "not a readable PyTorch checkpoint"),
    ("garbage.safetensors", b"\x00\x01", "not a readable safetensors file"),
    ("model.onnx", b"", "unsupported model file type .onnx"),
])
def test_unreadable_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        vsr.load_model(path)


def test_unknown_name():
    with pytest.raises(ModelError, match="unknown model 'nope'.*realesr-animevideov3"):
        vsr.load_model("nope")


def test_builtin_model_contract():
    model = vsr.load_model("realesr-animevideov3")
    assert (model.name, model.arch, model.scale) == ("realesr-animevideov3", "compact", 4)
    assert model.hyperparameters == {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 16, "scale": 4,
                                     "activation": "prelu"}
    assert model.metadata["licence"] == "BSD-3-Clause"
    y = model(torch.rand(1, 3, 3, 5))
    assert y.shape == (1, 3, 12, 20) and y.dtype == torch.float32


def test_weights_with_nan_are_refused_at_load_and_import(tmp_path, monkeypatch):
    from vsr.models.catalogue import import_model

    monkeypatch.setenv("VSR_HOME", str(tmp_path / "home"))
    sd = _tiny().state_dict()
    sd["body.0.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save({"params": sd}, path)
    with pytest.raises(ModelError, match="NaN or infinite values \\(body.0.weight\\)"):
        vsr.load_model(path)
    with pytest.raises(ModelError, match="NaN"):
        import_model(path, name="nan")
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.safetensors"))


def test_convert_onto_itself_is_refused_and_leaves_the_source(tmp_path, capsys):
    from vsr.cli import main
    from vsr.models.catalogue import write_model
    from vsr.models.descriptor import describe_network

    spec = zoo.get_spec("compact")
    path = tmp_path / "m.safetensors"
    write_model(path, describe_network(_tiny(), spec, spec.examples[0], name="m"), source="test", licence="MIT")
    before = path.read_bytes()
    assert main(["models", "convert", str(path), str(path), "--overwrite", "--fp16"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_a_model_file_that_appears_while_converting_is_not_replaced(tmp_path, capsys, monkeypatch):
    """The existence check ran once, up front; the result was then published with os.replace."""
    from vsr.cli import main
    from vsr.models import catalogue
    from vsr.models.descriptor import describe_network

    spec = zoo.get_spec("compact")
    src, dst = tmp_path / "m.safetensors", tmp_path / "out.safetensors"
    catalogue.write_model(src, describe_network(_tiny(), spec, spec.examples[0], name="m"), source="test", licence="MIT")
    read = catalogue.read_model_file

    def read_while_another_writes(path):
        dst.write_bytes(b"another process's model")
        return read(path)

    monkeypatch.setattr(catalogue, "read_model_file", read_while_another_writes)
    assert main(["models", "convert", str(src), str(dst)]) == 2
    assert "appeared while vsr was working" in capsys.readouterr().err
    assert dst.read_bytes() == b"another process's model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "out.safetensors"]
    assert main(["models", "convert", str(src), str(dst), "--overwrite"]) == 0  # what --overwrite is for
    assert dst.read_bytes() != b"another process's model"


def test_interpolation_blends_two_trainings_of_one_network_and_refuses_others(tmp_path, capsys):
    from vsr.cli import main
    from vsr.models.catalogue import describe, load_model, write_model
    from vsr.models.descriptor import describe_network

    spec = zoo.get_spec("compact")
    pixel, gan = (tmp_path / f"{n}.safetensors" for n in ("pixel", "gan"))
    for path, seed in ((pixel, 0), (gan, 1)):  # two weight sets of one network
        write_model(path, describe_network(_reseeded(spec, seed), spec, spec.examples[0], name=path.stem),
                    source="test", licence="MIT")
    out = tmp_path / "mix.safetensors"
    assert main(["models", "interpolate", str(pixel), str(gan), str(out), "--alpha", "0.8"]) == 0
    assert "0.2 × pixel + 0.8 × gan" in capsys.readouterr().out
    a, b, mix = (load_model(p).model.state_dict() for p in (pixel, gan, out))
    for k, v in mix.items():
        torch.testing.assert_close(v, 0.2 * a[k] + 0.8 * b[k])
    info = describe(out)
    assert info["licence"] == "MIT" and "interpolation" in str(info["source"])
    # The ends are the models themselves.
    assert main(["models", "interpolate", str(pixel), str(gan), str(tmp_path / "zero.safetensors"), "--alpha", "0"]) == 0
    for k, v in load_model(tmp_path / "zero.safetensors").model.state_dict().items():
        torch.testing.assert_close(v, a[k])
    # Another network, an alpha outside [0, 1], an existing output: one line each, nothing written.
    other = tmp_path / "other.safetensors"
    write_model(other, describe_network(_tiny(i=1), spec, spec.examples[1], name="other"), source="test", licence="MIT")
    assert main(["models", "interpolate", str(pixel), str(other), str(tmp_path / "x.safetensors")]) != 0
    assert "are different networks" in capsys.readouterr().err
    assert main(["models", "interpolate", str(pixel), str(gan), str(tmp_path / "x.safetensors"), "--alpha", "1.5"]) != 0
    assert "invalid alpha 1.5" in capsys.readouterr().err
    before, gan_bytes = out.read_bytes(), gan.read_bytes()
    assert main(["models", "interpolate", str(pixel), str(gan), str(out)]) != 0
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["models", "interpolate", str(pixel), str(gan), str(gan), "--overwrite"]) == 2  # either input
    assert "is the input" in capsys.readouterr().err and gan.read_bytes() == gan_bytes
    assert not (tmp_path / "x.safetensors").exists()


def _reseeded(spec, seed):
    torch.manual_seed(seed)
    return spec.build(**spec.examples[0]).eval()
