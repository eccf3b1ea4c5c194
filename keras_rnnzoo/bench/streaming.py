"""Per-hop latency of a stateful layer fed one step at a time (batch 1).

The streaming use of a recurrent model: a `stateful=True` layer in a model
of batch shape `(1, 1, features)`, called with `predict_on_batch` once per
incoming frame; the state carries across calls. The median wall time of one
call is the per-hop latency (after warm-up). PyTorch's `nn.LSTM` / `nn.GRU`
are timed the same way, carrying `(h, c)` by hand under `torch.no_grad()`.

`zoo.speech-commands-gru` is the shipped keyword spotter's streaming step
(`KeywordSpotter.stream`'s compiled single-hop model: log-mel of the new
20 ms hop plus every recurrent layer, state carried hop to hop); for it
`features` is the samples per hop and `units` the recurrent width.
"""

from __future__ import annotations

import numpy as np

from keras_rnnzoo.bench.common import median_ms, time_call

KEYWORD_SPOTTER = "zoo.speech-commands-gru"
STREAMING_CONTESTANTS = ("keras.LSTM", "keras.GRU", "rnnzoo.LSTM", "rnnzoo.GRU", "rnnzoo.MinGRU", "rnnzoo.MinLSTM",
                         KEYWORD_SPOTTER)


def keyword_spotter_stream():
    """`(hop callable, samples per hop, units)` of the shipped keyword spotter's streaming step."""
    from keras_rnnzoo import zoo
    from keras_rnnzoo.zoo.audio import model_settings

    spotter = zoo.load(KEYWORD_SPOTTER.removeprefix("zoo."))
    advance = spotter.stream_step()
    audio = np.random.default_rng(0).normal(scale=0.1, size=(1, spotter.hop_samples)).astype("float32")
    return (lambda: advance(audio)), spotter.hop_samples, model_settings(spotter.model)["units"]


def _keras_stream(name: str, features: int, units: int):
    import keras

    from keras_rnnzoo import layers

    builders = {
        "keras.LSTM": keras.layers.LSTM,
        "keras.GRU": keras.layers.GRU,
        "rnnzoo.LSTM": layers.LSTM,
        "rnnzoo.GRU": layers.GRU,
        "rnnzoo.MinGRU": layers.MinGRU,
        "rnnzoo.MinLSTM": layers.MinLSTM,
    }
    if name not in builders:
        raise ValueError(f"unknown streaming contestant {name!r}; choose from {sorted(builders)}.")
    model = keras.Sequential([keras.Input(batch_shape=(1, 1, features)), builders[name](units, stateful=True)])
    frame = np.random.default_rng(0).normal(size=(1, 1, features)).astype("float32")
    return lambda: model.predict_on_batch(frame)


def _torch_stream(family: str, features: int, units: int):
    import torch

    torch.manual_seed(0)
    rnn = (torch.nn.LSTM if family == "lstm" else torch.nn.GRU)(features, units, batch_first=True)
    frame = torch.randn(1, 1, features)
    state = {"value": None}

    def hop():
        with torch.no_grad():
            output, state["value"] = rnn(frame, state["value"])
        return output

    return hop


def measure_streaming(
    names: list[str], *, features: int, units: int, backend: str, hops: int = 50, warmup: int = 5, include_torch: bool = False
) -> tuple[list[dict], list[dict]]:
    """Median per-hop latency (ms) of each contestant; returns `(results, errors)`."""
    streams, errors = {}, []  # name -> (framework, hop callable, features, units)
    for name in names:
        try:
            if name == KEYWORD_SPOTTER:
                streams[name] = ("keras", *keyword_spotter_stream())
            else:
                streams[name] = ("keras", _keras_stream(name, features, units), features, units)
        except Exception as error:  # noqa: BLE001
            errors.append({"contestant": f"{name} (streaming)", "error": f"{type(error).__name__}: {error}"})
    if include_torch:
        try:
            streams["torch.nn.LSTM"] = ("torch", _torch_stream("lstm", features, units), features, units)
            streams["torch.nn.GRU"] = ("torch", _torch_stream("gru", features, units), features, units)
        except ImportError:
            pass
    results = []
    for name, (framework, hop, hop_features, hop_units) in streams.items():
        try:
            for _ in range(warmup):
                hop()
            times = [time_call(hop) for _ in range(hops)]
        except Exception as error:  # noqa: BLE001
            errors.append({"contestant": f"{name} (streaming)", "error": f"{type(error).__name__}: {error}"})
            continue
        results.append(
            {
                "backend": backend if framework == "keras" else "pytorch",
                "contestant": name,
                "features": hop_features,
                "units": hop_units,
                "hops": hops,
                "hop_ms": round(median_ms(times), 4),
                "hop_ms_p90": round(float(np.percentile(times, 90)) * 1000, 4),
            }
        )
    return results, errors
