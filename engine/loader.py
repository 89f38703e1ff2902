"""Reading knowledge-base folders: parse, layer, validate against the schema and cross-check ids."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, get_args

import pydantic

from kbrun.engine.errors import (
    DuplicateId,
    KbError,
    KbrunError,
    KbSchemaError,
    KbSyntaxError,
    Loc,
    UnknownId,
    did_you_mean,
)
from kbrun.engine.folders import Skipped, layer_sources, read_layers
from kbrun.engine.knowledge import KnowledgeBase
from kbrun.engine.overlay import SPANS, Change, guards, merge, mode_of, refused, safety_of
from kbrun.engine.schema import ID_PATTERN, KIND_SECTION, SECTIONS, Strict
from kbrun.engine.yamlio import LineDict, LineList, parse_yaml

log = logging.getLogger(__name__)

class KbInvalid(KbError):
    """One or more errors in a knowledge base; `errors` holds each of them."""

    def __init__(self, errors: Sequence[KbrunError]):
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first.message + more, loc=first.loc, suggestion=first.suggestion)
        self.errors = list(errors)


# -- layering ------------------------------------------------------------------------------------

def _entries_of(path: str, data: Any) -> Iterator[tuple[str, LineDict]]:
    """(section, entry) pairs of one parsed file, checking its overall shape."""
    if data is None:
        raise KbSyntaxError("file is empty", loc=Loc(path, 1),
                            suggestion="add a section such as 'exercises:' or delete the file")
    if not isinstance(data, LineDict):  # the loader builds every mapping as a LineDict
        raise KbSyntaxError("a knowledge-base file must be a mapping of sections "
                            "(exercises:, muscles:, rules:, ...)", loc=Loc(path, 1),
                            suggestion="put a section name such as 'exercises:' on the first "
                                       "line and indent the entries under it")
    for section, items in data.items():
        loc = data.loc_of(section)
        if section not in SECTIONS:
            error = UnknownId("section", section, SECTIONS, loc=loc)
            error.suggestion = error.suggestion or "the sections are " + ", ".join(SECTIONS)
            raise error
        if isinstance(items, dict) and section in ("selection", "planning"):
            items = LineList([items])
            items.loc, items.locs = loc, [loc]
        if not isinstance(items, list):
            raise KbSyntaxError(f"section '{section}' must be a list of entries", loc=loc,
                                suggestion=f"write each entry as '- id: ...' under '{section}:'")
        for index, item in enumerate(items):
            # YAML's !!omap and !!pairs build a plain list (of pairs): no line of its own
            item_loc = items.loc_of(index) if isinstance(items, LineList) else loc
            if not isinstance(item, LineDict):  # the loader builds every mapping as a LineDict
                raise KbSyntaxError(f"an entry of '{section}' must be a mapping with an 'id'",
                                    loc=item_loc, suggestion="write it as '- id: ...' with its "
                                                             "fields indented below")
            if "id" not in item:
                raise KbSchemaError(f"an entry of '{section}' has no 'id'", loc=item_loc,
                                    suggestion="give it one, e.g. '- id: my-entry' (kebab-case)")
            if not isinstance(item["id"], str):
                raise KbSchemaError(f"id {item['id']!r} must be text", loc=item.loc_of("id"),
                                    suggestion="write a kebab-case name such as 'my-entry'")
            yield section, item


class Layered(NamedTuple):
    """Every layer parsed and layered: section -> id -> merged raw entry, the errors found,
    and what each layer changed in the layers below it (engine/overlay.py)."""

    merged: dict[str, dict[str, LineDict]]
    errors: list[KbrunError]
    changes: list[Change]


def collect(files: Sequence[tuple[str, list[tuple[str, str]]]]) -> Layered:
    """Parse and layer every file of every layer ((label, [(path, text)]) in layer order)."""
    merged: dict[str, dict[str, LineDict]] = {section: {} for section in SECTIONS}
    errors: list[KbrunError] = []
    changes: list[Change] = []
    for index, (_label, layer_files) in enumerate(files):
        seen_here: dict[str, Loc] = {}
        below = guards(merged) if index else None   # what this layer's rules are checked by
        for path, text in layer_files:
            try:
                entries = list(_entries_of(path, parse_yaml(text, path)))
            except KbrunError as err:
                errors.append(err)
                continue
            for section, item in entries:
                entry_id = item["id"]
                loc = item.loc_of("id")
                if entry_id in seen_here:
                    errors.append(DuplicateId(
                        f"duplicate id '{entry_id}' (already defined at {seen_here[entry_id]})",
                        loc=loc, suggestion="rename one of them, or extend the entry from "
                                            "another --kb folder"))
                    continue
                seen_here[entry_id] = loc
                table = merged[section]
                base = table.get(entry_id)
                kind = SECTIONS[section][0]
                try:
                    mode, item = mode_of(item, section, kind, base, first_layer=index == 0,
                                         known=table)
                except KbrunError as err:
                    errors.append(err)
                    continue
                if mode is None or base is None:
                    table[entry_id] = item
                    if index and (reason := safety_of(section, None, item, below)):
                        changes.append(Change(entry_id, kind, "add", loc, None, reason))
                    continue
                result = (None if mode == "disable" else
                          merge(base, item) if mode == "extend" else item)
                changes.append(Change(entry_id, kind, mode, loc, base.loc_of("id"),
                                      safety_of(section, base, result, below)))
                if result is None:
                    del table[entry_id]
                    continue
                if base.get("safety") is True and result.get("safety") is not True:
                    result["safety"] = True  # a later layer cannot unmark it
                table[entry_id] = result
    return Layered(merged, errors, changes)


# -- validation ----------------------------------------------------------------------------------

def _field_names(model: type[pydantic.BaseModel]) -> set[str]:
    names: set[str] = set()
    stack: list[Any] = [model]
    while stack:
        current = stack.pop()
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
            for name, info in current.model_fields.items():
                if name not in names:
                    names.add(name)
                    stack.append(info.annotation)
        else:
            stack.extend(get_args(current))
    return names


def _locate(raw: Any, path: Sequence[Any]) -> Loc:
    """The location of the deepest part of `path` that exists in the raw entry."""
    loc = getattr(raw, "loc", Loc("?"))
    node = raw
    for part in path:
        if ((isinstance(node, dict) and part in node)
                or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))):
            loc = node.loc_of(part) if hasattr(node, "loc_of") else loc
            node = node[part]
        else:
            break
    return loc


def _unknown_field_hint(model: type[pydantic.BaseModel], path: Sequence[Any], name: str,
                        allowed: set[str]) -> str:
    """How to fix a field unknown where it is: the part of the entry it belongs under (`reps`
    of an exercise goes under `dose:`), or the fields that are allowed there."""
    for owner in sorted(allowed):
        inner = _fields_at(model, [*path, owner]) if _nests(model, [*path, owner]) else set()
        if name in inner:
            return f"'{name}' belongs under '{owner}:', e.g. '{owner}: {{{name}: ...}}'"
    return "the fields here are " + ", ".join(sorted(allowed))


def _nests(model: type[pydantic.BaseModel], path: Sequence[Any]) -> bool:
    """Whether the field at `path` inside `model` holds a mapping of fields of its own."""
    return bool(_fields_at(model, path, required=False, strict=True))


def _fields_at(model: type[pydantic.BaseModel], path: Sequence[Any], *,
               required: bool = False, strict: bool = False) -> set[str]:
    """The field names allowed (or, with `required`, needed) at `path` inside `model` (all of
    its names if that is unclear)."""
    current = [model]
    for part in path:
        if not isinstance(part, str) or part == "[key]":
            continue
        inner = [m for owner in current if part in owner.model_fields
                 for m in _models_in(owner.model_fields[part].annotation)]
        if not inner:
            return set() if required or strict else _field_names(model)
        current = inner
    return {name for owner in current for name, info in owner.model_fields.items()
            if not required or info.is_required()}


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    found: list[type[pydantic.BaseModel]] = []
    stack = [annotation]
    while stack:
        current = stack.pop()
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
            found.append(current)
        else:
            stack.extend(get_args(current))
    return found


_CITE = "cite at least one source: a seed file name or an id from sources.yaml"


def _explain(problem: Any, dotted: str, name: str) -> tuple[str, str]:
    """What is wrong with one value, in kbrun's words, and how to fix it."""
    kind = problem["type"]
    ctx = problem.get("ctx") or {}
    got = problem.get("input")
    shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
    docs = "see docs/kb-format.md for the fields each kind has"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        if name in SPANS:
            return (f"{dotted} must be whole numbers{shown}",
                    f"write '{name}: 10' or '{name}: [8, 12]'")
        return (f"{dotted} must be a whole number{shown}",
                f"write it without quotes, e.g. '{name}: 3'")
    if kind in ("float_type", "float_parsing"):
        return f"{dotted} must be a number{shown}", f"write it without quotes, e.g. '{name}: 0.5'"
    if kind in ("bool_type", "bool_parsing"):
        return f"{dotted} must be true or false{shown}", f"write '{name}: true' or '{name}: false'"
    if kind == "string_type":
        return f"{dotted} must be text{shown}", f"write '{name}: some text', quoted if need be"
    if kind in ("list_type", "tuple_type", "set_type"):
        if name in SPANS:
            return (f"{dotted} must be a whole number or [min, max]{shown}",
                    f"write '{name}: 10' or '{name}: [8, 12]'")
        return f"{dotted} must be a list{shown}", f"write '{name}: [first, second]'"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{dotted} must be a mapping{shown}", f"write '{name}: {{field: value}}'; {docs}"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return (f"{dotted} must be one of {', '.join(allowed)}{shown}",
                did_you_mean(got, allowed) or f"use one of {', '.join(allowed)}")
    if kind == "string_pattern_mismatch":
        kebab = re.sub(r"[^a-z0-9]+", "-", str(got).lower()).strip("-")
        if ctx.get("pattern") == ID_PATTERN and kebab:
            return (f"{dotted} must be a kebab-case id: lowercase letters, digits and single "
                    f"hyphens{shown}", f"did you mean '{kebab}'?")
        return f"{dotted} has characters it cannot have{shown}", docs
    if kind == "string_too_short":
        return f"{dotted} must not be empty", f"write some text after '{name}:'"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return (f"{dotted} needs at least {least} item{'s' if least != 1 else ''}",
                _CITE if name == "sources" else f"add at least {least} to '{name}'")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        message = problem["msg"].removeprefix("Input should be ")
        hint = ("a weight is in (0, 1]: above 0 and at most 1" if name == "weight"
                else "use a value within that range; " + docs)
        return f"{dotted} must be {message}{shown}", hint
    # a schema validator may say how to fix it after a semicolon
    message, _, fix = problem["msg"].removeprefix("Value error, ").partition("; ")
    return f"{dotted or 'entry'}: {message}{shown}", fix or docs


def _schema_errors(kind: str, entry_id: str, raw: LineDict, model: type[Strict],
                   err: pydantic.ValidationError) -> Iterator[KbrunError]:
    subject = f"{kind} '{entry_id}'"
    problems = [(problem, [p for p in problem["loc"]
                           if not (isinstance(p, str) and p[:1].isupper())])
                for problem in err.errors()]
    # a misspelled field is reported once, as unknown with a hint, not also as missing
    unknown = {(tuple(where[:-1]), str(where[-1])) for problem, where in problems
               if problem["type"] == "extra_forbidden"}
    for problem, where in problems:
        loc = _locate(raw, where)
        names = [p for p in where if isinstance(p, str) and p != "[key]"]
        dotted = ".".join(names) + (" key" if where and where[-1] == "[key]" else "")
        if problem["type"] == "extra_forbidden":
            allowed = _fields_at(model, where[:-1])
            error = UnknownId("field", where[-1], allowed, loc=loc, context=subject)
            error.suggestion = error.suggestion or _unknown_field_hint(
                model, where[:-1], str(where[-1]), allowed)
            yield error
        elif problem["type"] == "missing":
            parent, name = tuple(where[:-1]), str(where[-1])
            if any(p == parent and did_you_mean(typo, [name]) for p, typo in unknown):
                continue
            needed = ", ".join(sorted(_fields_at(model, parent, required=True)))
            docs = "docs/rules.md" if kind == "rule" else "docs/kb-format.md"
            hint = (_CITE if name == "sources"
                    else f"add '{name}: ...'; {'this part' if parent else _a(kind)} needs "
                         f"{needed} (see {docs}); an entry with 'replace: true' is written "
                         "whole")
            yield KbSchemaError(f"missing field '{dotted}' in {subject}", loc=loc,
                                suggestion=hint)
        else:
            message, hint = _explain(problem, dotted, names[-1] if names else kind)
            yield KbSchemaError(f"{message} in {subject}", loc=loc, suggestion=hint)


def _references(value: Any, path: tuple[Any, ...] = ()
                ) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """(path, target kind, id) for every id-valued field marked with schema.ref()."""
    if isinstance(value, pydantic.BaseModel):
        for name, info in type(value).model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            item = getattr(value, name)
            target = extra.get("ref")
            if target and item is not None:
                if isinstance(item, (list, tuple)):
                    for index, ref_id in enumerate(item):
                        yield (*path, name, index), str(target), ref_id
                else:
                    yield (*path, name), str(target), item
            elif isinstance(item, (pydantic.BaseModel, list, tuple)):
                yield from _references(item, (*path, name))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if isinstance(item, (pydantic.BaseModel, list, tuple)):
                yield from _references(item, (*path, index))


def _source_path(path: tuple[Any, ...]) -> tuple[Any, ...]:
    # SourceRef normalises a bare string into {"id": ...}; point at the list item itself.
    return path[:-1] if path and path[-1] == "id" else path


def validate(merged: dict[str, dict[str, LineDict]], layers: Sequence[str] = ()
             ) -> tuple[dict[str, dict[str, Any]], list[KbrunError]]:
    """Validate every raw entry against its schema and check every reference.

    `layers` (the folder labels, in order) decide which of two clashing definitions is the
    later one, where the error is reported.
    """
    errors: list[KbrunError] = []
    entries: dict[str, dict[str, Any]] = {}
    for section, table in merged.items():
        kind, model = SECTIONS[section]
        entries[kind] = {}
        for entry_id in sorted(table):
            raw = table[entry_id]
            try:
                entries[kind][entry_id] = model.model_validate(_plain(raw))
            except pydantic.ValidationError as err:
                errors.extend(_schema_errors(kind, entry_id, raw, model, err))

    owner: dict[str, str] = {}
    for kind, table in entries.items():
        for entry_id in table:
            if kind in ("rule", "fact", "selection", "planning"):
                continue  # rule and fact-kind ids live in their own namespaces
            if entry_id not in owner:
                owner[entry_id] = kind
                continue
            # report it where it was defined last: that is usually the mistake
            first, last = sorted(
                [(owner[entry_id], merged[_section(owner[entry_id])][entry_id].loc_of("id")),
                 (kind, merged[_section(kind)][entry_id].loc_of("id"))],
                key=lambda pair: _definition_order(pair[1], layers))
            errors.append(DuplicateId(
                f"id '{entry_id}' is both {_a(last[0])} and {_a(first[0])} (defined at {first[1]})",
                loc=last[1], suggestion="ids are unique across kinds; rename one"))

    for kind, table in entries.items():
        for entry_id, entry in table.items():
            raw = merged[_section(kind)][entry_id]
            for path, target, ref_id in _references(entry):
                if ref_id in entries.get(target, {}):
                    continue
                if target in KIND_SECTION and ref_id in merged.get(KIND_SECTION[target], {}):
                    continue  # it exists but failed its own schema: reported once, there
                if target == "source":
                    path = _source_path(path)
                errors.append(UnknownId(target, ref_id, entries.get(target, {}),
                                        loc=_locate(raw, path), context=f"{kind} '{entry_id}'"))
    return entries, errors


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def _definition_order(loc: Loc, layers: Sequence[str]) -> tuple[int, str, int]:
    layer = max((i for i, label in enumerate(layers) if loc.path.startswith(label + "/")),
                default=-1)
    return layer, loc.path, loc.line


def _section(kind: str) -> str:
    from kbrun.engine.schema import KIND_SECTION

    return KIND_SECTION[kind]


def _plain(value: Any) -> Any:
    """LineDict/LineList -> dict/list, so that pydantic sees plain data."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def check_progressions(kb: KnowledgeBase) -> list[KbError]:
    """A cycle in progresses_to/regresses_to is an error (a progression must lead somewhere),
    reported at the first link of the cycle in the last layer that has one (a --kb folder's,
    not a built-in file the coach never touched)."""
    import networkx as nx

    chain: nx.DiGraph[str] = nx.DiGraph()
    for exercise in kb.exercises.values():
        for harder in exercise.progresses_to:
            chain.add_edge(exercise.id, harder)
        for easier in exercise.regresses_to:
            chain.add_edge(easier, exercise.id)
    errors: list[KbError] = []
    try:
        cycle = nx.find_cycle(chain)
    except nx.NetworkXNoCycle:
        return errors
    names = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
    links = [_definition_order(_link_loc(kb, easier, harder), kb.layers)
             for easier, harder, *_ in cycle]
    last_layer = max(layer for layer, _path, _line in links)
    _layer, path, line = min(link for link in links if link[0] == last_layer)
    loc = Loc(path, line)
    errors.append(KbSchemaError(f"progressions form a cycle: {names}", loc=loc,
                                suggestion="an exercise cannot be both easier and harder than "
                                           "another; remove one of these progresses_to or "
                                           "regresses_to links"))
    return errors


def _link_loc(kb: KnowledgeBase, easier: str, harder: str) -> Loc:
    """Where the link `easier` -> `harder` is written: in one's progresses_to or the other's
    regresses_to (the later of the two when both say it)."""
    found = []
    for entry_id, field, other in ((easier, "progresses_to", harder),
                                   (harder, "regresses_to", easier)):
        raw = kb.raw[entry_id]
        items = raw.get(field)
        if isinstance(items, LineList) and other in items:
            found.append(items.loc_of(items.index(other)))
    return max(found, key=lambda loc: _definition_order(loc, kb.layers), default=kb.locations[
        easier])


def load_kb(extra: Iterable[str | Path] = (), *, builtin: bool = True,
            compile_rules: bool = True, allow_safety_changes: bool = False) -> KnowledgeBase:
    """Load the built-in knowledge base with each `extra` folder layered over it, in order.

    With `builtin=False` only the `extra` folders are read (tests use small knowledge bases).
    Returns a validated KnowledgeBase. Raises KbInvalid with every error found (each names its
    file and line), or KbError for a folder that does not exist. A layer that changes a safety
    rule or entry (engine/overlay.py) is one of those errors unless `allow_safety_changes`;
    the changes are in `kb.changes` either way.
    """
    from kbrun.engine import cache

    layers = layer_sources(extra, builtin=builtin)
    skipped: Skipped = []
    files = read_layers(layers, skipped)
    fingerprint = cache.fingerprint(files)
    cached = cache.load(fingerprint)
    if cached is not None:
        cached.files = files  # for error locations, parsed only if an error needs one
        cached.skipped = skipped
        _check_safety(cached, allow_safety_changes)
        return cached  # validated when it was stored; rules compile on first use
    merged, errors, changes = collect(files)
    entries, schema_errors = validate(merged, [label for label, _folder in layers])
    errors.extend(schema_errors)
    raw = {entry_id: item for table in merged.values() for entry_id, item in table.items()}
    kb = KnowledgeBase(
        entries=entries,
        locations={entry_id: item.loc_of("id") for entry_id, item in raw.items()},
        layers=[label for label, _folder in layers],
        fingerprint=fingerprint,
        files=files,
        changes=changes,
        skipped=skipped,
    )
    kb.__dict__["raw"] = raw  # already parsed: the cached property need not parse it again
    if not errors:
        errors.extend(check_progressions(kb))
    if not errors and compile_rules:
        from kbrun.engine.rules import RuleCompileErrors

        try:
            kb.rules  # noqa: B018 - compile now so that rule errors surface at load time
        except RuleCompileErrors as err:
            errors.extend(err.errors)
    if errors:
        raise KbInvalid(sorted(errors, key=_error_order))
    log.debug("loaded %d entries from %s", len(raw), ", ".join(kb.layers))
    if compile_rules:
        cache.store(kb)  # only a knowledge base whose rules compiled is worth keeping
    _check_safety(kb, allow_safety_changes)
    return kb


def _check_safety(kb: KnowledgeBase, allowed: bool) -> None:
    """Refuse a knowledge base whose layers change the safety policy, unless allowed."""
    if not allowed and (errors := refused(kb.changes)):
        raise KbInvalid(errors)


def _error_order(err: KbrunError) -> tuple[str, int]:
    return (err.loc.path, err.loc.line) if err.loc else ("", 0)
