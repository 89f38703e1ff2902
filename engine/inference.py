"""One consultation: declare the profile and the graph facts it can need, run the rules, and keep
a justification for every fact (which rule asserted it from which facts, or which input or graph
link it came from)."""

from __future__ import annotations

import gc
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from kbrun.engine._experta import (
    MAX_NETWORK_DEPTH,
    SNAPSHOTS,
    DeterministicDepthStrategy,
    EngineSnapshot,
    Fact,
    JoinLimitReached,
    KbrunEngine,
    NetworkTooDeep,
    restore_engine,
    snapshot_engine,
)
from kbrun.engine.errors import KbError
from kbrun.engine.facts import describe, fact_fields, fact_key, fact_kind_of, make_fact
from kbrun.engine.graph import (
    CONTRAINDICATED_FOR,
    DEVELOPS,
    DOSES,
    IMPLICATES,
    OPPOSES,
    PROGRESSES_TO,
    REQUIRES,
    SIGNALS,
    SUGGESTS,
    TARGETS,
    TREATS,
    in_edges,
    out_edges,
)
from kbrun.engine.schema import IMPACT_RANK, INTENSITY_RANK, STAGE_RANK

if TYPE_CHECKING:
    from kbrun.engine.contract import TraceStep
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.profile import Profile
    from kbrun.engine.rules import CompiledRule

FactKey = tuple[Any, ...]

# -- limits of one consultation (issue 11) -------------------------------------------------------
#
# Rules that re-trigger themselves (a rule matching the fact it asserts, with a new value each
# time), two rules feeding each other, or conditions that join every fact of one kind with every
# fact of another run until memory is gone. A consultation is bounded, in proportion to the facts
# it starts from (the knowledge base's graph facts and the profile's), so that a knowledge base
# ten times larger may do ten times the work. Built-in kb, ~1,390 facts to start from: a
# consultation fires ~430 rules and asserts ~460 facts (a profile of several symptoms up to
# ~3,000 of each; every symptom, injury and red flag at once, 16,600 firings, 12,800 facts, 490,000
# partial matches, 35 s and 1.5 GB: the one case near a limit); the ten-times kb of bench.py fires
# 9,000 on average, 28,000 at most over 30 profiles. Going over a limit is a RunawayRules error
# (exit 2) naming the rule.

#: Rule firings per starting fact (27,800 for the built-in kb): 7x the most a profile of up to
#: four symptoms, two injuries and two red flags fired over 300 random ones (4,000; median
#: 950), 1.7x the extreme profile above. A rule that re-triggers itself reaches it in ~2 s.
FIRINGS_PER_FACT = 20
#: New facts the rules may assert, per starting fact (55,600 for the built-in kb). A firing
#: asserts about one, so a loop meets the firing limit first; this one stops a rule with many
#: actions, which the firing limit lets assert many facts a firing.
FACTS_PER_FACT = 40
#: Characters of text the rules may assert in new facts, per starting fact (5.6 million for the
#: built-in kb, whose typical consultation asserts 40,000 and the extreme one a million): stops a
#: template that repeats what it reads ('{n}{n}'), which doubles a text at each firing, long
#: before memory goes.
TEXT_PER_FACT = 4_000
#: Partial matches (new joined tokens) the Rete joins may make, per starting fact (139,000 for
#: the built-in kb; 300 random profiles as above made 1,700 at the median, 7,900 at the 95th
#: percentile, 28,800 at most). Conditions that share no variable multiply (four `exercise:`
#: conditions: 74**4 = 30 million matches); this stops them within ~400 MB. The extreme profile
#: above (490,000, 1.5 GB) goes over it, and is refused rather than run.
JOINS_PER_FACT = 100
#: The smallest number of starting facts the limits are computed from, so that a small test kb
#: of a few dozen facts still gets room (10,000 firings, 50,000 partial matches).
MIN_STARTING_FACTS = 500


class RunawayRules(KbError):
    """A consultation went over one of its limits: a rule re-triggers itself, rules feed each
    other, or conditions multiply partial matches. Names the rule, where it is written, and the
    fix."""


_LOOP_FIX = ("it keeps matching facts that it (or a rule it feeds) asserts, each with a new "
             "value; add a `not:` condition on the fact it asserts, or a condition that stops "
             "the chain")


class _OverLimit(Exception):
    """Raised inside a run when a limit is reached; `Reasoner` turns it into RunawayRules."""

    def __init__(self, what: str, rule: str, count: int, limit: int) -> None:
        super().__init__(what)
        self.what, self.rule, self.count, self.limit = what, rule, count, limit


@dataclass(frozen=True)
class Origin:
    """Where a declared (not derived) fact came from: a profile input or a graph link."""

    kind: str    # "profile" | "graph"
    detail: str  # e.g. "--symptom knee-pain" or "knee-pain -[suggests]-> runners-knee"
    sources: tuple[str, ...] = ()


class Support(NamedTuple):
    """One firing that asserted a fact: the rule and the facts it matched (a named tuple: a
    consultation makes hundreds)."""

    rule: str
    firing: int
    premises: tuple[FactKey, ...]


class Firing(NamedTuple):
    """One step of the forward-chaining trace (a named tuple: a consultation makes hundreds)."""

    step: int
    rule: str
    matched: tuple[FactKey, ...]
    asserted: tuple[FactKey, ...]


@dataclass
class Consultation:
    """Working memory after a run, with the justification of each fact and the trace."""

    facts: dict[FactKey, Fact]                       # every fact, in assertion order
    origins: dict[FactKey, Origin]                   # declared facts
    support: dict[FactKey, list[Support]]            # derived facts
    firings: list[Firing]
    _by_kind: dict[str, list[FactKey]] | None = field(default=None, repr=False, compare=False)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """The fields of every fact of `kind`, in assertion order."""
        return [fact_fields(self.facts[k]) for k in self.keys_of_kind(kind)]

    def keys_of_kind(self, kind: str) -> list[FactKey]:
        """The keys of every fact of `kind`, in assertion order."""
        if self._by_kind is None:
            self._by_kind = {}
            for key in self.facts:
                self._by_kind.setdefault(key[0], []).append(key)
        return list(self._by_kind.get(kind, ()))

    def fields(self, key: FactKey) -> dict[str, Any]:
        return dict(key[1])


class RecordingEngine(KbrunEngine):
    """An experta engine that records, for every fact asserted by a rule, why it was asserted."""

    __strategy__ = DeterministicDepthStrategy

    def __init__(self) -> None:
        super().__init__()
        self.clear_records()

    matched_kinds: frozenset[str] = frozenset()  # the fact kinds this engine's rules match

    def clear_records(self, starting_facts: int = 0) -> None:
        """Forget the last run's records, and set the limits of the next run from the number
        of facts it starts from (see FIRINGS_PER_FACT and the other limits)."""
        self.support: dict[FactKey, list[Support]] = {}
        self.asserted: dict[FactKey, Fact] = {}
        self.firings: list[Firing] = []
        starting = max(starting_facts, MIN_STARTING_FACTS)
        self.firing_limit = FIRINGS_PER_FACT * starting
        self.fact_limit = FACTS_PER_FACT * starting
        self.text_limit = self.text_left = TEXT_PER_FACT * starting

    def run(self, steps: float = float("inf")) -> None:
        """experta's run loop without its per-firing log line, whose arguments (every matched
        fact rendered as text) experta builds whether or not anything is logged."""
        self.running = True
        while steps > 0 and self.running:
            added, removed = self.get_activations()
            self.strategy.update_agenda(self.agenda, added, removed)
            activation = self.agenda.get_next()
            if activation is None:
                break
            steps -= 1
            activation.rule(self, **{k: v for k, v in activation.context.items()
                                     if not k.startswith("__")})
        self.running = False

    def declare(self, *facts: Fact) -> Any:
        """experta's declare without its per-fact checks for pattern constraints and nested
        keys: kbrun declares only facts it built from typed fields (see facts.make_fact)."""
        last = None
        for fact in facts:
            last = self.facts.declare(fact)
        if not self.running:
            added, removed = self.get_activations()
            self.strategy.update_agenda(self.agenda, added, removed)
        return last

    def fired(self, rule: CompiledRule, matched: list[Fact], new_facts: list[Fact]) -> None:
        """Called by every compiled rule's right-hand side. Raises _OverLimit when the run
        goes over one of its limits."""
        step = len(self.firings) + 1
        if step > self.firing_limit:
            raise _OverLimit("firings", rule.id, step, self.firing_limit)
        premises = tuple(fact_key(f) for f in matched)
        keys = []
        for fact in new_facts:
            key = fact_key(fact)
            keys.append(key)
            self.support.setdefault(key, []).append(Support(rule.id, step, premises))
            if key not in self.asserted:
                for _name, value in key[1]:
                    if type(value) is str:
                        self.text_left -= len(value)
                if self.text_left < 0:
                    raise _OverLimit("text", rule.id, self.text_limit - self.text_left,
                                     self.text_limit)
                self.asserted[key] = fact
                if len(self.asserted) > self.fact_limit:
                    raise _OverLimit("facts", rule.id, len(self.asserted), self.fact_limit)
                if fact_kind_of(fact) in self.matched_kinds:
                    self.declare(fact)  # a fact no rule matches need not enter the network
        self.firings.append(Firing(step, rule.id, premises, tuple(keys)))


class _Declarations:
    """Collects the facts to declare, each once, with its origin; graph facts only of the
    kinds in `wanted` (None: all)."""

    def __init__(self, wanted: frozenset[str] | None = None) -> None:
        self.facts: dict[FactKey, Fact] = {}
        self.origins: dict[FactKey, Origin] = {}
        self.wanted = wanted

    def add(self, fact_kind: str, origin: Origin, /, **fields: Any) -> None:
        if self.wanted is not None and origin.kind == "graph" and fact_kind not in self.wanted:
            return
        fact = make_fact(fact_kind, **fields)
        key = fact_key(fact)
        if key not in self.facts:
            self.facts[key] = fact
            self.origins[key] = origin


def _edge_origin(origin: str, relation: str, target: str, attrs: dict[str, Any]) -> Origin:
    return Origin("graph", f"{origin} -[{relation}]-> {target}", tuple(attrs.get("sources", ())))


def _node_origin(kb: KnowledgeBase, node: str) -> Origin:
    attrs = kb.graph.nodes[node]
    return Origin("graph", f"{attrs['kind']} {node}", tuple(attrs.get("sources", ())))


def _equipment_origin(kb: KnowledgeBase, profile: Profile, item: str) -> str:
    """Where an equipment item of the profile came from, as a runner would say it."""
    if item == "none":
        return "body weight (always at hand)"
    chosen = set(profile.equipment) - {"none"}
    if chosen >= set(kb.equipment) - {"none"}:
        return "all equipment (no --equipment or --setting given)"
    for setting, items in sorted(kb.settings.items()):
        if chosen == set(items) - {"none"}:
            return f"--setting {setting}"
    return f"--equipment {item}"


def profile_declarations(kb: KnowledgeBase, profile: Profile) -> _Declarations:
    """The facts a runner's profile adds to the knowledge base's."""
    out = _Declarations()
    for symptom in profile.symptoms:
        out.add("symptom", Origin("profile", f"--symptom {symptom}"), id=symptom,
                region=kb.symptoms[symptom].region, screen=kb.symptoms[symptom].screen or "none")
    for injury in profile.injuries:
        out.add("diagnosis", Origin("profile", f"--injury {injury}"), injury=injury)
    for goal in profile.goals:
        out.add("goal", Origin("profile", f"--goal {goal}"), id=goal)
    phase_origin = (f"--phase {profile.phase}" if profile.week is None
                    else f"the plan's week {profile.week.week}: {profile.phase}")
    out.add("phase", Origin("profile", phase_origin), id=profile.phase,
            order=kb.phases[profile.phase].order)
    out.add("level", Origin("profile", f"--level {profile.level}"), id=profile.level,
            rank=kb.levels[profile.level].rank)
    for item in profile.equipment:
        out.add("equipment", Origin("profile", _equipment_origin(kb, profile, item)), id=item)
    raised = dict(profile.assessment.red_flags) if profile.assessment is not None else {}
    for flag in profile.red_flags:
        where = (f"--assessment {profile.assessment.origin}: {raised[flag]}"
                 if flag in raised and profile.assessment is not None else f"--red-flag {flag}")
        out.add("red-flag", Origin("profile", where), id=flag,
                message=kb.red_flags[flag].message, urgency=kb.red_flags[flag].urgency)
    if profile.stage is not None:
        out.add("stage", Origin("profile", f"--stage {profile.stage}"), id=profile.stage,
                rank=STAGE_RANK[profile.stage])
    if profile.pain is not None:
        out.add("pain", Origin("profile", f"--pain {profile.pain}"), score=profile.pain)
    if profile.assessment is not None:
        origin = profile.assessment.origin or "the assessment"
        for finding in profile.assessment.findings:
            for muscle in finding.muscles:
                out.add("assessed", Origin("profile", f"--assessment {origin}: {finding.result}"),
                        test=finding.test, muscle=muscle,
                        finding="weak" if finding.kind == "weak-muscle" else "imbalance",
                        side=finding.side, certainty=round(finding.certainty, 3),
                        result=finding.result)
    week = profile.week
    if week is not None:
        out.add("plan-week", Origin("profile", f"plan week {week.week}"), week=week.week,
                block_week=week.block_week, deload=week.deload,
                weeks_to_race=week.weeks_to_race)
        for day in week.days:
            out.add("run-day", Origin("profile", day.origin), day=day.day, run=day.run,
                    next=day.next, days_to_race=day.days_to_race,
                    days_since_race=day.days_since_race)
        for exercise, weeks in week.practised:
            out.add("practised", Origin("profile", f"the plan's weeks {week.week - weeks}-"
                                        f"{week.week - 1}"), exercise=exercise, weeks=weeks)
        for exercise, progression, number in week.progressed:
            out.add("progressed", Origin("profile", f"the plan's week {number}"),
                    exercise=exercise, to=progression, week=number)
    return out


def static_declarations(kb: KnowledgeBase, wanted: frozenset[str] | None = None
                        ) -> _Declarations:
    """Every graph fact of the knowledge base, of the kinds in `wanted` (None: all).

    The whole graph is declared, not the part a profile seems to reach: a rule may match any
    exercise (`exercise: {loadable: true}`), so a fact left out could change the answer. These
    facts are the same for every consultation, which is what lets the Reasoner declare them
    once.
    """
    out = _Declarations(wanted)
    if kb.static_records is not None:  # read from the cache (engine/cache.py)
        for kind, fields, origin_kind, detail, sources in kb.static_records:
            out.add(kind, Origin(origin_kind, detail, tuple(sources)), **fields)
        return out
    graph = kb.graph
    for goal_id in sorted(kb.goals):
        for category in kb.goals[goal_id].categories:
            out.add("favours-category", _node_origin(kb, goal_id), goal=goal_id,
                    category=category)
        for quality, attrs in out_edges(graph, goal_id, "favours"):
            out.add("favours", _edge_origin(goal_id, "favours", quality, attrs), goal=goal_id,
                    quality=quality)
    for flag in sorted(kb.red_flags):
        for condition, attrs in out_edges(graph, flag, SIGNALS):
            entry = kb.conditions[condition]
            for symptom in attrs["symptoms"]:
                out.add("signals", _edge_origin(flag, SIGNALS, condition, attrs), red_flag=flag,
                        condition=condition, symptom=symptom)
            for region in attrs["regions"]:
                out.add("signals-in", _edge_origin(flag, SIGNALS, condition, attrs),
                        red_flag=flag, condition=condition, region=region)
            out.add("condition", _node_origin(kb, condition), id=condition,
                    urgency=entry.urgency, message=entry.message, no_session=entry.no_session)
            for region in entry.protects:
                out.add("condition-protects", _node_origin(kb, condition), condition=condition,
                        region=region)
    for symptom in sorted(kb.symptoms):
        for injury, attrs in out_edges(graph, symptom, SUGGESTS):
            out.add("suggests", _edge_origin(symptom, SUGGESTS, injury, attrs), symptom=symptom,
                    injury=injury, weight=attrs["weight"])
    for injury in sorted(kb.injuries):
        out.add("injury", _node_origin(kb, injury), id=injury, region=kb.injuries[injury].region,
                screen=kb.injuries[injury].screen or "none")
        for muscle, attrs in out_edges(graph, injury, IMPLICATES):
            out.add("implicates", _edge_origin(injury, IMPLICATES, muscle, attrs), injury=injury,
                    muscle=muscle, role=attrs["role"], weight=attrs["weight"])
        for protocol, attrs in in_edges(graph, injury, TREATS):
            for stage in attrs["stages"]:
                out.add("protocol", _edge_origin(protocol, TREATS, injury, attrs), id=protocol,
                        injury=injury, stage=stage, rank=attrs["rank"],
                        needs=attrs["needs"] or "none")
            for exercise_id, dose in out_edges(graph, protocol, DOSES):
                out.add("protocol-dose", _edge_origin(protocol, DOSES, exercise_id, dose),
                        protocol=protocol, exercise=exercise_id)
    for exercise_id in sorted(kb.exercises):
        exercise = kb.exercises[exercise_id]
        out.add("exercise", _node_origin(kb, exercise_id), id=exercise_id,
                category=exercise.category, pattern=exercise.pattern,
                level_rank=kb.levels[exercise.level].rank,
                impact_rank=IMPACT_RANK[exercise.impact], unilateral=exercise.unilateral,
                loadable=exercise.loadable)
        for muscle, attrs in out_edges(graph, exercise_id, TARGETS):
            out.add("targets", _edge_origin(exercise_id, TARGETS, muscle, attrs),
                    exercise=exercise_id, muscle=muscle, role=attrs["role"],
                    weight=attrs["weight"], category=exercise.category,
                    unilateral=exercise.unilateral)
        for item, attrs in out_edges(graph, exercise_id, REQUIRES):
            out.add("needs", _edge_origin(exercise_id, REQUIRES, item, attrs),
                    exercise=exercise_id, equipment=item)
        for quality, attrs in out_edges(graph, exercise_id, DEVELOPS):
            out.add("develops", _edge_origin(exercise_id, DEVELOPS, quality, attrs),
                    exercise=exercise_id, quality=quality)
        for region, intensity in sorted(exercise.joint_load.items()):
            out.add("loads", _node_origin(kb, exercise_id), exercise=exercise_id, region=region,
                    rank=INTENSITY_RANK[intensity], category=exercise.category,
                    loadable=exercise.loadable)
        for harder, attrs in out_edges(graph, exercise_id, PROGRESSES_TO):
            out.add("progresses", _edge_origin(exercise_id, PROGRESSES_TO, harder, attrs),
                    exercise=exercise_id, to=harder)
        for injury, attrs in out_edges(graph, exercise_id, CONTRAINDICATED_FOR):
            for phase in attrs["phases"] or ["any"]:
                for stage in attrs["stages"] or ["any"]:
                    out.add("contraindicated",
                            _edge_origin(exercise_id, CONTRAINDICATED_FOR, injury, attrs),
                            exercise=exercise_id, injury=injury, reason=attrs["reason"],
                            phase=phase, stage=stage, category=exercise.category)
    for muscle in sorted(kb.muscles):
        muscle_entry = kb.muscles[muscle]
        out.add("muscle", _node_origin(kb, muscle), id=muscle, region=muscle_entry.region,
                kind=muscle_entry.kind)
        for other, edge in out_edges(graph, muscle, OPPOSES):
            out.add("opposes", _edge_origin(muscle, OPPOSES, other, edge), muscle=muscle,
                    other=other)
    return out


class Reasoner:
    """The resident reasoner of one knowledge base: one experta engine holding every rule, and
    the knowledge base's graph facts, which are the same for every consultation.

    The graph facts are declared once and the engine's state is saved (`snapshot_engine`);
    each consultation restores that state, declares only the profile's facts and runs. Where
    snapshots are unavailable (another experta version) every fact is declared for each run,
    which gives the same answer more slowly.
    """

    def __init__(self, kb: KnowledgeBase) -> None:
        rules = kb.rules
        self.static = static_declarations(kb, rules.graph_kinds())
        self.snapshot: EngineSnapshot | None = None
        #: why no consultation can run (a rule too deep for the matcher, or the graph facts
        #: alone over a limit), kept so that each consultation reports it at once
        self.refused: RunawayRules | None = None
        try:
            self.engine = rules.engine()
        except NetworkTooDeep as err:
            self.engine = RecordingEngine()  # an engine without rules, never run
            self.refused = _runaway(kb, err)
            return
        if SNAPSHOTS:
            try:
                self._declare_static()
            except JoinLimitReached as err:
                self.refused = _runaway(kb, err)
                self.engine.reset()  # drop what the joins made before they stopped
                return
            self.snapshot = snapshot_engine(self.engine)

    def _declare_static(self) -> None:
        self.engine.reset()
        self._limit_joins(len(self.static.facts))
        # in one call: the network takes them all, then the agenda is updated once
        self.engine.declare(*self.static.facts.values())

    def _limit_joins(self, starting_facts: int) -> None:
        budget = getattr(self.engine.matcher, "budget", None)  # None on experta's own matcher
        if budget is not None:
            budget.start(JOINS_PER_FACT * max(starting_facts, MIN_STARTING_FACTS))

    def consult(self, kb: KnowledgeBase, profile: Profile) -> Consultation:
        """Run the rules over the profile's facts and the graph's. Raises RunawayRules when
        the run goes over one of the limits above."""
        if self.refused is not None:
            raise self.refused.with_traceback(None)  # one traceback, not one per raise
        start = profile_declarations(kb, profile)
        engine = self.engine
        collecting = gc.isenabled()
        gc.disable()  # a run makes many short-lived objects and no cycles worth chasing mid-run
        try:
            if self.snapshot is not None:
                restore_engine(engine, self.snapshot)
            else:
                self._declare_static()  # no snapshot: every run declares the graph's facts
            starting = len(self.static.facts) + len(start.facts)
            engine.clear_records(starting)
            self._limit_joins(starting)
            engine.declare(*start.facts.values())
            engine.run()
        except (_OverLimit, JoinLimitReached) as err:
            raise _runaway(kb, err, engine) from None
        finally:
            if collecting:
                gc.enable()
        facts = {**self.static.facts, **start.facts, **engine.asserted}
        origins = {**self.static.origins, **start.origins}
        return Consultation(facts=facts, origins=origins, support=engine.support,
                            firings=engine.firings)


def _runaway(kb: KnowledgeBase, err: _OverLimit | JoinLimitReached | NetworkTooDeep,
             engine: RecordingEngine | None = None) -> RunawayRules:
    """The RunawayRules error for a limit a run went over: which rule, where, and the fix."""
    compiled = kb.rules.rules
    if isinstance(err, (JoinLimitReached, NetworkTooDeep)):
        by_function = {rule_id.replace("-", "_"): rule_id for rule_id in compiled}
        names = [by_function.get(getattr(rule, "__name__", ""), "") for rule in err.rules]
        names = [name for name in dict.fromkeys(names) if name]
        rule_id = names[0] if names else "?"
    if isinstance(err, NetworkTooDeep):
        return RunawayRules(
            f"rule '{rule_id}' has more than {MAX_NETWORK_DEPTH} conditions and tests in a row, "
            "more than the matcher can follow", loc=_loc_of(compiled, rule_id),
            suggestion="split it: let a first rule assert a fact of your own (declared under "
                       "`facts:`) from some of the conditions, and a second rule match that "
                       "fact with the rest")
    if isinstance(err, JoinLimitReached):
        more = (f" (and {len(names) - 1} more rule{'s' * (len(names) > 2)} sharing its first "
                "conditions)") if len(names) > 1 else ""
        return RunawayRules(
            f"rule '{rule_id}'{more} made more than {err.limit:,} partial matches of its "
            f"conditions in one consultation (the limit: {JOINS_PER_FACT} per fact the "
            "consultation starts from)", loc=_loc_of(compiled, rule_id),
            suggestion="conditions that share no variable pair every fact of one kind with "
                       "every fact of another; share a variable between them (`exercise: {id: "
                       "$e}` with `targets: {exercise: $e}`) or narrow them with literal fields")
    if err.what == "text":
        return RunawayRules(
            f"rule '{err.rule}' took the text asserted in one consultation to {err.count:,} "
            f"characters, over the limit of {err.limit:,} ({TEXT_PER_FACT:,} per fact the "
            "consultation starts from)", loc=_loc_of(compiled, err.rule),
            suggestion="a template that puts the text it matched into the text it asserts "
                       "grows it at each firing ('{n}a'; '{n}{n}' doubles it); " + _LOOP_FIX)
    if err.what == "firings":
        counts = Counter(firing.rule for firing in engine.firings) if engine else Counter()
        what, per = "fired", FIRINGS_PER_FACT
    else:
        counts = Counter(supports[0].rule for supports in engine.support.values()
                         ) if engine else Counter()
        what, per = "asserted", FACTS_PER_FACT
    (rule_id, count), *rest = counts.most_common(2) or [(err.rule, err.count)]
    unit = "times" if what == "fired" else "facts"
    feeding = (f", and rule '{rest[0][0]}' {rest[0][1]:,}"
               if rest and rest[0][1] * 2 >= count else "")
    return RunawayRules(
        f"rule '{rule_id}' {what} {count:,} {unit}{feeding} in one consultation, over the limit "
        f"of {err.limit:,} {'firings' if what == 'fired' else 'new facts'} in all ({per} per "
        "fact the consultation starts from)", loc=_loc_of(compiled, rule_id),
        suggestion=_LOOP_FIX)


def _loc_of(compiled: dict[str, CompiledRule], rule_id: str) -> Any:
    rule = compiled.get(rule_id)
    return rule.loc if rule is not None else None


def consult(kb: KnowledgeBase, profile: Profile) -> Consultation:
    """Run the rules of `kb` over `profile` and return working memory with its justifications.

    Working memory starts from every graph fact some rule can match and the profile's facts,
    so `advise`, `why` and `why-not` reason over exactly the same facts.
    """
    return kb.reasoner.consult(kb, profile)


__all__ = ["FACTS_PER_FACT", "FIRINGS_PER_FACT", "JOINS_PER_FACT", "MIN_STARTING_FACTS",
           "TEXT_PER_FACT", "Consultation", "Firing", "Origin", "Reasoner",
           "RecordingEngine", "RunawayRules", "Support", "consult", "fact_kind_of",
           "profile_declarations", "static_declarations", "trace_records"]


def trace_records(consultation: Consultation) -> list[TraceStep]:
    """The forward-chaining trace as data: each firing with the facts matched and asserted."""
    return [{"step": f.step, "rule": f.rule,
             "matched": [describe(consultation.facts[k]) for k in f.matched],
             "asserted": [describe(consultation.facts[k]) for k in f.asserted]}
            for f in consultation.firings]
