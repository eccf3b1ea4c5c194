"""Bad arguments and inputs fail early with an error that names the value."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import keras_rnnzoo
from keras_rnnzoo import layers

LAYERS = {"SimpleRNN": layers.SimpleRNN, "LSTM": layers.LSTM, "GRU": layers.GRU}
CELLS = {
    "SimpleRNNCell": keras_rnnzoo.SimpleRNNCell,
    "LSTMCell": keras_rnnzoo.LSTMCell,
    "GRUCell": keras_rnnzoo.GRUCell,
}
ALL = {**LAYERS, **CELLS}
STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}


def _x(*shape, dtype="float32"):
    return np.zeros(shape, dtype=dtype)


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5), (4,)])
@pytest.mark.parametrize("name", list(LAYERS))
def test_wrong_input_rank_layer(name, shape):
    with pytest.raises(ValueError, match=r"ndim=3.*ndim=%d" % len(shape)):
        LAYERS[name](4)(_x(*shape))


@pytest.mark.parametrize("name", list(CELLS))
def test_wrong_input_rank_cell_in_rnn(name):
    """A cell inside `keras.layers.RNN` refuses 4-D sequences, naming the shape."""
    with pytest.raises(ValueError, match=re.escape("(2, 4, 5)")):
        keras.layers.RNN(CELLS[name](4))(_x(2, 3, 4, 5))


@pytest.mark.parametrize("name", list(CELLS))
def test_unknown_feature_size(name):
    with pytest.raises(ValueError, match="None"):
        CELLS[name](4).build((2, None))


@pytest.mark.parametrize("units", [0, -3, 2.5, "8", None, True, 4.0])
@pytest.mark.parametrize("name", list(ALL))
def test_bad_units(name, units):
    with pytest.raises(ValueError, match=re.escape(repr(units))) as error:
        ALL[name](units)
    assert "units" in str(error.value)


@pytest.mark.parametrize("units", [np.int64(3), 3])
def test_integer_like_units_accepted(units):
    layer = layers.LSTM(units)
    assert layer.units == 3 and isinstance(layer.units, int)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "uint8"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_non_float_sequences(name, dtype):
    x = _x(2, 3, 4, dtype=dtype)
    # The dtype the layer sees (JAX without x64 turns int64 into int32).
    seen = keras.backend.standardize_dtype(keras.ops.convert_to_tensor(x).dtype)
    with pytest.raises(TypeError, match=seen):
        LAYERS[name](4)(x)


@pytest.mark.parametrize("name", list(CELLS))
def test_non_float_sequences_cell_in_rnn(name):
    with pytest.raises(TypeError, match="int32"):
        keras.layers.RNN(CELLS[name](4))(_x(2, 3, 4, dtype="int32"))


def test_symbolic_integer_input():
    with pytest.raises(TypeError, match="int32"):
        layers.GRU(4)(keras.Input((3, 4), dtype="int32"))


@pytest.mark.parametrize("bad", ["lstmm", "Gru", "transformer"])
def test_unknown_cell_name(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))) as error:
        keras_rnnzoo.get_cell(bad)
    assert "gru, " in str(error.value) or "gru" in str(error.value).split("cells:")[-1]


@pytest.mark.parametrize("name", list(LAYERS))
def test_initial_state_wrong_width(name):
    count = STATES[name]
    states = [np.zeros((2, 4), "float32") for _ in range(count)]
    states[-1] = np.zeros((2, 7), "float32")
    with pytest.raises(ValueError, match=re.escape("(2, 7)")) as error:
        LAYERS[name](4)(_x(2, 3, 5), initial_state=states)
    assert "initial_state" in str(error.value)


@pytest.mark.parametrize("name", list(LAYERS))
def test_initial_state_wrong_count(name):
    count = STATES[name] + 1
    states = [np.zeros((2, 4), "float32") for _ in range(count)]
    with pytest.raises(ValueError, match=f"{count} tensor"):
        LAYERS[name](4)(_x(2, 3, 5), initial_state=states)


def test_initial_state_too_few_for_lstm():
    with pytest.raises(ValueError, match="1 tensor"):
        layers.LSTM(4)(_x(2, 3, 5), initial_state=[np.zeros((2, 4), "float32")])


@pytest.mark.parametrize("name", list(LAYERS))
def test_initial_state_wrong_batch_or_rank(name):
    count = STATES[name]
    states = [np.zeros((3, 4), "float32")] * count
    with pytest.raises(ValueError, match=re.escape("(3, 4)")):
        LAYERS[name](4)(_x(2, 3, 5), initial_state=states)
    states = [np.zeros((2, 1, 4), "float32")] * count
    with pytest.raises(ValueError, match=re.escape("(2, 1, 4)")):
        LAYERS[name](4)(_x(2, 3, 5), initial_state=states)


def test_initial_state_wrong_width_symbolic():
    with pytest.raises(ValueError, match=re.escape("(None, 6)")):
        layers.GRU(4)(keras.Input((3, 5)), initial_state=[keras.Input((6,))])


@pytest.mark.parametrize("name", list(CELLS))
def test_cell_state_wrong_width(name):
    cell = CELLS[name](4)
    count = 2 if name == "LSTMCell" else 1
    states = [np.zeros((2, 4), "float32") for _ in range(count)]
    states[0] = np.zeros((2, 9), "float32")
    with pytest.raises(ValueError, match=re.escape("(2, 9)")):
        cell(np.zeros((2, 5), "float32"), states)


@pytest.mark.parametrize("argument", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", True, None, float("nan")])
@pytest.mark.parametrize("name", list(ALL))
def test_bad_dropout_rate(name, argument, rate):
    with pytest.raises(ValueError, match=re.escape(repr(rate))) as error:
        ALL[name](4, **{argument: rate})
    assert argument in str(error.value)


def test_unknown_keyword_argument():
    with pytest.raises(ValueError, match="not_an_argument"):
        layers.LSTM(4, not_an_argument=3)


def test_bad_activation_names_value():
    with pytest.raises(ValueError, match="no_such_activation"):
        layers.GRU(4, activation="no_such_activation")


def test_use_cudnn_is_accepted_like_keras_but_true_is_refused():
    from keras_rnnzoo import layers

    assert layers.LSTM(3, use_cudnn="auto").units == 3
    assert layers.GRU(3, use_cudnn=False).units == 3
    with pytest.raises(ValueError, match="use_cudnn.*True"):
        layers.LSTM(3, use_cudnn=True)
