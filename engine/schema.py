"""The schema of each kind of knowledge-base entry: pydantic models, strict about unknown fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SOURCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
SourceId = Annotated[str, StringConstraints(pattern=SOURCE_ID_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Weight = Annotated[float, Field(gt=0.0, le=1.0)]


def ref(kind: str) -> Any:
    """Mark a field as holding ids of `kind`; the loader checks every such id exists."""
    return Field(json_schema_extra={"ref": kind})


# An exercise's role in a session. Only the loading roles (LOADING) count as working a muscle;
# mobility and warm-up drills never take a strength slot (Lauersen et al. 2014).
Category = Literal["strength", "plyometric", "isometric", "mobility", "balance", "warm-up"]
LOADING = frozenset({"strength", "plyometric", "isometric"})
Urgency = Literal["urgent", "refer", "stop"]
Stage = Literal["acute", "subacute", "return-to-run"]
STAGE_RANK = {"acute": 1, "subacute": 2, "return-to-run": 3}
URGENCY_RANK = {"urgent": 1, "refer": 2, "stop": 3}
Impact = Literal["none", "low", "moderate", "high"]
Intensity = Literal["low", "moderate", "high"]
Load = Literal["bodyweight", "light", "moderate", "heavy"]
Region = Literal["hip", "thigh", "knee", "lower-leg", "ankle", "foot", "lower-back", "trunk"]
Setting = Literal["home", "gym"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
# what the runner does on a day of a planned week (kbrun plan)
RunKind = Literal["hard", "long", "easy", "rest", "race", "after-race"]

IMPACT_RANK = {"none": 0, "low": 1, "moderate": 2, "high": 3}
INTENSITY_RANK = {"low": 1, "moderate": 2, "high": 3}
LOAD_RANK = {"bodyweight": 0, "light": 1, "moderate": 2, "heavy": 3}


class Strict(BaseModel):
    """Base of every schema model: unknown fields are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class SourceRef(Strict):
    """A citation: the id of a source, with an optional short quote or heading."""

    id: Annotated[SourceId, ref("source")]
    quote: Text | None = None


def _sources_field(value: Any) -> Any:
    if isinstance(value, list):
        return [{"id": item} if isinstance(item, str) else item for item in value]
    return value


Sources = Annotated[list[SourceRef], Field(min_length=1)]


class Cited(Strict):
    """Anything that must cite at least one source."""

    sources: Sources

    @field_validator("sources", mode="before")
    @classmethod
    def _strings_are_ids(cls, value: Any) -> Any:
        return _sources_field(value)


class Entry(Cited):
    """A top-level entry: an id, a display name and its sources."""

    id: Id
    name: Text
    safety: bool = False
    """Part of the safety policy: a --kb layer that changes it needs --allow-safety-changes."""


def _span(value: Any) -> Any:
    """Accept `n` or `[min, max]` for a range and return `(min, max)`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, list) and len(value) == 2:
        return tuple(value)
    return value


class Dose(Strict):
    """A prescription: sets, reps or hold time, load, tempo and rest."""

    sets: Annotated[int, Field(ge=1, le=10)]
    reps: tuple[Annotated[int, Field(ge=1, le=100)],
                Annotated[int, Field(ge=1, le=100)]] | None = None
    hold_s: tuple[Annotated[int, Field(ge=1, le=600)],
                  Annotated[int, Field(ge=1, le=600)]] | None = None
    per_side: bool = False
    load: Load = "bodyweight"
    tempo: Text | None = None
    rest_s: Annotated[int, Field(ge=0, le=600)] | None = None

    _span_reps = field_validator("reps", "hold_s", mode="before")(lambda cls, v: _span(v))

    @model_validator(mode="after")
    def _reps_or_hold(self) -> Dose:
        if self.reps is None and self.hold_s is None:
            raise ValueError("a dose needs reps or hold_s; add 'reps: [8, 12]' or 'hold_s: 30'")
        for span in (self.reps, self.hold_s):
            if span is not None and span[0] > span[1]:
                raise ValueError(f"range [{span[0]}, {span[1]}] runs backwards; write it as "
                                 f"[{span[1]}, {span[0]}], the smaller number first")
        return self


class Source(Strict):
    id: SourceId
    kind: Literal["seed", "study", "review", "guideline", "dataset"]
    title: Text
    citation: Text | None = None


class Muscle(Entry):
    kind: Literal["muscle", "tissue"]
    region: Region
    role: Text
    opposes: Annotated[list[Id], ref("muscle")] = []
    aliases: list[Text] = []


class Targets(Strict):
    primary: Annotated[list[Id], Field(min_length=1), ref("muscle")]
    secondary: Annotated[list[Id], ref("muscle")] = []


class Exercise(Entry):
    aliases: list[Text] = []
    category: Category
    pattern: Id
    targets: Targets
    equipment: Annotated[list[Id], Field(min_length=1), ref("equipment")]
    level: Annotated[Id, ref("level")]
    unilateral: bool
    impact: Impact = "none"
    joint_load: dict[Region, Intensity] = {}
    loadable: bool = False
    qualities: Annotated[list[Id], ref("quality")] = []
    progresses_to: Annotated[list[Id], ref("exercise")] = []
    regresses_to: Annotated[list[Id], ref("exercise")] = []
    dose: Dose
    cues: list[Text] = []


class Suggestion(Cited):
    symptom: Annotated[Id, ref("symptom")]
    weight: Weight


class Implication(Cited):
    muscle: Annotated[Id, ref("muscle")]
    role: Literal["weak", "overloaded", "tight", "irritated"]
    weight: Weight


class Selector(Strict):
    """Selects exercises by id, category, pattern, impact (at least) and joint load (at least)."""

    exercises: Annotated[list[Id], ref("exercise")] = []
    category: Category | None = None
    pattern: Id | None = None
    impact: Impact | None = None
    joint_load: dict[Region, Intensity] = {}

    def is_empty(self) -> bool:
        return not (self.exercises or self.category or self.pattern or self.impact
                    or self.joint_load)

    def matches(self, exercise: Exercise) -> bool:
        """True when the exercise meets every condition this selector names."""
        if self.exercises and exercise.id not in self.exercises:
            return False
        if self.category and exercise.category != self.category:
            return False
        if self.pattern and exercise.pattern != self.pattern:
            return False
        if self.impact and IMPACT_RANK[exercise.impact] < IMPACT_RANK[self.impact]:
            return False
        for region, level in self.joint_load.items():
            have = exercise.joint_load.get(region)
            if have is None or INTENSITY_RANK[have] < INTENSITY_RANK[level]:
                return False
        return True


class Contraindication(Selector):
    reason: Text
    phases: Annotated[list[Id], ref("phase")] = []
    stages: list[Stage] = []
    sources: Sources

    _sources = field_validator("sources", mode="before")(lambda cls, v: _sources_field(v))

    @model_validator(mode="after")
    def _selects_something(self) -> Contraindication:
        if self.is_empty():
            raise ValueError("a contraindication needs at least one of exercises, category, "
                             "pattern, impact or joint_load")
        return self

    def specificity(self) -> int:
        """How narrowly it selects: a named exercise (3) before a pattern (2), a category (1)
        and a joint-load or impact threshold (0), so that an exercise two contraindications
        match is given the reason written most specifically for it."""
        if self.exercises:
            return 3
        if self.pattern:
            return 2
        return 1 if self.category else 0


class Injury(Entry):
    aliases: list[Text] = []
    region: Region
    # a check for a condition not to miss that this injury can hide, shown when it is suspected
    screen: Text | None = None
    suggested_by: list[Suggestion] = []
    implicates: Annotated[list[Implication], Field(min_length=1)]
    contraindications: list[Contraindication] = []

    @model_validator(mode="after")
    def _one_link_each(self) -> Injury:
        """One weight per symptom and one role per muscle: a second link (an extension's) would
        silently outweigh or undo the first."""
        for field, links, key in (("suggested_by", self.suggested_by, "symptom"),
                                  ("implicates", self.implicates, "muscle")):
            seen: set[str] = set()
            for link in links:
                target = getattr(link, key)
                if target in seen:
                    raise ValueError(f"{field} names {key} '{target}' twice; keep one link per "
                                     f"{key} (to change its weight or role, replace the injury "
                                     "with 'replace: true')")
                seen.add(target)
        return self


class Symptom(Entry):
    region: Region
    description: Text | None = None
    aliases: list[Text] = []
    # a check for a condition not to miss, shown whenever the symptom is reported
    screen: Text | None = None


class RedFlag(Entry):
    message: Text
    region: Region | None = None
    # urgent: medical assessment today; refer: assessment before loading; stop: stop the
    # exercise that provokes it (CLINICAL triage grades)
    urgency: Urgency = "refer"


class Sign(Strict):
    """One way a condition shows: a red flag alone, with a symptom, or in a region that a
    symptom or an injury places (so a diagnosis raises it as a symptom does)."""

    red_flag: Annotated[Id, ref("red-flag")]
    symptom: Annotated[Id | None, ref("symptom")] = None
    region: Region | None = None

    @model_validator(mode="after")
    def _symptom_or_region(self) -> Sign:
        if self.symptom and self.region:
            raise ValueError("a sign names a symptom or a region, not both")
        return self


class Condition(Entry):
    """A condition exercise must not miss (fracture, bone stress injury, DVT, rupture, ...):
    the signs that raise it, how urgent a referral is, and the regions kept from all loading."""

    urgency: Urgency
    # true: no exercise at all until assessed, even when the referral is not for today
    no_session: bool = False
    signs: Annotated[list[Sign], Field(min_length=1)]
    protects: Annotated[list[Region], Field(min_length=1)]
    message: Text
    aliases: list[Text] = []


class ProtocolDose(Strict):
    """A protocol's dose of one exercise; it outranks the phase's dosing."""

    exercise: Annotated[Id, ref("exercise")]
    sets: Annotated[int, Field(ge=1, le=10)]
    reps: tuple[Annotated[int, Field(ge=1, le=100)],
                Annotated[int, Field(ge=1, le=100)]] | None = None
    hold_s: tuple[Annotated[int, Field(ge=1, le=600)],
                  Annotated[int, Field(ge=1, le=600)]] | None = None
    load: Load
    effort: Text | None = None
    tempo: Text | None = None
    rest_s: Annotated[int, Field(ge=0, le=600)] | None = None
    sessions_per_week: Annotated[int, Field(ge=1, le=14)]
    frequency: Text

    _span_reps = field_validator("reps", "hold_s", mode="before")(lambda cls, v: _span(v))

    @model_validator(mode="after")
    def _reps_or_hold(self) -> ProtocolDose:
        if (self.reps is None) == (self.hold_s is None):
            raise ValueError("a protocol dose gives reps or hold_s (one of them)")
        return self


class Protocol(Entry):
    """A published rehabilitation protocol for one injury at given stages, with its doses."""

    injury: Annotated[Id, ref("injury")]
    stages: Annotated[list[Stage], Field(min_length=1)]
    needs: Annotated[Id | None, ref("equipment")] = None
    rank: Annotated[int, Field(ge=1)] = 1
    doses: Annotated[list[ProtocolDose], Field(min_length=1)]
    summary: Text


class Phase(Entry):
    order: Annotated[int, Field(ge=1)]
    aim: Text
    sessions_per_week: tuple[Annotated[int, Field(ge=0, le=7)], Annotated[int, Field(ge=0, le=7)]]
    # how many weeks a season plan gives it: [fewest, most]; most null: as many as are left
    plan_weeks: tuple[Annotated[int, Field(ge=0, le=52)],
                      Annotated[int, Field(ge=0, le=52)] | None] = (0, None)

    _span = field_validator("sessions_per_week", mode="before")(lambda cls, v: _span(v))
    _weeks = field_validator("plan_weeks", mode="before")(lambda cls, v: _span(v))


class Goal(Entry):
    favours: Annotated[list[Id], ref("quality")] = []
    categories: list[Category] = []


class Quality(Entry):
    description: Text | None = None


class Level(Entry):
    rank: Annotated[int, Field(ge=1, le=10)]
    description: Text | None = None


class Equipment(Entry):
    settings: list[Setting] = []


class Claim(Cited):
    id: Id
    topic: Id
    statement: Text


FieldType = Annotated[str, StringConstraints(
    pattern=r"^(id(:[a-z-]+)?|number|whole|text|bool|region|category)$")]


class FactKind(Cited):
    """A fact kind that rules may assert and match, declared in a knowledge base."""

    id: Id
    description: Text
    fields: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")], FieldType]


class RuleSpec(Cited):
    """A rule as written; its `when`/`then` bodies are checked by the rule compiler."""

    id: Id
    description: Text
    salience: int = 0
    safety: bool = False
    """Part of the safety policy: a --kb layer that replaces or disables it needs
    --allow-safety-changes."""
    when: Annotated[list[Any], Field(min_length=1)]
    then: Annotated[list[Any], Field(min_length=1)]


class Requirement(Cited):
    id: Id
    description: Text
    regions: list[Region] = []
    unilateral: bool | None = None
    category: Category | None = None
    at_least: Annotated[int, Field(ge=1)] = 1


class Section(Strict):
    """A part of the session, in the order performed; an exercise goes in the first section
    whose categories (and, if given, patterns) it matches."""

    id: Id
    name: Text
    categories: Annotated[list[Category], Field(min_length=1)]
    patterns: list[Id] = []
    # warm-up and mobility parts sit beside the strength slots, never in them
    counts_toward_limit: bool = True
    max: Annotated[int, Field(ge=0)] | None = None


class Selection(Cited):
    """How a session is assembled: coverage requirements, balance and variety."""

    id: Id
    description: Text
    safety: bool = False
    """Part of the safety policy (its sections decide what a session-size cap counts)."""
    max_per_pattern: Annotated[int, Field(ge=1)] = 1
    max_per_category: dict[Category, Annotated[int, Field(ge=0)]] = {}
    max_per_muscle: Annotated[int, Field(ge=1)] = 2
    overlap_penalty: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    cover_focus_at_least: Annotated[float, Field(gt=0.0, le=1.0)] = 0.4
    balance_opposing: bool = True
    require: list[Requirement] = []
    sections: list[Section] = []
    # when a ceiling lowers the load of a low-rep lift, its reps rise to the range of the new load
    lighter_load_reps: dict[Load, tuple[Annotated[int, Field(ge=1, le=100)],
                                        Annotated[int, Field(ge=1, le=100)]]] = {}

    # the priority of a followed protocol's doses: above the phase and level decisions of the
    # rules (a protocol's dose outranks the phase's); the ceilings still apply after it
    protocol_priority: int = 50

    _span_lighter = field_validator("lighter_load_reps", mode="before")(
        lambda cls, v: {k: _span(x) for k, x in v.items()} if isinstance(v, dict) else v)


class Timing(Strict):
    """How long an exercise takes (docs/plan.md): each set is the reps times the seconds of a
    rep (the tempo's, when it gives them as '2-1-2' or '3 s up, 3 s down'; else the category's)
    or the hold, on each side for a per-side exercise, then the rest; plus a setup."""

    rep_s: dict[Category, Annotated[float, Field(gt=0, le=60)]] = {
        "strength": 3, "isometric": 3, "plyometric": 1, "balance": 4, "mobility": 4,
        "warm-up": 2}
    setup_s: Annotated[int, Field(ge=0, le=600)] = 30
    side_switch_s: Annotated[int, Field(ge=0, le=120)] = 10


class UsualWeek(Strict):
    """The running week a plan assumes when the runner gives none."""

    hard: list[Weekday] = []
    long: Weekday | None = None
    rest: list[Weekday] = []


class Planning(Cited):
    """How `kbrun plan` lays out a season (kb/plan.yaml); which days and doses each week gets
    are decided by the rules (kb/rules/80-plan.yaml)."""

    id: Id
    description: Text
    # the phases of a plan to a race, counted back from it (the last first)
    before_race: Annotated[list[Id], ref("phase"), Field(min_length=1)]
    # the phases after the race, in order (the last takes the remaining weeks)
    after_race: Annotated[list[Id], ref("phase")] = []
    # the phases that progress in blocks; each block's last week is a lighter week
    block_phases: Annotated[list[Id], ref("phase")] = []
    block_weeks: Annotated[int, Field(ge=2, le=12)] = 4
    # at least this many days without strength between two strength sessions
    days_between: Annotated[int, Field(ge=0, le=3)] = 1
    # the sessions a week when --sessions is not given: the phase range's low or high end
    default_sessions: dict[Id, Literal["low", "high"]] = {}
    # a planned session's time budget when --minutes is not given
    minutes: Annotated[int, Field(ge=5, le=180)] = 30
    # the running week assumed when the runner gives none (a warning says so)
    usual_week: UsualWeek = UsualWeek()
    # the phases in which no field test is due (a re-test waits for the first week after)
    no_testing_phases: Annotated[list[Id], ref("phase")] = []
    timing: Timing = Timing()


# -- field tests: what `kbrun assess` measures (kb/tests.yaml) -----------------------------------

TestUnit = Literal["reps", "seconds", "cm", "faults"]
Side = Literal["left", "right"]
SIDES: tuple[Side, ...] = get_args(Side)


class Fault(Strict):
    """A movement fault a quality test looks for, and the muscles whose weakness it points to."""

    id: Id
    name: Text
    muscles: Annotated[list[Id], Field(min_length=1), ref("muscle")]


class Norm(Cited):
    """The line a side's result is read against: below it (above it, for faults) the side is
    weak."""

    value: Annotated[float, Field(ge=0)]
    # how far past the line (in the test's unit) a result must be for the weakness to be as
    # certain as the test allows (docs/assess.md: certainty)
    full_at: Annotated[float, Field(gt=0)]
    note: Text


class Imbalance(Cited):
    """The left/right difference that counts as an imbalance: the weaker side more than
    `percent` below the stronger (100 - the limb symmetry index), or, for a count of faults,
    `faults` or more faults apart."""

    percent: Annotated[float, Field(gt=0, lt=100)] | None = None
    faults: Annotated[int, Field(ge=1, le=10)] | None = None
    note: Text

    @model_validator(mode="after")
    def _one_measure(self) -> Imbalance:
        if (self.percent is None) == (self.faults is None):
            raise ValueError("an imbalance is given as 'percent' (for reps, seconds or cm) or "
                             "'faults' (for a quality test): one of them")
        return self


class Alarm(Cited):
    """A result so low that it is a red flag, not a weakness: a side at or below `at_most`
    (while the other side is above it) raises `red_flag`."""

    at_most: Annotated[float, Field(ge=0)]
    red_flag: Annotated[Id, ref("red-flag")]
    note: Text


class FieldTest(Entry):
    """A field test a runner can do alone or with a partner, scored on each side."""

    aliases: list[Text] = []
    measures: Text                                    # the quality, e.g. "calf endurance"
    muscles: Annotated[list[Id], Field(min_length=1), ref("muscle")]
    unit: TestUnit
    # the most a side can plausibly score (a larger value is a typing mistake): reps, seconds or
    # cm; a quality test's most is its number of faults
    most: Annotated[float, Field(gt=0, le=100_000)] | None = None
    faults: list[Fault] = []
    how: Annotated[list[Text], Field(min_length=1)]
    score: Text
    caution: Text | None = None
    equipment: Annotated[list[Id], ref("equipment")] = []
    partner: bool = False
    norm: Norm | None = None
    no_norm: Text | None = None                       # why no norm is given
    imbalance: Imbalance
    alarm: Alarm | None = None
    reliability: Annotated[float, Field(gt=0, le=1)]  # caps a finding's certainty
    # where it comes in a testing session (lowest first): movement quality and power while
    # fresh, the tests to fatigue after them
    order: Annotated[int, Field(ge=0, le=100)] = 50
    retest_weeks: Annotated[int, Field(ge=1, le=52)]  # after a finding
    routine_weeks: Annotated[int, Field(ge=1, le=104)]  # without one

    @model_validator(mode="after")
    def _consistent(self) -> FieldTest:
        if (self.norm is None) == (self.no_norm is None):
            raise ValueError("give the test a 'norm' (value, note, sources) or say in "
                             "'no_norm' why none exists: one of them")
        if self.unit == "faults":
            if not self.faults:
                raise ValueError("a test scored in faults lists them under 'faults'")
            if self.imbalance.faults is None:
                raise ValueError("a test scored in faults gives its imbalance as 'faults: N'")
            if self.most is not None:
                raise ValueError("a test scored in faults takes its most from its faults; "
                                 "remove 'most'")
        else:
            if self.faults:
                raise ValueError(f"only a test scored in faults lists faults, not one in "
                                 f"{self.unit}")
            if self.imbalance.percent is None:
                raise ValueError(f"a test scored in {self.unit} gives its imbalance as "
                                 "'percent: N'")
            if self.most is None:
                raise ValueError(f"give 'most': the largest plausible result in {self.unit}")
        if len({f.id for f in self.faults}) != len(self.faults):
            raise ValueError("two faults share an id")
        return self

    @property
    def higher_is_better(self) -> bool:
        return self.unit != "faults"

    @property
    def ceiling(self) -> float:
        """The most a side can score."""
        return float(len(self.faults)) if self.unit == "faults" else float(self.most or 0)


# -- mappings: how an external exercise dataset is imported (kbrun kb import) --------------------

class MuscleTerm(Strict):
    """A dataset's muscle word, the muscles it stands for here, and the regions working it loads."""

    term: Text
    to: Annotated[list[Id], ref("muscle")] = []       # empty: not a muscle kbrun works on
    loads: dict[Region, Intensity] = {}                # when it is a primary target
    heavy_loads: dict[Region, Intensity] = {}          # ... of a compound lift with heavy equipment


class CategoryEquipment(Strict):
    category: Category
    to: Annotated[Id, ref("equipment")]


class EquipmentTerm(Strict):
    """A dataset's equipment word (`null` for none given) and the kbrun equipment it means."""

    term: Text | None
    to: Annotated[Id | None, ref("equipment")] = None  # None: records with it are skipped
    by_category: list[CategoryEquipment] = []          # what it means instead in a category
    vague: bool = False                                # the name may say more (equipment_keywords)
    reason: Text | None = None


class LevelTerm(Strict):
    term: Text
    to: Annotated[Id, ref("level")]


class CategoryTerm(Strict):
    """A dataset's category and the kbrun category it becomes (None: skipped)."""

    term: Text
    to: Category | None = None
    static: Category | None = None     # the category instead, for a record whose force is static
    reason: Text | None = None


class KeywordEquipment(Strict):
    """Equipment read from the name when the dataset says body weight or something vague."""

    keywords: Annotated[list[Text], Field(min_length=1)]
    to: Annotated[Id, ref("equipment")]


class PatternRule(Strict):
    """Name keywords that decide a movement pattern, and the built-in exercise it is a variant of.

    A variant inherits the built-in exercise's joint load and impact where they are higher,
    and every contraindication that names the built-in exercise.
    """

    keywords: Annotated[list[Text], Field(min_length=1)]
    pattern: Id
    categories: list[Category] = []                          # only for these (empty: any)
    equipment: Annotated[list[Id], ref("equipment")] = []   # only with one of these
    variant_of: Annotated[Id | None, ref("exercise")] = None
    joint_load: dict[Region, Intensity] = {}                 # regions it loads at least this much


class SkipRule(Strict):
    """Name keywords of records not to import, with the reason reported for them."""

    keywords: Annotated[list[Text], Field(min_length=1)]
    reason: Text


class CategoryDefaults(Strict):
    """What an imported exercise of a kbrun category gets when the dataset does not say."""

    category: Category
    qualities: Annotated[list[Id], ref("quality")] = []
    impact: Impact = "none"
    joint_load: dict[Region, Intensity] = {}
    joint_load_cap: Intensity | None = None   # no region above this (stretches load little)
    dose: Dose
    loaded_dose: Dose | None = None           # for a loadable exercise
    static_dose: Dose | None = None           # for a record whose force is static


class DatasetMapping(Cited):
    """How `kbrun kb import` turns an external exercise dataset into knowledge-base entries."""

    id: Id
    name: Text
    dataset: Annotated[SourceId, ref("source")]
    id_prefix: Id
    muscles: Annotated[list[MuscleTerm], Field(min_length=1)]
    equipment: Annotated[list[EquipmentTerm], Field(min_length=1)]
    levels: Annotated[list[LevelTerm], Field(min_length=1)]
    categories: Annotated[list[CategoryTerm], Field(min_length=1)]
    defaults: Annotated[list[CategoryDefaults], Field(min_length=1)]
    equipment_keywords: list[KeywordEquipment] = []
    loadable_equipment: Annotated[list[Id], ref("equipment")] = []
    heavy_equipment: Annotated[list[Id], ref("equipment")] = []
    unilateral_keywords: list[Text] = []
    unilateral_qualities: Annotated[list[Id], ref("quality")] = []
    patterns: list[PatternRule] = []
    skip: list[SkipRule] = []
    cues: Annotated[int, Field(ge=0, le=5)] = 2

    @model_validator(mode="after")
    def _each_term_once(self) -> DatasetMapping:
        for field_name in ("muscles", "equipment", "levels", "categories"):
            seen: set[str | None] = set()
            for item in getattr(self, field_name):
                if item.term in seen:
                    raise ValueError(f"{field_name}: term {item.term!r} is mapped twice")
                seen.add(item.term)
        categories = [d.category for d in self.defaults]
        for category in set(categories):
            if categories.count(category) > 1:
                raise ValueError(f"defaults: category '{category}' is given twice")
        for term in self.categories:
            for target in (term.to, term.static):
                if target is not None and target not in categories:
                    raise ValueError(f"categories: '{term.term}' becomes '{target}', which has "
                                     "no entry under defaults")
        return self


# section name in a file -> (kind name, model)
SECTIONS: dict[str, tuple[str, type[Strict]]] = {
    "sources": ("source", Source),
    "muscles": ("muscle", Muscle),
    "exercises": ("exercise", Exercise),
    "injuries": ("injury", Injury),
    "symptoms": ("symptom", Symptom),
    "red_flags": ("red-flag", RedFlag),
    "conditions": ("condition", Condition),
    "protocols": ("protocol", Protocol),
    "phases": ("phase", Phase),
    "goals": ("goal", Goal),
    "qualities": ("quality", Quality),
    "levels": ("level", Level),
    "equipment": ("equipment", Equipment),
    "claims": ("claim", Claim),
    "facts": ("fact", FactKind),
    "rules": ("rule", RuleSpec),
    "selection": ("selection", Selection),
    "planning": ("planning", Planning),
    "tests": ("test", FieldTest),
    "mappings": ("mapping", DatasetMapping),
}
KIND_SECTION = {kind: section for section, (kind, _model) in SECTIONS.items()}
