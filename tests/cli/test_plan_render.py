"""`kbrun plan` as text, Markdown and an iCalendar file (cli/render.py's plan section,
cli/ics.py): every week and session shown, every dose recoverable, the same bytes for the same
plan, and data that cannot act on a terminal, a Markdown page or a calendar.

One season is planned per output and the outputs are shared by the tests (module fixtures);
a second writing of each output runs in a process of its own (another hash seed), beside the
tests, for the byte-for-byte comparison.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import icalendar
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kbrun.cli import ics
from kbrun.cli.main import app
from kbrun.cli.render import markdown_text, plan_dose
from kbrun.engine.advice import Prescription
from tests.conftest import validated

runner = CliRunner()

SEASON = ["plan", "--race-date", "2027-04-25", "--start", "2027-01-04"]
INJURED = ["plan", "--weeks", "4", "--injury", "achilles-tendinopathy", "--start", "2027-01-04"]
REFERRAL = ["plan", "--red-flag", "night-pain", "--weeks", "4", "--start", "2027-01-04"]
# wide, so that no line of text output wraps and the text can be read back line by line; no
# forced colour (a file never has any)
ENV = {"COLUMNS": "1000", "FORCE_COLOR": None}
FORMATS = ("json", "text", "markdown", "ics")
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                         "\u2066-\u2069]")

# The second writing: the same command with -o, in another process, once for each format
# (with the knowledge base loaded once, as the `one_kb` fixture does here).
_SECOND = """
import sys
from kbrun.cli import main
folder, args = sys.argv[1], sys.argv[2:]
kb = main.load(None)
main.load = lambda *_args: kb
for fmt in ("json", "text", "markdown", "ics"):
    main.app([*args, "--format", fmt, "--output", f"{folder}/plan.{fmt}"],
             standalone_mode=False)
"""


@pytest.fixture(scope="module", autouse=True)
def one_kb():
    """The CLI's knowledge base loaded once per set of --kb folders in this module (loading
    is not what these tests test): a plan asked for again in another format is rendered from
    the engine's memo of the same consultations."""
    from kbrun.cli import main

    loaded: dict[tuple[object, ...], object] = {}
    load = main.load

    def cached(kb_dirs=None, allow_safety_changes=False):
        key = (tuple(kb_dirs or ()), allow_safety_changes)
        if key not in loaded:
            loaded[key] = load(kb_dirs, allow_safety_changes)
        return loaded[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(main, "load", cached)
        yield


def invoke(*args: str):
    result = runner.invoke(app, list(args), env=ENV)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def second(tmp_path_factory):
    """The season written to files by another process (started at once, read when needed)."""
    folder = tmp_path_factory.mktemp("second")
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    env.update(COLUMNS=ENV["COLUMNS"], PYTHONHASHSEED="4242")
    proc = subprocess.Popen([sys.executable, "-c", _SECOND, str(folder), *SEASON],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    yield SimpleNamespace(proc=proc, folder=folder)
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def season(second, tmp_path_factory):
    """The season in every format: json, text and Markdown on stdout; ics written with -o."""
    path = tmp_path_factory.mktemp("first") / "plan.ics"
    written = runner.invoke(app, [*SEASON, "--format", "ics", "--output", str(path)], env=ENV)
    assert written.exit_code == 0, written.output
    out = {fmt: invoke(*SEASON, "--format", fmt).stdout_bytes for fmt in FORMATS[:3]}
    out["ics"] = path.read_bytes()
    data = validated("plan", out["json"].decode("utf-8"))
    return SimpleNamespace(out=out, data=data, stderr=written.stderr, path=path,
                           text=out["text"].decode("utf-8"),
                           markdown=out["markdown"].decode("utf-8"))


@pytest.fixture(scope="module")
def injured():
    """A runner with a rehabilitation protocol: protocol-only sessions between strength days."""
    data = validated("plan", invoke(*INJURED, "--format", "json").stdout)
    text = invoke(*INJURED, "--format", "text").stdout
    calendar = invoke(*INJURED, "--format", "ics").stdout_bytes    # ics on stdout
    return SimpleNamespace(data=data, text=text, ics=calendar)


def sessions(data):
    return [(week, session) for week in data["weeks"] for session in week["sessions"]]


def events(calendar: bytes):
    return icalendar.Calendar.from_ical(calendar).walk("VEVENT")


def dose(exercise) -> tuple[str, str]:
    """A JSON exercise's dose as the text shows it: in full, and the part a plan changes."""
    fields = dict(exercise["prescription"])
    fields["notes"] = tuple(fields.get("notes", ()))
    rec = SimpleNamespace(prescription=Prescription(**fields))
    return plan_dose(rec), f"{rec.prescription.summary()} {fields['load']}"


# -- the calendar -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["season", "injured"])
def test_one_event_per_session_on_its_day_naming_its_exercises(case, request):
    plan = request.getfixturevalue(case)
    calendar = plan.out["ics"] if case == "season" else plan.ics
    found = events(calendar)
    planned = sessions(plan.data)
    assert planned and len(found) == len(planned)
    kinds = {session["kind"] for _week, session in planned}
    assert kinds == ({"strength"} if case == "season" else {"strength", "protocol"})
    for event, (week, session) in zip(found, planned, strict=True):
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert type(start) is dt.date and start.isoformat() == session["date"]   # all-day
        assert end == start + dt.timedelta(days=1)
        assert str(event["SUMMARY"]) == (
            f"{session['kind'].capitalize()} ({session['minutes']} min): week {week['week']}, "
            f"{week['phase']}" + (", lighter week" if week["deload"] else ""))
        description = str(event["DESCRIPTION"])
        for exercise in session["exercises"]:
            assert f"{exercise['name']}: {dose(exercise)[0]}" in description.splitlines()
        assert week["phase"] in description and "not a diagnosis" in description
    assert len({str(e["UID"]) for e in found}) == len(found)
    assert {e.decoded("DTSTAMP") for e in found} == {
        dt.datetime(2027, 1, 4, tzinfo=dt.UTC)}                       # the plan's start


def test_the_file_is_crlf_folded_and_named(season):
    raw = season.out["ics"]
    assert raw.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kbrun//plan//EN\r\n"
                          b"CALSCALE:GREGORIAN\r\n") and raw.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)             # descriptions fold
    assert b"UID:kbrun-20270104-w3-tue-strength@kbrun\r\n" in raw
    assert b"DTSTART;VALUE=DATE:20270119\r\nDTEND;VALUE=DATE:20270120\r\n" in raw
    count = len(sessions(season.data))
    assert season.stderr == f"Wrote 16 weeks, {count} sessions to {season.path}\n"


def test_the_same_plan_is_the_same_bytes(season, second):
    _out, err = second.proc.communicate(timeout=120)
    assert second.proc.returncode == 0, err.decode()
    for fmt in FORMATS:
        assert (second.folder / f"plan.{fmt}").read_bytes() == season.out[fmt], fmt


# -- text and Markdown --------------------------------------------------------------------------

def _blocks(text: str):
    """Each session's title line and the lines under it, by (week, day)."""
    blocks: dict[tuple[int, str], tuple[str, list[str]]] = {}
    week = 0
    current: list[str] = []
    for line in text.splitlines():
        if match := re.match(r"Week (\d+) · ", line):
            week = int(match.group(1))
        elif match := re.match(r"  (\w{3}) \d{4}-\d\d-\d\d after ", line):
            current = []
            blocks[week, match.group(1)] = (line.strip(), current)
        elif line.startswith("    ") and not line.startswith("    · "):
            current.append(line.strip())
    return blocks


def _listed(session):
    return [f"- {e['name']}: {dose(e)[0]}" for e in session["exercises"]]


def _same_but_dose(a, b) -> bool:
    keep = ("per_side", "rest_s", "tempo", "effort", "frequency")
    return [(e["name"], *(e["prescription"].get(k) for k in keep)) for e in a["exercises"]] \
        == [(e["name"], *(e["prescription"].get(k) for k in keep)) for e in b["exercises"]]


@pytest.mark.parametrize("case", ["season", "injured"])
def test_text_shows_every_week_session_and_dose(case, request):
    """Every session's exercises and doses can be read back from the text: listed in full,
    or 'same exercises as week N DAY' (a session listed in full) with the doses that changed,
    or 'same exercises and doses as' one shown before."""
    plan = request.getfixturevalue(case)
    text = plan.text
    blocks = _blocks(text)
    by_day = {(w["week"], s["day"]): s for w, s in sessions(plan.data)}
    assert set(blocks) == set(by_day)
    full: set[tuple[int, str]] = set()
    for week in plan.data["weeks"]:
        assert f"Week {week['week']} · {week['start']} · {week['phase']}" in text
        for session in week["sessions"]:
            key = (week["week"], session["day"])
            title, lines = blocks[key]
            assert title == (f"{session['day']} {session['date']} after {session['after']} · "
                             f"{session['kind']} · {session['minutes']} min")
            same = re.fullmatch(r"same exercises( and doses)? as week (\d+) (\w+)(: .*)?",
                                lines[0])
            if same is None:
                assert lines == _listed(session)
                full.add(key)
                continue
            assert len(lines) == 1
            ref_key = (int(same.group(2)), same.group(3))
            ref = by_day[ref_key]
            assert ref["date"] < session["date"]                      # shown before
            if same.group(1):
                assert [(e["name"], e["prescription"]) for e in ref["exercises"]] \
                    == [(e["name"], e["prescription"]) for e in session["exercises"]]
            else:
                assert ref_key in full and _same_but_dose(ref, session)
                assert same.group(4) == ": " + "; ".join(dose(e)[1]
                                                         for e in session["exercises"])
    assert len(full) < len(by_day) / 2                # repeated lists are referred to
    for reason in plan.data["weeks"][0]["reasons"]:
        assert f"    · {reason}" in text


def test_text_reads_first_what_matters_and_ends_with_the_disclaimer(season):
    lines = season.text.splitlines()
    assert lines[0] == ("kbrun plan — level intermediate · race 2027-04-25 · from 2027-01-04 · "
                        f"sessions up to 30 min · 16 weeks, {len(sessions(season.data))} "
                        "sessions")
    assert lines[2].startswith("! No running week given")          # assumed-week, on top
    assert lines.index("Warnings") > max(i for i, line in enumerate(lines)
                                         if line.startswith("Week "))
    assert lines[-2].startswith("  ! disclaimer: ")
    assert "Week 3 · 2027-01-18 · off-season · block week 3 (+5 % load)" in lines
    assert "Week 4 · 2027-01-25 · off-season · block week 4, lighter week" in lines


def test_text_wraps_to_the_width_without_trailing_spaces(injured):
    result = runner.invoke(app, [*INJURED, "--format", "text"], env={**ENV, "COLUMNS": "60"})
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 60
    assert not [line for line in lines if line.endswith(" ")]
    # a wrapped line goes on two further in
    assert "      6RM by week 12; three times a week, 12 weeks)" in lines or any(
        line.startswith("      ") for line in lines)


def test_markdown_has_a_table_per_week_and_every_session(season):
    md = season.markdown
    assert md.startswith("# kbrun plan\n")
    for week in season.data["weeks"]:
        assert f"\n## Week {week['week']} · {week['start']} · {week['phase']}" in md
        for session in week["sessions"]:
            row = next(line for line in md.splitlines()
                       if line.startswith(f"| {session['date']} | {session['day']} | "))
            assert row.startswith(f"| {session['date']} | {session['day']} | "
                                  f"{session['after']} | {session['kind']} | "
                                  f"{session['minutes']} | ")
            for exercise in session["exercises"]:
                assert f"{markdown_text(exercise['name'])}: {markdown_text(dose(exercise)[0])}" \
                    in row
        for reason in week["reasons"]:
            assert f"- {markdown_text(reason)}" in md
    assert md.count("| Date | Day | After | Kind | Minutes | Exercises |") == 16
    assert md.rstrip().endswith("if pain persists or worsens.")


# -- a referral instead of a plan ---------------------------------------------------------------

def test_a_red_flag_prints_the_referral_and_no_week(tmp_path):
    data = validated("plan", invoke(*REFERRAL, "--format", "json").stdout)
    assert data["weeks"] == []
    referral = next(w["message"] for w in data["warnings"] if w["kind"] == "no-plan")
    text = invoke(*REFERRAL).stdout
    md = invoke(*REFERRAL, "--format", "markdown").stdout
    for out in (text, md):
        assert referral in out and "night-pain" in out and "No plan." in out
        assert "Week " not in out and "Ask why" not in out
        assert out.index(referral) < out.index("not a diagnosis")
    path = tmp_path / "referral.ics"
    result = runner.invoke(app, [*REFERRAL, "--format", "ics", "-o", str(path)])
    assert result.exit_code == 0
    assert result.stderr.startswith(f"Wrote no plan to {path}: a red flag gave a referral")
    (event,) = events(path.read_bytes())
    assert "physiotherapist" in str(event["SUMMARY"])
    assert referral in str(event["DESCRIPTION"])


# -- files and errors ---------------------------------------------------------------------------

def test_a_path_the_system_refuses_is_exit_2_with_one_line(tmp_path):
    result = runner.invoke(app, ["plan", "--weeks", "1", "-f", "ics",
                                 "-o", str(tmp_path / "missing" / "plan.ics")])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot use ") and result.stderr.count("\n") == 1
    assert "No such file or directory" in result.stderr
    result = runner.invoke(app, ["plan", "--weeks", "1", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "Is a directory" in result.stderr


def test_output_dash_is_stdout():
    result = invoke("plan", "--weeks", "1", "--start", "2027-01-04", "-f", "ics", "-o", "-")
    assert result.stdout_bytes.startswith(b"BEGIN:VCALENDAR\r\n") and not result.stderr


# -- hostile data -------------------------------------------------------------------------------

HOSTILE = ("Evil\x1b]0;pwned\x07\x1b[2J [bold]B[/] [/] \x9b31m \u202eevil <script>x</script> "
           "[L](http://evil.example) | # *x* `z`; a, b \\ c\nEND:VEVENT\r\nBEGIN:VEVENT\n"
           "- second line")


@pytest.fixture(scope="module")
def hostile_kb(tmp_path_factory) -> Path:
    """A --kb overlay with an exercise of a hostile name that a rule puts in every session of
    a runner with --goal hills."""
    folder = tmp_path_factory.mktemp("hostile-plan-kb")
    data = {
        "exercises": [{
            "id": "evil-step", "name": HOSTILE, "aliases": [], "category": "strength",
            "pattern": "stair-climb", "targets": {"primary": ["gluteus-maximus"]},
            "equipment": ["box"], "level": "intermediate", "unilateral": True,
            "impact": "low", "joint_load": {"knee": "moderate"}, "loadable": False,
            "qualities": ["strength"],
            "dose": {"sets": 3, "reps": [8, 10], "per_side": True, "load": "bodyweight",
                     "rest_s": 60, "tempo": "2-0-2\x1b[31m;,"},
            "cues": ["step up"], "sources": [{"id": "004_21a09f0110ce186f.txt"}]}],
        "rules": [{
            "id": "evil-plan-rule", "description": "hostile",
            "sources": ["004_21a09f0110ce186f.txt"],
            "when": [{"goal": {"id": "hills"}}],
            "then": [{"recommend": {"exercise": "evil-step", "weight": 0.99,
                                    "reason": HOSTILE}}]}],
    }
    (folder / "evil.yaml").write_text(yaml.safe_dump(data, allow_unicode=False),
                                      encoding="utf-8")
    return folder


def test_hostile_names_cannot_act_on_text_markdown_or_the_calendar(hostile_kb):
    args = ["plan", "--weeks", "1", "--start", "2027-01-04", "--goal", "hills",
            "--kb", str(hostile_kb)]
    data = json.loads(invoke(*args, "--format", "json").stdout)
    names = [e["name"] for _w, s in sessions(data) for e in s["exercises"]]
    assert HOSTILE in names
    text = invoke(*args).stdout
    assert not RAW_CONTROL.findall(text) and "\\x1b]0;pwned\\x07" in text
    assert not re.search(r"^(- second line|END:VEVENT)", text, re.M)
    md = invoke(*args, "--format", "markdown").stdout
    assert not RAW_CONTROL.findall(md) and "<script>" not in md and "&lt;script&gt;" in md
    assert not re.search(r"^(- second line|END:VEVENT|#(?!# (Week|Warnings)))",
                         md.split("\n", 1)[1], re.M)
    row = next(line for line in md.splitlines() if "Evil" in line)
    assert len(re.findall(r"(?<!\\)\|", row)) == 7                     # six cells still
    raw = invoke(*args, "--format", "ics").stdout_bytes
    assert not RAW_CONTROL.findall(raw.decode("utf-8").replace("\r\n", ""))
    lines = ics.unfold(raw.decode("utf-8")).split("\r\n")
    assert lines.count("BEGIN:VEVENT") == len(sessions(data))             # none forged
    assert lines.count("END:VEVENT") == len(sessions(data))
    for event in events(raw):
        assert f"{ics.clean(HOSTILE)}: " in str(event["DESCRIPTION"])      # read back as is


# -- escaping and folding -----------------------------------------------------------------------

def test_escape_strips_controls_and_escapes_what_rfc_5545_reads():
    assert ics.escape("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"
    assert ics.escape("one\r\ntwo\rthree\u2028four") == "one\\ntwo\\nthree\\nfour"
    assert ics.escape("\x1b[2J\x07bell\x00\x7f\x9b\u202eevil\u2066\ttab") == "[2Jbellevil tab"
    assert ics.escape(None) == "" and ics.escape(27) == "27"
    hostile = ics.escape(HOSTILE)
    assert "\n" not in hostile and "\r" not in hostile and not RAW_CONTROL.search(hostile)


def test_a_long_multibyte_line_folds_to_75_octets_and_unfolds_back():
    line = "DESCRIPTION:" + ics.escape(("Zürich — 日本語 😀; a, b\\ " * 20)[:200])
    assert len(line) > 200 and len(line.encode("utf-8")) > 300
    folded = ics.fold(line)
    parts = folded.split("\r\n")
    assert len(parts) > 4
    for index, part in enumerate(parts):
        octets = part.encode("utf-8")                     # each part is whole characters
        assert len(octets) <= 75
        assert part.startswith(" ") == (index > 0)
    assert ics.unfold(folded) == line
    assert ics.fold("SUMMARY:short") == "SUMMARY:short"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_escapes_folds_and_parses_back(value):
    line = "DESCRIPTION:" + ics.escape(value)
    folded = ics.fold(line)
    assert all(len(p.encode("utf-8")) <= 75 for p in folded.split("\r\n"))
    assert ics.unfold(folded) == line
    assert not RAW_CONTROL.search(line)


def test_a_hostile_value_reads_back_as_itself_cleaned():
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{ics.PRODID}",
             *ics._event("x@kbrun", "20270104T000000Z", dt.date(2027, 1, 4), HOSTILE,
                         [HOSTILE, "second"]), "END:VCALENDAR"]
    calendar = "".join(ics.fold(line) + "\r\n" for line in lines).encode("utf-8")
    (event,) = events(calendar)
    assert str(event["SUMMARY"]) == ics.clean(HOSTILE)
    assert str(event["DESCRIPTION"]) == ics.clean(HOSTILE) + "\nsecond"
