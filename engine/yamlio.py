"""Safe YAML reading that remembers the file and line of every mapping key and list item."""

from __future__ import annotations

import math
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

# A whole knowledge base is about 300 KB over 36 files; a profile is a few lines.
MAX_FILE_BYTES = 2 * 1024 * 1024
# Knowledge-base entries nest about six levels deep. The bound matters: libyaml's scanner slows
# down with the square of the nesting, and its composer recurses in C, so 100,000 nested
# brackets would crash the interpreter rather than raise.
MAX_DEPTH = 64
# Values that aliases (*name) may repeat in one file: plenty for sharing a list of sources,
# far too few for a "billion laughs" alias bomb.
MAX_ALIAS_VALUES = 100_000
# Bytes of text that aliases may repeat in one file. Counting values alone let 2,000 aliases of
# one 1.5 MB string through (2.9 GB of memory and a 3 GB cache file). Twice the largest file
# allowed: a shared list of sources repeats a few kilobytes.
MAX_ALIAS_BYTES = 4 * 1024 * 1024
# Digits in a whole number. Numbers in a knowledge base or a profile are small (sets, reps,
# seconds, ranks); 18 digits still fit a 64-bit integer, and Python refuses to read numbers of
# more than 4,300 digits at all (with a ValueError).
MAX_INT_DIGITS = 18
# Values, lists and mappings (YAML nodes, aliases counted once) in one file: the largest built-in
# file has about 1,300 and the whole built-in kb 18,600. A 2 MiB file of one-letter items holds
# a million, which took 7.7 s and 500 MB to build; the bound stops such a file after 50,000,
# counted on the event stream before anything is built.
MAX_NODES = 50_000
_NODE_EVENTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent,
                yaml.AliasEvent)

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
    """A safe loader whose mappings and sequences remember their file and line, and whose
    scalars that cannot be read (a date 2020-13-45, bad base64) raise KbSyntaxError there."""

    kb_path = "<string>"
    kb_what = "knowledge-base file"

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return super().construct_object(node, deep)
        try:
            return super().construct_object(node, deep)
        # what PyYAML's scalar constructors raise on a value their resolver or tag let through
        except (ValueError, TypeError, OverflowError, LookupError) as err:
            kind = _KINDS.get(node.tag.rsplit(":", 1)[-1], "a value")
            raise KbSyntaxError(f"cannot read {_shown(node.value)} as {kind}",
                                loc=_loc(self, node),
                                suggestion="put it in quotes to keep it as text, or write "
                                           f"{kind} without a '!!' tag") from err


_KINDS = {"int": "a whole number", "float": "a number", "bool": "true or false",
          "binary": "base64 data", "timestamp": "a date", "null": "null", "str": "text"}


def _shown(text: str, limit: int = 40) -> str:
    """`text` quoted for a message, with control characters escaped and a long value cut."""
    return repr(text[:limit] + "..." if len(text) > limit else text)


def _loc(loader: _Loader, node: yaml.Node) -> Loc:
    return Loc(loader.kb_path, node.start_mark.line + 1)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    """A whole number of at most MAX_INT_DIGITS digits (counting neither sign, underscores nor
    a 0x/0b prefix), refused before Python converts it."""
    text = node.value.replace("_", "").lstrip("+-").lower()
    body = text[2:] if text.startswith(("0x", "0b", "0o")) else text
    digits = sum(1 for char in body if char != ":")
    if digits > MAX_INT_DIGITS:
        raise KbSyntaxError(f"a number of {digits} digits is too long for a {loader.kb_what} "
                            f"(at most {MAX_INT_DIGITS} digits)", loc=_loc(loader, node),
                            suggestion="write a smaller number, or put it in quotes if it is "
                                       "text")
    value: int = loader.construct_yaml_int(node)
    return value


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    """A finite number: nothing in a knowledge base or a profile is infinite, and NaN passes
    every comparison written as `not (x > limit)`, so .inf, .nan and 1.0e+999 are refused."""
    value: float = loader.construct_yaml_float(node)
    if not math.isfinite(value):
        raise KbSyntaxError(f"the number {_shown(node.value)} is not finite (it reads as "
                            f"{value})", loc=_loc(loader, node),
                            suggestion="write an ordinary number such as 0.5")
    return value


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """A date or time, or KbSyntaxError for one that does not exist (2020-13-45)."""
    shown = _shown(node.value)
    fix = "write a real date such as 2020-12-31, or put it in quotes to keep it as text"
    if not loader.timestamp_regexp.match(node.value):  # only with an explicit !!timestamp
        raise KbSyntaxError(f"{shown} is not a date", loc=_loc(loader, node), suggestion=fix)
    try:
        return loader.construct_yaml_timestamp(node)
    except (ValueError, OverflowError) as err:
        raise KbSyntaxError(f"{shown} is not a real date ({err})", loc=_loc(loader, node),
                            suggestion=fix) from err


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
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


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


# how to fix a file over MAX_FILE_BYTES, by what it is
_TOO_LARGE_FIX = {
    "knowledge-base file": "split it into several smaller files in the same folder",
    "profile file": "a profile is a few lines of fields such as 'symptoms: [knee-pain]'; check "
                    "that this is the right file",
}


def _too_large(path: str, size: int, what: str) -> KbSyntaxError:
    return KbSyntaxError(
        f"file is {size / 1024 / 1024:.1f} MiB, over the {MAX_FILE_BYTES // 1024 // 1024} MiB "
        f"limit for a {what}", loc=Loc(path, 1),
        suggestion=_TOO_LARGE_FIX.get(what, "check that this is the right file"))


class _Open:
    """A list or mapping whose end the shape check has not reached yet."""

    __slots__ = ("anchor", "bytes", "deepest", "level", "values")

    def __init__(self, anchor: str | None, level: int):
        self.anchor = anchor
        self.level = level      # 1 for a top-level collection
        self.values = 1         # values it stands for, itself included
        self.bytes = 0          # bytes of the scalars in it
        self.deepest = level    # the deepest level inside it, aliases expanded


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _check_shape(text: str, path: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH (aliases expanded) and aliases that repeat more than
    MAX_ALIAS_VALUES values or MAX_ALIAS_BYTES bytes, from the event stream alone: nothing is
    built, and the scan stops at the first excess."""
    parser = _BaseLoader(text)
    try:
        # anchor -> (values, bytes, levels of nesting) it stands for
        anchors: dict[str, tuple[int, int, int]] = {}
        open_anchors: set[str] = set()
        stack: list[_Open] = []
        repeated = repeated_bytes = nodes = 0
        while (event := parser.get_event()) is not None:  # None once the stream has ended
            line = event.start_mark.line + 1 if event.start_mark else 0
            if isinstance(event, _NODE_EVENTS):
                nodes += 1
                if nodes > MAX_NODES:
                    raise KbSyntaxError(
                        f"the file holds more than {MAX_NODES:,} values, lists and mappings",
                        loc=Loc(path, line),
                        suggestion="the largest built-in file holds about 1,300; split the "
                                   "knowledge into files of a few thousand lines at most")
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise KbSyntaxError(
                        f"lists and mappings are nested more than {MAX_DEPTH} levels deep",
                        loc=Loc(path, line),
                        suggestion="an entry needs only a few levels; look for stray or "
                                   "unclosed brackets")
                stack.append(_Open(event.anchor, len(stack) + 1))
                if event.anchor:
                    open_anchors.add(event.anchor)
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                done = stack.pop()
                values, size, deepest = done.values, done.bytes, done.deepest
                if done.anchor:
                    anchors[done.anchor] = (values, size, deepest - done.level + 1)
                    open_anchors.discard(done.anchor)
            elif isinstance(event, yaml.ScalarEvent):
                values, size, deepest = 1, _utf8_size(event.value), len(stack)
                if event.anchor:
                    anchors[event.anchor] = (1, size, 0)
            elif isinstance(event, yaml.AliasEvent):
                name = event.anchor or ""
                if name in open_anchors:
                    raise KbSyntaxError(
                        f"alias '*{name}' refers to the list or mapping that contains it",
                        loc=Loc(path, line), suggestion="a value cannot contain itself; write "
                                                        "the values out")
                values, size, depth = anchors.get(name, (1, 0, 0))  # unknown: the parser says
                deepest = len(stack) + depth
                if deepest > MAX_DEPTH:
                    raise KbSyntaxError(
                        f"alias '*{name}' nests lists and mappings more than {MAX_DEPTH} levels "
                        "deep", loc=Loc(path, line),
                        suggestion="an entry needs only a few levels; write the values out, "
                                   "or alias a smaller part")
                repeated += values
                repeated_bytes += size
                if repeated > MAX_ALIAS_VALUES:
                    raise KbSyntaxError(
                        f"aliases repeat more than {MAX_ALIAS_VALUES} values (an alias bomb?)",
                        loc=Loc(path, line),
                        suggestion="write the values out, or use fewer and smaller aliases")
                if repeated_bytes > MAX_ALIAS_BYTES:
                    raise KbSyntaxError(
                        f"aliases repeat more than {MAX_ALIAS_BYTES // 1024 // 1024} MiB of text "
                        "(an alias bomb?)", loc=Loc(path, line),
                        suggestion="write the values out, or use fewer and smaller aliases")
            else:
                continue  # stream and document events
            if stack:
                parent = stack[-1]
                parent.values += values
                parent.bytes += size
                parent.deepest = max(parent.deepest, deepest)
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
    construct Python objects, for duplicate keys, for nesting or aliases beyond MAX_DEPTH,
    MAX_ALIAS_VALUES and MAX_ALIAS_BYTES, for numbers over MAX_INT_DIGITS digits or not finite,
    for dates that do not exist and other values a tag cannot make, and for files too large to
    be knowledge.
    """
    if len(text) > MAX_FILE_BYTES // 4:  # only then can the UTF-8 size be over the limit
        size = len(text.encode("utf-8"))
        if size > MAX_FILE_BYTES:
            raise _too_large(path, size, what)
    try:
        _check_shape(text, path)
        loader = _Loader(text)
        loader.kb_path = path
        loader.kb_what = what
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
            fix = "remove the tag and write a plain value; kbrun never builds Python objects " \
                  "from YAML"
        else:  # e.g. "failed to decode base64 data" for a !!binary value
            problem = err.problem or "a value that cannot be constructed"
            fix = "remove the '!!' tag and write a plain value"
        raise KbSyntaxError(f"{problem} in a {what}", loc=Loc(path, line),
                            suggestion=fix) from err
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
