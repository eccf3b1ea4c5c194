"""Minimal RNNs whose gates see only the input: `MinGRU` and `MinLSTM`.

Feng et al. (2024) strip the GRU and LSTM down until every gate depends on
`x_t` alone. The recurrence then becomes the linear, first-order one

    h_t = a_t * h_{t-1} + b_t,        0 < a_t < 1,  b_t > 0,

whose coefficients are computed for all steps at once, so a whole sequence
is one parallel prefix scan (O(log T) sequential depth) instead of a loop of
T dependent steps. This module runs that scan in log space:

    log h_t = logaddexp(log a_t + log h_{t-1}, log b_t)

with a work-efficient associative scan over the pairs `(log a, log b)`
written with `keras.ops` slices, stacks and reshapes (the algorithm of
`jax.lax.associative_scan`), so it runs unchanged on the TensorFlow, JAX and
PyTorch backends, with unknown batch sizes and on any device. Working with the
pairs (not with the prefix sums `cumsum(log a)`, which grow with T and then
cancel) keeps float32 precise on long sequences: at T = 4096 the outputs
stay within 1e-4 of a float64 sequential reference.
The scan is computed in float32 even under a float16 / bfloat16 policy.

The same layers also run one step at a time (`step`, or `stateful=True` with
sequences of length 1) in linear space; both modes give the same numbers.

On a CPU, whole sequences run instead as
a sequential loop in linear space (`linear_sequential_scan`, `keras.ops.scan`
of `h = a h + b`): each step is two elementwise operations, which on a CPU
beats O(log T) rounds of `logaddexp` over the whole sequence (2.8x faster
at 1024 steps; docs/benchmarks.md). On JAX that loop is fused
(`jax_minimal.fused_scan`): each chunk of 16 steps computes its own
preactivations from its inputs, and a hand-written backward pass recomputes
them, so no whole-sequence tensor but the output goes through memory
(another 2-2.4x, and chunks instead of single steps up to 1.6x more).
On TensorFlow the same chunked loop runs XLA-compiled (`tf_minimal.FusedScan`,
3-4x faster than `keras.ops.scan` at 1024 steps; sequences of unknown length
keep `linear_sequential_scan`). On PyTorch it runs as eager operations over
chunks of 64 steps with a hand-written backward pass
(`torch_minimal.fused_scan`). The loops run time-major; the output is
transposed back to batch-major only when the whole sequence is returned.
`use_sequential_scan` makes the choice; `force_sequential_scan` overrides it.
"""

from __future__ import annotations

import keras
from keras import constraints, initializers, ops, regularizers
from keras.src.utils.tracking import no_automatic_dependency_tracking

from keras_rnnzoo.cells.base import check_units
from keras_rnnzoo.registry import SERIALIZATION_PACKAGE

# log(0) stand-in: finite, so gradients through `logaddexp` stay finite.
_LOG_ZERO = -1e30


def _log_g(k):
    """log of g(k) = k + 1/2 for k >= 0, sigmoid(k) otherwise (always > 0)."""
    return ops.where(k >= 0, ops.log(ops.relu(k) + 0.5), -ops.softplus(-k))


def _g(k):
    """The positive candidate activation of the paper's log-space variants: k + 1/2 for k >= 0, sigmoid(k) otherwise.

    Written as `relu(k) + sigmoid(-relu(-k))` rather than with a select:
    PyTorch's CPU `where` costs as much as 16 multiplications.
    """
    return ops.relu(k) + ops.sigmoid(-ops.relu(-k))


def _shift(x, offset: int, fill: float):
    """`x` moved `offset` steps later along axis 1, `fill` in the gap."""
    padded = ops.pad(x, [(0, 0), (offset, 0), (0, 0)], constant_values=fill)
    return padded[:, : x.shape[1], :]


def _combine(earlier, later):
    """Compose two steps of `h -> a h + b` in log space (earlier first)."""
    log_a1, log_b1 = earlier
    log_a2, log_b2 = later
    return log_a1 + log_a2, ops.logaddexp(log_b1 + log_a2, log_b2)


def _hillis_steele(log_a, log_b):
    """The same scan as log T shifted combines (pad + slice only)."""
    offset, steps = 1, log_a.shape[1]
    while offset < steps:
        earlier = (_shift(log_a, offset, 0.0), _shift(log_b, offset, _LOG_ZERO))
        log_a, log_b = _combine(earlier, (log_a, log_b))
        offset *= 2
    return log_a, log_b


def _interleave(even, odd, steps: int):
    """`even[:, 0], odd[:, 0], even[:, 1], ...` along axis 1, `steps` long."""
    if even.shape[1] > odd.shape[1]:
        odd = ops.concatenate([odd, even[:, -1:]], axis=1)  # filler, cut below
    pairs = ops.stack([even, odd], axis=2)
    return ops.reshape(pairs, (-1, 2 * even.shape[1], even.shape[-1]))[:, :steps]


def _associative_scan(elems):
    """Inclusive scan of `_combine` along axis 1 (Ladner-Fischer / Blelloch).

    O(T) combines in O(log T) rounds, like `jax.lax.associative_scan`, but
    from slices, stacks and reshapes only, so it also works with an unknown
    batch size in a TensorFlow graph and on any PyTorch device (which
    `keras.ops.associative_scan` does not, in Keras 3.15).
    """
    steps = elems[0].shape[1]
    if steps < 2:
        return elems
    reduced = _combine(
        tuple(e[:, 0 : steps - 1 : 2] for e in elems), tuple(e[:, 1::2] for e in elems)
    )
    odd = _associative_scan(reduced)  # prefixes ending at steps 1, 3, 5, ...
    if steps % 2 == 0:
        rest = _combine(tuple(o[:, :-1] for o in odd), tuple(e[:, 2::2] for e in elems))
    else:
        rest = _combine(odd, tuple(e[:, 2::2] for e in elems))
    even = tuple(ops.concatenate([e[:, :1], r], axis=1) for e, r in zip(elems, rest))
    return tuple(_interleave(e, o, steps) for e, o in zip(even, odd))


def log_space_scan(log_a, log_b):
    """Inclusive scan of `h_t = a_t h_{t-1} + b_t` (from h_0 = 0) in log space.

    A work-efficient parallel scan (O(T) work, O(log T) depth) with the
    combine `(A1, B1), (A2, B2) -> (A1 + A2, logaddexp(B1 + A2, B2))`.

    Args:
        log_a, log_b: `(batch, time, units)` float tensors; `time` static.

    Returns:
        `(log_A, log_h)`: `log_A[:, t] = sum_{s<=t} log a_s` (the decay of the
        initial state up to step t) and `log_h[:, t] = log h_t`.
    """
    steps = log_a.shape[1]
    if steps is None:
        raise ValueError(
            "MinGRU / MinLSTM need a known number of time steps to scan; got "
            "sequences of shape (batch, None, features). Give the Input a fixed "
            "length, or call the layer eagerly on concrete arrays."
        )
    if steps == 1:
        return log_a, log_b
    return _associative_scan((log_a, log_b))


def linear_sequential_scan(a, b, h0):
    """`h_t = a_t h_{t-1} + b_t` from `h0`, one step after the other (`keras.ops.scan`), time-major.

    Args:
        a, b: `(time, batch, units)` float32 tensors; h0: `(batch, units)`.

    Returns:
        `(time, batch, units)`: every `h_t`.
    """

    def step(h, coefficients):
        h = coefficients[0] * h + coefficients[1]
        return h, h

    return ops.scan(step, h0, (a, b))[1]


def masked_coefficients(coefficients, k, keep):
    """`coefficients(k)` with masked steps turned into identities: `a = 1` (state carried over), `b = 0`.

    `keep`: float, 1 where a step counts and 0 where it is masked (broadcast
    against the coefficients, e.g. `(time, batch, 1)`), or None for no mask.
    The one masking rule of `_sequential_scan` and the fused loops
    (`jax_minimal`, `tf_minimal`, `torch_minimal`).
    """
    a, b = coefficients(k)
    if keep is None:
        return a, b
    return 1.0 + keep * (a - 1.0), keep * b  # arithmetic, not a select: exact for keep in {0, 1}


# None: decide per device (see `use_sequential_scan`); True / False force a mode (tests, benchmarks).
_FORCED_SEQUENTIAL: bool | None = None


def force_sequential_scan(enabled: bool | None) -> None:
    """Force the sequential (True) or the parallel (False) scan; None restores the automatic choice."""
    global _FORCED_SEQUENTIAL
    _FORCED_SEQUENTIAL = enabled


def use_sequential_scan() -> bool:
    """Whether whole sequences run the sequential linear-space loop instead of the parallel scan.

    On a CPU the loop is several times faster on every backend (each step
    is a few elementwise operations, while the parallel scan streams the
    whole sequence through `logaddexp` O(log T) times); on accelerators the
    parallel scan is used. docs/benchmarks.md has the numbers.
    """
    if _FORCED_SEQUENTIAL is not None:
        return _FORCED_SEQUENTIAL
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend() == "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.config.list_logical_devices("GPU")
    if backend == "torch":
        import torch

        return not (torch.cuda.is_available() or torch.backends.mps.is_available())
    return False


class _MinimalRNN(keras.layers.Layer):
    """Shared machinery of `MinGRU` and `MinLSTM` (not a layer by itself)."""

    gates: int = 0

    def __init__(
        self,
        units: int,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        **kwargs,
    ):
        check_units(units, type(self).__name__)
        super().__init__(**kwargs)
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.supports_masking = True
        self.state_size = self.units
        self.states = None
        self.input_spec = keras.layers.InputSpec(ndim=3)

    # ----------------------------------------------------------------- build
    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"{type(self).__name__} needs a known feature size; got input "
                f"shape {tuple(input_shape)}."
            )
        width = self.gates * self.units
        self.kernel = self.add_weight(
            shape=(int(features), width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(width,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        if self.stateful:
            batch = input_shape[0]
            if batch is None:
                raise ValueError(
                    f"A stateful {type(self).__name__} needs a fixed batch size "
                    "(e.g. keras.Input(batch_shape=(1, None, features))); got "
                    f"input shape {tuple(input_shape)}."
                )
            self._create_state_variables(int(batch))

    @no_automatic_dependency_tracking
    def _create_state_variables(self, batch: int) -> None:
        # Like keras.layers.RNN: the carried state is a variable, but not a
        # weight (it is not saved and `set_weights` does not expect it).
        with keras.name_scope(self.name, caller=self):
            self.states = [
                keras.Variable(
                    ops.zeros((batch, self.units)),
                    trainable=False,
                    dtype=self.variable_dtype,
                    name="state",
                )
            ]

    def reset_state(self) -> None:
        """Zero the carried state of a stateful layer."""
        if self.states is not None:
            for state in self.states:
                state.assign(ops.zeros(state.shape, dtype=state.dtype))

    def reset_states(self) -> None:  # keras.layers.RNN spelling
        self.reset_state()

    # ------------------------------------------------------------------ math
    def _preactivations(self, inputs):
        k = ops.matmul(inputs, ops.cast(self.kernel, inputs.dtype))
        if self.bias is not None:
            k = k + ops.cast(self.bias, inputs.dtype)
        return k

    def log_coefficients(self, k):
        """`(log a, log b)` of `h_t = a_t h_{t-1} + b_t` from preactivations."""
        raise NotImplementedError

    def coefficients(self, k):
        """`(a, b)` in linear space, for one step."""
        raise NotImplementedError

    def step(self, inputs, states):
        """One step of the recurrence, like a Keras cell's `call`.

        Args:
            inputs: `(batch, features)` tensor.
            states: `[h]` (or `h`), a `(batch, units)` tensor.

        Returns:
            `(h_new, [h_new])`.
        """
        h = states[0] if isinstance(states, (list, tuple)) else states
        if not self.built:
            self.build((inputs.shape[0], None, inputs.shape[-1]))
        k = ops.cast(self._preactivations(ops.cast(inputs, "float32")), "float32")
        a, b = self.coefficients(k)
        h_new = a * ops.cast(h, "float32") + b
        h_new = ops.cast(h_new, self.compute_dtype)
        return h_new, [h_new]

    # ------------------------------------------------------------------ call
    def call(self, sequences, initial_state=None, mask=None, training=False):
        if not keras.backend.is_float_dtype(sequences.dtype):
            raise TypeError(
                f"{type(self).__name__} expects floating-point sequences; got "
                f"dtype {keras.backend.standardize_dtype(sequences.dtype)}."
            )
        if sequences.shape[1] == 0:
            raise ValueError(
                f"{type(self).__name__} needs at least one time step; got sequences of shape {tuple(sequences.shape)}."
            )
        batch = ops.shape(sequences)[0]
        if initial_state is None:
            if self.stateful:
                h0 = self.states[0]
            else:
                h0 = ops.zeros((batch, self.units), dtype="float32")
        else:
            states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != 1:
                raise ValueError(
                    f"{type(self).__name__} has one state of size {self.units}; "
                    f"initial_state has {len(states)} tensors."
                )
            h0 = states[0]
            shape = tuple(h0.shape)
            if len(shape) != 2 or shape[1] not in (None, self.units):
                raise ValueError(
                    f"{type(self).__name__} initial_state must have shape "
                    f"(batch, {self.units}); got {shape}."
                )
        h0 = ops.cast(h0, "float32")
        x = ops.cast(sequences, "float32")
        if self.go_backwards:
            x = ops.flip(x, axis=1)
            if mask is not None:
                mask = ops.flip(mask, axis=1)
        if use_sequential_scan():
            # the loops run time-major; only a returned sequence is transposed back
            keep = None if mask is None else ops.expand_dims(ops.cast(ops.moveaxis(mask, 1, 0), "float32"), -1)
            time_major = self._fused_scan(ops.moveaxis(x, 1, 0), h0, keep)
            last = time_major[-1]
            outputs = ops.moveaxis(time_major, 0, 1) if self.return_sequences else None
        else:
            outputs = self._parallel_scan(x, h0, mask)
            last = outputs[:, -1, :]
        if self.stateful:
            self.states[0].assign(ops.cast(last, self.states[0].dtype))
        last = ops.cast(last, self.compute_dtype)
        output = ops.cast(outputs, self.compute_dtype) if self.return_sequences else last
        if self.return_state:
            return output, last
        return output

    def _sequential_scan(self, x, h0, keep):
        """Every `h_t` by the linear loop over the whole sequence's coefficients.

        `x` is time-major already, so the `(time, batch, gates * units)`
        preactivations and coefficients (the largest tensors of a step) go
        into the loop without a transpose. `keep`: `(time, batch, 1)`, 1 where
        the step counts, or None.
        """
        a, b = masked_coefficients(self.coefficients, self._preactivations(x), keep)
        return linear_sequential_scan(a, b, h0)

    def _parallel_scan(self, x, h0, mask):
        """Every `h_t`, batch-major, by the log-space parallel scan."""
        log_a, log_b = self.log_coefficients(self._preactivations(x))
        if mask is not None:
            keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
            log_a = ops.where(keep, log_a, 0.0)  # a = 1: state carried over
            log_b = ops.where(keep, log_b, _LOG_ZERO)  # b = 0: nothing added
        log_decay, log_h = log_space_scan(log_a, log_b)
        return ops.exp(log_h) + ops.exp(log_decay) * ops.expand_dims(h0, 1)

    def _fused_scan(self, x, h0, keep):
        """Every `h_t` by the backend's fused loop over chunks, else by `_sequential_scan`; arguments as that.

        JAX: `jax_minimal.fused_scan`; TensorFlow: the XLA-compiled
        `tf_minimal.FusedScan` (both need a known number of steps); PyTorch:
        `torch_minimal.fused_scan`.
        """
        backend = keras.backend.backend()
        if backend not in ("jax", "tensorflow", "torch") or x.shape[0] is None:
            return self._sequential_scan(x, h0, keep)
        kernel = ops.cast(self.kernel, "float32")
        bias = ops.cast(self.bias, "float32") if self.bias is not None else ops.zeros((kernel.shape[-1],), "float32")
        if backend == "torch":
            from keras_rnnzoo.layers import torch_minimal

            return torch_minimal.fused_scan(self.coefficients, x, kernel, bias, h0, keep, torch_minimal.CHUNK_STEPS)
        if keep is None:
            keep = ops.ones(ops.shape(x)[:2] + (1,), "float32")
        if backend == "jax":
            from keras_rnnzoo.layers import jax_minimal

            return jax_minimal.fused_scan(self.coefficients, x, kernel, bias, h0, keep, jax_minimal.CHUNK_STEPS)
        return self._tf_fused_scan()(x, kernel, bias, h0, keep)

    @no_automatic_dependency_tracking
    def _tf_fused_scan(self):
        """This layer's `tf_minimal.FusedScan`, built on first use and kept (its XLA programs are compiled once per shape)."""
        if getattr(self, "_tf_scan", None) is None:
            from keras_rnnzoo.layers import tf_minimal

            self._tf_scan = tf_minimal.FusedScan(self.coefficients)
        return self._tf_scan

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return output, (batch, self.units)
        return output

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask, None]
        return output_mask

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = {
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class MinGRU(_MinimalRNN):
    """minGRU: a GRU whose gates see only the input, trained by a parallel scan.

    With `[k_z, k_h] = x_t W + b` (`kernel` is `(features, 2 * units)`):

        z_t = σ(k_z)                         update gate
        h̃_t = g(k_h),  g(k) = k + 1/2 if k >= 0 else σ(k)   (positive candidate)
        h_t = (1 - z_t) * h_{t-1} + z_t * h̃_t

    Training runs the recurrence as a log-space parallel scan
    (`log a = -softplus(k_z)`, `log b = -softplus(-k_z) + log g(k_h)`);
    `step` (or `stateful=True` on length-1 sequences) runs it one token at
    a time with the same results. The output is the hidden state `h_t`.

    Masking: at a masked step the state is carried over unchanged
    (`a = 1, b = 0`), so the output at that step repeats the previous one
    and the final state is the one after the last unmasked step (the
    behaviour of `keras.layers.RNN` with `zero_output_for_mask=False`).

    Args:
        units: positive integer, width of the hidden state.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint: of the
            `kernel` / `bias` weights.
        return_sequences: return the whole sequence of states, not the last.
        return_state: also return the final state.
        go_backwards: process the sequence in reverse (outputs come in
            processing order, as in `keras.layers.RNN`).
        stateful: carry the final state of each batch into the next
            (needs a fixed batch size; reset with `reset_state()`).

    Call arguments:
        sequences: `(batch, time, features)` float tensor, `time` known.
        initial_state: `(batch, units)` tensor or a list of one.
        mask: `(batch, time)` boolean tensor of steps to use.

    Example:

    >>> import numpy as np
    >>> layer = MinGRU(8, return_sequences=True)
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 8)

    Reference: L. Feng, F. Tung, M. O. Ahmed, Y. Bengio and H. Hajimirsadeghi,
    "Were RNNs All We Needed?", arXiv:2410.01201, 2024.
    """

    gates = 2

    def log_coefficients(self, k):
        k_z, k_h = ops.split(k, 2, axis=-1)
        return -ops.softplus(k_z), -ops.softplus(-k_z) + _log_g(k_h)

    def coefficients(self, k):
        k_z, k_h = ops.split(k, 2, axis=-1)
        z = ops.sigmoid(k_z)
        return 1.0 - z, z * _g(k_h)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class MinLSTM(_MinimalRNN):
    """minLSTM: an LSTM whose gates see only the input, trained by a parallel scan.

    With `[k_f, k_i, k_h] = x_t W + b` (`kernel` is `(features, 3 * units)`):

        f_t = σ(k_f)   i_t = σ(k_i)   h̃_t = g(k_h)
        f'_t = f_t / (f_t + i_t)   i'_t = i_t / (f_t + i_t)   (time-independent scale)
        h_t = f'_t * h_{t-1} + i'_t * h̃_t

    with `g(k) = k + 1/2 if k >= 0 else σ(k)`. In log space, with
    `d = softplus(-k_f) - softplus(-k_i)`: `log f' = -softplus(d)`,
    `log i' = -softplus(-d)`. There is no separate cell state: `h` is the
    state and the output. Masking, arguments and modes are those of `MinGRU`.

    Example:

    >>> import numpy as np
    >>> output, state = MinLSTM(4, return_state=True)(np.ones((2, 6, 3), "float32"))
    >>> tuple(output.shape), tuple(state.shape)
    ((2, 4), (2, 4))

    Reference: L. Feng et al., "Were RNNs All We Needed?", arXiv:2410.01201, 2024.
    """

    gates = 3

    def log_coefficients(self, k):
        k_f, k_i, k_h = ops.split(k, 3, axis=-1)
        d = ops.softplus(-k_f) - ops.softplus(-k_i)
        return -ops.softplus(d), -ops.softplus(-d) + _log_g(k_h)

    def coefficients(self, k):
        k_f, k_i, k_h = ops.split(k, 3, axis=-1)
        f = ops.sigmoid(k_f)
        i = ops.sigmoid(k_i)
        total = f + i
        return f / total, i / total * _g(k_h)


__all__ = [
    "MinGRU",
    "MinLSTM",
    "force_sequential_scan",
    "linear_sequential_scan",
    "log_space_scan",
    "masked_coefficients",
    "use_sequential_scan",
]
