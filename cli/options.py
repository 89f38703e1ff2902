"""Options shared by several commands, as typer Annotated types."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class GraphFormat(StrEnum):
    dot = "dot"
    graphml = "graphml"
    json = "json"
    mermaid = "mermaid"


PROFILE = "Profile"


def whole_number(text: str) -> int:
    """Parse a whole-number option, naming the bad value when it is not one."""
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a whole number") from None


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
KbOpt = Annotated[list[Path] | None, typer.Option(
    "--kb", help="Extra knowledge-base folder layered over the built-in one (repeatable).")]
AllowSafetyOpt = Annotated[bool, typer.Option(
    "--allow-safety-changes", help="Accept --kb folders that replace, extend or disable a "
    "safety rule or entry of the built-in knowledge base; every output then names the change "
    "in its warnings.")]
SymptomOpt = Annotated[list[str] | None, typer.Option(
    "--symptom", "-s", help="A symptom, e.g. knee-pain (repeatable).", rich_help_panel=PROFILE)]
InjuryOpt = Annotated[list[str] | None, typer.Option(
    "--injury", "-i", help="A diagnosed injury, e.g. runners-knee (repeatable).",
    rich_help_panel=PROFILE)]
GoalOpt = Annotated[list[str] | None, typer.Option(
    "--goal", "-g", help="A goal: speed, endurance, hills, injury-prevention, power, stability "
    "(repeatable).", rich_help_panel=PROFILE)]
PhaseOpt = Annotated[str | None, typer.Option(
    "--phase", "-p", help="Training phase: off-season (default), pre-season, race-season, taper, "
    "recovery.", rich_help_panel=PROFILE)]
LevelOpt = Annotated[str | None, typer.Option(
    "--level", "-l", help="beginner, intermediate (default) or advanced.", rich_help_panel=PROFILE)]
EquipmentOpt = Annotated[list[str] | None, typer.Option(
    "--equipment", "-e", help="Equipment you have (repeatable; default: all).",
    rich_help_panel=PROFILE)]
SettingOpt = Annotated[str | None, typer.Option(
    "--setting", help="home or gym: shorthand for the equipment of a typical home or gym.",
    rich_help_panel=PROFILE, metavar="home|gym")]
RedFlagOpt = Annotated[list[str] | None, typer.Option(
    "--red-flag", help="A red flag (repeatable), e.g. swelling, night-pain, pain-on-hop, "
    "cannot-bear-weight, pain-at-rest; all of them: kbrun kb list red-flags.",
    rich_help_panel=PROFILE)]
PainOpt = Annotated[int | None, typer.Option(
    "--pain", help="Pain during or after running, 0-10.", rich_help_panel=PROFILE,
    parser=whole_number, metavar="0-10")]
StageOpt = Annotated[str | None, typer.Option(
    "--stage", help="Injury stage: acute, subacute or return-to-run (default: acute with "
    "--red-flag pain-at-rest, else subacute; pain alone never changes it).",
    rich_help_panel=PROFILE, metavar="STAGE")]
LimitOpt = Annotated[int | None, typer.Option(
    "--limit", "-n", help="Exercises in the session (default 6, at most 20).",
    rich_help_panel=PROFILE, parser=whole_number, metavar="N")]
ProfileOpt = Annotated[Path | None, typer.Option(
    "--profile", help="A YAML or JSON file with the profile fields; options override it.",
    rich_help_panel=PROFILE)]
