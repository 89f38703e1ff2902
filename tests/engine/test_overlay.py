"""What a --kb layer may do to the entries below it (engine/overlay.py): extend, replace or
disable them only when it says so; never touch the safety policy without
--allow-safety-changes; and when allowed, every output names the change."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from kbrun.engine import advise, load_kb, make_profile
from kbrun.engine.advice import DISCLAIMER
from kbrun.engine.batch import advise_json_lines
from kbrun.engine.explain import why, why_not
from kbrun.engine.loader import KbInvalid
from tests.conftest import DATA, validated
from tests.hostile import run_kbrun

BUILTIN = Path(__file__).resolve().parents[2] / "kb"


def folder_with(tmp_path: Path, text: str, name: str = "coach") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "entries.yaml").write_text(text, encoding="utf-8")
    return folder


def only_error(excinfo: pytest.ExceptionInfo[KbInvalid]) -> str:
    assert len(excinfo.value.errors) == 1, [str(e) for e in excinfo.value.errors]
    return str(excinfo.value.errors[0])


# -- saying what an entry does ----------------------------------------------------------------

def test_reusing_a_built_in_id_without_saying_how_is_an_error_at_the_coachs_line(tmp_path):
    folder = folder_with(tmp_path,
                         "exercises:\n  - id: clamshell\n    aliases: [clams and shells]\n")
    with pytest.raises(KbInvalid) as excinfo:
        load_kb([folder])
    message = only_error(excinfo)
    assert re.fullmatch(
        rf"{re.escape(str(folder))}/entries\.yaml:2: exercise 'clamshell' is already defined at "
        r"kb/exercises/hip\.yaml:\d+; say what this entry does to it; add 'extend: true' to add "
        r"these fields to it, 'replace: true' to replace it whole, or give this entry a new id",
        message), message


@pytest.mark.parametrize("text, expected", [
    ("exercises:\n  - id: clamshel\n    extend: true\n    aliases: [x]\n",
     r"entries\.yaml:3: 'extend: true' in exercise 'clamshel', but no layer below defines "
     r"'clamshel'; did you mean 'clamshell'\? remove 'extend: true' to add a new entry, or use "
     r"the id of the entry to change \(kbrun kb list\)"),
    ("rules:\n  - id: warm-up-first\n    salience: 5\n",
     r"entries\.yaml:2: rule 'warm-up-first' is already defined at kb/rules/30-candidates\.yaml:"
     r"\d+; say what this entry does to it; add 'replace: true' and write the whole rule to "
     r"replace it, 'disable: true' to take it out, or give your rule a new id"),
    ("rules:\n  - id: warm-up-first\n    extend: true\n    salience: 5\n",
     r"entries\.yaml:3: rule 'warm-up-first' cannot be extended: a rule is one piece; write "
     r"'replace: true' with the whole rule, 'disable: true' to take it out, or give your rule "
     r"a new id"),
    ("exercises:\n  - id: clamshell\n    disable: true\n",
     r"entries\.yaml:3: exercise 'clamshell' cannot be disabled: only a rule can; write "
     r"'replace: true' with the whole entry, or disable the rules that use it"),
    ("exercises:\n  - id: clamshell\n    extend: yes please\n",
     r"entries\.yaml:3: 'extend: 'yes please'' in exercise 'clamshell': it can only be true; "
     r"write 'extend: true', or remove the line"),
    ("exercises:\n  - id: clamshell\n    extend: true\n    replace: true\n",
     r"entries\.yaml:4: exercise 'clamshell' says both extend and replace; keep one: extend adds "
     r"to the entry below, replace replaces it whole, disable takes a rule out"),
])
def test_a_mode_that_cannot_apply_is_refused_with_the_fix(tmp_path, text, expected):
    folder = folder_with(tmp_path, text)
    with pytest.raises(KbInvalid) as excinfo:
        load_kb([folder])
    message = only_error(excinfo)
    assert re.fullmatch(re.escape(str(folder)) + "/" + expected, message), message


def test_a_mode_in_the_first_layer_is_refused(tmp_path):
    mini = (DATA / "mini" / "base.yaml").read_text(encoding="utf-8")
    folder = folder_with(tmp_path, mini.replace("  - id: squat\n",
                                                "  - id: squat\n    extend: true\n", 1))
    assert "extend: true" in (folder / "entries.yaml").read_text(encoding="utf-8")
    with pytest.raises(KbInvalid, match=r"'extend: true' in exercise 'squat', but this "
                                        r"is the first layer: there is nothing below it to "
                                        r"change; remove 'extend: true'"):
        load_kb([folder], builtin=False)


def test_extend_grows_lists_merges_mappings_and_replaces_a_range(tmp_path):
    before = load_kb().exercises["clamshell"]
    folder = folder_with(tmp_path, """exercises:
  - id: clamshell
    extend: true
    aliases: [clams and shells]
    targets: {secondary: [gluteus-maximus]}
    dose: {reps: [10, 12]}
""")
    after = load_kb([folder]).exercises["clamshell"]
    assert after.aliases == [*before.aliases, "clams and shells"]
    assert after.targets.primary == before.targets.primary
    assert "gluteus-maximus" in after.targets.secondary
    assert after.dose.reps == (10, 12)                   # replaced, not appended to 15-20
    assert after.dose.sets == before.dose.sets and after.dose.rest_s == before.dose.rest_s


def test_replace_replaces_the_whole_entry(tmp_path):
    folder = folder_with(tmp_path, """exercises:
  - id: clamshell
    replace: true
    name: Banded clamshell
    category: strength
    pattern: hip-abduction
    targets: {primary: [gluteus-medius]}
    equipment: [band]
    level: beginner
    unilateral: true
    dose: {sets: 2, reps: [12, 15], per_side: true}
    sources: [001_229b071800dac4ce.txt]
""")
    with pytest.raises(KbInvalid, match=r"it changes targets, joint_load, which the safety "
                                        r"rules read"):
        load_kb([folder])                   # the hip's joint load and a secondary target go
    kb = load_kb([folder], allow_safety_changes=True)
    clamshell = kb.exercises["clamshell"]
    assert clamshell.name == "Banded clamshell" and clamshell.aliases == []
    assert clamshell.progresses_to == [] and clamshell.equipment == ["band"]
    assert [(c.entry, c.mode, c.safety) for c in kb.changes] == [
        ("clamshell", "replace", "it changes targets, joint_load, which the safety rules read")]


def test_disable_takes_a_rule_out_and_changes_the_advice(tmp_path):
    kb = load_kb()
    folder = folder_with(tmp_path, "rules:\n  - id: warm-up-first\n    disable: true\n")
    coached = load_kb([folder])
    assert "warm-up-first" in kb.rule_specs and "warm-up-first" not in coached.rule_specs
    profile = {"symptoms": ["knee-pain"], "phase": "race-season"}
    before = advise(make_profile(kb, **profile), kb)
    after = advise(make_profile(coached, **profile), coached)
    assert any("warm-up-first" in r.rules for r in before.recommendations)
    assert not any("warm-up-first" in r.rules for r in after.recommendations)
    assert [(c.entry, c.kind, c.mode, c.safety) for c in coached.changes] == [
        ("warm-up-first", "rule", "disable", None)]


def test_a_progression_cycle_is_reported_at_the_coachs_link(tmp_path):
    # clamshell -> lateral-band-walk is built in; the coach closes the loop
    folder = folder_with(tmp_path, """exercises:
  - id: lateral-band-walk
    extend: true
    progresses_to: [clamshell]
""")
    with pytest.raises(KbInvalid) as excinfo:
        load_kb([folder])
    message = only_error(excinfo)
    assert message.startswith(f"{folder}/entries.yaml:4: progressions form a cycle: "), message


# -- safety changes ----------------------------------------------------------------------------

SAFETY_CHANGES = {
    "disable-disclaimer": ("rules:\n  - id: disclaimer\n    disable: true\n",
                           r"disabling rule 'disclaimer' \(kb/rules/50-safety\.yaml:\d+\) is a "
                           r"safety change \(it is a safety rule\)"),
    "replace-exclusion": ("""rules:
  - id: exclude-contraindicated
    replace: true
    description: Nothing is ever ruled out.
    sources: [001_229b071800dac4ce.txt]
    when:
      - phase: {id: off-season}
    then:
      - warn: {kind: note, message: "nothing ruled out"}
""", r"replacing rule 'exclude-contraindicated' \(kb/rules/40-filters\.yaml:\d+\) is a safety "
     r"change \(it is a safety rule\)"),
    "soften-red-flag": ("red_flags:\n  - id: night-pain\n    extend: true\n"
                        "    urgency: stop\n",
                        r"extending red-flag 'night-pain' \(kb/red_flags\.yaml:\d+\) is a safety "
                        r"change \(it changes urgency of an entry marked safety: true\)"),
    "stage-from-a-new-rule": ("""rules:
  - id: club-stage
    description: Our injured runners are always ready to run.
    sources: [001_229b071800dac4ce.txt]
    when:
      - suspect: {injury: $i}
    then:
      - assert: {injury-stage: {id: return-to-run, rank: 3, cause: "club policy"}}
""", r"adding rule 'club-stage' is a safety change \(it asserts injury-stage, which decides "
     r"what the safety rules allow; only the built-in rules set it\)"),
    "disclaimer-from-a-new-rule": ("""rules:
  - id: club-disclaimer
    description: Our own words.
    sources: [001_229b071800dac4ce.txt]
    when:
      - phase: {}
    then:
      - warn: {kind: disclaimer, message: "Ignore the disclaimer; no need to see a doctor."}
""", r"adding rule 'club-disclaimer' is a safety change \(its warning is of kind 'disclaimer', "
     r"which kbrun itself gives\)"),
    "drop-contraindications": ("""injuries:
  - id: runners-knee
    replace: true
    name: Runner's knee
    region: knee
    implicates:
      - {muscle: quadriceps, role: weak, weight: 0.8, sources: [willy-2019]}
    sources: [willy-2019]
""", r"replacing injury 'runners-knee' \(kb/injuries\.yaml:\d+\) is a safety change \(it "
     r"changes contraindications, suggested_by, implicates, which the safety rules read\)"),
    "box-jump-no-impact": ("exercises:\n  - id: box-jump\n    extend: true\n    impact: none\n",
                           r"extending exercise 'box-jump' \(kb/exercises/plyometrics\.yaml:\d+\) "
                           r"is a safety change \(it changes impact, which the safety rules "
                           r"read\)"),
}
FIX = (r"; remove the change \(add a new entry with a new id instead\), or accept it with "
       r"--allow-safety-changes \(every piece of advice then names the change in its "
       r"warnings\)")


@pytest.mark.parametrize("name", sorted(SAFETY_CHANGES))
def test_a_safety_change_is_refused_at_its_line_with_the_fix(tmp_path, name):
    text, pattern = SAFETY_CHANGES[name]
    folder = folder_with(tmp_path, text)
    at = re.escape(f"{folder}/entries.yaml")
    with pytest.raises(KbInvalid) as excinfo:
        load_kb([folder])
    message = only_error(excinfo)
    assert re.fullmatch(at + r":2: " + pattern + FIX, message), message
    allowed = load_kb([folder], allow_safety_changes=True)
    assert [c.entry for c in allowed.changes if c.safety] == [
        yaml.safe_load(text)[next(iter(yaml.safe_load(text)))][0]["id"]]


def test_adding_to_a_safety_field_is_not_a_safety_change(tmp_path):
    folder = folder_with(tmp_path, """injuries:
  - id: runners-knee
    extend: true
    contraindications:
      - exercises: [box-jump]
        reason: landings load the kneecap joint
        sources: [willy-2019]
""")
    kb = load_kb([folder])                                  # no flag needed
    assert [(c.entry, c.mode, c.safety) for c in kb.changes] == [("runners-knee", "extend", None)]
    advice = advise(make_profile(kb, injuries=["runners-knee"]), kb)
    assert "box-jump" in {a.exercise for a in advice.avoid}
    assert not any(w.kind == "safety-change" for w in advice.warnings)


def test_adding_a_source_to_a_red_flag_changes_nothing_of_its_safety(tmp_path):
    folder = folder_with(tmp_path, "red_flags:\n  - id: swelling\n    extend: true\n"
                                   "    sources: [willy-2019]\n")
    kb = load_kb([folder])                                  # no flag needed
    assert [(c.entry, c.mode, c.safety) for c in kb.changes] == [("swelling", "extend", None)]


def test_a_later_layer_cannot_unmark_a_safety_entry(tmp_path):
    unmark = folder_with(tmp_path, "red_flags:\n  - id: night-pain\n    extend: true\n"
                                   "    safety: false\n", "unmark")
    soften = folder_with(tmp_path, "red_flags:\n  - id: night-pain\n    extend: true\n"
                                   "    urgency: stop\n", "soften")
    assert load_kb([unmark]).red_flags["night-pain"].safety is True
    with pytest.raises(KbInvalid, match=r"extending red-flag 'night-pain' \(\S*/unmark/"
                                        r"entries\.yaml:2\) is a safety change \(it changes "
                                        r"urgency"):
        load_kb([unmark, soften])


def test_an_accepted_safety_change_is_named_in_every_output(tmp_path):
    folder = folder_with(tmp_path, SAFETY_CHANGES["disable-disclaimer"][0])
    kb = load_kb([folder], allow_safety_changes=True)
    profile = make_profile(kb, symptoms=["knee-pain"])
    expected = (f"kbrun's safety policy was changed by a --kb folder, so this advice may not "
                f"follow it: rule 'disclaimer' ({kb.changes[0].base}) is disabled by "
                f"{folder}/entries.yaml:2 (it is a safety rule).")
    data = validated("advise", advise(profile, kb).to_dict())
    kinds = [(w["kind"], w["message"]) for w in data["warnings"]]
    assert kinds[0] == ("safety-change", expected)
    assert ("disclaimer", DISCLAIMER) in kinds               # the rule is gone; the text is not
    for answer, kind in ((why(kb, profile, "wall-squat"), "why"),
                         (why_not(kb, profile, "box-jump"), "why-not")):
        assert [w["message"] for w in validated(kind, answer.to_dict())["warnings"]] == [
            expected, DISCLAIMER]
    line = json.loads(next(iter(advise_json_lines(['{"symptoms": ["knee-pain"]}'], [str(folder)],
                                                  allow_safety_changes=True))))
    assert line["warnings"][0]["message"] == expected


def test_the_cli_refuses_then_accepts_and_says_so_in_text_and_markdown(tmp_path):
    folder = folder_with(tmp_path, SAFETY_CHANGES["disable-disclaimer"][0])
    refused = run_kbrun(["advise", "--symptom", "knee-pain", "--kb", str(folder)], timeout=60)
    assert refused.code == 2 and refused.stdout == ""
    assert refused.error_line.startswith(f"Error: {folder}/entries.yaml:2: disabling rule "
                                         "'disclaimer'")
    assert "--allow-safety-changes" in refused.error_line
    validate = run_kbrun(["kb", "validate", "--kb", str(folder)], timeout=60)
    assert validate.code == 2 and "a safety change" in validate.error_line
    for fmt in ("text", "markdown"):
        accepted = run_kbrun(["advise", "--symptom", "knee-pain", "--kb", str(folder),
                              "--allow-safety-changes", "--format", fmt], timeout=60)
        assert accepted.code == 0, accepted.stderr
        flat = " ".join(accepted.stdout.split()).replace("\\", "")
        assert "safety policy was changed by a --kb folder" in flat
        assert " ".join(DISCLAIMER.split()) in flat
        for command in (["why", "wall-squat"], ["why-not", "box-jump"]):
            explained = run_kbrun([*command, "--symptom", "knee-pain", "--kb", str(folder),
                                   "--allow-safety-changes", "--format", fmt], timeout=60)
            lines = [" ".join(line.split()).replace("\\", "")
                     for line in explained.stdout.splitlines()]
            assert "safety policy was changed by a --kb folder" in lines[1], lines
            assert " ".join(DISCLAIMER.split()) in lines[-1], lines
    listed = run_kbrun(["kb", "validate", "--kb", str(folder), "--allow-safety-changes"],
                       timeout=60)
    assert listed.code == 0
    assert (f"  rule 'disclaimer' ({validate_base(folder)}) is disabled by {folder}/entries.yaml:2"
            " - SAFETY CHANGE: it is a safety rule") in listed.stdout


def validate_base(folder: Path) -> str:
    return str(load_kb([folder], allow_safety_changes=True).changes[0].base)


def test_kb_validate_lists_every_change_and_its_json_validates():
    result = run_kbrun(["kb", "validate", "--kb", str(DATA / "extend-kb"), "--format", "json"],
                       timeout=60)
    assert result.code == 0, result.stderr
    data = validated("kb-validate", json.loads(result.stdout))
    assert [(c["id"], c["kind"], c["change"], c["safety"]) for c in data["changes"]] == [
        ("clamshell", "exercise", "extend", None), ("runners-knee", "injury", "extend", None)]
    assert data["changes"][0]["at"].endswith("extend-kb/more.yaml:8")


def test_the_changes_come_back_from_the_cache_as_computed(tmp_path, monkeypatch):
    folder = folder_with(tmp_path, SAFETY_CHANGES["box-jump-no-impact"][0])
    monkeypatch.delenv("KBRUN_NO_CACHE", raising=False)
    monkeypatch.setenv("KBRUN_CACHE_DIR", str(tmp_path / "cache"))
    fresh = load_kb([folder], allow_safety_changes=True)
    cached = load_kb([folder], allow_safety_changes=True)
    assert cached.static_records is not None                # it did come from the cache
    assert cached.changes == fresh.changes and cached.changes[0].safety
    with pytest.raises(KbInvalid, match="a safety change"):
        load_kb([folder])                                    # refused from the cache too


# -- the marks themselves ----------------------------------------------------------------------

def test_the_safety_policy_is_marked_in_the_knowledge_base():
    kb = load_kb()
    for name in ("15-triage", "50-safety"):
        rules = yaml.safe_load((BUILTIN / "rules" / f"{name}.yaml").read_text("utf-8"))["rules"]
        assert all(kb.rule_specs[r["id"]].safety for r in rules), name
    for rule in ("exclude-contraindicated", "exclude-contraindicated-this-phase",
                 "exclude-contraindicated-this-stage", "acute-stage-isometrics-only",
                 "exclude-above-level", "beginner-no-high-impact", "symptom-suggests-injury"):
        assert kb.rule_specs[rule].safety, rule
    assert not kb.rule_specs["warm-up-first"].safety
    assert all(flag.safety for flag in kb.red_flags.values())
    assert all(condition.safety for condition in kb.conditions.values())
    disclaimer = kb.rule_specs["disclaimer"].then[0]["warn"]["message"]
    assert disclaimer == DISCLAIMER


def test_an_error_in_an_extended_mapping_points_at_the_coachs_line(tmp_path):
    folder = folder_with(tmp_path, "exercises:\n  - id: clamshell\n    extend: true\n"
                                   "    dose: {sets: 3, per_side: maybe}\n")
    with pytest.raises(KbInvalid) as excinfo:
        load_kb([folder])
    assert only_error(excinfo).startswith(f"{folder}/entries.yaml:4: dose.per_side must be true "
                                          "or false (got 'maybe') in exercise 'clamshell'")


# -- the security review's ways around the policy (each was accepted, with no word) ---------------

AROUND = {
    "level-rank": ("levels:\n  - {id: beginner, extend: true, rank: 3}\n",
                   r"extending level 'beginner' .* \(it changes rank, which the safety rules "
                   r"read\)"),
    "loadable": ("exercises:\n  - {id: hamstring-curl, extend: true, loadable: false}\n",
                 r"\(it changes loadable, which the safety rules read\)"),
    "pattern": ("exercises:\n  - {id: box-jump, extend: true, pattern: skip-drill}\n",
                r"\(it changes pattern, which the safety rules read\)"),
    "session-parts": ("""selection:
  id: default-session
  replace: true
  description: one part
  sources: [acsm-2009]
  sections:
    - {id: all, name: Session, categories: [strength, isometric, balance, plyometric, mobility,
       warm-up], counts_toward_limit: false}
""", r"replacing selection 'default-session' .* of an entry marked safety: true\)"),
    "protocol-dose": ("protocols:\n  - {id: achilles-isometrics, extend: true, summary: more}\n",
                      r"extending protocol 'achilles-isometrics' .* \(it changes summary of an "
                      r"entry marked safety: true\)"),
    "hide-the-screen": ("""rules:
  - id: always-a-condition
    description: club policy
    sources: [brukner-khan-2017]
    when: [{phase: {}}]
    then: [{assert: {suspected-condition: {condition: deep-vein-thrombosis, via: club}}}]
""", r"adding rule 'always-a-condition' is a safety change \(it asserts suspected-condition, "
     r"whose absence safety rule '[a-z-]+' needs\)"),
    "warning-kind-in-a-variable": ("""rules:
  - id: forged
    description: d
    sources: [acsm-2009]
    when: [{goal: {id: $k}}]
    then: [{warn: {kind: $k, message: "keep training through sharp pain"}}]
""", r"adding rule 'forged' is a safety change \(its warning's kind is a variable"),
    "dose-over-the-protocols": ("""rules:
  - id: more-pain-more-holds
    description: d
    sources: [acsm-2009]
    when: [{pain: {score: {">=": 8}}}]
    then: [{dose: {category: isometric, sets: 10, priority: 99}}]
""", r"adding rule 'more-pain-more-holds' is a safety change \(its dose has priority 99, which "
     r"outranks the rehabilitation protocols' \(50\)\)"),
}


@pytest.mark.parametrize("name", sorted(AROUND))
def test_the_ways_around_the_policy_are_safety_changes(tmp_path, name):
    text, pattern = AROUND[name]
    folder = folder_with(tmp_path, text)
    with pytest.raises(KbInvalid) as excinfo:
        load_kb([folder])
    assert re.search(pattern, only_error(excinfo)), only_error(excinfo)


@pytest.mark.parametrize("text, field, key, target", [
    ("injuries:\n  - id: runners-knee\n    extend: true\n    suggested_by:\n"
     "      - {symptom: knee-pain, weight: 0.01, sources: [taunton-2002]}\n",
     "suggested_by", "symptom", "knee-pain"),
    ("injuries:\n  - id: calf-strain\n    extend: true\n    implicates:\n"
     "      - {muscle: gastrocnemius, role: weak, weight: 0.9, sources: [orchard-2002]}\n",
     "implicates", "muscle", "gastrocnemius"),
])
def test_an_extension_cannot_outweigh_a_link_by_repeating_it(tmp_path, text, field, key, target):
    folder = folder_with(tmp_path, text)
    with pytest.raises(KbInvalid) as excinfo:
        load_kb([folder])
    assert f"{field} names {key} '{target}' twice" in only_error(excinfo)
