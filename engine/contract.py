"""The JSON contract of kbrun's `--format json` outputs, as typed values, and its JSON Schema.

Each output is a TypedDict here; the `to_dict` methods (engine/advice.py, engine/explain.py),
`trace_records` (engine/inference.py), the batch lines (engine/batch.py) and the browse
functions (engine/browse.py) are annotated to return them, so mypy checks that the code builds
what the contract says. The JSON Schema of each output is generated from the same types
(pydantic) and shipped in docs/schema/; regenerate it after changing a type with::

    python -m kbrun.engine.contract docs/schema

Version policy (docs/json.md): adding a key, or a value to an open vocabulary, keeps the version;
removing or renaming a key, changing a type, or making an optional key required bumps it.

Typing-only modules import this under TYPE_CHECKING; at run time only the schema generator and
the tests need it (it imports pydantic).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, with_config

# pydantic reads TypedDicts from typing_extensions on Python < 3.12 (it is one of its own
# dependencies, so always installed beside it)
from typing_extensions import TypedDict

from kbrun.engine.schema import Category, Load, Stage

#: The major version of the contract: in every schema's `$id`, file name and title.
VERSION = 1
DIALECT = "https://json-schema.org/draft/2020-12/schema"

# An object whose keys are all listed here: any other key is a schema error, so that drift
# between the code and the contract fails a test instead of slipping into the output.
closed = with_config(ConfigDict(extra="forbid", use_attribute_docstrings=True))
# An object with the listed keys and, by design, others (an entry's own attributes).
open_ = with_config(ConfigDict(extra="allow", use_attribute_docstrings=True))

Certainty = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]


# -- advise --------------------------------------------------------------------------------------

@closed
class Profile(TypedDict):
    """The runner's profile as validated: lists sorted and without repeats."""

    symptoms: list[str]
    injuries: list[str]
    goals: list[str]
    phase: str
    level: str
    equipment: list[str]
    """The equipment the runner has (all of it when none was given)."""
    red_flags: list[str]
    pain: Annotated[int, Field(ge=0, le=10)] | None
    limit: Annotated[int, Field(ge=1)]
    """Strength slots in the session (--limit)."""
    stage: Stage | None
    """The injury stage given with --stage; null when the rules infer it."""
    minutes: Annotated[int, Field(ge=1)] | None
    """The time budget of a session (--minutes); null: none."""
    assessment: ProfileAssessment | None
    """What the runner's field tests found (--assessment FILE); null: no tests given."""


@closed
class Finding(TypedDict):
    """A conclusion about the runner: a suspected injury, a muscle or tissue in focus, a wanted
    quality, or a region protected from load."""

    kind: str
    """injury, focus (a muscle or tissue), quality or protected-region."""
    id: str
    certainty: Certainty
    """Combined certainty (certainty-factor style, docs/scoring.md)."""
    rules: list[str]
    """The rules that concluded it, in firing order."""
    causes: list[str]
    """What led to it (a symptom, a diagnosis, a goal, a baseline)."""


@closed
class Prescription(TypedDict):
    """The dose of one exercise: reps (reps_min..reps_max) or a hold (hold_s_min..hold_s_max)."""

    sets: Annotated[int, Field(ge=1)]
    reps_min: int | None
    """Null for a hold."""
    reps_max: int | None
    per_side: bool
    load: Load
    tempo: str | None
    rest_s: int | None
    sessions_per_week: int
    hold_s_min: NotRequired[int]
    """Present for a hold: its shortest duration in seconds."""
    hold_s_max: NotRequired[int | None]
    """Present for a hold: its longest duration in seconds."""
    frequency: NotRequired[str]
    """A protocol's own frequency, e.g. "twice a day, every day"."""
    effort: NotRequired[str]
    """How hard, in words (a protocol's "about 70 % of maximal")."""
    notes: NotRequired[list[str]]
    """Notes from the dosing rules that applied."""
    weaker_side: NotRequired[Literal["left", "right"]]
    """Present when an imbalance gives one side more sets (kbrun assess): that side."""
    sets_by_side: NotRequired[SetsBySide]
    """Present with weaker_side: the sets of each side."""


@closed
class SetsBySide(TypedDict):
    """The sets of each side of a single-leg exercise."""

    left: Annotated[int, Field(ge=1)]
    right: Annotated[int, Field(ge=1)]


@closed
class Recommendation(TypedDict):
    """One exercise of the session, in the order performed."""

    rank: Annotated[int, Field(ge=1)]
    """Its place in the order performed (warm-up first), not its score order."""
    exercise: str
    name: str
    section: str
    """The session part it is performed in (kb/session.yaml), e.g. warm-up, main, accessory."""
    category: Category
    slot: bool
    """Whether it fills one of the --limit strength slots (warm-up and mobility do not)."""
    score: Certainty
    prescription: Prescription
    targets: list[str]
    """Its primary target muscles and tissues."""
    reasons: list[str]
    cues: list[str]
    protocol: str | None
    """The rehabilitation protocol it belongs to, if any."""
    stage: str | None
    """The injury stage that protocol was chosen for."""
    minutes: Annotated[float, Field(ge=0)]
    """How long it takes at this prescription, setup and rests included (docs/plan.md)."""
    rules: list[str]
    sources: list[str]


@closed
class Avoid(TypedDict):
    """An exercise a rule ruled out, with its first reason."""

    exercise: str
    name: str
    reason: str
    rules: list[str]
    kind: str
    """"safety", or "availability" (equipment, level); set by the rule that excluded it."""


@closed
class Warning(TypedDict):
    """A warning; an urgent one leads the output."""

    kind: str
    """Set by the rule that warned: red-flag, screen, pain, pain-monitoring, conflict, running,
    disclaimer, ... (a knowledge base may add kinds)."""
    message: str
    urgent: bool
    rules: list[str]


@closed
class ScheduleNote(TypedDict):
    """When in the runner's week the session goes, and the claim it follows."""

    note: str
    follows: str | None
    rule: str
    sources: list[str]


@closed
class Schedule(TypedDict):
    """Sessions a week and when they go."""

    sessions_per_week: Annotated[list[int], Field(min_length=2, max_length=2)]
    """[fewest, most]."""
    notes: list[ScheduleNote]


@closed
class Section(TypedDict):
    """A part of the session, in the order performed, with its exercises."""

    id: str
    name: str
    exercises: list[str]


@closed
class FollowedProtocol(TypedDict):
    """A rehabilitation protocol the session follows."""

    id: str
    name: str
    injury: str
    stage: str
    summary: str
    sources: list[str]


@closed
class InjuryStage(TypedDict):
    """The stage of the runner's injury, given or inferred, and what set it."""

    id: str
    cause: str | None


@closed
class TraceStep(TypedDict):
    """One rule firing of the forward-chaining trace."""

    step: Annotated[int, Field(ge=1)]
    rule: str
    matched: list[str]
    """The facts it matched, rendered as `kind(field=value, ...)`."""
    asserted: list[str]
    """The facts it asserted."""


@closed
class Advice(TypedDict):
    """`kbrun advise --format json`: a ranked, dosed session and what led to it."""

    profile: Profile
    findings: list[Finding]
    recommendations: list[Recommendation]
    avoid: list[Avoid]
    warnings: list[Warning]
    schedule: Schedule
    sections: list[Section]
    protocols: list[FollowedProtocol]
    stage: InjuryStage | None
    minutes: Annotated[int, Field(ge=0)]
    """How long the session takes, in whole minutes rounded up (docs/plan.md)."""
    trace: NotRequired[list[TraceStep]]
    """Every rule firing in order; only with --trace."""


@closed
class BatchAdvice(Advice):
    """One line of `kbrun advise --batch`: the advice for the profile on that input line."""

    line: Annotated[int, Field(ge=1)]
    """The input line number (1-based)."""


@closed
class BatchError(TypedDict):
    """One line of `kbrun advise --batch` whose profile could not be read."""

    line: Annotated[int, Field(ge=1)]
    error: str
    """One line naming the problem, as `Error: ...` would."""


BatchLine = BatchAdvice | BatchError


# -- why, why-not --------------------------------------------------------------------------------

@closed
class Node(TypedDict):
    """One step of a derivation: a fact and the rule and premises that produced it, or the
    profile input or knowledge-base link it came from (a leaf, with no premises)."""

    fact: str
    origin: str
    """rule (a rule asserted it), profile (an input), graph (a knowledge-base link), session
    (the selection that combined the evidence) or omitted (the "... N more steps" that stands
    for a derivation deeper than explain.MAX_DERIVATION_DEPTH)."""
    rule: str | None
    description: str | None
    source: str | None
    """The first of `sources`."""
    sources: list[str]
    premises: list[Node]


@closed
class WhyContribution(TypedDict):
    """One piece of evidence for the exercise."""

    weight: float
    reason: str
    rules: list[str]


@closed
class WhyDoseStep(TypedDict):
    """One dosing decision applied to the exercise, in the order applied."""

    rule: str
    priority: int
    changes: dict[str, float | str | None]
    """Dose field -> its new value."""
    follows: str | None
    """The claim the decision follows, where the sources disagree."""
    note: str | None
    sources: list[str]


@closed
class Why(TypedDict):
    """`kbrun why EXERCISE --format json`: how the exercise was concluded."""

    exercise: str
    name: str
    recommended: bool
    rank: int | None
    score: Certainty | None
    derivation: Node | None
    """The derivation tree; null when the exercise is not recommended (see `note`)."""
    contributions: list[WhyContribution]
    combination: str
    """How the contributions combine into the score, as a formula with numbers."""
    dose: list[WhyDoseStep]
    ranking: str
    note: str | None
    warnings: list[Warning]
    """What the --kb layers changed in the safety policy (`safety-change`), and the
    disclaimer, as in advice."""
    plan_day: NotRequired[PlanDayContext]
    """With --week and --day: the planned day explained (its week's consultation)."""


WhyNotCase = Literal["recommended", "excluded", "not-a-candidate", "ranked-out"]


@closed
class MessageReason(TypedDict):
    """A reason told in words: the exercise is recommended after all, or a link is missing."""

    kind: Literal["recommended", "no-target-in-focus", "no-rule-matched", "no-quality-wanted"]
    message: str


@closed
class ExcludedReason(TypedDict):
    """A rule that excluded the exercise, and the facts that triggered it."""

    kind: Literal["excluded"]
    message: str
    rule: str
    description: str
    sources: list[str]
    facts: list[str]
    derivation: Node


@closed
class RankedOutReason(TypedDict):
    """The exercise was a candidate but ranked below what the session took."""

    kind: Literal["ranked-out"]
    message: str
    score: float
    instead: str | None
    last_in_session: str | None
    last_score: float | None
    rules: list[str]


WhyNotReason = MessageReason | ExcludedReason | RankedOutReason


@closed
class ProfileChange(TypedDict):
    """The smallest profile change found that brings the exercise in, verified by re-running."""

    option: str
    """As typed on the command line, e.g. `--goal power`."""
    field: str
    value: list[str] | str | int
    rank: int
    score: float


@closed
class WhyNot(TypedDict):
    """`kbrun why-not EXERCISE --format json`: why it is not in the session."""

    exercise: str
    name: str
    recommended: bool
    case: WhyNotCase
    reasons: list[WhyNotReason]
    change: ProfileChange | None
    tried: list[str]
    """The changes that were re-run."""
    warnings: list[Warning]
    """What the --kb layers changed in the safety policy (`safety-change`), and the
    disclaimer, as in advice."""
    plan_day: NotRequired[PlanDayContext]
    """With --week and --day: the planned day explained (its week's consultation)."""


# -- kb ------------------------------------------------------------------------------------------

@open_
class KbListRow(TypedDict):
    """One entry of `kbrun kb list KIND --format json`; the other keys are the kind's columns
    (an exercise's category, level, equipment, unilateral; a rule's salience, ...)."""

    id: str
    name: str
    sources: NotRequired[list[str]]


@closed
class SourceRef(TypedDict):
    """A citation: the source id, its title (null for a source the knowledge base does not
    list), and the quote where one is kept."""

    id: str
    title: str | None
    quote: NotRequired[str]


# A graph link that leaves or enters the entry. `from` is a Python keyword, so only the
# functional form can name the key; role, weight, reason, phases and any_of appear where the
# link has them.
Edge = TypedDict("Edge", {
    "from": str, "relation": str, "to": str, "sources": list[str],
    "role": NotRequired[str], "weight": NotRequired[float], "reason": NotRequired[str],
    "phases": NotRequired[list[str]], "any_of": NotRequired[bool],
})
closed(Edge)


@open_
class KbEntry(TypedDict):
    """`kbrun kb show ID --format json`: an entry with all its attributes (the other keys),
    its sources and every graph link that leaves or enters it."""

    id: str
    kind: str
    name: str
    sources: list[SourceRef]
    defined_at: str
    """The file that defines it."""
    edges: list[Edge]


@closed
class KbValidate(TypedDict):
    """`kbrun kb validate --format json` (only printed when the knowledge base is valid; an
    invalid one is an error on stderr and exit code 2)."""

    valid: Literal[True]
    layers: list[str]
    entries: dict[str, Count]
    rules: Count
    edges: Count
    changes: list[KbChange]
    """What each --kb layer extends, replaces or disables in the layers below it."""
    skipped: list[SkippedFile]
    """Files in the layers' folders that were not read (also a `Warning:` line on stderr)."""


@closed
class SkippedFile(TypedDict):
    """A file in a knowledge-base folder that is not read as knowledge (`rules.yaml.txt`)."""

    path: str
    reason: str
    """Why it was not read, and how to have it read."""


@closed
class KbChange(TypedDict):
    """An entry of a --kb layer that changes an entry of a layer below (docs/kb-format.md)."""

    id: str
    kind: str
    change: Literal["extend", "replace", "disable", "add"]
    """`add`: a new rule listed because it is a safety change (other new entries are not)."""
    at: str
    """file:line of the changing entry."""
    base: str | None
    """file:line of the entry it changes; null for an added one."""
    safety: str | None
    """Why this is a safety change (accepted with --allow-safety-changes); null if it is not."""


@closed
class KbStats(TypedDict):
    """`kbrun kb stats --format json`."""

    layers: list[str]
    entries: dict[str, Count]
    nodes: Count
    edges: Count
    relations: dict[str, Count]
    rules: Count
    sources: Count
    citations_per_seed: dict[str, Count]
    uncited_sources: list[str]


@closed
class ImportCounts(TypedDict):
    imported: Count
    linked: Count
    skipped: Count


@closed
class ImportedExercise(TypedDict):
    record: str
    exercise: str
    category: str
    pattern: str
    variant_of: str | None
    file: str


@closed
class LinkedExercise(TypedDict):
    record: str
    exercise: str


@closed
class SkippedRecord(TypedDict):
    record: str
    reason: str
    detail: str
    line: Count
    kind: Literal["mapping", "unknown", "invalid"]


@closed
class KbImport(TypedDict):
    """`kbrun kb import ... --format json`: what an import wrote, linked and skipped."""

    dataset: str
    path: str
    out: str
    commit: str | None
    records: Count
    counts: ImportCounts
    imported_by_category: dict[str, Count]
    skipped_by_reason: dict[str, Count]
    extended_contraindications: Count
    files: list[str]
    valid: bool
    imported: list[ImportedExercise]
    linked: list[LinkedExercise]
    skipped: list[SkippedRecord]


# -- plan ----------------------------------------------------------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RunKind = Literal["hard", "long", "easy", "rest", "race", "after-race"]


@closed
class RunWeek(TypedDict):
    """The runner's running week (--hard-days, --long-run, --rest-days); every other day is an
    easy run."""

    hard: list[Weekday]
    long: Weekday | None
    rest: list[Weekday]
    assumed: bool
    """True when none was given and kbrun assumed the usual week (a warning says so)."""


@closed
class PlannedSession(TypedDict):
    """A planned session: strength, or a rehabilitation protocol's exercises on another day."""

    date: str
    """YYYY-MM-DD."""
    day: Weekday
    after: Literal["hard-run", "long-run", "easy-run", "rest", "race"]
    """The running that day: the session comes after it."""
    kind: Literal["strength", "protocol"]
    minutes: Annotated[int, Field(ge=0)]
    """How long it takes, in whole minutes rounded up."""
    exercises: list[Recommendation]
    """As advise's recommendations, in the order performed."""


@closed
class PlanDay(TypedDict):
    """What the rules said about a day of the week for strength."""

    date: str
    day: Weekday
    run: RunKind
    verdict: Literal["closed", "rest", "preferred", "avoid", "open"]
    """closed: no strength session; rest: no loading at all, a protocol's included."""
    reasons: list[str]
    rules: list[str]


@closed
class PlannedWeek(TypedDict):
    """One week of the plan, and why its phase, days and dose are what they are."""

    week: Annotated[int, Field(ge=1)]
    start: str
    """The week's first day, YYYY-MM-DD."""
    phase: str
    block_week: Annotated[int, Field(ge=0)]
    """Its place in a block of build weeks, from 1; 0 outside the block phases."""
    deload: bool
    """The block's lighter week."""
    load_increase_pct: Annotated[int, Field(ge=0)]
    """Load to add over the week before, in per cent (0: none)."""
    volume_sets: Annotated[int, Field(ge=0)]
    """Sets of strength work (the --limit slots) over the week's strength sessions."""
    sessions: list[PlannedSession]
    days: list[PlanDay]
    reasons: list[str]
    rules: list[str]
    """The rules behind its days, dose and exercise moves."""
    retests: list[str]
    """The field tests due again this week (from --assessment FILE; kbrun assess)."""


@closed
class PlanDayContext(TypedDict):
    """The planned day a `why` or `why-not` with --week and --day explains."""

    week: Annotated[int, Field(ge=1)]
    date: str
    day: Weekday
    phase: str
    session: Literal["strength", "protocol"]
    exercises: list[str]
    """The exercises of that day's session."""


@closed
class Plan(TypedDict):
    """`kbrun plan --format json`: the weeks to a race (or for --weeks) around the runner's
    running week."""

    profile: Profile
    start: str
    race_date: str | None
    run_week: RunWeek
    weeks: list[PlannedWeek]
    """Empty when a red flag gave a referral instead of a plan (see warnings)."""
    warnings: list[Warning]


# -- assess -------------------------------------------------------------------------------------

SideResultValue = float | int | list[str] | None


@closed
class SideResults(TypedDict):
    """A test's result on each side: a number in the test's unit, or the faults seen (a quality
    test); null for a side not given yet."""

    left: SideResultValue
    right: SideResultValue


@closed
class AssessmentResults(TypedDict):
    """One day's results, as a results file holds them (`--results FILE`)."""

    date: str
    """YYYY-MM-DD."""
    results: dict[str, SideResults]
    """Test id -> its left and right result."""
    skipped: list[str]
    """Tests skipped that day."""


@closed
class FaultsBySide(TypedDict):
    left: list[str]
    right: list[str]


@closed
class AssessmentReading(TypedDict):
    """One test of the latest assessment against its norm and its imbalance threshold."""

    test: str
    name: str
    unit: Literal["reps", "seconds", "cm", "faults"]
    left: Annotated[float, Field(ge=0)]
    """The left side's score (faults: how many)."""
    right: Annotated[float, Field(ge=0)]
    faults: FaultsBySide | None
    """The faults seen on each side, when they were named."""
    norm: float | None
    """The test's norm; null when none is published (read by symmetry only)."""
    left_vs_norm_percent: float | None
    """How far the left side is from the norm: in per cent of it (negative: below), or in
    faults past it for a quality test; null without a norm."""
    right_vs_norm_percent: float | None
    gap_percent: float | None
    """The weaker side behind the stronger, in per cent of the stronger; null for faults."""
    gap_faults: int | None
    """For a quality test: how many faults apart the sides are."""
    summary: str
    date: str | None
    """The day of the result read (each test's latest)."""


@closed
class AssessmentFinding(TypedDict):
    """A weakness (below the test's norm on one side or both) or an imbalance (one side past
    the test's threshold behind the other)."""

    kind: Literal["weak-muscle", "imbalance"]
    test: str
    side: Literal["left", "right", "both"]
    muscles: list[str]
    certainty: Certainty
    """The test's reliability times how far past the line the result is (docs/assess.md)."""
    date: str
    result: str
    """The test's figures, as the explanations quote them."""
    summary: str
    sources: list[str]
    """The sources of the norm or threshold it was read against."""


@closed
class TrendPoint(TypedDict):
    date: str
    left: float
    right: float


@closed
class AssessmentTrend(TypedDict):
    """A test across the dated assessments that hold it."""

    test: str
    status: Literal["better", "worse", "steady", "first"]
    """The last result against the one before (first: only one result)."""
    summary: str
    points: list[TrendPoint]


@closed
class AssessmentRetest(TypedDict):
    """When to do a test again."""

    test: str
    name: str
    due: str
    """YYYY-MM-DD."""
    reason: str
    last: str | None
    """When it was last done (YYYY-MM-DD); null: not tested yet."""


@closed
class AssessmentReportDict(TypedDict):
    """`kbrun assess --format json`: what the dated assessments say. The file can be passed
    back as `--results` or `--assessment`: its `assessments` are read, the rest recomputed."""

    date: str | None
    """The latest assessment with a complete result; null if none."""
    readings: list[AssessmentReading]
    """Each test's latest complete result, read against its norm and threshold."""
    findings: list[AssessmentFinding]
    trends: list[AssessmentTrend]
    retests: list[AssessmentRetest]
    """Every test, soonest first."""
    incomplete: list[str]
    """Tests with no result yet (not skipped the last time), or begun and not finished."""
    warnings: list[str]
    red_flags: list[str]
    """Red flags a result raised (e.g. cannot-heel-raise: a side that cannot rise); advise
    and plan triage them as if given with --red-flag."""
    assessments: list[AssessmentResults]
    """Every assessment, oldest first."""


@closed
class ProfileAssessment(TypedDict):
    """The findings a profile carries from --assessment FILE."""

    date: str | None
    file: str
    findings: list[AssessmentFinding]
    retests: list[AssessmentRetest]


# -- the schema ----------------------------------------------------------------------------------

#: output kind -> (its type, the command that prints it)
OUTPUTS: dict[str, tuple[Any, str]] = {
    "advise": (Advice, "kbrun advise --format json"),
    "advise-batch-line": (BatchLine, "one line of kbrun advise --batch"),
    "plan": (Plan, "kbrun plan --format json"),
    "assess": (AssessmentReportDict, "kbrun assess --format json"),
    "why": (Why, "kbrun why EXERCISE --format json"),
    "why-not": (WhyNot, "kbrun why-not EXERCISE --format json"),
    "kb-list": (list[KbListRow], "kbrun kb list KIND --format json"),
    "kb-show": (KbEntry, "kbrun kb show ID --format json"),
    "kb-validate": (KbValidate, "kbrun kb validate --format json"),
    "kb-stats": (KbStats, "kbrun kb stats --format json"),
    "kb-import": (KbImport, "kbrun kb import SOURCE PATH --format json"),
}


def schema_id(kind: str) -> str:
    """The `$id` of an output's schema, e.g. `urn:kbrun:schema:advise:v1`."""
    return f"urn:kbrun:schema:{kind}:v{VERSION}"


def file_name(kind: str) -> str:
    """The file an output's schema ships in, e.g. `kbrun-advise.v1.schema.json`."""
    return f"kbrun-{kind}.v{VERSION}.schema.json"


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one output kind, generated from its type.

    Raises KeyError for a kind not in OUTPUTS.
    """
    typ, command = OUTPUTS[kind]
    generated = TypeAdapter(typ).json_schema()
    described = generated.pop("description", None)
    generated.pop("title", None)
    head: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": schema_id(kind),
        "title": f"{command} (contract v{VERSION})",
        "$comment": "Generated from kbrun.engine.contract by `python -m kbrun.engine.contract "
                    "docs/schema`; do not edit by hand. See docs/json.md.",
    }
    if described:
        head["description"] = described
    schema: dict[str, Any] = _tidy({**head, **generated})
    return schema


def _tidy(node: Any) -> Any:
    """Docstrings as one-line descriptions (the generated schema keeps their line breaks)."""
    if isinstance(node, dict):
        return {key: " ".join(value.split()) if key == "description" and isinstance(value, str)
                else _tidy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    return node


def schema_text(kind: str) -> str:
    """The schema file's text: indented JSON and a final newline."""
    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n"


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a reader written against schema `old` could trip on in output that keeps to `new`
    (two schemas of one output, as json_schema makes them): a key removed or no longer always
    present, a value that may now be of another type or null, an enumeration with new values.
    Additions (new keys, new outputs) are not breaking. Each item reads `path: what changed`.
    """
    found: list[str] = []
    _compare(old, new, old.get("$defs", {}), new.get("$defs", {}), "", found, set())
    return found


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _shape(node: dict[str, Any]) -> str:
    """The JSON type a (resolved) schema allows; `any` for an unconstrained one."""
    if "type" in node:
        return str(node["type"])
    return "object" if "properties" in node else "any"


def _values(node: dict[str, Any]) -> set[Any] | None:
    if "enum" in node:
        return set(node["enum"])
    return {node["const"]} if "const" in node else None


def _compare(old: dict[str, Any], new: dict[str, Any], old_defs: dict[str, Any],
             new_defs: dict[str, Any], path: str, found: list[str],
             seen: set[tuple[int, int]]) -> None:
    old, new = _resolve(old, old_defs), _resolve(new, new_defs)
    if (id(old), id(new)) in seen:              # a recursive type (a derivation's premises)
        return
    seen.add((id(old), id(new)))
    olds = [_resolve(b, old_defs) for b in old.get("anyOf", [old])]
    news = [_resolve(b, new_defs) for b in new.get("anyOf", [new])]
    where = path or "(top)"
    if "any" not in {_shape(b) for b in olds}:
        for shape in sorted({_shape(b) for b in news} - {_shape(b) for b in olds}):
            found.append(f"{where}: may now be {'null' if shape == 'null' else 'a ' + shape}")
    for before in olds:
        same = [b for b in news if _shape(b) == _shape(before)]
        if not same:
            continue
        # of several objects (a union), the one sharing most keys is the same object
        after = max(same, key=lambda b: len(set(b.get("properties", {}))
                                            & set(before.get("properties", {}))))
        values, now = _values(before), _values(after)
        if values is not None and (now is None or now - values):
            found.append(f"{where}: may now be " + (", ".join(map(repr, sorted(now - values)))
                                                    if now else "any value"))
        for key, schema in before.get("properties", {}).items():
            if key not in after.get("properties", {}):
                found.append(f"{path}/{key}: removed")
                continue
            if key in before.get("required", []) and key not in after.get("required", []):
                found.append(f"{path}/{key}: no longer always present")
            _compare(schema, after["properties"][key], old_defs, new_defs, f"{path}/{key}",
                     found, seen)
        for part in ("items", "additionalProperties"):
            if isinstance(before.get(part), dict) and isinstance(after.get(part), dict):
                _compare(before[part], after[part], old_defs, new_defs, f"{path}/*", found,
                         seen)


def write_schemas(folder: Path) -> list[Path]:
    """Write every output's schema into `folder` (created if needed); return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in OUTPUTS:
        path = folder / file_name(kind)
        path.write_text(schema_text(kind), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    """`python -m kbrun.engine.contract [FOLDER]`: regenerate the shipped schemas."""
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python -m kbrun.engine.contract [FOLDER]  (default: docs/schema)",
              file=sys.stderr)
        return 2
    folder = Path(argv[0] if argv else "docs/schema")
    for path in write_schemas(folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
