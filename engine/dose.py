"""Dosing: the typed dose decision that a rule's `dose` action, a `dose` fact and a
rehabilitation protocol give, which exercises it applies to, and how the decisions that apply
make an exercise's prescription."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kbrun.engine.advice import DoseStep, Prescription
from kbrun.engine.schema import LOAD_RANK, SIDES

if TYPE_CHECKING:
    from kbrun.engine.schema import Category, Exercise, Load, ProtocolDose, Side

Span = tuple[int, int]
ANY = "any"   # a selector a dose fact leaves open

# -- a `dose` action as a rule writes it ----------------------------------------------------------
# field -> type. Selectors choose the exercises (left out: every exercise); the settings replace
# the exercise's own dose; the ceilings (`max_*`) only ever lower it, after everything else.
# `span` is `n` or `[min, max]`; `whole` a whole number; `load` one of LOAD_RANK.
SELECTORS: dict[str, str] = {
    "exercise": "id:exercise", "category": "category", "pattern": "pattern", "loadable": "bool",
    "unilateral": "bool",
}
ACTION_FIELDS: dict[str, str] = {
    **SELECTORS,
    "sets": "whole", "sets_change": "change", "reps": "span", "hold_s": "span", "load": "load",
    "tempo": "text",
    "rest_s": "whole", "sessions_per_week": "span",
    "max_sets": "whole", "max_load": "load",
    "follows": "id:claim", "priority": "whole", "note": "text",
    # the weaker side of an imbalance gets `side_sets` more sets of a single-leg exercise
    "side": "side", "side_sets": "extra", "side_max": "whole",
}
# a span field of an action -> the prefix of its `_min` and `_max` fields in a dose fact
SPAN_PREFIX = {"reps": "reps", "hold_s": "hold", "sessions_per_week": "sessions"}
_FLAG = {True: "yes", False: "no"}

# -- the `dose` fact such an action asserts -------------------------------------------------------
# Selectors are text: 'any' or the value ('yes'/'no' for the flags), so a rule can match them.
FACT_FIELDS: dict[str, str] = {
    "exercise": "text", "category": "text", "pattern": "text", "loadable": "text",
    "unilateral": "text",
    "sets": "whole", "sets_change": "whole", "reps_min": "whole", "reps_max": "whole",
    "hold_min": "whole",
    "hold_max": "whole", "load": "text", "tempo": "text", "rest_s": "whole",
    "sessions_min": "whole", "sessions_max": "whole", "max_sets": "whole", "max_load": "text",
    "follows": "text", "priority": "whole", "note": "text", "side": "text", "side_sets": "whole",
    "side_max": "whole",
}
FACT_CHOICES: dict[str, tuple[str, ...]] = {
    "loadable": (ANY, "yes", "no"), "unilateral": (ANY, "yes", "no"),
    "load": tuple(LOAD_RANK), "max_load": tuple(LOAD_RANK), "side": SIDES,
}
FACT_DESCRIPTION = ("A dosing decision (from a `dose` action); unset selectors are 'any', "
                    "spans are stored as _min and _max.")


def fact_fields(action: Mapping[str, Any], default_priority: int) -> dict[str, Any]:
    """The fields of the `dose` fact a `dose` action asserts: every selector ('any' when not
    given, 'yes'/'no' for a flag), each span split into `_min` and `_max`, the other fields as
    given, and the priority (the rule's salience unless given). Values may be rule variables;
    the action must already be valid (the rule compiler checks it against ACTION_FIELDS)."""
    fields: dict[str, Any] = dict.fromkeys(SELECTORS, ANY)
    for name, value in action.items():
        if name in SPAN_PREFIX:
            low, high = (value, value) if isinstance(value, int) else value
            prefix = SPAN_PREFIX[name]
            fields[f"{prefix}_min"], fields[f"{prefix}_max"] = low, high
        elif ACTION_FIELDS.get(name) == "bool":
            fields[name] = _FLAG[bool(value)]
        else:
            fields[name] = value
    fields.setdefault("priority", default_priority)
    return fields


# -- the typed decision -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DoseDecision:
    """A dosing decision: the exercises it applies to (an unset selector: every exercise), the
    dose it sets, the ceilings it puts on the dose, and its priority among the decisions."""

    fact_kind: ClassVar[str] = "dose"

    # selectors
    exercise: str | None = None
    category: Category | None = None
    pattern: str | None = None
    loadable: bool | None = None
    unilateral: bool | None = None
    # settings
    sets: int | None = None
    sets_change: int | None = None       # sets added (or, below 0, taken away), at least 1 left
    reps: Span | None = None
    hold: Span | None = None             # seconds
    load: Load | None = None
    tempo: str | None = None
    rest_s: int | None = None
    sessions: Span | None = None         # sessions per week
    side: Side | None = None             # the weaker side of an imbalance ...
    side_sets: int | None = None         # ... gets this many more sets (single-leg work only)
    side_max: int | None = None          # ... up to this many sets in all
    frequency: str | None = None         # a protocol's own frequency, in words
    effort: str | None = None            # how hard, in words (a protocol's)
    # ceilings: applied after every setting, they only ever lower the dose
    max_sets: int | None = None
    max_load: Load | None = None
    priority: int = 0
    follows: str | None = None           # the claim the decision sides with
    note: str | None = None
    protocol: str | None = None          # the rehabilitation protocol whose dose this is

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> DoseDecision:
        """The decision a `dose` fact holds (its fields as `fact_fields` writes them)."""
        def selector(name: str) -> Any:
            value = fields.get(name, ANY)
            return None if value == ANY else value

        def flag(name: str) -> bool | None:
            value = selector(name)
            return None if value is None else value == "yes"

        def span(prefix: str) -> Span | None:
            low = fields.get(f"{prefix}_min")
            return None if low is None else (int(low), int(fields[f"{prefix}_max"]))

        def whole(name: str) -> int | None:
            value = fields.get(name)
            return None if value is None else int(value)

        def text(name: str) -> str | None:
            value = fields.get(name)
            return None if value is None else str(value)

        return cls(
            exercise=selector("exercise"), category=selector("category"),
            pattern=selector("pattern"), loadable=flag("loadable"),
            unilateral=flag("unilateral"),
            sets=whole("sets"), sets_change=whole("sets_change"), reps=span("reps"),
            hold=span("hold"), load=fields.get("load"),
            tempo=text("tempo"), rest_s=whole("rest_s"), sessions=span("sessions"),
            side=fields["side"] if fields.get("side") in SIDES else None,
            side_sets=whole("side_sets"), side_max=whole("side_max"),
            max_sets=whole("max_sets"), max_load=fields.get("max_load"),
            priority=int(fields.get("priority", 0)), follows=text("follows"),
            note=text("note"))

    @classmethod
    def from_protocol(cls, protocol: str, dose: ProtocolDose, priority: int) -> DoseDecision:
        """The decision a rehabilitation protocol's dose of one exercise (kb/protocols.yaml)
        makes, at `priority` (above the phase's decisions: kb/session.yaml)."""
        return cls(exercise=dose.exercise, sets=dose.sets, reps=dose.reps, hold=dose.hold_s,
                   load=dose.load, tempo=dose.tempo, rest_s=dose.rest_s,
                   sessions=(dose.sessions_per_week, dose.sessions_per_week),
                   frequency=dose.frequency, effort=dose.effort, priority=priority,
                   protocol=protocol)

    def applies_to(self, exercise: Exercise) -> bool:
        """Whether every selector this decision sets matches the exercise."""
        return ((self.exercise is None or self.exercise == exercise.id)
                and (self.category is None or self.category == exercise.category)
                and (self.pattern is None or self.pattern == exercise.pattern)
                and (self.loadable is None or self.loadable == exercise.loadable)
                and (self.unilateral is None or self.unilateral == exercise.unilateral))

    @property
    def selects_every_exercise(self) -> bool:
        return (self.exercise is None and self.category is None and self.pattern is None
                and self.loadable is None and self.unilateral is None)

    @property
    def is_ceiling(self) -> bool:
        """A ceiling (`max_sets`, `max_load`) applies after every other decision; a decision
        with a ceiling is only a ceiling."""
        return self.max_sets is not None or self.max_load is not None

    def settings(self) -> list[tuple[str, Any]]:
        """The dose values this decision sets, by the names of a prescription in the making
        (spans as `_min` and `_max`), in the order they are applied."""
        values: list[tuple[str, Any]] = [("sets", self.sets), ("sets_change", self.sets_change)]
        for prefix, span in (("reps", self.reps), ("hold", self.hold)):
            if span is not None:
                values += [(f"{prefix}_min", span[0]), (f"{prefix}_max", span[1])]
        values += [("load", self.load), ("tempo", self.tempo), ("rest_s", self.rest_s)]
        if self.sessions is not None:
            values += [("sessions_min", self.sessions[0]), ("sessions_max", self.sessions[1])]
        values += [("frequency", self.frequency), ("effort", self.effort)]
        if self.side is not None and self.side_sets:
            values += [("side", self.side), ("side_sets", self.side_sets)]
            if self.side_max is not None:
                values.append(("side_max", self.side_max))
        return [(name, value) for name, value in values if value is not None]

    @property
    def is_session_note(self) -> bool:
        """A note about the whole session: it selects every exercise and sets no dose."""
        return (bool(self.note) and self.selects_every_exercise and not self.settings()
                and not self.is_ceiling)


RuledDecision = tuple[DoseDecision, str]   # a decision and the rule (or the rule that chose
                                           # the protocol) it comes from


def in_order(decisions: list[RuledDecision]) -> list[RuledDecision]:
    """The decisions in the order they apply: ascending priority, ties by rule id (stable)."""
    return sorted(decisions, key=lambda item: (item[0].priority, item[1]))


def prescribe(exercise: Exercise, decisions: list[RuledDecision], sessions: Span,
              lighter_load_reps: Mapping[Load, Span] | None = None
              ) -> tuple[Prescription, list[DoseStep]]:
    """The exercise's default dose with every applicable decision applied in the order given
    (`in_order`: ascending priority), then every ceiling (`max_sets`, `max_load`: level, pain,
    red flags) applied last.

    Because ceilings only ever lower a value and apply after everything else, a rule that sets
    a dose can never give back what a ceiling took away: more pain never means more work.
    A bodyweight exercise that cannot be loaded keeps the lighter of its own load and the
    decided one: a rule saying 'light' does not put a weight on a clamshell. A protocol's dose
    (kb/protocols.yaml) sets the reps or the hold the protocol gives, whichever the exercise has.
    When a ceiling lowers the load of a low-rep lift, its reps rise to `lighter_load_reps` of
    the new load (kb/session.yaml). Returns the prescription and each step that changed it.
    """
    base = exercise.dose
    dose: dict[str, Any] = {
        "sets": base.sets,
        "reps_min": base.reps[0] if base.reps else None,
        "reps_max": base.reps[1] if base.reps else None,
        "hold_min": base.hold_s[0] if base.hold_s else None,
        "hold_max": base.hold_s[1] if base.hold_s else None,
        "load": base.load, "tempo": base.tempo, "rest_s": base.rest_s,
        "sessions_min": sessions[0], "sessions_max": sessions[1],
        "frequency": None, "effort": None, "side": None, "side_sets": 0, "side_max": None,
    }
    steps: list[DoseStep] = []
    notes: list[str] = []
    ceilings: list[RuledDecision] = []
    side_notes: set[str] = set()   # the notes of decisions giving a side more sets
    sides: set[str] = set()        # the sides they give more
    for decision, rule in decisions:
        if not decision.applies_to(exercise):
            continue
        if decision.is_ceiling:
            ceilings.append((decision, rule))
            continue
        protocol = decision.protocol
        settings = decision.settings()
        changes: list[tuple[str, Any]] = []
        for name, value in settings:
            if name in ("side", "side_sets", "side_max") and not base.per_side:
                continue  # only single-leg work can give one side more
            if name == "side":
                sides.add(value)
            if not protocol and name in ("reps_min", "reps_max") and dose["reps_min"] is None:
                continue  # a phase does not turn a hold into reps
            if not protocol and name in ("hold_min", "hold_max") and dose["hold_min"] is None:
                continue
            if name == "load" and not exercise.loadable and not protocol:
                value = min(dose["load"], value, key=LOAD_RANK.__getitem__)
            if name == "sets_change":  # relative to the sets decided so far
                name, value = "sets", max(1, dose["sets"] + value)
            if dose[name] != value:
                changes.append((name, value))
                dose[name] = value
        if protocol:
            notes.clear()  # the phase's notes are about the dose the protocol replaces
            # the protocol's dose is as studied: no side gets more than the other
            dose["side"], dose["side_sets"], dose["side_max"] = None, 0, None
            # a protocol's dose is either reps or a hold: drop the other
            dropped = ("hold_min", "hold_max") if decision.reps is not None \
                else ("reps_min", "reps_max")
            for name in dropped:
                dose[name] = None
        if decision.note and settings:
            notes.append(decision.note)
            if decision.side is not None:
                side_notes.add(decision.note)
        if changes or decision.follows or protocol:
            steps.append(DoseStep(rule, decision.priority, tuple(changes), decision.follows,
                                  decision.note, protocol))
    for decision, rule in ceilings:
        changes = []
        if decision.max_sets is not None and dose["sets"] > decision.max_sets:
            dose["sets"] = decision.max_sets
            changes.append(("sets", dose["sets"]))
        if decision.max_sets is not None and dose["side_sets"] and \
                dose["sets"] + dose["side_sets"] > decision.max_sets:
            # the ceiling holds for the weaker side too: more pain never means more work
            dose["side_sets"] = max(0, decision.max_sets - dose["sets"])
            changes.append(("side_sets", dose["side_sets"]))
        if decision.max_load is not None and \
                LOAD_RANK[dose["load"]] > LOAD_RANK[decision.max_load]:
            dose["load"] = decision.max_load
            changes.append(("load", dose["load"]))
            lighter = (lighter_load_reps or {}).get(dose["load"])
            if lighter and dose["reps_max"] is not None and dose["reps_max"] < lighter[0]:
                # a lighter load is lifted for more reps, well short of failure
                dose["reps_min"], dose["reps_max"] = lighter
                changes.append(("reps", f"{lighter[0]}-{lighter[1]}"))
        if changes:
            if decision.note:
                notes.append(decision.note)
            steps.append(DoseStep(rule, decision.priority, tuple(changes), decision.follows,
                                  decision.note, cap=True))
    if len(sides) > 1 and dose["side_sets"]:
        # tests that disagree on the weaker side give neither side more
        dose["side_sets"] = 0
        notes.append("the tests disagree on the weaker side: both sides get the same sets")
    if dose["side_sets"] and dose["side_max"] is not None and \
            dose["sets"] + dose["side_sets"] > dose["side_max"]:
        # the weaker side's sets stay within the dose's range (a heavy lift: 3-4 sets); with no
        # room above, the stronger side does fewer instead, so the weaker still does more
        weaker = max(dose["sets"], min(dose["sets"] + dose["side_sets"], dose["side_max"]))
        stronger = min(dose["sets"], weaker - dose["side_sets"])
        if stronger >= 1 and stronger < weaker:
            dose["sets"], dose["side_sets"] = stronger, weaker - stronger
            notes.append(f"the stronger side does {stronger} sets, so that the weaker does "
                         f"more without going past {max(weaker, dose['side_max'])}")
        else:
            dose["side_sets"] = 0
    if not dose["side_sets"]:
        dose["side"] = None
        notes = [note for note in notes if note not in side_notes]
    prescription = Prescription(
        sets=int(dose["sets"]), reps_min=dose["reps_min"], reps_max=dose["reps_max"],
        per_side=base.per_side,
        load=dose["load"], tempo=dose["tempo"], rest_s=dose["rest_s"],
        sessions_per_week=int(dose["sessions_min"]),
        hold_s_min=dose["hold_min"], hold_s_max=dose["hold_max"],
        notes=tuple(dict.fromkeys(notes)), frequency=dose["frequency"], effort=dose["effort"],
        side=dose["side"], side_sets=int(dose["side_sets"]))
    return prescription, steps
