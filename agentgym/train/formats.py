"""Training data on disk: JSONL in TRL's standard formats, with a provenance sidecar.

One example per line, in the formats TRL and most trainers read:

- ``sft``: ``{"prompt": ..., "completion": ...}``
- ``prefs`` (pairwise): ``{"prompt": ..., "chosen": ..., "rejected": ...}``
- ``kto`` (unpaired, labelled): ``{"prompt": ..., "completion": ..., "label": true|false}``

Each text field is either a string (TRL's *standard* format) or a list of chat messages
``{"role": ..., "content": ...}`` (its *conversational* format); within a line, prompt and
completions are of the same kind. Extra keys are kept. Beside ``data.jsonl`` the sidecar
``data.jsonl.meta.json`` holds where the data came from (env id and version, split, seeds, label
source, agentgym version) and the SHA-256 of the JSONL, so a result can name its data exactly.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "prefs.jsonl"
    >>> write_dataset(path, Dataset("prefs", [{"prompt": "2+2?", "chosen": "4", "rejected": "5"}], {}))
    >>> read_dataset(path).records[0]["chosen"]
    '4'
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, NamedTuple

from agentgym.core.errors import AgentGymError
from agentgym.core.files import atomic_write_text, sha256_file, write_json_atomic
from agentgym.core.version import __version__

FORMATS: dict[str, tuple[str, ...]] = {
    "sft": ("prompt", "completion"),
    "prefs": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
}
"""The required keys of each format."""
ROLES = ("system", "user", "assistant", "tool")
SIDECAR_SUFFIX = ".meta.json"


class DatasetError(AgentGymError, ValueError):
    """A training-data file that does not hold one of the formats (the message names the line)."""


class Dataset(NamedTuple):
    """Examples of one format (``sft``, ``prefs`` or ``kto``) and their provenance."""

    kind: str
    records: list[dict[str, Any]]
    provenance: dict[str, Any]


def sidecar_path(path: str | Path) -> Path:
    """``<file>.meta.json`` beside ``path``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def infer_kind(record: dict[str, Any]) -> str | None:
    """The format a record's keys say, or None."""
    if "chosen" in record or "rejected" in record:
        return "prefs"
    if "label" in record:
        return "kto"
    if "completion" in record:
        return "sft"
    return None


def _text_kind(value: Any, key: str) -> str:
    """``standard`` or ``conversational``; raises ValueError saying what is wrong."""
    if isinstance(value, str):
        return "standard"
    if isinstance(value, list) and value:
        for position, message in enumerate(value):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str) \
                    or message.get("role") not in ROLES:
                raise ValueError(f"{key!r} message {position} must be {{'role': one of {list(ROLES)}, "
                                 f"'content': text}}, not {str(message)[:80]!r}")
        return "conversational"
    raise ValueError(f"{key!r} must be a string or a non-empty list of chat messages, not {str(value)[:80]!r}")


def validate_record(record: Any, kind: str) -> None:
    """Raise ValueError (with a short reason) unless ``record`` is an example of format ``kind``."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, not {type(record).__name__}")
    missing = [key for key in FORMATS[kind] if key not in record]
    if missing:
        raise ValueError(f"missing {', '.join(map(repr, missing))} (the {kind} format needs "
                         f"{', '.join(FORMATS[kind])})")
    texts = [key for key in FORMATS[kind] if key != "label"]
    kinds = {key: _text_kind(record[key], key) for key in texts}
    if len(set(kinds.values())) > 1:
        raise ValueError(f"mixes plain strings and chat messages: {kinds}")
    if kinds["prompt"] == "conversational":
        for key in texts[1:]:
            if any(message["role"] != "assistant" for message in record[key]):
                raise ValueError(f"{key!r} messages must all be the assistant's")
    if kind == "kto" and not isinstance(record["label"], bool):
        raise ValueError(f"'label' must be true or false, not {record['label']!r}")


def write_dataset(path: str | Path, dataset: Dataset) -> Path:
    """Write ``dataset`` as JSONL at ``path`` (atomically) and its provenance sidecar; returns ``path``."""
    if dataset.kind not in FORMATS:
        raise DatasetError(f"unknown data format {dataset.kind!r}; expected one of {sorted(FORMATS)}")
    for number, record in enumerate(dataset.records, 1):
        try:
            validate_record(record, dataset.kind)
        except ValueError as exc:
            raise DatasetError(f"example {number}: {exc}") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in dataset.records))
    meta = {"format": dataset.kind, "examples": len(dataset.records), **dataset.provenance,
            "sha256": sha256_file(path)}
    meta.setdefault("agentgym_version", __version__)
    write_json_atomic(sidecar_path(path), meta)
    return path


def _parse_line(path: Path, number: int, line: str, kind: str | None) -> tuple[dict[str, Any], str]:
    """One line's record and the format (inferred from the first record when not given)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} line {number}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if kind is None:
        kind = infer_kind(record) if isinstance(record, dict) else None
        if kind is None:
            expected = "; ".join(f"{name}: {', '.join(keys)}" for name, keys in FORMATS.items())
            keys = sorted(record) if isinstance(record, dict) else record
            raise DatasetError(f"{path} line {number}: cannot tell the format from the keys {keys!r}; "
                               f"expected {expected}")
    try:
        validate_record(record, kind)
    except ValueError as exc:
        raise DatasetError(f"{path} line {number}: {exc}") from None
    return record, kind


def _sidecar_provenance(path: Path, kind: str) -> dict[str, Any]:
    meta = sidecar_path(path)
    if not meta.is_file():
        return {}
    provenance = json.loads(meta.read_text(encoding="utf-8"))
    if provenance.get("sha256") not in (None, sha256_file(path)):
        warnings.warn(f"{path} has changed since its provenance {meta.name} was written", stacklevel=3)
    if provenance.get("format", kind) != kind:
        raise DatasetError(f"{path} holds {kind} examples but {meta.name} says {provenance['format']}")
    return {key: value for key, value in provenance.items() if key not in ("sha256", "examples", "format")}


def read_dataset(path: str | Path, kind: str | None = None) -> Dataset:
    """Read and validate a JSONL file of one format (``kind``, else inferred from the first line).

    Errors name the file and line. The sidecar's provenance comes along when there is one (a warning
    says when the file has changed since it was written).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"no data file at {path}")
    if kind is not None and kind not in FORMATS:
        raise DatasetError(f"unknown data format {kind!r}; expected one of {sorted(FORMATS)}")
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                record, kind = _parse_line(path, number, line, kind)
                records.append(record)
    if kind is None or not records:
        raise DatasetError(f"{path} holds no examples")
    return Dataset(kind, records, _sidecar_provenance(path, kind))


def import_dataset(source: str | Path, target: str | Path, kind: str | None = None, **provenance: Any) -> Dataset:
    """Validate an external JSONL file and copy it to ``target`` with a sidecar naming its origin."""
    dataset = read_dataset(source, kind)
    origin = {"label_source": "external", **dataset.provenance,
              "imported_from": str(Path(source).resolve()), "imported_sha256": sha256_file(source)}
    imported = Dataset(dataset.kind, dataset.records, {**origin, **provenance})
    write_dataset(target, imported)
    return imported
