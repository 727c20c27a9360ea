"""A byte-level tokenizer and a randomly initialised Llama built from a config: no download.

For tests (a tiny model, fast) and for benchmarks of the backend's mechanics on any device (a
model of a real one's shape). The tokenizer has one token per byte plus the ChatML specials,
and a ChatML chat template.
"""

from __future__ import annotations

from typing import Any

CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def byte_tokenizer() -> Any:
    """A fast tokenizer with a byte-level vocabulary (no merges), ChatML specials and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: PLC0415 - optional transformers
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415 - optional transformers

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab.update({token: len(vocab) + i for i, token in enumerate(SPECIALS)})
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(SPECIALS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                        unk_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def random_llama(seed: int = 0, **config: Any) -> tuple[Any, Any]:
    """(model in eval mode, its byte tokenizer): a ``LlamaForCausalLM`` from ``LlamaConfig(**config)``,
    weights drawn after ``torch.manual_seed(seed)``; vocabulary and special ids come from the tokenizer."""
    import torch  # noqa: PLC0415 - optional torch
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415 - optional transformers

    tokenizer = byte_tokenizer()
    llama_config = LlamaConfig(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                               pad_token_id=tokenizer.pad_token_id, **config)
    torch.manual_seed(seed)
    return LlamaForCausalLM(llama_config).eval(), tokenizer
