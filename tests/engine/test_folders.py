"""Which files a knowledge-base layer holds (engine/folders.py): what is read, what is skipped
and said so, links inside and outside the folder, and the bounds on a walk and on reading.

The refusals themselves run end to end, in a subprocess, in test_hostile_kb.py; these tests
cover what a subprocess cannot (a folder that cannot be read, as root) and the API the loader
uses (the skipped files, the byte bound across layers).
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbrun.cli.main import app
from kbrun.engine import KbError, folders
from kbrun.engine.folders import (
    MAX_KB_BYTES,
    builtin_folder,
    kb_files,
    read_layer,
    read_layers,
)


def names(found: list[tuple[str, object]]) -> list[str]:
    return [display for display, _file in found]


def make(folder: Path, *paths: str) -> Path:
    for path in paths:
        file = folder / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("exercises: []\n")
    return folder


def test_yaml_files_are_found_recursively_in_sorted_order(tmp_path):
    make(tmp_path, "b.yaml", "a.yml", "sub/c.yaml", "sub/deeper/d.yaml")
    assert names(kb_files(tmp_path, "my-kb")) == [
        "my-kb/a.yml", "my-kb/b.yaml", "my-kb/sub/c.yaml", "my-kb/sub/deeper/d.yaml"]


def test_files_that_look_meant_as_knowledge_are_reported_as_skipped(tmp_path):
    make(tmp_path, "rules.yaml.txt", "exercises.YAML", "x.yml.bak", "notes.json", "old.yaml~",
         "photo.png", "sub/more.Yml", "ok.yaml")
    skipped: list[tuple[str, str]] = []
    assert names(kb_files(tmp_path, "my-kb", skipped)) == ["my-kb/ok.yaml"]
    assert dict(skipped) == {
        "my-kb/exercises.YAML": "not read: '.yaml' and '.yml' are the only endings read, in "
                                "lower case; rename it to 'exercises.yaml' to read it",
        "my-kb/notes.json": "not read: knowledge-base files are YAML; write it as a '.yaml' "
                            "file to read it, or move it out of the folder",
        "my-kb/old.yaml~": "not read: the name does not end in '.yaml' or '.yml'; rename it to "
                           "'old.yaml' to read it, or move it out of the folder",
        "my-kb/photo.png": "not read: only '.yaml' and '.yml' files are; move it out of the "
                           "folder if it is not part of the knowledge base",
        "my-kb/rules.yaml.txt": "not read: the name does not end in '.yaml' or '.yml'; rename "
                                "it to 'rules.yaml' to read it, or move it out of the folder",
        "my-kb/sub/more.Yml": "not read: '.yaml' and '.yml' are the only endings read, in "
                              "lower case; rename it to 'more.yml' to read it",
        "my-kb/x.yml.bak": "not read: the name does not end in '.yaml' or '.yml'; rename it to "
                           "'x.yml' to read it, or move it out of the folder",
    }


def test_dotfiles_documentation_and_python_files_are_skipped_silently(tmp_path):
    make(tmp_path, ".hidden.yaml", ".git/config", "README", "README.txt", "notes.md",
         "LICENSE", "__init__.py", "__pycache__/x.yaml", ".cache/y.yaml", "a.yaml")
    skipped: list[tuple[str, str]] = []
    assert names(kb_files(tmp_path, "k", skipped)) == ["k/a.yaml"]
    assert skipped == []


def test_the_built_in_knowledge_base_skips_nothing():
    skipped: list[tuple[str, str]] = []
    found = kb_files(builtin_folder(), "kb", skipped)
    assert len(found) > 30 and skipped == []


def test_read_layers_collects_the_skipped_files_of_every_layer(tmp_path):
    make(tmp_path, "one/a.yaml", "one/a.yaml.txt", "two/b.yaml", "two/b.json")
    skipped: list[tuple[str, str]] = []
    layers = read_layers([("one", tmp_path / "one"), ("two", tmp_path / "two")], skipped)
    assert layers == [("one", [("one/a.yaml", "exercises: []\n")]),
                      ("two", [("two/b.yaml", "exercises: []\n")])]
    assert [display for display, _why in skipped] == ["one/a.yaml.txt", "two/b.json"]


def test_a_link_that_stays_inside_the_folder_is_followed(tmp_path):
    make(tmp_path, ".shared/rules.yaml", "real/x.yaml")
    (tmp_path / "rules").symlink_to(".shared")
    (tmp_path / "also.yaml").symlink_to("real/x.yaml")
    # real/x.yaml is the same file as also.yaml, read first
    with pytest.raises(KbError, match=r"^k/real/x\.yaml: this file is read already, through "
                                      r"the symbolic link 'k/also\.yaml'"):
        kb_files(tmp_path, "k")
    (tmp_path / "also.yaml").unlink()
    assert names(kb_files(tmp_path, "k")) == ["k/real/x.yaml", "k/rules/rules.yaml"]


def test_a_link_into_a_folder_of_its_own_chain_is_a_loop_found_at_once(tmp_path):
    make(tmp_path, "a.yaml", "sub/b.yaml")
    (tmp_path / "sub" / "back").symlink_to("..")
    (tmp_path / "sub" / "self").symlink_to(".")
    start = time.monotonic()
    with pytest.raises(KbError) as info:
        kb_files(tmp_path, "k")
    assert str(info.value) == ("k/sub/back: symbolic link to '..' leads back to 'k', a folder "
                               "that holds it (a loop); remove the link")
    assert time.monotonic() - start < 1


def test_the_link_as_a_whole_folder_is_resolved_first(tmp_path):
    # --kb given as a link to a folder: its own links are judged against the real folder
    make(tmp_path, "real/a.yaml")
    (tmp_path / "real" / "b.yaml").symlink_to("a.yaml")
    (tmp_path / "alias").symlink_to("real")
    with pytest.raises(KbError, match=r"^k/b\.yaml: symbolic link to 'a\.yaml' leads to "
                                      r"'k/a\.yaml', which is read already"):
        kb_files(tmp_path / "alias", "k")


def test_an_unreadable_folder_is_named(tmp_path, monkeypatch):
    make(tmp_path, "a.yaml", "private/b.yaml")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "private":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(folders.os, "scandir", scandir)
    with pytest.raises(KbError) as info:
        kb_files(tmp_path, "k")
    assert str(info.value) == ("k/private: cannot read folder: Permission denied; check that you "
                               "may read it, or move it out of the knowledge-base folder")
    result = CliRunner().invoke(app, ["kb", "validate", "--kb", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {tmp_path}/private: cannot read folder: Permission "
                             "denied; check that you may read it, or move it out of the "
                             "knowledge-base folder\n")


@pytest.mark.skipif(getattr(os, "geteuid", lambda: -1)() == 0,
                    reason="root reads a file whatever its mode")
def test_an_unreadable_file_is_named(tmp_path):
    make(tmp_path, "a.yaml")
    (tmp_path / "a.yaml").chmod(0)
    with pytest.raises(KbError, match=r"^k/a\.yaml: cannot read file: Permission denied"):
        list(read_layer("k", tmp_path))


def test_the_byte_bound_counts_every_layer_together(tmp_path, monkeypatch):
    monkeypatch.setattr(folders, "MAX_KB_BYTES", 100)
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "a.yaml").write_text("#" * 60 + "\n")
    # one layer alone is under the bound; the same folder twice is over it
    assert len(list(read_layer("one", tmp_path / "one"))) == 1
    with pytest.raises(KbError, match=r"^again/a\.yaml: with this file the knowledge base is "
                                      r"over its .* limit \(all layers together\)"):
        read_layers([("one", tmp_path / "one"), ("again", tmp_path / "one")])
    assert MAX_KB_BYTES == 32 * 1024 * 1024


def test_the_entry_bound_stops_listing_a_huge_folder_early(tmp_path, monkeypatch):
    monkeypatch.setattr(folders, "MAX_LAYER_ENTRIES", 10)
    make(tmp_path, *(f"sub/{n}.yaml" for n in range(5)), *(f"{n}.txt" for n in range(5)))
    with pytest.raises(KbError, match=r"^k/sub: knowledge-base folder 'k' holds more than 10 "
                                      r"files and folders"):
        kb_files(tmp_path, "k")
