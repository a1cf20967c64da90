"""DIET's prediction call without TensorFlow's per-call argument matching.

Rasa 3.6's `RasaModel._rasa_predict` runs every message through a `tf.function`
with a fixed input signature. Each call makes TensorFlow match the arguments
against that signature in Python (canonicalizing them, building a type for the
function cache, casting every array): under load that was about 17% of a Rasa
worker's time, twice the time of the prediction itself (py-spy,
docs/performance.md, "Throughput").

`predict_directly` lets Rasa's own code make the first call (so the function is
traced exactly as Rasa traces it), then calls the one concrete function that
signature allows with the arrays converted to the signature's tensor types. A
batch whose number, types or shapes of arrays do not fit the signature goes
through Rasa's code as before. The outputs are post-processed as Rasa does.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Dict, List, Tuple

import tensorflow as tf
from keras.utils import tf_utils
from rasa.shared.constants import DIAGNOSTIC_DATA

Predict = Callable[[Any, Any], Dict[str, Any]]


class _Direct:
    """The concrete function of one model's prediction `tf.function`, and its signature."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.concrete = function.get_concrete_function()
        self.specs: List[tf.TensorSpec] = tf.nest.flatten(
            self.concrete.structured_input_signature)

    def call(self, batch_in: Any) -> Tuple[bool, Any]:
        """(True, outputs) of the concrete function, or (False, None) if the batch misfits."""
        flat = tf.nest.flatten(batch_in)
        if len(flat) != len(self.specs):
            return False, None
        tensors = []
        for value, spec in zip(flat, self.specs, strict=True):
            tensor = tf.convert_to_tensor(value, dtype=spec.dtype)
            if not spec.shape.is_compatible_with(tensor.shape):
                return False, None
            tensors.append(tensor)
        return True, self.concrete._call_flat(tensors, self.concrete.captured_inputs)


def predict_directly(original: Predict) -> Predict:
    """`RasaModel._rasa_predict`, calling the traced function directly after the first call.

    Args:
        original: Rasa's own `RasaModel._rasa_predict`.
    """
    directs: weakref.WeakKeyDictionary[Any, _Direct] = weakref.WeakKeyDictionary()

    def _rasa_predict(self: Any, batch_in: Any) -> Dict[str, Any]:
        direct = directs.get(self)
        if (direct is None or direct.function is not self._tf_predict_step
                or self._run_eagerly or not self.prepared_for_prediction):
            first = original(self, batch_in)
            if self._tf_predict_step is not None and not self._run_eagerly:
                directs[self] = _Direct(self._tf_predict_step)
            return first
        self._training = False
        fits, raw = direct.call(batch_in)
        if not fits:
            return original(self, batch_in)
        outputs: Dict[str, Any] = tf_utils.sync_to_numpy_or_python_type(raw)
        if DIAGNOSTIC_DATA in outputs:
            outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
        return outputs

    return _rasa_predict
