"""Issue 18, point 13: specs naming code outside agentgym and its plugins need --allow-code."""

from __future__ import annotations

import sys

import pytest

from agentgym.agents.baselines import RandomAgent
from agentgym.agents.registry import AgentSpec, check_agent_spec, make_agent
from agentgym.core.errors import AgentGymError, UntrustedCodeError
from agentgym.core.trust import check_entry_point, is_trusted, trusted_prefixes


@pytest.fixture(autouse=True)
def _code_not_allowed(monkeypatch):
    monkeypatch.delenv("AGENTGYM_ALLOW_CODE", raising=False)


def test_an_inline_os_system_agent_is_refused_before_anything_runs(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    spec = {"name": "evil", "entry_point": "os:system", "kwargs": {"command": f"touch {marker}"}}
    with pytest.raises(UntrustedCodeError, match="--allow-code") as info:
        make_agent(spec)
    assert isinstance(info.value, AgentGymError) and "os:system" in str(info.value)
    assert not marker.exists()


def test_importing_an_untrusted_module_is_refused_too(tmp_path, monkeypatch):
    (tmp_path / "evil_agent_module.py").write_text("import pathlib\npathlib.Path(__file__).with_name('ran').touch()\n"
                                                   "class Agent: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UntrustedCodeError, match="--allow-code"):
        make_agent({"name": "evil", "entry_point": "evil_agent_module:Agent"})
    assert not (tmp_path / "ran").exists() and "evil_agent_module" not in sys.modules


def test_a_backend_entry_point_in_inline_kwargs_is_checked():
    spec = {"name": "sneaky", "entry_point": "agentgym.agents.llm.agent:LLMAgent",
            "kwargs": {"backend": "os:system", "model": "echo pwned"}}
    with pytest.raises(UntrustedCodeError, match="backend"):
        make_agent(spec)
    with pytest.raises(UntrustedCodeError, match="backend"):
        make_agent("llm-generate", backend="subprocess:getoutput")


def test_agentgym_functions_that_are_not_agents_are_refused_inline():
    spec = {"name": "gadget", "entry_point": "agentgym.agents.llm.backend:make_backend",
            "kwargs": {"backend": "transformers", "model": "x"}}
    with pytest.raises(UntrustedCodeError, match="not an Agent class"):
        make_agent(spec)


def test_trusted_specs_still_build():
    assert isinstance(make_agent({"name": "r", "entry_point": "agentgym.agents.baselines:RandomAgent"}), RandomAgent)
    assert isinstance(make_agent("random"), RandomAgent)
    assert check_agent_spec(AgentSpec(name="r2", entry_point="agentgym.agents.baselines:RandomAgent")).name == "r2"


def test_allow_code_lets_the_user_run_their_own_agents(monkeypatch, tmp_path):
    (tmp_path / "my_agents_module.py").write_text(
        "from agentgym.agents.baselines import RandomAgent\nclass MyAgent(RandomAgent):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = {"name": "mine", "entry_point": "my_agents_module:MyAgent"}
    with pytest.raises(UntrustedCodeError):
        make_agent(spec)
    monkeypatch.setenv("AGENTGYM_ALLOW_CODE", "1")
    assert type(make_agent(spec)).__name__ == "MyAgent"


@pytest.mark.parametrize(("path", "trusted"), [
    ("agentgym.agents.baselines:RandomAgent", True),
    ("agentgym:make", True),
    ("agentgym_evil:x", False),
    ("agentgymx.y:z", False),
    ("os:system", False),
    ("builtins:eval", False),
    (".agentgym:x", False),
    ("agentgym..x:y", False),
    ("", False),
])
def test_is_trusted(path, trusted):
    assert is_trusted(path, ["agentgym"]) is trusted
    if trusted:
        check_entry_point(path, allow_code=False, allowed_prefixes=["agentgym"])
    else:
        with pytest.raises(UntrustedCodeError):
            check_entry_point(path, allow_code=False, allowed_prefixes=["agentgym"])
    check_entry_point(path, allow_code=True, allowed_prefixes=[])  # the user's say-so


def test_declared_plugin_packages_are_trusted(monkeypatch):
    from agentgym.core import trust

    class FakeEntryPoint:
        value = "my_plugin.envs:register"

    monkeypatch.setattr(trust, "entry_points", lambda group: [FakeEntryPoint()] if group == "agentgym.envs" else [])
    assert trusted_prefixes() == ("agentgym", "my_plugin")
    check_entry_point("my_plugin.agents:Agent", allow_code=False, allowed_prefixes=trusted_prefixes())
