"""The openai backend against a scripted fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agentgym.agents.llm.openai_backend import (
    EndpointError,
    OpenAIBackend,
    ScoringUnsupportedError,
    apply_stop,
    render_chat,
)
from agentgym.core.errors import AgentGymError

SECRET = "sk-test-DO-NOT-LEAK-8f3a9c"
MAX_REQUESTS = 200


class FakeServer(ThreadingHTTPServer):
    """Answers chat completions with "echo: <last message>" unless a scripted reply is queued.

    A scripted reply is ``(status, body, headers, delay_s)``; ``body`` may be a dict (sent as JSON) or str.
    """

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock, self.stopping = threading.Lock(), threading.Event()
        self.queue: list[tuple] = []
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.content = None  # overrides the echoed content
        self.usage = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request, client_address):  # clients that timed out close their sockets: expected
        pass

    def reply(self, path: str, body: dict) -> tuple:
        if self.queue:
            return self.queue.pop(0)
        if path.endswith("/completions") and not path.endswith("/chat/completions"):
            return 200, completions_answer(body), {}, 0.0
        text = body["messages"][-1]["content"]
        delay = float(text.split("sleep=")[1]) if "sleep=" in text else 0.0
        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": self.content or f"echo: {text}"},
                               "finish_reason": "stop"}]}
        if self.usage:
            answer["usage"] = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                               "prompt_tokens_details": {"cached_tokens": 4}}
        return 200, answer, {}, delay


def completions_answer(body: dict) -> dict:
    """Echoed prompts, one token per character at logprob -0.1 (the first None), plus one generated token."""
    choices = []
    for index, prompt in enumerate(body["prompt"]):
        text = prompt + "X"
        choices.append({"index": index, "text": text, "finish_reason": "length", "logprobs": {
            "tokens": list(text), "text_offset": list(range(len(text))),
            "token_logprobs": [None] + [-0.1] * (len(text) - 1), "top_logprobs": None}})
    return {"choices": choices[::-1], "usage": {"prompt_tokens": 7, "completion_tokens": 1}}


class Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with server.lock:
            server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            over = len(server.requests) > MAX_REQUESTS
        try:
            status, payload, headers, delay = (418, "too many requests in one test", {}, 0.0) if over else \
                server.reply(self.path, body)
            if delay:
                server.stopping.wait(delay)
            data = (json.dumps(payload) if isinstance(payload, dict) else payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            with server.lock:
                server.in_flight -= 1


@pytest.fixture()
def server():
    fake = FakeServer()
    thread = threading.Thread(target=fake.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    fake.stopping.set()
    fake.shutdown()
    fake.server_close()
    thread.join(5)


def make(server, sleeps=None, **kwargs) -> OpenAIBackend:
    options = {"api_key_env": None, "sleep": (sleeps if sleeps is not None else []).append, "seed": 0, **kwargs}
    return OpenAIBackend("fake-model", options.pop("base_url", server.base_url), **options)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def test_generate_sends_openai_requests_and_reports_usage_and_cost(server):
    with make(server, price_per_1k_prompt=1.0, price_per_1k_completion=2.0, extra_body={"top_p": 0.5}) as backend:
        out = backend.generate([chat("a"), chat("b")], max_new_tokens=16, seeds=[3, 4], stop=["\n"])
    assert [c.text for c in out] == ["echo: a", "echo: b"]
    assert all(c.prompt_tokens == 10 and c.completion_tokens == 5 and c.cached_tokens == 4 for c in out)
    assert all(c.latency_s > 0 for c in out)
    assert out[0].cost_usd == pytest.approx((10 * 1.0 + 5 * 2.0) / 1000)
    first = next(r for r in server.requests if r["body"]["messages"][-1]["content"] == "a")
    assert first["path"] == "/v1/chat/completions" and "Authorization" not in first["headers"]
    assert first["body"] == {"model": "fake-model", "messages": chat("a"), "max_tokens": 16, "temperature": 0.0,
                             "seed": 3, "stop": ["\n"], "top_p": 0.5}
    assert backend.missing_usage == 0


def test_requests_run_concurrently_and_results_keep_input_order(server):
    chats = [chat(f"{i} sleep={0.05 * (6 - i):.2f}") for i in range(6)]  # the first chats answer last
    with make(server, concurrency=4) as backend:
        out = backend.generate(chats, max_new_tokens=4)
    assert [c.text for c in out] == [f"echo: {m[-1]['content']}" for m in chats]
    assert 1 < server.max_in_flight <= 4


def test_429_is_retried_honouring_retry_after_capped(server):
    server.queue = [(429, {"error": "slow down"}, {"Retry-After": "2"}, 0.0),
                    (429, {"error": "slow down"}, {"Retry-After": "3600"}, 0.0)]
    sleeps: list[float] = []
    with make(server, sleeps, max_retry_after_s=5) as backend:
        out = backend.generate([chat("x")], max_new_tokens=4)
    assert out[0].text == "echo: x" and len(server.requests) == 3
    assert sleeps == [2.0, 5.0]


def test_5xx_retried_with_exponential_backoff_then_clear_error(server):
    server.queue = [(500, "internal oops", {}, 0.0)] * 10
    sleeps: list[float] = []
    with make(server, sleeps, max_retries=3, backoff_s=0.5) as backend, pytest.raises(EndpointError) as info:
        backend.generate([chat("x")], max_new_tokens=4)
    assert len(server.requests) == 4 and len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):
        assert 0.5 * 2**attempt <= delay <= 0.5 * 2**attempt * 1.25
    assert "4 attempt" in str(info.value) and "HTTP 500" in str(info.value) and "internal oops" in str(info.value)


def test_timeouts_are_retried_then_reported(server):
    with make(server, timeout_s=0.2, max_retries=1) as backend, pytest.raises(EndpointError, match="timed out"):
        backend.generate([chat("slow sleep=1.0")], max_new_tokens=4)
    assert len(server.requests) == 2


def test_connection_refused_is_retried_then_reported(server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    sleeps: list[float] = []
    with make(server, sleeps, base_url=f"http://127.0.0.1:{port}/v1", max_retries=2) as backend, \
            pytest.raises(EndpointError, match="connection failed"):
        backend.generate([chat("x")], max_new_tokens=4)
    assert len(sleeps) == 2


def test_401_names_the_variable_and_never_leaks_the_key(server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.queue = [(503, f"overloaded for key {SECRET}", {}, 0.0),
                    (401, {"error": {"message": f"Incorrect API key provided: {SECRET}"}}, {}, 0.0)]
    backend = make(server, api_key_env="OPENAI_API_KEY")
    with pytest.raises(EndpointError) as info:
        backend.generate([chat("x")], max_new_tokens=4)
    backend.close()
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert len(server.requests) == 2  # the 503 is retried, the 401 is not
    error = info.value
    assert error.status == 401 and "$OPENAI_API_KEY" in str(error) and "Incorrect API key" in str(error)
    everything = [str(error), repr(error), "".join(traceback.format_exception(error)), repr(backend), caplog.text]
    assert caplog.text and all(SECRET not in text for text in everything)


def test_403_with_unset_variable_says_so(server, monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    server.queue = [(403, "forbidden", {}, 0.0)]
    with make(server, api_key_env="MY_KEY") as backend, pytest.raises(EndpointError, match=r"\$MY_KEY is not set"):
        backend.generate([chat("x")], max_new_tokens=4)


def test_404_names_model_and_base_url(server):
    server.queue = [(404, {"error": "The model `fake-model` does not exist."}, {}, 0.0)]
    with make(server) as backend, pytest.raises(EndpointError) as info:
        backend.generate([chat("x")], max_new_tokens=4)
    assert "'fake-model'" in str(info.value) and server.base_url in str(info.value) and len(server.requests) == 1


@pytest.mark.parametrize(("body", "expected"), [
    ("<html>bad gateway page</html>", "not a JSON object: '<html>bad gateway page"),
    ({"object": "chat.completion"}, "without 1 'choices'"),
    ({"choices": []}, "without 1 'choices'"),
    ({"choices": [{"message": {"role": "assistant", "content": None}, "finish_reason": "length"}]},
     "without message content .finish_reason='length'"),
    ({"choices": [{"text": "legacy"}]}, "without message content"),
])
def test_malformed_answers_are_clear_errors(server, body, expected):
    server.queue = [(200, body, {}, 0.0)]
    with make(server) as backend, pytest.raises(EndpointError, match=expected):
        backend.generate([chat("x")], max_new_tokens=4)


def test_missing_usage_counts_zero_and_is_flagged(server, caplog):
    server.usage = False
    with make(server, price_per_1k_prompt=1.0) as backend:
        out = backend.generate([chat("a"), chat("b")], max_new_tokens=4)
    assert [(c.prompt_tokens, c.completion_tokens, c.cost_usd) for c in out] == [(0, 0, 0.0)] * 2
    assert backend.missing_usage == 2 and caplog.text.count("without 'usage'") == 1


def test_stop_strings_are_applied_client_side(server):
    server.content = "right\nObservation: you moved. ACTION: left"
    stops = ["\n", "ACTION", "a", "b", "c"]
    with make(server) as backend:
        out = backend.generate([chat("x")], max_new_tokens=4, stop=stops)
    assert out[0].text == "right"
    assert server.requests[0]["body"]["stop"] == stops[:4]  # the OpenAI API accepts at most 4
    assert apply_stop("abcabc", ["c", "b"]) == "a" and apply_stop("abc", None) == "abc"
    assert apply_stop("ab", [""]) == "ab"


def test_score_is_refused_clearly_by_default(server):
    with make(server) as backend:
        assert backend.supports_score is False
        with pytest.raises(ScoringUnsupportedError, match="score_via_completions: true") as info:
            backend.score([chat("x")], [["left", "right"]])
    assert isinstance(info.value, AgentGymError) and isinstance(info.value, NotImplementedError)
    assert not server.requests


def test_score_via_completions_reads_echoed_logprobs(server):
    with make(server, score_via_completions=True) as backend:
        assert backend.supports_score
        scores = backend.score([chat("x"), chat("y")], [["left", "right"], ["go"]])
    assert scores[0].logprobs == pytest.approx([-0.4, -0.5]) and scores[0].tokens == [4, 5]
    assert scores[1].logprobs == pytest.approx([-0.2]) and scores[1].tokens == [2]
    assert scores[0].prompt_tokens == 7
    body = next(r["body"] for r in server.requests if r["body"]["prompt"][0].endswith("go"))
    assert server.requests[0]["path"] == "/v1/completions"
    assert body["echo"] is True and body["logprobs"] == 1 and body["prompt"] == [render_chat(chat("y")) + "go"]
    assert render_chat(chat("y")).endswith("<|im_start|>user\ny<|im_end|>\n<|im_start|>assistant\n")
    assert render_chat(chat("y"), "plain") == "System: Be brief.\n\nUser: y\n\nAssistant: "


def test_llm_agent_with_the_openai_spec_walks_the_corridor(server, corridor, monkeypatch):
    import agentgym
    from agentgym.agents.base import EpisodeContext, Turn
    from agentgym.agents.registry import load_agent_specs, make_agent
    from agentgym.core.paths import builtin_dir

    monkeypatch.setenv("AGENTGYM_TEST_KEY", SECRET)
    assert "llm-openai" in {spec.name for spec in load_agent_specs(builtin_dir("agents"))}
    agent = make_agent("llm-openai", base_url=server.base_url, model="fake-model", api_key_env="AGENTGYM_TEST_KEY",
                       sleep=[].append)
    server.content = "Action: right"
    live, infos = [], []
    for seed in (100, 101):
        env = agentgym.make(corridor, view="text")
        observation, info = env.reset(seed=seed)
        context = EpisodeContext(key=f"{corridor}|{seed}", env_id=corridor, seed=seed, repeat=0,
                                 card=agentgym.env_spec(corridor).card, action_space=env.action_space,
                                 observation_space=env.observation_space, env=env)
        agent.reset(context)
        live.append((context, env, observation, info))
    for _ in range(8):
        decisions = agent.act([Turn(context, observation, info) for context, _, observation, info in live])
        still = []
        for (context, env, _, _), decision in zip(live, decisions):
            assert decision.action == "right"
            infos.append(decision.info)
            observation, _, terminated, truncated, info = env.step(decision.action)
            if terminated or truncated:
                assert env.unwrapped.outcome()[0]
            else:
                still.append((context, env, observation, info))
        live = still
        if not live:
            break
    agent.close()
    assert not live and infos and all(i["prompt_tokens"] == 10 and i["llm_calls"] == 1 for i in infos)
    assert SECRET not in json.dumps(infos, default=str)
    body = server.requests[0]["body"]
    assert body["model"] == "fake-model" and body["temperature"] == 0.0 and isinstance(body["seed"], int)
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
