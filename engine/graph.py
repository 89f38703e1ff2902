"""The knowledge graph: a networkx MultiDiGraph of typed nodes, the relation as the edge key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

from kbrun.engine.schema import SourceRef

if TYPE_CHECKING:
    import networkx as nx

    from kbrun.engine.knowledge import KnowledgeBase

# The graph's nodes are kb ids. A string, so that networkx is imported only where a graph is built
# (and its classes are generic only in their stubs).
KbGraph: TypeAlias = "nx.MultiDiGraph[str]"

# Relations, all directed; `opposes` is stored in both directions.
TARGETS = "targets"                # exercise -> muscle        role, weight
IMPLICATES = "implicates"          # injury -> muscle          role, weight
SUGGESTS = "suggests"              # symptom -> injury         weight
OPPOSES = "opposes"                # muscle -> muscle
PROGRESSES_TO = "progresses-to"    # exercise -> harder exercise
REQUIRES = "requires"              # exercise -> equipment     (any one of them suffices)
CONTRAINDICATED_FOR = "contraindicated-for"  # exercise -> injury   reason, phases
DEVELOPS = "develops"              # exercise -> quality
FAVOURS = "favours"                # goal -> quality
SIGNALS = "signals"                # red flag -> condition    symptoms ("any": the flag alone)
TREATS = "treats"                  # protocol -> injury       stages, rank, needs
DOSES = "doses"                    # protocol -> exercise     the protocol's dose
MEASURES = "measures"              # field test -> muscle     faults (those that point to it)
RELATIONS = (TARGETS, IMPLICATES, SUGGESTS, OPPOSES, PROGRESSES_TO, REQUIRES,
             CONTRAINDICATED_FOR, DEVELOPS, FAVOURS, SIGNALS, TREATS, DOSES, MEASURES)

ROLE_WEIGHT = {"primary": 1.0, "secondary": 0.5}
_NODE_KINDS = ("source", "muscle", "exercise", "injury", "symptom", "red-flag", "condition",
               "protocol", "phase", "goal", "quality", "level", "equipment", "claim", "test")
# Fields that become edges rather than node attributes.
_EDGE_FIELDS = {"targets", "equipment", "progresses_to", "regresses_to", "qualities", "opposes",
                "suggested_by", "implicates", "contraindications", "favours", "sources", "id",
                "signs", "doses", "muscles", "faults", "norm", "imbalance", "how"}


def source_ids(refs: list[SourceRef]) -> list[str]:
    """The ids of a list of citations, in order, without repeats."""
    return list(dict.fromkeys(ref.id for ref in refs))


def build_graph(kb: KnowledgeBase) -> KbGraph:
    """Build the knowledge graph of a loaded knowledge base."""
    import networkx as nx  # here, not at the top: advising from the cache needs no graph

    graph: KbGraph = nx.MultiDiGraph()
    for kind in _NODE_KINDS:
        for entry_id, entry in kb.entries[kind].items():
            attrs = entry.model_dump(mode="json", exclude=_EDGE_FIELDS)
            attrs["kind"] = kind
            attrs.setdefault("name", getattr(entry, "title", entry_id))
            attrs["sources"] = source_ids(getattr(entry, "sources", []))
            graph.add_node(entry_id, **attrs)

    for exercise in kb.exercises.values():
        cited = source_ids(exercise.sources)
        for role in ("primary", "secondary"):
            for muscle in getattr(exercise.targets, role):
                graph.add_edge(exercise.id, muscle, key=TARGETS, role=role,
                               weight=ROLE_WEIGHT[role], sources=cited)
        for item in exercise.equipment:
            graph.add_edge(exercise.id, item, key=REQUIRES, any_of=len(exercise.equipment) > 1,
                           sources=cited)
        for harder in exercise.progresses_to:
            graph.add_edge(exercise.id, harder, key=PROGRESSES_TO, sources=cited)
        for easier in exercise.regresses_to:
            graph.add_edge(easier, exercise.id, key=PROGRESSES_TO, sources=cited)
        for quality in exercise.qualities:
            graph.add_edge(exercise.id, quality, key=DEVELOPS, sources=cited)

    for muscle in kb.muscles.values():
        for other in muscle.opposes:
            for a, b in ((muscle.id, other), (other, muscle.id)):
                graph.add_edge(a, b, key=OPPOSES, sources=source_ids(muscle.sources))

    for injury in kb.injuries.values():
        for suggestion in injury.suggested_by:
            graph.add_edge(suggestion.symptom, injury.id, key=SUGGESTS, weight=suggestion.weight,
                           sources=source_ids(suggestion.sources))
        for implication in injury.implicates:
            graph.add_edge(injury.id, implication.muscle, key=IMPLICATES,
                           weight=implication.weight, role=implication.role,
                           sources=source_ids(implication.sources))
        # the most specifically written contraindication gives an exercise its reason
        ordered = sorted(injury.contraindications, key=lambda rule: -rule.specificity())
        for rule in ordered:
            for exercise in kb.exercises.values():
                if rule.matches(exercise) and not graph.has_edge(
                        exercise.id, injury.id, key=CONTRAINDICATED_FOR):
                    graph.add_edge(exercise.id, injury.id, key=CONTRAINDICATED_FOR,
                                   reason=rule.reason, phases=list(rule.phases),
                                   stages=list(rule.stages), sources=source_ids(rule.sources))

    for condition in kb.conditions.values():
        with_symptoms: dict[str, list[str]] = {}
        in_regions: dict[str, list[str]] = {}
        for sign in condition.signs:  # "any": the red flag alone is enough
            if sign.region:
                in_regions.setdefault(sign.red_flag, []).append(sign.region)
            else:
                with_symptoms.setdefault(sign.red_flag, []).append(sign.symptom or "any")
        for flag in dict.fromkeys([*with_symptoms, *in_regions]):
            graph.add_edge(flag, condition.id, key=SIGNALS, symptoms=with_symptoms.get(flag, []),
                           regions=in_regions.get(flag, []), sources=source_ids(condition.sources))

    for protocol in kb.protocols.values():
        cited = source_ids(protocol.sources)
        graph.add_edge(protocol.id, protocol.injury, key=TREATS, stages=list(protocol.stages),
                       rank=protocol.rank, needs=protocol.needs, sources=cited)
        for dose in protocol.doses:
            graph.add_edge(protocol.id, dose.exercise, key=DOSES,
                           dose=dose.model_dump(mode="json"), sources=cited)

    for test in kb.tests.values():
        cited = source_ids(test.sources)
        pointed: dict[str, list[str]] = {m: [] for m in test.muscles}
        for fault in test.faults:
            for muscle in fault.muscles:
                pointed.setdefault(muscle, []).append(fault.id)
        for muscle, faults in pointed.items():
            graph.add_edge(test.id, muscle, key=MEASURES, faults=faults, sources=cited)

    for goal in kb.goals.values():
        for quality in goal.favours:
            graph.add_edge(goal.id, quality, key=FAVOURS, sources=source_ids(goal.sources))
    return graph


# -- queries the engine and the CLI use -----------------------------------------------------------

def out_edges(graph: KbGraph, node: str, relation: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(target, attributes) of every `relation` edge leaving `node`."""
    if node not in graph:
        return
    for _, target, key, attrs in graph.out_edges(node, keys=True, data=True):
        if key == relation:
            yield target, attrs


def in_edges(graph: KbGraph, node: str, relation: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(origin, attributes) of every `relation` edge entering `node`."""
    if node not in graph:
        return
    for origin, _, key, attrs in graph.in_edges(node, keys=True, data=True):
        if key == relation:
            yield origin, attrs


def exercises_targeting(graph: KbGraph, muscle: str, role: str | None = None) -> list[str]:
    """Exercises that target `muscle` (optionally only as `primary` or `secondary`)."""
    return sorted(origin for origin, attrs in in_edges(graph, muscle, TARGETS)
                  if role is None or attrs["role"] == role)


def implicated_muscles(graph: KbGraph, injury: str) -> dict[str, float]:
    """Muscles and tissues an injury implicates, with the weight of each link."""
    return {target: attrs["weight"] for target, attrs in out_edges(graph, injury, IMPLICATES)}


def opposing(graph: KbGraph, muscle: str) -> list[str]:
    """The muscles that oppose `muscle` (quadriceps -> hamstrings, ...)."""
    return sorted(target for target, _ in out_edges(graph, muscle, OPPOSES))


def progressions(graph: KbGraph, exercise: str) -> list[str]:
    """The next harder variants of an exercise."""
    return sorted(target for target, _ in out_edges(graph, exercise, PROGRESSES_TO))


def regressions(graph: KbGraph, exercise: str) -> list[str]:
    """The next easier variants of an exercise."""
    return sorted(origin for origin, _ in in_edges(graph, exercise, PROGRESSES_TO))


def neighbourhood(graph: KbGraph, focus: str, depth: int) -> KbGraph:
    """The subgraph within `depth` links of `focus`, ignoring edge direction."""
    import networkx as nx

    nodes = nx.single_source_shortest_path_length(graph.to_undirected(as_view=True), focus,
                                                  cutoff=depth)
    return graph.subgraph(nodes).copy()
