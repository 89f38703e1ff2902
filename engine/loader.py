"""Reading knowledge-base folders: parse, layer, validate against the schema and cross-check ids."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, get_args, get_origin

import pydantic

from kbrun.engine.errors import (
    DuplicateId, KbError, KbrunError, KbSchemaError, KbSyntaxError, Loc, UnknownId,
)
from kbrun.engine.knowledge import KnowledgeBase
from kbrun.engine.schema import SECTIONS, SourceRef, Strict
from kbrun.engine.yamlio import LineDict, LineList, parse_yaml

log = logging.getLogger(__name__)

BUILTIN = "kb"
KB_SUFFIXES = (".yaml", ".yml")


class KbInvalid(KbError):
    """One or more errors in a knowledge base; `errors` holds each of them."""

    def __init__(self, errors: Sequence[KbrunError]):
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first.message + more, loc=first.loc, suggestion=first.suggestion)
        self.errors = list(errors)


# -- reading files -------------------------------------------------------------------------------

def kb_files(folder: Traversable | Path, label: str) -> list[tuple[str, Traversable | Path]]:
    """Every YAML file under `folder`, recursively, as (display path, file) in sorted order."""
    found: list[tuple[str, Traversable | Path]] = []

    def walk(node: Traversable | Path, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            name = f"{prefix}/{child.name}"
            if child.is_dir():
                if not child.name.startswith((".", "__")):
                    walk(child, name)
            elif child.name.endswith(KB_SUFFIXES) and not child.name.startswith("."):
                found.append((name, child))

    walk(folder, label)
    return found


def builtin_folder() -> Traversable:
    """The knowledge base shipped inside the package."""
    return files("kbrun.kb")


def layer_sources(extra: Iterable[str | Path] = (), *, builtin: bool = True
                  ) -> list[tuple[str, Traversable | Path]]:
    """The folders to read, built-in first, each with the label used in messages."""
    layers: list[tuple[str, Traversable | Path]] = [(BUILTIN, builtin_folder())] if builtin else []
    for folder in extra:
        path = Path(folder)
        if not path.is_dir():
            raise KbError(f"knowledge-base folder '{folder}' does not exist or is not a folder",
                          suggestion="pass an existing folder to --kb")
        layers.append((str(folder).rstrip("/"), path))
    return layers


def read_layer(label: str, folder: Traversable | Path
               ) -> Iterator[tuple[str, str]]:
    """(display path, text) for every YAML file of one layer."""
    for display, node in kb_files(folder, label):
        try:
            data = node.read_bytes()
        except OSError as err:
            raise KbSyntaxError(f"cannot read file: {err.strerror}", loc=Loc(display)) from err
        try:
            yield display, data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise KbSyntaxError("file is not UTF-8 text", loc=Loc(display),
                                suggestion="save it as UTF-8") from err


# -- layering ------------------------------------------------------------------------------------

def merge(base: Any, extension: Any) -> Any:
    """Merge an extending entry into a base one: lists append, mappings merge, scalars replace."""
    if isinstance(base, dict) and isinstance(extension, dict):
        merged = LineDict(base)
        merged.loc = getattr(base, "loc", Loc("?"))
        merged.locs = dict(getattr(base, "locs", {}))
        for key, value in extension.items():
            merged[key] = merge(base[key], value) if key in base else value
            if hasattr(extension, "locs"):
                merged.locs[key] = extension.loc_of(key)
        return merged
    if isinstance(base, list) and isinstance(extension, list):
        merged_list = LineList(base)
        merged_list.loc = getattr(base, "loc", Loc("?"))
        merged_list.locs = list(getattr(base, "locs", [merged_list.loc] * len(base)))
        for index, item in enumerate(extension):
            if item not in merged_list:
                merged_list.append(item)
                merged_list.locs.append(extension.loc_of(index) if hasattr(extension, "locs")
                                        else merged_list.loc)
        return merged_list
    return extension


def _entries_of(path: str, data: Any) -> Iterator[tuple[str, LineDict]]:
    """(section, entry) pairs of one parsed file, checking its overall shape."""
    if data is None:
        raise KbSyntaxError("file is empty", loc=Loc(path, 1),
                            suggestion="add a section such as 'exercises:' or delete the file")
    if not isinstance(data, dict):
        raise KbSyntaxError("a knowledge-base file must be a mapping of sections "
                            "(exercises:, muscles:, rules:, ...)", loc=Loc(path, 1))
    for section, items in data.items():
        loc = data.loc_of(section)
        if section not in SECTIONS:
            raise UnknownId("section", section, SECTIONS, loc=loc)
        if isinstance(items, dict) and section == "selection":
            items = LineList([items])
            items.loc, items.locs = loc, [loc]
        if not isinstance(items, list):
            raise KbSyntaxError(f"section '{section}' must be a list of entries", loc=loc,
                                suggestion=f"write each entry as '- id: ...' under '{section}:'")
        for index, item in enumerate(items):
            item_loc = items.loc_of(index)
            if not isinstance(item, dict):
                raise KbSyntaxError(f"an entry of '{section}' must be a mapping with an 'id'",
                                    loc=item_loc)
            if "id" not in item:
                raise KbSchemaError(f"an entry of '{section}' has no 'id'", loc=item_loc)
            if not isinstance(item["id"], str):
                raise KbSchemaError(f"id {item['id']!r} must be text", loc=item.loc_of("id"))
            yield section, item


def collect(layers: Sequence[tuple[str, Traversable | Path]]
            ) -> tuple[dict[str, dict[str, LineDict]], list[KbError], str]:
    """Parse and layer every file; return section -> id -> merged raw entry, errors, and a hash."""
    merged: dict[str, dict[str, LineDict]] = {section: {} for section in SECTIONS}
    errors: list[KbError] = []
    digest = hashlib.sha256()
    for label, folder in layers:
        seen_here: dict[str, Loc] = {}
        for path, text in read_layer(label, folder):
            digest.update(path.encode() + b"\0" + text.encode() + b"\0")
            try:
                entries = list(_entries_of(path, parse_yaml(text, path)))
            except KbrunError as err:
                errors.append(err)  # type: ignore[arg-type]
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
                if entry_id in table and section != "rules":
                    table[entry_id] = merge(table[entry_id], item)
                else:
                    table[entry_id] = item
    return merged, errors, digest.hexdigest()


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
        if isinstance(node, dict) and part in node:
            loc = node.loc_of(part) if hasattr(node, "loc_of") else loc
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            loc = node.loc_of(part) if hasattr(node, "loc_of") else loc
            node = node[part]
        else:
            break
    return loc


def _schema_errors(kind: str, entry_id: str, raw: LineDict, model: type[Strict],
                   err: pydantic.ValidationError) -> Iterator[KbError]:
    fields = _field_names(model)
    for problem in err.errors():
        where = [p for p in problem["loc"] if not (isinstance(p, str) and p[:1].isupper())]
        loc = _locate(raw, where)
        dotted = ".".join(str(p) for p in where)
        subject = f"{kind} '{entry_id}'"
        if problem["type"] == "extra_forbidden":
            yield UnknownId("field", where[-1], fields, loc=loc, context=subject)
        elif problem["type"] == "missing":
            yield KbSchemaError(f"missing field '{dotted}' in {subject}", loc=loc,
                                suggestion="see docs/kb-format.md for the fields each kind needs")
        else:
            got = problem.get("input")
            got_text = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
            message = problem["msg"].removeprefix("Value error, ")
            yield KbSchemaError(f"{dotted or 'entry'}: {message}{got_text} in {subject}", loc=loc)


def _references(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, str]]:
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


def validate(merged: dict[str, dict[str, LineDict]]) -> tuple[dict[str, dict[str, Any]], list[KbError]]:
    """Validate every raw entry against its schema and check every reference."""
    errors: list[KbError] = []
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
            if kind in ("rule", "fact", "selection"):
                continue  # rule and fact-kind ids live in their own namespaces
            if entry_id in owner:
                raw = merged[_section(kind)][entry_id]
                errors.append(DuplicateId(
                    f"id '{entry_id}' is both a {owner[entry_id]} and a {kind}",
                    loc=raw.loc_of("id"), suggestion="ids are unique across kinds; rename one"))
            else:
                owner[entry_id] = kind

    for kind, table in entries.items():
        for entry_id, entry in table.items():
            raw = merged[_section(kind)][entry_id]
            for path, target, ref_id in _references(entry):
                if ref_id in entries.get(target, {}):
                    continue
                if target == "source":
                    path = _source_path(path)
                errors.append(UnknownId(target, ref_id, entries.get(target, {}),
                                        loc=_locate(raw, path), context=f"{kind} '{entry_id}'"))
    return entries, errors


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
    """A cycle in progresses_to/regresses_to is an error (a progression must lead somewhere)."""
    import networkx as nx

    chain = nx.DiGraph()
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
    first = cycle[0][0]
    errors.append(KbSchemaError(f"progressions form a cycle: {names}",
                                loc=kb.raw[first].loc_of("progresses_to"),
                                suggestion="an exercise cannot be both easier and harder than another"))
    return errors


def load_kb(extra: Iterable[str | Path] = (), *, builtin: bool = True,
            compile_rules: bool = True) -> KnowledgeBase:
    """Load the built-in knowledge base with each `extra` folder layered over it, in order.

    With `builtin=False` only the `extra` folders are read (tests use small knowledge bases).
    Returns a validated KnowledgeBase. Raises KbInvalid with every error found (each names its
    file and line), or KbError for a folder that does not exist.
    """
    layers = layer_sources(extra, builtin=builtin)
    merged, errors, fingerprint = collect(layers)
    entries, schema_errors = validate(merged)
    errors.extend(schema_errors)
    raw = {entry_id: item for table in merged.values() for entry_id, item in table.items()}
    kb = KnowledgeBase(
        entries=entries,
        locations={entry_id: item.loc_of("id") for entry_id, item in raw.items()},
        raw=raw,
        layers=[label for label, _folder in layers],
        fingerprint=fingerprint,
    )
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
    return kb


def _error_order(err: KbError) -> tuple[str, int]:
    return (err.loc.path, err.loc.line) if err.loc else ("", 0)
