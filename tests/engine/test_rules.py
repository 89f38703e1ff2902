"""The rule compiler: joins, negation, numeric tests, and the mistakes it must reject."""

from __future__ import annotations

import pytest

from kbrun.engine import KbInvalid, advise, make_profile
from kbrun.engine.conclusions import Focus, Recommendation, Suspect, read
from kbrun.engine.inference import consult
from tests.conftest import mini_with


def test_join_binds_a_variable_across_facts(mini):
    consultation = consult(mini, make_profile(mini, symptoms=["knee-pain"]))
    assert values(consultation, Suspect) == [Suspect("runners-knee", 0.6, "knee-pain")]
    assert values(consultation, Focus) == [Focus("quadriceps", 0.48, "runners-knee")]


def test_no_symptom_no_suspicion(mini):
    consultation = consult(mini, make_profile(mini))
    assert values(consultation, Suspect) == []
    assert values(consultation, Recommendation) == []


def values(consultation, kind):
    return [value for value, _key in read(consultation, kind)]


def test_negation_fires_only_while_the_negated_fact_is_absent():
    kb = mini_with("negation")
    with_machine = advise(make_profile(kb, symptoms=["knee-pain"]), kb)
    # hamstring-curl is recommended by the negation rule itself; the rule then cannot re-fire
    reasons = [c.reason for r in with_machine.recommendations if r.exercise == "hamstring-curl"
               for c in r.contributions]
    assert reasons == ["balances the quadriceps"]


def test_numeric_comparison_in_a_pattern_and_in_a_test():
    kb = mini_with("numeric")
    advice = advise(make_profile(kb, symptoms=["knee-pain"]), kb)
    messages = [w.message for w in advice.warnings if w.kind != "disclaimer"]
    assert messages == ["runners-knee is likely"]


@pytest.mark.parametrize("layer, message", [
    ("unknown-field",
     r"rules\.yaml:6: unknown field 'injuri' in rule 'typo' .*did you mean 'injury'"),
    ("unbound", r"rules\.yaml:8: variable '\$e' is used but never bound in rule 'unbound'"),
    ("unknown-kind",
     r"rules\.yaml:6: unknown fact kind 'sympton' in rule 'bad-kind'; did you mean 'symptom'"),
    ("unknown-id",
     r"rules\.yaml:6: unknown muscle 'quadricep' in rule 'bad-muscle'; did you mean 'quadriceps'"),
    ("bad-operator", r"rules\.yaml:6: unknown operator '=>' in rule 'bad-op'; did you mean '>='"),
], ids=["unknown-field", "unbound-variable", "unknown-fact-kind", "unknown-id", "unknown-operator"])
def test_rule_mistakes_are_load_errors_with_file_and_line(layer, message):
    with pytest.raises(KbInvalid, match=message):
        mini_with(layer)


def test_duplicate_rule_id_in_one_folder_is_an_error(tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    rule = ("  - id: same\n    description: d\n    sources: [test-source]\n"
            "    when: [{phase: {}}]\n    then: [{warn: {kind: a, message: b}}]\n")
    (folder / "a.yaml").write_text("rules:\n" + rule)
    (folder / "b.yaml").write_text("rules:\n" + rule)
    with pytest.raises(KbInvalid,
                       match=r"b\.yaml:2: duplicate id 'same' \(already defined at .*a\.yaml:2\)"):
        mini_with(str(folder))


def test_trace_records_each_firing_with_matched_and_asserted_facts(mini):
    consultation = consult(mini, make_profile(mini, symptoms=["knee-pain"]))
    first = consultation.firings[0]
    assert first.rule == "suspect-from-symptom"
    assert [k[0] for k in first.matched] == ["symptom", "suggests"]
    assert [k[0] for k in first.asserted] == ["suspect"]


@pytest.mark.parametrize("test, message", [
    ("$w >= $w", "the test compares $w with itself, which is always the same in rule 'odd'; "
                 "compare it with another variable or a number"),
    ("$w >=", "cannot read test '$w >='; write it as '$a >= 0.5' or '$a != $b' in rule 'odd'"),
])
def test_a_test_that_cannot_mean_anything_is_refused_at_its_line(tmp_path, test, message):
    from kbrun.engine.loader import KbInvalid, load_kb

    folder = tmp_path / "coach"
    folder.mkdir()
    (folder / "r.yaml").write_text(
        "rules:\n  - id: odd\n    description: d\n    sources: [acsm-2009]\n    when:\n"
        "      - suspect: {injury: $i, certainty: $w}\n"
        f"      - test: \"{test}\"\n    then:\n      - warn: {{kind: note, message: x}}\n")
    with pytest.raises(KbInvalid) as excinfo:
        load_kb([folder])
    assert str(excinfo.value) == f"{folder}/r.yaml:7: {message}"
