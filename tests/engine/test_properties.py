"""Invariants over generated profiles (Hypothesis): the advice is never unsafe, every
recommendation has a derivation, explanations agree with the advice, and nothing depends on
the order of options or knowledge-base files."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbrun.engine import advise, load_kb, make_profile
from kbrun.engine.explain import why, why_not
from kbrun.engine.schema import IMPACT_RANK, INTENSITY_RANK
from tests.conftest import validated

from .strategies import KB, profile_fields

LOWER_BODY = ("hip", "thigh", "knee", "lower-leg", "ankle", "foot", "lower-back")
# The safety policy (docs/safety.md): a contraindication binds from a suspicion of 0.3; with no
# --stage, pain at rest makes an injury acute and anything else subacute (pain alone never changes
# the stage: it only lowers the dose).
CONTRAINDICATION_CERTAINTY = 0.3


def stage_of(profile) -> str:
    if profile.stage:
        return profile.stage
    if "pain-at-rest" in profile.red_flags:
        return "acute"
    return "subacute"


profiles = profile_fields()


def unsafe_reasons(profile, advice) -> list[str]:
    """An oracle written from the safety policy, independent of the rules: every reason a
    recommended exercise would break it."""
    found = []
    suspected = {f.id for f in advice.findings if f.kind == "injury"
                 and f.certainty >= CONTRAINDICATION_CERTAINTY} | set(profile.injuries)
    stage = stage_of(profile)
    regions = {KB.symptoms[s].region for s in profile.symptoms} | {
        KB.injuries[i].region for i in profile.injuries}
    placed = regions | {KB.injuries[f.id].region for f in advice.findings
                        if f.kind == "injury" and f.certainty >= CONTRAINDICATION_CERTAINTY}
    urgent = any(KB.red_flags[f].urgency == "urgent" for f in profile.red_flags) or any(
        KB.conditions[c].urgency == "urgent" and any(
            s.red_flag in profile.red_flags and (
                s.symptom in profile.symptoms if s.symptom else
                s.region in placed if s.region else True)
            for s in KB.conditions[c].signs) for c in KB.conditions)
    if urgent and advice.recommendations:
        found.append("an urgent referral came with a session")
    avoided = {a.exercise for a in advice.avoid}
    for rec in advice.recommendations:
        ex = KB.exercises[rec.exercise]
        if rec.exercise in avoided:
            found.append(f"{ex.id} is also in avoid")
        for injury in suspected:
            edge = KB.graph.get_edge_data(ex.id, injury, key="contraindicated-for")
            if edge and (not edge["phases"] or profile.phase in edge["phases"]) and (
                    not edge["stages"] or stage in edge["stages"]):
                found.append(f"{ex.id} is contraindicated for suspected {injury}")
        if KB.levels[ex.level].rank > KB.levels[profile.level].rank:
            found.append(f"{ex.id} is above the {profile.level} level")
        if profile.level == "beginner" and ex.impact == "high":
            found.append(f"{ex.id} is high impact for a beginner")
        if not set(ex.equipment) & set(profile.equipment):
            found.append(f"{ex.id} needs equipment the runner lacks")
        if any(KB.red_flags[f].urgency != "stop" for f in profile.red_flags):
            for region in (regions or LOWER_BODY):
                load = ex.joint_load.get(region)
                if IMPACT_RANK[ex.impact] > 0 or ex.category == "plyometric":
                    found.append(f"{ex.id} is impact work with a red flag")
                if load and (INTENSITY_RANK[load] >= 2 or ex.loadable):
                    found.append(f"{ex.id} loads the {region} with a red flag")
        if profile.pain is not None and profile.pain > 5:
            for region in (regions or LOWER_BODY):
                load = ex.joint_load.get(region)
                if IMPACT_RANK[ex.impact] > 0:
                    found.append(f"{ex.id} is impact work with pain {profile.pain}/10")
                if load and ex.category != "isometric" and (INTENSITY_RANK[load] >= 2
                                                             or ex.loadable):
                    found.append(f"{ex.id} loads the painful {region} (pain {profile.pain}/10)")
    return found


def _check_safety(data) -> None:
    profile = make_profile(KB, **data)
    advice = advise(profile, KB)
    validated("advise", advice.to_dict())
    assert unsafe_reasons(profile, advice) == []
    assert sum(w.kind == "disclaimer" for w in advice.warnings) == 1
    if profile.red_flags:
        assert any(w.kind == "red-flag" and ("doctor" in w.message or "emergency" in w.message)
                   for w in advice.warnings)
        assert not advice.schedule, "a running-schedule note beside a red flag"
    if advice.urgent:
        assert advice.warnings[0].urgent and "URGENT" in advice.warnings[0].message


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles)
def test_no_recommendation_is_ever_contraindicated(data):
    _check_safety(data)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles)
def test_no_recommendation_is_ever_contraindicated_large_run(data):
    _check_safety(data)


def test_the_oracle_catches_an_unsafe_session():
    """The safety check above can fail: give it advice with a jump for an Achilles suspect."""
    profile = make_profile(KB, symptoms=["achilles-pain"], goals=["speed"])
    unsafe = advise(make_profile(KB, goals=["speed"]), KB)   # computed without the symptom
    assert any(r.exercise == "box-jump" for r in unsafe.recommendations)
    unsafe_for_achilles = advise(profile, KB)
    unsafe_for_achilles = type(unsafe_for_achilles)(**{**unsafe_for_achilles.__dict__,
                                                       "recommendations": unsafe.recommendations})
    assert any("contraindicated for suspected achilles-tendinopathy" in reason
               for reason in unsafe_reasons(profile, unsafe_for_achilles))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles)
def test_every_recommendation_has_a_derivation_down_to_inputs_and_kb_facts(data):
    profile = make_profile(KB, **data)
    advice = advise(profile, KB)
    for rec in advice.recommendations:
        answer = why(KB, profile, rec.exercise, advice)
        validated("why", answer.to_dict())
        assert answer.recommended and answer.derivation is not None
        leaves = answer.derivation.leaves()
        assert leaves and {leaf.origin for leaf in leaves} <= {"profile", "graph"}
        for rule in answer.derivation.rules():
            assert rule in KB.rule_specs
        for contribution in answer.contributions:
            assert all(rule in KB.rule_specs for rule in contribution["rules"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles, st.sampled_from(sorted(KB.exercises)))
def test_why_not_never_contradicts_the_advice(data, exercise):
    profile = make_profile(KB, **data)
    advice = advise(profile, KB)
    answer = why_not(KB, profile, exercise, search=False)
    validated("why-not", answer.to_dict())
    assert answer.recommended == (advice.recommendation(exercise) is not None)
    if answer.case == "excluded":
        assert advice.recommendation(exercise) is None
        assert all(reason["rule"] in KB.rule_specs for reason in answer.reasons)
    if advice.avoided(exercise) is not None:
        assert answer.case == "excluded"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles, st.randoms(use_true_random=False))
def test_option_order_does_not_change_the_advice(data, rnd):
    shuffled = {k: (rnd.sample(v, len(v)) if isinstance(v, list) else v) for k, v in data.items()}
    one = validated("advise", advise(make_profile(KB, **data), KB, cached=False)
                    .to_dict(trace=True))
    two = advise(make_profile(KB, **shuffled), KB, cached=False).to_dict(trace=True)
    assert one == two


def test_knowledge_base_file_order_does_not_change_the_advice(monkeypatch):
    import kbrun.engine.folders as folders

    original = folders.kb_files
    rnd = random.Random(7)
    calls = []

    def shuffled(*args, **kwargs):
        files = original(*args, **kwargs)
        rnd.shuffle(files)
        calls.append(len(files))
        return files

    profile_args = dict(symptoms=["knee-pain", "heel-pain"], goals=["speed"], phase="pre-season")
    expected = validated("advise",
                         advise(make_profile(KB, **profile_args), KB).to_dict(trace=True))
    monkeypatch.setattr(folders, "kb_files", shuffled)
    for _ in range(2):
        other = load_kb()
        assert advise(make_profile(other, **profile_args), other).to_dict(trace=True) == expected
    assert len(calls) == 2 and calls[0] > 20           # the shuffled listing was the one read
