"""Imports go one way: factors -> (metrics) -> renderer -> data -> model -> objectives -> config ->
inference -> export / training -> evaluation -> reproduce -> CLI (docs/ARCHITECTURE.md).

Every module of the package is read with ``ast`` (imports inside functions count too) and may
import only modules of its own layer or of a layer before it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "dcign"

LAYERS: list[tuple[str, ...]] = [
    ("dcign", "dcign.checks", "dcign.atomic", "dcign.images"),  # plain helpers (no torch)
    ("dcign.factors", "dcign.layout"),  # factor space, one-factor batches; latent layout
    ("dcign.metrics",),  # disentanglement_lib metrics over any GroundTruthData (data sets adapt to them)
    ("dcign.render",),  # meshes and the OpenGL renderer
    ("dcign.data",),  # scene engines, data sets, streams of training steps
    ("dcign.model", "dcign.clamp", "dcign.distributed"),  # the network, the clamp; DDP ranks and noise
    ("dcign.objectives",),  # one objective per method
    ("dcign.config",),  # the run's typed config, built from the sections above
    ("dcign.inference",),  # encode / decode, latent choice, degrees <-> latent
    ("dcign.checkpoints", "dcign.run_logs", "dcign.probe", "dcign.export", "dcign.gpu"),  # around training
    ("dcign.training",),  # Lightning module and loop, train + export
    ("dcign.evaluation",),  # Fig. 6, traversals, novel views, metrics report, compare
    ("dcign.reproduce",),  # the paper's experiments
    ("dcign.cli", "dcign.app", "dcign.__main__"),  # front doors
]


def layer_of(module: str) -> int:
    """Index in LAYERS of the longest entry that is ``module`` or a package above it."""
    best, depth = None, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and name.count(".") > depth:
                best, depth = i, name.count(".")
    if best is None:
        raise AssertionError(f"{module} has no layer: add it to LAYERS here and to docs/ARCHITECTURE.md")
    return best


def module_name(path: Path) -> str:
    parts = ("dcign",) + path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(name: str, source: str, is_package: bool = False) -> list[tuple[str, int]]:
    """(dcign module, line) of every import in the source of module ``name``, relative imports resolved."""
    package = name if is_package else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "dcign"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "dcign":
                continue
            # ``from . import x`` / ``from .pkg import mod`` may name submodules
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub if (SRC / Path(*sub.split(".")[1:])).with_suffix(".py").is_file()
                            or (SRC / Path(*sub.split(".")[1:]) / "__init__.py").is_file() else target, node.lineno))
    return out


MODULES = sorted(SRC.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in MODULES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_go_one_way(path):
    here = layer_of(module_name(path))
    upstream = [f"{module_name(path)}:{line} imports {target} ({LAYERS[layer_of(target)][0]}, downstream)"
                for target, line in imported(module_name(path), path.read_text(), path.name == "__init__.py")
                if layer_of(target) > here]
    assert not upstream, "; ".join(upstream)


def test_the_checker_sees_wrong_way_imports():
    """Not vacuous: relative, absolute and function-level imports against the flow are found."""
    source = "import numpy\nfrom .evaluation.report import evaluate\ndef f():\n    import dcign.cli\n    from . import reproduce\n"
    found = [t for t, _ in imported("dcign.inference", source)]
    assert found == ["dcign.evaluation.report", "dcign.cli", "dcign.reproduce"]
    assert all(layer_of(t) > layer_of("dcign.inference") for t in found)
    assert [t for t, _ in imported("dcign.evaluation", "from ..model import DCIGN\n", is_package=True)] == ["dcign.model"]
