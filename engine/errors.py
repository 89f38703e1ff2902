"""The one exception tree of kbrun: every error a person can cause, with where and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """A place in a knowledge-base or profile file (line is 1-based; 0 when unknown)."""

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


def closest(value: object, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to `n` candidates that look most like `value`, best first."""
    pool = sorted(set(candidates))
    text = str(value)
    # transposed letters ('=>' for '>=', 'gluteus-mdeius') first, then difflib's ranking
    found = [c for c in pool if sorted(c) == sorted(text) and c != text]
    found += [c for c in difflib.get_close_matches(text, pool, n=n, cutoff=0.6) if c not in found]
    found = found[:n]
    if not found:
        # A prefix or substring match catches abbreviations such as 'glute' or 'calf'.
        found = [c for c in pool if text and (c.startswith(text) or text in c)][:n]
    return found


def did_you_mean(value: object, candidates: Iterable[str]) -> str | None:
    """A `did you mean 'x'?` hint, or None when nothing is close."""
    found = closest(value, candidates)
    if not found:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in found) + "?"


class KbrunError(Exception):
    """Base class of every error caused by input (exit code 2 in the CLI)."""

    # A bad profile value names the command-line option it came through ('--phase') and keeps
    # the message without its "invalid value for '--phase'" prefix, so that a value written in
    # a profile file can be reported under its field instead.
    option: str | None = None
    detail: str | None = None

    def __init__(self, message: str, *, loc: Loc | None = None, suggestion: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.suggestion = suggestion

    def __str__(self) -> str:
        text = f"{self.loc}: {self.message}" if self.loc else self.message
        if self.suggestion:
            text += f"; {self.suggestion}"
        return text


class KbError(KbrunError):
    """Something wrong in a knowledge-base folder."""


class KbSyntaxError(KbError):
    """A file that is not readable YAML of the expected shape."""


class KbSchemaError(KbError):
    """An entry with a missing, unknown or mistyped field."""


class UnknownId(KbrunError):
    """A reference to an id that does not exist (in a file, a rule or on the command line)."""

    def __init__(self, kind: str, value: object, candidates: Iterable[str], *,
                 loc: Loc | None = None, context: str = ""):
        where = f" in {context}" if context else ""
        super().__init__(f"unknown {kind} '{value}'{where}", loc=loc,
                         suggestion=did_you_mean(value, candidates))
        self.kind = kind
        self.value = value


class DuplicateId(KbError):
    """The same id defined twice where only one definition is allowed."""


class RuleError(KbError):
    """A rule that cannot be compiled."""


class ProfileError(KbrunError):
    """A runner profile (options or a profile file) that cannot be used."""


class DatasetError(KbrunError):
    """An exercise dataset to import, or the folder to import it into, that cannot be used."""
