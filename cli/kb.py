"""`kbrun kb ...`: check, browse and export the knowledge base."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kbrun.cli.options import (
    AllowSafetyOpt,
    Format,
    FormatOpt,
    GraphFormat,
    KbOpt,
    complete_graph_formats,
    complete_ids,
    complete_kinds,
    one_of,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kbrun.engine.knowledge import KnowledgeBase

kb_app = typer.Typer(help="Check, browse and export the knowledge base.", no_args_is_help=True,
                     context_settings={"help_option_names": ["-h", "--help"]})


def _load(kb_dirs: Sequence[Path] | None, allow_safety_changes: bool = False) -> KnowledgeBase:
    from kbrun.cli.main import load

    return load(kb_dirs, allow_safety_changes)


@kb_app.command()
def validate(kb: KbOpt = None, allow_safety_changes: AllowSafetyOpt = False,
             format: FormatOpt = Format.text) -> None:
    """Check every file: syntax, schema, ids, references, progressions and rules."""
    from kbrun.cli import render
    from kbrun.engine.browse import kb_stats

    knowledge = _load(kb, allow_safety_changes)
    stats = kb_stats(knowledge)
    summary = {"valid": True, "layers": stats["layers"], "entries": stats["entries"],
               "rules": stats["rules"], "edges": stats["edges"],
               "changes": [change.to_dict() for change in knowledge.changes],
               "skipped": [{"path": path, "reason": why} for path, why in knowledge.skipped]}
    if format is Format.text:
        t = render.terminal_text  # folder names and a layer's ids and text: one safe line each
        counts = ", ".join(f"{n} {t(k)}" for k, n in stats["entries"].items() if n)
        lines = [f"Knowledge base is valid ({' + '.join(map(t, stats['layers']))}): {counts}; "
                 f"{stats['edges']} graph links."]
        if knowledge.changes:
            lines.append(f"Changes to entries below ({len(knowledge.changes)}):")
            for change in knowledge.changes:
                safety = f" - SAFETY CHANGE: {t(change.safety)}" if change.safety else ""
                lines.append(f"  {t(change.describe())}{safety}")
        render.write("\n".join(lines))
        return
    render.mapping(summary, format.value, "Knowledge base is valid")


@kb_app.command("list")
def list_(
    kind: Annotated[str, typer.Argument(
        metavar="KIND", help="exercises, muscles, injuries, symptoms, goals, phases, equipment, "
        "rules, red-flags, conditions, protocols, levels, qualities, sources, claims or facts.",
        autocompletion=complete_kinds)],
    kb: KbOpt = None, allow_safety_changes: AllowSafetyOpt = False,
    format: FormatOpt = Format.text,
) -> None:
    """List the entries of one kind."""
    from kbrun.cli import render
    from kbrun.engine.browse import list_entries

    render.rows(list_entries(_load(kb, allow_safety_changes), kind), format.value, kind)


@kb_app.command()
def show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Any id, e.g. clamshell.",
                                            autocompletion=complete_ids("*"))],
    kb: KbOpt = None, allow_safety_changes: AllowSafetyOpt = False,
    format: FormatOpt = Format.text,
) -> None:
    """Show one entry: its attributes, sources, and every link in and out of it."""
    from kbrun.cli import render
    from kbrun.engine.browse import show_entry

    render.entry(show_entry(_load(kb, allow_safety_changes), entry_id), format.value)


@kb_app.command()
def graph(
    format: Annotated[GraphFormat, typer.Option(
        "--format", "-f", help="Export format.", parser=one_of(GraphFormat, "a graph format"),
        metavar="dot|graphml|json|mermaid", autocompletion=complete_graph_formats)
                      ] = GraphFormat.dot,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write to this file (default: stdout).",
                                                dir_okay=False)] = None,
    focus: Annotated[str | None, typer.Option(help="Only the neighbourhood of this id.")] = None,
    depth: Annotated[int, typer.Option(min=0, max=10, help="Links from --focus to include.")
                     ] = 1,
    kb: KbOpt = None, allow_safety_changes: AllowSafetyOpt = False,
) -> None:
    """Export the knowledge graph as DOT, GraphML, node-link JSON or Mermaid."""
    from kbrun.engine.errors import KbrunError, UnknownId
    from kbrun.engine.export import export
    from kbrun.engine.graph import neighbourhood

    knowledge = _load(kb, allow_safety_changes)
    selected = knowledge.graph
    if focus is not None:
        if focus not in selected:
            raise UnknownId("id", focus, list(selected.nodes), context="--focus")
        selected = neighbourhood(selected, focus, depth)
    text = export(selected, format.value)
    if output is None:
        from kbrun.cli import render

        render.export(text, format.value)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise KbrunError(f"cannot write '{output}': {err.strerror}") from err
    typer.echo(f"Wrote {selected.number_of_nodes()} nodes and {selected.number_of_edges()} links "
               f"to {output} ({format.value}).", err=True)


@kb_app.command()
def stats(kb: KbOpt = None, allow_safety_changes: AllowSafetyOpt = False,
          format: FormatOpt = Format.text) -> None:
    """Counts of entries, links and rules, and how often each seed is cited."""
    from kbrun.cli import render
    from kbrun.engine.browse import kb_stats

    render.mapping(kb_stats(_load(kb, allow_safety_changes)), format.value,
                   "Knowledge base statistics")


class Dataset(StrEnum):
    free_exercise_db = "free-exercise-db"


@kb_app.command("import")
def import_(
    source: Annotated[Dataset, typer.Argument(metavar="SOURCE",
                                              help="The dataset: free-exercise-db.")],
    path: Annotated[Path, typer.Argument(metavar="PATH",
                                         help="Its exercises.json (or the folder holding it).")],
    out: Annotated[Path, typer.Option("--out", "-o", file_okay=False,
                                      help="Knowledge-base folder to write (new, or from an "
                                           "earlier import).")],
    kb: KbOpt = None, allow_safety_changes: AllowSafetyOpt = False,
    format: FormatOpt = Format.text,
) -> None:
    """Import an exercise dataset into a knowledge-base folder to layer in with --kb.

    The mapping of the dataset's muscles, equipment, levels and categories is data in the
    knowledge base (kb/import/); exercises kbrun already has are linked, not duplicated.
    """
    from kbrun.cli import render
    from kbrun.engine.importer import import_dataset

    render.import_report(import_dataset(source.value, path, out, kb_dirs=kb or ()),
                         format.value)
