"""A season plan as an iCalendar file (RFC 5545): one all-day event per planned session.

Written by hand (no calendar library: kbrun's runtime dependencies stay as they are):

- every text value is cleaned of control characters (line breaks become one line break; C0, DEL
  and C1 controls, bidirectional controls and lone surrogates are dropped) and escaped as RFC
  5545 section 3.3.11 asks (`\\\\`, `\\;`, `\\,`, and a line break as `\\n`);
- every content line longer than 75 octets is folded (CRLF and one space, section 3.1), never
  inside a UTF-8 character;
- lines end with CRLF;
- nothing depends on the clock: DTSTAMP is the plan's start at midnight UTC and each UID is
  made of the plan's start, the week, the day and the kind of session, so the same plan is the
  same file, byte for byte.

A plan that a red flag turned into a referral has no session; its calendar holds one event on
the plan's start that says so (a calendar needs at least one component), with the referral.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kbrun.engine.advice import Warning
    from kbrun.engine.plan import Plan, PlannedSession, PlannedWeek

PRODID = "-//kbrun//plan//EN"
CRLF = "\r\n"
MAX_OCTETS = 75          # a content line's length before its CRLF (RFC 5545 3.1)

# a line break in data, of any kind: it stays one (escaped) line break
_BREAK = re.compile(r"\r\n|[\n\v\f\r\x1c-\x1e\x85\u2028\u2029]")
# what no calendar value keeps: C0 controls but the line break, DEL, C1 controls, the
# bidirectional marks, embeddings, overrides and isolates, and lone surrogates
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                      r"\u2066-\u2069\ud800-\udfff]")
_ESCAPES = {"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n"}


def clean(value: object) -> str:
    """A data value with its line breaks as `\\n` and every other control character dropped (a
    tab becomes a space)."""
    text = _BREAK.sub("\n", "" if value is None else str(value))
    return _CONTROL.sub(lambda m: " " if m.group() == "\t" else "", text)


def escape(value: object) -> str:
    """A TEXT value (RFC 5545 3.3.11): cleaned, then `\\`, `;`, `,` and line breaks escaped."""
    return re.sub(r"[\\;,\n]", lambda m: _ESCAPES[m.group()], clean(value))


def fold(line: str) -> str:
    """A content line folded to lines of at most 75 octets (CRLF, then one space that starts the
    next line), never inside a UTF-8 character; no CRLF at the end."""
    if len(line.encode("utf-8", "surrogatepass")) <= MAX_OCTETS:
        return line
    parts: list[str] = []
    current: list[str] = []
    size, room = 0, MAX_OCTETS
    for char in line:
        octets = len(char.encode("utf-8", "surrogatepass"))
        if size + octets > room:
            parts.append("".join(current))
            current, size, room = [], 0, MAX_OCTETS - 1    # the leading space is an octet
        current.append(char)
        size += octets
    parts.append("".join(current))
    return (CRLF + " ").join(parts)


def unfold(text: str) -> str:
    """Folded content lines back as they were (RFC 5545 3.1: CRLF and one space or tab)."""
    return re.sub(r"\r\n[ \t]", "", text)


def _date(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def week_label(week: PlannedWeek) -> str:
    """`block week 3 (+5 % load)`, `block week 4, lighter week` or '' for a week outside the
    block phases with no load change."""
    parts = []
    if week.block_week:
        parts.append(f"block week {week.block_week}")
    if week.deload:
        parts.append("lighter week")
    label = ", ".join(parts)
    if week.load_pct:
        label += f"{' ' if label else ''}(+{week.load_pct} % load)"
    return label


def dose_text(rec: object) -> str:
    """An exercise's dose in one line: `3 x 6-8 per side, bodyweight, rest 90 s (3-0-1)`."""
    from kbrun.cli.render import plan_dose

    return plan_dose(rec)


def _summary(week: PlannedWeek, session: PlannedSession) -> str:
    from kbrun.engine.timing import minutes

    kind = session.kind[:1].upper() + session.kind[1:]
    lighter = ", lighter week" if week.deload else ""
    return f"{kind} ({minutes(session.seconds)} min): week {week.week}, {week.phase}{lighter}"


def _description(plan: Plan, week: PlannedWeek, session: PlannedSession) -> list[str]:
    lines = [f"{rec.name}: {dose_text(rec)}" for rec in session.exercises]
    if not lines:
        lines.append("No exercises.")
    label = week_label(week)
    lines += ["", f"Week {week.week} (from {week.start.isoformat()}): {week.phase}"
              + (f", {label}" if label else "") + f"; after {session.after}."]
    return [*lines, "", *_closing(plan.warnings)]


def _closing(warnings: Iterable[Warning]) -> list[str]:
    """The warnings every event ends with: a changed safety policy, then the disclaimer."""
    from kbrun.engine.advice import DISCLAIMER

    warnings = list(warnings)
    chosen = [w.message for w in warnings if w.kind == "safety-change"]
    chosen += [w.message for w in warnings if w.kind == "disclaimer"] or [DISCLAIMER]
    return chosen


def _event(uid: str, stamp: str, day: dt.date, summary: str, description: list[str]
           ) -> list[str]:
    return ["BEGIN:VEVENT",
            f"UID:{escape(uid)}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{_date(day)}",
            f"DTEND;VALUE=DATE:{_date(day + dt.timedelta(days=1))}",
            f"SUMMARY:{escape(summary)}",
            f"DESCRIPTION:{escape(chr(10).join(description))}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT"]


def uid(plan: Plan, week: PlannedWeek, session: PlannedSession) -> str:
    """`kbrun-20270104-w3-tue-strength@kbrun`: the same for the same plan, every time."""
    return f"kbrun-{_date(plan.request.start)}-w{week.week}-{session.day}-{session.kind}@kbrun"


def calendar(plan: Plan) -> str:
    """The plan as the text of an .ics file (CRLF line ends, folded; see the module doc)."""
    stamp = f"{_date(plan.request.start)}T000000Z"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             "X-WR-CALNAME:kbrun plan"]
    for week in plan.weeks:
        for session in week.sessions:
            lines += _event(uid(plan, week, session), stamp, session.date,
                            _summary(week, session), _description(plan, week, session))
    if plan.referred:
        referral = [w.message for w in plan.warnings
                    if w.kind not in ("disclaimer", "safety-change")]
        lines += _event(f"kbrun-{_date(plan.request.start)}-referral@kbrun", stamp,
                        plan.request.start, "No strength plan: see a physiotherapist or doctor",
                        [*referral, "", *_closing(plan.warnings)])
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines)

