"""Use a model file of your own: a Real-ESRGAN / ESRGAN / SRGAN checkpoint (.pth, .safetensors),
recognised from its weights' shapes and loaded without running any code from the file.

    python examples/custom_model.py RealESRGAN_x4plus.pth in.png out.png

The model is also a plain callable on NCHW float tensors in [0, 1], for your own code.
"""

from __future__ import annotations

import sys

import torch

import vsr


def main(model_file: str, source: str, destination: str) -> int:
    model = vsr.load_model(model_file)  # refused in one line if the file is not a model vsr knows
    print(f"{model.name}: {model.arch}, ×{model.scale}")

    # As a callable: any NCHW float tensor in [0, 1] comes back ×scale, clamped to [0, 1].
    with torch.inference_mode():
        out = model(torch.rand(1, 3, 16, 16))
    print(f"a 16×16 tensor came back {out.shape[-1]}×{out.shape[-2]}")

    # In the pipeline: the same file given as the model option.
    options = vsr.UpscaleOptions(runtime=vsr.RuntimeOptions(model=model_file))
    summary = vsr.upscale(source, destination, options, overwrite=True, progress=False)
    print(f"{summary.output}: {summary.output_size[0]}x{summary.output_size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
