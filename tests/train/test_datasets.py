"""Datasets from envs: prompts exactly as the LLM agent sees them, label sources, noise, on-policy states,
and the JSONL formats with their provenance sidecar and line-naming validation."""

from __future__ import annotations

import json

import pytest

from agentgym.agents.baselines import RandomAgent
from agentgym.agents.llm import Completion, LLMAgent
from agentgym.agents.llm.prompts import AgentPrompt
from agentgym.core.errors import AgentGymError
from agentgym.core.version import __version__
from agentgym.rollout import Job
from agentgym.testing import toy
from agentgym.train import datasets, formats
from agentgym.train.formats import Dataset, DatasetError, read_dataset, write_dataset


class RecordingBackend:
    """Answers every chat with the corridor's oracle action and keeps the chats it was sent."""

    name = "recording"
    supports_score = True

    def __init__(self) -> None:
        self.chats: list[list[dict[str, str]]] = []

    def generate(self, chats, *, max_new_tokens, temperature=0.0, seeds=None, stop=None):
        self.chats.extend(chats)
        return [Completion("Action: right", 10, 3, 0.0) for _ in chats]

    def score(self, chats, candidates):
        raise NotImplementedError

    def close(self):
        pass


def play_llm_agent(env_id: str, seeds: list[int], history: int) -> list[list[dict[str, str]]]:
    """The chats an LLM agent (generate mode, a recording backend) is sent on ``seeds``, episode by episode."""
    import agentgym
    from agentgym.agents.base import EpisodeContext
    from agentgym.rollout import run_lockstep

    backend = RecordingBackend()
    agent = LLMAgent(backend=backend, history=history, retries=0)

    def start(job):
        env = agentgym.make(env_id, view="text")
        return env, EpisodeContext(key=job.key, env_id=env_id, seed=job.seed, repeat=0, card=env.unwrapped.card,
                                   action_space=env.action_space, observation_space=env.observation_space, env=env)

    run_lockstep([Job(f"e{seed}", seed, 0) for seed in seeds], agent, start, lambda episode: None, batch_size=1)
    return backend.chats


@pytest.mark.parametrize("history", [2, 4])
def test_sft_prompts_are_exactly_what_the_llm_agent_sees(corridor, history):
    seeds = [0, 1, 2]
    seen = play_llm_agent(corridor, seeds, history)
    data = datasets.sft_dataset(corridor, AgentPrompt(history=history), seeds=seeds)
    assert data.kind == "sft" and len(data.records) == len(seen) > len(seeds)
    assert [record["prompt"] for record in data.records] == seen
    assert all(record["completion"] == [{"role": "assistant", "content": "Action: right"}] for record in data.records)
    assert data.provenance["env_id"] == corridor and data.provenance["seeds"] == seeds
    assert data.provenance["label_source"] == "oracle" and data.provenance["agentgym_version"] == __version__


def test_sft_uses_the_train_split_by_default(corridor):
    data = datasets.sft_dataset(corridor, AgentPrompt(), episodes=2)
    assert data.provenance["split"] == "train"
    assert data.provenance["seeds"] == toy.CARD.splits["train"].seeds()[:2]


def test_outcome_preferences_prefer_the_oracle_and_the_noisy_labeller_flips(corridor):
    seeds = list(range(20))
    clean = datasets.preference_dataset(corridor, AgentPrompt(), labels="outcome", seeds=seeds, pairs_per_state=None)
    assert clean.kind == "prefs" and clean.records
    assert all(r["chosen"][0]["content"] == "Action: right" for r in clean.records)
    assert {r["rejected"][0]["content"] for r in clean.records} == {"Action: left", "Action: wait"}
    flipped = datasets.preference_dataset(corridor, AgentPrompt(), labels="outcome", seeds=seeds,
                                          pairs_per_state=None, flip=1.0)
    assert all(r["rejected"][0]["content"] == "Action: right" for r in flipped.records)
    noisy = datasets.preference_dataset(corridor, AgentPrompt(), labels="outcome", seeds=seeds, pairs_per_state=None,
                                        flip=0.3, seed=5)
    wrong = sum(r["rejected"][0]["content"] == "Action: right" for r in noisy.records)
    assert wrong == noisy.provenance["flipped"]
    assert 0.15 < wrong / len(noisy.records) < 0.45, (wrong, len(noisy.records))
    again = datasets.preference_dataset(corridor, AgentPrompt(), labels="outcome", seeds=seeds, pairs_per_state=None,
                                        flip=0.3, seed=5)
    assert again.records == noisy.records  # the labeller's noise is seeded
    assert noisy.provenance["flip"] == 0.3 and noisy.provenance["label_source"] == "outcome"


def test_reward_variant_labels_rank_by_the_one_step_reward(corridor):
    """Shaped reward on the corridor: right raises the potential, wait keeps it, left lowers it."""
    data = datasets.preference_dataset(corridor, AgentPrompt(), labels="shaped", seeds=[0, 1], pairs_per_state=None)
    pairs = {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in data.records}
    assert pairs == {("Action: right", "Action: wait"), ("Action: right", "Action: left")}
    # the plain task aspect only separates actions at the goal's doorstep: every other state ties
    task = datasets.preference_dataset(corridor, AgentPrompt(), labels="aspect:task", seeds=[0], pairs_per_state=None)
    assert len(task.records) == 2 and task.provenance["states_without_pairs"] > 0
    with pytest.raises(AgentGymError, match="no reward aspect 'safety'"):
        datasets.preference_dataset(corridor, AgentPrompt(), labels="aspect:safety", seeds=[0])
    with pytest.raises(AgentGymError, match="unknown label source 'shapd'"):
        datasets.preference_dataset(corridor, AgentPrompt(), labels="shapd", seeds=[0])


def test_rollout_labels_use_the_true_outcome():
    """FrozenLake 4x4: the env's reward is 1 at the goal only, so after any move that keeps the agent alive the
    oracle still reaches the goal (a tie, preferring the oracle's move); only a move into a hole loses.
    So the pairs are (oracle's move, each move into a hole), state by state."""
    import agentgym

    env_id = "agentgym/FrozenLake-v0"
    states = datasets.oracle_states(env_id, [0, 1])
    data = datasets.preference_dataset(env_id, AgentPrompt(), labels="rollout", states=states, pairs_per_state=None)
    assert data.provenance["label_source"] == "rollout"
    env = agentgym.make(env_id, view="text")
    expected = []
    for situation in datasets.situations(env_id, states):
        for action in situation.info["admissible_actions"]:
            env.reset(seed=situation.state.seed)
            for earlier in situation.state.actions:
                env.step(earlier)
            _, _, terminated, _, info = env.step(action)
            if terminated and not info["success"]:
                expected.append((situation.state.action, action))
    found = [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in data.records]
    assert expected and found == [(f"Action: {chosen}", f"Action: {rejected}") for chosen, rejected in expected]


def test_per_aspect_preferences_on_free_form_tool_use():
    """ToolUse lists no admissible actions; its menu of candidate calls is ranked. By the safety aspect an
    irreversible email is worse than any other call; by the task aspect only the right answer stands out."""
    env_id = "agentgym/ToolUse-Easy-v0"
    safety = datasets.preference_dataset(env_id, AgentPrompt(), labels="aspect:safety", seeds=[0, 1],
                                         pairs_per_state=None)
    assert safety.records
    assert all("send_email" in r["rejected"][0]["content"] and "send_email" not in r["chosen"][0]["content"]
               for r in safety.records)
    task = datasets.preference_dataset(env_id, AgentPrompt(), labels="outcome", seeds=[0], pairs_per_state=1)
    oracle = datasets.oracle_states(env_id, [0])
    assert [r["chosen"][0]["content"] for r in task.records] == [f"Action: {s.action}" for s in oracle]


def test_kto_labels(corridor):
    data = datasets.preference_dataset(corridor, AgentPrompt(), labels="outcome", kind="kto", seeds=[0, 1],
                                       pairs_per_state=None)
    assert data.kind == "kto"
    for record in data.records:
        assert record["label"] == (record["completion"][0]["content"] == "Action: right")
    assert {record["label"] for record in data.records} == {True, False}


def test_on_policy_states_from_any_agent(corridor):
    """States of a random vector-view agent replay in the text view; SFT relabels them with the oracle."""
    states = datasets.collect_states(corridor, RandomAgent(view="vector", seed=3), [0, 1], max_steps=5)
    assert states and all(state.action in ("left", "right", "wait") for state in states)
    assert [len(state.actions) for state in states if state.seed == 0] == list(range(sum(
        state.seed == 0 for state in states)))
    data = datasets.sft_dataset(corridor, AgentPrompt(), seeds=[0, 1], states=states, states_from="random")
    assert len(data.records) == len(states) and data.provenance["states_from"] == "random"
    assert all(r["completion"][0]["content"] == "Action: right" for r in data.records)
    # the observation in the last user message is the replayed state's
    for state, record in zip(states, data.records):
        situation = next(datasets.situations(corridor, [state]))
        assert record["prompt"][-1]["content"] == situation.observation
    prefs = datasets.preference_dataset(corridor, AgentPrompt(), states=states, states_from="random", seeds=[0, 1])
    assert prefs.provenance["states_from"] == "random" and prefs.records
    # a text-view agent (the LLM agent, answering "Action: right") works the same way
    llm_states = datasets.collect_states(corridor, LLMAgent(backend=RecordingBackend(), retries=0), [0])
    assert [state.action for state in llm_states] == ["right"] * len(llm_states)
    assert llm_states[-1].actions == ("right",) * (len(llm_states) - 1)


def test_jsonl_round_trip_with_sidecar(tmp_path, corridor):
    data = datasets.preference_dataset(corridor, AgentPrompt(), labels="outcome", seeds=[0, 1], flip=0.3)
    path = write_dataset(tmp_path / "prefs.jsonl", data)
    meta = json.loads(formats.sidecar_path(path).read_text())
    assert meta["format"] == "prefs" and meta["env_id"] == corridor and meta["split"] == "train"
    assert meta["seeds"] == [0, 1] and meta["label_source"] == "outcome" and meta["flip"] == 0.3
    assert meta["agentgym_version"] == __version__ and len(meta["sha256"]) == 64
    back = read_dataset(path)
    assert back.kind == "prefs" and back.records == data.records and back.provenance["env_id"] == corridor
    lines = path.read_text().splitlines()
    assert len(lines) == len(data.records) and set(json.loads(lines[0])) == {"prompt", "chosen", "rejected"}
    with path.open("a") as handle:
        handle.write(lines[0] + "\n")
    with pytest.warns(UserWarning, match="has changed"):
        read_dataset(path)


BAD_LINES = [
    ('{"prompt": "p", "chosen": "a"}', "line 2: missing 'rejected'"),
    ('{"prompt": "p", "chosen": "a", "rejected": ', "line 2: not valid JSON"),
    ('{"prompt": "p", "chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"}',
     "line 2: mixes plain strings and chat messages"),
    ('{"prompt": [{"role": "user", "content": "p"}], "chosen": [{"role": "user", "content": "a"}], '
     '"rejected": [{"role": "assistant", "content": "b"}]}', "line 2: 'chosen' messages must all be the assistant"),
    ('{"prompt": [{"role": "wizard", "content": "p"}], "chosen": [{"role": "assistant", "content": "a"}], '
     '"rejected": [{"role": "assistant", "content": "b"}]}', "line 2: 'prompt' message 0 must be"),
    ('[1, 2]', "line 2: expected a JSON object"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_import_names_the_bad_line(tmp_path, line, message):
    source = tmp_path / "external.jsonl"
    source.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n' + line + "\n")
    with pytest.raises(DatasetError, match=message):
        formats.import_dataset(source, tmp_path / "imported.jsonl")


def test_import_external_data(tmp_path):
    source = tmp_path / "external.jsonl"
    source.write_text('{"prompt": "p", "completion": "a", "label": true}\n\n'
                      '{"prompt": "q", "completion": "b", "label": false, "extra": 1}\n')
    imported = formats.import_dataset(source, tmp_path / "kto.jsonl", note="from a colleague")
    assert imported.kind == "kto" and len(imported.records) == 2
    meta = json.loads(formats.sidecar_path(tmp_path / "kto.jsonl").read_text())
    assert meta["label_source"] == "external" and meta["imported_from"] == str(source) and meta["note"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "completion": "a", "label": "yes"}\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl line 1: 'label' must be true or false"):
        read_dataset(bad)
    with pytest.raises(DatasetError, match="line 1: cannot tell the format"):
        bad.write_text('{"question": "p"}\n')
        read_dataset(bad)
    with pytest.raises(DatasetError, match="missing 'completion'"):
        write_dataset(tmp_path / "x.jsonl", Dataset("sft", [{"prompt": "p"}], {}))
