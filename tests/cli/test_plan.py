"""`kbrun plan`, `--minutes` and the planned-day explanations through the command line: the
options a runner types, the errors they get, and the JSON contract."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import validated

runner = CliRunner()
PLAN = ["--race-date", "2027-04-25", "--start", "2027-01-04", "--hard-days", "tue,thu",
        "--long-run", "sun", "--rest-days", "fri"]


def run(*args: str):
    return runner.invoke(app, list(args))


def test_a_plan_in_json_follows_the_contract_and_echoes_the_running_week():
    result = run("plan", *PLAN, "--format", "json")
    assert result.exit_code == 0, result.output
    data = validated("plan", result.stdout)
    assert data["run_week"] == {"hard": ["tue", "thu"], "long": "sun", "rest": ["fri"],
                                "assumed": False}
    assert data["race_date"] == "2027-04-25" and len(data["weeks"]) == 16
    assert data["profile"]["minutes"] == 30          # the plan's default budget (kb/plan.yaml)
    assert [w["kind"] for w in data["warnings"]] == ["disclaimer"]


def test_with_no_running_week_the_plan_says_what_it_assumed():
    data = validated("plan", run("plan", "--weeks", "2", "--start", "2027-01-04",
                                 "-f", "json").stdout)
    assert data["run_week"]["assumed"] is True
    assert any(w["kind"] == "assumed-week" for w in data["warnings"])


@pytest.mark.parametrize("args,message", [
    (["--race-date", "25/04/2027"], "'25/04/2027' is not a date as YYYY-MM-DD"),
    (["--race-date", "2027-04-25", "--start", "2027-05-01"], "before the plan's start"),
    (["--weeks", "0"], "not from 1 to 52"),
    ([], "a plan needs a race date or a number of weeks"),
    (["--weeks", "4", "--long-run", "sunday", "--rest-days", "sun"], "sun is given to both"),
    (["--weeks", "4", "--hard-days", "tuesday,thurs,fry"], "'fry' is not a day of the week"),
    (["--weeks", "4", "--minutes", "500"], "500 is not a whole number of minutes from 5 to 180"),
    (["--weeks", "4", "--format", "pdf"], "pdf"),
])
def test_a_bad_plan_option_is_one_line_and_exit_2(args, message):
    result = run("plan", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_why_on_a_planned_day_explains_that_weeks_session():
    plan = validated("plan", run("plan", *PLAN, "--format", "json").stdout)
    thursday = next(s for s in plan["weeks"][2]["sessions"] if s["day"] == "thu")
    lift = next(e["exercise"] for e in thursday["exercises"] if e["slot"])
    result = run("why", lift, "--week", "3", "--day", "thu", *PLAN, "--format", "json")
    assert result.exit_code == 0, result.output
    data = validated("why", result.stdout)
    assert data["recommended"] is True
    assert data["plan_day"] == {"week": 3, "date": "2027-01-21", "day": "thu",
                                "phase": "off-season", "session": "strength",
                                "exercises": [e["exercise"] for e in thursday["exercises"]]}
    facts = [n["fact"] for n in _walk(data["derivation"])]
    assert any(f.startswith(f"practised(exercise={lift}, weeks=2)") for f in facts)


def test_why_not_on_a_planned_day_names_the_taper_rule():
    result = run("why-not", "box-jump", "--week", "16", "--day", "mon", *PLAN, "-f", "json")
    assert result.exit_code == 0, result.output
    data = validated("why-not", result.stdout)
    assert data["plan_day"]["phase"] == "taper"
    assert data["case"] == "excluded"


@pytest.mark.parametrize("args,message", [
    (["--week", "3"], "--day is needed too"),
    (["--week", "30", "--day", "tue"], "the plan has weeks 1 to 16, not 30"),
    (["--week", "3", "--day", "sat"], "week 3 has no session on sat (the day before the long run)"),
])
def test_a_planned_day_that_does_not_exist_is_one_line_and_exit_2(args, message):
    result = run("why", "deadlift", *args, *PLAN)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_advise_keeps_to_the_time_budget_and_why_not_says_so():
    free = validated("advise", run("advise", "-f", "json").stdout)
    short = validated("advise", run("advise", "--minutes", "20", "-f", "json").stdout)
    assert short["minutes"] <= 20 < free["minutes"]
    assert short["profile"]["minutes"] == 20 and free["profile"]["minutes"] is None
    left_out = [r["exercise"] for r in free["recommendations"]
                if r["exercise"] not in {s["exercise"] for s in short["recommendations"]}]
    assert left_out
    answers = [validated("why-not", run("why-not", name, "--minutes", "20", "-f", "json").stdout)
               for name in left_out]
    assert any("20-minute budget" in str(a["reasons"]) for a in answers)


def _walk(node):
    yield node
    for premise in node["premises"]:
        yield from _walk(premise)
