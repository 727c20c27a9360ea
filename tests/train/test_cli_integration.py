"""The issue-11 commands end to end: `agentgym data`, `agentgym finetune`, and an LLM agent playing the adapter."""

import pytest

torch = pytest.importorskip("torch")


def test_agent_prompt_is_what_the_agent_uses(corridor):
    from test_datasets import play_llm_agent

    from agentgym.agents.llm.prompts import AgentPrompt
    from agentgym.train import datasets

    seen = play_llm_agent(corridor, [0, 1, 2], 2)
    data = datasets.sft_dataset(corridor, AgentPrompt(history=2), seeds=[0, 1, 2])
    assert [r["prompt"] for r in data.records] == seen


def test_cli_data_finetune_and_adapter_agent(tmp_path, corridor, capsys):
    from agentgym.agents.llm import LLMAgent
    from agentgym.cli.main import main
    from agentgym.testing.random_model import random_llama

    model, tokenizer = random_llama(0, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                                    tie_word_embeddings=False)
    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    assert main(["data", "prefs", corridor, "--out", str(tmp_path / "p.jsonl"), "--episodes", "6", "--history", "0",
                 "--pairs-per-state", "0", "--flip", "0.0"]) == 0
    assert main(["data", "sft", corridor, "--out", str(tmp_path / "s.jsonl"), "--episodes", "2",
                 "--states-from", "random-text", "--max-steps", "4"]) == 0
    assert main(["data", "import", str(tmp_path / "p.jsonl"), "--out", str(tmp_path / "i.jsonl")]) == 0
    assert main(["finetune", str(tmp_path / "p.jsonl"), "--loss", "dpo", "--loss-kwargs", '{"beta": 0.5}',
                 "--model", str(tmp_path / "base"), "--lr", "0.02", "--epochs", "3", "--lora-r", "8",
                 "--eval-fraction", "0.2", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "play it with" in out and (tmp_path / "run" / "adapter").is_dir()
    assert main(["finetune", corridor, "--loss", "kto", "--episodes", "2", "--model", str(tmp_path / "base"),
                 "--out", str(tmp_path / "run-kto")]) == 0
    assert (tmp_path / "run-kto" / "data.jsonl").is_file()
    agent = LLMAgent(model=str(tmp_path / "base"), mode="score", history=0, adapter=str(tmp_path / "run"))
    plain = LLMAgent(model=str(tmp_path / "base"), mode="score", history=0)
    import agentgym
    from agentgym.agents.base import EpisodeContext
    from agentgym.rollout import Job, run_lockstep

    def rate(agent):
        done = []

        def start(job):
            env = agentgym.make(corridor, view="text")
            return env, EpisodeContext(key=job.key, env_id=corridor, seed=job.seed, repeat=0, card=env.unwrapped.card,
                                       action_space=env.action_space, observation_space=env.observation_space,
                                       env=env)

        run_lockstep([Job(str(s), s, 0) for s in (100, 101, 102)], agent, start, done.append)
        return sum(bool(e.info.get("success")) for e in done) / 3

    assert rate(agent) == 1.0 and rate(plain) < 1.0
    assert "+" in agent.backend.model_name
