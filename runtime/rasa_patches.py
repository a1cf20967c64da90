"""The one place where this project replaces Rasa's own code (Rasa 3.6.21).

Everything else extends Rasa through its extension points (components and
policies named in config.yml, tracker and lock stores, channels, actions). The
changes below have no such point. Each is listed in `PATCHES` with what it
replaces and why; the code it installs lives beside this module
(`runtime.action_calls`), and only this module assigns to Rasa's objects. Each
was kept because a side-by-side measurement showed it pays, or because users
need what it does (docs/performance.md).

`install()` is the one call that puts them in place. It is made by the
`components.rasa_runtime.RasaRuntime` component at the head of the NLU
pipeline, when a model is created or loaded, so the changes are in force in
every process that loads the model (`rasa run`, `rasa shell`, `rasa test`,
`Agent.load`, `make run`), whichever channels are configured. Written for Rasa
3.6 only: on another version nothing is installed, with a warning.

For side-by-side measurements (tools/load_benchmark.py), `$RASA_PATCHES` may
name the changes to install (comma-separated, or `none`); unset means all.
Tests compare each change with stock Rasa through `uninstall()`.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import rasa
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig
from rasa.utils.tensorflow.models import RasaModel

from runtime import action_calls, model_loading, predict_calls

logger = logging.getLogger(__name__)

#: The Rasa version these changes were written against (and tested with).
WRITTEN_FOR = "3.6.21"
#: `$RASA_PATCHES`: which changes to install (unset: all).
SELECTION_VARIABLE = "RASA_PATCHES"


@dataclass(frozen=True)
class Patch:
    """One replaced Rasa attribute.

    Attributes:
        name: Short name, as `$RASA_PATCHES` gives it.
        owner: The Rasa class whose attribute is replaced.
        attribute: The attribute's name.
        why: What the change is for.
    """

    name: str
    owner: type
    attribute: str
    why: str


PATCHES: Tuple[Patch, ...] = (
    Patch("action_server_fallback", RemoteAction, "run",
          "The 'having trouble' answer with the disclaimer, instead of silence, when "
          "the action server fails (runtime/action_calls.py)."),
    Patch("response_validation", RemoteAction, "_validate_action_result",
          "Validates each returned event against its own schema, not all 23 "
          "(runtime/action_calls.py)."),
    Patch("pooled_sessions", EndpointConfig, "session",
          "Reuses connections to the action server instead of one per call "
          "(runtime/action_calls.py)."),
    Patch("lean_model_load", RasaModel, "load",
          "Loads DIET for predictions without Rasa's one-example training step: faster "
          "start-up, no optimizer state in memory (runtime/model_loading.py)."),
    Patch("direct_predict", RasaModel, "_rasa_predict",
          "Calls DIET's traced prediction function directly, without TensorFlow's "
          "per-call argument matching (runtime/predict_calls.py)."),
)
#: Changes measured and removed because their gain did not show beyond the
#: run-to-run spread (docs/performance.md, "Changes to Rasa's internals"):
#: `graph_runner` (DaskGraphRunner.run in a cached order, without dask) and
#: `event_class_cache` (Event.resolve_by_type from a cache). The project's tracker
#: store still reads its own events through a cached lookup.

_lock = threading.Lock()
#: Rasa's own attribute values, by patch name, while a patch is installed.
_originals: Dict[str, Any] = {}


def _replacement(patch: Patch, original: Any) -> Any:
    """What `install()` puts in place of `original` for `patch`."""
    if patch.name == "action_server_fallback":
        return action_calls.run_with_fallback(original)
    if patch.name == "response_validation":
        return action_calls.validate_action_result(action_calls.ResponseValidator(),
                                                   original)
    if patch.name == "pooled_sessions":
        return action_calls.pooled_session
    if patch.name == "lean_model_load":
        return model_loading.load_for_prediction(original)
    if patch.name == "direct_predict":
        return predict_calls.predict_directly(original)
    raise ValueError(f"unknown patch {patch.name!r}")


def selected(value: Optional[str] = None) -> List[Patch]:
    """The patches `value` (default: `$RASA_PATCHES`) names; all when unset.

    Raises:
        ValueError: If it names a patch that does not exist.
    """
    if value is None:
        value = os.environ.get(SELECTION_VARIABLE)
    if value is None or value.strip() in ("", "all"):
        return list(PATCHES)
    if value.strip() == "none":
        return []
    names = [name.strip() for name in value.split(",") if name.strip()]
    known = {patch.name: patch for patch in PATCHES}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"${SELECTION_VARIABLE} names unknown changes {unknown}; "
                         f"known: {sorted(known)}")
    return [known[name] for name in names]


def install(patches: Optional[List[Patch]] = None) -> List[str]:
    """Puts the selected changes in place, once per process.

    Args:
        patches: The changes to install; by default those `$RASA_PATCHES` selects.

    Returns:
        The names of the changes in place after the call.
    """
    if not rasa.__version__.startswith("3.6."):
        logger.warning("runtime.rasa_patches: Rasa %s is not 3.6 (written for %s); "
                       "nothing is changed.", rasa.__version__, WRITTEN_FOR)
        return []
    with _lock:
        for patch in selected() if patches is None else patches:
            if patch.name in _originals:
                continue
            original = patch.owner.__dict__[patch.attribute]
            function = (original.__func__ if isinstance(original, staticmethod | classmethod)
                        else original)
            setattr(patch.owner, patch.attribute, _replacement(patch, function))
            _originals[patch.name] = original
        return sorted(_originals)


def uninstall() -> None:
    """Puts Rasa's own code back (for comparisons with stock Rasa)."""
    with _lock:
        for patch in PATCHES:
            original = _originals.pop(patch.name, None)
            if original is not None:
                setattr(patch.owner, patch.attribute, original)


def installed() -> List[str]:
    """The names of the changes in place now."""
    return sorted(_originals)


def original(name: str) -> Callable[..., Any]:
    """Rasa's own function for the attribute patch `name` replaces."""
    patch = next(patch for patch in PATCHES if patch.name == name)
    value = _originals.get(name, patch.owner.__dict__[patch.attribute])
    return (value.__func__ if isinstance(value, staticmethod | classmethod)  # type: ignore
            else value)  # type: ignore[no-any-return]
