"""Recurrent cells that Keras does not ship, each after its paper.

Every cell here is written with `keras.ops` only, so it runs on TensorFlow,
JAX and PyTorch; supports input / recurrent dropout with one mask per
sequence, masking, `stateful=True`, `Bidirectional` and mixed precision
(weights in float32, arithmetic in the layer's compute dtype); and
round-trips through `get_config` / `from_config`.

| registry name      | class               | reference                          |
|--------------------|---------------------|------------------------------------|
| `peephole_lstm`    | `PeepholeLSTMCell`  | Gers & Schmidhuber 2000            |
| `cifg_lstm`        | `CIFGLSTMCell`      | Greff et al. 2017                  |
| `layer_norm_lstm`  | `LayerNormLSTMCell` | Ba, Kiros & Hinton 2016            |
| `layer_norm_gru`   | `LayerNormGRUCell`  | Ba, Kiros & Hinton 2016            |
| `mgu`              | `MGUCell`           | Zhou et al. 2016                   |
| `indrnn`           | `IndRNNCell`        | Li et al. 2018                     |
| `lstmp`            | `LSTMPCell`         | Sak, Senior & Beaufays 2014        |
"""

from __future__ import annotations

import numbers

import keras
from keras import constraints, initializers, ops, regularizers

from keras_rnnzoo.cells.base import GatedCell, RecurrentCell, check_units
from keras_rnnzoo.cells.gru import GRUCell
from keras_rnnzoo.cells.lstm import LSTMCell
from keras_rnnzoo.registry import register_cell

__all__ = [
    "CIFGLSTMCell",
    "IndRNNCell",
    "LSTMPCell",
    "LayerNormGRUCell",
    "LayerNormLSTMCell",
    "MGUCell",
    "PeepholeLSTMCell",
]


# --------------------------------------------------------------------- helpers
def block_layer_norm(z, blocks: int, gamma, epsilon: float, beta=None):
    """Layer-normalize each of the `blocks` equal slices of `z`'s last axis.

    `z` has shape `(batch, blocks * units)`; each `(batch, units)` slice is
    standardized over its own units (statistics in float32, so that float16
    inputs neither overflow nor lose the variance), then scaled by `gamma` and
    shifted by `beta` (both `(blocks * units,)`, or `None` for no shift) in
    the compute dtype of `z`.
    """
    dtype = z.dtype
    width = z.shape[-1]
    units = width // blocks
    if keras.backend.backend() == "torch":
        # PyTorch's fused layer-norm kernel (also float32 statistics): a layer-norm LSTM
        # training step 288 -> 207 ms (plain LSTM 57 ms). On JAX and TensorFlow the
        # same op measured slower than the two passes below.
        normalized = ops.layer_normalization(ops.reshape(z, (-1, blocks, units)), epsilon=epsilon)
    else:
        x = ops.cast(ops.reshape(z, (-1, blocks, units)), "float32")
        mean = ops.mean(x, axis=-1, keepdims=True)
        centered = x - mean
        variance = ops.mean(ops.square(centered), axis=-1, keepdims=True)
        normalized = centered * ops.rsqrt(variance + epsilon)
    out = ops.cast(ops.reshape(normalized, (-1, width)), dtype) * gamma
    if beta is not None:
        out = out + beta
    return out


def _check_positive_number(value, name: str, owner: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{owner} expects `{name}` to be a positive number; got {value!r}.")


class _LayerNormMixin:
    """Arguments, weights and config shared by the layer-normalized cells."""

    def _init_layer_norm(self, epsilon, gamma_initializer, gamma_regularizer):
        _check_positive_number(epsilon, "epsilon", type(self).__name__)
        self.epsilon = float(epsilon)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def _add_gamma(self, name: str, width: int):
        return self.add_weight(
            shape=(width,),
            name=name,
            initializer=self.gamma_initializer,
            regularizer=self.gamma_regularizer,
        )

    def _layer_norm_config(self):
        return {
            "epsilon": self.epsilon,
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }


# ------------------------------------------------------------------ peephole
@register_cell("peephole_lstm")
class PeepholeLSTMCell(LSTMCell):
    """LSTM cell with peephole connections (Gers & Schmidhuber 2000).

    The gates also look at the cell state, through diagonal (element-wise)
    peephole weights `p_i`, `p_f`, `p_o` (weights `input_peephole`,
    `forget_peephole`, `output_peephole`, each of shape `(units,)`). The input
    and forget gates see the previous cell state, the output gate the new one:

        i = σ(x W_i + h_{t-1} U_i + p_i * c_{t-1} + b_i)
        f = σ(x W_f + h_{t-1} U_f + p_f * c_{t-1} + b_f)
        g = tanh(x W_c + h_{t-1} U_c + b_c)
        c_t = f * c_{t-1} + i * g
        o = σ(x W_o + h_{t-1} U_o + p_o * c_t + b_o)
        h_t = o * tanh(c_t)

    `kernel`, `recurrent_kernel` and `bias` have the shapes and gate order
    (`i, f, c, o`) of `LSTMCell` / `keras.layers.LSTMCell`, so LSTM weights
    copy across; with zero peepholes the cell is exactly an LSTM.
    States: `[h, c]`.

    Args:
        units: positive integer, width of `h` and `c`.
        peephole_initializer: initializer of the three peephole vectors
            (default `"glorot_uniform"`, as TF's `PeepholeLSTMCell`).
        peephole_regularizer, peephole_constraint: regularizer / constraint of
            the peephole vectors.
        unit_forget_bias, activation, recurrent_activation, use_bias,
        initializers, regularizers, constraints, dropout, recurrent_dropout,
        seed: as in `LSTMCell`.

    Example:

    >>> import numpy as np, keras
    >>> layer = keras.layers.RNN(PeepholeLSTMCell(4), return_state=True)
    >>> output, h, c = layer(np.zeros((2, 5, 3), "float32"))
    >>> tuple(output.shape), tuple(c.shape)
    ((2, 4), (2, 4))

    Reference: F. A. Gers and J. Schmidhuber, "Recurrent Nets that Time and
    Count", IJCNN 2000; F. A. Gers, N. N. Schraudolph and J. Schmidhuber,
    "Learning Precise Timing with LSTM Recurrent Networks", JMLR 2002.
    """

    def __init__(
        self,
        units: int,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.peephole_initializer = initializers.get(peephole_initializer)
        self.peephole_regularizer = regularizers.get(peephole_regularizer)
        self.peephole_constraint = constraints.get(peephole_constraint)

    def build(self, input_shape):
        super().build(input_shape)
        for gate in ("input", "forget", "output"):
            setattr(
                self,
                f"{gate}_peephole",
                self.add_weight(
                    shape=(self.units,),
                    name=f"{gate}_peephole",
                    initializer=self.peephole_initializer,
                    regularizer=self.peephole_regularizer,
                    constraint=self.peephole_constraint,
                ),
            )

    def call(self, inputs, states, training=False):
        h_previous, c_previous = states[0], states[1]
        self.check_step(inputs, states)
        z = self.gate_preactivations(inputs, h_previous, training)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i + self.input_peephole * c_previous)
        f = self.recurrent_activation(z_f + self.forget_peephole * c_previous)
        c = f * c_previous + i * self.activation(z_c)
        o = self.recurrent_activation(z_o + self.output_peephole * c)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {
            **super().get_config(),
            "peephole_initializer": initializers.serialize(self.peephole_initializer),
            "peephole_regularizer": regularizers.serialize(self.peephole_regularizer),
            "peephole_constraint": constraints.serialize(self.peephole_constraint),
        }


# ---------------------------------------------------------------------- CIFG
@register_cell("cifg_lstm")
class CIFGLSTMCell(LSTMCell):
    """LSTM with a coupled input and forget gate, "CIFG" (Greff et al. 2017).

    One gate decides both how much of the candidate to write and how much of
    the old cell state to keep, `f = 1 - i`, which saves a quarter of the
    LSTM's weights. Three fused blocks in the order `i, c, o`:

        i = σ(x W_i + h_{t-1} U_i + b_i)
        f = 1 - i
        g = tanh(x W_c + h_{t-1} U_c + b_c)
        o = σ(x W_o + h_{t-1} U_o + b_o)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Shapes: `kernel` `(input_dim, 3 * units)`, `recurrent_kernel`
    `(units, 3 * units)`, `bias` `(3 * units,)`. States: `[h, c]`.

    Args:
        units: positive integer, width of `h` and `c`.
        unit_forget_bias: the counterpart of LSTM's unit forget bias: the
            input-gate bias starts at `bias_initializer - 1`, so that with
            the logistic sigmoid `f = 1 - σ(z_i) = σ(-z_i)` starts near
            `σ(1)` as an LSTM's forget gate does (default `True`).
        activation, recurrent_activation, use_bias, initializers,
        regularizers, constraints, dropout, recurrent_dropout, seed: as in
        `LSTMCell`.

    Example:

    >>> import numpy as np, keras
    >>> cell = CIFGLSTMCell(4)
    >>> tuple(keras.layers.RNN(cell)(np.zeros((2, 5, 3), "float32")).shape)
    (2, 4)
    >>> tuple(cell.kernel.shape)
    (3, 12)

    Reference: K. Greff, R. K. Srivastava, J. Koutník, B. R. Steunebrink and
    J. Schmidhuber, "LSTM: A Search Space Odyssey", IEEE TNNLS 2017 (variant
    "CIFG").
    """

    gates = 3

    def _forget_bias_initializer(self):
        """Bias initializer that subtracts 1 from the input-gate block (block 0)."""
        base = self.bias_initializer
        units = self.units

        def initializer(shape, dtype=None):
            blocks = [
                base((units,), dtype=dtype) - initializers.Ones()((units,), dtype=dtype),
                base((shape[0] - units,), dtype=dtype),
            ]
            return ops.concatenate(blocks)

        return initializer

    def call(self, inputs, states, training=False):
        h_previous, c_previous = states[0], states[1]
        self.check_step(inputs, states)
        z = self.gate_preactivations(inputs, h_previous, training)
        z_i, z_c, z_o = ops.split(z, 3, axis=-1)
        i = self.recurrent_activation(z_i)
        o = self.recurrent_activation(z_o)
        c = (1.0 - i) * c_previous + i * self.activation(z_c)
        h = o * self.activation(c)
        return h, [h, c]


# ------------------------------------------------------------ layer-norm LSTM
@register_cell("layer_norm_lstm")
class LayerNormLSTMCell(_LayerNormMixin, LSTMCell):
    """Layer-normalized LSTM cell (Ba, Kiros & Hinton 2016, eqs. 20-22).

    The input and recurrent pre-activations are normalized separately, each
    gate block on its own (mean 0, variance 1 over its `units`), and so is the
    new cell state before the output non-linearity. With `LN(a; γ, β) =
    γ * (a - μ(a)) / sqrt(σ²(a) + ε) + β` applied per gate block:

        (i, f, g, o) = LN(x W; γ_x, β_x) + LN(h_{t-1} U; γ_h, β_h) + b
        c_t = σ(f) * c_{t-1} + σ(i) * tanh(g)
        h_t = σ(o) * tanh(LN(c_t; γ_c, β_c))

    The three shifts `β_x + β_h + b` only ever appear summed, so they are
    one weight, `bias` (with LSTM's unit forget bias). The gains are
    `input_gamma` and `recurrent_gamma` (`(4 * units,)`, gate order
    `i, f, c, o`), `cell_gamma` and `cell_beta` (`(units,)`). `kernel`,
    `recurrent_kernel` and `bias` have `LSTMCell`'s shapes. States: `[h, c]`
    (`c` unnormalized).

    Args:
        units: positive integer, width of `h` and `c`.
        epsilon: added to the variance (default `1e-3`, as
            `keras.layers.LayerNormalization`).
        gamma_initializer, beta_initializer: initializers of the gains
            (default ones) and of `cell_beta` (default zeros).
        gamma_regularizer, beta_regularizer: their regularizers.
        unit_forget_bias, activation, recurrent_activation, use_bias,
        initializers, regularizers, constraints, dropout, recurrent_dropout,
        seed: as in `LSTMCell`.

    Example:

    >>> import numpy as np, keras
    >>> layer = keras.layers.RNN(LayerNormLSTMCell(4), return_sequences=True)
    >>> tuple(layer(np.random.rand(2, 5, 3).astype("float32")).shape)
    (2, 5, 4)

    Reference: J. L. Ba, J. R. Kiros and G. E. Hinton, "Layer Normalization",
    arXiv:1607.06450, 2016.
    """

    rematerialize_step = True  # faster on JAX: see keras_rnnzoo.layers.fast

    def __init__(
        self,
        units: int,
        epsilon: float = 1e-3,
        gamma_initializer="ones",
        beta_initializer="zeros",
        gamma_regularizer=None,
        beta_regularizer=None,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self._init_layer_norm(epsilon, gamma_initializer, gamma_regularizer)
        self.beta_initializer = initializers.get(beta_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)

    def build(self, input_shape):
        super().build(input_shape)
        width = self.gates * self.units
        self.input_gamma = self._add_gamma("input_gamma", width)
        self.recurrent_gamma = self._add_gamma("recurrent_gamma", width)
        self.cell_gamma = self._add_gamma("cell_gamma", self.units)
        self.cell_beta = self.add_weight(
            shape=(self.units,),
            name="cell_beta",
            initializer=self.beta_initializer,
            regularizer=self.beta_regularizer,
        )

    def call(self, inputs, states, training=False):
        h_previous, c_previous = states[0], states[1]
        self.check_step(inputs, states)
        x = ops.matmul(self.dropped_inputs(inputs, training), self.kernel)
        r = ops.matmul(self.dropped_state(h_previous, training), self.recurrent_kernel)
        z = block_layer_norm(x, 4, self.input_gamma, self.epsilon)
        z = z + block_layer_norm(r, 4, self.recurrent_gamma, self.epsilon)
        if self.bias is not None:
            z = z + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        o = self.recurrent_activation(z_o)
        c = f * c_previous + i * self.activation(z_c)
        c_normalized = block_layer_norm(c, 1, self.cell_gamma, self.epsilon, self.cell_beta)
        h = o * self.activation(c_normalized)
        return h, [h, c]

    def get_config(self):
        return {
            **super().get_config(),
            **self._layer_norm_config(),
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
        }


# ------------------------------------------------------------- layer-norm GRU
@register_cell("layer_norm_gru")
class LayerNormGRUCell(_LayerNormMixin, GRUCell):
    """Layer-normalized GRU cell (layer normalization of Ba et al. 2016).

    The GRU of `GRUCell` (gate order `z, r, h`) with the input and recurrent
    pre-activations layer-normalized per gate block (`LN` as in
    `LayerNormLSTMCell`; the shifts are GRU's bias rows). With
    `reset_after=True` (default):

        a = LN(x W; γ_x) + b_x                (b_x = bias[0])
        s = LN(h_{t-1} U; γ_h) + b_h          (b_h = bias[1])
        z = σ(a_z + s_z)
        r = σ(a_r + s_r)
        g = tanh(a_h + r * s_h)
        h_t = z * h_{t-1} + (1 - z) * g

    With `reset_after=False` the candidate's recurrent term is normalized
    after the reset: `g = tanh(a_h + LN((r * h_{t-1}) U_h; γ_h,h))`, and
    `z`, `r` use `LN(h_{t-1} U_{z,r}; γ_h,{z,r})` plus the single bias.

    Weights: `GRUCell`'s `kernel`, `recurrent_kernel`, `bias`, plus
    `input_gamma` and `recurrent_gamma` (`(3 * units,)`). States: `[h]`.

    Args:
        units: positive integer, width of the hidden state.
        reset_after: as in `GRUCell` (default `True`).
        epsilon: added to the variance (default `1e-3`).
        gamma_initializer, gamma_regularizer: of the gains (default ones).
            The shifts of the normalized terms are GRU's `bias` rows.
        activation, recurrent_activation, use_bias, initializers,
        regularizers, constraints, dropout, recurrent_dropout, seed: as in
        `GRUCell`.

    Example:

    >>> import numpy as np, keras
    >>> layer = keras.layers.RNN(LayerNormGRUCell(4), return_sequences=True)
    >>> tuple(layer(np.random.rand(2, 5, 3).astype("float32")).shape)
    (2, 5, 4)

    References: J. L. Ba, J. R. Kiros and G. E. Hinton, "Layer
    Normalization", arXiv:1607.06450, 2016; K. Cho et al., "Learning Phrase
    Representations using RNN Encoder-Decoder for Statistical Machine
    Translation", EMNLP 2014.
    """

    rematerialize_step = True  # faster on JAX: see keras_rnnzoo.layers.fast

    def __init__(
        self,
        units: int,
        epsilon: float = 1e-3,
        gamma_initializer="ones",
        gamma_regularizer=None,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self._init_layer_norm(epsilon, gamma_initializer, gamma_regularizer)

    def build(self, input_shape):
        super().build(input_shape)
        width = self.gates * self.units
        self.input_gamma = self._add_gamma("input_gamma", width)
        self.recurrent_gamma = self._add_gamma("recurrent_gamma", width)

    def call(self, inputs, states, training=False):
        h_previous = states[0] if isinstance(states, (list, tuple)) else states
        self.check_step(inputs, [h_previous])
        units = self.units
        x = ops.matmul(self.dropped_inputs(inputs, training), self.kernel)
        x = block_layer_norm(x, 3, self.input_gamma, self.epsilon)
        h_dropped = self.dropped_state(h_previous, training)
        if self.reset_after:
            inner = ops.matmul(h_dropped, self.recurrent_kernel)
            inner = block_layer_norm(inner, 3, self.recurrent_gamma, self.epsilon)
            if self.bias is not None:
                x = x + self.bias[0]
                inner = inner + self.bias[1]
        else:
            inner = ops.matmul(h_dropped, self.recurrent_kernel[:, : 2 * units])
            inner = block_layer_norm(
                inner, 2, self.recurrent_gamma[: 2 * units], self.epsilon
            )
            if self.bias is not None:
                x = x + self.bias
        z = self.recurrent_activation(x[:, :units] + inner[:, :units])
        r = self.recurrent_activation(x[:, units : 2 * units] + inner[:, units : 2 * units])
        if self.reset_after:
            recurrent_candidate = r * inner[:, 2 * units :]
        else:
            recurrent_candidate = block_layer_norm(
                ops.matmul(r * h_dropped, self.recurrent_kernel[:, 2 * units :]),
                1,
                self.recurrent_gamma[2 * units :],
                self.epsilon,
            )
        candidate = self.activation(x[:, 2 * units :] + recurrent_candidate)
        h = z * h_previous + (1.0 - z) * candidate
        return h, [h] if isinstance(states, (list, tuple)) else h

    def get_config(self):
        return {**super().get_config(), **self._layer_norm_config()}


# ----------------------------------------------------------------------- MGU
@register_cell("mgu")
class MGUCell(GatedCell):
    """Minimal gated unit: a GRU with a single (forget) gate (Zhou et al. 2016).

    With `W` = `kernel`, `U` = `recurrent_kernel`, blocks in the order
    `f, h` (forget gate, candidate), σ = `recurrent_activation`:

        f = σ(x W_f + h_{t-1} U_f + b_f)
        g = tanh(x W_h + (f * h_{t-1}) U_h + b_h)
        h_t = (1 - f) * h_{t-1} + f * g

    Shapes: `kernel` `(input_dim, 2 * units)`, `recurrent_kernel`
    `(units, 2 * units)`, `bias` `(2 * units,)`. States: `[h]`.

    Args:
        units: positive integer, width of the hidden state.
        activation, recurrent_activation, use_bias, initializers,
        regularizers, constraints, dropout, recurrent_dropout, seed: as in
        `GRUCell`.

    Example:

    >>> import numpy as np, keras
    >>> cell = MGUCell(4)
    >>> tuple(keras.layers.RNN(cell)(np.zeros((2, 5, 3), "float32")).shape)
    (2, 4)
    >>> tuple(cell.recurrent_kernel.shape)
    (4, 8)

    Reference: G.-B. Zhou, J. Wu, C.-L. Zhang and Z.-H. Zhou, "Minimal Gated
    Unit for Recurrent Neural Networks", International Journal of
    Automation and Computing 13(3), 2016 (arXiv:1603.09420).
    """

    gates = 2

    def build(self, input_shape):
        self.add_standard_weights(self.check_step_shape(input_shape), gates=self.gates)

    def call(self, inputs, states, training=False):
        h_previous = states[0] if isinstance(states, (list, tuple)) else states
        self.check_step(inputs, [h_previous])
        units = self.units
        x = ops.matmul(self.dropped_inputs(inputs, training), self.kernel)
        if self.bias is not None:
            x = x + self.bias
        h_dropped = self.dropped_state(h_previous, training)
        f = self.recurrent_activation(
            x[:, :units] + ops.matmul(h_dropped, self.recurrent_kernel[:, :units])
        )
        candidate = self.activation(
            x[:, units:] + ops.matmul(f * h_dropped, self.recurrent_kernel[:, units:])
        )
        h = (1.0 - f) * h_previous + f * candidate
        return h, [h] if isinstance(states, (list, tuple)) else h


# -------------------------------------------------------------------- IndRNN
class _ClipAbs(constraints.Constraint):
    """Constraint clipping every weight into `[-max_abs, max_abs]`."""

    def __init__(self, max_abs: float):
        self.max_abs = float(max_abs)

    def __call__(self, w):
        return ops.clip(w, -self.max_abs, self.max_abs)

    def get_config(self):
        return {"max_abs": self.max_abs}


class _ChainedConstraint(constraints.Constraint):
    """The user's recurrent constraint, then the IndRNN bound (never serialized)."""

    def __init__(self, first, then):
        self.first, self.then = first, then

    def __call__(self, w):
        return self.then(self.first(w))


@register_cell("indrnn")
class IndRNNCell(RecurrentCell):
    """Independently recurrent neural network cell, IndRNN (Li et al. 2018).

    Each unit only sees its own past: the recurrent weight is a vector `u`
    (`recurrent_kernel`, shape `(units,)`) applied element-wise:

        h_t = activation(x_t W + u * h_{t-1} + b)

    For a ReLU IndRNN the gradient through `T` steps scales like `u^T`, so the
    paper bounds `|u| <= 2^(1/T)` (gradient growth at most 2x over `T`
    steps) to keep it from exploding. Give the bound directly
    (`recurrent_max_abs`) or through the sequence length (`time_steps`,
    giving `recurrent_max_abs = 2 ** (1 / time_steps)`). The bound is a
    weight constraint (applied after every optimizer step, after any
    `recurrent_constraint`) and is also clipped in the forward pass.

    Args:
        units: positive integer, width of the hidden state.
        activation: default `"relu"` (as in the paper).
        recurrent_max_abs: positive bound on `|u|`, or `None`.
        time_steps: sequence length `T` giving the bound `2^(1/T)`; give at
            most one of `recurrent_max_abs` and `time_steps`.
        recurrent_initializer: default uniform in `[0, min(1, bound)]`.
        use_bias, kernel/bias initializers, regularizers, constraints,
        dropout, recurrent_dropout, seed: as in `SimpleRNNCell`.

    Example:

    >>> import numpy as np, keras
    >>> cell = IndRNNCell(4, time_steps=5)
    >>> tuple(keras.layers.RNN(cell)(np.zeros((2, 5, 3), "float32")).shape)
    (2, 4)
    >>> tuple(cell.recurrent_kernel.shape), round(cell.recurrent_max_abs, 4)
    ((4,), 1.1487)

    Reference: S. Li, W. Li, C. Cook, C. Zhu and Y. Gao, "Independently
    Recurrent Neural Network (IndRNN): Building A Longer and Deeper RNN",
    CVPR 2018.
    """

    def __init__(
        self,
        units: int,
        activation="relu",
        recurrent_max_abs: float | None = None,
        time_steps: int | None = None,
        recurrent_initializer=None,
        **kwargs,
    ):
        owner = type(self).__name__
        if recurrent_max_abs is not None and time_steps is not None:
            raise ValueError(
                f"{owner} takes at most one of `recurrent_max_abs` "
                f"({recurrent_max_abs!r}) and `time_steps` ({time_steps!r})."
            )
        if recurrent_max_abs is not None:
            _check_positive_number(recurrent_max_abs, "recurrent_max_abs", owner)
        if time_steps is not None:
            if (
                isinstance(time_steps, bool)
                or not isinstance(time_steps, numbers.Integral)
                or time_steps <= 0
            ):
                raise ValueError(
                    f"{owner} expects `time_steps` to be a positive integer; got {time_steps!r}."
                )
        bound = (
            float(recurrent_max_abs)
            if recurrent_max_abs is not None
            else (2.0 ** (1.0 / int(time_steps)) if time_steps is not None else None)
        )
        if recurrent_initializer is None:
            recurrent_initializer = initializers.RandomUniform(
                0.0, 1.0 if bound is None else min(1.0, bound)
            )
        super().__init__(
            units, activation=activation, recurrent_initializer=recurrent_initializer, **kwargs
        )
        self.time_steps = None if time_steps is None else int(time_steps)
        self._recurrent_max_abs = None if recurrent_max_abs is None else float(recurrent_max_abs)
        self.recurrent_max_abs = bound

    def build(self, input_shape):
        input_dim = self.check_step_shape(input_shape)
        constraint = self.recurrent_constraint
        if self.recurrent_max_abs is not None:
            bound = _ClipAbs(self.recurrent_max_abs)
            constraint = bound if constraint is None else _ChainedConstraint(constraint, bound)
        self.kernel = self.add_weight(
            shape=(input_dim, self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units,),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs, states, training=False):
        h_previous = states[0] if isinstance(states, (list, tuple)) else states
        self.check_step(inputs, [h_previous])
        u = self.recurrent_kernel
        if self.recurrent_max_abs is not None:
            u = ops.clip(u, -self.recurrent_max_abs, self.recurrent_max_abs)
        h = ops.matmul(self.dropped_inputs(inputs, training), self.kernel)
        h = h + u * self.dropped_state(h_previous, training)
        if self.bias is not None:
            h = h + self.bias
        if self.activation is not None:
            h = self.activation(h)
        return h, [h] if isinstance(states, (list, tuple)) else h

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_max_abs": self._recurrent_max_abs,
            "time_steps": self.time_steps,
        }


# ---------------------------------------------------------------------- LSTMP
@register_cell("lstmp")
class LSTMPCell(LSTMCell):
    """LSTM with a recurrent projection layer, LSTMP (Sak et al. 2014).

    The output `o * tanh(c_t)` (width `units`) is projected down to
    `proj_size` by `projection_kernel` `W_p` (shape `(units, proj_size)`), and
    that projection is both the output and the recurrent state, as PyTorch's
    `nn.LSTM(proj_size=...)`:

        (i, f, g, o) = (x W + h_{t-1} U + b) split in 4, Keras order i, f, c, o
        c_t = σ(f) * c_{t-1} + σ(i) * tanh(g)
        h_t = (σ(o) * tanh(c_t)) W_p

    `recurrent_kernel` is `(proj_size, 4 * units)`. States: `[h, c]` with `h`
    of width `proj_size` and `c` of width `units`; the output has width
    `proj_size`. (Sak et al. also use peepholes and an optional
    non-recurrent projection; like PyTorch this cell has neither.)

    Args:
        units: positive integer, width of the cell state `c`.
        proj_size: positive integer, width of the projected output / `h`;
            default `None`, meaning `max(1, units // 2)` (so that generic
            code can build every registered cell as `cell_class(units)`).
        projection_initializer, projection_regularizer, projection_constraint:
            of `projection_kernel` (default `"glorot_uniform"`).
        unit_forget_bias, activation, recurrent_activation, use_bias,
        initializers, regularizers, constraints, dropout, recurrent_dropout
        (on `h`), seed: as in `LSTMCell`.

    Example:

    >>> import numpy as np, keras
    >>> layer = keras.layers.RNN(LSTMPCell(8, proj_size=3), return_state=True)
    >>> output, h, c = layer(np.zeros((2, 5, 4), "float32"))
    >>> tuple(output.shape), tuple(h.shape), tuple(c.shape)
    ((2, 3), (2, 3), (2, 8))

    Reference: H. Sak, A. Senior and F. Beaufays, "Long Short-Term Memory
    Recurrent Neural Network Architectures for Large Scale Acoustic
    Modeling", Interspeech 2014.
    """

    def __init__(
        self,
        units: int,
        proj_size: int | None = None,
        projection_initializer="glorot_uniform",
        projection_regularizer=None,
        projection_constraint=None,
        **kwargs,
    ):
        if proj_size is None:
            check_units(units, type(self).__name__)
            proj_size = max(1, units // 2)
        if (
            isinstance(proj_size, bool)
            or not isinstance(proj_size, numbers.Integral)
            or proj_size <= 0
        ):
            raise ValueError(
                f"{type(self).__name__} expects `proj_size` to be a positive "
                f"integer; got {proj_size!r}."
            )
        super().__init__(units, **kwargs)
        self.proj_size = int(proj_size)
        self.projection_initializer = initializers.get(projection_initializer)
        self.projection_regularizer = regularizers.get(projection_regularizer)
        self.projection_constraint = constraints.get(projection_constraint)
        self.state_size = [self.proj_size, self.units]
        self.output_size = self.proj_size

    def build(self, input_shape):
        self.add_standard_weights(
            self.check_step_shape(input_shape),
            gates=self.gates,
            recurrent_rows=self.proj_size,
            bias_initializer=self._forget_bias_initializer() if self.unit_forget_bias else None,
        )
        self.projection_kernel = self.add_weight(
            shape=(self.units, self.proj_size),
            name="projection_kernel",
            initializer=self.projection_initializer,
            regularizer=self.projection_regularizer,
            constraint=self.projection_constraint,
        )

    def call(self, inputs, states, training=False):
        h, [_, c] = super().call(inputs, states, training=training)
        h = ops.matmul(h, self.projection_kernel)
        return h, [h, c]

    def get_config(self):
        return {
            **super().get_config(),
            "proj_size": self.proj_size,
            "projection_initializer": initializers.serialize(self.projection_initializer),
            "projection_regularizer": regularizers.serialize(self.projection_regularizer),
            "projection_constraint": constraints.serialize(self.projection_constraint),
        }
