"""`kbrun kb import free-exercise-db`: the mapping, linking, the written folder, and its advice.

tests/data/free-exercise-db/ holds fourteen real records (its README says which and why); the
last tests import the whole 873-record dataset from ../shared/data when it is there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbrun.engine import KbInvalid, advise, load_kb, make_profile
from kbrun.engine.errors import DatasetError, UnknownId
from kbrun.engine.importer import GENERATED_MARK, import_dataset, kebab, words
from tests.conftest import DATA

SAMPLE = DATA / "free-exercise-db" / "exercises.json"
FULL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "free-exercise-db" / \
    "exercises.json"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample imported into a fresh folder: (report, knowledge base with it layered in)."""
    out = tmp_path_factory.mktemp("fedb-sample")
    report = import_dataset("free-exercise-db", SAMPLE, out)
    return report, load_kb([out], compile_rules=False)


# -- the mapping ---------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise, primary, secondary", [
    ("fedb-thigh-abductor", ["gluteus-medius", "gluteus-minimus"], ["gluteus-maximus"]),
    ("fedb-standing-dumbbell-calf-raise", ["gastrocnemius", "soleus"], []),
    ("fedb-crunches", ["core"], []),
    ("fedb-kettlebell-one-legged-deadlift", ["hamstrings"], ["gluteus-maximus", "erector-spinae"]),
    # "shoulders" among the secondary muscles maps to nothing and is dropped
    ("fedb-kettlebell-pistol-squat", ["quadriceps"],
     ["gastrocnemius", "soleus", "gluteus-maximus", "hamstrings"]),
], ids=["abductors", "calves", "abdominals", "lower-back", "upper-body-dropped"])
def test_coarse_muscles_map_onto_ours(sample, exercise, primary, secondary):
    _, kb = sample
    targets = kb.exercises[exercise].targets
    assert targets.primary == primary
    assert targets.secondary == secondary


@pytest.mark.parametrize("exercise, equipment, category, level", [
    ("fedb-thigh-abductor", ["machine"], "strength", "beginner"),
    ("fedb-standing-dumbbell-calf-raise", ["dumbbell"], "strength", "intermediate"),
    ("fedb-box-jump-multiple-response", ["box"], "plyometric", "beginner"),   # "other" + "box"
    ("fedb-alternate-leg-diagonal-bound", ["none"], "plyometric", "beginner"),  # null
    ("fedb-kettlebell-pistol-squat", ["kettlebell"], "strength", "advanced"),   # expert
    ("fedb-hamstring-stretch", ["none"], "mobility", "beginner"),              # stretching
], ids=["machine", "dumbbell", "other-named-box", "null-equipment", "expert", "stretching"])
def test_equipment_category_and_level(sample, exercise, equipment, category, level):
    _, kb = sample
    entry = kb.exercises[exercise]
    assert (entry.equipment, entry.category, entry.level) == (equipment, category, level)


def test_impact_unilateral_and_dose_follow_the_exercise(sample):
    _, kb = sample
    bound = kb.exercises["fedb-alternate-leg-diagonal-bound"]
    assert bound.impact == "high" and bound.unilateral and bound.pattern == "alternate-leg-bound"
    box_jump = kb.exercises["fedb-box-jump-multiple-response"]
    assert box_jump.impact == "moderate" and not box_jump.unilateral
    stretch = kb.exercises["fedb-hamstring-stretch"]
    assert stretch.dose.hold_s and stretch.dose.reps is None    # a static stretch is held
    lunge = kb.exercises["fedb-barbell-walking-lunge"]
    assert lunge.unilateral and lunge.dose.per_side and lunge.loadable
    assert lunge.dose.load == "moderate"
    assert kb.exercises["fedb-crunches"].dose.load == "bodyweight"


def test_joint_load_is_at_least_that_of_the_exercise_it_varies(sample):
    _, kb = sample
    lunge = kb.exercises["fedb-barbell-walking-lunge"]
    assert lunge.pattern == kb.exercises["walking-lunge"].pattern
    assert lunge.joint_load["knee"] == "high"       # a barbell on the back, over a forward lunge
    pistol = kb.exercises["fedb-kettlebell-pistol-squat"]
    assert pistol.pattern == "single-leg-knee-dominant"
    assert pistol.joint_load["knee"] == "high"


def test_cues_come_from_the_first_instructions(sample):
    _, kb = sample
    cues = kb.exercises["fedb-thigh-abductor"].cues
    assert len(cues) == 2
    assert cues[0].startswith("To begin, sit down on the abductor machine")
    assert not any("This will be your starting position" in cue for cue in cues)


def test_every_import_cites_the_dataset_and_its_record(sample):
    report, kb = sample
    for item in report.imported:
        sources = kb.exercises[item.exercise].sources
        assert [(s.id, s.quote) for s in sources] == [("free-exercise-db", item.record)]


# -- linking and skipping ------------------------------------------------------------------------

def test_exercises_we_have_are_linked_not_duplicated(sample):
    report, kb = sample
    linked = {link.record: link.exercise for link in report.linked}
    assert linked == {"Single_Leg_Glute_Bridge": "single-leg-glute-bridge", "Plank": "plank"}
    assert not [e for e in kb.exercises if e.startswith("fedb-") and "glute-bridge" in e]
    bridge = kb.exercises["single-leg-glute-bridge"]
    assert bridge.name == "Single-leg glute bridge"            # the built-in entry, extended
    assert ("free-exercise-db", "Single_Leg_Glute_Bridge") in [(s.id, s.quote)
                                                                for s in bridge.sources]


@pytest.mark.parametrize("record, reason", [
    ("Push-Up_Wide", "No lower-body or trunk muscle among its primary targets"),
    ("Bicycling", "Cardio"),
    ("Calves-SMR", "Self-massage"),
], ids=["upper-body", "cardio", "foam-roll"])
def test_skipped_records_say_why(sample, record, reason):
    report, _ = sample
    skipped = {s.record: s for s in report.skipped}
    assert skipped[record].reason.startswith(reason)
    assert skipped[record].line > 1


def test_every_record_is_accounted_for(sample):
    report, _ = sample
    assert report.records == 14
    assert len(report.imported) + len(report.linked) + len(report.skipped) == 14
    assert report.valid


def test_variants_inherit_the_contraindications_of_what_they_vary(sample):
    _, kb = sample
    forward_lunges = next(c for c in kb.injuries["runners-knee"].contraindications
                          if "walking-lunge" in c.exercises)
    inherited = [c for c in kb.injuries["runners-knee"].contraindications
                 if "fedb-barbell-walking-lunge" in c.exercises]
    assert [c.reason for c in inherited] == [forward_lunges.reason]
    side_lying = [c for c in kb.injuries["gluteal-tendinopathy"].contraindications
                  if "fedb-thigh-abductor" in c.exercises]
    assert side_lying and side_lying[0].sources[0].id == "grimaldi-2015"


def test_the_written_files_say_they_were_generated_and_from_what(sample):
    report, _ = sample
    for name in report.files:
        head = Path(name).read_text(encoding="utf-8").splitlines()[:4]
        assert head[0].startswith(GENERATED_MARK)
        assert "acd61f751fe15d618862ee3084f27e839222a28f" in head[1]
    assert {Path(f).name for f in report.files} == {"strength.yaml", "plyometric.yaml",
                                                    "mobility.yaml", "linked.yaml",
                                                    "injuries.yaml"}


# -- problems ------------------------------------------------------------------------------------

def _records(tmp_path: Path, changes: dict[str, dict]) -> Path:
    """The sample with some records altered, written to tmp_path."""
    records = json.loads(SAMPLE.read_text(encoding="utf-8"))
    for record in records:
        record.update(changes.get(record["id"], {}))
    path = tmp_path / "exercises.json"
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    return path


def test_an_unknown_term_in_a_record_is_reported_not_a_crash(tmp_path):
    path = _records(tmp_path, {
        "Thigh_Abductor": {"primaryMuscles": ["glute"]},
        "Standing_Dumbbell_Calf_Raise": {"equipment": "sled"},
        "Crunches": {"category": "yoga"},
        "Kettlebell_Pistol_Squat": {"level": "elite"},
        "Hamstring_Stretch": {"name": None},
    })
    report = import_dataset("free-exercise-db", path, tmp_path / "out")
    problems = {s.record: s for s in report.skipped if s.kind != "mapping"}
    assert set(problems) == {"Thigh_Abductor", "Standing_Dumbbell_Calf_Raise", "Crunches",
                             "Kettlebell_Pistol_Squat", "Hamstring_Stretch"}
    glute = problems["Thigh_Abductor"]
    assert glute.reason == "Unknown muscle 'glute'"
    assert "kb/import/free-exercise-db.yaml" in glute.detail and "'glutes'" in glute.detail
    assert problems["Standing_Dumbbell_Calf_Raise"].reason == "Unknown equipment 'sled'"
    assert problems["Hamstring_Stretch"].kind == "invalid"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert '"id": "Thigh_Abductor"' in "\n".join(lines[glute.line - 1:glute.line + 40])
    assert report.valid and len(report.imported) == 4    # the other four still import


def test_a_file_that_is_not_the_dataset_is_an_error_with_its_line(tmp_path):
    broken = tmp_path / "exercises.json"
    broken.write_text('[\n  {"id": "A", "name": "A"},\n  {"id": "B",, }\n]\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"exercises.json:3: invalid JSON"):
        import_dataset("free-exercise-db", broken, tmp_path / "out")
    with pytest.raises(DatasetError, match="does not exist"):
        import_dataset("free-exercise-db", tmp_path / "missing.json", tmp_path / "out")
    (tmp_path / "object.json").write_text('{"exercises": []}', encoding="utf-8")
    with pytest.raises(DatasetError, match="one JSON array"):
        import_dataset("free-exercise-db", tmp_path / "object.json", tmp_path / "out")


def test_an_unknown_dataset_names_the_known_ones(tmp_path):
    with pytest.raises(UnknownId, match="did you mean 'free-exercise-db'"):
        import_dataset("free-exercise", SAMPLE, tmp_path / "out")


def test_an_out_folder_with_other_knowledge_is_refused(tmp_path):
    (tmp_path / "mine.yaml").write_text("exercises: []\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="which an import did not write"):
        import_dataset("free-exercise-db", SAMPLE, tmp_path)


def test_importing_again_replaces_the_earlier_import(tmp_path):
    first = import_dataset("free-exercise-db", SAMPLE, tmp_path, validate=False)
    second = import_dataset("free-exercise-db", SAMPLE, tmp_path)
    assert first.files == second.files and second.valid


def test_a_coach_mapping_in_a_kb_folder_replaces_the_built_in_one(tmp_path):
    builtin = Path(__file__).resolve().parents[2] / "kb" / "import" / "free-exercise-db.yaml"
    text = builtin.read_text(encoding="utf-8")
    text = text.replace("id: free-exercise-db-import", "id: coach-free-exercise-db")
    text = text.replace("{term: expert, to: advanced}", "{term: expert, to: intermediate}")
    (tmp_path / "coach").mkdir()
    (tmp_path / "coach" / "mapping.yaml").write_text(text, encoding="utf-8")
    import_dataset("free-exercise-db", SAMPLE, tmp_path / "out", kb_dirs=[tmp_path / "coach"])
    kb = load_kb([tmp_path / "coach", tmp_path / "out"], compile_rules=False)
    assert kb.exercises["fedb-kettlebell-pistol-squat"].level == "intermediate"


def test_a_mistake_in_a_mapping_is_a_load_error_with_file_and_line(tmp_path):
    (tmp_path / "mapping.yaml").write_text(
        "mappings:\n"
        "  - id: my-mapping\n"
        "    name: Mine\n"
        "    dataset: free-exercise-db\n"
        "    id_prefix: mine\n"
        "    muscles:\n"
        "      - {term: abductors, to: [glute-med]}\n"
        "    equipment: [{term: body only, to: none}]\n"
        "    levels: [{term: beginner, to: beginner}]\n"
        "    categories: [{term: strength, to: strength}]\n"
        "    defaults: [{category: strength, dose: {sets: 3, reps: 10}}]\n"
        "    sources: [free-exercise-db]\n", encoding="utf-8")
    with pytest.raises(KbInvalid, match=r"mapping.yaml:7: unknown muscle 'glute-med'.*"
                                        r"did you mean 'gluteus-medius'"):
        load_kb([tmp_path], compile_rules=False)


@pytest.mark.parametrize("text, expected", [
    ("Barbell_Walking_Lunges", "barbell walking lunge"),
    ("Step-up with Knee Raise", "step up with knee raise"),
    ("Butt-Ups", "butt up"),
    ("Bench Press", "bench press"),
], ids=["plural", "hyphen", "short-plural", "double-s"])
def test_names_are_matched_as_words(text, expected):
    assert words(text) == expected


def test_ids_are_kebab_case():
    assert kebab("3_4_Sit-Up") == "3-4-sit-up"
    assert kebab("Kettlebell_One-Legged_Deadlift") == "kettlebell-one-legged-deadlift"


# -- the whole dataset ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def full(tmp_path_factory):
    if not FULL.is_file():
        pytest.skip(f"{FULL} is not here")
    out = tmp_path_factory.mktemp("fedb-full")
    report = import_dataset("free-exercise-db", FULL, out)
    return report, load_kb([out])


def test_the_whole_dataset_imports_and_validates(full):
    report, kb = full
    assert report.records == 873 and report.valid
    assert len(report.imported) + len(report.linked) + len(report.skipped) == 873
    assert len(report.imported) > 300
    assert not [s for s in report.skipped if s.kind != "mapping"]   # the mapping covers it all
    assert {"Single_Leg_Glute_Bridge", "Romanian_Deadlift", "Goblet_Squat", "Plank"} <= {
        link.record for link in report.linked}
    squats = ("Barbell_Full_Squat", "Front_Barbell_Squat", "Wide_Stance_Barbell_Squat")
    patterns = {kb.exercises[i.exercise].pattern for i in report.imported if i.record in squats}
    assert patterns == {"bilateral-squat"}                       # near-duplicates share a pattern


def _contraindicated(kb, advice) -> list[tuple[str, str]]:
    suspected = [f.id for f in advice.findings if f.kind == "injury"]
    phase = advice.profile.phase
    return [(rec.exercise, injury) for rec in advice.recommendations for injury in suspected
            for rule in kb.injuries[injury].contraindications
            if (not rule.phases or phase in rule.phases)
            and rule.matches(kb.exercises[rec.exercise])]


def test_knee_pain_in_race_season_stays_safe_with_the_whole_dataset(full):
    _, kb = full
    advice = advise(make_profile(kb, symptoms=["knee-pain"], phase="race-season"), kb)
    picked = [r.exercise for r in advice.recommendations]
    assert len(advice.slots) == 6
    assert set(picked) & {"glute-bridge", "single-leg-deadlift", "lateral-band-walk", "clamshell"}
    assert not set(picked) & {"lunge", "walking-lunge", "box-jump", "depth-jump"}
    assert not _contraindicated(kb, advice), picked
    # imported forward lunges are avoided, as the built-in ones are
    assert advice.avoided("fedb-barbell-walking-lunge") is not None
    assert advice.avoided("fedb-bodyweight-walking-lunge") is not None
