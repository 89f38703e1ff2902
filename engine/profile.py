"""A runner's profile: what they report, checked against the knowledge base's vocabulary."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kbrun.engine.errors import Loc, ProfileError, UnknownId, did_you_mean
from kbrun.engine.knowledge import KnowledgeBase

DEFAULT_PHASE = "off-season"
DEFAULT_LEVEL = "intermediate"
DEFAULT_LIMIT = 6
MAX_LIMIT = 20
PROFILE_FIELDS = ("symptoms", "injuries", "goals", "phase", "level", "equipment", "red_flags",
                  "pain", "limit", "setting")
# singular spellings accepted in profile files, as on the command line
_FIELD_ALIASES = {"symptom": "symptoms", "injury": "injuries", "goal": "goals",
                  "red_flag": "red_flags", "red-flag": "red_flags", "red-flags": "red_flags"}


@dataclass(frozen=True)
class Profile:
    """A validated runner profile. Lists are sorted and free of repeats, so that the advice
    never depends on the order in which options were given."""

    symptoms: tuple[str, ...] = ()
    injuries: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()
    phase: str = DEFAULT_PHASE
    level: str = DEFAULT_LEVEL
    equipment: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()
    pain: int | None = None
    limit: int = DEFAULT_LIMIT

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    def with_changes(self, **changes: Any) -> Profile:
        return replace(self, **changes)


def _ids(kb: KnowledgeBase, kind: str, option: str, values: Iterable[str]) -> tuple[str, ...]:
    resolved: set[str] = set()
    table = kb.entries[kind]
    for value in values:
        if not isinstance(value, str):
            raise ProfileError(f"invalid value for '{option}': {value!r} is not text")
        text = value.strip()
        if text in table:
            resolved.add(text)
            continue
        alias = kb.resolve_alias(kind, text)
        if alias is not None:
            resolved.add(alias)
            continue
        raise UnknownId(kind, value, table, context=option)
    return tuple(sorted(resolved))


def make_profile(kb: KnowledgeBase, *, symptoms: Iterable[str] = (), injuries: Iterable[str] = (),
                 goals: Iterable[str] = (), phase: str | None = None, level: str | None = None,
                 equipment: Iterable[str] | None = None, setting: str | None = None,
                 red_flags: Iterable[str] = (), pain: int | None = None,
                 limit: int | None = None) -> Profile:
    """Check every value against the knowledge base and return a Profile.

    `equipment=None` and no `setting` means all equipment; a `setting` (home or gym) adds the
    equipment it implies. Raises UnknownId (with the closest valid ids) or ProfileError.
    """
    chosen_equipment: set[str] = set()
    if setting is not None:
        if setting not in kb.settings:
            raise UnknownId("setting", setting, kb.settings, context="--setting")
        chosen_equipment.update(kb.settings[setting])
    if equipment:
        chosen_equipment.update(_ids(kb, "equipment", "--equipment", equipment))
    elif setting is None:
        chosen_equipment = set(kb.equipment)
    if "none" in kb.equipment:
        chosen_equipment.add("none")  # body weight is always at hand
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ProfileError(f"invalid value for '--limit': {limit!r} is not a whole number from 1 "
                           f"to {MAX_LIMIT}")
    if pain is not None and (isinstance(pain, bool) or not isinstance(pain, int)
                             or not 0 <= pain <= 10):
        raise ProfileError(f"invalid value for '--pain': {pain!r} is not a whole number from 0 "
                           "to 10")
    return Profile(
        symptoms=_ids(kb, "symptom", "--symptom", symptoms),
        injuries=_ids(kb, "injury", "--injury", injuries),
        goals=_ids(kb, "goal", "--goal", goals),
        phase=_ids(kb, "phase", "--phase", [phase or DEFAULT_PHASE])[0],
        level=_ids(kb, "level", "--level", [level or DEFAULT_LEVEL])[0],
        equipment=tuple(sorted(chosen_equipment)),
        red_flags=_ids(kb, "red-flag", "--red-flag", red_flags),
        pain=pain,
        limit=limit,
    )


def profile_from_mapping(kb: KnowledgeBase, data: Mapping[str, Any], *, where: str = "profile"
                         ) -> Profile:
    """A Profile from a mapping with the `--profile` file fields (e.g. one batch line)."""
    if not isinstance(data, Mapping):
        raise ProfileError(f"{where}: a profile must be a mapping of fields such as "
                           "'symptoms: [knee-pain]'")
    fields: dict[str, Any] = {}
    for key, value in data.items():
        name = _FIELD_ALIASES.get(str(key), str(key))
        if name not in PROFILE_FIELDS:
            hint = did_you_mean(key, PROFILE_FIELDS)
            raise ProfileError(f"{where}: unknown field '{key}'" + (f"; {hint}" if hint else ""))
        if name in ("symptoms", "injuries", "goals", "equipment", "red_flags") and isinstance(
                value, str):
            value = [value]
        fields[name] = value
    try:
        return make_profile(kb, **fields)
    except UnknownId as err:
        raise ProfileError(f"{where}: {err}") from err
    except TypeError as err:
        raise ProfileError(f"{where}: {err}") from err


def read_profile_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON profile file into a mapping; raises ProfileError naming the path."""
    from kbrun.engine.yamlio import parse_yaml
    from kbrun.engine.errors import KbrunError

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ProfileError(f"profile file '{path}' does not exist") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"cannot read profile file '{path}': {err}") from err
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else parse_yaml(text, str(path))
    except json.JSONDecodeError as err:
        raise ProfileError(f"{Loc(str(path), err.lineno)}: invalid JSON: {err.msg}") from err
    except KbrunError as err:
        raise ProfileError(str(err)) from err
    if data is None:
        raise ProfileError(f"profile file '{path}' is empty")
    if not isinstance(data, dict):
        raise ProfileError(f"profile file '{path}' must hold a mapping of fields such as "
                           "'symptoms: [knee-pain]'")
    return dict(data)


def profile_from_inputs(kb: KnowledgeBase, profile_file: str | Path | None = None,
                        **flags: Any) -> Profile:
    """A Profile from an optional profile file with command-line flags layered over it.

    A flag left unset (None or an empty list) keeps the file's value; a set flag replaces it.
    """
    fields: dict[str, Any] = {}
    where = "command line"
    if profile_file is not None:
        fields.update(read_profile_file(profile_file))
        where = str(profile_file)
        fields = {_FIELD_ALIASES.get(str(k), str(k)): v for k, v in fields.items()}
    for name, value in flags.items():
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        fields[name] = list(value) if isinstance(value, (list, tuple)) else value
    if profile_file is None:
        try:
            return make_profile(kb, **fields)
        except TypeError as err:  # pragma: no cover - flags are fixed by the CLI
            raise ProfileError(str(err)) from err
    return profile_from_mapping(kb, fields, where=where)
