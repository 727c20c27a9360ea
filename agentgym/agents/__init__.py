"""Agents: the protocol, baselines, SB3 and LLM agents, and the agent-spec registry."""
