"""Adds the top-level YAML folders (mapped in pyproject.toml) to the packages found."""

from setuptools import find_packages, setup

SPEC_FOLDERS = ["agentgym._specs.envs", "agentgym._specs.agents", "agentgym._specs.benchmarks"]

setup(packages=find_packages(include=["agentgym", "agentgym.*"]) + SPEC_FOLDERS)
