"""The layout holds: layers import downwards only, no import cycles (at module level or inside
functions), few modules at the top, and no module reaching into another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vsr"

# Each subpackage and what it may import from vsr besides itself. The base modules (errors,
# atomic) are below everything; the root package only re-exports, lazily.
BASE = {"vsr.errors", "vsr.atomic", "vsr.version", "vsr.lazy"}
MAY_IMPORT = {
    "vsr.models": set(),
    "vsr.media": set(),
    "vsr.runtime": {"vsr.models", "vsr.media"},
    "vsr.pipeline": {"vsr.runtime", "vsr.models", "vsr.media"},
    "vsr.quality": {"vsr.runtime", "vsr.models", "vsr.media"},
    "vsr.train": {"vsr.quality", "vsr.runtime", "vsr.models", "vsr.media"},
    "vsr.bench": {"vsr", "vsr.pipeline", "vsr.runtime", "vsr.models", "vsr.media"},
    "vsr.cli": {"vsr", "vsr.bench", "vsr.train", "vsr.quality", "vsr.pipeline", "vsr.runtime", "vsr.models",
                "vsr.media", "vsr.serve"},
    # The web app: HTTP only, over the pipeline's public names (jobs through vsr.Job).
    "vsr.serve": {"vsr", "vsr.pipeline", "vsr.runtime", "vsr.models", "vsr.media"},
}


# Inside the pipeline, its parts depend one way: the shared records (options, plan, summary,
# progress) below everything, then stream < segments < workers, and the job and `upscale` on top.
PIPELINE_PARTS = ["records", "vsr.pipeline.stream", "vsr.pipeline.segments", "vsr.pipeline.workers", "top"]
PIPELINE_TOP = {"vsr.pipeline.job", "vsr.pipeline.upscale", "vsr.pipeline.preview"}

# Layers whose `__init__` lists the names other layers may use (its __all__): no other layer
# imports from their modules directly.
PUBLIC_API_LAYERS = ["vsr.pipeline"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every vsr module imported anywhere in the file (functions included), `TYPE_CHECKING`
    blocks aside; `from a import b` counts as importing a.b when a.b is a module."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "vsr")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            if base.split(".")[0] == "vsr":
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if candidate in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


FILES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
MODULES = set(FILES)
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in FILES.items()}
GRAPH = {name: _imports(tree, name, FILES[name].name == "__init__.py") - {name} for name, tree in TREES.items()}


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_few_modules_at_the_top_and_several_subpackages():
    top = [p.name for p in PACKAGE.glob("*.py")]
    subpackages = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    assert len(top) <= 8, top
    assert len(subpackages) >= 4, subpackages
    assert set(MAY_IMPORT) == {f"vsr.{name}" for name in subpackages}, "every subpackage has a place in the layers"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_import_downwards_only(module):
    own = _subpackage(module)
    if own not in MAY_IMPORT:  # the root package, its base modules and __main__
        allowed = {"vsr", *BASE} if module in BASE else None
        if allowed is not None:
            bad = {m for m in GRAPH[module] if _subpackage(m) not in allowed}
            assert not bad, f"{module} is a base module and imports {sorted(bad)}"
        return
    allowed = {own, *BASE, *MAY_IMPORT[own]}
    bad = sorted(m for m in GRAPH[module] if _subpackage(m) not in allowed)
    assert not bad, f"{module} ({own}) imports {bad}; it may import only from {sorted(allowed)}"


def _pipeline_part(module: str) -> str | None:
    if module == "vsr.pipeline" or not module.startswith("vsr.pipeline."):
        return None
    if module in PIPELINE_TOP:
        return "top"
    part = ".".join(module.split(".")[:3])
    return part if part in PIPELINE_PARTS else "records"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _pipeline_part(m)))
def test_the_pipelines_parts_import_downwards_only(module):
    own = PIPELINE_PARTS.index(_pipeline_part(module))
    above = sorted(m for m in GRAPH[module] if (part := _pipeline_part(m)) and PIPELINE_PARTS.index(part) > own)
    assert not above, f"{module} ({PIPELINE_PARTS[own]}) imports {above}, which sit above it ({' < '.join(PIPELINE_PARTS)})"


def _type_checking_names(tree: ast.Module) -> dict[str, str]:
    names = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                if isinstance(child, ast.ImportFrom):
                    names.update({a.asname or a.name: child.module or "" for a in child.names})
    return names


@pytest.mark.parametrize("layer", ["vsr", *PUBLIC_API_LAYERS])
def test_a_layers_public_names_are_listed_once_and_load(layer):
    """__all__, the names type checkers see and the names loaded on first use are the same, and
    each one loads from where it is said to come from."""
    import importlib

    package = importlib.import_module(layer)
    typed = _type_checking_names(TREES[layer])
    lazy = set(vars(package).get("_ORIGINS", {}))
    eager = {n for n in package.__all__ if n in vars(package) and n not in lazy}
    assert set(package.__all__) == set(typed) | eager, "every public name is typed or defined here"
    assert lazy == set(typed), "every typed name loads on first use, and only those"
    for name in package.__all__:
        assert getattr(package, name) is not None


@pytest.mark.parametrize("layer", PUBLIC_API_LAYERS)
def test_other_layers_use_only_a_layers_public_names(layer):
    import importlib

    public = set(importlib.import_module(layer).__all__)
    offences = []
    for module, tree in TREES.items():
        if _subpackage(module) == layer or module == "vsr":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                if node.module.startswith(layer + "."):
                    offences.append(f"{module}: from {node.module} import ...")
                elif node.module == layer:
                    offences += [f"{module}: {a.name} is not in {layer}.__all__" for a in node.names
                                 if a.name not in public]
            elif isinstance(node, ast.Import):
                offences += [f"{module}: import {a.name}" for a in node.names if a.name.startswith(layer + ".")]
    assert not offences, "\n".join(offences)


def test_no_import_cycles():
    """Depth-first search over every import, module level or inside a function."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH.get(module, ())):
            if target not in MODULES:
                continue
            if state.get(target) == 1:
                cycle = [*path[path.index(target):], target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("folder", ["vsr", "benchmarks"])
def test_no_private_names_of_other_objects(folder):
    """`obj._name` only on self or cls; no `from vsr.x import _name`."""
    offences = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            private = isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
            on_self = private and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            # os._exit is public despite its name: the only right way out of a forked child
            if private and not on_self and ast.unparse(node) != "os._exit":
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vsr"):
                offences += [f"{path.relative_to(ROOT)}:{node.lineno}: imports {a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
    assert not offences, "\n".join(offences)


def test_importing_a_package_loads_nothing_heavy():
    """`vsr --help` reads choices and defaults from the package __init__ files: they must not
    import torch, av, numpy or Pillow (checked in a fresh interpreter)."""
    import subprocess
    import sys

    packages = sorted(m for m, p in FILES.items() if p.name == "__init__.py" and m != "vsr.cli")
    script = ("import sys; " + "; ".join(f"import {m}" for m in packages)
              + "; print(sorted(m for m in ('torch', 'av', 'numpy', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
