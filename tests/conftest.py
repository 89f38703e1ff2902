"""Shared fixtures: the built-in knowledge base (loaded once) and the small test ones."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Tests use (and so exercise) the knowledge-base cache, in a folder of their own.
os.environ.setdefault("KBRUN_CACHE_DIR", tempfile.mkdtemp(prefix="kbrun-test-cache-"))

from kbrun.engine import load_kb

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def kb():
    """The built-in knowledge base."""
    return load_kb()


@pytest.fixture(scope="session")
def mini():
    """tests/data/mini: two muscles, four exercises, one injury, four rules."""
    return load_kb([DATA / "mini"], builtin=False)


def mini_with(*layers: str, **kwargs):
    """tests/data/mini with folders from tests/data/rules/ layered over it."""
    return load_kb([DATA / "mini", *(DATA / "rules" / name for name in layers)], builtin=False,
                   **kwargs)
