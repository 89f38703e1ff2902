"""The one place kbrun imports experta, with the shim that lets experta 1.9.4 run on Python 3.10+."""

from __future__ import annotations

import collections
import collections.abc
import logging

# experta 1.9.4 (its only release) pins frozendict==1.2, whose class statement reads
# `collections.Mapping`, an alias Python 3.10 removed (experta issue 34). Restoring that one
# alias before the import is the least surprising fix: `pip install kbrun` keeps the exact
# dependency experta declares, nothing is vendored or forked, and nothing else changes.
if not hasattr(collections, "Mapping"):
    collections.Mapping = collections.abc.Mapping  # type: ignore[attr-defined]

_root_handlers = list(logging.getLogger().handlers)
import experta  # noqa: E402  (must follow the shim)
from experta import AS, MATCH, NOT, TEST, Fact, KnowledgeEngine, P, Rule  # noqa: E402

# experta calls logging.basicConfig() at import time; a library must not configure the root
# logger of the program that imports it, so undo that.
for _handler in logging.getLogger().handlers:
    if _handler not in _root_handlers:
        logging.getLogger().removeHandler(_handler)

__all__ = ["AS", "MATCH", "NOT", "TEST", "Fact", "KnowledgeEngine", "P", "Rule", "experta"]
