"""engine/_experta.py: experta imports on Python 3.10+, leaves logging alone, and the speed
patches (type-indexed bus, idle conflict sets skipped, unchecked tokens) match exactly what
plain experta matches."""

from __future__ import annotations

import subprocess
import sys

from kbrun.engine import load_kb, make_profile
from kbrun.engine.inference import consult
from kbrun.engine.session import build_advice


def test_experta_imports_and_runs_a_rule():
    from kbrun.engine._experta import MATCH, Fact, KnowledgeEngine, Rule

    class Seen(Fact):
        pass

    class Engine(KnowledgeEngine):
        fired: list = []

        @Rule(Seen(value=MATCH.v))
        def note(self, v):
            self.fired.append(v)

    engine = Engine()
    engine.reset()
    engine.declare(Seen(value=3))
    engine.run()
    assert engine.fired == [3]


def test_importing_experta_does_not_configure_the_root_logger():
    # in a fresh interpreter: experta's own import would leave a handler on the root logger
    script = ("import logging, kbrun.engine._experta; "
              "print(len(logging.getLogger().handlers))")
    plain = ("import collections, collections.abc, logging; "
             "collections.Mapping = collections.abc.Mapping; import experta; "
             "print(len(logging.getLogger().handlers))")
    run = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() for code in (script, plain)]
    assert run == ["0", "1"]


def test_the_speed_patches_give_the_same_consultation_as_plain_experta(monkeypatch):
    from experta.matchers.rete import ReteMatcher
    from experta.matchers.rete.nodes import BusNode
    from experta.matchers.rete.token import Token

    profile_args = dict(symptoms=["knee-pain", "achilles-pain"], goals=["speed"],
                        red_flags=["swelling"], phase="pre-season", level="beginner")
    indexed_kb = load_kb()
    indexed = build_advice(indexed_kb, make_profile(indexed_kb, **profile_args),
                           consult(indexed_kb, make_profile(indexed_kb, **profile_args)))
    original_add, original_remove = BusNode._kbrun_original
    monkeypatch.setattr(BusNode, "add", original_add)
    monkeypatch.setattr(BusNode, "remove", original_remove)
    monkeypatch.setattr(ReteMatcher, "changes", ReteMatcher._kbrun_original)
    monkeypatch.setattr(Token, "__new__", Token._kbrun_original)
    plain_kb = load_kb()
    plain = build_advice(plain_kb, make_profile(plain_kb, **profile_args),
                         consult(plain_kb, make_profile(plain_kb, **profile_args)))
    assert indexed.to_dict(trace=True) == plain.to_dict(trace=True)
    assert len(plain.consultation.firings) > 50
