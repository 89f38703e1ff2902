"""`kbrun assess --interactive`: asks for each test's result, side by side, showing how to do the
test; every answer is checked as it is typed and written to the results file at once, so a
runner who stops (q, Ctrl-D, Ctrl-C, a closed terminal) loses nothing and the same command goes
on where they left off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kbrun.cli.render import terminal_text

if TYPE_CHECKING:
    from kbrun.engine.assessment import Assessment
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.schema import FieldTest

QUIT = ("q", "quit", "exit")
SKIP = ("s", "skip")
HELP = ("?", "h", "help")
# an unfinished assessment is gone on with for a week; later, a new day starts (--date goes back)
RESUME_WITHIN = dt.timedelta(days=7)
_HINT = {"reps": "repetitions", "seconds": "seconds, e.g. 75 or 1:15", "cm": "centimetres",
         "faults": "faults seen, e.g. knee-in+pelvis-drop, or none"}


class _Stop(Exception):
    """The runner asked to stop (or the input ended)."""


def _say(text: str = "") -> None:
    typer.echo(terminal_text(text) if text else "")


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except (EOFError, KeyboardInterrupt, RuntimeError, OSError):
        raise _Stop from None    # end of input, Ctrl-C, or no stdin at all


def current(assessments: list[Assessment], date: dt.date | None, today: dt.date,
            tests: list[str]) -> tuple[Assessment, bool]:
    """The assessment to fill in, and whether it is one already begun: the one of `date` when
    given; else the latest, when some test of it is neither done nor skipped and it is at most
    RESUME_WITHIN old; else a new one dated today."""
    from kbrun.engine.assessment import Assessment

    if date is not None:
        found = next((a for a in assessments if a.date == date), None)
        return (found, True) if found is not None else (Assessment(date), False)
    if assessments:
        latest = assessments[-1]
        if _open_tests(latest, tests) and today - latest.date <= RESUME_WITHIN:
            return latest, True
    return Assessment(today), False


def ordered(kb: KnowledgeBase) -> list[str]:
    """The tests in the order a session does them (each test's `order`, kb/tests.yaml)."""
    return sorted(kb.tests, key=lambda t: (kb.tests[t].order, t))


def _open_tests(assessment: Assessment, tests: list[str]) -> list[str]:
    return [t for t in tests if t not in assessment.skipped
            and not ((r := assessment.result(t)) is not None and r.complete)]


def _show(test: FieldTest) -> None:
    _say()
    _say(f"== {test.name} ({test.id}): {test.measures}")
    for number, step in enumerate(test.how, 1):
        _say(f"  {number}. {step}")
    _say(f"  Score: {test.score}")
    if test.partner:
        _say("  You need a partner for this one.")
    if test.faults:
        _say("  Faults: " + "; ".join(f"{f.id} ({f.name})" for f in test.faults))
    if test.caution:
        _say(f"  Caution: {test.caution}")


def run(kb: KnowledgeBase, path: Path, *, date: dt.date | None, today: dt.date,
        ask: Callable[[str], str] = _ask) -> bool:
    """Ask for the results still missing and save each answer to `path`; True when every test
    is done or skipped, False when the runner stopped first."""
    from kbrun.engine.assessment import (
        AssessmentError,
        FieldResult,
        parse_value,
        read_results,
        save_assessment,
    )

    tests = ordered(kb)
    earlier = read_results(kb, path) if path.exists() else []
    assessment, begun = current(earlier, date, today, tests)
    left_open = _open_tests(assessment, tests)
    if begun:
        _say(f"Going on with the assessment of {assessment.date.isoformat()} in {path}: "
             f"{len(tests) - len(left_open)} of {len(tests)} tests done.")
    else:
        _say(f"New assessment dated {assessment.date.isoformat()}, saved to {path} after "
             "every answer.")
    _say("Type q to stop (your answers are kept), s to skip a test, ? to see how to do it "
         "again.")
    _say("Test rested (not after a hard run) and warmed up, in the same shoes, on the same "
         "surface and at about the same time of day as the last time.")
    saved = 0

    def save(updated: Assessment) -> Assessment:
        nonlocal saved
        save_assessment(kb, path, updated, replace_day=True)  # re-read under its lock
        saved += 1
        return updated

    try:
        for test_id in left_open:
            test = kb.tests[test_id]
            _show(test)
            result = assessment.result(test_id) or FieldResult(test_id)
            for side in ("left", "right"):
                if result.side(side) is not None:
                    continue
                while True:
                    answer = ask(f"{test.name}, {side} ({_HINT[test.unit]}): ").strip()
                    if answer.lower() in QUIT:
                        raise _Stop
                    if answer.lower() in HELP:
                        _show(test)
                        continue
                    if answer.lower() in SKIP:
                        assessment = save(assessment.with_skipped(test_id))
                        _say(f"  skipped {test.name}")
                        break
                    try:
                        value = parse_value(test, answer, side)
                    except AssessmentError as err:
                        _say(f"  ! {err}")
                        continue
                    result = (FieldResult(test_id, value, result.right) if side == "left"
                              else FieldResult(test_id, result.left, value))
                    assessment = save(assessment.with_result(result))
                    break
                if test_id in assessment.skipped:
                    break
    except _Stop:
        done = len(tests) - len(_open_tests(assessment, tests))
        _say()
        if saved or begun:
            _say(f"Stopped. Your answers are saved in {path} ({done} of {len(tests)} tests "
                 "done); run the same command to go on.")
        else:
            _say("Stopped before the first answer; nothing was saved.")
        return False
    return True
