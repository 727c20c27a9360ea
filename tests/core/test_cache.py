"""The one disk cache (agentgym.core.cache): keys, build-once publishing, races, listing and clearing."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agentgym.core import cache
from agentgym.core.errors import AgentGymError


@pytest.fixture()
def root(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("AGENTGYM_CACHE", str(folder))  # core.paths.cache_dir reads it on every call
    return folder


def writer(calls: list[Path], text: str = "built"):
    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "data.txt").write_text(text)
    return build


def test_same_config_same_folder_built_once(root):
    calls: list[Path] = []
    config = {"env": "toy/Corridor-v0", "seed": 3, "weights": [1.0, 0.5], "nested": {"b": 1, "a": None}}
    first = cache.cached("things", config, writer(calls), version="1")
    again = cache.cached("things", dict(reversed(list(config.items()))), writer(calls), version="1")
    assert first == again == root / "things" / cache.cache_key("things", config, version="1")
    assert len(calls) == 1 and calls[0].parent == root / "things" and calls[0].name.startswith(".tmp-")
    assert (first / "data.txt").read_text() == "built" and not calls[0].exists()
    entry = json.loads((first / cache.ENTRY_FILE).read_text())
    assert entry["kind"] == "things" and entry["version"] == "1" and entry["config"] == config
    assert entry["key"] == first.name and entry["producer"]["agentgym"]
    assert abs(datetime.fromisoformat(entry["created"]) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert cache.cache_path("things", config, version="1") == first
    assert sorted(p.name for p in (root / "things").iterdir()) == sorted([first.name, f"{first.name}.lock"])


def test_key_covers_kind_version_and_config():
    key = cache.cache_key("things", {"a": 1}, version="1")
    assert len(key) == 20 and int(key, 16) >= 0
    assert key == cache.cache_key("things", {"a": 1}, version="1")
    assert key != cache.cache_key("things", {"a": 1}, version="2")
    assert key != cache.cache_key("other", {"a": 1}, version="1")
    assert key != cache.cache_key("things", {"a": 2}, version="1")
    assert key != cache.cache_key("things", {"a": 1.5}, version="1")


def test_a_new_version_builds_a_new_entry(root):
    calls: list[Path] = []
    old = cache.cached("things", {"a": 1}, writer(calls, "old"), version="1")
    new = cache.cached("things", {"a": 1}, writer(calls, "new"), version="2")
    assert old != new and len(calls) == 2
    assert (old / "data.txt").read_text() == "old" and (new / "data.txt").read_text() == "new"


@pytest.mark.parametrize("config", [{"x": object()}, {"x": {1, 2}}, {"x": float("nan")}, {"x": b"bytes"}])
def test_config_that_is_not_json_fails_clearly(root, config):
    with pytest.raises(cache.CacheError, match="not plain JSON") as caught:
        cache.cached("things", config, writer([]), version="1")
    assert isinstance(caught.value, AgentGymError) and isinstance(caught.value, ValueError)
    assert not (root / "things").exists() or list((root / "things").iterdir()) == []


@pytest.mark.parametrize("kind", ["", "../up", "a/b", ".hidden", "x.lock"])
def test_kind_must_be_a_plain_name(root, kind):
    with pytest.raises(cache.CacheError, match="plain name"):
        cache.cache_key(kind, {}, version="1")


def test_version_must_be_a_string():
    with pytest.raises(cache.CacheError, match="version"):
        cache.cache_key("things", {}, version=2)  # type: ignore[arg-type]


def test_failed_build_publishes_nothing_and_a_later_call_builds(root):
    def broken(folder: Path) -> None:
        (folder / "half.txt").write_text("half an entry")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.cached("things", {"a": 1}, broken, version="1")
    assert [p.name for p in (root / "things").iterdir() if not p.name.endswith(".lock")] == []
    assert cache.cache_entries("things") == []
    calls: list[Path] = []
    folder = cache.cached("things", {"a": 1}, writer(calls), version="1")
    assert len(calls) == 1 and (folder / "data.txt").is_file() and not (folder / "half.txt").exists()


def test_builder_may_remake_its_folder_but_not_lose_it(root):
    def remake(folder: Path) -> None:
        folder.rmdir()
        folder.mkdir()
        (folder / "data.txt").write_text("remade")

    assert (cache.cached("things", {"a": 1}, remake, version="1") / "data.txt").read_text() == "remade"
    with pytest.raises(RuntimeError, match="removed its folder"):
        cache.cached("things", {"a": 2}, lambda folder: folder.rmdir(), version="1")
    assert not (root / "things" / cache.cache_key("things", {"a": 2}, version="1")).exists()


def test_unpublished_leftover_is_replaced(root):
    final = cache.cache_path("things", {"a": 1}, version="1")
    final.mkdir()
    (final / "stale.txt").write_text("from an older layout")
    calls: list[Path] = []
    assert cache.cached("things", {"a": 1}, writer(calls), version="1") == final
    assert len(calls) == 1 and sorted(p.name for p in final.iterdir()) == [cache.ENTRY_FILE, "data.txt"]


def _race(barrier, counter: str, results: str) -> None:
    def slow(folder: Path) -> None:
        with open(counter, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        time.sleep(0.5)  # the other process reaches the lock while this one builds
        (folder / "data.txt").write_text("built")

    barrier.wait()
    folder = cache.cached("race", {"a": 1}, slow, version="1")
    with open(results, "a") as handle:
        handle.write(f"{folder}|{(folder / 'data.txt').read_text()}\n")


def test_two_processes_racing_build_once(root, tmp_path):
    context = multiprocessing.get_context("spawn")  # fresh interpreters: nothing shared but the disk
    barrier = context.Barrier(2)
    counter, results = tmp_path / "builds.txt", tmp_path / "results.txt"
    processes = [context.Process(target=_race, args=(barrier, str(counter), str(results))) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    assert len(counter.read_text().splitlines()) == 1
    lines = results.read_text().splitlines()
    assert len(lines) == 2 and lines[0] == lines[1] == f"{cache.cache_path('race', {'a': 1}, version='1')}|built"


def test_cache_file_is_a_plain_name_in_its_kind():
    path = cache.cache_file("judge_scores", "my.module:Judge <1>", suffix=".jsonl")
    assert path.name == "my.module_Judge__1_.jsonl" and path.parent.name == "judge_scores"
    assert cache.cache_file("judge_scores", ".hidden").name == "_hidden"


def test_entries_list_every_kind_and_clear_removes_them(root):
    a = cache.cached("alpha", {"n": 1}, writer([], "x" * 1000), version="1")
    b = cache.cached("alpha", {"n": 2}, writer([]), version="1")
    c = cache.cached("beta", {"n": 1}, writer([]), version="1")
    log = cache.cache_file("judge_scores", "some:judge", suffix=".jsonl")
    log.write_text('{"key": "k", "score": 1.0}\n')
    legacy = root / "sb3" / "0123abcd"  # a folder without an entry file (an older layout)
    legacy.mkdir(parents=True)
    (legacy / "model.zip").write_bytes(b"\0" * 10)
    (root / "beta" / ".tmp-deadbeef-00").mkdir()  # a build in progress is never listed

    entries = cache.cache_entries()
    assert {(e.kind, e.key) for e in entries} == {("alpha", a.name), ("alpha", b.name), ("beta", c.name),
                                                    ("judge_scores", log.name), ("sb3", "0123abcd")}
    by_key = {e.key: e for e in entries}
    assert by_key[a.name].config == {"n": 1} and by_key[a.name].bytes > 1000 and by_key[a.name].path == a
    assert by_key[log.name].config is None and by_key[log.name].bytes == log.stat().st_size
    assert by_key["0123abcd"].config is None and by_key["0123abcd"].bytes == 10
    assert [e.key for e in cache.cache_entries("alpha")] == [e.key for e in entries if e.kind == "alpha"]
    assert cache.cache_entries("nothing-here") == []
    table = cache.format_entries(entries)
    assert a.name in table and "5 entries" in table and "judge_scores" in table

    assert cache.clear_cache("alpha") == 2
    assert not a.exists() and not b.exists() and c.exists() and log.exists()
    assert cache.clear_cache() == 3
    assert cache.cache_entries() == []
    assert not (root / "beta" / ".tmp-deadbeef-00").exists()  # its builder is gone (lock free): removed
    calls: list[Path] = []
    cache.cached("alpha", {"n": 1}, writer(calls), version="1")  # cleared: built again
    assert len(calls) == 1


def test_clear_older_than_days(root):
    old = cache.cached("alpha", {"n": 1}, writer([]), version="1")
    new = cache.cached("alpha", {"n": 2}, writer([]), version="1")
    record = json.loads((old / cache.ENTRY_FILE).read_text())
    record["created"] = (datetime.now(timezone.utc) - timedelta(days=10)).isoformat(timespec="seconds")
    (old / cache.ENTRY_FILE).write_text(json.dumps(record))
    log = cache.cache_file("judge_scores", "j", suffix=".jsonl")
    log.write_text("{}\n")
    stamp = time.time() - 5 * 86400
    os.utime(log, (stamp, stamp))
    assert cache.clear_cache(older_than_days=30) == 0
    assert cache.clear_cache(older_than_days=7) == 1 and not old.exists() and new.exists() and log.exists()
    assert cache.clear_cache("judge_scores", older_than_days=1) == 1 and not log.exists()
    with pytest.raises(cache.CacheError):
        cache.clear_cache(older_than_days=-1)


def test_clear_never_follows_links_out_of_the_cache(root, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    cache.cached("alpha", {"n": 1}, writer([]), version="1")
    (root / "alpha" / "linked-entry").symlink_to(outside, target_is_directory=True)
    (root / "linked-kind").symlink_to(outside, target_is_directory=True)
    inside = cache.cached("beta", {"n": 1}, writer([]), version="1")
    (inside / "escape").symlink_to(outside, target_is_directory=True)  # a link inside an entry

    assert "linked-kind" not in {e.kind for e in cache.cache_entries()}
    assert cache.clear_cache() == 3  # two entries and the link itself
    assert (outside / "keep.txt").read_text() == "keep"
    assert not (root / "alpha" / "linked-entry").is_symlink() and (root / "linked-kind").is_symlink()
    assert cache.clear_cache("linked-kind") == 0 and (outside / "keep.txt").exists()
