"""episodes.jsonl: resuming keeps every readable record and quarantines the rest (issue 18, point 10);
verifying a submission refuses any unreadable line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgym.bench.episode_log import QUARANTINE_NAME, EpisodeLog, EpisodeLogError, read_episodes


def record(i: int, **extra) -> dict:
    cell = "toy/E-v0|a|env|test"
    return {"key": f"{cell}/{i}/0", "cell": cell, "env": "toy/E-v0", "agent": "a", "reward": "env", "split": "test",
            "seed": i, "repeat": 0, "status": "ok", "steps": 3, **extra}


def lines(n: int) -> list[bytes]:
    return [json.dumps(record(i), sort_keys=True).encode() + b"\n" for i in range(n)]


def test_a_corrupt_line_in_the_middle_is_quarantined_and_the_rest_kept(tmp_path, caplog):
    path = tmp_path / "episodes.jsonl"
    good = lines(6)
    path.write_bytes(b"".join(good[:2]) + b'{"key": "broken\n' + b"".join(good[2:]))
    with caplog.at_level(logging.WARNING):
        log = EpisodeLog(path)
    log.close()
    assert [r["seed"] for r in log.records] == [0, 1, 2, 3, 4, 5]  # nothing after the bad line is lost
    assert log.quarantined == [3]
    assert path.read_bytes() == b"".join(good)
    (entry,) = [json.loads(line) for line in (tmp_path / QUARANTINE_NAME).read_text().splitlines()]
    assert entry["line"] == 3 and entry["text"] == '{"key": "broken' and entry["reason"].startswith("not JSON")
    assert "1 unreadable or repeated line (3) moved to" in caplog.text and "6 good records are kept" in caplog.text


def test_repeated_keys_are_quarantined_and_a_torn_tail_dropped_quietly(tmp_path, caplog):
    path = tmp_path / "episodes.jsonl"
    good = lines(3)
    path.write_bytes(good[0] + good[1] + good[0] + b"[1, 2]\n" + b"\xff\xfe\n" + good[2] + b'{"key": "cut sh')
    with caplog.at_level(logging.WARNING):
        log = EpisodeLog(path)
    log.append(record(9))
    log.close()
    assert [r["seed"] for r in log.records] == [0, 1, 2, 9]
    assert log.quarantined == [3, 4, 5]
    reasons = [json.loads(line)["reason"] for line in (tmp_path / QUARANTINE_NAME).read_text().splitlines()]
    assert reasons[0].startswith("repeats the key") and reasons[1] == "not an episode record (no key)"
    assert path.read_bytes() == good[0] + good[1] + good[2] + lines(10)[9]


def test_a_clean_log_is_left_alone(tmp_path, caplog):
    path = tmp_path / "episodes.jsonl"
    path.write_bytes(b"".join(lines(3)) + b'{"key": "torn')
    with caplog.at_level(logging.WARNING):
        EpisodeLog(path).close()
    assert path.read_bytes() == b"".join(lines(3)) and not caplog.text
    assert not (tmp_path / QUARANTINE_NAME).exists()


def test_append_keeps_what_json_reads_back(tmp_path):
    log = EpisodeLog(tmp_path / "episodes.jsonl")
    log.append({**record(0), "agent_info": {"tokens": 3}, "pair": (1, 2)})
    log.close()
    assert log.records[0]["pair"] == [1, 2]
    assert EpisodeLog(tmp_path / "episodes.jsonl").records == log.records


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["good", "garbage", "repeat", "blank"]), max_size=12), st.binary(max_size=20))
def test_resume_never_loses_a_good_record(tmp_path_factory, kinds, tail):
    path: Path = tmp_path_factory.mktemp("log") / "episodes.jsonl"
    content, expected = b"", []
    for i, kind in enumerate(kinds):
        if kind == "good":
            content += lines(i + 1)[i]
            expected.append(i)
        elif kind == "garbage":
            content += b"\x00{not json\n"
        elif kind == "repeat" and expected:
            content += lines(expected[0] + 1)[expected[0]]
        else:
            content += b"\n"
    path.write_bytes(content + tail.replace(b"\n", b""))
    log = EpisodeLog(path)
    log.close()
    assert [r["seed"] for r in log.records] == expected
    assert [r["seed"] for r in EpisodeLog(path).records] == expected  # and the cleaned file says the same


def test_read_episodes_refuses_what_resume_would_quarantine(tmp_path):
    path = tmp_path / "episodes.jsonl"
    good = lines(3)
    path.write_bytes(b"".join(good))
    assert [r["seed"] for r in read_episodes(path)] == [0, 1, 2]
    for content, needle in [(good[0] + b"{oops\n" + good[1], "line 2 is not JSON"),
                            (good[0] + good[0], "line 2 repeats episode"),
                            (good[0] + good[1][:-1], "line 2 is cut short"),
                            (json.dumps({**record(0), "status": "weird"}).encode() + b"\n", "line 1 is not a valid"),
                            (json.dumps({**record(0), "cell": "x|y|z|w"}).encode() + b"\n", "should be"),
                            (json.dumps({**record(0), "steps": 1.5}).encode() + b"\n", "steps")]:
        path.write_bytes(content)
        with pytest.raises(EpisodeLogError, match=needle):
            read_episodes(path)
