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
    DuplicateId,
    KbError,
    KbrunError,
    KbSchemaError,
    KbSyntaxError,
    ProfileError,
    RuleError,
    UnknownId,
)

if TYPE_CHECKING:
    from kbrun.engine.advice import Advice
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.loader import KbInvalid, load_kb
    from kbrun.engine.profile import (
        Profile,
        make_profile,
        profile_from_mapping,
        read_profile_file,
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


#: How many answers `advise` keeps per knowledge base. Each holds its whole consultation (about
#: 1,500 facts, most of a megabyte), so the cache stays small: enough for why-not's dozen
#: trial profiles and an interactive session, not a store of every profile ever seen.
ADVICE_CACHE_SIZE = 32


def advise(profile: Profile, kb: KnowledgeBase, *, cached: bool = True) -> Advice:
    """Reason from a runner's profile to a ranked, dosed session.

    Takes a Profile from make_profile() and a KnowledgeBase from load_kb(); returns an Advice
    value, which callers must treat as read-only. The compiled rules and the last
    ADVICE_CACHE_SIZE answers (least recently used out first) are kept on the knowledge base,
    so the same profile always gets the same advice and asking again (as why-not does) is
    cheap. `cached=False` neither reads nor fills that cache: batch mode uses it, because a
    stream of distinct profiles would only churn it.
    """
    from kbrun.engine.inference import consult
    from kbrun.engine.session import build_advice

    if not cached:
        return build_advice(kb, profile, consult(kb, profile))
    cache: dict[Profile, Advice] = kb.advice_cache
    advice = cache.pop(profile, None)
    if advice is None:
        advice = build_advice(kb, profile, consult(kb, profile))
        while len(cache) >= ADVICE_CACHE_SIZE:
            cache.pop(next(iter(cache)))  # the least recently used
    cache[profile] = advice               # (re)inserted last: the most recently used
    return advice


__all__ = [
    "ADVICE_CACHE_SIZE", "DuplicateId", "KbError", "KbInvalid", "KbSchemaError", "KbSyntaxError",
    "KbrunError", "Profile", "ProfileError", "RuleError", "UnknownId", "advise", "load_kb",
    "make_profile", "profile_from_mapping", "read_profile_file",
]
