"""Hostile and mistaken knowledge-base folders: each is refused with its file, line and a fix.

Every case in tests/data/hostile/ is one mistake, layered with --kb over the built-in knowledge
base. Each must be exit code 2 from `kbrun kb validate` with exactly one `Error: FILE:LINE: ...;
FIX` line and no traceback, and load_kb() must raise exactly that one error. The large and
deeply nested cases are generated into a temporary folder rather than committed.

The BOUNDED cases (alias bombs, link loops, too many files or bytes) once ran for ever or took
gigabytes: they run only in a subprocess of their own (tests/hostile.py), with a time limit and a
cap on its memory, and assert the time and the peak memory it took; so do the values YAML cannot
construct (dates, numbers), once exit code 1, and the profiles read through the same YAML reader.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kbrun.cli.main import app
from kbrun.engine import KbError, KbInvalid, load_kb
from tests.conftest import DATA
from tests.hostile import run_kbrun

HOSTILE = DATA / "hostile"
MARKER = Path("/tmp/kbrun-pwned")   # what the hostile YAML tags would create if they ran

# case folder -> the one error it must produce, as "file:line: message; fix" (a regex, matched
# in full after the folder's own path)
CASES: dict[str, str] = {
    # YAML syntax
    "bad-indentation":
        r"entries\.yaml:5: invalid YAML: mapping values are not allowed in this context; "
        r"check the indentation and quoting on or just above this line",
    "unclosed-bracket":
        r"entries\.yaml:6: invalid YAML: did not find expected ',' or '\]' \(while parsing a flow "
        r"sequence from line 5\); check the indentation and quoting on or just above this line",
    "tab-indentation":
        r"entries\.yaml:4: invalid YAML: found a tab character that violates indentation .*; "
        r"indent with spaces; YAML does not allow tabs in indentation",
    "duplicate-key":
        r"entries\.yaml:11: key 'level' appears twice in one mapping \(first on line 9\); "
        r"remove or rename one of them",
    "alias-to-itself":
        r"entries\.yaml:2: alias '\*a' refers to the list or mapping that contains it; "
        r"a value cannot contain itself; write the values out",
    # the shape of a file
    "empty-file":
        r"entries\.yaml:1: file is empty; add a section such as 'exercises:' or delete the file",
    "comment-only":
        r"entries\.yaml:1: file is empty; add a section such as 'exercises:' or delete the file",
    "top-level-list":
        r"entries\.yaml:1: a knowledge-base file must be a mapping of sections \(exercises:, "
        r"muscles:, rules:, \.\.\.\); put a section name such as 'exercises:' on the first line "
        r"and indent the entries under it",
    "unknown-section":
        r"entries\.yaml:2: unknown section 'exercise'; did you mean 'exercises'\?",
    "not-utf8":
        r"entries\.yaml:4: file is not UTF-8 text: byte 0xe9 cannot be read; "
        r"save the file with the UTF-8 encoding",
    "entry-without-id":
        r"entries\.yaml:3: an entry of 'symptoms' has no 'id'; "
        r"give it one, e.g. '- id: my-entry' \(kebab-case\)",
    # YAML tags that would build Python objects with an unsafe loader
    "python-object-apply":
        r"entries\.yaml:3: the tag '!!python/object/apply:os\.system' is not allowed in a "
        r"knowledge-base file; remove the tag and write a plain value; "
        r"kbrun never builds Python objects from YAML",
    "python-object-new":
        r"entries\.yaml:4: the tag '!!python/object/new:subprocess\.check_call' is not allowed "
        r"in a knowledge-base file; remove the tag and write a plain value; "
        r"kbrun never builds Python objects from YAML",
    "python-name":
        r"entries\.yaml:4: the tag '!!python/name:os\.system' is not allowed in a knowledge-base "
        r"file; remove the tag and write a plain value; kbrun never builds Python objects "
        r"from YAML",
    # values YAML cannot construct (each was exit code 1, an internal error)
    "invalid-date":
        r"entries\.yaml:7: '2020-13-45' is not a real date \(month must be in 1\.\.12\); "
        r"write a real date such as 2020-12-31, or put it in quotes to keep it as text",
    "timestamp-tag-not-a-date":
        r"entries\.yaml:6: 'yesterday' is not a date; "
        r"write a real date such as 2020-12-31, or put it in quotes to keep it as text",
    "int-tag-not-a-number":
        r"entries\.yaml:11: cannot read 'three' as a whole number; put it in quotes to keep it "
        r"as text, or write a whole number without a '!!' tag",
    "bad-base64":
        r"entries\.yaml:6: failed to decode base64 data: .* in a knowledge-base file; "
        r"remove the '!!' tag and write a plain value",
    "long-integer":
        r"entries\.yaml:11: a number of 19 digits is too long for a knowledge-base file "
        r"\(at most 18 digits\); write a smaller number, or put it in quotes if it is text",
    "not-finite-number":
        r"entries\.yaml:9: the number '\.inf' is not finite \(it reads as inf\); "
        r"write an ordinary number such as 0\.5",
    # wrong types and values
    "sets-is-text":
        r"entries\.yaml:12: dose\.sets must be a whole number \(got 'three'\) in exercise "
        r"'hostile-step'; write it without quotes, e\.g\. 'sets: 3'",
    "unilateral-is-list":
        r"entries\.yaml:10: unilateral must be true or false in exercise 'hostile-step'; "
        r"write 'unilateral: true' or 'unilateral: false'",
    "rule-weight-not-a-certainty":
        r"rules\.yaml:9: 'weight' is in \(0, 1\]: above 0 and at most 1, not 90 in rule "
        r"'club-step'; e\.g\. 'weight: 0\.9' \(a certainty, not a percentage\)",
    "weight-above-one":
        r"entries\.yaml:8: implicates\.weight must be less than or equal to 1 \(got 1\.5\) in "
        r"injury 'runners-knee'; a weight is in \(0, 1\]: above 0 and at most 1",
    "unknown-category":
        r"entries\.yaml:5: category must be one of strength, plyometric, isometric, mobility, "
        r"balance, warm-up \(got 'plyo'\) in exercise 'hostile-hop'; did you mean 'plyometric'\?",
    "reps-backwards":
        r"entries\.yaml:11: dose: range \[12, 8\] runs backwards in exercise 'hostile-step'; "
        r"write it as \[8, 12\], the smaller number first",
    "id-not-kebab-case":
        r"entries\.yaml:3: id must be a kebab-case id: lowercase letters, digits and single "
        r"hyphens \(got 'Hostile_Ache'\) in symptom 'Hostile_Ache'; did you mean 'hostile-ache'\?",
    # unknown ids
    "unknown-muscle-in-targets":
        r"entries\.yaml:8: unknown muscle 'gluteus-mdeius' in exercise 'hostile-step'; "
        r"did you mean 'gluteus-medius' or .*\?",
    "unknown-equipment":
        r"entries\.yaml:10: unknown equipment 'dumbell' in exercise 'hostile-step'; "
        r"did you mean 'dumbbell'\?",
    "unknown-source":
        r"entries\.yaml:13: unknown source 'silbernagel-2070' in exercise 'hostile-step'; "
        r"did you mean 'silbernagel-2007'\?",
    # duplicate ids
    "duplicate-id-same-file":
        r"entries\.yaml:4: duplicate id 'hostile-ache' \(already defined at "
        r".*/duplicate-id-same-file/entries\.yaml:3\); rename one of them, or extend the entry "
        r"from another --kb folder",
    "duplicate-id-two-files":
        r"b\.yaml:3: duplicate id 'hostile-ache' \(already defined at "
        r".*/duplicate-id-two-files/a\.yaml:3\); rename one of them, or extend the entry from "
        r"another --kb folder",
    "id-of-two-kinds":
        r"entries\.yaml:3: id 'clamshell' is both a symptom and an exercise \(defined at "
        r"kb/exercises/hip\.yaml:\d+\); ids are unique across kinds; rename one",
    "rule-duplicate-id":
        r"rules\.yaml:7: duplicate id 'hostile-twice' \(already defined at "
        r".*/rule-duplicate-id/rules\.yaml:2\); rename one of them, or extend the entry from "
        r"another --kb folder",
    # typo'd fields
    "typo-primray":
        r"entries\.yaml:8: unknown field 'primray' in exercise 'hostile-step'; "
        r"did you mean 'primary'\?",
    "typo-sorces":
        r"entries\.yaml:12: unknown field 'sorces' in exercise 'hostile-step'; "
        r"did you mean 'sources'.*\?",
    # missing sources
    "sources-empty":
        r"entries\.yaml:12: sources needs at least 1 item in exercise 'hostile-step'; "
        r"cite at least one source: a seed file name or an id from sources\.yaml",
    "sources-missing":
        r"entries\.yaml:3: missing field 'sources' in exercise 'hostile-step'; "
        r"cite at least one source: a seed file name or an id from sources\.yaml",
    # rules
    "rule-unbound-variable":
        r"rules\.yaml:8: variable '\$e' is used but never bound in rule 'hostile-unbound'; "
        r"bind it in a positive condition first, .*",
    "rule-unknown-fact-kind":
        r"rules\.yaml:7: unknown fact kind 'injuri' in rule 'hostile-kind'; "
        r"did you mean 'injury'\?",
    "rule-unknown-field":
        r"rules\.yaml:6: unknown field 'catgory' in rule 'hostile-field' \(fact kind 'exercise' "
        r"has: .*\); did you mean 'category'\?",
    "rule-unreadable-test":
        r"rules\.yaml:7: cannot read test '\$s is more than 5'; write it as '\$a >= 0\.5' or "
        r"'\$a != \$b' in rule 'hostile-test'",
    # the graph
    "progression-cycle":
        r"entries\.yaml:11: progressions form a cycle: hostile-a -> hostile-b -> hostile-c -> "
        r"hostile-a; an exercise cannot be both easier and harder than another; remove one of "
        r"these progresses_to or regresses_to links",
}


# -- generated cases: too large to commit, or not folders at all -------------------------------

def ten_megabytes(folder: Path) -> tuple[Path, str]:
    folder.mkdir()
    line = "# " + "x" * 97 + "\n"
    (folder / "big.yaml").write_text("exercises:\n" + line * 105_000)
    return folder, (r"big\.yaml:1: file is 10\.0 MiB, over the 2 MiB limit for a knowledge-base "
                    r"file; split it into several smaller files in the same folder")


def deep_flow_nesting(folder: Path) -> tuple[Path, str]:
    # 100,000 levels: before the depth bound, this crashed the interpreter inside libyaml
    folder.mkdir()
    (folder / "deep.yaml").write_text("exercises: " + "[" * 100_000 + "]" * 100_000 + "\n")
    return folder, (r"deep\.yaml:1: lists and mappings are nested more than 64 levels deep; "
                    r"an entry needs only a few levels; look for stray or unclosed brackets")


def deep_block_nesting(folder: Path) -> tuple[Path, str]:
    folder.mkdir()
    (folder / "deep.yaml").write_text("exercises:\n  " + "- " * 10_000 + "x\n")
    return folder, (r"deep\.yaml:2: lists and mappings are nested more than 64 levels deep; "
                    r"an entry needs only a few levels; look for stray or unclosed brackets")


def alias_bomb(folder: Path) -> tuple[Path, str]:
    # "billion laughs": nine levels of nine aliases each stand for 9**9 strings
    folder.mkdir()
    lines = ["laughs:", '  - &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        lines.append(f"  - &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    lines.append("exercises: [*l8]")
    (folder / "bomb.yaml").write_text("\n".join(lines) + "\n")
    return folder, (r"bomb\.yaml:7: aliases repeat more than 100000 values \(an alias bomb\?\); "
                    r"write the values out, or use fewer and smaller aliases")


def huge_integer(folder: Path) -> tuple[Path, str]:
    # over Python's 4,300-digit limit for reading an integer: was a ValueError, exit code 1
    folder.mkdir()
    (folder / "big.yaml").write_text("symptoms:\n  - id: hostile-ache\n    rank: "
                                     + "9" * 5000 + "\n")
    return folder, (r"big\.yaml:3: a number of 5000 digits is too long for a knowledge-base "
                    r"file \(at most 18 digits\); write a smaller number, or put it in quotes "
                    r"if it is text")


def missing_folder(folder: Path) -> tuple[Path, str]:
    return folder, (r"knowledge-base folder '.*/missing-folder' does not exist; "
                    r"pass an existing folder to --kb")


def file_not_folder(folder: Path) -> tuple[Path, str]:
    folder.write_text("exercises: []\n")
    return folder, (r"knowledge-base folder '.*/file-not-folder' is a file, not a folder; "
                    r"pass the folder that holds it: --kb .*")


GENERATED: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "huge-integer": huge_integer,
    "ten-megabytes": ten_megabytes,
    "deep-flow-nesting": deep_flow_nesting,
    "deep-block-nesting": deep_block_nesting,
    "alias-bomb": alias_bomb,
    "missing-folder": missing_folder,
    "file-not-folder": file_not_folder,
}
# cases where the CLI's message differs from load_kb's (none: --kb paths are checked by kbrun)
CLI_MESSAGE: dict[str, str] = {}


# -- bounded cases: run only in a subprocess with a time limit and a memory cap ----------------

def alias_bytes_bomb(folder: Path) -> tuple[Path, str]:
    # 2,000 symptoms share one 1.5 MB description: few values, but 3 GB of text (2.9 GB of
    # memory and a 3 GB cache file before the byte bound)
    folder.mkdir()
    entry = "  - {{id: hostile-ache-{n}, name: Ache, region: knee, description: {text}, " \
            "sources: [001_229b071800dac4ce.txt]}}"
    lines = ["symptoms:", entry.format(n=0, text="&big " + "x" * 1_500_000)]
    lines += [entry.format(n=n, text="*big") for n in range(1, 2000)]
    (folder / "bomb.yaml").write_text("\n".join(lines) + "\n")
    return folder, (r"bomb\.yaml:5: aliases repeat more than 4 MiB of text \(an alias bomb\?\); "
                    r"write the values out, or use fewer and smaller aliases")


def alias_depth_chain(folder: Path) -> tuple[Path, str]:
    # each alias adds 60 levels to the one before: the file's own nesting stays under 64, but
    # the description the aliases build is 1,200 levels deep (a RecursionError: exit code 1)
    folder.mkdir()
    lines = ["symptoms:", "  - id: hostile-ache", "    name: Ache", "    region: knee",
             "    sources: [001_229b071800dac4ce.txt]", "    description:",
             "      - &l0 " + "[" * 60 + "]" * 60]
    lines += [f"      - &l{n} " + "[" * 60 + f"*l{n - 1}" + "]" * 60 for n in range(1, 20)]
    (folder / "deep.yaml").write_text("\n".join(lines) + "\n")
    return folder, (r"deep\.yaml:8: alias '\*l0' nests lists and mappings more than 64 levels "
                    r"deep; an entry needs only a few levels; write the values out, or alias a "
                    r"smaller part")


def symlink_loop(folder: Path) -> tuple[Path, str]:
    # `a -> .` and `b -> .`: the walk went a/b/a/b/... for ever
    folder.mkdir()
    (folder / "a").symlink_to(".")
    (folder / "b").symlink_to(".")
    return folder, (r"a: symbolic link to '\.' leads back to '.*/symlink-loop', a folder that "
                    r"holds it \(a loop\); remove the link")


def symlink_up(folder: Path) -> tuple[Path, str]:
    # `up -> ..`: out of the folder, and into a loop
    folder.mkdir()
    (folder / "up").symlink_to("..")
    return folder, (r"up: symbolic link to '\.\.', outside the knowledge-base folder "
                    r"'.*/symlink-up'; kbrun reads only what is inside the folder: copy the "
                    r"files in, or pass their folder as another --kb")


def symlink_outside(folder: Path) -> tuple[Path, str]:
    # a YAML file that is a link to a file elsewhere (here a valid one: it is still refused)
    folder.mkdir()
    elsewhere = folder.parent / "elsewhere.yaml"
    elsewhere.write_text("exercises: []\n")
    (folder / "rules.yaml").symlink_to(elsewhere)
    return folder, (r"rules\.yaml: symbolic link to '.*/elsewhere\.yaml', outside the "
                    r"knowledge-base folder '.*/symlink-outside'; kbrun reads only what is "
                    r"inside the folder: copy the files in, or pass their folder as another --kb")


def symlink_dangling(folder: Path) -> tuple[Path, str]:
    folder.mkdir()
    (folder / "rules.yaml").symlink_to("gone.yaml")
    return folder, (r"rules\.yaml: symbolic link to 'gone\.yaml', which does not exist; remove "
                    r"the link, or make it point to an existing file")


def deep_folders(folder: Path) -> tuple[Path, str]:
    # 400 nested folders were read to the bottom (at 1,000 the walk recursed past Python's
    # limit: exit code 1); fewer here, so that the temporary folder is easy to remove
    deepest = folder
    for _ in range(400):
        deepest = deepest / "d"
    os.makedirs(deepest)
    return folder, ("/".join(["d"] * 17) + r": folders are nested more than 16 levels deep in "
                    r"knowledge-base folder '.*/deep-folders'; a knowledge base needs a level or "
                    r"two of folders; move these files up")


def too_many_files(folder: Path) -> tuple[Path, str]:
    folder.mkdir()
    for n in range(2001):
        (folder / f"note-{n}.txt").touch()
    return folder, (r"knowledge-base folder '.*/too-many-files' holds more than 2000 files and "
                    r"folders; a knowledge base needs a few dozen files: pass the folder that "
                    r"holds only its YAML files")


def too_many_bytes(folder: Path) -> tuple[Path, str]:
    # seventeen files each under the 2 MiB limit for one file: 34 MB in all
    folder.mkdir()
    text = "exercises: []\n" + ("# " + "x" * 97 + "\n") * 20_000
    for n in range(17):
        (folder / f"part-{n:02}.yaml").write_text(text)
    return folder, (r"part-16\.yaml: with this file the knowledge base is over its 32 MiB limit "
                    r"\(all layers together\); a knowledge base needs well under 1 MiB: pass "
                    r"only folders of knowledge-base files to --kb, each once")


def too_many_nodes(folder: Path) -> tuple[Path, str]:
    # a million one-letter items: 2 MB, under the size limit; it took 7.7 s and 500 MB to build
    folder.mkdir()
    (folder / "items.yaml").write_text("muscles: [" + ",".join(["a"] * 1_000_000) + "]\n")
    return folder, (r"items\.yaml:1: the file holds more than 50,000 values, lists and mappings; "
                    r"the largest built-in file holds about 1,300; split the knowledge into "
                    r"files of a few thousand lines at most")


def unreadable_folder(folder: Path) -> tuple[Path, str]:
    (folder / "private").mkdir(parents=True)
    (folder / "private").chmod(0)
    return folder, (r"private: cannot read folder: Permission denied; check that you may read "
                    r"it, or move it out of the knowledge-base folder")


BOUNDED: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "alias-bytes-bomb": alias_bytes_bomb,
    "alias-depth-chain": alias_depth_chain,
    "symlink-loop": symlink_loop,
    "symlink-up": symlink_up,
    "symlink-outside": symlink_outside,
    "symlink-dangling": symlink_dangling,
    "deep-folders": deep_folders,
    "too-many-files": too_many_files,
    "too-many-bytes": too_many_bytes,
    "too-many-nodes": too_many_nodes,
    "unreadable-folder": unreadable_folder,
}
# the cases above that were exit code 1 before they were bounded, also run in a subprocess
IN_SUBPROCESS = [*BOUNDED, "huge-integer", "invalid-date", "timestamp-tag-not-a-date",
                 "int-tag-not-a-number", "long-integer", "not-finite-number"]


@pytest.fixture()
def no_marker():
    """Make sure the marker the hostile tags would create is absent, and stays absent."""
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "a YAML tag in a knowledge-base file was executed"


@pytest.fixture()
def runner():
    return CliRunner()


def expected_error(folder: Path, pattern: str) -> re.Pattern[str]:
    """The whole error line: the case folder's path, then the case's `file:line: text; fix`."""
    if pattern.startswith(("knowledge-base folder", "Invalid value")):
        return re.compile(pattern)
    return re.compile(re.escape(str(folder)) + "/" + pattern)


def folder_of(name: str, tmp_path: Path) -> tuple[Path, str]:
    if name in CASES:
        return HOSTILE / name, CASES[name]
    return {**GENERATED, **BOUNDED}[name](tmp_path / name)


ALL = [*CASES, *GENERATED]


def test_the_corpus_has_a_case_for_every_committed_folder():
    committed = {p.name for p in HOSTILE.iterdir() if p.is_dir()}
    assert committed == set(CASES)
    assert len(ALL) >= 25


@pytest.mark.parametrize("name", ALL, ids=ALL)
def test_load_kb_raises_one_error_with_file_line_and_fix(name, tmp_path, no_marker):
    folder, pattern = folder_of(name, tmp_path)
    with pytest.raises(KbError) as info:
        load_kb([folder])
    errors = info.value.errors if isinstance(info.value, KbInvalid) else [info.value]
    assert [str(e) for e in errors] == [str(errors[0])], "one mistake, reported once"
    assert expected_error(folder, pattern).fullmatch(str(errors[0])), str(errors[0])


@pytest.mark.parametrize("name", ALL, ids=ALL)
def test_kb_validate_exits_2_with_one_error_line(name, tmp_path, runner, no_marker):
    folder, pattern = folder_of(name, tmp_path)
    result = runner.invoke(app, ["kb", "validate", "--kb", str(folder)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    line = result.stderr.removesuffix("\n")
    assert "\n" not in line, result.stderr
    assert line.startswith("Error: ")
    expected = re.compile(CLI_MESSAGE[name]) if name in CLI_MESSAGE else \
        expected_error(folder, pattern)
    assert expected.fullmatch(line.removeprefix("Error: ")), line


@pytest.mark.parametrize("name", IN_SUBPROCESS, ids=IN_SUBPROCESS)
def test_kb_validate_in_a_subprocess_ends_in_time_and_memory(name, tmp_path):
    if name == "unreadable-folder" and getattr(os, "geteuid", lambda: -1)() == 0:
        pytest.skip("root reads a folder whatever its mode (tests/engine/test_folders.py "
                    "simulates it)")
    folder, pattern = folder_of(name, tmp_path)
    result = run_kbrun(["kb", "validate", "--kb", str(folder)], timeout=30, memory_mb=1500)
    assert result.code == 2, result.stderr
    assert result.stdout == ""
    assert expected_error(folder, pattern).fullmatch(result.error_line.removeprefix("Error: ")), \
        result.error_line
    assert result.seconds < 15
    assert result.peak_mb < 250


@pytest.mark.parametrize("name", ["python-object-apply", "python-object-new"])
def test_the_tag_payloads_are_live(name, tmp_path):
    """The tag cases are real attacks: an unsafe loader would run them (so the marker check
    above is a check that can fail)."""
    marker = tmp_path / "pwned"
    text = (HOSTILE / name / "entries.yaml").read_text().replace(str(MARKER), str(marker))
    yaml.unsafe_load(text)
    assert marker.exists()


def test_a_merge_key_may_be_overridden_without_a_duplicate_key_error(tmp_path):
    folder = tmp_path / "merge"
    folder.mkdir()
    (folder / "symptoms.yaml").write_text(
        "symptoms:\n"
        "  - &base {id: hostile-ache, name: An ache, region: knee,"
        " sources: [001_229b071800dac4ce.txt]}\n"
        "  - <<: *base\n"
        "    id: hostile-twinge\n"
        "    name: A twinge\n")
    kb = load_kb([folder], compile_rules=False)
    assert kb.entries["symptom"]["hostile-twinge"].region == "knee"
    assert kb.entries["symptom"]["hostile-twinge"].name == "A twinge"


# -- profiles: read through the same YAML reader -----------------------------------------------

PROFILES: dict[str, tuple[str, str]] = {
    # name -> (profile file text, the error after its path)
    "huge-integer": ("symptoms: [knee-pain]\npain: " + "9" * 5000 + "\n",
                     r":2: a number of 5000 digits is too long for a profile file \(at most 18 "
                     r"digits\); write a smaller number, or put it in quotes if it is text"),
    "invalid-date": ("symptoms: [knee-pain]\nsince: 2020-13-45\n",
                     r":2: '2020-13-45' is not a real date \(month must be in 1\.\.12\); write a "
                     r"real date such as 2020-12-31, or put it in quotes to keep it as text"),
    "not-a-number": ("symptoms: [knee-pain]\npain: .nan\n",
                     r":2: the number '\.nan' is not finite \(it reads as nan\); write an "
                     r"ordinary number such as 0\.5"),
    "too-large": ("symptoms: [knee-pain]\n" + "# padding\n" * 300_000,
                  r":1: file is 2\.9 MiB, over the 2 MiB limit for a profile file; a profile is "
                  r"a few lines of fields such as 'symptoms: \[knee-pain\]'; check that this is "
                  r"the right file"),
    "alias-bytes-bomb": ("note: &big " + "x" * 1_500_000 + "\nsymptoms: ["
                         + ", ".join(["*big"] * 2000) + "]\n",
                         r":2: aliases repeat more than 4 MiB of text \(an alias bomb\?\); write "
                         r"the values out, or use fewer and smaller aliases"),
}


@pytest.mark.parametrize("name", PROFILES, ids=list(PROFILES))
def test_a_hostile_profile_file_is_refused_with_its_line(name, tmp_path):
    text, pattern = PROFILES[name]
    profile = tmp_path / "profile.yaml"
    profile.write_text(text)
    result = run_kbrun(["advise", "--profile", str(profile)], timeout=30, memory_mb=1500)
    assert result.code == 2, result.stderr
    assert result.stdout == ""
    assert re.fullmatch(re.escape(str(profile)) + pattern,
                        result.error_line.removeprefix("Error: ")), result.error_line
    assert result.seconds < 15
    assert result.peak_mb < 250
