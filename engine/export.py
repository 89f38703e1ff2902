"""Exports of the knowledge graph: DOT, GraphML, node-link JSON and Mermaid."""

from __future__ import annotations

import io
import json
import re
from typing import TYPE_CHECKING, Any

import networkx as nx

if TYPE_CHECKING:
    from kbrun.engine.graph import KbGraph

FORMATS = ("dot", "graphml", "json", "mermaid")


def _scalar(value: Any) -> Any:
    """GraphML holds only scalars: lists and mappings become JSON text."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _flat(graph: KbGraph) -> KbGraph:
    flat: KbGraph = nx.MultiDiGraph()
    for node, attrs in graph.nodes(data=True):
        flat.add_node(node, **{k: _scalar(v) for k, v in attrs.items()})
    for u, v, key, attrs in graph.edges(keys=True, data=True):
        flat.add_edge(u, v, key=key, relation=key, **{k: _scalar(x) for k, x in attrs.items()})
    return flat


def to_graphml(graph: KbGraph) -> str:
    buffer = io.BytesIO()
    nx.write_graphml(_flat(graph), buffer, encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


def to_node_link(graph: KbGraph) -> str:
    data = nx.node_link_data(graph, edges="links")
    for link in data["links"]:
        link["relation"] = link["key"]
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _dot_id(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: KbGraph) -> str:
    shapes = {"exercise": "box", "muscle": "ellipse", "injury": "octagon", "symptom": "note",
              "goal": "diamond", "quality": "hexagon", "equipment": "component"}
    lines = ["digraph kbrun {", "  rankdir=LR;"]
    for node, attrs in sorted(graph.nodes.items()):  # the same pairs as nodes(data=True)
        label = f"{attrs.get('name', node)}\\n[{attrs.get('kind', '')}]"
        shape = shapes.get(attrs.get("kind", ""), "plaintext")
        lines.append(f"  {_dot_id(node)} [label={_dot_id(label)}, shape={shape}, "
                     f"kind={_dot_id(attrs.get('kind', ''))}];")
    for u, v, key, attrs in sorted(graph.edges(keys=True, data=True), key=lambda e: e[:3]):
        extra = ""
        if "role" in attrs:
            extra += f", role={_dot_id(attrs['role'])}"
        if "weight" in attrs:
            extra += f", weight={attrs['weight']}"
        lines.append(f"  {_dot_id(u)} -> {_dot_id(v)} [label={_dot_id(key)}, "
                     f"relation={_dot_id(key)}{extra}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(text: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", text)


def to_mermaid(graph: KbGraph) -> str:
    lines = ["flowchart LR"]
    for node, attrs in sorted(graph.nodes.items()):
        name = str(attrs.get("name", node)).replace('"', "'")
        lines.append(f'  {_mermaid_id(node)}["{name}<br/>({attrs.get("kind", "")})"]')
    for u, v, key in sorted(graph.edges(keys=True)):
        lines.append(f"  {_mermaid_id(u)} -->|{key}| {_mermaid_id(v)}")
    return "\n".join(lines) + "\n"


def export(graph: KbGraph, fmt: str) -> str:
    """The graph in one of FORMATS, as text."""
    writers = {"dot": to_dot, "graphml": to_graphml, "json": to_node_link, "mermaid": to_mermaid}
    return writers[fmt](graph)
