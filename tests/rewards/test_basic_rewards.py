"""The basic reward variants change only the scalar; the true outcome and env reward pass through."""

from __future__ import annotations

import numpy as np
import pytest

import agentgym
from agentgym.core.errors import UnknownNameError


def _rollout(env, actions, seed=100):
    env.reset(seed=seed)
    steps = []
    for action in actions:
        steps.append(env.step(action))
        if steps[-1][2] or steps[-1][3]:
            break
    return steps


def test_sparse_pays_only_success_at_the_end(corridor):
    steps = _rollout(agentgym.make(corridor, reward="sparse"), [1] * 10)
    rewards = [reward for _, reward, *_ in steps]
    assert rewards[:-1] == [0.0] * (len(rewards) - 1) and rewards[-1] == 1.0
    assert steps[-1][4]["success"] is True and steps[-1][4]["env_reward"] == 1.0


def test_weighted_matches_the_dot_product_and_exposes_the_vector(corridor):
    env = agentgym.make(corridor, reward="weighted", reward_kwargs={"weights": {"efficiency": 2.0, "validity": 0.5}})
    assert env.reward_dim == 3 and env.reward_space.shape == (3,)
    steps = _rollout(env, [0, 1, 1, 1, 1, 1, 1])  # the first action is masked: invalid
    for _, reward, _, _, info in steps:
        vector = info["vector_reward"]
        assert vector.dtype == np.float32 and env.reward_space.contains(vector)
        expected = sum(info["reward_vector"][name] * w for name, w in zip(env.aspect_names, info["reward_weights"]))
        assert reward == pytest.approx(expected)
    assert steps[0][1] == pytest.approx(-0.5)


def test_weighted_refuses_unknown_aspects(corridor):
    with pytest.raises(ValueError, match="unknown aspects"):
        agentgym.make(corridor, reward="weighted", reward_kwargs={"weights": {"speed": 1.0}})


def test_unknown_variant_says_did_you_mean(corridor):
    with pytest.raises(UnknownNameError, match="did you mean 'weighted'"):
        agentgym.make(corridor, reward="wieghted")
