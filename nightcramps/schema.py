"""Reading and validating the content files: pydantic models, errors that name file:line.

`read_yaml(path)` parses a file (libyaml when available). `validate(Model, data,
path)` checks the data against a pydantic model; its first error becomes a
`ContentError` naming the file, the line (found with ruamel.yaml's round-trip
loader, which keeps where every key and item starts, and only read when there is
an error) and the field. Fields are dotted keys up to the first list index
(`red_flags.possible_clot.when`); the line points at the exact item.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Type, TypeVar, Union

import yaml
from pydantic import BaseModel, Extra, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError as RuamelYAMLError

Loc = Sequence[Union[int, str]]
ModelT = TypeVar("ModelT", bound=BaseModel)

#: libyaml's safe loader when available (much faster), else PyYAML's.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Parts of a pydantic error location that are not keys of the file.
_NOT_KEYS = {"__root__", "__key__"}
#: Plain words for pydantic's error types.
_PROBLEMS = {
    "value_error.missing": "is required",
    "value_error.extra": "is not a known field",
    "type_error.none.not_allowed": "must not be empty",
}


class ContentError(ValueError):
    """A content file is missing, unreadable or breaks the schema."""

    def __init__(self, path: Path, field_name: str, problem: str,
                 line: Optional[int] = None) -> None:
        """Builds an error that names the file, the line and the field.

        Args:
            path: The offending file.
            field_name: The field at fault (`-` when the whole file is).
            problem: What is wrong, in plain words.
            line: The 1-based line at fault, when known.
        """
        self.path = path
        self.field = field_name
        self.problem = problem
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: field '{field_name}': {problem}")


class StrictModel(BaseModel):
    """A schema whose unknown fields are errors."""

    class Config:
        """No fields beyond the declared ones."""

        extra = Extra.forbid


class Text(str):
    """Non-empty text (not a number, not only spaces), kept as written."""

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[Any], str]]:
        """Pydantic's hook."""
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> str:
        """Accepts non-empty text."""
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be non-empty text")
        return str(value)


class Name(str):
    """Any text, but only text (an id, a file name)."""

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[Any], str]]:
        """Pydantic's hook."""
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> str:
        """Accepts text only."""
        if not isinstance(value, str):
            raise ValueError("must be text")
        return str(value)


class IsoDate(dt.date):
    """A `YYYY-MM-DD` date, written as a YAML date or as text."""

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[Any], dt.date]]:
        """Pydantic's hook."""
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> dt.date:
        """Accepts a date (not a date and time) or ISO text."""
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        raise ValueError("must be a YYYY-MM-DD date")


def read_yaml(path: Path) -> Any:
    """Parses a YAML file.

    Raises:
        ContentError: the file is missing, unreadable or not valid YAML (with its line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(path, "-", "file is missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ContentError(path, "-", f"cannot be read ({error})") from None
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ContentError(path, "-", f"not valid YAML ({error})", line) from None


def _round_trip(path: Path) -> Any:
    """The file as ruamel.yaml's round-trip loader reads it (None if it cannot)."""
    try:
        return YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RuamelYAMLError):
        return None


def locate(path: Path, loc: Loc) -> Tuple[str, int]:
    """The dotted field name and the 1-based line of a location in a file.

    Args:
        path: The YAML file.
        loc: Keys and list indexes from the top of the file (pydantic's `loc`).

    Returns:
        The keys up to the first list index, joined with dots (`-` for none), and
        the line of the deepest part of `loc` found in the file (1 if none is).
    """
    node = _round_trip(path)
    parts: List[str] = []
    in_list = False
    line = 1
    for part in loc:
        if part in _NOT_KEYS:
            continue
        if isinstance(node, list) or (node is None and isinstance(part, int)):
            in_list = True
        elif not in_list:
            parts.append(str(part))
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                line = lc.key(part)[0] + 1 if lc is not None else line
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                line = lc.item(part)[0] + 1 if lc is not None else line
                node = node[part]
            else:
                node = None
        except (KeyError, IndexError, TypeError):  # no position recorded for this part
            node = None
    return ".".join(parts) or "-", line


def content_error(path: Path, loc: Loc, problem: str) -> ContentError:
    """A `ContentError` for a location in a file (see `locate`)."""
    field_name, line = locate(path, loc)
    return ContentError(path, field_name, problem, line)


def validate(model: Type[ModelT], data: Any, path: Path, prefix: Loc = ()) -> ModelT:
    """Checks data read from `path` against a model.

    Args:
        model: The pydantic model (a `__root__` model for a bare mapping).
        data: The parsed data.
        path: The file the data came from.
        prefix: Where in the file the data sits (when it is not the whole file).

    Returns:
        The validated model.

    Raises:
        ContentError: naming the file, the line and the field of the error
            nearest the top of the file.
    """
    try:
        if "__root__" in model.__fields__:  # pydantic wraps the data itself
            return model.parse_obj(data)
        if not isinstance(data, dict):
            raise ContentError(path, ".".join(map(str, prefix)) or "-",
                               "must be a mapping of fields", locate(path, prefix)[1])
        return model.parse_obj(data)
    except ValidationError as error:
        # The problem nearest the top of the file, as a reader meets them.
        found = [content_error(path, (*prefix, *item["loc"]),
                               _PROBLEMS.get(item["type"], item["msg"]))
                 for item in error.errors()]
        raise min(found, key=lambda problem: problem.line or 0) from None
