"""The ``agentgym`` command: one function per subcommand over the library.

Subcommands import what they need when they run (``# lazy import``), so ``agentgym --help`` and
quick commands do not load every layer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from agentgym.core.errors import AgentGymError

DEFAULT_LEADERBOARD = Path("leaderboard") / "leaderboard.json"


def _load_env_dirs(dirs: list[str] | None) -> None:
    from agentgym.envs.registration import load_env_specs  # noqa: PLC0415  # lazy import: per subcommand

    for folder in dirs or []:
        load_env_specs(Path(folder))


def cmd_list(args: argparse.Namespace) -> int:
    _load_env_dirs(args.envs)
    if args.what == "envs":
        from agentgym.envs.registration import env_ids, env_spec  # noqa: PLC0415  # lazy import: per subcommand

        for env_id in env_ids():
            card = env_spec(env_id).card
            print(f"{env_id:<40} {card.family:<10} {card.difficulty:<7} oracle={card.oracle}")
    elif args.what == "agents":
        from agentgym.agents.registry import AGENTS  # noqa: PLC0415  # lazy import: per subcommand

        for name in AGENTS.names():
            print(f"{name:<20} {AGENTS.get(name).description}")
    elif args.what == "rewards":
        from agentgym.rewards import REWARDS  # noqa: PLC0415  # lazy import: per subcommand

        print("\n".join(REWARDS.names()))
    elif args.what == "losses":
        from agentgym.train.losses import LOSSES  # noqa: PLC0415  # lazy import: per subcommand

        for name in LOSSES.names():
            spec = LOSSES.get(name)
            print(f"{name:<12} data={spec.data:<7} reference={'yes' if spec.reference else 'no'}")
    elif args.what == "suites":
        from agentgym.core.paths import builtin_dir  # noqa: PLC0415  # lazy import: per subcommand

        print("\n".join(sorted(p.stem for p in builtin_dir("benchmarks").glob("*.yaml"))))
    return 0


def cmd_check_env(args: argparse.Namespace) -> int:
    from agentgym.testing.check_env import check_env_contract, format_report  # noqa: PLC0415  # lazy import: per subcommand

    _load_env_dirs(args.envs)
    failed = False
    for env_id in args.env_ids:
        results = check_env_contract(env_id)
        print(format_report(env_id, results))
        failed |= not all(result.passed for result in results)
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    if args.allow_code:  # an environment variable, so process workers inherit the permission
        from agentgym.core.trust import ALLOW_CODE_VARIABLE  # noqa: PLC0415  # lazy import: per subcommand

        os.environ[ALLOW_CODE_VARIABLE] = "1"
    from agentgym.bench.run import run_suite  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.bench.suite import load_suite  # noqa: PLC0415  # lazy import: per subcommand

    _load_env_dirs(args.envs)
    suite = load_suite(args.suite)
    if args.agent:
        from agentgym.agents.registry import load_agent_specs  # noqa: PLC0415  # lazy import: per subcommand
        from agentgym.bench.suite import with_agents  # noqa: PLC0415  # lazy import: per subcommand

        for folder in args.agents or []:
            load_agent_specs(Path(folder))
        suite = with_agents(suite, args.agent, _json_object(args.agent_kwargs, "--agent-kwargs"), args.agent_name)
    elif args.agent_kwargs or args.agent_name:
        raise AgentGymError("--agent-kwargs and --agent-name go with --agent")
    out = Path(args.out) if args.out else Path("runs") / f"{suite.name}-{datetime.now():%Y%m%d-%H%M%S}"
    outcome = run_suite(suite, out, executor=args.executor, workers=args.workers, resume=args.resume,
                        env_dirs=args.envs, agent_dirs=args.agents, progress=not args.no_progress, force=args.force)
    if args.leaderboard:
        _submit(outcome.results_path, Path(args.leaderboard), args.label)
    return 0


def _json_object(text: str | None, option: str) -> dict | None:
    """The JSON object an option holds (None when the option is not given), or a clear error."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AgentGymError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AgentGymError(f"{option} must be a JSON object, not {type(value).__name__}")
    return value


def _submit(results: Path, board: Path, label: str | None) -> None:
    from agentgym.leaderboard import submit_results  # noqa: PLC0415  # lazy import: per subcommand

    submission = submit_results(results, board, label=label)
    how = ("verified: every number recomputed from its episodes" if submission.get("episodes_verified")
           else "unverified: no episodes file; shown apart, not ranked")
    print(f"submitted {results} to {board} as {submission['id'][:12]} ({how})")


def cmd_train(args: argparse.Namespace) -> int:
    from agentgym.bench.plots import plot_learning_curves  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.train.sb3 import format_curve, train_recipe  # noqa: PLC0415  # lazy import: per subcommand

    _load_env_dirs(args.envs)
    out = Path(args.out) if args.out else Path("runs") / f"train-{datetime.now():%Y%m%d-%H%M%S}"
    outcome = train_recipe(args.env_id, out, algo=args.algo, policy=args.policy, reward=args.reward,
                           reward_kwargs=_json_object(args.reward_kwargs, "--reward-kwargs"),
                           total_timesteps=args.steps, seed=args.seed, n_envs=args.n_envs,
                           hyperparams=_json_object(args.hyperparams, "--hyperparams"),
                           eval_every=args.eval_every, eval_episodes=args.eval_episodes)
    print(format_curve(outcome.curve))
    plot_learning_curves({f"{args.algo} on {args.env_id} ({args.reward}, seed {args.seed})": outcome.curve},
                         out / "learning_curve.png")
    print(f"\nwrote {outcome.model_path}, the learning curve and the config to {out}")
    return 0


def _data_states(args: argparse.Namespace):
    """(states, their policy's name): None and 'oracle' unless --states-from names an agent (on-policy data)."""
    if args.states_from == "oracle":
        return None, "oracle"
    from agentgym.agents.registry import make_agent  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.train.datasets import collect_states, split_seeds  # noqa: PLC0415  # lazy import: per subcommand

    agent = make_agent(args.states_from, **(_json_object(args.agent_kwargs, "--agent-kwargs") or {}))
    try:
        seeds = split_seeds(args.env_id, args.split, None, args.episodes)
        return collect_states(args.env_id, agent, seeds, max_steps=args.max_steps), args.states_from
    finally:
        agent.close()


def cmd_data(args: argparse.Namespace) -> int:
    from agentgym.agents.llm.prompts import AgentPrompt  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.train import datasets  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.train.formats import import_dataset, sidecar_path, write_dataset  # noqa: PLC0415  # lazy import: per subcommand

    if args.kind == "import":
        data = import_dataset(args.env_id, args.out, args.format)
        print(f"imported {len(data.records)} {data.kind} examples from {args.env_id} to {args.out}")
        return 0
    _load_env_dirs(args.envs)
    prompter = AgentPrompt(args.prompt, args.history)
    states, states_from = _data_states(args)
    common = dict(split=args.split, episodes=args.episodes, states=states, states_from=states_from,
                  max_steps=args.max_steps)
    if args.kind == "sft":
        data = datasets.sft_dataset(args.env_id, prompter, **common)
    else:
        data = datasets.preference_dataset(
            args.env_id, prompter, labels=args.labels, flip=args.flip, kind=args.kind,
            pairs_per_state=args.pairs_per_state or None, seed=args.seed,
            reward_kwargs=_json_object(args.reward_kwargs, "--reward-kwargs"), **common)
    path = write_dataset(args.out, data)
    print(f"wrote {len(data.records)} {data.kind} examples to {path} (provenance: {sidecar_path(path)})")
    return 0


def _load_causal_lm(model: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415  # lazy import: per subcommand

    if model == "default":
        from agentgym.agents.llm.default_model import default_model_dir  # noqa: PLC0415  # lazy import: per subcommand

        model = str(default_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    import torch  # noqa: PLC0415  # lazy import: per subcommand

    return AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, local_files_only=True), tokenizer


def cmd_finetune(args: argparse.Namespace) -> int:
    from agentgym.agents.llm.prompts import AgentPrompt  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.train import datasets  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.train.formats import read_dataset, write_dataset  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.train.llm import FinetuneConfig, finetune  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.train.losses import loss_spec  # noqa: PLC0415  # lazy import: per subcommand

    _load_env_dirs(args.envs)
    out = Path(args.out) if args.out else Path("runs") / f"finetune-{args.loss}-{datetime.now():%Y%m%d-%H%M%S}"
    spec = loss_spec(args.loss)
    if Path(args.source).is_file():
        data = read_dataset(args.source)
    elif spec.data == "sft":
        data = datasets.sft_dataset(args.source, AgentPrompt(args.prompt, args.history), episodes=args.episodes)
    else:
        data = datasets.preference_dataset(args.source, AgentPrompt(args.prompt, args.history), labels=args.labels,
                                           flip=args.flip, kind="kto" if spec.data == "kto" else "prefs",
                                           episodes=args.episodes, seed=args.seed)
    if not Path(args.source).is_file():
        write_dataset(out / "data.jsonl", data)
    config = FinetuneConfig(loss=args.loss, loss_kwargs=_json_object(args.loss_kwargs, "--loss-kwargs") or {},
                            lora=not args.full, lora_r=args.lora_r, learning_rate=args.lr, epochs=args.epochs,
                            batch_size=args.batch_size, seed=args.seed, eval_fraction=args.eval_fraction,
                            eval_every=args.eval_every, save_every=args.save_every)
    model, tokenizer = _load_causal_lm(args.model)
    result = finetune(model, tokenizer, data, out, config, resume=not args.restart)
    last = result.curve["eval"][-1] if result.curve["eval"] else {}
    shown = ", ".join(f"{key} {value:.3f}" for key, value in last.items() if isinstance(value, float))
    print(f"{len(result.curve['train'])} steps of {args.loss} on {len(data.records)} examples; held out: {shown}")
    what = "adapter" if config.lora else "model"
    kwargs = json.dumps({"adapter": str(out)} if config.lora else {"model": str(out / "model")})
    print(f"wrote the {what}, curve.json and config.json to {out}; play it with: agentgym run SUITE "
          f"--agent llm-score --agent-kwargs '{kwargs}'")
    return 0


def cmd_arena(args: argparse.Namespace) -> int:
    from agentgym.bench.arena import format_arena, play_arena  # noqa: PLC0415  # lazy import: per subcommand

    if len(args.agents) < 2:
        raise AgentGymError("the arena needs at least two agents")
    result = play_arena(args.agents, args.game, args.games, args.seed, anchor=args.anchor)
    print(format_arena(result))
    if args.out:
        from agentgym.core.files import write_json_atomic  # noqa: PLC0415  # lazy import: per subcommand

        write_json_atomic(Path(args.out), result.as_dict())
        print(f"\nwrote {args.out}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    _submit(Path(args.results), Path(args.leaderboard), args.label)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from agentgym.leaderboard import load_leaderboard, plain, ranked_rows, render_table  # noqa: PLC0415  # lazy import: per subcommand

    if not Path(args.leaderboard).is_file():
        raise AgentGymError(f"no leaderboard file at {args.leaderboard} (submit results with `agentgym submit`, "
                            f"or point --leaderboard at one)")
    board = load_leaderboard(Path(args.leaderboard))
    rows = ranked_rows(board, suite=args.suite)
    for note in board.get("notes") or []:
        print(f"note: {plain(note)}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(render_table(rows) if rows else f"{args.leaderboard}: no submissions yet")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from agentgym.core.cache import cache_entries, clear_cache  # noqa: PLC0415  # lazy import: per subcommand
    from agentgym.core.paths import cache_dir  # noqa: PLC0415  # lazy import: per subcommand

    if args.action == "clear":
        removed = clear_cache(args.kind, older_than_days=args.older_than_days)
        print(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'} from {cache_dir()}")
        return 0
    entries = cache_entries(args.kind)
    for entry in entries:
        print(f"{entry.kind:<14} {entry.key:<24} {entry.bytes / 1e6:>9.1f} MB  {entry.created:%Y-%m-%d %H:%M}  "
              f"{entry.path}")
    total = sum(entry.bytes for entry in entries)
    print(f"{len(entries)} entries, {total / 1e6:.1f} MB in {cache_dir()}")
    return 0


def cmd_pregenerate(args: argparse.Namespace) -> int:
    from agentgym.envs.textworld.generate import pregenerate  # noqa: PLC0415  # lazy import: per subcommand

    _load_env_dirs(args.envs)
    start = time.perf_counter()
    folders = pregenerate(args.env_id, args.split, args.workers, args.count)
    print(f"{len(folders)} games of {args.env_id} ({args.split}) ready in {time.perf_counter() - start:.1f} s")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line (the command, the problem, where to look), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from agentgym.core.version import __version__  # noqa: PLC0415  # lazy import: the parser is built only when the CLI runs

    parser = _Parser(
        prog="agentgym", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="agentgym: score agents' decisions on Gymnasium envs under reward and loss variants, "
                    "with honest intervals, and keep a leaderboard.")
    parser.add_argument("--version", action="version", version=f"agentgym {__version__}")
    sub = parser.add_subparsers(dest="command")
    envs_help = "folder of YAML env specs to register (repeatable; also $AGENTGYM_ENVS)"

    p = sub.add_parser("list", help="list registered envs, agents, reward variants or suites")
    p.add_argument("what", choices=["envs", "agents", "rewards", "losses", "suites"])
    p.add_argument("--envs", action="append", metavar="DIR", help=envs_help)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("list-envs", help="list registered envs")
    p.add_argument("--envs", action="append", metavar="DIR", help=envs_help)
    p.set_defaults(func=cmd_list, what="envs")

    p = sub.add_parser("check-env", help="run the env-contract conformance checks")
    p.add_argument("env_ids", nargs="+", metavar="ID")
    p.add_argument("--envs", action="append", metavar="DIR", help=envs_help)
    p.set_defaults(func=cmd_check_env)

    p = sub.add_parser("run", help="run a benchmark suite")
    p.add_argument("suite", help="suite YAML file, or a built-in suite name (agentgym list suites)")
    p.add_argument("--out", help="run folder (default runs/<suite>-<time>)")
    p.add_argument("--executor", choices=["local", "process"], default="local")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes of the process executor")
    p.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty --out folder that holds no run of this suite (or another suite's "
                        "run); its suite.json, episodes.jsonl and results.json are renamed aside, never deleted; "
                        "without --resume, starts a run of this suite over")
    p.add_argument("--envs", action="append", metavar="DIR", help=envs_help)
    p.add_argument("--agents", action="append", metavar="DIR", help="folder of YAML agent specs (repeatable)")
    p.add_argument("--agent", action="append", metavar="NAME",
                   help="run this agent (agents/*.yaml, agentgym list agents) instead of the suite's own "
                        "(repeatable); recipes and references stay")
    p.add_argument("--agent-kwargs", metavar="JSON",
                   help="JSON object merged into the kwargs of every --agent, e.g. "
                        "'{\"model\": \"HuggingFaceTB/SmolLM2-360M-Instruct\"}' or "
                        "'{\"backend\": \"openai\", \"base_url\": \"http://127.0.0.1:8000/v1\", \"model\": \"m\"}'; "
                        "the agent is renamed NAME-<hash> (or --agent-name)")
    p.add_argument("--agent-name", help="name of the one --agent given --agent-kwargs")
    p.add_argument("--leaderboard", metavar="PATH", help="submit the results to this leaderboard when done")
    p.add_argument("--label", help="label of the leaderboard submission")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--allow-code", action="store_true",
                   help="let the suite's inline agents name code outside agentgym and your installed plugins "
                        "(specs can run code: only for suites you trust); also AGENTGYM_ALLOW_CODE=1")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="train an SB3 agent on an env under a reward variant")
    p.add_argument("env_id", metavar="ID")
    p.add_argument("--algo", default="PPO", choices=["PPO", "A2C", "DQN", "MaskablePPO"])
    p.add_argument("--policy", default="MlpPolicy")
    p.add_argument("--reward", default="env", help="reward variant trained on (agentgym list rewards)")
    p.add_argument("--reward-kwargs", help="JSON object of reward-variant keyword arguments")
    p.add_argument("--steps", type=int, default=20000, help="training timesteps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-envs", type=int, default=1)
    p.add_argument("--hyperparams", help="JSON object of algorithm keyword arguments")
    p.add_argument("--eval-every", type=int, default=0, help="curve interval in timesteps (default steps/10)")
    p.add_argument("--eval-episodes", type=int, default=20, help="held-out episodes per curve point")
    p.add_argument("--out", help="folder for the checkpoint, curve and config (default runs/train-<time>)")
    p.add_argument("--envs", action="append", metavar="DIR", help=envs_help)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("data", help="make LLM training data from an env (sft, prefs, kto) or import a JSONL file")
    p.add_argument("kind", choices=["sft", "prefs", "kto", "import"])
    p.add_argument("env_id", metavar="ID|FILE", help="the env (for import: the JSONL file to import)")
    p.add_argument("--out", required=True, help="the JSONL file to write (its provenance goes to FILE.meta.json)")
    p.add_argument("--labels", default="outcome",
                   help="label source of prefs/kto: outcome, rollout, aspect:NAME or a reward variant")
    p.add_argument("--reward-kwargs", help="JSON object of the reward variant's keyword arguments")
    p.add_argument("--flip", type=float, default=0.0, help="noisy labeller: flip each label with this probability")
    p.add_argument("--pairs-per-state", type=int, default=1, help="worse actions per state (0: all)")
    p.add_argument("--split", default="train")
    p.add_argument("--episodes", type=int, help="only the first EPISODES seeds of the split")
    p.add_argument("--max-steps", type=int, help="cut episodes after this many steps")
    p.add_argument("--states-from", default="oracle",
                   help="whose states to label: the oracle's, or an agent's (on-policy data, e.g. llm-score)")
    p.add_argument("--agent-kwargs", metavar="JSON", help="JSON object of --states-from agent keyword arguments")
    p.add_argument("--history", type=int, default=4, help="earlier turns in the prompt (as the LLM agent's)")
    p.add_argument("--prompt", help="prompt template override (as the LLM agent's 'prompt')")
    p.add_argument("--format", choices=["sft", "prefs", "kto"], help="import: the file's format (default: inferred)")
    p.add_argument("--seed", type=int, default=0, help="seeds the drawn pairs and the labeller's noise")
    p.add_argument("--envs", action="append", metavar="DIR", help=envs_help)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("finetune", help="fine-tune an LLM (LoRA) on env data under a loss variant")
    p.add_argument("source", metavar="ID|DATASET", help="an env id (data made on the fly) or a JSONL dataset")
    p.add_argument("--loss", default="dpo", help="sft, dpo, ipo, cdpo, robust, hinge, kto, simpo, orpo")
    p.add_argument("--loss-kwargs", metavar="JSON", help='JSON object of loss hyper-parameters, e.g. \'{"beta": 0.1}\'')
    p.add_argument("--labels", default="outcome", help="label source when SOURCE is an env (see agentgym data)")
    p.add_argument("--flip", type=float, default=0.0, help="noisy labeller flip rate when SOURCE is an env")
    p.add_argument("--episodes", type=int, help="train-split seeds to make data from when SOURCE is an env")
    p.add_argument("--history", type=int, default=4)
    p.add_argument("--prompt", help="prompt template override")
    p.add_argument("--model", default="default", help="'default' (SmolLM2-135M-Instruct) or a local model folder")
    p.add_argument("--full", action="store_true", help="train every weight instead of LoRA adapters")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--eval-fraction", type=float, default=0.1, help="share of examples held out for the curve")
    p.add_argument("--eval-every", type=int, default=20)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run folder (default runs/finetune-<loss>-<time>); an unfinished run there resumes")
    p.add_argument("--restart", action="store_true", help="start over instead of resuming the run in --out")
    p.add_argument("--envs", action="append", metavar="DIR", help=envs_help)
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("arena", help="play agents against each other at a board game and rate them")
    p.add_argument("agents", nargs="+", help="agent names (also the bots heuristic, perfect, alphabeta)")
    p.add_argument("--game", choices=["tictactoe", "connect_four"], default="tictactoe")
    p.add_argument("--games", type=int, default=40, help="games per pair, colours alternating")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--anchor", help="agent whose rating is fixed at 1000 (default: mean 1500)")
    p.add_argument("--out", help="also write the result as JSON here")
    p.set_defaults(func=cmd_arena)

    p = sub.add_parser("submit", help="validate a results.json and add it to a leaderboard")
    p.add_argument("results")
    p.add_argument("--leaderboard", default=str(DEFAULT_LEADERBOARD))
    p.add_argument("--label")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("leaderboard", help="show a leaderboard, ranked")
    p.add_argument("--leaderboard", default=str(DEFAULT_LEADERBOARD))
    p.add_argument("--suite", help="only this suite")
    p.add_argument("--json", action="store_true", help="machine-readable rows")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("cache", help="show or clear agentgym's disk cache (models, games, reward models)")
    p.add_argument("action", choices=["ls", "clear"])
    p.add_argument("kind", nargs="?", help="only this kind (e.g. sb3, textworld, reward_models, models)")
    p.add_argument("--older-than-days", type=float, help="clear only entries older than this")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("pregenerate", help="generate (or find cached) the TextWorld games of an env's split")
    p.add_argument("env_id", metavar="ID")
    p.add_argument("--split", default="train")
    p.add_argument("--count", type=int, help="only the first COUNT seeds of the split")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--envs", action="append", metavar="DIR", help=envs_help)
    p.set_defaults(func=cmd_pregenerate)
    for command in sub.choices.values():
        command.formatter_class = argparse.ArgumentDefaultsHelpFormatter  # --help shows the defaults
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage mistake already printed in one line
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except AgentGymError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; episodes written so far are kept (continue with --resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `agentgym leaderboard --json | head`: the reader left, nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        return 141


if __name__ == "__main__":
    sys.exit(main())
