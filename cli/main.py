"""The `kbrun` application: global options, error handling, and the consultation commands."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import io
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from kbrun.cli.options import (
    AllowSafetyOpt,
    AssessmentOpt,
    DayOpt,
    EquipmentOpt,
    Format,
    FormatOpt,
    GoalOpt,
    HardDaysOpt,
    InjuryOpt,
    KbOpt,
    LevelOpt,
    LimitOpt,
    LongRunOpt,
    MinutesOpt,
    OutputOpt,
    PainOpt,
    PhaseOpt,
    PlanFormat,
    PlanFormatOpt,
    ProfileOpt,
    RaceDateOpt,
    RedFlagOpt,
    RestDaysOpt,
    SessionsOpt,
    SettingOpt,
    StageOpt,
    StartOpt,
    SymptomOpt,
    WeekOpt,
    WeeksOpt,
    complete_ids,
    whole_number,
)
from kbrun.cli.render import OutputError, terminal_text

if TYPE_CHECKING:
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.plan import Plan
    from kbrun.engine.profile import Profile

_state = {"debug": False, "stdout_failed": False}

# The exit status when the reader of stdout has gone (`kbrun ... | head -1`): 128 + SIGPIPE,
# what a shell reports for a Unix tool that the broken pipe ended; nothing is printed.
EXIT_BROKEN_PIPE = 141
# `-h` as well as `--help`, on every command
CONTEXT = {"help_option_names": ["-h", "--help"]}


class KbrunGroup(TyperGroup):
    """Turns every input error into one `Error: ...` line on stderr and exit code 2, and an
    unexpected failure into one line and exit code 1 (with the traceback under --debug); stdout
    that cannot be written is exit 2 (a quiet EXIT_BROKEN_PIPE when its reader has gone)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            result = self._checked_main(args, prog_name, complete_var, windows_expand_args,
                                        **extra)
        except OutputError as err:  # also when writing the help or an error's stdout part
            sys.exit(output_failed(err))
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def _checked_main(self, args: Sequence[str] | None, prog_name: str | None,
                      complete_var: str | None, windows_expand_args: bool, **extra: Any
                      ) -> Any:
        from kbrun.engine.errors import KbrunError

        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except OutputError:
            raise
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(1)
        except typer.TyperException as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # bare `kbrun`: show the help
                typer.echo(err.format_message())
                sys.exit(0)
            error(err.format_message())
            sys.exit(err.exit_code)
        except KbrunError as err:
            _report_kb_error(err)
            sys.exit(2)
        except typer.Exit as err:
            sys.exit(err.exit_code)
        except OSError as err:  # a path the system refuses (too long, not a folder, ...)
            if _state["debug"]:
                traceback.print_exc()
            what = f"'{err.filename}'" if err.filename is not None else "a file"
            error(f"cannot use {what}: {err.strerror or err}; check the path (its length, the "
                  "folders in it and your permissions)")
            sys.exit(2)
        except Exception as err:  # noqa: BLE001 - the one place a bug is reported
            if _state["debug"]:
                traceback.print_exc()
            error(f"internal error ({type(err).__name__}: {err}); re-run with --debug for the "
                  "traceback and report it.")
            sys.exit(1)


def error(message: str) -> None:
    """The one `Error: ...` line on stderr (one line, whatever the message holds)."""
    typer.echo(f"Error: {terminal_text(message)}", err=True)


def output_failed(err: OutputError) -> int:
    """Report a stdout that cannot be written; the exit code to end with."""
    _state["stdout_failed"] = True  # what is left in its buffer is not written again
    if err.errno == errno.EPIPE:
        return EXIT_BROKEN_PIPE
    error(str(err))
    return 2


def _report_kb_error(err: Exception) -> None:
    errors = getattr(err, "errors", None)
    if errors and len(errors) > 1:
        for item in errors:
            typer.echo(terminal_text(item), err=True)
        error(f"the knowledge base has {len(errors)} errors (listed above)")
    else:
        error(str(err))


app = typer.Typer(cls=KbrunGroup, no_args_is_help=True, add_completion=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings=CONTEXT,
                  help="kbrun: which leg-strength exercises a runner should do, how much, and why.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"kbrun {version('kbrun')}")
        raise typer.Exit()


@app.callback()
def cli(
    version: Annotated[bool | None, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")
                     ] = False,
) -> None:
    """kbrun: which leg-strength exercises a runner should do, how much, and why."""
    _state["debug"] = debug


def load(kb_dirs: Sequence[Path] | None, allow_safety_changes: bool = False) -> KnowledgeBase:
    """The knowledge base with the --kb folders layered over the built-in one; a file in those
    folders that is not read as knowledge gets a `Warning:` line on stderr."""
    from kbrun.engine import load_kb

    kb = load_kb(kb_dirs or (), allow_safety_changes=allow_safety_changes)
    for path, why in kb.skipped:
        typer.echo(f"Warning: {terminal_text(path)}: {terminal_text(why)}", err=True)
    return kb


def profile_of(kb: KnowledgeBase, options: dict[str, Any]) -> Profile:
    """The runner's Profile from a command's profile options (its `locals()`)."""
    from kbrun.engine.profile import profile_from_inputs

    return profile_from_inputs(
        kb, options["profile"], symptoms=options["symptom"], injuries=options["injury"],
        goals=options["goal"], phase=options["phase"], level=options["level"],
        equipment=options["equipment"], setting=options["setting"],
        red_flags=options["red_flag"], pain=options["pain"], limit=options["limit"],
        stage=options["stage"], minutes=options["minutes"], assessment=options["assessment"])


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date as YYYY-MM-DD, e.g. 2027-04-25",
                                 param_hint=f"'{option}'") from None


def plan_of(kb: KnowledgeBase, options: dict[str, Any]) -> tuple[Profile, Plan]:
    """The runner's Profile and season Plan from a command's profile and plan options."""
    from kbrun.engine.plan import build_plan, plan_request, run_week

    runner = profile_of(kb, options)
    request = plan_request(
        start=_date(options["start"], "--start"), race=_date(options["race_date"], "--race-date"),
        weeks=options["weeks"], sessions=options["sessions"],
        running=run_week(options["hard_days"], options["long_run"], options["rest_days"],
                         usual=kb.planning.usual_week))
    return runner, build_plan(kb, runner, request)


def _jobs(value: int | None) -> int | None:
    """--jobs: 1 to engine.batch.MAX_JOBS worker processes."""
    from kbrun.engine.batch import MAX_JOBS

    if value is not None and not 1 <= value <= MAX_JOBS:
        raise typer.BadParameter(f"{value} is not a number of worker processes from 1 to "
                                 f"{MAX_JOBS}; leave it out for one per CPU")
    return value


@app.command()
def advise(
    ctx: typer.Context,
    symptom: SymptomOpt = None, injury: InjuryOpt = None, goal: GoalOpt = None,
    phase: PhaseOpt = None, level: LevelOpt = None, equipment: EquipmentOpt = None,
    setting: SettingOpt = None, red_flag: RedFlagOpt = None, pain: PainOpt = None,
    stage: StageOpt = None, limit: LimitOpt = None, minutes: MinutesOpt = None,
    assessment: AssessmentOpt = None, profile: ProfileOpt = None, kb: KbOpt = None,
    allow_safety_changes: AllowSafetyOpt = False,
    format: FormatOpt = Format.text,
    trace: Annotated[bool, typer.Option("--trace", help="Include every rule firing in order.")
                     ] = False,
    batch: Annotated[str | None, typer.Option(
        "--batch", metavar="FILE", help="Advise on many runners: one JSON profile per line of "
        "FILE ('-' for stdin); prints one JSON result per line, in input order, then a "
        "summary on stderr; exits 2 if any line failed.")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", metavar="N", parser=whole_number, callback=_jobs,
        help="With --batch: advise in N worker processes, 1 to 64 (default: the number of "
        "CPUs; 1 runs in this process).")] = None,
) -> None:
    """A ranked, dosed session of leg-strength exercises for this runner."""
    from kbrun.cli import render
    from kbrun.engine import advise as consult

    if jobs is not None and batch is None:
        raise typer.BadParameter("--jobs only applies to --batch", param_hint="'--jobs'")
    source = ctx.get_parameter_source("format")
    if batch is not None and format is not Format.json and source is not None \
            and source.name not in ("DEFAULT", "DEFAULT_MAP"):
        raise typer.BadParameter(f"--batch prints JSON lines, one per runner; drop --format "
                                 f"{format.value} (or give --format json)",
                                 param_hint="'--format'")
    knowledge = load(kb, allow_safety_changes)
    if batch is not None:
        flags = (symptom, injury, goal, phase, level, equipment, setting, red_flag, pain, stage,
                 limit, minutes, profile, assessment)
        if any(f not in (None, []) for f in flags):
            raise typer.BadParameter("profile options cannot be combined with --batch; put "
                                     "them in each line", param_hint="'--batch'")
        render.batch(knowledge, batch, trace=trace, jobs=jobs)
        return
    runner = profile_of(knowledge, locals())
    result = consult(runner, knowledge)
    render.advice(result, knowledge, format.value, trace=trace)


ExerciseArg = Annotated[str, typer.Argument(metavar="EXERCISE", help="An exercise id or name.",
                                            autocompletion=complete_ids("exercise"))]


def _explanation_command(name: str, answer: str, doc: str) -> None:
    """Register `kbrun why` or `kbrun why-not`: one signature, the engine function and the
    renderer of the same name (engine.explain.why / render.why, ...)."""

    def command(
        exercise: ExerciseArg,
        symptom: SymptomOpt = None, injury: InjuryOpt = None, goal: GoalOpt = None,
        phase: PhaseOpt = None, level: LevelOpt = None, equipment: EquipmentOpt = None,
        setting: SettingOpt = None, red_flag: RedFlagOpt = None, pain: PainOpt = None,
        stage: StageOpt = None, limit: LimitOpt = None, minutes: MinutesOpt = None,
        assessment: AssessmentOpt = None, profile: ProfileOpt = None, kb: KbOpt = None,
        allow_safety_changes: AllowSafetyOpt = False,
        format: FormatOpt = Format.text,
        week: WeekOpt = None, day: DayOpt = None,
        race_date: RaceDateOpt = None, weeks: WeeksOpt = None, start: StartOpt = None,
        hard_days: HardDaysOpt = None, long_run: LongRunOpt = None, rest_days: RestDaysOpt = None,
        sessions: SessionsOpt = None,
    ) -> None:
        from kbrun.cli import render
        from kbrun.engine import explain
        from kbrun.engine.plan import plan_context, planned_day

        knowledge = load(kb, allow_safety_changes)
        explained = getattr(explain, answer)
        if week is None and day is None:
            runner = profile_of(knowledge, locals())
            getattr(render, answer)(explained(knowledge, runner, exercise), format.value)
            return
        _runner, season = plan_of(knowledge, locals())
        planned, session = planned_day(season, week, day)
        result = explained(knowledge, planned.profile, exercise)
        result.plan_day = plan_context(planned, session)
        getattr(render, answer)(result, format.value)

    command.__doc__ = doc
    command.__name__ = answer
    app.command(name)(command)


_explanation_command("why", "why", "Why EXERCISE is in the session: its derivation, score and "
                     "dose, rule by rule.")
_explanation_command("why-not", "why_not",
                     "Why EXERCISE is not in the session, and the smallest change that would "
                     "bring it in.")


@app.command()
def plan(
    symptom: SymptomOpt = None, injury: InjuryOpt = None, goal: GoalOpt = None,
    phase: PhaseOpt = None, level: LevelOpt = None, equipment: EquipmentOpt = None,
    setting: SettingOpt = None, red_flag: RedFlagOpt = None, pain: PainOpt = None,
    stage: StageOpt = None, limit: LimitOpt = None, minutes: MinutesOpt = None,
    assessment: AssessmentOpt = None, profile: ProfileOpt = None, kb: KbOpt = None,
    allow_safety_changes: AllowSafetyOpt = False,
    race_date: RaceDateOpt = None, weeks: WeeksOpt = None, start: StartOpt = None,
    hard_days: HardDaysOpt = None, long_run: LongRunOpt = None, rest_days: RestDaysOpt = None,
    sessions: SessionsOpt = None,
    format: PlanFormatOpt = PlanFormat.text, output: OutputOpt = None,
) -> None:
    """A season of strength work: the weeks to a race (or --weeks) around your running week,
    with phases, days, progression and lighter weeks, rule by rule."""
    from kbrun.cli import render

    knowledge = load(kb, allow_safety_changes)
    _runner, season = plan_of(knowledge, locals())
    render.plan(season, knowledge, format.value, output)


ASSESS = "Results"


@app.command()
def assess(
    result: Annotated[list[str] | None, typer.Option(
        "--result", "-r", metavar="TEST=LEFT,RIGHT", help="A test's left and right result, e.g. "
        "heel-raise-test=14,20 (repeatable); the tests: kbrun kb list tests.",
        rich_help_panel=ASSESS, autocompletion=complete_ids("test"))] = None,
    results: Annotated[Path | None, typer.Option(
        "--results", metavar="FILE", help="A YAML or JSON file of dated assessments (the one "
        "--interactive or --save writes, or kbrun assess --format json).",
        rich_help_panel=ASSESS)] = None,
    interactive: Annotated[bool, typer.Option(
        "--interactive", "-i", help="Ask for each test, showing how to do it; every answer is "
        "saved to --results FILE at once, so you can stop (q) and go on later.",
        rich_help_panel=ASSESS)] = False,
    save: Annotated[bool, typer.Option(
        "--save", help="Add the --result values to --results FILE (as the assessment of "
        "--date).", rich_help_panel=ASSESS)] = False,
    date: Annotated[str | None, typer.Option(
        "--date", metavar="YYYY-MM-DD", help="The day of the --result or --interactive "
        "results (default: today).", rich_help_panel=ASSESS)] = None,
    kb: KbOpt = None, allow_safety_changes: AllowSafetyOpt = False,
    format: FormatOpt = Format.text, output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write the report to FILE instead of printing "
        "it.")] = None,
) -> None:
    """Field tests for strength and left/right imbalance: findings with the side, the figures
    against the norm and how certain they are; the trend across dated assessments; when to
    re-test. Use the results with advise --assessment FILE and plan --assessment FILE."""
    from kbrun.cli import render
    from kbrun.engine.assessment import (
        assessment_from_options,
        evaluate,
        merge,
        parse_date,
        read_results,
        save_assessment,
    )

    today = dt.date.today()
    day = None if date is None else parse_date(date, "--date")
    if not (result or results or interactive):
        raise typer.BadParameter("give results: --result TEST=LEFT,RIGHT (repeatable), "
                                 "--results FILE, or --interactive --results FILE",
                                 param_hint="'--result'")
    if (interactive or save) and results is None:
        flag = "--interactive" if interactive else "--save"
        raise typer.BadParameter(f"{flag} needs --results FILE, the file the answers are saved "
                                 "to (it is created if missing)", param_hint="'--results'")
    if interactive and result:
        raise typer.BadParameter("give results either with --result or --interactive, not "
                                 "both", param_hint="'--interactive'")
    if save and not result:
        raise typer.BadParameter("--save adds the --result values to --results FILE; give "
                                 "some --result", param_hint="'--save'")
    if output is not None and results is not None and str(output) != "-" \
            and output.resolve() == results.resolve():
        raise typer.BadParameter("-o would write the report over the --results file; give "
                                 "another file", param_hint="'--output'")
    knowledge = load(kb, allow_safety_changes)
    if interactive:
        from kbrun.cli import interactive as session

        assert results is not None
        if not session.run(knowledge, results, date=day, today=today):
            return  # stopped: the answers are saved, and said so
    if result:
        added = assessment_from_options(knowledge, result, day or today)
        if save:
            assert results is not None
            earlier = save_assessment(knowledge, results, added)
        else:
            earlier = merge([] if results is None else read_results(knowledge, results), added)
    else:
        earlier = [] if results is None else read_results(knowledge, results)
    report = evaluate(knowledge, earlier, today=today, origin=str(results or "--result"))
    render.assessment(report, knowledge, format.value, output)


from kbrun.cli import kb as _kb  # noqa: E402  (registers the `kb` command group)

app.add_typer(_kb.kb_app, name="kb")


def main() -> None:
    """Console-script entry point.

    Once the command has run and its output is flushed, the process ends at once: the
    interpreter's teardown (freeing every object of the knowledge base and the Rete network one
    by one) would add a tenth of a second to every command and change nothing.
    """
    _guard_stdout()
    try:
        app(prog_name="kbrun")
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    if code is not None and not isinstance(code, int):
        raise SystemExit(code)  # a message: the interpreter prints it
    code = code or 0
    if not _state["stdout_failed"]:
        try:
            sys.stdout.flush()
        except OutputError as err:
            failed = output_failed(err)
            code = code or failed
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()  # else nowhere is left to say anything
    os._exit(code)


class _Stdout(io.FileIO):
    """File descriptor 1, whose write errors are OutputError: a full disk, a closed stdout or
    a broken pipe ends kbrun with one line (or quietly), not as a bug."""

    def write(self, data: Any, /) -> int:
        try:
            return super().write(data)
        except OSError as err:
            raise OutputError(err.errno, err.strerror) from None


def _guard_stdout() -> None:
    """Give kbrun a stdout that reports what goes wrong and never fails to encode.

    A closed stdout or stderr (`kbrun ... >&-`) is taken by /dev/null first, so that no file
    kbrun opens lands on it; stdout's, opened read-only, makes every write fail (EBADF): the
    output is refused with an error, not lost in silence. Characters the stdout encoding
    cannot hold (PYTHONIOENCODING=ascii, a latin-1 terminal) are replaced, never a crash.
    """
    for fd, flags in ((1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            spare = os.open(os.devnull, flags)
            if spare != fd:
                os.dup2(spare, fd)
                os.close(spare)
    current = sys.stdout
    if os.name == "nt" and isinstance(current, io.TextIOWrapper) and current.isatty():
        current.reconfigure(errors="replace")  # the console: it takes any character
        return
    encoding = getattr(current, "encoding", None) or "utf-8"
    if current is not None:
        with contextlib.suppress(OSError, ValueError):
            current.flush()
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(_Stdout(1, "w", closefd=False)),
                                  encoding=encoding, errors="replace",
                                  line_buffering=os.isatty(1))
