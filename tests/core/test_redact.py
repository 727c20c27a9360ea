"""Issue 18, point 14: credentials are masked in URLs, commands and data before anything is written."""

from __future__ import annotations

import json

import pytest

from agentgym.core.redact import (
    MASK,
    contains_secret,
    redact,
    redact_argv,
    redact_data,
    register_secret,
    url_secrets,
)

KEY = "sk-live-4f9a8b7c6d5e"


@pytest.mark.parametrize(("text", "expected"), [
    (f"https://user:{KEY}@api.example.com/v1", "https://user:***@api.example.com/v1"),
    (f"http://me:{KEY}@127.0.0.1:8000/v1/chat", "http://me:***@127.0.0.1:8000/v1/chat"),
    ("https://ghtoken123456@host/v1", "https://***@host/v1"),
    (f"https://host/v1?api_key={KEY}&model=m", "https://host/v1?api_key=***&model=m"),
    (f"https://host/v1?model=m&key={KEY}", "https://host/v1?model=m&key=***"),
    (f"https://host/v1?token={KEY}#x", "https://host/v1?token=***#x"),
    (f"https://host/v1?access_token={KEY}", "https://host/v1?access_token=***"),
    (f"agentgym run s.yaml --api-key {KEY} --seed 3", "agentgym run s.yaml --api-key *** --seed 3"),
    (f"agentgym run s.yaml --api-key={KEY}", "agentgym run s.yaml --api-key=***"),
    (f"agentgym run s.yaml --token '{KEY}'", "agentgym run s.yaml --token '***'"),
    (f'--agent-kwargs \'{{"api_key": "{KEY}", "model": "m"}}\'', '--agent-kwargs \'{"api_key": "***", "model": "m"}\''),
    (f"Authorization: Bearer {KEY}", "Authorization: Bearer ***"),
    ("the key is sk-proj-abcdefghijklmnopqrstuvwx", "the key is ***"),
])
def test_credentials_are_masked(text, expected):
    assert redact(text) == expected
    assert KEY not in redact(text)


@pytest.mark.parametrize("text", [
    "http://127.0.0.1:8000/v1",
    "https://host/v1?model=llama3:latest&max_tokens=16",
    "agentgym run s.yaml --api-key-env OPENAI_API_KEY --agents llm-openai",
    "agentgym run s.yaml --max-tokens 16 --keys 3 --key-file /tmp/key.txt",
    'model: "llama3:latest"',
    "",
])
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_argv_masks_the_value_after_a_secret_option():
    argv = ["agentgym", "run", "suite.yaml", "--api-key", KEY, "--api-key-env", "MY_KEY",
            "--agent-kwargs", json.dumps({"base_url": f"https://u:{KEY}@h/v1"}), "--password=hunter2hunter2"]
    out = redact_argv(argv)
    assert out[:4] == ["agentgym", "run", "suite.yaml", "--api-key"] and out[4] == MASK
    assert out[5:7] == ["--api-key-env", "MY_KEY"]
    assert all(KEY not in arg and "hunter2" not in arg for arg in out)
    assert "https://u:***@h/v1" in out[8]


def test_data_masks_strings_anywhere_and_secret_keys():
    data = {"agent": {"kwargs": {"base_url": f"https://u:{KEY}@h/v1", "api_key": "abcdef123456",
                                 "api_key_env": "OPENAI_API_KEY", "max_tokens": 16}},
            "command": ["agentgym", "run", "--api-key", KEY], "notes": [f"?key={KEY}", 3]}
    out = redact_data(data)
    assert KEY not in json.dumps(out) and "abcdef123456" not in json.dumps(out)
    assert out["agent"]["kwargs"]["api_key_env"] == "OPENAI_API_KEY" and out["agent"]["kwargs"]["max_tokens"] == 16
    assert out["command"] == ["agentgym", "run", "--api-key", MASK]


def test_record_fields_named_key_or_token_are_not_masked():
    record = {"key": "env|agent|env|test/3/0", "token": "hello", "tokens": 12, "max_tokens": 16,
              "logprobs": [{"token": "a", "logprob": -0.1}], "answer": '{"key": "value", "token": "t"}'}
    assert redact_data(record) == record


def test_registered_secrets_are_masked_and_detected():
    secret = "registered-secret-0d9f8e"
    assert not contains_secret(f"x {secret} y")
    register_secret(secret)
    register_secret("abc")  # too short to mask safely: ignored
    assert contains_secret(f"x {secret} y") and redact(f"x {secret} y") == "x *** y"
    assert redact("abc abc") == "abc abc"
    assert url_secrets(f"https://u:{KEY}@h/v1?api_key=other123456&model=m") == [KEY, "other123456"]
    assert url_secrets("http://127.0.0.1:8000/v1") == []
