"""SB3 agents: training on train seeds only, the model cache, determinism, masks, checkpoints."""

from __future__ import annotations

import json
import logging
import threading

import gymnasium as gym
import numpy as np
import pytest

import agentgym
from agentgym.agents.base import EpisodeContext, Turn
from agentgym.agents.baselines import RandomAgent
from agentgym.agents.registry import load_agent_specs, make_agent
from agentgym.agents.sb3 import SB3Agent
from agentgym.core.errors import AgentGymError
from agentgym.core.paths import builtin_dir
from agentgym.testing import toy as toy_env
from agentgym.train.sb3 import TrainSplitSeeds, cache_config, make_train_env, train_sb3

torch = pytest.importorskip("torch")  # the sb3 extra is optional
pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

# Small rollouts so a few thousand steps make many updates on the 12-step corridor.
QUICK = {"total_timesteps": 3000, "seed": 0, "hyperparams": {"n_steps": 256, "batch_size": 64}}
TINY = {"total_timesteps": 256, "seed": 0, "hyperparams": {"n_steps": 128, "batch_size": 64}}


def sb3_agent(**kwargs) -> SB3Agent:
    return make_agent({"name": "ppo-test", "entry_point": "agentgym.agents.sb3:SB3Agent", "kwargs": kwargs})


def episode(env_id: str, seed: int, env: gym.Env) -> EpisodeContext:
    return EpisodeContext(key=f"{env_id}|{seed}", env_id=env_id, seed=seed, repeat=0,
                          card=agentgym.env_spec(env_id).card, action_space=env.action_space,
                          observation_space=env.observation_space, env=env)


def play(agent, env_id: str, split: str = "test") -> tuple[float, int]:
    """Runs every seed of ``split`` in lockstep; returns (success rate, invalid actions)."""
    live = []
    seeds = agentgym.env_spec(env_id).card.splits[split].seeds()
    for seed in seeds:
        env = agentgym.make(env_id)
        observation, info = env.reset(seed=seed)
        context = episode(env_id, seed, env)
        agent.reset(context)
        live.append((context, env, observation, info))
    successes = invalid = 0
    while live:
        decisions = agent.act([Turn(context, observation, info) for context, _, observation, info in live])
        still = []
        for (context, env, _, _), decision in zip(live, decisions):
            observation, _, terminated, truncated, info = env.step(decision.action)
            invalid += info["invalid_action"]
            if terminated or truncated:
                successes += env.unwrapped.outcome()[0]  # the true outcome, whatever the info carries
            else:
                still.append((context, env, observation, info))
        live = still
    return successes / len(seeds), invalid


@pytest.fixture(scope="module")
def corridor_ppo():
    """One PPO agent trained briefly on the corridor, shared by the tests that only use it."""
    env_id = toy_env.register()
    agent = sb3_agent(algo="PPO", train=QUICK)
    agent.model(env_id)
    return env_id, agent


def test_ppo_beats_random_on_test_seeds(corridor_ppo):
    env_id, agent = corridor_ppo
    success, _ = play(agent, env_id)
    random_success, _ = play(RandomAgent(seed=0), env_id)
    assert success >= 0.9
    assert success >= random_success + 0.4


def test_same_config_loads_from_cache(corridor_ppo, monkeypatch, caplog):
    env_id, first = corridor_ppo
    from stable_baselines3 import PPO

    def no_training(*args, **kwargs):
        raise AssertionError("a cached config must not train again")

    monkeypatch.setattr(PPO, "learn", no_training)
    second = sb3_agent(algo="PPO", train=QUICK)
    with caplog.at_level(logging.INFO, logger="agentgym.train.sb3"):
        second.model(env_id)
    assert second.sources[env_id] == "cache"
    assert second.model_paths[env_id] == first.model_paths[env_id]
    assert "loading cached model" in caplog.text
    record = json.loads((second.model_paths[env_id].parent / "config.json").read_text())
    assert record["key"] == second.model_paths[env_id].parent.name
    assert record["train"]["total_timesteps"] == 3000 and record["env_id"] == env_id
    assert {"algo", "policy", "env_version", "agentgym", "stable_baselines3"} <= set(record)


def test_cache_key_covers_the_config(corridor):
    base = cache_config(corridor, "PPO", "MlpPolicy", QUICK)
    assert base == cache_config(corridor, "PPO", "MlpPolicy", {**QUICK, "n_envs": 1, "reward": "env"})  # defaults
    assert base != cache_config(corridor, "PPO", "MlpPolicy", {**QUICK, "seed": 1})
    assert base != cache_config(corridor, "A2C", "MlpPolicy", QUICK)
    assert base != cache_config(corridor, "PPO", "MlpPolicy", {**QUICK, "hyperparams": {"n_steps": 128}})
    agent = sb3_agent(algo="PPO", train=QUICK, per_env={corridor: {"total_timesteps": 5000}})
    assert agent.train_config(corridor)["total_timesteps"] == 5000
    assert agent.train_config(corridor)["hyperparams"] == QUICK["hyperparams"]  # overrides merge, not replace
    assert agent.train_config("other/Env-v0")["total_timesteps"] == 3000


def test_same_seed_same_parameters(corridor, tmp_path, monkeypatch):
    def trained(folder: str, seed: int) -> dict[str, torch.Tensor]:
        monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / folder))  # a fresh cache: really train
        agent = sb3_agent(algo="PPO", train={**TINY, "seed": seed})
        agent.model(corridor)
        assert agent.sources[corridor] == "trained"
        return agent.models[corridor].policy.state_dict()

    first, again, other = trained("a", 0), trained("b", 0), trained("c", 1)
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_training_sees_train_seeds_only(corridor, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    seen: list[int] = []
    original = TrainSplitSeeds.reset

    def recording(self, **kwargs):
        result = original(self, **kwargs)
        seen.append(self.last_seed)
        return result

    monkeypatch.setattr(TrainSplitSeeds, "reset", recording)
    train_sb3(corridor, "PPO", "MlpPolicy", {**TINY, "n_envs": 2})
    train = set(agentgym.env_spec(corridor).card.splits["train"].seeds())
    assert len(seen) > 10 and set(seen) <= train


def test_train_split_wrapper(corridor):
    train = agentgym.env_spec(corridor).card.splits["train"].seeds()
    test = agentgym.env_spec(corridor).card.splits["test"].seeds()

    def draws(seed: int, reset_seed: int | None = None) -> list[int]:
        env = TrainSplitSeeds(agentgym.make(corridor), train, seed=seed)
        out = []
        for index in range(2 * len(train)):
            observation, _ = env.reset(seed=reset_seed if index == 0 else None)
            reference, _ = agentgym.make(corridor).reset(seed=env.last_seed)
            np.testing.assert_array_equal(observation, reference)  # the drawn seed is the episode's seed
            out.append(env.last_seed)
        return out

    first = draws(0)
    assert sorted(first[: len(train)]) == train and sorted(first[len(train):]) == train  # shuffled rounds
    assert draws(0) == first and draws(1) != first
    assert set(draws(0, reset_seed=test[0])) <= set(train)  # a caller's (test) seed is never used as such

    vec = make_train_env(corridor, {"n_envs": 2, "seed": 0})
    vec.seed(test[0])
    vec.reset()
    for _ in range(30):
        vec.step(np.ones(2, dtype=int))
        assert set(vec.get_attr("last_seed")) <= set(train)
    vec.close()


def test_maskable_ppo_never_picks_a_masked_action(corridor, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    # Barely trained and sampling: an unmasked policy would step "left" at cell 0 about a third of the time.
    agent = sb3_agent(algo="MaskablePPO", deterministic=False, train=TINY)
    env = agentgym.make(corridor)
    observation, info = env.reset(seed=100)
    context = episode(corridor, 100, env)
    agent.reset(context)
    actions = [d.action for d in agent.act([Turn(context, observation, info)] * 200)]
    assert 0 not in actions and set(actions) <= {1, 2}
    assert play(agent, corridor)[1] == 0

    unmasked = sb3_agent(algo="PPO", deterministic=False, train=TINY)  # still just predicts on a masked env
    unmasked.reset(context)
    assert 0 in [d.action for d in unmasked.act([Turn(context, observation, info)] * 200)]


def test_checkpoint_loads_and_missing_one_fails(corridor_ppo, tmp_path):
    env_id, trained = corridor_ppo
    path = tmp_path / "corridor-ppo.zip"
    trained.models[env_id].save(str(path))
    loaded = sb3_agent(algo="PPO", checkpoint=str(path))
    success, _ = play(loaded, env_id)
    assert loaded.sources[env_id] == "checkpoint" and success >= 0.9
    assert sb3_agent(algo="PPO", checkpoints={env_id: str(path)}).model(env_id) is not None

    env = agentgym.make(env_id)
    context = episode(env_id, 100, env)
    context.observation_space = gym.spaces.Box(0.0, 1.0, (3,))
    with pytest.raises(AgentGymError, match="expects observations"):  # a checkpoint made for another env
        loaded.reset(context)

    broken = tmp_path / "broken.zip"
    broken.write_text("not a model")
    with pytest.raises(AgentGymError, match=r"cannot load SB3 PPO checkpoint .*broken\.zip"):
        sb3_agent(algo="PPO", checkpoint=str(broken)).model(env_id)
    with pytest.raises(AgentGymError, match=r"checkpoint not found: .*nowhere\.zip"):
        sb3_agent(algo="PPO", checkpoint=str(tmp_path / "nowhere.zip"))
    with pytest.raises(AgentGymError, match=r"nowhere\.zip"):
        sb3_agent(algo="PPO", checkpoints={env_id: str(tmp_path / "nowhere.zip")})


def test_act_batches_per_env_and_keeps_order(corridor_ppo, tmp_path):
    env_id, trained = corridor_ppo
    other = toy_env.register("toy/CorridorB-v0")
    path = tmp_path / "model.zip"
    trained.models[env_id].save(str(path))
    agent = sb3_agent(algo="PPO", checkpoints={env_id: str(path), other: str(path)})
    turns = []
    for index, seed in enumerate(range(100, 106)):
        eid = env_id if index % 2 else other
        env = agentgym.make(eid)
        observation, info = env.reset(seed=seed)
        for _ in range(index % 3):  # different cells, so the expected actions differ
            observation, *_, info = env.step(1)
        context = episode(eid, seed, env)
        agent.reset(context)
        turns.append(Turn(context, observation, info))
    batched = [d.action for d in agent.act(turns)]
    single = [agent.act([turn])[0].action for turn in turns]
    assert batched == single and all(isinstance(a, int) for a in batched)


def test_clear_errors(corridor, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    env = agentgym.make(corridor)
    context = episode(corridor, 0, env)
    context.action_space = gym.spaces.Box(-1, 1, (2,))
    with pytest.raises(AgentGymError, match="Discrete"):
        sb3_agent(algo="DQN", train=TINY).reset(context)
    with pytest.raises(AgentGymError, match=f"cannot train on {corridor}"):  # SB3's own error, with context
        train_sb3(corridor, "PPO", "CnnPolicy", TINY)
    with pytest.raises(AgentGymError, match="unknown SB3 train keys"):
        sb3_agent(algo="PPO", train={"total_steps": 10})
    with pytest.raises(AgentGymError, match="unknown SB3 algo"):
        sb3_agent(algo="SAC")


def test_concurrent_agents_train_once(corridor, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    from stable_baselines3 import A2C

    calls = []
    original = A2C.learn

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(A2C, "learn", counting)
    agents = [sb3_agent(algo="A2C", train={"total_timesteps": 200, "seed": 0}) for _ in range(2)]
    threads = [threading.Thread(target=agent.model, args=(corridor,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(agent.sources[corridor] for agent in agents) == ["cache", "trained"]


def test_builtin_specs_build():
    names = {spec.name for spec in load_agent_specs(builtin_dir("agents"))}
    assert {"ppo", "a2c", "dqn", "maskable-ppo"} <= names
    for name in ("ppo", "a2c", "dqn", "maskable-ppo"):
        agent = make_agent(name)  # builds without training: models come per env, lazily
        assert isinstance(agent, SB3Agent) and agent.name == name and not agent.models
