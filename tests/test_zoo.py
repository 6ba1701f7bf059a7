from __future__ import annotations

import copy
import json

import pytest
import torch

from vsr.errors import ModelError
from vsr.models import registry as zoo
from vsr.models.checkpoint import canonical_state_dict
from vsr.models.descriptor import model_from_weights

WEIGHTLESS = {("activation", "relu"), ("activation", "leakyrelu"), ("base", "bicubic")}
CASES = [pytest.param(spec, hp, id=f"{spec.name}-{i}") for spec in zoo.ARCHITECTURES for i, hp in enumerate(spec.examples)]


def _randomised(spec: zoo.ArchSpec, hp: dict, seed: int = 0) -> torch.nn.Module:
    """A network with every parameter and buffer random, so a mis-mapped key cannot go unseen."""
    torch.manual_seed(seed)
    net = spec.build(**hp)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if "running_var" in name else torch.randn_like(t) * 0.1)
    return net.eval()


def test_every_architecture_has_examples():
    for spec in zoo.ARCHITECTURES:
        assert len(spec.examples) >= 2, spec.name


@pytest.mark.parametrize(("spec", "hp"), CASES)
def test_round_trip(spec, hp):
    net = _randomised(spec, hp)
    sd = net.state_dict()
    found, detected = zoo.detect(sd)
    assert found is spec
    # relu, leakyrelu and SRResNet's bicubic base leave no weights: only the file's metadata can name them.
    weightless = {k: v for k, v in hp.items() if (k, v) in WEIGHTLESS}
    if weightless:
        assert {k: v for k, v in detected.items() if k not in weightless} == {k: v for k, v in hp.items() if k not in weightless}
        found, detected = zoo.detect(sd, weightless)
    assert detected == hp
    rebuilt = zoo.build(found, detected, sd)
    x = torch.rand(2, hp["num_in_ch"], 12, 8)
    with torch.no_grad():
        expected, got = net(x), rebuilt(x)
    assert got.shape == (2, hp["num_out_ch"], 12 * hp["scale"], 8 * hp["scale"])
    assert torch.equal(expected, got)


@pytest.mark.parametrize(("spec", "hp"), CASES)
def test_descriptor_any_size(spec, hp):
    hints = {"hyperparameters": json.dumps({k: v for k, v in hp.items() if (k, v) in WEIGHTLESS})}
    model = model_from_weights(_randomised(spec, hp).state_dict(), hints, name="t")
    x = torch.rand(1, hp["num_in_ch"], 7, 5)
    y = model(x)
    assert y.shape == (1, hp["num_out_ch"], 7 * hp["scale"], 5 * hp["scale"])
    assert y.min() >= 0 and y.max() <= 1


def _old_esrgan_layout(sd: dict) -> dict:
    num_block = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    top = {"conv_first": "model.0", "conv_body": f"model.1.sub.{num_block}", "conv_up1": "model.3",
           "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    out = {}
    for key, value in sd.items():
        parts = key.split(".")
        if parts[0] == "body":  # body.N.rdbK.convJ.weight
            out[f"model.1.sub.{parts[1]}.RDB{parts[2][3]}.{parts[3]}.0.{parts[4]}"] = value
        else:
            out[f"{top[parts[0]]}.{parts[1]}"] = value
    return out


def test_old_esrgan_layout_loads_to_the_same_model():
    spec = zoo.get_spec("rrdb")
    hp = spec.examples[0]
    net = _randomised(spec, hp)
    old = _old_esrgan_layout(net.state_dict())
    assert "model.1.sub.0.RDB1.conv1.0.weight" in old
    model = model_from_weights(old, {}, name="old")
    assert model.hyperparameters == hp
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(model.model(x), net(x))


def test_wrappers_and_prefixes_are_unwrapped():
    spec = zoo.get_spec("compact")
    good = _randomised(spec, spec.examples[0], seed=1).state_dict()
    other = _randomised(spec, spec.examples[0], seed=2).state_dict()
    wrapped = {"params": other, "params_ema": {f"module.{k}": v for k, v in good.items()}, "iter": 5}
    sd = canonical_state_dict(wrapped)
    assert sd.keys() == good.keys()
    assert all(torch.equal(sd[k], good[k]) for k in good)
    assert canonical_state_dict({"state_dict": {"_orig_mod." + k: v for k, v in good.items()}}).keys() == good.keys()


def test_unknown_layout_names_the_keys():
    with pytest.raises(ModelError, match=r"unknown model layout.*encoder\.weight"):
        zoo.detect({"encoder.weight": torch.zeros(3, 3, 3, 3), "decoder.bias": torch.zeros(3)})


def test_wrong_shapes_are_reported():
    spec = zoo.get_spec("msrresnet")
    sd = copy.deepcopy(_randomised(spec, spec.examples[0]).state_dict())
    sd["conv_hr.weight"] = torch.zeros(8, 8, 1, 1)
    with pytest.raises(ModelError, match="wrong shape: conv_hr.weight"):
        model_from_weights(sd, {}, name="bad")


def test_metadata_arch_must_agree():
    spec = zoo.get_spec("compact")
    sd = _randomised(spec, spec.examples[0]).state_dict()
    with pytest.raises(ModelError, match="metadata says arch 'rrdb'"):
        model_from_weights(sd, {"arch": "rrdb"}, name="x")


def test_discriminator_any_patch_size():
    from vsr.models.archs.discriminator import SRGANDiscriminator

    for norm in ("batch", "spectral", "none"):
        d = SRGANDiscriminator(num_feat=8, num_stages=3, norm=norm, dense_feat=16)
        for size in (32, 48, 96):
            logits, feats = d.features(torch.rand(2, 3, size, size))
            assert logits.shape == (2, 1)
            assert [f.shape[1] for f in feats] == [8, 16, 32]
