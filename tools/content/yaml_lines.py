"""YAML with line numbers: PyYAML's node tree next to the plain data.

`LocatedYaml.read(path)` parses a file once into its node tree (which keeps
where every key and value starts) and the ordinary Python data, so checks can
point at `file:line`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

#: libyaml's safe loader when available (much faster), else PyYAML's.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlFileError(ValueError):
    """A file that is missing or is not valid YAML, with the line at fault."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        """Builds the error.

        Args:
            path: The file.
            line: The 1-based line at fault (1 when unknown).
            problem: What is wrong, in plain words.
        """
        self.path = path
        self.line = line
        self.problem = problem
        super().__init__(f"{path}:{line}: {problem}")


@dataclass(frozen=True)
class LocatedYaml:
    """A parsed YAML file: its data, its node tree and its lines of text."""

    path: Path
    data: Any
    node: Optional[yaml.Node]
    lines: Sequence[str]

    @classmethod
    def read(cls, path: Path) -> LocatedYaml:
        """Parses `path`.

        Raises:
            YamlFileError: the file is missing, unreadable or not valid YAML.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise YamlFileError(path, 1, "file is missing") from None
        except (OSError, UnicodeDecodeError) as error:
            raise YamlFileError(path, 1, f"cannot be read ({error})") from None
        try:
            node = yaml.compose(text, Loader=_LOADER)
            data = yaml.load(text, Loader=_LOADER)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else 1
            problem = " ".join(str(error.problem or error).split())
            raise YamlFileError(path, line, f"not valid YAML: {problem}") from None
        except yaml.YAMLError as error:
            raise YamlFileError(path, 1, f"not valid YAML: {error}") from None
        return cls(path, data, node, text.splitlines())

    def line_of(self, dotted: str = "-", default: int = 1) -> int:
        """The 1-based line of the key `a.b.c` (or the deepest part of it found).

        Args:
            dotted: Keys separated by dots; `-` means the whole file.
            default: The line returned when not even the first key is found.
        """
        if dotted in ("", "-") or self.node is None:
            return default
        node: Optional[yaml.Node] = self.node
        line = default
        for part in dotted.split("."):
            if not isinstance(node, yaml.MappingNode):
                break
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and str(key.value) == part:
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                break
        return line

    def value_node(self, key: str) -> Optional[yaml.Node]:
        """The node of a top-level key's value, if the file is a mapping holding it."""
        if isinstance(self.node, yaml.MappingNode):
            for key_node, value in self.node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == key \
                        and isinstance(value, yaml.Node):
                    return value
        return None


def node_line(node: yaml.Node) -> int:
    """The 1-based line where a node starts."""
    return int(node.start_mark.line) + 1
