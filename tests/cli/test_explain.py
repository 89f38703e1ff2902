"""`kbrun why` and `kbrun why-not` through typer's CliRunner."""

from __future__ import annotations

from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import validated

runner = CliRunner()


def test_why_prints_the_derivation_tree():
    result = runner.invoke(app, ["why", "eccentric-calf-raise", "--symptom", "achilles-pain",
                                 "--setting", "home"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Why Eccentric" in out
    assert "⇐ profile: --symptom achilles-pain" in out
    assert "rule symptom-suggests-injury" in out
    assert "score = 1 - " in out and "Rank:" in out


def test_why_json_has_a_derivation_tree():
    result = runner.invoke(app, ["why", "toe-raise", "--symptom", "shin-pain", "--format", "json"])
    data = validated("why", result.stdout)
    assert data["exercise"] == "toe-raise" and data["recommended"] is True
    node = data["derivation"]
    assert {"fact", "rule", "source", "premises"} <= set(node)

    def leaves(n):
        return [n] if not n["premises"] else [x for p in n["premises"] for x in leaves(p)]

    assert all(leaf["origin"] in ("profile", "graph") for leaf in leaves(node))


def test_why_on_an_exercise_not_recommended_points_to_why_not():
    result = runner.invoke(app, ["why", "box-jump", "--symptom", "achilles-pain"])
    assert result.exit_code == 0
    assert "kbrun why-not box-jump" in result.stdout


def test_why_not_excluded():
    result = runner.invoke(app, ["why-not", "box-jump", "--symptom", "achilles-pain",
                                 "--format", "json"])
    data = validated("why-not", result.stdout)
    assert data["recommended"] is False and data["case"] == "excluded"
    assert data["reasons"][0]["rule"] == "exclude-contraindicated-this-stage"  # subacute


def test_why_not_markdown_and_text():
    md = runner.invoke(app, ["why-not", "leg-press", "--setting", "home", "--format", "markdown"])
    assert md.stdout.startswith("# Why not Leg press")
    text = runner.invoke(app, ["why-not", "leg-press", "--setting", "home"])
    assert "needs equipment you did not list" in text.stdout


def test_unknown_exercise_is_exit_2_with_a_suggestion():
    result = runner.invoke(app, ["why", "clamshel"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: unknown exercise 'clamshel'; did you mean "
                                     "'clamshell'?")
