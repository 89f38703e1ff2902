"""kbrun's reasoning: load a knowledge base, consult it for a runner, explain the answer.

The small public API::

    from kbrun.engine import load_kb, make_profile, advise
    kb = load_kb()                                   # built-in kb/, plus any extra folders
    profile = make_profile(kb, symptoms=["knee-pain"], phase="race-season")
    advice = advise(profile, kb)                     # an Advice value; advice.to_dict() is JSON
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kbrun.engine.errors import (
    DuplicateId, KbError, KbrunError, KbSchemaError, KbSyntaxError, ProfileError, RuleError,
    UnknownId,
)

if TYPE_CHECKING:
    from kbrun.engine.advice import Advice
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.loader import KbInvalid, load_kb
    from kbrun.engine.profile import (
        Profile, make_profile, profile_from_mapping, read_profile_file,
    )

# The loader and the profile pull in pydantic and the schema; import them on first use, so
# that `kbrun --help` or an error message does not pay for them.
_LAZY = {"KbInvalid": "loader", "load_kb": "loader", "Profile": "profile",
         "make_profile": "profile", "profile_from_mapping": "profile",
         "read_profile_file": "profile"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f"kbrun.engine.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kbrun.engine' has no attribute '{name}'")


def advise(profile: Profile, kb: KnowledgeBase) -> Advice:  # noqa: F821
    """Reason from a runner's profile to a ranked, dosed session.

    Takes a Profile from make_profile() and a KnowledgeBase from load_kb(); returns an Advice
    value, which callers must treat as read-only: the compiled Rete networks and the last 256
    answers are cached on the knowledge base (the same profile always gets the same advice),
    so calling this many times with one `kb` (as batch mode and why-not do) is cheap.
    """
    from kbrun.engine.inference import consult
    from kbrun.engine.session import build_advice

    cache = kb.advice_cache
    if profile not in cache:
        if len(cache) >= 256:
            cache.pop(next(iter(cache)))  # the oldest
        cache[profile] = build_advice(kb, profile, consult(kb, profile))
    return cache[profile]


__all__ = [
    "DuplicateId", "KbError", "KbInvalid", "KbSchemaError", "KbSyntaxError", "KbrunError",
    "Profile", "ProfileError", "RuleError", "UnknownId", "advise", "load_kb", "make_profile",
    "profile_from_mapping", "read_profile_file",
]
