"""Checks the content store and the NLU data; names the file and line of every problem.

Usage:
    python -m tools.content.check [--min-examples 10] [--review-months 12]
                                    [--similarity 0.8] [--root DIR] [--today YYYY-MM-DD]

Errors (exit code 1) and warnings (printed, exit code 0), one per line:

    content/topics/diet.yml:12: error: sources: 'xyz' is not in content/store.yml's source list

What is checked:
- content/store.yml, content/vocabulary.yml and content/topics/*.yml follow the
  schema the action server enforces (nightcramps/content_store.py), the disclaimer is
  there, and every source a topic names is in store.yml's source list;
- no topic's review is overdue (warning): its `next_review` date has passed, or,
  for a topic without one, `last_reviewed` is more than `--review-months` months
  old; `last_reviewed` is not in the future (warning);
- every source has a `short` name (warning), shown under answers;
- every topic's intent is declared in domain.yml, has a rule or story in data/
  and has at least `--min-examples` training examples in data/nlu/;
- every intent used in data/nlu/ is declared in domain.yml;
- duplicates, compared after normalisation (lower case, punctuation and extra
  spaces removed): the same example under two intents is an error, twice under
  one intent a warning; a near-duplicate under another intent (character-trigram
  similarity of at least `--similarity`) is a warning;
- no held-out test message (tests/heldout/nlu.yml, the end-to-end sets in
  tests/blind/ and tests/dev/, and the red flags of
  tests/safety/red_flag_phrasings.yml) is also a training example, after the same
  normalisation (error); a training example that is one of that file's
  `not_red_flags` (which test the safety net's rules, not the model) is a warning.

Examples that are only emoji or punctuation ("👍", "???") are compared as written.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import yaml

from nightcramps.contract import HELDOUT_FILE, PHRASINGS_FILE
from tools.content.nlu import (
    Example,
    dialogue_intents,
    domain_intents,
    duplicate_key,
    evaluation_set_messages,
    examples_in,
    red_flag_messages,
    yaml_files,
)
from tools.content.yaml_lines import LocatedYaml, YamlFileError, node_line

ROOT = Path(__file__).resolve().parents[2]
ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding, printed as `path:line: severity: field: message`."""

    path: str
    line: int
    severity: str
    field: str
    message: str

    def __str__(self) -> str:
        """The line printed for staff."""
        return f"{self.path}:{self.line}: {self.severity}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Options:
    """The check's thresholds."""

    min_examples: int = 10
    review_months: int = 12
    similarity: float = 0.8
    today: dt.date = field(default_factory=dt.date.today)


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (clamped to the month's end)."""
    from nightcramps.content_store import add_months

    return add_months(day, -months)


def as_date(value: Any) -> Optional[dt.date]:
    """A YAML date or ISO text as a date; None for anything else (the schema reports it)."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return None


def trigram_similarities(texts: Sequence[str], threshold: float
                         ) -> List[Tuple[int, int, float]]:
    """Pairs (i, j, similarity) with i < j whose character-trigram Jaccard is high.

    Jaccard similarity of the sets of character trigrams of the two texts (with a
    space added at each end): 1.0 for the same trigrams, 0.0 for none in common.
    """
    if len(texts) < 2:
        return []
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(analyzer="char", ngram_range=(3, 3), binary=True,
                                 lowercase=False)
    matrix = vectorizer.fit_transform([f" {t} " for t in texts]).tocsr()
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    pairs: List[Tuple[int, int, float]] = []
    block = 500
    for start in range(0, len(texts), block):
        shared = (matrix[start:start + block] @ matrix.T).toarray()
        union = sizes[start:start + block, None] + sizes[None, :] - shared
        scores = shared / np.maximum(union, 1)
        rows, cols = np.nonzero(scores >= threshold)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + row
            if i < col:
                pairs.append((i, col, float(scores[row, col])))
    return pairs


class Checker:
    """Runs every check over one project folder and collects the problems."""

    def __init__(self, root: Path, options: Optional[Options] = None) -> None:
        """Prepares a check of the project at `root`.

        Args:
            root: The project folder (holding content/, data/, domain.yml, tests/).
            options: Thresholds; the defaults when None.
        """
        self.root = root
        self.options = options or Options()
        self.problems: List[Problem] = []
        self.content = root / "content"
        self.examples: List[Example] = []
        self.topic_count = 0
        self.heldout_count = 0

    # -- reporting ---------------------------------------------------------------------

    def where(self, path: Path) -> str:
        """The path as staff see it: relative to the project folder."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def add(self, severity: str, path: Path, line: int, field_name: str, message: str) -> None:
        """Records a problem."""
        self.problems.append(Problem(self.where(path), line, severity, field_name, message))

    def read(self, path: Path) -> Optional[LocatedYaml]:
        """Parses a YAML file, recording an error (and returning None) if it cannot."""
        try:
            return LocatedYaml.read(path)
        except YamlFileError as error:
            self.add(ERROR, path, error.line, "-", error.problem)
            return None

    def at(self, path: Path, line: int) -> str:
        """`path:line`, for messages that point elsewhere."""
        return f"{self.where(path)}:{line}"

    # -- the checks --------------------------------------------------------------------

    def run(self) -> List[Problem]:
        """Runs every check; returns the problems sorted by file and line."""
        from nightcramps.content_store import ContentError

        sources = self.check_store()
        group_topics = self.check_vocabulary()
        domain = self.read(self.root / "domain.yml")
        declared = domain_intents(domain) if domain else {}
        self.examples = self.read_training_examples()
        dialogue = dialogue_intents([doc for path in (yaml_files(self.root / "data" / "rules")
                                                      + yaml_files(self.root / "data" / "stories"))
                                     if (doc := self.read(path)) is not None])
        topic_ids = self.check_topics(sources, declared if domain else None, dialogue)
        for group, (topic, line) in group_topics.items():
            if topic not in topic_ids:
                self.add(ERROR, self.content / "vocabulary.yml", line, f"group.{group}.topic",
                         f"'{topic}' is not a topic id")
        if domain:
            self.check_training_intents(declared)
        self.check_duplicates()
        self.check_heldout_leaks()
        # Whatever the action server would refuse must fail here too.
        from nightcramps.content_store import load_snapshot

        try:
            load_snapshot(self.content)
        except ContentError as error:
            shown = self.where(error.path)
            if not any(p.severity == ERROR and p.path == shown for p in self.problems):
                self.add(ERROR, error.path, self.line_in(error.path, error.field),
                         error.field, error.problem)
        return sorted(set(self.problems))

    def line_in(self, path: Path, dotted: str) -> int:
        """The line of a dotted field in a file, 1 when it cannot be found."""
        try:
            return LocatedYaml.read(path).line_of(dotted) if path.is_file() else 1
        except YamlFileError as error:
            return error.line

    def check_store(self) -> Set[str]:
        """The disclaimer and the source list of store.yml; returns the source ids."""
        from nightcramps.content_store import ContentError, _parse_sources

        path = self.content / "store.yml"
        doc = self.read(path)
        if doc is None:
            return set()
        if not isinstance(doc.data, dict):
            self.add(ERROR, path, 1, "-", "must be a mapping of fields")
            return set()
        disclaimer = doc.data.get("disclaimer")
        if not isinstance(disclaimer, str) or not disclaimer.strip():
            self.add(ERROR, path, doc.line_of("disclaimer"), "disclaimer",
                     "a medical disclaimer is required (the action server will not start "
                     "without one)")
        try:
            sources = _parse_sources(path, doc.data.get("sources"))
        except ContentError as error:
            self.add(ERROR, path, doc.line_of(error.field), error.field, error.problem)
            raw = doc.data.get("sources")
            return {str(s) for s in raw} if isinstance(raw, dict) else set()
        for source in sources.values():
            if not source.short:
                self.add(WARNING, path, doc.line_of(f"sources.{source.id}"),
                         f"sources.{source.id}",
                         "no `short` name: answers that cite it show the full name in "
                         "their sources line")
        return set(sources)

    def check_vocabulary(self) -> Dict[str, Tuple[str, int]]:
        """The vocabulary file's schema; returns group -> (its topic, line)."""
        from nightcramps.content_store import ContentError, parse_vocabulary

        path = self.content / "vocabulary.yml"
        doc = self.read(path)
        if doc is None:
            return {}
        try:
            vocabulary = parse_vocabulary(path)
        except ContentError as error:
            self.add(ERROR, path, doc.line_of(error.field), error.field, error.problem)
            return {}
        return {group: (str(spec["topic"]), doc.line_of(f"group.{group}.topic"))
                for group, spec in vocabulary["group"].items() if spec.get("topic")}

    def read_training_examples(self) -> List[Example]:
        """Every example under data/nlu/, with file and line."""
        folder = self.root / "data" / "nlu"
        files = yaml_files(folder) if folder.exists() else []
        if not files:
            self.add(ERROR, folder, 1, "-", "holds no NLU training files")
        examples: List[Example] = []
        for path in files:
            doc = self.read(path)
            if doc is not None:
                examples.extend(examples_in(doc))
        return examples

    def check_topics(self, sources: Set[str], declared: Optional[Mapping[str, int]],
                     dialogue: Set[str]) -> Set[str]:
        """Each topic file: schema, sources, review date, intent, examples, rule."""
        from nightcramps.content_store import ContentError, Source, parse_entry

        counts: Dict[str, int] = defaultdict(int)
        for example in self.examples:
            counts[example.intent] += 1
        topic_files = sorted((self.content / "topics").glob("*.yml"))
        if not topic_files:
            self.add(ERROR, self.content / "topics", 1, "-", "holds no topic files")
        self.topic_count = len(topic_files)
        intents: Dict[str, Path] = {}
        ids: Set[str] = set()
        related: List[Tuple[Path, int, str]] = []
        for path in topic_files:
            ids.add(path.stem)  # what the id must be: a broken file is reported once only
            doc = self.read(path)
            if doc is None:
                continue
            data = doc.data
            if not isinstance(data, dict):
                self.add(ERROR, path, 1, "-", "must be a mapping of fields")
                continue
            named = data.get("sources")
            named_ids = [s for s in named if isinstance(s, str)] if isinstance(named, list) else []
            # Unknown sources are reported below, one line each; the schema check
            # (the action server's own) sees every named source as known.
            known = {**{s: Source(s, s) for s in named_ids}, **{s: Source(s, s) for s in sources}}
            try:
                parse_entry(path, data, known)
            except ContentError as error:
                self.add(ERROR, path, doc.line_of(error.field), error.field, error.problem)
            self.check_sources(doc, sources)
            self.check_review_date(doc)
            if isinstance(data.get("related"), list):
                related.extend((path, doc.line_of("related"), str(r)) for r in data["related"])
            intent = data.get("intent")
            if not isinstance(intent, str) or not intent.strip():
                continue
            line = doc.line_of("intent")
            if intent in intents:
                self.add(ERROR, path, line, "intent",
                         f"'{intent}' is already the intent of {self.where(intents[intent])}")
            intents[intent] = path
            if declared is not None and intent not in declared:
                self.add(ERROR, path, line, "intent",
                         f"'{intent}' is not in domain.yml's intents (add it there)")
            if counts[intent] < self.options.min_examples:
                self.add(ERROR, path, line, "intent",
                         f"'{intent}' has {counts[intent]} training example(s) in data/nlu/; "
                         f"at least {self.options.min_examples} are needed")
            if intent not in dialogue:
                self.add(ERROR, path, line, "intent",
                         f"no rule in data/rules/ (or story in data/stories/) answers "
                         f"'{intent}'; add one like those in data/rules/topics.yml")
        for path, line, topic in related:
            if topic not in ids or topic == path.stem:
                self.add(ERROR, path, line, "related", f"'{topic}' is not another topic id")
        return ids

    def check_sources(self, doc: LocatedYaml, sources: Set[str]) -> None:
        """Every source a topic names is in store.yml's source list (one error each)."""
        node = doc.value_node("sources")
        if not isinstance(node, yaml.SequenceNode):
            return
        for item in node.value:
            if isinstance(item, yaml.ScalarNode) and item.value not in sources:
                self.add(ERROR, doc.path, node_line(item), "sources",
                         f"'{item.value}' is not in content/store.yml's source list")

    def check_review_date(self, doc: LocatedYaml) -> None:
        """Warns when a topic's review is overdue, or `last_reviewed` is in the future.

        Overdue: the topic's `next_review` date has passed or, for a topic without
        one, `last_reviewed` is more than `--review-months` months old.
        """
        value = as_date(doc.data.get("last_reviewed"))
        if value is None:
            return  # the schema check reports it
        line = doc.line_of("last_reviewed")
        months = self.options.review_months
        today = self.options.today
        due = as_date(doc.data.get("next_review"))
        if value > today:
            self.add(WARNING, doc.path, line, "last_reviewed",
                     f"{value.isoformat()} is in the future")
        elif due is not None:
            if today > due:
                self.add(WARNING, doc.path, doc.line_of("next_review"), "next_review",
                         f"review was due {due.isoformat()} (last reviewed "
                         f"{value.isoformat()}): have the answer reviewed, then update "
                         f"last_reviewed and next_review")
        elif value < months_before(today, months):
            self.add(WARNING, doc.path, line, "last_reviewed",
                     f"last reviewed {value.isoformat()}, more than {months} months ago: "
                     f"have the answer reviewed and update the date")

    def check_training_intents(self, declared: Mapping[str, int]) -> None:
        """Every intent with training examples is declared in domain.yml."""
        seen: Set[str] = set()
        for example in self.examples:
            if example.intent not in declared and example.intent not in seen:
                seen.add(example.intent)
                self.add(ERROR, example.path, example.line, "intent",
                         f"'{example.intent}' has examples but is not in domain.yml's intents")

    def check_duplicates(self) -> None:
        """Same example under two intents (error), twice in one (warning), near-duplicates."""
        first: Dict[str, Example] = {}
        for example in self.examples:
            key = duplicate_key(example.text)
            if not key:
                self.add(ERROR, example.path, example.line, "examples", "empty example")
                continue
            earlier = first.get(key)
            if earlier is None:
                first[key] = example
            elif earlier.intent != example.intent:
                self.add(ERROR, example.path, example.line, "examples",
                         f'"{example.text}" ({example.intent}) is also an example of '
                         f"{earlier.intent} ({self.at(earlier.path, earlier.line)}); "
                         f"keep it under one intent only")
            else:
                self.add(WARNING, example.path, example.line, "examples",
                         f'"{example.text}" appears twice in {example.intent} '
                         f"(also {self.at(earlier.path, earlier.line)})")
        unique = list(first.values())
        texts = list(first)
        for i, j, score in trigram_similarities(texts, self.options.similarity):
            a, b = unique[i], unique[j]
            if a.intent == b.intent:
                continue
            self.add(WARNING, b.path, b.line, "examples",
                     f'"{b.text}" ({b.intent}) is nearly the same as "{a.text}" '
                     f"({a.intent}, {self.at(a.path, a.line)}; similarity {score:.2f}); "
                     f"reword one, or keep it under one intent only")

    def check_heldout_leaks(self) -> None:
        """No held-out test message is also a training example."""
        heldout: List[Example] = []
        heldout_file = self.root / HELDOUT_FILE
        phrasings_file = self.root / PHRASINGS_FILE
        if heldout_file.exists() and (doc := self.read(heldout_file)) is not None:
            heldout.extend(examples_in(doc))
        if phrasings_file.exists() and (doc := self.read(phrasings_file)) is not None:
            heldout.extend(red_flag_messages(doc))
        for sets in (self.root / "tests" / "blind", self.root / "tests" / "dev"):
            for path in sorted(sets.glob("*.yml")):
                if (doc := self.read(path)) is not None:
                    heldout.extend(evaluation_set_messages(doc))
        self.heldout_count = len(heldout)
        tests = {duplicate_key(e.text): e for e in heldout}
        for example in self.examples:
            test = tests.get(duplicate_key(example.text))
            if test is None:
                continue
            if test.intent == "not_red_flags":
                # Those test the safety net's rules, which training cannot change.
                self.add(WARNING, example.path, example.line, "examples",
                         f'"{example.text}" is also a test message of the safety net '
                         f"({self.at(test.path, test.line)}); better reworded")
            else:
                self.add(ERROR, example.path, example.line, "examples",
                         f'"{example.text}" is a held-out test message '
                         f"({self.at(test.path, test.line)}); test messages must never be "
                         f"trained on: remove it from the training data")


def check(root: Path, options: Optional[Options] = None) -> List[Problem]:
    """Runs every check on the project at `root`; returns the problems found."""
    return Checker(root, options).run()


def main(argv: Optional[List[str]] = None) -> int:
    """Prints every problem; exit code 1 when there is an error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder")
    parser.add_argument("--min-examples", type=int, default=Options.min_examples,
                        help="training examples each topic needs (default %(default)s)")
    parser.add_argument("--review-months", type=int, default=Options.review_months,
                        help="warn when last_reviewed is older (default %(default)s)")
    parser.add_argument("--similarity", type=float, default=Options.similarity,
                        help="trigram similarity that counts as a near-duplicate "
                             "(default %(default)s)")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=None,
                        help="date to judge review dates against (default: today)")
    args = parser.parse_args(argv)
    options = Options(args.min_examples, args.review_months, args.similarity,
                      args.today or dt.date.today())
    checker = Checker(args.root.resolve(), options)
    problems = checker.run()
    for problem in problems:
        print(problem)
    errors = sum(p.severity == ERROR for p in problems)
    warnings = len(problems) - errors
    print(f"check: {errors} error(s), {warnings} warning(s) in {checker.topic_count} topics, "
          f"{len(checker.examples)} training examples, {checker.heldout_count} held-out "
          f"messages" + ("" if errors else " - OK"))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
