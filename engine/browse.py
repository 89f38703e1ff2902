"""Browsing the knowledge base: listings, one entry with its links, and statistics, as values."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, cast

from kbrun.engine.errors import UnknownId
from kbrun.engine.graph import source_ids

if TYPE_CHECKING:
    from kbrun.engine import contract
    from kbrun.engine.knowledge import KnowledgeBase

# `kbrun kb list KIND` names -> entry kind
LISTABLE = {
    "exercises": "exercise", "muscles": "muscle", "injuries": "injury", "symptoms": "symptom",
    "goals": "goal", "phases": "phase", "equipment": "equipment", "rules": "rule",
    "red-flags": "red-flag", "levels": "level", "qualities": "quality", "sources": "source",
    "claims": "claim", "facts": "fact", "protocols": "protocol", "conditions": "condition",
    "tests": "test",
}
# the attributes shown as columns in a listing, per kind
_COLUMNS = {
    "exercise": ("category", "level", "equipment", "unilateral"),
    "muscle": ("kind", "region"),
    "injury": ("region",),
    "symptom": ("region",),
    "phase": ("order", "sessions_per_week"),
    "goal": ("favours",),
    "equipment": ("settings",),
    "rule": ("salience", "safety", "description"),
    "level": ("rank",),
    "source": ("kind",),
    "claim": ("topic",),
    "fact": ("description",),
    "red-flag": ("urgency",),
    "protocol": ("injury", "stages", "needs", "rank"),
    "condition": ("urgency", "protects"),
    "test": ("measures", "unit", "muscles"),
}


def list_entries(kb: KnowledgeBase, kind_name: str) -> list[contract.KbListRow]:
    """One row per entry of a kind: id, name, and the attributes that tell entries apart."""
    if kind_name not in LISTABLE:
        error = UnknownId("kind", kind_name, LISTABLE, context="kb list")
        error.suggestion = error.suggestion or "use one of " + ", ".join(LISTABLE)
        raise error
    kind = LISTABLE[kind_name]
    rows = []
    for entry_id, entry in kb.entries[kind].items():
        data = entry.model_dump(mode="json")
        row: dict[str, Any] = {"id": entry_id,
                               "name": data.get("name") or data.get("title")
                               or data.get("description") or data.get("statement") or entry_id}
        for column in _COLUMNS.get(kind, ()):
            row[column] = data.get(column)
        if "sources" in data:
            row["sources"] = [s["id"] for s in data["sources"]]
        rows.append(row)
    # a row's other keys are its kind's columns, which a TypedDict cannot name (mypy lacks
    # PEP 728): the JSON Schema test checks them
    return cast("list[contract.KbListRow]", rows)


def show_entry(kb: KnowledgeBase, entry_id: str) -> contract.KbEntry:
    """An entry with all its attributes, its sources (with titles), and every graph edge that
    leaves or enters it. Rules and fact kinds are shown as written."""
    kind = kb.kind_of(entry_id)
    if kind is None:
        for candidate_kind in ("exercise", "muscle", "injury", "symptom"):
            alias = kb.resolve_alias(candidate_kind, entry_id)
            if alias:
                entry_id, kind = alias, candidate_kind
                break
    if kind is None:
        error = UnknownId("id", entry_id, kb.all_ids(), context="kb show")
        listing = ("list the ids of one kind with `kbrun kb list KIND`, KIND one of "
                   + ", ".join(LISTABLE))
        if not entry_id.strip():
            error.message = "kb show needs the id of an entry, not an empty one"
        error.suggestion = error.suggestion or listing  # nothing close: how to see them all
        raise error
    entry = kb.entries[kind][entry_id]
    data = entry.model_dump(mode="json", exclude_none=True)
    result: dict[str, Any] = {"id": entry_id, "kind": kind,
                              "name": data.pop("name", data.get("title", entry_id))}
    refs = data.pop("sources", [])
    data.pop("id", None)
    if not data.get("safety"):
        data.pop("safety", None)  # shown only where it is set
    result.update(data)
    result["sources"] = [_source(kb, ref) for ref in refs]
    result["defined_at"] = str(kb.locations.get(entry_id, ""))
    edges = []
    if entry_id in kb.graph:
        for u, v, key, attrs in kb.graph.out_edges(entry_id, keys=True, data=True):
            edges.append(_edge(u, v, key, attrs))
        for u, v, key, attrs in kb.graph.in_edges(entry_id, keys=True, data=True):
            edges.append(_edge(u, v, key, attrs))
    edges.sort(key=lambda e: (e["from"] != entry_id, e["relation"], e["from"], e["to"]))
    result["edges"] = edges
    # the entry's own attributes are open keys (see list_entries)
    return cast("contract.KbEntry", result)


def _source(kb: KnowledgeBase, ref: dict[str, Any]) -> contract.SourceRef:
    source = kb.sources.get(ref["id"])
    item: contract.SourceRef = {"id": ref["id"], "title": source.title if source else None}
    if ref.get("quote"):
        item["quote"] = ref["quote"]
    return item


def _edge(u: str, v: str, key: str, attrs: dict[str, Any]) -> contract.Edge:
    edge: dict[str, Any] = {"from": u, "relation": key, "to": v,
                            "sources": list(attrs.get("sources", []))}
    for name in ("role", "weight", "reason", "phases", "any_of"):
        if name in attrs and attrs[name] not in (None, [], ""):
            edge[name] = attrs[name]
    return cast("contract.Edge", edge)  # the optional keys are named in a loop


def kb_stats(kb: KnowledgeBase) -> contract.KbStats:
    """Counts of entries by kind, edges by relation, rules, and how well sourced it all is."""
    graph = kb.graph
    relations = Counter(key for _, _, key in graph.edges(keys=True))
    cited: Counter[str] = Counter()
    for table in kb.entries.values():
        for entry in table.values():
            for source in source_ids(getattr(entry, "sources", [])):
                cited[source] += 1
    seeds = sorted(s for s, e in kb.sources.items() if e.kind == "seed")
    return {
        "layers": list(kb.layers),
        "entries": {kind: len(table) for kind, table in kb.entries.items()},
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "relations": dict(sorted(relations.items())),
        "rules": len(kb.rule_specs),
        "sources": len(kb.sources),
        "citations_per_seed": {s: cited[s] for s in seeds},
        "uncited_sources": sorted(s for s in kb.sources if cited[s] == 0),
    }
