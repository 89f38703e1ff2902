"""The docs are true to the code: every `$ kbrun ...` line shown in README.md and docs/*.md runs.

For each fenced block (```console, ```bash, ```text, ```shell, ```sh or unlabelled) the test
finds the lines that start with `$ kbrun `, drops a trailing `# comment`, splits the rest with
shlex and runs it in-process through typer's CliRunner. It asserts:

- the exit code is 0, or 2 when the doc shows an `Error:` line right after the command;
- every output line the doc shows under the command (up to the next `$` line or the end of the
  block) is in the real output, comparing with runs of whitespace collapsed, in the doc's
  order and without gaps: the first shown line is the output's first, and each next one is on
  the same output line (a long line shown wrapped) or the next non-blank one, unless a line
  that is just `...` (or `…`) between them says that something is left out. `...` inside a
  line stands for text of that line the doc leaves out. The rows and borders of a table drawn
  with box characters are not compared (rich sizes them to the terminal) and count as an
  elision. Only whitespace is tolerated: every other character must match.

The output is rendered at a very wide terminal so that no logical line is wrapped; a doc may
show a long line wrapped as a narrower terminal would, since each wrapped piece is still a
substring of the logical line.

Commands whose file arguments do not exist in the repository (a file the doc has the reader
create, such as `runners.jsonl`, `my-kb/` or a results file `my-results.yaml`) are skipped with
the file named. So that no doc command writes into the repository, `kbrun assess --save` and
`--interactive` must name a `--results` file that is not in it (the command is then skipped).
`kb import` runs in a temporary folder (with the dataset path taken from the repository root),
and later commands of the same doc that use its `--out` folder run there too.

A command that is known to be stale in a doc this test's author may not edit is listed in
KNOWN_STALE and runs as a strict xfail: it fails loudly once the doc is fixed, so the entry
must then be removed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import output_kind, validated_output

REPO = Path(__file__).resolve().parent.parent
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

#: `file:line` of commands known to be stale, in docs owned by someone else -> why.
KNOWN_STALE: dict[str, str] = {}

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
SHELL_BLOCKS = {"", "console", "bash", "text", "shell", "sh"}
ELISION = re.compile(r"\.\.\.|…")
BOX = {chr(c) for c in range(0x2500, 0x2580)}          # the Unicode box-drawing block
VERTICAL = set("│┃║╎╏┆┇┊┋")
FILE_OPTIONS = {"--kb", "--batch", "--profile", "--dataset", "--assessment", "--results"}
WIDE = "10000"                                         # columns: no logical line wraps


@dataclass
class Command:
    """One `$ kbrun ...` line of a doc and what the doc shows under it."""

    doc: str                       # path relative to the repository root
    line: int                      # 1-based line of the `$ kbrun` line
    text: str                      # the command without `$ ` and comment
    args: list[str]                # after `kbrun`, comment dropped
    shown: list[tuple[int, str]] = field(default_factory=list)   # (line, text) under it

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def expected_exit(self) -> int:
        first = next((text for _, text in self.shown if text.strip()), "")
        return 2 if first.lstrip().startswith("Error:") else 0

    @property
    def import_out(self) -> str | None:
        """The --out folder of a `kb import` command, else None."""
        if self.args[:2] != ["kb", "import"]:
            return None
        return _option(self.args, "--out")


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def commands_in(text: str, doc: str) -> list[Command]:
    """Every `$ kbrun` command in the shell-like fenced blocks of a Markdown text."""
    commands: list[Command] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = opening["indent"], opening["fence"], opening["lang"].lower()
        body: list[tuple[int, str]] = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            raw = lines[i]
            body.append((i + 1, raw[len(indent):] if raw.startswith(indent) else raw.lstrip()))
            i += 1
        i += 1                                         # past the closing fence
        if lang in SHELL_BLOCKS:
            commands.extend(_commands_in_block(body, doc))
    return commands


def _commands_in_block(body: list[tuple[int, str]], doc: str) -> list[Command]:
    commands: list[Command] = []
    current: Command | None = None
    for number, text in body:
        if text.startswith("$"):
            current = None
            if text.startswith("$ kbrun "):
                words = shlex.split(text[2:], comments=True)
                current = Command(doc, number, "kbrun " + shlex.join(words[1:]), words[1:])
                commands.append(current)
        elif current is not None:
            current.shown.append((number, text))
    for command in commands:                           # trailing blank lines show nothing
        while command.shown and not command.shown[-1][1].strip():
            command.shown.pop()
    return commands


# --- comparing shown output with real output -------------------------------------------------

def _collapse(text: str) -> str:
    return " ".join(text.split())


def _is_table_art(text: str) -> bool:
    """A table border (only box characters) or a table row (between vertical box bars)."""
    stripped = text.strip()
    if not stripped:
        return False
    if all(ch in BOX or ch.isspace() for ch in stripped):
        return True
    return stripped[0] in VERTICAL and stripped[-1] in VERTICAL


def _pattern(text: str) -> re.Pattern[str] | None:
    """A doc line as a pattern over one collapsed output line; None if nothing is checked."""
    collapsed = _collapse(text)
    if not collapsed or _is_table_art(collapsed):
        return None
    pieces = [piece.strip() for piece in ELISION.split(collapsed)]
    pieces = [piece for piece in pieces if piece]
    if not pieces:                                     # the line is only an elision
        return None
    return re.compile(".*?".join(re.escape(piece) for piece in pieces))


def output_problems(command: Command, exit_code: int, output: str) -> list[str]:
    """What in the doc is not true of this real run: the exit code, and each shown line that is
    not in the output where the doc puts it. Shown lines follow one another in the output: the
    next checked line is on the same output line (a long line shown wrapped) or the next
    non-blank one, unless an elision line or table art between them stands for what is left
    out. The first shown line is the first line of the output unless an elision precedes it."""
    problems = []
    if exit_code != command.expected_exit:
        problems.append(f"{command.id}: `{command.text}` exited {exit_code}, the doc implies "
                        f"{command.expected_exit}")
    real = [_collapse(line) for line in output.splitlines()]
    filled = [j for j, line in enumerate(real) if line]
    at, gap = -1, False                                # last matched output line; gap allowed
    for number, text in command.shown:
        if not text.strip():
            continue
        pattern = _pattern(text)
        if pattern is None:                            # an elision or table art: a gap is fine
            gap = True
            continue
        if gap:
            candidates = [j for j in filled if j >= max(at, 0)]
        else:
            candidates = [j for j in filled if j == at] + [j for j in filled if j > at][:1]
        found = next((j for j in candidates if pattern.search(real[j])), None)
        if found is None:
            anywhere = any(pattern.search(line) for line in real)
            where = (" where the doc puts it (mark what is left out with a `...` line)"
                     if anywhere else "")
            problems.append(f"{command.doc}:{number}: shown line is not in the output{where}: "
                            f"{text.strip()}")
            gap = True                                 # one report, not a cascade
        else:
            at, gap = found, False
    return problems


# --- running ---------------------------------------------------------------------------------

def _file_args(args: list[str]) -> list[str]:
    """The arguments that name files or folders the command reads."""
    files = [value for i, value in enumerate(args[1:], 1) if args[i - 1] in FILE_OPTIONS]
    files += [arg.split("=", 1)[1] for arg in args
              if "=" in arg and arg.split("=", 1)[0] in FILE_OPTIONS]
    if args[:2] == ["kb", "import"]:
        positional = [a for i, a in enumerate(args[2:], 2)
                      if not a.startswith("-") and not args[i - 1].startswith("--")]
        files += positional[1:2]                       # SOURCE PATH: PATH is read
    return [f for f in files if f != "-"]


ALL = [command for path in DOC_FILES
       for command in commands_in(path.read_text(encoding="utf-8"),
                                  path.relative_to(REPO).as_posix())]
_BY_ID = {command.id: command for command in ALL}


def _producer(command: Command, name: str) -> Command | None:
    """An earlier `kb import --out NAME` in the same doc."""
    for other in ALL:
        if other.doc == command.doc and other.line < command.line and \
                other.import_out and Path(other.import_out) == Path(name):
            return other
    return None


def _missing(command: Command) -> list[str]:
    return [name for name in _file_args(command.args)
            if not (REPO / name).exists() and _producer(command, name) is None]


def _params():
    for command in ALL:
        marks = []
        missing = _missing(command)
        if missing:
            marks.append(pytest.mark.skip(
                reason=f"{command.id}: needs {', '.join(missing)}, which is not in the "
                       "repository (the doc has the reader make it)"))
        elif command.id in KNOWN_STALE:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_STALE[command.id]))
        yield pytest.param(command, id=command.id, marks=marks)


class Workspace:
    """Temporary folders where `kb import` writes, one per importing command, so that the
    commands of a doc that use the import's output can run after it."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.folders: dict[str, Path] = {}
        self.results: dict[str, tuple[int, str]] = {}

    def folder(self, importer: Command, monkeypatch: pytest.MonkeyPatch) -> Path:
        if importer.id not in self.folders:
            folder = self.factory.mktemp("doc-import")
            self.folders[importer.id] = folder
            self.results[importer.id] = _invoke(importer, folder, monkeypatch)
        return self.folders[importer.id]


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory)


#: command id -> what its last run wrote on stdout alone (`output` interleaves stderr)
STDOUT: dict[str, str] = {}


def _invoke(command: Command, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Run the command in-process with `cwd` as the working folder. Outside the repository,
    an argument naming a file of the repository is given as an absolute path."""
    args = list(command.args)
    if cwd != REPO:
        args = [str(REPO / arg) if arg in _file_args(command.args) and (REPO / arg).exists()
                else arg for arg in args]
    with monkeypatch.context() as patch:
        patch.chdir(cwd)
        result = CliRunner().invoke(app, args, env={"COLUMNS": WIDE, "LINES": "50"})
    STDOUT[command.id] = result.stdout
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += f"\n(exception: {result.exception!r})"
    return result.exit_code, output


def run(command: Command, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
        ) -> tuple[int, str]:
    if command.import_out is not None:
        workspace.folder(command, monkeypatch)
        return workspace.results[command.id]
    for name in _file_args(command.args):
        importer = _producer(command, name) if not (REPO / name).exists() else None
        if importer is not None:
            return _invoke(command, workspace.folder(importer, monkeypatch), monkeypatch)
    return _invoke(command, REPO, monkeypatch)


@pytest.mark.parametrize("command", list(_params()))
def test_doc_command(command: Command, workspace: Workspace, monkeypatch) -> None:
    exit_code, output = run(command, workspace, monkeypatch)
    problems = output_problems(command, exit_code, output)
    assert not problems, "\n".join(problems) + "\n--- real output ---\n" + output
    if exit_code == 0 and output_kind(command.args):
        validated_output(command.args, STDOUT[command.id])   # JSON keeps to the contract


# --- the checker itself ----------------------------------------------------------------------

def test_no_doc_command_saves_results_into_the_repository():
    saving = [f"{command.id}: `{command.text}` would write {name}, a file of the repository; "
              "name a results file that is not in it"
              for command in ALL if command.args[:1] == ["assess"]
              and {"--save", "--interactive", "-i"} & set(command.args)
              for name in [_option(command.args, "--results")]
              if name is not None and (REPO / name).exists()]
    assert not saving, "\n".join(saving)


def test_the_docs_have_commands_to_check():
    assert len(ALL) >= 20
    assert all(command.args for command in ALL)
    assert not set(KNOWN_STALE) - set(_BY_ID), "KNOWN_STALE names a line with no command"


MADE_UP = """\
Some prose.

```console
$ kbrun kb validate --kb my-kb            # a comment, dropped
Error: my-kb/x.yaml:3: something
$ echo $?
2
$ kbrun kb stats
Knowledge   base statistics
...
entries:
  source: ...
  muscle: 99999
```

```python
$ kbrun not-a-command-in-a-python-block
```

   ```
   $ kbrun kb list levels --format markdown
   ┏━━━┳━━━┓
   ┃ made-up table row ┃
   ```
"""


def made_up(*replacements: tuple[str, str]) -> list[Command]:
    text = MADE_UP
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    return commands_in(text, "made-up.md")


def test_the_parser_reads_commands_comments_errors_and_indented_blocks():
    found = made_up()
    assert [c.args for c in found] == [["kb", "validate", "--kb", "my-kb"], ["kb", "stats"],
                                       ["kb", "list", "levels", "--format", "markdown"]]
    assert [c.id for c in found] == ["made-up.md:4", "made-up.md:8", "made-up.md:21"]
    assert found[0].expected_exit == 2 and [t for _, t in found[0].shown] == [
        "Error: my-kb/x.yaml:3: something"]                  # `$ echo` ends its output
    assert found[1].expected_exit == 0 and len(found[1].shown) == 5
    assert _missing(found[0]) == ["my-kb"]


def test_the_checker_reports_a_wrong_output_line(monkeypatch):
    stats = made_up()[1]
    exit_code, output = _invoke(stats, REPO, monkeypatch)
    assert output_problems(stats, exit_code, output) == [
        "made-up.md:13: shown line is not in the output: muscle: 99999"]

    # With the true figure it passes: the spacing differs and the elisions hold.
    true = re.search(r"muscle: \d+", output).group(0)
    assert output_problems(made_up(("muscle: 99999", true))[1], exit_code, output) == []

    # Wording is not whitespace: a changed character is reported.
    worded = made_up(("muscle: 99999", true),
                     ("Knowledge   base statistics", "Knowledge-base statistics"))[1]
    assert output_problems(worded, exit_code, output) == [
        "made-up.md:9: shown line is not in the output: Knowledge-base statistics"]

    # So is a line shown out of order, and a line left out without a `...` to say so.
    where = " where the doc puts it (mark what is left out with a `...` line)"
    swapped = made_up(("muscle: 99999", true), ("  source: ...", "Knowledge base statistics"))[1]
    assert output_problems(swapped, exit_code, output) == [
        f"made-up.md:12: shown line is not in the output{where}: Knowledge base statistics"]
    silent = made_up(("muscle: 99999", true), ("...\nentries:", "entries:"))[1]
    assert output_problems(silent, exit_code, output) == [
        f"made-up.md:10: shown line is not in the output{where}: entries:"]

    # Table art drawn with box characters is not compared; a tree drawn with them is.
    assert all(_pattern(text) is None for _, text in made_up()[2].shown)
    assert _pattern("│  ├─ focus(muscle=x) ⇐ rule ...") is not None


def test_the_checker_reports_a_wrong_exit_code():
    validate = made_up()[0]                 # the doc shows `Error:` under it: exit 2 expected
    problems = output_problems(validate, 0, "Knowledge base is valid (kb + my-kb): ...\n")
    assert problems == [
        "made-up.md:4: `kbrun kb validate --kb my-kb` exited 0, the doc implies 2",
        "made-up.md:5: shown line is not in the output: Error: my-kb/x.yaml:3: something"]
    assert output_problems(validate, 2, "Error:   my-kb/x.yaml:3: something\n") == []


def test_an_elision_inside_a_line_stands_for_text_within_that_line():
    stats = made_up(("  source: ...", "  source: ... 99999"))[1]
    output = "Knowledge base statistics\nentries:\n  source: 63\n  muscle: 99999\n"
    assert output_problems(stats, 0, output) == [
        "made-up.md:12: shown line is not in the output: source: ... 99999"]
