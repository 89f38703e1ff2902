"""why and why-not: answers traced to rules, facts and sources, each case of why-not."""

from __future__ import annotations

import pytest

from kbrun.engine import UnknownId, advise, make_profile
from kbrun.engine.explain import why, why_not


def _leaf_origins(node):
    return {leaf.origin for leaf in node.leaves()}


def test_why_traces_a_recommendation_to_inputs_and_graph_links(kb):
    profile = make_profile(kb, symptoms=["knee-pain"], phase="race-season")
    advice = advise(profile, kb)
    top = advice.slots[0]
    answer = why(kb, profile, top.exercise)
    assert answer.recommended and answer.rank == top.rank and answer.score == top.score
    assert "slot 1 of" in answer.ranking
    assert _leaf_origins(answer.derivation) <= {"profile", "graph"}
    leaves = [leaf.description for leaf in answer.derivation.leaves()]
    assert "--symptom knee-pain" in leaves
    rules = answer.derivation.rules()
    assert "symptom-suggests-injury" in rules and "injury-implicates-muscle" in rules
    assert sum(c["weight"] > 0 for c in answer.contributions) == len(top.contributions)
    assert f"= {top.score:.4f}" in answer.combination
    assert any(step["follows"] == "no-strength-on-hard-days" for step in answer.dose)


def test_why_eccentric_heel_drops_for_achilles_pain_cites_the_evidence(kb):
    profile = make_profile(kb, symptoms=["achilles-pain"], setting="home")
    answer = why(kb, profile, "eccentric-calf-raise")
    rules = answer.derivation.rules()
    assert "achilles-eccentric-heel-drops" in rules
    sources = {s for node in _walk(answer.derivation) for s in node.sources}
    assert {"003_24b31e77bc44e50b.txt", "alfredson-1998"} <= sources


def test_why_on_an_exercise_not_in_the_session_points_to_why_not(kb):
    answer = why(kb, make_profile(kb, symptoms=["achilles-pain"]), "box-jump")
    assert not answer.recommended and answer.derivation is None
    assert "why-not box-jump" in answer.note


def test_unknown_exercise_suggests_the_closest(kb):
    with pytest.raises(UnknownId, match="unknown exercise 'clamshel'; did you mean 'clamshell'"):
        why(kb, make_profile(kb), "clamshel")
    with pytest.raises(UnknownId, match="did you mean 'box-jump'"):
        why_not(kb, make_profile(kb), "box-jmp")


def test_aliases_are_accepted(kb):
    answer = why_not(kb, make_profile(kb, symptoms=["knee-pain"]), "Forward lunge")
    assert answer.exercise == "lunge"


def test_why_not_excluded_names_the_rule_and_the_triggering_fact(kb):
    answer = why_not(kb, make_profile(kb, symptoms=["achilles-pain"]), "box-jump")
    assert answer.case == "excluded" and not answer.recommended
    reason = answer.reasons[0]
    assert reason["rule"] == "exclude-contraindicated-this-stage"  # plyometrics: acute, subacute
    assert any(f.startswith("suspect(injury=achilles-tendinopathy") for f in reason["facts"])
    assert any(f.startswith("contraindicated(exercise=box-jump, injury=achilles-tendinopathy")
               for f in reason["facts"])
    assert reason["sources"]
    assert answer.change is None  # no goal, phase or equipment makes jumps safe here


def test_why_not_missing_equipment_finds_the_item(kb):
    profile = make_profile(kb, goals=["endurance"], equipment=["none", "dumbbell"])
    answer = why_not(kb, profile, "step-up")
    assert answer.case == "excluded"
    assert answer.reasons[0]["rule"] == "exclude-without-equipment"
    assert answer.change is not None and answer.change["option"] == "--equipment box"
    with_box = advise(profile.with_changes(equipment=tuple(sorted({*profile.equipment, "box"}))),
                      kb)
    assert with_box.recommendation("step-up") is not None


def test_why_not_above_level_finds_the_level(kb):
    profile = make_profile(kb, level="beginner", goals=["power"])
    answer = why_not(kb, profile, "nordic-hamstring-curl")
    assert answer.case == "excluded"
    assert {r["rule"] for r in answer.reasons} >= {"exclude-above-level"}


def test_why_not_never_a_candidate_names_the_missing_link(kb):
    profile = make_profile(kb, symptoms=["low-back-pain"], phase="race-season")
    answer = why_not(kb, profile, "hill-sprint")
    assert answer.case == "not-a-candidate"
    kinds = [r["kind"] for r in answer.reasons]
    assert kinds == ["no-rule-matched", "no-quality-wanted"]
    assert "work-focus-muscles" in answer.reasons[0]["message"]
    assert "explosive-power" in answer.reasons[1]["message"]   # what it develops, unasked for


def test_why_not_ranked_out_compares_scores(kb):
    profile = make_profile(kb, symptoms=["knee-pain"], phase="race-season")
    advice = advise(profile, kb)
    skipped = advice.skipped[0]
    answer = why_not(kb, profile, skipped.exercise)
    assert answer.case == "ranked-out"
    reason = answer.reasons[0]
    assert reason["score"] == skipped.score
    assert reason["last_in_session"] == advice.slots[-1].exercise
    assert reason["rules"]


def test_why_not_a_recommended_exercise_says_so(kb):
    profile = make_profile(kb, symptoms=["shin-pain"])
    answer = why_not(kb, profile, "toe-raise")
    assert answer.recommended and answer.case == "recommended"


def test_why_not_ranked_out_can_be_brought_in_by_a_longer_session(kb):
    profile = make_profile(kb, symptoms=["knee-pain"], phase="race-season", limit=3)
    short = {r.exercise for r in advise(profile, kb).recommendations}
    changed = advise(profile.with_changes(limit=5), kb)
    extra = next(r.exercise for r in changed.slots if r.exercise not in short)
    answer = why_not(kb, profile, extra)
    assert answer.case == "ranked-out"
    assert answer.change is not None and answer.change["option"] == "--limit 5", answer.tried
    assert changed.recommendation(extra).rank == answer.change["rank"]


def _walk(node):
    yield node
    for premise in node.premises:
        yield from _walk(premise)
