"""Rendering engine results as text (rich), JSON and Markdown. No reasoning happens here.

Everything a renderer prints comes from data: the knowledge base (its YAML and any `--kb`
folder), a profile, a batch line. None of it may act on the reader's terminal or change the
structure of a Markdown note, so each value goes through one of two sanitisers on its way out:

- `terminal_text` (text output, and every `Error:` line): one line; line breaks and tabs become
  one space; any other control character (C0, DEL, C1), a bidirectional override or isolate,
  and a lone surrogate becomes a visible escape (`\\x1b`, `\\u202e`). Text output is printed by
  a rich console with markup and emoji codes off, so `[bold]` or `[/]` in a name is printed as
  written.
- `markdown_text` (Markdown output): `terminal_text`, then `&`, `<` and `>` as HTML entities
  (no raw HTML), and a backslash before every character that Markdown would read as structure
  (`\\ ` * _ [ ] | # ~` anywhere, and a list or heading marker at the start), so a name cannot
  open a link, a table cell, a heading or an emphasis. `markdown_code` puts a value in a code
  span whose fence no backtick in it can close; `_fenced` does the same for a code block.

JSON stays the exact data (json escapes C0 control characters); `json_text` also writes DEL,
C1, bidirectional controls, line separators and lone surrogates as `\\uXXXX` escapes, and every
non-ASCII character when stdout cannot encode it: the same value once parsed.

As a last net, whatever reaches stdout through `write` or the rich console has its control
characters (other than the line breaks kbrun put there itself) made visible the same way.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console
    from rich.text import Text

    from kbrun.engine.advice import Advice, Recommendation, Warning
    from kbrun.engine.assessment import AssessmentReport
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.plan import Plan, PlannedSession, PlannedWeek
    from kbrun.engine.profile import Profile


# warnings a runner must read before the session: a changed safety policy, referrals and pain
# above the limit
TOP_WARNINGS = ("safety-change", "red-flag", "pain")

# -- sanitising ----------------------------------------------------------------------------------

# Line breaks (and tabs): in a one-line value they become one space, so a name cannot start a
# line of its own (a forged warning, a Markdown heading or list item).
_BREAK = re.compile(r"[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]")
_BREAKS = re.compile(r"\s*[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]\s*")
# What must never reach a terminal raw: C0 controls (ESC starts every escape sequence, BEL ends
# an OSC title or hyperlink), DEL, C1 controls (0x9b is a one-byte CSI, 0x9d an OSC), the
# bidirectional embeddings, overrides, isolates and marks (they reorder what a line shows),
# and lone surrogates (which no encoder can write).
_UNSAFE_CHARS = (r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                 r"\ud800-\udfff")
_UNSAFE = re.compile(f"[{_UNSAFE_CHARS}]")
# the same, in a whole block of output, where its line breaks (and indenting tabs) stay
_UNSAFE_IN_BLOCK = re.compile(f"(?![\\n\\t])[{_UNSAFE_CHARS}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(value: object) -> str:
    """A value as one line of text that cannot act on a terminal (see the module doc)."""
    text = "" if value is None else str(value)
    if _BREAK.search(text):
        text = _BREAKS.sub(" ", text).strip()
    return _UNSAFE.sub(_visible, text)


def _safe_block(text: str) -> str:
    """Several lines of output with every control character but the line break made visible:
    the net under the per-value sanitisers."""
    return _UNSAFE_IN_BLOCK.sub(_visible, text)


_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# characters Markdown (CommonMark and GitHub's tables, strikethrough) reads as structure
_MD_ACTIVE = re.compile(r"[\\`*_\[\]|#~&<>]")
# at the start of a value: a list item, a heading underline or a numbered item
_MD_LEADING = re.compile(r"^(?:[-+=]|(\d+)([.)]))")


def markdown_text(value: object) -> str:
    """A value as inline Markdown that shows exactly as written (see the module doc)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(markdown_text(item) for item in value)
    text = _MD_ACTIVE.sub(lambda m: _MD_ENTITIES.get(m.group(), "\\" + m.group()),
                          terminal_text(value))
    return _MD_LEADING.sub(lambda m: (f"{m.group(1)}\\{m.group(2)}" if m.group(1)
                                      else "\\" + m.group()), text)


def markdown_code(value: object) -> str:
    """A value as a Markdown code span: a fence longer than any run of backticks inside."""
    text = terminal_text(value)
    if not text:
        return ""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(lines: Sequence[str]) -> list[str]:
    """Lines (each already one sanitised line) as a Markdown code block that none of them can
    close."""
    runs = [len(run) for line in lines for run in re.findall("`+", line)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [fence, *lines, fence]


# -- writing -------------------------------------------------------------------------------------

# Text output to a file or a pipe, with no COLUMNS: wide enough for the session table.
PIPE_WIDTH = 120
# The narrowest layout drawn: a six-column table cannot fold into less (COLUMNS=5 draws 20).
MIN_WIDTH = 20


def width() -> int:
    """The width text output is laid out to: COLUMNS when set, else the terminal's, else
    PIPE_WIDTH; never under MIN_WIDTH."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        chosen = int(columns)
    elif _isatty(sys.stdout):
        chosen = shutil.get_terminal_size((PIPE_WIDTH, 24)).columns
    else:
        chosen = PIPE_WIDTH
    return max(MIN_WIDTH, chosen)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class OutputError(Exception):
    """Writing to stdout failed: a closed stdout, a full disk, a broken pipe. Not an OSError,
    so that nothing between the write and the command line takes it for another failure."""

    def __init__(self, errno: int | None, strerror: str | None) -> None:
        super().__init__(errno, strerror)
        self.errno = errno
        self.strerror = strerror or "write error"

    def __str__(self) -> str:
        import errno as codes

        if self.errno == codes.EBADF:
            return ("cannot write the output: stdout is closed; run kbrun with stdout open "
                    "(redirect it to a file, or to /dev/null to discard it)")
        if self.errno == codes.ENOSPC:
            return ("cannot write the output: no space left on device (stdout); free some "
                    "space or send the output elsewhere")
        return (f"cannot write the output: {self.strerror.lower()} (stdout); check where "
                "stdout goes, or send the output elsewhere")


def write(text: str) -> None:
    """Print lines of text or Markdown on stdout (their control characters made visible)."""
    _put(_safe_block(text))


def _put(line: str) -> None:
    out = sys.stdout
    if out is None:  # no stdout at all (kbrun's main() gives it one that reports the error)
        import errno

        raise OutputError(errno.EBADF, "stdout is closed")
    out.write(line + "\n")
    out.flush()


def export(text: str, fmt: str) -> None:
    """An export (`kb graph`) on stdout: node-link JSON through json_text, DOT, GraphML and
    Mermaid with their control characters made visible. (A file written with --output keeps
    what the exporter wrote.)"""
    if sys.stdout is None:
        import errno

        raise OutputError(errno.EBADF, "stdout is closed")
    sys.stdout.write(json_text(text) if fmt == "json" else _safe_block(text))
    sys.stdout.flush()


def _utf_stdout() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


# in JSON text, characters outside strings are ASCII: these can only be inside strings
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
                          r"\ud800-\udfff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_text(text: str) -> str:
    """JSON text with the characters a terminal would act on (and, when stdout cannot encode
    them, every non-ASCII character) written as escapes: the same value once parsed."""
    return (_JSON_UNSAFE if _utf_stdout() else _NON_ASCII).sub(_json_escape, text)


def emit_json(data: Any) -> None:
    _put(json_text(json.dumps(data, indent=2, ensure_ascii=False)))


def console() -> Console:
    """A rich console for text output: markup, emoji codes and highlighting off (data is printed
    as written), laid out to `width()`, colour as rich decides (NO_COLOR, TERM=dumb and a
    pipe turn it off), with the control-character net under every segment it draws."""
    return _console_class()(width=width(), highlight=False, soft_wrap=False, markup=False,
                            emoji=False)


_CONSOLE: list[type] = []


def _console_class() -> Any:
    if not _CONSOLE:
        from rich.console import Console
        from rich.segment import Segment

        class SafeConsole(Console):
            def render(self, renderable: Any, options: Any = None) -> Iterable[Segment]:
                for segment in super().render(renderable, options):
                    if segment.control or not _UNSAFE_IN_BLOCK.search(segment.text):
                        yield segment
                    else:
                        yield Segment(_safe_block(segment.text), segment.style)

        _CONSOLE.append(SafeConsole)
    return _CONSOLE[0]


def _line(*parts: str | tuple[str, str]) -> Text:
    """One line of text output: each part is data (made safe by terminal_text), a (text, style)
    pair is styled."""
    from rich.text import Text

    line = Text()
    for part in parts:
        if isinstance(part, tuple):
            line.append(terminal_text(part[0]), style=part[1])
        else:
            line.append(terminal_text(part))
    return line


def _cell(*lines: object) -> str:
    """A table cell of several lines, each a value made safe."""
    return "\n".join(terminal_text(line) for line in lines)


def _plain(value: Any) -> str:
    """A listing's value as text: a list joined with commas."""
    if isinstance(value, (list, tuple)):
        return ", ".join(terminal_text(v) for v in value)
    return terminal_text(value)


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table of kbrun's own headers; every cell a value made safe by markdown_text."""
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(markdown_text(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- advice --------------------------------------------------------------------------------------

Escape = Callable[[object], str]


def _dose_cells(rec: Any) -> tuple[str, str]:
    p = rec.prescription
    rest = f", rest {p.rest_s} s" if p.rest_s else ""
    return p.summary(), f"{p.load}{rest}"


def _complaints(p: Profile, esc: Escape) -> list[str]:
    """`symptoms knee-pain`, `goals speed`, ... and `pain 4/10`: what a profile reports."""
    parts = []
    for label, values in (("symptoms", p.symptoms), ("injuries", p.injuries),
                          ("goals", p.goals), ("red flags", p.red_flags)):
        if values:
            parts.append(f"{label} {', '.join(map(esc, values))}")
    if p.pain is not None:
        parts.append(f"pain {esc(p.pain)}/10")
    return parts


def _profile_line(advice: Advice, esc: Escape = terminal_text) -> str:
    p = advice.profile
    return "; ".join([f"phase {esc(p.phase)}", f"level {esc(p.level)}", *_complaints(p, esc)])


def _findings_line(advice: Advice, kind: str, limit: int = 6) -> str:
    items = [f for f in advice.findings if f.kind == kind][:limit]
    return ", ".join(f"{f.id} ({f.certainty:.2f})" for f in items)


def _avoid_groups(result: Advice) -> list[tuple[str, list[str]]]:
    """The safety exclusions grouped by their reason: (reason, exercise names)."""
    groups: dict[str, list[str]] = {}
    for item in result.avoid:
        if item.kind == "safety":
            groups.setdefault(item.reason, []).append(item.name)
    return sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))


def _section_name(result: Advice, section_id: str) -> str:
    return next((s.name for s in result.sections if s.id == section_id), section_id)


def _extra_dose(rec: Any) -> str:
    p = rec.prescription
    parts = [p.tempo] if p.tempo else []
    if p.effort:
        parts.append(p.effort)
    if p.frequency:
        parts.append(p.frequency)
    return "; ".join(parts)


def _assessment_notes(profile: Profile, esc: Escape,
                      profile_tests: Mapping[str, Any] | None = None) -> list[str]:
    """What the runner's field tests found, one line each, and the next re-test (with its
    caution; none while a red flag stands)."""
    profile_tests = profile_tests or {}
    report = profile.assessment
    if report is None:
        return []
    when = report.date.isoformat() if report.date else "no date"
    if not report.findings:
        lines = [f"Assessment {when}: no weakness or imbalance found."]
    else:
        lines = [f"Assessment {when}: {esc(f.summary)} (certainty {f.certainty:.2f})"
                 for f in report.findings]
    tested = [r for r in report.retests if r.last is not None]
    if tested and profile.red_flags:
        lines.append("Re-test nothing until a doctor or physiotherapist has cleared the red "
                     "flag.")
    elif tested:
        first = tested[0]
        caution = getattr(profile_tests.get(first.test), "caution", None)
        lines.append(f"Re-test {esc(first.name)} by {first.due.isoformat()}"
                     + (" (due now)" if first.due <= dt.date.today() else "")
                     + (f"; {esc(caution)}" if caution else ""))
    return lines


def advice(result: Advice, kb: KnowledgeBase, fmt: str, *, trace: bool = False) -> None:
    """Print advice in the chosen format."""
    if fmt == "json":
        emit_json(result.to_dict(trace=trace))
        return
    if fmt == "markdown":
        write(advice_markdown(result, trace=trace, tests=kb.tests))
        return
    from rich.table import Table

    out = console()
    for warning in result.warnings:
        if warning.urgent:
            out.print(_line((f" {terminal_text(warning.message)} ", "bold reverse")))
        elif warning.kind in TOP_WARNINGS:
            out.print(_line((f"! {terminal_text(warning.message)}", "bold")))
    out.print(_line(("kbrun session", "bold"), " — ", _profile_line(result)))
    low, high = result.sessions_per_week
    if result.recommendations:
        out.print(f"{low}-{high} sessions a week" if low != high else f"{low} session(s) a week")
    suspected = "" if result.urgent else _findings_line(result, "injury")
    if suspected:
        out.print(_line("Suspected: ", suspected))
    if result.stage and result.recommendations:
        out.print(_line(f"Injury stage: {terminal_text(result.stage)} "
                        f"({terminal_text(result.stage_cause)})"))
    for protocol in result.protocols:
        out.print(_line("Protocol: ", protocol.name, " — ", protocol.summary, " (",
                        ", ".join(map(terminal_text, protocol.sources)), ")"))
    for line in _assessment_notes(result.profile, terminal_text, kb.tests):
        out.print(_line(line))
    protected = [f.id for f in result.findings if f.kind == "protected-region"]
    if protected:
        out.print(_line("Protected regions: ", ", ".join(map(terminal_text, protected))))
    if result.size_limit:
        out.print(_line(f"At most {result.size_limit[0]} exercises: ", result.size_limit[1]))
    table = Table(show_lines=True, header_style="bold")
    for column in ("#", "Exercise", "Sets x reps", "Load", "Why", "How"):
        table.add_column(column, overflow="fold")
    current = None
    for rec in result.recommendations:
        if rec.section != current:
            current = rec.section
            table.add_row("", _line((_section_name(result, rec.section), "bold")), "", "", "", "")
        dose, load = _dose_cells(rec)
        extra = _extra_dose(rec)
        table.add_row(str(rec.rank), _cell(rec.name), _cell(dose, *([extra] if extra else [])),
                      _cell(load), _cell(rec.reasons[0]), _cell(*(f"- {c}" for c in rec.cues)))
    if result.recommendations:
        out.print(table)
    else:
        out.print(_line(("No exercise session.", "bold"), " See the warnings."))
    if result.schedule:
        out.print(_line(("When", "bold")))
        for note in result.schedule:
            out.print(_line("  - ", note.note,
                            f" (follows {terminal_text(note.follows)})" if note.follows else ""))
    groups = [] if result.urgent else _avoid_groups(result)
    if groups:
        out.print(_line(("Avoid", "bold")))
        for reason, names in groups[:10]:
            out.print(_line("  - ", ", ".join(map(terminal_text, names)), ": ", reason))
        if len(groups) > 10:
            out.print(f"  ... and {len(groups) - 10} more reasons (--format json lists all)")
    rest = [w for w in result.warnings if not w.urgent and w.kind not in TOP_WARNINGS]
    if rest:
        out.print(_line(("Warnings", "bold")))
        for warning in rest:
            out.print(_line("  ! ", warning.kind, ": ", warning.message))
    if trace:
        from kbrun.engine.inference import trace_records

        out.print(_line(("Trace", "bold")))
        for step in trace_records(result.consultation):
            out.print(_line(f"  {step['step']:4d} ", step["rule"], ": ",
                            "; ".join(map(terminal_text, step["matched"])), " => ",
                            "; ".join(map(terminal_text, step["asserted"]))))
    out.print("Ask why: kbrun why EXERCISE (same options) · why not: kbrun why-not EXERCISE")


def advice_markdown(result: Advice, *, trace: bool = False,
                    tests: Mapping[str, Any] | None = None) -> str:
    md = markdown_text
    lines = ["# kbrun session", ""]
    for warning in result.warnings:
        if warning.urgent or warning.kind in TOP_WARNINGS:
            lines += [f"> **{md(warning.message)}**", ""]
    lines += [f"_{_profile_line(result, md)}_", ""]
    low, high = result.sessions_per_week
    if result.recommendations:
        lines.append(f"Sessions a week: {low}-{high}" if low != high
                     else f"Sessions a week: {low}")
        lines.append("")
    if result.stage and result.recommendations:
        lines += [f"Injury stage: **{md(result.stage)}** ({md(result.stage_cause)})", ""]
    for protocol in result.protocols:
        lines += [f"Protocol: **{md(protocol.name)}** — {md(protocol.summary)} "
                  f"({md(protocol.sources)})", ""]
    notes = _assessment_notes(result.profile, md, tests)
    if notes:
        lines += [*(f"- {note}" for note in notes), ""]
    if not result.recommendations:
        lines += ["**No exercise session.** See the warnings.", ""]
    for section in result.sections:
        lines += [f"## {md(section.name)}", ""]
        rows = []
        for rec in result.recommendations:
            if rec.section != section.id:
                continue
            dose, load = _dose_cells(rec)
            extra = _extra_dose(rec)
            rows.append([rec.rank, rec.name, dose + (f" ({extra})" if extra else ""), load,
                         rec.reasons[0], " / ".join(rec.cues)])
        lines += [md_table(["#", "Exercise", "Sets x reps", "Load", "Why", "How"], rows), ""]
    if result.schedule:
        lines += ["## When", ""] + [f"- {md(n.note)}" + (f" (follows {markdown_code(n.follows)})"
                                                        if n.follows else "")
                                    for n in result.schedule] + [""]
    groups = [] if result.urgent else _avoid_groups(result)
    if groups:
        lines += ["## Avoid", ""] + [f"- **{md(names)}**: {md(reason)}"
                                     for reason, names in groups] + [""]
    rest = [w for w in result.warnings if not w.urgent and w.kind not in TOP_WARNINGS]
    if rest:
        lines += ["## Warnings", ""] + [f"- **{md(w.kind)}**: {md(w.message)}" for w in rest]
    if trace:
        from kbrun.engine.inference import trace_records

        lines += ["", "## Trace", ""]
        lines += [f"{s['step']}. {markdown_code(s['rule'])}: {'; '.join(map(md, s['matched']))} "
                  f"→ {'; '.join(map(md, s['asserted']))}"
                  for s in trace_records(result.consultation)]
    return "\n".join(lines)


# -- knowledge base ------------------------------------------------------------------------------

def rows(items: Sequence[Mapping[str, Any]], fmt: str, title: str) -> None:
    """A listing of entries (each a dict with at least id and name)."""
    if fmt == "json":
        emit_json(items)
        return
    headers = [k for k in (items[0] if items else {"id": 0, "name": 0}) if k != "sources"]
    if fmt == "markdown":
        write(f"# {markdown_text(title)}\n\n" + md_table(headers, [[r.get(h) for h in headers]
                                                                 for r in items]))
        return
    from rich.table import Table

    table = Table(title=terminal_text(title), header_style="bold")
    for header in headers:
        table.add_column(terminal_text(header), overflow="fold")
    for item in items:
        table.add_row(*[_plain(item.get(h)) for h in headers])
    console().print(table)


def entry(data: Mapping[str, Any], fmt: str) -> None:
    """One knowledge-base entry with its sources and edges."""
    if fmt == "json":
        emit_json(data)
        return
    skip = {"id", "kind", "name", "sources", "edges", "defined_at"}
    attrs = [(k, json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)
             for k, v in data.items() if k not in skip]
    if fmt == "markdown":
        md = markdown_text
        lines = [f"# {md(data['name'])} ({markdown_code(data['id'])}, {md(data['kind'])})", ""]
        lines += [f"- **{md(k)}**: {md(v)}" for k, v in attrs]
        lines += ["", "## Sources", ""] + [f"- {md(s['id'])}" + (f": {md(s['title'])}"
                                                              if s.get("title") else "")
                                           for s in data["sources"]]
        lines += ["", "## Links", "", md_table(
            ["from", "relation", "to", "details", "sources"],
            [[e["from"], e["relation"], e["to"], _details(e), e["sources"]]
             for e in data["edges"]])]
        write("\n".join(lines))
        return
    out = console()
    out.print(_line((data["name"], "bold"), f" ({terminal_text(data['id'])}, "
                    f"{terminal_text(data['kind'])}) — ", data["defined_at"]))
    for key, value in attrs:
        out.print(_line(f"  {terminal_text(key)}: ", value))
    out.print(_line(("Sources", "bold")))
    for source in data["sources"]:
        out.print(_line("  - ", source["id"],
                        f": {terminal_text(source['title'])}" if source.get("title") else "",
                        f' — "{terminal_text(source["quote"])}"' if source.get("quote") else ""))
    if data["edges"]:
        out.print(_line(("Links", "bold")))
        for edge in data["edges"]:
            details = _details(edge)
            out.print(_line(f"  {terminal_text(edge['from'])} -[{terminal_text(edge['relation'])}]"
                            f"-> {terminal_text(edge['to'])}",
                            f" ({terminal_text(details)})" if details else "",
                            f"  [{_plain(edge['sources'])}]" if edge["sources"] else ""))


def _details(edge: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={edge[k]}" for k in ("role", "weight", "reason", "phases")
                     if k in edge)


def mapping(data: Mapping[str, Any], fmt: str, title: str) -> None:
    """A nested mapping such as `kb stats`."""
    if fmt == "json":
        emit_json(data)
        return
    md = fmt == "markdown"
    esc: Escape = markdown_text if md else _plain
    lines = [f"# {esc(title)}" if md else esc(title)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{'- ' if md else ''}{esc(key)}:")
            lines += [f"{'  - ' if md else '  '}{esc(k)}: {esc(v)}" for k, v in value.items()]
        else:
            lines.append(f"{'- ' if md else ''}{esc(key)}: {esc(value)}")
    write("\n".join(lines))


# -- explanations --------------------------------------------------------------------------------

def _tree_lines(node: Any, prefix: str = "", last: bool = True, top: bool = True) -> list[str]:
    t = terminal_text
    branch = "" if top else ("└─ " if last else "├─ ")
    sources = ", ".join(map(t, node.sources))
    if node.origin == "rule":
        label = f"{t(node.fact)}  ⇐ rule {t(node.rule)}: {t(node.description)} [{sources}]"
    elif node.origin == "session":
        label = f"{t(node.fact)}  ⇐ {t(node.description)}"
    else:
        cited = f" [{sources}]" if node.sources else ""
        label = f"{t(node.fact)}  ⇐ {t(node.origin)}: {t(node.description)}{cited}"
    lines = [prefix + branch + label]
    child_prefix = prefix + ("" if top else ("   " if last else "│  "))
    for index, premise in enumerate(node.premises):
        lines += _tree_lines(premise, child_prefix, index == len(node.premises) - 1, False)
    return lines


def why(answer: Any, fmt: str) -> None:
    """`kbrun why`: the derivation tree, the score, the dose and the ranking."""
    if fmt == "json":
        emit_json(answer.to_dict())
        return
    md = fmt == "markdown"
    esc: Escape = markdown_text if md else terminal_text
    name, exercise = esc(answer.name), esc(answer.exercise)
    lines = [f"# Why {name} ({exercise})" if md else f"Why {name} ({exercise})?"]
    first, last = _explanation_warnings(answer.warnings, md)
    lines += first
    if not answer.recommended:
        lines.append(esc(answer.note))
        write("\n".join(lines + last))
        return
    lines += ["", "## Derivation" if md else "Derivation:", ""]
    tree = _tree_lines(answer.derivation)
    lines += _fenced(tree) if md else tree
    lines += ["", "## Score" if md else "Score:"]
    for item in answer.contributions:
        lines.append(f"- {item['weight']:.3g}  {esc(item['reason'])}  "
                     f"({', '.join(map(esc, item['rules']))})")
    lines.append(esc(answer.combination))
    if answer.dose:
        lines += ["", "## Dose" if md else "Dose:"]
        for step in answer.dose:
            changes = ", ".join(f"{k}={v}" for k, v in step["changes"].items()) or "no change"
            follows = f"; follows {step['follows']}" if step["follows"] else ""
            lines.append(f"- rule {esc(step['rule'])} (priority {esc(step['priority'])}): "
                         f"{esc(changes)}{esc(follows)} [{', '.join(map(esc, step['sources']))}]")
    lines += ["", "## Rank" if md else "Rank:", esc(answer.ranking)]
    write("\n".join(lines + last))


def _explanation_warnings(warnings: Any, md: bool) -> tuple[list[str], list[str]]:
    """The lines an explanation opens with (a changed safety policy) and ends with (the
    disclaimer), as advice shows them."""
    esc: Escape = markdown_text if md else terminal_text
    first = [(f"> **{esc(w.message)}**" if md else f"! {esc(w.message)}")
             for w in warnings if w.kind in TOP_WARNINGS]
    last = [(f"_{esc(w.message)}_" if md else esc(w.message))
            for w in warnings if w.kind not in TOP_WARNINGS]
    return first, (["", *last] if last else [])


def why_not(answer: Any, fmt: str) -> None:
    """`kbrun why-not`: the case that holds, its reasons, and the change that would help."""
    if fmt == "json":
        emit_json(answer.to_dict())
        return
    md = fmt == "markdown"
    esc: Escape = markdown_text if md else terminal_text
    titles = {"recommended": "it is recommended", "excluded": "a rule excluded it",
              "not-a-candidate": "nothing linked it to this profile",
              "ranked-out": "it ranked out of the session"}
    name, exercise = esc(answer.name), esc(answer.exercise)
    first, last = _explanation_warnings(answer.warnings, md)
    lines = [(f"# Why not {name} ({exercise})" if md else f"Why not {name} ({exercise})?"),
             *first, f"{'**' if md else ''}{titles[answer.case]}{'**' if md else ''}"]
    for reason in answer.reasons:
        line = f"- {esc(reason['message'])}"
        if reason.get("rule"):
            line += (f" (rule {esc(reason['rule'])}: {esc(reason['description'])} "
                     f"[{', '.join(map(esc, reason['sources']))}])")
        lines.append(line)
        if reason.get("facts"):
            lines.append("  triggered by: " + "; ".join(map(esc, reason["facts"])))
    if answer.change:
        lines.append(f"It would be in the session with {esc(answer.change['option'])} (rank "
                     f"{esc(answer.change['rank'])}, score {answer.change['score']:.4f}).")
    elif answer.tried:
        lines.append("No single change brings it in (tried: "
                     + ", ".join(map(esc, answer.tried)) + ").")
    write("\n".join(lines + last))


# -- import --------------------------------------------------------------------------------------

def import_report(report: Any, fmt: str) -> None:
    """`kbrun kb import`: what was written, linked and skipped, and how to use the folder."""
    if fmt == "json":
        emit_json(report.to_dict())
        return
    md = fmt == "markdown"
    esc: Escape = markdown_text if md else terminal_text
    bullet = "- " if md else "  "
    commit = f", commit {esc(report.commit[:12])}" if report.commit else ""
    lines = [f"{'# ' if md else ''}Imported {esc(report.dataset)} ({report.records} records"
             f"{commit}) into {esc(report.out)}"]
    by_category = ", ".join(f"{n} {esc(c)}" for c, n in report.imported_by_category().items())
    lines.append(f"{bullet}{len(report.imported)} new exercises" + (f" ({by_category})"
                                                                    if by_category else ""))
    examples = ", ".join(f"{esc(link.exercise)} {esc('<-')} {esc(link.record)}"
                         for link in report.linked[:3])
    lines.append(f"{bullet}{len(report.linked)} linked to exercises kbrun already has"
                 + (f" ({examples}{', ...' if len(report.linked) > 3 else ''})"
                    if examples else ""))
    lines.append(f"{bullet}{report.extended_contraindications} contraindications extended to "
                 "imported variants")
    lines.append(f"{bullet}{len(report.skipped)} skipped:")
    for reason, count in report.skipped_by_reason().items():
        lines.append(f"{'  - ' if md else '    '}{count:>4}  {esc(reason)}")
    problems = [s for s in report.skipped if s.kind != "mapping"]
    for item in problems[:10]:
        lines.append(f"{'  - ' if md else '    '}{esc(report.path)}:{item.line}: "
                     f"{esc(item.record)}: {esc(item.detail)}")
    lines.append(f"{bullet}files: " + ", ".join(map(esc, report.files)))
    if report.valid:
        lines.append(f"The folder validates. Use it with: kbrun advise --kb {esc(report.out)} ...")
    write("\n".join(lines))


def batch(kb: Any, source: str, *, trace: bool = False, jobs: int | None = None) -> None:
    """Stream `advise --batch`: read lines from a file or stdin, write one JSON line each, in
    input order; progress on stderr when it is a terminal, then one summary line.

    Raises typer.Exit(2) when any line failed (its error object is in the output), 1 when a
    line met a bug; ProfileError when the file cannot be read.
    """
    import time

    import typer

    from kbrun.engine.batch import batch_results, default_jobs, fork_available, read_lines
    from kbrun.engine.errors import ProfileError

    jobs = jobs or default_jobs()
    if jobs > 1 and not fork_available():
        typer.echo(f"kbrun: --jobs {jobs} needs worker processes forked from this one, which "
                   "this platform cannot make; advising in this one process", err=True)
        jobs = 1
    if source == "-":
        if sys.stdin is None:
            raise ProfileError("cannot read the batch from stdin: it is closed",
                               suggestion="pipe the profiles in (kbrun advise --batch - < "
                                          "runners.jsonl) or give the file instead of '-'")
        stream = sys.stdin.buffer
    else:
        try:
            stream = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as err:
            raise ProfileError(f"cannot read batch file '{source}': {err.strerror}") from err
    tally = _BatchTally(time.monotonic())
    progress = _Progress(tally, jobs) if sys.stderr.isatty() else None
    # on one terminal with the output, progress is taken off before each line and put back
    shared = progress is not None and sys.stdout.isatty()
    try:
        # read with a bound and decoded line by line (engine/batch.py): one undecodable or
        # over-long line is that line's error, not the batch's; /dev/zero ends at once
        lines = read_lines(stream)
        results = batch_results(kb, lines, jobs=jobs, trace=trace)
        try:
            for result in results:
                if shared and progress:
                    progress.clear()
                _put(json_text(result.text))
                tally.count(result)
                if progress:
                    progress.draw(now=shared)
        finally:  # at once when writing fails (a broken pipe): the workers stop with it
            close = getattr(results, "close", None)
            if close is not None:
                close()
    finally:
        if progress:
            progress.clear()
        if source != "-":
            stream.close()
    typer.echo(tally.summary(jobs, time.monotonic()), err=True)
    if tally.failed:
        raise typer.Exit(1 if tally.broken else 2)


class _BatchTally:
    """What a batch has done so far: lines read, advised, failed (and which)."""

    SHOWN = 10       # failed line numbers named in the summary

    def __init__(self, start: float) -> None:
        self.start = start
        self.read = self.advised = self.failed = self.broken = 0
        self.failed_lines: list[int] = []

    def count(self, result: Any) -> None:
        self.read += 1
        if not result.failed:
            self.advised += 1
            return
        self.failed += 1
        self.broken += result.status == "internal-error"
        if len(self.failed_lines) < self.SHOWN:
            self.failed_lines.append(result.line)

    def summary(self, jobs: int, now: float) -> str:
        """`batch: 6 lines read, 4 advised, 2 failed (2 jobs, 1.2 s)`, as an `Error:` line
        naming the failed lines when there are any."""
        seconds = now - self.start
        counts = (f"batch: {self.read} line{'s' * (self.read != 1)} read, {self.advised} "
                  f"advised, {self.failed} failed ({jobs} job{'s' * (jobs != 1)}, "
                  f"{seconds:.1f} s)")
        if not self.failed:
            return counts
        more = self.failed - len(self.failed_lines)
        named = ", ".join(map(str, self.failed_lines)) + (f" and {more} more" if more else "")
        bugs = (f"; {self.broken} of them met an internal error in kbrun: please report it"
                if self.broken else "")
        return (f"Error: {counts}; failed: line{'s' * (self.failed != 1)} {named}, each with "
                f"its \"error\" object in the output{bugs}")


class _Progress:
    """The batch's count and rate on one terminal line of stderr, redrawn in place."""

    EVERY_S = 0.2

    def __init__(self, tally: _BatchTally, jobs: int) -> None:
        self.tally = tally
        self.jobs = jobs
        self.drawn = float("-inf")
        self.draw()

    def draw(self, *, now: bool = False) -> None:
        """Redraw, unless the last drawing is less than EVERY_S old (and not `now`)."""
        import time

        at = time.monotonic()
        if not now and at - self.drawn < self.EVERY_S:
            return
        self.drawn = at
        tally = self.tally
        rate = tally.read / max(at - tally.start, 1e-9)
        sys.stderr.write(f"\r\x1b[Kbatch: {tally.read} line{'s' * (tally.read != 1)}, "
                         f"{tally.failed} failed, "
                         f"{rate:.1f} lines/s ({self.jobs} job{'s' * (self.jobs != 1)})")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


# -- plan ----------------------------------------------------------------------------------------

# what a plan shows before its weeks: advice's top warnings, urgent ones, and the plan's notes
# on what it is (no plan: a referral; a running week it assumed)
PLAN_TOP_WARNINGS = (*TOP_WARNINGS, "no-plan", "assumed-week")


def plan(result: Plan, kb: KnowledgeBase, fmt: str, output: Path | None = None) -> None:
    """Print a season plan in the chosen format, or write it to `output` ('-' is stdout) and
    say on stderr what was written.

    A file is UTF-8, the same bytes for the same plan (an ics file as built: CRLF line ends); a
    path the system refuses raises its OSError, which cli/main.py reports as one `Error:` line
    (exit 2). Nothing is written until the whole plan is rendered.
    """
    if output is not None and str(output) == "-":
        output = None
    if output is None:
        if fmt == "json":
            emit_json(result.to_dict())
        elif fmt == "markdown":
            write(plan_markdown(result))
        elif fmt == "ics":
            _put_bytes(_plan_bytes(result, fmt))
        else:
            plan_text(result, console())
        return
    data = _plan_bytes(result, fmt)
    output.write_bytes(data)
    import typer

    if result.referred:
        typer.echo(f"Wrote no plan to {terminal_text(output)}: a red flag gave a referral "
                   "instead (read it there)", err=True)
    else:
        typer.echo(f"Wrote {_plan_counts(result)} to {terminal_text(output)}", err=True)


def _plan_bytes(result: Plan, fmt: str) -> bytes:
    """The plan as a file holds it: UTF-8, ending with a line break."""
    if fmt == "ics":
        from kbrun.cli import ics

        return ics.calendar(result).encode("utf-8")
    if fmt == "json":
        # in a file, non-ASCII characters stay as they are whatever stdout's encoding
        text = _JSON_UNSAFE.sub(_json_escape, json.dumps(result.to_dict(), indent=2,
                                                          ensure_ascii=False))
    elif fmt == "markdown":
        text = _safe_block(plan_markdown(result))
    else:
        import io

        buffer = io.StringIO()
        plan_text(result, _console_class()(file=buffer, width=_file_width(), highlight=False,
                                           soft_wrap=False, markup=False, emoji=False,
                                           force_terminal=False, color_system=None))
        text = buffer.getvalue().rstrip("\n")
    return (text + "\n").encode("utf-8", "surrogatepass")


def _file_width() -> int:
    """The width of text written to a file: COLUMNS when set, else PIPE_WIDTH (never the
    terminal's: the same plan is the same file wherever it is written from)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(MIN_WIDTH, int(columns))
    return PIPE_WIDTH


def _put_bytes(data: bytes) -> None:
    """Bytes on stdout as they are (an ics calendar keeps its CRLF and is UTF-8 whatever the
    stdout encoding)."""
    out = sys.stdout
    if out is None:
        import errno

        raise OutputError(errno.EBADF, "stdout is closed")
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is None:      # a text-only stream (a test's StringIO)
        out.write(data.decode("utf-8"))
        out.flush()
        return
    buffer.write(data)
    buffer.flush()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def _plan_counts(result: Plan) -> str:
    """`16 weeks, 29 sessions`."""
    sessions = sum(len(week.sessions) for week in result.weeks)
    return f"{_plural(len(result.weeks), 'week')}, {_plural(sessions, 'session')}"


def plan_dose(rec: Any) -> str:
    """An exercise's whole dose in one line: `3 x 6-8 per side, bodyweight, rest 90 s (3-0-1)`
    (the tempo, effort and a protocol's frequency in brackets)."""
    dose, load = _dose_cells(rec)
    extra = _extra_dose(rec)
    return f"{dose}, {load}" + (f" ({extra})" if extra else "")


def _short_dose(rec: Any) -> str:
    """The part of a dose a plan changes from week to week: `3 x 6-8 per side bodyweight`."""
    return f"{rec.prescription.summary()} {rec.prescription.load}"


def _plan_heading(result: Plan, esc: Escape) -> str:
    """`level intermediate · race 2027-04-25 · from 2027-01-04 · 16 weeks, 29 sessions`."""
    p, request = result.profile, result.request
    parts = [f"level {esc(p.level)}", *_complaints(p, esc)]
    if p.stage:
        parts.append(f"stage {esc(p.stage)}")
    if request.race is None:
        parts.append(f"phase {esc(p.phase)} throughout")
    else:
        parts.append(f"race {request.race.isoformat()}")
    parts.append(f"from {request.start.isoformat()}")
    if not result.referred:
        if p.minutes:
            parts.append(f"sessions up to {esc(p.minutes)} min")
        parts.append(_plan_counts(result))
    return " · ".join(parts)


def _run_week_line(result: Plan, esc: Escape) -> str:
    """`hard runs tue, thu · long run sun · rest mon (assumed: none given)`."""
    running = result.request.running
    parts = [f"hard runs {', '.join(map(esc, running.hard))}" if running.hard
             else "no hard runs",
             f"long run {esc(running.long)}" if running.long else "no long run",
             f"rest {', '.join(map(esc, running.rest))}" if running.rest else "no rest day"]
    return " · ".join(parts) + (" (assumed: none given)" if running.assumed else "")


def _week_title(week: PlannedWeek, esc: Escape) -> str:
    """`Week 3 · 2027-01-18 · off-season · block week 3 (+5 % load)`."""
    from kbrun.cli.ics import week_label

    label = week_label(week)
    return (f"Week {week.week} · {week.start.isoformat()} · {esc(week.phase)}"
            + (f" · {esc(label)}" if label else "")
            + (f" · re-test {esc(', '.join(week.retests))}" if week.retests else ""))


def _session_title(session: PlannedSession, esc: Escape) -> str:
    """`tue 2027-01-19 after hard-run · strength · 27 min`."""
    from kbrun.engine.timing import minutes

    return (f"{esc(session.day)} {session.date.isoformat()} after {esc(session.after)} · "
            f"{esc(session.kind)} · {minutes(session.seconds)} min")


def _plan_warnings(result: Plan) -> tuple[list[Warning], list[Warning]]:
    """The warnings shown before the weeks, and the rest (the disclaimer last)."""
    top = [w for w in result.warnings if w.urgent or w.kind in PLAN_TOP_WARNINGS]
    rest = [w for w in result.warnings if w not in top]
    return top, sorted(rest, key=lambda w: w.kind == "disclaimer")


def _same_but_dose(a: Recommendation, b: Recommendation) -> bool:
    """Whether two recommendations differ at most in what _short_dose shows (sets, reps or
    hold, load)."""
    pa, pb = a.prescription, b.prescription
    return (a.exercise == b.exercise and a.name == b.name
            and (pa.per_side, pa.rest_s, pa.tempo, pa.effort, pa.frequency)
            == (pb.per_side, pb.rest_s, pb.tempo, pb.effort, pb.frequency))


class _Listed:
    """Which exercise lists a plan's text has printed in full, so that a session that repeats
    one says so instead of printing it again (every dose stays readable)."""

    def __init__(self) -> None:
        self.full: dict[tuple[str, ...], tuple[str, tuple[Recommendation, ...]]] = {}
        self.exact: dict[tuple[Any, ...], str] = {}

    def lines(self, week: PlannedWeek, session: PlannedSession) -> list[str]:
        """The lines (data, already made safe) that list a session's exercises and doses."""
        recs = session.exercises
        if not recs:
            return ["no exercises"]
        ids = tuple(r.exercise for r in recs)
        exact = tuple((r.exercise, r.name, r.prescription) for r in recs)
        here = f"week {week.week} {session.day}"
        if exact in self.exact:
            return [f"same exercises and doses as {terminal_text(self.exact[exact])}"]
        self.exact[exact] = here
        shown = self.full.get(ids)
        if shown is not None and all(map(_same_but_dose, recs, shown[1])):
            doses = "; ".join(terminal_text(_short_dose(r)) for r in recs)
            return [f"same exercises as {terminal_text(shown[0])}: {doses}"]
        self.full[ids] = (here, recs)
        return [f"- {terminal_text(r.name)}: {terminal_text(plan_dose(r))}" for r in recs]


def _hanging(out: Console, indent: int, line: Text) -> None:
    """Print a line indented by `indent`, wrapped to the console's width with its next lines
    two further in (a bullet's text lines up), and no trailing spaces."""
    from rich.text import Text

    for index, part in enumerate(line.wrap(out, max(out.width - indent - 2, 10))):
        part.rstrip()
        out.print(Text(" " * (indent + 2 * bool(index))) + part)


def plan_text(result: Plan, out: Console) -> None:
    """A plan as text: the runner and the running week, the warnings to read first, each week
    with its sessions (a list of exercises printed once, then referred to) and its reasons,
    then the other warnings, the disclaimer last."""
    t = terminal_text
    top, rest = _plan_warnings(result)
    _hanging(out, 0, _line(("kbrun plan", "bold"), " — ", _plan_heading(result, t)))
    if not result.referred:
        _hanging(out, 0, _line("Running week: ", _run_week_line(result, t)))
    for warning in top:
        if warning.urgent:
            out.print(_line((f" {t(warning.message)} ", "bold reverse")))
        else:
            _hanging(out, 0, _line((f"! {t(warning.message)}", "bold")))
    if result.referred:
        out.print(_line(("No plan.", "bold"), " See the warnings above."))
    listed = _Listed()
    said: dict[tuple[str, ...], str] = {}     # a week's reasons: the week that listed them
    for week in result.weeks:
        out.print()
        _hanging(out, 0, _line((_week_title(week, t), "bold")))
        if not week.sessions:
            out.print(_line("  no session this week"))
        for session in week.sessions:
            _hanging(out, 2, _line(_session_title(session, t)))
            for line in listed.lines(week, session):
                _hanging(out, 4, _line(line))
        reasons = tuple(week.reasons)
        if reasons in said:
            out.print(_line(("    · the same reasons as ", "dim"), (said[reasons], "dim")))
            continue
        said[reasons] = f"week {week.week}"
        for reason in reasons:
            _hanging(out, 4, _line((f"· {t(reason)}", "dim")))
    if rest:
        out.print()
        out.print(_line(("Warnings", "bold")))
        for warning in rest:
            _hanging(out, 2, _line("! ", warning.kind, ": ", warning.message))
    if not result.referred:
        _hanging(out, 0, _line("Ask why: kbrun why EXERCISE --week N --day DAY (same options)"))


def _md_row(cells: Sequence[str]) -> str:
    """A Markdown table row of cells already made safe."""
    return "| " + " | ".join(cells) + " |"


def plan_markdown(result: Plan) -> str:
    """A plan as Markdown: a table of sessions per week (every exercise with its dose), the
    week's reasons as a list, the warnings."""
    from kbrun.engine.timing import minutes

    md = markdown_text
    top, rest = _plan_warnings(result)
    lines = ["# kbrun plan", "", f"_{_plan_heading(result, md)}_", ""]
    if not result.referred:
        lines += [f"Running week: {_run_week_line(result, md)}", ""]
    lines += [line for w in top for line in (f"> **{md(w.message)}**", "")]
    if result.referred:
        lines += ["**No plan.** See the warnings above.", ""]
    for week in result.weeks:
        lines += [f"## {_week_title(week, md)}", ""]
        if week.sessions:
            lines += [_md_row(["Date", "Day", "After", "Kind", "Minutes", "Exercises"]),
                      "|" + "---|" * 6]
            for s in week.sessions:
                exercises = "; ".join(f"{md(r.name)}: {md(plan_dose(r))}"
                                      for r in s.exercises) or "no exercises"
                lines.append(_md_row([s.date.isoformat(), md(s.day), md(s.after), md(s.kind),
                                      str(minutes(s.seconds)), exercises]))
        else:
            lines.append("No session this week.")
        lines += ["", *(f"- {md(reason)}" for reason in week.reasons), ""]
    if rest:
        lines += ["## Warnings", "", *(f"- **{md(w.kind)}**: {md(w.message)}" for w in rest)]
    return "\n".join(lines).rstrip("\n")


# -- assess --------------------------------------------------------------------------------------

def assessment(report: AssessmentReport, kb: KnowledgeBase, fmt: str,
               output: Path | None = None) -> None:
    """Print an assessment report in the chosen format, or write it to `output` ('-' is stdout)
    and say on stderr what was written."""
    if output is not None and str(output) == "-":
        output = None
    if fmt == "json":
        data = report.to_dict(kb)
        if output is None:
            emit_json(data)
            return
        text = _JSON_UNSAFE.sub(_json_escape, json.dumps(data, indent=2, ensure_ascii=False))
    else:
        text = _safe_block("\n".join(assessment_lines(report, kb, fmt == "markdown")))
        if output is None:
            write(text)
            return
    output.write_bytes((text + "\n").encode("utf-8", "surrogatepass"))
    import typer

    typer.echo(f"Wrote {_plural(len(report.findings), 'finding')} to "
               f"{terminal_text(output)}", err=True)


def assessment_lines(report: AssessmentReport, kb: KnowledgeBase, md: bool) -> list[str]:
    """The report as lines of text (md: Markdown): findings first, then every reading, the
    trends, the re-tests and what to do next."""
    esc: Escape = markdown_text if md else terminal_text

    def heading(text: str) -> list[str]:
        return ["", f"## {text}", ""] if md else ["", text]

    item = "- " if md else "  "
    count = len(report.assessments)
    title = (f"kbrun assessment — {report.date.isoformat()}" if report.date
             else "kbrun assessment — no complete result yet")
    where = f" ({esc(report.origin)}; {_plural(count, 'assessment')})" if count else ""
    lines = [f"# {title}{where}" if md else f"{title}{where}"]
    for warning in report.warnings:
        lines.append(f"{'> ' if md else '! '}{esc(warning)}")
    lines += heading("Findings")
    if report.date is None:
        lines.append(f"{item}None yet: no test has both a left and a right result.")
    elif not report.findings:
        lines.append(f"{item}None: every test done is within its norm and its left/right "
                     "threshold.")
    for finding in report.findings:
        label = (f"Imbalance, {finding.side} weaker" if finding.kind == "imbalance"
                 else "Weak on both sides" if finding.side == "both"
                 else f"Weak on the {finding.side}")
        side = ""
        muscles = ", ".join(kb.muscles[m].name if m in kb.muscles else m
                            for m in finding.muscles)
        lines.append(f"{item}{'**' if md else ''}{label}{side}: {esc(muscles)}"
                     f"{'**' if md else ''} — {esc(finding.summary)}; certainty "
                     f"{finding.certainty:.2f} ({esc(', '.join(finding.sources))})")
    lines += heading("Results")
    for reading in report.readings:
        when = (f" ({reading.date.isoformat()})" if reading.date and reading.date != report.date
                else "")
        lines.append(f"{item}{esc(reading.name)}{when}: {esc(reading.summary)}")
    if report.incomplete:
        lines.append(f"{item}Not done yet: {esc(', '.join(report.incomplete))}")
    changing = [t for t in report.trends if t.status != "first"]
    if changing:
        lines += heading("Trend")
        lines += [f"{item}{esc(t.test)}: {esc(t.summary)}" for t in changing]
    if report.retests:
        lines += heading("Re-test")
        lines += [f"{item}{r.due.isoformat()} {esc(r.name)} ({esc(r.test)}): {esc(r.reason)}"
                  for r in report.retests]
    source = report.origin if report.origin and report.origin != "--result" else "FILE"
    if report.red_flags:
        return [*lines, "", "Next: see a doctor today about the red flag above before any "
                            "training or testing of that leg."]
    if report.date is None:
        return [*lines, "", f"Next: finish the tests (kbrun assess --interactive --results "
                            f"{esc(source)})"]
    lines += ["", f"Next: kbrun advise --assessment {esc(source)} (with your profile "
                  "options); re-test with kbrun assess --results FILE --result TEST=LEFT,RIGHT "
                  "--save"]
    return lines
