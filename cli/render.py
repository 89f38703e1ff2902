"""Rendering engine results as text (rich), JSON and Markdown. No reasoning happens here."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from kbrun.engine.advice import Advice
    from kbrun.engine.knowledge import KnowledgeBase


# warnings a runner must read before the session: referrals and pain above the limit
TOP_WARNINGS = ("red-flag", "pain")


def escape(text: str) -> str:
    """Text printed through rich with markup on, with its own square brackets kept literal."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def console() -> Console:
    from rich.console import Console

    width = max(100, shutil.get_terminal_size((120, 24)).columns)
    return Console(width=width, highlight=False, soft_wrap=False)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))


def _md_cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- advice --------------------------------------------------------------------------------------

def _dose_cells(rec: Any) -> tuple[str, str]:
    p = rec.prescription
    rest = f", rest {p.rest_s} s" if p.rest_s else ""
    return p.summary(), f"{p.load}{rest}"


def _profile_line(advice: Advice) -> str:
    p = advice.profile
    parts = [f"phase {p.phase}", f"level {p.level}"]
    for label, values in (("symptoms", p.symptoms), ("injuries", p.injuries),
                          ("goals", p.goals), ("red flags", p.red_flags)):
        if values:
            parts.append(f"{label} {', '.join(values)}")
    if p.pain is not None:
        parts.append(f"pain {p.pain}/10")
    return "; ".join(parts)


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


def advice(result: Advice, kb: KnowledgeBase, fmt: str, *, trace: bool = False) -> None:
    """Print advice in the chosen format."""
    if fmt == "json":
        emit_json(result.to_dict(trace=trace))
        return
    if fmt == "markdown":
        typer.echo(advice_markdown(result, trace=trace))
        return
    from rich.table import Table

    out = console()
    for warning in result.warnings:
        if warning.urgent:
            out.print(f"[bold reverse] {escape(warning.message)} [/bold reverse]")
        elif warning.kind in TOP_WARNINGS:
            out.print(f"[bold]! {escape(warning.message)}[/bold]")
    out.print(f"[bold]kbrun session[/bold] — {_profile_line(result)}")
    low, high = result.sessions_per_week
    if result.recommendations:
        out.print(f"{low}-{high} sessions a week" if low != high else f"{low} session(s) a week")
    suspected = "" if result.urgent else _findings_line(result, "injury")
    if suspected:
        out.print(f"Suspected: {suspected}")
    if result.stage and result.recommendations:
        out.print(f"Injury stage: {result.stage} ({result.stage_cause})")
    for protocol in result.protocols:
        out.print(f"Protocol: {protocol.name} — {protocol.summary} "
                  f"({', '.join(protocol.sources)})", markup=False)
    protected = [f.id for f in result.findings if f.kind == "protected-region"]
    if protected:
        out.print(f"Protected regions: {', '.join(protected)}")
    if result.size_limit:
        out.print(f"At most {result.size_limit[0]} exercises: {result.size_limit[1]}", markup=False)
    table = Table(show_lines=True, header_style="bold")
    for column in ("#", "Exercise", "Sets x reps", "Load", "Why", "How"):
        table.add_column(column, overflow="fold")
    current = None
    for rec in result.recommendations:
        if rec.section != current:
            current = rec.section
            table.add_row("", f"[bold]{_section_name(result, rec.section)}[/bold]", "", "", "", "")
        dose, load = _dose_cells(rec)
        extra = _extra_dose(rec)
        table.add_row(str(rec.rank), rec.name, dose + (f"\n{extra}" if extra else ""), load,
                      rec.reasons[0], "\n".join(f"- {c}" for c in rec.cues))
    if result.recommendations:
        out.print(table)
    else:
        out.print("[bold]No exercise session.[/bold] See the warnings.")
    if result.schedule:
        out.print("[bold]When[/bold]")
        for note in result.schedule:
            follows = f" (follows {note.follows})" if note.follows else ""
            out.print(f"  - {note.note}{follows}")
    groups = [] if result.urgent else _avoid_groups(result)
    if groups:
        out.print("[bold]Avoid[/bold]")
        for reason, names in groups[:10]:
            out.print(f"  - {', '.join(names)}: {reason}", markup=False)
        if len(groups) > 10:
            out.print(f"  ... and {len(groups) - 10} more reasons (--format json lists all)")
    rest = [w for w in result.warnings if not w.urgent and w.kind not in TOP_WARNINGS]
    if rest:
        out.print("[bold]Warnings[/bold]")
        for warning in rest:
            out.print(f"  ! {warning.kind}: {warning.message}", markup=False)
    if trace:
        from kbrun.engine.inference import trace_records

        out.print("[bold]Trace[/bold]")
        for step in trace_records(result.consultation):
            out.print(f"  {step['step']:4d} {step['rule']}: {'; '.join(step['matched'])} "
                      f"=> {'; '.join(step['asserted'])}", markup=False)
    out.print("Ask why: kbrun why EXERCISE (same options) · why not: kbrun why-not EXERCISE")


def advice_markdown(result: Advice, *, trace: bool = False) -> str:
    lines = ["# kbrun session", ""]
    for warning in result.warnings:
        if warning.urgent or warning.kind in TOP_WARNINGS:
            lines += [f"> **{warning.message}**", ""]
    lines += [f"_{_profile_line(result)}_", ""]
    low, high = result.sessions_per_week
    if result.recommendations:
        lines.append(f"Sessions a week: {low}-{high}" if low != high
                     else f"Sessions a week: {low}")
        lines.append("")
    if result.stage and result.recommendations:
        lines += [f"Injury stage: **{result.stage}** ({result.stage_cause})", ""]
    for protocol in result.protocols:
        lines += [f"Protocol: **{protocol.name}** — {protocol.summary} "
                  f"({', '.join(protocol.sources)})", ""]
    if not result.recommendations:
        lines += ["**No exercise session.** See the warnings.", ""]
    for section in result.sections:
        lines += [f"## {section.name}", ""]
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
        lines += ["## When", ""] + [f"- {n.note}" + (f" (follows `{n.follows}`)" if n.follows
                                                      else "") for n in result.schedule] + [""]
    groups = [] if result.urgent else _avoid_groups(result)
    if groups:
        lines += ["## Avoid", ""] + [f"- **{', '.join(names)}**: {reason}"
                                     for reason, names in groups] + [""]
    rest = [w for w in result.warnings if not w.urgent and w.kind not in TOP_WARNINGS]
    if rest:
        lines += ["## Warnings", ""] + [f"- **{w.kind}**: {w.message}" for w in rest]
    if trace:
        from kbrun.engine.inference import trace_records

        lines += ["", "## Trace", ""]
        lines += [f"{s['step']}. `{s['rule']}`: {'; '.join(s['matched'])} → "
                  f"{'; '.join(s['asserted'])}" for s in trace_records(result.consultation)]
    return "\n".join(lines)


# -- knowledge base ------------------------------------------------------------------------------

def rows(items: Sequence[Mapping[str, Any]], fmt: str, title: str) -> None:
    """A listing of entries (each a dict with at least id and name)."""
    if fmt == "json":
        emit_json(items)
        return
    headers = [k for k in (items[0] if items else {"id": 0, "name": 0}) if k != "sources"]
    if fmt == "markdown":
        typer.echo(f"# {title}\n\n" + md_table(headers, [[r.get(h) for h in headers]
                                                       for r in items]))
        return
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for item in items:
        table.add_row(*[_md_cell(item.get(h)).replace("\\|", "|") for h in headers])
    console().print(table)


def entry(data: Mapping[str, Any], fmt: str) -> None:
    """One knowledge-base entry with its sources and edges."""
    if fmt == "json":
        emit_json(data)
        return
    skip = {"id", "kind", "name", "sources", "edges", "defined_at"}
    attrs = [(k, v) for k, v in data.items() if k not in skip]
    if fmt == "markdown":
        lines = [f"# {data['name']} (`{data['id']}`, {data['kind']})", ""]
        lines += [f"- **{k}**: {_md_cell(json.dumps(v) if isinstance(v, dict) else v)}"
                  for k, v in attrs]
        lines += ["", "## Sources", ""] + [f"- {s['id']}" + (f": {s['title']}" if s.get("title")
                                                          else "") for s in data["sources"]]
        lines += ["", "## Links", "", md_table(
            ["from", "relation", "to", "details", "sources"],
            [[e["from"], e["relation"], e["to"], _details(e), e["sources"]]
             for e in data["edges"]])]
        typer.echo("\n".join(lines))
        return
    out = console()
    out.print(f"[bold]{data['name']}[/bold] ({data['id']}, {data['kind']}) — {data['defined_at']}")
    for key, value in attrs:
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value
        out.print(f"  {key}: {shown}", markup=False)
    out.print("[bold]Sources[/bold]")
    for source in data["sources"]:
        quote = f' — "{source["quote"]}"' if source.get("quote") else ""
        out.print(f"  - {source['id']}" + (f": {source['title']}" if source.get("title") else "")
                  + quote, markup=False)
    if data["edges"]:
        out.print("[bold]Links[/bold]")
        for edge in data["edges"]:
            details = _details(edge)
            out.print(f"  {edge['from']} -[{edge['relation']}]-> {edge['to']}"
                      + (f" ({details})" if details else "")
                      + (f"  [{', '.join(edge['sources'])}]" if edge["sources"] else ""),
                      markup=False)


def _details(edge: dict[str, Any]) -> str:
    return ", ".join(f"{k}={edge[k]}" for k in ("role", "weight", "reason", "phases")
                     if k in edge)


def mapping(data: Mapping[str, Any], fmt: str, title: str) -> None:
    """A nested mapping such as `kb stats`."""
    if fmt == "json":
        emit_json(data)
        return
    lines = [f"# {title}" if fmt == "markdown" else title]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{'- ' if fmt == 'markdown' else ''}{key}:")
            lines += [f"{'  - ' if fmt == 'markdown' else '  '}{k}: {v}" for k, v in value.items()]
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            lines.append(f"{'- ' if fmt == 'markdown' else ''}{key}: {shown}")
    typer.echo("\n".join(lines))


# -- explanations --------------------------------------------------------------------------------

def _tree_lines(node: Any, prefix: str = "", last: bool = True, top: bool = True) -> list[str]:
    branch = "" if top else ("└─ " if last else "├─ ")
    if node.origin == "rule":
        label = f"{node.fact}  ⇐ rule {node.rule}: {node.description} [{', '.join(node.sources)}]"
    elif node.origin == "session":
        label = f"{node.fact}  ⇐ {node.description}"
    else:
        cited = f" [{', '.join(node.sources)}]" if node.sources else ""
        label = f"{node.fact}  ⇐ {node.origin}: {node.description}{cited}"
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
    lines = [f"# Why {answer.name} ({answer.exercise})" if md
             else f"Why {answer.name} ({answer.exercise})?"]
    if not answer.recommended:
        lines.append(answer.note)
        typer.echo("\n".join(lines))
        return
    lines += ["", "## Derivation" if md else "Derivation:", ""]
    tree = _tree_lines(answer.derivation)
    lines += ["```", *tree, "```"] if md else tree
    lines += ["", "## Score" if md else "Score:"]
    for item in answer.contributions:
        lines.append(f"- {item['weight']:.3g}  {item['reason']}  ({', '.join(item['rules'])})")
    lines.append(answer.combination)
    if answer.dose:
        lines += ["", "## Dose" if md else "Dose:"]
        for step in answer.dose:
            changes = ", ".join(f"{k}={v}" for k, v in step["changes"].items()) or "no change"
            follows = f"; follows {step['follows']}" if step["follows"] else ""
            lines.append(f"- rule {step['rule']} (priority {step['priority']}): {changes}"
                         f"{follows} [{', '.join(step['sources'])}]")
    lines += ["", "## Rank" if md else "Rank:", answer.ranking]
    typer.echo("\n".join(lines))


def why_not(answer: Any, fmt: str) -> None:
    """`kbrun why-not`: the case that holds, its reasons, and the change that would help."""
    if fmt == "json":
        emit_json(answer.to_dict())
        return
    md = fmt == "markdown"
    titles = {"recommended": "it is recommended", "excluded": "a rule excluded it",
              "not-a-candidate": "nothing linked it to this profile",
              "ranked-out": "it ranked out of the session"}
    lines = [(f"# Why not {answer.name} ({answer.exercise})" if md
              else f"Why not {answer.name} ({answer.exercise})?"),
             f"{'**' if md else ''}{titles[answer.case]}{'**' if md else ''}"]
    for reason in answer.reasons:
        line = f"- {reason['message']}"
        if reason.get("rule"):
            line += (f" (rule {reason['rule']}: {reason['description']} "
                     f"[{', '.join(reason['sources'])}])")
        lines.append(line)
        if reason.get("facts"):
            lines.append("  triggered by: " + "; ".join(reason["facts"]))
    if answer.change:
        lines.append(f"It would be in the session with {answer.change['option']} (rank "
                     f"{answer.change['rank']}, score {answer.change['score']:.4f}).")
    elif answer.tried:
        lines.append("No single change brings it in (tried: " + ", ".join(answer.tried) + ").")
    typer.echo("\n".join(lines))


# -- import --------------------------------------------------------------------------------------

def import_report(report: Any, fmt: str) -> None:
    """`kbrun kb import`: what was written, linked and skipped, and how to use the folder."""
    if fmt == "json":
        emit_json(report.to_dict())
        return
    md = fmt == "markdown"
    bullet = "- " if md else "  "
    commit = f", commit {report.commit[:12]}" if report.commit else ""
    lines = [f"{'# ' if md else ''}Imported {report.dataset} ({report.records} records{commit}) "
             f"into {report.out}"]
    by_category = ", ".join(f"{n} {c}" for c, n in report.imported_by_category().items())
    lines.append(f"{bullet}{len(report.imported)} new exercises" + (f" ({by_category})"
                                                                    if by_category else ""))
    examples = ", ".join(f"{link.exercise} <- {link.record}" for link in report.linked[:3])
    lines.append(f"{bullet}{len(report.linked)} linked to exercises kbrun already has"
                 + (f" ({examples}{', ...' if len(report.linked) > 3 else ''})"
                    if examples else ""))
    lines.append(f"{bullet}{report.extended_contraindications} contraindications extended to "
                 "imported variants")
    lines.append(f"{bullet}{len(report.skipped)} skipped:")
    for reason, count in report.skipped_by_reason().items():
        lines.append(f"{'  - ' if md else '    '}{count:>4}  {reason}")
    problems = [s for s in report.skipped if s.kind != "mapping"]
    for item in problems[:10]:
        lines.append(f"{'  - ' if md else '    '}{report.path}:{item.line}: {item.record}: "
                     f"{item.detail}")
    lines.append(f"{bullet}files: " + ", ".join(report.files))
    if report.valid:
        lines.append(f"The folder validates. Use it with: kbrun advise --kb {report.out} ...")
    typer.echo("\n".join(lines))


def batch(kb: Any, source: str, *, trace: bool = False, jobs: int | None = None) -> None:
    """Stream `advise --batch`: read lines from a file or stdin, write one JSON line each, in
    input order; progress on stderr when it is a terminal, then one summary line.

    Raises typer.Exit(2) when any line failed (its error object is in the output), 1 when a
    line met a bug; ProfileError when the file cannot be read.
    """
    import sys
    import time

    from kbrun.engine.batch import batch_results, default_jobs, fork_available
    from kbrun.engine.errors import ProfileError

    jobs = jobs or default_jobs()
    if jobs > 1 and not fork_available():
        typer.echo(f"kbrun: --jobs {jobs} needs worker processes forked from this one, which "
                   "this platform cannot make; advising in this one process", err=True)
        jobs = 1
    if source == "-":
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
        # decoded line by line, so one undecodable line is that line's error, not the batch's
        lines = (raw.decode("utf-8", errors="replace") for raw in stream)
        for result in batch_results(kb, lines, jobs=jobs, trace=trace):
            if shared and progress:
                progress.clear()
            typer.echo(result.text)
            tally.count(result)
            if progress:
                progress.draw(now=shared)
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
        import sys
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
        import sys

        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
