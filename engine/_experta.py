"""The one place kbrun imports experta: the shim that lets experta 1.9.4 run on Python 3.10+, and
kbrun's own Rete matcher, which only kbrun's engines use.

experta lets an engine class choose its matcher (`__matcher__`). `KbrunEngine` chooses
`KbrunMatcher`: the network experta's `ReteMatcher` builds, run by kbrun's node classes, which
give the same activations in the same order but do less work -

- the bus hands a fact only to the alpha branches of its own type;
- `changes()` collects activations only from the conflict sets that changed;
- tokens are passed along as plain values, without experta's per-token copies and type checks,
  and a held token keeps the context experta would read back from it, made once;
- a chain of alpha tests with no branch runs as one node;
- an activation is made without experta's copies and hashed once, its rule's hash reused;
- a join whose test is equality on shared variables keeps each input's memory grouped by the
  values of those variables, so a token meets only the entries it can match (a hashed join);
- `DeterministicDepthStrategy`, the agenda order of kbrun's engines, keeps experta's sorted
  agenda list and its bisections but compares the keys directly;
- `snapshot_engine` and `restore_engine` save and bring back the whole working state (every
  node memory, the fact list, the agenda) so that facts declared once can be reused by many runs;
- a `JoinBudget` bounds the partial matches the joins make (one count per new joined token; the
  caller sets it for each run), and a network deeper than MAX_NETWORK_DEPTH is refused, so that
  conditions that multiply or a rule of a thousand conditions end in an error, not in memory
  gone or a RecursionError.

Nothing here patches experta: a plain `KnowledgeEngine` imported beside kbrun is plain experta.
The matcher relies on experta's internals, which are those of experta 1.9.4 (its only release);
with any other version `SNAPSHOTS` is False and `KbrunEngine` runs on experta's own `ReteMatcher`
(slower, same answers), and snapshots are unavailable.
"""

from __future__ import annotations

import bisect
import collections
import collections.abc
import logging
import sys
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, TypeAlias

# experta 1.9.4 (its only release) pins frozendict==1.2, whose class statement reads
# `collections.Mapping`, an alias Python 3.10 removed (experta issue 34). Restoring that one
# alias before the import is the least surprising fix: `pip install kbrun` keeps the exact
# dependency experta declares, nothing is vendored or forked, and nothing else changes.
if not hasattr(collections, "Mapping"):
    collections.Mapping = collections.abc.Mapping  # type: ignore[attr-defined]

_root_handlers = list(logging.getLogger().handlers)
import experta  # noqa: E402  (must follow the shim)
from experta import AS, MATCH, NOT, TEST, Fact, KnowledgeEngine, P, Rule, watchers  # noqa: E402
from experta.matchers import ReteMatcher  # noqa: E402
from experta.strategies import DepthStrategy  # noqa: E402

# experta calls logging.basicConfig() at import time; a library must not configure the root
# logger of the program that imports it, so undo that.
for _handler in logging.getLogger().handlers:
    if _handler not in _root_handlers:
        logging.getLogger().removeHandler(_handler)

#: The experta release whose internals KbrunMatcher was written against and tested with.
SUPPORTED_EXPERTA = "1.9.4"

#: True when kbrun's engines run on KbrunMatcher, so `snapshot_engine` works. With another
#: experta version it is False: KbrunEngine falls back to experta's ReteMatcher (the same
#: answers, more slowly) and `snapshot_engine` raises SnapshotsUnavailable; callers check this
#: flag and declare every fact for each run instead.
SNAPSHOTS: bool = experta.__version__ == SUPPORTED_EXPERTA

if SNAPSHOTS:
    # experta internals, imported only for the version they are known to have.
    from experta.activation import Activation
    from experta.agenda import Agenda
    from experta.factlist import FactList
    from experta.fieldconstraint import ANDFC, NOTFC, ORFC, L
    from experta.matchers.rete.check import FactCapture, FeatureCheck, TypeCheck
    from experta.matchers.rete.nodes import (
        ConflictSetNode,
        FeatureTesterNode,
        NotNode,
        OrdinaryMatchNode,
        WhereNode,
    )


# -- tokens ---------------------------------------------------------------------------------------
#
# experta's Token is (tag, data, context): whether it adds or removes a match, the set of facts
# matched so far and the variables bound so far. kbrun's nodes pass the three as arguments and
# never modify a context they were given (a node that binds more variables makes a new dict), so
# no node has to copy a token it receives, and one context may reach many nodes.
#
# A node that holds a token identifies it as experta's TokenInfo does, by its facts and the
# frozenset of its context's items: `(data, items)`, a plain tuple, equal and hashed as the
# TokenInfo would be. A memory keeps beside it the context as experta reads it back,
# `dict(items)`, made once when the token is stored instead of each time another token meets it:
# the frozenset's order is the order experta sees the variables in, which decides the order of the
# variables in a joined context (and so the order a rule receives them in).

Context = dict[Any, Any]     # str keys are bound variables; (False, name) keys are negated ones
Data = frozenset[Any]        # the facts a token has matched
Items = frozenset[tuple[Any, Any]]  # a context's items, as experta's TokenInfo freezes them
Ident = tuple[Data, Items]   # a held token's identity (experta's TokenInfo)
Held = tuple[Data, Items, Context]  # a token in a list memory: its identity and context
Callback = Callable[[bool, Data, Context], None]

_LOOSE = object()            # the group of a token that lacks one of its join's variables


# -- the budget of partial matches ----------------------------------------------------------------

class JoinBudget:
    """How many more partial matches the joins of one matcher may make (`left`) before
    JoinLimitReached, out of `limit`. A join multiplies tokens: conditions that share no
    variable pair every fact of one kind with every fact of another, so four such conditions
    over 70 facts make 70**4 matches, which is memory gone, not an answer. Each new joined
    token costs one; withdrawn ones give nothing back (the budget bounds work as well as
    memory). Unlimited until `start` is called."""

    __slots__ = ("left", "limit")

    def __init__(self) -> None:
        self.limit = self.left = sys.maxsize

    def start(self, limit: int) -> None:
        """Allow `limit` new partial matches from now on."""
        self.limit = self.left = limit

    @property
    def used(self) -> int:
        return self.limit - self.left


#: The most joins, negations and tests one path of the Rete network may pass through. A token
#: goes down a path in nested calls (about two per join), so a rule of a thousand conditions
#: would exceed Python's recursion limit of 1,000 frames mid-consultation; 100 leaves that limit
#: room for the caller's frames, and a built-in rule needs at most about ten.
MAX_NETWORK_DEPTH = 100


class NetworkTooDeep(RuntimeError):
    """A rule whose conditions make a path through more than MAX_NETWORK_DEPTH joins,
    negations and tests. `rules` are the experta rules at the end of that path."""

    def __init__(self, rules: list[Any]) -> None:
        super().__init__(f"a rule of more than {MAX_NETWORK_DEPTH} conditions")
        self.rules = rules


class JoinLimitReached(RuntimeError):
    """The joins made more partial matches than the matcher's JoinBudget allows. `rules` are
    the experta rules fed by the join that went over (their names are their functions')."""

    def __init__(self, limit: int, rules: list[Any]) -> None:
        super().__init__(f"more than {limit:,} partial matches")
        self.limit = limit
        self.rules = rules


def rules_below(node: Any) -> list[Any]:
    """The experta rules whose conflict sets an experta network node feeds, in network order
    (walked without recursion: a rule's conditions set the depth)."""
    found: list[Any] = []
    seen: set[int] = set()
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        rule = getattr(current, "rule", None)
        if rule is not None and not getattr(current, "children", None):
            found.append(rule)
        stack.extend(reversed([child.node for child in getattr(current, "children", ())]))
    return found


# -- memories -------------------------------------------------------------------------------------

class _Memory:
    """The tokens held at one input of a two-input node, in arrival order (experta's order, which
    decides the order of the joined tokens), and, for a hashed join, the same tokens grouped by
    the values of the join's shared variables (each group in arrival order too). A token is held
    as `(data, items, context)` (see Held).

    After a snapshot or a restore the containers are shared with the snapshot (`shared`); the
    first change copies them, so a restore costs nothing for the memories a run never touches.
    """

    __slots__ = ("tokens", "groups", "key_of", "shared")

    def __init__(self, key_of: Callable[[Context], Hashable] | None) -> None:
        self.key_of = key_of
        self.tokens: Any = self._empty()
        self.groups: dict[Hashable, list[Any]] = {}
        self.shared = False

    def reset(self) -> None:
        self.tokens, self.groups, self.shared = self._empty(), {}, False

    @staticmethod
    def _empty() -> Any:
        return []

    def own(self) -> None:
        """Copy the containers a snapshot shares, before the first change."""
        self.tokens = self._copy(self.tokens)
        self.groups = {key: list(group) for key, group in self.groups.items()}
        self.shared = False

    @staticmethod
    def _copy(tokens: Any) -> Any:
        return list(tokens)

    def state(self) -> tuple[Any, ...]:
        """The containers, now shared with a snapshot."""
        self.shared = True
        return (self.tokens, self.groups)

    def adopt(self, state: tuple[Any, ...]) -> None:
        self.tokens, self.groups = state
        self.shared = True

    def key(self, context: Context) -> Hashable:
        """The group of a token arriving here (None for a node that scans)."""
        return None if self.key_of is None else self.key_of(context)

    def candidates(self, key: Hashable) -> Iterable[Any]:
        """The held tokens a token of group `key` (from the other input) can match, in arrival
        order: its group, or every token when either side has a token outside all groups."""
        if self.key_of is None or key is _LOOSE or _LOOSE in self.groups:
            return self.tokens  # type: ignore[no-any-return]  # a list, or a dict (counts)
        return self.groups.get(key, ())

    def _group_add(self, token: Any, key: Hashable) -> None:
        if self.key_of is not None:
            group = self.groups.get(key)
            if group is None:
                self.groups[key] = [token]
            else:
                group.append(token)

    def _group_remove(self, token: Any, key: Hashable) -> None:
        if self.key_of is not None:
            group = self.groups[key]
            group.remove(token)
            if not group:
                del self.groups[key]

    def append(self, token: Held, key: Hashable) -> None:
        if self.shared:
            self.own()
        self.tokens.append(token)
        self._group_add(token, key)

    def remove(self, token: Held, key: Hashable, *, missing_ok: bool) -> None:
        """Remove the first token equal to `token` (experta's list.remove of a TokenInfo: equal
        data and items make equal contexts, so the context's place in the tuple decides
        nothing); a missing one raises ValueError unless `missing_ok`, as in the experta node
        this memory belongs to."""
        if self.shared:
            self.own()
        try:
            self.tokens.remove(token)
        except ValueError:
            if missing_ok:
                return
            raise
        self._group_remove(token, key)


class _CountMemory(_Memory):
    """The left memory of a NOT node: each token's identity with the number of right tokens
    matching it and its context (a dict, as in experta, so a token held twice is held once; its
    groups hold identities)."""

    __slots__ = ()

    @staticmethod
    def _empty() -> Any:
        return {}

    @staticmethod
    def _copy(tokens: Any) -> Any:
        return dict(tokens)

    def put(self, ident: Ident, key: Hashable, count: int) -> None:
        if self.shared:
            self.own()
        held = self.tokens.get(ident)
        if held is None:
            self._group_add(ident, key)
            self.tokens[ident] = (count, dict(ident[1]))
        else:  # the dict keeps the identity first stored, and so its context
            self.tokens[ident] = (count, held[1])

    def delete(self, ident: Ident, key: Hashable) -> None:
        """Forget a token; a missing one raises KeyError, as experta's `del` does."""
        if self.shared:
            self.own()
        del self.tokens[ident]
        self._group_remove(ident, key)


# -- nodes ----------------------------------------------------------------------------------------

class _Alpha:
    """experta's FeatureTesterNode: one test of a single fact, binding variables.

    A node whose only child is another alpha node runs that node's tests itself, in order, and
    hands the token straight to that node's children (`fuse`): the same tests on the same
    contexts, without a call and a context dict per node of the chain."""

    __slots__ = ("tests", "children")

    def __init__(self, check: Any) -> None:
        self.tests: tuple[Callable[[Any], Any], ...] = (_fact_test(check),)
        self.children: list[Callback] = []

    def fuse(self) -> None:
        """Take over the tests and the children of an only child that is an alpha node (whose
        own children are already final: fuse the nodes bottom-up)."""
        if len(self.children) == 1:
            child = getattr(self.children[0], "__self__", None)
            if type(child) is _Alpha and self.children[0].__name__ == "activate":
                self.tests = self.tests + child.tests
                self.children = child.children

    def activate(self, valid: bool, data: Data, context: Context) -> None:
        fact, = data  # an alpha token holds one fact (experta raises ValueError too)
        copied = False  # whether `context` is this call's own dict yet
        for test in self.tests:
            match = test(fact)
            if not match:
                return
            if match is not True and (type(match) is dict or isinstance(match, Mapping)):
                for key, value in match.items():
                    if isinstance(key, tuple):  # a negated binding
                        if key[1] in context and context[key[1]] == value:
                            return
                    else:
                        if context.get(key, value) != value:
                            return
                        if (False, key) in context and context[(False, key)] == value:
                            return
                if copied:
                    context.update(match)
                else:
                    context = {**context, **match}
                    copied = True
        for child in self.children:
            child(valid, data, context)


def _fact_test(check: Any) -> Callable[[Any], Any]:
    """experta's alpha test as a function of the fact, without the logging and the parsing of
    the field name that FeatureCheck repeats on every call. Only the common cases are compiled
    (a plain field, a fact capture); any other test is experta's own object."""
    if isinstance(check, FactCapture):
        bind = check.bind
        return lambda fact: {bind: fact}
    if isinstance(check, FeatureCheck):
        field, test, expected = check.what, check.check, check.expected
        if isinstance(field, str) and ("__" in field or field.isnumeric()):
            return check  # type: ignore[no-any-return]  # a nested or special field: experta's walk
        if type(check.how) is L and check.how.__bind__ is None:
            literal = check.how.value   # experta's equal_literal, inlined

            def equals(fact: Any) -> Any:
                try:
                    value = fact[field]
                except (IndexError, KeyError, TypeError):
                    return False
                return bool(literal == value)  # experta returns True or False
            return equals

        def feature(fact: Any) -> Any:
            try:
                value = fact[field]
            except (IndexError, KeyError, TypeError):
                return False
            return test(value, expected)
        return feature
    return check  # type: ignore[no-any-return]  # experta's own test object, untyped


class _Where:
    """experta's WhereNode: a TEST on the variables bound so far."""

    __slots__ = ("check", "children")

    def __init__(self, check: Any) -> None:
        self.check = check
        self.children: list[Callback] = []

    def activate(self, valid: bool, data: Data, context: Context) -> None:
        if self.check(context):
            for child in self.children:
                child(valid, data, context)


class _Join:
    """experta's OrdinaryMatchNode, hashed: a token meets only the held tokens of the other
    input whose shared variables have its values (all of them when the node scans), and each
    of those is still checked with experta's own test, so the matches are exactly experta's.

    `left_plain` and `right_plain` say that an input's tokens never carry negated bindings
    (decided from the network), so a joined context is a plain copy and update."""

    __slots__ = ("check", "children", "left", "right", "left_plain", "right_plain", "budget",
                 "origin")

    def __init__(self, check: Any, key_of: Callable[[Context], Hashable] | None,
                 left_plain: bool = False, right_plain: bool = False,
                 budget: JoinBudget | None = None, origin: Any = None) -> None:
        self.check = check
        self.children: list[Callback] = []
        self.left = _Memory(key_of)
        self.right = _Memory(key_of)
        self.left_plain = left_plain
        self.right_plain = right_plain
        self.budget = JoinBudget() if budget is None else budget
        self.origin = origin          # the experta node, to name its rules in an error

    def activate_left(self, valid: bool, data: Data, context: Context) -> None:
        left = self.left
        key = None if left.key_of is None else left.key_of(context)
        items = frozenset(context.items())
        if valid:
            left.append((data, items, dict(items)), key)
        else:
            left.remove((data, items, context), key, missing_ok=True)
        check = self.check
        for other_data, _, other_context in self.right.candidates(key):
            if check(context, other_context):
                self._emit(valid, data | other_data, context, self.left_plain,
                           other_context, self.right_plain)

    def activate_right(self, valid: bool, data: Data, context: Context) -> None:
        right = self.right
        key = None if right.key_of is None else right.key_of(context)
        items = frozenset(context.items())
        if valid:
            right.append((data, items, dict(items)), key)
        else:
            right.remove((data, items, context), key, missing_ok=True)
        check = self.check
        for other_data, _, other_context in self.left.candidates(key):
            if check(other_context, context):
                self._emit(valid, data | other_data, context, self.right_plain,
                           other_context, self.left_plain)

    def _emit(self, valid: bool, data: Data, context: Context, plain: bool,
              other_context: Context, other_plain: bool) -> None:
        if valid:  # a new partial match: counted against the budget (see JoinBudget)
            budget = self.budget
            budget.left -= 1
            if budget.left < 0:
                raise JoinLimitReached(budget.limit, rules_below(self.origin))
        # the arriving token's variables first, then the held token's (negations dropped)
        if plain:
            joined = dict(context)
        else:
            joined = {k: v for k, v in context.items() if isinstance(k, str)}
        if other_plain:
            joined.update(other_context)
        else:
            for k, v in other_context.items():
                if not isinstance(k, tuple):
                    joined[k] = v
        for child in self.children:
            child(valid, data, joined)


class _Not:
    """experta's NotNode, hashed like _Join: passes a left token on while no right token
    matches it, and withdraws it when one starts to. Each token it compares one arriving with
    costs one of the JoinBudget, as a join's new match does: a negation whose facts share no
    variable with the tokens before it compares every pair (a built-in consultation makes a few
    hundred such comparisons; a coach's rule over pairs of exercises made millions)."""

    __slots__ = ("budget", "check", "children", "left", "origin", "right")

    def __init__(self, check: Any, key_of: Callable[[Context], Hashable] | None,
                 budget: JoinBudget | None = None, origin: Any = None) -> None:
        self.check = check
        self.children: list[Callback] = []
        self.left = _CountMemory(key_of)
        self.right = _Memory(key_of)
        self.budget = JoinBudget() if budget is None else budget
        self.origin = origin

    def _spend(self, compared: int) -> None:
        budget = self.budget
        budget.left -= compared
        if budget.left < 0:
            raise JoinLimitReached(budget.limit, rules_below(self.origin))

    def activate_left(self, valid: bool, data: Data, context: Context) -> None:
        left = self.left
        key = None if left.key_of is None else left.key_of(context)
        ident = (data, frozenset(context.items()))
        check = self.check
        if not self.right.tokens:
            if valid:
                left.put(ident, key, 0)
            else:
                left.delete(ident, key)
            passes = True
        elif valid:
            count = compared = 0
            for _, _, other_context in self.right.candidates(key):
                compared += 1
                if check(context, other_context):
                    count += 1
            self._spend(compared)
            passes = count == 0
            if passes:
                for child in self.children:
                    child(valid, data, context)
            left.put(ident, key, count)
            return
        else:
            passes = not any(check(context, other_context)
                             for _, _, other_context in self.right.candidates(key))
            if passes:
                for child in self.children:
                    child(valid, data, context)
            left.delete(ident, key)
            return
        for child in self.children:
            child(valid, data, context)

    def activate_right(self, valid: bool, data: Data, context: Context) -> None:
        right = self.right
        key = None if right.key_of is None else right.key_of(context)
        items = frozenset(context.items())
        if valid:
            right.append((data, items, dict(items)), key)
            step = 1
        else:
            right.remove((data, items, context), key, missing_ok=False)
            step = -1
        left = self.left
        if left.shared:
            left.own()
        counts = left.tokens
        check = self.check
        candidates = list(left.candidates(key))
        self._spend(len(candidates))
        for ident in candidates:
            count, other_context = counts[ident]
            if check(other_context, context):
                count += step
                counts[ident] = (count, other_context)
                if step == -1 and count == 0:
                    for child in self.children:
                        child(True, ident[0], other_context)
                elif step == 1 and count == 1:
                    for child in self.children:
                        child(False, ident[0], other_context)


if SNAPSHOTS:
    class _Activation(Activation):  # type: ignore[misc]  # experta is untyped (Any)
        """experta's Activation, made without its constructor's copies and with its hash computed
        once: experta hashes an activation each time it is looked up in a conflict set or the
        agenda's bookkeeping, rebuilding two frozensets and hashing the rule's conditions every
        time. Its facts, context and rule never change after it is made (only its sort key is
        set later, which the hash ignores), so the hash given here is the one experta would
        compute (see _ConflictSet._activation)."""

        def __init__(self, rule: Any, facts: set[Any], context: Context, cached_hash: int
                     ) -> None:
            # what Activation.__init__ sets, from values already copied
            self.rule = rule
            self.facts = facts
            self.key = None
            self.context = context
            self.cached_hash = cached_hash

        def __hash__(self) -> int:
            return self.cached_hash


class _HashOf:
    """Stands for a rule inside the tuple an activation's hash is taken of: hashes as the rule
    did when it was last hashed. experta's Rule hashes its conditions, its function and the
    engine it was last read from (`Rule.__get__` keeps that one), so the value is recomputed
    whenever the rule has been read from another engine since."""

    __slots__ = ("rule", "owner", "value")

    def __init__(self, rule: Any) -> None:
        self.rule = rule
        self.owner: Any = self      # nothing yet: no rule's engine is this object
        self.value = 0

    def of(self) -> _HashOf:
        owner = self.rule._wrapped_self
        if owner is not self.owner:
            self.value = hash(self.rule)
            self.owner = owner
        return self

    def __hash__(self) -> int:
        return self.value


class _ConflictSet:
    """experta's ConflictSetNode: the activations of one rule added and removed since the
    matcher last collected them. It tells the matcher when it has any, so that `changes()`
    visits only these. `plain` says its tokens never carry negated bindings."""

    __slots__ = ("rule", "order", "pending", "memory", "added", "removed", "shared", "plain",
                 "rule_hash")

    def __init__(self, rule: Any, order: int, pending: set[_ConflictSet],
                 plain: bool = False) -> None:
        self.rule = rule
        self.order = order            # experta's position of this node, for its result order
        self.pending = pending        # the matcher's set of conflict sets with news
        self.memory: set[Ident] = set()
        self.added: set[Any] = set()
        self.removed: set[Any] = set()
        self.shared = False
        self.plain = plain
        self.rule_hash = _HashOf(rule)

    def reset(self) -> None:
        # experta's reset clears the memory only, not activations not yet collected
        self.memory, self.shared = set(), False

    def state(self) -> tuple[Any, ...]:
        self.shared = True
        return (self.memory, frozenset(self.added), frozenset(self.removed))

    def adopt(self, state: tuple[Any, ...]) -> None:
        self.memory = state[0]
        self.added, self.removed = set(state[1]), set(state[2])
        self.shared = True

    def _activation(self, data: Data, items: Items) -> Any:
        # experta's Activation(rule, info.data, {k: v for k, v in info.context if str k}); its
        # hash is hash((rule, frozenset(facts), frozenset(context.items()))), where the facts'
        # frozenset equals `data` and, without negated bindings, the context's equals `items`
        if self.plain:
            context = dict(items)
        else:
            context = {k: v for k, v in items if isinstance(k, str)}
            items = frozenset(context.items())
        return _Activation(self.rule, set(data), context,
                           hash((self.rule_hash.of(), data, items)))

    def activate(self, valid: bool, data: Data, context: Context) -> None:
        items = frozenset(context.items())
        info = (data, items)
        if self.shared:
            self.memory, self.shared = set(self.memory), False
        if valid:
            if info in self.memory:
                return
            self.memory.add(info)
            activation = self._activation(data, items)
            if self.removed and activation in self.removed:
                self.removed.remove(activation)
            else:
                self.added.add(activation)
        else:
            # experta catches ValueError here, but a set raises KeyError: a withdrawn match that
            # was never made is an error in experta, and so it is here
            self.memory.remove(info)
            activation = self._activation(data, items)
            if self.added and activation in self.added:
                self.added.remove(activation)
            else:
                self.removed.add(activation)
        self.pending.add(self)

    def collect(self) -> tuple[set[Any], set[Any]]:
        added, removed = self.added, self.removed
        self.added, self.removed = set(), set()
        return added, removed


class _Bus:
    """experta's BusNode, dispatching by fact type: the first test under the bus is the type
    check of a pattern, so a fact is handed straight to the nodes below the check its type
    passes (and to any node under the bus that is not a type check), in experta's order."""

    def __init__(self, branches: list[tuple[type | None, _Alpha | None, Callback]]) -> None:
        self.branches = branches      # (type checked, its node, the node's input) in order
        self.routes: dict[type, list[Callback]] = {}

    def add(self, fact: Any) -> None:
        self._send(True, fact)

    def remove(self, fact: Any) -> None:
        self._send(False, fact)

    def _send(self, valid: bool, fact: Any) -> None:
        route = self.routes.get(type(fact))
        if route is None:
            route = self.routes[type(fact)] = self._route(type(fact))
        data: Data = frozenset((fact,))
        context: Context = {}
        for callback in route:
            callback(valid, data, context)

    def _route(self, fact_type: type) -> list[Callback]:
        route: list[Callback] = []
        for checked, node, callback in self.branches:
            if node is None:
                route.append(callback)
            elif checked == fact_type:  # TypeCheck's own test, decided once per type
                route.extend(node.children)
        return route


_Stateful: TypeAlias = _Memory | _ConflictSet


# -- building the network -------------------------------------------------------------------------

def _constraint_binds(constraint: Any) -> tuple[frozenset[str], bool]:
    """The variables a field constraint binds, and whether it can bind a negated one."""
    if isinstance(constraint, NOTFC):
        return frozenset(), True
    if isinstance(constraint, (ANDFC, ORFC)):
        names: frozenset[str] = frozenset()
        negated = False
        for part in constraint:
            part_names, part_negated = _constraint_binds(part)
            names, negated = names | part_names, negated or part_negated
        return names, negated
    bind = getattr(constraint, "__bind__", None)
    return (frozenset([bind]) if isinstance(bind, str) else frozenset()), False


def _check_binds(check: Any) -> tuple[frozenset[str], bool]:
    """The variables an alpha test binds, and whether it can bind a negated one."""
    if isinstance(check, FactCapture):
        return frozenset([check.bind]), False
    if isinstance(check, FeatureCheck):
        return _constraint_binds(check.how)
    return frozenset(), False


def _key_function(names: tuple[str, ...]) -> Callable[[Context], Hashable]:
    get = itemgetter(*names)

    def key_of(context: Context) -> Hashable:
        try:
            return get(context)  # type: ignore[no-any-return]  # itemgetter's result is Any
        except KeyError:
            return _LOOSE
    return key_of


class _Translation:
    """kbrun nodes for a network experta built: the same nodes, wired in the same order."""

    def __init__(self, root: Any, pending: set[_ConflictSet], budget: JoinBudget) -> None:
        self.budget = budget
        self.parents: dict[int, list[tuple[Any, str]]] = {}
        self.order: list[Any] = []   # experta's depth-first, first-visit order
        self._visit(root)
        self.signatures: dict[int, tuple[frozenset[str], bool]] = {id(root): (frozenset(), False)}
        self.negates: dict[int, bool] = {id(root): False}
        self._check_depth()
        self.nodes: dict[int, Any] = {}
        self.conflict_sets: list[_ConflictSet] = []
        self.memories: list[_Stateful] = []
        for node in self.order:
            self.nodes[id(node)] = self._node(node, pending)
        for node in self.order:
            if node.children:  # a conflict set has none
                self.nodes[id(node)].children = [self._callback(child) for child in node.children]
        # bottom-up (a node's children come after it in `order`); not the type checks under the
        # bus, whose children the bus calls itself
        under_bus = {id(child.node) for child in root.children}
        for node in reversed(self.order):
            alpha = self.nodes[id(node)]
            if isinstance(alpha, _Alpha) and id(node) not in under_bus:
                alpha.fuse()
        self.bus = _Bus([self._branch(child) for child in root.children])

    def _visit(self, root: Any) -> None:
        """Record every node's parents and experta's depth-first, first-visit order (with a
        stack of its own: a rule's conditions set the depth)."""
        seen: set[int] = set()
        stack = [(root, iter(root.children))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                continue
            self.parents.setdefault(id(child.node), []).append((node, child.callback.__name__))
            if id(child.node) not in seen:
                seen.add(id(child.node))
                self.order.append(child.node)
                stack.append((child.node, iter(child.node.children)))

    def _check_depth(self) -> None:
        """Raise NetworkTooDeep for a path through more than MAX_NETWORK_DEPTH joins,
        negations and tests (a token passes them in nested calls), and fill the caches of
        `signature` and `may_negate` parents first, so that neither recurses deeply."""
        depth: dict[int, int] = {}
        for node in self._parents_first():
            parents = self.parents.get(id(node), ())
            level = max((depth.get(id(parent), 0) for parent, _via in parents), default=0)
            if isinstance(node, (OrdinaryMatchNode, NotNode, WhereNode)):
                level += 1
                if level > MAX_NETWORK_DEPTH:
                    raise NetworkTooDeep(rules_below(node))
            depth[id(node)] = level
            if parents:
                self.signature(node)
                self.may_negate(node)

    def _parents_first(self) -> list[Any]:
        """The nodes of `order`, each after all of its parents (Kahn's algorithm)."""
        waiting = {id(node): sum(1 for parent, _via in self.parents.get(id(node), ())
                                 if id(parent) in self.parents)  # not the bus, the root
                   for node in self.order}
        children: dict[int, list[Any]] = {}
        for node in self.order:
            for parent, _via in self.parents.get(id(node), ()):
                children.setdefault(id(parent), []).append(node)
        ready = [node for node in self.order if not waiting[id(node)]]
        result: list[Any] = []
        while ready:
            node = ready.pop()
            result.append(node)
            for child in children.get(id(node), ()):
                waiting[id(child)] -= 1
                if not waiting[id(child)]:
                    ready.append(child)
        return result

    def _branch(self, child: Any) -> tuple[type | None, _Alpha | None, Callback]:
        """A node under the bus: its type check, if it is one, and its input."""
        check = getattr(child.node, "matcher", None)
        if isinstance(check, TypeCheck) and isinstance(child.node, FeatureTesterNode):
            return (check.fact_type, self.nodes[id(child.node)], self._callback(child))
        return (None, None, self._callback(child))

    def _callback(self, child: Any) -> Callback:
        port = child.callback.__name__
        if port not in ("activate", "activate_left", "activate_right"):
            raise TypeError(f"unknown experta node input {port!r}")
        return getattr(self.nodes[id(child.node)], port)  # type: ignore[no-any-return]  # a method

    def _parent(self, node: Any, port: str) -> Any:
        return next(parent for parent, via in self.parents[id(node)] if via == port)

    def signature(self, node: Any) -> tuple[frozenset[str], bool]:
        """The variables every token leaving `node` binds, and whether it may carry negated
        bindings (which experta's join test refuses on its left input)."""
        found = self.signatures.get(id(node))
        if found is None:
            if isinstance(node, FeatureTesterNode):
                names, negated = self.signature(self._parent(node, "activate"))
                binds, negates = _check_binds(node.matcher)
                found = (names | binds, negated or negates)
            elif isinstance(node, OrdinaryMatchNode):
                left = self.signature(self._parent(node, "activate_left"))[0]
                found = (left | self.signature(self._parent(node, "activate_right"))[0], False)
            elif isinstance(node, NotNode):
                found = self.signature(self._parent(node, "activate_left"))
            else:
                found = self.signature(self._parent(node, "activate"))
            self.signatures[id(node)] = found
        return found

    def may_negate(self, node: Any) -> bool:
        """Whether a token leaving `node` may carry negated bindings, by any path into it."""
        found = self.negates.get(id(node))
        if found is None:
            if isinstance(node, OrdinaryMatchNode):
                found = False  # a join drops negated bindings
            elif isinstance(node, NotNode):
                found = self.port_negates(node, "activate_left")
            else:
                found = self.port_negates(node, "activate")
                if isinstance(node, FeatureTesterNode):
                    found = found or _check_binds(node.matcher)[1]
            self.negates[id(node)] = found
        return found

    def port_negates(self, node: Any, port: str) -> bool:
        """Whether a token arriving at `node`'s input `port` may carry negated bindings."""
        return any(self.may_negate(parent) for parent, via in self.parents.get(id(node), ())
                   if via == port)

    def _join_key(self, node: Any) -> Callable[[Context], Hashable] | None:
        """How a two-input node groups its memories: by the variables both inputs bind, unless
        none are shared (every pair must be tested) or the left input may carry negated
        bindings (experta's test raises on those, so the node scans as experta does)."""
        left_names, left_negated = self.signature(self._parent(node, "activate_left"))
        right_names = self.signature(self._parent(node, "activate_right"))[0]
        shared = tuple(sorted(left_names & right_names))
        if left_negated or not shared:
            return None
        return _key_function(shared)

    def _node(self, node: Any, pending: set[_ConflictSet]) -> Any:
        if isinstance(node, FeatureTesterNode):
            return _Alpha(node.matcher)
        if isinstance(node, WhereNode):
            return _Where(node.matcher)
        if isinstance(node, (OrdinaryMatchNode, NotNode)):
            two_input: _Join | _Not
            if isinstance(node, OrdinaryMatchNode):
                two_input = _Join(node.matcher, self._join_key(node),
                                  not self.port_negates(node, "activate_left"),
                                  not self.port_negates(node, "activate_right"),
                                  self.budget, node)
            else:
                two_input = _Not(node.matcher, self._join_key(node), self.budget, node)
            self.memories += [two_input.left, two_input.right]
            return two_input
        if isinstance(node, ConflictSetNode):
            conflict_set = _ConflictSet(node.rule, len(self.conflict_sets), pending,
                                        not self.port_negates(node, "activate"))
            self.conflict_sets.append(conflict_set)
            self.memories.append(conflict_set)
            return conflict_set
        raise TypeError(f"unknown experta node {type(node).__name__}")


# -- the matcher and the engine -------------------------------------------------------------------

class KbrunMatcher(ReteMatcher):  # type: ignore[misc]  # experta is untyped (Any)
    """experta's Rete matcher run by kbrun's nodes: the same network, the same activations in the
    same order, less work per fact (see the module docstring). Needs experta 1.9.4 (SNAPSHOTS)."""

    def __init__(self, engine: Any) -> None:
        if not SNAPSHOTS:
            raise RuntimeError(f"KbrunMatcher needs experta {SUPPORTED_EXPERTA}, not "
                               f"{experta.__version__}; use experta's ReteMatcher")
        self.pending: set[_ConflictSet] = set()
        #: the partial matches the joins may still make (unlimited until started)
        self.budget = JoinBudget()
        super().__init__(engine)  # builds the network (build_network below)

    def build_network(self) -> None:
        """Let experta build its network (the same rules, node sharing and order), then run it
        with kbrun's nodes instead."""
        super().build_network()
        self.run_network(self.root_node)

    def run_network(self, root: Any) -> None:
        """Run the experta network under the bus `root` with kbrun's nodes. The experta nodes
        are only read, so they may be another engine's: experta names pattern captures after
        object ids, so two builds of one rule set can order ties differently, and comparing
        two matchers exactly needs one build."""
        translation = _Translation(root, self.pending, self.budget)
        self.root_node = translation.bus
        self.memories: tuple[_Stateful, ...] = tuple(translation.memories)

    def reset(self) -> None:
        for memory in self.memories:
            memory.reset()

    def changes(self, adding: Iterable[Any] | None = None,
                deleting: Iterable[Any] | None = None) -> tuple[list[Any], list[Any]]:
        """Pass the facts retracted, then those declared, through the network, and return the
        activations added and removed, in experta's order (conflict set by conflict set)."""
        if deleting is not None:
            for fact in deleting:
                self.root_node.remove(fact)
        if adding is not None:
            for fact in adding:
                self.root_node.add(fact)
        added: list[Any] = []
        removed: list[Any] = []
        if self.pending:
            changed = sorted(self.pending, key=attrgetter("order"))
            self.pending.clear()
            for conflict_set in changed:
                c_added, c_removed = conflict_set.collect()
                added.extend(c_added)
                removed.extend(c_removed)
        return added, removed


class KbrunEngine(KnowledgeEngine):  # type: ignore[misc]  # experta is untyped (Any)
    """The base of kbrun's engines: an experta KnowledgeEngine on KbrunMatcher (experta's own
    ReteMatcher when SNAPSHOTS is False)."""

    __matcher__ = KbrunMatcher if SNAPSHOTS else ReteMatcher


# -- the agenda -----------------------------------------------------------------------------------

_activation_key = attrgetter("key")


class DeterministicDepthStrategy(DepthStrategy):  # type: ignore[misc]  # experta is untyped (Any)
    """experta's depth strategy (salience, then the most recent facts first), with ties between
    rules that matched the same facts broken by rule id rather than by object hashes, so the
    same input fires the same rules in the same order in every process.

    The agenda is experta's: a list sorted by key, updated as DepthStrategy updates it (the same
    bisections, so the same order, ties included), but comparing the keys themselves rather
    than calling `Activation.__lt__` for every comparison.
    """

    def get_key(self, activation: Any) -> tuple[Any, ...]:
        rule = activation.rule
        facts = sorted([f["__factid__"] for f in activation.facts], reverse=True)
        return (rule.salience, facts, getattr(rule, "__name__", ""))

    def update_agenda(self, agenda: Any, added: Any, removed: Any) -> None:
        if 0 < watchers.ACTIVATIONS.level <= logging.INFO:  # experta's watchers.worth
            super().update_agenda(agenda, added, removed)   # logs, then _update_agenda
        elif added or removed:
            self._update_agenda(agenda, added, removed)

    def _update_agenda(self, agenda: Any, added: Any, removed: Any) -> None:
        activations = agenda.activations
        get_key = self.get_key
        for act in removed:
            # DepthStrategy's: bisect_left, then look at that place and its two neighbours
            act.key = get_key(act)
            index = bisect.bisect_left(activations, act.key, key=_activation_key)
            for offset in (0, 1, -1):
                try:
                    if activations[index + offset] == act:
                        del activations[index + offset]
                    else:
                        continue
                except IndexError:
                    pass
                else:
                    break
        for act in added:
            act.key = get_key(act)
            bisect.insort_right(activations, act, key=_activation_key)


# -- snapshots ------------------------------------------------------------------------------------

class SnapshotsUnavailable(RuntimeError):
    """The engine does not run on KbrunMatcher (another experta version, or a plain engine)."""


@dataclass(frozen=True, eq=False)
class EngineSnapshot:
    """The working state of one KbrunMatcher engine: what `restore_engine` brings back.

    Node memories are shared with the engine and copied by whichever side changes them first;
    tokens and declared facts never change, so nothing deeper is copied. No run changes a
    snapshot, so one snapshot can be restored any number of times.
    """

    matcher: KbrunMatcher
    memories: tuple[tuple[Any, ...], ...]
    pending: frozenset[_ConflictSet]
    facts: Any                    # a FactList of our own, never handed to an engine
    agenda: tuple[Any, ...]
    running: bool


def _copy_facts(facts: Any) -> Any:
    """A copy of an experta FactList: its facts by id, the next id, the reference counts of
    fact contents (which decide duplicates) and the changes the matcher has not seen yet."""
    copy = FactList()
    copy.update(facts)
    copy.last_index = facts.last_index
    copy.reference_counter = Counter(facts.reference_counter)
    copy.added = list(facts.added)
    copy.removed = list(facts.removed)
    copy.duplication = facts.duplication
    return copy


def snapshot_engine(engine: Any) -> EngineSnapshot:
    """Save the working state of a KbrunEngine: every node memory, the fact list (with its next
    fact id and reference counts) and the agenda. Typically taken after declaring the facts
    every run shares and before `run()`.

    Raises SnapshotsUnavailable when the engine's matcher is not KbrunMatcher (see SNAPSHOTS).
    """
    matcher = engine.matcher
    if not isinstance(matcher, KbrunMatcher):
        raise SnapshotsUnavailable(
            f"snapshots need an engine on KbrunMatcher; this one runs on "
            f"{type(matcher).__name__} (experta {experta.__version__}, SNAPSHOTS={SNAPSHOTS})")
    return EngineSnapshot(matcher=matcher,
                          memories=tuple(memory.state() for memory in matcher.memories),
                          pending=frozenset(matcher.pending), facts=_copy_facts(engine.facts),
                          agenda=tuple(engine.agenda.activations), running=engine.running)


def restore_engine(engine: Any, snapshot: EngineSnapshot) -> None:
    """Bring `engine` back to the state saved in `snapshot`, which must come from this engine
    (ValueError otherwise). Facts declared since are forgotten and the next fact declared gets
    the id it would have had then. State a subclass keeps itself (kbrun's trace) is the
    caller's to clear. Declare new Fact objects after a restore: experta writes a fact's id
    into the fact when it is declared.
    """
    matcher = engine.matcher
    if matcher is not snapshot.matcher:
        raise ValueError("this snapshot was taken from another engine")
    for memory, state in zip(matcher.memories, snapshot.memories, strict=True):
        memory.adopt(state)
    matcher.pending.clear()
    matcher.pending.update(snapshot.pending)
    engine.facts = _copy_facts(snapshot.facts)
    engine.agenda = Agenda()
    engine.agenda.activations = list(snapshot.agenda)
    engine.running = snapshot.running


__all__ = ["AS", "MATCH", "MAX_NETWORK_DEPTH", "NOT", "SNAPSHOTS", "SUPPORTED_EXPERTA", "TEST",
           "DepthStrategy", "DeterministicDepthStrategy", "EngineSnapshot", "Fact", "JoinBudget",
           "JoinLimitReached", "KbrunEngine", "KbrunMatcher", "KnowledgeEngine",
           "NetworkTooDeep", "P", "ReteMatcher", "Rule", "SnapshotsUnavailable", "experta",
           "restore_engine", "rules_below", "snapshot_engine"]
