"""LLM agent steps per second with the default model: plain, batching, prefix reuse, both.

The same lockstep episodes (FrozenLake text view, slippery, 4x4 and 8x8 maps, different seeds)
are played by four ``llm-generate`` agents (or ``--mode score``), one per setting of the
transformers backend's levers, in lockstep: every step, each agent acts on the same turns (in
rotating order, so load from other processes hits all four alike), and their greedy actions
must be identical.
Also prints the default model's load time cold (GGUF conversion, in a fresh cache) and cached.

    python benchmarks/perf/llm_steps.py [--episodes 8] [--steps 6] [--mode generate] [--threads 0] [--skip-cold]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

import agentgym
from agentgym.agents.base import EpisodeContext, Turn
from agentgym.agents.llm import LLMAgent
from agentgym.agents.llm.transformers_backend import TransformersBackend

ENVS = ("agentgym/FrozenLakeSlippery-v0", "agentgym/FrozenLake8x8Slippery-v0")
LEVERS = {"plain": (False, False), "batch": (True, False), "prefix": (False, True), "both": (True, True)}
LOAD_SNIPPET = """
import time; t = time.perf_counter()
from agentgym.agents.llm.transformers_backend import TransformersBackend
TransformersBackend("default")
print(time.perf_counter() - t)
"""


def play(agents: dict[str, LLMAgent], episodes: int, steps: int):
    """Lockstep episodes played by all agents at once: at every step each agent acts on the same
    turns (in rotating order, so bursts of load from other processes hit all of them alike) and
    their actions must agree. Returns per agent: agent steps, wall and CPU seconds in act; and
    the first disagreement, if any."""
    envs, contexts, current = [], [], []
    for index in range(episodes):
        env_id = ENVS[index % len(ENVS)]
        env = agentgym.make(env_id, view="text")
        observation, info = env.reset(seed=index)
        context = EpisodeContext(key=f"bench-{index}", env_id=env_id, seed=index, repeat=0, card=env.unwrapped.card,
                                 action_space=env.action_space, observation_space=env.observation_space, env=env)
        for agent in agents.values():
            agent.reset(context)
        envs.append(env)
        contexts.append(context)
        current.append((observation, info))
    totals = {label: [0, 0.0, 0.0] for label in agents}
    labels = list(agents)
    live = list(range(episodes))
    for step in range(steps):
        if not live:
            break
        turns = [Turn(contexts[i], *current[i]) for i in live]
        actions = {}
        for label in labels[step % len(labels):] + labels[: step % len(labels)]:
            started, started_cpu = time.perf_counter(), time.process_time()
            actions[label] = [decision.action for decision in agents[label].act(turns)]
            totals[label][1] += time.perf_counter() - started
            totals[label][2] += time.process_time() - started_cpu
            totals[label][0] += len(turns)
        reference = actions[labels[0]]
        if any(value != reference for value in actions.values()):
            return totals, f"step {step}: {actions}"
        still = []
        for i, action in zip(live, reference):
            observation, _, terminated, truncated, info = envs[i].step(action)
            current[i] = (observation, info)
            if not (terminated or truncated):
                still.append(i)
        live = still
    return totals, None


def load_seconds(cache: str) -> float:
    """Backend construction time for the default model in a fresh process with cache ``cache``."""
    env = {**os.environ, "AGENTGYM_CACHE": cache}
    out = subprocess.run([sys.executable, "-c", LOAD_SNIPPET], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--mode", choices=("generate", "score"), default="generate")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 is steadier "
                        "when other processes take a core")
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold (GGUF conversion) load timing")
    args = parser.parse_args()

    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as cache:
            cold = load_seconds(cache)
            cached = load_seconds(cache)
        print(f"default model load: cold (GGUF conversion) {cold:.1f} s, cached {cached:.1f} s")

    if args.threads:
        torch.set_num_threads(args.threads)
    shared = TransformersBackend("default")
    shared.generate([[{"role": "user", "content": "warm up"}]], max_new_tokens=2)
    print(f"{args.episodes} episodes x {args.steps} steps, mode {args.mode}, torch threads "
          f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} (timings are noisy on shared cores)")
    agents = {}
    for label, (batch, prefix_cache) in LEVERS.items():
        backend = TransformersBackend(shared.model, tokenizer=shared.tokenizer, batch=batch, prefix_cache=prefix_cache)
        agents[label] = LLMAgent(backend, mode=args.mode, max_new_tokens=args.max_new_tokens, history=4, retries=1)
    totals, disagreement = play(agents, args.episodes, args.steps)
    print(f"{'levers':<8}{'agent steps':>12}{'wall s':>9}{'CPU s':>8}{'steps/s':>9}{'speed-up':>10}")
    plain_rate = totals["plain"][0] / totals["plain"][1]
    for label, (taken, spent, cpu) in totals.items():
        rate = taken / spent
        print(f"{label:<8}{taken:>12}{spent:>9.1f}{cpu:>8.1f}{rate:>9.2f}{rate / plain_rate:>9.2f}x")
    print("greedy actions identical across the four:", disagreement is None)
    if disagreement is not None:
        print("  first disagreement:", disagreement)
        sys.exit(1)


if __name__ == "__main__":
    main()
