"""`kbrun kb ...` through typer's CliRunner."""

from __future__ import annotations

import json

import networkx as nx
from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import DATA, validated

runner = CliRunner()


def test_validate_passes_on_the_builtin_kb():
    result = runner.invoke(app, ["kb", "validate"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Knowledge base is valid (kb):")
    assert "exercise" in result.stdout and "rule" in result.stdout


def test_validate_reports_file_line_and_fix_for_a_layer(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "ex.yaml").write_text(
        "exercises:\n  - id: clamshell\n    extend: true\n"
        "    targtes: {primary: [gluteus-medius]}\n")
    result = runner.invoke(app, ["kb", "validate", "--kb", str(folder)])
    assert result.exit_code == 2
    assert ("bad/ex.yaml:4: unknown field 'targtes' in exercise 'clamshell'; "
            "did you mean 'targets'?") in result.stderr
    assert "Traceback" not in result.output


def test_show_clamshell_has_targets_with_sources():
    result = runner.invoke(app, ["kb", "show", "clamshell", "--format", "json"])
    data = validated("kb-show", result.stdout)
    assert data["id"] == "clamshell" and data["kind"] == "exercise"
    assert {"category", "equipment", "level", "unilateral"} <= set(data)
    targets = [e for e in data["edges"] if e["relation"] == "targets"]
    assert {"from": "clamshell", "relation": "targets", "to": "gluteus-medius"}.items() <= \
        next(e for e in targets if e["to"] == "gluteus-medius").items()
    assert all(e["sources"] and e["role"] in ("primary", "secondary") for e in targets)
    text = runner.invoke(app, ["kb", "show", "clamshell"]).stdout
    assert "clamshell -[targets]-> gluteus-medius (role=primary" in text


def test_show_accepts_an_alias_and_suggests_for_an_unknown_id():
    alias = runner.invoke(app, ["kb", "show", "glute-med", "--format", "json"])
    assert alias.exit_code == 0 and validated("kb-show", alias.stdout)["id"] == "gluteus-medius"
    result = runner.invoke(app, ["kb", "show", "gluteus-mdius"])
    assert result.exit_code == 2
    assert "unknown id 'gluteus-mdius' in kb show; did you mean 'gluteus-medius'" in result.stderr


def test_list_every_kind_as_json():
    for kind in ("exercises", "muscles", "injuries", "symptoms", "goals", "phases", "equipment",
                 "rules"):
        result = runner.invoke(app, ["kb", "list", kind, "--format", "json"])
        assert result.exit_code == 0, kind
        rows = validated("kb-list", result.stdout)
        assert rows and all({"id", "name"} <= set(r) for r in rows), kind


def test_list_unknown_kind():
    result = runner.invoke(app, ["kb", "list", "exercize"])
    assert result.exit_code == 2
    assert "did you mean 'exercises'" in result.stderr


def test_graph_export_to_file_reads_back(tmp_path):
    out = tmp_path / "kb.graphml"
    result = runner.invoke(app, ["kb", "graph", "--format", "graphml", "-o", str(out),
                                 "--focus", "runners-knee", "--depth", "1"])
    assert result.exit_code == 0, result.output
    graph = nx.read_graphml(out, force_multigraph=True)
    assert "runners-knee" in graph and "gluteus-medius" in graph
    assert graph.number_of_nodes() < 60


def test_graph_mermaid_and_dot_to_stdout():
    mermaid = runner.invoke(app, ["kb", "graph", "--format", "mermaid", "--focus", "toe-raise"])
    assert mermaid.stdout.startswith("flowchart LR") and "n_toe_raise" in mermaid.stdout
    dot = runner.invoke(app, ["kb", "graph", "--focus", "toe-raise"])
    assert dot.stdout.startswith("digraph kbrun {")


def test_stats():
    data = validated("kb-stats", runner.invoke(app, ["kb", "stats", "--format", "json"]).stdout)
    assert data["entries"]["exercise"] >= 60 and data["rules"] >= 40
    assert all(count > 0 for count in data["citations_per_seed"].values())


def test_layered_folder_through_the_cli():
    result = runner.invoke(app, ["advise", "--goal", "hills", "--kb", str(DATA / "coach-kb"),
                                 "--format", "json"])
    data = validated("advise", result.stdout)
    slots = [r for r in data["recommendations"] if r["slot"]]
    assert max(slots, key=lambda r: r["score"])["exercise"] == "stair-bound"


def test_version_and_help():
    assert runner.invoke(app, ["--version"]).stdout.startswith("kbrun ")
    help_text = runner.invoke(app, ["--help"]).stdout
    for command in ("advise", "why", "why-not", "kb"):
        assert command in help_text


def test_protocols_and_conditions_are_listed_with_what_tells_them_apart():
    protocols = validated("kb-list", runner.invoke(app, ["kb", "list", "protocols", "--format",
                                                         "json"]).stdout)
    alfredson = next(p for p in protocols if p["id"] == "alfredson-eccentric")
    assert alfredson["injury"] == "achilles-tendinopathy"
    assert alfredson["stages"] == ["subacute", "return-to-run"]
    conditions = validated("kb-list", runner.invoke(app, ["kb", "list", "conditions", "--format",
                                                          "json"]).stdout)
    urgent = {c["id"] for c in conditions if c["urgency"] == "urgent"}
    assert {"deep-vein-thrombosis", "achilles-rupture", "fracture",
            "femoral-neck-stress-fracture", "cauda-equina-syndrome"} <= urgent


def test_a_file_that_is_not_read_is_named_with_the_fix(tmp_path):
    from tests.hostile import run_kbrun

    folder = tmp_path / "coach"
    folder.mkdir()
    (folder / "rules.yaml.txt").write_text((DATA / "coach-kb" / "hill-club.yaml").read_text())
    (folder / "README.md").write_text("# my rules\n")            # documentation: no word
    warning = (f"Warning: {folder}/rules.yaml.txt: not read: the name does not end in '.yaml' or "
               "'.yml'; rename it to 'rules.yaml' to read it, or move it out of the folder")
    result = run_kbrun(["kb", "validate", "--kb", str(folder), "--format", "json"], timeout=60)
    assert result.code == 0 and result.stderr.splitlines() == [warning]
    assert validated("kb-validate", json.loads(result.stdout))["skipped"] == [
        {"path": f"{folder}/rules.yaml.txt", "reason": warning.split(": ", 2)[2]}]
    advised = run_kbrun(["advise", "--goal", "hills", "--kb", str(folder)], timeout=60)
    assert advised.code == 0 and advised.stderr.splitlines() == [warning]
