"""Malformed and malicious submissions (issue 18): every one refused with a message, the board
byte for byte as it was, and the board still loading and rendering.

Each case starts from a crafted run that would be accepted (checked first), changes one thing, and
submits it onto a board that already holds one submission.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from crafted_runs import ENVS, load, make_records, save, suite_info, write_run

from agentgym.core.errors import SubmissionError
from agentgym.core.files import sha256_file
from agentgym.leaderboard import load_leaderboard, ranked_rows, render_markdown, render_table, submit_results

Mutation = Callable[[Path], dict]  # changes the run folder; returns extra keyword arguments for submit_results


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    submit_results(write_run(root / "board_run", make_records()), root / "board" / "leaderboard.json",
                   label="the board's own")
    write_run(root / "template", make_records(), suite=suite_info(tag="template"), shuffle_seed=1)
    return root


def results(change: Callable[[dict], object]) -> Mutation:
    def mutate(folder: Path) -> dict:
        data = load(folder / "results.json")
        change(data)
        save(folder / "results.json", data)
        return {}
    return mutate


def text(change: Callable[[str], str]) -> Mutation:
    def mutate(folder: Path) -> dict:
        path = folder / "results.json"
        path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
        return {}
    return mutate


def raw(content: bytes) -> Mutation:
    def mutate(folder: Path) -> dict:
        (folder / "results.json").write_bytes(content)
        return {}
    return mutate


def episodes(change: Callable[[list[bytes]], list[bytes]], rehash: bool = True) -> Mutation:
    """Change the episodes file's lines; with ``rehash`` the results' checksum is updated to match."""
    def mutate(folder: Path) -> dict:
        path = folder / "episodes.jsonl"
        path.write_bytes(b"".join(change(path.read_bytes().splitlines(keepends=True))))
        if rehash:
            data = load(folder / "results.json")
            data["episodes_sha256"] = sha256_file(path)
            save(folder / "results.json", data)
        return {}
    return mutate


def rebuild(rates: dict | None = None, suite: dict | None = None, **kwargs) -> Mutation:
    """A whole new, self-consistent run (records, episodes and results) with other names or outcomes."""
    def mutate(folder: Path) -> dict:
        shutil.rmtree(folder)
        write_run(folder, make_records(rates, **kwargs), suite=suite or suite_info(tag="rebuilt"))
        return {}
    return mutate


def label(value: object) -> Mutation:
    return lambda folder: {"label": value}


def first_cell(key: str, value: object) -> Mutation:
    return results(lambda d: d["cells"][0].__setitem__(key, value))


def metric(name: str, **values: object) -> Mutation:
    return results(lambda d: d["cells"][0]["metrics"][name].update(values))


def by_agent(name: str, **values: object) -> Mutation:
    return results(lambda d: d["aggregates"]["by_agent"]["mine|env"][name].update(values))


def flip_success(lines: list[bytes]) -> list[bytes]:
    record = json.loads(lines[0])
    record["success"] = not record["success"]
    return [json.dumps(record, sort_keys=True).encode() + b"\n", *lines[1:]]


def nested(depth: int) -> dict:
    value: dict = {"mean": 0.5}
    for _ in range(depth):
        value = {"x": value}
    return value


def copy_board_run(folder: Path) -> dict:
    shutil.rmtree(folder)
    shutil.copytree(folder.parent.parent / "board_run", folder)
    return {}


def make_dir(folder: Path) -> dict:
    (folder / "results.json").unlink()
    (folder / "results.json").mkdir()
    return {}


def rename_agent(name: str) -> dict:
    return {"oracle": 0.9, "random": 0.2, name: 0.6}


FAILED = {(ENVS[0], "mine", 101): "failed"}

CASES: list[tuple[str, Mutation, str]] = [
    # not JSON, or not a results object
    ("not-json", raw(b"nope {"), "is not valid JSON"),
    ("empty-file", raw(b""), "is not valid JSON"),
    ("top-level-array", raw(b"[]"), "Input should be a valid dictionary"),
    ("top-level-null", raw(b"null"), "Input should be a valid dictionary"),
    ("top-level-string", raw(b'"results"'), "Input should be a valid dictionary"),
    ("not-utf8", raw(b'{"a": "\xff"}'), "not UTF-8"),
    ("utf8-bom", raw(b"\xef\xbb\xbf{}"), "is not valid JSON"),
    ("repeated-key", raw(b'{"schema_version": 2, "schema_version": 1}'), "a key repeats within one object"),
    ("digit-limit", text(lambda t: t.replace('"bootstrap_seed": 0', '"bootstrap_seed": ' + "9" * 5000)),
     "is not valid JSON"),
    ("oversize", results(lambda d: d.__setitem__("padding", "x" * 6_000_000)), "over the limit of 5000000 bytes"),
    ("results-is-a-folder", make_dir, "is not a file"),
    # numbers
    ("nan", text(lambda t: t.replace('"mean": ', '"mean": NaN, "was": ', 1)), "NaN, Infinity and -Infinity"),
    ("infinity", text(lambda t: t.replace('"bootstrap_seed": 0', '"bootstrap_seed": Infinity')), "Infinity"),
    ("int-10**400", by_agent("iqm_normalized_score", mean=10**400), "beyond +-2**53"),
    ("rate-1e300", by_agent("mean_success_rate", mean=1e300), "beyond +-1e+15"),
    ("return-1e300", metric("return", mean=1e300, ci_high=1e300), "beyond +-1e+15"),
    ("rate-above-1", metric("success_rate", mean=1.5, ci_high=1.5), "less than or equal to 1"),
    ("negative-steps", metric("steps", mean=-1.0, ci_low=-1.0), "greater than or equal to 0"),
    ("string-number", metric("success_rate", mean="0.5"), "Input should be a valid number"),
    ("bool-count", first_cell("episodes", True), "Input should be a valid integer"),
    ("float-count", first_cell("episodes", 10.0), "Input should be a valid integer"),
    ("negative-count", first_cell("failed", -1), "greater than or equal to 0"),
    ("negative-n-failed", results(lambda d: d.__setitem__("n_failed", -1)), "greater than or equal to 0"),
    ("ci-low-above-mean", metric("return", ci_low=50.0), "ci_low 50.0 is above mean"),
    ("pass-k-above-1", results(lambda d: d["cells"][0]["metrics"].__setitem__(
        "pass^2", {"mean": 1.5, "ci_low": 1.5, "ci_high": 1.5})), "pass^2"),
    ("deep-nesting", results(lambda d: d["cells"][0]["metrics"].__setitem__("deep", nested(60))),
     "nested deeper than 32 levels"),
    # structure
    ("no-schema-version", results(lambda d: d.pop("schema_version")), "$.schema_version: Field required"),
    ("old-schema-version", results(lambda d: d.__setitem__("schema_version", 1)), "schema_version 1 is not accepted"),
    ("string-schema-version", results(lambda d: d.__setitem__("schema_version", "2")), "is not accepted"),
    ("no-provenance", results(lambda d: d.pop("provenance")), "$.provenance: Field required"),
    ("no-cells", results(lambda d: d.pop("cells")), "$.cells: Field required"),
    ("empty-cells", results(lambda d: d.__setitem__("cells", [])), "at least 1 item"),
    ("no-aggregates", results(lambda d: d.pop("aggregates")), "$.aggregates: Field required"),
    ("empty-by-agent", results(lambda d: d["aggregates"].__setitem__("by_agent", {})), "at least 1 item"),
    ("ghost-aggregate", results(lambda d: d["aggregates"]["by_agent"].__setitem__(
        "ghost|env", d["aggregates"]["by_agent"]["mine|env"])), "no cell has agent|reward 'ghost|env'"),
    ("three-part-agent-key", results(lambda d: d["aggregates"]["by_agent"].__setitem__(
        "a|b|c", d["aggregates"]["by_agent"]["mine|env"])), "is not 'agent|reward'"),
    ("bad-task-label", results(lambda d: d["aggregates"]["by_agent"]["mine|env"]["envs"].append("nope")),
     "is not 'env|split'"),
    ("duplicated-cell", results(lambda d: d["cells"].append(d["cells"][0])), "is listed twice"),
    ("cell-id-mismatch", first_cell("cell", "toy/GridA-v0|other|env|test"), "should be"),
    ("n-episodes-mismatch", results(lambda d: d.__setitem__("n_episodes", d["n_episodes"] + 1)), "differs"),
    ("incomplete-flag-lie", first_cell("incomplete", True), "cells with failed episodes"),
    ("created-at-garbage", results(lambda d: d["provenance"].__setitem__("created_at", "yesterday")),
     "is not an ISO 8601 time stamp"),
    ("workers-0", results(lambda d: d["provenance"].__setitem__("workers", 0)), "greater than or equal to 1"),
    ("git-commit-not-hex", results(lambda d: d["provenance"].__setitem__("git_commit", "main; rm -rf /")),
     "git_commit"),
    ("suite-version-negative", results(lambda d: d["suite"].__setitem__("version", -1)), "$.suite.version"),
    ("sha-uppercase", results(lambda d: d.__setitem__("episodes_sha256", d["episodes_sha256"].upper())),
     "$.episodes_sha256"),
    ("huge-string", results(lambda d: d["provenance"].__setitem__("platform", "x" * 20_000)),
     "over the limit of 10000"),
    ("control-char-key", results(lambda d: d["cells"][0]["metrics"].__setitem__("\u202e", None)),
     "a key holds U+202E"),
    ("control-char-value", results(lambda d: d["provenance"].__setitem__("python", "3.11\x1b[2J")), "U+001B"),
    # the episodes file
    ("path-traversal", results(lambda d: d.__setitem__("episodes_file", "../episodes.jsonl")),
     "is not a bare file name"),
    ("absolute-path", results(lambda d: d.__setitem__("episodes_file", "/etc/passwd")), "is not a bare file name"),
    ("empty-episodes-name", results(lambda d: d.__setitem__("episodes_file", "")), "$.episodes_file"),
    ("checksum-mismatch", episodes(lambda lines: lines[:-1], rehash=False), "episodes checksum mismatch"),
    ("corrupt-episode-line", episodes(lambda lines: [lines[0], b"{garbage\n", *lines[1:]]), "line 2 is not JSON"),
    ("duplicated-episode", episodes(lambda lines: [*lines, lines[0]]), "repeats episode"),
    ("tampered-episode", episodes(flip_success), "do not match their episodes file"),
    ("missing-episodes", episodes(lambda lines: [line for line in lines if b'"agent": "mine"' not in line]),
     "in the results but has no episodes"),
    ("episodes-of-another-run", episodes(lambda lines: [json.dumps(r, sort_keys=True).encode() + b"\n"
                                                        for r in make_records({"oracle": 0.9, "random": 0.2,
                                                                               "mine": 0.1})]),
     "do not match their episodes file"),
    # numbers edited beside untouched episodes
    ("inflated-iqm", by_agent("iqm_normalized_score", mean=2.0, ci_high=2.0), "iqm_normalized_score.mean"),
    ("inflated-success", metric("success_rate", mean=0.85, ci_high=0.95), "metrics.success_rate"),
    ("shifted-interval", metric("return", ci_low=-5.0), "metrics.return.ci_low"),
    ("injected-metric", results(lambda d: d["cells"][0]["metrics"].__setitem__(
        "bonus", {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0})), "metrics.bonus: not computed from the episodes"),
    ("injected-top-level", results(lambda d: d.__setitem__("verified", True)), "verified: not computed"),
    ("removed-metric", results(lambda d: d["cells"][0]["metrics"].pop("steps")), "steps: missing"),
    ("other-bootstrap-seed", results(lambda d: d.__setitem__("bootstrap_seed", 1)), "do not match"),
    # names
    ("ansi-agent", rebuild(rename_agent("\x1b[31mmine")), "U+001B"),
    ("newline-agent", rebuild(rename_agent("mi\nne")), "U+000A"),
    ("bidi-agent", rebuild(rename_agent("\u202eenim")), "U+202E"),
    ("zero-width-agent", rebuild(rename_agent("mi\u200bne")), "U+200B"),
    ("cyrillic-agent", rebuild(rename_agent("\u043eracle")), "CYRILLIC SMALL LETTER O"),
    ("full-width-agent", rebuild(rename_agent("\uff4d\uff49\uff4e\uff45")), "NFKC"),
    ("look-alike-on-board", rebuild(rename_agent("M1NE")), "looks like 'mine' already on the board"),
    ("look-alike-reference", rebuild(rename_agent("0racle")), "looks like 'oracle'"),
    ("traversal-suite", rebuild(suite=suite_info(name="../../etc")), "holds '..'"),
    ("pipe-in-env", rebuild(envs=("toy/A|B-v0",)), "U+007C"),
    ("html-agent", rebuild(rename_agent("<script>")), "U+003C"),
    ("bad-label-newline", label("a\nb"), "U+000A"),
    ("bad-label-unicode", label("caf\u00e9"), "printable ASCII"),
    ("bad-label-type", label(["x"]), "must be a string"),
    # failures, references, duplicates
    ("failed-episodes", rebuild(statuses=FAILED), "cells with failed episodes: toy/GridA-v0|mine|env|test; "
                                                  "re-run with --resume"),
    ("no-random-reference", rebuild({"oracle": 0.9, "mine": 0.6}), "no random reference cell"),
    ("duplicate-of-board", copy_board_run, "duplicate submission"),
]


def test_there_are_at_least_fifty_kinds():
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES) >= 50


def _fresh(base: Path, tmp_path: Path) -> tuple[Path, Path]:
    run = tmp_path / "runs" / "run"
    shutil.copytree(base / "template", run)
    shutil.copytree(base / "board", tmp_path / "board")
    shutil.copytree(base / "board_run", tmp_path / "board_run")  # for the duplicate case
    return run, tmp_path / "board" / "leaderboard.json"


def _state(board: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(board.parent.iterdir()) if path.suffix in (".json", ".md")]


def test_the_template_is_accepted(base, tmp_path):
    run, board = _fresh(base, tmp_path)
    assert submit_results(run / "results.json", board)["episodes_verified"] is True


@pytest.mark.parametrize(("mutate", "needle"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_refused_and_the_board_untouched(base, tmp_path, mutate, needle):
    run, board = _fresh(base, tmp_path)
    before = _state(board)
    kwargs = mutate(run)
    with pytest.raises(SubmissionError) as info:
        submit_results(run / "results.json", board, **kwargs)
    assert needle in str(info.value)
    assert len(str(info.value)) < 5_000  # a message, not a dump
    assert _state(board) == before
    loaded = load_leaderboard(board)
    assert render_table(ranked_rows(loaded))
    assert render_markdown(loaded) == (board.parent / "leaderboard.md").read_text()
