"""Issue 18, point 12: TextWorld meta-commands never reach the interpreter; the env writes no files.

Before the fix ``save`` and ``script`` were tried on the interpreter as probes and wrote ``game.qzl``
and a growing transcript into the working directory.
"""

from __future__ import annotations

import os

import pytest

import agentgym
from agentgym.envs.textworld.env import is_meta_command

EASY = "agentgym/TextWorld-Easy-v0"
META = ["save", "SAVE", "restore", "load", "script", "script on", "transcript", "transcriptfile", "unscript",
        "noscript", "quit", "q", "restart", "undo", "verbose", "brief", "superbrief", "score", "version", "verify",
        "notify", "pronouns", "again", "g", "oops", "recording on", "replay", "look. save", "x me then script",
        "look, save", "  save  ", "\\save", "'save'", "Save.", "look; restore", "take save", "inventory then quit"]


@pytest.mark.parametrize("text", META)
def test_meta_commands_are_recognised(text):
    assert is_meta_command(" ".join(text.replace("\\", " ").split()), anywhere=True)


@pytest.mark.parametrize("text", ["look", "take cloak", "examine long sword", "go north", "inventory",
                                  "put script on table", "open safe then take key"])
def test_game_commands_are_not_meta(text):
    assert not is_meta_command(text)


def test_meta_commands_are_invalid_and_never_touch_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seed = agentgym.env_spec(EASY).card.splits["test"].seeds()[0]
    env = agentgym.make(EASY, view="text")
    try:
        _, info = env.reset(seed=seed)
        assert not any(is_meta_command(command) for command in info["admissible_actions"])
        for text in META:
            observation, _, terminated, truncated, info = env.step(text)
            assert info["invalid_action"] is True, text
            assert info["reward_vector"]["validity"] == -1.0
            assert "never sent to the game" in observation, text
            assert not terminated, text  # "quit" and "restart" end nothing
            assert os.listdir(tmp_path) == [], f"{text!r} wrote {os.listdir(tmp_path)}"
            if truncated:  # the step limit
                env.reset(seed=seed)
        # ordinary invalid text is still probed on a snapshot, and the game goes on as before
        env.reset(seed=seed)
        observation, _, _, _, info = env.step("take the moon")
        assert info["invalid_action"] is True and "The game's answer to it:" in observation
        assert "never sent" not in observation
        oracle = env.unwrapped.oracle()
        _, _, _, _, info = env.step(oracle)
        assert info["invalid_action"] is False
    finally:
        env.close()
    assert os.listdir(tmp_path) == []
