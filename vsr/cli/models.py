"""`vsr models`: list, inspect, import, convert, export and interpolate models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vsr.cli.common import Fp16Option, JsonOption, OverwriteOption, report


def models_list(as_json: JsonOption = False) -> None:
    """List the built-in and imported models."""
    from vsr.models.catalogue import list_models

    entries = list_models()
    report([e.as_dict() for e in entries], as_json=as_json,
           lines=lambda: (f"{e.name:<28} {e.arch:<10} x{e.scale:<3} {'built-in' if e.builtin else 'imported':<9} {e.path}"
                          for e in entries))


def models_info(model: Annotated[str, typer.Argument(help="A model name or file.")], as_json: JsonOption = False) -> None:
    """Show a model's architecture, hyperparameters, size, source and licence."""
    from vsr.models.catalogue import describe

    info = describe(model)
    report(info, as_json=as_json, lines=lambda: (f"{key + ':':<18}{json.dumps(value) if isinstance(value, dict) else value}"
                                                 for key, value in info.items()))


def models_import(
    path: Annotated[Path, typer.Argument(help="A .param (with its .bin beside it), .pth, .pt, .ckpt or .safetensors file.")],
    name: Annotated[str | None, typer.Option(help="The name to use it by (default: the file's stem).")] = None,
    overwrite: OverwriteOption = False,
    fp16: Fp16Option = False,
) -> None:
    """Validate a model file and add it to the catalogue as safetensors."""
    from vsr.models.catalogue import import_model

    entry = import_model(path, name=name, overwrite=overwrite, half=fp16)
    typer.echo(f"imported {entry.name} ({entry.arch} x{entry.scale}) to {entry.path}")


def models_convert(
    src: Annotated[Path, typer.Argument(help="Any supported model file.")],
    dst: Annotated[Path, typer.Argument(help="The .safetensors file to write.")],
    name: Annotated[str | None, typer.Option(help="The model's name in the metadata.")] = None,
    source: Annotated[str | None, typer.Option(help="Where the weights came from.")] = None,
    licence: Annotated[str | None, typer.Option(help="The weights' licence.")] = None,
    overwrite: OverwriteOption = False,
    fp16: Fp16Option = False,
) -> None:
    """Convert a model file to safetensors with full metadata (how weights/ is made)."""
    from vsr.atomic import check_output
    from vsr.errors import OutputError
    from vsr.models.catalogue import convert_model

    if dst.suffix != ".safetensors":
        raise OutputError(f"{dst}: the output must be a .safetensors file")
    check_output(dst, overwrite=overwrite, input_path=src)
    model = convert_model(src, dst, name=name, source=source, licence=licence, half=fp16, replace=overwrite)
    typer.echo(f"wrote {dst} ({model.arch} x{model.scale}, {model.num_parameters} parameters)")


def models_export(
    model: Annotated[str, typer.Argument(help="A model name or file.")],
    out: Annotated[Path, typer.Argument(help="The .onnx file to write.")],
    fp16: Annotated[bool, typer.Option("--fp16", help="Half-precision weights, input and output.")] = False,
    opset: Annotated[int, typer.Option(help="The ONNX opset (18 or later).")] = 18,
    static: Annotated[str | None, typer.Option(
        help="HxW: a fixed input size (TensorRT builds faster for one); default: dynamic batch, height and width.")] = None,
    verify: Annotated[bool, typer.Option(help="Check the file with onnxruntime against PyTorch.")] = True,
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Export a model to ONNX (input NCHW float in [0, 1], output ×scale), checked against PyTorch."""
    from vsr.atomic import check_output
    from vsr.errors import InputError, OutputError
    from vsr.models.catalogue import load_model, resolve
    from vsr.models.onnx_export import export_onnx

    if out.suffix.lower() != ".onnx":
        raise OutputError(f"{out}: the output must be a .onnx file")
    size = None
    if static is not None:
        h, sep, w = static.lower().partition("x")
        if not (sep and h.isdigit() and w.isdigit() and int(h) > 0 and int(w) > 0):
            raise InputError(f"invalid --static {static!r}: use HxW, e.g. 540x960")
        size = (int(h), int(w))
    check_output(out, overwrite=overwrite, input_path=resolve(model))
    result = export_onnx(load_model(model, device="cpu"), out, fp16=fp16, opset=opset, static=size,
                         replace=overwrite, verify=verify)
    checked = (f"onnxruntime vs PyTorch: {result.psnr_db} dB PSNR on {len(result.input_shapes)} input(s)"
               if result.psnr_db is not None else "not checked")
    report(result.as_dict(), as_json=as_json,
           lines=lambda: [f"wrote {out} ({result.arch} x{result.scale}, opset {result.opset}, "
                          f"{'fp16' if fp16 else 'fp32'}, {'dynamic' if result.dynamic else 'static'} shape; {checked})"])


def models_interpolate(
    first: Annotated[str, typer.Argument(help="The PSNR-oriented model (name or file): alpha 0.")],
    second: Annotated[str, typer.Argument(help="The GAN-trained model grown from it (name or file): alpha 1.")],
    out: Annotated[Path, typer.Argument(help="The .safetensors file to write.")],
    alpha: Annotated[float, typer.Option(help="How far towards SECOND: 0 is FIRST, 1 is SECOND.")] = 0.8,
    name: Annotated[str | None, typer.Option(help="The model's name in the metadata (default: OUT's stem).")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Blend two trainings of one network, weight by weight (ESRGAN's network interpolation):
    choose between a pixel phase's fidelity and a GAN phase's sharpness after training."""
    from vsr.atomic import check_output
    from vsr.errors import OutputError
    from vsr.models.catalogue import resolve
    from vsr.models.interpolation import interpolate_files

    if out.suffix != ".safetensors":
        raise OutputError(f"{out}: the output must be a .safetensors file")
    for model in (first, second):
        check_output(out, overwrite=overwrite, input_path=resolve(model))
    blended = interpolate_files(first, second, out, alpha, name=name, replace=overwrite)
    typer.echo(f"wrote {out} ({blended.arch} x{blended.scale}; {blended.metadata['source']})")
