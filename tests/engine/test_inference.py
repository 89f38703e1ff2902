"""The facts a consultation reasons over: every graph fact a rule can match, for every profile,
so that `advise`, `why` and `why-not` agree on any knowledge base a coach writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbrun.engine import advise, load_kb, make_profile
from kbrun.engine.explain import why, why_not
from kbrun.engine.graph import REQUIRES, TARGETS
from kbrun.engine.inference import consult, profile_declarations, static_declarations

from .strategies import KB

SEED = "004_21a09f0110ce186f.txt"
QUOTE = ("the soleus (inner calf) and gastrocnemius (outer calf) extend and flex each foot as "
         "you land and push off")
SOURCE = [{"id": SEED, "quote": QUOTE}]


def _write(folder: Path, content: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "coach.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    return folder


def _calf_press(**changes: Any) -> dict[str, Any]:
    exercise = {
        "id": "dumbbell-calf-press", "name": "Dumbbell calf press", "category": "strength",
        "pattern": "calf-press", "targets": {"primary": ["plantaris"]},
        "equipment": ["dumbbell"], "level": "intermediate", "unilateral": False,
        "impact": "none", "joint_load": {"ankle": "low"}, "loadable": True, "qualities": [],
        "dose": {"sets": 3, "reps": [8, 12], "load": "moderate", "rest_s": 60},
        "cues": ["Rise slowly."], "sources": SOURCE,
    }
    exercise.update(changes)
    return exercise


PLANTARIS = {"id": "plantaris", "name": "Plantaris", "kind": "muscle", "region": "lower-leg",
             "role": "A small calf muscle beside the gastrocnemius.", "opposes": [],
             "sources": SOURCE}


def test_an_exercise_linked_to_nothing_the_profile_names_is_still_reasoned_about(tmp_path):
    # The exercise works a new muscle no injury implicates and develops no quality, so nothing
    # in the profile leads to it; a rule that matches any loadable lift (heavy lifting for
    # speed, seed 001) still does. advise used to leave it out while why-not called it
    # recommended.
    kb = load_kb([_write(tmp_path / "coach", {"muscles": [PLANTARIS],
                                               "exercises": [_calf_press()]})])
    profile = make_profile(kb, goals=["speed"], setting="gym", limit=20)
    advice = advise(profile, kb)
    rec = advice.recommendation("dumbbell-calf-press")
    assert rec is not None
    assert "heavy-lifts-for-speed-and-hills" in rec.rules
    assert why_not(kb, profile, "dumbbell-calf-press", search=False).case == "recommended"
    assert why(kb, profile, "dumbbell-calf-press").recommended


def test_the_static_facts_are_the_whole_graph_of_the_kinds_rules_mention():
    kinds = KB.rules.graph_kinds()
    facts = static_declarations(KB, kinds).facts
    exercises = {dict(key[1])["id"] for key in facts if key[0] == "exercise"}
    assert exercises == set(KB.exercises)
    assert {key[0] for key in facts} == kinds
    # and no profile fact among them: those come from the profile alone
    profile = make_profile(KB, symptoms=["knee-pain"], phase="race-season")
    assert not set(facts) & set(profile_declarations(KB, profile).facts)


def test_two_consultations_of_one_profile_are_the_same():
    profile = make_profile(KB, symptoms=["shin-pain", "heel-pain"], goals=["speed"], pain=4)
    first, second = consult(KB, profile), consult(KB, profile)
    assert list(first.facts) == list(second.facts)
    assert first.firings == second.firings
    # and a consultation in between, of another runner, changes neither
    consult(KB, make_profile(KB, injuries=["it-band-syndrome"], phase="taper"))
    assert consult(KB, profile).firings == first.firings


# -- generated coach folders ---------------------------------------------------------------------

_REGIONS = ["hip", "thigh", "knee", "lower-leg", "ankle", "foot", "trunk"]
_CATEGORIES = ["strength", "isometric", "plyometric", "balance", "mobility"]


@st.composite
def coach_folders(draw: st.DrawFn) -> dict[str, Any]:
    """A coach's folder: a few new muscles and exercises, linked to the built-in ones or to
    nothing, and maybe a rule that recommends one of them."""
    muscles = [{**PLANTARIS, "id": f"coach-muscle-{i}", "name": f"Coach muscle {i}",
                "region": draw(st.sampled_from(_REGIONS))}
               for i in range(draw(st.integers(0, 2)))]
    known = sorted(KB.muscles) + [m["id"] for m in muscles]
    exercises = []
    for i in range(draw(st.integers(1, 3))):
        category = draw(st.sampled_from(_CATEGORIES))
        hold = category == "isometric"
        dose: dict[str, Any] = {"sets": 3, "load": draw(st.sampled_from(["bodyweight", "light",
                                                                         "moderate", "heavy"]))}
        dose["hold_s" if hold else "reps"] = [20, 40] if hold else [8, 12]
        exercises.append(_calf_press(
            id=f"coach-exercise-{i}", name=f"Coach exercise {i}", category=category,
            pattern=draw(st.sampled_from(["calf-press", "coach-pattern", "squat", "hinge"])),
            targets={"primary": draw(st.lists(st.sampled_from(known), min_size=1, max_size=2,
                                              unique=True))},
            equipment=draw(st.lists(st.sampled_from(sorted(KB.equipment)), min_size=1, max_size=2,
                                    unique=True)),
            level=draw(st.sampled_from(sorted(KB.levels))),
            unilateral=draw(st.booleans()), loadable=draw(st.booleans()),
            impact=draw(st.sampled_from(["none", "low", "moderate", "high"])),
            joint_load={draw(st.sampled_from(_REGIONS)): draw(st.sampled_from(
                ["low", "moderate", "high"]))},
            qualities=draw(st.lists(st.sampled_from(sorted(KB.qualities)), max_size=2,
                                    unique=True)),
            dose=dose))
    content: dict[str, Any] = {"exercises": exercises}
    if muscles:
        content["muscles"] = muscles
    goal = draw(st.sampled_from(sorted(KB.goals)))
    rule = draw(st.sampled_from(["none", "names-it", "matches-any"]))
    if rule == "names-it":  # the coach's favourite, named
        content["rules"] = [{
            "id": "coach-rule", "description": "The coach's favourite, for this goal.",
            "sources": [SEED], "when": [{"goal": {"id": goal}}],
            "then": [{"recommend": {"exercise": exercises[0]["id"], "weight": 0.9,
                                    "reason": "the coach's favourite"}}]}]
    elif rule == "matches-any":  # any exercise with these attributes: reachable from nothing
        content["rules"] = [{
            "id": "coach-rule", "description": "Every exercise of this kind, for this goal.",
            "sources": [SEED],
            "when": [{"goal": {"id": goal}},
                     {"exercise": {"id": "$e", "category": exercises[0]["category"],
                                   "unilateral": exercises[0]["unilateral"]}}],
            "then": [{"recommend": {"exercise": "$e", "weight": 0.6,
                                    "reason": "the coach's kind of exercise"}}]}]
    return content


@st.composite
def runners(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "symptoms": draw(st.lists(st.sampled_from(sorted(KB.symptoms)), max_size=2, unique=True)),
        "goals": draw(st.lists(st.sampled_from(sorted(KB.goals)), max_size=2, unique=True)),
        "phase": draw(st.sampled_from(sorted(KB.phases))),
        "level": draw(st.sampled_from(sorted(KB.levels))),
        "setting": draw(st.sampled_from(["home", "gym"])),
        "limit": draw(st.integers(3, 20)),
    }


def _agree(folder: Path, content: dict[str, Any], fields: dict[str, Any]) -> None:
    """advise on one loaded knowledge base; why and why-not on another load of the same folder
    (read back from the kb cache: its own reasoner, its own advice cache); and working memory
    checked against the graph itself, so that a graph fact left out is caught even when all
    three commands would agree on the wrong answer."""
    kb = load_kb([_write(folder, content)])
    again = load_kb([folder])
    assert again is not kb and again.reasoner is not kb.reasoner
    profile = make_profile(kb, **fields)
    advice = advise(profile, kb)
    working = advice.consultation
    assert {f["id"] for f in working.of_kind("exercise")} == set(kb.exercises)
    assert {(f["exercise"], f["muscle"]) for f in working.of_kind("targets")} == \
        {(u, v) for u, v, relation in kb.graph.edges(keys=True) if relation == TARGETS}
    assert {(f["exercise"], f["equipment"]) for f in working.of_kind("needs")} == \
        {(u, v) for u, v, relation in kb.graph.edges(keys=True) if relation == REQUIRES}
    recommended = {r.exercise for r in advice.recommendations}
    checked = [e["id"] for e in content["exercises"]] + sorted(recommended)[:2]
    other = make_profile(again, **fields)
    for exercise in checked:
        verdict = why_not(again, other, exercise, search=False)
        assert verdict.recommended == (exercise in recommended), (exercise, verdict.case)
        assert why(again, other, exercise).recommended == (exercise in recommended)


def _examples(count: int) -> Any:
    return settings(max_examples=count, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@_examples(6)
@given(content=coach_folders(), fields=runners())
def test_advise_why_and_why_not_agree_on_any_coach_folder(tmp_path_factory, content, fields):
    _agree(tmp_path_factory.mktemp("coach"), content, fields)


@pytest.mark.slow
@_examples(40)
@given(content=coach_folders(), fields=runners())
def test_advise_why_and_why_not_agree_on_any_coach_folder_many(tmp_path_factory, content,
                                                                fields):
    _agree(tmp_path_factory.mktemp("coach"), content, fields)


@pytest.mark.parametrize("options, expected", [
    ({"setting": "home"}, {"none": "body weight (always at hand)", "band": "--setting home"}),
    ({}, {"none": "body weight (always at hand)",
          "barbell": "all equipment (no --equipment or --setting given)"}),
    ({"equipment": ["box"]}, {"none": "body weight (always at hand)", "box": "--equipment box"}),
])
def test_an_equipment_fact_says_where_it_came_from(kb, options, expected):
    from kbrun.engine.inference import profile_declarations

    declared = profile_declarations(kb, make_profile(kb, **options))
    origins = {dict(key[1])["id"]: origin.detail for key, origin in declared.origins.items()
               if key[0] == "equipment"}
    assert {item: origins[item] for item in expected} == expected
