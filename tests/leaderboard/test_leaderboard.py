"""Leaderboard: results.json checks, submission, merge under concurrency, ranking and rendering.

Validation-only tests use hand-made results dicts; submissions use crafted runs (records summarised
by the runner's own build_results), since a submission with its episodes file is recomputed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import multiprocessing
import traceback
from pathlib import Path

import jsonschema
import pytest
from crafted_runs import load, make_records, save, suite_info, write_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgym.bench.tables import format_interval
from agentgym.core.errors import SubmissionError
from agentgym.leaderboard import (
    load_leaderboard,
    load_schema,
    ranked_rows,
    render_markdown,
    render_table,
    submission_id,
    submit_results,
    validate_results,
)

REPO = Path(__file__).resolve().parents[2]


def interval(mean, low=None, high=None):
    """An interval dict; the bounds default to the mean."""
    return {"mean": mean, "ci_low": mean if low is None else low, "ci_high": mean if high is None else high}


def make_cell(agent, success, episodes=20, failed=0, env="agentgym/FrozenLake-v0", split="test"):
    """A valid results cell for ``agent`` with reward ``env``."""
    return {
        "cell": f"{env}|{agent}|env|{split}",
        "env": env,
        "agent": agent,
        "reward": "env",
        "split": split,
        "episodes": episodes,
        "failed": failed,
        "incomplete": failed > 0,
        "metrics": {
            "success_rate": interval(success, max(0.0, success - 0.1), min(1.0, success + 0.1)),
            "return": interval(success, success - 0.1, success + 0.1),
            "proxy_return": interval(success),
            "normalized_score": interval(success, success - 0.2, success + 0.2),
            "progress": interval(success),
            "steps": interval(12.5, 10.0, 15.0),
            "regret": None if success == 0 else interval(0.5, 0.0, 1.0),
            "invalid_action_rate": interval(0.0),
            "pass^2": interval(success * success),
        },
    }


def make_results(episodes: bytes = b'{"episode": 0}\n', tag: str = "a", scores=(0.9, 0.1)) -> dict:
    """A valid results dict whose episodes_sha256 matches ``episodes``."""
    oracle, random = scores
    cells = [make_cell("oracle", oracle), make_cell("random", random)]
    envs = ["agentgym/FrozenLake-v0|test"]
    return {
        "schema_version": 2,
        "suite": {"name": "quickstart", "version": 1, "hash": hashlib.sha256(b"suite spec").hexdigest()},
        "provenance": {
            "agentgym_version": "0.1.0",
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "python": "3.11.7",
            "torch": None,
            "gymnasium": "1.4.0",
            "platform": f"Linux-test-{tag}",
            "created_at": "2026-11-23T04:00:00+00:00",
            "executor": "local",
            "workers": 1,
        },
        "episodes_file": "episodes.jsonl",
        "episodes_sha256": hashlib.sha256(episodes).hexdigest(),
        "bootstrap_seed": 0,
        "n_episodes": 40,
        "n_failed": 0,
        "cells": cells,
        "aggregates": {
            "by_agent": {
                "oracle|env": {"envs": envs, "iqm_normalized_score": interval(oracle, oracle - 0.2, oracle + 0.2),
                               "mean_success_rate": interval(oracle, oracle - 0.1, min(1.0, oracle + 0.1))},
                "random|env": {"envs": envs, "iqm_normalized_score": interval(random, random - 0.2, random + 0.2),
                               "mean_success_rate": interval(random, max(0.0, random - 0.1), random + 0.1)},
            },
            "probability_of_improvement": [
                {"x": "oracle|env", "y": "random|env", "envs": envs, "mean": 0.9, "ci_low": 0.8, "ci_high": 1.0}
            ],
        },
    }


def write_submission(folder: Path, results: dict | None = None, episodes: bytes = b'{"episode": 0}\n',
                     text: str | None = None, write_episodes: bool = True) -> Path:
    """Write results.json (``text`` verbatim, else ``results``) and episodes.jsonl into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if write_episodes:
        (folder / "episodes.jsonl").write_bytes(episodes)
    path = folder / "results.json"
    path.write_text(text if text is not None else json.dumps(results or make_results(episodes), indent=2))
    return path


@pytest.fixture()
def results() -> dict:
    return make_results()


@pytest.fixture()
def board(tmp_path) -> Path:
    return tmp_path / "board" / "leaderboard.json"


# ---------------------------------------------------------------- schemas


def test_schemas_are_valid_drafts():
    for name in ("results", "leaderboard"):
        jsonschema.Draft202012Validator.check_schema(load_schema(name))


def test_hand_made_results_pass_the_generated_schema_too(results):
    jsonschema.Draft202012Validator(load_schema("results")).validate(results)


def test_valid_results_pass(results):
    validate_results(results)


def test_every_problem_is_listed_with_its_path(results):
    results["cells"][0]["metrics"]["success_rate"]["mean"] = 1.5
    results["cells"][1]["metrics"]["steps"] = interval(-1.0)
    results["cells"][1]["episodes"] = "20"
    with pytest.raises(SubmissionError) as info:
        validate_results(results)
    text = str(info.value)
    assert "$.cells[0].metrics.success_rate.mean: Input should be less than or equal to 1, got 1.5" in text
    assert "$.cells[1].metrics.steps.mean" in text
    assert "$.cells[1].episodes: Input should be a valid integer, got '20'" in text
    assert len(info.value.problems) >= 5  # mean above max, three steps bounds, episodes


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r["cells"][0]["metrics"].__setitem__("return", interval(float("nan"))), "not a finite number"),
        (lambda r: r["aggregates"]["by_agent"]["oracle|env"]["iqm_normalized_score"].__setitem__("mean", float("inf")),
         "not a finite number"),
        (lambda r: r["cells"][0]["metrics"].__setitem__("pass^3", interval(2.0)), "pass^3"),
        (lambda r: r["cells"][0]["metrics"].__setitem__("invalid_action_rate", interval(-0.5)), "invalid_action_rate"),
        (lambda r: r["cells"][0]["metrics"].__setitem__("custom", interval(0.5, 0.6, 0.7)), "ci_low 0.6 is above mean"),
        (lambda r: r["cells"][0]["metrics"].__setitem__("return", interval(0.5, 0.6, 0.7)), "ci_low 0.6 is above mean"),
        (lambda r: r["aggregates"]["probability_of_improvement"][0].__setitem__("ci_high", 0.5), "above ci_high"),
        (lambda r: r["cells"][0].__setitem__("failed", 3), "incomplete is False but failed is 3"),
        (lambda r: r["cells"][0].__setitem__("cell", "x|y|z|w"), "should be"),
        (lambda r: r["cells"].append(copy.deepcopy(r["cells"][0])), "is listed twice"),
        (lambda r: r.__setitem__("episodes_file", "../secret"), "episodes_file"),
        (lambda r: r["provenance"].__setitem__("created_at", "yesterday"), "created_at"),
        (lambda r: r["provenance"].__setitem__("workers", 0), "workers"),
        (lambda r: r["suite"].__setitem__("hash", "abc"), "$.suite.hash"),
        (lambda r: r["aggregates"]["by_agent"].__setitem__("ghost|env", r["aggregates"]["by_agent"]["oracle|env"]),
         "no cell has agent|reward"),
        (lambda r: r["cells"][0]["metrics"].__setitem__("steps", "12"), "$.cells[0].metrics.steps"),
        (lambda r: r.__setitem__("schema_version", 1), "schema_version 1 is not accepted"),
        (lambda r: r.__setitem__("n_episodes", True), "$.n_episodes: Input should be a valid integer"),
        (lambda r: r["cells"][0].__setitem__("episodes", 20.0), "$.cells[0].episodes: Input should be a valid integer"),
        (lambda r: r["cells"][0]["metrics"]["return"].__setitem__("mean", 10**400), "beyond +-2**53"),
        (lambda r: r["cells"][0]["metrics"]["return"].__setitem__("mean", 1e300), "beyond +-1e+15"),
        (lambda r: r["cells"][0]["metrics"]["success_rate"].update(mean=1e300, ci_high=1e300), "beyond +-1e+15"),
        (lambda r: r["cells"][0]["metrics"]["success_rate"].__setitem__("mean", "0.9"),
         "$.cells[0].metrics.success_rate.mean: Input should be a valid number"),
    ],
)
def test_semantic_and_schema_refusals(results, mutate, needle):
    mutate(results)
    with pytest.raises(SubmissionError, match="results refused") as info:
        validate_results(results)
    assert needle in str(info.value)


def test_non_json_structure_refused():
    with pytest.raises(SubmissionError, match="not a string"):
        validate_results({1: "a"})
    with pytest.raises(SubmissionError, match="not a JSON value"):
        validate_results({"a": {1, 2}})


# ---------------------------------------------------------------- hypothesis: garbage in, SubmissionError out

KEYS = ["schema_version", "suite", "provenance", "cells", "aggregates", "by_agent", "metrics", "success_rate",
        "mean", "ci_low", "ci_high", "episodes", "failed", "n_episodes", "envs", "oracle|env", "pass^2",
        "bootstrap_seed", "incomplete"]
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
           | st.sampled_from([0, 1, 0.5, -1, 10**400, "episodes.jsonl", "a" * 64]))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_garbage_raises_submission_error(value):
    with pytest.raises(SubmissionError):
        validate_results(value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_results_raise_only_submission_error(data):
    results = make_results()
    node = results
    while True:  # walk down to a random container, then replace or drop one of its children
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and data.draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and data.draw(st.booleans()):
            del node[key]
        else:
            node[key] = data.draw(JSON_VALUES)
        break
    try:
        validate_results(results)
    except SubmissionError:
        pass


# ---------------------------------------------------------------- submit


def crafted(folder: Path, tag: str = "", rates=None, **kwargs) -> Path:
    """A crafted run (its own suite hash per ``tag``) in ``folder``; the results path."""
    return write_run(folder, make_records(rates), suite=suite_info(tag=tag), **kwargs)


def test_accepted_submission_appears_ranked(tmp_path, board):
    path = crafted(tmp_path / "run1")
    sub = submit_results(path, board, label="first run")
    assert sub["episodes_verified"] is True
    assert sub["id"] == submission_id(json.loads(path.read_text()))
    loaded = load_leaderboard(board)
    assert [s["id"] for s in loaded["submissions"]] == [sub["id"]]
    rows = ranked_rows(loaded)
    assert [(r["rank"], r["agent"], r["reward"]) for r in rows] == [(1, "oracle", "env"), (2, "mine", "env"),
                                                                  (3, "random", "env")]
    assert rows[0]["suite"] == "crafted" and rows[0]["suite_version"] == 1
    assert {r["n_episodes"] for r in rows} == {20}
    table = render_table(rows)
    assert "crafted@1" in table and sub["id"][:8] in table and "first run" in table
    results = load(path)
    assert format_interval(results["aggregates"]["by_agent"]["oracle|env"]["iqm_normalized_score"]) in table
    page = (board.parent / "leaderboard.md").read_text()
    assert page == render_markdown(loaded)
    assert "## crafted@1, 2 tasks" in page and "| 1 | oracle | env |" in page


def test_absent_episodes_file_is_accepted_unverified(tmp_path, board):
    path = crafted(tmp_path / "run")
    (tmp_path / "run" / "episodes.jsonl").unlink()
    sub = submit_results(path, board)
    assert sub["episodes_verified"] is False
    rows = ranked_rows(load_leaderboard(board))
    assert {r["rank"] for r in rows} == {None}
    assert "*" in render_table(rows) and "unverified" in render_table(rows)


def _text(mutate):
    def build(path: Path) -> str:
        data = load(path)
        mutate(data)
        return json.dumps(data, indent=2)

    return build


def _replace_first(old, new):
    return lambda path: path.read_text().replace(old, new, 1)


@pytest.mark.parametrize(
    ("build_text", "needle"),
    [
        pytest.param(_replace_first('"mean": 0.8,', '"mean": NaN,'), "mean: NaN",
                     id="nan"),
        pytest.param(_replace_first('"mean": 0.8,', '"mean": Infinity,'),
                     "mean: Infinity", id="infinity"),
        pytest.param(_replace_first('"mean": 0.8,', '"mean": -Infinity,'), "NaN, Infinity and -Infinity are refused",
                     id="-inf"),
        pytest.param(_text(lambda d: d["cells"][1]["metrics"]["success_rate"].update(mean=1.5, ci_high=1.6)),
                     "success_rate.mean: Input should be less than or equal to 1", id="success-1.5"),
        pytest.param(_text(lambda d: d["cells"][0]["metrics"]["return"].update(ci_low=5.0)),
                     "ci_low 5.0 is above mean", id="ci-order"),
        pytest.param(_text(lambda d: d["provenance"].pop("git_commit")), "$.provenance.git_commit: Field required",
                     id="no-git-commit"),
        pytest.param(_text(lambda d: d.pop("provenance")), "$.provenance: Field required", id="no-provenance"),
        pytest.param(_text(lambda d: d.update(schema_version=7)), "schema_version 7 is not accepted",
                     id="schema-version"),
        pytest.param(_text(lambda d: d.update(n_episodes=41)), "n_episodes 41 differs", id="n-episodes"),
        pytest.param(lambda path: "this is not json {", "is not valid JSON", id="not-json"),
        pytest.param(lambda path: '{"a": 1,}', "is not valid JSON", id="trailing-comma"),
        pytest.param(lambda path: "[" * 100_000, "is not valid JSON", id="deep-nesting"),
        pytest.param(lambda path: '{"a": 1, "a": 2}', "a key repeats within one object ('a')", id="repeated-key"),
    ],
)
def test_refusals_name_the_problem(tmp_path, board, build_text, needle):
    path = crafted(tmp_path / "run")
    path.write_text(build_text(path))
    with pytest.raises(SubmissionError) as info:
        submit_results(path, board)
    assert needle in str(info.value)
    assert not board.exists()


def test_episodes_checksum_mismatch_refused(tmp_path, board):
    path = crafted(tmp_path / "run")
    episodes = tmp_path / "run" / "episodes.jsonl"
    episodes.write_bytes(episodes.read_bytes() + b"\n")
    with pytest.raises(SubmissionError, match="episodes checksum mismatch"):
        submit_results(path, board)
    assert not board.exists()


def test_oversize_refused_before_parsing(tmp_path, board):
    path = tmp_path / "results.json"
    path.write_text("x" * 200)  # not JSON either: size is checked first
    with pytest.raises(SubmissionError, match="200 bytes, over the limit of 100 bytes"):
        submit_results(path, board, max_bytes=100)


def test_missing_results_file_refused(tmp_path, board):
    with pytest.raises(SubmissionError, match="no results file"):
        submit_results(tmp_path / "nope.json", board)


@pytest.mark.parametrize(("label", "needle"), [("two\nlines", r"U\+000A"), ("caf\u00e9", "printable ASCII"),
                                               ("x" * 201, "over the limit of 200"), (3, "must be a string")])
def test_bad_label_refused(tmp_path, board, label, needle):
    path = crafted(tmp_path / "run")
    with pytest.raises(SubmissionError, match=needle):
        submit_results(path, board, label=label)
    assert not board.exists()


def test_duplicates_refused(tmp_path, board):
    first = submit_results(crafted(tmp_path / "run1"), board)
    with pytest.raises(SubmissionError, match=f"duplicate submission.*{first['id'][:12]}"):
        submit_results(crafted(tmp_path / "run2"), board)  # same content
    moved = crafted(tmp_path / "run3")
    renamed = load(moved)
    renamed["provenance"]["platform"] = "Linux-other-machine"  # different content, same episodes and suite
    save(moved, renamed)
    with pytest.raises(SubmissionError, match="duplicate submission"):
        submit_results(moved, board)
    assert len(load_leaderboard(board)["submissions"]) == 1


@pytest.mark.parametrize("content", [b"{not json", b'{"schema_version": 2}', b'{"schema_version": 2, "submissions": 3}',
                                     b"\xff\xfe", b'{"schema_version": 2, "submissions": [], "notes": ["\\u202e"]}'])
def test_corrupt_board_left_untouched(tmp_path, board, content):
    board.parent.mkdir(parents=True)
    board.write_bytes(content)
    with pytest.raises(SubmissionError, match="corrupt"):
        submit_results(crafted(tmp_path / "run"), board)
    assert board.read_bytes() == content
    assert not (board.parent / "leaderboard.md").exists()


def test_submissions_accumulate_and_rank(tmp_path, board):
    strong = submit_results(crafted(tmp_path / "a", "a", rates={"oracle": 0.9, "random": 0.2, "mine": 0.8}), board)
    weak = submit_results(crafted(tmp_path / "b", "b", rates={"oracle": 0.9, "random": 0.2, "mine": 0.5}), board)
    rows = ranked_rows(load_leaderboard(board))
    mine = [(r["rank"], r["id"]) for r in rows if r["agent"] == "mine"]
    assert mine == sorted(mine) and [i for _, i in mine] == [strong["id"], weak["id"]]
    assert [r["rank"] for r in rows] == [1, 1, 3, 4, 5, 5]  # the two oracles and the two randoms tie
    assert ranked_rows(load_leaderboard(board), suite="other") == []
    assert len(ranked_rows(load_leaderboard(board), suite="crafted@1")) == 6


def _row(iqm, success, sub="s1", suite="quickstart", version=1, agent="a", verified=True, envs=("e|test",)):
    return {"id": sub * 64, "submitted_at": "2026-11-23T04:00:00+00:00", "label": None, "episodes_verified": verified,
            "suite": {"name": suite, "version": version, "hash": "0" * 64}, "results_schema_version": 2,
            "provenance": {}, "episodes_sha256": "1" * 64,
            "entries": [{"agent": agent, "reward": "env", "envs": list(envs),
                         "iqm_normalized_score": None if iqm is None else interval(iqm),
                         "mean_success_rate": None if success is None else interval(success)}]}


def test_ranking_null_last_ties_share_rank_and_suites_rank_apart():
    board = {"schema_version": 2, "submissions": [
        _row(None, 0.9, "n"), _row(0.5, 0.2, "b"), _row(0.5, 0.4, "a"), _row(0.5, 0.4, "c"),
        _row(0.1, 0.1, "o", version=2), _row(None, None, "z")]}
    rows = ranked_rows(board)
    assert [(r["suite_version"], r["rank"], r["id"][:1]) for r in rows] == [
        (2, 1, "o"), (1, 1, "a"), (1, 1, "c"), (1, 3, "b"), (1, 4, "n"), (1, 5, "z")]
    table = render_table(rows)
    assert table.splitlines()[0].split()[:3] == ["rank", "suite", "envs"]
    assert " - " in table  # undefined score shown as "-"
    assert render_table([]) == "(no submissions)\n"
    page = render_markdown(board)
    assert "## quickstart@2" in page and "## quickstart@1" in page


def test_markdown_escapes_labels(tmp_path, board):
    submit_results(crafted(tmp_path / "run"), board, label="a|b <script>")
    page = (board.parent / "leaderboard.md").read_text()
    assert "a\\|b &lt;script&gt;" in page


# ---------------------------------------------------------------- concurrency


def _submit_worker(results_path, board_path, barrier, queue):
    try:
        barrier.wait(timeout=30)
        sub = submit_results(results_path, board_path, label=Path(results_path).parent.name)
        queue.put(("ok", sub["id"]))
    except BaseException:  # report everything to the parent
        queue.put(("error", traceback.format_exc()))


@pytest.mark.slow
def test_concurrent_submits_all_land(tmp_path, board):
    n = 8
    paths = [crafted(tmp_path / f"w{i}", str(i)) for i in range(n)]
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_submit_worker, args=(str(p), str(board), barrier, queue)) for p in paths]
    for proc in procs:
        proc.start()
    outcomes = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert [kind for kind, _ in outcomes] == ["ok"] * n, outcomes
    loaded = load_leaderboard(board)
    assert sorted(s["id"] for s in loaded["submissions"]) == sorted(sub_id for _, sub_id in outcomes)
    assert sorted(s["label"] for s in loaded["submissions"]) == [f"w{i}" for i in range(n)]
    assert (board.parent / "leaderboard.md").read_text() == render_markdown(loaded)
    assert not list(board.parent.glob("*.tmp"))
