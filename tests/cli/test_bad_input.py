"""Mistaken options and profile files: exit 2 with one `Error:` line that names the bad value
(or the file) and what to write instead; an internal error is exit 1 with a hint to --debug."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import validated

MARKER = Path("/tmp/kbrun-pwned")   # what the python-tag profile would create if it ran


@pytest.fixture()
def runner(kb, monkeypatch):
    """A CliRunner whose commands get the session's built-in knowledge base: these tests are
    about checking input, and loading the knowledge base for each would only slow them."""
    monkeypatch.setattr("kbrun.cli.main.load", lambda kb_dirs, *_args, **_kwargs: kb)
    return CliRunner()


def one_error_line(result) -> str:
    """The single `Error: ...` line of a failed command (asserting that it is exactly one)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


OPTION_CASES = [
    (["--symptom", "knee-pian"],
     r"Error: unknown symptom 'knee-pian' in --symptom; did you mean 'knee-pain'.*\?"),
    (["--injury", "runers-knee"],
     r"Error: unknown injury 'runers-knee' in --injury; did you mean 'runners-knee'\?"),
    (["--goal", "sped"], r"Error: unknown goal 'sped' in --goal; did you mean 'speed'\?"),
    (["--phase", "race"],
     r"Error: unknown phase 'race' in --phase; did you mean 'race-season'\?"),
    (["--level", "advnced"],
     r"Error: unknown level 'advnced' in --level; did you mean 'advanced'\?"),
    (["--level", "expert"],
     r"Error: unknown level 'expert' in --level; use one of advanced, beginner, intermediate"),
    (["--equipment", "dumbell"],
     r"Error: unknown equipment 'dumbell' in --equipment; did you mean 'dumbbell'\?"),
    (["--red-flag", "sweling"],
     r"Error: unknown red-flag 'sweling' in --red-flag; did you mean 'swelling'\?"),
    (["--setting", "hom"],
     r"Error: unknown setting 'hom' in --setting; did you mean 'home'\?"),
    (["--limit", "0"],
     r"Error: invalid value for '--limit': 0 is not a whole number from 1 to 20; .*"),
    (["--limit", "21"],
     r"Error: invalid value for '--limit': 21 is not a whole number from 1 to 20; .*"),
    (["--pain", "11"],
     r"Error: invalid value for '--pain': 11 is not a whole number from 0 to 10; .*"),
    (["--pain", "-1"],
     r"Error: invalid value for '--pain': -1 is not a whole number from 0 to 10; .*"),
    (["--limit", "abc"], r"Error: Invalid value for '--limit'.*'abc' is not a whole number"),
    (["--pain", "some"], r"Error: Invalid value for '--pain'.*'some' is not a whole number"),
    (["--stage", "acut"],
     r"Error: invalid value for '--stage': 'acut' is not a stage; did you mean 'acute'.*\?"),
    (["--stage", "chronic"],
     r"Error: invalid value for '--stage': 'chronic' is not a stage; use one of acute, "
     r"subacute, return-to-run"),
]
OPTION_IDS = ["symptom", "injury", "goal", "phase", "level-typo", "level-far-off", "equipment",
              "red-flag", "setting", "limit-0", "limit-21", "pain-11", "pain-minus-1",
              "limit-abc", "pain-text", "stage-typo", "stage-unknown"]


@pytest.mark.parametrize("args, message", OPTION_CASES, ids=OPTION_IDS)
def test_a_bad_option_value_is_one_line_naming_it_and_the_closest_valid_ones(runner, args,
                                                                           message):
    line = one_error_line(runner.invoke(app, ["advise", *args]))
    assert re.fullmatch(message, line), line


@pytest.mark.parametrize("args", [["--limit", "abc"], ["--pain", "some"]], ids=["limit", "pain"])
def test_a_word_for_a_number_is_one_line_naming_the_option(runner, args):
    line = one_error_line(runner.invoke(app, ["advise", *args]))
    assert line.startswith(f"Error: Invalid value for '{args[0]}'")


@pytest.mark.parametrize("command", [["why", "clamshell"], ["why-not", "box-jump"]],
                         ids=["why", "why-not"])
def test_why_and_why_not_check_the_profile_options_too(runner, command):
    line = one_error_line(runner.invoke(app, [*command, "--phase", "race"]))
    assert line == "Error: unknown phase 'race' in --phase; did you mean 'race-season'?"


KINDS = ("exercises, muscles, injuries, symptoms, goals, phases, equipment, rules, red-flags, "
         "levels, qualities, sources, claims, facts, protocols, conditions, tests")
ID_CASES = {
    "kb-show-empty": (["kb", "show", ""],
                      "Error: kb show needs the id of an entry, not an empty one; list the ids of "
                      f"one kind with `kbrun kb list KIND`, KIND one of {KINDS}"),
    "kb-show-unknown": (["kb", "show", "nosuch"],
                        "Error: unknown id 'nosuch' in kb show; list the ids of one kind with "
                        f"`kbrun kb list KIND`, KIND one of {KINDS}"),
    "why-unknown": (["why", "nosuch"],
                    "Error: unknown exercise 'nosuch'; list them all with `kbrun kb list "
                    "exercises`"),
    "why-not-unknown": (["why-not", "nosuch"],
                        "Error: unknown exercise 'nosuch'; list them all with `kbrun kb list "
                        "exercises`"),
    "why-empty": (["why", ""],
                  "Error: an exercise id is needed, not an empty one; list them all with "
                  "`kbrun kb list exercises`"),
    "why-typo": (["why", "clamshel"],
                 "Error: unknown exercise 'clamshel'; did you mean 'clamshell'?"),
}


@pytest.mark.parametrize("name", ID_CASES)
def test_an_unknown_or_empty_id_names_it_and_how_to_find_the_right_one(runner, name):
    args, message = ID_CASES[name]
    assert one_error_line(runner.invoke(app, args)) == message


# -- profile files -------------------------------------------------------------------------------

PROFILE_CASES = {
    "invalid-yaml": ("profile.yaml", "symptoms: [knee-pain\nphase: taper\n",
                     r"{path}:2: invalid YAML: did not find expected ',' or '\]' .*; "
                     r"check the indentation .*"),
    "not-text": ("profile.yaml", b"\x89PNG\r\n\x1a\n\x00\x00",
                 r"{path}:1: file is not UTF-8 text: byte 0x89 cannot be read; save the file "
                 r"with the UTF-8 encoding"),
    "invalid-json": ("profile.json", '{"symptoms": ["knee-pain",]}',
                     r"{path}:1: invalid JSON: Expecting value; check the quotes, commas and "
                     r"brackets near this point"),
    "unknown-field": ("profile.yaml", "phase: taper\nsymtoms: [knee-pain]\n",
                      r"{path}:2: unknown field 'symtoms'; did you mean 'symptoms'\?"),
    "unknown-field-json": ("profile.json", '{"symtoms": ["knee-pain"]}',
                           r"{path}: unknown field 'symtoms'; did you mean 'symptoms'\?"),
    "a-list": ("profile.yaml", "- knee-pain\n- race-season\n",
               r"profile file '{path}' must hold a mapping of fields such as 'symptoms: "
               r"\[knee-pain\]'; write one field per line, .*"),
    "empty": ("profile.yaml", "# nothing yet\n",
              r"profile file '{path}' is empty; write fields such as 'symptoms: \[knee-pain\]'"),
    "unknown-phase": ("profile.yaml", "symptoms: [knee-pain]\nphase: race\n",
                      r"{path}:2: unknown phase 'race' in field 'phase'; "
                      r"did you mean 'race-season'\?"),
    "limit-out-of-range": ("profile.json", '{"limit": 50}',
                           r"{path}: invalid value for 'limit': 50 is not a whole number from 1 "
                           r"to 20; .*"),
    "symptoms-as-mapping": ("profile.yaml", "symptoms: {knee-pain: 1}\n",
                            r"{path}:1: 'symptoms' must be a list of ids; "
                            r"write 'symptoms: \[first, second\]'"),
    "repeated-json-key": ("profile.json", '{"phase": "taper", "phase": "race-season"}',
                          r"{path}: key 'phase' appears twice in one object; "
                          r"remove or rename one of them"),
    "huge-number-json": ("profile.json", '{"pain": ' + "9" * 5000 + "}",
                         r"{path}: the number 999999999999\.\.\. has 5,000 digits, over the 100 "
                         r"allowed; a profile's numbers are small whole numbers, .*"),
    "one-field-twice": ("profile.yaml", "red-flag: [swelling]\nred_flags: [numbness]\n",
                        r"{path}:2: 'red_flags' and 'red-flag' are the same field; write it "
                        r"once, as 'red_flags', with all its values"),
    "deep-json": ("profile.json", "[" * 100_000 + "]" * 100_000,
                  r"{path}: the JSON is nested too deeply to be a profile; .*"),
    "python-tag": ("profile.yaml", '!!python/object/apply:os.system ["touch /tmp/kbrun-pwned"]\n',
                   r"{path}:1: the tag '!!python/object/apply:os\.system' is not allowed in a "
                   r"profile file; .*"),
    "too-large": ("profile.yaml", "# padding\n" * 300_000,
                  r"{path}:1: file is 2\.9 MiB, over the 2 MiB limit for a profile file; .*"),
}


@pytest.mark.parametrize("name", PROFILE_CASES, ids=list(PROFILE_CASES))
def test_a_bad_profile_file_is_one_line_with_its_path(runner, tmp_path, name):
    MARKER.unlink(missing_ok=True)
    filename, content, message = PROFILE_CASES[name]
    path = tmp_path / filename
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    line = one_error_line(runner.invoke(app, ["advise", "--profile", str(path)]))
    assert re.fullmatch("Error: " + message.format(path=re.escape(str(path))), line), line
    assert not MARKER.exists()


def test_a_missing_profile_file(runner, tmp_path):
    path = tmp_path / "nowhere.yaml"
    line = one_error_line(runner.invoke(app, ["advise", "--profile", str(path)]))
    assert line == f"Error: profile file '{path}' does not exist; check the path, or leave out " \
                   "--profile"


def test_a_folder_given_as_the_profile_file(runner, tmp_path):
    line = one_error_line(runner.invoke(app, ["advise", "--profile", str(tmp_path)]))
    assert line == f"Error: {tmp_path}: this is a folder, not a profile file; give the path of " \
                   "a profile file"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can read a file whatever its mode")
def test_an_unreadable_profile_file(runner, tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text("phase: taper\n")
    path.chmod(0)
    try:
        line = one_error_line(runner.invoke(app, ["advise", "--profile", str(path)]))
    finally:
        path.chmod(0o600)
    assert line.startswith(f"Error: {path}: cannot read file: Permission denied; ")


def test_a_profile_file_that_cannot_be_opened(runner, tmp_path, monkeypatch):
    """The same message as above, for a runner who is root (simulated refusal to open)."""
    path = tmp_path / "secret.yaml"
    path.write_text("phase: taper\n")
    real_open = Path.open

    def refuse(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    line = one_error_line(runner.invoke(app, ["advise", "--profile", str(path)]))
    assert line == (f"Error: {path}: cannot read file: Permission denied; check that it exists "
                    "and that you may read it")


def test_an_option_error_is_blamed_on_the_option_not_on_the_profile_file(runner, tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text("phase: taper\n")
    line = one_error_line(runner.invoke(app, ["advise", "--profile", str(path), "--phase", "race"]))
    assert line == "Error: unknown phase 'race' in --phase; did you mean 'race-season'?"


def test_an_option_replaces_a_bad_value_in_the_profile_file(runner, tmp_path):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"phase": "race", "symptoms": ["knee-pain"]}))
    result = runner.invoke(app, ["advise", "--profile", str(path), "--phase", "taper",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    assert validated("advise", result.stdout)["profile"]["phase"] == "taper"


# -- internal errors -----------------------------------------------------------------------------

@pytest.fixture()
def broken_engine(monkeypatch):
    def advise(profile, kb):
        raise RuntimeError("the engine broke")

    monkeypatch.setattr("kbrun.engine.advise", advise)


def test_an_internal_error_is_one_line_with_a_hint_and_exit_1(runner, broken_engine):
    result = runner.invoke(app, ["advise", "--symptom", "knee-pain"])
    assert result.exit_code == 1
    assert result.stderr == ("Error: internal error (RuntimeError: the engine broke); re-run "
                             "with --debug for the traceback and report it.\n")
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback_of_an_internal_error(runner, broken_engine):
    result = runner.invoke(app, ["--debug", "advise", "--symptom", "knee-pain"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert 'in advise\n    raise RuntimeError("the engine broke")\n' in result.stderr
    assert result.stderr.endswith("RuntimeError: the engine broke\nError: internal error "
                                  "(RuntimeError: the engine broke); re-run with --debug for "
                                  "the traceback and report it.\n")


def test_a_path_the_system_refuses_is_one_line_naming_it(tmp_path):
    from tests.hostile import run_kbrun

    long_name = "z" * 300
    (tmp_path / "notes.txt").write_text("mine\n")
    sample = Path(__file__).resolve().parents[1] / "data" / "free-exercise-db" / "exercises.json"
    for args, path, why in (
            (["advise", "--profile", long_name], long_name, "File name too long"),
            (["kb", "validate", "--kb", long_name], long_name, "File name too long"),
            (["kb", "import", "free-exercise-db", str(sample), "--out",
              str(tmp_path / "notes.txt" / "x")], None, "Not a directory")):
        result = run_kbrun(args, timeout=60, cwd=tmp_path)
        assert result.code == 2, result.stderr
        assert why in result.error_line and "check the path" in result.error_line
        assert path is None or f"'{path}'" in result.error_line


@pytest.mark.parametrize("option", ["--phase", "--level"])
def test_an_empty_value_is_named_not_taken_for_the_default(option):
    from tests.hostile import run_kbrun

    result = run_kbrun(["advise", option, ""], timeout=60)
    assert result.code == 2
    assert result.error_line.startswith(f"Error: unknown {option[2:]} '' in {option}; use one of")
