"""Options shared by several commands, as typer Annotated types, and the shell completion of
their values."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from kbrun.engine.knowledge import KnowledgeBase


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class PlanFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    ics = "ics"


class GraphFormat(StrEnum):
    dot = "dot"
    graphml = "graphml"
    json = "json"
    mermaid = "mermaid"


PROFILE = "Profile"
PLAN = "Season plan"


def whole_number(text: str) -> int:
    """Parse a whole-number option, naming the bad value when it is not one."""
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a whole number") from None


Choice = TypeVar("Choice", bound=StrEnum)


def one_of(choices: type[Choice], what: str) -> Callable[[Any], Choice]:
    """A parser for an option with a fixed set of values: the usual one-line error naming the
    bad value and the valid ones."""

    def parse(value: Any) -> Choice:
        if isinstance(value, choices):
            return value
        try:
            return choices(value)
        except ValueError:
            from kbrun.cli.render import terminal_text

            raise typer.BadParameter(
                f"'{terminal_text(value)}' is not {what}; use one of "
                + ", ".join(c.value for c in choices)) from None

    return parse


# -- completion ----------------------------------------------------------------------------------
# The shell asks `kbrun` for the values a word can take (typer's completion: `kbrun
# --install-completion`). The values come from the knowledge base of the command line being
# completed (its --kb folders), else from the built-in one (from its cache); a completion
# never prints an error: at worst it offers nothing.

def _completion_kb(ctx: Any) -> KnowledgeBase | None:
    from kbrun.engine import load_kb  # not cli.main.load: a completion prints no warning

    params = getattr(ctx, "params", None) or {}
    folders = [Path(p) for p in params.get("kb") or ()]
    for layers in ([folders] if folders else []) + [[]]:
        try:
            return load_kb(layers, allow_safety_changes=bool(params.get("allow_safety_changes")))
        except Exception:  # noqa: BLE001 - a broken --kb folder: try the built-in kb
            continue
    return None


def _matching(values: Any, incomplete: str | None) -> list[str]:
    start = incomplete or ""
    return sorted(str(v) for v in values if str(v).startswith(start))


def complete_ids(kind: str) -> Callable[[Any, str], list[str]]:
    """Completion of the ids of one kind of entry (`exercise`, `symptom`...), or of every id
    with kind `*`."""

    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        try:
            kb = _completion_kb(ctx)
            if kb is None:
                return []
            ids = kb.all_ids() if kind == "*" else kb.entries.get(kind, {})
            return _matching(ids, incomplete)
        except Exception:  # noqa: BLE001 - a completion never fails aloud
            return []

    return complete


def complete_settings(ctx: typer.Context, incomplete: str) -> list[str]:
    try:
        kb = _completion_kb(ctx)
        return _matching(kb.settings if kb else (), incomplete)
    except Exception:  # noqa: BLE001 - a completion never fails aloud
        return []


def complete_stages(incomplete: str) -> list[str]:
    from kbrun.engine.schema import STAGE_RANK

    return _matching(STAGE_RANK, incomplete)


def complete_kinds(incomplete: str) -> list[str]:
    from kbrun.engine.browse import LISTABLE

    return _matching(LISTABLE, incomplete)


def complete_formats(incomplete: str) -> list[str]:
    return _matching((f.value for f in Format), incomplete)


def complete_graph_formats(incomplete: str) -> list[str]:
    return _matching((f.value for f in GraphFormat), incomplete)


FormatOpt = Annotated[Format, typer.Option(
    "--format", "-f", help="Output format.", parser=one_of(Format, "an output format"),
    metavar="text|json|markdown", autocompletion=complete_formats)]
KbOpt = Annotated[list[Path] | None, typer.Option(
    "--kb", help="Extra knowledge-base folder layered over the built-in one (repeatable).")]
AllowSafetyOpt = Annotated[bool, typer.Option(
    "--allow-safety-changes", help="Accept --kb folders that replace, extend or disable a "
    "safety rule or entry of the built-in knowledge base; every output then names the change "
    "in its warnings.")]
SymptomOpt = Annotated[list[str] | None, typer.Option(
    "--symptom", "-s", help="A symptom, e.g. knee-pain (repeatable).", rich_help_panel=PROFILE,
    autocompletion=complete_ids("symptom"))]
InjuryOpt = Annotated[list[str] | None, typer.Option(
    "--injury", "-i", help="A diagnosed injury, e.g. runners-knee (repeatable).",
    rich_help_panel=PROFILE, autocompletion=complete_ids("injury"))]
GoalOpt = Annotated[list[str] | None, typer.Option(
    "--goal", "-g", help="A goal: speed, endurance, hills, injury-prevention, power, stability "
    "(repeatable).", rich_help_panel=PROFILE, autocompletion=complete_ids("goal"))]
PhaseOpt = Annotated[str | None, typer.Option(
    "--phase", "-p", help="Training phase: off-season (default), pre-season, race-season, taper, "
    "recovery.", rich_help_panel=PROFILE, autocompletion=complete_ids("phase"))]
LevelOpt = Annotated[str | None, typer.Option(
    "--level", "-l", help="beginner, intermediate (default) or advanced.", rich_help_panel=PROFILE,
    autocompletion=complete_ids("level"))]
EquipmentOpt = Annotated[list[str] | None, typer.Option(
    "--equipment", "-e", help="Equipment you have (repeatable; default: all).",
    rich_help_panel=PROFILE, autocompletion=complete_ids("equipment"))]
SettingOpt = Annotated[str | None, typer.Option(
    "--setting", help="home or gym: shorthand for the equipment of a typical home or gym.",
    rich_help_panel=PROFILE, autocompletion=complete_settings, metavar="home|gym")]
RedFlagOpt = Annotated[list[str] | None, typer.Option(
    "--red-flag", help="A red flag (repeatable), e.g. swelling, night-pain, pain-on-hop, "
    "cannot-bear-weight, pain-at-rest; all of them: kbrun kb list red-flags.",
    rich_help_panel=PROFILE, autocompletion=complete_ids("red-flag"))]
PainOpt = Annotated[int | None, typer.Option(
    "--pain", help="Pain during or after running, 0-10.", rich_help_panel=PROFILE,
    parser=whole_number, metavar="0-10")]
StageOpt = Annotated[str | None, typer.Option(
    "--stage", help="Injury stage: acute, subacute or return-to-run (default: acute with "
    "--red-flag pain-at-rest, else subacute; pain alone never changes it).",
    rich_help_panel=PROFILE, autocompletion=complete_stages, metavar="STAGE")]
LimitOpt = Annotated[int | None, typer.Option(
    "--limit", "-n", help="Exercises in the session (default 6, at most 20).",
    rich_help_panel=PROFILE, parser=whole_number, metavar="N")]
ProfileOpt = Annotated[Path | None, typer.Option(
    "--profile", help="A YAML or JSON file with the profile fields; options override it.",
    rich_help_panel=PROFILE)]
MinutesOpt = Annotated[int | None, typer.Option(
    "--minutes", help="Time budget of a session in minutes (5-180): exercises that would run "
    "past it are left out.", rich_help_panel=PROFILE, parser=whole_number, metavar="M")]
AssessmentOpt = Annotated[Path | None, typer.Option(
    "--assessment", metavar="FILE", help="Results of your field tests (kbrun assess: a "
    "results file or its JSON): weak muscles come into focus, the weaker side gets more.",
    rich_help_panel=PROFILE)]

# -- plan ----------------------------------------------------------------------------------------

PlanFormatOpt = Annotated[PlanFormat, typer.Option(
    "--format", "-f", help="Output format; ics is a calendar file, one event per session.",
    parser=one_of(PlanFormat, "an output format"), metavar="text|json|markdown|ics")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE", help="Write the plan to FILE instead of printing it.")]
RaceDateOpt = Annotated[str | None, typer.Option(
    "--race-date", metavar="YYYY-MM-DD", help="The race the plan leads to: phases are counted "
    "back from it.", rich_help_panel=PLAN)]
WeeksOpt = Annotated[int | None, typer.Option(
    "--weeks", metavar="N", parser=whole_number, help="Weeks to plan (1-52): with no race, "
    "the --phase throughout; with a race, weeks past it are recovery.", rich_help_panel=PLAN)]
StartOpt = Annotated[str | None, typer.Option(
    "--start", metavar="YYYY-MM-DD", help="The plan's first day (default: next Monday).",
    rich_help_panel=PLAN)]
HardDaysOpt = Annotated[list[str] | None, typer.Option(
    "--hard-days", metavar="DAYS", help="Days of hard runs (intervals, tempo), e.g. tue,thu.",
    rich_help_panel=PLAN)]
LongRunOpt = Annotated[str | None, typer.Option(
    "--long-run", metavar="DAY", help="The day of the long run, e.g. sun.", rich_help_panel=PLAN)]
RestDaysOpt = Annotated[list[str] | None, typer.Option(
    "--rest-days", metavar="DAYS", help="Days without running, e.g. mon,fri.",
    rich_help_panel=PLAN)]
SessionsOpt = Annotated[int | None, typer.Option(
    "--sessions", metavar="N", parser=whole_number, help="Strength sessions a week (1-7; "
    "default: from the phase and level; kept within what each week allows).",
    rich_help_panel=PLAN)]
WeekOpt = Annotated[int | None, typer.Option(
    "--week", metavar="N", parser=whole_number, help="Explain a day of week N of the plan "
    "given by the plan options (with --day).", rich_help_panel=PLAN)]
DayOpt = Annotated[str | None, typer.Option(
    "--day", metavar="DAY", help="With --week: the day of that week, e.g. tue.",
    rich_help_panel=PLAN)]
