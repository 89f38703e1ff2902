"""The knowledge-base cache: a hit equals a fresh load, a change is a miss, damage is ignored."""

from __future__ import annotations

import shutil

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
    entries = list(cache_dir.glob("kb-*.pickle"))
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
    entry = next(cache_dir.glob("kb-*.pickle"))
    entry.write_bytes(b"not a pickle")
    again = load_kb([DATA / "extend-kb"])
    assert again.entries == kb.entries
    assert entry.read_bytes() != b"not a pickle"


def test_an_invalid_knowledge_base_is_never_cached(cache_dir, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.yaml").write_text("exercises:\n  - id: clamshell\n    level: expert\n")
    for _ in range(2):
        with pytest.raises(Exception, match="unknown level 'expert'"):
            load_kb([folder])
    assert not list(cache_dir.glob("kb-*.pickle"))


def test_a_folder_others_can_write_is_not_trusted(cache_dir):
    cache_dir.mkdir(parents=True)
    cache_dir.chmod(0o777)
    assert cache.cache_dir() is None
    load_kb([DATA / "extend-kb"])
    assert not list(cache_dir.glob("kb-*.pickle"))


def test_it_can_be_turned_off(cache_dir, monkeypatch):
    monkeypatch.setenv("KBRUN_NO_CACHE", "1")
    load_kb([DATA / "extend-kb"])
    assert not cache_dir.exists() or not list(cache_dir.glob("kb-*.pickle"))
