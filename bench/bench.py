"""kbrun's benchmark: start-up, consultation, load and batch costs, and how they grow with the kb.

Run by hand, never in the test suite (timed tests lie on shared machines):

    python bench/bench.py                 # the full table (several minutes)
    python bench/bench.py --quick         # a rough table in about a minute or two
    python bench/bench.py --cprofile      # and where the time goes (one consultation, one start)

Every figure is a median over repeated runs (p95 too for a consultation), and where a ratio is
meaningful it is given as one, because these machines are noisy: a cold `kbrun advise` against
the floor of merely importing networkx and typer (issue 10); the imported and synthetic knowledge
bases against the built-in one. The three knowledge bases:

- built-in: `kb/` as shipped;
- +free-exercise-db: the dataset imported with `kbrun kb import` into a temporary folder;
- synthetic x10: the built-in exercises cloned nine times with new ids (contraindications that
  name an exercise also name its clones), ten times as many exercises.

"Cold" is a fresh process. kbrun caches validated knowledge bases (engine/cache.py), so cold
runs are measured twice: with the cache warm (what a user sees from the second run on) and
with KBRUN_NO_CACHE=1 (the first run after a change to the kb).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "data" / "free-exercise-db" / "exercises.json"
ADVISE = ["advise", "--symptom", "knee-pain", "--phase", "race-season"]
# The floor (issue 10): what a program built on kbrun's two heaviest libraries pays to start.
FLOOR = "import networkx, typer"
# kbrun keeps validated knowledge bases in a cache folder; this turns it off (engine/cache.py).
NO_CACHE = {"KBRUN_NO_CACHE": "1"}
# Issue 10's targets: a cold advise (warm kb cache) at most 1.5x the floor; a consultation's
# median at most 3x the plain-experta reference timed in the same run; at least 60 distinct
# profiles a second through `advise --batch` on two cores (bench/batch.py measures that one).
TARGETS = {"cold_ratio": 1.5, "consult_ratio": 3.0, "imported_ratio": 3.0}


# -- measuring -----------------------------------------------------------------------------------

def kbrun_command() -> list[str]:
    """The `kbrun` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "kbrun"
    if script.is_file():
        return [str(script)]
    found = shutil.which("kbrun")
    if found:
        return [found]
    raise SystemExit("kbrun is not installed in this environment: pip install -e .")


def wall(command: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Seconds one run of a command takes, from spawn to exit; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **env} if env else None)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def median_of(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p95_of(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def cold(command: Sequence[str], repeat: int, env: dict[str, str] | None = None) -> list[float]:
    """`repeat` timed runs of a command after one discarded warm-up run (which also fills the OS
    file cache and kbrun's knowledge-base cache, unless `env` turns that off)."""
    wall(command, env)
    return [wall(command, env) for _ in range(repeat)]


def child(kb_dirs: Sequence[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """In a fresh process: import the engine, load and compile the kb, consult once."""
    command = [sys.executable, __file__, "--child", *[a for d in kb_dirs for a in ("--kb", d)]]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, **env} if env else None)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child(kb_dirs: Sequence[str]) -> None:
    """The --child side of child(): prints one JSON line of timings."""
    start = time.perf_counter()
    from kbrun.engine import load_kb, make_profile
    imported = time.perf_counter()
    kb = load_kb(kb_dirs)
    loaded = time.perf_counter()
    consult(kb, make_profile(kb, symptoms=["knee-pain"], phase="race-season"))
    first = time.perf_counter()
    print(json.dumps({"import_s": imported - start, "load_s": loaded - imported,
                      "first_s": first - loaded, "exercises": len(kb.exercises)}))


def consult(kb: Any, profile: Any) -> Any:
    """One consultation, never answered from the advice cache (if the engine keeps one)."""
    from kbrun.engine import advise

    cache = getattr(kb, "advice_cache", None)
    if cache is not None:
        cache.clear()
    return advise(profile, kb)


def experta_reference() -> Callable[[], float]:
    """The yardstick of issue 10: a plain experta engine (experta's own ReteMatcher, no kbrun
    code) of 120 rules and 60 facts; returns a function that resets, declares and runs it to
    completion and gives the seconds that took.

    Rule k matches the facts of group k mod 6 with value k mod 10 (two facts each), so a run
    makes 240 activations and fires them all.
    """
    from experta import MATCH, Fact, KnowledgeEngine, Rule

    import kbrun.engine._experta  # noqa: F401 - first, for experta's collections.Mapping shim

    class Item(Fact):  # type: ignore[misc]
        pass

    def noop(self: Any, v: Any) -> None:
        return None

    members = {f"rule_{k}": Rule(Item(group=k % 6, value=k % 10, id=MATCH.v))(noop)
               for k in range(120)}
    engine = type("Reference", (KnowledgeEngine,), members)()

    def run() -> float:
        start = time.perf_counter()
        engine.reset()
        for i in range(60):
            engine.declare(Item(id=i, group=i % 6, value=i % 10))
        engine.run()
        return time.perf_counter() - start

    return run


def profiles_for(kb: Any, count: int, seed: int = 6) -> list[Any]:
    """`count` different, valid runner profiles drawn at random (the same ones every run)."""
    from kbrun.engine import make_profile

    rnd = random.Random(seed)
    symptoms, goals = sorted(kb.symptoms), sorted(kb.goals)
    phases, levels = sorted(kb.phases), sorted(kb.levels)
    equipment, flags = sorted(kb.equipment), sorted(kb.red_flags)
    seen, found = set(), []
    for _ in range(count * 50):
        if len(found) == count:
            break
        fields = {
            "symptoms": rnd.sample(symptoms, rnd.choice([0, 1, 1, 1, 2])),
            "goals": rnd.sample(goals, rnd.choice([0, 1, 1, 2])),
            "phase": rnd.choice(phases), "level": rnd.choice(levels),
            "red_flags": rnd.sample(flags, 1) if rnd.random() < 0.1 else [],
        }
        if rnd.random() < 0.3:
            fields["setting"] = rnd.choice(["home", "gym"])
        elif rnd.random() < 0.3:
            fields["equipment"] = rnd.sample(equipment, rnd.randint(1, len(equipment)))
        profile = make_profile(kb, **fields)
        if profile not in seen:
            seen.add(profile)
            found.append(profile)
    return found


def within(budget_s: float, count: int, step: Callable[[int], None]) -> tuple[int, float]:
    """Run step(i) for i < count or until the budget is spent; (steps done, seconds)."""
    start = time.perf_counter()
    done = 0
    while done < count:
        step(done)
        done += 1
        if time.perf_counter() - start > budget_s:
            break
    return done, time.perf_counter() - start


# -- knowledge bases -----------------------------------------------------------------------------

def synthetic_kb(folder: Path, copies: int = 9) -> int:
    """Write the built-in exercises cloned `copies` times with new ids; return the total count."""
    import yaml

    from kbrun.engine import load_kb

    kb = load_kb(compile_rules=False)
    exercises, injuries = [], []
    for copy in range(1, copies + 1):
        for exercise in kb.exercises.values():
            data = exercise.model_dump(mode="json", exclude_none=True)
            data["id"] = f"{exercise.id}-syn{copy}"
            data["name"] = f"{exercise.name} (synthetic {copy})"
            data["aliases"] = []
            data["progresses_to"] = [f"{e}-syn{copy}" for e in exercise.progresses_to]
            data["regresses_to"] = [f"{e}-syn{copy}" for e in exercise.regresses_to]
            exercises.append(data)
    for injury in kb.injuries.values():
        extended = []
        for rule in injury.contraindications:
            if rule.exercises:
                item = rule.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
                item["exercises"] = [f"{e}-syn{c}" for e in rule.exercises
                                     for c in range(1, copies + 1)]
                extended.append(item)
        if extended:
            injuries.append({"id": injury.id, "contraindications": extended})
    folder.mkdir(parents=True, exist_ok=True)
    for name, section, entries in (("exercises.yaml", "exercises", exercises),
                                   ("injuries.yaml", "injuries", injuries)):
        (folder / name).write_text(
            "# Generated by bench/bench.py: the built-in exercises cloned, for timing only.\n"
            + yaml.safe_dump({section: entries}, sort_keys=False, allow_unicode=True),
            encoding="utf-8")
    return len(kb.exercises) * (copies + 1)


def imported_kb(folder: Path, dataset: Path) -> int:
    """Import free-exercise-db into `folder`; return how many exercises the layered kb has."""
    from kbrun.engine.importer import import_dataset

    report = import_dataset("free-exercise-db", dataset, folder)
    from kbrun.engine import load_kb

    return len(load_kb([folder], compile_rules=False).exercises) if report.valid else 0


# -- the benchmark -------------------------------------------------------------------------------

@dataclass
class Column:
    """One knowledge base and what was measured on it."""

    label: str
    dirs: list[str]
    exercises: int = 0
    figures: dict[str, Any] = field(default_factory=dict)


def measure(column: Column, args: argparse.Namespace, kbrun: list[str]) -> None:
    kb_args = [a for d in column.dirs for a in ("--kb", d)]
    say(f"[{column.label}] cold kbrun advise ...")
    column.figures["advise_s"] = median_of(cold([*kbrun, *ADVISE, *kb_args], args.repeat))
    say(f"[{column.label}] cold kbrun advise without the kb cache ...")
    column.figures["advise_nocache_s"] = median_of(cold([*kbrun, *ADVISE, *kb_args], args.repeat,
                                                        NO_CACHE))
    say(f"[{column.label}] cold kbrun kb list exercises ...")
    column.figures["list_s"] = median_of(cold([*kbrun, "kb", "list", "exercises", *kb_args],
                                              args.repeat))
    say(f"[{column.label}] load, compile and first consultation in fresh processes ...")
    runs = [child(column.dirs, NO_CACHE) for _ in range(args.repeat)]
    for key in ("import_s", "load_s", "first_s"):
        column.figures[key] = median_of([r[key] for r in runs])
    column.exercises = runs[0]["exercises"]

    from kbrun.engine import load_kb, make_profile

    kb = load_kb(column.dirs)
    consult(kb, make_profile(kb, symptoms=["knee-pain"], phase="race-season"))  # the network
    distinct = profiles_for(kb, args.samples, seed=11)
    say(f"[{column.label}] consultations in-process (distinct profiles, advice cache off) ...")
    samples: list[float] = []
    reference = experta_reference()
    yardstick: list[float] = []

    def one(index: int) -> None:
        # the reference runs between consultations, so that both see the same machine
        yardstick.append(reference())
        start = time.perf_counter()
        consult(kb, distinct[index])
        samples.append(time.perf_counter() - start)

    within(args.budget, len(distinct), one)
    column.figures["consult_median_s"] = median_of(samples)
    column.figures["consult_p95_s"] = p95_of(samples)
    column.figures["consult_n"] = len(samples)
    column.figures["reference_s"] = median_of(yardstick)

    say(f"[{column.label}] batch of generated profiles ...")
    batch_kb = load_kb(column.dirs)                          # fresh: networks built as needed
    profiles = profiles_for(batch_kb, args.batch)
    done, seconds = within(args.budget, len(profiles), lambda i: consult(batch_kb, profiles[i]))
    column.figures["batch_per_s"] = done / seconds
    column.figures["batch_n"] = done


def git_revision() -> str:
    """The checked-out commit, marked when the working tree has changes ("unknown" outside git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty.strip() else "")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def table(floor: float, help_s: float, columns: list[Column], args: argparse.Namespace) -> str:
    base = columns[0].figures
    head = ["measure", *[f"{c.label} ({c.exercises} ex.)" for c in columns]]
    rows: list[list[str]] = [
        [f"floor: python -c '{FLOOR}'", seconds(floor), "", ""],
        ["kbrun --help, cold", f"{seconds(help_s)} = {help_s / floor:.2f}x floor", "", ""],
    ]

    def row(label: str, key: str, ratio_floor: bool = False, ratio_base: bool = True) -> None:
        cells = [label]
        for column in columns:
            value = column.figures[key]
            text = seconds(value)
            if ratio_floor:
                text += f" = {value / floor:.2f}x floor"
            if ratio_base and column is not columns[0]:
                text += f" ({value / base[key]:.2f}x built-in)"
            cells.append(text)
        rows.append(cells)

    row("kbrun advise knee-pain race-season, cold", "advise_s", ratio_floor=True)
    row("... the same with KBRUN_NO_CACHE=1", "advise_nocache_s", ratio_floor=True)
    row("kbrun kb list exercises, cold", "list_s", ratio_floor=True)
    row("import kbrun.engine (fresh process)", "import_s")
    row("kb load + rule compilation (fresh process, no cache)", "load_s")
    row("first consultation (builds its Rete network)", "first_s")
    row("consultation in-process, median (distinct profiles)", "consult_median_s")
    row("consultation in-process, p95", "consult_p95_s")
    row("plain experta reference: 120 rules, 60 facts (median)", "reference_s",
        ratio_base=False)
    rows.append(["batch throughput (one kb, generated profiles)",
                 *[f"{c.figures['batch_per_s']:.1f} profiles/s (n={c.figures['batch_n']})"
                   for c in columns]])
    width = [max(len(r[i]) if i < len(r) else 0 for r in [head, *rows]) for i in range(len(head))]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, width, strict=True)),
             "-|-".join("-" * w for w in width)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, width, strict=False)) for r in rows]
    lines += ["", "targets (issue 10):"]
    cold_ratio = base["advise_s"] / floor
    lines.append(verdict("cold kbrun advise (warm kb cache) <= 1.5x floor", cold_ratio,
                         TARGETS["cold_ratio"], f"{cold_ratio:.2f}x"))
    ratio = base["consult_median_s"] / base["reference_s"]
    lines.append(verdict("consultation median <= 3x the plain-experta reference", ratio,
                         TARGETS["consult_ratio"],
                         f"{base['consult_median_s'] * 1000:.1f} ms = {ratio:.2f}x "
                         f"{base['reference_s'] * 1000:.1f} ms"))
    imported = [c for c in columns if c.label.startswith("+")]
    if imported:
        ratio = imported[0].figures["advise_s"] / base["advise_s"]
        lines.append(verdict("imported-kb cold advise <= 3x built-in", ratio,
                             TARGETS["imported_ratio"], f"{ratio:.2f}x"))
    lines.append("  (batch: >= 60 distinct profiles/s through advise --batch on 2 cores is "
                 "measured by bench/batch.py)")
    lines.append(f"\n(medians of {args.repeat} cold runs after a discarded warm-up run that "
                 "also fills kbrun's kb cache; "
                 f"{args.samples} consultations or {args.budget:.0f} s at most; "
                 f"batch of {args.batch} profiles or {args.budget:.0f} s at most)")
    return "\n".join(lines)


def verdict(name: str, value: float, limit: float, shown: str, *,
            higher_is_better: bool = False) -> str:
    """`value <= limit` is met; otherwise say by what factor it is missed."""
    if value <= limit:
        return f"  met     {name}: {shown}"
    gap = "short" if higher_is_better else "over"
    return f"  MISSED  {name}: {shown} ({value / limit:.1f}x {gap})"


# -- where the time goes -------------------------------------------------------------------------

def top_costs(stats: pstats.Stats, count: int, sort: str) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(count)
    return "\n".join(line for line in out.getvalue().splitlines()
                     if line.strip() and not line.startswith(("   Ordered", "   List")))


def profile_consultation(count: int) -> str:
    from kbrun.engine import load_kb, make_profile

    kb = load_kb()
    profile = make_profile(kb, symptoms=["knee-pain"], phase="race-season")
    consult(kb, profile)
    profiler = cProfile.Profile()
    profiler.enable()
    consult(kb, profile)
    profiler.disable()
    stats = pstats.Stats(profiler)
    return ("one consultation in-process (built-in kb, network already built), by own time:\n"
            + top_costs(stats, count, "tottime")
            + "\n\n... by cumulative time:\n" + top_costs(stats, count, "cumulative"))


def profile_cold_start(kbrun: list[str], count: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cold.prof"
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), *kbrun, *ADVISE],
                       stdout=subprocess.DEVNULL, check=True)
        stats = pstats.Stats(str(out))
        return ("one cold `kbrun advise --symptom knee-pain --phase race-season`, by cumulative "
                "time:\n" + top_costs(stats, count, "cumulative")
                + "\n\n... by own time:\n" + top_costs(stats, count, "tottime"))


# -- command line --------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="cold runs per figure (default 5)")
    parser.add_argument("--samples", type=int, default=30,
                        help="in-process consultations per kb (default 30)")
    parser.add_argument("--batch", type=int, default=200,
                        help="generated profiles for the batch figure (default 200)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="at most this many seconds for each in-process figure (default 60)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer runs: --repeat 2 --samples 5 --batch 20 --budget 20")
    parser.add_argument("--only", choices=["builtin", "imported", "synthetic"], action="append",
                        help="measure only these knowledge bases (repeatable)")
    parser.add_argument("--dataset", type=Path, default=DATASET,
                        help="free-exercise-db's exercises.json")
    parser.add_argument("--cprofile", action="store_true",
                        help="also profile one consultation and one cold start")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kb", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.kb)
        return 0
    if args.quick:
        args.repeat, args.samples, args.batch, args.budget = 2, 5, 20, 20.0

    kbrun = kbrun_command()
    only = set(args.only or ["builtin", "imported", "synthetic"])
    with tempfile.TemporaryDirectory(prefix="kbrun-bench-") as tmp:
        columns = [Column("built-in", [])]
        if "imported" in only:
            if args.dataset.is_file():
                say("importing free-exercise-db ...")
                imported_kb(Path(tmp) / "fedb", args.dataset)
                columns.append(Column("+free-exercise-db", [str(Path(tmp) / "fedb")]))
            else:
                say(f"skipping the imported kb: {args.dataset} is not there")
        if "synthetic" in only:
            say("writing the synthetic kb ...")
            synthetic_kb(Path(tmp) / "synthetic")
            columns.append(Column("synthetic x10", [str(Path(tmp) / "synthetic")]))
        say("floor and --help ...")
        floor = median_of(cold([sys.executable, "-c", FLOOR], args.repeat))
        help_s = median_of(cold([*kbrun, "--help"], args.repeat))
        for column in columns:
            measure(column, args, kbrun)

    header = (f"kbrun benchmark — commit {git_revision()}; Python {platform.python_version()}, "
              f"{os.cpu_count()} CPUs, {platform.machine()}; {time.strftime('%Y-%m-%d %H:%M')}")
    if args.json:
        print(json.dumps({"header": header, "floor_s": floor, "help_s": help_s,
                          "columns": [vars(c) for c in columns]}, indent=2))
    else:
        print(header)
        print(table(floor, help_s, columns, args))
    if args.cprofile:
        print("\n" + profile_consultation(15))
        print("\n" + profile_cold_start(kbrun, 25))
    return 0


if __name__ == "__main__":
    sys.exit(main())
