"""Safe YAML reading that remembers the file and line of every mapping key and list item."""

from __future__ import annotations

from typing import Any

import yaml

from kbrun.engine.errors import KbSyntaxError, Loc

try:  # libyaml's parser is several times faster; the constructors stay the safe ones
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader  # type: ignore[misc]

MAX_FILE_BYTES = 2 * 1024 * 1024


class LineDict(dict):
    """A dict from YAML that knows where it and each of its keys came from."""

    loc: Loc
    locs: dict[Any, Loc]

    def loc_of(self, key: Any) -> Loc:
        return self.locs.get(key, self.loc)


class LineList(list):
    """A list from YAML that knows where it and each of its items came from."""

    loc: Loc
    locs: list[Loc]

    def loc_of(self, index: int) -> Loc:
        return self.locs[index] if 0 <= index < len(self.locs) else self.loc


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe loader whose mappings and sequences remember their file and line."""

    kb_path = "<string>"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    path = loader.kb_path
    result = LineDict()
    result.loc = Loc(path, node.start_mark.line + 1)
    result.locs = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise KbSyntaxError(f"a mapping key must be a plain name, not {key!r}",
                                loc=Loc(path, line))
        if key in result:
            raise KbSyntaxError(
                f"key '{key}' appears twice in one mapping (first on line "
                f"{result.locs[key].line})", loc=Loc(path, line),
                suggestion="remove or rename one of them")
        result[key] = loader.construct_object(value_node, deep=True)
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


def parse_yaml(text: str, path: str) -> Any:
    """Parse YAML text safely, returning LineDict/LineList containers.

    Raises KbSyntaxError, with the file and line, for malformed YAML, for tags that would
    construct Python objects, for duplicate keys and for files too large to be knowledge.
    """
    if len(text) > MAX_FILE_BYTES:
        raise KbSyntaxError(
            f"file is {len(text) // 1024} KiB, over the {MAX_FILE_BYTES // 1024} KiB limit for a "
            "knowledge-base file", loc=Loc(path, 1), suggestion="split it into smaller files")
    try:
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
        problem = err.problem or "cannot be constructed"
        raise KbSyntaxError(f"not allowed in a knowledge-base file: {problem}", loc=Loc(path, line),
                            suggestion="use plain YAML values; tags that build Python objects are "
                                       "never run") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise KbSyntaxError(f"invalid YAML: {problem}", loc=Loc(path, line),
                            suggestion="check the indentation and quoting on or just above this line"
                            ) from err
    except RecursionError as err:
        raise KbSyntaxError("YAML nested too deeply", loc=Loc(path, 1)) from err
