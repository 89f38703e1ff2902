"""The JSON contract: the schemas shipped in docs/schema/ are the ones generated from
engine/contract.py, they are strict, every kind of output the engine builds validates against
them, and a corrupted output does not."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from kbrun.engine import advise, make_profile
from kbrun.engine.batch import advise_lines
from kbrun.engine.browse import LISTABLE, kb_stats, list_entries, show_entry
from kbrun.engine.contract import (
    OUTPUTS,
    VERSION,
    breaking_changes,
    file_name,
    json_schema,
    schema_id,
    schema_text,
    write_schemas,
)
from kbrun.engine.explain import why, why_not
from tests.conftest import DATA, SCHEMAS, output_kind, schema_errors, validated

REGENERATE = "python -m kbrun.engine.contract docs/schema"


# -- the shipped files ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(OUTPUTS))
def test_the_shipped_schema_is_the_generated_one(kind):
    path = SCHEMAS / file_name(kind)
    assert path.exists(), f"{path} is missing: run `{REGENERATE}`"
    assert json.loads(path.read_text(encoding="utf-8")) == json_schema(kind), (
        f"docs/schema/{file_name(kind)} differs from the types in engine/contract.py: run "
        f"`{REGENERATE}` (and bump contract.VERSION if a key was removed or renamed)")
    assert path.read_text(encoding="utf-8") == schema_text(kind), f"reformatted: `{REGENERATE}`"


def test_docs_schema_holds_exactly_the_current_schemas():
    shipped = {p.name for p in SCHEMAS.glob("*.json")}
    assert shipped == {file_name(kind) for kind in OUTPUTS}, \
        f"stale or missing files in docs/schema/: run `{REGENERATE}` and remove the others"


def test_regenerating_writes_the_same_files(tmp_path):
    written = write_schemas(tmp_path / "schema")
    assert [p.name for p in written] == [file_name(kind) for kind in OUTPUTS]
    for path in written:
        assert path.read_text(encoding="utf-8") == (SCHEMAS / path.name).read_text(
            encoding="utf-8")


@pytest.mark.parametrize("kind", list(OUTPUTS))
def test_each_schema_is_valid_and_names_its_output_and_version(kind):
    schema = json_schema(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == schema_id(kind) == f"urn:kbrun:schema:{kind}:v{VERSION}"
    assert file_name(kind) == f"kbrun-{kind}.v{VERSION}.schema.json"
    assert f"(contract v{VERSION})" in schema["title"]


BASELINE = DATA / "contract"        # the schemas of this version as first shipped


@pytest.mark.parametrize("kind", list(OUTPUTS))
def test_no_change_breaks_a_reader_of_this_version(kind):
    frozen = BASELINE / file_name(kind)
    assert frozen.exists(), (f"no frozen v{VERSION} schema of {kind}: a new output is copied "
                             f"there when it is added (tests/data/contract/README.md)")
    changes = breaking_changes(json.loads(frozen.read_text(encoding="utf-8")), json_schema(kind))
    assert not changes, (f"these changes to the {kind} output break a reader of v{VERSION}; "
                         "keep the key, or bump contract.VERSION (docs/json.md):\n"
                         + "\n".join(changes))


def test_breaking_changes_are_told_from_additions():
    old = json_schema("advise")
    assert breaking_changes(old, old) == []
    new = copy.deepcopy(old)
    recommendation, prescription = new["$defs"]["Recommendation"], new["$defs"]["Prescription"]
    recommendation["properties"]["difficulty"] = {"type": "string"}
    recommendation["required"].append("difficulty")
    new["$defs"]["Avoid"]["required"].append("name")
    assert breaking_changes(old, new) == []
    del recommendation["properties"]["cues"]
    prescription["required"].remove("tempo")
    prescription["properties"]["load"]["enum"].append("maximal")
    recommendation["properties"]["score"] = {"anyOf": [recommendation["properties"]["score"],
                                                       {"type": "null"}]}
    new["$defs"]["Warning"]["properties"]["urgent"] = {"type": "string"}
    assert sorted(breaking_changes(old, new)) == [
        "/recommendations/*/cues: removed",
        "/recommendations/*/prescription/load: may now be 'maximal'",
        "/recommendations/*/prescription/tempo: no longer always present",
        "/recommendations/*/score: may now be null",
        "/warnings/*/urgent: may now be a string",
    ]


# Objects that carry keys of their own by design: a listing row has its kind's columns, and an
# entry has its kind's attributes. Every other object lists all its keys.
OPEN_OBJECTS = {"KbListRow", "KbEntry"}


def _objects(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """Every object schema of an output, by type name: the top one and those in $defs (the
    generated schemas define nested objects only there)."""
    schema = json_schema(kind)
    top = getattr(OUTPUTS[kind][0], "__name__", kind)
    found = [(top, schema)] if "properties" in schema else []
    return found + [(name, item) for name, item in schema.get("$defs", {}).items()
                    if "properties" in item]


@pytest.mark.parametrize("kind", list(OUTPUTS))
def test_objects_with_fixed_keys_are_closed_and_list_what_they_require(kind):
    objects = _objects(kind)
    assert objects
    for name, schema in objects:
        if name in OPEN_OBJECTS:
            assert schema["additionalProperties"] is True, name
        else:
            assert schema["additionalProperties"] is False, f"{kind}: {name} is not closed"
        assert schema.get("required"), f"{kind}: {name} requires nothing"
        assert set(schema["required"]) <= set(schema["properties"]), name


# -- every kind of output validates --------------------------------------------------------------

ADVICE = {
    "mission": dict(symptoms=["knee-pain"], phase="race-season"),
    "urgent-red-flag": dict(symptoms=["calf-pain"], red_flags=["swelling"]),
    "referral-red-flag": dict(symptoms=["knee-pain"], red_flags=["swelling"]),
    "protocol-with-holds": dict(injuries=["patellar-tendinopathy"], stage="acute", pain=4),
    "achilles-home": dict(symptoms=["achilles-pain"], equipment=["none", "box"]),
    "taper-with-pain": dict(symptoms=["shin-pain"], goals=["speed"], phase="taper", pain=6),
    "no-complaint": dict(goals=["power", "hills"], level="advanced", limit=10),
    "beginner-at-home": dict(symptoms=["hip-pain"], level="beginner", equipment=["none"],
                             limit=1),
    "power-without-a-box": dict(goals=["power"], equipment=["none"]),
}


@pytest.fixture(scope="module")
def advice(kb):
    return {name: advise(make_profile(kb, **args), kb) for name, args in ADVICE.items()}


@pytest.mark.parametrize("name", list(ADVICE))
@pytest.mark.parametrize("trace", [False, True], ids=["plain", "trace"])
def test_advice_validates(advice, name, trace):
    data = validated("advise", advice[name].to_dict(trace=trace))
    assert ("trace" in data) is trace


def test_the_validated_advice_covers_every_optional_part(advice):
    """The cases above reach what the schema makes optional or nullable, so that a wrong type
    there is caught too."""
    dicts = [a.to_dict() for a in advice.values()]
    doses = [r["prescription"] for d in dicts for r in d["recommendations"]]
    for key in ("hold_s_min", "hold_s_max", "frequency", "effort", "notes"):
        assert any(key in dose for dose in doses), key
    assert any(dose["reps_min"] is None for dose in doses)
    assert any(w["urgent"] for d in dicts for w in d["warnings"])
    assert any(not d["recommendations"] for d in dicts)             # urgent: no session
    assert {f["kind"] for d in dicts for f in d["findings"]} == {
        "injury", "focus", "quality", "protected-region"}
    assert any(d["stage"] is None for d in dicts) and any(d["stage"] for d in dicts)
    assert any(d["protocols"] for d in dicts) and any(d["schedule"]["notes"] for d in dicts)
    assert any(r["protocol"] for d in dicts for r in d["recommendations"])
    assert any(d["avoid"] for d in dicts) and any(d["profile"]["pain"] for d in dicts)


def test_advice_from_a_layered_folder_validates(tmp_path):
    from kbrun.engine import load_kb

    coach = load_kb([DATA / "coach-kb"])
    validated("advise", advise(make_profile(coach, goals=["hills"]), coach).to_dict(trace=True))


WHY = [("achilles-home", "eccentric-calf-raise"), ("mission", "box-jump"),
       ("protocol-with-holds", "wall-sit")]


@pytest.mark.parametrize("name, exercise", WHY, ids=[f"{n}-{e}" for n, e in WHY])
def test_why_validates(kb, name, exercise):
    profile = make_profile(kb, **ADVICE[name])
    data = validated("why", why(kb, profile, exercise).to_dict())
    if data["recommended"]:
        assert data["derivation"]["premises"] and data["contributions"] and data["dose"]
    else:
        assert data["derivation"] is None and data["note"]


WHY_NOT = [("achilles-home", "box-jump", "excluded"),
           ("mission", "eccentric-calf-raise", "ranked-out"),
           ("achilles-home", "hip-flexor-stretch", "not-a-candidate"),
           ("beginner-at-home", "leg-press", "excluded"),
           ("achilles-home", "eccentric-calf-raise", "recommended")]


@pytest.mark.parametrize("name, exercise, case", WHY_NOT,
                         ids=[f"{n}-{e}" for n, e, _ in WHY_NOT])
def test_why_not_validates_in_each_case(kb, name, exercise, case):
    profile = make_profile(kb, **ADVICE[name])
    # the search for a change re-runs the engine a dozen times: one test below does it
    data = validated("why-not", why_not(kb, profile, exercise, search=False).to_dict())
    assert data["case"] == case


def test_why_not_with_the_change_that_brings_it_in_validates(kb):
    profile = make_profile(kb, **ADVICE["power-without-a-box"])
    data = validated("why-not", why_not(kb, profile, "box-jump").to_dict())
    assert data["change"]["option"] == "--equipment box" and data["tried"]


BATCH = [
    json.dumps({"symptoms": ["calf-pain"], "red_flags": ["swelling"]}),
    "{not json",
    "",
    json.dumps({"injuries": ["patellar-tendinopathy"], "stage": "acute"}),
    json.dumps({"symptoms": ["shin-pian"]}),
    json.dumps({"symtoms": ["knee-pain"]}),
    "[" * 100_000,
]


@pytest.mark.parametrize("trace", [False, True], ids=["plain", "trace"])
def test_batch_lines_validate(kb, trace):
    lines = [validated("advise-batch-line", line) for line in advise_lines(kb, BATCH, trace=trace)]
    assert [line["line"] for line in lines] == [1, 2, 4, 5, 6, 7]
    assert ["error" in line for line in lines] == [False, True, False, True, True, True]
    assert all(("trace" in line) is trace for line in lines if "error" not in line)


def test_kb_listings_validate(kb):
    for kind in LISTABLE:
        rows = validated("kb-list", list_entries(kb, kind))
        assert rows, kind


@pytest.mark.parametrize("entry", ["clamshell", "runners-knee", "knee-pain", "gluteus-medius",
                                   "race-season", "speed", "alfredson-eccentric",
                                   "work-focus-muscles", "swelling", "band", "glute-med"])
def test_kb_entries_validate(kb, entry):
    validated("kb-show", show_entry(kb, entry))


def test_kb_stats_validate(kb):
    validated("kb-stats", kb_stats(kb))


# Generated profiles: the property tests (tests/engine/test_properties.py) validate every advice,
# why and why-not they produce.


# -- the validation can fail ---------------------------------------------------------------------

def _set(path: str, value: Any) -> Any:
    def corrupt(data: Any) -> None:
        *parents, last = path.split("/")
        for key in parents:
            data = data[int(key) if key.isdigit() else key]
        data[int(last) if last.isdigit() else last] = value
    return corrupt


def _drop(path: str) -> Any:
    def corrupt(data: Any) -> None:
        *parents, last = path.split("/")
        for key in parents:
            data = data[int(key) if key.isdigit() else key]
        del data[last]
    return corrupt


CORRUPTIONS = [
    ("advise", _drop("recommendations/0/prescription/sets"), "'sets' is a required property"),
    ("advise", _drop("warnings"), "'warnings' is a required property"),
    ("advise", _set("recommendations/0/score", "0.9"), "'0.9' is not of type 'number'"),
    ("advise", _set("recommendations/0/rank", 0), "0 is less than the minimum of 1"),
    ("advise", _set("recommendations/0/prescription/load", "very heavy"),
     "'very heavy' is not one of"),
    ("advise", _set("recommendations/0/scroe", 0.9), "'scroe' was unexpected"),
    ("advise", _set("findings/0/certainty", 1.5), "1.5 is greater than the maximum of 1"),
    ("advise", _set("schedule/sessions_per_week", [2]), r"\[2\] is too short"),
    ("advise", _set("trace", [{"step": 1, "rule": "r", "matched": []}]),
     "'asserted' is a required property"),
    ("advise", _set("profile/stage", "chronic"), "'chronic' is not one of"),
    ("advise-batch-line", _drop("line"), "fits none of its shapes: .*'line' is a required"),
    ("why", _set("derivation/premises/0/premises", None), "None is not of type 'array'"),
    ("why-not", _set("case", "forgotten"), "'forgotten' is not one of"),
]


@pytest.fixture(scope="module")
def outputs(advice, kb):
    profile = make_profile(kb, **ADVICE["mission"])
    first = next(advise_lines(kb, [json.dumps(ADVICE["mission"])]))
    return {"advise": advice["mission"].to_dict(trace=True), "advise-batch-line": first,
            "why": why(kb, profile, advice["mission"].slots[0].exercise).to_dict(),
            "why-not": why_not(kb, profile, "box-jump", search=False).to_dict()}


@pytest.mark.parametrize("kind, corrupt, message", CORRUPTIONS,
                         ids=[f"{k}-{m[:30]}" for k, _, m in CORRUPTIONS])
def test_a_corrupted_output_is_rejected(outputs, kind, corrupt, message):
    data = json.loads(json.dumps(outputs[kind]))
    validated(kind, data)                       # the real output passes ...
    corrupt(data)
    with pytest.raises(AssertionError, match=message):
        validated(kind, data)                   # ... and the corrupted one does not


def test_an_error_line_with_advice_keys_is_rejected(outputs):
    line = {**copy.deepcopy(outputs["advise-batch-line"]), "error": "line 1: mixed up"}
    assert schema_errors("advise-batch-line", line)
    assert not schema_errors("advise-batch-line", {"line": 3, "error": "line 3: invalid JSON"})


def test_output_kind_names_the_contract_of_a_command():
    assert output_kind(["advise", "--symptom", "knee-pain", "--format", "json"]) == "advise"
    assert output_kind(["advise", "--format", "markdown"]) is None
    assert output_kind(["advise", "--batch", "-"]) == "advise-batch-line"
    assert output_kind(["why-not", "box-jump", "-f", "json"]) == "why-not"
    assert output_kind(["kb", "list", "exercises", "--format=json"]) == "kb-list"
    assert output_kind(["kb", "graph", "--format", "json"]) is None
