"""The knowledge graph holds what the seeds say, and its exports read back."""

from __future__ import annotations

import io
import json

import networkx as nx
import pytest

from kbrun.engine.export import export
from kbrun.engine.graph import (
    exercises_targeting,
    implicated_muscles,
    neighbourhood,
    opposing,
    progressions,
    regressions,
)


@pytest.mark.parametrize("exercise, muscle, role", [
    ("clamshell", "gluteus-medius", "primary"),
    ("eccentric-calf-raise", "soleus", "primary"),
    ("eccentric-calf-raise", "achilles-tendon", "primary"),
    ("toe-raise", "tibialis-anterior", "primary"),
    ("seated-calf-raise", "soleus", "primary"),
    ("lateral-band-walk", "gluteus-medius", "primary"),
    ("hamstring-curl", "hamstrings", "primary"),
], ids=lambda v: str(v))
def test_seed_targets(kb, exercise, muscle, role):
    attrs = kb.graph.get_edge_data(exercise, muscle, key="targets")
    assert attrs is not None and attrs["role"] == role
    assert attrs["sources"]
    assert exercise in exercises_targeting(kb.graph, muscle, role)


def test_opposing_groups_are_symmetric(kb):
    assert "hamstrings" in opposing(kb.graph, "quadriceps")
    assert "quadriceps" in opposing(kb.graph, "hamstrings")
    assert "tibialis-anterior" in opposing(kb.graph, "gastrocnemius")


def test_injuries_implicate_what_the_evidence_says(kb):
    assert "gluteus-medius" in implicated_muscles(kb.graph, "it-band-syndrome")
    assert "achilles-tendon" in implicated_muscles(kb.graph, "achilles-tendinopathy")
    assert "tibialis-anterior" in implicated_muscles(kb.graph, "shin-splints")
    suggested = {v for _, v, k in kb.graph.out_edges("outer-knee-pain", keys=True)
                 if k == "suggests"}
    assert "it-band-syndrome" in suggested


@pytest.mark.parametrize("easier, harder", [
    ("squat-jump", "box-jump"), ("box-jump", "depth-jump"),
    ("glute-bridge", "single-leg-glute-bridge"), ("calf-raise", "eccentric-calf-raise"),
])
def test_progressions(kb, easier, harder):
    assert harder in progressions(kb.graph, easier)
    assert easier in regressions(kb.graph, harder)


def test_contraindications_become_edges(kb):
    reason = kb.graph.get_edge_data("box-jump", "achilles-tendinopathy", key="contraindicated-for")
    assert reason is not None and reason["reason"] and reason["sources"]
    assert kb.graph.get_edge_data("walking-lunge", "runners-knee", key="contraindicated-for")


@pytest.mark.parametrize("fmt", ["graphml", "json"])
def test_exports_read_back_with_networkx(kb, fmt):
    text = export(kb.graph, fmt)
    if fmt == "graphml":
        back = nx.read_graphml(io.BytesIO(text.encode()), force_multigraph=True)
    else:
        back = nx.node_link_graph(json.loads(text), edges="links", multigraph=True,
                                  directed=True)
    assert back.number_of_nodes() == kb.graph.number_of_nodes()
    assert back.number_of_edges() == kb.graph.number_of_edges()
    assert back.nodes["clamshell"]["kind"] == "exercise"


def test_dot_and_mermaid_name_every_node_and_relation(kb):
    sub = neighbourhood(kb.graph, "clamshell", 1)
    dot = export(sub, "dot")
    mermaid = export(sub, "mermaid")
    assert dot.startswith("digraph kbrun {") and dot.rstrip().endswith("}")
    assert '"clamshell" -> "gluteus-medius" [label="targets"' in dot
    assert "n_clamshell -->|targets| n_gluteus_medius" in mermaid
    assert dot.count(" -> ") == sub.number_of_edges()
