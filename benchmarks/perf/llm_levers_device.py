"""The transformers backend's levers on any device and dtype, with a random model (no download).

A Llama with SmolLM2-135M's shape (30 layers, 9 heads, 3 key/value heads, width 576) but random
weights and a byte-level tokenizer plays scripted multi-turn chats: every round, each chat gets
the answer of the plain backend and a new observation appended, so prompts grow as in an episode.
The four lever settings (plain, batch, prefix, both) answer the same chats every round.

Prints, per setting, the rounds' wall time and chats answered per second, and whether their
greedy answers equal the plain way's (in float32 they must; in bfloat16 batching changes the
order of sums, so a near-tie may break the other way, and the agreement is reported instead).
Made for the GPU (``--device cuda --dtype bfloat16``), runs anywhere.

    python benchmarks/perf/llm_levers_device.py [--device cuda] [--dtype bfloat16] [--chats 16] [--rounds 6]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from agentgym.agents.llm.transformers_backend import TransformersBackend
from agentgym.testing.random_model import random_llama

LEVERS = {"plain": (False, False), "batch": (True, False), "prefix": (False, True), "both": (True, True)}


def random_model(layers: int, dtype: torch.dtype):
    """SmolLM2-135M's shape with random weights (tied embeddings), and the byte tokenizer."""
    model, tokenizer = random_llama(hidden_size=576, intermediate_size=1536, num_hidden_layers=layers,
                                    num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                                    initializer_range=0.2, tie_word_embeddings=True)
    return model.to(dtype), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--chats", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args()

    model, tokenizer = random_model(args.layers, getattr(torch, args.dtype))
    backends = {label: TransformersBackend(model, tokenizer=tokenizer, device=args.device, batch=batch,
                                           prefix_cache=prefix)
                for label, (batch, prefix) in LEVERS.items()}
    rules = "You are in a grid world. Rules: move up, down, left or right; holes end the episode. " * 3
    chats = [[{"role": "system", "content": rules},
              {"role": "user", "content": f"Episode {i}. You are at row {i % 4}, column {i % 3}. Your move?"}]
             for i in range(args.chats)]
    spent = {label: 0.0 for label in LEVERS}
    agree = {label: 0 for label in LEVERS}
    answered = 0
    for round_ in range(args.rounds):
        answers = {}
        for label in (list(LEVERS)[round_ % 4:] + list(LEVERS)[: round_ % 4]):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            answers[label] = [c.text for c in backends[label].generate(chats, max_new_tokens=args.max_new_tokens)]
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            spent[label] += time.perf_counter() - started
        for label in LEVERS:
            agree[label] += sum(a == b for a, b in zip(answers[label], answers["plain"]))
        answered += len(chats)
        for i, chat in enumerate(chats):
            chat += [{"role": "assistant", "content": answers["plain"][i]},
                     {"role": "user", "content": f"Round {round_}: the ice holds at row {(i + round_) % 4}. Next?"}]
    prompt_tokens = len(backends["plain"].encode_chat(chats[0]))
    print(f"device {args.device} ({torch.cuda.get_device_name() if args.device.startswith('cuda') else 'CPU'}), "
          f"{args.dtype}, {args.layers} layers, {args.chats} chats x {args.rounds} rounds, "
          f"last prompt {prompt_tokens} tokens, {args.max_new_tokens} new tokens at most")
    print(f"{'levers':<8}{'wall s':>9}{'chats/s':>10}{'speed-up':>10}{'same answer as plain':>22}")
    for label in LEVERS:
        rate = answered / spent[label]
        print(f"{label:<8}{spent[label]:>9.2f}{rate:>10.1f}{spent['plain'] / spent[label]:>9.2f}x"
              f"{agree[label] / answered:>21.3f}")
    if args.dtype == "float32" and any(agree[label] != answered for label in LEVERS):
        print("float32 answers differ between lever settings")
        sys.exit(1)


if __name__ == "__main__":
    main()
