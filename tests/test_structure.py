"""The core's structure: no Dagster in it, subpackages import each other one way only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from guap_pipeline import LAYERS

CORE = Path(__file__).resolve().parents[1] / "guap_pipeline"


def dotted(path: Path) -> str:
    """A core file's module name (a package's for its ``__init__.py``)."""
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> list[str]:
    """Dotted names of every module of the core, packages included."""
    return [dotted(path) for path in sorted(CORE.rglob("*.py"))]


def layer(module: str) -> int | None:
    """Index in LAYERS of the part of the core a module belongs to (None: the root)."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    raise AssertionError(f"{module} is in no layer of guap_pipeline.LAYERS: add it there")


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the core in a file, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, name) for line, name in found if name.startswith("guap_pipeline.")]


def test_importing_the_whole_core_loads_no_dagster() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=CORE.parent
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"dagster modules loaded: {result.stdout}"


def test_every_module_is_in_a_layer() -> None:
    for module in modules():
        layer(module)


def test_subpackages_import_only_the_layers_below_them() -> None:
    wrong = []
    for path in sorted(CORE.rglob("*.py")):
        own = layer(dotted(path))
        if own is None:  # the root package re-exports: it may import anything
            continue
        for line, name in imported(path):
            other = layer(name)
            if other is not None and other > own:
                mine, theirs = dotted(path).split(".")[1], name.split(".")[1]
                wrong.append(
                    f"{path.relative_to(CORE.parent)}:{line} imports {name}: "
                    f"{mine} (layer {own}) may not import {theirs} (layer {other})"
                )
    assert not wrong, "imports against guap_pipeline.LAYERS:\n" + "\n".join(wrong)
