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


# -- long and wide derivations (issue 11) --------------------------------------------------------

def _chain_folder(folder, steps: int, source: str, first: dict, exercise: str):
    """A coach's folder of `steps` + 2 rules: each asserts the step the next one needs, and the
    last recommends `exercise`."""
    from tests.engine.test_bounds import kind, rule, write_rules

    rules = [rule("step-0", [first], [{"assert": {"step": {"n": 0}}}], source)]
    rules += [rule(f"step-{i}", [{"step": {"n": i - 1}}], [{"assert": {"step": {"n": i}}}],
                   source) for i in range(1, steps + 1)]
    rules.append(rule("chain-end", [{"step": {"n": steps}}],
                      [{"recommend": {"exercise": exercise, "weight": 0.99,
                                      "reason": "the end of a long chain"}}], source))
    return write_rules(folder, rules, [kind("step", {"n": "whole"}, source)])


def _depth(node) -> int:
    deepest, stack = 0, [(node, 0)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((p, level + 1) for p in current.premises)
    return deepest


def test_why_over_a_thousand_step_chain_shows_fifty_steps_and_counts_the_rest(tmp_path):
    from kbrun.engine import load_kb
    from kbrun.engine.explain import MAX_DERIVATION_DEPTH
    from tests.conftest import DATA

    folder = _chain_folder(tmp_path / "chain", 1000, "test-source", {"goal": {"id": "speed"}},
                           "squat")
    kb = load_kb([DATA / "mini", folder], builtin=False)
    answer = why(kb, make_profile(kb, goals=["speed"]), "squat")
    assert answer.recommended
    omitted = [node for node in answer.derivation.walk() if node.origin == "omitted"]
    assert [node.fact for node in omitted] == ["... 951 more steps"]
    assert omitted[0].description == ("the derivation goes 951 rule steps deeper; a tree shows "
                                      "at most 50 steps and 2,000 facts")
    assert _depth(answer.derivation) == MAX_DERIVATION_DEPTH + 2  # the session, the cut node
    assert answer.to_dict()["derivation"]["premises"][0]["rule"] == "chain-end"


def test_a_derivation_that_doubles_at_each_step_is_cut_at_its_size_limit(tmp_path):
    """Each step matches the two facts of the step before: the tree (not the working memory)
    doubles at each step, 2**18 facts for 18 steps."""
    from kbrun.engine import load_kb
    from kbrun.engine.explain import MAX_DERIVATION_NODES
    from tests.conftest import DATA
    from tests.engine.test_bounds import kind, rule, write_rules

    facts = [kind("left", {"n": "whole"}), kind("right", {"n": "whole"})]
    rules = [rule("begin", [{"goal": {"id": "speed"}}],
                  [{"assert": {"left": {"n": 0}}}, {"assert": {"right": {"n": 0}}}])]
    rules += [rule(f"double-{i}", [{"left": {"n": i - 1}}, {"right": {"n": i - 1}}],
                   [{"assert": {"left": {"n": i}}}, {"assert": {"right": {"n": i}}}])
              for i in range(1, 19)]
    rules.append(rule("end", [{"left": {"n": 18}}, {"right": {"n": 18}}],
                      [{"recommend": {"exercise": "squat", "weight": 0.99, "reason": "wide"}}]))
    kb = load_kb([DATA / "mini", write_rules(tmp_path / "wide", rules, facts)], builtin=False)
    answer = why(kb, make_profile(kb, goals=["speed"]), "squat")
    nodes = list(answer.derivation.walk())
    assert MAX_DERIVATION_NODES < len(nodes) < 2 * MAX_DERIVATION_NODES
    assert any(node.origin == "omitted" and node.fact.endswith("more steps") for node in nodes)


def test_kbrun_why_over_a_thousand_step_chain_exits_0_with_the_cut_shown(tmp_path):
    from tests.hostile import run_kbrun

    folder = _chain_folder(tmp_path / "chain", 1000, "004_21a09f0110ce186f.txt", {"phase": {}},
                           "back-squat")
    result = run_kbrun(["why", "back-squat", "--kb", str(folder)], timeout=60, memory_mb=1500)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "└─ ... 951 more steps  ⇐ omitted: the derivation goes 951 rule steps deeper" in \
        result.stdout
    assert result.seconds < 30 and result.peak_mb < 400
