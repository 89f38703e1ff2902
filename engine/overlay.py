"""What a `--kb` layer does to the entries of the layers below it, said in the entry itself:

- a new id adds an entry;
- `extend: true` adds to the entry of that id below: lists grow (an item already there is
  not repeated), mappings merge, a single value or a range (`reps: [10, 12]`) is replaced;
- `replace: true` replaces it whole;
- `disable: true` (rules only) takes the rule out.

An entry that reuses an id from below without saying which is an error, as is one that says
it while no entry of that id is below. A change is a *safety change* when the entry below is
marked `safety: true` (the triage, contraindication, pain and disclaimer rules; every red flag
and condition) or when it takes something away from a field the safety rules read (an
exercise's targets, category, impact, joint load and level; an injury's region,
contraindications and screening question; a symptom's region and screening question). A
knowledge base with a safety change loads only with `--allow-safety-changes`, and then every
piece of advice names each change in its warnings (docs/authoring.md, docs/safety.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kbrun.engine.errors import KbrunError, KbSchemaError, Loc, did_you_mean
from kbrun.engine.yamlio import LineDict, LineList

if TYPE_CHECKING:
    from kbrun.engine import contract

Mode = Literal["extend", "replace", "disable"]
MODES: tuple[Mode, ...] = ("extend", "replace", "disable")

# What a rule of a --kb layer may not conclude without --allow-safety-changes, new or not: the
# injury's stage and the protocol followed (both lift the restrictions of an earlier stage),
# and the warnings kbrun itself gives (a coach's "disclaimer" could contradict the real one).
SAFETY_ASSERTS = ("injury-stage", "following", "available-protocol")
RESERVED_WARNINGS = ("disclaimer", "safety-change")


# The fields the safety rules read, by section: a layer may add to them, never take away
# without --allow-safety-changes (an exercise's impact decides the impact bans, its targets and
# joint load the protected regions, its level the level bans; an injury's region and
# contraindications the exclusions; a screening question is how a hidden condition is asked).
SAFETY_FIELDS: dict[str, tuple[str, ...]] = {
    "exercises": ("targets", "category", "pattern", "impact", "joint_load", "level", "loadable"),
    "injuries": ("region", "contraindications", "screen", "suggested_by", "implicates"),
    "symptoms": ("region", "screen"),
    "levels": ("rank",),
}
# Fixed-length values written as lists: extending one replaces it (appending makes no range).
SPANS = ("reps", "hold_s", "sessions_per_week")

ACCEPT = ("accept it with --allow-safety-changes (every piece of advice then names the change "
          "in its warnings)")


@dataclass(frozen=True)
class Change:
    """One entry of a layer that extends, replaces or disables an entry of a layer below."""

    entry: str
    kind: str             # exercise, rule, ...
    mode: Mode | Literal["add"]
    at: Loc               # the changing (or added) entry
    base: Loc | None      # the entry it changes; None for an added one
    safety: str | None    # why it is a safety change; None when it is not one

    def describe(self) -> str:
        """"rule 'disclaimer' (kb/rules/50-safety.yaml:271) is disabled by coach/r.yaml:3"."""
        if self.base is None:
            return f"{self.kind} '{self.entry}' is added by {self.at}"
        done = {"extend": "extended", "replace": "replaced", "disable": "disabled"}[self.mode]
        return f"{self.kind} '{self.entry}' ({self.base}) is {done} by {self.at}"

    def to_dict(self) -> contract.KbChange:
        return {"id": self.entry, "kind": self.kind, "change": self.mode, "at": str(self.at),
                "base": str(self.base) if self.base else None, "safety": self.safety}

    def warning(self) -> str:
        """The warning every piece of advice carries for an accepted safety change."""
        return (f"kbrun's safety policy was changed by a --kb folder, so this advice may not "
                f"follow it: {self.describe()} ({self.safety}).")

    def refusal(self) -> KbrunError:
        """The error of this safety change made without --allow-safety-changes, at the
        changing entry's line."""
        doing = {"extend": "extending", "replace": "replacing", "disable": "disabling",
                 "add": "adding"}[self.mode]
        where = f" ({self.base})" if self.base else ""
        return KbSchemaError(f"{doing} {self.kind} '{self.entry}'{where} is a safety change "
                             f"({self.safety})", loc=self.at,
                             suggestion="remove the change (add a new entry with a new id "
                                        "instead), or " + ACCEPT)


def mode_of(item: LineDict, section: str, kind: str, base: LineDict | None, first_layer: bool,
            known: Iterable[str] = ()) -> tuple[Mode | None, LineDict]:
    """The mode an entry states (None: a new entry) and the entry without its mode key.

    Raises KbSchemaError, at the entry's own line, for a mode that cannot apply: none stated
    for an id defined below, one stated for an id that is not, two at once, a value other
    than `true`, `extend` on a rule, or `disable` on anything but a rule."""
    entry_id = item["id"]
    stated = [key for key in MODES if key in item]
    what = f"{kind} '{entry_id}'"
    for key in stated:
        if item[key] is not True:
            raise KbSchemaError(f"'{key}: {item[key]!r}' in {what}: it can only be true",
                                loc=item.loc_of(key),
                                suggestion=f"write '{key}: true', or remove the line")
    if len(stated) > 1:
        raise KbSchemaError(f"{what} says both {' and '.join(stated)}", loc=item.loc_of(stated[1]),
                            suggestion="keep one: extend adds to the entry below, replace "
                                       "replaces it whole, disable takes a rule out")
    mode = stated[0] if stated else None
    if mode is not None:
        if first_layer:
            raise KbSchemaError(f"'{mode}: true' in {what}, but this is the first layer: there "
                                "is nothing below it to change", loc=item.loc_of(mode),
                                suggestion=f"remove '{mode}: true'")
        if base is None:
            close = did_you_mean(entry_id, known)
            raise KbSchemaError(f"'{mode}: true' in {what}, but no layer below defines "
                                f"'{entry_id}'", loc=item.loc_of(mode),
                                suggestion=(close + " " if close else "") + f"remove '{mode}: "
                                "true' to add a new entry, or use the id of the entry to change "
                                "(kbrun kb list)")
        if mode == "extend" and section == "rules":
            raise KbSchemaError(f"rule '{entry_id}' cannot be extended: a rule is one piece",
                                loc=item.loc_of(mode),
                                suggestion="write 'replace: true' with the whole rule, "
                                           "'disable: true' to take it out, or give your rule "
                                           "a new id")
        if mode == "disable" and section != "rules":
            raise KbSchemaError(f"{what} cannot be disabled: only a rule can",
                                loc=item.loc_of(mode),
                                suggestion="write 'replace: true' with the whole entry, or "
                                           "disable the rules that use it")
    elif base is not None:
        raise KbSchemaError(
            f"{what} is already defined at {base.loc_of('id')}; say what this entry does to it",
            loc=item.loc_of("id"),
            suggestion=("add 'replace: true' and write the whole rule to replace it, "
                        "'disable: true' to take it out, or give your rule a new id"
                        if section == "rules" else
                        "add 'extend: true' to add these fields to it, 'replace: true' to "
                        "replace it whole, or give this entry a new id"))
    if not stated:
        return None, item
    stripped = LineDict((key, value) for key, value in item.items() if key not in MODES)
    stripped.loc, stripped.locs = item.loc, {k: v for k, v in item.locs.items() if k not in MODES}
    return mode, stripped


def merge(base: Any, extension: Any, key: Any = None) -> Any:
    """Extend an entry: lists append what they lack, mappings merge, single values and ranges
    (SPANS) are replaced. Each value keeps the line it was written on."""
    if isinstance(base, dict) and isinstance(extension, dict):
        merged = LineDict(base)
        # an error about the mapping as a whole points at the one who last wrote in it
        merged.loc = extension.loc if isinstance(extension, LineDict) else \
            getattr(base, "loc", Loc("?"))
        merged.locs = dict(getattr(base, "locs", {}))
        for name, value in extension.items():
            merged[name] = merge(base[name], value, name) if name in base else value
            if isinstance(extension, LineDict):
                merged.locs[name] = extension.loc_of(name)
        return merged
    if isinstance(base, list) and isinstance(extension, list) and key not in SPANS:
        merged_list = LineList(base)
        merged_list.loc = getattr(base, "loc", Loc("?"))
        merged_list.locs = list(getattr(base, "locs", [merged_list.loc] * len(base)))
        for index, item in enumerate(extension):
            if item not in merged_list:
                merged_list.append(item)
                merged_list.locs.append(extension.loc_of(index)
                                        if isinstance(extension, LineList) else merged_list.loc)
        return merged_list
    return extension


@dataclass(frozen=True)
class Guards:
    """What the layers below a --kb layer tell about the rules it adds: the fact kinds whose
    absence a safety rule needs (kind -> that rule), and the priority from which a dose
    outranks a rehabilitation protocol's. Computed once per layer (`guards`)."""

    negated: dict[str, str]
    protocol_priority: int


def guards(merged: dict[str, dict[str, LineDict]]) -> Guards:
    """The Guards of the entries layered so far."""
    from kbrun.engine.schema import Selection

    negated: dict[str, str] = {}
    for rule_id, rule in merged.get("rules", {}).items():
        if rule.get("safety") is not True:
            continue
        for condition in rule.get("when") or ():
            absent = condition.get("not") if isinstance(condition, dict) else None
            if isinstance(absent, dict):
                for kind in absent:
                    negated.setdefault(kind, rule_id)
    selection: dict[str, Any] = next(iter(merged.get("selection", {}).values()), {})
    priority = selection.get("protocol_priority",
                             Selection.model_fields["protocol_priority"].default)
    return Guards(negated, priority)


def safety_of(section: str, base: LineDict | None, result: LineDict | None,
              below: Guards | None = None) -> str | None:
    """Why turning `base` (None: a new entry) into `result` (None: disabled) is a safety
    change, or None. `below` (needed for a rule) are the guards of the layers below."""
    if section == "rules":
        if base is not None and base.get("safety") is True:
            return "it is a safety rule"
        if result is None or below is None:
            return None
        return _rule_loosens(result, below)
    if base is None or result is None:
        return None
    marked = base.get("safety") is True
    names = ([name for name in {**base, **result} if name not in ("id", "safety")] if marked
             else SAFETY_FIELDS.get(section, ()))
    lost = [name for name in names
            if _loses(_value(section, base, name), _value(section, result, name))]
    if not lost:
        return None
    if marked:
        return "it changes " + ", ".join(lost) + " of an entry marked safety: true"
    return "it changes " + ", ".join(lost) + ", which the safety rules read"


def _rule_loosens(rule: LineDict, below: Guards) -> str | None:
    """Why a rule of a --kb layer could loosen the safety policy, or None: it asserts what the
    safety rules decide by, or a fact whose absence a safety rule needs; it gives a warning
    kbrun reserves (or one whose kind a variable holds); or its dose outranks the protocols'."""
    for action in rule.get("then") or ():
        if not isinstance(action, dict):
            continue
        for verb, body in action.items():
            if not isinstance(body, dict):
                continue
            if verb == "assert":
                kinds = [kind for kind in body if kind in SAFETY_ASSERTS]
                if kinds:
                    return (f"it asserts {kinds[0]}, which decides what the safety rules allow; "
                            "only the built-in rules set it")
                kinds = [kind for kind in body if kind in below.negated]
                if kinds:
                    return (f"it asserts {kinds[0]}, whose absence safety rule "
                            f"'{below.negated[kinds[0]]}' needs")
            if verb == "warn":
                kind = body.get("kind")
                if kind in RESERVED_WARNINGS:
                    return f"its warning is of kind '{kind}', which kbrun itself gives"
                if isinstance(kind, str) and kind.startswith("$"):
                    return ("its warning's kind is a variable, which could name one kbrun "
                            "reserves (disclaimer, safety-change)")
            if verb == "dose":
                priority = body.get("priority", rule.get("salience", 0))
                if isinstance(priority, (int, float)) and priority >= below.protocol_priority:
                    return (f"its dose has priority {priority}, which outranks the "
                            f"rehabilitation protocols' ({below.protocol_priority})")
    return None


def _value(section: str, entry: LineDict, name: str) -> Any:
    """A field as written, or its default when it is not (`impact` left out is `none`)."""
    if name in entry:
        return entry[name]
    from kbrun.engine.schema import SECTIONS

    field = SECTIONS[section][1].model_fields.get(name)
    return None if field is None or field.is_required() else field.get_default(
        call_default_factory=True)


def _loses(old: Any, new: Any) -> bool:
    """Whether `new` takes anything away from `old`: a list item, a mapping key or a value
    that differs (a list or mapping that only grows loses nothing)."""
    if old is None:          # nothing was written: adding a list or mapping takes nothing
        return new is not None and not isinstance(new, (list, dict))
    if old == [] or old == {}:
        return False
    if isinstance(old, list):
        return not isinstance(new, list) or any(item not in new for item in old)
    if isinstance(old, dict):
        return not isinstance(new, dict) or any(_loses(value, new.get(key))
                                                for key, value in old.items())
    return bool(old != new)


def refused(changes: Sequence[Change]) -> list[KbrunError]:
    """The errors of the safety changes among `changes` (made without --allow-safety-changes)."""
    return [change.refusal() for change in changes if change.safety]
