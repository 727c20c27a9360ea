"""MaskablePPO on the easiest TextWorld id versus uniform random, scored on the test split.

Generates (or finds cached) the train and test games, trains MaskablePPO (sb3-contrib) with
``agentgym.train.sb3.train_sb3`` on the card's train seeds (vector view, action masks, the
hyperparameters of ``agents/maskable-ppo.yaml``), then plays every test game with the trained
policy, taking its most likely action (``deterministic``) or sampling it (``sampled``,
``--repeats`` episodes per game), with a uniform random policy over the admissible commands
(``--repeats`` episodes per game) and with the oracle, and prints success rates and mean lengths.

    python benchmarks/perf/textworld_maskableppo.py [--env agentgym/TextWorld-Easy-v0] [--steps 50000]
        [--train-count 50]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import agentgym
from agentgym.envs.textworld.generate import pregenerate
from agentgym.train.sb3 import train_sb3

ENV_ID = "agentgym/TextWorld-Easy-v0"
HYPERPARAMS = {"n_steps": 256, "batch_size": 64, "n_epochs": 10, "learning_rate": 0.0003, "gamma": 0.99,
               "ent_coef": 0.01}  # as agents/maskable-ppo.yaml


def play(env_id: str, seeds: list[int], choose, repeats: int = 1) -> dict[str, float]:
    """Success rate and mean length of ``choose(env, rng) -> action index`` over the seeds."""
    env = agentgym.make(env_id, view="vector")
    wins, lengths = [], []
    for repeat in range(repeats):
        rng = np.random.default_rng(repeat)
        for seed in seeds:
            observation, info = env.reset(seed=seed)
            steps, done = 0, False
            while not done:
                observation, _, terminated, truncated, info = env.step(choose(env, observation, rng))
                steps, done = steps + 1, terminated or truncated
            wins.append(bool(info["success"]))
            lengths.append(steps)
    env.close()
    return {"success": float(np.mean(wins)), "length": float(np.mean(lengths)), "episodes": len(wins)}


def random_choice(env, observation, rng) -> int:
    return int(rng.choice(np.flatnonzero(env.get_wrapper_attr("action_masks")())))


def with_train_count(env_id: str, count: int) -> str:
    """Register a copy of ``env_id`` whose train split keeps its first ``count`` seeds; returns its id."""
    spec = agentgym.env_spec(env_id)
    splits = {**spec.card.splits, "train": spec.card.splits["train"].model_copy(update={"count": count})}
    new_id = env_id.replace("agentgym/", "bench/").replace("-v", f"-Train{count}-v")
    agentgym.register_env(new_id, spec.entry_point, spec.card.model_copy(update={"splits": splits}),
                          kwargs=spec.kwargs, max_episode_steps=spec.max_episode_steps)
    return new_id


def run(env_id: str = ENV_ID, steps: int = 30000, seed: int = 0, repeats: int = 5,
        reward: str = "weighted", train_count: int | None = None) -> dict[str, Any]:
    """Train and score; ``train_count`` trains on the first seeds of the train split only."""
    if train_count is not None:
        env_id = with_train_count(env_id, train_count)
    spec = agentgym.env_spec(env_id)
    start = time.perf_counter()
    pregenerate(env_id, "train")
    pregenerate(env_id, "test")
    generated = time.perf_counter() - start
    config = {"total_timesteps": steps, "seed": seed, "n_envs": 4, "reward": reward, "hyperparams": HYPERPARAMS}
    start = time.perf_counter()
    model, _ = train_sb3(env_id, "MaskablePPO", "MlpPolicy", config)
    trained = time.perf_counter() - start

    def policy(deterministic: bool):
        def choose(env, observation, rng) -> int:
            masks = env.get_wrapper_attr("action_masks")()
            action, _ = model.predict(observation, action_masks=masks, deterministic=deterministic)
            return int(action)

        return choose

    model.set_random_seed(seed)  # the sampled policy's draws
    test = spec.card.splits["test"].seeds()
    return {"env": env_id, "steps": steps, "reward": reward, "generation_s": round(generated, 1),
            "training_s": round(trained, 1), "deterministic": play(env_id, test, policy(True)),
            "sampled": play(env_id, test, policy(False), repeats=repeats),
            "random": play(env_id, test, random_choice, repeats=repeats),
            "oracle": play(env_id, test, lambda env, o, r: int(env.get_wrapper_attr("oracle")()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=ENV_ID)
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reward", default="weighted")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-count", type=int, default=None, help="train on the first N train seeds only")
    args = parser.parse_args()
    result = run(args.env, args.steps, args.seed, args.repeats, args.reward, args.train_count)
    print(f"{result['env']}: MaskablePPO {result['steps']} steps ({result['reward']} reward), "
          f"games ready in {result['generation_s']} s, trained in {result['training_s']} s")
    for name in ("deterministic", "sampled", "random", "oracle"):
        scores = result[name]
        print(f"  {name:<13} test success {scores['success']:.2f}, mean length {scores['length']:.1f} "
              f"({scores['episodes']} episodes)")


if __name__ == "__main__":
    main()
