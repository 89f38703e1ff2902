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


# -- issue 11 ------------------------------------------------------------------------------------

def test_where_one_layer_ends_and_the_next_begins_is_part_of_the_key(cache_dir, tmp_path):
    """`--kb k` holds the same files as `--kb k/a --kb k/b`, but is another knowledge base: in
    one folder, b's `extend: true` of a's symptom is a duplicate id. It must not be served the
    entry cached for the two layers."""
    from kbrun.engine.errors import KbError

    (tmp_path / "k" / "a").mkdir(parents=True)
    (tmp_path / "k" / "b").mkdir()
    (tmp_path / "k" / "a" / "a.yaml").write_text(
        "symptoms:\n  - {id: kneecap-grit, name: Kneecap grit, region: knee, sources: "
        "[004_21a09f0110ce186f.txt]}\n")
    (tmp_path / "k" / "b" / "b.yaml").write_text(
        "symptoms:\n  - {id: kneecap-grit, extend: true, name: Grit under the kneecap}\n")
    two = load_kb([tmp_path / "k" / "a", tmp_path / "k" / "b"])
    assert two.symptoms["kneecap-grit"].name == "Grit under the kneecap"
    assert len(list(cache_dir.glob("kb-*.json"))) == 1
    with pytest.raises(KbError, match="duplicate id 'kneecap-grit'"):
        load_kb([tmp_path / "k"])
    layers = [("a", [("x.yaml", "text")]), ("b", [("y.yaml", "more")])]
    assert len({cache.fingerprint(layers), cache.fingerprint([("a", layers[0][1] + layers[1][1])]),
                cache.fingerprint([("ab", [("x.yaml", "text"), ("y.yaml", "more")])]),
                cache.fingerprint([("a", [("x.yaml", "textmore")])])}) == 4


def test_a_full_disk_mid_write_leaves_no_temporary_file(cache_dir, monkeypatch):
    import errno

    cache_dir.mkdir(parents=True, mode=0o700)
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *_):
            self.handle.close()

        def write(self, text):
            self.handle.write(text[:1000])
            self.handle.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    def fdopen(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        return FullDisk(handle) if "w" in mode else handle

    monkeypatch.setattr(cache.os, "fdopen", fdopen)
    kb = load_kb([DATA / "extend-kb"])  # no error: the cache is only ever an optimisation
    assert kb.symptoms["kneecap-grinding"]
    assert not list(cache_dir.iterdir())


def test_a_folder_where_an_entry_should_be_is_ignored(cache_dir, caplog):
    import logging

    kb = load_kb([DATA / "extend-kb"])
    entry = cache_dir / f"kb-{kb.fingerprint}.json"
    entry.unlink()
    entry.mkdir()
    for number in range(3):
        (cache_dir / f"kb-{'0' * 63}{number}.json").mkdir()
    with caplog.at_level(logging.DEBUG, logger="kbrun.engine.cache"):
        again = load_kb([DATA / "extend-kb"])
        cache.prune(cache_dir, keep=0)
    assert again.entries == kb.entries
    assert entry.is_dir() and len(list(cache_dir.glob("kb-*.json"))) == 4
    assert f"not reading cache entry {entry}" in caplog.text


def test_kbrun_with_a_folder_where_the_entry_should_be_exits_0(tmp_path):
    from tests.hostile import run_kbrun

    folder = tmp_path / "cache"
    env = {**os.environ, "KBRUN_CACHE_DIR": str(folder)}
    env.pop("KBRUN_NO_CACHE", None)
    assert run_kbrun(["advise", "--kb", str(DATA / "extend-kb")], env=env).code == 0
    entry = next(folder.glob("kb-*.json"))
    entry.unlink()
    entry.mkdir()
    result = run_kbrun(["advise", "--kb", str(DATA / "extend-kb")], env=env, timeout=30)
    assert result.code == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("platform, environ, expected", [
    ("linux", {"HOME": "/home/ann"}, "/home/ann/.cache/kbrun"),
    ("linux", {"HOME": "/home/ann", "XDG_CACHE_HOME": "/var/cache/ann"}, "/var/cache/ann/kbrun"),
    ("linux", {"HOME": "/home/ann", "XDG_CACHE_HOME": "relative"}, "/home/ann/.cache/kbrun"),
    ("freebsd14", {"HOME": "/home/ann"}, "/home/ann/.cache/kbrun"),
    ("darwin", {"HOME": "/Users/ann", "XDG_CACHE_HOME": "/elsewhere"},
     "/Users/ann/Library/Caches/kbrun"),
    ("win32", {"USERPROFILE": "C:/Users/ann", "LOCALAPPDATA": "C:/Users/ann/AppData/Local"},
     "C:/Users/ann/AppData/Local/kbrun/Cache"),
    ("win32", {"USERPROFILE": "C:/Users/ann"}, "C:/Users/ann/AppData/Local/kbrun/Cache"),
], ids=["linux", "xdg", "xdg-relative", "bsd", "macos", "windows", "windows-no-localappdata"])
def test_the_cache_folder_follows_the_platform(platform, environ, expected):
    assert cache.default_cache_dir(platform, environ) == Path(expected)


def test_the_platform_folder_is_used_unless_kbrun_cache_dir_says_otherwise(cache_dir, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(cache.sys, "platform", "darwin")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == cache_dir
    monkeypatch.delenv("KBRUN_CACHE_DIR")
    assert cache.cache_dir() == tmp_path / "home" / "Library" / "Caches" / "kbrun"


def test_without_posix_owners_the_cache_still_works(cache_dir, monkeypatch):
    """Windows has no os.getuid (nor geteuid): nothing may call it unguarded."""
    monkeypatch.delattr(os, "getuid")
    monkeypatch.delattr(os, "geteuid", raising=False)
    fresh = load_kb([DATA / "extend-kb"])
    again = load_kb([DATA / "extend-kb"])
    assert fresh.static_records is None and again.static_records is not None  # a cache hit
    assert again.entries == fresh.entries
    assert len(list(cache_dir.glob("kb-*.json"))) == 1


def test_prune_deletes_only_the_files_kbrun_writes(cache_dir):
    # KBRUN_CACHE_DIR pointed at a folder of the user's own (security review): only names kbrun
    # writes (kb-<sha256>.json, the old pickles, .kb-*.tmp) are ever pruned
    load_kb([DATA / "extend-kb"])
    mine = [cache_dir / f"kb-mine-{n}.json" for n in range(20)] + [cache_dir / "kb-notes.pickle"]
    for path in mine:
        path.write_text("{}")
    old = cache_dir / f"kb-{'a' * 64}.pickle"
    old.write_bytes(b"old")
    cache.prune(cache_dir, keep=0)
    assert all(path.exists() for path in mine)
    assert not old.exists() and not list(cache_dir.glob(f"kb-{'[0-9a-f]' * 64}.json"))
