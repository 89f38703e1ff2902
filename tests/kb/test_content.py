"""The built-in knowledge base: SPEC's vocabulary is all there, and every fact cites a source."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from kbrun.engine.graph import source_ids
from kbrun.engine.schema import SourceRef

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"

VOCABULARY = {
    "symptom": "knee-pain outer-knee-pain shin-pain achilles-pain heel-pain calf-pain hip-pain "
               "low-back-pain",
    "injury": "runners-knee it-band-syndrome shin-splints achilles-tendinopathy "
              "patellar-tendinopathy plantar-fasciitis",
    "phase": "off-season pre-season race-season taper recovery",
    "goal": "speed endurance hills injury-prevention power stability",
    "level": "beginner intermediate advanced",
    "equipment": "none band dumbbell kettlebell barbell box machine wall ball",
    "red-flag": "swelling night-pain numbness cannot-bear-weight sharp-pain pain-at-rest",
    "muscle": "quadriceps hamstrings gluteus-maximus gluteus-medius gluteus-minimus hip-flexors "
              "hip-adductors hip-external-rotators gastrocnemius soleus tibialis-anterior "
              "foot-intrinsics core erector-spinae achilles-tendon patellar-tendon it-band "
              "plantar-fascia",
    "exercise": "squat goblet-squat back-squat sumo-squat single-leg-squat bulgarian-split-squat "
                "wall-squat lunge walking-lunge reverse-lunge lateral-lunge glute-bridge "
                "single-leg-glute-bridge elevated-glute-bridge donkey-kick fire-hydrant clamshell "
                "standing-leg-lift lateral-band-walk step-up heel-walk calf-raise "
                "seated-calf-raise eccentric-calf-raise romanian-deadlift single-leg-deadlift "
                "deadlift kettlebell-swing box-jump squat-jump bounding depth-jump line-hop "
                "skipping hill-sprint hamstring-bridge-curl leg-press leg-extension "
                "hamstring-curl side-lying-hip-abduction toe-raise band-ankle-dorsiflexion "
                "plyometric-lunge",
}


@pytest.mark.parametrize("kind", sorted(VOCABULARY))
def test_every_spec_id_exists(kb, kind):
    missing = [i for i in VOCABULARY[kind].split() if i not in kb.entries[kind]]
    assert missing == []


def test_every_entry_and_link_cites_a_source(kb):
    for kind, table in kb.entries.items():
        if kind == "source":
            continue
        for entry_id, entry in table.items():
            assert source_ids(entry.sources), f"{kind} {entry_id} has no source"
    for u, v, key, attrs in kb.graph.edges(keys=True, data=True):
        assert attrs["sources"], f"edge {u} -[{key}]-> {v} has no source"


def test_every_exercise_cites_a_seed_or_a_study(kb):
    for exercise in kb.exercises.values():
        kinds = {kb.sources[s].kind for s in source_ids(exercise.sources)}
        assert kinds & {"seed", "study", "review", "guideline"}, exercise.id


@pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not beside the project")
def test_every_seed_quote_is_verbatim(kb):
    texts = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    checked = 0

    def refs(value):
        if isinstance(value, list):
            for item in value:
                yield from refs(item)
        elif isinstance(value, BaseModel):
            if isinstance(value, SourceRef):
                yield value
            else:
                for name in type(value).model_fields:
                    yield from refs(getattr(value, name))

    for table in kb.entries.values():
        for entry in table.values():
            for ref in refs(entry):
                if ref.quote and ref.id in texts:
                    assert ref.quote in texts[ref.id], f"{ref.id}: {ref.quote!r}"
                    checked += 1
    assert checked > 100


def test_every_seed_is_cited(kb):
    seeds = [s for s, e in kb.sources.items() if e.kind == "seed"]
    assert len(seeds) == 5
    cited = {s for table in kb.entries.values() for e in table.values()
             for s in source_ids(getattr(e, "sources", []))}
    assert set(seeds) <= cited


def test_the_seeds_conflicts_are_recorded_both_ways(kb):
    claims = kb.claims
    for a, b in (("heavy-low-reps", "fatigue-12-15"),
                 ("strength-on-hard-days", "no-strength-on-hard-days")):
        assert claims[a].topic == claims[b].topic
        assert source_ids(claims[a].sources) != source_ids(claims[b].sources)
