"""The LLM fine-tuning loop on a tiny random Llama (byte tokenizer, no download): shared-prefix log-probs,
learning, every dataset loss, the cached reference, checkpoints and resume, full fine-tuning, the curve."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from agentgym.core.errors import AgentGymError  # noqa: E402
from agentgym.testing.random_model import random_llama  # noqa: E402
from agentgym.train import llm  # noqa: E402
from agentgym.train.formats import Dataset  # noqa: E402
from agentgym.train.logprobs import completion_logps, encode, sequence_logps  # noqa: E402
from agentgym.train.losses import LOSSES, loss_spec  # noqa: E402

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=1024, tie_word_embeddings=False)


def tiny(seed: int = 0):
    return random_llama(seed, **TINY)


def chat(text: str):
    return [{"role": "system", "content": "Pick a move."}, {"role": "user", "content": text}]


def answer(action: str):
    return [{"role": "assistant", "content": f"Action: {action}"}]


def toy_prefs(n: int = 16) -> Dataset:
    """The goal is always to the right; prompts differ in the cell, the wrong move alternates."""
    records = [{"prompt": chat(f"You are at cell {i}. Valid actions: left, right, wait"), "chosen": answer("right"),
                "rejected": answer("left" if i % 2 else "wait")} for i in range(n)]
    return Dataset("prefs", records, {"env_id": "toy", "label_source": "outcome"})


def test_shared_prefix_logps_equal_full_sequence_logps():
    model, tokenizer = tiny()
    model = model.double()
    examples = [encode(tokenizer, chat("short"), [answer("right"), answer("a much longer wait")]),
                encode(tokenizer, chat("a rather longer prompt " * 3), [answer("left"), answer("up")]),
                encode(tokenizer, "plain text prompt", ["yes", "no"]),
                encode(tokenizer, chat("one"), [answer("x")])]
    prompts, completions = [e.prompt for e in examples], [e.completions for e in examples]
    assert all(c[-1] == tokenizer.eos_token_id for e in examples[2:3] for c in e.completions)
    shared = completion_logps(model, prompts, completions, tokenizer.pad_token_id)
    plain = sequence_logps(model, prompts, completions)
    assert shared.lengths.tolist() == plain.lengths.tolist()
    assert torch.allclose(shared.logps, plain.logps, atol=1e-5, rtol=0), (shared.logps - plain.logps).abs().max()
    # gradients through the shared prompt pass (LoRA adapters with non-zero init) equal the plain ones
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                  init_lora_weights=False))
    grads = []
    for scorer in (lambda: completion_logps(peft_model, prompts, completions, tokenizer.pad_token_id),
                   lambda: sequence_logps(peft_model, prompts, completions)):
        peft_model.zero_grad()
        scored = scorer()
        (scored.logps * torch.linspace(-1, 1, len(scored.logps), dtype=scored.logps.dtype)).sum().backward()
        grads.append({name: p.grad.clone() for name, p in peft_model.named_parameters() if p.requires_grad})
    # (peft keeps the adapters in float32, so the gradients agree to float32 precision)
    largest = max(float(grads[1][name].abs().max()) for name in grads[1])
    assert max(float((grads[0][name] - grads[1][name]).abs().max()) for name in grads[0]) < 1e-5 * largest
    # float32, as training runs: the sums of ~15 log-probabilities near -6 each agree to float32 rounding
    model32, _ = tiny()
    shared32 = completion_logps(model32, prompts, completions, tokenizer.pad_token_id).logps.detach()
    plain32 = sequence_logps(model32, prompts, completions).logps.detach()
    assert torch.allclose(shared32, plain32, atol=1e-4, rtol=0)


def test_dpo_loss_decreases_and_the_curve_is_written(tmp_path):
    model, tokenizer = tiny()
    config = llm.FinetuneConfig(loss="dpo", loss_kwargs={"beta": 0.5}, lora_r=8, learning_rate=2e-2, epochs=4,
                                batch_size=4, eval_fraction=0.25, eval_every=3, save_every=100)
    calls = []
    result = llm.finetune(model, tokenizer, toy_prefs(), tmp_path / "run", config,
                          evaluate=lambda m, step: calls.append(step) or {"success_rate": 0.5})
    train = result.curve["train"]
    assert len(train) == 4 * 3  # 12 training pairs in batches of 4
    assert train[0]["loss"] == pytest.approx(0.6931472, abs=1e-5)  # LoRA starts at the reference: log 2
    assert sum(row["loss"] for row in train[-3:]) / 3 < 0.5 * train[0]["loss"]
    evaluation = result.curve["eval"]
    assert [row["step"] for row in evaluation] == [0, 3, 6, 9, 12] == calls
    assert evaluation[-1]["accuracy"] == 1.0 and evaluation[-1]["margins"] > evaluation[0]["margins"]
    assert evaluation[-1]["success_rate"] == 0.5
    on_disk = json.loads((tmp_path / "run" / "curve.json").read_text())
    assert on_disk == json.loads(json.dumps(result.curve))
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "run" / "adapter" / "tokenizer_config.json").is_file()
    config_file = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config_file["config"]["loss"] == "dpo" and config_file["data"]["label_source"] == "outcome"


DATASET_LOSSES = sorted(name for name in LOSSES.names() if loss_spec(name).data != "online")


@pytest.mark.parametrize("loss", DATASET_LOSSES)
def test_every_dataset_loss_trains(tmp_path, loss):
    model, tokenizer = tiny()
    data = toy_prefs(8)
    if loss_spec(loss).data == "kto":
        data = Dataset("kto", [{"prompt": r["prompt"], "completion": r[key], "label": key == "chosen"}
                               for r in data.records for key in ("chosen", "rejected")], {})
    config = llm.FinetuneConfig(loss=loss, lora_r=4, learning_rate=1e-2, batch_size=4, epochs=2, eval_fraction=0)
    result = llm.finetune(model, tokenizer, data, tmp_path, config)
    losses = [row["loss"] for row in result.curve["train"]]
    assert len(losses) >= 4 and all(value == value for value in losses)  # finite, not NaN
    if loss in ("dpo", "sft", "simpo", "orpo", "ipo", "kto"):
        assert losses[-1] < losses[0]
    assert (tmp_path / "reference_logps.pt").is_file() == loss_spec(loss).reference


def test_kill_and_resume_gives_the_uninterrupted_run(tmp_path, monkeypatch):
    config = llm.FinetuneConfig(loss="dpo", lora_r=4, learning_rate=1e-2, batch_size=4, epochs=2, eval_fraction=0.25,
                                eval_every=2, save_every=1)
    straight = llm.finetune(*tiny(), toy_prefs(), tmp_path / "straight", config)

    llm.finetune(*tiny(), toy_prefs(), tmp_path / "killed", config, stop_after=2)
    assert not (tmp_path / "killed" / "adapter").exists()
    scored = []
    original = llm.score_examples
    monkeypatch.setattr(llm, "score_examples", lambda *a, **k: scored.append(1) or original(*a, **k))
    resumed = llm.finetune(*tiny(), toy_prefs(), tmp_path / "killed", config)
    assert not scored  # the reference log-probabilities came from the run folder's cache
    assert [r["loss"] for r in resumed.curve["train"]] == pytest.approx([r["loss"] for r in straight.curve["train"]],
                                                                         abs=1e-6)
    assert [r["step"] for r in resumed.curve["eval"]] == [r["step"] for r in straight.curve["eval"]]
    from peft import get_peft_model_state_dict

    a, b = get_peft_model_state_dict(straight.model), get_peft_model_state_dict(resumed.model)
    assert max(float((a[name] - b[name]).abs().max()) for name in a) < 1e-6
    with pytest.raises(AgentGymError, match="another config"):
        llm.finetune(*tiny(), toy_prefs(), tmp_path / "killed",
                     llm.FinetuneConfig(loss="ipo", lora_r=4, batch_size=4, save_every=1))


def test_full_fine_tuning_and_loading_a_run(tmp_path):
    model, tokenizer = tiny()
    config = llm.FinetuneConfig(loss="sft", lora=False, learning_rate=1e-3, batch_size=4, eval_fraction=0)
    result = llm.finetune(model, tokenizer, toy_prefs(8), tmp_path / "full", config)
    loaded = llm.load_finetuned(tiny()[0], tmp_path / "full")
    ids = torch.tensor([[5, 6, 7, 8]])
    assert torch.allclose(loaded(ids).logits, result.model(ids).logits, atol=1e-5)

    lora = llm.finetune(*tiny(), toy_prefs(8), tmp_path / "lora",
                        llm.FinetuneConfig(loss="dpo", lora_r=4, learning_rate=1e-2, batch_size=4, eval_fraction=0))
    merged = llm.load_finetuned(tiny()[0], tmp_path / "lora")
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, lora.model(ids).logits, atol=1e-5)
        assert not torch.allclose(merged(ids).logits, tiny()[0](ids).logits, atol=1e-4)


def test_bad_configs_say_what_is_wrong(tmp_path):
    model, tokenizer = tiny()
    with pytest.raises(AgentGymError, match="has no parameter"):
        llm.finetune(model, tokenizer, toy_prefs(), tmp_path, llm.FinetuneConfig(loss_kwargs={"bta": 0.1}))
    with pytest.raises(AgentGymError, match="cannot train on sft data"):
        llm.finetune(model, tokenizer, Dataset("sft", [{"prompt": "a", "completion": "b"}], {}), tmp_path)
    with pytest.raises(AgentGymError, match="from rollouts"):
        llm.finetune(model, tokenizer, toy_prefs(), tmp_path, llm.FinetuneConfig(loss="grpo"))


def test_a_fine_tuned_adapter_plays_as_an_llm_agent(tmp_path, corridor):
    """Step preferences from the corridor, DPO on the tiny model, the adapter merged and played by the LLM
    agent in score mode: it walks right to the goal on held-out seeds (what the base model does not)."""
    import agentgym
    from agentgym.agents.base import EpisodeContext
    from agentgym.agents.llm import LLMAgent
    from agentgym.agents.llm.prompts import AgentPrompt
    from agentgym.agents.llm.transformers_backend import TransformersBackend
    from agentgym.rollout import Job, run_lockstep
    from agentgym.testing import toy
    from agentgym.train import datasets

    prompter = AgentPrompt(history=0)
    data = datasets.preference_dataset(corridor, prompter, labels="outcome", seeds=range(6), pairs_per_state=None)
    config = llm.FinetuneConfig(loss="dpo", loss_kwargs={"beta": 0.5}, lora_r=8, learning_rate=2e-2, epochs=3,
                                batch_size=8, eval_fraction=0.2, eval_every=100)
    llm.finetune(*tiny(), data, tmp_path, config)

    def success_rate(model, tokenizer) -> float:
        agent = LLMAgent(backend=TransformersBackend(model, tokenizer=tokenizer), mode="score", history=0)
        done = []

        def start(job):
            env = agentgym.make(corridor, view="text")
            return env, EpisodeContext(key=job.key, env_id=corridor, seed=job.seed, repeat=0,
                                       card=env.unwrapped.card, action_space=env.action_space,
                                       observation_space=env.observation_space, env=env)

        seeds = toy.CARD.splits["test"].seeds()[:4]
        run_lockstep([Job(str(s), s, 0) for s in seeds], agent, start, done.append)
        return sum(bool(episode.info.get("success")) for episode in done) / len(done)

    base, tokenizer = tiny()
    trained = llm.load_finetuned(tiny()[0], tmp_path)
    assert success_rate(trained, tokenizer) == 1.0
    assert success_rate(base, tokenizer) < 1.0
