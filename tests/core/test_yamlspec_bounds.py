"""Issue 18, point 11 (YAML half): alias bombs and other oversized specs are refused, naming the file."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from agentgym.core import yamlspec
from agentgym.core.errors import SpecError
from agentgym.core.yamlspec import load_yaml, read_yaml

# the 12-line bomb, in env kwargs: 9 levels of 9 aliases expand to 9**9 (387 million) strings
BOMB = """\
id: agentgym/Bomb-v0
entry_point: agentgym.envs.classic.frozenlake:FrozenLakeEnv
kwargs:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
card: {family: classic}
"""


def test_an_alias_bomb_is_refused_quickly_with_the_file_named(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SpecError, match=r"bomb\.yaml: .*expands to more than") as info:
            read_yaml(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 5
    assert peak < 50 * 1024 * 1024
    assert "aliases" in str(info.value)


def test_recursive_aliases_are_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(SpecError, match=r"loop\.yaml: .*recursive"):
        read_yaml(path)


def test_ordinary_aliases_and_merge_keys_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &base {x: 1, y: [1, 2]}\nother:\n  <<: *base\n  z: 3\nagain: *base\n")
    assert read_yaml(path) == {"base": {"x": 1, "y": [1, 2]}, "other": {"x": 1, "y": [1, 2], "z": 3},
                               "again": {"x": 1, "y": [1, 2]}}


def test_the_node_budget_counts_expanded_aliases():
    text = "a: &a [1, 2, 3, 4]\nb: [*a, *a, *a, *a, *a]\n"
    assert load_yaml(text, max_nodes=100)["b"][4] == [1, 2, 3, 4]
    with pytest.raises(SpecError, match=r"spec\.yaml: .*expands to more than 20 nodes"):
        load_yaml(text, "spec.yaml", max_nodes=20)


def test_huge_files_and_deep_nesting_are_spec_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(yamlspec, "MAX_SPEC_BYTES", 1000)
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "y" * 2000 + "\n")
    with pytest.raises(SpecError, match=r"big\.yaml: larger than"):
        read_yaml(big)
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 500 + "]" * 500)
    try:
        assert read_yaml(deep) is not None
    except SpecError as exc:
        assert "deep.yaml" in str(exc)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SpecError, match=r"binary\.yaml"):
        read_yaml(binary)
