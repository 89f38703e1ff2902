"""The bounds of one consultation (issue 11): a rule that re-triggers itself, rules that feed
each other, a template that grows its text, conditions that multiply partial matches and a rule
too deep for the matcher each end within seconds in one error naming the rule, where it is
written and the fix (RunawayRules, exit 2), in advise, why, why-not and each batch line."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbrun.engine import advise, load_kb, make_profile
from kbrun.engine.batch import batch_results
from kbrun.engine.errors import KbrunError
from tests.conftest import DATA
from tests.hostile import run_kbrun

MINI_SOURCE = "test-source"               # a source of tests/data/mini
BUILTIN_SOURCE = "004_21a09f0110ce186f.txt"  # a source of the built-in kb


def rule(rule_id: str, when: list[Any], then: list[Any], source: str = MINI_SOURCE
         ) -> dict[str, Any]:
    return {"id": rule_id, "description": f"The rule {rule_id}.", "sources": [source],
            "when": when, "then": then}


def kind(kind_id: str, fields: dict[str, str], source: str = MINI_SOURCE) -> dict[str, Any]:
    return {"id": kind_id, "description": f"The fact {kind_id}.", "fields": fields,
            "sources": [source]}


def write_rules(folder: Path, rules: list[Any], facts: list[Any] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"facts": list(facts)} if facts else {}
    document["rules"] = rules
    (folder / "rules.yaml").write_text(yaml.safe_dump(document, sort_keys=False),
                                       encoding="utf-8")
    return folder


def line_of(folder: Path, rule_id: str) -> int:
    """The line of `- id: RULE` in the folder's rules.yaml (where the error must point)."""
    lines = (folder / "rules.yaml").read_text(encoding="utf-8").splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.strip() == f"- id: {rule_id}")


@contextlib.contextmanager
def within(seconds: int, more_mb: int = 1500) -> Iterator[None]:
    """Fail the test instead of hanging the suite or taking the machine's memory, should the
    bounds under test not hold: a TimeoutError after `seconds`, a MemoryError once this
    process's address space grows by `more_mb` (on Linux, where it can be read)."""
    def expire(*_: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: the consultation is not bounded")

    previous = signal.signal(signal.SIGALRM, expire)
    limits = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status")
    if status.exists():
        size_kb = next(int(line.split()[1]) for line in status.read_text().splitlines()
                       if line.startswith("VmSize:"))
        cap = (size_kb + more_mb * 1024) * 1024
        if limits[1] == resource.RLIM_INFINITY or cap < limits[1]:
            resource.setrlimit(resource.RLIMIT_AS, (cap, limits[1]))
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, limits)


def runaway(kb: Any, **profile: Any) -> str:
    """The message of the error (inference.RunawayRules, a KbrunError: exit 2) that advising
    on this profile raises."""
    with within(30), pytest.raises(KbrunError) as caught:
        advise(make_profile(kb, **profile), kb, cached=False)
    return str(caught.value)


# a counter that starts with the goal speed and asserts a new, larger count at each firing
TICK = kind("tick", {"n": "number"})
START = rule("start", [{"goal": {"id": "speed"}}], [{"assert": {"tick": {"n": 1}}}])
LOOP = rule("loop", [{"tick": {"n": "$n"}}], [{"assert": {"tick": {"n": ["$n", 1.0001]}}}])


def on_mini(folder: Path) -> Any:
    return load_kb([DATA / "mini", folder], builtin=False)


# -- in this process, over tests/data/mini -------------------------------------------------------

def test_a_rule_that_re_triggers_itself_is_stopped_with_its_name_and_the_fix(tmp_path):
    folder = write_rules(tmp_path / "coach", [START, LOOP], [TICK])
    message = runaway(on_mini(folder), goals=["speed"])
    assert message.startswith(f"{folder / 'rules.yaml'}:{line_of(folder, 'loop')}: rule 'loop' "
                              "fired 9,999 times in one consultation, over the limit of 10,000 "
                              "firings in all (20 per fact the consultation starts from); "), \
        message
    assert "add a `not:` condition on the fact it asserts" in message


def test_the_next_consultation_after_a_runaway_is_answered_as_before(tmp_path, mini):
    kb = on_mini(write_rules(tmp_path / "coach", [START, LOOP], [TICK]))
    runaway(kb, goals=["speed"])
    calm = make_profile(kb, symptoms=["knee-pain"])
    assert advise(calm, kb, cached=False).to_dict() == \
        advise(make_profile(mini, symptoms=["knee-pain"]), mini, cached=False).to_dict()


def test_two_rules_feeding_each_other_are_both_named(tmp_path):
    facts = [kind("ping", {"n": "number"}), kind("pong", {"n": "number"})]
    rules = [rule("serve", [{"goal": {"id": "speed"}}], [{"assert": {"ping": {"n": 1}}}]),
             rule("ping-pong", [{"ping": {"n": "$n"}}],
                  [{"assert": {"pong": {"n": ["$n", 1.0001]}}}]),
             rule("pong-ping", [{"pong": {"n": "$n"}}], [{"assert": {"ping": {"n": "$n"}}}])]
    folder = write_rules(tmp_path / "coach", rules, facts)
    message = runaway(on_mini(folder), goals=["speed"])
    where = re.escape(str(folder / "rules.yaml"))
    assert re.match(rf"{where}:\d+: rule 'p[io]ng-p[io]ng' fired [45],\d\d\d times, and rule "
                    r"'p[io]ng-p[io]ng' [45],\d\d\d in one consultation", message), message


def test_a_rule_with_many_actions_meets_the_limit_of_new_facts(tmp_path):
    factors = (1.0001, 1.0002, 1.0003, 1.0004, 1.0005)
    spread = rule("spread", [{"tick": {"n": "$n"}}],
                  [{"assert": {"tick": {"n": ["$n", factor]}}} for factor in factors])
    folder = write_rules(tmp_path / "coach", [START, spread], [TICK])
    message = runaway(on_mini(folder), goals=["speed"])
    assert re.search(r"rule 'spread' asserted 2\d,\d\d\d facts in one consultation, over the "
                     r"limit of 20,000 new facts in all \(40 per fact", message), message


def test_a_template_that_grows_its_text_is_stopped(tmp_path):
    word = kind("word", {"text": "text"})
    rules = [rule("say", [{"goal": {"id": "speed"}}], [{"assert": {"word": {"text": "a"}}}]),
             rule("grow", [{"word": {"text": "$t"}}], [{"assert": {"word": {"text": "{t}b"}}}])]
    folder = write_rules(tmp_path / "coach", rules, [word])
    message = runaway(on_mini(folder), goals=["speed"])
    assert re.search(r"rule 'grow' took the text asserted in one consultation to 2,00\d,\d\d\d "
                     r"characters, over the limit of 2,000,000 \(4,000 per fact", message), message


def test_conditions_that_share_no_variable_are_stopped_before_they_multiply(tmp_path):
    # 4 exercises, 8 conditions: 4**8 = 65,536 partial matches, over the 50,000 of a small kb
    letters = "abcdefgh"
    rules = [rule("eight-way", [{"exercise": {"id": f"${x}"}} for x in letters],
                  [{"warn": {"kind": "conflict", "message": "{a}"}}])]
    folder = write_rules(tmp_path / "coach", rules)
    message = runaway(on_mini(folder))
    assert message.startswith(f"{folder / 'rules.yaml'}:{line_of(folder, 'eight-way')}: rule "
                              "'eight-way' made more than 50,000 partial matches of its "
                              "conditions in one consultation"), message
    assert "share a variable between them" in message


def test_a_rule_deeper_than_the_matcher_can_follow_is_refused_when_it_loads(tmp_path):
    from kbrun.engine.loader import KbInvalid

    rules = [rule("deep", [{"exercise": {"id": "$e"}}] * 600,
                  [{"warn": {"kind": "conflict", "message": "{e}"}}])]
    folder = write_rules(tmp_path / "coach", rules)
    with pytest.raises(KbInvalid) as excinfo:
        on_mini(folder)
    message = str(excinfo.value)
    when = line_of(folder, "deep") + 4      # id, description, sources (2 lines), when
    assert message.startswith(f"{folder / 'rules.yaml'}:{when}: the rule has 600 conditions, "
                              "more than the 50 a rule may have in rule 'deep'; split it"), message


def test_a_batch_line_that_runs_away_is_its_error_and_the_next_line_is_advised(tmp_path):
    kb = on_mini(write_rules(tmp_path / "coach", [START, LOOP], [TICK]))
    lines = [json.dumps({"goals": ["speed"]}), json.dumps({"symptoms": ["knee-pain"]})]
    with within(30):
        results = list(batch_results(kb, lines))
    assert [r.status for r in results] == ["invalid", "advised"]
    error = json.loads(results[0].text)["error"]
    assert error.startswith("line 1: ") and "rule 'loop' fired" in error


# -- a user's run: the built-in kb with a coach's folder, in a process of its own ----------------

def builtin_overlay(folder: Path, name: str) -> Path:
    """The runaway folders over the built-in kb (its 74 exercises, its ~1,400 graph facts)."""
    tick = kind("tick", {"n": "number"}, BUILTIN_SOURCE)
    start = rule("start", [{"phase": {}}], [{"assert": {"tick": {"n": 1}}}], BUILTIN_SOURCE)
    cases = {
        "loop": ([tick], [start, rule("loop", [{"tick": {"n": "$n"}}],
                                      [{"assert": {"tick": {"n": ["$n", 1.0001]}}}],
                                      BUILTIN_SOURCE)]),
        "doubling": ([kind("word", {"text": "text"}, BUILTIN_SOURCE)],
                     [rule("say", [{"phase": {}}], [{"assert": {"word": {"text": "ab"}}}],
                           BUILTIN_SOURCE),
                      rule("double", [{"word": {"text": "$t"}}],
                           [{"assert": {"word": {"text": "{t}{t}"}}}], BUILTIN_SOURCE)]),
        "four-way": ([], [rule("four-way", [{"exercise": {"id": f"${x}"}} for x in "abcd"],
                               [{"warn": {"kind": "conflict", "message": "{a} {b} {c} {d}"}}],
                               BUILTIN_SOURCE)]),
        # a negation over facts that share no variable with the pairs before it compared every
        # pair with every link: 26 s on the built-in kb, minutes on a larger one (security review)
        "pairs-without-targets": ([], [rule(
            "pairs-without-targets",
            [{"exercise": {"id": "$a"}}, {"exercise": {"id": "$b"}},
             {"not": {"targets": {"exercise": "$c", "muscle": "$m"}}}],
            [{"warn": {"kind": "conflict", "message": "{a} {b}"}}], BUILTIN_SOURCE)]),
    }
    facts, rules = cases[name]
    return write_rules(folder / name, rules, facts)


RUNAWAY_MESSAGES = {
    "loop": r"rule 'loop' fired 2\d,\d\d\d times in one consultation, over the limit of "
            r"2\d,\d\d\d firings in all",
    "doubling": r"rule 'double' took the text asserted in one consultation to [\d,]+ characters, "
                r"over the limit of [\d,]+ \(4,000 per fact",
    "four-way": r"rule 'four-way' made more than 1\d\d,\d\d\d partial matches of its conditions",
    "pairs-without-targets": r"rule 'pairs-without-targets' made more than 1\d\d,\d\d\d partial "
                             r"matches of its conditions",
}


@pytest.mark.parametrize("name", RUNAWAY_MESSAGES)
def test_a_runaway_kb_ends_within_seconds_in_one_error_line(tmp_path, name):
    folder = builtin_overlay(tmp_path, name)
    result = run_kbrun(["advise", "--kb", str(folder)], timeout=60, memory_mb=1500,
                       env={**os.environ, "KBRUN_NO_CACHE": "1"})
    line = result.error_line
    assert result.code == 2, result.stderr
    assert re.match(rf"Error: {re.escape(str(folder / 'rules.yaml'))}:\d+: "
                    + RUNAWAY_MESSAGES[name], line), line
    assert result.seconds < 30 and result.peak_mb < 600, (result.seconds, result.peak_mb)


@pytest.mark.parametrize("command", [["why", "back-squat"], ["why-not", "back-squat"]])
def test_why_and_why_not_report_the_runaway_too(tmp_path, command):
    folder = builtin_overlay(tmp_path, "loop")
    result = run_kbrun([*command, "--kb", str(folder)], timeout=60, memory_mb=1500)
    assert result.code == 2
    assert "rule 'loop' fired" in result.error_line
    assert result.seconds < 30 and result.peak_mb < 400
