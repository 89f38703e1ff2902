"""The folders of a knowledge base: which files each layer holds, and reading them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from kbrun.engine.errors import KbError, did_you_mean
from kbrun.engine.yamlio import read_text

BUILTIN = "kb"
KB_SUFFIXES = (".yaml", ".yml")


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


def read_layer(label: str, folder: Traversable | Path
               ) -> Iterator[tuple[str, str]]:
    """(display path, text) for every YAML file of one layer."""
    for display, node in kb_files(folder, label):
        yield display, read_text(node, display)
