"""Dosing: the typed dose decision from a rule, a fact and a protocol, which exercises it applies
to, and how prescribe orders decisions, ceilings and protocol doses."""

from __future__ import annotations

import pytest

from kbrun.engine import advise, make_profile
from kbrun.engine.conclusions import read
from kbrun.engine.dose import DoseDecision, fact_fields, in_order, prescribe
from kbrun.engine.inference import consult
from kbrun.engine.schema import LOAD_RANK, Dose
from tests.conftest import mini_with

LIGHTER = {"moderate": (8, 12), "light": (12, 15), "bodyweight": (12, 15)}


def exercise(mini, exercise_id: str, **dose):
    """An exercise of tests/data/mini, with its own dose replaced by `dose` if given."""
    item = mini.exercises[exercise_id]
    return item.model_copy(update={"dose": Dose(**dose)}) if dose else item


# -- one decision, three sources ------------------------------------------------------------------

def test_a_dose_action_becomes_a_dose_fact_and_reads_back_as_the_same_decision():
    fields = fact_fields({"category": "strength", "loadable": True, "sets": 4, "reps": [4, 6],
                          "hold_s": 30, "note": "heavy"}, default_priority=40)
    assert fields == {"exercise": "any", "category": "strength", "pattern": "any",
                      "loadable": "yes", "unilateral": "any", "sets": 4, "reps_min": 4,
                      "reps_max": 6, "hold_min": 30, "hold_max": 30, "note": "heavy",
                      "priority": 40}
    assert list(fields)[:5] == ["exercise", "category", "pattern", "loadable", "unilateral"]
    assert DoseDecision.from_fields(fields) == DoseDecision(
        category="strength", loadable=True, sets=4, reps=(4, 6), hold=(30, 30), note="heavy",
        priority=40)
    assert fact_fields({"priority": 10, "unilateral": False}, 40)["unilateral"] == "no"


def test_a_rule_asserts_the_dose_fact_fact_fields_makes_and_nothing_else(tmp_path):
    folder = tmp_path / "dose-rule"
    folder.mkdir()
    (folder / "rules.yaml").write_text(
        "rules:\n  - id: knee-dose\n    description: Dose for knee pain.\n    salience: 7\n"
        "    sources: [test-source]\n    when: [{symptom: {id: knee-pain}}]\n"
        "    then: [{dose: {unilateral: true, reps: [8, 12], sessions_per_week: 2}}]\n")
    kb = mini_with(str(folder))
    consultation = consult(kb, make_profile(kb, symptoms=["knee-pain"]))
    (decision, key), = read(consultation, DoseDecision)
    # the spans are split, never kept as written beside their halves
    assert consultation.fields(key) == {
        "exercise": "any", "category": "any", "pattern": "any", "loadable": "any",
        "unilateral": "yes", "reps_min": 8, "reps_max": 12, "sessions_min": 2,
        "sessions_max": 2, "priority": 7}
    assert decision == DoseDecision(unilateral=True, reps=(8, 12), sessions=(2, 2), priority=7)


def test_a_protocol_dose_is_a_decision_for_its_exercise(kb):
    dose = kb.protocols["beyer-hsr-achilles"].doses[0]
    decision = DoseDecision.from_protocol("beyer-hsr-achilles", dose, 50)
    assert decision == DoseDecision(
        exercise="seated-calf-raise", sets=3, reps=(6, 15), load="heavy",
        tempo="3 s up, 3 s down", rest_s=120, sessions=(3, 3),
        frequency="three times a week, 12 weeks",
        effort="15RM in week 1 building to 6RM by week 12", priority=50,
        protocol="beyer-hsr-achilles")


def test_the_protocol_priority_is_kb_data_above_every_rule_that_sets_a_dose(kb):
    priorities = [action["dose"].get("priority", spec.salience)
                  for spec in kb.rule_specs.values() for action in spec.then
                  if "dose" in action and not {"max_sets", "max_load"} & set(action["dose"])]
    assert priorities and max(priorities) < kb.selection.protocol_priority


@pytest.mark.parametrize("decision, applies", [
    (DoseDecision(), True),
    (DoseDecision(exercise="squat"), True),
    (DoseDecision(exercise="calf-raise"), False),
    (DoseDecision(category="strength", loadable=True), True),
    (DoseDecision(category="plyometric"), False),
    (DoseDecision(loadable=False), False),
    (DoseDecision(pattern="squat", unilateral=False), True),
    (DoseDecision(unilateral=True), False),
], ids=["no-selector", "its-id", "another-id", "category-and-loadable", "another-category",
        "not-loadable", "pattern-and-bilateral", "unilateral"])
def test_a_decision_applies_to_the_exercises_its_selectors_match(mini, decision, applies):
    assert decision.applies_to(mini.exercises["squat"]) is applies


def test_a_note_with_no_dose_and_no_selector_is_about_the_whole_session():
    assert DoseDecision(note="after the hard run").is_session_note
    assert not DoseDecision(note="heavy", sets=3).is_session_note
    assert not DoseDecision(note="legs", category="strength").is_session_note
    assert not DoseDecision(note="gently", max_sets=2).is_session_note


# -- prescribe ------------------------------------------------------------------------------------

def test_a_higher_priority_decision_wins_whatever_order_the_decisions_come_in(mini):
    low, high = DoseDecision(sets=2, rest_s=60, priority=10), DoseDecision(sets=4, priority=20)
    for given in ([(high, "high"), (low, "low")], [(low, "low"), (high, "high")]):
        prescription, steps = prescribe(mini.exercises["squat"], in_order(given), (2, 3))
        assert (prescription.sets, prescription.rest_s) == (4, 60)
        assert [s.rule for s in steps] == ["low", "high"]
        assert steps[1].changes == (("sets", 4),)


def test_a_ceiling_applies_after_every_other_decision(mini):
    squat = exercise(mini, "squat", sets=3, reps=(4, 6), load="heavy")
    decisions = in_order([(DoseDecision(max_sets=2, max_load="light", note="pain"), "pain"),
                          (DoseDecision(sets=5, load="heavy", priority=90), "late")])
    prescription, steps = prescribe(squat, decisions, (2, 3), LIGHTER)
    assert (prescription.sets, prescription.load) == (2, "light")
    # a lighter load is lifted for more reps
    assert (prescription.reps_min, prescription.reps_max) == (12, 15)
    assert [(s.rule, s.cap) for s in steps] == [("late", False), ("pain", True)]
    assert steps[-1].changes == (("sets", 2), ("load", "light"), ("reps", "12-15"))
    assert prescription.notes == ("pain",)


def test_a_ceiling_never_raises_a_dose(mini):
    squat = exercise(mini, "squat", sets=2, reps=(10, 12), load="bodyweight")
    prescription, steps = prescribe(squat, [(DoseDecision(max_sets=3, max_load="heavy"), "cap")],
                                    (2, 3), LIGHTER)
    assert (prescription.sets, prescription.load) == (2, "bodyweight")
    assert steps == []


def test_a_protocol_dose_outranks_the_phase(kb, mini):
    squat = exercise(mini, "squat", sets=3, reps=(10, 12), load="bodyweight")
    phase = DoseDecision(category="strength", loadable=True, sets=2, reps=(4, 6), load="heavy",
                         sessions=(1, 2), priority=10)
    protocol = DoseDecision(exercise="squat", sets=3, reps=(6, 15), load="moderate",
                            sessions=(3, 3), frequency="three times a week",
                            priority=kb.selection.protocol_priority, protocol="rehab")
    prescription, steps = prescribe(squat, in_order([(protocol, "follow"), (phase, "phase")]),
                                    (1, 2))
    assert (prescription.sets, prescription.reps_min, prescription.reps_max,
            prescription.load) == (3, 6, 15, "moderate")
    assert prescription.sessions_per_week == 3
    assert prescription.frequency == "three times a week"
    assert steps[-1].protocol == "rehab"


def test_a_protocol_gives_reps_or_a_hold_but_a_phase_never_turns_one_into_the_other(mini):
    held = exercise(mini, "calf-raise", sets=3, hold_s=(30, 45))
    phase = DoseDecision(reps=(4, 6), priority=10)
    prescription, _ = prescribe(held, [(phase, "phase")], (2, 3))
    assert (prescription.reps_min, prescription.hold_s_min) == (None, 30)
    protocol = DoseDecision(exercise="calf-raise", sets=3, reps=(15, 15), priority=50,
                            protocol="alfredson")
    prescription, _ = prescribe(held, [(protocol, "follow")], (2, 3))
    assert (prescription.reps_min, prescription.reps_max, prescription.hold_s_min) == \
        (15, 15, None)


def test_an_exercise_that_cannot_be_loaded_keeps_the_lighter_load(mini):
    light = [(DoseDecision(load="moderate"), "phase")]
    assert prescribe(mini.exercises["calf-raise"], light, (2, 3))[0].load == "bodyweight"
    assert prescribe(mini.exercises["squat"], light, (2, 3))[0].load == "moderate"
    # a protocol's load is the protocol's, loadable or not
    protocol = [(DoseDecision(load="moderate", protocol="rehab", reps=(15, 15)), "follow")]
    assert prescribe(mini.exercises["calf-raise"], protocol, (2, 3))[0].load == "moderate"


@pytest.mark.parametrize("fields", [
    {"symptoms": ["knee-pain"], "phase": "off-season", "level": "advanced"},
    {"injuries": ["achilles-tendinopathy"], "stage": "subacute", "setting": "gym"},
    {"symptoms": ["hip-pain", "low-back-pain"], "goals": ["power"], "phase": "pre-season"},
], ids=["knee-off-season", "achilles-protocol", "hip-and-back-power"])
def test_more_pain_never_means_more_sets_or_a_heavier_load(kb, fields):
    previous: dict[str, tuple[int, int]] = {}
    for pain in range(11):
        advice = advise(make_profile(kb, pain=pain, **fields), kb)
        current = {r.exercise: (r.prescription.sets, LOAD_RANK[r.prescription.load])
                   for r in advice.recommendations}
        for name, (sets, load) in current.items():
            if name in previous:
                assert sets <= previous[name][0], f"{name}: more sets at pain {pain}"
                assert load <= previous[name][1], f"{name}: a heavier load at pain {pain}"
        previous = current
