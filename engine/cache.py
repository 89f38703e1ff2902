"""A cache of loaded knowledge bases, keyed by the content hash of their files.

Parsing and validating the YAML is most of what a cold `kbrun advise` spends in kbrun's own
code; a knowledge base whose files (and whose schema) have not changed is read back from the
user's cache directory instead. The key covers every file's path and bytes, the kbrun version
and the schema source, so an entry can never be stale; the folder is safe to delete. The cache
is used only when its folder belongs to the current user and no one else can write to it,
because it holds pickles. Set KBRUN_NO_CACHE=1 to turn it off, KBRUN_CACHE_DIR to move it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kbrun.engine.knowledge import KnowledgeBase

log = logging.getLogger(__name__)
FORMAT = 1


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is off or the folder is not safe to trust."""
    if os.environ.get("KBRUN_NO_CACHE"):
        return None
    base = os.environ.get("KBRUN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "kbrun")
    folder = Path(base)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        log.debug("not using cache folder %s: not private to this user", folder)
        return None
    return folder


def fingerprint(files: Iterable[tuple[str, str]]) -> str:
    """The content hash of a knowledge base: every (path, text), the version, the schema and
    the graph builder (the cached entry holds the built graph)."""
    from importlib.metadata import PackageNotFoundError, version

    from kbrun.engine import graph, schema

    digest = hashlib.sha256(f"kbrun-cache-{FORMAT}\0".encode())
    try:
        digest.update(version("kbrun").encode())
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        pass
    for module in (schema, graph):
        digest.update(Path(module.__file__).read_bytes())
    for path, text in files:
        digest.update(path.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def load(key: str) -> KnowledgeBase | None:
    """The cached knowledge base for this key, or None."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"kb-{key}.pickle"
    try:
        with path.open("rb") as handle:
            kb = pickle.load(handle)  # noqa: S301 - a private, content-addressed cache
    except FileNotFoundError:
        return None
    except Exception as err:  # noqa: BLE001 - a damaged entry is dropped, never fatal
        log.debug("dropping unreadable cache entry %s: %s", path, err)
        path.unlink(missing_ok=True)
        return None
    return kb if getattr(kb, "fingerprint", None) == key else None


def store(kb: KnowledgeBase) -> None:
    """Save a validated knowledge base under its fingerprint (atomically; errors ignored)."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as handle:
            pickle.dump(kb, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, folder / f"kb-{kb.fingerprint}.pickle")
    except (OSError, pickle.PicklingError) as err:
        log.debug("could not cache the knowledge base: %s", err)
