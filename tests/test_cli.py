from __future__ import annotations

import json
import subprocess
import sys

import torch

from vsr.cli import main
from vsr.models import registry as zoo


def _run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _save_tiny_pth(path):
    spec = zoo.get_spec("rrdb")
    torch.manual_seed(0)
    torch.save({"params_ema": spec.build(**spec.examples[1]).state_dict()}, path)


def test_list_json_has_the_builtin(capsys):
    code, out, _ = _run(capsys, "models", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    builtin = next(r for r in rows if r["name"] == "realesr-animevideov3")
    assert builtin["arch"] == "compact" and builtin["scale"] == 4 and builtin["builtin"] is True
    assert builtin["path"].endswith("realesr-animevideov3.safetensors")


def test_import_then_use_by_name(capsys, tmp_path, vsr_home):
    src = tmp_path / "tiny-x2.pth"
    _save_tiny_pth(src)
    code, out, err = _run(capsys, "models", "import", str(src), "--name", "tiny")
    assert code == 0, err
    assert (vsr_home / "models" / "tiny.safetensors").is_file()
    code, out, _ = _run(capsys, "models", "list", "--json")
    tiny = next(r for r in json.loads(out) if r["name"] == "tiny")
    assert (tiny["arch"], tiny["scale"], tiny["builtin"]) == ("rrdb", 2, False)
    code, out, _ = _run(capsys, "models", "info", "tiny", "--json")
    info = json.loads(out)
    assert info["hyperparameters"]["num_block"] == 1 and info["parameters"] > 0 and info["dtype"] == "float32"
    # a second import under the same name needs --overwrite
    code, _, err = _run(capsys, "models", "import", str(src), "--name", "tiny")
    assert code == 2 and err.startswith("vsr: error: ") and "--overwrite" in err and err.count("\n") == 1
    assert _run(capsys, "models", "import", str(src), "--name", "tiny", "--overwrite")[0] == 0


def test_import_keeps_the_file_stem(capsys, tmp_path, vsr_home):
    src = tmp_path / "my-model.pth"
    _save_tiny_pth(src)
    assert _run(capsys, "models", "import", str(src))[0] == 0
    assert (vsr_home / "models" / "my-model.safetensors").is_file()


def test_errors_are_one_line_with_exit_2(capsys, tmp_path):
    for args in (["models", "info", str(tmp_path / "missing.pth")],
                 ["models", "info", "no-such-model"],
                 ["models", "import", str(tmp_path / "missing.pth")],
                 ["models", "import", "--name", "realesr-animevideov3", __file__],
                 ["models", "frobnicate"]):
        code, out, err = _run(capsys, *args)
        assert code == 2, args
        assert err.startswith("vsr: error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err


def test_convert_refuses_to_clobber(capsys, tmp_path):
    src, dst = tmp_path / "a.pth", tmp_path / "b.safetensors"
    _save_tiny_pth(src)
    assert _run(capsys, "models", "convert", str(src), str(dst), "--fp16")[0] == 0
    before = dst.read_bytes()
    code, _, err = _run(capsys, "models", "convert", str(src), str(dst))
    assert code == 2 and "exists" in err and dst.read_bytes() == before
    code, out, _ = _run(capsys, "models", "info", str(dst), "--json")
    assert json.loads(out)["dtype"] == "float16"


def test_bare_vsr_shows_help(capsys):
    code, out, err = _run(capsys)
    assert code == 0 and "upscale" in out and "models" in out and not err


def test_console_entry_point():
    result = subprocess.run([sys.executable, "-m", "vsr", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("vsr ")
