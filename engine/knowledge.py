"""The loaded knowledge base: validated entries by kind, where each came from, and its graph."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from kbrun.engine.errors import KbError, Loc, UnknownId
from kbrun.engine.schema import (
    Claim,
    Condition,
    Equipment,
    Exercise,
    FactKind,
    FieldTest,
    Goal,
    Injury,
    Level,
    Muscle,
    Phase,
    Planning,
    Protocol,
    Quality,
    RedFlag,
    RuleSpec,
    Selection,
    Source,
    Symptom,
    Timing,
)

if TYPE_CHECKING:
    from kbrun.engine.graph import KbGraph
    from kbrun.engine.inference import Reasoner
    from kbrun.engine.overlay import Change
    from kbrun.engine.rules import CompiledRules


@dataclass
class KnowledgeBase:
    """Every entry of a (possibly layered) knowledge base, validated and cross-checked."""

    entries: dict[str, dict[str, Any]]          # kind -> id -> model, in sorted id order
    locations: dict[str, Loc]                   # id -> where it was (last) defined
    layers: list[str] = field(default_factory=list)
    fingerprint: str = ""
    # the files it was read from, (layer, [(path, text)]): `raw` is parsed from them on demand
    files: Sequence[tuple[str, list[tuple[str, str]]]] = field(default=(), repr=False)
    # the graph facts a consultation starts from, when they came from the cache (engine/cache.py)
    static_records: list[tuple[Any, ...]] | None = field(default=None, repr=False)
    advice_cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    # entries as written (LineDicts) that came with the cache: the rules, which compile from them
    raw_known: dict[str, Any] = field(default_factory=dict, repr=False)
    # what each --kb layer extends, replaces or disables in the layers below (engine/overlay.py)
    changes: list[Change] = field(default_factory=list)
    # files in the layers' folders that were not read, each with why and the fix (folders.py)
    skipped: list[tuple[str, str]] = field(default_factory=list, compare=False)

    @cached_property
    def raw(self) -> Mapping[str, Any]:
        """id -> the merged YAML mapping (a LineDict, which knows the line of every value), for
        error locations. A knowledge base read from the cache has its rules' mappings; for any
        other entry it parses its files again, once, the first time one is asked for."""
        return _RawEntries(self.raw_known, self.files)

    # -- typed views -------------------------------------------------------------------------
    @property
    def exercises(self) -> dict[str, Exercise]:
        return self.entries["exercise"]

    @property
    def muscles(self) -> dict[str, Muscle]:
        return self.entries["muscle"]

    @property
    def injuries(self) -> dict[str, Injury]:
        return self.entries["injury"]

    @property
    def symptoms(self) -> dict[str, Symptom]:
        return self.entries["symptom"]

    @property
    def red_flags(self) -> dict[str, RedFlag]:
        return self.entries["red-flag"]

    @property
    def conditions(self) -> dict[str, Condition]:
        return self.entries["condition"]

    @property
    def protocols(self) -> dict[str, Protocol]:
        return self.entries["protocol"]

    @property
    def phases(self) -> dict[str, Phase]:
        return self.entries["phase"]

    @property
    def goals(self) -> dict[str, Goal]:
        return self.entries["goal"]

    @property
    def qualities(self) -> dict[str, Quality]:
        return self.entries["quality"]

    @property
    def levels(self) -> dict[str, Level]:
        return self.entries["level"]

    @property
    def equipment(self) -> dict[str, Equipment]:
        return self.entries["equipment"]

    @property
    def sources(self) -> dict[str, Source]:
        return self.entries["source"]

    @property
    def claims(self) -> dict[str, Claim]:
        return self.entries["claim"]

    @property
    def tests(self) -> dict[str, FieldTest]:
        """The field tests `kbrun assess` reads (kb/tests.yaml)."""
        return self.entries.get("test", {})

    @property
    def fact_kinds(self) -> dict[str, FactKind]:
        return self.entries["fact"]

    @property
    def rule_specs(self) -> dict[str, RuleSpec]:
        return self.entries["rule"]

    @property
    def selection(self) -> Selection:
        """The session-assembly policy (the last one defined wins)."""
        policies: list[Selection] = list(self.entries["selection"].values())
        if not policies:
            return Selection(id="default", description="defaults",
                             sources=[{"id": "kbrun"}])  # type: ignore[list-item]
        return policies[-1]

    def _planning(self) -> Planning | None:
        policies: list[Planning] = list(self.entries.get("planning", {}).values())
        return policies[-1] if policies else None   # the last one defined wins

    @property
    def planning(self) -> Planning:
        """How `kbrun plan` lays out a season (kb/plan.yaml)."""
        policy = self._planning()
        if policy is None:
            raise KbError("no 'planning:' entry: `kbrun plan` needs one (kb/plan.yaml)",
                          suggestion="keep the built-in kb/plan.yaml, or write a 'planning:' "
                                     "entry in a --kb folder (docs/plan.md)")
        return policy

    @property
    def timing(self) -> Timing:
        """How long exercises take (kb/plan.yaml's `timing:`; the defaults without one)."""
        policy = self._planning()
        return policy.timing if policy else Timing()

    # -- lookups -----------------------------------------------------------------------------
    def kind_of(self, entry_id: str) -> str | None:
        """The kind of the entry with this id, or None."""
        for kind, table in self.entries.items():
            if entry_id in table:
                return kind
        return None

    def get(self, entry_id: str) -> Any:
        """The entry with this id, whatever its kind; raises UnknownId."""
        kind = self.kind_of(entry_id)
        if kind is None:
            raise UnknownId("id", entry_id, self.all_ids())
        return self.entries[kind][entry_id]

    def require(self, kind: str, entry_id: str, *, what: str | None = None) -> Any:
        """The entry of `kind` with this id; raises UnknownId naming the closest ids."""
        table = self.entries[kind]
        if entry_id not in table:
            resolved = self.resolve_alias(kind, entry_id)
            if resolved is not None:
                return table[resolved]
            raise UnknownId(what or kind, entry_id, table)
        return table[entry_id]

    def resolve_alias(self, kind: str, text: str) -> str | None:
        """The id whose name or alias is `text` (case and spacing ignored), or None."""
        return self._aliases.get(kind, {}).get(_norm(text))

    @cached_property
    def _aliases(self) -> dict[str, dict[str, str]]:
        table: dict[str, dict[str, str]] = {}
        for kind, entries in self.entries.items():
            names = table.setdefault(kind, {})
            for entry_id, entry in entries.items():
                for alias in [getattr(entry, "name", None), *getattr(entry, "aliases", [])]:
                    if alias:
                        names.setdefault(_norm(alias), entry_id)
        return table

    def all_ids(self) -> list[str]:
        return sorted(i for table in self.entries.values() for i in table)

    def ids(self, kind: str) -> list[str]:
        return list(self.entries[kind])

    @cached_property
    def graph(self) -> KbGraph:
        """The knowledge graph (built on first use)."""
        from kbrun.engine.graph import build_graph

        return build_graph(self)

    @cached_property
    def rules(self) -> CompiledRules:
        """The rules compiled to experta (compiled on first use)."""
        from kbrun.engine.rules import compile_rules

        return compile_rules(self)

    @cached_property
    def reasoner(self) -> Reasoner:
        """The resident reasoner: every rule in one engine, with the graph's facts (built on
        first use)."""
        from kbrun.engine.inference import Reasoner

        return Reasoner(self)

    @cached_property
    def settings(self) -> dict[str, list[str]]:
        """`home`/`gym` -> the equipment ids that setting implies."""
        result: dict[str, list[str]] = {"home": [], "gym": []}
        for item in self.equipment.values():
            for setting in item.settings:
                result[setting].append(item.id)
        return result


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").replace("_", " ").replace("’", "'").split())


class _RawEntries(Mapping[str, Any]):
    """The entries as written: those at hand, and the rest parsed from the files on demand."""

    def __init__(self, known: dict[str, Any], files: Sequence[tuple[str, list[tuple[str, str]]]]
                 ) -> None:
        self._known = known
        self._files = files
        self._parsed: dict[str, Any] | None = None

    def _all(self) -> dict[str, Any]:
        if self._parsed is None:
            from kbrun.engine.loader import collect

            merged = collect(self._files).merged
            self._parsed = {entry_id: item for table in merged.values()
                            for entry_id, item in table.items()}
        return self._parsed

    def __getitem__(self, entry_id: str) -> Any:
        if entry_id in self._known:
            return self._known[entry_id]
        return self._all()[entry_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
