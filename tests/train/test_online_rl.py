"""The online objective reaches the known optimum: a 4-armed Bernoulli bandit and the toy corridor (a chain)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from agentgym.core.errors import AgentGymError  # noqa: E402
from agentgym.envs.base import AgentGymEnv  # noqa: E402
from agentgym.envs.card import EnvCard  # noqa: E402
from agentgym.envs.registration import register_env  # noqa: E402
from agentgym.testing import toy  # noqa: E402
from agentgym.train.online import evaluate_greedy, train_policy_gradient  # noqa: E402

ARMS = (0.2, 0.5, 0.8, 0.4)  # success probability of each arm; arm 2 is optimal
BANDIT_CARD = EnvCard(
    family="toy", description="Pull one of four arms once.",
    aspects={"task": {"meaning": "1 when the arm pays", "low": 0, "high": 1}},
    oracle="exact", splits={"train": {"start": 0, "count": 50}, "test": {"start": 1000, "count": 50}})


class BanditEnv(AgentGymEnv):
    aspects = ("task",)

    def __init__(self, view: str = "vector", render_mode=None):
        super().__init__(view=view, n_actions=len(ARMS), render_mode=render_mode,
                         vector_observation_space=gym.spaces.Box(0.0, 1.0, (1,), np.float32))
        self.paid = False

    def _reset_state(self, seed, options):
        self.paid = False

    def _apply(self, action):
        self.paid = bool(self.np_random.random() < ARMS[action])
        return float(self.paid), {"task": float(self.paid)}, True

    def vector_observation(self):
        return np.zeros(1, dtype=np.float32)

    def text_observation(self):
        return "Four arms."

    def action_labels(self):
        return [f"arm {i}" for i in range(len(ARMS))]

    def outcome(self):
        return self.paid, float(self.paid)

    def oracle_action(self):
        return int(np.argmax(ARMS))


@pytest.fixture(scope="module")
def bandit():
    register_env(id="test/Bandit-v0", entry_point=f"{__name__}:BanditEnv", card=BANDIT_CARD, max_episode_steps=1)
    return "test/Bandit-v0"


@pytest.mark.parametrize("loss", ["grpo", "reinforce"])
def test_bandit_reaches_the_best_arm(bandit, loss):
    result = train_policy_gradient(bandit, loss=loss, iterations=60, groups=4, group_size=8, learning_rate=0.2,
                                   seed=1)
    probabilities = result.policy.probabilities(np.zeros(1, dtype=np.float32))
    assert int(np.argmax(probabilities)) == 2
    assert probabilities[2] > 0.9, probabilities
    early = np.mean([entry["return"] for entry in result.curve[:10]])
    late = np.mean([entry["return"] for entry in result.curve[-10:]])
    assert late > early


def test_chain_reaches_the_oracle_return_on_held_out_seeds(corridor):
    """Corridor: the weighted reward (task + efficiency) is highest when walking right every step."""
    result = train_policy_gradient(corridor, reward="weighted", iterations=40, groups=4, group_size=8,
                                   learning_rate=0.3, seed=0)
    test_seeds = toy.CARD.splits["test"].seeds()
    trained = evaluate_greedy(result.policy, corridor, test_seeds, reward="weighted")
    oracle_policy = type(result.policy)(3)
    for row in range(oracle_policy.logits.shape[0]):
        oracle_policy.logits.data[row, 1] = 10.0  # always "right": the corridor's oracle
    oracle = evaluate_greedy(oracle_policy, corridor, test_seeds, reward="weighted")
    assert all(episode.info["success"] for episode in trained)
    assert [e.proxy_return for e in trained] == pytest.approx([e.proxy_return for e in oracle])
    assert result.curve[-1]["success_rate"] >= result.curve[0]["success_rate"]


def test_online_trainer_refuses_an_offline_loss(corridor):
    with pytest.raises(AgentGymError, match="not on rollouts"):
        train_policy_gradient(corridor, loss="dpo", iterations=1)
