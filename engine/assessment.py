"""Field tests into findings: each side's result read against the test's norm and imbalance
threshold (kb/tests.yaml), the trend across dated assessments, and when to test again.

A result is a score on each side: repetitions, seconds, centimetres, or the movement faults
seen (a quality test). Results come from `--result TEST=LEFT,RIGHT`, a results file of dated
assessments, or an interactive session; all three go through `parse_value`, so each accepts and
refuses the same values with the same message. The findings become `assessed` facts that the
rules in kb/rules/25-assessment.yaml reason from (engine/inference.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kbrun.engine.errors import KbrunError, UnknownId
from kbrun.engine.schema import SIDES, FieldTest, Side, TestUnit

if TYPE_CHECKING:
    from kbrun.engine import contract
    from kbrun.engine.knowledge import KnowledgeBase

Value = float | tuple[str, ...]      # a score, or the faults seen on a side
FindingKind = Literal["weak-muscle", "imbalance"]
TrendStatus = Literal["better", "worse", "steady", "first"]
UNIT_WORD = {"reps": "reps", "seconds": "s", "cm": "cm", "faults": "faults"}
MAX_ASSESSMENTS = 200       # dated assessments in one results file
FORMAT = "TEST=LEFT,RIGHT"


class AssessmentError(KbrunError):
    """A test result, results file or assessment that cannot be used."""


# -- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldResult:
    """One test's result on each side; a side not yet given is None (an interactive assessment
    under way)."""

    test: str
    left: Value | None = None
    right: Value | None = None

    @property
    def complete(self) -> bool:
        return self.left is not None and self.right is not None

    def side(self, side: Side) -> Value | None:
        return self.left if side == "left" else self.right


@dataclass(frozen=True)
class Assessment:
    """The results of the tests done on one day, and the tests skipped that day."""

    date: dt.date
    results: tuple[FieldResult, ...] = ()
    skipped: tuple[str, ...] = ()

    def result(self, test: str) -> FieldResult | None:
        return next((r for r in self.results if r.test == test), None)

    def with_result(self, result: FieldResult) -> Assessment:
        """This assessment with `result` in place of the test's earlier one (or added)."""
        others = tuple(r for r in self.results if r.test != result.test)
        return replace(self, results=(*others, result),
                       skipped=tuple(t for t in self.skipped if t != result.test))

    def with_skipped(self, test: str) -> Assessment:
        """Marked skipped; a side already answered is kept (the test counts only when both
        sides are given, which un-skips it)."""
        return replace(self, skipped=tuple(dict.fromkeys((*self.skipped, test))))

    def to_dict(self) -> contract.AssessmentResults:
        return {"date": self.date.isoformat(),
                "results": {r.test: {"left": _plain(r.left), "right": _plain(r.right)}
                            for r in self.results},
                "skipped": list(self.skipped)}


def _plain(value: Value | None) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def score(value: Value) -> float:
    """A side's score: its number, or how many faults were seen."""
    return float(len(value)) if isinstance(value, tuple) else float(value)


def shown(test: FieldTest, value: Value) -> str:
    """A side's result as a runner reads it: '14 reps', '75 s', '2 faults (knee-in, ...)'."""
    if isinstance(value, tuple):
        count = len(value)
        if not value:
            return "no faults"
        return f"{count} fault{'s' if count != 1 else ''} ({', '.join(value)})"
    number = f"{value:g}"
    if test.unit == "faults":
        return f"{number} fault{'s' if value != 1 else ''}"
    return f"{number} {UNIT_WORD[test.unit]}"


# -- reading one value --------------------------------------------------------------------------

_NUMBER = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]*)$", re.ASCII)
_CLOCK = re.compile(r"^(?P<m>\d+):(?P<s>[0-5]\d)$", re.ASCII)
_SUFFIXES = {"reps": ("", "rep", "reps", "x"), "seconds": ("", "s", "sec", "secs", "seconds"),
             "cm": ("", "cm"), "faults": ("", "fault", "faults")}
_EXAMPLE = {"reps": "22", "seconds": "75 (or 1:15)", "cm": "150", "faults": "knee-in+pelvis-drop "
            "(or a count such as 2, or none)"}


def _limit_text(test: FieldTest) -> str:
    most = test.ceiling
    if test.unit == "seconds" and most >= 60:
        return f"{most:g} s ({most / 60:g} min)"
    return f"{most:g} {UNIT_WORD[test.unit]}"


def parse_value(test: FieldTest, raw: Any, side: Side, where: str = "") -> Value:
    """One side's result of `test`, checked: a whole number of reps, seconds (`75`, `75s` or
    `1:15`), centimetres (`150`, `1.5m`), or faults (ids joined by `+`, a list, `none`, or a
    count). Raises AssessmentError naming `where`, the side, the value and the fix."""
    at = f"{where}: " if where else ""
    what = f"{at}{test.id} {side}"
    if isinstance(raw, bool) or raw is None:
        raise AssessmentError(f"{what}: {raw!r} is not a result",
                              suggestion=f"give {_EXAMPLE[test.unit]}")
    if test.unit == "faults":
        return _faults(test, raw, what)
    if isinstance(raw, (int, float)):
        number = float(raw)
    elif isinstance(raw, str):
        number = _number(test, raw.strip().lower(), what)
    else:
        raise AssessmentError(f"{what}: {_short(raw)} is not a number",
                              suggestion=f"give one number, e.g. {_EXAMPLE[test.unit]}")
    if number != number or number in (float("inf"), float("-inf")):
        raise AssessmentError(f"{what}: {_short(raw)} is not a number",
                              suggestion=f"give one number, e.g. {_EXAMPLE[test.unit]}")
    if number < 0:
        raise AssessmentError(f"{what}: {_short(raw)} is negative",
                              suggestion=f"give the {test.unit} done, 0 or more, e.g. "
                                         f"{_EXAMPLE[test.unit]}")
    if test.unit == "reps" and not number.is_integer():
        raise AssessmentError(f"{what}: {_short(raw)} is not a whole number of repetitions",
                              suggestion="count only the full repetitions, e.g. 22")
    if number > test.ceiling:
        raise AssessmentError(
            f"{what}: {_short(raw)} is past the most plausible result, {_limit_text(test)}",
            suggestion=_too_much_fix(test))
    return number


def _too_much_fix(test: FieldTest) -> str:
    if test.unit == "seconds":
        return "give the hold in seconds (75, 75s or 1:15), not minutes or hours"
    if test.unit == "cm":
        return "give the distance in centimetres, e.g. 150 (or 1.5m)"
    return f"check the count; give the {test.unit} on that side, e.g. {_EXAMPLE[test.unit]}"


def _number(test: FieldTest, text: str, what: str) -> float:
    clock = _CLOCK.match(text)
    if clock and test.unit == "seconds":
        return int(clock["m"]) * 60 + int(clock["s"])
    if text.startswith("-"):
        raise AssessmentError(f"{what}: '{_short(text)}' is negative",
                              suggestion=f"give the {test.unit} done, 0 or more, e.g. "
                                         f"{_EXAMPLE[test.unit]}")
    match = _NUMBER.match(text)
    if match is None:
        raise AssessmentError(f"{what}: '{_short(text)}' is not a number",
                              suggestion=f"give one number, e.g. {_EXAMPLE[test.unit]}")
    number, unit = float(match["n"]), match["unit"]
    if test.unit == "cm" and unit == "m":
        return round(number * 100, 1)
    if test.unit == "seconds" and unit in ("min", "mins", "minutes", "h", "hr", "hours"):
        raise AssessmentError(f"{what}: '{_short(text)}' is not in seconds",
                              suggestion="give the hold in seconds, e.g. 75 or 1:15")
    if unit not in _SUFFIXES[test.unit]:
        raise AssessmentError(f"{what}: '{_short(text)}' is not in {test.unit}",
                              suggestion=f"give {test.unit}, e.g. {_EXAMPLE[test.unit]}")
    return number


def _faults(test: FieldTest, raw: Any, what: str) -> Value:
    ids = {fault.id for fault in test.faults}
    if isinstance(raw, (int, float)) or (isinstance(raw, str) and raw.strip().isascii()
                                         and raw.strip().isdigit()):
        count = float(raw)
        if not count.is_integer() or not 0 <= count <= len(ids):
            raise AssessmentError(f"{what}: {_short(raw)} is not a count of faults from 0 to "
                                  f"{len(ids)}", suggestion="name the faults seen, e.g. "
                                  "knee-in+pelvis-drop, or count them")
        return count
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text.startswith("-"):
            raise AssessmentError(f"{what}: '{_short(raw)}' is negative",
                                  suggestion=f"count the faults, 0 to {len(ids)}")
        items: list[Any] = [] if text in ("none", "no", "0", "") else \
            [part.strip() for part in re.split(r"[+/;]", text)]
    elif isinstance(raw, list):
        items = list(raw)
    else:
        raise AssessmentError(f"{what}: {_short(raw)} is not a list of faults",
                              suggestion="name the faults seen, e.g. knee-in+pelvis-drop")
    seen: list[str] = []
    for item in items:
        if not isinstance(item, str) or item not in ids:
            error = UnknownId("fault", item, ids, context=what)
            error.suggestion = error.suggestion or "the faults are " + ", ".join(sorted(ids))
            raise AssessmentError(error.message, suggestion=error.suggestion)
        if item not in seen:
            seen.append(item)
    return tuple(sorted(seen))


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 30 else text[:27] + "..."


# -- reading `--result TEST=LEFT,RIGHT` ---------------------------------------------------------

_LABEL = re.compile(r"^(?P<label>left|l|right|r)\s*[:=]?\s*(?P<value>.*)$")


def find_test(kb: KnowledgeBase, text: str, context: str = "") -> FieldTest:
    """The test with this id, name or alias; UnknownId naming the closest tests otherwise."""
    text = text.strip()
    if text in kb.tests:
        return kb.tests[text]
    alias = kb.resolve_alias("test", text)
    if alias is not None:
        return kb.tests[alias]
    error = UnknownId("test", _short(text), kb.tests, context=context)
    error.suggestion = error.suggestion or "the tests are " + ", ".join(kb.tests)
    raise error


def parse_result(kb: KnowledgeBase, text: str) -> FieldResult:
    """A `--result` value, `TEST=LEFT,RIGHT` (`heel-raise-test=14,20`; each value may carry its
    side, `L14,R20`, which must come left first)."""
    option = "--result"
    if "=" not in text:
        raise AssessmentError(f"{option} '{_short(text)}' is not {FORMAT}",
                              suggestion="write the test, '=', then the left and the right "
                                         "result, e.g. heel-raise-test=22,25")
    name, _, values = text.partition("=")
    test = find_test(kb, name, context=option)
    parts = [part.strip() for part in values.split(",")]
    if len(parts) != 2 or not all(parts):
        raise AssessmentError(
            f"{option} '{_short(text)}': give two results, the left then the right, separated "
            "by a comma", suggestion=f"e.g. {test.id}={_EXAMPLE_PAIR[test.unit]}")
    labels: list[str | None] = []
    for index, part in enumerate(parts):
        label = _LABEL.match(part.lower())
        if label and label["value"].strip():
            labels.append("left" if label["label"].startswith("l") else "right")
            parts[index] = label["value"].strip()
        else:
            labels.append(None)
    if labels[0] is not None and labels[0] == labels[1]:
        raise AssessmentError(
            f"{option} '{_short(text)}': both results are labelled {labels[0]}",
            suggestion=f"write {test.id}=L{parts[0]},R{parts[1]}, the left result first")
    if labels[0] == "right" or labels[1] == "left":
        left_value = parts[labels.index("left")] if "left" in labels else parts[1]
        right_value = parts[labels.index("right")] if "right" in labels else parts[0]
        raise AssessmentError(
            f"{option} '{_short(text)}': the left result comes first ({FORMAT})",
            suggestion=f"write {test.id}=L{left_value},R{right_value}")
    left = parse_value(test, parts[0], "left", option)
    right = parse_value(test, parts[1], "right", option)
    return FieldResult(test.id, left, right)


_EXAMPLE_PAIR = {"reps": "22,25", "seconds": "75,80", "cm": "150,160",
                 "faults": "knee-in+pelvis-drop,none"}


def assessment_from_options(kb: KnowledgeBase, results: Sequence[str], date: dt.date
                            ) -> Assessment:
    """The assessment the `--result` options give, dated `date`; a test given twice is an
    error."""
    parsed: list[FieldResult] = []
    for text in results:
        result = parse_result(kb, text)
        if any(r.test == result.test for r in parsed):
            raise AssessmentError(f"--result: {result.test} is given twice",
                                  suggestion="give each test once, with its left and right "
                                             "result")
        parsed.append(result)
    return Assessment(date, tuple(parsed))


# -- results files ------------------------------------------------------------------------------

def read_results(kb: KnowledgeBase, path: str | Path) -> list[Assessment]:
    """The dated assessments of a results file (YAML or JSON), oldest first: the file
    `kbrun assess --interactive` writes, the JSON `kbrun assess` prints, or one written by hand
    as `assessments: [{date: 2026-11-21, results: {heel-raise-test: {left: 14, right: 20}}}]`
    (one assessment may also stand alone, as `date:` and `results:`)."""
    data = _load(path)
    where = str(path)
    if isinstance(data, Mapping) and "assessments" in data:
        unknown = [k for k in data if k not in _DOCUMENT_KEYS]
        if unknown:
            raise AssessmentError(f"{_at(data, unknown[0], where)}: unknown field "
                                  f"'{_short(unknown[0])}'",
                                  suggestion="a results file holds 'assessments:', a list of "
                                             "dated results")
        items = data["assessments"]
        if not isinstance(items, list):
            raise AssessmentError(f"{_at(data, 'assessments', where)}: 'assessments' must be a "
                                  "list", suggestion="write '- date: 2026-11-21' items under it")
    elif isinstance(data, Mapping) and "date" in data:
        items = [data]
    else:
        raise AssessmentError(f"{where}: not a results file",
                              suggestion="write 'assessments:' with a list of '- date: "
                                         "YYYY-MM-DD' and 'results:' (docs/assess.md)")
    if len(items) > MAX_ASSESSMENTS:
        raise AssessmentError(f"{where}: {len(items):,} assessments, over the "
                              f"{MAX_ASSESSMENTS} a results file may hold",
                              suggestion="keep the recent ones; older results no longer say "
                                         "much about the legs of today")
    assessments = [_assessment(kb, item, _item_loc(items, i, where))
                   for i, item in enumerate(items)]
    dates: dict[dt.date, str] = {}
    for index, assessment in enumerate(assessments):
        at = _item_loc(items, index, where)
        if assessment.date in dates:
            raise AssessmentError(f"{at}: a second assessment dated {assessment.date} (the "
                                  f"first is at {dates[assessment.date]})",
                                  suggestion="put the results of one day in one assessment")
        dates[assessment.date] = at
    return sorted(assessments, key=lambda a: a.date)


# what a results document may hold besides its assessments: the rest of `kbrun assess`'s JSON
_DOCUMENT_KEYS = ("assessments", "kbrun", "date", "findings", "readings", "trends", "retests",
                  "warnings", "incomplete", "red_flags")


def _load(path: str | Path) -> Any:
    from kbrun.engine.profile import read_data_file

    return read_data_file(path, what="results file", error=AssessmentError,
                          missing="check the path; 'kbrun assess --interactive --results "
                                  "FILE' creates one",
                          shape="write 'assessments:' with dated results (docs/assess.md)",
                          deep="nested too deeply to be a results file")


def _at(data: Any, key: Any, where: str) -> str:
    locs = getattr(data, "locs", None)
    return str(locs[key]) if locs and key in locs else where


def _item_loc(items: Any, index: int, where: str) -> str:
    locs = getattr(items, "locs", None)
    return str(locs[index]) if locs and index < len(locs) else f"{where}: assessment {index + 1}"


def _assessment(kb: KnowledgeBase, item: Any, where: str) -> Assessment:
    if not isinstance(item, Mapping):
        raise AssessmentError(f"{where}: an assessment must be a mapping with 'date' and "
                              "'results'", suggestion="write '- date: 2026-11-21' then "
                                                      "'results:' under it")
    for key in item:
        if key not in ("date", "results", "skipped", "findings"):
            raise AssessmentError(f"{_at(item, key, where)}: unknown field '{_short(key)}'",
                                  suggestion="an assessment has 'date', 'results' and "
                                             "optionally 'skipped'")
    date = parse_date(item.get("date"), _at(item, "date", where))
    results = item.get("results") or {}
    if not isinstance(results, Mapping):
        raise AssessmentError(f"{_at(item, 'results', where)}: 'results' must map each test to "
                              "its left and right result",
                              suggestion="write 'heel-raise-test: {left: 14, right: 20}'")
    parsed: list[FieldResult] = []
    for name, pair in results.items():
        at = _at(results, name, where)
        test = find_test(kb, str(name), context=at)
        if any(r.test == test.id for r in parsed):
            raise AssessmentError(f"{at}: {test.id} is given twice in one assessment",
                                  suggestion="keep one result per test and day")
        parsed.append(_pair(test, pair, at))
    skipped = item.get("skipped") or []
    if not isinstance(skipped, list):
        raise AssessmentError(f"{_at(item, 'skipped', where)}: 'skipped' must be a list of "
                              "tests", suggestion="write 'skipped: [single-leg-hop-test]'")
    skipped_ids = tuple(find_test(kb, str(s), context=_at(item, "skipped", where)).id
                        for s in skipped)
    return Assessment(date, tuple(parsed), skipped_ids)


FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)


def parse_date(raw: Any, where: str) -> dt.date:
    """A day of testing (YYYY-MM-DD, from 1900 to 2199); AssessmentError naming `where`."""
    day: dt.date | None = None
    if isinstance(raw, dt.datetime):
        day = raw.date()
    elif isinstance(raw, dt.date):
        day = raw
    elif isinstance(raw, str) and raw.strip().isascii():
        with contextlib.suppress(ValueError):
            day = dt.date.fromisoformat(raw.strip())
    if day is not None:
        if not FIRST_DATE <= day <= LAST_DATE:
            raise AssessmentError(f"{where}: {day.isoformat()} is not a day of testing (from "
                                  f"{FIRST_DATE.year} to {LAST_DATE.year})",
                                  suggestion="give the day of the tests, e.g. 2026-11-21")
        return day
    shown_raw = "no date" if raw is None else f"'{_short(raw)}'"
    raise AssessmentError(f"{where}: {shown_raw} is not a date as YYYY-MM-DD",
                          suggestion="give the day of the tests, e.g. 'date: 2026-11-21'")


def _pair(test: FieldTest, pair: Any, where: str) -> FieldResult:
    if isinstance(pair, str):
        parts = [p.strip() for p in pair.split(",")]
        if len(parts) == 2 and all(parts):
            return FieldResult(test.id, parse_value(test, parts[0], "left", where),
                              parse_value(test, parts[1], "right", where))
    if isinstance(pair, list) and len(pair) == 2 and test.unit != "faults":
        return FieldResult(test.id, parse_value(test, pair[0], "left", where),
                          parse_value(test, pair[1], "right", where))
    if isinstance(pair, Mapping):
        extra = [k for k in pair if k not in SIDES]
        if extra:
            raise AssessmentError(f"{where}: {test.id}: unknown side '{_short(extra[0])}'",
                                  suggestion="give 'left' and 'right'")
        values = {side: None if pair.get(side) is None
                  else parse_value(test, pair[side], side, where) for side in SIDES}
        return FieldResult(test.id, values["left"], values["right"])
    raise AssessmentError(f"{where}: {test.id}: give the left and the right result",
                          suggestion=f"write '{test.id}: {{left: ..., right: ...}}'")


def results_document(assessments: Iterable[Assessment]) -> dict[str, Any]:
    """What a results file holds (oldest first)."""
    return {"assessments": [a.to_dict() for a in sorted(assessments, key=lambda a: a.date)]}


def write_results(path: str | Path, assessments: Iterable[Assessment]) -> None:
    """Write a results file (JSON for a .json path, else YAML) in one step: a reader, or a
    process ended half way, sees the old file or the new one, never half of one."""
    import yaml

    file = Path(path)
    if file.is_symlink():
        file = file.resolve()      # write the file the link points to, keep the link
    document = results_document(assessments)
    if file.suffix.lower() == ".json":
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        for item in document["assessments"]:   # YAML writes a date as a date, unquoted
            item["date"] = dt.date.fromisoformat(item["date"])
        text = ("# kbrun assess results: one entry per day of testing (docs/assess.md)\n"
                + yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    folder = file.parent if str(file.parent) else Path(".")
    try:
        mode = file.stat().st_mode & 0o777 if file.exists() else 0o666 & ~_umask()
        handle, temporary = tempfile.mkstemp(prefix=f".{file.name}.", dir=folder)
    except OSError as err:
        raise AssessmentError(f"cannot write results file '{path}': "
                              f"{err.strerror or err}",
                              suggestion="save it in a folder you may write to") from err
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on a results file while it is read, changed and written, so
    that two kbrun processes saving to it at once both keep their results (a lock file beside
    it; none where the system has no flock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    file = Path(path)
    if file.is_symlink():
        file = file.resolve()
    lock = file.parent / f".{file.name}.lock"
    try:
        handle = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise AssessmentError(f"cannot write results file '{path}': {err.strerror or err}",
                              suggestion="save it in a folder you may write to") from err
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def save_assessment(kb: KnowledgeBase, path: str | Path, assessment: Assessment,
                    *, replace_day: bool = False) -> list[Assessment]:
    """Add `assessment` to the results file at `path` (created if missing) under its lock,
    reading the file afresh: its results join those of the same day (`replace_day`: they
    replace that day's assessment). Returns every assessment the file now holds."""
    with locked(path):
        earlier = read_results(kb, path) if Path(path).exists() else []
        if replace_day:
            merged = sorted([a for a in earlier if a.date != assessment.date] + [assessment],
                            key=lambda a: a.date)
        else:
            merged = merge(earlier, assessment)
        write_results(path, merged)
    return merged


# -- findings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """One test of an assessment read against its norm and its imbalance threshold."""

    test: str
    name: str
    unit: TestUnit
    left: Value
    right: Value
    norm: float | None
    below_norm: tuple[float | None, float | None]   # per side: the fraction past the norm
    gap: float            # weaker behind stronger: a fraction (faults: the difference)
    weaker: Side | None   # the side past the imbalance threshold, if any
    summary: str
    date: dt.date | None = None   # the day of the result

    def to_dict(self, kb: KnowledgeBase) -> contract.AssessmentReading:
        test = kb.tests[self.test]
        return {"test": self.test, "name": self.name, "unit": self.unit,
                "left": score(self.left), "right": score(self.right),
                "faults": {"left": list(self.left), "right": list(self.right)}
                if isinstance(self.left, tuple) and isinstance(self.right, tuple) else None,
                "norm": self.norm,
                "left_vs_norm_percent": _pct(self.below_norm[0], test.unit == "faults"),
                "right_vs_norm_percent": _pct(self.below_norm[1], test.unit == "faults"),
                "gap_percent": None if test.unit == "faults" else round(self.gap * 100, 1),
                "gap_faults": int(self.gap) if test.unit == "faults" else None,
                "summary": self.summary,
                "date": self.date.isoformat() if self.date else None}


def _pct(past: float | None, faults: bool) -> float | None:
    """A side against the norm: per cent of it (below: negative), or faults past it."""
    if past is None:
        return None
    return (round(past, 1) if faults else round(-past * 100, 1)) + 0.0   # never -0.0


@dataclass(frozen=True)
class Finding:
    """A weakness (a side or both below the test's norm) or an imbalance (one side past the
    threshold behind the other), with the muscles it points to and how sure it is."""

    kind: FindingKind
    test: str
    side: Side | Literal["both"]
    muscles: tuple[str, ...]
    certainty: float
    date: dt.date
    result: str           # the figures, as the explanation quotes them
    summary: str          # one line for the runner
    sources: tuple[str, ...]

    def to_dict(self) -> contract.AssessmentFinding:
        return {"kind": self.kind, "test": self.test, "side": self.side,
                "muscles": list(self.muscles), "certainty": round(self.certainty, 3),
                "date": self.date.isoformat(), "result": self.result, "summary": self.summary,
                "sources": list(self.sources)}


def read_test(test: FieldTest, result: FieldResult, date: dt.date
              ) -> tuple[Reading, list[Finding]]:
    """One complete result read against the test: its reading and its findings."""
    assert result.left is not None and result.right is not None
    left, right = score(result.left), score(result.right)
    higher = test.higher_is_better
    norm = test.norm.value if test.norm else None
    below: list[float | None] = []
    for value in (left, right):
        if norm is None:
            below.append(None)
        elif higher:
            below.append((norm - value) / norm if norm else 0.0)
        else:
            below.append(value - norm)  # faults past the norm
    if higher:
        stronger, weaker_value = max(left, right), min(left, right)
        gap = (stronger - weaker_value) / stronger if stronger else 0.0
        past = gap * 100 > (test.imbalance.percent or 0)
        weaker: Side | None = ("left" if left < right else "right") if past else None
    else:
        gap = abs(left - right)
        past = gap >= (test.imbalance.faults or 0)
        weaker = ("left" if left > right else "right") if past else None
    figures = (f"{test.id} on {date.isoformat()}: left {shown(test, result.left)}, right "
               f"{shown(test, result.right)}")
    if norm is not None:
        figures += f" (norm {'at least' if higher else 'at most'} {norm:g})"
    findings: list[Finding] = []
    weak = [side for side, past_norm in zip(SIDES, below, strict=True)
            if past_norm is not None and past_norm > 0]
    if weak and test.norm is not None:
        certainty = max(_certainty(test, below[SIDES.index(side)] or 0.0, test.norm.full_at,
                                   higher) for side in weak)
        side: Side | Literal["both"] = "both" if len(weak) == 2 else weak[0]
        muscles = _muscles(test, [result.side(s) for s in weak])
        findings.append(Finding(
            "weak-muscle", test.id, side, muscles, certainty, date, figures,
            _weak_summary(test, result, weak, below), _ids(test.norm.sources)))
    if weaker is not None:
        threshold = test.imbalance.percent if higher else test.imbalance.faults
        certainty = test.reliability * min(1.0, (gap * 100 if higher else gap)
                                           / (2 * float(threshold or 1)))
        behind = (f"{gap * 100:.0f} % behind the {_other(weaker)} (an imbalance past "
                  f"{threshold:g} %)" if higher else
                  f"{_count(gap)} more than the {_other(weaker)} (an imbalance at "
                  f"{_count(threshold or 0)} or more)")
        gap_text = (f"{weaker} {gap * 100:.0f} % behind, an imbalance past {threshold:g} %"
                    if higher else f"{weaker} {_count(gap)} more, an imbalance at {threshold}")
        raw = (f"{test.id} on {date.isoformat()}: left {shown(test, result.left)}, right "
               f"{shown(test, result.right)} ({gap_text})")
        findings.append(Finding(
            "imbalance", test.id, weaker, _muscles(test, [result.side(weaker)]), certainty,
            date, raw, f"{test.name}: the {weaker} side is {behind}",
            _ids(test.imbalance.sources)))
    summary = _reading_summary(test, result, below, gap, weaker)
    return (Reading(test.id, test.name, test.unit, result.left, result.right, norm,
                    (below[0], below[1]), gap, weaker, summary, date), findings)


def _certainty(test: FieldTest, past: float, full_at: float, higher: bool) -> float:
    """How sure a weakness is: the test's reliability times how far past the norm the result
    is, as a share of `full_at` (a fraction of the norm for a score, faults for faults)."""
    distance = past * (test.norm.value if test.norm and higher else 1.0)
    return test.reliability * min(1.0, distance / full_at)


def _muscles(test: FieldTest, values: Sequence[Value | None]) -> tuple[str, ...]:
    """The muscles a result points to: a quality test's faults name theirs, else the test's."""
    faults = {f.id: f for f in test.faults}
    named = [fid for value in values if isinstance(value, tuple) for fid in value]
    if test.unit == "faults" and named:
        return tuple(dict.fromkeys(m for fid in named for m in faults[fid].muscles))
    return tuple(test.muscles)


def _percent(gap: float, test: FieldTest) -> str:
    """A gap in per cent, whole unless rounding would land it on the threshold."""
    whole = f"{gap * 100:.0f}"
    return f"{gap * 100:.1f}" if float(whole) == test.imbalance.percent else whole


def _count(faults: float) -> str:
    return f"{faults:g} fault{'s' if faults != 1 else ''}"


def _other(side: Side) -> Side:
    return "right" if side == "left" else "left"


def _weak_summary(test: FieldTest, result: FieldResult, weak: list[Side],
                  below: list[float | None]) -> str:
    assert test.norm is not None
    parts = []
    for side in weak:
        value = result.side(side)
        assert value is not None
        past = below[SIDES.index(side)] or 0.0
        if test.higher_is_better:
            parts.append(f"{side} {shown(test, value)}, {past * 100:.0f} % below the norm of "
                         f"{test.norm.value:g}")
        else:
            parts.append(f"{side} {shown(test, value)}")
    where = "both sides" if len(weak) == 2 else f"the {weak[0]} side"
    if test.higher_is_better:
        return f"{test.name}: {where} below the norm ({'; '.join(parts)})"
    limit = "none" if test.norm.value == 0 else f"at most {_count(test.norm.value)}"
    return f"{test.name}: {where} with more faults than the norm ({limit}): {'; '.join(parts)}"


def _reading_summary(test: FieldTest, result: FieldResult, below: list[float | None],
                     gap: float, weaker: Side | None) -> str:
    assert result.left is not None and result.right is not None
    text = f"left {shown(test, result.left)}, right {shown(test, result.right)}"
    if test.norm is not None:
        weak = [s for s, b in zip(SIDES, below, strict=True) if b is not None and b > 0]
        if test.higher_is_better:
            text += (f"; norm {test.norm.value:g}: "
                     + ("both below" if len(weak) == 2 else f"{weak[0]} below" if weak
                        else "both within"))
        else:
            limit = "none" if test.norm.value == 0 else f"at most {_count(test.norm.value)}"
            text += (f"; norm {limit}: "
                     + ("both past it" if len(weak) == 2 else f"{weak[0]} past it" if weak
                        else "both within"))
    else:
        text += "; no norm (read by symmetry)"
    if test.higher_is_better:
        text += f"; gap {_percent(gap, test)} % (imbalance past {test.imbalance.percent:g} %)"
    else:
        text += (f"; {_count(gap)} apart (imbalance at {_count(test.imbalance.faults or 0)} "
                 "or more)")
    if weaker is not None:
        text += f": {weaker} weaker"
    return text


def _ids(refs: Iterable[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ref.id for ref in refs))


# -- trends and re-tests -------------------------------------------------------------------------

@dataclass(frozen=True)
class Trend:
    """One test across the dated assessments that hold it: its figures and where it is going."""

    test: str
    points: tuple[tuple[dt.date, Value, Value], ...]
    status: TrendStatus
    summary: str

    def to_dict(self) -> contract.AssessmentTrend:
        return {"test": self.test, "status": self.status, "summary": self.summary,
                "points": [{"date": d.isoformat(), "left": score(left), "right": score(right)}
                           for d, left, right in self.points]}


def trend_of(test: FieldTest, points: Sequence[tuple[dt.date, Value, Value]]) -> Trend:
    """The trend of a test: `first` with one result; else the last result against the one
    before, judged on the weaker side and the gap (docs/assess.md: trends)."""
    first_date = points[0][0]
    _date, left1, right1 = points[-1]
    unit = UNIT_WORD[test.unit]
    figures = (f"left {' -> '.join(f'{score(p[1]):g}' for p in points)}, right "
               f"{' -> '.join(f'{score(p[2]):g}' for p in points)} {unit}")
    if len(points) == 1:
        return Trend(test.id, tuple(points), "first", f"first result on "
                     f"{first_date.isoformat()}: {figures}")
    _d, prev_left, prev_right = points[-2]
    status = _status(test, (score(prev_left), score(prev_right)), (score(left1), score(right1)))
    return Trend(test.id, tuple(points), status, f"{figures}: {status}")


def _status(test: FieldTest, before: tuple[float, float], now: tuple[float, float]
            ) -> TrendStatus:
    if not test.higher_is_better:
        if max(now) < max(before) or (max(now) == max(before) and sum(now) < sum(before)):
            return "better"
        if max(now) > max(before) or (max(now) == max(before) and sum(now) > sum(before)):
            return "worse"
        return "steady"
    band = (test.imbalance.percent or 10) / 100
    weak_before, weak_now = min(before), min(now)
    change = (weak_now - weak_before) / weak_before if weak_before else (1.0 if weak_now else 0)
    gap_before = (max(before) - weak_before) / max(before) if max(before) else 0.0
    gap_now = (max(now) - weak_now) / max(now) if max(now) else 0.0
    fell = any(b and (n - b) / b < -band for b, n in zip(before, now, strict=True))
    if fell or change < -band:
        return "worse"        # a side that lost ground is news, whatever the other did
    if change > band:
        return "better"
    if gap_before - gap_now > band / 2:
        return "better"
    if gap_now - gap_before > band / 2:
        return "worse"
    return "steady"


@dataclass(frozen=True)
class Retest:
    """When to do a test again, and why then."""

    test: str
    name: str
    due: dt.date
    reason: str
    last: dt.date | None = None      # when it was last done (None: not yet)

    def to_dict(self) -> contract.AssessmentRetest:
        return {"test": self.test, "name": self.name, "due": self.due.isoformat(),
                "reason": self.reason, "last": self.last.isoformat() if self.last else None}


# -- the report ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AssessmentReport:
    """What a runner's dated assessments say: the latest one's readings and findings, each
    test's trend, when to re-test, and what is missing."""

    assessments: tuple[Assessment, ...]
    date: dt.date | None                       # the latest assessment with a complete result
    readings: tuple[Reading, ...]
    findings: tuple[Finding, ...]
    trends: tuple[Trend, ...]
    retests: tuple[Retest, ...]
    incomplete: tuple[str, ...]                # tests of the latest assessment not finished
    warnings: tuple[str, ...] = ()
    origin: str = field(default="", compare=False)   # where the results came from
    # red flags a result raised (a test's alarm): red flag id -> the result that raised it
    red_flags: tuple[tuple[str, str], ...] = ()

    def to_dict(self, kb: KnowledgeBase) -> contract.AssessmentReportDict:
        return {"date": self.date.isoformat() if self.date else None,
                "readings": [r.to_dict(kb) for r in self.readings],
                "findings": [f.to_dict() for f in self.findings],
                "trends": [t.to_dict() for t in self.trends],
                "retests": [r.to_dict() for r in self.retests],
                "incomplete": list(self.incomplete),
                "warnings": list(self.warnings),
                "red_flags": [flag for flag, _why in self.red_flags],
                "assessments": [a.to_dict() for a in self.assessments]}

    def summary_dict(self) -> contract.ProfileAssessment:
        """What a profile shows of it (advise, plan)."""
        return {"date": self.date.isoformat() if self.date else None, "file": self.origin,
                "findings": [f.to_dict() for f in self.findings],
                "retests": [r.to_dict() for r in self.retests]}


def evaluate(kb: KnowledgeBase, assessments: Sequence[Assessment], *,
             today: dt.date | None = None, origin: str = "") -> AssessmentReport:
    """Read the assessments: each test's latest complete result gives its reading and
    findings (a re-test of one test leaves the others' findings standing); every result gives
    the trends; the findings and dates give the re-tests. `today` (default: the latest
    assessment's date) only decides which re-tests are overdue."""
    ordered = sorted(assessments, key=lambda a: a.date)
    done = [a for a in ordered if any(r.complete for r in a.results)]
    latest = done[-1] if done else None
    readings: list[Reading] = []
    findings: list[Finding] = []
    trends: list[Trend] = []
    flags: list[tuple[str, str]] = []
    for test_id, test in kb.tests.items():
        points: list[tuple[dt.date, Value, Value]] = [
            (a.date, r.left, r.right) for a in ordered
            if (r := a.result(test_id)) is not None and r.left is not None
            and r.right is not None]
        if not points:
            continue
        day, left, right = points[-1]
        reading, found = read_test(test, FieldResult(test_id, left, right), day)
        alarm = _alarm(test, score(left), score(right))
        if alarm is not None and test.alarm is not None:
            low = shown(test, left if alarm == "left" else right)
            why = f"{test.id} on {day.isoformat()}: {alarm} {low} - {test.alarm.note}"
            flags.append((test.alarm.red_flag, why))
        readings.append(reading)
        findings.extend(found)
        trends.append(trend_of(test, points))
    last = ordered[-1] if ordered else None
    # tests with no result yet (and not skipped the last time), or begun and not finished
    have = {reading.test for reading in readings}
    incomplete = tuple(t for t in kb.tests if last is not None and (
        (t not in have and t not in last.skipped)
        or ((r := last.result(t)) is not None and not r.complete)))
    retests = _retests(kb, ordered, findings, latest)
    warnings: list[str] = [f"red flag {flag}: {why}" for flag, why in flags]
    today = today or (latest.date if latest else None)
    overdue = [r for r in retests if today is not None and r.due < today and r.last]
    if latest is not None and overdue:
        warnings.append(", ".join(f"{r.test} (last done {r.last.isoformat() if r.last else '-'})"
                                  for r in overdue) + " due for a re-test")
    if latest is not None and today is not None and latest.date > today:
        warnings.append(f"the latest assessment is dated {latest.date.isoformat()}, after "
                        f"today ({today.isoformat()}); check its date")
    return AssessmentReport(tuple(ordered), latest.date if latest else None, tuple(readings),
                            tuple(findings), tuple(trends), tuple(retests), incomplete,
                            tuple(warnings), origin, tuple(flags))


NOT_TESTED = "not tested yet"


def _alarm(test: FieldTest, left: float, right: float) -> Side | None:
    """The side whose result is a red flag (a test's alarm): at or below `at_most` while the
    other side is above it."""
    if test.alarm is None:
        return None
    low = test.alarm.at_most
    if left <= low < right:
        return "left"
    if right <= low < left:
        return "right"
    return None


def _retests(kb: KnowledgeBase, ordered: Sequence[Assessment], findings: Sequence[Finding],
             latest: Assessment | None) -> list[Retest]:
    if latest is None:
        return []
    found = {f.test for f in findings}
    retests = []
    for test_id, test in kb.tests.items():
        dates = [a.date for a in ordered
                 if (r := a.result(test_id)) is not None and r.complete]
        if not dates:
            retests.append(Retest(test_id, test.name, latest.date, NOT_TESTED))
        elif test_id in found:
            retests.append(Retest(test_id, test.name,
                                  dates[-1] + dt.timedelta(weeks=test.retest_weeks),
                                  f"{test.retest_weeks} weeks after a finding: is the work "
                                  "closing it?", dates[-1]))
        else:
            retests.append(Retest(test_id, test.name,
                                  dates[-1] + dt.timedelta(weeks=test.routine_weeks),
                                  f"routine check every {test.routine_weeks} weeks",
                                  dates[-1]))
    return sorted(retests, key=lambda r: (r.due, r.test))


def assess_files(kb: KnowledgeBase, path: str | Path, *, today: dt.date | None = None
                 ) -> AssessmentReport:
    """The report of a results file (the `--assessment FILE` of advise and plan)."""
    assessments = read_results(kb, path)
    report = evaluate(kb, assessments, today=today, origin=str(path))
    if report.date is None:
        raise AssessmentError(f"{path}: no test has both a left and a right result",
                              suggestion="finish the assessment first: kbrun assess "
                                         f"--interactive --results {path}")
    return report


def merge(assessments: Sequence[Assessment], added: Assessment) -> list[Assessment]:
    """The assessments with `added` in: its results replace those of the same tests on the
    same day; other days are kept as they are (oldest first)."""
    merged = []
    joined = added
    for assessment in assessments:
        if assessment.date != added.date:
            merged.append(assessment)
            continue
        joined = assessment
        for result in added.results:
            joined = joined.with_result(result)
    merged.append(joined)
    return sorted(merged, key=lambda a: a.date)
