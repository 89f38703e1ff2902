"""kbrun's batch benchmark: distinct profiles a second and peak memory of `kbrun advise --batch`.

Run by hand, never in the test suite (timed tests lie on shared machines):

    python bench/batch.py                     # 600 and 6,000 profiles, --jobs 1 and 2 (long)
    python bench/batch.py --quick             # 60 and 600 profiles: a rough table
    python bench/batch.py --counts 600 --jobs 2
    python bench/batch.py --json              # the figures as JSON

Each run is a fresh `kbrun advise --batch FILE --jobs N` process (the kb cache warm, as a user
has it from the second run on) over FILE, a file of distinct generated profiles, one JSON
object a line (seeded, so the same lines every time; the first N lines of one file, so the
600-line run is the start of the 6,000-line one). For each run:

- **profiles/s**: lines / wall time, spawn to exit, start-up included; and the steady rate
  without the start-up (the wall time of a one-line batch, measured the same way, taken off);
- **CPU**: user + system seconds of the whole process tree (the workers included), per
  profile;
- **peak memory**: sampled every 50 ms (the process tree looked up every 0.5 s), the largest
  sum over the tree (kbrun and its workers) of RSS — what the target is stated in; it counts
  the pages the workers share with the parent once per process — and of PSS (each shared page
  divided among its sharers: what the tree really costs the machine); and the median RSS over
  the run's second and last quarters, equal when nothing accumulates (the peak can still grow
  with the count: one heavier profile, or a fuller heap, sets it).

Targets (issue 10): at least 60 distinct profiles a second on this 2-core machine; peak memory
for 600 distinct profiles under 400 MB, and flat as the count grows (600 vs 6,000).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import git_revision, kbrun_command, say  # noqa: E402  (bench/bench.py, beside this)

TARGET_PER_S = 60.0
TARGET_PEAK_MB = 400.0
FLAT = 1.15          # "flat": the larger count's peak within 15 % of the smaller's
SAMPLE_S = 0.05      # memory sampled this often
RESCAN_S = 0.5       # the process tree looked up again this often


# -- the input -----------------------------------------------------------------------------------

def profile_lines(count: int, seed: int = 10) -> list[str]:
    """`count` JSON lines, each a different valid runner profile (as make_profile sees it)."""
    from kbrun.engine import load_kb, make_profile

    kb = load_kb()
    rnd = random.Random(seed)
    symptoms, goals = sorted(kb.symptoms), sorted(kb.goals)
    phases, levels = sorted(kb.phases), sorted(kb.levels)
    equipment, flags = sorted(kb.equipment), sorted(kb.red_flags)
    seen: set[Any] = set()
    lines: list[str] = []
    for _ in range(count * 50):
        if len(lines) == count:
            break
        fields: dict[str, Any] = {
            "symptoms": rnd.sample(symptoms, rnd.choice([0, 1, 1, 1, 2])),
            "goals": rnd.sample(goals, rnd.choice([0, 1, 1, 2])),
            "phase": rnd.choice(phases), "level": rnd.choice(levels),
        }
        if rnd.random() < 0.1:
            fields["red_flags"] = rnd.sample(flags, 1)
        if rnd.random() < 0.3:
            fields["setting"] = rnd.choice(["home", "gym"])
        elif rnd.random() < 0.3:
            fields["equipment"] = rnd.sample(equipment, rnd.randint(1, len(equipment)))
        if fields["symptoms"] and rnd.random() < 0.4:
            fields["pain"] = rnd.randint(0, 8)
        if rnd.random() < 0.2:
            fields["limit"] = rnd.randint(3, 10)
        profile = make_profile(kb, **fields)
        if profile not in seen:
            seen.add(profile)
            lines.append(json.dumps(fields))
    if len(lines) < count:
        raise SystemExit(f"only {len(lines)} distinct profiles could be generated")
    return lines


# -- measuring -----------------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    """parent pid -> child pids, for every process now visible in /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _tree(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            values = {line.split(":")[0]: int(line.split()[1]) for line in rollup
                      if line.startswith(("Rss:", "Pss:"))}
        return values.get("Rss", 0), values.get("Pss", 0)
    except (OSError, ValueError, IndexError):
        return 0, 0


@dataclass
class Run:
    """One `kbrun advise --batch` run and what it cost."""

    profiles: int
    jobs: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    peak_pss_mb: float
    processes: int
    failed: int
    rss_q2_mb: float = 0.0     # median RSS of the tree over the run's second quarter
    rss_q4_mb: float = 0.0     # ... and over its last quarter: equal if nothing accumulates

    @property
    def per_s(self) -> float:
        return self.profiles / self.wall_s


def run_batch(kbrun: list[str], path: Path, profiles: int, jobs: int) -> Run:
    """Run one batch over `path`, sampling the process tree's memory until it exits."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink, tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([*kbrun, "advise", "--batch", str(path), "--jobs", str(jobs)],
                                   stdout=sink, stderr=errors)
        peak_rss = peak_pss = most = 0
        samples: list[int] = []
        pids, scanned = [process.pid], 0.0
        while process.poll() is None:
            now = time.perf_counter()
            # walking /proc is the costly part: at every sample while the workers start, then
            # every RESCAN_S
            if now - start < 2 or now - scanned > RESCAN_S:
                pids, scanned = _tree(process.pid), now
            sizes = [_memory_kb(pid) for pid in pids]
            samples.append(sum(rss for rss, _ in sizes))
            peak_rss = max(peak_rss, samples[-1])
            peak_pss = max(peak_pss, sum(pss for _, pss in sizes))
            most = max(most, len(pids))
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - start
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode not in (0, 2):
        raise SystemExit(f"kbrun advise --batch failed ({process.returncode}):\n{stderr}")
    summary = [line for line in stderr.splitlines() if "batch:" in line]
    failed = int(summary[-1].split(" failed")[0].rsplit(" ", 1)[1]) if summary else -1
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    quarter = max(1, len(samples) // 4)
    return Run(profiles, jobs, wall, cpu, peak_rss / 1024, peak_pss / 1024, most, failed,
               median(samples[quarter:2 * quarter] or [0]) / 1024,
               median(samples[3 * quarter:] or [0]) / 1024)


# -- the table -----------------------------------------------------------------------------------

def table(runs: list[Run], start_up: dict[int, Run]) -> str:
    head = ["profiles", "jobs", "wall", "profiles/s", "steady profiles/s", "CPU per profile",
            "profiles per CPU-s", "peak RSS (tree)", "peak PSS (tree)",
            "median RSS 2nd -> 4th quarter", "processes", "failed"]
    rows = []
    for run in runs:
        base = start_up[run.jobs]
        steady = (run.profiles - 1) / max(run.wall_s - base.wall_s, 1e-9)
        cpu_each = (run.cpu_s - base.cpu_s) / max(run.profiles - 1, 1)
        rows.append([f"{run.profiles:,}", str(run.jobs), f"{run.wall_s:.1f} s",
                     f"{run.per_s:.1f}", f"{steady:.1f}", f"{cpu_each * 1000:.1f} ms",
                     f"{1 / max(cpu_each, 1e-9):.1f}",
                     f"{run.peak_rss_mb:.0f} MB", f"{run.peak_pss_mb:.0f} MB",
                     f"{run.rss_q2_mb:.0f} -> {run.rss_q4_mb:.0f} MB",
                     str(run.processes), str(run.failed)])
    for jobs, base in sorted(start_up.items()):
        rows.append(["1 (start-up)", str(jobs), f"{base.wall_s:.2f} s", "", "",
                     f"{base.cpu_s * 1000:.0f} ms", "", f"{base.peak_rss_mb:.0f} MB",
                     f"{base.peak_pss_mb:.0f} MB", "", str(base.processes),
                     str(base.failed)])
    width = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, width, strict=True)),
             "-|-".join("-" * w for w in width)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) for r in rows]
    return "\n".join(lines)


def verdicts(runs: list[Run]) -> list[str]:
    out = ["targets (issue 10):"]
    best = max(runs, key=lambda r: r.per_s)
    mark = "met   " if best.per_s >= TARGET_PER_S else "MISSED"
    out.append(f"  {mark}  >= {TARGET_PER_S:.0f} distinct profiles/s: {best.per_s:.1f}/s "
               f"({best.profiles:,} profiles, --jobs {best.jobs})"
               + ("" if best.per_s >= TARGET_PER_S
                  else f", {TARGET_PER_S / best.per_s:.1f}x short"))
    counts = sorted({r.profiles for r in runs})
    for jobs in sorted({r.jobs for r in runs}):
        mine = {r.profiles: r for r in runs if r.jobs == jobs}
        if 600 in mine:
            peak = mine[600].peak_rss_mb
            mark = "met   " if peak < TARGET_PEAK_MB else "MISSED"
            out.append(f"  {mark}  peak RSS for 600 profiles < {TARGET_PEAK_MB:.0f} MB "
                       f"(--jobs {jobs}): {peak:.0f} MB")
        if len(mine) > 1:
            low, high = mine[counts[0]], mine[counts[-1]]
            ratio = high.peak_rss_mb / low.peak_rss_mb
            mark = "met   " if ratio <= FLAT else "MISSED"
            out.append(f"  {mark}  flat peak (--jobs {jobs}): {low.peak_rss_mb:.0f} MB at "
                       f"{low.profiles:,} -> {high.peak_rss_mb:.0f} MB at {high.profiles:,} "
                       f"({ratio:.2f}x; flat is <= {FLAT:.2f}x)")
            out.append(f"          (median RSS over the last quarter: {low.rss_q4_mb:.0f} MB at "
                       f"{low.profiles:,}, {high.rss_q4_mb:.0f} MB at {high.profiles:,}; "
                       f"over the second and last quarters of the {high.profiles:,} run: "
                       f"{high.rss_q2_mb:.0f} -> {high.rss_q4_mb:.0f} MB)")
    return out


# -- command line --------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[600, 6000],
                        help="distinct profiles per run (default: 600 6000)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                        help="--jobs values to run (default: 1 2)")
    parser.add_argument("--quick", action="store_true", help="--counts 60 600")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.counts = [60, 600]

    kbrun = kbrun_command()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kbrun-batch-bench-") as tmp:
        say(f"generating {max(args.counts):,} distinct profiles ...")
        lines = profile_lines(max(args.counts))
        files = {}
        for count in sorted({1, *args.counts}):
            files[count] = Path(tmp) / f"profiles-{count}.jsonl"
            files[count].write_text("\n".join(lines[:count]) + "\n", encoding="utf-8")
        say("warming the kb cache ...")
        run_batch(kbrun, files[1], 1, 1)
        start_up = {}
        for jobs in args.jobs:
            say(f"start-up: a one-line batch, --jobs {jobs} ...")
            start_up[jobs] = min((run_batch(kbrun, files[1], 1, jobs) for _ in range(3)),
                                 key=lambda r: r.wall_s)
        runs = []
        for count in sorted(args.counts):
            for jobs in args.jobs:
                say(f"{count:,} profiles, --jobs {jobs} ...")
                runs.append(run_batch(kbrun, files[count], count, jobs))
                say(f"  {runs[-1].wall_s:.1f} s, {runs[-1].per_s:.1f}/s, "
                    f"peak RSS {runs[-1].peak_rss_mb:.0f} MB")

    header = (f"kbrun batch benchmark — commit {git_revision()}; Python "
              f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}; "
              f"{time.strftime('%Y-%m-%d %H:%M')}; load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after (other work on the machine slows the wall "
              "times, not the CPU per profile)")
    if args.json:
        print(json.dumps({"header": header, "runs": [asdict(r) for r in runs],
                          "start_up": {j: asdict(r) for j, r in start_up.items()}}, indent=2))
    else:
        print(header)
        print(table(runs, start_up))
        print()
        print("\n".join(verdicts(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
