"""Issue 18, points 11 and 14 for the openai backend, against a fake endpoint on 127.0.0.1.

- 11: a completion longer than ``max_response_chars`` is cut and the cut is counted (``truncated_chars``
  in the per-action info, so in the episode records); the history re-sent to the endpoint holds only
  the cut text; a body above ``max_response_bytes`` is a clear error.
- 14: a key in ``base_url`` never shows in reprs or errors; an endpoint echoing the key never gets
  it into the answer or the response cache.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import agentgym
from agentgym.agents.base import EpisodeContext, Turn
from agentgym.agents.llm.agent import LLMAgent
from agentgym.agents.llm.backend import Completion
from agentgym.agents.llm.openai_backend import EndpointError, OpenAIBackend
from agentgym.agents.llm.response_cache import CachingBackend, ResponseCache
from agentgym.core.redact import register_secret

SECRET = "sk-echo-test-7c1d2e3f4a5b"
URL_KEY = "urlkey-9e8d7c6b5a"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.content = "Action: right"
        self.raw: bytes | None = None
        self.status = 200
        self.requests: list[dict] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request, client_address):
        pass


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.requests.append({"body": body, "headers": dict(self.headers)})
        data = self.server.raw if self.server.raw is not None else json.dumps({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.server.content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:  # the client stopped reading an oversized answer
            pass


@pytest.fixture()
def server():
    fake = Server()
    thread = threading.Thread(target=fake.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    fake.shutdown()
    fake.server_close()
    thread.join(5)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def backend(server, **kwargs) -> OpenAIBackend:
    url = kwargs.pop("base_url", server.base_url)
    return OpenAIBackend("fake-model", url, api_key_env=kwargs.pop("api_key_env", None), sleep=[].append,
                         max_retries=0, **kwargs)


# ------------------------------------------------------------------------------------ point 11


def test_a_long_completion_is_cut_and_counted(server):
    server.content = "x" * 50_000
    with backend(server) as default, backend(server, max_response_chars=1000) as small, \
            backend(server, max_response_chars=None) as unbounded:
        cut = default.generate([chat("a")], max_new_tokens=8)[0]
        smaller = small.generate([chat("a")], max_new_tokens=8)[0]
        whole = unbounded.generate([chat("a")], max_new_tokens=8)[0]
    assert (len(cut.text), cut.truncated_chars) == (20_000, 30_000)
    assert (len(smaller.text), smaller.truncated_chars) == (1000, 49_000)
    assert (len(whole.text), whole.truncated_chars) == (50_000, 0)


def test_an_oversized_body_is_a_clear_error(server):
    server.raw = b'{"choices": [{"message": {"content": "' + b"y" * 300_000 + b'"}}]}'
    with backend(server, max_response_bytes=100_000) as small, pytest.raises(EndpointError, match="max_response_bytes"):
        small.generate([chat("a")], max_new_tokens=8)


def _play(agent, env_id: str, steps: int) -> list[dict]:
    env = agentgym.make(env_id, view="text")
    observation, info = env.reset(seed=100)
    context = EpisodeContext(key=f"{env_id}|100", env_id=env_id, seed=100, repeat=0,
                             card=agentgym.env_spec(env_id).card, action_space=env.action_space,
                             observation_space=env.observation_space, env=env)
    agent.reset(context)
    infos = []
    for _ in range(steps):
        decision = agent.act([Turn(context, observation, info)])[0]
        infos.append(decision.info)
        observation, _, terminated, truncated, info = env.step(decision.action)
        if terminated or truncated:
            break
    env.close()
    return infos


def test_the_agent_reports_truncated_chars_and_resends_only_the_cut_answer(server, corridor):
    server.content = "Action: right " + "blah " * 20_000  # 100 kB per answer
    agent = LLMAgent("openai", "fake-model", base_url=server.base_url, api_key_env=None, sleep=[].append,
                     max_response_chars=300, history=4, retries=1)
    infos = _play(agent, corridor, 4)
    agent.close()
    assert infos and all(info["truncated_chars"] > 0 for info in infos)
    assert sum(info["truncated_chars"] for info in infos) >= len(infos) * (len(server.content) - 300)
    for request in server.requests:  # nothing re-sent is longer than the cap
        for message in request["body"]["messages"]:
            if message["role"] == "assistant":
                assert len(message["content"]) <= 300
        assert len(json.dumps(request["body"])) < 40_000


# ------------------------------------------------------------------------------------ point 14


def test_a_key_in_base_url_never_shows(server):
    url = server.base_url.replace("http://", f"http://user:{URL_KEY}@") + f"?api_key={URL_KEY}x"
    server.status = 404
    with backend(server, base_url=url) as b, pytest.raises(EndpointError) as info:
        b.generate([chat("a")], max_new_tokens=8)
    assert URL_KEY not in repr(b) and URL_KEY not in b.shown_url and "user:***@" in b.shown_url
    assert URL_KEY not in str(info.value) and "404" in str(info.value)


def test_an_endpoint_echoing_the_key_never_gets_it_stored(server, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTGYM_ECHO_KEY", SECRET)
    server.content = f"Action: right (your key is {SECRET})"
    cache_file = tmp_path / "responses.sqlite"
    agent = LLMAgent("openai", "fake-model", base_url=server.base_url, api_key_env="AGENTGYM_ECHO_KEY",
                     sleep=[].append, response_cache=str(cache_file))
    infos = _play_once(agent)
    agent.close()
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in json.dumps(infos)
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    assert SECRET.encode() not in stored


def _play_once(agent) -> list[dict]:
    from agentgym.testing import toy

    return _play(agent, toy.register(), 2)


class EchoingBackend:
    """A backend whose answers repeat what it was told, credentials included."""

    name = "echoing"
    supports_score = False

    def __init__(self, secret: str):
        self.secrets = (secret,)

    def generate(self, chats, *, max_new_tokens, temperature=0.0, seeds=None, stop=None):
        return [Completion(chat[-1]["content"], 1, 1, 0.0) for chat in chats]

    def close(self):
        pass


def test_the_response_cache_refuses_answers_holding_a_credential(tmp_path):
    own_secret, registered = "backend-own-secret-123456", "registered-secret-654321"
    register_secret(registered)
    cache = ResponseCache(tmp_path / "answers.sqlite")
    caching = CachingBackend(lambda: EchoingBackend(own_secret), {"backend": "echoing"}, cache)
    texts = ["plain answer", f"leaks {own_secret}", f"leaks {registered}"]
    out = caching.generate([chat(text) for text in texts], max_new_tokens=8)
    assert [c.text for c in out] == texts  # the answers themselves still come back
    assert len(cache) == 1 and caching.refused == 2
    again = caching.generate([chat(text) for text in texts], max_new_tokens=8)
    assert [c.from_cache for c in again] == [True, False, False]
    caching.close()
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert own_secret.encode() not in stored and registered.encode() not in stored
