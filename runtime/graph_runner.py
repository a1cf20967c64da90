"""A graph runner that runs the model's nodes in order, without a scheduler.

Rasa 3.6 runs every prediction through `DaskGraphRunner`, which builds a fresh
dask graph, orders it and hands each node to dask's local scheduler on every
call. A turn runs the model's graph three times (NLU once, the policies twice:
the action, then `action_listen`), and for this assistant's small graphs that
scheduling took about a third of the time of a policy prediction (py-spy; see
docs/performance.md). Every node of Rasa's predict graphs runs synchronously,
and dask's `get` is itself single-threaded, so nothing is lost by running them
one after the other.

`SequentialGraphRunner` is a `DaskGraphRunner` (same construction, same node
instances, same hooks and errors) whose `run` computes the execution order of a
target list once, caches it, and then calls the nodes in that order. Inputs and
outputs are passed exactly as dask passes them: each node receives the
`(name, output)` pairs of the nodes it needs, and an input is the pair
`(input_name, value)`.

`install()` makes Rasa's model loader (`rasa.core.processor`) use it. It is
called by `connectors.resilience.install()`, so by every `rasa run` whose
credentials name the project's REST channel, on Rasa 3.6 only.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, List, Optional, Tuple

import rasa.core.processor
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


class SequentialGraphRunner(DaskGraphRunner):
    """`DaskGraphRunner` that calls the nodes itself, in a cached topological order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Builds the nodes as `DaskGraphRunner` does (see there for the arguments)."""
        super().__init__(*args, **kwargs)
        self._orders: Dict[Tuple[str, ...], List[str]] = {}

    def _order(self, targets: List[str]) -> List[str]:
        key = tuple(targets)
        order = self._orders.get(key)
        if order is None:
            order = execution_order(self._graph_schema, targets)
            self._orders[key] = order
        return order

    def run(self, inputs: Optional[Dict[str, Any]] = None,
            targets: Optional[List[str]] = None) -> Dict[str, Any]:
        """Runs the nodes `targets` need, in order, and returns the targets' outputs.

        Args:
            inputs: Values for the graph's placeholders, e.g. `__message__`.
            targets: Nodes to compute; by default the schema's targets.

        Returns:
            Each target's name mapped to its output.

        Raises:
            GraphRunError: If an input is named like a node, or the graph has a cycle.
            GraphComponentException: If a component fails (raised by its node).
        """
        run_targets = list(targets) if targets else self._graph_schema.target_names
        results: Dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            # The check DaskGraphRunner makes (a string value would be read as a node
            # reference there), and the same for the name, which would replace a node.
            for clash in (name, value):
                if isinstance(clash, str) and clash in self._graph_schema.nodes:
                    raise GraphRunError(
                        f"Input value '{clash}' clashes with a node name. Make sure that "
                        f"none of the input names passed to the `run` method are the same "
                        f"as node names in the graph schema.")
            results[name] = (name, value)
        nodes = self._graph_schema.nodes
        for name in self._order(run_targets):
            # A need that nothing provides is passed as its name, as dask does; the
            # node then reports it.
            arguments = [results.get(needed, needed) for needed in nodes[name].needs.values()]
            results[name] = self._instantiated_nodes[name](*arguments)
        return dict(results[target] for target in run_targets)


_install_lock = threading.Lock()


def install() -> None:
    """Makes Rasa load models (at start and on `PUT /model`) with `SequentialGraphRunner`."""
    with _install_lock:
        if rasa.core.processor.DaskGraphRunner is not SequentialGraphRunner:
            rasa.core.processor.DaskGraphRunner = SequentialGraphRunner  # type: ignore
            logger.debug("Models run with the sequential graph runner.")
