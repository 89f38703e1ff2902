"""What kbrun prints cannot be hijacked by the data it prints, and it behaves as a command line
should: stdout that cannot be written, narrow and non-UTF-8 terminals, NO_COLOR, `-h`, shell
completion (issue 11)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kbrun.cli.main import EXIT_BROKEN_PIPE, app
from kbrun.cli.render import json_text, markdown_code, markdown_text, terminal_text
from tests.hostile import KBRUN, Run, run_kbrun

runner = CliRunner()

# A name that tries everything: a title change (OSC 0, ended by BEL), a clear screen, a
# hyperlink (OSC 8) that shows as "Clamshell", a one-byte CSI (C1), a right-to-left override,
# a line break, rich markup (an unbalanced `[/]` used to crash kbrun with exit 1), raw HTML and
# Markdown that would make a heading, a table cell, emphasis and a forged link.
HOSTILE_NAME = ("Evil\x1b]0;pwned\x07\x1b[2J [bold]BOLD[/] [/] [link=http://evil.example]L[/link] "
                "\x1b]8;;http://evil.example\x1b\\Clamshell\x1b]8;;\x1b\\ \x9b31m \u202eevil "
                "<script>alert(1)</script> [Clamshell](http://evil.example) | # *x* _y_ `z`\n"
                "second line")
HOSTILE_TEXT = "Café reason — \x1b[2J [/] <img src=x onerror=alert(1)> \u2066x\u2069 \x07"
# what must never reach a terminal: C0 controls but the line break, DEL, C1, bidi controls
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                         "\u2066-\u2069]")


@pytest.fixture(scope="module")
def hostile_kb(tmp_path_factory) -> Path:
    """A --kb overlay adding an exercise with hostile text everywhere, and a rule that puts it
    in the session of any runner with --goal hills."""
    folder = tmp_path_factory.mktemp("hostile-kb")
    source = {"id": "004_21a09f0110ce186f.txt",
              "quote": "Hill running is resistance training for runners,"}
    data = {
        "exercises": [{
            "id": "evil-clamshell", "name": HOSTILE_NAME, "aliases": [],
            "category": "strength", "pattern": "stair-climb",
            "targets": {"primary": ["gluteus-maximus"]}, "equipment": ["box"],
            "level": "intermediate", "unilateral": True, "impact": "low",
            "joint_load": {"knee": "moderate"}, "loadable": False, "qualities": ["strength"],
            "dose": {"sets": 3, "reps": [8, 10], "per_side": True, "load": "bodyweight",
                     "rest_s": 60},
            "cues": [HOSTILE_TEXT, "[red]red[/red] \x1b]8;;http://evil.example\x07link"],
            "sources": [source]}],
        "rules": [{
            "id": "evil-rule", "description": HOSTILE_TEXT,
            "sources": ["004_21a09f0110ce186f.txt"],
            "when": [{"goal": {"id": "hills"}}],
            "then": [{"recommend": {"exercise": "evil-clamshell", "weight": 0.99,
                                    "reason": HOSTILE_TEXT}}]}],
    }
    (folder / "evil.yaml").write_text(yaml.safe_dump(data, allow_unicode=False),
                                      encoding="utf-8")
    return folder


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def assert_inert_text(out: str) -> None:
    """Text output: no control character, markup and HTML printed as written."""
    assert not RAW_CONTROL.findall(out), RAW_CONTROL.findall(out)
    assert "\\x1b]0;pwned\\x07" in out        # the title change, made visible
    assert "Evil" in out


# -- output that cannot be hijacked ---------------------------------------------------------------

def test_the_hostile_exercise_is_in_the_session(hostile_kb):
    data = json.loads(invoke("advise", "--goal", "hills", "--kb", str(hostile_kb),
                             "--format", "json").stdout)
    assert "evil-clamshell" in [r["exercise"] for r in data["recommendations"]]


def test_text_advice_prints_hostile_names_literally(hostile_kb):
    result = invoke("advise", "--goal", "hills", "--kb", str(hostile_kb),
                    env={"COLUMNS": "2000"})            # wide: no cell folds a name
    assert result.exit_code == 0, result.output       # `[/]` in a name was exit 1
    out = result.stdout
    assert_inert_text(out)
    assert "[bold]BOLD[/] [/] [link=http://evil.example]L[/link]" in out
    assert "[red]red[/red]" in out


def test_on_a_colour_terminal_only_kbrun_styles_reach_it(hostile_kb):
    result = run_kbrun(["advise", "--goal", "hills", "--kb", str(hostile_kb)], timeout=30,
                       env={**os.environ, "FORCE_COLOR": "1", "COLUMNS": "160"})
    assert result.code == 0, result.stderr
    assert "\x1b[1m" in result.stdout                 # kbrun's own bold is there...
    left = re.sub("\x1b\\[[0-9;]*m", "", result.stdout)
    assert not RAW_CONTROL.findall(left)               # ...and no other escape at all
    assert result.seconds < 30


@pytest.mark.parametrize("args", [
    ["why", "evil-clamshell", "--goal", "hills"],
    ["why-not", "evil-clamshell"],
    ["kb", "show", "evil-clamshell"],
    ["kb", "show", "evil-rule"],
    ["kb", "list", "exercises"],
    ["kb", "list", "rules"],
], ids=" ".join)
def test_every_text_output_is_inert(hostile_kb, args):
    result = invoke(*args, "--kb", str(hostile_kb))
    assert result.exit_code == 0, result.output
    assert not RAW_CONTROL.findall(result.stdout), RAW_CONTROL.findall(result.stdout)
    assert "[/]" in result.stdout


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "graphml", "json"])
def test_a_graph_export_on_stdout_is_inert(hostile_kb, fmt):
    result = invoke("kb", "graph", "--focus", "evil-clamshell", "--format", fmt,
                    "--kb", str(hostile_kb))
    assert result.exit_code == 0, result.output
    assert "Evil" in result.stdout and "pwned" in result.stdout
    assert not RAW_CONTROL.findall(result.stdout), RAW_CONTROL.findall(result.stdout)


def test_folder_and_file_names_cannot_act_on_the_terminal(hostile_kb, tmp_path):
    folder = tmp_path / "kb\x1b]0;title\x07"
    folder.mkdir()
    (folder / "evil.yaml").write_bytes((hostile_kb / "evil.yaml").read_bytes())
    (folder / "notes\x1b[2J.txt").write_text("not knowledge\n", encoding="utf-8")
    result = runner.invoke(app, ["kb", "validate", "--kb", str(folder)], color=True)
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout and "Warning: " in result.stderr
    for stream in (result.stdout, result.stderr):
        assert not RAW_CONTROL.findall(stream), stream
        assert "\\x1b" in stream


def _markdown_problems(out: str) -> list[str]:
    problems = []
    out = re.sub("^(`{3,}).*?^\\1$", "", out, flags=re.M | re.S)  # code blocks are inert
    if RAW_CONTROL.search(out):
        problems.append(f"control characters {RAW_CONTROL.findall(out)}")
    if re.search("<(script|img|link)", out):
        problems.append("raw HTML")
    if re.search(r"(?<!\\)\[Clamshell(?<!\\)\]\(", out):
        problems.append("a forged link")
    if re.search(r"^(#+|[-*]) *second line", out, re.M):
        problems.append("a name's line break starts a Markdown line")
    return problems


def test_markdown_advice_escapes_what_markdown_would_read(hostile_kb):
    result = invoke("advise", "--goal", "hills", "--kb", str(hostile_kb), "--format", "markdown")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert not _markdown_problems(out), _markdown_problems(out)
    row = next(line for line in out.splitlines() if "Evil" in line)
    assert "second line" in row                         # the name stays in its row...
    header = next(line for line in out.splitlines() if line.startswith("| # |"))
    cells = re.compile(r"(?<!\\)\|")
    assert len(cells.findall(row)) == len(cells.findall(header))   # ...and in its cells
    assert "&lt;script&gt;" in row and r"\[Clamshell\](http://evil.example)" in row


@pytest.mark.parametrize("args", [
    ["why", "evil-clamshell", "--goal", "hills"],
    ["why-not", "evil-clamshell"],
    ["kb", "show", "evil-clamshell"],
    ["kb", "list", "exercises"],
], ids=" ".join)
def test_every_markdown_output_is_inert(hostile_kb, args):
    result = invoke(*args, "--kb", str(hostile_kb), "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert not _markdown_problems(result.stdout), _markdown_problems(result.stdout)


def test_json_keeps_the_exact_data_with_no_raw_control(hostile_kb):
    result = invoke("advise", "--goal", "hills", "--kb", str(hostile_kb), "--format", "json")
    assert result.exit_code == 0
    assert not RAW_CONTROL.findall(result.stdout)      # C1 and bidi are \u escapes too
    names = [r["name"] for r in json.loads(result.stdout)["recommendations"]]
    assert HOSTILE_NAME in names                        # the same value once parsed


def test_an_error_line_cannot_act_on_the_terminal():
    # color=True: stderr as on a terminal, where click strips no escape sequence
    result = runner.invoke(app, ["advise", "--pain", "\x1b]0;t\x07"], color=True)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert not RAW_CONTROL.findall(result.stderr), result.stderr
    assert "\\x1b" in result.stderr                     # shown, not obeyed


def test_the_sanitisers():
    assert terminal_text("a\x1b[2Jb\r\n c\u202e\x9b") == "a\\x1b[2Jb c\\u202e\\x9b"
    assert terminal_text(None) == ""
    assert markdown_text("[x](http://e) <b>|#*_`~&") == \
        r"\[x\](http://e) &lt;b&gt;\|\#\*\_\`\~&amp;"
    assert markdown_text("- item") == r"\- item" and markdown_text("1. x") == r"1\. x"
    assert markdown_text(["a|b", "c"]) == r"a\|b, c"
    assert markdown_code("a`b") == "``a`b``" and markdown_code("`a") == "`` `a ``"
    assert json_text('"\u202e\x9b\u2028"') == '"\\u202e\\u009b\\u2028"'


# -- stdout problems are errors -------------------------------------------------------------------

def _run(args: list[str], **popen: object) -> Run:
    """`kbrun ARGS` with stdout set up by the caller (a full device, a closed descriptor)."""
    start = time.monotonic()
    proc = subprocess.run([*KBRUN, *args], stderr=subprocess.PIPE, timeout=30,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"}, **popen)
    return Run(proc.returncode, "", proc.stderr.decode("utf-8", "replace"),
               time.monotonic() - start, 0)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_full_stdout_is_exit_2_naming_the_problem(fmt):
    with open("/dev/full", "wb") as full:
        result = _run(["advise", "--format", fmt], stdout=full)
    assert result.code == 2
    assert "no space left on device (stdout)" in result.error_line
    assert result.seconds < 30


def test_a_closed_stdout_is_exit_2_not_silence():
    result = _run(["advise"], stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    assert result.code == 2
    assert "stdout is closed" in result.error_line


def test_a_broken_pipe_ends_quietly():
    proc = subprocess.Popen([*KBRUN, "kb", "list", "exercises"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()                                 # the reader has gone (`| head -0`)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_BROKEN_PIPE == 141
    assert err == b""                                   # no traceback, no Error line


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_stdout_that_cannot_encode_replaces_never_crashes(encoding, hostile_kb):
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    text = run_kbrun(["why", "deadlift"], env=env, timeout=30)   # "⇐", "—", box drawing
    assert text.code == 0, text.stderr
    assert "Derivation" in text.stdout and "?" in text.stdout
    table = run_kbrun(["advise"], env=env, timeout=30)
    assert table.code == 0, table.stderr
    args = ["advise", "--goal", "hills", "--kb", str(hostile_kb), "--format", "json"]
    data = run_kbrun(args, env=env, timeout=30)
    assert data.code == 0 and data.stdout.isascii()     # "é" and "—" as \u escapes...
    assert json.loads(data.stdout) == json.loads(invoke(*args).stdout)  # ...the same data


def test_a_c_locale_without_pythonioencoding_works():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "PYTHONUTF8")}
    result = run_kbrun(["advise"], env={**env, "LANG": "C", "LC_ALL": "C"}, timeout=30)
    assert result.code == 0, result.stderr
    assert "kbrun session" in result.stdout


# -- --batch and options it cannot honour ---------------------------------------------------------

@pytest.mark.parametrize("fmt", ["markdown", "text"])
def test_batch_refuses_a_format_it_cannot_print(tmp_path, fmt):
    lines = tmp_path / "runners.jsonl"
    lines.write_text('{"symptoms": ["knee-pain"]}\n', encoding="utf-8")
    result = invoke("advise", "--batch", str(lines), "--format", fmt)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "--batch prints JSON lines" in result.stderr
    assert f"drop --format {fmt}" in result.stderr and result.stdout == ""
    ok = invoke("advise", "--batch", str(lines), "--format", "json", "--jobs", "1")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["line"] == 1


def test_a_bad_format_is_the_usual_one_line():
    result = invoke("advise", "--format", "bogus")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: Invalid value for '--format' / '-f': 'bogus' is "
                                     "not an output format; use one of text, json, markdown")
    graph = invoke("kb", "graph", "--format", "png")
    assert graph.exit_code == 2 and "use one of dot, graphml, json, mermaid" in graph.stderr


# -- a well-behaved command line ------------------------------------------------------------------

def test_a_narrow_terminal_gets_a_narrow_layout():
    for args in (["advise", "--symptom", "knee-pain"], ["kb", "show", "clamshell"],
                 ["kb", "list", "goals"]):
        result = invoke(*args, env={"COLUMNS": "40"})
        assert result.exit_code == 0, result.output
        widest = max(len(line) for line in result.stdout.splitlines())
        assert widest <= 40, f"{args}: a line of {widest} characters"


def test_no_color_means_no_colour_codes():
    result = run_kbrun(["advise", "--red-flag", "swelling"], timeout=30,
                       env={**os.environ, "FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert result.code == 0
    codes = re.findall("\x1b\\[([0-9;]*)m", result.stdout)
    colours = [c for c in codes for n in c.split(";") if n and (30 <= int(n) <= 49
                                                              or 90 <= int(n) <= 107)]
    assert not colours


COMMANDS = [[], ["advise"], ["why"], ["why-not"], ["kb"], ["kb", "validate"], ["kb", "list"],
            ["kb", "show"], ["kb", "graph"], ["kb", "stats"], ["kb", "import"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "kbrun")
def test_h_is_help_everywhere(command):
    result = invoke(*command, "-h")
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.stdout and "--help" in result.stdout


def _complete(words: str, env: dict[str, str] | None = None) -> tuple[list[str], Run]:
    """What `kbrun` offers for the last word of WORDS (bash, as its completion script asks)."""
    parts = words.split(" ")
    result = run_kbrun([], timeout=30, env={**os.environ, **(env or {}),
                                            "_KBRUN_COMPLETE": "complete_bash",
                                            "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)})
    return result.stdout.split(), result


@pytest.mark.parametrize(("words", "offered"), [
    ("kbrun why clam", {"clamshell"}),
    ("kbrun why-not eccentric-c", {"eccentric-calf-raise"}),
    ("kbrun advise --symptom knee-p", {"knee-pain"}),
    ("kbrun advise --stage ", {"acute", "subacute", "return-to-run"}),
    ("kbrun advise --setting ", {"home", "gym"}),
    ("kbrun advise --red-flag pain-on", {"pain-on-hop"}),
    ("kbrun kb list re", {"red-flags"}),
    ("kbrun kb show clam", {"clamshell"}),
    ("kbrun a", {"advise"}),
])
def test_completion_offers_commands_and_kb_ids(words, offered):
    values, result = _complete(words)
    assert result.code == 0, result.stderr
    assert offered <= set(values), values
    assert all(v.startswith(words.split(" ")[-1]) for v in values)
    assert result.seconds < 10


def test_completion_with_a_broken_kb_folder_falls_back_quietly(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.yaml").write_text("exercises: [: nope\n", encoding="utf-8")
    values, result = _complete(f"kbrun why --kb {broken} clam")
    assert result.code == 0 and "Traceback" not in result.stderr and result.stderr == ""
    assert values == ["clamshell"]


def test_completion_can_be_shown_and_installed():
    result = run_kbrun(["--show-completion", "bash"], timeout=30,
                       env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert result.code == 0, result.stderr
    assert "_KBRUN_COMPLETE" in result.stdout
    assert "--install-completion" in invoke("--help").stdout
