"""`RegistryHyperModel`: a keras-tuner HyperModel over the cell registry.

The space (from a spec's `[space]`) picks a registered cell by name, its
width, the depth of the stack, one- or bidirectional layers, dropout
between layers, the learning rate and gradient clipping. Every layer is
`keras.layers.RNN(keras_rnnzoo.get_cell(name)(units))`, so any cell
registered with `@keras_rnnzoo.register_cell` (users' own included) can be
searched.

Example:

>>> import keras_tuner
>>> from keras_rnnzoo.tuning.spec import Choice
>>> space = {"cell": Choice("cell", "str", values=["gru"]), "units": Choice("units", "int", values=[4]),
...          "depth": Choice("depth", "int", values=[2]), "bidirectional": Choice("bidirectional", "bool", values=[True]),
...          "dropout": Choice("dropout", "float", values=[0.1]),
...          "learning_rate": Choice("learning_rate", "float", values=[0.01]),
...          "clipnorm": Choice("clipnorm", "float", values=[1.0])}
>>> model = RegistryHyperModel(space, "classification", (5, 3), 2).build(keras_tuner.HyperParameters())
>>> model.output_shape
(None, 2)
"""

from __future__ import annotations

import keras
import keras_tuner

from keras_rnnzoo import registry
from keras_rnnzoo.tuning.spec import Choice
from keras_rnnzoo.tuning.tasks import head_and_loss


def declare(hp: keras_tuner.HyperParameters, choice: Choice):
    """Declare `choice` on `hp` and return its current value."""
    if choice.values is not None:
        if len(choice.values) == 1:
            return hp.Fixed(choice.name, choice.values[0])
        if choice.kind == "bool" and sorted(choice.values) == [False, True]:
            return hp.Boolean(choice.name)
        return hp.Choice(choice.name, choice.values)
    if choice.kind == "int":
        return hp.Int(choice.name, int(choice.min), int(choice.max), step=int(choice.step or 1), sampling=choice.sampling)
    return hp.Float(choice.name, choice.min, choice.max, step=choice.step, sampling=choice.sampling)


def _declare_all(hp: keras_tuner.HyperParameters, space: dict[str, Choice]) -> dict:
    return {name: declare(hp, choice) for name, choice in space.items()}


class RegistryHyperModel(keras_tuner.HyperModel):
    """Stacked recurrent models over registered cells, with a task head.

    Args:
        space: hyperparameter name -> `Choice` (see `keras_rnnzoo.tuning.spec`).
        task: "classification", "regression" or "forecasting".
        input_shape: `(timesteps, features)`.
        output_size: classes, or values predicted per sample.
        seed: seeds the weights of every built model, so that a trial's
            result depends on its hyperparameters only, not on trial order.
    """

    def __init__(self, space: dict[str, Choice], task: str, input_shape, output_size: int, seed: int = 0):
        super().__init__(name="rnnzoo_registry", tunable=True)
        self.space = space
        self.task = task
        self.input_shape = tuple(input_shape)
        self.output_size = int(output_size)
        self.seed = seed

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        values = _declare_all(hp, self.space)
        keras.utils.set_random_seed(self.seed)
        cell_class = registry.get_cell(values["cell"])
        inputs = keras.Input(self.input_shape, name="sequence")
        x = inputs
        depth = int(values["depth"])
        for index in range(depth):
            layer = keras.layers.RNN(
                cell_class(int(values["units"])),
                return_sequences=index < depth - 1,
                name=f"rnn_{index}",
            )
            if values["bidirectional"]:
                layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{index}")
            x = layer(x)
            if values["dropout"] > 0:
                x = keras.layers.Dropout(values["dropout"], seed=self.seed + index, name=f"dropout_{index}")(x)
        head, loss, metrics = head_and_loss(self.task, self.output_size)
        model = keras.Model(inputs, head(x), name=f"{values['cell']}_x{depth}")
        clipnorm = float(values["clipnorm"]) or None
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=float(values["learning_rate"]), clipnorm=clipnorm),
            loss=loss,
            metrics=metrics,
        )
        return model


class ZooHyperModel(keras_tuner.HyperModel):
    """A zoo model's own network (keyword spotter, captioner, forecaster) with searched cell and shape.

    Args:
        space: hyperparameter name -> `Choice`.
        data: the `TaskData` of a zoo task (`keras_rnnzoo.tuning.zoo_tasks`).
        seed: seeds the weights of every built model.
    """

    def __init__(self, space: dict[str, Choice], data, seed: int = 0):
        super().__init__(name=f"rnnzoo_{data.task}", tunable=True)
        self.space = space
        self.data = data
        self.seed = seed

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        from keras_rnnzoo.tuning.zoo_tasks import build_zoo_model

        values = _declare_all(hp, self.space)
        keras.utils.set_random_seed(self.seed)
        return build_zoo_model(values, self.data, seed=self.seed)
