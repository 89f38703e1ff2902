"""Batch consultations: one JSON profile per line in, one JSON result per line out, in input
order, in this process or in worker processes forked once the knowledge base is loaded."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import queue
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, NamedTuple

from kbrun.engine.errors import KbrunError

if TYPE_CHECKING:
    from multiprocessing.context import ForkProcess
    from multiprocessing.queues import Queue

    from kbrun.engine import contract
    from kbrun.engine.knowledge import KnowledgeBase

log = logging.getLogger(__name__)

#: Lines a worker advises per round trip: enough to make the hand-over negligible beside
#: consultations of tens of milliseconds, few enough that the output keeps flowing.
CHUNK_LINES = 8
#: Chunks per worker that may be in flight (queued, being advised, or back but not yet
#: written because an earlier chunk is not): what bounds the lines held in memory.
CHUNKS_PER_JOB = 4
#: Worker processes at most (--jobs): each is a fork of about 50-80 MB resident, so 64 is a few
#: GB on a large machine; more only thrashes (a consultation is CPU-bound).
MAX_JOBS = 64
#: Seconds to wait for a result before checking that the workers are still alive.
_POLL_S = 1.0
#: The longest input line read whole: a profile is one JSON object of a few hundred bytes, so
#: 1 MiB is far beyond any, and reading a line is bounded (`--batch /dev/zero` is one endless
#: line). A longer line is that line's error object.
MAX_LINE_BYTES = 1024 * 1024
#: How far past the first MAX_LINE_BYTES of an over-long line its end is looked for (read in
#: pieces, never held): a line end there lets the batch go on with the next line; none means
#: the input is not JSON lines at all (a binary file, a device), and nothing more is read.
MAX_SKIP_BYTES = 64 * 1024 * 1024

Status = Literal["advised", "invalid", "internal-error"]
NumberedLine = tuple[int, str]


class LineResult(NamedTuple):
    """The result of one input line, as `kbrun advise --batch` writes it."""

    line: int           # 1-based number of the line in the input
    text: str           # one JSON object on one line, without the newline
    status: Status      # advised; invalid (bad input, an error object); internal-error (a bug)

    @property
    def failed(self) -> bool:
        return self.status != "advised"


class WorkerDied(RuntimeError):
    """A batch worker process ended without being asked to (killed, or out of memory)."""


# -- reading -------------------------------------------------------------------------------------

class OverlongLine(str):
    """An input line longer than MAX_LINE_BYTES, as `read_lines` yields it: its first bytes
    (decoded, for the error message), how many bytes it had (`size`, a lower bound when
    `ended` is False: no line end was found and nothing after it was read)."""

    size: int
    ended: bool

    def __new__(cls, start: str, size: int, ended: bool) -> OverlongLine:
        line = super().__new__(cls, start)
        line.size, line.ended = size, ended
        return line

    def __reduce__(self) -> tuple[Any, ...]:  # to a worker process, with its size
        return (OverlongLine, (str(self), self.size, self.ended))


def read_lines(stream: BinaryIO) -> Iterator[str]:
    """The lines of a binary stream (a batch file, stdin), decoded from UTF-8 one by one (an
    undecodable byte becomes U+FFFD, so one bad line is that line's error, not the batch's),
    each read with a bound: a line longer than MAX_LINE_BYTES comes as an OverlongLine, and
    after one with no end within MAX_SKIP_BYTES more, reading stops."""
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) <= MAX_LINE_BYTES or raw.endswith(b"\n"):
            yield raw.decode("utf-8", errors="replace")
            continue
        size, skipped = len(raw), 0
        while True:  # the rest of the line, in pieces, up to MAX_SKIP_BYTES
            piece = stream.readline(min(MAX_LINE_BYTES, MAX_SKIP_BYTES - skipped))
            size += len(piece)
            skipped += len(piece)
            if not piece or piece.endswith(b"\n") or skipped >= MAX_SKIP_BYTES:
                break
        ended = not piece or piece.endswith(b"\n")
        yield OverlongLine(raw[:40].decode("utf-8", errors="replace"), size, ended)
        if not ended:
            return


def _overlong(number: int, line: OverlongLine) -> contract.BatchLine:
    size = f"{line.size:,} bytes" if line.ended else f"over {line.size:,} bytes with no line end"
    rest = "" if line.ended else "; nothing after it was read"
    return {"line": number,
            "error": f"line {number}: {size}, over the {MAX_LINE_BYTES // (1024 * 1024)} MiB "
                     f"limit for one line{rest}; write one profile per line, a JSON object of "
                     "its fields such as {\"symptoms\": [\"knee-pain\"]}"}


# -- one line ------------------------------------------------------------------------------------

def _advised(kb: KnowledgeBase, number: int, line: str, trace: bool
             ) -> tuple[contract.BatchLine, bool]:
    """The result object of one non-blank line, and whether it is an error object."""
    from kbrun.engine import advise
    from kbrun.engine.profile import (
        NumberTooLong,
        RepeatedKey,
        loads_json_object,
        profile_from_mapping,
    )

    if isinstance(line, OverlongLine):
        return _overlong(number, line), True
    try:
        data = loads_json_object(line)
    except json.JSONDecodeError as err:
        return {"line": number, "error": f"line {number}: invalid JSON: {err.msg} "
                                         f"(column {err.colno})"}, True
    except RecursionError:
        return {"line": number, "error": f"line {number}: JSON nested too deeply to be a "
                                         "profile"}, True
    except RepeatedKey as err:  # one of the values would be lost
        return {"line": number, "error": f"line {number}: {err}; write each field once"}, True
    except NumberTooLong as err:
        return {"line": number, "error": f"line {number}: {err}; {NumberTooLong.FIX}"}, True
    try:
        profile = profile_from_mapping(kb, data, where=f"line {number}")
    except KbrunError as err:
        return {"line": number, "error": str(err)}, True
    try:
        # Not cached: a batch of distinct profiles would only churn the advice cache, and the
        # Advice (with its whole consultation) is dropped as soon as its line is written.
        advice = advise(profile, kb, cached=False)
    except KbrunError as err:  # the rules ran away on this profile (a limit of inference.py)
        return {"line": number, "error": f"line {number}: {err}"}, True
    return {"line": number, **advice.to_dict(trace=trace)}, False


def advise_lines(kb: KnowledgeBase, lines: Iterable[str], *, trace: bool = False
                 ) -> Iterator[contract.BatchLine]:
    """Advise on each line (a JSON object with the `--profile` fields), in order, in this
    process.

    Yields, for every non-blank line, either the advice (the `advise --format json` object)
    with `"line": N` added, or `{"line": N, "error": "..."}` for a line that is not a valid
    profile; one bad line never stops the rest. Nothing is kept from one line to the next
    (the advice cache is not used), so memory does not grow with the number of lines.
    """
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield _advised(kb, number, line, trace)[0]


def result_line(kb: KnowledgeBase, number: int, line: str, *, trace: bool = False
                ) -> LineResult:
    """The output line for input line `number`: its advice or its error object as JSON.

    Never raises for a bad line. An unexpected exception (a bug in kbrun) also becomes that
    line's error object, with status "internal-error", so that one bad profile cannot stop a
    batch of a million.
    """
    try:
        data, invalid = _advised(kb, number, line, trace)
        status: Status = "invalid" if invalid else "advised"
    except Exception as err:  # a bug: reported in its line, counted, and the batch goes on
        log.debug("line %d: internal error", number, exc_info=True)
        data = {"line": number, "error": f"line {number}: internal error "
                                         f"({type(err).__name__}: {err}); please report it"}
        status = "internal-error"
    return LineResult(number, json.dumps(data, ensure_ascii=False), status)


# -- many lines ----------------------------------------------------------------------------------

def default_jobs() -> int:
    """The CPUs this process may run on (its affinity where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def fork_available() -> bool:
    """Whether worker processes can be forked (they inherit the loaded knowledge base, which
    is not pickled); where they cannot (Windows), a batch runs in one process."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def batch_results(kb: KnowledgeBase, lines: Iterable[str], *, jobs: int = 1,
                  trace: bool = False, chunk_lines: int = CHUNK_LINES,
                  chunks_in_flight: int | None = None) -> Iterator[LineResult]:
    """The result of every non-blank line (numbered from 1, blank lines counted), in input
    order, as each is ready.

    With `jobs` > 1, `jobs` worker processes are forked from this one (so they share the
    loaded knowledge base and its compiled rules instead of loading or unpickling them) and
    advise chunks of `chunk_lines` lines; at most `chunks_in_flight` chunks (default
    CHUNKS_PER_JOB per job) are out at once, so `lines` is read as the output is written,
    never ahead of it by more than that. Where fork is not available, or with `jobs` 1, the
    lines are advised in this process. The output does not depend on `jobs`.

    Raises WorkerDied if a worker process is killed.
    """
    numbered = ((number, line) for number, line in enumerate(lines, start=1) if line.strip())
    if jobs <= 1 or not fork_available():
        for number, line in numbered:
            yield result_line(kb, number, line, trace=trace)
        return
    chunks = _chunks(numbered, chunk_lines)
    first = next(chunks, None)
    if first is None:                                 # nothing to advise: nothing to fork
        return
    in_flight = chunks_in_flight or CHUNKS_PER_JOB * jobs
    with _Workers(kb, jobs, trace) as workers:
        yield from _in_order(workers, chain([first], chunks), in_flight)


def _chunks(numbered: Iterator[NumberedLine], size: int) -> Iterator[list[NumberedLine]]:
    while chunk := list(islice(numbered, max(1, size))):
        yield chunk


def _in_order(workers: _Workers, chunks: Iterator[list[NumberedLine]], in_flight: int
              ) -> Iterator[LineResult]:
    """Keep up to `in_flight` chunks out, and yield their results in the order sent."""
    sent = written = 0
    back: dict[int, list[LineResult]] = {}    # chunk index -> results not yet written
    more = True
    while True:
        while more and sent - written < in_flight:
            chunk = next(chunks, None)
            if chunk is None:
                more = False
            else:
                workers.send(sent, chunk)
                sent += 1
        if written == sent:
            return
        while written not in back:
            index, results = workers.receive()
            back[index] = results
        yield from back.pop(written)
        written += 1


class _Workers:
    """Long-lived worker processes forked from this one: they take chunks of numbered lines
    from one queue and put each chunk's results, with its index, on another."""

    def __init__(self, kb: KnowledgeBase, jobs: int, trace: bool) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.tasks: Queue[tuple[int, list[NumberedLine]] | None] = context.Queue()
        self.results: Queue[tuple[int, list[LineResult]]] = context.Queue()
        self.processes: list[ForkProcess] = []
        _build_shared_state(kb)
        # Anything buffered now would be written again by each child as it exits.
        sys.stdout.flush()
        sys.stderr.flush()
        # Frozen objects are never scanned by the children's collector, so the pages of the
        # shared knowledge base are not copied just because a collection touched them.
        gc.freeze()
        try:
            for _ in range(jobs):
                process = context.Process(target=_serve, args=(kb, trace, self.tasks,
                                                               self.results),
                                          name="kbrun-batch-worker", daemon=True)
                process.start()
                self.processes.append(process)
        finally:
            gc.unfreeze()

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.close(finished=kind is None)

    def send(self, index: int, chunk: list[NumberedLine]) -> None:
        self.tasks.put((index, chunk))

    def receive(self) -> tuple[int, list[LineResult]]:
        """The next chunk's results, whichever worker finished it; raises WorkerDied if a
        worker ended while results were awaited."""
        while True:
            try:
                return self.results.get(timeout=_POLL_S)
            except queue.Empty:
                dead = [p for p in self.processes if not p.is_alive()]
                if dead:
                    raise WorkerDied(f"a batch worker process ended unexpectedly (exit code "
                                     f"{dead[0].exitcode})") from None

    def close(self, *, finished: bool) -> None:
        """Stop the workers: after their work when the batch finished, at once otherwise
        (an error, or the reader of the results stopped reading)."""
        if finished:
            for _ in self.processes:
                self.tasks.put(None)
        else:
            self.tasks.cancel_join_thread()  # do not wait to flush chunks nobody will advise
            for process in self.processes:
                process.terminate()
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        self.tasks.close()
        self.results.close()


def _build_shared_state(kb: KnowledgeBase) -> None:
    """Build, once and before forking, what consultations build on first use (the graph, the
    compiled rules and their engine, the modules a consultation imports), by advising on the
    default profile: the workers then share it instead of each building a copy."""
    from kbrun.engine import advise, make_profile

    with contextlib.suppress(KbrunError):  # rules that run away: each line's error says so
        advise(make_profile(kb), kb, cached=False)


def _serve(kb: KnowledgeBase, trace: bool, tasks: Queue[tuple[int, list[NumberedLine]] | None],
           results: Queue[tuple[int, list[LineResult]]]) -> None:
    """A worker's life: advise chunks until told to stop (a None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while (task := tasks.get()) is not None:
        index, chunk = task
        results.put((index, [result_line(kb, number, line, trace=trace)
                             for number, line in chunk]))


# -- across machines -----------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _process_kb(kb_dirs: tuple[str, ...], allow_safety_changes: bool) -> KnowledgeBase:
    from kbrun.engine.loader import load_kb

    return load_kb(kb_dirs, allow_safety_changes=allow_safety_changes)


def advise_json_lines(lines: Iterable[str], kb_dirs: Sequence[str] = (), *,
                      trace: bool = False, allow_safety_changes: bool = False) -> list[str]:
    """The lines `kbrun advise --batch` writes for these input lines (numbered from 1),
    without their newlines, for one partition of a batch spread over processes or machines
    (a Dask bag partition, a Ray task, ...).

    The knowledge base (the built-in one with `kb_dirs` layered over it) is loaded once per
    process and kept for the next partition. Raises KbError if it does not load (or if it
    changes the safety policy without `allow_safety_changes`, as on the command line).
    """
    kb = _process_kb(tuple(str(folder) for folder in kb_dirs), allow_safety_changes)
    return [result.text for result in batch_results(kb, lines, trace=trace)]


__all__ = ["CHUNKS_PER_JOB", "CHUNK_LINES", "MAX_JOBS", "MAX_LINE_BYTES", "MAX_SKIP_BYTES",
           "LineResult", "OverlongLine", "Status", "WorkerDied", "advise_json_lines",
           "advise_lines", "batch_results", "default_jobs", "fork_available", "read_lines",
           "result_line"]
