"""The order in which the sequential graph runner calls a graph's nodes."""

from __future__ import annotations

from typing import Dict

import pytest
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema, SchemaNode
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer

from runtime.graph_runner import execution_order


def schema(needs: Dict[str, Dict[str, str]]) -> GraphSchema:
    """A graph whose nodes need the given nodes (the component class is never built)."""
    return GraphSchema({name: SchemaNode(needs=node_needs, uses=WhitespaceTokenizer,
                                         constructor_name="create", fn="process", config={})
                        for name, node_needs in needs.items()})


def test_every_node_comes_after_the_nodes_it_needs() -> None:
    graph = schema({"classify": {"messages": "featurize", "extra": "tokenize"},
                    "featurize": {"messages": "tokenize"},
                    "tokenize": {"messages": "__message__"},
                    "unused": {"messages": "tokenize"}})
    order = execution_order(graph, ["classify"])
    assert order == ["tokenize", "featurize", "classify"]  # no input, no unneeded node


def test_nodes_shared_by_several_targets_run_once() -> None:
    graph = schema({"a": {}, "b": {"x": "a"}, "c": {"x": "a"}})
    assert execution_order(graph, ["b", "c"]) == ["a", "b", "c"]


def test_a_cycle_is_refused() -> None:
    graph = schema({"a": {"x": "b"}, "b": {"x": "a"}})
    with pytest.raises(GraphRunError, match="cycle"):
        execution_order(graph, ["a"])
