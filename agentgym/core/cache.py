"""The one disk cache: build a folder once per (kind, config, version), publish it atomically, reuse it.

Layout, under :func:`agentgym.core.paths.cache_dir` (``$AGENTGYM_CACHE``, default ``~/.cache/agentgym``)::

    <root>/<kind>/<key>/                 a published entry: what ``build`` wrote, plus cache-entry.json
    <root>/<kind>/<key>.lock             its file lock (kept: removing a lock file others may wait on is unsafe)
    <root>/<kind>/.tmp-<key>-<token>/    an entry being built (never read; renamed into place when complete)
    <root>/<kind>/<name>                 an append store (see :func:`cache_file`), e.g. the judge score logs

``key`` is the first 20 hex digits of the SHA-256 of the canonical JSON of ``{"kind", "version", "config"}``
(:func:`cache_key`). ``version`` is the version of the code that writes the entry: each caller keeps a module
constant (``FORMAT_VERSION = "2"``) and bumps it when what its builder writes changes, which moves every
entry of that caller to new keys.

:func:`cached` is the whole protocol: if ``<key>/cache-entry.json`` exists the entry is published and is
returned as is; otherwise, under the entry's file lock, ``build(tmp)`` fills a fresh temp folder, the entry
file is written into it, and ``os.rename`` publishes it. A build that raises publishes nothing; a second
process waits on the lock and then reuses the entry. Entries are never partial.

:func:`cache_entries` and :func:`clear_cache` list and remove entries (``agentgym cache ls|clear``);
:func:`format_entries` renders the listing. This module imports only the standard library, ``filelock``
and ``agentgym.core``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from agentgym.core.errors import AgentGymError
from agentgym.core.files import canonical_json, fsync_dir, sha256_text
from agentgym.core.paths import cache_dir
from agentgym.core.version import __version__

ENTRY_FILE = "cache-entry.json"
KEY_LENGTH = 20
_TEMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class CacheError(AgentGymError, ValueError):
    """A cache request that cannot be served: a config that is not JSON, or a kind that is not a plain name."""


@dataclass(frozen=True)
class CacheEntry:
    """One thing in the cache: a published entry (``config`` from its entry file) or an append-store file.

    ``created`` is the entry's creation time (UTC); for a store file or a folder without an entry file
    (an older layout), its modification time. ``config`` is None where no entry file tells it.
    """

    kind: str
    key: str
    path: Path
    bytes: int
    created: datetime
    config: dict[str, Any] | None


def _check_name(what: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".lock"):
        raise CacheError(f"cache {what} {name!r} must be a plain name (letters, digits, '_', '.', '-'; "
                         f"not starting with '.' or '-', not ending in '.lock')")
    return name


def cache_key(kind: str, config: Mapping[str, Any], *, version: str) -> str:
    """The entry key of ``config``: SHA-256 of canonical JSON ``{"kind", "version", "config"}``, 20 hex digits.

    Raises :class:`CacheError` if ``config`` is not plain JSON (str keys; str, int, float, bool, None,
    lists and dicts; no NaN): a key must not depend on an object's ``repr``.
    """
    _check_name("kind", kind)
    if not isinstance(version, str) or not version:
        raise CacheError(f"the cache version of {kind!r} must be a non-empty string, not {version!r}")
    if not isinstance(config, Mapping):
        raise CacheError(f"the cache config of {kind!r} must be a mapping, not {type(config).__name__}")
    try:
        text = canonical_json({"kind": kind, "version": version, "config": dict(config)})
    except (TypeError, ValueError) as exc:
        raise CacheError(f"the cache config of {kind!r} is not plain JSON ({exc}): {config!r}") from None
    return sha256_text(text)[:KEY_LENGTH]


def cache_path(kind: str, config: Mapping[str, Any], *, version: str) -> Path:
    """Where the entry of ``config`` is (or will be) published; builds nothing."""
    return cache_dir(kind) / cache_key(kind, config, version=version)


def _published(folder: Path) -> bool:
    return (folder / ENTRY_FILE).is_file() and not folder.is_symlink()


def cached(kind: str, config: Mapping[str, Any], build: Callable[[Path], None], *, version: str) -> Path:
    """The published folder of ``(kind, config, version)``, built by ``build(tmp)`` if it is not there yet.

    ``build`` gets a fresh, empty folder and writes the entry's files into it (it may also remove and
    recreate that folder). Under the lock ``<root>/<kind>/<key>.lock``: ``build(tmp)``, then
    ``tmp/cache-entry.json`` (kind, key, version, config, created, producer), then ``os.rename(tmp, final)``.
    If ``build`` raises, the temp folder is removed and the error propagates; nothing is published.
    """
    key = cache_key(kind, config, version=version)
    root = cache_dir(kind)
    final = root / key
    if _published(final):
        return final
    with FileLock(str(root / f"{key}.lock")):
        if _published(final):  # another process built it while we waited
            return final
        if final.exists() or final.is_symlink():  # an unpublished leftover (an older layout): replace it
            _remove(final)
        tmp = root / f"{_TEMP_PREFIX}{key}-{secrets.token_hex(6)}"
        tmp.mkdir()  # mode 0o777 & ~umask: a shared cache stays readable
        try:
            build(tmp)
            if not tmp.is_dir():
                raise RuntimeError(f"the {kind} cache builder removed its folder {tmp} and did not recreate it")
            entry = {"kind": kind, "key": key, "version": version, "config": dict(config),
                     "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "producer": {"agentgym": __version__}}
            (tmp / ENTRY_FILE).write_text(json.dumps(entry, indent=2, allow_nan=False) + "\n", encoding="utf-8")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(root)
    return final


def cache_file(kind: str, name: str, *, suffix: str = "") -> Path:
    """The path of an append store ``<root>/<kind>/<name><suffix>``, for caches that grow instead of being built once.

    ``name`` is made a plain file name (characters other than letters, digits, ``_``, ``.``, ``-`` become
    ``_``); :func:`cache_entries` lists the file and :func:`clear_cache` removes it. The caller owns the
    file's format and its appends.
    """
    _check_name("kind", kind)
    plain = re.sub(r"[^A-Za-z0-9_.-]", "_", name) + suffix
    if plain.startswith((".", "-")):
        plain = "_" + plain[1:]
    return cache_dir(kind) / _check_name("file name", plain)


# ------------------------------------------------------------------ listing and clearing
def _root() -> Path:
    return cache_dir().resolve()


def _kind_dirs(kind: str | None) -> Iterator[tuple[str, Path]]:
    root = _root()
    if kind is not None:
        candidates = [root / _check_name("kind", kind)]
    else:
        candidates = sorted(p for p in root.iterdir() if _NAME.fullmatch(p.name))
    for folder in candidates:
        # never follow a link out of the cache root: a kind that is a symlink is not listed
        if folder.is_dir() and not folder.is_symlink():
            yield folder.name, folder


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    total = 0
    for folder, _, files in os.walk(path):  # does not descend into linked folders
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.lstat().st_mtime, timezone.utc)


def _entry(kind: str, path: Path) -> CacheEntry | None:
    name = path.name
    if name.startswith(".") or name.endswith(".lock"):
        return None  # temp folders, trash, locks
    try:
        created, config = _mtime(path), None
        if _published(path):
            record = json.loads((path / ENTRY_FILE).read_text(encoding="utf-8"))
            with contextlib.suppress(KeyError, TypeError, ValueError):
                created = datetime.fromisoformat(record["created"])
            config = record.get("config")
        return CacheEntry(kind=kind, key=name, path=path, bytes=_size(path), created=created, config=config)
    except (OSError, ValueError):  # removed meanwhile, or an unreadable entry file: list it without config
        with contextlib.suppress(OSError):
            return CacheEntry(kind=kind, key=name, path=path, bytes=_size(path), created=_mtime(path), config=None)
        return None


def cache_entries(kind: str | None = None) -> list[CacheEntry]:
    """Every entry of ``kind`` (or of every kind), sorted by kind then creation time.

    Published entries, append-store files and folders of older layouts are listed; locks and temp folders
    are not.
    """
    entries = []
    for name, folder in _kind_dirs(kind):
        for path in folder.iterdir():
            entry = _entry(name, path)
            if entry is not None:
                entries.append(entry)
    return sorted(entries, key=lambda e: (e.kind, e.created, e.key))


def _remove(path: Path) -> None:
    """Remove a cache entry without following links: a link is unlinked, a folder is renamed away then deleted."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    trash = path.with_name(f"{_TRASH_PREFIX}{path.name}-{secrets.token_hex(6)}")
    os.rename(path, trash)  # atomic: readers see the whole entry or none
    shutil.rmtree(trash)  # rmtree never follows links inside


def _clear_orphans(folder: Path) -> None:
    """Remove trash and temp folders whose builder is gone (its lock is free)."""
    for path in folder.iterdir():
        if path.name.startswith(_TRASH_PREFIX) and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(_TEMP_PREFIX) and not path.is_symlink():
            key = path.name[len(_TEMP_PREFIX):].rsplit("-", 1)[0]
            with contextlib.suppress(Timeout), FileLock(str(folder / f"{key}.lock"), timeout=0):
                shutil.rmtree(path, ignore_errors=True)


def clear_cache(kind: str | None = None, *, older_than_days: float | None = None) -> int:
    """Remove the entries of ``kind`` (or of every kind), only those older than ``older_than_days`` if given.

    Returns how many entries were removed. Links are removed, never followed; a kind folder that is a
    link is left alone. Lock files stay; temp folders of builds that died are removed too (not counted).
    """
    if older_than_days is not None and older_than_days < 0:
        raise CacheError(f"older_than_days must be >= 0, not {older_than_days}")
    cutoff = None if older_than_days is None else datetime.now(timezone.utc) - timedelta(days=older_than_days)
    removed = 0
    for entry in cache_entries(kind):
        if cutoff is not None and entry.created > cutoff:
            continue
        with contextlib.suppress(FileNotFoundError):  # another process removed it first
            _remove(entry.path)
            removed += 1
    for _, folder in _kind_dirs(kind):
        _clear_orphans(folder)
    return removed


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_entries(entries: list[CacheEntry]) -> str:
    """The ``agentgym cache ls`` table: kind, key, size, created (local time), and a total line."""
    if not entries:
        return f"no cache entries in {cache_dir()}"
    kind_width = max(16, *(len(e.kind) for e in entries))
    key_width = max(20, *(len(e.key) for e in entries))
    lines = [f"{'kind':<{kind_width}}  {'key':<{key_width}}  {'size':>10}  created"]
    for e in entries:
        lines.append(f"{e.kind:<{kind_width}}  {e.key:<{key_width}}  {_human(e.bytes):>10}  "
                     f"{e.created.astimezone():%Y-%m-%d %H:%M}")
    lines.append(f"{len(entries)} entries, {_human(sum(e.bytes for e in entries))} in {cache_dir()}")
    return "\n".join(lines)


__all__ = ["ENTRY_FILE", "CacheEntry", "CacheError", "cache_entries", "cache_file", "cache_key", "cache_path",
           "cached", "clear_cache", "format_entries"]
