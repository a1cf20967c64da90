"""The curated content store: one YAML file per topic, plus a shared store file.

Actions see the store only through the small `ContentStore` interface, which is
injected at construction (as rasa-sdk's `KnowledgeBase` is). `YamlContentStore`
reads `content/store.yml` and `content/topics/*.yml`, validates them against the
schema below and reloads them when a file changes, so answer-text edits go live
without retraining.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

from pydantic import BaseModel, validator

from nightcramps.schema import (
    ContentError,
    IsoDate,
    Name,
    StrictModel,
    Text,
    content_error,
    read_yaml,
    validate,
)

__all__ = ["DEFAULT_CONTENT_DIR", "KNOWN_GROUPS", "LABEL_TOPICS", "REVIEW_MONTHS",
           "SHORT_NAME_LIMIT", "ContentError", "ContentStore", "Entry", "Source",
           "YamlContentStore", "add_months", "content_dir", "default_store", "load_snapshot",
           "parse_entry", "parse_vocabulary"]

logger = logging.getLogger(__name__)

#: Where the store lives unless `CONTENT_DIR` says otherwise.
DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"
#: The topic a named term leads to when its vocabulary entry names none:
#: "what about statins?" -> medications. A term's own `topic` overrides it
#: (sciatica -> sciatica). Labels not listed here (body parts) lead nowhere.
LABEL_TOPICS = {
    "mineral": "supplements",
    "medication": "medications",
    "condition": "medical_conditions",
    "activity": "exercise",
}
#: An entry is due for review this many months after `last_reviewed`, unless it
#: names its own `next_review`.
REVIEW_MONTHS = 12
#: The longest `short` name of a source (the sources line under answers stays short).
SHORT_NAME_LIMIT = 24


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later (earlier if negative).

    A day the target month lacks becomes its last day (2024-02-29 + 12 months is
    2025-02-28).
    """
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    for last in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - every month has a 28th


# --- the schema of the files ----------------------------------------------------------

class VariantsModel(StrictModel):
    """A topic's `variants`: extra text for a group, one field per known group."""

    pregnancy: Optional[Text] = None
    older_adults: Optional[Text] = None
    athletes: Optional[Text] = None


#: Groups a topic may carry a variant for.
KNOWN_GROUPS: Tuple[str, ...] = tuple(VariantsModel.__fields__)


class TopicModel(StrictModel):
    """One `topics/<id>.yml` file."""

    id: Text
    title: Text
    intent: Text
    answer: Text
    variants: Optional[VariantsModel] = None
    sources: List[Name]
    last_reviewed: IsoDate
    reviewed_by: Optional[Text] = None
    next_review: Optional[IsoDate] = None
    related: List[Name] = []

    @validator("sources")
    def _names_a_source(cls, sources: List[str]) -> List[str]:
        if not sources:
            raise ValueError("must name at least one source")
        return sources


class SourceModel(StrictModel):
    """An entry of store.yml's `sources`."""

    name: Text
    short: Optional[Text] = None
    pages: List[Name] = []

    @validator("short")
    def _is_short(cls, short: Optional[str]) -> Optional[str]:
        if short is not None and len(short.strip()) > SHORT_NAME_LIMIT:
            raise ValueError(f"must be at most {SHORT_NAME_LIMIT} characters (it is shown "
                             f"under every answer that names the source)")
        if short is not None and "," in short:
            raise ValueError("must not hold a comma (the sources line lists names with commas)")
        return short


class SourcesModel(BaseModel):
    """store.yml's `sources`: source id -> name and pages."""

    __root__: Dict[str, SourceModel]

    @validator("__root__")
    def _not_empty(cls, sources: Dict[str, SourceModel]) -> Dict[str, SourceModel]:
        if not sources:
            raise ValueError("must map source ids to a name")
        return sources


class StoreModel(BaseModel):
    """`store.yml`: the disclaimer and the source list (other keys are ignored)."""

    disclaimer: Text
    sources: SourcesModel


class TermModel(StrictModel):
    """A term of vocabulary.yml: its synonyms and, optionally, the topic it leads to."""

    synonyms: List[Text]
    topic: Optional[Text] = None


class VocabularyModel(BaseModel):
    """`vocabulary.yml`: label -> canonical term -> synonyms and topic."""

    __root__: Dict[str, Dict[str, TermModel]]


@dataclass(frozen=True)
class Source:
    """An organisation, study or page that backs a fact."""

    id: str
    name: str
    pages: Tuple[str, ...] = ()
    short: str = ""

    @property
    def short_name(self) -> str:
        """The name shown in the sources line under answers: `short`, else `name`."""
        return self.short or self.name


@dataclass(frozen=True)
class Entry:
    """One topic of the store."""

    id: str
    title: str
    intent: str
    answer: str
    sources: Tuple[str, ...]
    last_reviewed: dt.date
    related: Tuple[str, ...] = ()
    variants: Mapping[str, str] = field(default_factory=dict)
    path: Optional[Path] = None
    #: Who last reviewed the entry (None when the file does not say).
    reviewed_by: Optional[str] = None
    #: `next_review` as the file gives it (None: `REVIEW_MONTHS` after the last review).
    next_review_given: Optional[dt.date] = None

    @property
    def next_review(self) -> dt.date:
        """When the entry's next review is due: the file's `next_review`, else 12 months on."""
        if self.next_review_given is not None:
            return self.next_review_given
        return add_months(self.last_reviewed, REVIEW_MONTHS)

    def review_overdue(self, today: dt.date) -> bool:
        """Whether the next review's date has passed by `today`."""
        return today > self.next_review

    def text_for(self, group: Optional[str] = None) -> str:
        """Returns the answer, followed by the group's variant when there is one."""
        variant = self.variants.get(group) if group else None
        return f"{self.answer}\n\n{variant}" if variant else self.answer


class ContentStore(Protocol):
    """What actions may ask of a content store."""

    @property
    def disclaimer(self) -> str:
        """The medical disclaimer that goes out with every answer."""

    @property
    def sources(self) -> Mapping[str, Source]:
        """The sources entries may name, by id."""

    def get(self, topic_id: str) -> Optional[Entry]:
        """Returns the entry with this id, or None."""

    def for_intent(self, intent: str) -> Optional[Entry]:
        """Returns the entry that answers this NLU intent, or None."""

    def entries(self) -> Sequence[Entry]:
        """Returns every entry, in a stable order."""

    def group_for(self, surface: str) -> Optional[str]:
        """Maps a group as the user wrote it ("pregnant") to its id ("pregnancy")."""

    def topic_for_group(self, group: str) -> Optional[str]:
        """Returns the topic id dedicated to a group, if one is."""

    def topic_for_term(self, label: str, surface: str) -> Optional[str]:
        """The topic a named term leads to ("lasix" as a medication -> medications)."""


@dataclass(frozen=True)
class _Snapshot:
    disclaimer: str
    sources: Mapping[str, Source]
    entries: Mapping[str, Entry]
    by_intent: Mapping[str, Entry]
    group_synonyms: Mapping[str, str]
    group_topics: Mapping[str, str]
    term_topics: Mapping[Tuple[str, str], str] = field(default_factory=dict)


def _parse_sources(path: Path, raw: Any) -> Dict[str, Source]:
    """Validates store.yml's `sources` (found under `sources` in `path`)."""
    return _sources_of(validate(SourcesModel, raw, path, prefix=("sources",)))


def _sources_of(model: SourcesModel) -> Dict[str, Source]:
    """The validated `sources` as `Source`s, by id."""
    return {str(source_id): Source(str(source_id), " ".join(spec.name.split()),
                                   tuple(spec.pages), " ".join((spec.short or "").split()))
            for source_id, spec in model.__root__.items()}


def parse_vocabulary(path: Path) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """Reads `vocabulary.yml`: label -> canonical term -> {synonyms, topic}.

    The same file feeds the spaCy entity ruler (see tools/build_spacy_pipeline.py).

    Raises:
        ContentError: naming the file, the line and the field at fault.
    """
    model = validate(VocabularyModel, read_yaml(path), path)
    vocabulary: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for label, terms in model.__root__.items():
        if not terms:
            raise content_error(path, (label,), "must map terms to their synonyms")
        vocabulary[str(label)] = {
            str(term): {"synonyms": list(spec.synonyms),
                        **({"topic": spec.topic} if spec.topic else {})}
            for term, spec in terms.items()}
    if "group" not in vocabulary:
        raise content_error(path, ("group",), "is required (pregnancy, older_adults, ...)")
    for group in vocabulary["group"]:
        if group not in KNOWN_GROUPS:
            raise content_error(path, ("group", group), f"unknown group; use {KNOWN_GROUPS}")
    return vocabulary


def _normal(word: str) -> str:
    """Lower case, single spaces: how words are compared with the vocabulary."""
    return " ".join(word.lower().split())


def _group_maps(vocabulary: Mapping[str, Mapping[str, Mapping[str, Any]]]
                ) -> Tuple[Dict[str, str], Dict[str, str]]:
    synonyms: Dict[str, str] = {}
    topics: Dict[str, str] = {}
    for group, spec in vocabulary["group"].items():
        for word in [group.replace("_", " "), *spec["synonyms"]]:
            synonyms[_normal(word)] = group
        if spec.get("topic"):
            topics[group] = str(spec["topic"])
    return synonyms, topics


def _term_topics(vocabulary: Mapping[str, Mapping[str, Mapping[str, Any]]]
                 ) -> Dict[Tuple[str, str], str]:
    """(label, word as written) -> topic, for every term that leads to a topic."""
    topics: Dict[Tuple[str, str], str] = {}
    for label, terms in vocabulary.items():
        if label == "group":
            continue
        for term, spec in terms.items():
            topic = spec.get("topic") or LABEL_TOPICS.get(label)
            if not topic:
                continue
            for word in [term.replace("_", " "), *spec["synonyms"]]:
                topics[(label, _normal(word))] = str(topic)
    return topics


def parse_entry(path: Path, data: Mapping[str, Any], sources: Mapping[str, Source]) -> Entry:
    """Validates one topic file's fields and builds its entry.

    Args:
        path: The file the data came from (named in errors).
        data: The parsed YAML mapping.
        sources: The store's source list; every source named must be in it.

    Returns:
        The entry.

    Raises:
        ContentError: naming the file, the line and the field at fault.
    """
    topic = validate(TopicModel, data, path)
    topic_id = topic.id.strip()
    if topic_id != path.stem:
        raise content_error(path, ("id",), f"must equal the file name '{path.stem}'")
    for index, source_id in enumerate(topic.sources):
        if source_id not in sources:
            raise content_error(path, ("sources", index), f"'{source_id}' is not in store.yml")
    if topic.next_review is not None and topic.next_review <= topic.last_reviewed:
        raise content_error(path, ("next_review",), "must be after last_reviewed")
    variants = topic.variants.dict(exclude_none=True) if topic.variants else {}
    return Entry(
        id=topic_id,
        title=topic.title.strip(),
        intent=topic.intent.strip(),
        # Whitespace inside a line is tidied; line breaks (the urgent answer's
        # bullets, written with `|`) are kept. Folded `>-` answers have none.
        answer="\n".join(" ".join(line.split())
                          for line in topic.answer.strip().splitlines() if line.strip()),
        sources=tuple(topic.sources),
        last_reviewed=topic.last_reviewed,
        related=tuple(topic.related),
        variants={group: " ".join(text.split()) for group, text in variants.items()},
        path=path,
        reviewed_by=" ".join(topic.reviewed_by.split()) if topic.reviewed_by else None,
        next_review_given=topic.next_review,
    )


def load_snapshot(directory: Path) -> _Snapshot:
    """Reads and validates the whole store.

    Raises:
        ContentError: naming the first broken file and field.
    """
    store_file = directory / "store.yml"
    store = validate(StoreModel, read_yaml(store_file), store_file)
    disclaimer = store.disclaimer
    sources = _sources_of(store.sources)
    vocabulary_file = directory / "vocabulary.yml"
    vocabulary = parse_vocabulary(vocabulary_file)
    synonyms, group_topics = _group_maps(vocabulary)
    term_topics = _term_topics(vocabulary)
    entries: Dict[str, Entry] = {}
    by_intent: Dict[str, Entry] = {}
    topic_files = sorted((directory / "topics").glob("*.yml"))
    if not topic_files:
        raise ContentError(directory / "topics", "-", "holds no topic files")
    for path in topic_files:
        entry = parse_entry(path, read_yaml(path), sources)
        if entry.intent in by_intent:
            raise content_error(path, ("intent",), f"'{entry.intent}' is already used by "
                                f"{by_intent[entry.intent].path}")
        entries[entry.id] = entry
        by_intent[entry.intent] = entry
    for entry in entries.values():
        for index, related in enumerate(entry.related):
            if related not in entries or related == entry.id:
                raise content_error(entry.path or directory, ("related", index),
                                    f"'{related}' is not another topic id")
    for label, terms in vocabulary.items():
        for term, spec in terms.items():
            if spec.get("topic") and spec["topic"] not in entries:
                raise content_error(vocabulary_file, (label, term, "topic"),
                                    f"unknown topic '{spec['topic']}'")
    return _Snapshot(" ".join(disclaimer.split()), sources, entries, by_intent,
                     synonyms, group_topics, term_topics)


def _signature(directory: Path) -> Tuple[Tuple[str, int, int], ...]:
    topics = sorted((directory / "topics").glob("*.yml"))
    files = [directory / "store.yml", directory / "vocabulary.yml", *topics]
    signature = []
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        signature.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


class YamlContentStore:
    """A `ContentStore` backed by the YAML files of one directory.

    The first load must succeed: a broken store, or one without a disclaimer,
    raises `ContentError`, so the action server refuses to start. Later edits are
    picked up on the next request; an edit that breaks the schema is logged and
    the last good content keeps being served, so nothing is lost.
    """

    def __init__(self, directory: Path, reload_interval: float = 1.0) -> None:
        """Loads the store.

        Args:
            directory: Folder holding `store.yml` and `topics/`.
            reload_interval: Seconds between checks for changed files (0: always).
        """
        self.directory = Path(directory)
        self._reload_interval = reload_interval
        self._lock = threading.Lock()
        self._signature = _signature(self.directory)
        self._snapshot = load_snapshot(self.directory)
        self._checked_at = time.monotonic()
        self.last_error: Optional[ContentError] = None

    def _current(self) -> _Snapshot:
        now = time.monotonic()
        if now - self._checked_at < self._reload_interval:
            return self._snapshot
        with self._lock:
            self._checked_at = now
            signature = _signature(self.directory)
            if signature != self._signature:
                self._signature = signature
                try:
                    self._snapshot = load_snapshot(self.directory)
                    self.last_error = None
                    logger.info("Reloaded content store from %s", self.directory)
                except ContentError as error:
                    self.last_error = error
                    logger.error("Content edit rejected, still serving the last "
                                 "good version: %s", error)
        return self._snapshot

    @property
    def disclaimer(self) -> str:
        """The medical disclaimer that goes out with every answer."""
        return self._current().disclaimer

    @property
    def sources(self) -> Mapping[str, Source]:
        """The store's source list."""
        return self._current().sources

    def get(self, topic_id: str) -> Optional[Entry]:
        """Returns the entry with this id, or None."""
        return self._current().entries.get(topic_id)

    def for_intent(self, intent: str) -> Optional[Entry]:
        """Returns the entry that answers this NLU intent, or None."""
        return self._current().by_intent.get(intent)

    def entries(self) -> List[Entry]:
        """Returns every entry, ordered by id."""
        return list(self._current().entries.values())

    def group_for(self, surface: str) -> Optional[str]:
        """Maps a group as written by the user to its id."""
        return self._current().group_synonyms.get(_normal(surface))

    def topic_for_group(self, group: str) -> Optional[str]:
        """Returns the topic dedicated to a group, if one is."""
        return self._current().group_topics.get(group)

    def topic_for_term(self, label: str, surface: str) -> Optional[str]:
        """The topic a named term leads to ("lasix" as a medication -> medications)."""
        return self._current().term_topics.get((label, _normal(surface)))


def content_dir() -> Path:
    """The store's folder: `CONTENT_DIR` if set, else the project's `content/`."""
    return Path(os.environ.get("CONTENT_DIR", str(DEFAULT_CONTENT_DIR)))


@functools.lru_cache(maxsize=1)
def default_store() -> YamlContentStore:
    """The process-wide store, loaded on first use (never at import time)."""
    return YamlContentStore(content_dir())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Validates a content folder: `python -m nightcramps.content_store [DIR]`."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path(args[0]) if args else content_dir()
    try:
        snapshot = load_snapshot(directory)
    except ContentError as error:
        print(f"content error: {error}", file=sys.stderr)
        return 1
    print(f"content OK: {len(snapshot.entries)} topics, disclaimer present, "
          f"{len(snapshot.sources)} sources")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
