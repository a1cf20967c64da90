"""A graph runner that runs the model's nodes in order, without a scheduler.

Rasa 3.6 runs every prediction through `DaskGraphRunner`, which builds a fresh
dask graph, orders it and hands each node to dask's local scheduler on every
call. A turn runs the model's graph three times (NLU once, the policies twice:
the action, then `action_listen`), and for this assistant's small graphs that
scheduling took about a third of the time of a policy prediction (py-spy; see
docs/performance.md). Every node of Rasa's predict graphs runs synchronously,
and dask's `get` is itself single-threaded, so nothing is lost by running them
one after the other.

`run_in_order` is `DaskGraphRunner.run` for the same runner (same node
instances, same hooks and errors): it computes the execution order of a target
list once, caches it on the runner, and then calls the nodes in that order.
Inputs and outputs are passed exactly as dask passes them: each node receives
the `(name, output)` pairs of the nodes it needs, and an input is the pair
`(input_name, value)`.

`runtime.rasa_patches` puts it in place of `DaskGraphRunner.run`; being a method
of the class, it applies to runners already built, whichever entry point loaded
the model.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner

logger = logging.getLogger(__name__)


def execution_order(schema: GraphSchema, targets: List[str]) -> List[str]:
    """The nodes `targets` depend on (and the targets), each after the nodes it needs.

    Args:
        schema: The graph.
        targets: Names of the nodes whose outputs are wanted.

    Returns:
        Node names in an order where every node comes after all of its needs.
        Names that are not nodes (inputs such as `__message__`) are left out.

    Raises:
        GraphRunError: If the graph has a cycle.
    """
    order: List[str] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name not in schema.nodes:
            return
        if name in visiting:
            raise GraphRunError(f"The graph has a cycle through node '{name}'.")
        visiting.add(name)
        for needed in schema.nodes[name].needs.values():
            visit(needed)
        visiting.discard(name)
        done.add(name)
        order.append(name)

    for target in targets:
        visit(target)
    return order


def _order(runner: DaskGraphRunner, targets: List[str]) -> List[str]:
    """The cached execution order of `targets` in `runner`'s graph."""
    orders: Dict[Tuple[str, ...], List[str]] = runner.__dict__.setdefault(
        "_execution_orders", {})
    key = tuple(targets)
    order = orders.get(key)
    if order is None:
        order = execution_order(runner._graph_schema, targets)
        orders[key] = order
    return order


def run_in_order(runner: DaskGraphRunner, inputs: Optional[Dict[str, Any]] = None,
                 targets: Optional[List[str]] = None) -> Dict[str, Any]:
    """Runs the nodes `targets` need, in order, and returns the targets' outputs.

    Args:
        runner: The graph runner (its schema and instantiated nodes).
        inputs: Values for the graph's placeholders, e.g. `__message__`.
        targets: Nodes to compute; by default the schema's targets.

    Returns:
        Each target's name mapped to its output.

    Raises:
        GraphRunError: If an input is named like a node, or the graph has a cycle.
        GraphComponentException: If a component fails (raised by its node).
    """
    schema = runner._graph_schema
    run_targets = list(targets) if targets else schema.target_names
    results: Dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        # The check DaskGraphRunner makes (a string value would be read as a node
        # reference there), and the same for the name, which would replace a node.
        for clash in (name, value):
            if isinstance(clash, str) and clash in schema.nodes:
                raise GraphRunError(
                    f"Input value '{clash}' clashes with a node name. Make sure that "
                    f"none of the input names passed to the `run` method are the same "
                    f"as node names in the graph schema.")
        results[name] = (name, value)
    nodes = schema.nodes
    for name in _order(runner, run_targets):
        # A need that nothing provides is passed as its name, as dask does; the
        # node then reports it.
        arguments = [results.get(needed, needed) for needed in nodes[name].needs.values()]
        results[name] = runner._instantiated_nodes[name](*arguments)
    return dict(results[target] for target in run_targets)
