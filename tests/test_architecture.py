"""The package's layers: no module imports a layer above its own, and no hidden upward imports.

The layers, lowest first (docs/architecture.md explains what each owns). A module belongs to the
layer of its longest matching prefix; it may import its own layer and the layers below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "agentgym"

LAYERS = [
    "agentgym.core",
    "agentgym.records",
    "agentgym.envs",
    "agentgym.agents.base",  # the agent protocol: what the rollout loop and the reward models drive
    "agentgym.rollout",
    "agentgym.rewards",
    "agentgym.make",
    "agentgym.train",
    "agentgym.agents",
    "agentgym.testing",
    "agentgym.metrics",
    "agentgym.bench",
    "agentgym.leaderboard",
    "agentgym.cli",
    "agentgym",  # the package root: the curated public names
]

LAZY_MARK = "# lazy import:"
"""A function-body import of an agentgym module needs this comment, with the reason, on its line or the line above
(e.g. the CLI imports a subcommand's modules when it runs, so ``agentgym --help`` does not load torch)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    matches = [i for i, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer"
    return max(matches, key=lambda i: len(LAYERS[i]))


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every agentgym import of ``tree``."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                if child.module == "agentgym":
                    found.extend((f"agentgym.{a.name}" if f"agentgym.{a.name}" in MODULES else "agentgym",
                                  child.lineno, in_function) for a in child.names)
                elif child.module.startswith("agentgym."):
                    found.append((child.module, child.lineno, in_function))
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names if a.name.startswith("agentgym"))
            visit(child, inner)

    visit(tree, False)
    return found


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_name(path) for path in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_upward_import(path: Path):
    module = _module_name(path)
    if module == "agentgym":
        return  # the root re-exports the public names of every layer
    own = _layer(module)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for imported, line, in_function in _imports(ast.parse(text)):
        assert _layer(imported) <= own, (
            f"{module}:{line} imports {imported}, a layer above its own "
            f"({LAYERS[_layer(imported)]} > {LAYERS[own]})")
        if in_function:
            assert any(LAZY_MARK in lines[i] for i in (line - 2, line - 1) if i >= 0), (
                f"{module}:{line} imports {imported} inside a function; import it at the top, "
                f"or say why it is lazy with a '{LAZY_MARK} <reason>' comment")


def test_the_checker_sees_an_upward_import(tmp_path):
    tree = ast.parse("from agentgym.bench.run import run_suite\n\ndef f():\n    import agentgym.cli.main\n")
    found = _imports(tree)
    assert [(m, inside) for m, _, inside in found] == [("agentgym.bench.run", False), ("agentgym.cli.main", True)]
    assert _layer("agentgym.bench.run") > _layer("agentgym.envs.base")
    assert _layer("agentgym.agents.base") < _layer("agentgym.rewards.learned") < _layer("agentgym.agents.sb3")
