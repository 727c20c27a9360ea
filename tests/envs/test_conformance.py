"""The env contract, checked on every registered env id (built-in ones and the toy corridor)."""

from __future__ import annotations

import pytest

import agentgym
from agentgym.testing.check_env import check_env_contract, format_report


@pytest.mark.parametrize("env_id", agentgym.env_ids())
def test_env_contract(env_id):
    results = check_env_contract(env_id)
    assert all(result.passed for result in results), format_report(env_id, results)


def test_registry_is_not_empty():
    families = {agentgym.env_spec(env_id).card.family for env_id in agentgym.env_ids()}
    assert "classic" in families
