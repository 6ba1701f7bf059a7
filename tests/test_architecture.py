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
BASE = {"vsr.errors", "vsr.atomic", "vsr.version"}
MAY_IMPORT = {
    "vsr.models": set(),
    "vsr.media": set(),
    "vsr.runtime": {"vsr.models", "vsr.media"},
    "vsr.pipeline": {"vsr.runtime", "vsr.models", "vsr.media"},
    "vsr.quality": {"vsr.runtime", "vsr.models", "vsr.media"},
    "vsr.train": {"vsr.quality", "vsr.runtime", "vsr.models", "vsr.media"},
    "vsr.bench": {"vsr", "vsr.pipeline", "vsr.runtime", "vsr.models", "vsr.media"},
    "vsr.cli": {"vsr", "vsr.bench", "vsr.train", "vsr.quality", "vsr.pipeline", "vsr.runtime", "vsr.models",
                "vsr.media"},
}


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
