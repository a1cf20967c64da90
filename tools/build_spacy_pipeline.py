"""Builds the project's own small spaCy pipeline from content/vocabulary.yml.

No pretrained spaCy model can be downloaded for this project, so Rasa's `SpacyNLP`
loads this one instead: spaCy's English tokenizer plus an entity ruler whose
patterns are the content store's vocabulary (groups, minerals, medications,
conditions, body parts). `nlp.to_disk` writes the `meta.json` SpacyNLP needs.

Usage: python -m tools.build_spacy_pipeline [--vocabulary FILE] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List

import spacy

from nightcramps.content_store import ContentError, parse_vocabulary

ROOT = Path(__file__).resolve().parent.parent


PIPELINE_NAME = "night_cramps_vocab"
PIPELINE_VERSION = "1.0.0"


def patterns_from(vocabulary_file: Path) -> List[Dict[str, Any]]:
    """Turns the vocabulary into entity-ruler phrase patterns.

    Args:
        vocabulary_file: The content store's vocabulary.yml.

    Returns:
        One pattern per synonym, labelled with the entity type and the canonical
        term as its id.
    """
    vocabulary = parse_vocabulary(vocabulary_file)
    patterns = []
    for label, terms in vocabulary.items():
        for term, spec in terms.items():
            for synonym in {term.replace("_", " "), *spec["synonyms"]}:
                patterns.append({"label": label, "pattern": synonym.lower(), "id": term})
    return sorted(patterns, key=lambda p: (p["label"], p["id"], p["pattern"]))


def build(vocabulary_file: Path, out: Path) -> spacy.language.Language:
    """Builds the pipeline and writes it to `out`.

    Args:
        vocabulary_file: The content store's vocabulary.yml.
        out: The pipeline directory to (re)write.

    Returns:
        The pipeline.
    """
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(patterns_from(vocabulary_file))  # type: ignore[attr-defined]
    nlp.meta["name"] = PIPELINE_NAME
    nlp.meta["version"] = PIPELINE_VERSION
    nlp.meta["description"] = "Tokenizer and vocabulary entity ruler for the leg-cramp assistant"
    out.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    return nlp


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocabulary", type=Path, default=ROOT / "content" / "vocabulary.yml")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "spacy_pipeline")
    args = parser.parse_args()
    try:
        nlp = build(args.vocabulary, args.out)
    except ContentError as error:
        print(f"vocabulary error: {error}", file=sys.stderr)
        return 1
    count = len(nlp.get_pipe("entity_ruler"))  # type: ignore[arg-type]
    print(f"spaCy pipeline written to {args.out} ({count} patterns)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
