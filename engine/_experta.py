"""The one place kbrun imports experta, with the shim that lets experta 1.9.4 run on Python 3.10+."""

from __future__ import annotations

import collections
import collections.abc
import logging

# experta 1.9.4 (its only release) pins frozendict==1.2, whose class statement reads
# `collections.Mapping`, an alias Python 3.10 removed (experta issue 34). Restoring that one
# alias before the import is the least surprising fix: `pip install kbrun` keeps the exact
# dependency experta declares, nothing is vendored or forked, and nothing else changes.
if not hasattr(collections, "Mapping"):
    collections.Mapping = collections.abc.Mapping  # type: ignore[attr-defined]

_root_handlers = list(logging.getLogger().handlers)
import experta  # noqa: E402  (must follow the shim)
from experta import AS, MATCH, NOT, TEST, Fact, KnowledgeEngine, P, Rule  # noqa: E402
from experta.strategies import DepthStrategy  # noqa: E402

# experta calls logging.basicConfig() at import time; a library must not configure the root
# logger of the program that imports it, so undo that.
for _handler in logging.getLogger().handlers:
    if _handler not in _root_handlers:
        logging.getLogger().removeHandler(_handler)


def _index_bus_by_fact_type() -> None:
    """Let experta's Rete bus hand each fact only to the alpha branches of its own type.

    experta 1.9.4 sends every new fact to every first-level alpha node, nearly all of which
    are type checks that then fail; with a few dozen fact kinds that is most of the cost of a
    declaration. Dispatching by type sends the fact to exactly the nodes whose type check
    would pass (and to any node that is not a type check), so every match is unchanged. experta
    has had one release, so these internals are stable; tests/engine/test_experta_shim.py
    checks the indexed bus against the original on a real consultation.
    """
    from experta.matchers.rete.check import TypeCheck
    from experta.matchers.rete.nodes import BusNode
    from experta.matchers.rete.token import Token

    def children_for(bus: BusNode, fact_type: type) -> list:
        index = bus.__dict__.get("_kbrun_index")
        if index is None or index[0] != len(bus.children):
            index = (len(bus.children), {})
            bus.__dict__["_kbrun_index"] = index
        found = index[1].get(fact_type)
        if found is None:
            found = [child for child in bus.children
                     if not isinstance(getattr(child.node, "matcher", None), TypeCheck)
                     or child.node.matcher.fact_type is fact_type]
            index[1][fact_type] = found
        return found

    def add(self: BusNode, fact: object) -> None:
        token = Token.valid(fact)
        for child in children_for(self, type(fact)):
            child.callback(token)

    def remove(self: BusNode, fact: object) -> None:
        token = Token.invalid(fact)
        for child in children_for(self, type(fact)):
            child.callback(token)

    BusNode._kbrun_original = (BusNode.add, BusNode.remove)
    BusNode.add, BusNode.remove = add, remove


def _skip_idle_conflict_sets() -> None:
    """Poll only the rules whose conflict set changed since the last poll.

    experta asks every rule's conflict-set node for new activations after every single
    declaration and firing, allocating two empty sets per rule each time; a node with nothing
    added or removed answers ([], []) anyway, so skipping it changes nothing.
    """
    from experta.matchers.rete import ReteMatcher

    def changes(self: ReteMatcher, adding: object = None, deleting: object = None) -> tuple:
        if deleting is not None:
            for deleted in deleting:
                self.root_node.remove(deleted)
        if adding is not None:
            for added_fact in adding:
                self.root_node.add(added_fact)
        added: list = []
        removed: list = []
        for csn in self._get_conflict_set_nodes():
            if csn.added or csn.removed:
                c_added, c_removed = csn.get_activations()
                added.extend(c_added)
                removed.extend(c_removed)
        return (added, removed)

    ReteMatcher._kbrun_original = ReteMatcher.changes
    ReteMatcher.changes = changes


def _unchecked_tokens() -> None:
    """Build Rete tokens without re-checking their arguments' types on every construction.

    experta's Token.__new__ asserts that its data are Facts each time a token is made (tens of
    thousands of times a consultation); the engine only ever builds tokens from facts, so the
    fast path below builds the same tuple without the checks.
    """
    from experta.fact import Fact as _Fact
    from experta.matchers.rete.token import Token

    def new(cls: type, tag: object, data: object, context: object = None) -> Token:
        data = {data} if isinstance(data, _Fact) else set(data)
        return tuple.__new__(cls, (tag, data, {} if context is None else context))

    Token._kbrun_original = Token.__new__
    Token.__new__ = new


_index_bus_by_fact_type()
_skip_idle_conflict_sets()
_unchecked_tokens()

__all__ = ["AS", "MATCH", "NOT", "TEST", "DepthStrategy", "Fact", "KnowledgeEngine", "P", "Rule",
           "experta"]
