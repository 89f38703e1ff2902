"""`kbrun advise` through typer's CliRunner: what a runner reads, in every format."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import validated

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_the_mission_command():
    result = run("advise", "--symptom", "knee-pain", "--phase", "race-season")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "phase race-season" in out and "symptoms knee-pain" in out
    assert "Suspected: runners-knee" in out
    assert "2 x 4-6" in out and "heavy" in out        # race season: keep the load, two sets
    assert "Warm-up" in out and "Main lifts" in out    # labelled parts, in the order performed
    assert "Pain-monitoring rule" in out
    assert "Avoid" in out and "Forward lunge" in out
    assert "disclaimer" in out
    assert "Traceback" not in out


def test_json_follows_the_contract():
    result = run("advise", "--symptom", "shin-pain", "--goal", "endurance", "--format", "json")
    assert result.exit_code == 0
    data = validated("advise", result.stdout)
    assert data["profile"]["symptoms"] == ["shin-pain"]
    assert data["profile"]["goals"] == ["endurance"]
    assert sum(r["slot"] for r in data["recommendations"]) == 6   # --limit counts strength slots
    assert [r["rank"] for r in data["recommendations"]] == list(
        range(1, len(data["recommendations"]) + 1))
    assert data["recommendations"][0]["section"] == "warm-up"    # in the order performed
    assert all(r["cues"] for r in data["recommendations"])
    assert any(r["exercise"] == "toe-raise" for r in data["recommendations"])
    assert any(w["kind"] == "disclaimer" for w in data["warnings"])


def test_markdown_is_a_table():
    result = run("advise", "--symptom", "achilles-pain", "--setting", "home",
                 "--format", "markdown")
    assert result.exit_code == 0
    assert result.stdout.startswith("# kbrun session")
    assert "## Warm-up" in result.stdout and "## Accessory and lower leg" in result.stdout
    assert "| # | Exercise | Sets x reps | Load | Why | How |" in result.stdout
    assert "Eccentric" in result.stdout and "Alfredson" in result.stdout


def test_trace_lists_every_firing_in_order():
    result = run("advise", "--symptom", "knee-pain", "--format", "json", "--trace")
    data = validated("advise", result.stdout)
    steps = [s["step"] for s in data["trace"]]
    assert steps == list(range(1, len(steps) + 1))
    first = data["trace"][0]
    assert first["rule"] and first["matched"] and first["asserted"]
    text = run("advise", "--symptom", "knee-pain", "--trace").stdout
    assert "Trace" in text and "symptom-suggests-injury" in text


def test_limit_setting_and_level():
    result = run("advise", "--limit", "3", "--setting", "home", "--level", "beginner",
                 "--format", "json")
    data = validated("advise", result.stdout)
    assert sum(r["slot"] for r in data["recommendations"]) == 3
    assert "machine" not in data["profile"]["equipment"]
    assert data["profile"]["level"] == "beginner"


def test_profile_file_with_flags_overriding(tmp_path):
    path = tmp_path / "me.yaml"
    path.write_text("symptoms: [shin-pain]\nphase: off-season\nlimit: 4\n")
    data = validated("advise", run("advise", "--profile", str(path), "--phase", "taper",
                                   "--format", "json").stdout)
    assert data["profile"]["symptoms"] == ["shin-pain"]
    assert data["profile"]["phase"] == "taper"
    assert sum(r["slot"] for r in data["recommendations"]) == 4


def test_profile_file_json(tmp_path):
    path = tmp_path / "me.json"
    path.write_text(json.dumps({"injuries": ["achilles-tendinopathy"], "goals": ["speed"]}))
    data = validated("advise", run("advise", "--profile", str(path), "--format", "json").stdout)
    assert data["profile"]["injuries"] == ["achilles-tendinopathy"]
    assert any(w["kind"] == "conflict" for w in data["warnings"])


def test_red_flag_refers_and_removes_impact():
    data = validated("advise", run("advise", "--symptom", "knee-pain", "--red-flag",
                                   "swelling", "--format", "json").stdout)
    assert data["warnings"][0]["kind"] == "red-flag"
    assert "see a physiotherapist or doctor before loading" in data["warnings"][0]["message"]
    impacts = {r["exercise"] for r in data["recommendations"]}
    assert not impacts & {"box-jump", "squat-jump", "skipping", "line-hop", "hill-sprint"}


@pytest.mark.parametrize("args, message", [
    (["--phase", "race"], "unknown phase 'race' in --phase; did you mean 'race-season'?"),
    (["--symptom", "knee"], "unknown symptom 'knee' in --symptom; did you mean"),
    (["--goal", "sped"], "unknown goal 'sped' in --goal; did you mean 'speed'?"),
], ids=["phase", "symptom", "goal"])
def test_bad_values_exit_2_with_one_line(args, message):
    result = run("advise", *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]


def test_same_command_same_bytes():
    args = ("advise", "--symptom", "outer-knee-pain", "--goal", "hills", "--format", "json",
            "--trace")
    first = run(*args).stdout
    validated("advise", first)
    assert first == run(*args).stdout
