"""The one rollout loop: lockstep batches, failures contained per episode and told apart, traces hashed."""

from __future__ import annotations

import gymnasium as gym

from agentgym.agents.base import Decision, EpisodeContext
from agentgym.make import make
from agentgym.rollout import FunctionAgent, Job, run_lockstep

LAKE = "agentgym/FrozenLake-v0"


def _start(env_id=LAKE, **kwargs):
    def start(job: Job) -> tuple[gym.Env, EpisodeContext]:
        env = make(env_id, view="vector", **kwargs)
        return env, EpisodeContext(key=job.key, env_id=env_id, seed=job.seed, repeat=job.repeat, card=None,
                                   action_space=env.action_space, observation_space=env.observation_space, env=env)
    return start


def _oracle(turn):
    return turn.episode.env.get_wrapper_attr("oracle")()


def test_batches_call_act_once_per_step_for_all_live_episodes():
    calls = []

    def decide_batch(turns):
        calls.append(len(turns))
        return [_oracle(turn) for turn in turns]

    done = []
    run_lockstep([Job(str(s), s, 0) for s in range(5)], FunctionAgent(decide_batch=decide_batch), _start(), done.append,
                 batch_size=5)
    assert [e.status for e in done] == ["ok"] * 5 and all(e.info["success"] for e in done)
    assert calls == [5] * done[0].steps  # one act per step, every episode in it


def test_an_agent_error_and_an_env_error_end_only_their_episode_and_are_told_apart():
    def decide(turn):
        if turn.episode.seed == 1:
            raise RuntimeError("the agent broke")
        return _oracle(turn)

    done = {}
    jobs = [Job(str(s), s, 0) for s in range(3)]
    run_lockstep(jobs, FunctionAgent(decide), _start(), lambda e: done.__setitem__(e.job.seed, e))
    assert done[0].status == done[2].status == "ok" and done[1].status == "agent_error"
    assert "the agent broke" in done[1].error

    def broken_start(job):
        if job.seed == 2:
            raise OSError("no env today")
        return _start()(job)

    done.clear()
    run_lockstep(jobs, FunctionAgent(_oracle), broken_start, lambda e: done.__setitem__(e.job.seed, e))
    assert done[2].status == "failed" and "no env today" in done[2].error and done[0].status == "ok"


def test_max_steps_cuts_an_episode_and_traces_hash_what_happened():
    done = []
    run_lockstep([Job("a", 0, 0)], FunctionAgent(lambda turn: 0), _start(), done.append, max_steps=3)
    (episode,) = done
    assert episode.cut and episode.steps == 3 and not (episode.terminated or episode.truncated)
    again = []
    run_lockstep([Job("b", 0, 0)], FunctionAgent(lambda turn: 0), _start(), again.append, max_steps=3)
    other = []
    run_lockstep([Job("c", 0, 0)], FunctionAgent(lambda turn: 1), _start(), other.append, max_steps=3)
    assert episode.trace_hash == again[0].trace_hash != other[0].trace_hash


def test_numeric_agent_info_is_summed():
    class Counting(FunctionAgent):
        def act(self, turns):
            return [Decision(_oracle(turn), {"tokens": 2, "note": "x", "flag": True}) for turn in turns]

    done = []
    run_lockstep([Job("a", 0, 0)], Counting(_oracle), _start(), done.append)
    assert done[0].agent_info == {"tokens": 2.0 * done[0].steps}
