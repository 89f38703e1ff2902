"""A season plan: the weeks from a start date to a race (or for a number of weeks), each with
its phase, its strength days around the runner's running week, and its dosed sessions.

The calendar is kb data (kb/plan.yaml, each phase's `plan_weeks`): the phases are counted back
from the race week, and the phases that progress in blocks end each block in a lighter week.
Everything a week does is decided by the rules, in one consultation per week: the profile with
the week's phase, plus the facts only a plan declares (`plan-week`, a `run-day` per day and the
exercises `practised` so far; kb/rules/80-plan.yaml). So `kbrun why` and `why-not` explain a
planned day exactly as they explain a session: they re-run that week's consultation.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, cast

from kbrun.engine import conclusions as concluded
from kbrun.engine.advice import Warning, with_kb_warnings
from kbrun.engine.errors import ProfileError, did_you_mean
from kbrun.engine.schema import WEEKDAYS, RunKind, Weekday
from kbrun.engine.session import rules_for
from kbrun.engine.timing import minutes

if TYPE_CHECKING:
    from kbrun.engine import contract
    from kbrun.engine.advice import Advice, Recommendation
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.profile import Profile
    from kbrun.engine.schema import Planning, UsualWeek

MAX_WEEKS = 52
NO_RACE = 999            # days to (or since) the race when there is none ahead (or behind)
RECOVERY_DAYS = 3        # days after a race marked 'after-race'
Verdict = Literal["closed", "rest", "preferred", "avoid", "open"]
After = Literal["hard-run", "long-run", "easy-run", "rest", "race"]
SessionKind = Literal["strength", "protocol"]
# the running a session follows, as the plan's JSON names it
AFTER: dict[str, After] = {"hard": "hard-run", "long": "long-run", "easy": "easy-run",
                         "rest": "rest", "race": "race", "after-race": "rest"}
_DAY_NAMES = {name: day for day in WEEKDAYS
              for name in (day, dt.date(2024, 1, 1 + WEEKDAYS.index(day)).strftime("%A").lower())}


# -- what a plan adds to a consultation ----------------------------------------------------------

@dataclass(frozen=True)
class RunDay:
    """One day of a planned week as the rules see it (a `run-day` fact)."""

    day: Weekday
    run: RunKind
    next: RunKind
    days_to_race: int
    days_since_race: int
    origin: str          # what the runner said that makes it so, e.g. "--hard-days tue"


@dataclass(frozen=True)
class PlanWeek:
    """The facts a plan declares for one of its weeks (Profile.week)."""

    week: int
    block_week: int
    deload: bool
    weeks_to_race: int
    days: tuple[RunDay, ...]
    practised: tuple[tuple[str, int], ...] = ()
    progressed: tuple[tuple[str, str, int], ...] = ()   # (exercise, its progression, week)


# -- what the runner asks for --------------------------------------------------------------------

@dataclass(frozen=True)
class RunWeek:
    """The runner's running week: hard-run days, the long-run day and rest days; every other
    day is an easy run. `assumed` when the runner gave none of them and the usual week of
    kb/plan.yaml stands in."""

    hard: tuple[Weekday, ...] = ()
    long: Weekday | None = None
    rest: tuple[Weekday, ...] = ()
    assumed: bool = False

    def run_on(self, day: Weekday) -> RunKind:
        if day == self.long:
            return "long"
        if day in self.hard:
            return "hard"
        return "rest" if day in self.rest else "easy"

    def origin(self, day: Weekday) -> str:
        run = self.run_on(day)
        if self.assumed:
            return f"{day}: {run} (the usual week kb/plan.yaml assumes)"
        option = {"long": "--long-run", "hard": "--hard-days", "rest": "--rest-days"}.get(run)
        return f"{option} {day}" if option else f"{day}: an easy run (not a hard, long or rest day)"

    def to_dict(self) -> contract.RunWeek:
        return {"hard": list(self.hard), "long": self.long, "rest": list(self.rest),
                "assumed": self.assumed}


def weekday(text: str, option: str) -> Weekday:
    """A weekday from 'tue', 'Tuesday' or 'TUE'; ProfileError naming the option otherwise."""
    key = text.strip().lower()
    if key in _DAY_NAMES:
        return _DAY_NAMES[key]
    if len(key) >= 3:
        match = [day for name, day in _DAY_NAMES.items() if name.startswith(key)]
        if len(set(match)) == 1:
            return match[0]
    error = ProfileError(f"invalid value for '{option}': {text!r} is not a day of the week",
                         suggestion=did_you_mean(key, list(_DAY_NAMES))
                         or "use mon, tue, wed, thu, fri, sat or sun")
    error.option = option
    raise error


def days_of(values: Sequence[str] | None, option: str) -> tuple[Weekday, ...]:
    """Weekdays from an option given as 'tue,thu' and/or repeated; sorted Monday first."""
    days: set[Weekday] = set()
    for value in values or ():
        for part in value.split(","):
            if part.strip():
                days.add(weekday(part, option))
    return tuple(sorted(days, key=WEEKDAYS.index))


def run_week(hard: Sequence[str] | None = None, long: str | None = None,
             rest: Sequence[str] | None = None, *, usual: UsualWeek | None = None) -> RunWeek:
    """The runner's week from --hard-days, --long-run and --rest-days; when none is given, the
    `usual` week (kb/plan.yaml), marked assumed. A day given twice is a ProfileError."""
    if not hard and long is None and not rest and usual is not None:
        return RunWeek(tuple(usual.hard), usual.long, tuple(usual.rest), assumed=True)
    hard_days = days_of(hard, "--hard-days")
    long_day = weekday(long, "--long-run") if long is not None else None
    rest_days = days_of(rest, "--rest-days")
    for day in WEEKDAYS:
        given = [name for name, days in (("--hard-days", hard_days), ("--rest-days", rest_days),
                                         ("--long-run", (long_day,))) if day in days]
        if len(given) > 1:
            raise ProfileError(f"{day} is given to both {given[0]} and {given[1]}",
                               suggestion="a day holds one kind of run: give it to one option")
    return RunWeek(hard_days, long_day, rest_days)


@dataclass(frozen=True)
class PlanRequest:
    """What the runner asks of a plan besides their profile."""

    start: dt.date
    race: dt.date | None = None
    weeks: int | None = None
    running: RunWeek = RunWeek()      # every day an easy run unless the runner says otherwise
    sessions: int | None = None       # strength sessions a week; None: the phase's and level's

    @property
    def race_week(self) -> int | None:
        """The number of the week the race falls in (1: the first), if there is a race."""
        return None if self.race is None else race_week(self.start, self.race)

    def total_weeks(self) -> int:
        """The plan's length: to the race week, or --weeks (which may run past the race)."""
        return max(self.race_week or 0, self.weeks or 0)


def race_week(start: dt.date, race: dt.date) -> int:
    """The week of a plan starting on `start` that holds `race` (1: the first)."""
    return (race - start).days // 7 + 1


def next_monday(today: dt.date) -> dt.date:
    return today + dt.timedelta(days=7 - today.weekday())


def plan_request(*, start: dt.date | None = None, race: dt.date | None = None,
                 weeks: int | None = None, running: RunWeek | None = None,
                 sessions: int | None = None, today: dt.date | None = None) -> PlanRequest:
    """A checked PlanRequest; ProfileError for a race before the start, a plan of no weeks or
    of more than MAX_WEEKS, --weeks too short to reach the race, or sessions outside 1-7."""
    start = start or next_monday(today or dt.date.today())
    if race is None and weeks is None:
        raise ProfileError("a plan needs a race date or a number of weeks",
                           suggestion="add '--race-date YYYY-MM-DD' or '--weeks 12'")
    if race is not None and race < start:
        raise ProfileError(f"the race ({race}) is before the plan's start ({start})",
                           suggestion="give a later --race-date, or an earlier --start")
    if weeks is not None and not 1 <= weeks <= MAX_WEEKS:
        raise ProfileError(f"invalid value for '--weeks': {weeks} is not from 1 to {MAX_WEEKS}",
                           suggestion="plan up to a year at a time")
    request = PlanRequest(start, race, weeks, running or RunWeek(), sessions)
    if race is not None:
        to_race = race_week(start, race)
        if to_race > MAX_WEEKS:
            raise ProfileError(f"the race is {to_race} weeks away, more than the {MAX_WEEKS} "
                               "a plan holds", suggestion="give a later --start")
        if weeks is not None and weeks < to_race:
            raise ProfileError(f"the race falls in week {to_race}, after the {weeks} weeks "
                               "asked for", suggestion=f"leave out --weeks, or give at least "
                                                       f"--weeks {to_race}")
    if sessions is not None and not 1 <= sessions <= 7:
        raise ProfileError(f"invalid value for '--sessions': {sessions} is not from 1 to 7",
                           suggestion="strength sessions a week: 2 or 3 in most phases")
    return request


# -- the calendar --------------------------------------------------------------------------------

def phase_weeks(kb: KnowledgeBase, request: PlanRequest, phase: str) -> list[tuple[str, str]]:
    """Each week's phase and why, from the start: counted back from the race week by the phases'
    `plan_weeks` (kb/phases.yaml, kb/plan.yaml); with no race, the profile's phase throughout.

    Before the race, each phase gets its fewest weeks, the last phases first; the weeks left
    then go to the phases from the last one back, up to their most; a phase with no most takes
    what remains. After the race, the `after_race` phases in order, the last taking the rest.
    """
    policy = kb.planning
    total = request.total_weeks()
    if request.race is None:
        return [(phase, f"the {phase} throughout (--phase; no --race-date to count back from)")
                ] * total
    to_race = race_week(request.start, request.race)
    order = policy.before_race                      # the last phase first
    spans = {p: kb.phases[p].plan_weeks for p in order}
    given = dict.fromkeys(order, 0)
    left = to_race
    for name in order:
        take = min(spans[name][0], left)
        given[name], left = take, left - take
    for name in order:
        most = spans[name][1]
        room = left if most is None else min(left, most - given[name])
        given[name], left = given[name] + room, left - room
    if left:                                        # every phase is at its most: the first grows
        given[order[-1]] += left
    weeks: list[tuple[str, str]] = []
    for name in reversed(order):
        low, high = spans[name]
        span = f"{low}-{high} weeks" if high is not None else "the weeks left"
        why = (f"the {name}: {given[name]} week(s) of the {to_race} to the race (it takes "
               f"{span}; counted back from race day: {', '.join(order)})")
        weeks += [(name, why)] * given[name]
    after = total - to_race
    for index, name in enumerate(policy.after_race):
        last = index == len(policy.after_race) - 1
        most = kb.phases[name].plan_weeks[1]
        take = after if last or most is None else min(after, most)
        weeks += [(name, f"the {name} after the race ({take} week(s))")] * take
        after -= take
    weeks += [(policy.after_race[-1] if policy.after_race else phase, "after the race")] * after
    return weeks


def blocks(policy: Planning, phases: list[str]) -> list[tuple[int, bool]]:
    """(block week, lighter week?) for each week: counted from 1 within each run of one block
    phase (kb/plan.yaml `block_phases`), the block's last week the lighter one; (0, False)
    outside the block phases."""
    result: list[tuple[int, bool]] = []
    run = 0
    for index, phase in enumerate(phases):
        if phase not in policy.block_phases:
            run = 0
            result.append((0, False))
            continue
        run = run + 1 if index and phases[index - 1] == phase else 1
        block_week = (run - 1) % policy.block_weeks + 1
        result.append((block_week, block_week == policy.block_weeks))
    return result


def run_days(request: PlanRequest, first: dt.date) -> tuple[RunDay, ...]:
    """The seven days from `first` as the rules see them."""
    def kind(date: dt.date) -> RunKind:
        race = request.race
        if race is not None and date == race:
            return "race"
        if race is not None and 0 < (date - race).days <= RECOVERY_DAYS:
            return "after-race"
        return request.running.run_on(WEEKDAYS[date.weekday()])

    days = []
    for offset in range(7):
        date = first + dt.timedelta(days=offset)
        name = WEEKDAYS[date.weekday()]
        to_race = since = NO_RACE
        if request.race is not None:
            delta = (request.race - date).days
            to_race, since = (delta, NO_RACE) if delta >= 0 else (NO_RACE, -delta)
        run = kind(date)
        origin = (f"--race-date {request.race}" if run in ("race", "after-race")
                  else request.running.origin(name))
        days.append(RunDay(name, run, kind(date + dt.timedelta(days=1)), to_race, since,
                           origin))
    return tuple(days)


# -- the result ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DayVerdict:
    """What the rules said about a day for strength: closed, preferred, avoid or open."""

    date: dt.date
    day: Weekday
    run: RunKind
    verdict: Verdict
    reasons: tuple[str, ...]
    rules: tuple[str, ...]

    @property
    def score(self) -> int:
        """How good a day it is: 2 preferred, 1 open (or both preferred and avoided), 0 avoid;
        -1 closed or rest."""
        return {"preferred": 2, "open": 1, "avoid": 0}.get(self.verdict, -1)

    def to_dict(self) -> contract.PlanDay:
        return {"date": self.date.isoformat(), "day": self.day, "run": self.run,
                "verdict": self.verdict, "reasons": list(self.reasons), "rules": list(self.rules)}


@dataclass(frozen=True)
class PlannedSession:
    """A planned session: a strength session, or a protocol's exercises on another day."""

    date: dt.date
    day: Weekday
    after: After
    kind: SessionKind
    exercises: tuple[Recommendation, ...]

    @property
    def seconds(self) -> int:
        return sum(r.seconds for r in self.exercises)

    def to_dict(self) -> contract.PlannedSession:
        return {"date": self.date.isoformat(), "day": self.day, "after": self.after,
                "kind": self.kind, "minutes": minutes(self.seconds),
                "exercises": [r.to_dict() for r in self.exercises]}


@dataclass
class PlannedWeek:
    """One week of the plan, and why its phase, days and dose are what they are."""

    week: int
    start: dt.date
    phase: str
    block_week: int
    deload: bool
    sessions: list[PlannedSession]
    days: list[DayVerdict]
    reasons: list[str]
    rules: list[str]
    advice: Advice = field(repr=False)
    profile: Profile = field(repr=False)       # the profile this week was consulted with
    load_pct: int = 0
    retests: tuple[str, ...] = ()              # field tests due again this week (kbrun assess)

    @property
    def volume(self) -> int:
        """Sets of strength work in the week's strength sessions (both sides count once)."""
        return sum(r.prescription.sets for s in self.sessions if s.kind == "strength"
                   for r in s.exercises if r.slot)

    def session_on(self, day: str) -> PlannedSession | None:
        return next((s for s in self.sessions if s.day == day), None)

    def to_dict(self) -> contract.PlannedWeek:
        return {"week": self.week, "start": self.start.isoformat(), "phase": self.phase,
                "block_week": self.block_week, "deload": self.deload,
                "load_increase_pct": self.load_pct, "volume_sets": self.volume,
                "sessions": [s.to_dict() for s in self.sessions],
                "days": [d.to_dict() for d in self.days],
                "reasons": list(self.reasons), "rules": list(self.rules),
                "retests": list(self.retests)}


def retests_due(profile: Profile, monday: dt.date, first: bool) -> list[tuple[str, str]]:
    """The field tests of the runner's assessment due again in the week from `monday` (the
    first week also takes those already due), each with why then."""
    if profile.assessment is None:
        return []
    end = monday + dt.timedelta(days=7)
    return [(r.test, r.reason) for r in profile.assessment.retests
            if r.last is not None and r.due < end and (first or r.due >= monday)]


@dataclass
class Plan:
    profile: Profile
    request: PlanRequest
    weeks: list[PlannedWeek]
    warnings: list[Warning]

    @property
    def referred(self) -> bool:
        """Whether a red flag gave a referral instead of a plan."""
        return not self.weeks

    def week(self, number: int) -> PlannedWeek | None:
        return next((w for w in self.weeks if w.week == number), None)

    def to_dict(self) -> contract.Plan:
        request = self.request
        return {
            "profile": cast("contract.Profile", self.profile.to_dict()),
            "start": request.start.isoformat(),
            "race_date": request.race.isoformat() if request.race else None,
            "run_week": request.running.to_dict(),
            "weeks": [w.to_dict() for w in self.weeks],
            "warnings": [w.to_dict() for w in self.warnings],
        }


# -- planning ------------------------------------------------------------------------------------

def _verdicts(advice: Advice, days: tuple[RunDay, ...], first: dt.date) -> list[DayVerdict]:
    """Each day's verdict from the week's `strength-day` conclusions: closed if any rule closed
    it; else preferred or avoid when the rules said only that; else open."""
    said: dict[str, list[tuple[concluded.StrengthDay, tuple[str, ...]]]] = {}
    consultation = advice.consultation
    for said_day, key in concluded.read(consultation, concluded.StrengthDay):
        said.setdefault(said_day.day, []).append((said_day, rules_for(consultation, key)))
    result = []
    for offset, day in enumerate(days):
        items = sorted(said.get(day.day, []), key=lambda item: (item[0].verdict, item[0].reason))
        kinds = {v.verdict for v, _rules in items}
        verdict: Verdict
        if "rest" in kinds:
            items = [item for item in items if item[0].verdict == "rest"]
            verdict = "rest"
        elif "closed" in kinds:
            items = [item for item in items if item[0].verdict == "closed"]
            verdict = "closed"
        elif kinds == {"preferred"}:
            verdict = "preferred"
        elif kinds == {"avoid"}:
            verdict = "avoid"
        else:
            verdict = "open"
        mixed = len({v.verdict for v, _rules in items}) > 1
        result.append(DayVerdict(first + dt.timedelta(days=offset), day.day, day.run, verdict,
                                 tuple(f"{v.verdict}: {v.reason}" if mixed else v.reason
                                       for v, _rules in items),
                                 tuple(dict.fromkeys(r for _v, rules in items for r in rules))))
    return result


def choose_days(verdicts: list[DayVerdict], wanted: int, gap: int,
                taken: Sequence[int] = ()) -> list[int]:
    """The indexes of up to `wanted` days for strength: never a closed day, at least `gap` free
    days between two of them (across the week's end too), the best-scored set of days, then the
    most evenly spread, then the earliest. Fewer when no `wanted` days fit."""
    open_days = [i for i, v in enumerate(verdicts)
                 if v.verdict not in ("closed", "rest") and i not in taken]
    for count in range(min(wanted, len(open_days)), 0, -1):
        best: tuple[Any, ...] | None = None
        choice: list[int] = []
        for combo in itertools.combinations(open_days, count):
            gaps = [(combo[(i + 1) % count] - combo[i]) % 7 or 7 for i in range(count)]
            if count > 1 and min(gaps) <= gap:
                continue
            key = (sum(verdicts[i].score for i in combo), min(gaps), [-i for i in combo])
            if best is None or key > best:
                best, choice = key, list(combo)
        if choice:
            return choice
    return []


def _spread(verdicts: list[DayVerdict], wanted: int, taken: list[int]) -> list[int]:
    """Days for a protocol's extra sessions beside `taken`: any day the rules did not rest
    (a day closed to strength still takes them), as far from the others as they can be, then
    the earliest."""
    chosen: list[int] = []
    free = [i for i, v in enumerate(verdicts) if v.verdict != "rest" and i not in taken]
    for _ in range(min(wanted, len(free))):
        def distance(i: int) -> tuple[int, int]:
            others = taken + chosen
            near = min(min((i - j) % 7, (j - i) % 7) for j in others) if others else 7
            return (near, -i)
        pick = max((i for i in free if i not in chosen), key=distance)
        chosen.append(pick)
    return sorted(chosen)


def _with_overload(kb: KnowledgeBase, rec: Recommendation,
                   overloads: list[tuple[concluded.Overload, Any]]) -> Recommendation:
    """`rec`, with a note to add load when the week overloads and it is a loaded lift (not a
    rehabilitation protocol's exercise, whose load follows its own protocol)."""
    exercise = kb.exercises[rec.exercise]
    if not overloads or rec.protocol or not exercise.loadable or exercise.category != "strength":
        return rec
    pct = max(o.load_pct for o, _key in overloads)
    note = f"add about {pct} % load over last week if every rep was clean"
    return replace(rec, prescription=replace(
        rec.prescription, notes=(*rec.prescription.notes, note)))


def _sessions_wanted(kb: KnowledgeBase, profile: Profile, request: PlanRequest,
                     advice: Advice) -> tuple[int, str]:
    low, high = advice.sessions_per_week
    if request.sessions is None:
        end = kb.planning.default_sessions.get(profile.level, "low")
        count = high if end == "high" else low
        return count, (f"{count} strength session(s): the {end} end of the {low}-{high} this "
                       f"week allows, for the {profile.level} level (--sessions to choose)")
    count = min(max(request.sessions, low), high)
    if count != request.sessions:
        return count, (f"{count} strength session(s), not the {request.sessions} asked for: "
                       f"this week allows {low}-{high}")
    return count, f"{count} strength session(s) (--sessions)"


def build_plan(kb: KnowledgeBase, profile: Profile, request: PlanRequest) -> Plan:
    """The season plan for a runner (see the module's docstring)."""
    from kbrun.engine import advise

    policy = kb.planning
    if profile.minutes is None:
        profile = profile.with_changes(minutes=policy.minutes)
    phases = phase_weeks(kb, request, profile.phase)
    first = advise(profile.with_changes(phase=phases[0][0] if phases else profile.phase), kb)
    if profile.red_flags or any(w.kind == "red-flag" or w.urgent for w in first.warnings):
        referral = [w for w in first.warnings if w.kind in ("red-flag", "screen") or w.urgent]
        no_plan = Warning("no-plan", "No plan until a physiotherapist or doctor has assessed the "
                       "red flag(s) above; ask again once they clear you to train.")
        return Plan(profile, request, [], with_kb_warnings(kb, [*referral, no_plan]))
    block_of = blocks(policy, [p for p, _why in phases])
    to_race = request.race_week
    practised: dict[str, int] = {}
    progressed: dict[str, tuple[str, int]] = {}
    weeks: list[PlannedWeek] = []
    warnings: list[Warning] = []
    running = request.running
    if running.assumed:
        warnings.append(Warning(
            "assumed-week", f"No running week given: assumed hard runs on "
            f"{' and '.join(running.hard) or 'no day'}, the long run on {running.long or 'no day'}"
            f" and rest on {' and '.join(running.rest) or 'no day'} (kb/plan.yaml); give yours "
            "with --hard-days, --long-run and --rest-days."))
    held_tests: list[tuple[str, str]] = []   # re-tests waiting for a week that allows them
    for index, (phase, phase_why) in enumerate(phases):
        number = index + 1
        monday = request.start + dt.timedelta(days=7 * index)
        block_week, deload = block_of[index]
        days = run_days(request, monday)
        context = PlanWeek(number, block_week, deload,
                           (to_race - number) if to_race and number <= to_race else -1,
                           days, tuple(sorted(practised.items())),
                           tuple(sorted((e, p, w) for e, (p, w) in progressed.items())))
        week_profile = profile.with_changes(phase=phase, week=context)
        advice = advise(week_profile, kb)
        verdicts = _verdicts(advice, days, monday)
        wanted, count_why = _sessions_wanted(kb, profile, request, advice)
        chosen = choose_days(verdicts, wanted, policy.days_between)
        reasons = [f"phase: {phase_why}"]
        if block_week:
            reasons.append(f"block: week {block_week} of {policy.block_weeks}"
                           + (", the lighter week" if deload else ""))
        reasons.append(count_why)
        if len(chosen) < wanted:
            reasons.append(f"only {len(chosen)} day(s) fit: the others are closed or too close "
                           f"together (at least {policy.days_between} day(s) between sessions)")
        overloads = concluded.read(advice.consultation, concluded.Overload)
        strength = tuple(_with_overload(kb, r, overloads) for r in advice.recommendations)
        sessions = [PlannedSession(verdicts[i].date, verdicts[i].day, AFTER[verdicts[i].run],
                                   "strength", strength) for i in chosen]
        for i in chosen:
            why = "; ".join(verdicts[i].reasons) or "open, and the spacing fits"
            reasons.append(f"{verdicts[i].day}: {why}")
        closed = [f"{v.day} ({'; '.join(v.reasons)})" for v in verdicts
                  if v.verdict in ("closed", "rest")]
        if closed:
            reasons.append("no strength on " + ", ".join(closed))
        protocol_recs = tuple(r for r in advice.recommendations if r.protocol)
        if protocol_recs:
            frequency = max(r.prescription.sessions_per_week for r in protocol_recs)
            extra = _spread(verdicts, frequency - len(chosen), chosen)
            for i in extra:
                sessions.append(PlannedSession(verdicts[i].date, verdicts[i].day,
                                               AFTER[verdicts[i].run], "protocol",
                                               protocol_recs))
            names = sorted({r.protocol or "" for r in protocol_recs})
            reasons.append(f"the {', '.join(names)} protocol keeps its own frequency "
                           f"({frequency} a week) beside the strength days: it outranks the "
                           "phase's")
        sessions.sort(key=lambda s: s.date)
        load_pct = 0
        rules = [r for v in verdicts for r in v.rules]
        for overload, key in overloads:
            load_pct = max(load_pct, overload.load_pct)
            reasons.append(overload.cause)
            rules += rules_for(advice.consultation, key)
        held_now = {r.exercise for r in advice.recommendations}
        for move in advice.moves:
            progressed.setdefault(move.exercise, (move.to, number))
            if move.to in held_now:
                reasons.append(f"{move.to} replaces {move.exercise}: {move.cause}")
                rules += move.rules
        for note in advice.schedule:
            rules.append(note.rule)
        for rec in strength:
            for step in rec.dose_steps:
                if step.note and step.changes and (step.note in rec.prescription.notes
                                                   or step.cap):
                    reasons.append(f"dose: {step.note} ({step.rule})")
                    rules.append(step.rule)
        due = [*held_tests, *retests_due(profile, monday, number == 1)]
        held_tests = []
        if due and (phase in kb.planning.no_testing_phases or week_profile.red_flags):
            # no testing to fatigue or maximal hops in a taper, the race's weeks or with a
            # red flag: the re-tests wait for the first week that allows them
            held_tests, due = due, []
            reasons.append("re-tests (" + ", ".join(t for t, _why in held_tests) + ") wait: "
                           + ("a red flag is not cleared" if week_profile.red_flags
                              else f"no testing to fatigue in {phase}"))
        if due:
            reasons.append("re-test " + ", ".join(f"{test} ({why})" for test, why in due)
                           + ": then plan again with the new results (kbrun assess --results "
                             "FILE --result ... --save)")
        weeks.append(PlannedWeek(number, monday, phase, block_week, deload, sessions, verdicts,
                                 list(dict.fromkeys(reasons)), list(dict.fromkeys(rules)),
                                 advice, week_profile, load_pct,
                                 tuple(test for test, _why in due)))
        held = {r.exercise for r in strength} if chosen else set()
        practised = {e: practised.get(e, 0) + 1 for e in held}
        for w in advice.warnings:
            if w.kind not in ("disclaimer", "safety-change"):
                warnings.append(w)
    unique = list({(w.kind, w.message): w for w in warnings}.values())
    return Plan(profile, request, weeks, with_kb_warnings(kb, unique))


# -- a planned day, explained --------------------------------------------------------------------

def planned_day(plan: Plan, week: int | None, day: str | None
                ) -> tuple[PlannedWeek, PlannedSession]:
    """The week and session `kbrun why --week N --day DAY` asks about; ProfileError naming the
    weeks or the days that hold a session when there is none."""
    if week is None or day is None:
        missing = "--week" if week is None else "--day"
        raise ProfileError(f"{missing} is needed too: a plan's day is a week and a day",
                           suggestion="give both, e.g. '--week 3 --day tue'")
    if plan.referred:
        raise ProfileError("there is no plan to explain: a red flag gave a referral instead",
                           suggestion="run `kbrun plan` with the same options to read it")
    found = plan.week(week)
    if found is None:
        raise ProfileError(f"invalid value for '--week': the plan has weeks 1 to "
                           f"{len(plan.weeks)}, not {week}",
                           suggestion=f"give a week from 1 to {len(plan.weeks)}")
    name = weekday(day, "--day")
    session = found.session_on(name)
    if session is None:
        held = ", ".join(s.day for s in found.sessions) or "no day"
        verdict = next(v for v in found.days if v.day == name)
        why = f" ({'; '.join(verdict.reasons)})" if verdict.reasons else ""
        raise ProfileError(f"week {week} has no session on {name}{why}",
                           suggestion=f"its sessions are on {held}")
    return found, session


def plan_context(week: PlannedWeek, session: PlannedSession) -> contract.PlanDayContext:
    """What an explanation of a planned day says about the day."""
    return {"week": week.week, "date": session.date.isoformat(), "day": session.day,
            "phase": week.phase, "session": session.kind,
            "exercises": [r.exercise for r in session.exercises]}
