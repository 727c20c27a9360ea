"""Issue 18, point 6: a spec folder re-declaring a registered id is an error unless it says `override`,
and the suite hash covers the resolved specs (so an overridden env never passes for the built-in)."""

from __future__ import annotations

import pytest
import yaml

from agentgym.bench.suite import expand, load_suite
from agentgym.core.errors import SpecError
from agentgym.core.paths import builtin_dir
from agentgym.envs.registration import env_spec, load_env_specs, register_env

LAKE = "agentgym/FrozenLake-v0"


def _redeclared(folder, *, override: bool):
    entries = yaml.safe_load((builtin_dir("envs") / "frozenlake.yaml").read_text())
    entry = next(e for e in entries if e["id"] == LAKE)
    entry["kwargs"] = {**entry["kwargs"], "is_slippery": True}  # another env under the same id
    if override:
        entry["override"] = True
    (folder / "lake.yaml").write_text(yaml.safe_dump([entry]))
    return folder


@pytest.fixture()
def restore_lake():
    original = env_spec(LAKE)
    yield
    register_env(original.id, original.entry_point, original.card, kwargs=original.kwargs,
                 max_episode_steps=original.max_episode_steps, source=original.source, override=True)
    assert env_spec(LAKE) == original


def test_a_redeclared_id_is_refused(tmp_path, restore_lake):
    before = env_spec(LAKE)
    with pytest.raises(SpecError, match=r"already registered .*override: true"):
        load_env_specs(_redeclared(tmp_path, override=False))
    assert env_spec(LAKE) == before  # nothing replaced


def test_the_same_spec_again_is_fine(restore_lake):
    load_env_specs(builtin_dir("envs"), source="built-in")  # a reloaded folder: no error, nothing changes


def test_override_is_explicit_and_changes_the_suite_hash(tmp_path, restore_lake):
    suite = load_suite("smoke")
    built_in_hash = expand(suite).hash
    load_env_specs(_redeclared(tmp_path, override=True))
    assert env_spec(LAKE).kwargs["is_slippery"] is True
    assert expand(suite).hash != built_in_hash
