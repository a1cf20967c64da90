"""A topic file as a form: its fields for editing, and the form turned back into the file.

The file is changed with ruamel.yaml's round-trip loader, so comments, key order
and untouched fields stay as they were. A candidate file is validated exactly as
the store validates it: pydantic's errors for every field at once, then the
whole store (`nightcramps.content_store.load_snapshot`) with the candidate in
place of the file, in a temporary copy of the content folder, for what spans
files (sources listed in store.yml, related topics, intents used twice).
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from nightcramps import content_store
from nightcramps.content_store import ContentError, Entry, load_snapshot, parse_entry
from nightcramps.schema import read_yaml

#: Optional review fields, used when the store's schema has them.
REVIEW_FIELDS = ("reviewed_by", "next_review")
#: Folded answers are written in lines of at most about this many characters.
FOLD_WIDTH = 76
#: Fields a reader of pydantic's error locations cannot name more precisely.
_TOP = "-"


@dataclass
class TopicForm:
    """The editable fields of one topic, as the form shows them."""

    topic_id: str
    title: str = ""
    intent: str = ""
    answer: str = ""
    variants: Dict[str, str] = field(default_factory=dict)
    sources: List[str] = field(default_factory=list)
    related: List[str] = field(default_factory=list)
    last_reviewed: str = ""
    reviewed_by: str = ""
    next_review: str = ""


def schema_fields() -> Sequence[str]:
    """The fields the store's topic schema declares."""
    return tuple(content_store.TopicModel.__fields__)


def review_fields() -> List[str]:
    """The optional review fields (`reviewed_by`, `next_review`) the schema knows."""
    known = schema_fields()
    return [name for name in REVIEW_FIELDS if name in known]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.width = 4096  # type: ignore[assignment]  # folds are placed by _block
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def read_form(topic_id: str, text: str) -> TopicForm:
    """The form's values for a topic file's text (fields missing from it are empty)."""
    data = _yaml().load(text) or {}
    variants = data.get("variants") or {}
    return TopicForm(
        topic_id=topic_id,
        title=_text(data.get("title")),
        intent=_text(data.get("intent")),
        answer=_text(data.get("answer")).strip(),
        variants={str(group): _text(value).strip() for group, value in variants.items()},
        sources=[str(source) for source in data.get("sources") or []],
        related=[str(topic) for topic in data.get("related") or []],
        last_reviewed=_text(data.get("last_reviewed")),
        reviewed_by=_text(data.get("reviewed_by")),
        next_review=_text(data.get("next_review")),
    )


def _clean(value: str) -> str:
    """Text as typed in a browser: CRLF line ends, maybe spaces around."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _block(value: str) -> Any:
    """Long text as the files write it: `>-` folded in short lines, `|-` with its own breaks."""
    if "\n" in value:
        return LiteralScalarString(value)
    folded = FoldedScalarString(value)
    folded.fold_pos = _fold_points(value)  # type: ignore[attr-defined]
    return folded


def _fold_points(value: str) -> List[int]:
    """Where a folded scalar breaks its lines: the last space before each FOLD_WIDTH mark."""
    points: List[int] = []
    line_start = 0
    last_space = -1
    for index, char in enumerate(value):
        if char == " " and index > 0 and value[index - 1] != " " and (
                index + 1 < len(value) and value[index + 1] != " "):
            if index - line_start > FOLD_WIDTH and last_space > line_start:
                points.append(last_space)
                line_start = last_space + 1
            last_space = index
    if len(value) - line_start > FOLD_WIDTH and last_space > line_start:
        points.append(last_space)
    return points


def _list_like(existing: Any, values: Sequence[str]) -> CommentedSeq:
    """`values` as a YAML list, written `[a, b]` when the file wrote the old one so."""
    new = CommentedSeq(values)
    flow = getattr(getattr(existing, "fa", None), "flow_style", lambda: None)()
    if flow or existing is None:
        new.fa.set_flow_style()
    return new


def _date_or_text(value: str) -> Any:
    """A date field: a YAML date when it is one, else the text (the schema names it)."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return value


def form_from_fields(topic_id: str, fields: Mapping[str, List[str]]) -> TopicForm:
    """The form as a browser submitted it (every name maps to its list of values)."""
    def one(name: str) -> str:
        values = fields.get(name) or [""]
        return _clean(values[0])

    return TopicForm(
        topic_id=topic_id,
        title=one("title"),
        answer=one("answer"),
        variants={group: one(f"variants.{group}") for group in content_store.KNOWN_GROUPS},
        sources=[value for value in fields.get("sources", []) if value],
        related=[value for value in fields.get("related", []) if value],
        last_reviewed=one("last_reviewed"),
        reviewed_by=one("reviewed_by"),
        next_review=one("next_review"),
    )


def _set(data: Any, key: str, value: Any, shown: Any) -> None:
    """Sets `data[key]` unless it already reads as `shown` (untouched fields keep their layout)."""
    current = data.get(key)
    if isinstance(current, list) and list(current) == shown:
        return
    if current is not None and not isinstance(current, list) and _text(current).strip() == shown:
        return
    data[key] = value


def apply(base_text: str, form: TopicForm) -> str:
    """The topic file `base_text` with the form's values; everything else kept.

    Fields the form leaves as they were keep their exact layout in the file, so a
    draft's diff shows only what was changed.
    """
    yaml = _yaml()
    data = yaml.load(base_text) or {}
    _set(data, "title", form.title, form.title)
    _set(data, "answer", _block(form.answer), form.answer)
    variants = {group: text for group, text in form.variants.items() if text}
    if variants:
        existing = data.get("variants") or {}
        for group in list(existing):
            if group not in variants:
                del existing[group]
        for group, text in variants.items():
            _set(existing, group, _block(text), text)
        data["variants"] = existing
    elif "variants" in data:
        del data["variants"]
    _set(data, "sources", _list_like(data.get("sources"), form.sources), list(form.sources))
    _set(data, "last_reviewed", _date_or_text(form.last_reviewed), form.last_reviewed)
    _set(data, "related", _list_like(data.get("related"), form.related), list(form.related))
    for name in review_fields():
        value = getattr(form, name)
        if value:
            _set(data, name, _date_or_text(value) if name == "next_review" else value, value)
        elif name in data:
            del data[name]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _field_name(loc: Sequence[Any]) -> str:
    keys = [str(part) for part in loc if not isinstance(part, int) and part != "__root__"]
    return ".".join(keys) or _TOP


def validate(topic_id: str, text: str, content_dir: Path) -> Dict[str, str]:
    """Checks a candidate topic file as the store would; returns field -> problem.

    Args:
        topic_id: The topic (its file is `topics/<topic_id>.yml`).
        text: The candidate file.
        content_dir: The live content folder (only copied, never changed).

    Returns:
        Each field at fault with its problem (`-` for the file as a whole); empty
        when the store would accept the file.
    """
    with tempfile.TemporaryDirectory(prefix="console-check-") as tmp:
        copy = Path(tmp) / "content"
        shutil.copytree(content_dir, copy)
        path = copy / "topics" / f"{topic_id}.yml"
        path.write_text(text, encoding="utf-8")
        try:
            data = read_yaml(path)
        except ContentError as error:
            return {error.field: error.problem}
        if isinstance(data, dict):
            try:
                content_store.TopicModel.parse_obj(data)
            except ValidationError as error:
                problems: Dict[str, str] = {}
                for item in error.errors():
                    problems.setdefault(_field_name(item["loc"]), str(item["msg"]))
                return problems
        try:
            load_snapshot(copy)
        except ContentError as error:
            if error.path.name == path.name:
                return {error.field: error.problem}
            return {_TOP: f"{error.path.name}: {error}"}
    return {}


def entry_of(topic_id: str, text: str, content_dir: Path) -> Optional[Entry]:
    """The store's entry for a (valid) candidate file, as the action server builds it."""
    with tempfile.TemporaryDirectory(prefix="console-preview-") as tmp:
        path = Path(tmp) / f"{topic_id}.yml"
        path.write_text(text, encoding="utf-8")
        try:
            sources = load_snapshot(content_dir).sources
            return parse_entry(path, read_yaml(path), sources)
        except ContentError:
            return None
