"""Image captioning with visual attention (Show, Attend and Tell), and its zoo task.

The model (Xu et al. 2015, "Show, Attend and Tell"):

- **Encoder**: a small CNN (or a pretrained Keras backbone) turns the image
  into a grid of feature vectors; two coordinate channels are appended
  before the last 1x1 convolution so that every grid vector knows where it
  is (relations such as "to the left of" depend on it).
- **Decoder** (`AttentionDecoder`): at every word, soft (Bahdanau) attention
  over the grid, queried by the recurrent state, gives a gated context
  vector; the recurrent cell (any keras_rnnzoo cell, LSTM by default) reads
  the previous word's embedding and the context; a deep output layer maps
  the cell output and the context to word logits. Trained with teacher
  forcing: the training model maps `(image, caption[:-1])` to logits of
  `caption[1:]`.

Decoding (`beam_search`): beam search with length normalization (width 1 is
greedy decoding), a maximum length, and the attention weights of every
word.

The zoo task `Captioner` wraps a trained model, its `Vocabulary` and the
image preprocessing::

    captioner = keras_rnnzoo.zoo.load("shapes-captioner")
    captioner.predict("scene.png")                 # "a large red circle above ..."
    captioner.predict(array, beam=5, return_details=True)  # caption, score, attention
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_rnnzoo.data.captions import Vocabulary, read_image
from keras_rnnzoo.registry import SERIALIZATION_PACKAGE, get_cell
from keras_rnnzoo.zoo.task import Task, register_task

VOCABULARY_FILE = "vocabulary.json"
DEFAULT_BEAM_WIDTH = 3
DEFAULT_MAX_LENGTH = 14
_log = logging.getLogger(__name__)


# -------------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class CoordinateChannels(keras.layers.Layer):
    """Append two channels, x and y in [-1, 1], to a `(batch, h, w, c)` feature map.

    Example:

    >>> import numpy as np
    >>> tuple(CoordinateChannels()(np.zeros((2, 4, 5, 3), "float32")).shape)
    (2, 4, 5, 5)
    """

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                f"CoordinateChannels expects (batch, height, width, channels) with a "
                f"known height and width; got {tuple(input_shape)}."
            )
        height, width = int(input_shape[1]), int(input_shape[2])
        ys, xs = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
        self._grid = np.stack([xs, ys], axis=-1).astype("float32")

    def call(self, inputs):
        grid = ops.cast(ops.convert_to_tensor(self._grid), inputs.dtype)
        batch = ops.shape(inputs)[0]
        grid = ops.broadcast_to(grid[None], (batch, *self._grid.shape))
        return ops.concatenate([inputs, grid], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 2)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class AttentionDecoder(keras.layers.Layer):
    """Recurrent caption decoder with soft attention over a feature grid.

    At step t, with `h` the first state of the cell (the hidden state)::

        e_i     = v . tanh(W_f f_i + W_h h + b)        (Bahdanau attention)
        alpha   = softmax(e)
        z       = sigmoid(W_g h + b_g) * sum_i alpha_i f_i
        out, s  = cell([embed(word_{t-1}), z], s)
        logits  = W_o dropout(tanh(W_d [out, z] + b_d)) + b_o

    The initial states are `tanh` of dense maps of the mean feature vector.

    Args:
        vocabulary_size: number of tokens (padding, start, end and unknown included).
        embedding_dim: width of the word embeddings.
        units: width of the recurrent cell.
        attention_units: width of the attention's hidden layer.
        cell: registered keras_rnnzoo cell name (`"lstm"`, `"gru"`, `"layer_norm_lstm"`, ...).
        cell_config: extra constructor arguments of the cell.
        dropout: dropout before the cell and before the output layer.
        input_aliases: `(token, alias)` id pairs: the decoder reads the word it
            just said as `alias` instead of `token`, in training and decoding
            alike (e.g. every color word as `<unk>`, so that the color said
            cannot rule out a shape never seen with it; the picture and the
            cell state still tell which object is being described).
        delayed_inputs: token ids that also reach the decoder one step late:
            the step after next, the embedding of such a word is added to the
            input. With `input_aliases` mapping the same words to `<unk>`,
            the decoder names a shape without reading the color just said,
            and still learns that color one word later (so a second object
            is not given the first one's color). Decoding carries the
            pending embedding as an extra, last state.
        query_words: the attention query also reads the word just said, as
            said (not through `input_aliases`): a color word then still says
            where to look while the cell reads it as its alias. Its weights
            start at zero, so switching it on leaves a trained decoder's
            output unchanged until it is trained further.

    Call arguments:
        inputs: `[features, tokens]`: `(batch, locations, channels)` floats
            and `(batch, time)` token ids (teacher forcing; `time` static).
        training: enables dropout.

    Returns `(batch, time, vocabulary_size)` logits.

    Example:

    >>> import numpy as np
    >>> decoder = AttentionDecoder(vocabulary_size=10, units=8, embedding_dim=4, attention_units=6)
    >>> logits = decoder([np.zeros((2, 9, 5), "float32"), np.ones((2, 7), "int32")])
    >>> tuple(logits.shape)
    (2, 7, 10)
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_dim: int = 64,
        units: int = 256,
        attention_units: int = 128,
        cell: str = "lstm",
        cell_config: dict | None = None,
        dropout: float = 0.2,
        input_aliases: Sequence[Sequence[int]] = (),
        delayed_inputs: Sequence[int] = (),
        query_words: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("vocabulary_size", vocabulary_size),
            ("embedding_dim", embedding_dim),
            ("units", units),
            ("attention_units", attention_units),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"AttentionDecoder `{name}` must be a positive integer; got {value!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"AttentionDecoder `dropout` must be in [0, 1); got {dropout!r}.")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units
        self.cell_name = cell
        self.cell_config = dict(cell_config or {})
        self.dropout_rate = float(dropout)
        self.input_aliases = [[int(token), int(alias)] for token, alias in input_aliases]
        self._read_as = np.arange(vocabulary_size, dtype="int32")
        for token, alias in self.input_aliases:
            if not (0 <= token < vocabulary_size and 0 <= alias < vocabulary_size):
                raise ValueError(
                    f"AttentionDecoder `input_aliases` pair {[token, alias]} is outside the vocabulary "
                    f"(0..{vocabulary_size - 1})."
                )
            self._read_as[token] = alias
        self.delayed_inputs = sorted({int(token) for token in delayed_inputs})
        if any(not 0 <= token < vocabulary_size for token in self.delayed_inputs):
            raise ValueError(
                f"AttentionDecoder `delayed_inputs` {self.delayed_inputs} must be token ids in "
                f"0..{vocabulary_size - 1}."
            )
        self._delayed_mask = np.zeros((vocabulary_size, 1), dtype="float32")
        self._delayed_mask[self.delayed_inputs] = 1.0
        self.query_words = bool(query_words)
        self.cell = get_cell(cell)(units, name="cell", **self.cell_config)
        sizes = self.cell.state_size
        self.state_sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        self.initial_state_layers = [
            keras.layers.Dense(size, activation="tanh", name=f"initial_state_{index}")
            for index, size in enumerate(self.state_sizes)
        ]
        self.feature_projection = keras.layers.Dense(attention_units, use_bias=False, name="feature_projection")
        self.query_projection = keras.layers.Dense(attention_units, name="query_projection")
        self.word_query_projection = (
            keras.layers.Dense(attention_units, use_bias=False, kernel_initializer="zeros", name="word_query_projection")
            if self.query_words else None
        )
        self.attention_score = keras.layers.Dense(1, use_bias=False, name="attention_score")
        self.context_gate = keras.layers.Dense(1, activation="sigmoid", name="context_gate")
        self.deep_output = keras.layers.Dense(embedding_dim, activation="tanh", name="deep_output")
        self.output_projection = keras.layers.Dense(vocabulary_size, name="output_projection")
        self.dropout = keras.layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        features_shape, tokens_shape = input_shape
        if len(features_shape) != 3 or features_shape[-1] is None:
            raise ValueError(
                f"AttentionDecoder expects features of shape (batch, locations, channels); "
                f"got {tuple(features_shape)}."
            )
        channels = int(features_shape[-1])
        self.embedding.build((None,))
        for layer in self.initial_state_layers:
            layer.build((None, channels))
        self.feature_projection.build((None, features_shape[1], channels))
        self.query_projection.build((None, self.state_sizes[0]))
        if self.word_query_projection is not None:
            self.word_query_projection.build((None, self.embedding_dim))
        self.attention_score.build((None, features_shape[1], self.attention_units))
        self.context_gate.build((None, self.state_sizes[0]))
        self.cell.build((None, self.embedding_dim + channels))
        self.deep_output.build((None, self.units + channels))
        self.output_projection.build((None, self.embedding_dim))

    # -- pieces used by training and by decoding ---------------------------
    def initial_states(self, features) -> list:
        """The cell's initial states (plus, with `delayed_inputs`, a zero pending embedding)."""
        states = self._cell_initial_states(features)
        if self.delayed_inputs:
            states.append(ops.zeros((ops.shape(states[0])[0], self.embedding_dim), dtype=states[0].dtype))
        return states

    def _cell_initial_states(self, features) -> list:
        mean = ops.mean(ops.convert_to_tensor(features), axis=1)
        return [layer(mean) for layer in self.initial_state_layers]

    def project_features(self, features):
        return self.feature_projection(ops.convert_to_tensor(features))

    def embed(self, token_ids):
        """Embeddings of the words just said, read through `input_aliases`."""
        token_ids = ops.convert_to_tensor(token_ids)
        if self.input_aliases:
            token_ids = ops.take(ops.convert_to_tensor(self._read_as), token_ids)
        return self.embedding(token_ids)

    def _said(self, token_ids):
        """Embeddings of the words as said (no aliases), when `delayed_inputs` or `query_words` need them."""
        if self.delayed_inputs or self.query_words:
            return self.embedding(ops.convert_to_tensor(token_ids))
        return None

    def _delayed(self, token_ids, said):
        """`said` for the `delayed_inputs` among `token_ids`, zeros for other words."""
        return said * ops.take(ops.convert_to_tensor(self._delayed_mask), ops.convert_to_tensor(token_ids), axis=0)

    def step(self, token_ids, states, features, projected, training=None):
        """One decoding step: `(logits, attention weights, new states)`."""
        features = ops.convert_to_tensor(features)
        embedded, said = self.embed(token_ids), self._said(token_ids)
        query_said = said if self.query_words else None
        if not self.delayed_inputs:
            return self._step(embedded, states, features, projected, training, query_said)
        *cell_states, pending = states
        logits, weights, new_states = self._step(
            embedded + pending, cell_states, features, projected, training, query_said
        )
        return logits, weights, new_states + [self._delayed(token_ids, said)]

    def _step(self, embedded, states, features, projected, training=None, said=None):
        hidden = states[0]
        query = self.query_projection(hidden)
        if said is not None:
            query = query + self.word_query_projection(said)
        query = ops.expand_dims(query, 1)
        scores = ops.squeeze(self.attention_score(ops.tanh(projected + query)), -1)
        weights = ops.softmax(scores, axis=-1)
        context = ops.sum(ops.expand_dims(weights, -1) * features, axis=1)
        context = self.context_gate(hidden) * context
        step_input = self.dropout(ops.concatenate([embedded, context], -1), training=training)
        output, new_states = self.cell(step_input, list(states), training=training)
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        hidden_out = self.deep_output(ops.concatenate([output, context], -1))
        logits = self.output_projection(self.dropout(hidden_out, training=training))
        return logits, weights, list(new_states)

    def call(self, inputs, training=None):
        features, tokens = inputs
        steps = tokens.shape[1]
        if steps is None:
            raise ValueError("AttentionDecoder needs token sequences of a static length.")
        for reset in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
            if hasattr(self.cell, reset):
                getattr(self.cell, reset)()
        projected = self.project_features(features)
        states = self._cell_initial_states(features)
        embedded, said = self.embed(tokens), self._said(tokens)
        if self.delayed_inputs:  # word t-2's delayed embedding joins word t-1's
            delayed = self._delayed(tokens, said)
            embedded = embedded + ops.pad(delayed[:, :-1], [[0, 0], [1, 0], [0, 0]])
        logits = []
        for t in range(steps):
            query_said = said[:, t] if self.query_words else None
            step_logits, _, states = self._step(embedded[:, t], states, features, projected, training, query_said)
            logits.append(step_logits)
        return ops.stack(logits, axis=1)

    def compute_output_shape(self, input_shape):
        features_shape, tokens_shape = input_shape
        return (features_shape[0], tokens_shape[1], self.vocabulary_size)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "attention_units": self.attention_units,
            "cell": self.cell_name,
            "cell_config": self.cell_config,
            "dropout": self.dropout_rate,
            "input_aliases": self.input_aliases,
            "delayed_inputs": self.delayed_inputs,
            "query_words": self.query_words,
        }


# --------------------------------------------------------------------- model
def build_encoder(
    image_size: int = 64,
    filters: Sequence[int] = (32, 64, 128),
    feature_dim: int = 128,
    backbone: keras.Model | None = None,
) -> keras.Model:
    """A CNN from an image `(size, size, 3)` (values 0-255) to `(locations, feature_dim)`.

    Args:
        image_size: input height and width.
        filters: widths of the convolution stages: a stride-2 3x3 conv, then
            per stage a 3x3 conv, and 2x2 max pooling between stages.
        feature_dim: width of each grid vector.
        backbone: optional pretrained Keras model from an image (0-255 float
            input of `image_size`, or it is resized to its input) to a 4-D
            feature map; it replaces the convolution stages. Its own
            preprocessing must be inside it.
    """
    inputs = keras.Input((image_size, image_size, 3), name="image")
    if backbone is not None:
        expected = backbone.input_shape
        x = inputs
        if expected[1] is not None and tuple(expected[1:3]) != (image_size, image_size):
            x = keras.layers.Resizing(expected[1], expected[2], name="backbone_resize")(x)
        x = backbone(x)
        if len(x.shape) != 4:
            raise ValueError(
                f"The backbone {backbone.name!r} must output a 4-D feature map "
                f"(batch, h, w, c); it outputs {tuple(x.shape)}."
            )
    else:
        x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inputs)
        for stage, width in enumerate(filters):
            strides = 2 if stage == 0 else 1
            for repeat in range(1 if stage else 2):
                x = keras.layers.Conv2D(
                    width, 3, strides=strides if repeat == 0 else 1, padding="same",
                    use_bias=False, name=f"conv{stage}_{repeat}",
                )(x)
                x = keras.layers.BatchNormalization(name=f"bn{stage}_{repeat}")(x)
                x = keras.layers.ReLU(name=f"relu{stage}_{repeat}")(x)
            if stage < len(filters) - 1:
                x = keras.layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = CoordinateChannels(name="coordinates")(x)
    x = keras.layers.Conv2D(feature_dim, 1, activation="relu", name="features")(x)
    height, width = x.shape[1], x.shape[2]
    x = keras.layers.Reshape((height * width, feature_dim), name="grid")(x)
    return keras.Model(inputs, x, name="encoder")


def build_captioner_model(
    vocabulary_size: int,
    *,
    image_size: int = 64,
    max_length: int = DEFAULT_MAX_LENGTH,
    filters: Sequence[int] = (32, 64, 128),
    feature_dim: int = 128,
    embedding_dim: int = 64,
    units: int = 256,
    attention_units: int = 128,
    cell: str = "lstm",
    cell_config: dict | None = None,
    dropout: float = 0.2,
    input_aliases: Sequence[Sequence[int]] = (),
    delayed_inputs: Sequence[int] = (),
    query_words: bool = False,
    backbone: keras.Model | None = None,
) -> keras.Model:
    """The teacher-forcing training model `[image, tokens] -> logits`.

    `tokens` are the caption ids without the last one (`max_length - 1`
    steps); the logits predict the ids without the first (`<start>`).
    """
    encoder = build_encoder(image_size, filters, feature_dim, backbone)
    decoder = AttentionDecoder(
        vocabulary_size, embedding_dim, units, attention_units, cell, cell_config, dropout, input_aliases,
        delayed_inputs, query_words, name="decoder",
    )
    image = keras.Input((image_size, image_size, 3), name="image")
    tokens = keras.Input((max_length - 1,), dtype="int32", name="tokens")
    logits = decoder([encoder(image), tokens])
    return keras.Model([image, tokens], logits, name="show_attend_tell")


# ------------------------------------------------------------------ decoding
@dataclass
class Caption:
    """A decoded caption: text, token ids, score (length-normalized log-probability),
    log-probability, and attention weights `(words + 1, locations)` (the last row
    is the step that produced `<end>`, when it was reached)."""

    text: str
    tokens: list[int]
    score: float
    log_probability: float
    attention: np.ndarray = field(repr=False)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def beam_search(
    encoder: keras.Model,
    decoder: AttentionDecoder,
    vocabulary: Vocabulary,
    images: np.ndarray,
    *,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    max_length: int = DEFAULT_MAX_LENGTH,
    length_penalty: float = 1.0,
    batch_size: int = 128,
) -> list[Caption]:
    """Decode a batch of preprocessed images `(n, size, size, 3)`.

    Beam search keeps the `beam_width` best partial captions; a caption ends
    at `<end>` or after `max_length - 2` words. Finished captions are ranked
    by log-probability divided by `length ** length_penalty` (length counts
    the words and `<end>`), so longer captions are not penalized just for
    being long. `beam_width=1` is greedy decoding. `<pad>`, `<start>` and
    `<unk>` are never produced.
    """
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive integer; got {beam_width!r}.")
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 3:
        raise ValueError(f"max_length must be an integer of at least 3; got {max_length!r}.")
    results: list[Caption] = []
    with _inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = np.asarray(images[start : start + batch_size], dtype="float32")
            results.extend(
                _beam_search_batch(encoder, decoder, vocabulary, chunk, int(beam_width), int(max_length), length_penalty)
            )
    return results


def _inference_mode():
    """No autograd bookkeeping while decoding (PyTorch records it by default)."""
    import contextlib

    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def _beam_search_batch(encoder, decoder, vocabulary, images, width, max_length, length_penalty):
    batch = len(images)
    features = encoder(images, training=False)
    locations = features.shape[1]
    features = ops.repeat(features, width, axis=0)  # (batch * width, L, D)
    projected = decoder.project_features(features)
    states = decoder.initial_states(features)
    vocabulary_size = len(vocabulary)
    scores = np.full((batch, width), -np.inf, dtype=np.float64)
    scores[:, 0] = 0.0
    sequences = np.zeros((batch, width, 0), dtype=np.int64)
    attention = np.zeros((batch, width, 0, locations), dtype=np.float32)
    tokens = np.full((batch * width,), vocabulary.start_id, dtype="int32")
    finished: list[list[tuple]] = [[] for _ in range(batch)]
    max_words = max_length - 2
    blocked = np.zeros(vocabulary_size, dtype=bool)
    blocked[[vocabulary.pad_id, vocabulary.start_id, vocabulary.unknown_id]] = True

    def normalized(log_probability, length):
        return log_probability / (max(length, 1) ** length_penalty)

    for step in range(max_words + 1):
        logits, weights, states = decoder.step(ops.convert_to_tensor(tokens), states, features, projected)
        logits = ops.convert_to_numpy(logits).astype(np.float64)
        if not np.isfinite(logits).all():
            raise FloatingPointError("The captioning model produced non-finite logits (NaN or inf).")
        log_probs = _log_softmax(logits).reshape(batch, width, -1)
        log_probs[..., blocked] = -np.inf
        if step == max_words:  # out of room: only <end> may follow
            keep = log_probs[..., vocabulary.end_id].copy()
            log_probs[:] = -np.inf
            log_probs[..., vocabulary.end_id] = keep
        weights = ops.convert_to_numpy(weights).reshape(batch, width, locations)
        candidates = (scores[..., None] + log_probs).reshape(batch, -1)
        order = np.argsort(-candidates, axis=1)[:, : 2 * width]
        new_scores = np.full((batch, width), -np.inf)
        new_sequences = np.zeros((batch, width, step + 1), dtype=np.int64)
        new_attention = np.zeros((batch, width, step + 1, locations), dtype=np.float32)
        parents = np.zeros((batch, width), dtype=np.int64)
        for b in range(batch):
            slot = 0
            for flat in order[b]:
                value = candidates[b, flat]
                if not np.isfinite(value):
                    break
                parent, token = divmod(int(flat), vocabulary_size)
                history = np.append(sequences[b, parent], token)
                maps = np.concatenate([attention[b, parent], weights[b, parent][None]], 0)
                if token == vocabulary.end_id:
                    length = len(history)
                    finished[b].append((normalized(value, length), value, history[:-1], maps))
                elif slot < width:
                    new_scores[b, slot] = value
                    new_sequences[b, slot] = history
                    new_attention[b, slot] = maps
                    parents[b, slot] = parent
                    slot += 1
                if slot >= width:
                    break
        scores, sequences, attention = new_scores, new_sequences, new_attention
        # stop once no live beam can beat the best finished caption of every image
        done = True
        for b in range(batch):
            if not finished[b] or not np.isfinite(scores[b]).any():
                if np.isfinite(scores[b]).any():
                    done = False
                continue
            best_finished = max(item[0] for item in finished[b])
            best_alive = np.max(scores[b][np.isfinite(scores[b])])  # log-probs only fall
            if normalized(best_alive, max_words + 1) > best_finished:
                done = False
        if done:
            break
        flat_parents = (np.arange(batch)[:, None] * width + parents).reshape(-1)
        index = ops.convert_to_tensor(flat_parents.astype("int32"))
        states = [ops.take(state, index, axis=0) for state in states]
        tokens = np.where(np.isfinite(scores), sequences[..., -1], vocabulary.end_id).reshape(-1).astype("int32")
    captions = []
    for b in range(batch):
        best = max(finished[b], key=lambda item: item[0])
        ids = [int(t) for t in best[2]]
        captions.append(
            Caption(vocabulary.decode(ids), ids, float(best[0]), float(best[1]), np.asarray(best[3]))
        )
    return captions


# ------------------------------------------------------------------- metrics
def caption_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """BLEU-1..4 and CIDEr-D of `predictions` against `references` (pycocoevalcap).

    Captions are lower-cased and split into words by `captions.tokenize`
    (the Java PTB tokenizer of the COCO toolkit is not used). CIDEr-D's
    document frequencies come from the references, as in the COCO toolkit.
    """
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        raise ImportError(
            "BLEU and CIDEr need pycocoevalcap: pip install 'keras-rnnzoo[captioning]' "
            "(or pip install pycocoevalcap)."
        ) from None
    from keras_rnnzoo.data.captions import tokenize

    if len(predictions) != len(references) or not predictions:
        raise ValueError(
            f"Need one non-empty list of references per prediction; got {len(predictions)} "
            f"predictions and {len(references)} reference lists."
        )
    hypotheses = {i: [" ".join(tokenize(p)) or "<empty>"] for i, p in enumerate(predictions)}
    refs = {i: [" ".join(tokenize(r)) for r in rs] for i, rs in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(refs, hypotheses, verbose=0)
    cider, _ = Cider().compute_score(refs, hypotheses)
    return {**{f"bleu_{n}": float(bleu[n - 1]) for n in range(1, 5)}, "cider": float(cider)}


def truthfulness(predictions: Sequence[str], scenes: Sequence) -> float:
    """Fraction of captions whose every stated object, color, size and relation is
    true of its scene (see `keras_rnnzoo.data.shapes.is_truthful`)."""
    from keras_rnnzoo.data.shapes import is_truthful

    if len(predictions) != len(scenes) or not predictions:
        raise ValueError(f"Need one scene per caption; got {len(predictions)} and {len(scenes)}.")
    return float(np.mean([is_truthful(p, s) for p, s in zip(predictions, scenes)]))


#: The evaluation sets of the shipped model: (name, split, renderer, seed).
EVALUATION_SETS = (
    ("test", "test", "varied", 1_000_003),
    ("held_out_pairs", "held_out", "varied", 1_000_004),
    ("plain_renderer", "test", "plain", 1_000_005),
    ("plain_renderer_held_out_pairs", "held_out", "plain", 1_000_006),
)


def evaluate_on_scenes(
    captioner: "Captioner",
    count: int = 1000,
    beam: int = DEFAULT_BEAM_WIDTH,
    sets=EVALUATION_SETS,
) -> dict[str, dict[str, Any]]:
    """Caption generated held-out scenes and score them (BLEU, CIDEr-D, truthfulness).

    Every set is generated from its own fixed seed (never used in training):
    `test` (training distribution, varied renderer), `held_out_pairs`
    (every scene has a color-shape pair kept out of training),
    `plain_renderer` and `plain_renderer_held_out_pairs` (the independent
    NumPy renderer with CSS colours, never used in training).
    """
    from keras_rnnzoo.data import shapes

    held_out = [tuple(pair) for pair in captioner.config.get("held_out_pairs", shapes.HELD_OUT_PAIRS)]
    results = {}
    for name, split, renderer, seed in sets:
        images, scenes = shapes.generate(
            count, seed, size=captioner.image_size, split=split, renderer=renderer, held_out_pairs=held_out
        )
        decoded = captioner.caption_arrays(images, beam=beam)
        predictions = [item.text for item in decoded]
        metrics = caption_scores(predictions, [scene.captions() for scene in scenes])
        metrics["truthfulness"] = truthfulness(predictions, scenes)
        metrics["scenes"] = count
        metrics["split"] = (
            f"{count} generated scenes, split={split}, renderer={renderer}, seed={seed}, beam={beam}"
        )
        results[name] = metrics
    return results


# ---------------------------------------------------------------------- task
@register_task("captioner")
class Captioner(Task):
    """A captioning model, its vocabulary and its image preprocessing.

    `predict` takes an image path, an array, or a list of them; it converts
    grayscale, RGBA, palette and 16-bit images to RGB and resizes any size to
    the model's input.

    Example (with the shipped preset):

    >>> from keras_rnnzoo import zoo                       # doctest: +SKIP
    >>> captioner = zoo.load("shapes-captioner")           # doctest: +SKIP
    >>> captioner.predict("scene.png")                     # doctest: +SKIP
    'a large red circle to the left of a small blue square'
    """

    def __init__(self, model, card=None, folder=None, vocabulary: Vocabulary | None = None):
        super().__init__(model, card, folder)
        if vocabulary is None:
            tokens = self.config.get("vocabulary")
            if tokens is None:
                raise ValueError("A Captioner needs a vocabulary (none given and none in the card).")
            vocabulary = Vocabulary.from_json({"tokens": tokens})
        self.vocabulary = vocabulary
        try:
            self.encoder = model.get_layer("encoder")
            self.decoder = model.get_layer("decoder")
        except ValueError:
            raise ValueError(
                f"Model {model.name!r} is not a captioner: it needs layers named 'encoder' and 'decoder'."
            ) from None
        if self.decoder.vocabulary_size != len(vocabulary):
            raise ValueError(
                f"The vocabulary has {len(vocabulary)} tokens but the decoder predicts "
                f"{self.decoder.vocabulary_size}."
            )

    @property
    def image_size(self) -> int:
        return int(self.encoder.input_shape[1])

    @property
    def max_length(self) -> int:
        return int(self.config.get("max_length", DEFAULT_MAX_LENGTH))

    # -- preset hooks -----------------------------------------------------
    @classmethod
    def from_folder(cls, model, metadata, folder: Path) -> "Captioner":
        path = Path(folder) / VOCABULARY_FILE
        if not path.is_file():
            raise FileNotFoundError(f"Captioner preset {folder} has no {VOCABULARY_FILE}.")
        try:
            vocabulary = Vocabulary.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, ValueError) as error:
            raise ValueError(f"{path} is not a valid vocabulary: {error}") from None
        return cls(model, metadata, folder, vocabulary=vocabulary)

    def extra_files(self) -> dict[str, bytes]:
        return {VOCABULARY_FILE: (json.dumps(self.vocabulary.to_json(), indent=1) + "\n").encode()}

    def metadata(self) -> dict[str, Any]:
        return {
            "input_spec": {
                "image_size": [self.image_size, self.image_size],
                "channels": 3,
                "dtype": "uint8 RGB (any image is converted and resized)",
            },
            "labels": {"vocabulary_size": len(self.vocabulary), "vocabulary_file": VOCABULARY_FILE},
            "preprocessing": {
                "color": "RGB; grayscale/palette/16-bit converted, alpha composited over white",
                "resize": "bilinear to image_size",
                "scale": "0-255 floats; the model rescales inside",
            },
        }

    # -- inference ---------------------------------------------------------
    def preprocess(self, image, name: str | None = None) -> np.ndarray:
        """One image (path or array) -> `(size, size, 3)` uint8."""
        return read_image(image, self.image_size, name=name)

    def caption_arrays(
        self, images: np.ndarray, beam: int = DEFAULT_BEAM_WIDTH, max_length: int | None = None,
        length_penalty: float = 1.0,
    ) -> list[Caption]:
        """Decode preprocessed images `(n, size, size, 3)`."""
        return beam_search(
            self.encoder, self.decoder, self.vocabulary, np.asarray(images, dtype="float32"),
            beam_width=beam, max_length=max_length or self.max_length, length_penalty=length_penalty,
        )

    def predict(
        self,
        images,
        beam: int = DEFAULT_BEAM_WIDTH,
        max_length: int | None = None,
        return_details: bool = False,
    ):
        """Caption one image (path or array) or a list of them.

        Args:
            images: a path, an image array `(h, w)`, `(h, w, 1|3|4)`, or a
                list of those; a 4-D array is a batch.
            beam: beam width (1 = greedy).
            max_length: maximum caption length in tokens (`<start>` and
                `<end>` included); the preset's by default.
            return_details: return `Caption` objects (text, score, attention
                weights per word) instead of strings.
        """
        single = isinstance(images, (str, os.PathLike)) or (
            isinstance(images, np.ndarray) and images.ndim in (2, 3)
        )
        items = [images] if single else list(images)
        if not items:
            raise ValueError("predict() needs at least one image.")
        batch = np.stack([self.preprocess(item) for item in items])
        decoded = self.caption_arrays(batch, beam=beam, max_length=max_length)
        results = decoded if return_details else [item.text for item in decoded]
        return results[0] if single else results

    def attention_figure(self, image, caption: Caption, path: str | os.PathLike, cell: int = 96) -> Path:
        """Write a PNG: the picture, then one panel per word with its attention map over it."""
        from PIL import Image, ImageDraw

        picture = self.preprocess(image)
        grid = int(round(math.sqrt(caption.attention.shape[1])))
        words = caption.text.split() + ["<end>"]
        panels = [Image.fromarray(picture).resize((cell, cell), Image.BILINEAR)]
        for word, weights in zip(words, caption.attention):
            heat = weights.reshape(grid, grid)
            heat = heat / max(float(heat.max()), 1e-8)
            mask = Image.fromarray((heat * 255).astype(np.uint8)).resize((cell, cell), Image.BILINEAR)
            base = np.asarray(panels[0], dtype=np.float32) * 0.35
            alpha = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
            blended = base + alpha * np.asarray(panels[0], dtype=np.float32) * 0.65 + alpha * np.array([60, 60, 0])
            panels.append((Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8)), word))
        label_height = 16
        sheet = Image.new("RGB", (cell * len(panels), cell + label_height), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        sheet.paste(panels[0], (0, 0))
        draw.text((4, cell + 2), "input", fill=(0, 0, 0))
        for index, (panel, word) in enumerate(panels[1:], start=1):
            sheet.paste(panel, (index * cell, 0))
            draw.text((index * cell + 4, cell + 2), word, fill=(0, 0, 0))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path)
        return path

    # -- CLI hooks ---------------------------------------------------------
    @classmethod
    def cli_options(cls) -> list:
        import click

        return [
            click.Option(["--beam"], type=click.IntRange(min=1), default=DEFAULT_BEAM_WIDTH, show_default=True,
                         help="Beam width (1 = greedy decoding)."),
            click.Option(["--attention"], type=click.Path(dir_okay=False), default=None,
                         help="Write a PNG of the attention map of every word over the picture "
                              "(one file per input: NAME-<n>.png when several)."),
        ]

    def predict_files(self, inputs: list[str], beam: int = DEFAULT_BEAM_WIDTH, attention: str | None = None, **options):
        """`rnnzoo predict`: one `{"input", "caption", "score"}` per file.

        With `attention`, writes the attention figure(s): the path itself for
        one input, else `<stem>-<n><suffix>` per input.
        """
        results = []
        for number, item in enumerate(inputs):
            picture = self.preprocess(item, name=str(item))
            caption = self.caption_arrays(picture[None], beam=beam)[0]
            entry = {"input": str(item), "caption": caption.text, "score": round(caption.score, 6)}
            if attention:
                target = Path(attention)
                if len(inputs) > 1:
                    target = target.with_name(f"{target.stem}-{number}{target.suffix or '.png'}")
                entry["attention"] = str(self.attention_figure(picture, caption, target))
            results.append(entry)
        return results

    def render_prediction(self, result, console) -> None:
        for entry in result:
            console.print(f"[bold]{entry['input']}[/bold]: {entry['caption']}  (score {entry['score']:.3f})")
            if "attention" in entry:
                console.print(f"  attention maps: {entry['attention']}")

    def evaluate(self, quick: bool = False, count: int | None = None, beam: int = DEFAULT_BEAM_WIDTH, **options):
        """Rerun the card's evaluation on generated held-out scenes (1000 per set; 100 with `quick`)."""
        return evaluate_on_scenes(self, count or (100 if quick else 1000), beam=beam)
