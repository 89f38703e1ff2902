"""Safe YAML reading that remembers the file and line of every mapping key and list item."""

from __future__ import annotations

import re
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kbrun.engine.errors import KbSyntaxError, Loc

if TYPE_CHECKING:  # the two share their interface; the stubs type libyaml's one fully
    _BaseLoader = yaml.CSafeLoader
else:
    try:  # libyaml's parser is several times faster; the constructors stay the safe ones
        _BaseLoader = yaml.CSafeLoader
    except AttributeError:  # pragma: no cover - PyYAML built without libyaml
        _BaseLoader = yaml.SafeLoader

MAX_FILE_BYTES = 2 * 1024 * 1024
# Knowledge-base entries nest about six levels deep. The bound matters: libyaml's scanner slows
# down with the square of the nesting, and its composer recurses in C, so 100,000 nested
# brackets would crash the interpreter rather than raise.
MAX_DEPTH = 64
# Values that aliases (*name) may repeat in one file: plenty for sharing a list of sources,
# far too few for a "billion laughs" alias bomb.
MAX_ALIAS_VALUES = 100_000

_TAG = re.compile(r"tag '(?:tag:yaml\.org,2002:)?([^']*)'")


class LineDict(dict[Any, Any]):
    """A dict from YAML that knows where it and each of its keys came from."""

    loc: Loc
    locs: dict[Any, Loc]

    def loc_of(self, key: Any) -> Loc:
        return self.locs.get(key, self.loc)


class LineList(list[Any]):
    """A list from YAML that knows where it and each of its items came from."""

    loc: Loc
    locs: list[Loc]

    def loc_of(self, index: int) -> Loc:
        return self.locs[index] if 0 <= index < len(self.locs) else self.loc


class _Loader(_BaseLoader):
    """A safe loader whose mappings and sequences remember their file and line."""

    kb_path = "<string>"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    path = loader.kb_path
    result = LineDict()
    result.loc = Loc(path, node.start_mark.line + 1)
    result.locs = {}
    # keys merged in with `<<: *base` may be overridden; keys written twice may not
    written = {id(key_node) for key_node, _ in node.value}
    loader.flatten_mapping(node)
    from_merge: set[Any] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise KbSyntaxError(f"a mapping key must be a plain name, not {key!r}",
                                loc=Loc(path, line), suggestion="write the key as plain text")
        if key in result and key not in from_merge:
            raise KbSyntaxError(
                f"key '{key}' appears twice in one mapping (first on line "
                f"{result.locs[key].line})", loc=Loc(path, line),
                suggestion="remove or rename one of them")
        result[key] = loader.construct_object(value_node, deep=True)
        if id(key_node) not in written:
            from_merge.add(key)
            result.locs[key] = result.loc
        else:
            from_merge.discard(key)
            result.locs[key] = Loc(path, line)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    path = loader.kb_path
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.loc = Loc(path, node.start_mark.line + 1)
    result.locs = [Loc(path, child.start_mark.line + 1) for child in node.value]
    return result


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def read_text(file: Traversable | Path, display: str, what: str = "knowledge-base file") -> str:
    """Read a UTF-8 text file of at most MAX_FILE_BYTES without reading more than that.

    `display` names the file in messages. Raises KbSyntaxError for a file that cannot be read,
    is too large, or is not UTF-8 (naming the line of the first bad byte).
    """
    if isinstance(file, Path) and file.exists() and not file.is_file():
        what_it_is = "a folder" if file.is_dir() else "not a regular file"
        raise KbSyntaxError(f"this is {what_it_is}, not a {what}", loc=Loc(display),
                            suggestion=f"give the path of a {what}")
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise KbSyntaxError(f"cannot read file: {err.strerror or err}", loc=Loc(display),
                            suggestion="check that it exists and that you may read it") from err
    if len(data) > MAX_FILE_BYTES:
        size = file.stat().st_size if isinstance(file, Path) else len(data)
        raise _too_large(display, size, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise KbSyntaxError(f"file is not UTF-8 text: byte 0x{data[err.start]:02x} cannot be read",
                            loc=Loc(display, line),
                            suggestion="save the file with the UTF-8 encoding") from err


def _too_large(path: str, size: int, what: str) -> KbSyntaxError:
    return KbSyntaxError(
        f"file is {size / 1024 / 1024:.1f} MiB, over the {MAX_FILE_BYTES // 1024 // 1024} MiB "
        f"limit for a {what}", loc=Loc(path, 1),
        suggestion="split it into several smaller files in the same folder")


def _check_shape(text: str, path: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and aliases that repeat too much, from the event
    stream alone: nothing is built, and the scan stops at the first excess."""
    parser = _BaseLoader(text)
    try:
        repeats: dict[str | None, int] = {}  # anchor -> values it stands for
        open_anchors: set[str] = set()
        stack: list[list[Any]] = []       # [values so far, anchor] of each open collection
        repeated = 0
        while (event := parser.get_event()) is not None:  # None once the stream has ended
            line = event.start_mark.line + 1 if event.start_mark else 0
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise KbSyntaxError(
                        f"lists and mappings are nested more than {MAX_DEPTH} levels deep",
                        loc=Loc(path, line),
                        suggestion="an entry needs only a few levels; look for stray or "
                                   "unclosed brackets")
                stack.append([1, event.anchor])
                if event.anchor:
                    open_anchors.add(event.anchor)
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                size, anchor = stack.pop()
                if anchor:
                    repeats[anchor] = size
                    open_anchors.discard(anchor)
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor:
                    repeats[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor in open_anchors:
                    raise KbSyntaxError(
                        f"alias '*{event.anchor}' refers to the list or mapping that contains it",
                        loc=Loc(path, line), suggestion="a value cannot contain itself; write "
                                                        "the values out")
                size = repeats.get(event.anchor, 1)
                repeated += size
                if repeated > MAX_ALIAS_VALUES:
                    raise KbSyntaxError(
                        f"aliases repeat more than {MAX_ALIAS_VALUES} values (an alias bomb?)",
                        loc=Loc(path, line),
                        suggestion="write the values out, or use fewer and smaller aliases")
            else:
                continue  # stream and document events
            if stack:
                stack[-1][0] += size
    finally:
        parser.dispose()


def _indentation(text: str, line: int) -> str:
    """The leading whitespace of a 1-based line of text."""
    lines = text.splitlines()
    current = lines[line - 1] if 0 < line <= len(lines) else ""
    return current[:len(current) - len(current.lstrip())]


def parse_yaml(text: str, path: str, what: str = "knowledge-base file") -> Any:
    """Parse YAML text safely, returning LineDict/LineList containers.

    Raises KbSyntaxError, with the file and line, for malformed YAML, for tags that would
    construct Python objects, for duplicate keys, for nesting or aliases beyond MAX_DEPTH and
    MAX_ALIAS_VALUES, and for files too large to be knowledge.
    """
    if len(text) > MAX_FILE_BYTES // 4:  # only then can the UTF-8 size be over the limit
        size = len(text.encode("utf-8"))
        if size > MAX_FILE_BYTES:
            raise _too_large(path, size, what)
    try:
        _check_shape(text, path)
        loader = _Loader(text)
        loader.kb_path = path
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except KbSyntaxError:
        raise
    except yaml.constructor.ConstructorError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 0
        tag = _TAG.search(err.problem or "")
        if tag:
            name = tag.group(1)
            problem = f"the tag '{'!!' if not name.startswith('!') else ''}{name}' is not allowed"
        else:
            problem = err.problem or "a value that cannot be constructed"
        raise KbSyntaxError(f"{problem} in a {what}", loc=Loc(path, line),
                            suggestion="remove the tag and write a plain value; kbrun never "
                                       "builds Python objects from YAML") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        context = getattr(err, "context", None)
        context_mark = getattr(err, "context_mark", None)
        if context and context_mark and context_mark.line + 1 != line:
            problem += f" ({context} from line {context_mark.line + 1})"
        if "document" in problem:
            hint = "a file holds one YAML document; remove the '---' line or split the file"
        elif "tab" in problem or "\t" in _indentation(text, line):
            hint = "indent with spaces; YAML does not allow tabs in indentation"
        else:
            hint = "check the indentation and quoting on or just above this line"
        raise KbSyntaxError(f"invalid YAML: {problem}", loc=Loc(path, line),
                            suggestion=hint) from err
    except RecursionError as err:  # pragma: no cover - _check_shape bounds the nesting first
        raise KbSyntaxError("YAML nested too deeply", loc=Loc(path, 1),
                            suggestion="an entry needs only a few levels") from err
