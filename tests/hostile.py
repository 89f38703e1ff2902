"""Running `kbrun` in a subprocess of its own for the hostile corpus: its exit code, output,
wall time and peak memory (the child's own maximum resident set, read in the child), with a
hard time limit after which the child is killed and the test fails.

    result = run_kbrun(["kb", "validate", "--kb", str(folder)], timeout=20)
    assert result.code == 2 and result.error_line.startswith("Error: ")
    assert result.seconds < 20 and result.peak_mb < 400

A time bound here is a safety bound (a hostile input must be refused, not run for ever), not a
speed goal: keep it generous (tens of seconds) so that a slow machine never fails it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

# The child runs kbrun under this wrapper, which caps its own address space (KBRUN_TEST_AS_MB)
# and, however kbrun ends (os._exit, sys.exit), writes its own peak resident size (VmHWM of
# /proc/self/status) to KBRUN_TEST_PEAK. The peak is read in the child because the one the
# kernel reports to the parent (wait4's ru_maxrss) starts from the parent's own high-water mark,
# which a child inherits at exec: under a large pytest process every child would look as big.
_WRAPPER = """
import os, resource, sys
if os.environ.get("KBRUN_TEST_AS_MB"):
    size = int(os.environ["KBRUN_TEST_AS_MB"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
def peak():
    try:
        with open("/proc/self/status") as status:
            kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(os.environ["KBRUN_TEST_PEAK"], "w") as out:
        out.write(str(kb))
real_exit = os._exit
def exit_with_peak(code):
    peak()
    real_exit(code)
os._exit = exit_with_peak
try:
    from kbrun.cli.main import main
    main()
finally:
    peak()
"""
KBRUN = [sys.executable, "-c", "from kbrun.cli.main import main; main()"]   # as installed
_MEASURED = [sys.executable, "-c", _WRAPPER]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]

    @property
    def error_line(self) -> str:
        """The one `Error:` line on stderr (the test fails if there is not exactly one, or if
        stderr holds a traceback)."""
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.error_lines
        assert len(lines) == 1, f"expected one Error: line, got:\n{self.stderr}"
        return lines[0]


def _drain(stream: IO[bytes], into: list[bytes]) -> None:
    into.append(stream.read())


def run_kbrun(args: list[str], *, timeout: float = 30, stdin: bytes | None = None,
              env: dict[str, str] | None = None, cwd: str | Path | None = None,
              memory_mb: int | None = None) -> Run:
    """Run `kbrun ARGS`; kill it and fail the test after `timeout` seconds. With `memory_mb`,
    the child's address space is capped there too (a runaway then fails fast instead of
    taking the machine)."""
    import subprocess

    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("PYTHONIOENCODING", "utf-8")
    peak_file = tempfile.NamedTemporaryFile(prefix="kbrun-peak-", delete=False)  # noqa: SIM115
    peak_file.close()
    child_env["KBRUN_TEST_PEAK"] = peak_file.name
    if memory_mb is not None:
        child_env["KBRUN_TEST_AS_MB"] = str(memory_mb)
    start = time.monotonic()
    proc = subprocess.Popen(_MEASURED + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env, cwd=cwd,
                            start_new_session=True)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
    for reader in readers:
        reader.start()

    def feed() -> None:
        try:
            if stdin:
                proc.stdin.write(stdin)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass  # the child stopped reading: what it did with that is what is tested

    threading.Thread(target=feed, daemon=True).start()
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _pid, status = os.waitpid(proc.pid, 0)
    finally:
        timer.cancel()
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=5)
    if killed.is_set():
        pytest.fail(f"kbrun {' '.join(args)[:200]} still ran after {timeout} s")
    try:
        peak_kb = float(Path(peak_file.name).read_text() or "nan")
    finally:
        os.unlink(peak_file.name)
    return Run(proc.returncode, b"".join(out).decode("utf-8", "replace"),
               b"".join(err).decode("utf-8", "replace"), seconds, peak_kb / 1024)
