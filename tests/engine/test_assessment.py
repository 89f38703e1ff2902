"""engine/assessment.py: field-test results read against each test's norm and imbalance
threshold (kb/tests.yaml), the trend across dated assessments, re-tests, results files; and
how the findings change the advice (kb/rules/25-assessment.yaml)."""

from __future__ import annotations

import datetime as dt

import pytest

from kbrun.engine import advise
from kbrun.engine.assessment import (
    Assessment,
    AssessmentError,
    FieldResult,
    assessment_from_options,
    evaluate,
    merge,
    parse_result,
    read_results,
    write_results,
)
from kbrun.engine.profile import make_profile

DAY = dt.date(2026, 11, 21)


def report_of(kb, *results: str, day: dt.date = DAY):
    return evaluate(kb, [assessment_from_options(kb, list(results), day)])


def by_kind(report, kind: str, test: str):
    return [f for f in report.findings if f.kind == kind and f.test == test]


# -- reading results ------------------------------------------------------------------------------

def test_a_left_calf_30_percent_weaker_is_an_imbalance_on_the_left(kb):
    report = report_of(kb, "heel-raise-test=14,20")
    [imbalance] = by_kind(report, "imbalance", "heel-raise-test")
    assert imbalance.side == "left"
    assert set(imbalance.muscles) == {"gastrocnemius", "soleus"}
    assert "30 % behind the right" in imbalance.summary
    # 30 % is three times the 10 % threshold: as sure as the test's reliability allows
    assert imbalance.certainty == pytest.approx(kb.tests["heel-raise-test"].reliability)
    assert "left 14 reps, right 20 reps" in imbalance.result


def test_symmetric_results_within_the_threshold_give_no_imbalance(kb):
    # 26 and 28 reps: 7 % apart (threshold 10 %), both at or above the norm of 25
    report = report_of(kb, "heel-raise-test=26,28", "side-plank-test=80,82",
                       "single-leg-hop-test=150,160")
    assert report.findings == ()
    assert all(r.weaker is None for r in report.readings)


def test_a_gap_just_past_the_threshold_is_an_imbalance_and_just_short_of_it_is_not(kb):
    assert by_kind(report_of(kb, "single-leg-hop-test=127,150"), "imbalance",
                   "single-leg-hop-test")                      # 15.3 % behind: past 15 %
    assert not by_kind(report_of(kb, "single-leg-hop-test=128,150"), "imbalance",
                       "single-leg-hop-test")                  # 14.7 %: within


def test_results_below_the_norm_on_both_sides_are_a_bilateral_weakness(kb):
    report = report_of(kb, "single-leg-bridge-test=15,16")
    [weak] = by_kind(report, "weak-muscle", "single-leg-bridge-test")
    assert weak.side == "both"
    assert set(weak.muscles) == {"hamstrings", "gluteus-maximus"}
    assert not by_kind(report, "imbalance", "single-leg-bridge-test")   # 6 % apart
    assert "both sides below the norm" in weak.summary


def test_one_side_below_the_norm_is_a_weakness_of_that_side(kb):
    [weak] = by_kind(report_of(kb, "heel-raise-test=27,22"), "weak-muscle", "heel-raise-test")
    assert weak.side == "right"


def test_certainty_grows_with_the_distance_past_the_norm_and_never_passes_reliability(kb):
    test = kb.tests["heel-raise-test"]
    certainties = [by_kind(report_of(kb, f"heel-raise-test={n},{n}"), "weak-muscle",
                           "heel-raise-test")[0].certainty for n in (24, 20, 15, 5, 0)]
    assert certainties == sorted(certainties)
    assert certainties[0] == pytest.approx(test.reliability * 1 / test.norm.full_at)
    assert max(certainties) == pytest.approx(test.reliability)


def test_a_test_without_a_norm_is_read_by_symmetry_only(kb):
    report = report_of(kb, "hip-abduction-hold-test=5,6")      # short holds, but no norm
    assert not by_kind(report, "weak-muscle", "hip-abduction-hold-test")
    assert report.readings[0].norm is None


def test_named_faults_point_to_their_own_muscles(kb):
    report = report_of(kb, "single-leg-squat-test=pelvis-drop,none")
    [weak] = by_kind(report, "weak-muscle", "single-leg-squat-test")
    assert weak.side == "left"
    assert set(weak.muscles) == {"gluteus-medius", "gluteus-minimus"}
    # one fault apart is under the two-fault threshold
    assert not by_kind(report, "imbalance", "single-leg-squat-test")
    counted = report_of(kb, "single-leg-squat-test=3,1")
    assert by_kind(counted, "imbalance", "single-leg-squat-test")[0].side == "left"
    assert set(by_kind(counted, "weak-muscle", "single-leg-squat-test")[0].muscles) == \
        set(kb.tests["single-leg-squat-test"].muscles)


@pytest.mark.parametrize("text,expected", [
    ("heel-raise-test=14,20", (14, 20)),
    ("heel-raise=L14,R20", (14, 20)),            # an alias, and sides labelled in order
    ("Heel raise=14 , 20", (14, 20)),
    ("side-plank-test=1:15,75s", (75, 75)),
    ("single-leg-hop-test=1.5m,152cm", (150, 152)),
    ("single-leg-squat-test=knee-in+trunk-lean,none", (("knee-in", "trunk-lean"), ())),
    ("single-leg-squat-test=2,0", (2, 0)),
])
def test_result_values_in_the_forms_a_runner_writes(kb, text, expected):
    result = parse_result(kb, text)
    assert (result.left, result.right) == expected


@pytest.mark.parametrize("text,message,fix", [
    ("heel-lift-test=14,20", "unknown test 'heel-lift-test'", "heel-raise-test"),
    ("heel-raise-test=-3,20", "'-3' is negative", "0 or more"),
    ("side-plank-test=10800,60", "10800 is past the most plausible result, 600 s (10 min)",
     "not minutes or hours"),
    ("side-plank-test=3h,60", "'3h' is not in seconds", "1:15"),
    ("heel-raise-test=R20,L14", "the left result comes first", "heel-raise-test=L14,R20"),
    ("heel-raise-test=20,L14", "the left result comes first", "heel-raise-test=L14,R20"),
    ("heel-raise-test=14", "give two results, the left then the right", "=22,25"),
    ("heel-raise-test 14 20", "is not TEST=LEFT,RIGHT", "heel-raise-test=22,25"),
    ("heel-raise-test=14.5,20", "not a whole number of repetitions", "full repetitions"),
    ("single-leg-squat-test=knee-out,none", "unknown fault 'knee-out'", "knee-in"),
    ("single-leg-squat-test=4,0", "not a count of faults from 0 to 3", "name the faults"),
    ("single-leg-hop-test=nan,150", "'nan' is not a number", "150"),
])
def test_a_bad_result_names_the_value_and_the_fix(kb, text, message, fix):
    from kbrun.engine.errors import KbrunError

    with pytest.raises(KbrunError) as caught:
        parse_result(kb, text)
    said = str(caught.value)
    assert message in said and fix in said
    assert "\n" not in said


def test_a_test_given_twice_on_the_command_line_is_refused(kb):
    with pytest.raises(AssessmentError, match="heel-raise-test is given twice"):
        assessment_from_options(kb, ["heel-raise-test=14,20", "heel-raise=15,20"], DAY)


# -- results files ---------------------------------------------------------------------------------

def test_a_results_file_round_trips_with_its_dates_and_partial_answers(kb, tmp_path):
    first = assessment_from_options(kb, ["heel-raise-test=14,20",
                                         "single-leg-squat-test=knee-in,none"],
                                    dt.date(2026, 10, 1))
    partial = Assessment(DAY, (FieldResult("side-plank-test", 60.0, None),),
                         ("single-leg-hop-test",))
    for name in ("legs.yaml", "legs.json"):
        path = tmp_path / name
        write_results(path, [partial, first])
        back = read_results(kb, path)
        assert back == [first, partial]           # oldest first, values and skips as written
        assert not list(tmp_path.glob(".*"))      # the write left no temporary file


def test_the_json_report_is_read_back_as_a_results_file(kb, tmp_path):
    import json

    report = report_of(kb, "heel-raise-test=14,20")
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report.to_dict(kb)), encoding="utf-8")
    again = evaluate(kb, read_results(kb, path))
    assert again.findings == report.findings


@pytest.mark.parametrize("text,message", [
    ("assessments:\n  - date: 2026-10-01\n    results: {heel-raise-test: {left: 14, right: 20}}"
     "\n  - date: 2026-10-01\n    results: {}\n", ":4: a second assessment dated 2026-10-01"),
    ("assessments:\n  - date: 2026-10-01\n    results:\n      heel-raise-test: {left: 14, "
     "rigth: 20}\n", ":4: heel-raise-test: unknown side 'rigth'"),
    ("assessments:\n  - results: {heel-raise-test: {left: 14, right: 20}}\n",
     "no date is not a date as YYYY-MM-DD"),
    ("assessments:\n  - date: 2026-10-01\n    results:\n      heel-raise-test: {left: 14, "
     "right: -20}\n", ":4: heel-raise-test right: -20 is negative"),
    ("assessments:\n  - date: 2026-10-01\n    notes: sore\n", ":3: unknown field 'notes'"),
    ("[1, 2]\n", "not a results file"),
    ("", "is empty"),
])
def test_a_bad_results_file_names_the_line_and_the_fix(kb, tmp_path, text, message):
    path = tmp_path / "legs.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AssessmentError) as caught:
        read_results(kb, path)
    assert message in str(caught.value)
    assert caught.value.suggestion


def test_results_of_the_same_day_merge_and_other_days_stay(kb):
    old = assessment_from_options(kb, ["heel-raise-test=14,20"], dt.date(2026, 10, 1))
    today = assessment_from_options(kb, ["side-plank-test=60,70"], DAY)
    redo = assessment_from_options(kb, ["side-plank-test=65,70", "heel-raise-test=20,21"], DAY)
    merged = merge(merge([old], today), redo)
    assert [a.date for a in merged] == [dt.date(2026, 10, 1), DAY]
    assert merged[1].result("side-plank-test") == FieldResult("side-plank-test", 65, 70)
    assert merged[0] == old


# -- trends and re-tests -------------------------------------------------------------------------

def test_a_closing_gap_is_better_and_a_falling_weak_side_is_worse(kb):
    def trend(*pairs: str):
        assessments = [assessment_from_options(kb, [f"heel-raise-test={pair}"],
                                               DAY + dt.timedelta(weeks=6 * i))
                       for i, pair in enumerate(pairs)]
        [result] = evaluate(kb, assessments).trends
        return result

    assert trend("14,20").status == "first"
    assert trend("14,20", "19,21").status == "better"
    assert trend("20,21", "16,21").status == "worse"
    assert trend("20,21", "20,22").status == "steady"
    better = trend("14,20", "16,20", "19,21")
    assert better.summary.startswith("left 14 -> 16 -> 19, right 20 -> 20 -> 21 reps")
    assert [p[0] for p in better.points] == sorted(p[0] for p in better.points)


def test_findings_come_from_the_latest_assessment(kb):
    old = assessment_from_options(kb, ["heel-raise-test=14,20"], dt.date(2026, 10, 1))
    new = assessment_from_options(kb, ["heel-raise-test=24,25"], DAY)
    report = evaluate(kb, [new, old])
    assert report.date == DAY
    assert not by_kind(report, "imbalance", "heel-raise-test")


def test_a_test_with_a_finding_is_due_sooner_than_one_without(kb):
    report = report_of(kb, "heel-raise-test=14,20", "side-plank-test=80,82")
    due = {r.test: r for r in report.retests}
    assert due["heel-raise-test"].due == DAY + dt.timedelta(weeks=6)
    assert due["side-plank-test"].due == DAY + dt.timedelta(weeks=12)
    assert due["single-leg-bridge-test"].reason == "not tested yet"
    assert [r.due for r in report.retests] == sorted(r.due for r in report.retests)
    overdue = evaluate(kb, report.assessments, today=DAY + dt.timedelta(weeks=7))
    assert any("heel-raise-test" in w and "due for a re-test" in w for w in overdue.warnings)


# -- the findings in the advice ------------------------------------------------------------------

def _calf_work(advice):
    return [r for r in advice.recommendations
            if {"gastrocnemius", "soleus"} & set(r.targets) and r.slot]


def test_a_weaker_left_calf_gets_calf_work_with_more_sets_on_the_left(kb):
    report = report_of(kb, "heel-raise-test=14,20")
    for phase in ("off-season", "race-season"):
        advice = advise(make_profile(kb, phase=phase, assessment=report), kb)
        sided = [r for r in _calf_work(advice) if r.prescription.sets_by_side]
        assert sided, f"{phase}: no calf exercise gives the left more"
        for rec in sided:
            sides = rec.prescription.sets_by_side
            assert sides["left"] == sides["right"] + 1
            assert rec.prescription.to_dict()["weaker_side"] == "left"
            assert any("heel-raise-test" in note for note in rec.prescription.notes)


def test_without_the_assessment_the_same_runner_gets_no_side_bias(kb):
    advice = advise(make_profile(kb, phase="race-season"), kb)
    assert all(r.prescription.sets_by_side is None for r in advice.recommendations)


def test_the_weaker_side_gets_no_extra_set_with_pain_at_the_limit_or_when_acute(kb):
    report = report_of(kb, "heel-raise-test=14,20")
    calm = advise(make_profile(kb, assessment=report), kb)
    assert any(r.prescription.sets_by_side for r in calm.recommendations)
    for extra in ({"pain": 4, "symptoms": ["calf-pain"]},
                  {"injuries": ["achilles-tendinopathy"], "stage": "acute"}):
        advice = advise(make_profile(kb, assessment=report, **extra), kb)
        assert all(r.prescription.sets_by_side is None for r in advice.recommendations), extra
        # and no exercise has more sets than the same runner without the assessment
        plain = advise(make_profile(kb, **extra), kb)
        sets = {r.exercise: r.prescription.sets for r in plain.recommendations}
        for rec in advice.recommendations:
            if rec.exercise in sets:
                assert rec.prescription.sets <= max(sets.values())


def test_a_protocol_dose_stays_as_studied_on_both_sides(kb):
    report = report_of(kb, "heel-raise-test=14,20")
    advice = advise(make_profile(kb, injuries=["achilles-tendinopathy"], assessment=report), kb)
    protocol = [r for r in advice.recommendations if r.protocol]
    assert protocol
    assert all(r.prescription.sets_by_side is None for r in protocol)


def test_only_single_leg_loading_work_gives_one_side_more(kb):
    report = report_of(kb, "heel-raise-test=14,20", "single-leg-squat-test=3,0")
    advice = advise(make_profile(kb, limit=12, assessment=report), kb)
    assert any(rec.prescription.sets_by_side for rec in advice.recommendations)
    for rec in advice.recommendations:
        if rec.prescription.sets_by_side:
            exercise = kb.exercises[rec.exercise]
            assert exercise.unilateral and exercise.category in ("strength", "isometric")


def test_a_bilateral_weakness_brings_the_muscle_into_focus_without_a_side(kb):
    report = report_of(kb, "single-leg-bridge-test=12,12")
    advice = advise(make_profile(kb, assessment=report), kb)
    focus = {f.id: f for f in advice.findings if f.kind == "focus"}
    plain = {f.id: f for f in advise(make_profile(kb), kb).findings if f.kind == "focus"}
    assert focus["hamstrings"].certainty > plain["hamstrings"].certainty
    assert any("single-leg-bridge-test" in cause for cause in focus["hamstrings"].causes)
    assert all(r.prescription.sets_by_side is None for r in advice.recommendations)


def test_tests_that_disagree_on_the_weaker_side_give_neither_side_more(kb):
    # the heel raise finds the left calf weaker, the hop the right leg (calves among its muscles)
    report = report_of(kb, "heel-raise-test=14,20", "single-leg-hop-test=160,110")
    advice = advise(make_profile(kb, limit=10, assessment=report), kb)
    calf = [r for r in advice.recommendations
            if {"gastrocnemius", "soleus"} & set(r.targets) and kb.exercises[r.exercise].unilateral
            and r.slot]
    assert calf
    for rec in calf:
        assert rec.prescription.sets_by_side is None
        assert any("disagree" in note for note in rec.prescription.notes)


def test_a_retest_of_one_test_leaves_the_other_findings_standing(kb):
    old = assessment_from_options(kb, ["heel-raise-test=14,20", "single-leg-bridge-test=12,12"],
                                  dt.date(2026, 10, 1))
    new = assessment_from_options(kb, ["heel-raise-test=20,21"], DAY)
    report = evaluate(kb, [old, new])
    assert by_kind(report, "weak-muscle", "single-leg-bridge-test")[0].date == old.date
    due = {r.test: r for r in report.retests}
    assert due["single-leg-bridge-test"].due == old.date + dt.timedelta(weeks=6)
    assert due["heel-raise-test"].last == DAY


def test_overdue_warnings_name_only_tests_done_before(kb):
    report = evaluate(kb, report_of(kb, "heel-raise-test=14,20").assessments,
                      today=DAY + dt.timedelta(weeks=7))
    [warning] = report.warnings
    assert "heel-raise-test (last done 2026-11-21)" in warning
    assert "single-leg-bridge-test" not in warning


def test_a_quality_test_reads_faults_past_the_norm_in_faults(kb):
    data = report_of(kb, "single-leg-squat-test=knee-in+pelvis-drop,none").to_dict(kb)
    [reading] = data["readings"]
    assert (reading["left_vs_norm_percent"], reading["right_vs_norm_percent"]) == (2.0, 0.0)
    assert reading["gap_faults"] == 2 and reading["gap_percent"] is None
    assert "norm none: left past it; 2 faults apart" in reading["summary"]


def test_a_leg_that_cannot_heel_raise_is_a_red_flag_not_a_weakness_to_train(kb):
    report = report_of(kb, "heel-raise-test=0,25")
    assert dict(report.red_flags).keys() == {"cannot-heel-raise"}
    advice = advise(make_profile(kb, assessment=report), kb)
    assert advice.urgent and not advice.recommendations
    assert "cannot-heel-raise" in make_profile(kb, assessment=report).red_flags
    assert not report_of(kb, "heel-raise-test=0,0").red_flags      # neither side: no contrast


@pytest.mark.parametrize("extra", [{"phase": "taper"}, {"phase": "recovery"},
                                   {"symptoms": ["shin-pain"]}, {"symptoms": ["knee-pain"]}])
def test_no_extra_set_in_a_taper_or_while_something_hurts(kb, extra):
    report = report_of(kb, "heel-raise-test=14,20", "single-leg-hop-test=120,160")
    advice = advise(make_profile(kb, assessment=report, **extra), kb)
    assert all(r.prescription.sets_by_side is None for r in advice.recommendations)


def test_a_heavy_lift_stays_within_four_sets_and_the_stronger_side_does_fewer(kb):
    report = report_of(kb, "heel-raise-test=14,20")
    advice = advise(make_profile(kb, phase="off-season", assessment=report), kb)
    heavy = [r for r in advice.recommendations if r.prescription.sets_by_side
             and r.prescription.load == "heavy"]
    assert heavy
    for rec in heavy:
        assert rec.prescription.sets_by_side == {"left": 4, "right": 3}


def test_a_clear_calf_imbalance_holds_back_the_jumps_that_load_the_lower_leg(kb):
    report = report_of(kb, "heel-raise-test=14,20")
    advice = advise(make_profile(kb, phase="pre-season", goals=["power"], assessment=report),
                    kb)
    held = {a.exercise for a in advice.avoid if "hold hops and jumps back" in a.reason}
    assert held and not held & {r.exercise for r in advice.recommendations}
    plain = advise(make_profile(kb, phase="pre-season", goals=["power"]), kb)
    assert any(kb.exercises[r.exercise].category == "plyometric" for r in plain.recommendations)


def test_a_trend_is_worse_when_the_stronger_side_lost_ground(kb):
    assessments = [assessment_from_options(kb, [f"heel-raise-test={pair}"],
                                           DAY + dt.timedelta(weeks=6 * i))
                   for i, pair in enumerate(("14,20", "14,15"))]
    assert evaluate(kb, assessments).trends[0].status == "worse"


@pytest.mark.parametrize("text,message", [
    ("single-leg-squat-test=²,none", "unknown fault"),
    ("heel-raise-test=left:14,right:20", None),
    ("heel-raise-test=l14,l20", "both results are labelled left"),
])
def test_unusual_forms_are_read_or_refused_cleanly(kb, text, message):
    if message is None:
        assert parse_result(kb, text) == FieldResult("heel-raise-test", 14, 20)
        return
    with pytest.raises(AssessmentError, match=message):
        parse_result(kb, text)


def test_a_date_outside_the_years_of_testing_is_refused(kb, tmp_path):
    path = tmp_path / "legs.yaml"
    path.write_text("assessments:\n  - date: 9999-12-31\n    results: {heel-raise-test: "
                    "{left: 14, right: 20}}\n", encoding="utf-8")
    with pytest.raises(AssessmentError, match="9999-12-31 is not a day of testing"):
        read_results(kb, path)


def test_saving_through_a_symlink_keeps_the_link_and_the_mode(kb, tmp_path):
    from kbrun.engine.assessment import save_assessment

    target = tmp_path / "target.yaml"
    write_results(target, [assessment_from_options(kb, ["heel-raise-test=14,20"],
                                                   dt.date(2026, 10, 1))])
    target.chmod(0o664)
    link = tmp_path / "link.yaml"
    link.symlink_to(target.name)
    save_assessment(kb, link, assessment_from_options(kb, ["side-plank-test=60,70"], DAY))
    assert link.is_symlink() and (target.stat().st_mode & 0o777) == 0o664
    assert [a.date for a in read_results(kb, target)] == [dt.date(2026, 10, 1), DAY]


def test_concurrent_saves_keep_every_result(kb, tmp_path):
    import multiprocessing

    path = tmp_path / "legs.yaml"
    days = [DAY + dt.timedelta(days=i) for i in range(6)]
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_save_one, args=(path, day)) for day in days]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [a.date for a in read_results(kb, path)] == days


def _save_one(path, day):
    from kbrun.engine import load_kb
    from kbrun.engine.assessment import save_assessment

    kb = load_kb()
    save_assessment(kb, path, assessment_from_options(kb, ["side-plank-test=60,70"], day))


def test_disagreeing_tests_leave_a_heavy_lift_at_its_full_sets_on_both_sides(kb):
    report = report_of(kb, "heel-raise-test=14,20", "single-leg-hop-test=160,110")
    plain = advise(make_profile(kb, phase="off-season", limit=10), kb)
    sets = {r.exercise: r.prescription.sets for r in plain.recommendations}
    advice = advise(make_profile(kb, phase="off-season", limit=10, assessment=report), kb)
    assert any("disagree" in n for r in advice.recommendations for n in r.prescription.notes)
    for rec in advice.recommendations:
        if any("disagree" in note for note in rec.prescription.notes) and rec.exercise in sets:
            assert rec.prescription.sets == sets[rec.exercise]
            assert not any("stronger side does" in n for n in rec.prescription.notes)
