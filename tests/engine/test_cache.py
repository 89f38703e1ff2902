"""The knowledge-base cache: a hit equals a fresh load, a change is a miss, damage is ignored, and
an entry is inert data read only from a private regular file."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from kbrun.engine import advise, cache, load_kb, make_profile
from tests.conftest import DATA, validated


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("KBRUN_CACHE_DIR", str(folder))
    monkeypatch.delenv("KBRUN_NO_CACHE", raising=False)
    return folder


def test_a_second_load_comes_from_the_cache_and_gives_the_same_advice(cache_dir):
    first = load_kb([DATA / "extend-kb"])
    entries = list(cache_dir.glob("kb-*.json"))
    assert len(entries) == 1 and first.fingerprint in entries[0].name
    second = load_kb([DATA / "extend-kb"])
    assert second is not first and second.entries == first.entries
    assert second.locations == first.locations
    profile = make_profile(second, symptoms=["kneecap-grinding"])
    cached = validated("advise", advise(profile, second).to_dict(trace=True))
    assert cached == advise(profile, first).to_dict(trace=True)


def test_a_changed_file_is_a_different_key(cache_dir, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(DATA / "extend-kb", folder)
    one = load_kb([folder])
    (folder / "more.yaml").write_text((folder / "more.yaml").read_text().replace(
        "Grinding under the kneecap", "Kneecap grinding"))
    two = load_kb([folder])
    assert one.fingerprint != two.fingerprint
    assert two.symptoms["kneecap-grinding"].name == "Kneecap grinding"


def test_a_damaged_entry_is_dropped_and_rebuilt(cache_dir):
    kb = load_kb([DATA / "extend-kb"])
    entry = next(cache_dir.glob("kb-*.json"))
    entry.write_bytes(b"{not json")
    again = load_kb([DATA / "extend-kb"])
    assert again.entries == kb.entries
    assert entry.read_bytes() != b"{not json"


def test_an_invalid_knowledge_base_is_never_cached(cache_dir, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.yaml").write_text(
        "exercises:\n  - id: clamshell\n    extend: true\n    level: expert\n")
    for _ in range(2):
        with pytest.raises(Exception, match="unknown level 'expert'"):
            load_kb([folder])
    assert not list(cache_dir.glob("kb-*.json"))


def test_a_folder_others_can_write_is_not_trusted(cache_dir):
    cache_dir.mkdir(parents=True)
    cache_dir.chmod(0o777)
    assert cache.cache_dir() is None
    load_kb([DATA / "extend-kb"])
    assert not list(cache_dir.glob("kb-*.json"))


def test_it_can_be_turned_off(cache_dir, monkeypatch):
    monkeypatch.setenv("KBRUN_NO_CACHE", "1")
    load_kb([DATA / "extend-kb"])
    assert not cache_dir.exists() or not list(cache_dir.glob("kb-*.json"))


def test_an_entry_is_plain_json_that_rebuilds_the_same_models(cache_dir):
    fresh = load_kb([DATA / "extend-kb"])
    document = json.loads(next(cache_dir.glob("kb-*.json")).read_text())
    assert document["fingerprint"] == fresh.fingerprint
    warm = cache.decode(document)
    for kind, table in fresh.entries.items():
        for entry_id, model in table.items():
            again = warm.entries[kind][entry_id]
            assert type(again) is type(model) and again == model, entry_id
            assert again.model_fields_set == model.model_fields_set, entry_id
    # tuples stay tuples, nested models stay models
    assert warm.exercises["clamshell"].dose.reps == fresh.exercises["clamshell"].dose.reps
    assert isinstance(warm.exercises["clamshell"].dose.reps, tuple)
    # and the rules compile to the same rules, placed at the same lines
    assert {r: c.loc for r, c in warm.rules.rules.items()} == \
        {r: c.loc for r, c in fresh.rules.rules.items()}


def test_a_pickle_planted_in_the_cache_is_never_loaded(cache_dir, tmp_path):
    kb = load_kb([DATA / "extend-kb"])
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    for entry in cache_dir.glob("kb-*.json"):
        entry.unlink()
    (cache_dir / f"kb-{kb.fingerprint}.pickle").write_bytes(pickle.dumps(Payload()))
    (cache_dir / f"kb-{kb.fingerprint}.json").write_bytes(pickle.dumps(Payload()))
    again = load_kb([DATA / "extend-kb"])
    assert again.entries == kb.entries
    assert not marker.exists()


def test_a_symbolic_link_in_place_of_an_entry_is_not_followed(cache_dir, tmp_path):
    kb = load_kb([DATA / "extend-kb"])
    entry = next(cache_dir.glob("kb-*.json"))
    elsewhere = tmp_path / "elsewhere.json"
    document = json.loads(entry.read_text())
    document["entries"]["exercise"]["clamshell"]["name"] = "Swapped"
    elsewhere.write_text(json.dumps(document))
    entry.unlink()
    entry.symlink_to(elsewhere)
    again = load_kb([DATA / "extend-kb"])
    assert again.exercises["clamshell"].name == kb.exercises["clamshell"].name != "Swapped"


def test_the_folder_keeps_only_the_most_recently_used_entries(cache_dir, tmp_path,
                                                               monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 2)
    folders = []
    for name in ("a", "b", "c"):
        folder = tmp_path / name
        shutil.copytree(DATA / "extend-kb", folder)
        (folder / "more.yaml").write_text((folder / "more.yaml").read_text().replace(
            "Grinding under the kneecap", f"Grinding {name}"))
        folders.append(folder)
    first = load_kb([folders[0]])
    os.utime(cache_dir / f"kb-{first.fingerprint}.json", (0, 0))  # the least recently used
    for folder in folders[1:]:
        load_kb([folder])
    kept = sorted(cache_dir.glob("kb-*.json"))
    assert len(kept) == 2
    assert not (cache_dir / f"kb-{first.fingerprint}.json").exists()


def test_a_temporary_file_an_interrupted_store_left_is_pruned_once_stale(cache_dir):
    cache_dir.mkdir(parents=True, mode=0o700)
    stale, fresh = cache_dir / ".kb-stale.tmp", cache_dir / ".kb-fresh.tmp"
    stale.write_text("{")
    fresh.write_text("{")
    os.utime(stale, (0, 0))
    load_kb([DATA / "extend-kb"])
    assert not stale.exists()
    assert fresh.exists()  # perhaps another process's store in progress
