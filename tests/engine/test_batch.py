"""Batch mode: one result per line, in order, whatever the number of worker processes; a bad
line is an error object and the rest go on; nothing is kept from one profile to the next."""

from __future__ import annotations

import gc
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

import kbrun.engine as engine
from kbrun.engine import advise, make_profile
from kbrun.engine.batch import (
    LineResult,
    WorkerDied,
    _in_order,
    advise_json_lines,
    advise_lines,
    batch_results,
    result_line,
)
from tests.conftest import validated

LINES = [
    json.dumps({"symptoms": ["knee-pain"], "phase": "race-season"}),
    "{not json",
    "",
    json.dumps({"symptoms": ["shin-pian"]}),
    json.dumps({"goals": ["speed"], "limit": 3}),
    json.dumps({"symtoms": ["knee-pain"]}),
]

SYMPTOMS = ["knee-pain", "shin-pain", "achilles-pain", "heel-pain", "hip-pain", "calf-pain",
            "low-back-pain", "outer-knee-pain"]
PHASES = ["off-season", "pre-season", "race-season", "taper", "recovery"]
LEVELS = ["beginner", "intermediate", "advanced"]


def distinct_profiles(count: int, start: int = 0) -> list[dict[str, object]]:
    """`count` different profiles (symptom x phase x level), from the `start`-th on."""
    combos = itertools.islice(itertools.product(LEVELS, PHASES, SYMPTOMS), start, start + count)
    return [{"symptoms": [s], "phase": p, "level": lv} for lv, p, s in combos]


def test_each_line_gets_its_own_result_in_order(kb):
    results = [validated("advise-batch-line", line) for line in advise_lines(kb, LINES)]
    assert [r["line"] for r in results] == [1, 2, 4, 5, 6]
    knee = make_profile(kb, symptoms=["knee-pain"], phase="race-season")
    assert results[0]["recommendations"] == advise(knee, kb).to_dict()["recommendations"]
    assert results[1]["error"].startswith("line 2: invalid JSON")
    assert "unknown symptom 'shin-pian'" in results[2]["error"]
    assert "did you mean 'shin-pain'" in results[2]["error"]
    assert sum(r["slot"] for r in results[3]["recommendations"]) == 3
    assert "unknown field 'symtoms'; did you mean 'symptoms'" in results[4]["error"]


def test_a_result_line_is_the_json_of_the_object_and_says_whether_it_failed(kb):
    good = result_line(kb, 1, LINES[0])
    assert good.status == "advised" and not good.failed
    assert validated("advise-batch-line", good.text) == next(advise_lines(kb, LINES[:1]))
    bad = result_line(kb, 2, LINES[1])
    assert bad.failed and bad.status == "invalid"
    assert validated("advise-batch-line", bad.text)["error"].startswith("line 2: invalid JSON")


def test_a_bug_on_one_line_is_that_lines_error_and_the_batch_goes_on(kb, monkeypatch):
    real = engine.advise

    def broken(profile, knowledge, **options):
        if profile.phase == "taper":
            raise KeyError("boom")
        return real(profile, knowledge, **options)

    monkeypatch.setattr(engine, "advise", broken)
    results = list(batch_results(kb, [json.dumps({"phase": "taper"}), LINES[0]]))
    assert [r.status for r in results] == ["internal-error", "advised"]
    error = validated("advise-batch-line", results[0].text)["error"]
    assert "internal error (KeyError: 'boom'); please report it" in error


# -- in worker processes --------------------------------------------------------------------------

def mixed_lines() -> list[str]:
    """Slow lines (distinct valid profiles) between fast ones (errors, blank lines), so that
    workers given one line at a time finish out of order."""
    lines = []
    for index, profile in enumerate(distinct_profiles(8)):
        lines += [json.dumps(profile), f'{{"phase": "nope-{index}"}}', "" if index % 3 else "{"]
    return lines


@pytest.fixture(scope="module")
def in_process(kb) -> list[LineResult]:
    return list(batch_results(kb, mixed_lines(), jobs=1))


def test_two_workers_give_the_same_results_in_input_order_as_one_process(kb, in_process,
                                                                         monkeypatch):
    from kbrun.engine import batch

    arrivals: list[int] = []
    receive = batch._Workers.receive

    def recorded(self):
        index, results = receive(self)
        arrivals.append(index)
        return index, results

    monkeypatch.setattr(batch._Workers, "receive", recorded)
    results = list(batch_results(kb, mixed_lines(), jobs=2, chunk_lines=1, chunks_in_flight=6))
    assert results == in_process
    numbers = [r.line for r in results]
    assert numbers == sorted(numbers) and len(numbers) == len(in_process)
    assert arrivals != sorted(arrivals), "the chunks never came back out of order"


def test_a_bad_line_in_the_middle_is_its_error_and_later_lines_still_come(in_process):
    by_line = {r.line: r for r in in_process}
    assert by_line[2].failed
    assert "unknown phase 'nope-0'" in validated("advise-batch-line", by_line[2].text)["error"]
    assert by_line[3].failed and "invalid JSON" in by_line[3].text
    advised = [r for r in in_process if r.status == "advised"]
    assert len(advised) == 8 and advised[-1].line > by_line[3].line
    last = validated("advise-batch-line", advised[-1].text)
    assert last["profile"]["symptoms"] == ["outer-knee-pain"]


def workers() -> list[Any]:
    """kbrun's batch workers still running."""
    import multiprocessing

    return [p for p in multiprocessing.active_children() if p.name == "kbrun-batch-worker"]


def test_workers_are_stopped_when_the_reader_stops_early(kb):
    results = batch_results(kb, mixed_lines(), jobs=2, chunk_lines=1)
    assert next(results).line == 1
    results.close()                                   # the reader went away
    assert workers() == []


def test_a_killed_worker_is_an_error_not_a_hang(kb, monkeypatch):
    import os
    import signal

    from kbrun.engine import batch

    monkeypatch.setattr(batch, "_POLL_S", 0.1)
    results = batch_results(kb, mixed_lines(), jobs=2, chunk_lines=1)
    next(results)
    for child in workers():
        os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(WorkerDied, match="ended unexpectedly"):
        list(results)
    assert workers() == []


class _Shuffled:
    """Stands in for the worker processes: hands results back in a scrambled order."""

    def __init__(self) -> None:
        self.waiting: list[tuple[int, list[LineResult]]] = []
        self.most_out = 0

    def send(self, index, chunk):
        self.waiting.append((index, [LineResult(n, text, "advised") for n, text in chunk]))
        self.most_out = max(self.most_out, len(self.waiting))

    def receive(self):
        return self.waiting.pop(-1 if len(self.waiting) % 2 else 0)


def test_results_are_reordered_and_the_chunks_out_are_capped():
    chunks = iter([[(n, str(n))] for n in range(1, 101)])
    workers = _Shuffled()
    out = list(_in_order(workers, chunks, in_flight=5))
    assert [r.line for r in out] == list(range(1, 101))
    assert workers.most_out <= 5


def test_input_is_read_as_output_is_written_not_ahead(kb):
    read: list[int] = []

    def lines():
        for number in itertools.count(1):
            read.append(number)
            yield "{"                                  # fast: an invalid line

    results = batch_results(kb, lines(), jobs=2, chunk_lines=2, chunks_in_flight=3)
    first = [next(results) for _ in range(4)]
    results.close()
    assert [r.line for r in first] == [1, 2, 3, 4]
    assert len(read) <= 4 + 3 * 2 + 1                  # what was written, the cap, one more


# -- memory ----------------------------------------------------------------------------------------

def test_advice_cache_keeps_at_most_its_bound_least_recently_used_out(kb, monkeypatch):
    monkeypatch.setattr(engine, "ADVICE_CACHE_SIZE", 3)
    kb.advice_cache.clear()
    profiles = [make_profile(kb, **p) for p in distinct_profiles(5)]
    for profile in profiles[:3]:
        advise(profile, kb)
    advise(profiles[0], kb)                           # used again: now the most recent
    advise(profiles[3], kb)
    advise(profiles[4], kb)
    assert list(kb.advice_cache) == [profiles[0], profiles[3], profiles[4]]
    kb.advice_cache.clear()


def test_a_batch_does_not_fill_the_advice_cache(kb):
    kb.advice_cache.clear()
    lines = [json.dumps(p) for p in distinct_profiles(3)]
    assert all(r.status == "advised" for r in batch_results(kb, lines))
    assert kb.advice_cache == {}


def test_memory_does_not_grow_with_the_number_of_distinct_profiles(kb):
    """Python objects alive after a batch of distinct profiles, then after as many other
    distinct ones: whatever the engine keeps is bounded if the second batch adds (nearly)
    nothing. Keeping an Advice (with its consultation) adds about 3,000 objects; keeping an
    engine per rule set, far more."""
    first = [json.dumps(p) for p in distinct_profiles(6)]
    second = [json.dumps(p) for p in distinct_profiles(6, start=6)]

    def live_after(lines: list[str]) -> int:
        assert all(r.status == "advised" for r in batch_results(kb, lines))
        gc.collect()
        return len(gc.get_objects())

    live_after(first)                                 # every cache at its steady size
    settled = live_after(first[:2])
    grown = live_after(second) - settled
    assert grown < 6 * 1000, f"{grown} more live objects after 6 new distinct profiles"


# -- across machines: the Dask lines in docs/performance.md ---------------------------------------

REPO = Path(__file__).resolve().parents[2]


def dask_lines() -> str:
    """The Python block of docs/performance.md that uses a Dask bag."""
    text = (REPO / "docs" / "performance.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    found = [block for block in blocks if "dask.bag" in block]
    assert len(found) == 1, "docs/performance.md should show one Dask block"
    return found[0]


@pytest.mark.parametrize("scheduler", ["synchronous", "processes"])
def test_the_documented_dask_lines_give_what_kbrun_advise_batch_gives(tmp_path, monkeypatch,
                                                                      scheduler):
    import dask
    from typer.testing import CliRunner

    from kbrun.cli.main import app

    (tmp_path / "runners").mkdir()
    shards = {"a.jsonl": [json.dumps(p) for p in distinct_profiles(2)] + ["{oops", ""],
              "b.jsonl": ["", json.dumps({"goals": ["speed"], "limit": 3}),
                          json.dumps({"symptoms": ["shin-pian"]})]}
    for name, lines in shards.items():
        (tmp_path / "runners" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with dask.config.set(scheduler=scheduler, num_workers=2):
        exec(compile(dask_lines(), "docs/performance.md", "exec"), {})
    written = sorted((tmp_path / "advice").iterdir())
    assert [p.name for p in written] == ["0.jsonl", "1.jsonl"]
    for name, output in zip(sorted(shards), written, strict=True):
        cli = CliRunner().invoke(app, ["advise", "--batch", f"runners/{name}", "--jobs", "1"])
        assert cli.exit_code == 2                     # each shard has a bad line
        assert output.read_text(encoding="utf-8") == cli.stdout


def test_advise_json_lines_loads_the_kb_once_per_process():
    lines = [json.dumps({"symptoms": ["knee-pain"]}), "{"]
    first = advise_json_lines(lines)
    assert advise_json_lines(lines) == first
    from kbrun.engine.batch import _process_kb

    assert _process_kb.cache_info().currsize == 1
    assert validated("advise-batch-line", first[1])["error"].startswith("line 2: invalid JSON")


# -- hostile lines (issue 11) --------------------------------------------------------------------

HOSTILE_LINES = {
    "repeated key": ('{"pain": 2, "pain": 7}',
                     "line 1: key 'pain' appears twice in one object; write each field once"),
    "one field twice": ('{"red-flag": ["swelling"], "red_flags": ["numbness"]}',
                        "line 1: 'red_flags' and 'red-flag' are the same field; write it once, "
                        "as 'red_flags', with all its values"),
    "5,000-digit number": ('{"pain": ' + "7" * 5000 + "}",
                           "line 1: the number 777777777777... has 5,000 digits, over the 100 "
                           "allowed; a profile's numbers are small whole numbers, such as "
                           "'pain: 4' or 'limit: 6'"),
    "5,000-digit negative number": ('{"limit": -' + "1" * 5000 + "}",
                                    "line 1: the number -11111111111... has 5,000 digits"),
}


@pytest.mark.parametrize("name", HOSTILE_LINES)
def test_a_hostile_line_is_its_own_error_and_the_next_line_is_advised(kb, name):
    line, message = HOSTILE_LINES[name]
    results = list(batch_results(kb, [line, LINES[0]]))
    assert [r.status for r in results] == ["invalid", "advised"]
    error = validated("advise-batch-line", results[0].text)["error"]
    assert error.startswith(message), error


def test_a_number_json_cannot_convert_is_not_called_a_repeated_key(kb, monkeypatch):
    """Python's own ValueError for a number (its 4,300-digit limit, here lowered to 640) must
    not be reported as a key written twice: only RepeatedKey is."""
    import sys

    from kbrun.engine import profile

    monkeypatch.setattr(profile, "MAX_JSON_INT_DIGITS", 10_000)
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        result = result_line(kb, 1, '{"pain": ' + "7" * 700 + "}")
    finally:
        sys.set_int_max_str_digits(old)
    assert "appears twice" not in result.text


class Endless:
    """A binary stream of NUL bytes without end (what /dev/zero is), counting what is read."""

    def __init__(self) -> None:
        self.read = 0

    def readline(self, size: int = -1) -> bytes:
        assert size > 0, "an unbounded read of an endless line"
        self.read += size
        return b"\0" * size


def test_an_over_long_line_is_its_error_and_the_next_line_is_advised(kb):
    import io

    from kbrun.engine.batch import MAX_LINE_BYTES, OverlongLine, read_lines

    long_line = b'{"symptoms": ["' + b"x" * (2 * MAX_LINE_BYTES) + b'"]}\n'
    stream = io.BytesIO(LINES[0].encode() + b"\n" + long_line + LINES[0].encode() + b"\n")
    lines = list(read_lines(stream))
    assert len(lines) == 3 and isinstance(lines[1], OverlongLine)
    assert lines[1].size == len(long_line) and lines[1].ended
    for jobs in (1, 2):  # the line's size reaches a worker process too
        results = list(batch_results(kb, read_lines(io.BytesIO(stream.getvalue())), jobs=jobs))
        assert [r.status for r in results] == ["advised", "invalid", "advised"]
        assert validated("advise-batch-line", results[1].text)["error"] == (
            f"line 2: {len(long_line):,} bytes, over the 1 MiB limit for one line; write one "
            'profile per line, a JSON object of its fields such as {"symptoms": ["knee-pain"]}')


def test_an_endless_line_is_one_error_and_reading_stops_within_its_bound(kb):
    from kbrun.engine.batch import MAX_LINE_BYTES, MAX_SKIP_BYTES, read_lines

    stream = Endless()
    results = list(batch_results(kb, read_lines(stream)))  # type: ignore[arg-type]
    assert [r.status for r in results] == ["invalid"]
    error = validated("advise-batch-line", results[0].text)["error"]
    assert error.startswith(f"line 1: over {MAX_LINE_BYTES + 1 + MAX_SKIP_BYTES:,} bytes with no "
                            "line end, over the 1 MiB limit for one line; nothing after it was "
                            "read; write one profile per line"), error
    assert stream.read <= MAX_LINE_BYTES + 1 + MAX_SKIP_BYTES


def test_lines_are_decoded_one_by_one_with_bad_bytes_replaced():
    import io

    from kbrun.engine.batch import read_lines

    assert list(read_lines(io.BytesIO(b'{"a": 1}\n\xff\xfe\n{"b": 2}'))) == \
        ['{"a": 1}\n', "\ufffd\ufffd\n", '{"b": 2}']
