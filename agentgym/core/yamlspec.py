"""Reading declarative YAML specs into pydantic models, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from agentgym.core.errors import SpecError

M = TypeVar("M", bound=BaseModel)


MAX_SPEC_BYTES = 8 * 1024 * 1024
"""Largest YAML spec file read (bytes)."""
MAX_EXPANDED_NODES = 200_000
"""Most nodes a spec may hold once every alias is expanded: a dozen lines of nested aliases (a
"billion laughs" bomb) would otherwise expand to gigabytes when the spec is validated, copied or hashed."""


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses documents whose alias-expanded size exceeds a budget."""

    max_nodes = MAX_EXPANDED_NODES

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_expanded_size(node, self.max_nodes)
        return node


def _check_expanded_size(root: yaml.Node, limit: int) -> None:
    """Raise ``yaml.YAMLError`` when ``root`` expands (aliases followed) to more than ``limit`` nodes."""
    sizes: dict[int, int] = {}  # id(node) -> expanded size; aliases share node objects, so each is sized once
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order walk: deep nesting cannot hit the recursion limit
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            sizes[key] = 1
            continue
        if children_done:
            open_nodes.discard(key)
            size = 1 + sum(sizes[id(child)] for child in children)
            if size > limit:
                raise yaml.YAMLError(f"the document expands to more than {limit:,} nodes (YAML aliases "
                                     "repeating aliases?); specs this large are refused")
            sizes[key] = size
            continue
        if key in open_nodes:
            raise yaml.YAMLError("a YAML alias refers to a node that contains it (a recursive structure)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def load_yaml(text: str, source: str = "<string>", *, max_nodes: int = MAX_EXPANDED_NODES) -> Any:
    """Parse YAML ``text`` safely with bounded alias expansion; :class:`SpecError` names ``source``."""
    loader = _BoundedLoader(text)
    loader.max_nodes = max_nodes
    try:
        return loader.get_single_data()
    except RecursionError as exc:
        raise SpecError(f"{source}: not valid YAML: nested too deeply") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError as exc:
        raise SpecError(f"spec file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise SpecError(f"{path}: is a folder, not a spec file") from exc
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB; specs this large are refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not valid YAML: not UTF-8 text ({exc})") from exc
    return load_yaml(text, str(path))


def validate(model: type[M], data: Any, source: str) -> M:
    """Validate ``data`` as ``model``, turning pydantic's report into a :class:`SpecError`."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise SpecError(f"{source}: invalid {model.__name__}: {problems}") from exc


def yaml_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(f"spec folder not found: {folder}")
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
