"""What kbrun's Rete matcher saves per consultation: experta's ReteMatcher, KbrunMatcher, and
KbrunMatcher restoring a snapshot of the knowledge base's static facts.

Run by hand, never in the test suite (timed tests lie on shared machines):

    python bench/matcher.py                  # 12 distinct profiles, each on every matcher
    python bench/matcher.py --profiles 40

A consultation is what kbrun's reasoner does: reset, declare every static (graph) fact and then
the profile's facts one at a time, run. With a snapshot, the static facts are declared once and
each consultation restores the snapshot instead. Building the Fact objects is left out of the
timings (it is the same for all three). Each figure is a median over the same distinct profiles;
the three variants take turns on each profile, so machine noise falls on all of them alike.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from kbrun.engine import load_kb, make_profile
from kbrun.engine._experta import KbrunMatcher, ReteMatcher, restore_engine, snapshot_engine
from kbrun.engine.inference import RecordingEngine, profile_declarations, static_declarations


def engine_class(kb: Any, matcher: type) -> type:
    """An engine holding every rule of `kb`, on `matcher`."""
    rules = kb.rules.rules
    members: dict[str, Any] = {f"rule_{i:04d}": rules[r].experta_rule()
                               for i, r in enumerate(sorted(rules))}
    members["matched_kinds"] = frozenset(k for rule in rules.values() for k in rule.mentions)
    members["__matcher__"] = matcher
    return type(f"Bench{matcher.__name__}Engine", (RecordingEngine,), members)


def profiles(kb: Any, count: int, seed: int) -> list[Any]:
    """`count` distinct profiles over the knowledge base's ids."""
    rng = random.Random(seed)

    def ids(kind: str) -> list[str]:
        return sorted(kb.entries[kind])

    chosen: dict[Any, None] = {}
    while len(chosen) < count:
        profile = make_profile(
            kb, symptoms=rng.sample(ids("symptom"), rng.randint(0, 2)),
            injuries=rng.sample(ids("injury"), rng.randint(0, 1)),
            goals=rng.sample(ids("goal"), rng.randint(0, 2)), phase=rng.choice(ids("phase")),
            level=rng.choice(ids("level")),
            red_flags=rng.sample(ids("red-flag"), rng.randint(0, 1)),
            pain=rng.choice([None, *range(11)]),
            stage=rng.choice([None, "acute", "subacute", "return-to-run"]))
        chosen[profile] = None
    return list(chosen)


def timed(work: Callable[[], None]) -> float:
    """Milliseconds `work` takes, with the collector paused as kbrun's consult pauses it."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        work()
        return (time.perf_counter() - start) * 1000
    finally:
        gc.enable()


class Full:
    """Every consultation declares the static facts, then the profile's."""

    def __init__(self, kb: Any, matcher: type) -> None:
        self.kb = kb
        self.engine = engine_class(kb, matcher)()
        self.static = list(static_declarations(kb, kb.rules.graph_kinds()).facts.values())
        self.start_ms: list[float] = []   # what each consultation spent before the profile

    def start(self) -> None:
        self.engine.reset()
        for fact in self.static:
            self.engine.declare(fact)

    def consult(self, profile_facts: list[Any]) -> None:
        engine = self.engine
        started = time.perf_counter()
        self.start()
        self.start_ms.append((time.perf_counter() - started) * 1000)
        engine.clear_records()
        for fact in profile_facts:
            engine.declare(fact)
        engine.run()


class Restored(Full):
    """The static facts are declared once; every consultation restores that state."""

    def __init__(self, kb: Any, matcher: type) -> None:
        super().__init__(kb, matcher)
        super().start()
        self.snapshot = snapshot_engine(self.engine)

    def start(self) -> None:
        restore_engine(self.engine, self.snapshot)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=12, help="distinct profiles to time")
    parser.add_argument("--seed", type=int, default=1, help="seed for choosing the profiles")
    options = parser.parse_args(argv)

    kb = load_kb()
    started = time.perf_counter()
    variants = {"experta ReteMatcher": Full(kb, ReteMatcher),
                "KbrunMatcher": Full(kb, KbrunMatcher),
                "KbrunMatcher + snapshot": Restored(kb, KbrunMatcher)}
    print(f"{len(kb.rules.rules)} rules, "
          f"{len(variants['KbrunMatcher'].static)} static facts; engines built and the snapshot "
          f"taken in {time.perf_counter() - started:.1f} s")

    times: dict[str, list[float]] = {name: [] for name in variants}
    firings: dict[str, list[Any]] = {name: [] for name in variants}
    for profile in profiles(kb, options.profiles, options.seed):
        for name, variant in variants.items():
            facts = list(profile_declarations(kb, profile).facts.values())
            times[name].append(timed(partial(variant.consult, facts)))
            firings[name].append([(f.rule, f.matched, f.asserted)
                                  for f in variant.engine.firings])

    reference = statistics.median(times["experta ReteMatcher"])
    count = statistics.median(len(f) for f in firings["KbrunMatcher"])
    print(f"\n{options.profiles} distinct profiles (median {count:.0f} firings each)\n")
    print(f"{'matcher':<26}{'median ms':>11}{'min ms':>9}{'max ms':>9}{'speed-up':>10}"
          f"{'static facts or restore, ms':>30}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<26}{median:>11.1f}{min(values):>9.1f}{max(values):>9.1f}"
              f"{reference / median:>9.1f}x{statistics.median(variants[name].start_ms):>30.2f}")
    restored = variants["KbrunMatcher + snapshot"]
    assert isinstance(restored, Restored)
    restored.start()
    alone = statistics.median(timed(restored.start) for _ in range(20))
    print(f"\n(the last column includes freeing what the previous consultation built; a restore "
          f"alone takes {alone:.2f} ms)")
    same = sum(a == b == c for a, b, c in zip(*firings.values(), strict=True))
    print(f"same firings on all three: {same} of {options.profiles} profiles")


if __name__ == "__main__":
    main()
