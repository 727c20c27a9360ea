"""Env steps per second through agentgym.make (reward vector on) versus raw gymnasium.make.

Both are measured side by side in one run, in alternating rounds, on the same action
sequence; the printed ratio is the median over rounds. Goal: ratio >= 0.9.

    python benchmarks/perf/env_steps.py [--steps 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np

import agentgym

PAIRS = (
    ("CartPole", lambda: agentgym.make("agentgym/CartPole-v0"), lambda **kw: gym.make("CartPole-v1", **kw)),
    ("FrozenLake 4x4", lambda: agentgym.make("agentgym/FrozenLake-v0"),
     lambda **kw: gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False, **kw)),
)


def steps_per_second(env: gym.Env, actions: np.ndarray) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    # gymnasium.make's default adds its passive env checker; "bare" turns it off, the
    # fairest comparison of our per-step overhead. agentgym.make runs its checks in check-env.
    print(f"{'env':<16}{'agentgym/s':>12}{'gymnasium/s':>13}{'bare/s':>10}{'ratio':>8}{'ratio bare':>12}")
    for name, make_ours, make_raw in PAIRS:
        envs = {"ours": make_ours(), "raw": make_raw(), "bare": make_raw(disable_env_checker=True)}
        actions = np.random.default_rng(0).integers(envs["ours"].action_space.n, size=args.steps)
        rates: dict[str, list[float]] = {key: [] for key in envs}
        for env in envs.values():
            steps_per_second(env, actions[:1000])  # warm-up
        for _ in range(args.rounds):
            for key, env in envs.items():
                rates[key].append(steps_per_second(env, actions))
        ratio = statistics.median(a / b for a, b in zip(rates["ours"], rates["raw"]))
        ratio_bare = statistics.median(a / b for a, b in zip(rates["ours"], rates["bare"]))
        medians = {key: statistics.median(values) for key, values in rates.items()}
        print(f"{name:<16}{medians['ours']:>12,.0f}{medians['raw']:>13,.0f}{medians['bare']:>10,.0f}"
              f"{ratio:>8.2f}{ratio_bare:>12.2f}")


if __name__ == "__main__":
    main()
