"""Shared types, registries and errors; everything else in agentgym imports from here."""
