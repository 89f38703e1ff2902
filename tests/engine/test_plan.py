"""kbrun plan, as a coach would check it: phases in order to a taper, strength days that keep
the seeds' scheduling rules, sessions within what each week allows, volume that rises through
a block and drops in its lighter week, sessions within their time budget, an injury's protocol
kept at its frequency, red flags with no plan, and the same plan every time."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kbrun.engine import load_kb, make_profile
from kbrun.engine.errors import ProfileError
from kbrun.engine.plan import (
    WEEKDAYS,
    build_plan,
    phase_weeks,
    plan_request,
    planned_day,
    run_week,
)
from tests.conftest import validated

START = dt.date(2027, 1, 4)          # a Monday
RACE = dt.date(2027, 4, 25)          # a Sunday: week 16
PHASE_ORDER = ["off-season", "pre-season", "race-season", "taper"]


def _plan(kb, running=None, race=RACE, weeks=None, sessions=None, **profile):
    request = plan_request(start=START, race=race, weeks=weeks, sessions=sessions,
                           running=running or run_week(["tue,thu"], "sun", ["fri"]))
    return build_plan(kb, make_profile(kb, **profile), request)


@pytest.fixture(scope="module")
def season(kb):
    """A 16-week plan to a race for a healthy intermediate runner."""
    return _plan(kb)


@pytest.fixture(scope="module")
def injured(kb):
    """Ten weeks for a runner with Achilles tendinopathy."""
    return _plan(kb, race=None, weeks=10, injuries=["achilles-tendinopathy"])


def _strength(week):
    return [s for s in week.sessions if s.kind == "strength"]


def test_a_16_week_plan_has_its_phases_in_order_and_ends_with_a_taper(season):
    phases = [w.phase for w in season.weeks]
    assert len(phases) == 16
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == PHASE_ORDER
    assert phases[-1] == "taper" and phases[-2] == "taper"
    assert season.weeks[-1].start <= RACE < season.weeks[-1].start + dt.timedelta(days=7)
    validated("plan", season.to_dict())


def test_phase_lengths_come_from_the_kb_counted_back_from_the_race(kb):
    for weeks_to_race in (1, 3, 6, 9, 16, 30):
        race = START + dt.timedelta(days=7 * weeks_to_race - 1)
        phases = [p for p, _why in phase_weeks(kb, plan_request(start=START, race=race),
                                                 "off-season")]
        assert len(phases) == weeks_to_race
        assert phases[-1] == "taper"
        assert sorted(set(phases), key=PHASE_ORDER.index) == \
            [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]
        for phase in set(phases):
            _low, high = kb.phases[phase].plan_weeks
            assert phases.count(phase) <= (high or 52)


@pytest.mark.parametrize("running", [
    (["tue,thu"], "sun", ["fri"]),
    (["mon", "wed"], "sat", []),
    (["wed"], "sun", ["mon", "fri"]),
    (["tue", "thu", "sat"], "sun", []),
])
def test_no_strength_on_a_hard_run_day_near_races_the_day_before_the_long_run_or_a_race(
        kb, running):
    plan = _plan(kb, running=run_week(*running), race=dt.date(2027, 3, 27))  # a Saturday
    hard, long_day = set(run_week(*running).hard), run_week(*running).long
    assert plan.weeks
    for week in plan.weeks:
        for session in _strength(week):
            if week.phase in ("race-season", "taper"):
                assert session.day not in hard, (week.week, session.day)
                assert session.day != long_day
            assert WEEKDAYS[(WEEKDAYS.index(session.day) + 1) % 7] != long_day
            assert not 0 <= (plan.request.race - session.date).days <= 2, session.date
        if week.phase == "taper":
            assert all((plan.request.race - s.date).days > 4 for s in _strength(week))


def test_strength_follows_the_hard_run_in_build_phases_and_the_plan_says_which_seed(season):
    for week in season.weeks:
        if week.phase in ("off-season", "pre-season"):
            assert {s.after for s in _strength(week)} == {"hard-run"}
            assert any("seed 003" in r for r in week.reasons)
        if week.phase in ("race-season", "taper"):
            assert all(s.after != "hard-run" for s in _strength(week))
            assert any("seed 004" in r for r in week.reasons)


@pytest.mark.parametrize("level,asked", [("beginner", None), ("advanced", None),
                                         ("intermediate", 3), ("intermediate", 7)])
def test_sessions_a_week_stay_within_what_the_phase_and_level_allow(kb, level, asked):
    plan = _plan(kb, level=level, sessions=asked, running=run_week([], "sun", []))
    for week in plan.weeks:
        low, high = week.advice.sessions_per_week
        _phase_low, phase_high = kb.phases[week.phase].sessions_per_week
        count = len(_strength(week))
        assert count <= high <= phase_high, (week.week, count)
        days = [v for v in week.days if v.verdict != "closed"]
        if len(days) >= 4:  # room for the fewest the week allows
            assert count >= low, (week.week, count, low)


def test_volume_or_load_rises_through_build_weeks_and_drops_in_each_lighter_week(season):
    weeks = season.weeks
    lighter = [w for w in weeks if w.deload]
    assert lighter, "a 16-week plan has lighter weeks"
    for week in lighter:
        before = weeks[week.week - 2]
        assert week.volume < before.volume, (week.week, week.volume, before.volume)
        assert len(_strength(week)) <= len(_strength(before))
    for first, second, third in zip(weeks, weeks[1:], weeks[2:], strict=False):
        if (first.block_week, second.block_week, third.block_week) == (1, 2, 3) and \
                first.phase == third.phase:
            assert first.volume < second.volume
            assert third.volume >= second.volume and third.load_pct > 0


def test_a_lighter_week_keeps_the_load_and_says_why(season):
    for week in (w for w in season.weeks if w.deload):
        before = season.weeks[week.week - 2]
        loads = {r.exercise: r.prescription.load for r in _strength(before)[0].exercises}
        for rec in _strength(week)[0].exercises:
            if rec.exercise in loads:
                assert rec.prescription.load == loads[rec.exercise]
        assert "lighter-week" in week.rules


def test_every_session_fits_its_time_budget(kb, season):
    for week in season.weeks:
        for session in week.sessions:
            assert session.seconds <= 30 * 60, (week.week, session.day, session.seconds)
    short = _plan(kb, minutes=20, race=None, weeks=4)
    for week in short.weeks:
        for session in week.sessions:
            assert 0 < session.seconds <= 20 * 60


def test_an_exercise_moves_to_its_progression_and_why_names_the_rule(kb, season):
    moved = [(w, m) for w in season.weeks for m in w.advice.moves
             if m.rules == ("progress-after-a-block",)]
    assert moved, "a 16-week plan moves something up"
    week, move = moved[0]
    assert week.block_week == 1
    assert move.exercise in dict(week.profile.week.practised)
    assert move.to in kb.exercises[move.exercise].progresses_to
    later = season.weeks[week.week]  # it stays moved up the next week
    assert any(m.exercise == move.exercise and m.to == move.to for m in later.advice.moves)


def test_a_taper_brings_nothing_new(season):
    held = set()
    for week in season.weeks:
        session = _strength(week)
        if week.phase == "taper" and week.week > 1:
            assert session and {r.exercise for r in session[0].exercises} <= held
        for s in session:
            held |= {r.exercise for r in s.exercises}


def test_an_injured_runners_protocol_keeps_its_frequency_every_week(injured):
    for week in injured.weeks:
        protocol = [r for r in week.advice.recommendations if r.protocol]
        assert protocol, week.week
        frequency = max(r.prescription.sessions_per_week for r in protocol)
        days = {s.day for s in week.sessions
                if any(r.protocol for r in s.exercises)}
        assert len(days) == min(frequency, 7), (week.week, days)
        for session in week.sessions:
            if session.kind == "protocol":
                assert all(r.protocol for r in session.exercises)


def test_red_flags_give_no_plan_only_the_referral(kb):
    plan = _plan(kb, red_flags=["night-pain"], symptoms=["shin-pain"])
    assert plan.referred and plan.weeks == []
    kinds = [w.kind for w in plan.warnings]
    assert "red-flag" in kinds and "no-plan" in kinds and kinds[-1] == "disclaimer"
    validated("plan", plan.to_dict())


def test_the_same_plan_comes_out_the_same_from_two_fresh_knowledge_bases(kb):
    first = json.dumps(_plan(kb, goals=["speed"]).to_dict(), sort_keys=True)
    fresh = load_kb()
    assert fresh is not kb
    assert json.dumps(_plan(fresh, goals=["speed"]).to_dict(), sort_keys=True) == first


def test_a_planned_day_is_found_or_named_with_the_days_that_hold_a_session(season):
    week, session = planned_day(season, 2, "Tuesday")
    assert session.day == "tue" and week.week == 2
    with pytest.raises(ProfileError, match="no session on wed"):
        planned_day(season, 2, "wed")
    with pytest.raises(ProfileError, match="weeks 1 to 16"):
        planned_day(season, 17, "tue")


@pytest.mark.parametrize("kwargs,message", [
    ({"race": dt.date(2026, 12, 1)}, "before the plan's start"),
    ({"race": None}, "a race date or a number of weeks"),
    ({"race": RACE, "weeks": 4}, "falls in week 16"),
    ({"race": None, "weeks": 53}, "not from 1 to 52"),
    ({"race": None, "weeks": 4, "sessions": 0}, "not from 1 to 7"),
])
def test_a_request_that_cannot_be_planned_says_why(kwargs, message):
    with pytest.raises(ProfileError, match=message):
        plan_request(start=START, **kwargs)


def test_a_day_given_to_two_kinds_of_run_is_refused():
    with pytest.raises(ProfileError, match="tue is given to both"):
        run_week(["tue"], "sun", ["tue"])
    with pytest.raises(ProfileError, match="not a day of the week"):
        run_week(["tus"], None, None)


def test_nothing_loads_an_injured_runner_in_the_last_two_days_and_race_week_is_lighter(kb):
    plan = _plan(kb, race=dt.date(2027, 3, 28), injuries=["achilles-tendinopathy"])
    race_week = plan.weeks[-1]
    assert any(s.kind == "protocol" for w in plan.weeks for s in w.sessions)
    for week in plan.weeks:
        for session in week.sessions:
            assert (plan.request.race - session.date).days > 2, (week.week, session.day)
    for session in race_week.sessions:
        assert all(r.prescription.sets <= 2 for r in session.exercises)
    before = plan.weeks[-2].sessions[0].exercises
    assert max(r.prescription.sets for r in before if r.protocol) == 3  # the protocol's own


def test_no_strength_on_the_long_run_day_even_when_three_sessions_are_asked(kb):
    plan = _plan(kb, level="advanced", goals=["speed"], sessions=3)
    for week in plan.weeks:
        assert all(s.day != "sun" for s in _strength(week)), week.week
    sunday = next(v for v in plan.weeks[0].days if v.day == "sun")
    assert sunday.verdict == "closed" and "long-run-day-in-build-phases" in sunday.rules


def test_an_acute_injury_keeps_its_exercises_off_hard_run_days_and_asks_for_a_review(kb):
    plan = _plan(kb, race=None, weeks=4, injuries=["achilles-tendinopathy"], stage="acute")
    for week in plan.weeks:
        assert all(s.after not in ("hard-run", "long-run") for s in _strength(week))
    assert any(w.kind == "stage-review" for w in plan.warnings)
