"""Batch mode: one result per line, in order; a bad line is an error object, the rest go on."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kbrun.cli.main import app
from kbrun.engine import advise, make_profile
from kbrun.engine.batch import advise_lines

LINES = [
    json.dumps({"symptoms": ["knee-pain"], "phase": "race-season"}),
    "{not json",
    "",
    json.dumps({"symptoms": ["shin-pian"]}),
    json.dumps({"goals": ["speed"], "limit": 3}),
    json.dumps({"symtoms": ["knee-pain"]}),
]


def test_each_line_gets_its_own_result_in_order(kb):
    results = list(advise_lines(kb, LINES))
    assert [r["line"] for r in results] == [1, 2, 4, 5, 6]
    assert results[0]["recommendations"] == advise(
        make_profile(kb, symptoms=["knee-pain"], phase="race-season"), kb).to_dict()["recommendations"]
    assert results[1]["error"].startswith("line 2: invalid JSON")
    assert "unknown symptom 'shin-pian'" in results[2]["error"]
    assert "did you mean 'shin-pain'" in results[2]["error"]
    assert sum(r["slot"] for r in results[3]["recommendations"]) == 3
    assert "unknown field 'symtoms'; did you mean 'symptoms'" in results[4]["error"]


def test_batch_through_the_cli_from_stdin():
    result = CliRunner().invoke(app, ["advise", "--batch", "-"], input="\n".join(LINES) + "\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 5
    assert sum("error" in row for row in rows) == 3


def test_batch_refuses_profile_flags(tmp_path):
    path = tmp_path / "runners.jsonl"
    path.write_text(LINES[0] + "\n")
    result = CliRunner().invoke(app, ["advise", "--batch", str(path), "--phase", "taper"])
    assert result.exit_code == 2
    assert "cannot be combined with --batch" in result.stderr


def test_batch_file_that_does_not_exist():
    result = CliRunner().invoke(app, ["advise", "--batch", "/nonexistent/runners.jsonl"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot read batch file '/nonexistent/runners.jsonl'")
