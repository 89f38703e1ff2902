"""A cache of loaded knowledge bases, keyed by the content hash of their files, stored as inert
JSON.

Parsing and validating the YAML is most of what a cold `kbrun advise` spends in kbrun's own
code; a knowledge base whose files (and whose schema) have not changed is read back from the
user's cache directory instead. The key covers every file's path and bytes, the kbrun version,
the schema and graph sources and the cache format, so an entry can never be stale; the folder is
safe to delete. Set KBRUN_NO_CACHE=1 to turn it off, KBRUN_CACHE_DIR to move it from the
platform's cache folder (see default_cache_dir).

An entry is plain data - the validated entries, where each was defined, and the graph's facts
as the rules see them - never pickle: reading a planted or swapped file can at worst fail to
parse, never run code. An entry is read only through a descriptor opened without following a
symbolic link and checked on that descriptor (a regular file, owned by this user, writable by
no one else, at most MAX_ENTRY_BYTES); the folder is used only when it is private to this user.
The folder keeps the MAX_ENTRIES most recently used entries.

Reading an entry builds the entries with pydantic's `model_construct`, which skips the
validation the data passed when it was stored; so a warm start imports the schema without
building its validators, and does not import networkx at all.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import stat
import sys
import tempfile
import time
import types
import typing
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kbrun.engine.knowledge import KnowledgeBase

log = logging.getLogger(__name__)
FORMAT = 3
MAX_ENTRIES = 16                      # entries kept; the least recently used go first
MAX_ENTRY_BYTES = 64 * 1024 * 1024    # an entry larger than this is not read
STALE_TEMP_S = 3600                   # a temporary file this old is not another store's


def default_cache_dir(platform: str | None = None,
                      environ: typing.Mapping[str, str] | None = None) -> Path:
    """Where kbrun caches by the platform's convention (KBRUN_CACHE_DIR aside): Linux and
    other Unix `$XDG_CACHE_HOME/kbrun` (an absolute one only, as the XDG spec says) or
    `~/.cache/kbrun`; macOS `~/Library/Caches/kbrun`; Windows `%LOCALAPPDATA%\\kbrun\\Cache`
    (or `~\\AppData\\Local\\kbrun\\Cache`)."""
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or os.path.expanduser("~"))
    if platform == "win32":
        local = environ.get("LOCALAPPDATA")
        return Path(local if local else home / "AppData" / "Local") / "kbrun" / "Cache"
    if platform == "darwin":
        return home / "Library" / "Caches" / "kbrun"
    xdg = environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else home / ".cache") / "kbrun"


def _private(info: os.stat_result) -> bool:
    """Whether a file or folder is this user's and writable by no one else. Where there are no
    POSIX owners (Windows: no os.getuid), the per-user folder's access list protects it and
    the mode bits mean nothing, so only the kind of file is checked (by the caller)."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return True
    return info.st_uid == getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is off or the folder is not safe to trust."""
    if os.environ.get("KBRUN_NO_CACHE"):
        return None
    override = os.environ.get("KBRUN_CACHE_DIR")
    folder = Path(override) if override else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.stat(folder, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or not _private(info):
        log.debug("not using cache folder %s: not a folder private to this user", folder)
        return None
    return folder


def fingerprint(layers: Iterable[tuple[str, Iterable[tuple[str, str]]]]) -> str:
    """The content hash of a knowledge base: each layer's label and files in order, where each
    layer ends (`--kb k` is not `--kb k/a --kb k/b`, though their files are the same), every
    (path, text), the version, the cache format, and the sources of the schema and graph builder
    (an entry holds what they produced). Every name and text goes in with its length first, so
    no two knowledge bases give the same bytes to hash."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(f"kbrun-cache-{FORMAT}\0".encode())

    def add(text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        digest.update(f"{len(data)}:".encode() + data)

    with contextlib.suppress(PackageNotFoundError):  # running from a source tree: no version
        add(version("kbrun"))
    # every engine module: what an entry holds was produced by the loader, schema, graph,
    # facts and inference code, and an editable install keeps one version number throughout
    for module in sorted(Path(__file__).parent.glob("*.py")):
        add(module.name)
        add(module.read_bytes())
    for label, files in layers:
        add("layer")
        add(label)
        for path, text in files:
            add(path)
            add(text)
        add("end of layer")
    return digest.hexdigest()


def _entry(folder: Path, key: str) -> Path:
    return folder / f"kb-{key}.json"


def _read(path: Path) -> bytes | None:
    """The bytes of a cache entry, or None when it is missing or not to be trusted (checked on
    the opened descriptor: a folder, a device or another user's file in its place is
    ignored, with a debug log)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as err:  # a symbolic link (ELOOP), a folder (on some systems), no permission
        log.debug("not reading cache entry %s: %s", path, err)
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not _private(info) \
                or info.st_size > MAX_ENTRY_BYTES:
            log.debug("not reading cache entry %s: not a private regular file of at most "
                      "%d bytes", path, MAX_ENTRY_BYTES)
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_ENTRY_BYTES + 1)
    except OSError as err:
        log.debug("not reading cache entry %s: %s", path, err)
        return None
    finally:
        os.close(fd)


def load(key: str) -> KnowledgeBase | None:
    """The cached knowledge base for this key, or None."""
    folder = cache_dir()
    if folder is None:
        return None
    path = _entry(folder, key)
    data = _read(path)
    if data is None:
        return None
    try:
        document = json.loads(data)
        if document.get("format") != FORMAT or document.get("fingerprint") != key:
            raise ValueError("written by another version of kbrun")
        kb = decode(document)
    except Exception as err:  # noqa: BLE001 - a damaged entry is dropped, never fatal
        log.debug("dropping unreadable cache entry %s: %s", path, err)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return None
    with contextlib.suppress(OSError, NotImplementedError):
        os.utime(path, follow_symlinks=False)  # recently used: kept longest by prune()
    return kb


def store(kb: KnowledgeBase) -> None:
    """Save a validated knowledge base under its fingerprint (atomically; errors ignored), and
    prune the folder to its MAX_ENTRIES most recently used entries."""
    folder = cache_dir()
    if folder is None:
        return
    name = None
    try:
        text = json.dumps(encode(kb), separators=(",", ":"), ensure_ascii=False)
        if len(text) > MAX_ENTRY_BYTES:
            return
        fd, name = tempfile.mkstemp(dir=folder, prefix=".kb-", suffix=".tmp")  # mode 0600
        try:
            handle = os.fdopen(fd, "w", encoding="utf-8")
        except BaseException:
            os.close(fd)
            raise
        with handle:  # a full disk fails the write or the close: the temporary file goes below
            handle.write(text)
        os.replace(name, _entry(folder, kb.fingerprint))
        name = None
        prune(folder)
    except (OSError, TypeError, ValueError) as err:
        log.debug("could not cache the knowledge base: %s", err)
    finally:
        if name is not None:  # whatever stopped the store, never leave a partial file
            with contextlib.suppress(OSError):
                os.unlink(name)


# The names kbrun writes (a sha256 key), so that a KBRUN_CACHE_DIR pointed at a folder of the
# user's own never loses a file that merely starts with "kb-".
_ENTRY_NAME = re.compile(r"kb-[0-9a-f]{64}\.json")
_OLD_ENTRY_NAME = re.compile(r"kb-[0-9a-f]{16,64}\.pickle")
_TEMP_NAME = re.compile(r"\.kb-[a-z0-9_]+\.tmp")           # tempfile.mkstemp's names


def prune(folder: Path, keep: int | None = None) -> None:
    """Delete all but the `keep` (default MAX_ENTRIES) most recently used entries, entries of
    the pickle format kbrun used before, and temporary files an interrupted store left (older
    than STALE_TEMP_S, so never another process's store in progress)."""
    keep = MAX_ENTRIES if keep is None else keep
    entries = []
    for path in folder.glob("kb-*.json"):
        if not _ENTRY_NAME.fullmatch(path.name):  # not a name kbrun writes: someone else's file
            continue
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):  # not an entry kbrun wrote: left alone
            log.debug("cache folder %s holds a folder named like an entry: %s", folder, path)
            continue
        entries.append((info.st_mtime, path))
    entries.sort(reverse=True)
    for _mtime, path in entries[keep:]:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    for path in folder.glob("kb-*.pickle"):  # entries of kbrun before the JSON cache
        if _OLD_ENTRY_NAME.fullmatch(path.name):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
    stale = time.time() - STALE_TEMP_S
    for path in folder.glob(".kb-*.tmp"):  # left by a store that was interrupted
        if not _TEMP_NAME.fullmatch(path.name):
            continue
        with contextlib.suppress(OSError):
            if os.stat(path, follow_symlinks=False).st_mtime < stale:
                path.unlink()


# -- the format --------------------------------------------------------------------------------

def encode(kb: KnowledgeBase) -> dict[str, Any]:
    """A knowledge base as plain data: its validated entries (only the fields the files set),
    where each was defined, its layers, and the graph facts a consultation starts from."""
    from kbrun.engine.facts import fact_fields
    from kbrun.engine.inference import static_declarations

    static = static_declarations(kb)
    return {
        "format": FORMAT,
        "fingerprint": kb.fingerprint,
        "layers": list(kb.layers),
        "entries": {kind: {entry_id: model.model_dump(mode="json", exclude_unset=True)
                           for entry_id, model in table.items()}
                    for kind, table in kb.entries.items()},
        "locations": {entry_id: [loc.path, loc.line] for entry_id, loc in kb.locations.items()},
        "changes": [[c.entry, c.kind, c.mode, [c.at.path, c.at.line],
                     [c.base.path, c.base.line] if c.base else None, c.safety]
                    for c in kb.changes],
        # the rules as written, with their lines: the rule compiler places everything by them
        "raw_rules": {rule_id: _encode_raw(kb.raw[rule_id]) for rule_id in kb.rule_specs},
        # each fact's fields in the order written, which is the order explanations print them
        "static": [[key[0], fact_fields(static.facts[key]), origin.kind, origin.detail,
                    list(origin.sources)] for key, origin in static.origins.items()],
    }


def decode(document: dict[str, Any]) -> KnowledgeBase:
    """The knowledge base `encode` wrote (without validating it again)."""
    from kbrun.engine.errors import Loc
    from kbrun.engine.knowledge import KnowledgeBase
    from kbrun.engine.overlay import Change
    from kbrun.engine.schema import SECTIONS

    models = {kind: model for kind, model in SECTIONS.values()}
    entries = {kind: {entry_id: _construct(models[kind], data) for entry_id, data in table.items()}
               for kind, table in document["entries"].items()}
    return KnowledgeBase(
        entries=entries,
        locations={entry_id: Loc(path, line) for entry_id, (path, line)
                   in document["locations"].items()},
        layers=list(document["layers"]),
        fingerprint=document["fingerprint"],
        static_records=[tuple(record) for record in document["static"]],
        raw_known={rule_id: _decode_raw(raw) for rule_id, raw in document["raw_rules"].items()},
        changes=[Change(entry, kind, mode, Loc(*at), Loc(*base) if base else None, safety)
                 for entry, kind, mode, at, base, safety in document["changes"]],
    )


def _encode_raw(node: Any) -> Any:
    """A parsed YAML value with its locations (LineDict, LineList) as plain data."""
    from kbrun.engine.yamlio import LineDict, LineList

    if isinstance(node, LineDict):
        return {"map": [[key, _encode_raw(value), *_loc(node.loc_of(key))]
                        for key, value in node.items()], "at": _loc(node.loc)}
    if isinstance(node, LineList):
        return {"seq": [[_encode_raw(value), *_loc(node.loc_of(i))]
                        for i, value in enumerate(node)], "at": _loc(node.loc)}
    if isinstance(node, (str, int, float, bool)) or node is None:
        return node
    raise TypeError(f"cannot cache a {type(node).__name__} value")  # e.g. a YAML date


def _loc(loc: Any) -> list[Any]:
    return [loc.path, loc.line]


def _decode_raw(data: Any) -> Any:
    """The LineDict or LineList `_encode_raw` wrote."""
    from kbrun.engine.errors import Loc
    from kbrun.engine.yamlio import LineDict, LineList

    if isinstance(data, dict) and "map" in data:
        mapping = LineDict()
        mapping.loc, mapping.locs = Loc(*data["at"]), {}
        for key, value, path, line in data["map"]:
            mapping[key] = _decode_raw(value)
            mapping.locs[key] = Loc(path, line)
        return mapping
    if isinstance(data, dict) and "seq" in data:
        sequence = LineList()
        sequence.loc, sequence.locs = Loc(*data["at"]), []
        for value, path, line in data["seq"]:
            sequence.append(_decode_raw(value))
            sequence.locs.append(Loc(path, line))
        return sequence
    return data


def _construct(annotation: Any, value: Any) -> Any:
    """`value` (JSON data) as the type `annotation` names: models built with `model_construct`
    (their data was validated before it was stored), lists and tuples as declared."""
    return _builder(annotation)(value)


@functools.cache
def _builder(annotation: Any) -> Callable[[Any], Any]:
    """A function that builds JSON data into the type `annotation` names (one per type, made
    once: reading the type is most of the cost)."""
    from pydantic import BaseModel

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _builder(args[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
        sequences = [a for a in options if typing.get_origin(a) in (list, tuple, set, frozenset)]
        as_model = _builder(models[0]) if len(models) == 1 else None
        as_sequence = _builder(sequences[0]) if sequences else None

        def union(value: Any) -> Any:
            if isinstance(value, dict) and as_model is not None:
                return as_model(value)
            if isinstance(value, list) and as_sequence is not None:
                return as_sequence(value)
            return value
        return _optional(union)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        model = annotation
        # a field's annotation is a class or a typing alias, which hash (the cache's key), but
        # pydantic declares it a TypeForm, which mypy does not count as Hashable
        fields = [(name, _builder(typing.cast(Hashable, info.annotation)))
                  for name, info in model.model_fields.items()]

        def build_model(value: Any) -> Any:
            built = {name: build(value[name]) for name, build in fields if name in value}
            return model.model_construct(_fields_set=set(built), **built)
        return _optional(build_model)
    if origin in (list, set, frozenset):
        item = _builder(args[0]) if args else _same
        kind = origin
        return _optional(lambda value: kind(item(v) for v in value))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _builder(args[0])
            return _optional(lambda value: tuple(item(v) for v in value))
        items = [_builder(a) for a in args]
        return _optional(lambda value: tuple(b(v) for b, v in zip(items, value, strict=True)))
    if origin is dict:
        item = _builder(args[1]) if args else _same
        return _optional(lambda value: {k: item(v) for k, v in value.items()})
    return _same


def _same(value: Any) -> Any:
    return value


def _optional(build: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else build(value)
