"""A non-editable install carries the YAML folders and works from any working directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_yaml_folders_and_runs_elsewhere(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("agentgym-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for folder in ("envs", "agents", "benchmarks"):
        shipped = [n for n in names if n.startswith(f"agentgym/_specs/{folder}/") and n.endswith(".yaml")]
        expected = sorted(p.name for p in (ROOT / folder).glob("*.yaml"))
        assert sorted(Path(n).name for n in shipped) == expected
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import agentgym, sys; from agentgym.bench.suite import load_suite; "
             "assert agentgym.__file__.startswith(sys.argv[1]), agentgym.__file__; "
             "env = agentgym.make('agentgym/FrozenLake-v0'); env.reset(seed=0); "
             "print(load_suite('smoke').name, len(agentgym.env_ids()))")
    result = subprocess.run([sys.executable, "-c", probe, str(site)], cwd=elsewhere, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(site)}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("smoke ")
