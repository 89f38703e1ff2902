"""How long an exercise takes at its prescription, and so how long a session takes: the
estimate behind the time budget (`--minutes`) and each planned session's minutes.

The figures are kb data (`timing:` in kb/plan.yaml). An exercise takes its setup, then each
set: the reps times the seconds of a rep, or the hold, on each side for a per-side exercise
(with a moment to switch sides), and the rest between sets. A rep takes what the tempo says
when it gives seconds ('2-1-2' is 5 s; '3 s up, 3 s down' is 6 s), and never less than the
category's usual rep. The estimate takes the top of each range: a budget should hold.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kbrun.engine.advice import Prescription
    from kbrun.engine.schema import Category, Timing

DEFAULT_REST_S = 60     # between sets, when a prescription gives no rest
_PHASES = re.compile(r"^\s*(\d+)(?:\s*-\s*(\d+))+\s*$")    # 2-1-2
_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*s\b")            # 3 s up, 3 s down


def rep_seconds(tempo: str | None, category: Category, timing: Timing) -> float:
    """The seconds one rep takes: the tempo's, if it gives them, at least the category's."""
    usual = timing.rep_s.get(category, 3.0)
    if not tempo:
        return usual
    if _PHASES.match(tempo):
        given = float(sum(int(part) for part in re.findall(r"\d+", tempo)))
    else:
        given = sum(float(number) for number in _SECONDS.findall(tempo))
    return max(given, usual)


def exercise_seconds(prescription: Prescription, category: Category, timing: Timing) -> int:
    """The seconds an exercise takes at this prescription, setup and rests included."""
    if prescription.reps_max is not None:
        work = prescription.reps_max * rep_seconds(prescription.tempo, category, timing)
    else:
        work = float(prescription.hold_s_max or 0)
    per_set = work * 2 + timing.side_switch_s if prescription.per_side else work
    rest = DEFAULT_REST_S if prescription.rest_s is None else prescription.rest_s
    sets = prescription.sets
    extra = prescription.side_sets * (work + rest) if prescription.per_side else 0
    return math.ceil(timing.setup_s + sets * per_set + max(0, sets - 1) * rest + extra)


def minutes(seconds: float) -> int:
    """Whole minutes, rounded up: what a runner sets aside."""
    return math.ceil(seconds / 60)
