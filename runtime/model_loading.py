"""Loading a trained TensorFlow model (DIET) for predictions, without a training step.

Rasa 3.6's `RasaModel.load` builds the model's weights by training it on one
example (`model.fit` on a batch of one), then overwrites them with the trained
weights and traces the prediction function. That one training step traces the
whole training graph (forward, loss and gradients) and creates the optimizer's
two slot variables per weight, which the server never uses: about a third of a
worker's model loading time and 190 MB of its memory on this project's model
(docs/performance.md, "Start-up").

`load_for_prediction` reads the trained weights first: TensorFlow checkpoints
restore a variable the moment it is created, so the prediction that Rasa runs
anyway to trace the prediction function creates exactly the weights a
prediction needs, with their trained values. It then checks that every weight
created has a value from the checkpoint; should one have none, the model is
loaded again the stock way (with a warning). Loading to fine-tune, or without
an example to predict on, always takes the stock way.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

logger = logging.getLogger(__name__)

#: The stock `RasaModel.load` function (the `classmethod`'s own function).
Load = Callable[..., Any]


def load_for_prediction(original: Load) -> classmethod:  # type: ignore[type-arg]
    """`RasaModel.load` that skips the training step when the model is loaded to predict.

    Args:
        original: Rasa's own `RasaModel.load` function (unwrapped from its classmethod).

    Returns:
        The replacement, a classmethod with Rasa's signature.
    """

    def load(cls: Any, /, model_file_name: str, model_data_example: Any,
             predict_data_example: Optional[Any] = None, finetune_mode: bool = False,
             *args: Any, **kwargs: Any) -> Any:
        if finetune_mode or not predict_data_example:
            return original(cls, model_file_name, model_data_example, predict_data_example,
                            finetune_mode, *args, **kwargs)
        model = cls(*args, **kwargs)
        # What `model.compile` would set for predictions (no optimizer is needed).
        model._run_eagerly = kwargs.get("config", {}).get("run_eagerly")
        status = model.load_weights(model_file_name)
        # Creates the weights a prediction uses (restored from the checkpoint as they
        # are created) and traces the prediction function, as Rasa does after loading.
        model.run_inference(predict_data_example)
        try:
            status.assert_existing_objects_matched()
        except AssertionError as error:
            logger.warning("Some weights of %s got no value from %s (%s); loading it the "
                           "stock way.", cls.__name__, model_file_name, error)
            return original(cls, model_file_name, model_data_example, predict_data_example,
                            finetune_mode, *args, **kwargs)
        logger.debug("Loaded %s for predictions without a training step.", cls.__name__)
        return model

    return classmethod(load)
