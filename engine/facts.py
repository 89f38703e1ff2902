"""The fact kinds rules can match: those the engine declares and those a knowledge base adds."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any, get_args

from kbrun.engine._experta import Fact
from kbrun.engine.conclusions import KINDS as CONCLUSION_KINDS
from kbrun.engine.schema import STAGE_RANK, WEEKDAYS, Category, Region, RunKind

if TYPE_CHECKING:
    from kbrun.engine.knowledge import KnowledgeBase

BASIC_TYPES = ("id", "number", "whole", "text", "bool", "region", "category")
REGIONS = frozenset(get_args(Region))
CATEGORIES = frozenset(get_args(Category))


@dataclass(frozen=True)
class FactKindDef:
    """A fact kind: its fields with their types, and where its facts come from."""

    name: str
    fields: dict[str, str]  # field -> "id" | "id:KIND" | "number" | "whole" | "text" | "bool" | ...
    origin: str             # profile | graph | action | conclusion | knowledge-base
    description: str
    # fields an action may leave out (the typed conclusion gives them a default)
    optional: frozenset[str] = frozenset()
    # text fields that allow only these values
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def id_kind(self, field: str) -> str | None:
        """The entry kind an `id:KIND` field refers to (None for plain `id` or other types)."""
        kind = self.fields.get(field, "")
        return kind.split(":", 1)[1] if kind.startswith("id:") else None


def _kind(name: str, origin: str, description: str, **fields: str) -> FactKindDef:
    return FactKindDef(name, dict(fields), origin, description)


BUILTIN: dict[str, FactKindDef] = {k.name: k for k in [
    # What the runner told us.
    _kind("symptom", "profile", "A symptom the runner reports, with the screening question for "
          "a condition not to miss ('none' if it has none).", id="id:symptom", region="region",
          screen="text"),
    _kind("diagnosis", "profile", "An injury the runner has been diagnosed with.",
          injury="id:injury"),
    _kind("goal", "profile", "A training goal.", id="id:goal"),
    _kind("phase", "profile", "The current training phase.", id="id:phase", order="number"),
    _kind("level", "profile", "The runner's level.", id="id:level", rank="number"),
    _kind("equipment", "profile", "An equipment item the runner has.", id="id:equipment"),
    _kind("red-flag", "profile", "A red flag the runner reports, with its referral message "
          "and its urgency (urgent, refer or stop).", id="id:red-flag", message="text",
          urgency="text"),
    replace(_kind("stage", "profile", "The injury stage the runner gave (--stage): acute "
                  "(rank 1), subacute (2) or return-to-run (3).", id="text", rank="number"),
            choices={"id": tuple(STAGE_RANK)}),
    _kind("pain", "profile", "Pain during or after running, 0-10.", score="number"),
    # What a season plan adds for one of its weeks (kbrun plan; none in kbrun advise).
    _kind("plan-week", "profile", "A week of a season plan: its number from 1, its place in a "
          "block of build weeks (block_week from 1; 0 outside the block phases), whether it is "
          "the block's lighter week, and the weeks to the race (0: the race week; -1: no race "
          "ahead).", week="number", block_week="number", deload="bool", weeks_to_race="number"),
    replace(_kind("run-day", "profile", "A day of the planned week and the running on it and on "
                  "the next day (hard, long, easy, rest, race, after-race), with the days to the "
                  "race (999: no race ahead) and since it (999: no race behind).", day="text",
                  run="text", next="text", days_to_race="number", days_since_race="number"),
            choices={"day": WEEKDAYS, "run": get_args(RunKind), "next": get_args(RunKind)}),
    _kind("practised", "profile", "An exercise the plan's sessions have held, and for how many "
          "weeks in a row before this one.", exercise="id:exercise", weeks="number"),
    _kind("progressed", "profile", "An exercise an earlier week of the plan moved up to a "
          "progression, and that week's number.", exercise="id:exercise", to="id:exercise",
          week="number"),
    # What a runner's field tests found (kbrun assess; --assessment FILE).
    replace(_kind("assessed", "profile", "A finding of the runner's latest field tests for one "
                  "muscle: a weakness (finding weak: below the test's norm on the side given, "
                  "or both) or an imbalance (one side past the test's threshold behind the "
                  "other), how certain it is (0-1), and the test's figures.", test="id:test",
                  muscle="id:muscle", finding="text", side="text", certainty="number",
                  result="text"),
            choices={"finding": ("weak", "imbalance"), "side": ("left", "right", "both")}),
    # What the knowledge graph says (every fact of a kind some rule mentions is declared).
    _kind("suggests", "graph", "symptom -[suggests]-> injury", symptom="id:symptom",
          injury="id:injury", weight="number"),
    _kind("implicates", "graph", "injury -[implicates]-> muscle or tissue", injury="id:injury",
          muscle="id:muscle", role="text", weight="number"),
    _kind("targets", "graph", "exercise -[targets]-> muscle or tissue, with the exercise's "
          "category and unilateral flag repeated so rules can filter without a join",
          exercise="id:exercise", muscle="id:muscle", role="text", weight="number",
          category="category", unilateral="bool"),
    _kind("opposes", "graph", "muscle -[opposes]-> muscle", muscle="id:muscle", other="id:muscle"),
    _kind("develops", "graph", "exercise -[develops]-> quality", exercise="id:exercise",
          quality="id:quality"),
    _kind("favours", "graph", "goal -[favours]-> quality", goal="id:goal", quality="id:quality"),
    _kind("favours-category", "graph", "A goal favours a category of exercise.", goal="id:goal",
          category="category"),
    _kind("contraindicated", "graph",
          "exercise -[contraindicated-for]-> injury; phase is 'any' unless it applies to one "
          "phase and stage is 'any' unless it applies to one stage; the exercise's category is "
          "repeated so rules can filter without a join",
          exercise="id:exercise", injury="id:injury", reason="text", phase="id", stage="text",
          category="category"),
    _kind("signals", "graph", "red flag -[signals]-> condition, with a symptom it must come "
          "with ('any': the red flag alone)", red_flag="id:red-flag",
          condition="id:condition", symptom="id"),
    _kind("signals-in", "graph", "red flag -[signals]-> condition when a region holding it is "
          "affected (a symptom or an injury there)", red_flag="id:red-flag",
          condition="id:condition", region="region"),
    _kind("condition", "graph", "A condition not to miss, its urgency (urgent, refer, stop) "
          "its referral message, and whether it allows no session at all until assessed.",
          id="id:condition", urgency="text", message="text", no_session="bool"),
    _kind("condition-protects", "graph", "A region a suspected condition keeps from all "
          "loading.", condition="id:condition", region="region"),
    _kind("protocol", "graph", "protocol -[treats]-> injury at one stage, with its rank "
          "(1 preferred) and the equipment it needs ('none')", id="id:protocol",
          injury="id:injury", stage="text", rank="number", needs="id"),
    _kind("protocol-dose", "graph", "protocol -[doses]-> exercise: an exercise the protocol "
          "prescribes", protocol="id:protocol", exercise="id:exercise"),
    _kind("needs", "graph", "exercise -[requires]-> equipment (any one item suffices)",
          exercise="id:exercise", equipment="id:equipment"),
    _kind("loads", "graph", "How much an exercise loads a region (rank 1 low .. 3 high), with "
          "the exercise's category and loadable flag repeated so rules can filter without a join",
          exercise="id:exercise", region="region", rank="number", category="category",
          loadable="bool"),
    _kind("progresses", "graph", "exercise -[progresses-to]-> harder exercise",
          exercise="id:exercise", to="id:exercise"),
    _kind("exercise", "graph", "An exercise and its attributes (impact_rank 0 none .. 3 high).",
          id="id:exercise", category="category", pattern="text", level_rank="number",
          impact_rank="number", unilateral="bool", loadable="bool"),
    _kind("muscle", "graph", "A muscle or tissue.", id="id:muscle", region="region", kind="text"),
    _kind("injury", "graph", "An injury, the region it affects, and the screening question for "
          "a condition it can hide ('none' if it has none).", id="id:injury", region="region",
          screen="text"),
]}
# What rules conclude: the kinds the engine reads back (engine/conclusions.py), asserted with
# `assert` (origin conclusion) or with their own action (recommend, exclude, warn, dose).
BUILTIN.update({k.name: FactKindDef(k.name, dict(k.fields),
                                    "conclusion" if k.verb == "assert" else "action",
                                    k.description, k.optional, dict(k.choices))
                for k in CONCLUSION_KINDS.values()})



def fact_kinds(kb: KnowledgeBase) -> dict[str, FactKindDef]:
    """The built-in fact kinds plus those the knowledge base declares under `facts:`."""
    kinds = dict(BUILTIN)
    for spec in kb.fact_kinds.values():
        kinds[spec.id] = FactKindDef(spec.id, dict(spec.fields), "knowledge-base", spec.description)
    return kinds


@cache
def fact_class(kind: str) -> type[Fact]:
    """The experta Fact subclass for a fact kind (one class per kind, created once)."""
    name = "".join(part.capitalize() for part in kind.split("-")) + "Fact"
    return type(name, (Fact,), {"__module__": __name__, "kind": kind, "__init__": _fact_init})


_CONTAINERS = (list, dict, set)


def _fact_init(self: Fact, **fields: Any) -> None:
    """Fill a new fact or pattern without experta's per-field `freeze`.

    experta's Fact.__init__ passes every value through `freeze` (an isinstance check against
    collections.abc.Hashable, then a copy of lists and dicts). kbrun's field values are nearly
    always scalars (ids, numbers, text, booleans) or experta pattern objects, which `freeze`
    returns unchanged, so filling the dict directly builds the same fact; it was a third of a
    consultation's time. A container value still goes through experta's own constructor.
    """
    if any(isinstance(value, _CONTAINERS) for value in fields.values()):
        Fact.__init__(self, **fields)
        return
    dict.update(self, fields)
    self._Fact__defaults = {}  # what Fact.__init__ sets (name-mangled in experta)


def make_fact(kind: str, /, **fields: Any) -> Fact:
    """A fact of `kind` with these fields."""
    return fact_class(kind)(**fields)


def fact_kind_of(fact: Fact) -> str:
    return getattr(type(fact), "kind", type(fact).__name__)


def fact_fields(fact: Fact) -> dict[str, Any]:
    """The user fields of an experta fact (without experta's private ones)."""
    return {k: v for k, v in fact.items() if isinstance(k, str) and not k.startswith("__")}


def fact_key(fact: Fact) -> tuple[Any, ...]:
    """A hashable identity for a fact: its kind and fields.

    Computed once per fact and kept on it: a fact's fields never change once it is built
    (experta refuses changes after declaration), and a consultation asks for the keys of the
    facts every firing matched, over and over.
    """
    try:
        return fact.__dict__["_kbrun_key"]  # type: ignore[no-any-return]
    except KeyError:
        key = (fact_kind_of(fact), tuple(sorted(fact_fields(fact).items())))
        fact.__dict__["_kbrun_key"] = key
        return key


def describe(fact: Fact) -> str:
    """A compact, readable rendering such as `suspect(injury=runners-knee, certainty=0.6)`."""
    fields = ", ".join(f"{k}={_short(v)}" for k, v in fact_fields(fact).items())
    return f"{fact_kind_of(fact)}({fields})"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
