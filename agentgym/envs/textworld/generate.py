"""TextWorld games, generated locally on first use and cached on disk.

A game is named by its generator (``custom`` or ``cooking``, TextWorld's ``tw-make custom`` and
``tw-make tw-cooking``), its parameters and its seed. :func:`ensure_game` returns the cached
files, generating them once: in a generator process run with ``PYTHONHASHSEED=0`` (so the files
are byte-identical from run to run; TextWorld's cooking generator iterates over sets) and kept
for the next game, through :func:`agentgym.core.cache.cached` (a temp folder renamed into place
when complete, under a file lock, so that parallel processes generate a game once).

Cache layout: ``cache_dir("textworld")/<key>/`` holds ``game.z8``, ``game.json`` (TextWorld's
game data), ``meta.json`` (request, game seed, walkthrough, generation time) and the cache's
``cache-entry.json``, where ``key`` hashes the generator, its parameters, the seed, TextWorld's
version and :data:`RECIPE_VERSION`.

A generated game is validated before it is kept: no entity name may be a sub-phrase of another
(Inform7 would then ask "Which do you mean...?" and the walkthrough stalls), and TextWorld's
walkthrough, replanned each step, must win. A game failing either is regenerated from the next
derived seed (``attempt`` in ``meta.json``; attempt 0 uses the episode seed itself).

Pre-generate a split (two processes)::

    agentgym pregenerate agentgym/TextWorld-Easy-v0 --split train --workers 2
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from agentgym.core import cache as disk_cache
from agentgym.core.errors import AgentGymError, ConfigError
from agentgym.envs.registration import env_spec

RECIPE_VERSION = "1"
"""The cache version of a game: bumped whenever the generation or validation recipe changes (invalidates the cache)."""
CACHE_KIND = "textworld"
DEFAULTS: dict[str, dict[str, Any]] = {
    "custom": {"world_size": 5, "nb_objects": 10, "quest_length": 5, "quest_breadth": 1, "include_adj": False},
    "cooking": {"recipe": 1, "take": 1, "go": 1, "open": False, "cook": False, "cut": False},
}
"""Parameters of each generator and their defaults (``tw-make`` option names, underscored).

``cooking`` leaves out ``--drop``: TextWorld tracks no walkthrough with a limited inventory."""
MAX_ATTEMPTS = 10
GAME_FILE, META_FILE = "game.z8", "meta.json"
MODULE = "agentgym.envs.textworld.generate"


class GenerationError(AgentGymError):
    """No valid game could be generated for a request."""


def game_request(generator: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full, checked parameters of a game family: defaults filled in, unknown keys refused."""
    if generator not in DEFAULTS:
        raise AgentGymError(f"unknown TextWorld generator {generator!r}; expected one of {sorted(DEFAULTS)}")
    unknown = set(params or {}) - set(DEFAULTS[generator])
    if unknown:
        raise AgentGymError(f"unknown {generator} parameters {sorted(unknown)}; expected some of "
                            f"{sorted(DEFAULTS[generator])}")
    return {"generator": generator, "params": {**DEFAULTS[generator], **(params or {})}}


def cache_config(request: dict[str, Any], seed: int) -> dict[str, Any]:
    """What names a game in the cache: the request, the seed and TextWorld's version."""
    import textworld  # noqa: PLC0415 - optional heavy dependency (the textworld extra)

    return {**request, "seed": int(seed), "textworld": textworld.__version__}


def cache_key(request: dict[str, Any], seed: int) -> str:
    return disk_cache.cache_key(CACHE_KIND, cache_config(request, seed), version=RECIPE_VERSION)


def ensure_game(request: dict[str, Any], seed: int) -> Path:
    """Folder of the game ``(request, seed)``: from the cache, or generated now (about 2 s)."""

    def build(folder: Path) -> None:
        folder.rmdir()  # the generator makes the folder itself (and remakes it for each attempt)
        _spawn(request, int(seed), folder)

    return disk_cache.cached(CACHE_KIND, cache_config(request, seed), build, version=RECIPE_VERSION)


def _spawn(request: dict[str, Any], seed: int, folder: Path) -> None:
    """Generate one game into ``folder`` in a generator process (the one place that generates)."""
    with _IDLE_LOCK:
        worker = _IDLE.pop() if _IDLE else None
    if worker is None or worker.process.poll() is not None:
        worker = _Worker()
    try:
        worker.generate(request, seed, folder)
    except BaseException:
        worker.close()
        raise
    with _IDLE_LOCK:
        _IDLE.append(worker)


class _Worker:
    """A generator process, reused for game after game (TextWorld's start-up, ~2 s, is paid once).

    It runs with ``PYTHONHASHSEED=0`` and generates each game from its request alone, so a game's
    files do not depend on the process or on the games made before it (checked: byte-identical).
    Protocol: one JSON request per line on stdin, one JSON reply per line on stdout.
    """

    def __init__(self) -> None:
        package_root = str(Path(__file__).resolve().parents[3])  # so the child imports this very agentgym
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONWARNINGS": "ignore", "PYTHONPATH": path}
        self.process = subprocess.Popen([sys.executable, "-m", MODULE, "--serve"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)

    def generate(self, request: dict[str, Any], seed: int, folder: Path) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps({**request, "seed": seed, "folder": str(folder)}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except OSError as exc:
            raise GenerationError(f"the TextWorld generator process died: {exc}") from exc
        reply = json.loads(line) if line else {"error": "the TextWorld generator process died"}
        if reply.get("error") or not (folder / META_FILE).is_file():
            raise GenerationError(f"TextWorld generation of {request} seed {seed} failed: {reply.get('error')}")

    def close(self) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=10)


_IDLE: list[_Worker] = []
_IDLE_LOCK = threading.Lock()


@atexit.register
def _close_workers() -> None:
    with _IDLE_LOCK:
        while _IDLE:
            _IDLE.pop().close()


def _serve() -> None:
    """The generator process: answer requests until stdin closes."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever TextWorld or its compiler prints must not mix with the replies
    for line in sys.stdin:
        request = json.loads(line)
        seed, folder = request.pop("seed"), Path(request.pop("folder"))
        try:
            generate_here(request, seed, folder)
            reply: dict[str, Any] = {"ok": True}
        except Exception as exc:  # reported to the parent, which raises GenerationError
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def read_meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / META_FILE).read_text())


# ------------------------------------------------------------ in the worker process
def _attempt_seed(seed: int, attempt: int) -> int:
    if attempt == 0:
        return seed
    return int(np.random.SeedSequence([seed, attempt]).generate_state(1)[0] % (2**31))


def _make(request: dict[str, Any], game_seed: int, folder: Path) -> Any:
    import textworld  # noqa: PLC0415 - optional textworld, only in the generator
    import textworld.challenges  # noqa: PLC0415 - optional textworld, only in the generator
    from textworld.generator import compile_game  # noqa: PLC0415 - optional textworld, only in the generator

    params = request["params"]
    options = textworld.GameOptions()
    options.seeds = game_seed
    options.path = str(folder / GAME_FILE)
    options.file_ext = ".z8"
    options.force_recompile = True
    if request["generator"] == "custom":
        options.nb_rooms = params["world_size"]
        options.nb_objects = params["nb_objects"]
        options.nb_parallel_quests = 1
        chaining = options.chaining
        chaining.min_length = chaining.max_length = chaining.max_depth = params["quest_length"]
        chaining.min_breadth = chaining.max_breadth = params["quest_breadth"]
        options.grammar.include_adj = params["include_adj"]  # names with adjectives are rarely ambiguous
        _, game = textworld.make(options)
        return game
    _, make_cooking, _ = textworld.challenges.CHALLENGES["tw-cooking"]
    settings = {**params, "drop": False, "recipe_seed": 0, "split": None}
    game = make_cooking(settings=settings, options=options)
    compile_game(game, options)
    return game


def _ambiguous_names(game: Any) -> list[tuple[str, str]]:
    """Pairs of entity names where one's words are a subset of the other's (Inform7 would ask which)."""
    names = sorted({info.name for info in game.infos.values() if info.name and info.type not in ("r", "P", "I")})
    words = {name: set(name.lower().split()) for name in names}
    return [(a, b) for a in names for b in names if a != b and words[a] <= words[b]]


def _walkthrough_wins(path: Path, limit: int) -> tuple[bool, list[str]]:
    import textworld  # noqa: PLC0415 - optional textworld, only in the generator

    infos = textworld.EnvInfos(admissible_commands=True, policy_commands=True, won=True, lost=True)
    env = textworld.start(str(path), request_infos=infos)
    try:
        state, played = env.reset(), []
        for _ in range(limit):
            if state["won"] or state["lost"] or not state["policy_commands"]:
                break
            command = state["policy_commands"][0]
            if command not in state["admissible_commands"]:
                break
            played.append(command)
            state, _, _ = env.step(command)
        return bool(state["won"]), played
    finally:
        env.close()


def generate_here(request: dict[str, Any], seed: int, folder: Path) -> dict[str, Any]:
    """Generate and validate a game into ``folder`` in this process; returns its metadata."""
    start = time.perf_counter()
    problems = []
    for attempt in range(MAX_ATTEMPTS):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        game_seed = _attempt_seed(seed, attempt)
        try:
            game = _make(request, game_seed, folder)
        except Exception as exc:  # TextWorld raises many kinds (QuestGenerationError, ValueError...)
            problems.append(f"seed {game_seed}: {type(exc).__name__}: {exc}")
            continue
        ambiguous = _ambiguous_names(game)
        if ambiguous:
            problems.append(f"seed {game_seed}: ambiguous names {ambiguous[:3]}")
            continue
        won, walkthrough = _walkthrough_wins(folder / GAME_FILE, limit=200)
        if not won:
            problems.append(f"seed {game_seed}: the walkthrough does not win")
            continue
        for extra in folder.iterdir():
            if extra.name not in (GAME_FILE, "game.json"):
                extra.unlink()
        meta = {**request, "seed": seed, "game_seed": game_seed, "attempt": attempt, "walkthrough": walkthrough,
                "max_score": game.max_score, "seconds": round(time.perf_counter() - start, 3), "rejected": problems}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return meta
    raise GenerationError(f"no valid game for {request} seed {seed} in {MAX_ATTEMPTS} attempts: {problems}")


# ------------------------------------------------------------------- command line
def pregenerate(env_id: str, split: str = "train", workers: int = 2, count: int | None = None) -> list[Path]:
    """Generate (or find cached) the games of ``split`` of a registered TextWorld env, in parallel."""
    spec = env_spec(env_id)
    if not spec.entry_point.startswith("agentgym.envs.textworld."):
        raise ConfigError(f"{env_id} is not a TextWorld env ({spec.entry_point}); nothing to pregenerate")
    request = game_request(spec.kwargs.get("generator", "custom"), spec.kwargs.get("params"))
    seeds = spec.card.splits[split].seeds()[:count]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # threads wait on worker processes
        return list(pool.map(lambda seed: ensure_game(request, seed), seeds))


def main(argv: list[str] | None = None) -> None:
    """The generator process's entry (``python -m agentgym.envs.textworld.generate --serve``); users run
    ``agentgym pregenerate ENV_ID`` instead."""
    if (argv if argv is not None else sys.argv[1:]) != ["--serve"]:
        raise SystemExit("internal entry point of the TextWorld generator process; use `agentgym pregenerate ENV_ID`")
    _serve()


if __name__ == "__main__":
    main()
