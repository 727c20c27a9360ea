"""Episode records as the runner writes them, for the metrics tests (only the fields the metrics read matter)."""

from __future__ import annotations

FAST = {"n_resamples": 300}


def rec(agent, *, env="toy", reward="env", split="test", seed=0, repeat=0, success=True, steps=4, env_return=1.0,
        status="ok", progress=None, **extra):
    cell = f"{env}|{agent}|{reward}|{split}"
    record = {
        "key": f"{cell}/{seed}/{repeat}", "cell": cell, "env": env, "agent": agent, "reward": reward,
        "split": split, "seed": seed, "repeat": repeat, "status": status, "error": None, "success": success,
        "progress": (1.0 if success else 0.5) if progress is None else progress, "steps": steps,
        "env_return": env_return, "proxy_return": None if env_return is None else 2 * env_return,
        "reward_vector": {"task": env_return or 0.0},
        "invalid_actions": 0, "terminated": bool(success), "truncated": not success, "agent_info": {},
        "wall_seconds": 0.01,
    }
    record.update(extra)
    if status == "failed":  # a harness failure carries no outcome
        record.update(error="boom", success=None, progress=None, env_return=None, proxy_return=None)
    elif status == "agent_error":  # the runner keeps the return up to the failure, no outcome
        record.update(error="agent failed", success=None, progress=None)
    return record


def references_run(env="toy", split="test", seeds=3):
    """Random always scores 0 in 10 steps and fails; oracle scores 1 in 3 + seed steps and succeeds."""
    out = []
    for seed in range(seeds):
        out.append(rec("random", env=env, split=split, seed=seed, success=False, steps=10, env_return=0.0))
        out.append(rec("oracle", env=env, split=split, seed=seed, success=True, steps=3 + seed, env_return=1.0))
    return out


def cell_of(cells, cell):
    return next(c for c in cells if c["cell"] == cell)
