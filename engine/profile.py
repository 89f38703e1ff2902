"""A runner's profile: what they report, checked against the knowledge base's vocabulary."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbrun.engine.errors import KbrunError, Loc, ProfileError, UnknownId, did_you_mean
from kbrun.engine.knowledge import KnowledgeBase
from kbrun.engine.schema import STAGE_RANK

if TYPE_CHECKING:
    from kbrun.engine.assessment import AssessmentReport
    from kbrun.engine.plan import PlanWeek

DEFAULT_PHASE = "off-season"
DEFAULT_LEVEL = "intermediate"
DEFAULT_LIMIT = 6
MAX_LIMIT = 20
MIN_MINUTES, MAX_MINUTES = 5, 180      # a session's time budget (--minutes)
PROFILE_FIELDS = ("symptoms", "injuries", "goals", "phase", "level", "equipment", "red_flags",
                  "pain", "stage", "limit", "setting", "minutes", "assessment")
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
    stage: str | None = None         # acute | subacute | return-to-run; None: inferred by rules
    minutes: int | None = None       # the session's time budget; None: no budget
    # what the runner's field tests found (kbrun assess; --assessment FILE); None: no tests
    assessment: AssessmentReport | None = None
    # the week of a season plan this consultation is for (kbrun plan); None: a lone session
    week: PlanWeek | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(replace(self, week=None, assessment=None))
        del data["week"]  # a plan shows its weeks itself
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        data["assessment"] = None if self.assessment is None else self.assessment.summary_dict()
        return data

    def with_changes(self, **changes: Any) -> Profile:
        return replace(self, **changes)


# the command-line option of each profile field, as messages name it
OPTION_OF = {"symptoms": "--symptom", "injuries": "--injury", "goals": "--goal",
             "phase": "--phase", "level": "--level", "equipment": "--equipment",
             "red_flags": "--red-flag", "pain": "--pain", "limit": "--limit",
             "setting": "--setting", "stage": "--stage", "minutes": "--minutes",
             "assessment": "--assessment"}
_FIELD_OF = {option: name for name, option in OPTION_OF.items()}
_LIST_FIELDS = ("symptoms", "injuries", "goals", "equipment", "red_flags")


def _invalid(option: str, message: str, suggestion: str | None = None) -> ProfileError:
    error = ProfileError(f"invalid value for '{option}': {message}", suggestion=suggestion)
    error.option, error.detail = option, message
    return error


def _ids(kb: KnowledgeBase, kind: str, option: str, values: Iterable[str]) -> tuple[str, ...]:
    resolved: set[str] = set()
    table = kb.entries[kind]
    for value in values:
        if not isinstance(value, str):
            raise _invalid(option, f"{value!r} is not text",
                           f"write an id such as '{min(table)}'" if table else None)
        text = value.strip()
        if text in table:
            resolved.add(text)
            continue
        alias = kb.resolve_alias(kind, text)
        if alias is not None:
            resolved.add(alias)
            continue
        error = UnknownId(kind, value, table, context=option)
        error.option = option
        error.suggestion = error.suggestion or "use one of " + ", ".join(sorted(table))
        raise error
    return tuple(sorted(resolved))


def make_profile(kb: KnowledgeBase, *, symptoms: Iterable[str] = (), injuries: Iterable[str] = (),
                 goals: Iterable[str] = (), phase: str | None = None, level: str | None = None,
                 equipment: Iterable[str] | None = None, setting: str | None = None,
                 red_flags: Iterable[str] = (), pain: int | None = None,
                 limit: int | None = None, stage: str | None = None,
                 minutes: int | None = None,
                 assessment: AssessmentReport | str | Path | None = None) -> Profile:
    """Check every value against the knowledge base and return a Profile.

    `equipment=None` and no `setting` means all equipment; a `setting` (home or gym) adds the
    equipment it implies. `assessment` is a report of `engine.assessment` or the path of a
    results file, read here. Raises UnknownId (with the closest valid ids), ProfileError or
    AssessmentError.
    """
    chosen_equipment: set[str] = set()
    if setting is not None:
        if not isinstance(setting, str) or setting not in kb.settings:
            error = UnknownId("setting", setting, kb.settings, context="--setting")
            error.option = "--setting"
            error.suggestion = error.suggestion or "use one of " + ", ".join(sorted(kb.settings))
            raise error
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
        raise _invalid("--limit", f"{limit!r} is not a whole number from 1 to {MAX_LIMIT}",
                       f"a session holds 1 to {MAX_LIMIT} exercises; the default is "
                       f"{DEFAULT_LIMIT}")
    if pain is not None and (isinstance(pain, bool) or not isinstance(pain, int)
                             or not 0 <= pain <= 10):
        raise _invalid("--pain", f"{pain!r} is not a whole number from 0 to 10",
                       "rate the pain during or after running from 0 (none) to 10 (worst)")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int)
                                or not MIN_MINUTES <= minutes <= MAX_MINUTES):
        raise _invalid("--minutes", f"{minutes!r} is not a whole number of minutes from "
                       f"{MIN_MINUTES} to {MAX_MINUTES}",
                       "give the time a session may take, e.g. '--minutes 25' (the seeds "
                       "suggest 20-30 minutes after a run)")
    if stage is not None and stage not in STAGE_RANK:
        raise _invalid("--stage", f"{stage!r} is not a stage",
                       did_you_mean(str(stage), STAGE_RANK)
                       or "use one of " + ", ".join(STAGE_RANK))
    red_flags_ids = _ids(kb, "red-flag", "--red-flag", red_flags)
    if isinstance(assessment, (str, Path)):
        from kbrun.engine.assessment import assess_files

        assessment = assess_files(kb, assessment)
    elif assessment is not None and not hasattr(assessment, "findings"):
        raise _invalid("--assessment", f"{assessment!r} is not a results file",
                       "give the path of a file written by 'kbrun assess'")
    flags = tuple(sorted(set(red_flags_ids) | {f for f, _ in assessment.red_flags}
                         if assessment is not None else red_flags_ids))
    return Profile(
        assessment=assessment,
        stage=stage,
        symptoms=_ids(kb, "symptom", "--symptom", symptoms),
        injuries=_ids(kb, "injury", "--injury", injuries),
        goals=_ids(kb, "goal", "--goal", goals),
        # only a missing value takes the default: '' or false is a mistake to name, not a phase
        phase=_ids(kb, "phase", "--phase", [DEFAULT_PHASE if phase is None else phase])[0],
        level=_ids(kb, "level", "--level", [DEFAULT_LEVEL if level is None else level])[0],
        equipment=tuple(sorted(chosen_equipment)),
        red_flags=flags,
        pain=pain,
        limit=limit,
        minutes=minutes,
    )


def _field_name(key: Any) -> str:
    return _FIELD_ALIASES.get(str(key), str(key))


def _check_fields(data: Mapping[Any, Any], where: str) -> None:
    """Refuse unknown fields, one field written twice (`red-flag` and `red_flags`), and a list
    field that is not a list, naming where they are."""
    seen: dict[str, Any] = {}
    for key, value in data.items():
        name = _field_name(key)
        at = _where(data, key, where)
        if name in seen:
            raise ProfileError(f"{at}: '{key}' and '{seen[name]}' are the same field",
                               suggestion=f"write it once, as '{name}', with all its values")
        seen[name] = key
        if name not in PROFILE_FIELDS:
            raise ProfileError(f"{at}: unknown field '{key}'",
                               suggestion=did_you_mean(key, PROFILE_FIELDS)
                               or "the fields are " + ", ".join(PROFILE_FIELDS))
        if name in _LIST_FIELDS and not isinstance(value, (list, tuple, str)):
            raise ProfileError(f"{at}: '{key}' must be a list of ids",
                               suggestion=f"write '{key}: [first, second]'")


def _where(data: Mapping[Any, Any], key: Any, where: str) -> str:
    """`where`, with the line of `key` when the mapping came from a YAML file."""
    locs = getattr(data, "locs", None)
    return str(locs[key]) if locs and key in locs else where


def _fields_of(data: Mapping[Any, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in data.items():
        name = _field_name(key)
        fields[name] = [value] if name in _LIST_FIELDS and isinstance(value, str) else value
    return fields


def _checked(kb: KnowledgeBase, fields: dict[str, Any], origins: Mapping[str, str]) -> Profile:
    """make_profile(**fields); an error in a field listed in `origins` (field -> where it was
    written) names that place instead of the command-line option."""
    try:
        return make_profile(kb, **fields)
    except (UnknownId, ProfileError) as err:
        name = _FIELD_OF.get(err.option or "", "")
        at = origins.get(name)
        if at is None:
            raise  # the bad value came from the command line, which the message names
        if isinstance(err, UnknownId):
            message = f"unknown {err.kind} '{err.value}' in field '{name}'"
        else:
            detail = err.message if err.detail is None else err.detail
            message = f"invalid value for '{name}': {detail}"
        raise ProfileError(f"{at}: {message}", suggestion=err.suggestion) from err


def _origins(data: Mapping[Any, Any], where: str) -> dict[str, str]:
    return {_field_name(key): _where(data, key, where) for key in data}


def profile_from_mapping(kb: KnowledgeBase, data: Mapping[str, Any], *, where: str = "profile"
                         ) -> Profile:
    """A Profile from a mapping with the `--profile` file fields (e.g. one batch line).

    Raises ProfileError naming `where` (and the line, for a mapping read from YAML).
    """
    if not isinstance(data, Mapping):
        raise ProfileError(f"{where}: a profile must be a mapping of fields such as "
                           "'symptoms: [knee-pain]'",
                           suggestion="write one field per line, e.g. 'phase: race-season'")
    _check_fields(data, where)
    return _checked(kb, _fields_of(data), _origins(data, where))


def read_data_file(path: str | Path, *, what: str, error: type[KbrunError],
                   missing: str, shape: str, deep: str) -> Any:
    """A YAML or JSON file (by its suffix) as data, read safely and within the size limits:
    a profile file, a results file. Every way it cannot be read raises `error` naming the path
    (and line): `missing` is the fix for a file that does not exist, `shape` what the file
    should hold (for a file nested too deeply, said by `deep`, or empty). YAML comes back as
    LineDicts."""
    from kbrun.engine.errors import KbrunError as _Any
    from kbrun.engine.yamlio import parse_yaml, read_text

    file = Path(path)
    if not file.exists():
        raise error(f"{what} '{path}' does not exist", suggestion=missing)
    try:
        text = read_text(file, str(path), what=what)
        if file.suffix.lower() == ".json":
            data = loads_json_object(text)
        else:
            data = parse_yaml(text, str(path), what=what)
    except json.JSONDecodeError as err:
        raise error(f"{Loc(str(path), err.lineno)}: invalid JSON: {err.msg}",
                    suggestion="check the quotes, commas and brackets near this point") from err
    except RepeatedKey as err:
        raise error(f"{path}: {err}", suggestion="remove or rename one of them") from err
    except NumberTooLong as err:
        raise error(f"{path}: {err}", suggestion=NumberTooLong.FIX) from err
    except RecursionError as err:
        raise error(f"{path}: {deep}", suggestion=shape) from err
    except _Any as err:
        if isinstance(err, error):
            raise
        raise error(str(err.loc or path) + f": {err.message}",
                    suggestion=err.suggestion) from err
    if data is None:
        raise error(f"{what} '{path}' is empty", suggestion=shape)
    return data


def read_profile_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON profile file into a mapping; raises ProfileError naming the path.

    A YAML profile comes back as a LineDict, so that later messages can name the line.
    """
    data = read_data_file(path, what="profile file", error=ProfileError,
                          missing="check the path, or leave out --profile",
                          shape="write fields such as 'symptoms: [knee-pain]'",
                          deep="the JSON is nested too deeply to be a profile")
    if not isinstance(data, dict):
        raise ProfileError(f"profile file '{path}' must hold a mapping of fields such as "
                           "'symptoms: [knee-pain]'",
                           suggestion="write one field per line, e.g. 'phase: race-season', "
                                      "not a list")
    return data


#: The most digits a whole number in a JSON profile or batch line may have. A profile's numbers
#: are 0 to 20 (pain, limit); 100 digits is far above any of them, and far below Python's
#: 4,300-digit limit on converting text to int, whose ValueError would name no field.
MAX_JSON_INT_DIGITS = 100


class RepeatedKey(ValueError):
    """A JSON object with the same key twice (json would silently keep the last)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key '{key}' appears twice in one object")
        self.key = key


class NumberTooLong(ValueError):
    """A whole number in JSON with more than MAX_JSON_INT_DIGITS digits."""

    FIX = "a profile's numbers are small whole numbers, such as 'pain: 4' or 'limit: 6'"

    def __init__(self, text: str) -> None:
        self.digits = len(text.lstrip("-"))
        self.shown = text if len(text) <= 20 else text[:12] + "..."
        super().__init__(f"the number {self.shown} has {self.digits:,} digits, over the "
                         f"{MAX_JSON_INT_DIGITS} allowed")


def bounded_int(text: str) -> int:
    """A JSON whole number as int (json's `parse_int`), or NumberTooLong past
    MAX_JSON_INT_DIGITS digits."""
    if len(text) > MAX_JSON_INT_DIGITS and len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise NumberTooLong(text)
    return int(text)


def loads_json_object(text: str) -> Any:
    """JSON as `json.loads` reads it, except that an object with a key twice raises RepeatedKey
    instead of keeping the last value, and a whole number of more than MAX_JSON_INT_DIGITS
    digits raises NumberTooLong (both ValueErrors, as json.JSONDecodeError is; so is the error
    of a number json cannot convert). Deep nesting raises RecursionError, as in json."""
    return json.loads(text, object_pairs_hook=_no_repeats, parse_int=bounded_int)


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RepeatedKey(key)
        result[key] = value
    return result


def profile_from_inputs(kb: KnowledgeBase, profile_file: str | Path | None = None,
                        **flags: Any) -> Profile:
    """A Profile from an optional profile file with command-line flags layered over it.

    A flag left unset (None or an empty list) keeps the file's value; a set flag replaces it.
    An error names the file (and line) when the bad value came from the file, and the option
    when it came from the command line.
    """
    fields: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if profile_file is not None:
        data = read_profile_file(profile_file)
        _check_fields(data, str(profile_file))
        fields, origins = _fields_of(data), _origins(data, str(profile_file))
        written = fields.get("assessment")
        if isinstance(written, str) and not Path(written).is_absolute():
            # a results file named in a profile file is found beside it
            fields["assessment"] = str(Path(profile_file).parent / written)
    for name, value in flags.items():
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        fields[name] = list(value) if isinstance(value, (list, tuple)) else value
        origins.pop(name, None)  # the option replaces the file's value
    return _checked(kb, fields, origins)
