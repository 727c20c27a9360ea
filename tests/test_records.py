"""agentgym.records: the typed records, the schemas generated from them, one definition of each constant."""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agentgym.records import (
    BOARD_SCHEMA_VERSION,
    RESULTS_SCHEMA_VERSION,
    SCHEMA_MODELS,
    EpisodeRecord,
    Results,
    StepRecord,
    check_name,
    confusable,
    episode_counts,
    json_schema,
    schema_text,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(SCHEMA_MODELS))
def test_checked_in_schema_is_the_generated_one(name):
    path = ROOT / "leaderboard" / f"{name}.schema.json"
    assert path.read_text(encoding="utf-8") == schema_text(name), (
        f"{path} is stale: regenerate it with `python -m agentgym.records leaderboard`")
    jsonschema.Draft202012Validator.check_schema(json_schema(name))


def test_the_models_carry_the_schema_versions():
    assert json_schema("results")["properties"]["schema_version"]["const"] == RESULTS_SCHEMA_VERSION
    assert json_schema("leaderboard")["properties"]["schema_version"]["const"] == BOARD_SCHEMA_VERSION


def test_one_copy_of_the_schemas_and_one_definition_of_each_constant():
    schema_files = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("**/*.schema.json")
                          if ".venv" not in p.parts and "build" not in p.parts)
    assert schema_files == ["leaderboard/leaderboard.schema.json", "leaderboard/results.schema.json"]
    for constant in ("RESULTS_SCHEMA_VERSION", "BOARD_SCHEMA_VERSION", "REFERENCE_AGENTS"):
        defined = [str(path.relative_to(ROOT)) for path in (ROOT / "agentgym").rglob("*.py")
                   if re.search(rf"^{constant}\s*(:[^=]*)?=", path.read_text(encoding="utf-8"), re.MULTILINE)]
        assert defined == ["agentgym/records.py"], f"{constant} is defined in {defined}"


def runner_record(**changes) -> dict:
    cell = "agentgym/FrozenLake-v0|random|env|test"
    return {"key": f"{cell}/10/0", "cell": cell, "env": "agentgym/FrozenLake-v0", "agent": "random", "reward": "env",
            "split": "test", "seed": 10, "repeat": 0, "reference": True, "status": "ok", "error": None,
            "success": False, "progress": 0.5, "steps": 12, "env_return": 0.0, "proxy_return": 0.0,
            "reward_vector": {"task": 0.0, "validity": -1.0}, "invalid_actions": 1, "terminated": False,
            "truncated": True, "agent_info": {"prompt_tokens": 120, "latency_s": 0.3}, "wall_seconds": 0.01,
            **changes}


@pytest.mark.parametrize("changes", [
    {},
    {"status": "agent_error", "error": "agent failed", "success": None, "progress": None, "env_return": None},
    {"status": "failed", "error": "env failed", "success": None},
    {"recipe": "mppo", "train_seed": 2, "trace_hash": "ab" * 32, "truncated_chars": 40,
     "reward_diagnostics": {"reward_model_accuracy": 0.8}},
])
def test_episode_records_the_runner_writes_pass(changes):
    model = EpisodeRecord.model_validate(runner_record(**changes))
    assert model.scored == (model.status != "failed")


@pytest.mark.parametrize(("changes", "needle"), [
    ({"status": "crashed"}, "status"),
    ({"seed": "10"}, "seed"),
    ({"steps": -1}, "steps"),
    ({"progress": 1.5}, "progress"),
    ({"env_return": float("nan")}, "env_return"),
    ({"key": "other/10/0"}, "key"),
    ({"agent": "oracle"}, "should be"),
])
def test_bad_episode_records_are_refused(changes, needle):
    with pytest.raises(ValidationError, match=needle):
        EpisodeRecord.model_validate(runner_record(**changes))


def test_counts():
    assert episode_counts([runner_record(), runner_record(status="agent_error"), runner_record(status="failed"),
                           runner_record(status="failed")]) == (2, 2)


def test_step_records():
    step = StepRecord.model_validate({"key": "c/0/0", "step": 0, "observation": "You see a door.",
                                      "prompt_sha256": "0" * 64, "raw_answer": "open door", "action": "open door",
                                      "valid": True, "reward_vector": {"task": 0.0}, "prompt_tokens": 50,
                                      "completion_tokens": 3, "latency_s": 0.2})
    assert step.valid and step.model_dump()["raw_answer"] == "open door"
    with pytest.raises(ValidationError):
        StepRecord.model_validate({"key": "c/0/0", "step": -1})


@given(st.text(max_size=30))
def test_accepted_names_are_plain_ascii_in_normal_form(text):
    try:
        name = check_name(text)
    except ValueError:
        return
    allowed = set(string.ascii_letters + string.digits + "._:/+@-")
    assert set(name) <= allowed and unicodedata.normalize("NFKC", name) == name and ".." not in name


def test_look_alikes():
    assert confusable("Oracle", ["oracle", "random"]) == "oracle"
    assert confusable("rand0m", ["random"]) == "random"
    assert confusable("ppo", ["ppo", "mppo"]) is None


def test_results_model_is_tolerant_where_metrics_grow():
    interval = {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "method": "wilson"}
    cell = {"cell": "e|a|env|test", "env": "e", "agent": "a", "reward": "env", "split": "test", "episodes": 2,
            "failed": 0, "incomplete": False, "n_distinct": 2,
            "metrics": {"success_rate": interval, "score_gap": interval, "n_distinct": 2,
                        "normalized_score": None, "normalized_score_reason": "oracle does not beat random"}}
    results = {"schema_version": 2, "suite": {"name": "s", "version": 1, "hash": "0" * 64},
               "provenance": {"agentgym_version": "0", "git_commit": None, "python": "3", "platform": "p",
                              "created_at": "2026-01-01T00:00:00Z", "executor": "local", "workers": 1},
               "episodes_file": "episodes.jsonl", "episodes_sha256": "1" * 64, "bootstrap_seed": 0,
               "n_episodes": 2, "n_failed": 0, "cells": [cell],
               "aggregates": {"by_agent": {"a|env": {"envs": ["e|test"], "iqm_score": interval}}, "runs": []}}
    Results.model_validate(results)
