"""The typed contract between rules and the session: the conclusion kinds the engine owns, the
compiler checking every rule against them, and the typed accessors that read them back."""

from __future__ import annotations

import inspect
import textwrap

import pytest

import kbrun.engine.explain
import kbrun.engine.session
from kbrun.engine import KbInvalid, advise, make_profile
from kbrun.engine.conclusions import (
    KINDS,
    Exclusion,
    Focus,
    InjuryStage,
    Recommendation,
    SessionSize,
    Suspect,
    Warning,
    read,
)
from kbrun.engine.dose import DoseDecision
from kbrun.engine.facts import BUILTIN
from kbrun.engine.inference import consult
from tests.conftest import mini_with

ENGINE_READS = ("suspect", "focus", "wanted", "protected", "injury-stage", "following",
                "session-size", "recommendation", "exclusion", "warning", "dose")


# -- the fact kinds are made from the typed values ------------------------------------------------

def test_every_conclusion_the_engine_reads_is_a_built_in_kind_made_from_its_typed_value():
    assert set(ENGINE_READS) <= set(KINDS)
    assert KINDS["focus"].value is Focus and KINDS["dose"].value is DoseDecision
    for name in ENGINE_READS:
        assert BUILTIN[name].fields == KINDS[name].fields
    assert BUILTIN["focus"].fields == {"muscle": "id:muscle", "weight": "number", "cause": "text"}
    assert BUILTIN["focus"].origin == "conclusion"      # asserted with `assert`
    assert BUILTIN["recommendation"].origin == "action"  # asserted with `recommend`
    assert BUILTIN["session-size"].fields["max"] == "whole"
    assert BUILTIN["exclusion"].optional == {"kind"}
    assert BUILTIN["exclusion"].choices == {"kind": ("safety", "availability")}
    assert BUILTIN["warning"].optional == {"urgent"}
    assert BUILTIN["focus"].description.startswith("A muscle or tissue the session should work")


def test_the_built_in_kb_declares_none_of_the_engine_owned_kinds(kb):
    assert not set(kb.fact_kinds) & set(KINDS)


# -- the compiler refuses what breaks the contract ------------------------------------------------

def _layer(tmp_path, name: str, text: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "rules.yaml").write_text(textwrap.dedent(text))
    return str(folder)


def test_a_kb_that_redefines_an_engine_owned_kind_is_refused_with_file_line_and_fix(tmp_path):
    folder = _layer(tmp_path, "redefine", """\
        facts:
          - id: focus
            description: A muscle in focus, without the cause.
            fields: {muscle: "id:muscle", weight: number}
            sources: [test-source]
        """)
    with pytest.raises(KbInvalid) as raised:
        mini_with(folder)
    message = str(raised.value.errors[0])
    assert message.startswith(f"{folder}/rules.yaml:2: fact kind 'focus' is built in (a "
                              "conclusion the engine reads, typed in engine/conclusions.py) and "
                              "cannot be redefined")
    assert "remove this entry - rules use 'focus' with its fields muscle (id:muscle), " \
           "weight (number), cause (text) - or give yours another name" in message


RULE = """\
    rules:
      - id: bad
        description: Breaks the typed contract.
        sources: [test-source]
        when:
          - symptom: {{id: $s}}
          - suggests: {{symptom: $s, injury: $i, weight: $w}}
          - implicates: {{injury: $i, muscle: $m}}
        then:
          - {action}
    """


@pytest.mark.parametrize("action, error", [
    ("assert: {focus: {muscle: $m, weight: $w}}",
     r"rules\.yaml:10: 'assert' needs 'cause' in rule 'bad'; add cause: <text> \('focus' has "
     r"muscle \(id:muscle\), weight \(number\), cause \(text\)\)"),
    ("recommend: {exercise: squat, reason: \"works {m}\"}",
     r"rules\.yaml:10: 'recommend' needs 'weight' in rule 'bad'; add weight: <number>"),
    ("assert: {suspect: {injury: $i, certainty: $w, via: $s, severity: 2}}",
     r"rules\.yaml:10: unknown field 'severity' in rule 'bad' \('suspect' has injury "
     r"\(id:injury\), certainty \(number\), via \(text\)\)"),
    ("assert: {session-size: {max: 2.5, cause: \"too much\"}}",
     r"rules\.yaml:10: field 'max' of 'session-size' is a whole number, not 2\.5 in rule 'bad'"),
    ("warn: {kind: note, message: \"for {m}\", urgent: \"yes\"}",
     r"rules\.yaml:10: field 'urgent' of 'warning' is true or false, not 'yes' in rule 'bad'"),
    ("exclude: {exercise: squat, reason: \"for {m}\", kind: availabilty}",
     r"rules\.yaml:10: unknown exclusion kind 'availabilty' in rule 'bad'; "
     r"did you mean 'availability'\?"),
    ("assert: {injury-stage: {id: chronic, rank: 1, cause: \"{i}\"}}",
     r"rules\.yaml:10: unknown injury-stage id 'chronic' in rule 'bad'"),
    ("recommend: {exercise: $m, weight: $w, reason: \"works {m}\"}",
     r"rules\.yaml:10: variable '\$m' holds id:muscle values, but field 'exercise' of "
     r"'recommendation' takes exercise ids in rule 'bad'; bind '\$m' from a field that holds "
     r"exercise ids"),
    ("exclude: {exercise: squat, reason: \"for {m}\", kind: $s}",
     r"rules\.yaml:10: variable '\$s' can hold values that field 'kind' of 'exclusion' does "
     r"not take \(only safety, availability\) in rule 'bad'"),
    ("dose: {exercise: $m, sets: 2}",
     r"rules\.yaml:10: variable '\$m' holds id:muscle values, but 'exercise' of a dose takes "
     r"exercise ids in rule 'bad'"),
    ("assert: {focus: {muscle: $m, weight: $s, cause: \"{i}\"}}",
     r"rules\.yaml:10: variable '\$s' holds values of type id:symptom, but field 'weight' of "
     r"'focus' is number in rule 'bad'"),
    ("assert: {recommendation: {exercise: squat, weight: 0.5, reason: \"works {m}\"}}",
     r"rules\.yaml:10: 'recommendation' facts come from the action; 'assert' takes a "
     r"conclusion kind or one declared under 'facts:' in rule 'bad'; write 'recommend: "
     r"\{\.\.\.\}' instead"),
    ("dose: {sets: 2.5}", r"rules\.yaml:10: 'sets' is a whole number, not 2\.5 in rule 'bad'"),
    ("dose: {reps: [12, 8]}",
     r"rules\.yaml:10: 'reps' is a whole number or \[min, max\], not \[12, 8\] in rule 'bad'; "
     r"e\.g\. 'reps: \[8, 12\]', the smaller number first"),
    ("dose: {load: hevy}", r"rules\.yaml:10: unknown load 'hevy' in rule 'bad'; "
                           r"did you mean 'heavy'\?"),
    ("dose: {pattern: sqat}", r"rules\.yaml:10: unknown pattern 'sqat' in rule 'bad'; "
                              r"did you mean 'squat'\?"),
    ("dose: {loadable: \"yes\"}", r"rules\.yaml:10: 'loadable' is true or false, not 'yes'"),
    ("dose: {note: \"pain {p}\"}", r"rules\.yaml:10: variable '\$p' is used but never bound"),
], ids=["missing-field", "missing-weight", "unknown-field", "not-whole", "not-a-flag",
        "not-a-choice", "unknown-stage", "id-of-another-kind", "variable-not-a-choice",
        "dose-exercise-of-another-kind", "text-for-a-number",
        "assert-an-action-kind", "dose-sets-not-whole", "dose-span-backwards",
        "dose-unknown-load", "dose-unknown-pattern", "dose-flag-as-text",
        "dose-unbound-template"])
def test_a_rule_that_breaks_a_conclusions_type_is_refused_with_file_and_line(
        tmp_path, action, error):
    folder = _layer(tmp_path, "bad", RULE.format(action=action))
    with pytest.raises(KbInvalid, match=error) as raised:
        mini_with(folder)
    assert str(raised.value).startswith(f"{folder}/rules.yaml:10: ")


# -- the accessors return typed values ------------------------------------------------------------

def test_read_returns_typed_values_with_their_keys_in_assertion_order(mini):
    consultation = consult(mini, make_profile(mini, symptoms=["knee-pain"]))
    suspects = read(consultation, Suspect)
    assert [value for value, _key in suspects] == [Suspect("runners-knee", 0.6, "knee-pain")]
    focus = read(consultation, Focus)
    assert [value for value, _key in focus] == [Focus("quadriceps", 0.48, "runners-knee")]
    for value, key in [*suspects, *focus]:
        assert key in consultation.facts and key[0] == value.fact_kind
    recommended = read(consultation, Recommendation)
    assert recommended and all(isinstance(r.weight, float) for r, _key in recommended)


def test_an_optional_field_a_rule_leaves_out_reads_as_its_default():
    # mini's exclusion rule gives no `kind`, and no warning there says `urgent`
    numeric = mini_with("numeric")
    consultation = consult(numeric, make_profile(numeric, symptoms=["knee-pain"]))
    excluded = [value for value, _key in read(consultation, Exclusion)]
    assert excluded == [Exclusion("squat-jump", "Jumps load an irritable knee.", "safety")]
    warnings = [value for value, _key in read(consultation, Warning)]
    assert warnings == [Warning("note", "runners-knee is likely", urgent=False)]
    # and the fact itself holds only what the rule said: the trace does not change
    assert all("kind" not in consultation.fields(key) for _v, key in read(consultation, Exclusion))


def test_typed_values_from_the_built_in_kb(kb):
    profile = make_profile(kb, symptoms=["achilles-pain"], phase="taper", pain=8)
    consultation = advise(profile, kb).consultation
    stages = [value for value, _key in read(consultation, InjuryStage)]
    assert stages and all(isinstance(s.rank, int) and s.id in ("acute", "subacute",
                                                                "return-to-run") for s in stages)
    sizes = sorted(value.max for value, _key in read(consultation, SessionSize))
    assert sizes == [3, 4]   # severe pain, then the taper
    doses = [value for value, _key in read(consultation, DoseDecision)]
    assert any(d.max_sets == 2 and d.category == "strength" for d in doses)


def test_session_and_explanations_read_working_memory_only_through_typed_conclusions():
    for module in (kbrun.engine.session, kbrun.engine.explain):
        source = inspect.getsource(module)
        for untyped in ("keys_of_kind(", ".fields(", "of_kind("):
            assert untyped not in source, f"{module.__name__} reads facts with {untyped}"
