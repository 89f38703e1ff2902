"""The rule language: declarative rules from kb/rules/*.yaml compiled into experta rules."""

from __future__ import annotations

import inspect
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kbrun.engine._experta import (
    AS,
    MATCH,
    MAX_NETWORK_DEPTH,
    NOT,
    TEST,
    KnowledgeEngine,
    P,
    Rule,
)
from kbrun.engine.conclusions import KINDS as CONCLUSION_KINDS
from kbrun.engine.dose import ACTION_FIELDS as DOSE_ACTION_FIELDS
from kbrun.engine.dose import fact_fields as dose_fact_fields
from kbrun.engine.errors import KbError, KbrunError, Loc, RuleError, UnknownId, did_you_mean
from kbrun.engine.facts import (
    BUILTIN,
    CATEGORIES,
    REGIONS,
    FactKindDef,
    fact_class,
    fact_kinds,
    make_fact,
)
from kbrun.engine.schema import LOAD_RANK, SIDES, RuleSpec

if TYPE_CHECKING:
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.yamlio import LineDict

VAR = re.compile(r"^\$([a-z][a-z0-9_]*)$")
TEMPLATE_VAR = re.compile(r"\{([a-z][a-z0-9_]*)\}")
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
    "in": lambda a, b: a in b, "not-in": lambda a, b: a not in b,
}
TEST_EXPR = re.compile(r"^\s*([^\s=!<>]+)\s*(==|!=|<=|>=|<|>)\s*([^\s=!<>]+)\s*$")
# action -> the conclusion kind it asserts (engine/conclusions.py); `assert` names its kind
VERB_KINDS = {k.verb: k.name for k in CONCLUSION_KINDS.values() if k.verb != "assert"}
ACTIONS = ("assert", *VERB_KINDS)
ASSERTABLE = ("conclusion", "knowledge-base")   # the origins of the kinds `assert` may name
NUMERIC = ("number", "whole")
# Conditions in one rule: the matcher passes a fact down a rule's conditions in nested calls and
# refuses a path of more than MAX_NETWORK_DEPTH joins, negations and tests (a `not` may hold
# several); a built-in rule has at most about ten. Checked when the rule loads, so that
# `kbrun kb validate` reports it rather than the first consultation.
MAX_CONDITIONS = MAX_NETWORK_DEPTH // 2
# Fields that hold a certainty: a rule that sets one writes a number in (0, 1] (docs/scoring.md).
UNIT_FIELDS = ("weight", "certainty")


class RuleCompileErrors(KbError):
    """Every error found while compiling the rules."""

    def __init__(self, errors: list[KbrunError]):
        super().__init__(errors[0].message, loc=errors[0].loc, suggestion=errors[0].suggestion)
        self.errors = errors


def var_name(name: str) -> str:
    """The experta binding name of a rule variable `$name`."""
    return "v_" + name


def is_var(value: Any) -> bool:
    return isinstance(value, str) and VAR.match(value) is not None


def var_of(value: str) -> str:
    """The name of the variable `$name` (the value must be one: see is_var)."""
    match = VAR.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a variable")
    return match.group(1)


# -- actions, as data ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Expr:
    """A value in an action: a literal, a variable, or the product of several (a list)."""

    parts: tuple[Any, ...]
    product: bool = False
    # each part read once: (True, variable name) or (False, literal)
    _plan: tuple[tuple[bool, Any], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", tuple((True, var_of(p)) if is_var(p) else (False, p)
                                                for p in self.parts))

    def evaluate(self, bindings: dict[str, Any]) -> Any:
        if not self.product:
            variable, value = self._plan[0]
            return bindings[value] if variable else value
        result = 1.0
        for variable, value in self._plan:
            result *= float(bindings[value] if variable else value)
        return round(result, 6)


def _template(text: str) -> tuple[str | tuple[str], ...]:
    """A `{var}` template split once into its text and its variables (1-tuples)."""
    parts: list[str | tuple[str]] = []
    position = 0
    for match in TEMPLATE_VAR.finditer(text):
        parts.append(text[position:match.start()])
        parts.append((match.group(1),))
        position = match.end()
    parts.append(text[position:])
    return tuple(part for part in parts if part != "")


@dataclass(frozen=True)
class Action:
    """One compiled `then` item: what fact it asserts, built from the firing's bindings."""

    verb: str
    kind: str
    fields: tuple[tuple[str, Expr | str], ...]   # str values are templates with {var}
    _plan: tuple[tuple[str, Expr | tuple[str | tuple[str], ...]], ...] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", tuple(
            (name, value if isinstance(value, Expr) else _template(value))
            for name, value in self.fields))

    def build(self, bindings: dict[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for name, value in self._plan:
            if isinstance(value, Expr):
                values[name] = value.evaluate(bindings)
            else:  # a template: a variable left unbound stays as written
                values[name] = "".join(
                    part if isinstance(part, str)
                    else str(bindings.get(part[0], "{" + part[0] + "}")) for part in value)
        return make_fact(self.kind, **values)


@dataclass
class CompiledRule:
    """A rule ready to run, with what explanations need to name it."""

    id: str
    description: str
    sources: list[str]
    salience: int
    loc: Loc
    actions: list[Action]
    fact_vars: list[str]                 # binding names of the matched positive patterns
    mentions: frozenset[str] = frozenset()   # every fact kind in its conditions
    produces: frozenset[str] = frozenset()   # the fact kinds its actions assert
    conditions: tuple[Any, ...] = field(repr=False, default=())

    def experta_rule(self) -> Any:
        """A new experta Rule for this rule (experta binds a Rule object to one engine)."""
        return Rule(*self.conditions, salience=self.salience)(_rhs(self))


@dataclass
class CompiledRules:
    """All rules of a knowledge base, and the experta engines that run them."""

    rules: dict[str, CompiledRule]
    kinds: dict[str, FactKindDef]
    engine_base: type = field(repr=False, default=KnowledgeEngine)

    def graph_kinds(self) -> frozenset[str]:
        """The graph fact kinds some rule mentions: the only ones worth declaring."""
        return frozenset(k for rule in self.rules.values() for k in rule.mentions
                         if self.kinds[k].origin == "graph")

    def engine(self) -> Any:
        """A new experta engine holding every rule of the knowledge base (experta binds a Rule
        to one engine, so each call compiles the network afresh; callers keep the engine)."""
        members: dict[str, Any] = {f"rule_{i:04d}": self.rules[r].experta_rule()
                                   for i, r in enumerate(sorted(self.rules))}
        members["matched_kinds"] = frozenset(k for rule in self.rules.values()
                                             for k in rule.mentions)
        return type("CompiledKbEngine", (self.engine_base,), members)()


# -- compiling -----------------------------------------------------------------------------------

class _RuleCompiler:
    """Compiles one rule, collecting errors with the file and line of the offending item."""

    def __init__(self, kb: KnowledgeBase, kinds: dict[str, FactKindDef], spec: RuleSpec,
                 raw: LineDict | None = None):
        self.kb = kb
        self.kinds = kinds
        self.spec = spec
        self._raw = raw
        self.errors: list[KbrunError] = []
        self.bound: set[str] = set()
        self.types: dict[str, str] = {}     # variable -> field type where it was bound
        self.bound_at: dict[str, tuple[FactKindDef, str]] = {}  # variable -> (kind, field)
        self.fact_vars: list[str] = []
        self._hidden = 0
        self._pending_tests: list[Any] = []
        self.mentions: set[str] = set()

    @property
    def raw(self) -> LineDict:
        """The rule as written, with the line of every value: read only to place an error (a
        knowledge base from the cache parses its files for it on first use)."""
        if self._raw is None:
            self._raw = self.kb.raw[self.spec.id]
        return self._raw

    # errors
    def _loc(self, section: str, index: int | None = None) -> Loc:
        node: Any = self.raw.get(section)
        if index is not None and hasattr(node, "loc_of"):
            loc: Loc = node.loc_of(index)
            return loc
        return self.raw.loc_of(section)

    def error(self, message: str, loc: Loc, suggestion: str | None = None) -> None:
        self.errors.append(RuleError(f"{message} in rule '{self.spec.id}'", loc=loc,
                                     suggestion=suggestion))

    def unknown(self, what: str, value: Any, candidates: Any, loc: Loc) -> None:
        self.errors.append(UnknownId(what, value, candidates, loc=loc,
                                     context=f"rule '{self.spec.id}'"))

    # conditions
    def compile(self) -> CompiledRule | None:
        """Compile the conditions in the order written (as CLIPS does): a `not` or `test` sits
        where it is written, so it can use only variables bound above it, and authors control
        the join order - the most selective pattern first is the fastest."""
        conditions: list[Any] = []
        self.bound_anywhere = {var_of(v) for item in self.spec.when
                               if isinstance(item, dict) and len(item) == 1
                               and next(iter(item)) not in ("not", "test")
                               for body in item.values() if isinstance(body, dict)
                               for v in body.values() if is_var(v)}
        if len(self.spec.when) > MAX_CONDITIONS:
            self.error(f"the rule has {len(self.spec.when)} conditions, more than the "
                       f"{MAX_CONDITIONS} a rule may have", self._loc("when"),
                       suggestion="split it: a rule can assert a fact of a kind of your own "
                                  "(docs/rules.md#facts) that the next rule matches")
            return None
        for index, item in enumerate(self.spec.when):
            loc = self._loc("when", index)
            if not isinstance(item, dict) or len(item) != 1:
                self.error("each condition must be one mapping such as "
                           "'- symptom: {id: $s}', '- not: {...}' or '- test: \"$a > 0.5\"'", loc)
                continue
            (head, body), = item.items()
            if head in ("not", "test") and not conditions:
                self.error(f"a rule must start with a positive pattern, not '{head}'", loc)
                continue
            if head == "not":
                if not isinstance(body, dict) or len(body) != 1:
                    self.error("'not' takes one pattern such as {exclusion: {exercise: $e}}", loc)
                    continue
                (kind, inner), = body.items()
                pattern = self.pattern(kind, inner, loc, negated=True)
                if pattern is not None:
                    self.mentions.add(kind)
                    conditions.append(NOT(pattern))
            elif head == "test":
                test = self.test(body, loc)
                if test is not None:
                    conditions.append(test)
            else:
                pattern = self.pattern(head, body, loc, negated=False)
                if pattern is not None:
                    binding = f"f{len(self.fact_vars)}"
                    self.fact_vars.append(binding)
                    self.mentions.add(head)
                    conditions.append(getattr(AS, binding) << pattern)
                    conditions.extend(self._pending_tests)
                    self._pending_tests = []
        actions = [a for a in (self.action(item, self._loc("then", i))
                               for i, item in enumerate(self.spec.then)) if a is not None]
        if self.errors:
            return None
        compiled = CompiledRule(
            id=self.spec.id, description=self.spec.description,
            sources=[s.id for s in self.spec.sources], salience=self.spec.salience,
            loc=self.kb.locations[self.spec.id], actions=actions, fact_vars=list(self.fact_vars),
            mentions=frozenset(self.mentions),
            produces=frozenset(a.kind for a in actions))
        compiled.conditions = tuple(conditions)
        return compiled


    def pattern(self, kind: str, body: Any, loc: Loc, *, negated: bool) -> Any:
        if kind not in self.kinds:
            self.unknown("fact kind", kind, [*self.kinds, "not", "test"], loc)
            return None
        definition = self.kinds[kind]
        if body is None:
            body = {}
        if not isinstance(body, dict):
            self.error(f"the fields of '{kind}' must be a mapping such as {{id: $x}}", loc)
            return None
        constraints: dict[str, Any] = {}
        for name, value in body.items():
            field_loc = body.loc_of(name) if hasattr(body, "loc_of") else loc
            if name not in definition.fields:
                self.unknown("field", name, definition.fields, field_loc)
                self.errors[-1].message += (f" (fact kind '{kind}' has: "
                                            f"{', '.join(definition.fields)})")
                continue
            constraint = self.constraint(definition, name, value, field_loc, negated)
            if constraint is not None:
                constraints[name] = constraint
        return fact_class(kind)(**constraints)

    def constraint(self, definition: FactKindDef, name: str, value: Any, loc: Loc,
                   negated: bool) -> Any:
        ftype = definition.fields[name]
        if is_var(value):
            var = var_of(value)
            if negated and var not in self.bound and var in self.bound_anywhere:
                self.error(f"variable '${var}' in 'not' is bound only below it", loc,
                           suggestion="move the 'not' below the pattern that binds it")
            if negated and var not in self.bound:
                # a variable first seen inside `not` is local to it: any value matches
                return getattr(MATCH, var_name(var) + "_local")
            if not negated:
                self.bound.add(var)
                self.types.setdefault(var, ftype)
                self.bound_at.setdefault(var, (definition, name))
            return getattr(MATCH, var_name(var))
        if isinstance(value, dict):
            if len(value) != 1:
                self.error(f"field '{name}' takes one comparison such as {{'>=': 0.5}}", loc)
                return None
            (op, operand), = value.items()
            if op == "not":
                op = "!="
            if op not in OPERATORS:
                self.unknown("operator", op, [*OPERATORS, "not"], loc)
                return None
            if is_var(operand):
                var = var_of(operand)
                hidden = f"h{self._hidden}"
                self._hidden += 1
                self._pending_tests.append(_make_test([hidden, var_name(var)],
                                                      _compare(OPERATORS[op])))
                self._used(var, loc)
                return getattr(MATCH, hidden)
            operands = operand if op in ("in", "not-in") else [operand]
            if op in ("in", "not-in") and not isinstance(operand, list):
                self.error(f"'{op}' takes a list of values", loc)
                return None
            for item in operands:
                self.literal(definition, name, item, loc)
            frozen = frozenset(operand) if op in ("in", "not-in") else operand
            check = OPERATORS[op]
            return P(lambda v, _c=check, _o=frozen: _safe(_c, v, _o))
        self.literal(definition, name, value, loc)
        return value

    def literal(self, definition: FactKindDef, name: str, value: Any, loc: Loc) -> None:
        """Check a literal against the field's type (ids must exist) and allowed values."""
        ftype = definition.fields[name]
        if ftype == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.error(f"field '{name}' of '{definition.name}' is a number, not {value!r}", loc)
        elif ftype == "whole":
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(f"field '{name}' of '{definition.name}' is a whole number, not "
                           f"{value!r}", loc)
        elif ftype == "text":
            if not isinstance(value, str):
                self.error(f"field '{name}' of '{definition.name}' is text, not {value!r}", loc,
                           suggestion=f"write it in quotes: '\"{value}\"'")
            elif name in definition.choices and value not in definition.choices[name]:
                self.unknown(f"{definition.name} {name}", value, definition.choices[name], loc)
        elif ftype == "bool":
            if not isinstance(value, bool):
                self.error(f"field '{name}' of '{definition.name}' is true or false, not {value!r}",
                           loc)
        elif ftype == "region":
            if value not in REGIONS:
                self.unknown("region", value, REGIONS, loc)
        elif ftype == "category":
            if value not in CATEGORIES:
                self.unknown("category", value, CATEGORIES, loc)
        elif ftype.startswith("id"):
            target = definition.id_kind(name)
            if not isinstance(value, str):
                self.error(f"field '{name}' of '{definition.name}' is an id, not {value!r}", loc)
            elif target:
                if value not in self.kb.entries.get(target, {}):
                    self.unknown(target, value, self.kb.entries.get(target, {}), loc)
            elif value != "any" and self.kb.kind_of(value) is None:
                self.unknown("id", value, self.kb.all_ids(), loc)

    def _used(self, var: str, loc: Loc) -> None:
        if var not in self.bound and var in getattr(self, "bound_anywhere", ()):
            self.error(f"variable '${var}' is used above the condition that binds it", loc,
                       suggestion="move this condition below the pattern that binds "
                                  f"'${var}'")
        elif var not in self.bound:
            self.error(f"variable '${var}' is used but never bound", loc,
                       suggestion=did_you_mean(var, self.bound)
                       or "bind it in a positive condition first, e.g. '- focus: {muscle: $"
                          + var + "}'")

    def test(self, body: Any, loc: Loc) -> Any:
        if isinstance(body, str):
            match = TEST_EXPR.match(body)
            if not match:
                self.error(f"cannot read test {body!r}; write it as '$a >= 0.5' or '$a != $b'",
                           loc)
                return None
            left, op, right = match.groups()
            parts = [left, right]
        elif isinstance(body, list) and len(body) == 3 and body[1] in OPERATORS:
            left, op, right = body
            parts = [left, right]
        else:
            self.error("a test is '$a >= 0.5' or [$a, '>=', 0.5]", loc)
            return None
        names: list[str] = []
        values: list[Any] = []
        for part in parts:
            if is_var(part):
                var = var_of(part)
                self._used(var, loc)
                names.append(var_name(var))
                values.append(None)
            else:
                values.append(_number(part))
                names.append("")
        variables = [n for n in names if n]
        if not variables:
            self.error("a test must compare at least one variable", loc)
            return None
        if len(variables) == 2 and variables[0] == variables[1]:
            self.error(f"the test compares {left} with itself, which is always the same",
                       loc, suggestion="compare it with another variable or a number")
            return None
        check = OPERATORS[op]

        def evaluate(bound: dict[str, Any], _n: tuple[str, ...] = tuple(names),
                     _v: tuple[Any, ...] = tuple(values),
                     _c: Callable[[Any, Any], bool] = check) -> bool:
            a, b = (bound[n] if n else v for n, v in zip(_n, _v, strict=True))
            return _safe(_c, a, b)

        return _make_test(variables, evaluate)

    # actions
    def action(self, item: Any, loc: Loc) -> Action | None:
        if not isinstance(item, dict) or len(item) != 1:
            self.error("each action must be one mapping: " + ", ".join(ACTIONS), loc)
            return None
        (verb, body), = item.items()
        if verb not in ACTIONS:
            self.unknown("action", verb, ACTIONS, loc)
            return None
        if not isinstance(body, dict):
            self.error(f"'{verb}' takes a mapping of fields", loc)
            return None
        if verb != "assert":
            kind = VERB_KINDS[verb]
            if kind == "dose":
                return self._dose_action(body, loc)
            return self._fact_action(verb, kind, body, loc)
        if len(body) != 1:
            self.error("'assert' takes one fact such as {suspect: {injury: $i}}", loc)
            return None
        (kind, fields), = body.items()
        if kind not in self.kinds:
            self.unknown("fact kind", kind, self.kinds, loc)
            return None
        origin = self.kinds[kind].origin
        if origin not in ASSERTABLE:
            own_verb = next((v for v, k in VERB_KINDS.items() if k == kind), None)
            self.error(f"'{kind}' facts come from the {origin}; 'assert' takes a conclusion kind "
                       "or one declared under 'facts:'", loc,
                       suggestion=f"write '{own_verb}: {{...}}' instead" if own_verb else None)
            return None
        return self._fact_action(verb, kind, fields or {}, loc)

    def _fact_action(self, verb: str, kind: str, fields: Any, loc: Loc) -> Action | None:
        """An action asserting a `kind` fact, checked against the kind's typed definition: every
        field it requires given, no field it lacks, each value of the field's type."""
        definition = self.kinds[kind]
        if not isinstance(fields, dict):
            self.error(f"the fields of '{kind}' must be a mapping", loc)
            return None
        missing = [name for name in definition.fields
                   if name not in definition.optional and name not in fields]
        if missing:
            self.error(f"'{verb}' needs {', '.join(repr(m) for m in missing)}", loc,
                       suggestion="add " + ", ".join(f"{m}: <{definition.fields[m]}>"
                                                     for m in missing)
                       + f" ('{kind}' has {_field_list(definition)})")
        built: list[tuple[str, Expr | str]] = []
        for name, value in fields.items():
            field_loc = fields.loc_of(name) if hasattr(fields, "loc_of") else loc
            if name not in definition.fields:
                self.unknown("field", name, definition.fields, field_loc)
                self.errors[-1].message += f" ('{kind}' has {_field_list(definition)})"
                continue
            built.append((name, self.value(definition, name, value, field_loc)))
        return Action(verb, kind, tuple(built))

    def value(self, definition: FactKindDef, name: str, value: Any, loc: Loc) -> Expr | str:
        ftype = definition.fields[name]
        if isinstance(value, list):
            if ftype != "number":
                self.error(f"a list multiplies numbers, but '{name}' is {ftype}", loc)
            for part in value:
                if is_var(part):
                    self._used(var_of(part), loc)
                    self._fits("number", definition, name, var_of(part), loc)
                elif isinstance(part, bool) or not isinstance(part, (int, float)):
                    self.error(f"cannot multiply {part!r}", loc)
            return Expr(tuple(value), product=True)
        if is_var(value):
            var = var_of(value)
            self._used(var, loc)
            self._fits(ftype, definition, name, var, loc)
            return Expr((value,))
        if isinstance(value, str) and ftype == "text" and TEMPLATE_VAR.search(value):
            for var in TEMPLATE_VAR.findall(value):
                self._used(var, loc)
            return value
        self.literal(definition, name, value, loc)
        if name in UNIT_FIELDS and isinstance(value, (int, float)) and \
                not isinstance(value, bool) and not 0 < value <= 1:
            self.error(f"'{name}' is in (0, 1]: above 0 and at most 1, not {value!r}", loc,
                       suggestion=f"e.g. '{name}: 0.9' (a certainty, not a percentage)")
        return value if isinstance(value, str) and ftype == "text" else Expr((value,))

    def _fits(self, want: str, definition: FactKindDef, name: str, var: str, loc: Loc) -> None:
        """Check that a variable holds what a field takes: a number for a number, true or false
        for a flag, an id of the same kind for an id of a kind, a region for a region, only
        allowed values for a field with a fixed set of them. Any value reads as text."""
        if var not in self.bound:
            return  # already reported as unbound
        have = self.types.get(var)
        allowed = definition.choices.get(name)
        if allowed is not None:
            source = self.bound_at.get(var)
            held = source[0].choices.get(source[1]) if source else None
            if held is None or not set(held) <= set(allowed):
                self.error(f"variable '${var}' can hold values that field '{name}' of "
                           f"'{definition.name}' does not take (only {', '.join(allowed)})", loc,
                           suggestion=f"write one of {', '.join(allowed)}, or bind '${var}' "
                                      "from a field that holds only those values")
            return
        if want.startswith("id:"):
            if have != want:
                kind = want.split(":", 1)[1]
                self.error(f"variable '${var}' holds {have or 'any'} values, but field "
                           f"'{name}' of '{definition.name}' takes {kind} ids", loc,
                           suggestion=f"bind '${var}' from a field that holds {kind} ids, "
                                      f"e.g. '- {kind}: {{id: ${var}}}'")
            return
        if have is None or have in ("text", "id") or want in ("text", "id"):
            if want in ("text", "id") and (have in NUMERIC or have == "bool"):
                self.error(f"variable '${var}' holds values of type {have}, but field "
                           f"'{name}' of '{definition.name}' is {want}", loc,
                           suggestion=f"write it as text: '\"{{{var}}}\"'")
            return
        if have == want or (have in NUMERIC and want in NUMERIC):
            return
        self.error(f"variable '${var}' holds values of type {have}, but field '{name}' of "
                   f"'{definition.name}' is {want}", loc,
                   suggestion=f"bind '${var}' to a {want} field, or use another variable")

    def _dose_action(self, body: dict[str, Any], loc: Loc) -> Action | None:
        """A `dose` action, checked against engine/dose.py's ACTION_FIELDS; it asserts the
        `dose` fact that `dose.fact_fields` makes of it."""
        given: dict[str, Any] = {}
        for name, value in body.items():
            field_loc = body.loc_of(name) if hasattr(body, "loc_of") else loc
            if name not in DOSE_ACTION_FIELDS:
                self.unknown("dose field", name, DOSE_ACTION_FIELDS, field_loc)
                continue
            if self._dose_value(name, DOSE_ACTION_FIELDS[name], value, field_loc):
                given[name] = value
        fields = dose_fact_fields(given, self.spec.salience)
        built = tuple((name, value if isinstance(value, str) and not is_var(value)
                       else Expr((value,))) for name, value in fields.items())
        return Action("dose", "dose", built)

    def _dose_value(self, name: str, ftype: str, value: Any, loc: Loc) -> bool:
        """Check one field of a `dose` action against its type; False when it is wrong."""
        whole = isinstance(value, int) and not isinstance(value, bool)
        if ftype == "span":
            span = [value, value] if whole else value
            if not (isinstance(span, list) and len(span) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in span)
                    and span[0] <= span[1]):
                self.error(f"'{name}' is a whole number or [min, max], not {value!r}", loc,
                           suggestion=f"e.g. '{name}: [8, 12]', the smaller number first")
                return False
        elif ftype == "whole" and not whole:
            self.error(f"'{name}' is a whole number, not {value!r}", loc,
                       suggestion=f"e.g. '{name}: 3'")
            return False
        elif ftype == "change" and not (whole and -10 <= value <= 10):
            self.error(f"'{name}' is a whole number from -10 to 10, not {value!r}", loc,
                       suggestion=f"e.g. '{name}: -1' for one set fewer")
            return False
        elif ftype == "extra" and not (whole and 1 <= value <= 5):
            self.error(f"'{name}' is a whole number from 1 to 5, not {value!r}", loc,
                       suggestion=f"e.g. '{name}: 1' for one more set on that side")
            return False
        elif ftype == "side":
            if is_var(value):
                self._used(var_of(value), loc)
            elif value not in SIDES:
                self.unknown("side", value, SIDES, loc)
                return False
        elif ftype == "bool" and not isinstance(value, bool):
            self.error(f"'{name}' is true or false, not {value!r}", loc)
            return False
        elif ftype == "load" and value not in LOAD_RANK:
            self.unknown("load", value, LOAD_RANK, loc)
        elif ftype == "category" and value not in CATEGORIES:
            self.unknown("category", value, CATEGORIES, loc)
        elif ftype == "pattern" and value not in {e.pattern for e in self.kb.exercises.values()}:
            self.unknown("pattern", value, {e.pattern for e in self.kb.exercises.values()}, loc)
        elif ftype == "id:claim" and value not in self.kb.claims:
            self.unknown("claim", value, self.kb.claims, loc)
        elif ftype == "id:exercise":
            if is_var(value):
                var = var_of(value)
                self._used(var, loc)
                if var in self.bound and self.types.get(var) != "id:exercise":
                    self.error(f"variable '${var}' holds {self.types.get(var)} values, but "
                               f"'{name}' of a dose takes exercise ids", loc,
                               suggestion=f"bind '${var}' from a field that holds exercise "
                                          f"ids, e.g. '- exercise: {{id: ${var}}}'")
                    return False
            elif value not in self.kb.exercises:
                self.unknown("exercise", value, self.kb.exercises, loc)
        elif ftype == "text":
            if not isinstance(value, str):
                self.error(f"'{name}' is text, not {value!r}", loc,
                           suggestion=f"write it in quotes: '\"{value}\"'")
                return False
            for var in TEMPLATE_VAR.findall(value):
                self._used(var, loc)
        return True


def _field_list(definition: FactKindDef) -> str:
    """`muscle (id:muscle), weight (number), cause (text)`, optional fields marked."""
    return ", ".join(f"{name} ({ftype}{', optional' if name in definition.optional else ''})"
                     for name, ftype in definition.fields.items())


def _number(text: Any) -> Any:
    if isinstance(text, str):
        try:
            return float(text)
        except ValueError:
            return text
    return text


def _safe(check: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    try:
        return bool(check(a, b))
    except TypeError:
        return False


def _compare(check: Callable[[Any, Any], bool]) -> Callable[[dict[str, Any]], bool]:
    def evaluate(bound: dict[str, Any]) -> bool:
        a, b = bound.values()
        return _safe(check, a, b)
    return evaluate


def _make_test(names: list[str], evaluate: Callable[[dict[str, Any]], bool]) -> Any:
    """An experta TEST whose signature names exactly the bindings it reads."""
    def test(**bound: Any) -> bool:
        return evaluate({name: bound[name] for name in names})

    test.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names])
    return TEST(test)


def _rhs(rule: CompiledRule) -> Callable[..., None]:
    """The right-hand side experta calls when the rule fires."""
    def fire(engine: Any, **context: Any) -> None:
        bindings = {k[2:]: v for k, v in context.items() if k.startswith("v_")}
        matched = [context[name] for name in rule.fact_vars]
        engine.fired(rule, matched, [action.build(bindings) for action in rule.actions])

    fire.__name__ = rule.id.replace("-", "_")
    return fire


def compile_rule(kb: KnowledgeBase, kinds: dict[str, FactKindDef], spec: RuleSpec,
                 raw: LineDict | None = None
                 ) -> tuple[CompiledRule | None, list[KbrunError]]:
    """Compile one rule; returns it (None on error) and the errors."""
    compiler = _RuleCompiler(kb, kinds, spec, raw)
    compiled = compiler.compile()
    return compiled, compiler.errors


def compile_rules(kb: KnowledgeBase) -> CompiledRules:
    """Compile every rule of a knowledge base into one experta engine class.

    Raises RuleCompileErrors listing each rule error with its file and line.
    """
    from kbrun.engine.inference import RecordingEngine

    kinds = fact_kinds(kb)
    errors: list[KbrunError] = []
    for name in kb.fact_kinds:
        if name in BUILTIN:
            builtin = kinds[name] = BUILTIN[name]   # rules are checked against the engine's own
            owner = ("a conclusion the engine reads, typed in engine/conclusions.py"
                     if builtin.origin in ("conclusion", "action")
                     else f"the engine declares it from the {builtin.origin}")
            errors.append(RuleError(
                f"fact kind '{name}' is built in ({owner}) and cannot be redefined",
                loc=kb.raw[name].loc_of("id"),
                suggestion=f"remove this entry - rules use '{name}' with its fields "
                           f"{_field_list(builtin)} - or give yours another name"))
    compiled: dict[str, CompiledRule] = {}
    for rule_id, spec in kb.rule_specs.items():
        rule, rule_errors = compile_rule(kb, kinds, spec)
        errors.extend(rule_errors)
        if rule is not None:
            compiled[rule_id] = rule
    if errors:
        raise RuleCompileErrors(errors)
    return CompiledRules(rules=compiled, kinds=kinds, engine_base=RecordingEngine)

