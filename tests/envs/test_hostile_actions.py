"""Issue 18, point 5: no text an agent sends can crash a text view; garbage is an invalid action.

Before the fix a 4,301-digit string hit Python's int-conversion limit (ValueError) in the label
matcher, so an agent could end a losing episode as "failed" instead of lost.
"""

from __future__ import annotations

import pytest

import agentgym

HOSTILE = [
    "9" * 5000,                       # int() of more than 4,300 digits raises ValueError
    "9" * 4301,
    "0" * 4000 + "9" * 4301,
    "-" + "9" * 5000,
    "disk " + "9" * 5000 + " from a to b",
    "column " + "9" * 5000,
    "submit(answer=" + "9" * 5000 + ")",
    '{"tool": "submit", "args": {"answer": ' + "9" * 5000 + "}}",
    '{"tool": "submit", "args": {"answer": 1e999}}',
    "²", "١٢", "𝟗", "Ⅻ", "🙂", "\u202e1", "\ud800", "\x00", "\x1b[2J", "\\x", "\\save",  # noqa: RUF001 - on purpose
    "", " ", "\n\n", "\t",
    "-1", "-0", "+1", "1e309", "nan", "inf", "0x10", "1_000", "1.5", "None",
    "x" * 100_000,                    # longer than the text action space
    "look " * 5000,
    "((((" * 2000, "[" * 50_000, "{" * 50_000,
    "save", "restore", "script", "quit", "restart", "undo",
]


def _seed(env_id: str) -> int:
    return agentgym.env_spec(env_id).card.splits["test"].seeds()[0]


@pytest.mark.parametrize("env_id", agentgym.env_ids())
def test_hostile_text_is_an_invalid_action_never_an_exception(env_id):
    env = agentgym.make(env_id, view="text")
    # where any text is an answer that the env's verifier scores (reasoning-gym's free-answer tasks), hostile
    # text is a wrong answer, not an invalid action: there it must only never raise
    free = getattr(env.unwrapped, "free_text_answers", False)
    try:
        env.reset(seed=_seed(env_id))
        for text in HOSTILE:
            observation, reward, terminated, truncated, info = env.step(text)  # must not raise
            if free and not info["invalid_action"]:
                assert isinstance(reward, float) and isinstance(observation, str)
                if terminated or truncated:
                    env.reset(seed=_seed(env_id))
                continue
            assert info["invalid_action"] is True, f"{env_id}: {text[:40]!r} was played"
            if "validity" in info["reward_vector"]:
                assert info["reward_vector"]["validity"] < 0, f"{env_id}: {text[:40]!r} not penalised"
            assert isinstance(observation, str) and env.observation_space.contains(observation)
            if terminated or truncated:  # a board game lost by an illegal move, or the step limit
                env.reset(seed=_seed(env_id))
        for value in (None, 3.5, b"1", ["1"], {"a": 1}, float("nan"), 10**5000):  # not even text
            _, _, terminated, truncated, info = env.step(value)
            assert info["invalid_action"] is True, f"{env_id}: {type(value).__name__} was played"
            if terminated or truncated:
                env.reset(seed=_seed(env_id))
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ["agentgym/FrozenLake-v0", "agentgym/Hanoi3-v0", "agentgym/ConnectFour-v0"])
def test_hostile_values_are_invalid_in_the_vector_view_too(env_id):
    env = agentgym.make(env_id, view="vector")
    try:
        env.reset(seed=_seed(env_id))
        for value in ("9" * 5000, "²", 10**5000, float("inf"), float("nan"), -1, None, "x"):
            _, _, terminated, truncated, info = env.step(value)
            assert info["invalid_action"] is True
            if terminated or truncated:
                env.reset(seed=_seed(env_id))
    finally:
        env.close()
