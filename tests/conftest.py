import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep test caches out of the user's ~/.cache unless a shared one is given (CI may pass one)."""
    if "AGENTGYM_CACHE" not in os.environ:
        os.environ["AGENTGYM_CACHE"] = str(tmp_path_factory.mktemp("agentgym-cache"))
    yield


@pytest.fixture()
def corridor():
    from agentgym.testing import toy as toy_env

    return toy_env.register()
