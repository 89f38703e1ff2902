"""Shared fixtures: the built-in knowledge base (loaded once) and the small test ones; and
`validated`, which checks a JSON output against the shipped JSON Schema of its contract."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

# Tests use (and so exercise) the knowledge-base cache, in a folder of their own.
os.environ.setdefault("KBRUN_CACHE_DIR", tempfile.mkdtemp(prefix="kbrun-test-cache-"))

from kbrun.engine import load_kb
from kbrun.engine.contract import OUTPUTS, file_name

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def kb():
    """The built-in knowledge base."""
    return load_kb()


@pytest.fixture(scope="session")
def mini():
    """tests/data/mini: two muscles, four exercises, one injury, four rules."""
    return load_kb([DATA / "mini"], builtin=False)


def mini_with(*layers: str, **kwargs):
    """tests/data/mini with folders from tests/data/rules/ layered over it."""
    return load_kb([DATA / "mini", *(DATA / "rules" / name for name in layers)], builtin=False,
                   **kwargs)


# -- the JSON contract (engine/contract.py, docs/schema/) -----------------------------------------

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schema"


@functools.cache
def schema_validator(kind: str) -> Draft202012Validator:
    """The validator of the schema shipped for output `kind` (a key of contract.OUTPUTS), read
    from docs/schema/ (tests/test_contract.py keeps those files equal to the generated ones)."""
    schema = json.loads((SCHEMAS / file_name(kind)).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(kind: str, data: Any) -> list[str]:
    """Every way `data` breaks the shipped schema of `kind`, each as `path: message`; where a
    value matches none of several shapes (a nullable object, a batch line), the closest
    shape's complaint."""
    return sorted(_described(error) for error in schema_validator(kind).iter_errors(data))


def _described(error: ValidationError) -> str:
    error = best_match([error])                 # into the shape that fits best, if one does
    path = "/".join(map(str, error.absolute_path)) or "(top)"
    if error.context:                           # no shape fits better than another: each says
        shapes: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            shapes.setdefault(sub.relative_schema_path[0], []).append(sub)
        return f"{path}: fits none of its shapes: " + " | ".join(
            _described(best_match(subs)) for subs in shapes.values())
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return f"{path}: {message}"


def validated(kind: str, data: Any) -> Any:
    """`data`, after checking it against the shipped JSON Schema of output `kind`: JSON text
    is parsed first; a value (a `to_dict()` result) is checked as JSON would carry it.

    Returns the parsed text, or the value itself, so a test reads
    `data = validated("advise", result.stdout)`. Raises AssertionError naming every violation.
    """
    value = json.loads(data) if isinstance(data, str) else data
    problems = schema_errors(kind, json.loads(json.dumps(value)))
    assert not problems, (f"{len(problems)} violation(s) of the {kind} contract "
                          f"(docs/schema/{file_name(kind)}):\n" + "\n".join(problems[:20]))
    return value


def output_kind(args: Sequence[str]) -> str | None:
    """The contract kind of what `kbrun ARGS` prints on stdout, or None if it is not JSON of
    the contract (text, Markdown, or `kb graph`'s networkx node-link export)."""
    words = [a for a in args if not a.startswith("-")]
    if "advise" in args[:1] and "--batch" in args:
        return "advise-batch-line"
    formats = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--format", "-f")]
    formats += [a.split("=", 1)[1] for a in args if a.startswith("--format=")]
    if formats[-1:] != ["json"] or not words:
        return None
    if words[0] == "kb":
        kind = f"kb-{words[1]}" if len(words) > 1 else None
        return kind if kind in OUTPUTS else None
    return words[0] if words[0] in OUTPUTS else None


def validated_output(args: Sequence[str], stdout: str) -> Any:
    """What `kbrun ARGS` printed, parsed and checked against its contract: one value, or a
    list of the lines of a batch. Raises AssertionError if ARGS print no contract JSON."""
    kind = output_kind(args)
    assert kind is not None, f"`kbrun {' '.join(args)}` prints no JSON of the contract"
    if kind == "advise-batch-line":
        return [validated(kind, line) for line in stdout.splitlines() if line.strip()]
    return validated(kind, stdout)
