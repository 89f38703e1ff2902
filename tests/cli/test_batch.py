"""`kbrun advise --batch`: JSON lines out in input order whatever --jobs, a summary line and an
exit code a script can act on, and progress only where a person watches a terminal."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import validated
from tests.engine.test_batch import LINES, distinct_profiles
from tests.hostile import KBRUN  # `kbrun` in a fresh process, as a user runs it

runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A file of 10 distinct profiles with bad lines after every third (lines 4, 8 and 12)."""
    lines = []
    for index, profile in enumerate(distinct_profiles(10)):
        lines.append(json.dumps(profile))
        if index % 3 == 2:
            lines.append(json.dumps({"symptoms": ["knee-pian"]}) if index % 2 else "{")
    path = tmp_path_factory.mktemp("batch") / "runners.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def by_jobs(mixed):
    return {jobs: run("advise", "--batch", str(mixed), "--jobs", str(jobs)) for jobs in (1, 2)}


def test_one_process_and_two_workers_write_the_same_bytes(by_jobs):
    assert by_jobs[1].stdout == by_jobs[2].stdout
    rows = [validated("advise-batch-line", line) for line in by_jobs[2].stdout.splitlines()]
    assert [row["line"] for row in rows] == list(range(1, 14))
    assert [row["line"] for row in rows if "error" in row] == [4, 8, 12]


def test_bad_lines_are_counted_named_and_make_the_exit_code_2(by_jobs):
    for jobs, result in by_jobs.items():
        assert result.exit_code == 2
        assert result.stderr.startswith(
            f"Error: batch: 13 lines read, 10 advised, 3 failed ({jobs} job")
        assert "failed: lines 4, 8, 12, each with its \"error\" object in the output" in \
            result.stderr
        assert len(result.stderr.splitlines()) == 1   # no progress: stderr is not a terminal


def test_a_clean_batch_exits_0_with_its_summary(tmp_path):
    path = tmp_path / "runners.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in distinct_profiles(3)) + "\n\n")
    result = run("advise", "--batch", str(path), "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    assert result.stderr.startswith("batch: 3 lines read, 3 advised, 0 failed (2 jobs, ")


def test_batch_through_the_cli_from_stdin():
    result = run("advise", "--batch", "-", "--jobs", "1", input="\n".join(LINES) + "\n")
    assert result.exit_code == 2
    rows = [validated("advise-batch-line", line) for line in result.stdout.splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 4, 5, 6]
    assert sum("error" in row for row in rows) == 3
    assert "5 lines read, 2 advised, 3 failed" in result.stderr


def test_without_fork_the_batch_runs_in_one_process_and_says_so(monkeypatch):
    import kbrun.engine.batch as batch

    monkeypatch.setattr(batch, "fork_available", lambda: False)
    result = run("advise", "--batch", "-", "--jobs", "2", input=LINES[0] + "\n")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == (
        "kbrun: --jobs 2 needs worker processes forked from this one, which this platform "
        "cannot make; advising in this one process")
    assert "(1 job, " in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--symptom", "knee-pain", "--jobs", "2"], "--jobs only applies to --batch"),
    (["--batch", "-", "--jobs", "0"], "'--jobs'"),
    (["--batch", "-", "--phase", "taper"], "cannot be combined with --batch"),
], ids=["jobs-without-batch", "no-jobs", "profile-flags"])
def test_options_that_do_not_fit(args, message):
    result = run("advise", *args, input="")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr


def test_batch_file_that_does_not_exist():
    result = run("advise", "--batch", "/nonexistent/runners.jsonl")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot read batch file '/nonexistent/runners.jsonl'")


# -- hostile input, in a real process (issue 11) -------------------------------------------------

def test_batch_from_dev_zero_ends_at_once_with_one_error():
    from tests.hostile import run_kbrun

    result = run_kbrun(["advise", "--batch", "/dev/zero", "--jobs", "1"], timeout=30,
                       memory_mb=800)
    assert result.code == 2
    assert result.error_line.startswith("Error: batch: 1 line read, 0 advised, 1 failed")
    rows = [validated("advise-batch-line", line) for line in result.stdout.splitlines()]
    assert len(rows) == 1
    assert rows[0]["error"].startswith("line 1: over 68,157,441 bytes with no line end, over "
                                       "the 1 MiB limit for one line; nothing after it was read")
    assert result.seconds < 20 and result.peak_mb < 300


def test_an_over_long_line_and_a_huge_number_do_not_stop_the_batch(tmp_path):
    path = tmp_path / "runners.jsonl"
    path.write_bytes(b"\n".join([LINES[0].encode(), b'{"symptoms": ["' + b"x" * (2 << 20) + b'"]}',
                                 b'{"pain": ' + b"9" * 5000 + b"}", b'{"pain": 2, "pain": 3}',
                                 LINES[0].encode()]) + b"\n")
    result = run("advise", "--batch", str(path), "--jobs", "1")
    assert result.exit_code == 2
    rows = [validated("advise-batch-line", line) for line in result.stdout.splitlines()]
    assert [row["line"] for row in rows if "error" in row] == [2, 3, 4]
    assert [row["line"] for row in rows if "error" not in row] == [1, 5]


# -- progress, in a real process ------------------------------------------------------------------

def _stderr_through_a_terminal(args: list[str], stdin: str) -> tuple[int, str, str]:
    """Run kbrun with stderr on a pseudo-terminal; (exit code, stdout, what the terminal got).
    The terminal is read while kbrun runs, so that it never blocks on a full terminal."""
    import pty
    import threading

    leader, follower = pty.openpty()
    screen = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                piece = os.read(leader, 4096)
            except OSError:                           # EIO: every writer has gone
                return
            if not piece:
                return
            screen.extend(piece)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    process = subprocess.Popen([*KBRUN, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=follower)
    os.close(follower)
    stdout, _ = process.communicate(stdin.encode(), timeout=300)
    reader.join(timeout=30)
    os.close(leader)
    return process.returncode, stdout.decode(), screen.decode("utf-8", "replace")


def test_progress_is_drawn_in_place_on_a_terminal():
    lines = "\n".join(json.dumps(p) for p in distinct_profiles(3)) + "\n{\n"
    code, stdout, screen = _stderr_through_a_terminal(
        ["advise", "--batch", "-", "--jobs", "1"], lines)
    assert code == 2
    assert len(stdout.splitlines()) == 4
    assert "\rbatch: 0 lines, 0 failed" in screen.replace("\x1b[K", "")
    assert "lines/s (1 job)" in screen
    last = screen.replace("\r\n", "\n").rsplit("\r", 1)[-1]  # what stays once progress is erased
    assert last.replace("\x1b[K", "").startswith(
        "Error: batch: 4 lines read, 3 advised, 1 failed (1 job, ")


def test_no_progress_when_stderr_is_not_a_terminal():
    done = subprocess.run([*KBRUN, "advise", "--batch", "-", "--jobs", "2"],
                          input=json.dumps({"symptoms": ["knee-pain"]}) + "\n", text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("batch: 1 line read, 1 advised, 0 failed (2 jobs, ")


@pytest.mark.parametrize("jobs, message", [
    ("100000", "100000 is not a number of worker processes from 1 to 64; leave it out for one "
               "per CPU"),
    ("0", "0 is not a number of worker processes from 1 to 64; leave it out for one per CPU"),
    ("many", "'many' is not a whole number"),
])
def test_jobs_is_bounded_with_the_usual_one_line(jobs, message):
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "runners.jsonl"
    result = run("advise", "--batch", str(example), "--jobs", jobs)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"Error: Invalid value for '--jobs' / '-j': {message}\n"


def test_a_closed_stdin_is_one_line_naming_it():
    done = subprocess.run([*KBRUN, "advise", "--batch", "-", "--jobs", "1"], stdin=None,
                          capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: os.close(0))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("Error: cannot read the batch from stdin: it is closed; pipe the "
                           "profiles in (kbrun advise --batch - < runners.jsonl) or give the "
                           "file instead of '-'\n")
