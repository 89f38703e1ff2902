"""Every `--format json` command prints JSON that validates against its shipped schema
(docs/schema/, docs/json.md)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import DATA, validated_output

runner = CliRunner()

COMMANDS = [
    ["advise", "--symptom", "knee-pain", "--phase", "race-season", "--format", "json"],
    ["advise", "--symptom", "calf-pain", "--red-flag", "swelling", "--format", "json"],
    ["advise", "--injury", "achilles-tendinopathy", "--stage", "subacute", "--setting", "home",
     "--format", "json", "--trace"],
    ["advise", "--goal", "hills", "--kb", str(DATA / "coach-kb"), "--format", "json"],
    ["why", "eccentric-calf-raise", "--symptom", "achilles-pain", "--format", "json"],
    ["why", "box-jump", "--symptom", "achilles-pain", "--format", "json"],
    ["why-not", "box-jump", "--symptom", "achilles-pain", "--format", "json"],
    ["why-not", "leg-press", "--setting", "home", "--format", "json"],
    ["kb", "validate", "--format", "json"],
    ["kb", "validate", "--kb", str(DATA / "extend-kb"), "--format", "json"],
    ["kb", "stats", "--format", "json"],
    ["kb", "list", "exercises", "--format", "json"],
    ["kb", "list", "rules", "--format", "json"],
    ["kb", "list", "sources", "--format", "json"],
    ["kb", "show", "clamshell", "--format", "json"],
    ["kb", "show", "runners-knee", "--format", "json"],
    ["kb", "show", "swelling", "--format", "json"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:3]) for a in COMMANDS])
def test_json_output_validates(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert validated_output(args, result.stdout)


def test_batch_lines_validate_whatever_happened_on_each():
    lines = [json.dumps({"symptoms": ["knee-pain"]}), "{not json",
             json.dumps({"injuries": ["patellar-tendinopathy"], "stage": "acute"}),
             json.dumps({"symptoms": ["shin-pian"]})]
    args = ["advise", "--batch", "-", "--trace"]
    result = runner.invoke(app, args, input="\n".join(lines) + "\n")
    rows = validated_output(args, result.stdout)
    assert [row["line"] for row in rows] == [1, 2, 3, 4]
    assert ["error" in row for row in rows] == [False, True, False, True]
    assert all("trace" in row for row in rows if "error" not in row)
