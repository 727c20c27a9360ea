"""Reading declarative YAML specs into pydantic models, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from agentgym.core.errors import SpecError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise SpecError(f"spec file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc


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
