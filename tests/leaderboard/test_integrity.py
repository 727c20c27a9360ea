"""A leaderboard nobody can fool (issue 18, points 1-4; issue 10, point 9).

Each test reproduces an attack or a failure that the earlier leaderboard let through: inflated
numbers beside untouched episodes, a number that broke rendering for everyone, names with escape
codes or look-alike letters, runs with failed episodes refused with a wall of schema errors, and
entries ranked against entries scored on other tasks.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from crafted_runs import ENVS, PROVENANCE, load, make_records, save, suite_info, write_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgym.bench.episode_log import read_episodes
from agentgym.bench.results import build_results
from agentgym.core.errors import SubmissionError
from agentgym.leaderboard import (
    load_leaderboard,
    migrate_board,
    ranked_rows,
    render_markdown,
    render_table,
    submit_results,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def board(tmp_path) -> Path:
    return tmp_path / "board" / "leaderboard.json"


def snapshot(board: Path) -> tuple[bytes | None, bytes | None]:
    page = board.parent / "leaderboard.md"
    return (board.read_bytes() if board.exists() else None, page.read_bytes() if page.exists() else None)


# ---------------------------------------------------------------- 1. recomputed from the episodes


def test_inflated_aggregate_beside_untouched_episodes_is_refused(tmp_path, board):
    path = write_run(tmp_path / "run", make_records())
    results = load(path)
    results["aggregates"]["by_agent"]["mine|env"]["iqm_normalized_score"].update(mean=2.0, ci_high=2.0)
    save(path, results)
    with pytest.raises(SubmissionError) as info:
        submit_results(path, board)
    assert ("aggregates.by_agent.mine|env.iqm_normalized_score.mean: results say 2.0, the episodes give"
            in str(info.value))
    assert not board.exists()


def test_edited_cell_metric_is_refused_naming_cell_and_metric(tmp_path, board):
    path = write_run(tmp_path / "run", make_records())
    results = load(path)
    cell = next(c for c in results["cells"] if c["agent"] == "mine")
    cell["metrics"]["success_rate"]["mean"] += 0.05  # still inside its interval and in [0, 1]
    save(path, results)
    with pytest.raises(SubmissionError, match="do not match their episodes file") as info:
        submit_results(path, board)
    assert f"cell {cell['cell']!r}.metrics.success_rate.mean: results say" in str(info.value)


def test_float_noise_is_tolerated(tmp_path, board):
    path = write_run(tmp_path / "run", make_records())
    results = load(path)
    interval = results["aggregates"]["by_agent"]["mine|env"]["iqm_normalized_score"]
    interval["mean"] *= 1 + 1e-12
    save(path, results)
    assert submit_results(path, board)["episodes_verified"] is True


def test_recipe_rows_are_recomputed_too(tmp_path, board):
    records = make_records({"oracle": 0.9, "random": 0.2})
    for train_seed, rate in ((0, 0.5), (1, 0.7)):
        for record in make_records({f"mppo-env-s{train_seed}": rate}):
            records.append({**record, "recipe": "mppo", "train_seed": train_seed, "reference": False})
    path = write_run(tmp_path / "run", records)
    results = load(path)
    assert {row["recipe"] for row in results["aggregates"]["recipes"]} == {"mppo"}
    results["aggregates"]["recipes"][0]["metrics"]["success_rate"]["mean"] = 0.99
    save(path, results)
    with pytest.raises(SubmissionError, match=r"aggregates.recipes\[toy/GridA-v0\|mppo\|env\].metrics.success_rate"):
        submit_results(path, board)
    assert submit_results(write_run(tmp_path / "clean", records), board)["episodes_verified"] is True


def test_unverified_entries_are_shown_apart_and_never_ranked_above_verified(tmp_path, board):
    submit_results(write_run(tmp_path / "honest", make_records()), board)
    path = write_run(tmp_path / "bold", make_records(), suite=suite_info(tag="other build"))
    results = load(path)
    for entry in results["aggregates"]["by_agent"].values():
        entry["iqm_normalized_score"] = {"mean": 9.0, "ci_low": 9.0, "ci_high": 9.0}
    save(path, results)
    (tmp_path / "bold" / "episodes.jsonl").unlink()
    assert submit_results(path, board)["episodes_verified"] is False
    rows = ranked_rows(load_leaderboard(board))
    assert len({row["group"] for row in rows}) == 1  # same suite version and tasks: one group
    assert [row["episodes_verified"] for row in rows] == [True] * 3 + [False] * 3
    assert [row["rank"] for row in rows] == [1, 2, 3, None, None, None]
    page = render_markdown(load_leaderboard(board))
    ranked, unverified = page.split("Unverified (")
    assert "9.000" not in ranked and "9.000" in unverified


def test_reference_cells_must_be_present(tmp_path, board):
    no_random = write_run(tmp_path / "a", make_records({"oracle": 0.9, "mine": 0.5}))
    with pytest.raises(SubmissionError, match=r"toy/GridA-v0 \(test\): no random reference cell"):
        submit_results(no_random, board)
    frozen = ("agentgym/FrozenLake-v0",)  # its card declares an exact oracle that always succeeds
    no_oracle = write_run(tmp_path / "b", make_records({"random": 0.2, "mine": 0.5}, envs=frozen))
    with pytest.raises(SubmissionError, match=r"FrozenLake-v0 \(test\): no oracle reference cell"):
        submit_results(no_oracle, board)
    weak_oracle = write_run(tmp_path / "c", make_records({"random": 0.2, "oracle": 0.7}, envs=frozen))
    with pytest.raises(SubmissionError, match=r"the oracle succeeds on 0\.[0-9]+ of episodes, but the env's card"):
        submit_results(weak_oracle, board)
    assert not board.exists()


def test_the_score_kind_of_an_unknown_env_comes_from_the_results_and_of_a_known_one_from_its_card(tmp_path, board):
    unknown = write_run(tmp_path / "a", make_records(), scores={ENVS[0]: "return"})
    assert {c["normalization"]["score"] for c in load(unknown)["cells"] if c["env"] == ENVS[0]} == {"return"}
    assert submit_results(unknown, board)["episodes_verified"] is True
    frozen = make_records({"oracle": 1.0, "random": 0.2, "mine": 0.6}, envs=("agentgym/FrozenLake-v0",))
    claimed = write_run(tmp_path / "b", frozen, scores={"agentgym/FrozenLake-v0": "return"},
                        suite=suite_info(tag="b"))
    with pytest.raises(SubmissionError, match="do not match their episodes file"):
        submit_results(claimed, board)


# ---------------------------------------------------------------- 2. finite, bounded numbers; rendering is total


@pytest.mark.parametrize(("value", "needle"), [
    ("1" + "0" * 400, "beyond +-2**53"),  # the IQM has no declared range, yet its numbers are bounded
    ("1e300", "beyond +-1e+15"),
    ("NaN", "NaN, Infinity and -Infinity are refused"),
    ('"0.9"', "Input should be a valid number"),
    ("true", "Input should be a valid number"),
])
def test_unbounded_or_mistyped_numbers_are_refused_before_anything_is_written(tmp_path, board, value, needle):
    """The earlier board stored an IQM of 10**400, after which rendering raised OverflowError for everyone."""
    submit_results(write_run(tmp_path / "first", make_records()), board)
    before = snapshot(board)
    path = write_run(tmp_path / "run", make_records(), suite=suite_info(tag="x"))
    (tmp_path / "run" / "episodes.jsonl").unlink()  # unverified: only the checks on numbers stand between
    results = load(path)
    results["aggregates"]["by_agent"]["mine|env"]["iqm_normalized_score"].update(mean="@@", ci_high="@@")
    path.write_text(json.dumps(results).replace('"@@"', value))
    with pytest.raises(SubmissionError) as info:
        submit_results(path, board)
    assert needle in str(info.value)
    assert snapshot(board) == before
    render_table(ranked_rows(load_leaderboard(board)))


NUMBERS = (st.integers() | st.integers(min_value=10**300, max_value=10**400) | st.floats() | st.none()
           | st.booleans() | st.text(max_size=5) | st.just([]) | st.just({}))


def _board_with(values: list) -> dict:
    numbers = iter(values)
    entry = {"agent": "a", "reward": "env", "envs": ["e|test"], "n_episodes": next(numbers),
             "iqm_normalized_score": {"mean": next(numbers), "ci_low": next(numbers), "ci_high": next(numbers)},
             "mean_success_rate": {"mean": next(numbers), "ci_low": next(numbers), "ci_high": next(numbers)}}
    other = {**entry, "agent": "b", "iqm_normalized_score": next(numbers), "mean_success_rate": next(numbers)}
    return {"schema_version": 2, "notes": [], "submissions": [
        {"id": "1" * 64, "submitted_at": "2026-11-23T04:00:00+00:00", "label": None,
         "suite": {"name": "s", "version": next(numbers), "hash": "0" * 64}, "results_schema_version": 2,
         "provenance": {}, "episodes_sha256": "2" * 64, "episodes_verified": next(numbers),
         "entries": [entry, other]}]}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(NUMBERS, min_size=11, max_size=11))
def test_rendering_never_fails_on_a_stored_board(tmp_path_factory, values):
    board = _board_with(values)
    render_table(ranked_rows(board))  # straight from the dict, valid or not
    render_markdown(board)
    path = tmp_path_factory.mktemp("b") / "leaderboard.json"
    try:
        path.write_text(json.dumps(board, allow_nan=True))
    except ValueError:  # an integer too long for str(): it could not be stored in the first place
        return
    try:
        loaded = load_leaderboard(path)
    except SubmissionError:
        return  # refused with a message, never a traceback
    render_table(ranked_rows(loaded))
    render_markdown(loaded)


def test_the_shipped_board_loads_and_renders():
    board = load_leaderboard(REPO / "leaderboard" / "leaderboard.json")
    render_table(ranked_rows(board))
    render_markdown(board)


# ---------------------------------------------------------------- 3. names


EVIL = [
    ("\x1b[31mred", "U+001B"),
    ("two\nlines", "U+000A"),
    ("\u202eelcaro", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("ze\u200bro", "U+200B (ZERO WIDTH SPACE)"),
    ("\u043eracle", "U+043E (CYRILLIC SMALL LETTER O)"),
    ("\uff4d\uff49\uff4e\uff45", "not in NFKC normal form: write 'mine'"),
    ("../../etc/passwd", "holds '..'"),
    ("/abs", "must start with a letter or a digit"),
    ("Oracle", "agent name 'Oracle' looks like 'oracle'"),
    ("0racle", "agent name '0racle' looks like 'oracle'"),
    ("rand0m", "looks like 'random'"),
]


@pytest.mark.parametrize(("name", "needle"), EVIL, ids=[ascii(name) for name, _ in EVIL])
def test_names_are_restricted(tmp_path, board, name, needle):
    path = write_run(tmp_path / "run", make_records({"oracle": 0.9, "random": 0.2, name: 0.6}))
    with pytest.raises(SubmissionError) as info:
        submit_results(path, board)
    assert needle in str(info.value)
    assert not board.exists()


def test_a_name_that_looks_like_one_on_the_board_is_refused(tmp_path, board):
    submit_results(write_run(tmp_path / "a", make_records()), board)
    before = snapshot(board)
    look_alike = write_run(tmp_path / "b", make_records({"oracle": 0.9, "random": 0.2, "M1NE": 0.6}),
                           suite=suite_info(tag="b"))
    with pytest.raises(SubmissionError, match="agent name 'M1NE' looks like 'mine' already on the board"):
        submit_results(look_alike, board)
    assert snapshot(board) == before
    suite = write_run(tmp_path / "c", make_records(), suite=suite_info(name="Crafted", tag="c"))
    with pytest.raises(SubmissionError, match="suite name 'Crafted' looks like 'crafted'"):
        submit_results(suite, board)


def _evil_board() -> dict:
    evil = "\x1b[2J\u202eevil|`x`<b>*_[y](z)\nnext\u200b\u0000"
    entry = {"agent": evil, "reward": evil, "envs": [evil + "|test"], "n_episodes": 3,
             "iqm_normalized_score": {"mean": 0.5, "ci_low": 0.1, "ci_high": 0.9}, "mean_success_rate": None}
    return {"schema_version": 2, "notes": [evil], "submissions": [
        {"id": "a" * 64, "submitted_at": evil, "label": evil, "suite": {"name": evil, "version": 1, "hash": evil},
         "episodes_verified": True, "entries": [entry]}]}


def test_every_renderer_escapes_what_it_prints():
    board = _evil_board()
    table = render_table(ranked_rows(board))
    assert all(" " <= char <= "~" or char == "\n" for char in table), ascii(table)
    assert len(table.splitlines()) == 4  # header, rule, one row, footnote: nothing broke a line
    page = render_markdown(board)
    assert all(" " <= char <= "~" or char == "\n" for char in page), ascii(page)
    for line in page.splitlines():
        if line.startswith("| 1 |"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 10  # the nine columns' pipes, none from the names
    assert "<b>" not in page and "`x`" not in page and "](z)" not in page.replace("\\](z)", "")


# ---------------------------------------------------------------- 4. one definition of counts


def test_a_run_with_failed_episodes_is_refused_in_one_plain_sentence(tmp_path, board):
    statuses = {(ENVS[0], "mine", 103): "failed", (ENVS[1], "mine", 104): "agent_error",
                (ENVS[1], "mine", 105): "agent_error"}
    path = write_run(tmp_path / "run", make_records(statuses=statuses))
    results = load(path)
    cells = {cell["cell"]: cell for cell in results["cells"]}
    failed_cell, erring_cell = f"{ENVS[0]}|mine|env|test", f"{ENVS[1]}|mine|env|test"
    counts = {cell: (cells[cell]["episodes"], cells[cell]["failed"], cells[cell]["incomplete"])
              for cell in (failed_cell, erring_cell)}
    assert counts == {failed_cell: (9, 1, True), erring_cell: (10, 0, False)}  # agent errors are scored episodes
    assert (results["n_episodes"], results["n_failed"]) == (59, 1)
    with pytest.raises(SubmissionError) as info:
        submit_results(path, board)
    assert str(info.value) == f"cells with failed episodes: {failed_cell}; re-run with --resume"
    assert not board.exists()


def test_a_run_whose_agent_erred_is_accepted_and_verified(tmp_path, board):
    statuses = {(ENVS[1], "mine", seed): "agent_error" for seed in (104, 105)}
    sub = submit_results(write_run(tmp_path / "run", make_records(statuses=statuses)), board)
    assert sub["episodes_verified"] is True
    assert {e["agent"]: e["n_episodes"] for e in sub["entries"]}["mine"] == 20


# ---------------------------------------------------------------- issue 10 point 9: like with like


def test_entries_rank_only_against_the_same_tasks(tmp_path, board):
    submit_results(write_run(tmp_path / "two", make_records()), board)
    one_env = make_records({"oracle": 0.9, "random": 0.2, "mine": 0.9}, envs=ENVS[:1])
    submit_results(write_run(tmp_path / "one", one_env, suite=suite_info(tag="one env")), board)
    rows = ranked_rows(load_leaderboard(board))
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    assert len(groups) == 2
    for group in groups.values():
        assert len({tuple(sorted(row["envs"])) for row in group}) == 1
        assert next(row["rank"] for row in group) == 1
    assert render_markdown(load_leaderboard(board)).count("## crafted@1, ") == 2


# ---------------------------------------------------------------- old boards; provenance


def test_an_old_board_is_migrated_with_a_note(tmp_path, board):
    old = {"schema_version": 1, "submissions": [{"id": "f" * 64, "label": "quickstart v2 (reference run)",
                                                 "suite": {"name": "quickstart", "version": 2, "hash": "0" * 64}}]}
    board.parent.mkdir(parents=True)
    board.write_text(json.dumps(old))
    migrated = load_leaderboard(board)
    assert migrated["schema_version"] == 2 and migrated["submissions"] == []
    (note,) = migrated["notes"]
    assert "1 submission under results schema version 1 was dropped" in note
    assert "quickstart@2 (quickstart v2 (reference run))" in note
    assert migrate_board(migrated) == migrated
    submit_results(write_run(tmp_path / "run", make_records()), board)
    stored = json.loads(board.read_text())
    assert stored["schema_version"] == 2 and stored["notes"] == [note] and len(stored["submissions"]) == 1
    assert "## Notes" in (board.parent / "leaderboard.md").read_text()


def test_credentials_never_reach_the_board(tmp_path, board):
    path = write_run(tmp_path / "run", make_records())
    results = load(path)
    results["provenance"]["command"] = ("agentgym run s --api-key sk-SECRET1 "
                                        "--agent-kwargs {\"base_url\": \"https://user:SECRET2@host/v1?key=SECRET3\"}")
    save(path, results)
    submit_results(path, board)
    stored = board.read_text()
    assert "SECRET" not in stored and "agentgym run s --api-key" in stored


def test_build_results_redacts_provenance(tmp_path):
    path = write_run(tmp_path / "run", make_records())
    records = read_episodes(tmp_path / "run" / "episodes.jsonl")
    results = build_results(records, suite_info(), tmp_path / "run" / "episodes.jsonl",
                            {**PROVENANCE, "command": "agentgym run x --base-url https://me:SECRET@h/v1"})
    assert "SECRET" not in json.dumps(results)
    assert math.isclose(results["aggregates"]["by_agent"]["mine|env"]["mean_success_rate"]["mean"],
                        load(path)["aggregates"]["by_agent"]["mine|env"]["mean_success_rate"]["mean"])
