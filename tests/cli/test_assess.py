"""`kbrun assess` and `--assessment FILE` through the command line: results given as options,
in a file and answered in a pseudo-terminal (quit and resume), the errors a runner gets, the
JSON contract, and the loop assess -> advise -> why -> re-test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import validated
from tests.hostile import KBRUN

runner = CliRunner()
DATE = "2026-11-21"
# what the interactive session below ends up with, as --result options
ANSWERS = ["heel-raise-test=14,20", "hip-abduction-hold-test=40,44", "side-plank-test=70,75",
           "single-leg-hop-test=150,160", "single-leg-squat-test=knee-in+pelvis-drop,none"]


def run(*args: str):
    return runner.invoke(app, list(args))


def options(*results: str) -> list[str]:
    return [word for result in results for word in ("--result", result)]


def findings(report: dict) -> list[dict]:
    return report["findings"]


def test_assess_json_follows_the_contract_and_names_the_weaker_side():
    result = run("assess", *options(*ANSWERS), "--date", DATE, "--format", "json")
    assert result.exit_code == 0, result.output
    report = validated("assess", result.stdout)
    assert report["date"] == DATE
    heel = [f for f in findings(report) if f["test"] == "heel-raise-test"]
    assert {(f["kind"], f["side"]) for f in heel} == {("weak-muscle", "both"),
                                                      ("imbalance", "left")}
    reading = next(r for r in report["readings"] if r["test"] == "heel-raise-test")
    assert (reading["left"], reading["right"], reading["norm"]) == (14, 20, 25)
    assert reading["gap_percent"] == 30.0 and reading["left_vs_norm_percent"] == -44.0
    assert report["incomplete"] == ["single-leg-bridge-test"]


def test_assess_text_shows_findings_figures_trend_and_retests(tmp_path):
    legs = tmp_path / "legs.yaml"
    first = run("assess", "--results", str(legs), "--save", "--date", "2026-10-01",
                *options("heel-raise-test=14,20"))
    assert first.exit_code == 0, first.output
    second = run("assess", "--results", str(legs), "--save", "--date", DATE,
                 *options("heel-raise-test=19,21"))
    assert second.exit_code == 0, second.output
    out = second.stdout
    assert "Findings" in out and "Results" in out and "Re-test" in out
    assert "heel-raise-test: left 14 -> 19, right 20 -> 21 reps: better" in out
    assert "left 19 reps, right 21 reps; norm 25: both below" in out
    saved = validated("assess", run("assess", "--results", str(legs), "-f", "json").stdout)
    assert [a["date"] for a in saved["assessments"]] == ["2026-10-01", DATE]


@pytest.mark.parametrize("args,message", [
    (options("heel-lift-test=14,20"), "unknown test 'heel-lift-test'"),
    (options("heel-raise-test=-3,20"), "'-3' is negative; give the reps done, 0 or more"),
    (options("side-plank-test=10800,60"), "10800 is past the most plausible result, 600 s"),
    (options("heel-raise-test=R20,L14"), "the left result comes first (TEST=LEFT,RIGHT); "
                                          "write heel-raise-test=L14,R20"),
    ([], "give results: --result TEST=LEFT,RIGHT"),
    (["--interactive"], "--interactive needs --results FILE"),
    (["--save", *options("heel-raise-test=14,20")], "--save needs --results FILE"),
    (["--results", "nowhere.yaml"], "results file 'nowhere.yaml' does not exist"),
    (["--date", "21/11/2026", *options("heel-raise-test=14,20")], "is not a date"),
])
def test_bad_input_is_one_line_with_the_fix_and_exit_2(args, message):
    result = run("assess", *args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("Error: "), result.stderr
    assert message in errors[0]
    assert "Traceback" not in result.output


# -- the loop: assess, advise, why, plan --------------------------------------------------------

@pytest.fixture
def legs(tmp_path) -> Path:
    path = tmp_path / "legs.yaml"
    saved = run("assess", "--results", str(path), "--save", "--date", DATE,
                *options("heel-raise-test=14,20"))
    assert saved.exit_code == 0, saved.output
    return path


def test_advise_with_the_assessment_gives_the_left_calf_more(legs):
    result = run("advise", "--assessment", str(legs), "--phase", "race-season", "-f", "json")
    assert result.exit_code == 0, result.output
    advice = validated("advise", result.stdout)
    assert advice["profile"]["assessment"]["file"] == str(legs)
    sided = [r for r in advice["recommendations"] if "weaker_side" in r["prescription"]]
    assert sided
    for rec in sided:
        p = rec["prescription"]
        assert p["weaker_side"] == "left"
        assert p["sets_by_side"] == {"left": p["sets"] + 1, "right": p["sets"]}
        assert {"gastrocnemius", "soleus"} & set(rec["targets"])
    text = run("advise", "--assessment", str(legs), "--phase", "race-season").stdout
    assert "Assessment 2026-11-21: Single-leg heel raise to fatigue: the left side is 30 % " \
           "behind the right" in text
    assert "sets on the left" in text


def _facts(node: dict) -> list[str]:
    return [node.get("fact", "")] + [f for p in node.get("premises", []) for f in _facts(p)]


def test_why_traces_the_extra_left_work_to_the_heel_raise_result(legs):
    advice = validated("advise", run("advise", "--assessment", str(legs), "-f", "json").stdout)
    rec = next(r for r in advice["recommendations"] if "weaker_side" in r["prescription"])
    result = run("why", rec["exercise"], "--assessment", str(legs), "-f", "json")
    assert result.exit_code == 0, result.output
    why = validated("why", result.stdout)
    assessed = [f for f in _facts(why["derivation"]) if f.startswith("assessed(")]
    assert any("test=heel-raise-test" in f and "side=left" in f and "left 14 reps, right 20 reps"
               in f for f in assessed), assessed
    assert "weaker-side-extra-set" in {step["rule"] for step in why["dose"]}
    text = run("why", rec["exercise"], "--assessment", str(legs)).stdout
    assert f"--assessment {legs}: heel-raise-test on {DATE}: left 14 reps, right 20 reps" in text


def test_a_plan_with_the_assessment_asks_for_the_retest_in_its_week(legs):
    result = run("plan", "--assessment", str(legs), "--weeks", "10", "--start", "2026-11-23",
                 "-f", "json")
    assert result.exit_code == 0, result.output
    plan = validated("plan", result.stdout)
    due = [w["week"] for w in plan["weeks"] if "heel-raise-test" in w["retests"]]
    assert due == [6]                     # 2026-11-21 + 6 weeks = 2027-01-02, in week 6
    assert plan["profile"]["assessment"]["findings"]
    assert any(s["exercises"] and any("weaker_side" in e["prescription"] for e in s["exercises"])
               for w in plan["weeks"] for s in w["sessions"])


def test_a_profile_file_finds_its_assessment_beside_it(legs):
    profile = legs.parent / "me.yaml"
    profile.write_text(f"phase: race-season\nassessment: {legs.name}\n", encoding="utf-8")
    result = run("advise", "--profile", str(profile), "-f", "json")
    assert result.exit_code == 0, result.output
    assert validated("advise", result.stdout)["profile"]["assessment"]["findings"]


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("assessments:\n  - date: 2026-11-21\n    results:\n      heel-raise-test: {left: 14}\n",
     "no test has both a left and a right result"),
    ("assessments:\n  - date: 2026-11-21\n    results:\n      heel-raise-test: {left: 14, "
     "right: 2000}\n", ":4: heel-raise-test right: 2000 is past the most plausible result"),
])
def test_advise_with_a_bad_assessment_file_is_exit_2(tmp_path, content, message):
    path = tmp_path / "legs.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = run("advise", "--assessment", str(path))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1


# -- interactive, through a pseudo-terminal -----------------------------------------------------

def _spawn(path: Path, *extra: str):
    pexpect = pytest.importorskip("pexpect")
    env = dict(os.environ, COLUMNS="200", PYTHONUNBUFFERED="1")
    child = pexpect.spawn(KBRUN[0], [*KBRUN[1:], "assess", "--interactive", "--results",
                                     str(path), *extra], env=env, encoding="utf-8", timeout=60)
    return child, pexpect


def _finished(child, pexpect) -> None:
    """The session ends by itself, with exit code 0."""
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def _answer(child, prompt: str, text: str) -> None:
    child.expect_exact(prompt)
    child.sendline(text)


def test_interactive_answers_quit_and_resume_give_the_findings_of_the_file(tmp_path):
    path = tmp_path / "answers.yaml"
    child, pexpect = _spawn(path, "--date", DATE)
    child.expect_exact("New assessment dated 2026-11-21")
    child.expect_exact("Test rested")                        # how to test, once
    child.expect_exact("Stand on one leg in front of a mirror")   # and each test's steps
    _answer(child, "Single-leg squat quality, left", "knee-in+pelvis-drop")   # quality first
    _answer(child, "Single-leg squat quality, right", "none")
    _answer(child, "Single-leg hop for distance, left", "1.5m")              # then power
    _answer(child, "Single-leg hop for distance, right", "one sixty")
    child.expect_exact("'one sixty' is not a number")        # checked, and asked again
    _answer(child, "Single-leg hop for distance, right", "160")
    _answer(child, "Single-leg heel raise to fatigue, left", "14")
    _answer(child, "Single-leg heel raise to fatigue, right", "20")
    _answer(child, "Side-lying hip abduction hold, left", "3h")
    child.expect_exact("'3h' is not in seconds")
    _answer(child, "Side-lying hip abduction hold, left", "40")
    _answer(child, "Side-lying hip abduction hold, right", "q")
    child.expect_exact("Stopped. Your answers are saved in")
    _finished(child, pexpect)
    kept = path.read_text(encoding="utf-8")
    assert "left: 14" in kept and "right: 20" in kept and "left: 40" in kept

    child, pexpect = _spawn(path)                            # the same command, without --date
    child.expect_exact("Going on with the assessment of 2026-11-21")
    _answer(child, "Side-lying hip abduction hold, right", "44")   # the left is not asked again
    _answer(child, "Side plank hold, left", "1:10")
    _answer(child, "Side plank hold, right", "75")
    _answer(child, "Single-leg bridge to fatigue, left", "s")
    child.expect_exact("Findings")
    _finished(child, pexpect)

    answered = validated("assess", run("assess", "--results", str(path), "-f", "json").stdout)
    given = validated("assess", run("assess", *options(*ANSWERS), "--date", DATE,
                                    "-f", "json").stdout)
    assert findings(answered) == findings(given)
    assert answered["readings"] == given["readings"]
    assert answered["assessments"][0]["skipped"] == ["single-leg-bridge-test"]
    assert answered["incomplete"] == []


def test_interactive_end_of_input_keeps_the_answers_given(tmp_path):
    path = tmp_path / "answers.json"
    child, pexpect = _spawn(path, "--date", DATE)
    _answer(child, "Single-leg squat quality, left", "trunk-lean")
    child.expect_exact("Single-leg squat quality, right")
    child.sendeof()
    child.expect_exact("Stopped.")
    _finished(child, pexpect)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["assessments"][0]["results"]["single-leg-squat-test"] == {
        "left": ["trunk-lean"], "right": None}


def test_an_unfinished_assessment_is_resumed_within_a_week_and_not_after():
    import datetime as dt

    from kbrun.cli.interactive import current
    from kbrun.engine.assessment import Assessment, FieldResult

    tests = ["heel-raise-test", "side-plank-test"]
    begun = Assessment(dt.date(2026, 11, 21), (FieldResult("heel-raise-test", 14, 20),))
    assert current([begun], None, dt.date(2026, 11, 25), tests) == (begun, True)
    fresh, resumed = current([begun], None, dt.date(2026, 12, 21), tests)
    assert not resumed and fresh.date == dt.date(2026, 12, 21) and not fresh.results
    assert current([begun], dt.date(2026, 11, 21), dt.date(2026, 12, 21), tests) == (begun, True)


def test_the_report_is_not_written_over_the_results_file(legs):
    result = run("assess", "--results", str(legs), "-o", str(legs))
    assert result.exit_code == 2 and "over the --results file" in result.stderr
    assert "heel-raise-test" in legs.read_text(encoding="utf-8")


def test_interactive_with_stdin_closed_stops_cleanly(tmp_path):
    import subprocess

    path = tmp_path / "answers.yaml"
    done = subprocess.run([*KBRUN, "assess", "--interactive", "--results", str(path)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "nothing was saved" in done.stdout and not path.exists()
