"""From working memory to a session: combine evidence into scores, pick a balanced set of
exercises, and dose each one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from kbrun.engine import conclusions as concluded
from kbrun.engine.advice import (
    Advice,
    Avoid,
    Candidate,
    Contribution,
    DoseStep,
    Finding,
    FollowedProtocol,
    Moved,
    Prescription,
    Recommendation,
    ScheduleNote,
    Section,
    Skipped,
    Warning,
    with_kb_warnings,
)
from kbrun.engine.dose import DoseDecision, RuledDecision, in_order, prescribe
from kbrun.engine.graph import source_ids
from kbrun.engine.schema import LOADING, Requirement
from kbrun.engine.timing import exercise_seconds, minutes

if TYPE_CHECKING:
    from kbrun.engine.inference import Consultation, FactKey
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.profile import Profile
    from kbrun.engine.schema import Exercise
    from kbrun.engine.schema import Section as SectionSpec



EVIDENCE_DISCOUNT = 0.5


def combine(weights: Iterable[float], discount: float = 1.0) -> float:
    """Certainty-factor combination of positive evidence: 1 - prod(1 - w_i * discount**i),
    with the weights taken strongest first. discount=1 is the classic combination; a smaller
    discount makes each further piece of evidence count less than the one before it."""
    remaining = 1.0
    factor = 1.0
    for weight in sorted(weights, reverse=True):
        remaining *= 1.0 - max(0.0, min(1.0, weight)) * factor
        factor *= discount
    return round(1.0 - remaining, 4)


def rules_for(consultation: Consultation, key: FactKey) -> tuple[str, ...]:
    """The rules that asserted a fact, in firing order, without repeats."""
    return tuple(dict.fromkeys(s.rule for s in consultation.support.get(key, [])))


# -- findings ------------------------------------------------------------------------------------

def findings_of(consultation: Consultation) -> list[Finding]:
    """Suspected injuries, muscles in focus, wanted qualities and protected regions."""
    read = concluded.read
    return [
        *_findings(consultation, "injury", [(s.injury, s.certainty, s.via, key)
                                            for s, key in read(consultation, concluded.Suspect)]),
        *_findings(consultation, "focus", [(f.muscle, f.weight, f.cause, key)
                                           for f, key in read(consultation, concluded.Focus)]),
        *_findings(consultation, "quality", [(w.quality, w.weight, w.cause, key)
                                             for w, key in read(consultation, concluded.Wanted)]),
        # a protected region is certain
        *_findings(consultation, "protected-region",
                   [(p.region, 1.0, p.cause, key)
                    for p, key in read(consultation, concluded.Protected)]),
    ]


def _findings(consultation: Consultation, kind: str,
              facts: list[tuple[str, float, str, FactKey]]) -> list[Finding]:
    """One finding per id among (id, weight, cause, key) conclusions: its weights combined,
    its rules and causes gathered; the most certain first."""
    grouped: dict[str, list[tuple[float, str, FactKey]]] = defaultdict(list)
    for item, weight, cause, key in facts:
        grouped[item].append((weight, cause, key))
    rows = []
    for item, members in grouped.items():
        rules = tuple(dict.fromkeys(r for _w, _c, key in members
                                    for r in rules_for(consultation, key)))
        rows.append(Finding(kind, item, combine(weight for weight, _c, _k in members), rules,
                            tuple(sorted({cause for _w, cause, _k in members}))))
    return sorted(rows, key=lambda f: (-f.certainty, f.id))


# -- scoring -------------------------------------------------------------------------------------

def evidence(consultation: Consultation) -> dict[str, list[Contribution]]:
    """exercise -> its recommendation facts as contributions, strongest first."""
    found: dict[str, list[Contribution]] = defaultdict(list)
    for fact, key in concluded.read(consultation, concluded.Recommendation):
        found[fact.exercise].append(
            Contribution(fact.weight, fact.reason, rules_for(consultation, key)))
    for items in found.values():
        items.sort(key=lambda c: (-c.weight, c.reason))
    return found


def exclusions(kb: KnowledgeBase, consultation: Consultation) -> list[Avoid]:
    """Every exercise a rule ruled out, with its reasons (safety reasons first)."""
    grouped: dict[str, list[tuple[concluded.Exclusion, FactKey]]] = defaultdict(list)
    for fact, key in concluded.read(consultation, concluded.Exclusion):
        grouped[fact.exercise].append((fact, key))
    result = []
    for exercise, members in sorted(grouped.items()):
        ordered = sorted(members, key=lambda m: (m[0].kind != "safety", m[0].reason))
        reasons = tuple(fact.reason for fact, _key in ordered)
        rules = tuple(dict.fromkeys(r for _fact, key in ordered
                                    for r in rules_for(consultation, key)))
        result.append(Avoid(exercise, kb.exercises[exercise].name, reasons[0], rules, reasons,
                            ordered[0][0].kind))
    return result


def rank_candidates(kb: KnowledgeBase, found: dict[str, list[Contribution]],
                    excluded: set[str]) -> list[Candidate]:
    """Every exercise with evidence that no rule excluded, best first (ties by id)."""
    ranked = [Candidate(e, combine((c.weight for c in items), EVIDENCE_DISCOUNT),
                        kb.exercises[e].pattern)
              for e, items in found.items() if e not in excluded]
    ranked.sort(key=lambda c: (-c.score, c.exercise))
    return ranked


# -- selection -----------------------------------------------------------------------------------

def _primary_regions(kb: KnowledgeBase, exercise: Exercise) -> set[str]:
    return {kb.muscles[m].region for m in exercise.targets.primary}


def meets(kb: KnowledgeBase, exercise_id: str, requirement: Requirement) -> bool:
    """Whether an exercise satisfies one session requirement of the selection policy."""
    exercise = kb.exercises[exercise_id]
    if requirement.regions and not (_primary_regions(kb, exercise) & set(requirement.regions)):
        return False
    if requirement.unilateral is not None and exercise.unilateral != requirement.unilateral:
        return False
    return requirement.category is None or exercise.category == requirement.category


def loads_muscles(kb: KnowledgeBase, exercise_id: str) -> bool:
    """Whether an exercise is loading work (strength, isometric, plyometric): only loading work
    counts as working a muscle; balance, mobility and warm-up drills never do."""
    return kb.exercises[exercise_id].category in LOADING


def worked_muscles(kb: KnowledgeBase, exercise_id: str) -> list[str]:
    """The primary targets a strength or isometric exercise works: what the per-muscle cap and
    the overlap discount count. Plyometrics are chosen for power and energy storage and capped
    by category; stretches and drills work no muscle."""
    exercise = kb.exercises[exercise_id]
    return list(exercise.targets.primary) if exercise.category in ("strength", "isometric") else []


def _covers(kb: KnowledgeBase, exercise_id: str, muscle: str, primary_only: bool) -> bool:
    if not loads_muscles(kb, exercise_id):
        return False
    targets = kb.exercises[exercise_id].targets
    return muscle in targets.primary or (not primary_only and muscle in targets.secondary)


def select_session(kb: KnowledgeBase, ranked: list[Candidate], limit: int,
                   focus: dict[str, float], pinned: frozenset[str] = frozenset(),
                   cost: Mapping[str, int] | None = None, budget: int | None = None,
                   minutes_budget: int | None = None
                   ) -> tuple[list[Candidate], dict[str, str], list[Skipped]]:
    """Pick up to `limit` candidates (the policy is `selection:` in kb/session.yaml).

    1. Greedy: repeatedly take the candidate with the best score discounted by how much of its
       primary targets the picks already work (`overlap_penalty`), skipping one whose movement
       pattern or category is already at its limit.
    2. For each unmet need — a `require:` item, a muscle in focus at `cover_focus_at_least` that
       no pick works as a primary target, an opposing group left out — swap in the best
       candidate that meets it, dropping the lowest-scored pick whose removal breaks no need
       already met.
    `pinned` candidates (an injury's key exercises, from the protocol it follows) are taken
    first, best first, and are never dropped to make room.
    With a `budget` (seconds), a candidate that would take the picks' `cost` (seconds each,
    engine/timing.py) past it is not taken, as a full session would not take it; the message
    names `minutes_budget`, the whole session's (the budget may be what its warm-up leaves).
    Returns the picks (best first), a note per swapped-in pick, and what was not picked and why.
    """
    policy = kb.selection
    works: dict[str, list[str]] = {c.exercise: worked_muscles(kb, c.exercise) for c in ranked}
    tie_break = {c.exercise: _neg(c.exercise) for c in ranked}
    picked: list[Candidate] = []
    skipped: dict[str, Skipped] = {}
    notes: dict[str, str] = {}

    def allowed(candidate: Candidate, chosen: list[Candidate]) -> str | None:
        """Why `candidate` cannot join `chosen`, or None."""
        twin = [c.exercise for c in chosen if c.pattern == candidate.pattern]
        if len(twin) >= policy.max_per_pattern:
            return f"near-identical to {twin[0]} (same '{candidate.pattern}' pattern)"
        for muscle in works[candidate.exercise]:
            working = [c.exercise for c in chosen if muscle in works[c.exercise]]
            if len(working) >= policy.max_per_muscle:
                return (f"{', '.join(working)} already work {muscle} "
                        f"(at most {policy.max_per_muscle} per muscle)")
        category = kb.exercises[candidate.exercise].category
        cap = policy.max_per_category.get(category)
        if cap is not None and sum(kb.exercises[c.exercise].category == category
                                   for c in chosen) >= cap:
            return f"the session already has {cap} {category} exercise(s)"
        if budget is not None and cost is not None:
            used = sum(cost[c.exercise] for c in chosen)
            if used + cost[candidate.exercise] > budget:
                return over_budget(cost[candidate.exercise], minutes_budget or budget // 60)
        return None

    def adjusted(candidate: Candidate) -> float:
        primary = works[candidate.exercise]
        if not primary:
            return candidate.score
        worked = {m for c in picked for m in works[c.exercise]}
        overlap = sum(m in worked for m in primary) / len(primary)
        return candidate.score * (1.0 - policy.overlap_penalty * overlap)

    for candidate in ranked:
        if candidate.exercise in pinned and len(picked) < limit:
            picked.append(candidate)
            notes[candidate.exercise] = "a key exercise of the protocol followed"
    remaining = [c for c in ranked if c not in picked]
    while remaining and len(picked) < limit:
        best = max(remaining, key=lambda c: (adjusted(c), c.score, tie_break[c.exercise]))
        remaining.remove(best)
        why = allowed(best, picked)
        if why is None:
            picked.append(best)
        else:
            skipped[best.exercise] = Skipped(best.exercise, best.score, why)

    needs: list[tuple[str, Any]] = [(f"{r.id}: {r.description}", r) for r in policy.require]
    for muscle in sorted(focus, key=lambda m: (-focus[m], m)):
        if focus[muscle] >= policy.cover_focus_at_least:
            needs.append((f"work {muscle}, in focus at {focus[muscle]:.2f}", ("cover", muscle)))
    if policy.balance_opposing:
        for muscle in sorted(focus, key=lambda m: (-focus[m], m)):
            if kb.muscles[muscle].kind != "muscle" or focus[muscle] < policy.cover_focus_at_least:
                continue
            for other in kb.muscles[muscle].opposes:
                needs.append((f"balance {muscle} with {other}", ("balance", muscle, other)))

    def satisfied(need: Any, chosen: list[Candidate]) -> bool:
        if isinstance(need, Requirement):
            return sum(meets(kb, c.exercise, need) for c in chosen) >= need.at_least
        if need[0] == "cover":
            return any(_covers(kb, c.exercise, need[1], True) for c in chosen)
        _, muscle, other = need
        if not any(_covers(kb, c.exercise, muscle, True) for c in chosen):
            return True  # nothing works this muscle, so nothing to balance
        return any(_covers(kb, c.exercise, other, False) for c in chosen)

    def fits(need: Any, exercise_id: str) -> bool:
        if isinstance(need, Requirement):
            return meets(kb, exercise_id, need)
        return _covers(kb, exercise_id, need[-1], True)

    settled: list[Any] = []
    for label, need in needs:
        if satisfied(need, picked):
            settled.append(need)
            continue
        for candidate in ranked:
            if candidate in picked or not fits(need, candidate.exercise):
                continue
            victim = _victim(picked, candidate, settled, satisfied, allowed, limit, pinned)
            if victim is False:
                continue
            if victim is not None:
                picked.remove(victim)
                skipped[victim.exercise] = Skipped(
                    victim.exercise, victim.score,
                    f"made room for {candidate.exercise} (to {label})", candidate.exercise)
            picked.append(candidate)
            skipped.pop(candidate.exercise, None)
            notes[candidate.exercise] = f"picked to {label}"
            settled.append(need)
            break
    picked.sort(key=lambda c: (-c.score, c.exercise))
    chosen = {c.exercise for c in picked}
    last = min((c.score for c in picked), default=0.0)
    worked = {m for c in picked for m in works[c.exercise]}
    for candidate in ranked:
        if candidate.exercise in chosen:
            continue
        previous = skipped.get(candidate.exercise)
        if previous is not None and previous.instead is not None:
            continue  # it made room for a pick that a session rule needed
        shared = sorted(set(works[candidate.exercise]) & worked)
        blocked = allowed(candidate, [c for c in picked])
        if limit == 0:
            why = "the session holds no exercises (see the warnings)"
        elif candidate.score < last or (len(picked) < limit and blocked is None):
            # the real cause is its score, whatever cap it would also meet
            why = f"ranked below the limit of {limit} (score {candidate.score:.2f}, the last " \
                  f"exercise in the session scored {last:.2f})"
        elif blocked is not None:
            why = blocked  # judged against the final session, not an intermediate one
        elif candidate.score > last and shared:
            why = (f"its primary targets ({', '.join(shared)}) are already worked by the "
                   f"session, which lowers it to {adjusted(candidate):.2f}")
        else:
            why = f"ranked below the limit of {limit}"
        skipped[candidate.exercise] = Skipped(candidate.exercise, candidate.score, why)
    return picked, notes, [skipped[c.exercise] for c in ranked if c.exercise in skipped]


def over_budget(seconds: int, budget_minutes: int) -> str:
    """Why an exercise that does not fit the time budget was left out."""
    return (f"it takes about {minutes(seconds)} min and would take the session past its "
            f"{budget_minutes}-minute budget (--minutes)")


def _neg(text: str) -> tuple[int, ...]:
    """A key that sorts ids in reverse, so that max() breaks ties by the smallest id."""
    return tuple(-ord(ch) for ch in text)


def _victim(picked: list[Candidate], candidate: Candidate, settled: list[Any],
            satisfied: Any, allowed: Any, limit: int,
            pinned: frozenset[str] = frozenset()) -> Candidate | Literal[False] | None:
    """The pick to drop for `candidate`: None if there is room, False if nothing can go.
    A pinned pick (a protocol's key exercise) is never dropped."""
    if len(picked) < limit and allowed(candidate, picked) is None:
        return None
    for victim in sorted(picked, key=lambda c: (c.score, c.exercise)):
        if victim.exercise in pinned:
            continue
        trial = [c for c in picked if c is not victim]
        if allowed(candidate, trial) is not None:
            continue
        trial.append(candidate)
        if all(satisfied(need, trial) for need in settled):
            return victim
    return False


# -- dosing --------------------------------------------------------------------------------------

def dose_decisions(consultation: Consultation) -> list[RuledDecision]:
    """Every dose fact as a decision with the rule that asserted it, lowest priority first."""
    return in_order([(decision, rule)
                     for decision, key in concluded.read(consultation, DoseDecision)
                     for rule in rules_for(consultation, key)])


def followed_protocols(kb: KnowledgeBase, consultation: Consultation
                       ) -> list[tuple[FollowedProtocol, str]]:
    """The protocols the rules chose to follow, each with the rule that chose it."""
    result = []
    for following, key in concluded.read(consultation, concluded.Following):
        protocol = kb.protocols[following.protocol]
        result.append((FollowedProtocol(protocol.id, protocol.name, following.injury,
                                        following.stage, protocol.summary,
                                        tuple(source_ids(protocol.sources))),
                       rules_for(consultation, key)[0]))
    result.sort(key=lambda item: item[0].id)
    return result


def protocol_decisions(kb: KnowledgeBase, followed: list[tuple[FollowedProtocol, str]]
                       ) -> list[RuledDecision]:
    """The doses of the followed protocols, as decisions at the kb's protocol priority
    (kb/session.yaml: above the phase's), each with the rule that chose the protocol."""
    priority = kb.selection.protocol_priority
    return [(DoseDecision.from_protocol(protocol.id, dose, priority), rule)
            for protocol, rule in followed for dose in kb.protocols[protocol.id].doses]


def schedule_notes(kb: KnowledgeBase, decisions: list[RuledDecision]) -> list[ScheduleNote]:
    """Dose decisions that concern the whole session (a note with no dose fields)."""
    notes = []
    for decision, rule in decisions:
        if decision.is_session_note:
            claim = decision.follows
            cited = source_ids(kb.claims[claim].sources) if claim else \
                source_ids(kb.rule_specs[rule].sources)
            notes.append(ScheduleNote(str(decision.note), claim, rule, tuple(cited)))
    return notes


# -- the whole session ---------------------------------------------------------------------------

def section_of(kb: KnowledgeBase, exercise_id: str) -> SectionSpec | None:
    """The part of the session an exercise is performed in (None: the policy names none)."""
    exercise = kb.exercises[exercise_id]
    for section in kb.selection.sections:
        if exercise.category in section.categories and (
                not section.patterns or exercise.pattern in section.patterns):
            return section
    return None


def session_size(consultation: Consultation, limit: int) -> tuple[int, tuple[int, str] | None]:
    """The number of exercises the session may hold: the runner's limit, cut by `session-size`
    conclusions (a taper, an urgent referral). Returns it and the tightest cut, if any."""
    cuts = sorted((size.max, size.cause)
                  for size, _key in concluded.read(consultation, concluded.SessionSize))
    if cuts and cuts[0][0] < limit:
        return cuts[0][0], cuts[0]
    return limit, None


def _extras(kb: KnowledgeBase, ranked: list[Candidate]) -> list[Candidate]:
    """The best candidates of the parts that sit beside the strength slots (warm-up,
    mobility), each part up to its `max`."""
    chosen = []
    for section in kb.selection.sections:
        if section.counts_toward_limit:
            continue
        inside = [c for c in ranked if section_of(kb, c.exercise) is section]
        chosen += inside[:section.max if section.max is not None else len(inside)]
    return chosen


def progressions(kb: KnowledgeBase, consultation: Consultation, ranked: list[Candidate],
                 excluded: set[str]) -> tuple[list[Candidate], list[Moved]]:
    """`ranked` with each exercise a `move` conclusion moves up (a season plan's progression,
    kb/rules/80-plan.yaml) replaced by its progression, which takes the better of the two
    scores; among several progressions of one exercise, the best-scored (then the first by
    id). A progression that a rule excluded is no move."""
    score = {c.exercise: c.score for c in ranked}
    options: dict[str, list[tuple[concluded.Move, FactKey]]] = defaultdict(list)
    for move, key in concluded.read(consultation, concluded.Move):
        if move.exercise in score and move.to not in excluded:
            options[move.exercise].append((move, key))
    moved: list[Moved] = []
    taken: set[str] = set()
    for exercise in sorted(options, key=lambda e: (-score[e], e)):
        choices = [(m, k) for m, k in options[exercise] if m.to not in taken]
        if not choices:
            continue
        move, key = min(choices, key=lambda item: (-score.get(item[0].to, 0.0), item[0].to))
        taken.add(move.to)
        moved.append(Moved(exercise, move.to, move.cause, rules_for(consultation, key),
                           max(score[exercise], score.get(move.to, 0.0))))
    replaced = {m.exercise: m.to for m in moved}

    def final(exercise: str) -> str:
        """Where a chain of moves ends (calf-raise -> eccentric-calf-raise -> ...)."""
        seen = {exercise}
        while exercise in replaced and replaced[exercise] not in seen:
            exercise = replaced[exercise]
            seen.add(exercise)
        return exercise

    best = {m.exercise: m.score for m in moved}
    result = [Candidate(final(c.exercise), max(c.score, best[c.exercise]),
                        kb.exercises[final(c.exercise)].pattern)
              if c.exercise in replaced else c
              for c in ranked if c.exercise not in taken]
    result.sort(key=lambda c: (-c.score, c.exercise))
    return result, moved


def _before_slots(kb: KnowledgeBase) -> list[SectionSpec]:
    """The session parts performed before the first part that counts toward --limit."""
    result = []
    for section in kb.selection.sections:
        if section.counts_toward_limit:
            break
        result.append(section)
    return result


def build_advice(kb: KnowledgeBase, profile: Profile, consultation: Consultation) -> Advice:
    """Turn a finished consultation into dosed advice, ordered as the session is performed."""
    findings = findings_of(consultation)
    found = evidence(consultation)
    avoid = exclusions(kb, consultation)
    ranked = rank_candidates(kb, found, {a.exercise for a in avoid})
    ranked, moved = progressions(kb, consultation, ranked, {a.exercise for a in avoid})
    focus = {f.id: f.certainty for f in findings if f.kind == "focus"}
    limit, size_limit = session_size(consultation, profile.limit)
    followed = followed_protocols(kb, consultation)
    protocol_of = {d.exercise: p for p, _rule in followed for d in kb.protocols[p.id].doses}
    decisions = in_order(dose_decisions(consultation) + protocol_decisions(kb, followed))
    sessions = kb.phases[profile.phase].sessions_per_week
    for decision, _rule in decisions:
        if decision.sessions is not None and decision.protocol is None:
            sessions = decision.sessions
    timing = kb.timing
    # the time budget is spent at the full dose: a lighter week (a decision taking sets away)
    # leaves time spare instead of filling it with more exercises, so a plan's weeks keep theirs
    full = [item for item in decisions if (item[0].sets_change or 0) >= 0]
    dosed: dict[str, tuple[Prescription, list[DoseStep]]] = {}

    def dose_of(exercise_id: str) -> tuple[Prescription, list[DoseStep]]:
        if exercise_id not in dosed:
            dosed[exercise_id] = prescribe(kb.exercises[exercise_id], decisions, sessions,
                                           kb.selection.lighter_load_reps)
        return dosed[exercise_id]

    def seconds_of(exercise_id: str, applied: list[RuledDecision] | None = None) -> int:
        """How long it takes at its dose (or at the dose `applied` decisions make)."""
        exercise = kb.exercises[exercise_id]
        prescription = dose_of(exercise_id)[0] if applied is None else \
            prescribe(exercise, applied, sessions, kb.selection.lighter_load_reps)[0]
        return exercise_seconds(prescription, exercise.category, timing)

    cost: dict[str, int] = {}
    if profile.minutes is not None:   # only a budget needs every candidate's time
        at = None if len(full) == len(decisions) else full
        cost = {c.exercise: seconds_of(c.exercise, at) for c in ranked}

    def counted(candidate: Candidate) -> bool:
        section = section_of(kb, candidate.exercise)
        return section is None or section.counts_toward_limit

    budget = None if profile.minutes is None else profile.minutes * 60
    slots = [c for c in ranked if counted(c)]
    pinned = frozenset(c.exercise for c in slots if c.exercise in protocol_of)
    extras = _extras(kb, [c for c in ranked if not counted(c)]) if limit > 0 else []
    # the parts performed before the strength slots (the warm-up) come first in the budget;
    # those after them (mobility) only if time is left
    first = _before_slots(kb)
    ahead = [c for c in extras if section_of(kb, c.exercise) in first]
    reserved = 0 if budget is None else sum(cost[c.exercise] for c in ahead)
    if budget is not None and reserved > budget:
        ahead, reserved = [], 0          # no room even for the warm-up: the strength work
    picks, notes, skipped = select_session(kb, slots, limit, focus, pinned, cost,
                                           None if budget is None else budget - reserved,
                                           profile.minutes)
    if budget is not None:
        used = reserved + sum(cost[c.exercise] for c in picks)
        for extra in [c for c in extras if c not in ahead]:
            if used + cost[extra.exercise] > budget:
                extras.remove(extra)
                skipped.append(Skipped(extra.exercise, extra.score, over_budget(
                    cost[extra.exercise], budget // 60)))
            else:
                used += cost[extra.exercise]
    for move in moved:
        notes.setdefault(move.to, f"the progression of {move.exercise}: {move.cause}")
        skipped.append(Skipped(move.exercise, move.score, f"moved up to {move.to}: {move.cause}",
                               move.to))
    picks += extras
    order = {s.id: i for i, s in enumerate(kb.selection.sections)}

    def performed(candidate: Candidate) -> tuple[int, float, str]:
        section = section_of(kb, candidate.exercise)
        return (order[section.id] if section else len(order), -candidate.score,
                candidate.exercise)

    picks.sort(key=performed)
    recommendations = []
    for rank, pick in enumerate(picks, start=1):
        exercise = kb.exercises[pick.exercise]
        prescription, steps = dose_of(pick.exercise)
        contributions = found[pick.exercise]
        reasons = list(dict.fromkeys(c.reason for c in contributions))
        if pick.exercise in notes:
            reasons.append(notes[pick.exercise])
        deciding = [s.follows for s in steps if s.follows and s.changes and not s.cap]
        if deciding:  # the claim of the decision that stands (session-wide notes: `schedule`)
            claim = kb.claims[deciding[-1]]
            reasons.append(f"dose follows '{claim.id}': {claim.statement} "
                           f"({', '.join(source_ids(claim.sources))})")
        protocol = protocol_of.get(pick.exercise)
        if protocol is not None and any(s.protocol == protocol.id for s in steps):
            reasons.append(f"dose of the {protocol.name} protocol ({', '.join(protocol.sources)}),"
                           f" which outranks the phase's dosing")
        rules = list(dict.fromkeys([r for c in contributions for r in c.rules]
                                   + [r for m in moved if m.to == pick.exercise for r in m.rules]
                                   + [s.rule for s in steps]))
        cited = list(dict.fromkeys(
            source_ids(exercise.sources)
            + [s for r in rules for s in source_ids(kb.rule_specs[r].sources)]
            + (list(protocol.sources) if protocol else [])))
        section = section_of(kb, pick.exercise)
        recommendations.append(Recommendation(
            rank=rank, exercise=pick.exercise, name=exercise.name, score=pick.score,
            prescription=prescription, targets=list(exercise.targets.primary),
            reasons=reasons, rules=rules, sources=cited, contributions=contributions,
            dose_steps=steps, selection_note=notes.get(pick.exercise), cues=list(exercise.cues),
            section=section.id if section else "session", category=exercise.category,
            protocol=protocol.id if protocol else None,
            stage=protocol.stage if protocol else None,
            slot=section is None or section.counts_toward_limit,
            seconds=seconds_of(pick.exercise)))

    sections = []
    for spec in kb.selection.sections:
        members = tuple(r.exercise for r in recommendations if r.section == spec.id)
        if members:
            sections.append(Section(spec.id, spec.name, members))

    warnings = [Warning(fact.kind, fact.message, rules_for(consultation, key), fact.urgent)
                for fact, key in concluded.read(consultation, concluded.Warning)]
    total = sum(r.seconds for r in recommendations)
    if budget is not None and total > budget:
        warnings.append(Warning(
            "time-budget", f"the session takes about {minutes(total)} min, over the "
            f"{profile.minutes}-minute budget: a rehabilitation protocol's dose outranks the "
            "budget; make time for it, or split it over the day"))
    warnings = with_kb_warnings(kb, warnings)
    rank_of = {"safety-change": -1, "red-flag": 0, "screen": 1, "pain": 2, "pain-monitoring": 3,
               "conflict": 4, "disclaimer": 9}
    warnings.sort(key=lambda w: (not w.urgent, rank_of.get(w.kind, 5), w.message))
    stages = [stage for stage, _key in concluded.read(consultation, concluded.InjuryStage)]
    stage = min(stages, key=lambda s: s.rank) if stages else None
    return Advice(profile=profile, findings=findings, recommendations=recommendations,
                  avoid=avoid, warnings=warnings, schedule=schedule_notes(kb, decisions),
                  sessions_per_week=sessions, candidates=ranked, skipped=skipped,
                  consultation=consultation, sections=sections,
                  # a protocol is named only when the session holds one of its exercises
                  protocols=[p for p, _rule in followed if any(
                      r.protocol == p.id for r in recommendations)],
                  stage=stage.id if stage else None,
                  stage_cause=stage.cause if stage else None, size_limit=size_limit,
                  moves=moved)
