"""The conclusions the session and the explanations read from working memory, as typed values
the engine owns; their fact kinds, which rules assert and the rule compiler checks, are made
from these values."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Literal,
    Protocol,
    Self,
    TypeVar,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)

from kbrun.engine import dose
from kbrun.engine.dose import DoseDecision
from kbrun.engine.schema import Category, Region, Stage, Weekday

if TYPE_CHECKING:
    from kbrun.engine.inference import Consultation, FactKey


@dataclass(frozen=True)
class Ref:
    """Marks a text field as the id of an entry of `kind` (a literal must name one that exists)."""

    kind: str


ExerciseId = Annotated[str, Ref("exercise")]
InjuryId = Annotated[str, Ref("injury")]
MuscleId = Annotated[str, Ref("muscle")]
ProtocolId = Annotated[str, Ref("protocol")]
QualityId = Annotated[str, Ref("quality")]


class Conclusion:
    """Base of the typed conclusions: the fact kind each is read from and the action that
    asserts it. Subclasses are frozen dataclasses whose docstring describes the kind."""

    __slots__ = ()
    fact_kind: ClassVar[str]
    verb: ClassVar[str] = "assert"

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self:
        """The value a fact of this kind holds (a field it leaves out takes its default)."""
        return cls(**{name: convert(fields[name]) for name, convert in _CONVERTERS[cls]
                      if name in fields})


# -- the conclusions ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Suspect(Conclusion):
    """An injury suspected from the runner's symptoms (or diagnosed), with a certainty in
    (0, 1] and what it came from (a symptom, or 'diagnosis')."""

    fact_kind: ClassVar[str] = "suspect"
    injury: InjuryId
    certainty: float
    via: str


@dataclass(frozen=True, slots=True)
class Focus(Conclusion):
    """A muscle or tissue the session should work, with how strongly and why."""

    fact_kind: ClassVar[str] = "focus"
    muscle: MuscleId
    weight: float
    cause: str


@dataclass(frozen=True, slots=True)
class Wanted(Conclusion):
    """A physical quality the runner's goals or training phase call for."""

    fact_kind: ClassVar[str] = "wanted"
    quality: QualityId
    weight: float
    cause: str


@dataclass(frozen=True, slots=True)
class Protected(Conclusion):
    """A region kept from load and impact: by a red flag (mode red-flag) or a suspected
    condition (mode condition); or by pain above the limit or a stop red flag (mode pain) or
    the acute stage or severe pain (mode acute), which still allow isometric holds."""

    fact_kind: ClassVar[str] = "protected"
    region: Region
    cause: str
    mode: Literal["red-flag", "condition", "pain", "acute"]


@dataclass(frozen=True, slots=True)
class InjuryStage(Conclusion):
    """The stage of the runner's injury - acute (rank 1), subacute (2) or return-to-run (3) -
    given or inferred."""

    fact_kind: ClassVar[str] = "injury-stage"
    id: Stage
    rank: int
    cause: str


@dataclass(frozen=True, slots=True)
class Following(Conclusion):
    """The protocol the session follows for an injury (the best-ranked available one); its
    doses outrank the phase's."""

    fact_kind: ClassVar[str] = "following"
    protocol: ProtocolId
    injury: InjuryId
    stage: Stage


@dataclass(frozen=True, slots=True)
class SessionSize(Conclusion):
    """An upper bound on the number of exercises in the session, and why (a taper cuts volume;
    an urgent referral gives no session)."""

    fact_kind: ClassVar[str] = "session-size"
    max: int
    cause: str


@dataclass(frozen=True, slots=True)
class Recommendation(Conclusion):
    """Evidence for an exercise (from a `recommend` action)."""

    fact_kind: ClassVar[str] = "recommendation"
    verb: ClassVar[str] = "recommend"
    exercise: ExerciseId
    weight: float
    reason: str


@dataclass(frozen=True, slots=True)
class Exclusion(Conclusion):
    """An exercise ruled out (from an `exclude` action); kind is 'safety' (the default) or
    'availability' (equipment, level: shown last)."""

    fact_kind: ClassVar[str] = "exclusion"
    verb: ClassVar[str] = "exclude"
    exercise: ExerciseId
    reason: str
    kind: Literal["safety", "availability"] = "safety"


@dataclass(frozen=True, slots=True)
class Warning(Conclusion):
    """A warning (from a `warn` action); `urgent: true` puts it first and marks it urgent."""

    fact_kind: ClassVar[str] = "warning"
    verb: ClassVar[str] = "warn"
    kind: str
    message: str
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class StrengthDay(Conclusion):
    """A planned week's verdict on a day for a strength session (kbrun plan): closed (no
    strength session), rest (no loading at all, a protocol's exercises included), preferred
    (the best days) or avoid (only when no better day is left), and why."""

    fact_kind: ClassVar[str] = "strength-day"
    day: Weekday
    verdict: Literal["closed", "rest", "preferred", "avoid"]
    reason: str


@dataclass(frozen=True, slots=True)
class Overload(Conclusion):
    """A planned week adds load over the week before: about `load_pct` per cent on loaded
    lifts (or a rep or two on body-weight work), and why."""

    fact_kind: ClassVar[str] = "overload"
    load_pct: int
    cause: str


@dataclass(frozen=True, slots=True)
class Move(Conclusion):
    """A planned week moves an exercise its sessions held up to a progression (a progresses-to
    link), which takes its place in the session, and why."""

    fact_kind: ClassVar[str] = "move"
    exercise: ExerciseId
    to: ExerciseId
    cause: str


# -- their fact kinds ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ConclusionKind:
    """A conclusion's fact kind as rules see it: its fields with their types (as in
    engine/facts.py), which an action may leave out, the values a text field allows, the
    action that asserts it, and the typed value it is read as."""

    name: str
    verb: str
    description: str
    fields: dict[str, str]
    optional: frozenset[str]
    choices: dict[str, tuple[str, ...]]
    value: type


def _field_type(hint: Any) -> tuple[str, tuple[str, ...]]:
    """The fact field type of an annotation, and the values it allows (empty: any)."""
    if get_origin(hint) is Annotated:
        ref = next(mark for mark in get_args(hint)[1:] if isinstance(mark, Ref))
        return f"id:{ref.kind}", ()
    if hint == Region:
        return "region", ()
    if hint == Category:
        return "category", ()
    if get_origin(hint) is Literal:
        return "text", tuple(get_args(hint))
    types = {bool: "bool", int: "whole", float: "number", str: "text"}
    if hint not in types:
        raise TypeError(f"no fact field type for {hint!r}")
    return types[hint], ()


def _converter(hint: Any) -> Callable[[Any], Any]:
    """How a fact's value becomes the field's value (numbers from rules may be int or float)."""
    if get_origin(hint) in (Annotated, Literal) or hint in (Region, Category):
        return str
    return {bool: bool, int: int, float: float, str: str}[hint]


def _fields(cls: type[Conclusion]) -> tuple[dataclasses.Field[Any], ...]:
    """The dataclass fields of a conclusion (every subclass is a dataclass)."""
    return dataclasses.fields(cast(Any, cls))


def _kind_of(cls: type[Conclusion]) -> ConclusionKind:
    hints = get_type_hints(cls, include_extras=True)
    types: dict[str, str] = {}
    choices: dict[str, tuple[str, ...]] = {}
    for item in _fields(cls):
        types[item.name], allowed = _field_type(hints[item.name])
        if allowed:
            choices[item.name] = allowed
    optional = frozenset(item.name for item in _fields(cls)
                         if item.default is not dataclasses.MISSING)
    description = " ".join(inspect.cleandoc(cls.__doc__ or "").split())
    return ConclusionKind(cls.fact_kind, cls.verb, description, types, optional, choices, cls)


_VALUES: tuple[type[Conclusion], ...] = (
    Suspect, Focus, Wanted, Protected, InjuryStage, Following, SessionSize,
    Recommendation, Exclusion, Warning, StrengthDay, Overload, Move)
_CONVERTERS: dict[type, list[tuple[str, Callable[[Any], Any]]]] = {
    cls: [(item.name, _converter(get_type_hints(cls, include_extras=True)[item.name]))
          for item in _fields(cls)] for cls in _VALUES}

# fact kind -> how it is read; the dose decision's fact encoding is engine/dose.py's
KINDS: dict[str, ConclusionKind] = {
    **{cls.fact_kind: _kind_of(cls) for cls in _VALUES},
    DoseDecision.fact_kind: ConclusionKind(
        DoseDecision.fact_kind, "dose", dose.FACT_DESCRIPTION, dict(dose.FACT_FIELDS),
        frozenset(dose.FACT_FIELDS), dict(dose.FACT_CHOICES), DoseDecision),
}


# -- reading them from a finished consultation ---------------------------------------------------

class Readable(Protocol):
    """A typed conclusion: what `read` needs of it."""

    fact_kind: ClassVar[str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Self: ...


C = TypeVar("C", bound=Readable)


def read(consultation: Consultation, kind: type[C]) -> list[tuple[C, FactKey]]:
    """Every conclusion of `kind` in working memory, in assertion order, each with its fact key
    (which explanations use to find the rules and premises behind it)."""
    return [(kind.from_fields(consultation.fields(key)), key)
            for key in consultation.keys_of_kind(kind.fact_kind)]
