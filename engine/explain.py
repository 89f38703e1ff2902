"""Explanations: why an exercise was recommended (its derivation from the runner's inputs and the
knowledge base) and why another was not (the rule that excluded it, the missing link, or the
ranking), with the smallest profile change that would bring it in, found by re-running."""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from kbrun.engine import conclusions as concluded
from kbrun.engine.advice import Warning, with_kb_warnings
from kbrun.engine.errors import UnknownId
from kbrun.engine.facts import describe
from kbrun.engine.graph import source_ids
from kbrun.engine.session import EVIDENCE_DISCOUNT, build_advice, rules_for

if TYPE_CHECKING:
    from kbrun.engine import contract
    from kbrun.engine.advice import Advice, Recommendation
    from kbrun.engine.inference import Consultation, FactKey
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.profile import Profile

Answer = TypeVar("Answer", "Why", "WhyNot")


@dataclass
class Node:
    """One step of a derivation: a fact, and the rule and premises that produced it, or the
    profile input or knowledge-base link it came from (a leaf)."""

    fact: str
    origin: str                      # rule | profile | graph | session
    rule: str | None = None
    description: str | None = None
    sources: list[str] = field(default_factory=list)
    premises: list[Node] = field(default_factory=list)

    def to_dict(self) -> contract.Node:
        return {"fact": self.fact, "origin": self.origin, "rule": self.rule,
                "description": self.description,
                "source": self.sources[0] if self.sources else None, "sources": self.sources,
                "premises": [p.to_dict() for p in self.premises]}

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, depth first, premises in order (without
        recursion)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.premises))

    def leaves(self) -> list[Node]:
        return [node for node in self.walk() if not node.premises]

    def rules(self) -> list[str]:
        return [node.rule for node in self.walk() if node.rule]


#: The most rule steps a derivation tree shows below the fact it explains. A built-in derivation
#: is at most six deep; a chain of rules a coach wrote, each asserting what the next needs,
#: can be a thousand, which no one reads and which nested rendering cannot print. Below this
#: depth one "... N more steps" node stands for the rest.
MAX_DERIVATION_DEPTH = 50
#: The most facts a derivation tree shows. A fact used by several later steps appears under each
#: of them, so rules that each match two facts from the step before double the tree at each
#: step; past this many, the premises not yet shown become one "... N more steps" node each.
#: The built-in kb's largest trees hold about 150 facts.
MAX_DERIVATION_NODES = 2_000


def derivation(kb: KnowledgeBase, consultation: Consultation, key: FactKey) -> Node:
    """The derivation tree of one fact, down to profile inputs and graph links, at most
    MAX_DERIVATION_DEPTH rule steps deep and MAX_DERIVATION_NODES facts large (built breadth
    first, without recursion; what is cut is one `omitted` node saying how many steps deeper
    the derivation goes).

    A fact asserted by several firings is explained by the first; its premises were in
    working memory before that firing, so the tree is finite.
    """
    root = _step(kb, consultation, key)
    made = 1
    below: dict[FactKey, int] = {}
    queue: collections.deque[tuple[Node, FactKey, int]] = collections.deque([(root, key, 0)])
    while queue:
        node, node_key, depth = queue.popleft()
        if node.origin != "rule":
            continue
        premises = consultation.support[node_key][0].premises
        if depth >= MAX_DERIVATION_DEPTH or made + len(premises) > MAX_DERIVATION_NODES:
            node.premises.append(_omitted(consultation, premises, below))
            made += 1
            continue
        for premise in premises:
            child = _step(kb, consultation, premise)
            node.premises.append(child)
            queue.append((child, premise, depth + 1))
        made += len(premises)
    return root


def _step(kb: KnowledgeBase, consultation: Consultation, key: FactKey) -> Node:
    """The node of one fact, without its premises."""
    fact = describe(consultation.facts[key])
    origin = consultation.origins.get(key)
    if origin is not None:
        return Node(fact, origin.kind, description=origin.detail, sources=list(origin.sources))
    support = consultation.support[key][0]
    spec = kb.rule_specs[support.rule]
    return Node(fact, "rule", rule=support.rule, description=spec.description,
                sources=source_ids(spec.sources))


def _omitted(consultation: Consultation, premises: tuple[FactKey, ...],
             below: dict[FactKey, int]) -> Node:
    """The node that stands for the derivations of `premises`, not shown."""
    steps = max((_steps_below(consultation, p, below) for p in premises), default=0)
    return Node(f"... {steps:,} more step{'s' * (steps != 1)}", "omitted",
                description=f"the derivation goes {steps:,} rule step{'s' * (steps != 1)} "
                            f"deeper; a tree shows at most {MAX_DERIVATION_DEPTH} steps and "
                            f"{MAX_DERIVATION_NODES:,} facts")


def _steps_below(consultation: Consultation, key: FactKey, below: dict[FactKey, int]) -> int:
    """The longest chain of rule steps that derived `key` (0 for a declared fact), memoised in
    `below` across calls, computed without recursion."""
    stack = [key]
    while stack:
        current = stack[-1]
        if current in below:
            stack.pop()
            continue
        if current in consultation.origins:
            below[current] = 0
            stack.pop()
            continue
        premises = consultation.support[current][0].premises
        missing = [p for p in premises if p not in below]
        if missing:
            stack.extend(missing)
            continue
        below[current] = 1 + max((below[p] for p in premises), default=0)
        stack.pop()
    return below[key]


# -- why -----------------------------------------------------------------------------------------

@dataclass
class Why:
    """Why an exercise is in the session (or, if it is not, a pointer to why-not)."""

    exercise: str
    name: str
    recommended: bool
    rank: int | None
    score: float | None
    derivation: Node | None
    contributions: list[contract.WhyContribution]
    combination: str
    dose: list[contract.WhyDoseStep]
    ranking: str
    note: str | None = None
    warnings: list[Warning] = field(default_factory=list)   # what --kb layers changed
    plan_day: contract.PlanDayContext | None = None          # with --week and --day

    def to_dict(self) -> contract.Why:
        data: contract.Why = {
            "exercise": self.exercise, "name": self.name, "recommended": self.recommended,
            "rank": self.rank, "score": self.score,
            "derivation": self.derivation.to_dict() if self.derivation else None,
            "contributions": self.contributions, "combination": self.combination,
            "dose": self.dose, "ranking": self.ranking, "note": self.note,
            "warnings": [w.to_dict() for w in self.warnings]}
        if self.plan_day is not None:
            data["plan_day"] = self.plan_day
        return data


def _warned(explain: Callable[..., Answer]) -> Callable[..., Answer]:
    """An explanation that carries, as every piece of advice does, a warning for each change
    the --kb layers made to the safety policy (engine/overlay.py) and the disclaimer."""

    @functools.wraps(explain)
    def explained(kb: KnowledgeBase, *args: Any, **kwargs: Any) -> Answer:
        answer = explain(kb, *args, **kwargs)
        answer.warnings = with_kb_warnings(kb)
        return answer

    return explained


def _exercise_id(kb: KnowledgeBase, exercise: str) -> str:
    if exercise in kb.exercises:
        return exercise
    alias = kb.resolve_alias("exercise", exercise)
    if alias is None:
        error = UnknownId("exercise", exercise, kb.exercises)
        if not exercise.strip():
            error.message = "an exercise id is needed, not an empty one"
        listing = "list them all with `kbrun kb list exercises`"
        error.suggestion = error.suggestion or listing  # nothing close: how to see them all
        raise error
    return alias


@_warned
def why(kb: KnowledgeBase, profile: Profile, exercise: str, advice: Advice | None = None) -> Why:
    """Explain a recommendation: the derivation of each piece of evidence, how the score was
    combined, how the dose was set, and why it ranks where it does.

    Raises UnknownId for an exercise the knowledge base does not have.
    """
    from kbrun.engine import advise

    exercise = _exercise_id(kb, exercise)
    advice = advice or advise(profile, kb)
    name = kb.exercises[exercise].name
    rec = advice.recommendation(exercise)
    if rec is None:
        return Why(exercise, name, False, None, None, None, [], "", [], "",
                   note=f"{exercise} is not in this session; ask `kbrun why-not {exercise}` "
                        "with the same options to see why.")
    consultation = advice.consultation
    found = [(fact, key) for fact, key in concluded.read(consultation, concluded.Recommendation)
             if fact.exercise == exercise]
    found.sort(key=lambda item: (-item[0].weight, item[0].reason))
    trees = [derivation(kb, consultation, key) for _fact, key in found]
    contributions: list[contract.WhyContribution]
    contributions = [{"weight": fact.weight, "reason": fact.reason,
                      "rules": list(rules_for(consultation, key))} for fact, key in found]
    weights = sorted((fact.weight for fact, _key in found), reverse=True)
    terms = " x ".join(f"(1 - {w:.3g}{_discount(i)})" for i, w in enumerate(weights))
    combination = (f"score = 1 - {terms} = {rec.score:.4f} (each further piece of evidence "
                   f"counts {EVIDENCE_DISCOUNT:g} times the one before)")
    dose: list[contract.WhyDoseStep]
    dose = [{"rule": s.rule, "priority": s.priority, "changes": dict(s.changes),
             "follows": s.follows, "note": s.note,
             "sources": source_ids(kb.claims[s.follows].sources) if s.follows
             else source_ids(kb.rule_specs[s.rule].sources)} for s in rec.dose_steps]
    root = Node(f"recommended({exercise}, rank={rec.rank}, score={rec.score:.4f})", "session",
                description="the evidence below, combined and ranked by the selection policy",
                sources=source_ids(kb.selection.sources), premises=trees)
    return Why(exercise, name, True, rec.rank, rec.score, root, contributions, combination, dose,
               _ranking(advice, rec))


def _discount(index: int) -> str:
    return "" if index == 0 else f" x {EVIDENCE_DISCOUNT ** index:g}"


def _ranking(advice: Advice, rec: Recommendation) -> str:
    section = next((s.name for s in advice.sections if s.id == rec.section), rec.section)
    parts = [f"exercise {rec.rank} of {len(advice.recommendations)} in the order performed "
             f"({section})"]
    slots = advice.slots
    if rec.slot:
        place = [r.exercise for r in slots].index(rec.exercise)
        parts.append(f"slot {place + 1} of {len(slots)} by score")
        if place > 0:
            parts.append(f"below {slots[place - 1].exercise} ({slots[place - 1].score:.4f})")
        if place + 1 < len(slots):
            parts.append(f"above {slots[place + 1].exercise} ({slots[place + 1].score:.4f})")
        outside = [s for s in advice.skipped if s.score > rec.score]
        if outside:
            parts.append("ahead of higher-scored " + ", ".join(
                f"{s.exercise} ({s.score:.4f}: {s.why})" for s in outside[:3]))
    else:
        parts.append("the best-scored candidate for this part, which sits beside the strength "
                     "slots and does not count toward --limit")
    if rec.selection_note:
        parts.append(rec.selection_note)
    return "; ".join(parts)


# -- why not -------------------------------------------------------------------------------------

@dataclass
class WhyNot:
    """Why an exercise is not in the session, and what would bring it in."""

    exercise: str
    name: str
    recommended: bool
    case: contract.WhyNotCase
    reasons: list[contract.WhyNotReason]
    change: contract.ProfileChange | None  # the smallest profile change that brings it in
    tried: list[str]                 # the changes that were re-run
    warnings: list[Warning] = field(default_factory=list)   # what --kb layers changed
    plan_day: contract.PlanDayContext | None = None          # with --week and --day

    def to_dict(self) -> contract.WhyNot:
        data: contract.WhyNot = {
            "exercise": self.exercise, "name": self.name, "recommended": self.recommended,
            "case": self.case, "reasons": self.reasons, "change": self.change,
            "tried": self.tried, "warnings": [w.to_dict() for w in self.warnings]}
        if self.plan_day is not None:
            data["plan_day"] = self.plan_day
        return data


@_warned
def why_not(kb: KnowledgeBase, profile: Profile, exercise: str, *, search: bool = True) -> WhyNot:
    """Explain why an exercise is not recommended, answering the case that holds:
    excluded (each rule that excluded it and the facts that triggered it), never a candidate
    (the links that are missing), or ranked out (its score against the session's); and, with
    `search`, the smallest profile change that brings it in, verified by re-running the engine.

    Raises UnknownId for an exercise the knowledge base does not have.
    """
    from kbrun.engine.inference import consult

    exercise = _exercise_id(kb, exercise)
    name = kb.exercises[exercise].name
    consultation = consult(kb, profile)
    advice = build_advice(kb, profile, consultation)
    rec = advice.recommendation(exercise)
    if rec is not None:
        return WhyNot(exercise, name, True, "recommended",
                      [{"kind": "recommended", "message": f"{exercise} is recommended (rank "
                        f"{rec.rank}, score {rec.score:.4f}); ask `kbrun why {exercise}`."}],
                      None, [])
    excluded = [(fact, key) for fact, key in concluded.read(consultation, concluded.Exclusion)
                if fact.exercise == exercise]
    case: contract.WhyNotCase
    reasons: list[contract.WhyNotReason]
    if excluded:
        case = "excluded"
        reasons = [_exclusion_reason(kb, consultation, fact, key) for fact, key in excluded]
    else:
        skipped = next((s for s in advice.skipped if s.exercise == exercise), None)
        if skipped is not None:
            case = "ranked-out"
            reasons = [_ranked_out_reason(advice, skipped)]
        else:
            case = "not-a-candidate"
            reasons = _missing_links(kb, advice, exercise)
    change, tried = (_smallest_change(kb, profile, exercise, case, reasons) if search
                     else (None, []))
    return WhyNot(exercise, name, False, case, reasons, change, tried)


def _exclusion_reason(kb: KnowledgeBase, consultation: Consultation,
                      exclusion: concluded.Exclusion, key: FactKey) -> contract.ExcludedReason:
    support = consultation.support[key][0]
    spec = kb.rule_specs[support.rule]
    return {"kind": "excluded", "message": exclusion.reason,
            "rule": support.rule, "description": spec.description,
            "sources": source_ids(spec.sources),
            "facts": [describe(consultation.facts[p]) for p in support.premises],
            "derivation": derivation(kb, consultation, key).to_dict()}


def _ranked_out_reason(advice: Advice, skipped: Any) -> contract.RankedOutReason:
    last = advice.slots[-1] if advice.slots else None
    message = f"scored {skipped.score:.4f} but was not picked: {skipped.why}"
    if last is not None:
        message += f"; the last exercise in the session, {last.exercise}, scored {last.score:.4f}"
    consultation = advice.consultation
    rules = sorted({r for fact, key in concluded.read(consultation, concluded.Recommendation)
                    if fact.exercise == skipped.exercise for r in rules_for(consultation, key)})
    return {"kind": "ranked-out", "message": message, "score": skipped.score,
            "instead": skipped.instead, "last_in_session": last.exercise if last else None,
            "last_score": last.score if last else None, "rules": rules}


def _missing_links(kb: KnowledgeBase, advice: Advice, exercise: str
                   ) -> list[contract.WhyNotReason]:
    item = kb.exercises[exercise]
    focus = {f.id for f in advice.findings if f.kind == "focus"}
    wanted = {f.id for f in advice.findings if f.kind == "quality"}
    targets = set(item.targets.primary) | set(item.targets.secondary)
    reasons: list[contract.WhyNotReason] = []
    shared = sorted(targets & focus)
    if not shared:
        reasons.append({"kind": "no-target-in-focus",
                        "message": f"it works {', '.join(sorted(targets))}, none of which is in "
                                   "focus for this profile "
                                   f"({', '.join(sorted(focus)) or 'none'})"})
    else:
        matchers = [f"{r.id} ({r.description})" for r in kb.rules.rules.values()
                    if "targets" in r.mentions and "recommendation" in r.produces]
        reasons.append({"kind": "no-rule-matched",
                        "message": f"it works {', '.join(shared)}, which are in focus, but none "
                                   "of the rules that turn targets into recommendations matched "
                                   f"it: {'; '.join(matchers)}"})
    if not set(item.qualities) & wanted:
        reasons.append({"kind": "no-quality-wanted",
                        "message": f"it develops {', '.join(item.qualities) or 'nothing listed'}, "
                                   f"which no goal or phase here asks for "
                                   f"({', '.join(sorted(wanted)) or 'none'})"})
    return reasons


def _smallest_change(kb: KnowledgeBase, profile: Profile, exercise: str, case: str,
                     reasons: list[contract.WhyNotReason]
                     ) -> tuple[contract.ProfileChange | None, list[str]]:
    """Try one-step profile changes the graph suggests, re-running the engine for each, and
    return the first that puts the exercise in the session."""
    from kbrun.engine import advise

    item = kb.exercises[exercise]
    trials: list[tuple[str, Any, str]] = []
    missing_equipment = [e for e in item.equipment if e not in profile.equipment]
    if missing_equipment and not set(item.equipment) & set(profile.equipment):
        for equipment in missing_equipment:
            trials.append(("equipment", tuple(sorted({*profile.equipment, equipment})),
                           f"--equipment {equipment}"))
    level_rank = kb.levels[item.level].rank
    if level_rank > kb.levels[profile.level].rank:
        trials.append(("level", item.level, f"--level {item.level}"))
    for goal in sorted(kb.goals):
        if goal not in profile.goals and (set(kb.goals[goal].favours) & set(item.qualities)
                                          or item.category in kb.goals[goal].categories):
            trials.append(("goals", tuple(sorted({*profile.goals, goal})), f"--goal {goal}"))
    for phase in sorted(kb.phases, key=lambda p: kb.phases[p].order):
        if phase != profile.phase:
            trials.append(("phase", phase, f"--phase {phase}"))
    if case == "ranked-out" and profile.limit < 20:
        wider = min(20, profile.limit + 2)
        trials.append(("limit", wider, f"--limit {wider}"))
    tried = []
    for field_name, value, label in trials[:12]:
        tried.append(label)
        changed = profile.with_changes(**{field_name: value})
        result = advise(changed, kb)
        rec = result.recommendation(exercise)
        if rec is not None:
            return {"option": label, "field": field_name,
                    "value": list(value) if isinstance(value, tuple) else value,
                    "rank": rec.rank, "score": rec.score}, tried
    return None, tried
