"""The result of a consultation as plain values (dataclasses), and their JSON-contract form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from kbrun.engine.timing import minutes

if TYPE_CHECKING:
    from kbrun.engine import contract
    from kbrun.engine.inference import Consultation
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.profile import Profile
    from kbrun.engine.schema import Category, Load, Side


@dataclass(frozen=True)
class Finding:
    kind: str            # injury | focus | quality | protected-region
    id: str
    certainty: float
    rules: tuple[str, ...]
    causes: tuple[str, ...] = ()

    def to_dict(self) -> contract.Finding:
        return {"kind": self.kind, "id": self.id, "certainty": self.certainty,
                "rules": list(self.rules), "causes": list(self.causes)}


@dataclass(frozen=True)
class Prescription:
    sets: int
    reps_min: int | None
    reps_max: int | None
    per_side: bool
    load: Load
    tempo: str | None
    rest_s: int | None
    sessions_per_week: int
    hold_s_min: int | None = None
    hold_s_max: int | None = None
    notes: tuple[str, ...] = ()
    frequency: str | None = None     # a protocol's own frequency, e.g. "twice a day, every day"
    effort: str | None = None        # how hard, in words (a protocol's "about 70 % of maximal")
    # the weaker side of an imbalance (kbrun assess) and the sets it gets over `sets`
    side: Side | None = None
    side_sets: int = 0

    @property
    def sets_by_side(self) -> dict[str, int] | None:
        """{'left': n, 'right': m} when one side gets more sets; None otherwise."""
        if self.side is None or not self.side_sets:
            return None
        return {s: self.sets + (self.side_sets if s == self.side else 0)
                for s in ("left", "right")}

    def to_dict(self) -> contract.Prescription:
        data: contract.Prescription = {
            "sets": self.sets, "reps_min": self.reps_min, "reps_max": self.reps_max,
            "per_side": self.per_side, "load": self.load, "tempo": self.tempo,
            "rest_s": self.rest_s, "sessions_per_week": self.sessions_per_week,
        }
        if self.hold_s_min is not None:
            data["hold_s_min"], data["hold_s_max"] = self.hold_s_min, self.hold_s_max
        if self.frequency:
            data["frequency"] = self.frequency
        if self.effort:
            data["effort"] = self.effort
        if self.notes:
            data["notes"] = list(self.notes)
        sides = self.sets_by_side
        if sides is not None and self.side is not None:
            data["weaker_side"] = self.side
            data["sets_by_side"] = {"left": sides["left"], "right": sides["right"]}
        return data

    def summary(self) -> str:
        """`3 x 12-15 per side` or `3 x 30-45 s hold`."""
        if self.reps_min is not None:
            reps = (f"{self.reps_min}" if self.reps_min == self.reps_max
                    else f"{self.reps_min}-{self.reps_max}")
        else:
            hold = (f"{self.hold_s_min}" if self.hold_s_min == self.hold_s_max
                    else f"{self.hold_s_min}-{self.hold_s_max}")
            reps = f"{hold} s hold"
        text = f"{self.sets} x {reps}" + (" per side" if self.per_side else "")
        if self.side is not None and self.side_sets:
            text += f", {self.sets + self.side_sets} sets on the {self.side}"
        return text


@dataclass(frozen=True)
class Contribution:
    """One piece of evidence for an exercise: a recommendation fact and the rules behind it."""

    weight: float
    reason: str
    rules: tuple[str, ...]


@dataclass(frozen=True)
class DoseStep:
    """A dosing decision applied to an exercise, in the order applied."""

    rule: str
    priority: int
    changes: tuple[tuple[str, Any], ...]
    follows: str | None
    note: str | None
    protocol: str | None = None      # the protocol whose dose this step applied
    cap: bool = False                # a ceiling (level, pain, red flag) applied after the rest


@dataclass
class Recommendation:
    rank: int
    exercise: str
    name: str
    score: float
    prescription: Prescription
    targets: list[str]
    reasons: list[str]
    rules: list[str]
    sources: list[str]
    contributions: list[Contribution] = field(default_factory=list)
    dose_steps: list[DoseStep] = field(default_factory=list)
    selection_note: str | None = None
    cues: list[str] = field(default_factory=list)
    section: str = "main"            # the session part it is performed in (kb/session.yaml)
    category: Category = "strength"  # its role: strength, isometric, plyometric, balance, ...
    protocol: str | None = None      # the rehabilitation protocol it belongs to, if any
    stage: str | None = None         # the injury stage that protocol was chosen for
    slot: bool = True                # counts toward --limit (warm-up and mobility do not)
    seconds: int = 0                 # how long it takes, setup and rests included

    def to_dict(self) -> contract.Recommendation:
        return {"rank": self.rank, "exercise": self.exercise, "name": self.name,
                "section": self.section, "category": self.category, "slot": self.slot,
                "score": self.score, "prescription": self.prescription.to_dict(),
                "minutes": round(self.seconds / 60, 1),
                "targets": list(self.targets), "reasons": list(self.reasons),
                "cues": list(self.cues), "protocol": self.protocol, "stage": self.stage,
                "rules": list(self.rules), "sources": list(self.sources)}


@dataclass(frozen=True)
class Candidate:
    """An exercise that had evidence and was not ruled out, with its score."""

    exercise: str
    score: float
    pattern: str


@dataclass(frozen=True)
class Avoid:
    exercise: str
    name: str
    reason: str
    rules: tuple[str, ...]
    reasons: tuple[str, ...] = ()
    kind: str = "safety"             # safety | availability (equipment, level)

    def to_dict(self) -> contract.Avoid:
        return {"exercise": self.exercise, "name": self.name, "reason": self.reason,
                "rules": list(self.rules), "kind": self.kind}


@dataclass(frozen=True)
class Warning:
    kind: str
    message: str
    rules: tuple[str, ...] = ()
    urgent: bool = False

    def to_dict(self) -> contract.Warning:
        return {"kind": self.kind, "message": self.message, "urgent": self.urgent,
                "rules": list(self.rules)}


# Every piece of advice carries this (docs/safety.md), whatever a --kb folder does to the rule
# `disclaimer` that says it (kb/rules/50-safety.yaml, which a test keeps word for word the same).
DISCLAIMER = ("kbrun gives general exercise guidance, not a diagnosis or medical advice. Stop any "
              "exercise that causes sharp pain, and see a physiotherapist or doctor if pain "
              "persists or worsens.")


def with_kb_warnings(kb: KnowledgeBase, warnings: Sequence[Warning] = ()) -> list[Warning]:
    """`warnings` and what every output adds to them: a `safety-change` warning for each change
    a --kb layer makes to the safety policy (only a knowledge base loaded with
    --allow-safety-changes has any), and the disclaimer when no rule gave it word for word."""
    result = [*warnings, *(Warning("safety-change", change.warning())
                           for change in kb.changes if change.safety)]
    if not any(w.kind == "disclaimer" and w.message == DISCLAIMER for w in result):
        result.append(Warning("disclaimer", DISCLAIMER))
    return result


@dataclass(frozen=True)
class Section:
    """A labelled part of the session, in the order performed."""

    id: str
    name: str
    exercises: tuple[str, ...]

    def to_dict(self) -> contract.Section:
        return {"id": self.id, "name": self.name, "exercises": list(self.exercises)}


@dataclass(frozen=True)
class FollowedProtocol:
    """A rehabilitation protocol the session follows, and why."""

    id: str
    name: str
    injury: str
    stage: str
    summary: str
    sources: tuple[str, ...]

    def to_dict(self) -> contract.FollowedProtocol:
        return {"id": self.id, "name": self.name, "injury": self.injury, "stage": self.stage,
                "summary": self.summary, "sources": list(self.sources)}


@dataclass(frozen=True)
class ScheduleNote:
    note: str
    follows: str | None
    rule: str
    sources: tuple[str, ...]

    def to_dict(self) -> contract.ScheduleNote:
        return {"note": self.note, "follows": self.follows, "rule": self.rule,
                "sources": list(self.sources)}


@dataclass(frozen=True)
class Moved:
    """An exercise a season plan's week moved up to its progression (a `move` conclusion)."""

    exercise: str
    to: str
    cause: str
    rules: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class Skipped:
    """A candidate that was not picked, and why (variety, requirement swap, limit)."""

    exercise: str
    score: float
    why: str
    instead: str | None = None


@dataclass
class Advice:
    """A ranked, dosed session and everything needed to explain it."""

    profile: Profile
    findings: list[Finding]
    recommendations: list[Recommendation]
    avoid: list[Avoid]
    warnings: list[Warning]
    schedule: list[ScheduleNote]
    sessions_per_week: tuple[int, int]
    candidates: list[Candidate]
    skipped: list[Skipped]
    consultation: Consultation = field(repr=False)
    sections: list[Section] = field(default_factory=list)
    protocols: list[FollowedProtocol] = field(default_factory=list)
    stage: str | None = None
    stage_cause: str | None = None
    size_limit: tuple[int, str] | None = None   # (max exercises, why) when rules cut the limit
    moves: list[Moved] = field(default_factory=list)

    @property
    def seconds(self) -> int:
        """How long the session takes (engine/timing.py)."""
        return sum(r.seconds for r in self.recommendations)

    @property
    def urgent(self) -> bool:
        """Whether an urgent referral leads this advice."""
        return any(w.urgent for w in self.warnings)

    @property
    def slots(self) -> list[Recommendation]:
        """The recommendations that fill the session's strength slots (--limit), best first;
        warm-up and mobility sit beside them."""
        return sorted((r for r in self.recommendations if r.slot),
                      key=lambda r: (-r.score, r.exercise))

    def recommendation(self, exercise: str) -> Recommendation | None:
        return next((r for r in self.recommendations if r.exercise == exercise), None)

    def avoided(self, exercise: str) -> Avoid | None:
        return next((a for a in self.avoid if a.exercise == exercise), None)

    def to_dict(self, *, trace: bool = False) -> contract.Advice:
        """The JSON contract of `kbrun advise --format json` (SPEC.md)."""
        from kbrun.engine.inference import trace_records

        data: contract.Advice = {
            # Profile.to_dict is built with dataclasses.asdict, which mypy sees as untyped
            "profile": cast("contract.Profile", self.profile.to_dict()),
            "findings": [f.to_dict() for f in self.findings],
            "recommendations": [r.to_dict() for r in self.recommendations],
            "avoid": [a.to_dict() for a in self.avoid],
            "warnings": [w.to_dict() for w in self.warnings],
            "schedule": {"sessions_per_week": list(self.sessions_per_week),
                         "notes": [s.to_dict() for s in self.schedule]},
            "sections": [s.to_dict() for s in self.sections],
            "protocols": [p.to_dict() for p in self.protocols],
            "stage": ({"id": self.stage, "cause": self.stage_cause} if self.stage else None),
            "minutes": minutes(self.seconds),
        }
        if trace:
            data["trace"] = trace_records(self.consultation)
        return data
