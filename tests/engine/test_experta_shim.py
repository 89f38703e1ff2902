"""engine/_experta.py: experta imports on Python 3.10+ and leaves logging alone; kbrun's matcher
(type-dispatched bus, changed conflict sets only, hashed joins, snapshots) gives exactly what
experta's own ReteMatcher gives; and plain experta imported beside kbrun is plain experta."""

from __future__ import annotations

import functools
import json
import random
import subprocess
import sys
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kbrun.engine import load_kb, make_profile
from kbrun.engine._experta import (
    AS,
    MATCH,
    NOT,
    TEST,
    DepthStrategy,
    DeterministicDepthStrategy,
    Fact,
    KbrunEngine,
    KbrunMatcher,
    KnowledgeEngine,
    ReteMatcher,
    Rule,
    SnapshotsUnavailable,
    experta,
    restore_engine,
    snapshot_engine,
)
from kbrun.engine.inference import RecordingEngine, profile_declarations, static_declarations


class TwinMatcher(KbrunMatcher):
    """KbrunMatcher running the very network experta built for a plain engine (`twin_of`).

    experta names the fact captures of unbound patterns after object ids, so two engines built
    from one rule set can order ties (and a rule's keyword arguments) differently: experta is
    not reproducible across engines, only within one network. Both matchers over one build
    must agree exactly.
    """

    def build_network(self) -> None:
        self.run_network(self.engine.twin_of.matcher.root_node)


def twin(plain: Any) -> Any:
    """A kbrun-matcher engine of the same class as `plain`, over `plain`'s network."""
    twin_class = type("Twin" + type(plain).__name__, (type(plain),),
                      {"__matcher__": TwinMatcher, "twin_of": plain})
    return twin_class()


# -- the built-in knowledge base's rules on both matchers ----------------------------------------

@functools.cache
def _kb() -> Any:
    return load_kb()


@functools.cache
def _kb_engine_class(matcher: type) -> type:
    """An engine class holding every rule of the built-in knowledge base, on `matcher`."""
    rules = _kb().rules.rules
    members: dict[str, Any] = {f"rule_{i:04d}": rules[r].experta_rule()
                               for i, r in enumerate(sorted(rules))}
    members["matched_kinds"] = frozenset(k for rule in rules.values() for k in rule.mentions)
    members["__matcher__"] = matcher
    return type(f"Kb{matcher.__name__}Engine", (RecordingEngine,), members)


def _static_facts() -> list[Any]:
    # new Fact objects for every engine: experta writes the fact id into the fact
    return list(static_declarations(_kb(), _kb().rules.graph_kinds()).facts.values())


def _profile_facts(profile: Any) -> list[Any]:
    return list(profile_declarations(_kb(), profile).facts.values())


def _outcome(engine: Any) -> tuple[list[Any], list[Any]]:
    """The firings (rule, matched facts, asserted facts, in order) and the fact list (ids and
    contents): two runs with equal outcomes fired the same rules on the same facts."""
    firings = [(f.rule, f.matched, f.asserted) for f in engine.firings]
    facts = [(index, type(fact).__name__,
              sorted((str(k), v) for k, v in fact.items() if k != "__factid__"))
             for index, fact in engine.facts.items()]
    return firings, facts


def _consult(engine: Any, profile: Any) -> tuple[list[Any], list[Any]]:
    """A whole consultation as kbrun's reasoner runs one: the static facts, then the profile's."""
    engine.reset()
    engine.clear_records()
    engine.declare(*_static_facts())
    for fact in _profile_facts(profile):
        engine.declare(fact)
    engine.run()
    return _outcome(engine)


CONSULTATIONS = 30


@functools.cache
def _profiles() -> list[dict[str, Any]]:
    """make_profile arguments over the built-in knowledge base's ids, the same on every run."""
    rng = random.Random(10)

    def ids(kind: str) -> list[str]:
        return sorted(_kb().entries[kind])

    return [dict(symptoms=rng.sample(ids("symptom"), rng.randint(0, 3)),
                 injuries=rng.sample(ids("injury"), rng.randint(0, 1)),
                 goals=rng.sample(ids("goal"), rng.randint(0, 2)),
                 phase=rng.choice(ids("phase")), level=rng.choice(ids("level")),
                 red_flags=rng.sample(ids("red-flag"), rng.randint(0, 1)),
                 pain=rng.choice([None, *range(11)]),
                 stage=rng.choice([None, "acute", "subacute", "return-to-run"]),
                 equipment=rng.choice([None, rng.sample(ids("equipment"), 2)]))
            for _ in range(CONSULTATIONS)]


@functools.cache
def _engines() -> tuple[Any, Any]:
    plain = _kb_engine_class(ReteMatcher)()
    return plain, twin(plain)


@functools.cache
def _consultations(index: int) -> tuple[Any, Any]:
    """The consultation of profile `index` on experta's matcher and on kbrun's."""
    profile = make_profile(_kb(), **_profiles()[index])
    plain, kbrun = _engines()
    return _consult(plain, profile), _consult(kbrun, profile)


@pytest.mark.parametrize("index", range(CONSULTATIONS),
                         ids=[f"profile-{i}" for i in range(CONSULTATIONS)])
def test_kbrun_matcher_consults_exactly_as_experta(index: int) -> None:
    plain, kbrun = _consultations(index)
    assert kbrun == plain
    assert plain[0], "a consultation fires rules"


def test_the_profiles_compared_exercise_the_rules() -> None:
    # the consultations above are worth comparing only if between them most rules fire
    fired = {rule for index in range(CONSULTATIONS)
             for rule, _, _ in _consultations(index)[1][0]}
    assert len(fired) > 0.6 * len(_kb().rules.rules)


# -- snapshots ------------------------------------------------------------------------------------

SNAPSHOT_PROFILES = [
    dict(symptoms=["knee-pain", "achilles-pain"], goals=["speed"], red_flags=["swelling"],
         phase="pre-season", level="beginner"),
    dict(symptoms=["shin-pain"], goals=["endurance"], phase="race-season", pain=6, stage="acute"),
    dict(goals=["power"], phase="off-season", level="advanced"),
    dict(injuries=["runners-knee"], red_flags=["night-pain"], pain=2, stage="return-to-run"),
    dict(),
]


def _sizes(snapshot: Any) -> list[Any]:
    """How much each part of a snapshot holds, to see that no run changed it."""
    return [len(snapshot.facts), snapshot.facts.last_index, len(snapshot.agenda),
            [[len(part) for part in state] for state in snapshot.memories]]


def _declare_and_run(engine: Any, profile: Any) -> tuple[list[Any], list[Any]]:
    engine.clear_records()
    for fact in _profile_facts(profile):
        engine.declare(fact)
    engine.run()
    return _outcome(engine)


def test_a_restored_snapshot_runs_as_a_fresh_engine() -> None:
    engine = _kb_engine_class(KbrunMatcher)()
    engine.reset()
    engine.declare(*_static_facts())
    snapshot = snapshot_engine(engine)
    sizes = _sizes(snapshot)
    profiles = [make_profile(_kb(), **args) for args in SNAPSHOT_PROFILES]
    restored = []
    for profile in profiles + profiles[:2]:
        restore_engine(engine, snapshot)
        restored.append(_declare_and_run(engine, profile))
        assert _sizes(snapshot) == sizes
    for profile, outcome in zip(profiles, restored, strict=False):  # the repeats come after
        assert outcome == _consult(engine, profile)   # reset, then every fact declared
    assert restored[len(profiles):] == restored[:2]   # the same profile twice: the same run
    assert len({str(outcome) for outcome in restored}) == len(profiles)


def test_a_snapshot_restores_only_its_own_engine() -> None:
    first, second = KbrunTricky(), KbrunTricky()
    first.reset()
    second.reset()
    with pytest.raises(ValueError, match="another engine"):
        restore_engine(second, snapshot_engine(first))


def test_an_engine_on_experta_s_matcher_has_no_snapshots() -> None:
    engine = Tricky()
    engine.reset()
    with pytest.raises(SnapshotsUnavailable, match="KbrunMatcher"):
        snapshot_engine(engine)


# -- exactness on rules built to reach every kind of node ----------------------------------------

NAN = float("nan")   # one object, so that a dict could find it by identity


class A(Fact):
    pass


class B(Fact):
    pass


class C(Fact):
    pass


def _note(name: str) -> Any:
    def rhs(engine: Any, **context: Any) -> None:
        # the variables in the order experta passes them, facts by id
        engine.log.append((name, [(k, v["__factid__"] if isinstance(v, Fact) else v)
                                  for k, v in context.items()]))
    return rhs


class Tricky(KnowledgeEngine):
    """Joins on one and two variables, negated bindings (alone and beside a shared variable),
    NOT, chained NOTs, TEST, OR, EXISTS, FORALL, self-joins, a cross product, salience, and
    rules that modify and retract. NaN among the values: experta never binds it (NaN != NaN),
    though a dict would find it by identity."""

    join = Rule(AS.a << A(x=MATCH.x), AS.b << B(x=MATCH.x))(_note("join"))
    join2 = Rule(AS.a << A(x=MATCH.x, y=MATCH.y), AS.c << C(y=MATCH.y, x=MATCH.x),
                 salience=1)(_note("join2"))
    absent = Rule(AS.a << A(x=MATCH.x, y=MATCH.y), NOT(B(x=MATCH.x, y=MATCH.y)),
                  salience=2)(_note("absent"))
    differs = Rule(AS.a << A(x=MATCH.x), AS.b << B(y=~MATCH.x))(_note("differs"))
    mixed = Rule(AS.a << A(x=MATCH.x, y=MATCH.y),
                 AS.b << B(x=MATCH.x, y=~MATCH.y))(_note("mixed"))
    tested = Rule(AS.a << A(x=MATCH.x), AS.c << C(x=MATCH.x),
                  TEST(lambda x: x != 0))(_note("tested"))
    either = Rule(experta.OR(AS.a << A(x=1), AS.b << B(x=1)))(_note("either"))
    exists = Rule(AS.c << C(y=MATCH.y), experta.EXISTS(A(y=MATCH.y)))(_note("exists"))
    forall = Rule(AS.c << C(x=MATCH.x),
                  experta.FORALL(A(x=MATCH.x, y=MATCH.y), B(x=MATCH.x, y=MATCH.y)))(_note("forall"))
    self_join = Rule(AS.a << A(x=MATCH.x), AS.d << A(y=MATCH.x))(_note("self_join"))
    cross = Rule(AS.b << B(y=2), AS.c << C(y=2))(_note("cross"))
    same = Rule(AS.a << A(x=MATCH.v, y=MATCH.v), salience=3)(_note("same"))
    nots = Rule(AS.b << B(x=MATCH.x), NOT(A(x=MATCH.x)), NOT(C(x=MATCH.x)))(_note("nots"))

    @Rule(AS.c << C(y=0), salience=-1)
    def bump(self, c: Any) -> None:
        self.log.append(("bump", c["__factid__"]))
        self.modify(c, y=1)

    @Rule(AS.a << A(x=2, y=2), salience=-2)
    def drop(self, a: Any) -> None:
        self.log.append(("drop", a["__factid__"]))
        self.retract(a)

    def __init__(self) -> None:
        super().__init__()
        self.log: list[Any] = []


class KbrunTricky(Tricky, KbrunEngine):
    pass


VALUES = st.sampled_from([0, 1, 2, 1.0, NAN])
FACTS = st.lists(st.tuples(st.sampled_from([A, B, C]), VALUES, VALUES), max_size=14)


def _replay(engine: Any, first: list[Any], retract: list[int], second: list[Any]
            ) -> tuple[Any, ...]:
    """Declare, run, retract some facts by id, declare more, run; the log and fact list, or the
    error experta raised and the log up to it."""
    engine.log = []
    try:
        engine.reset()
        for kind, x, y in first:
            engine.declare(kind(x=x, y=y))
        engine.run()
        for index in retract:
            if index in engine.facts:
                engine.retract(index)
        for kind, x, y in second:
            engine.declare(kind(x=x, y=y))
        engine.run()
    except Exception as error:  # noqa: BLE001  (experta's own errors must be the same too)
        return ("error", type(error).__name__, engine.log)
    return _tricky_outcome(engine)


def _tricky_outcome(engine: Any) -> tuple[Any, ...]:
    return (engine.log, [(i, type(f).__name__, f.get("x"), f.get("y"))
                         for i, f in engine.facts.items()])


@functools.cache
def _tricky_engines() -> tuple[Any, Any]:
    plain = Tricky()
    return plain, twin(plain)


@settings(max_examples=300, deadline=None)
@given(first=FACTS, retract=st.lists(st.integers(1, 20), max_size=5), second=FACTS)
def test_kbrun_matcher_matches_exactly_as_experta(first: list[Any], retract: list[int],
                                                  second: list[Any]) -> None:
    plain, kbrun = _tricky_engines()
    assert _replay(kbrun, first, retract, second) == _replay(plain, first, retract, second)


@settings(max_examples=150, deadline=None)
@given(first=FACTS, second=FACTS)
def test_a_restored_snapshot_matches_as_a_fresh_engine(first: list[Any], second: list[Any]
                                                       ) -> None:
    engine = _tricky_engines()[1]
    engine.reset()
    for kind, x, y in first:
        engine.declare(kind(x=x, y=y))
    snapshot = snapshot_engine(engine)
    restored = []
    for _ in range(2):
        restore_engine(engine, snapshot)
        engine.log = []
        for kind, x, y in second:
            engine.declare(kind(x=x, y=y))
        engine.run()
        restored.append(_tricky_outcome(engine))
    fresh = _replay(engine, first + second, [], [])   # reset, declare everything, run
    assert restored[0] == restored[1] == fresh


def test_a_hashed_join_tests_only_the_pairs_that_share_values(monkeypatch: Any) -> None:
    from experta.matchers.rete.check import SameContextCheck

    class Pairs(KnowledgeEngine):
        join = Rule(AS.a << A(x=MATCH.x), AS.b << B(x=MATCH.x))(_note("join"))

        def __init__(self) -> None:
            super().__init__()
            self.log: list[Any] = []

    tests = {"count": 0}
    original = SameContextCheck.__call__

    def counted(self: Any, left: Any, right: Any) -> bool:
        tests["count"] += 1
        return original(self, left, right)  # type: ignore[no-any-return]

    monkeypatch.setattr(SameContextCheck, "__call__", counted)
    logs, counts = [], []
    plain = Pairs()
    for engine in (plain, twin(plain)):
        tests["count"] = 0
        engine.reset()
        for i in range(60):
            engine.declare(A(x=i), B(x=i), B(x=i + 100))
        engine.run()
        logs.append(engine.log)
        counts.append(tests["count"])
    assert logs[0] == logs[1] and len(logs[0]) == 60
    assert counts[1] == 60          # one test per pair that matches
    assert counts[0] > 60 * 60      # experta tests every A against every B


def test_a_hashed_join_still_applies_a_negated_binding() -> None:
    # `mixed` groups its memories by x; y must still differ, which only experta's test checks
    plain, kbrun = _tricky_engines()
    facts = [(A, 1, 1), (B, 1, 1), (B, 1, 2), (B, 0, 2)]
    outcomes = [_replay(engine, facts, [], []) for engine in (plain, kbrun)]
    assert outcomes[0] == outcomes[1]
    mixed = [dict(bound) for name, bound in outcomes[1][0] if name == "mixed"]
    assert [(m["a"], m["b"]) for m in mixed] == [(1, 3)]   # fact ids: A(1, 1) and B(1, 2)


def test_a_negated_binding_before_a_join_fails_as_in_experta() -> None:
    class Negated(KnowledgeEngine):
        @Rule(A(x=~MATCH.x), B(x=MATCH.x))
        def never(self) -> None:
            pass

    class KbrunNegated(Negated, KbrunEngine):
        pass

    for engine_class in (Negated, KbrunNegated):
        engine = engine_class()
        engine.reset()
        engine.declare(B(x=1))
        with pytest.raises(RuntimeError, match="Negated value"):
            engine.declare(A(x=2))


# -- the agenda -----------------------------------------------------------------------------------

class _ExpertaAgenda(DepthStrategy):  # type: ignore[misc]
    """experta's own agenda updates (Activation.__lt__ comparisons), with kbrun's keys."""

    def get_key(self, activation: Any) -> Any:
        return DeterministicDepthStrategy.get_key(self, activation)


class _Id(dict):  # type: ignore[type-arg]
    """A stand-in fact: just its id."""

    __hash__ = object.__hash__


class _Rule:
    def __init__(self, name: str, salience: int) -> None:
        self.__name__, self.salience = name, salience


_RULES = [_Rule("a", 0), _Rule("b", 0), _Rule("c", 1)]
_FACTS = [_Id(__factid__=i) for i in range(4)]
# an activation: a rule, its facts and a context (two contexts for one rule and facts tie)
ACTIVATIONS = st.tuples(st.integers(0, 2), st.sets(st.integers(0, 3), min_size=1, max_size=2),
                        st.integers(0, 1))


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(st.tuples(st.lists(ACTIVATIONS, max_size=6),
                                  st.lists(ACTIVATIONS, max_size=4)), max_size=6))
def test_the_agenda_orders_and_withdraws_as_experta_s(batches: list[Any]) -> None:
    from experta.activation import Activation
    from experta.agenda import Agenda

    def made(rule: int, facts: set[int], context: int) -> Any:
        return Activation(_RULES[rule], [_FACTS[f] for f in facts], {"v": context})

    def described(agenda: Any) -> list[Any]:
        return [(a.rule.__name__, sorted(f["__factid__"] for f in a.facts), a.context)
                for a in agenda.activations]

    agendas = [(DeterministicDepthStrategy(), Agenda()), (_ExpertaAgenda(), Agenda())]
    for added, removed in batches:
        # new activation objects for every agenda, as a matcher makes them (removals included)
        for strategy, agenda in agendas:
            strategy.update_agenda(agenda, [made(*a) for a in added], [made(*r) for r in removed])
        assert described(agendas[0][1]) == described(agendas[1][1])
    for _strategy, agenda in agendas:
        agenda.activations = [agenda.get_next() for _ in range(len(agenda.activations))]
    assert described(agendas[0][1]) == described(agendas[1][1])


# -- the shim, and experta left as it is ----------------------------------------------------------

@pytest.mark.parametrize("base", [KnowledgeEngine, KbrunEngine], ids=["experta", "kbrun"])
def test_experta_imports_and_runs_a_rule(base: type) -> None:
    class Seen(Fact):
        pass

    class Engine(base):  # type: ignore[valid-type,misc]
        fired: ClassVar[list[int]] = []

        @Rule(Seen(value=MATCH.v))
        def note(self, v: int) -> None:
            self.fired.append(v)

    engine = Engine()
    engine.reset()
    engine.declare(Seen(value=3))
    engine.run()
    assert engine.fired == [3]


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_experta_does_not_configure_the_root_logger() -> None:
    # in a fresh interpreter: experta's own import would leave a handler on the root logger
    script = ("import logging, kbrun.engine._experta; "
              "print(len(logging.getLogger().handlers))")
    plain = ("import collections, collections.abc, logging; "
             "collections.Mapping = collections.abc.Mapping; import experta; "
             "print(len(logging.getLogger().handlers))")
    assert [_python(script), _python(plain)] == ["0", "1"]


PRISTINE = """
import collections, collections.abc, inspect, json, sys
collections.Mapping = collections.abc.Mapping
import experta
from experta.matchers.rete import ReteMatcher
from experta.matchers.rete.nodes import BusNode
from experta.matchers.rete.token import Token

def everything():
    # every attribute of every experta module, and of every class experta defines
    found = {}
    for name, module in list(sys.modules.items()):
        if name == "experta" or name.startswith("experta."):
            for attr, value in vars(module).items():
                found[name + "." + attr] = value
                if inspect.isclass(value) and value.__module__ == name:
                    for key, item in vars(value).items():
                        found[name + "." + attr + "." + key] = item
    return found

before = everything()
originals = [BusNode.add, BusNode.remove, ReteMatcher.changes, Token.__new__]
import kbrun.engine._experta as shim
after = everything()

class Plain(experta.KnowledgeEngine):
    @experta.Rule(experta.Fact(n=experta.MATCH.n))
    def seen(self, n):
        self.seen_n = n

class Kbrun(Plain, shim.KbrunEngine):
    pass

plain, kbrun = Plain(), Kbrun()
for engine in (plain, kbrun):
    engine.reset()
    engine.declare(experta.Fact(n=7))
    engine.run()
print(json.dumps({
    "changed": sorted(key for key, value in before.items() if after.get(key) is not value),
    "originals": [a is b for a, b in zip(originals, [BusNode.add, BusNode.remove,
                                                     ReteMatcher.changes, Token.__new__])],
    "plain": type(plain.matcher) is ReteMatcher,
    "kbrun": type(kbrun.matcher) is shim.KbrunMatcher,
    "fired": [plain.seen_n, kbrun.seen_n],
}))
"""


def test_plain_experta_beside_kbrun_is_plain_experta() -> None:
    result = json.loads(_python(PRISTINE))
    assert result == {"changed": [], "originals": [True] * 4, "plain": True, "kbrun": True,
                      "fired": [7, 7]}


OTHER_VERSION = """
import collections, collections.abc, json
collections.Mapping = collections.abc.Mapping
import experta
experta.__version__ = "1.10.0"
from kbrun.engine import _experta as shim

class Engine(shim.KbrunEngine):
    @shim.Rule(shim.Fact(n=shim.MATCH.n))
    def seen(self, n):
        self.seen_n = n

engine = Engine()
engine.reset()
engine.declare(shim.Fact(n=7))
engine.run()
errors = []
for attempt in (lambda: shim.snapshot_engine(engine), lambda: shim.KbrunMatcher(engine)):
    try:
        attempt()
    except RuntimeError as error:
        errors.append(type(error).__name__)
print(json.dumps({"snapshots": shim.SNAPSHOTS,
                  "matcher": type(engine.matcher) is shim.ReteMatcher,
                  "fired": engine.seen_n, "errors": errors}))
"""


def test_another_experta_version_runs_on_experta_s_matcher_without_snapshots() -> None:
    result = json.loads(_python(OTHER_VERSION))
    assert result == {"snapshots": False, "matcher": True, "fired": 7,
                      "errors": ["SnapshotsUnavailable", "RuntimeError"]}
