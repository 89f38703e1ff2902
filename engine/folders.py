"""The folders of a knowledge base: which files each layer holds, and reading them.

A layer is walked with bounds (MAX_LAYER_ENTRIES, MAX_FOLDER_DEPTH, MAX_KB_BYTES) and without
leaving its folder: a symbolic link is followed only to a file or folder inside the layer's own
folder, and no folder or file is read twice, so a link loop (`a -> .`, `up -> ..`) ends at once.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from kbrun.engine.errors import KbError, Loc, did_you_mean
from kbrun.engine.yamlio import read_text

BUILTIN = "kb"
KB_SUFFIXES = (".yaml", ".yml")
# Files and folders in one layer, counted as the walk meets them (skipped ones too, so that
# `--kb ~` stops at once instead of listing a home folder). The built-in layer has about 40.
MAX_LAYER_ENTRIES = 2_000
# Folders inside folders below a layer's own folder. The built-in layer uses 1; a bound keeps
# the walk's recursion and its paths short.
MAX_FOLDER_DEPTH = 16
# Bytes of all the files of all layers together. The built-in knowledge base is about 300 KB;
# each file is also held to yamlio.MAX_FILE_BYTES (2 MiB).
MAX_KB_BYTES = 32 * 1024 * 1024

# Skipped without a word: dotfiles, Python's package files (__init__.py), and documentation.
_QUIET_PREFIXES = (".", "__", "README", "LICENSE", "LICENCE")
_QUIET_SUFFIXES = (".md",)

Skipped = list[tuple[str, str]]
"""(display path, why it was not read and what to do) for each file a layer holds but that is
not read as knowledge."""


def kb_files(folder: Traversable | Path, label: str, skipped: Skipped | None = None
             ) -> list[tuple[str, Traversable | Path]]:
    """Every YAML file under `folder`, recursively, as (display path, file) in sorted order.

    Other files are skipped; with a `skipped` list, each one that might have been meant as
    knowledge (`rules.yaml.txt`, `exercises.YAML`, `notes.json`) is appended to it with the
    reason and a fix. Raises KbError, naming the path, for a layer over MAX_LAYER_ENTRIES
    files and folders or MAX_FOLDER_DEPTH levels deep, a folder that cannot be listed, a
    symbolic link that leads outside `folder` or nowhere, and a folder or file reached twice
    (a link loop).
    """
    found: list[tuple[str, Traversable | Path]] = []
    root = os.path.realpath(folder) if isinstance(folder, Path) else None
    seen: dict[str, str] = {root: label} if root else {}  # real path -> display path
    entries = 0

    def walk(node: Traversable | Path, prefix: str, depth: int) -> None:
        nonlocal entries
        children = _listing(node, prefix, MAX_LAYER_ENTRIES - entries + 1)
        entries += len(children)
        if entries > MAX_LAYER_ENTRIES:
            raise KbError(f"knowledge-base folder '{label}' holds more than "
                          f"{MAX_LAYER_ENTRIES} files and folders",
                          loc=Loc(prefix) if prefix != label else None,
                          suggestion="a knowledge base needs a few dozen files: pass the "
                                     "folder that holds only its YAML files")
        for child in sorted(children, key=lambda c: c.name):
            name = f"{prefix}/{child.name}"
            if child.name.startswith("."):
                continue  # dotfiles and dot-folders (.git), not even looked at
            try:
                is_dir = child.is_dir()
                if is_dir and child.name.startswith("__"):
                    continue  # __pycache__
                wanted = is_dir or child.name.endswith(KB_SUFFIXES)
                if wanted and root is not None and isinstance(child, Path):
                    real = _inside(child, name, root, label)
                    if real in seen:
                        _twice(child, name, seen[real], prefix, is_dir)
                    seen[real] = name
            except OSError as err:  # e.g. a name too long for the system
                raise KbError(f"cannot read: {err.strerror or err}", loc=Loc(name),
                              suggestion="check that you may read it, or move it out of the "
                                         "knowledge-base folder") from err
            if is_dir:
                if depth >= MAX_FOLDER_DEPTH:
                    raise KbError(f"folders are nested more than {MAX_FOLDER_DEPTH} levels deep "
                                  f"in knowledge-base folder '{label}'", loc=Loc(name),
                                  suggestion="a knowledge base needs a level or two of "
                                             "folders; move these files up")
                walk(child, name, depth + 1)
            elif wanted:
                found.append((name, child))
            elif skipped is not None and not child.name.startswith(_QUIET_PREFIXES) \
                    and not child.name.endswith(_QUIET_SUFFIXES):
                skipped.append((name, _why_skipped(child.name)))

    walk(folder, label, 0)
    return found


def _listing(node: Traversable | Path, display: str, limit: int) -> list[Traversable | Path]:
    """At most `limit` children of a folder, without listing more of it than that."""
    try:
        if isinstance(node, Path):
            with os.scandir(node) as entries:
                return [node / entry.name for entry in itertools.islice(entries, limit)]
        return list(itertools.islice(node.iterdir(), limit))
    except OSError as err:
        raise KbError(f"cannot read folder: {err.strerror or err}", loc=Loc(display),
                      suggestion="check that you may read it, or move it out of the "
                                 "knowledge-base folder") from err


def _inside(child: Path, name: str, root: str, label: str) -> str:
    """The real path of `child`; KbError for a link that leads outside `root` or nowhere."""
    real = os.path.realpath(child)
    if not child.is_symlink():
        return real  # the folder that holds it is inside root, and so is it
    target = os.readlink(child)
    try:
        inside = os.path.commonpath([root, real]) == root
    except ValueError:  # another drive (Windows)
        inside = False
    if not inside:
        raise KbError(f"symbolic link to '{target}', outside the knowledge-base folder "
                      f"'{label}'", loc=Loc(name),
                      suggestion="kbrun reads only what is inside the folder: copy the files "
                                 "in, or pass their folder as another --kb")
    if not os.path.exists(real):
        raise KbError(f"symbolic link to '{target}', which does not exist", loc=Loc(name),
                      suggestion="remove the link, or make it point to an existing file")
    return real


def _twice(child: Path, name: str, first: str, prefix: str, is_dir: bool) -> None:
    """Raise the KbError for a folder or file that the walk has reached before."""
    if not child.is_symlink():
        kind = "folder" if is_dir else "file"
        raise KbError(f"this {kind} is read already, through the symbolic link '{first}'",
                      loc=Loc(name), suggestion="remove that link: each file is read once")
    link = f"symbolic link to '{os.readlink(child)}'"
    if first == prefix or prefix.startswith(first + "/"):
        raise KbError(f"{link} leads back to '{first}', a folder that holds it (a loop)",
                      loc=Loc(name), suggestion="remove the link")
    raise KbError(f"{link} leads to '{first}', which is read already", loc=Loc(name),
                  suggestion="remove the link: each file is read once")


def _why_skipped(name: str) -> str:
    """Why a file is not read as knowledge, and what to do if it is meant to be."""
    lower = name.lower()
    if lower.endswith(KB_SUFFIXES):
        return (f"not read: '.yaml' and '.yml' are the only endings read, in lower case; "
                f"rename it to '{name[:name.rfind('.')]}{lower[lower.rfind('.'):]}' to read it")
    for suffix in KB_SUFFIXES:
        at = lower.find(suffix + ".")
        if at != -1 or lower.endswith(suffix + "~"):
            end = at + len(suffix) if at != -1 else len(name) - 1
            return (f"not read: the name does not end in '.yaml' or '.yml'; rename it to "
                    f"'{name[:end]}' to read it, or move it out of the folder")
    if lower.endswith(".json"):
        return ("not read: knowledge-base files are YAML; write it as a '.yaml' file to read it, "
                "or move it out of the folder")
    return "not read: only '.yaml' and '.yml' files are; move it out of the folder if it is " \
           "not part of the knowledge base"


def builtin_folder() -> Traversable:
    """The knowledge base shipped inside the package."""
    return files("kbrun.kb")


def layer_sources(extra: Iterable[str | Path] = (), *, builtin: bool = True
                  ) -> list[tuple[str, Traversable | Path]]:
    """The folders to read, built-in first, each with the label used in messages."""
    layers: list[tuple[str, Traversable | Path]] = [(BUILTIN, builtin_folder())] if builtin else []
    for folder in extra:
        layers.append((str(folder).rstrip("/"), _existing_folder(Path(folder))))
    return layers


def _existing_folder(path: Path) -> Path:
    """`path` if it is a folder; otherwise a KbError that says what it is and what to pass."""
    if path.is_dir():
        return path
    if path.exists():
        raise KbError(f"knowledge-base folder '{path}' is a file, not a folder",
                      suggestion=f"pass the folder that holds it: --kb {path.parent}")
    parent = path.parent if path.parent.is_dir() else None
    siblings = [c.name for c in parent.iterdir() if c.is_dir()] if parent else []
    hint = did_you_mean(path.name, siblings)
    raise KbError(f"knowledge-base folder '{path}' does not exist",
                  suggestion=hint or "pass an existing folder to --kb")


class _Budget:
    """The bytes left of MAX_KB_BYTES, spent file by file across the layers of one load."""

    def __init__(self) -> None:
        self.used = 0

    def spend(self, display: str, text: str) -> None:
        self.used += len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if self.used > MAX_KB_BYTES:
            raise KbError(f"with this file the knowledge base is over its "
                          f"{MAX_KB_BYTES // 1024 // 1024} MiB limit (all layers together)",
                          loc=Loc(display), suggestion="a knowledge base needs well under "
                          "1 MiB: pass only folders of knowledge-base files to --kb, each once")


def read_layer(label: str, folder: Traversable | Path, skipped: Skipped | None = None,
               *, _budget: _Budget | None = None) -> Iterator[tuple[str, str]]:
    """(display path, text) for every YAML file of one layer, at most MAX_KB_BYTES in all;
    files not read are added to `skipped` when it is given (see kb_files)."""
    budget = _budget or _Budget()
    found = kb_files(folder, label) if skipped is None else kb_files(folder, label, skipped)
    for display, node in found:
        text = read_text(node, display)
        budget.spend(display, text)
        yield display, text


def read_layers(layers: Iterable[tuple[str, Traversable | Path]],
                skipped: Skipped | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """(label, [(display path, text)]) for each layer, in order, at most MAX_KB_BYTES in all
    (so that `--kb big --kb big ...` is bounded too); files not read go to `skipped`."""
    budget = _Budget()
    return [(label, list(read_layer(label, folder, skipped, _budget=budget)))
            for label, folder in layers]
