"""Our networks against the ncnn runtime running Real-ESRGAN's own published files."""

from __future__ import annotations

import ncnn
import numpy as np
import pytest
import torch
from PIL import Image

import vsr
from vsr.errors import ModelError
from vsr.models.catalogue import import_model


def _ncnn_upscale(param, rgb: np.ndarray) -> np.ndarray:
    net = ncnn.Net()
    # fp32 everywhere: the reference should not add its own half-precision rounding.
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.opt.num_threads = 2
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    # ncnn.Mat wraps the array without owning it: keep `chw` alive until the extraction is done.
    chw = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / np.float32(255)
    ex = net.create_extractor()
    ex.input("data", ncnn.Mat(chw))
    ret, out = ex.extract("output")
    assert ret == 0
    return _to_8bit(np.array(out))


def _to_8bit(chw: np.ndarray) -> np.ndarray:
    return np.round(np.clip(chw, 0, 1) * 255).astype(np.uint8)


def _vsr_upscale(model, rgb: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(rgb.transpose(2, 0, 1).copy()).float().div(255).unsqueeze(0)
    return _to_8bit(model(x)[0].numpy())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_builtin_matches_ncnn_on_photographs(ncnn_models, photos):
    model = vsr.load_model("realesr-animevideov3")
    assert len(photos) == 3
    for photo in photos:
        rgb = np.asarray(Image.open(photo).convert("RGB"))
        ours, ref = _vsr_upscale(model, rgb), _ncnn_upscale(ncnn_models / "realesr-animevideov3-x4.param", rgb)
        assert ours.shape == ref.shape == (3, rgb.shape[0] * 4, rgb.shape[1] * 4)
        psnr = _psnr(ours, ref)
        print(f"{photo.name}: realesr-animevideov3 vsr vs ncnn {psnr:.2f} dB")
        assert psnr >= 50, photo.name


def test_imported_rrdb_matches_ncnn(ncnn_models, photos):
    param = ncnn_models / "realesrgan-x4plus-anime.param"
    entry = import_model(param)
    assert (entry.name, entry.arch, entry.scale) == ("realesrgan-x4plus-anime", "rrdb", 4)
    model = vsr.load_model("realesrgan-x4plus-anime")
    assert model.hyperparameters["num_block"] == 6
    rgb = np.asarray(Image.open(photos[0]).convert("RGB"))[:48, :48]
    psnr = _psnr(_vsr_upscale(model, rgb), _ncnn_upscale(param, rgb))
    print(f"{photos[0].name}: realesrgan-x4plus-anime vsr vs ncnn {psnr:.2f} dB")
    assert psnr >= 45


def test_resizing_variants_are_refused_with_a_hint(ncnn_models):
    with pytest.raises(ModelError, match="import the ×4 file"):
        vsr.load_model(ncnn_models / "realesr-animevideov3-x2.param")


def test_unmappable_graph_lists_layer_types(tmp_path):
    param = tmp_path / "odd.param"
    param.write_text("7767517\n3 3\nInput data 0 1 data\nSoftmax sm 1 1 data a\nPooling pool 1 1 a output\n")
    param.with_suffix(".bin").write_bytes(b"")
    with pytest.raises(ModelError, match=r"layer types: Input×1, Pooling×1, Softmax×1"):
        vsr.load_model(param)


def test_missing_bin_is_named(tmp_path):
    param = tmp_path / "lonely.param"
    param.write_text("7767517\n1 1\nInput data 0 1 data\n")
    with pytest.raises(ModelError, match="lonely.bin are not beside it"):
        vsr.load_model(param)
