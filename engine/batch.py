"""Batch consultations: one JSON profile per line in, one JSON result per line out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kbrun.engine.errors import KbrunError

if TYPE_CHECKING:
    from kbrun.engine.knowledge import KnowledgeBase


def advise_lines(kb: KnowledgeBase, lines: Iterable[str], *, trace: bool = False
                 ) -> Iterator[dict[str, Any]]:
    """Advise on each line (a JSON object with the `--profile` fields), in order.

    Yields, for every non-blank line, either the advice (the `advise --format json` object)
    with `"line": N` added, or `{"line": N, "error": "..."}` for a line that is not a valid
    profile; one bad line never stops the rest. The knowledge base and its compiled rules are
    shared by all lines.
    """
    from kbrun.engine import advise
    from kbrun.engine.profile import profile_from_mapping

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            yield {"line": number, "error": f"line {number}: invalid JSON: {err.msg} "
                                            f"(column {err.colno})"}
            continue
        except RecursionError:
            yield {"line": number, "error": f"line {number}: JSON nested too deeply to be a "
                                            "profile"}
            continue
        try:
            profile = profile_from_mapping(kb, data, where=f"line {number}")
        except KbrunError as err:
            yield {"line": number, "error": str(err)}
            continue
        yield {"line": number, **advise(profile, kb).to_dict(trace=trace)}
