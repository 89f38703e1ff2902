"""Loading and layering knowledge-base folders."""

from __future__ import annotations

import pytest

from kbrun.engine import KbInvalid, advise, load_kb, make_profile
from tests.conftest import DATA


def test_builtin_kb_loads_from_the_package(kb):
    assert kb.layers == ["kb"]
    assert len(kb.exercises) >= 60
    assert str(kb.locations["clamshell"]).startswith("kb/exercises/")


def test_a_later_folder_extends_entries():
    layered = load_kb([DATA / "extend-kb"])
    clamshell = layered.exercises["clamshell"]
    assert "gluteus-maximus" in clamshell.targets.secondary
    assert "gluteus-medius" in clamshell.targets.primary          # kept, not replaced
    assert "clam shell" in clamshell.aliases
    symptoms = [s.symptom for s in layered.injuries["runners-knee"].suggested_by]
    assert "kneecap-grinding" in symptoms and "knee-pain" in symptoms
    assert layered.graph.has_edge("kneecap-grinding", "runners-knee", key="suggests")
    assert str(layered.locations["kneecap-grinding"]).endswith("extend-kb/more.yaml:3")


def test_an_extension_makes_a_new_symptom_usable():
    layered = load_kb([DATA / "extend-kb"])
    advice = advise(make_profile(layered, symptoms=["kneecap-grinding"]), layered)
    assert [f.id for f in advice.findings if f.kind == "injury"] == ["runners-knee"]


def test_a_coach_folder_changes_the_advice(kb):
    plain = advise(make_profile(kb, goals=["hills"]), kb)
    assert "stair-bound" not in kb.exercises
    coached_kb = load_kb([DATA / "coach-kb"])
    coached = advise(make_profile(coached_kb, goals=["hills"]), coached_kb)
    top = coached.slots[0]
    assert top.exercise == "stair-bound"
    assert "hill-club-stairs" in top.rules
    assert "hill club: stairs every session" in top.reasons
    assert ([r.exercise for r in plain.recommendations]
            != [r.exercise for r in coached.recommendations])


def test_a_coach_exercise_still_passes_the_filters():
    coached_kb = load_kb([DATA / "coach-kb"])
    no_box = advise(make_profile(coached_kb, goals=["hills"], equipment=["band"]), coached_kb)
    assert "stair-bound" not in [r.exercise for r in no_box.recommendations]
    assert no_box.avoided("stair-bound").reason == "needs equipment you did not list"


def test_a_mistake_in_a_layer_names_file_and_line(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "ex.yaml").write_text(
        "exercises:\n  - id: clamshell\n    extend: true\n    targets: {primary: [glute-med]}\n")
    with pytest.raises(KbInvalid, match=r"mine/ex\.yaml:4: unknown muscle 'glute-med' in "
                                         r"exercise 'clamshell'; did you mean 'gluteus-medius'"):
        load_kb([folder])


def test_file_order_does_not_change_the_knowledge(tmp_path):
    for order in (("a", "b"), ("b", "a")):
        folder = tmp_path / "".join(order)
        folder.mkdir()
        (folder / f"{order[0]}.yaml").write_text(
            "exercises:\n  - id: clamshell\n    extend: true\n    aliases: [first]\n")
        (folder / f"{order[1]}.yaml").write_text(
            "symptoms:\n  - {id: new-ache, name: New ache, region: knee, sources: [willy-2019]}\n")
    one = load_kb([tmp_path / "ab"])
    two = load_kb([tmp_path / "ba"])
    assert one.exercises == two.exercises and one.symptoms == two.symptoms
