"""Reading the NLU data, the domain's intents and the rules, with file and line.

Rasa's own loader drops line numbers, so this module reads the same files with
`yaml_lines` and keeps where every example was written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set

import yaml

from tools.content.yaml_lines import LocatedYaml, node_line

_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")
_APOSTROPHES = re.compile(r"['\u2019`]")
_PUNCTUATION = re.compile(r"[^\w\s]|_")


@dataclass(frozen=True)
class Example:
    """One training or test message, where it was written and its intent."""

    text: str
    intent: str
    path: Path
    line: int


def plain_text(example: str) -> str:
    """Removes entity annotations: `[pregnant](group)` becomes `pregnant`."""
    return _ANNOTATION.sub(r"\1", example).strip()


def normalise(text: str) -> str:
    """The form in which two messages count as the same.

    Lower case, entity annotations removed, apostrophes dropped ("what's" and
    "whats" match), other punctuation turned into spaces, whitespace collapsed.
    """
    text = _APOSTROPHES.sub("", plain_text(text).lower())
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def duplicate_key(text: str) -> str:
    """`normalise(text)`, or for text that is only emoji or punctuation, the text itself.

    Two messages with the same key count as the same message: `make check` and
    `make evaluate` both use it to find held-out messages that were trained on.
    """
    return normalise(text) or " ".join(text.split())


def yaml_files(folder: Path) -> List[Path]:
    """The `.yml`/`.yaml` files under a folder (or the file itself), sorted."""
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def _block_examples(doc: LocatedYaml, node: yaml.ScalarNode, intent: str) -> Iterator[Example]:
    """Examples written as a `|` block: one `- text` line each."""
    cursor = node_line(node) - 1  # 0-based index of the line holding `examples: |`
    for raw in str(node.value).splitlines():
        item = raw.strip()
        if item.startswith("-"):
            item = item[1:].strip()
        if not item:
            continue
        line = node_line(node)
        for index in range(cursor, len(doc.lines)):
            written = doc.lines[index].strip()
            if written.startswith("-") and written[1:].strip() == item:
                line, cursor = index + 1, index + 1
                break
        yield Example(plain_text(item), intent, doc.path, line)


def _list_examples(doc: LocatedYaml, node: yaml.SequenceNode, intent: str) -> Iterator[Example]:
    """Examples written as a list of `- text: ...` mappings (with metadata)."""
    for item in node.value:
        if isinstance(item, yaml.MappingNode):
            for key, value in item.value:
                if key.value == "text" and isinstance(value, yaml.ScalarNode):
                    yield Example(plain_text(str(value.value)), intent, doc.path,
                                  node_line(value))
        elif isinstance(item, yaml.ScalarNode):
            yield Example(plain_text(str(item.value)), intent, doc.path, node_line(item))


def examples_in(doc: LocatedYaml) -> List[Example]:
    """Every intent example in one parsed NLU file, in file order."""
    found: List[Example] = []
    nlu = doc.value_node("nlu")
    if not isinstance(nlu, yaml.SequenceNode):
        return found
    for item in nlu.value:
        if not isinstance(item, yaml.MappingNode):
            continue
        fields = {str(k.value): v for k, v in item.value if isinstance(k, yaml.ScalarNode)}
        intent_node = fields.get("intent")
        examples = fields.get("examples")
        if not isinstance(intent_node, yaml.ScalarNode) or examples is None:
            continue
        intent = str(intent_node.value)
        if isinstance(examples, yaml.ScalarNode):
            found.extend(_block_examples(doc, examples, intent))
        elif isinstance(examples, yaml.SequenceNode):
            found.extend(_list_examples(doc, examples, intent))
    return found


def domain_intents(domain: LocatedYaml) -> Dict[str, int]:
    """The domain's intents and the line each is declared on."""
    intents: Dict[str, int] = {}
    listed = domain.value_node("intents")
    if not isinstance(listed, yaml.SequenceNode):
        return intents
    for item in listed.value:
        if isinstance(item, yaml.ScalarNode):
            intents[str(item.value)] = node_line(item)
        elif isinstance(item, yaml.MappingNode) and item.value:
            key = item.value[0][0]
            intents[str(key.value)] = node_line(key)
    return intents


def _step_intents(steps: Any) -> Iterator[str]:
    if not isinstance(steps, list):
        return
    for step in steps:
        if not isinstance(step, dict):
            continue
        if isinstance(step.get("intent"), str):
            yield step["intent"]
        yield from _step_intents(step.get("or"))


def dialogue_intents(files: Sequence[LocatedYaml]) -> Set[str]:
    """Intents that some rule or story in these files responds to."""
    intents: Set[str] = set()
    for doc in files:
        if not isinstance(doc.data, dict):
            continue
        for section in ("rules", "stories"):
            for item in doc.data.get(section) or []:
                if isinstance(item, dict):
                    intents.update(_step_intents(item.get("steps")))
    return intents


def _section_messages(doc: LocatedYaml, sections: Sequence[str]) -> List[Example]:
    """The `text` (and each of the `turns`) of every item of the named list sections."""
    found: List[Example] = []
    for section in sections:
        listed: Optional[yaml.Node] = doc.value_node(section)
        if not isinstance(listed, yaml.SequenceNode):
            continue
        for item in listed.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            for key, value in item.value:
                if key.value == "text" and isinstance(value, yaml.ScalarNode):
                    found.append(Example(str(value.value), section, doc.path, node_line(value)))
                elif key.value == "turns" and isinstance(value, yaml.SequenceNode):
                    found.extend(Example(str(turn.value), section, doc.path, node_line(turn))
                                 for turn in value.value if isinstance(turn, yaml.ScalarNode))
    return found


def red_flag_messages(doc: LocatedYaml) -> List[Example]:
    """The messages of tests/safety/red_flag_phrasings.yml, both lists."""
    return _section_messages(doc, ("red_flags", "not_red_flags"))


def evaluation_set_messages(doc: LocatedYaml) -> List[Example]:
    """Every user message of an end-to-end evaluation set (tests/blind/, tests/dev/)."""
    return _section_messages(doc, ("single_turn", "out_of_scope", "red_flags", "follow_ups"))
