"""Profiles taken from what the seed articles say, each asserting what a coach would check.

Seed files are in ../shared/seeds/; each case cites the line it comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from kbrun.engine import advise, make_profile
from kbrun.engine.session import combine
from tests.conftest import validated


@dataclass
class Case:
    profile: dict
    cite: str
    includes_any: list[str] = field(default_factory=list)   # at least one of these is in
    includes_all: list[str] = field(default_factory=list)   # every one of these is in
    excludes: list[str] = field(default_factory=list)       # none of these is recommended
    avoided: list[str] = field(default_factory=list)        # each is listed under avoid
    loadable_load: str | None = None                        # load of every loadable strength lift
    loadable_reps: tuple[int, int] | None = None
    max_sets: int | None = None
    follows: list[str] = field(default_factory=list)        # claims the advice follows


CASES = {
    "knee-pain-race-season": Case(
        {"symptoms": ["knee-pain"], "phase": "race-season"},
        "001 Q9 'reduce the intensity and volume'; Rønnestad & Mujika 2014 (keep the load, cut "
        "the volume); 001 Q3 'glute bridges, single-leg deadlifts, and lateral band walks'; "
        "003 'Forward lunges can put excessive shear force on the knee'",
        includes_any=["glute-bridge", "single-leg-deadlift", "lateral-band-walk", "clamshell"],
        excludes=["lunge", "walking-lunge", "box-jump", "depth-jump"],
        avoided=["walking-lunge", "lunge"],
        loadable_load="heavy", loadable_reps=(4, 6), max_sets=2,
        follows=["maintain-intensity-cut-volume", "no-strength-on-hard-days"]),
    "runners-knee-diagnosed": Case(
        {"injuries": ["runners-knee"]},
        "004 'Exercises that build hamstring and quadricep strength are good for recovering "
        "from runner's knee.'",
        includes_any=["hamstring-curl", "hamstring-bridge-curl", "single-leg-deadlift",
                      "romanian-deadlift", "nordic-hamstring-curl"],
        excludes=["walking-lunge", "depth-jump"]),
    "shin-pain": Case(
        {"symptoms": ["shin-pain"]},
        "004 'Shin splints, for example, are helped by calf raises. Leaning your back against a "
        "wall and raising your toes ... is another good shin splint preventive.'",
        includes_any=["calf-raise", "single-leg-calf-raise"], includes_all=["toe-raise"],
        excludes=["depth-jump", "bounding"]),
    "achilles-pain": Case(
        {"symptoms": ["achilles-pain"], "setting": "home"},
        "003 'eccentric (lowering slowly) heel drops are the gold standard'; Alfredson 1998",
        includes_all=["eccentric-calf-raise"],
        excludes=["box-jump", "depth-jump", "bounding", "skipping", "hill-sprint"],
        avoided=["box-jump", "depth-jump"]),
    "outer-knee-pain": Case(
        {"symptoms": ["outer-knee-pain"]},
        "003 'It corrects the imbalances that lead to IT band syndrome.' (single-leg RDL); "
        "Fredericson 2000 (hip abductor weakness)",
        includes_all=["single-leg-deadlift"],
        includes_any=["clamshell", "side-lying-hip-abduction", "lateral-band-walk"]),
    "heel-pain": Case(
        {"symptoms": ["heel-pain"]},
        "003 'Neglecting them is a recipe for plantar fasciitis and Achilles tendinopathy'; "
        "Rathleff 2015",
        includes_all=["plantar-fascia-heel-raise"]),
    "off-season-speed": Case(
        {"goals": ["speed"], "phase": "off-season"},
        "003 'focus on lower reps (5–8 range) with heavier weights to build strength and power'; "
        "Støren 2008 (4 x 4 heavy half squats)",
        includes_any=["box-jump", "bounding"],
        loadable_load="heavy", loadable_reps=(4, 6),
        follows=["heavy-strength-for-economy", "strength-on-hard-days"]),
    "off-season-endurance": Case(
        {"goals": ["endurance"], "phase": "off-season"},
        "001 Q2 'Step-ups, Bulgarian split squats, and calf raises are particularly beneficial'; "
        "004 'choose a resistance that makes you fatigued after 12-15 reps'",
        includes_all=["step-up", "bulgarian-split-squat", "calf-raise"],
        loadable_reps=(12, 15), follows=["fatigue-12-15"]),
    "hills-pre-season": Case(
        {"goals": ["hills"], "phase": "pre-season"},
        "001 'This exercise is particularly beneficial for hill runners' (step-ups); 001 Q5 "
        "'Heavy lifting ... essential for sprinting and hill running'",
        includes_all=["step-up"], loadable_load="heavy"),
    "taper": Case(
        {"phase": "taper", "goals": ["speed"]},
        "004 'avoid working out the day before a race'; 001 Q9 'Strategic tapering'",
        excludes=["box-jump", "depth-jump", "bounding", "squat-jump", "plyometric-lunge"],
        max_sets=2, follows=["no-strength-on-hard-days"]),
    "recovery": Case(
        {"phase": "recovery"},
        "004 'Once a month, take a week off from strength workouts'; gentle work only",
        excludes=["box-jump", "depth-jump", "bounding", "skipping"],
        max_sets=2),
    "beginner-no-high-impact": Case(
        {"level": "beginner", "goals": ["power"]},
        "001 Q4 'A progressive approach, starting with lower-impact variations before "
        "advancing to more complex drills'",
        excludes=["depth-jump", "bounding", "box-jump", "nordic-hamstring-curl"],
        avoided=["depth-jump"]),
    "home-no-gym": Case(
        {"setting": "home", "symptoms": ["knee-pain"]},
        "004 'Leg Workouts for Runners at Home' uses steps, chairs and body weight",
        excludes=["leg-press", "leg-extension", "back-squat", "deadlift"]),
    "body-weight-only": Case(
        {"equipment": ["none"], "goals": ["injury-prevention"]},
        "004 'Your home workout to strengthen your legs should begin with basic calisthenics'",
        excludes=["lateral-band-walk", "goblet-squat", "step-up", "box-jump", "leg-press"]),
    "patellar-tendon": Case(
        {"injuries": ["patellar-tendinopathy"], "phase": "pre-season"},
        "Rio 2015 (isometrics relieve tendon pain); depth jumps load the tendon hardest",
        includes_any=["spanish-squat", "wall-sit", "isometric-leg-extension"],
        excludes=["depth-jump", "bounding"]),
    "calf-pain": Case(
        {"symptoms": ["calf-pain"]},
        "001 'Calf raises help build endurance in the lower legs'",
        includes_any=["calf-raise", "eccentric-calf-raise", "seated-calf-raise",
                      "isometric-calf-raise-hold", "single-leg-calf-raise"],
        excludes=["depth-jump", "hill-sprint"]),
    "low-back-pain": Case(
        {"symptoms": ["low-back-pain"]},
        "004 'Underdeveloped gluteal muscles might cause the runner to lean his or her trunk "
        "forward'; core stability",
        includes_any=["bird-dog", "side-plank", "plank", "dead-bug"]),
}


@pytest.fixture(scope="module")
def results(kb):
    return {name: advise(make_profile(kb, **case.profile), kb) for name, case in CASES.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_seed_case(kb, results, name):
    case = CASES[name]
    advice = results[name]
    picked = [r.exercise for r in advice.recommendations]
    slots = [r.exercise for r in advice.recommendations
             if r.section not in ("warm-up", "mobility")]
    assert len(slots) == (advice.size_limit[0] if advice.size_limit else 6), picked
    if case.includes_any:
        assert set(picked) & set(case.includes_any), (picked, case.cite)
    for exercise in case.includes_all:
        assert exercise in picked, (exercise, picked, case.cite)
    for exercise in case.excludes:
        assert exercise not in picked, (exercise, picked, case.cite)
    for exercise in case.avoided:
        assert advice.avoided(exercise) is not None, (exercise, case.cite)
    for rec in advice.recommendations:
        exercise = kb.exercises[rec.exercise]
        if exercise.loadable and exercise.category == "strength" and rec.protocol is None:
            if case.loadable_load:
                assert rec.prescription.load == case.loadable_load, (rec.exercise, case.cite)
            if case.loadable_reps:
                assert (rec.prescription.reps_min, rec.prescription.reps_max) == \
                    case.loadable_reps, (rec.exercise, case.cite)
        if case.max_sets and rec.protocol is None:  # a protocol's dose outranks the phase's
            assert rec.prescription.sets <= case.max_sets, (rec.exercise, case.cite)
    followed = {step.follows for r in advice.recommendations for step in r.dose_steps} | {
        note.follows for note in advice.schedule}
    for claim in case.follows:
        assert claim in followed, (claim, case.cite)


def test_every_session_keeps_the_lower_leg_and_single_leg_work(kb, results):
    lower = {"gastrocnemius", "soleus", "tibialis-anterior", "foot-intrinsics", "achilles-tendon",
             "plantar-fascia"}
    for name, advice in results.items():
        targets = [set(kb.exercises[r.exercise].targets.primary) for r in advice.recommendations]
        assert any(t & lower for t in targets), name
        assert any(kb.exercises[r.exercise].unilateral for r in advice.recommendations), name


def test_no_two_near_identical_variants(kb, results):
    for name, advice in results.items():
        patterns = [kb.exercises[r.exercise].pattern for r in advice.recommendations]
        assert len(patterns) == len(set(patterns)), (name, patterns)


def test_quadriceps_work_is_balanced_by_hamstrings(kb, results):
    advice = results["runners-knee-diagnosed"]
    targets = [kb.exercises[r.exercise].targets for r in advice.recommendations]
    assert any("quadriceps" in t.primary for t in targets)
    assert any("hamstrings" in t.primary + t.secondary for t in targets)


def test_scores_follow_the_documented_formula(results):
    for advice in results.values():
        for rec in advice.recommendations:
            assert rec.score == combine([c.weight for c in rec.contributions], 0.5)
        scores = [c.score for c in advice.candidates]
        assert scores == sorted(scores, reverse=True)


def test_every_recommendation_carries_reasons_rules_and_sources(kb, results):
    for advice in results.values():
        for rec in advice.recommendations:
            assert rec.reasons and rec.rules and rec.sources
            assert all(rule in kb.rule_specs for rule in rec.rules)
            assert all(source in kb.sources for source in rec.sources)


def test_every_advice_carries_the_disclaimer(results):
    for advice in results.values():
        assert [w.kind for w in advice.warnings].count("disclaimer") == 1


def test_json_contract(kb, results):
    data = validated("advise", json.dumps(results["knee-pain-race-season"].to_dict()))
    assert set(data) >= {"profile", "findings", "recommendations", "avoid", "warnings"}
    assert set(data["profile"]) >= {"symptoms", "injuries", "goals", "phase", "level",
                                    "equipment", "red_flags"}
    rec = data["recommendations"][0]
    assert set(rec) >= {"rank", "exercise", "name", "score", "prescription", "targets",
                        "reasons", "rules", "sources"}
    assert set(rec["prescription"]) >= {"sets", "reps_min", "reps_max", "per_side", "load",
                                        "tempo", "rest_s", "sessions_per_week"}
    assert rec["prescription"]["load"] in ("bodyweight", "light", "moderate", "heavy")
    finding = data["findings"][0]
    assert finding["kind"] == "injury" and 0 <= finding["certainty"] <= 1 and finding["rules"]
    assert {"exercise", "reason", "rules"} <= set(data["avoid"][0])
    assert {"kind", "message"} <= set(data["warnings"][0])
    assert "trace" not in data
    assert "trace" in validated("advise", results["knee-pain-race-season"].to_dict(trace=True))


def test_same_input_same_output(kb):
    profile = make_profile(kb, symptoms=["knee-pain", "shin-pain"], goals=["speed"],
                           phase="pre-season")
    # two consultations, not one answer read twice from the advice cache, with another
    # runner's consultation in between (the engine's state is restored for each)
    first = json.dumps(advise(profile, kb, cached=False).to_dict(trace=True), sort_keys=False)
    validated("advise", first)
    advise(make_profile(kb, injuries=["it-band-syndrome"], phase="taper"), kb, cached=False)
    second = json.dumps(advise(profile, kb, cached=False).to_dict(trace=True), sort_keys=False)
    assert first == second


def test_option_order_does_not_matter(kb):
    one = advise(make_profile(kb, symptoms=["shin-pain", "knee-pain"], goals=["hills", "speed"]),
                 kb, cached=False)
    two = advise(make_profile(kb, symptoms=["knee-pain", "shin-pain"], goals=["speed", "hills"]),
                 kb, cached=False)
    assert validated("advise", one.to_dict()) == two.to_dict()
