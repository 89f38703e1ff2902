"""Hypothesis strategies for runner profiles over the built-in knowledge base's vocabulary,
shared by the safety and the clinical property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kbrun.engine import load_kb

KB = load_kb()


def _ids(kind: str) -> list[str]:
    return sorted(KB.entries[kind])


def profile_fields(*, pain: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """make_profile keyword arguments: every vocabulary a profile can name, with pain 0-10 or
    none (leave it out with pain=False, for tests that set the pain themselves)."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "symptoms": st.lists(st.sampled_from(_ids("symptom")), max_size=3, unique=True),
        "injuries": st.lists(st.sampled_from(_ids("injury")), max_size=2, unique=True),
        "goals": st.lists(st.sampled_from(_ids("goal")), max_size=3, unique=True),
        "phase": st.sampled_from(_ids("phase")),
        "level": st.sampled_from(_ids("level")),
        "equipment": st.one_of(st.none(), st.lists(st.sampled_from(_ids("equipment")),
                                                     min_size=1, max_size=5, unique=True)),
        "red_flags": st.lists(st.sampled_from(_ids("red-flag")), max_size=2, unique=True),
        "stage": st.one_of(st.none(), st.sampled_from(["acute", "subacute", "return-to-run"])),
        "limit": st.integers(1, 10),
    }
    if pain:
        fields["pain"] = st.one_of(st.none(), st.integers(0, 10))
    return st.fixed_dictionaries(fields)
