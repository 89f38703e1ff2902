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
from kbrun.engine.loader import KbInvalid, load_kb
from kbrun.engine.profile import Profile, make_profile, profile_from_mapping, read_profile_file

if TYPE_CHECKING:
    from kbrun.engine.advice import Advice
    from kbrun.engine.knowledge import KnowledgeBase


def advise(profile: Profile, kb: KnowledgeBase) -> Advice:
    """Reason from a runner's profile to a ranked, dosed session.

    Takes a Profile from make_profile() and a KnowledgeBase from load_kb(); returns an Advice
    value. The compiled Rete networks are cached on the knowledge base, so calling this many
    times with one `kb` (as batch mode does) builds each network once.
    """
    from kbrun.engine.inference import consult
    from kbrun.engine.session import build_advice

    return build_advice(kb, profile, consult(kb, profile))


__all__ = [
    "DuplicateId", "KbError", "KbInvalid", "KbSchemaError", "KbSyntaxError", "KbrunError",
    "Profile", "ProfileError", "RuleError", "UnknownId", "advise", "load_kb", "make_profile",
    "profile_from_mapping", "read_profile_file",
]
