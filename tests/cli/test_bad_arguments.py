"""Every subcommand, given bad arguments, says what is wrong in one line and exits non-zero (no traceback)."""

from __future__ import annotations

import pytest

from agentgym.cli.main import main

BAD = {
    "no such subcommand": ["frobnicate"],
    "list: bad choice": ["list", "widgets"],
    "check-env: unknown id": ["check-env", "agentgym/Frozenlake-v0"],
    "run: missing suite file": ["run", "no/such/suite.yaml", "--no-progress"],
    "run: unknown agent": ["run", "smoke", "--agent", "nobody", "--no-progress"],
    "run: agent kwargs not JSON": ["run", "smoke", "--agent", "random", "--agent-kwargs", "{oops", "--no-progress"],
    "run: agent kwargs not an object": ["run", "smoke", "--agent", "random", "--agent-kwargs", "[1]"],
    "run: kwargs without --agent": ["run", "smoke", "--agent-kwargs", "{}", "--no-progress"],
    "run: bad executor": ["run", "smoke", "--executor", "cloud"],
    "run: bad workers": ["run", "smoke", "--workers", "two"],
    "train: unknown env": ["train", "agentgym/Nope-v0"],
    "train: bad algo": ["train", "agentgym/FrozenLake-v0", "--algo", "SAC"],
    "train: bad reward kwargs": ["train", "agentgym/FrozenLake-v0", "--reward", "shaped", "--reward-kwargs",
                                '{"gamma": 2}', "--steps", "64"],
    "train: unknown reward": ["train", "agentgym/FrozenLake-v0", "--reward", "shapd", "--steps", "64"],
    "arena: one agent": ["arena", "random"],
    "arena: bad anchor": ["arena", "random", "heuristic", "--anchor", "x", "--games", "2"],
    "arena: unknown agent": ["arena", "random", "nobody", "--games", "2"],
    "submit: missing file": ["submit", "no/such/results.json", "--leaderboard", "{tmp}/board.json"],
    "submit: not JSON": ["submit", "{tmp}/garbage.json", "--leaderboard", "{tmp}/board.json"],
    "leaderboard: missing board": ["leaderboard", "--leaderboard", "{tmp}/missing.json"],
    "cache: bad action": ["cache", "shred"],
    "cache: negative age": ["cache", "clear", "--older-than-days", "-1"],
    "pregenerate: not a TextWorld env": ["pregenerate", "agentgym/FrozenLake-v0"],
    "pregenerate: unknown env": ["pregenerate", "agentgym/Nope-v0"],
}


@pytest.mark.parametrize("argv", list(BAD.values()), ids=list(BAD))
def test_bad_arguments_get_one_line_and_a_nonzero_exit(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage.json").write_text("{not json")
    code = main([part.replace("{tmp}", str(tmp_path)) for part in argv])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code != 0, captured
    assert len(lines) == 1, captured.err
    assert "error" in lines[0] and "Traceback" not in captured.err
    assert not (tmp_path / "board.json").exists()  # nothing written on a refusal


def test_version_and_bare_command(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("agentgym ")
    assert main([]) == 0
    assert "usage: agentgym" in capsys.readouterr().out


def test_a_suite_naming_foreign_code_is_refused_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AGENTGYM_ALLOW_CODE", raising=False)
    suite = tmp_path / "evil.yaml"
    suite.write_text("name: evil\nversion: 1\nenvs: [agentgym/FrozenLake-v0]\nrewards: [env]\nsplit: test\n"
                     "episodes: 2\nagents:\n"
                     "  - {name: shell, entry_point: 'os:system', kwargs: {command: 'touch x'}}\n")
    code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and "--allow-code" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "x").exists()


def test_a_suite_naming_a_foreign_judge_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AGENTGYM_ALLOW_CODE", raising=False)
    suite = tmp_path / "judge.yaml"
    suite.write_text("name: judged\nversion: 1\nenvs: [agentgym/FrozenLake-v0]\nagents: [random]\nsplit: test\n"
                     "episodes: 2\nrewards:\n  - {name: judge, kwargs: {judge: 'os:system'}}\n")
    code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and "--allow-code" in err and "judge" in err and len(err.strip().splitlines()) == 1


def test_a_closed_pipe_is_not_a_traceback():
    import subprocess
    import sys
    from pathlib import Path

    board = Path(__file__).resolve().parents[2] / "leaderboard" / "leaderboard.json"
    process = subprocess.Popen([sys.executable, "-m", "agentgym.cli.main", "leaderboard", "--json", "--leaderboard",
                                str(board)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader leaves at once, as `| head -0` would
    err = process.stderr.read().decode()
    process.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err
