"""The on-disk LLM response cache: a repeated run asks the model nothing and acts the same."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentgym.agents.llm import Completion
from agentgym.agents.llm.backend import Scores
from agentgym.agents.llm.response_cache import CachingBackend, ResponseCache
from agentgym.core.errors import AgentGymError


class CountingBackend:
    """Answers with the chat's last message reversed; scores by candidate length; counts calls."""

    name = "counting"
    supports_score = True

    def __init__(self):
        self.generated = self.scored = 0

    def generate(self, chats, *, max_new_tokens, temperature=0.0, seeds=None, stop=None):
        self.generated += len(chats)
        return [Completion(chat[-1]["content"][::-1][:max_new_tokens] + (f"#{seed}" if temperature else ""),
                           len(chat), 3, 0.5, cost_usd=0.01, cached_tokens=1)
                for chat, seed in zip(chats, seeds or [0] * len(chats))]

    def score(self, chats, candidates):
        self.scored += len(chats)
        return [Scores([-float(len(c)) for c in options], [1] * len(options), prompt_tokens=7, latency_s=0.2,
                       cost_usd=0.02) for options in candidates]

    def close(self):
        pass


def chat(text):
    return [{"role": "user", "content": text}]


def test_hits_replay_the_answer_at_no_cost_and_misses_batch_to_the_backend(tmp_path):
    counting = CountingBackend()
    cached = CachingBackend(lambda: counting, {"model": "m"}, ResponseCache(tmp_path / "r.sqlite"))
    first = cached.generate([chat("abc"), chat("xyz")], max_new_tokens=5)
    again = cached.generate([chat("xyz"), chat("new"), chat("abc")], max_new_tokens=5)
    assert counting.generated == 3  # only "new" went to the model the second time
    assert [c.text for c in again] == ["zyx", "wen", "cba"] and [c.text for c in first] == ["cba", "zyx"]
    assert [c.from_cache for c in again] == [True, False, True]
    hit = again[0]
    assert (hit.latency_s, hit.cost_usd, hit.prompt_tokens, hit.completion_tokens) == (0.0, 0.0, 1, 3)
    cached.generate([chat("abc")], max_new_tokens=6)  # other decoding parameters: another key
    cached.generate([chat("abc")], max_new_tokens=5, stop=["\n"])
    assert counting.generated == 5 and (cached.hits, cached.misses) == (2, 5)


def test_sampled_answers_are_keyed_by_seed_and_scores_are_cached_too(tmp_path):
    counting = CountingBackend()
    cached = CachingBackend(lambda: counting, {"model": "m"}, ResponseCache(tmp_path / "r.sqlite"))
    a = cached.generate([chat("ab"), chat("ab")], max_new_tokens=4, temperature=0.7, seeds=[1, 2])
    b = cached.generate([chat("ab")], max_new_tokens=4, temperature=0.7, seeds=[2])
    assert [c.text for c in a] == ["ba#1", "ba#2"] and b[0].text == "ba#2" and b[0].from_cache
    greedy = cached.generate([chat("ab")], max_new_tokens=4, seeds=[9])
    assert cached.generate([chat("ab")], max_new_tokens=4, seeds=[3])[0].text == greedy[0].text  # greedy: no seed
    assert counting.generated == 3
    scores = cached.score([chat("q")], [["Action: a", "Action: bb"]])
    replay = cached.score([chat("q")], [["Action: a", "Action: bb"]])
    other = cached.score([chat("q")], [["Action: a"]])
    assert counting.scored == 2 and replay[0].logprobs == scores[0].logprobs and replay[0].from_cache
    assert not other[0].from_cache


def test_a_fully_cached_run_builds_no_backend_and_survives_a_new_process(tmp_path):
    path = tmp_path / "r.sqlite"
    CachingBackend(CountingBackend, {"model": "m"}, ResponseCache(path)).generate([chat("hi")], max_new_tokens=3)

    def refuse():
        raise AssertionError("the model was loaded although every answer was cached")

    replay = CachingBackend(refuse, {"model": "m"}, ResponseCache(path))
    assert replay.generate([chat("hi")], max_new_tokens=3)[0].text == "ih"
    other_model = CachingBackend(refuse, {"model": "n"}, ResponseCache(path))
    with pytest.raises(AssertionError, match="model was loaded"):
        other_model.generate([chat("hi")], max_new_tokens=3)


def test_a_broken_cache_file_is_a_clear_error(tmp_path):
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(AgentGymError, match="cannot be used"):
        CachingBackend(CountingBackend, {"model": "m"}, ResponseCache(path)).generate([chat("x")], max_new_tokens=2)
