"""Benchmarks of keras_rnnzoo layers: speed, memory, streaming latency, long memory.

Run them with `rnnzoo bench` (see `keras_rnnzoo.cli.bench`). Modules:

- `throughput`: training-step (forward, backward, Adam) and inference time,
  tokens per second and peak memory of our layers against `keras.layers.LSTM`
  / `GRU` on the same backend and PyTorch's `nn.LSTM` / `nn.GRU`;
- `streaming`: per-hop latency of a stateful layer fed one step at a time,
  and of the shipped keyword spotter's 20 ms streaming step;
- `tasks`: the adding problem and the copy task at long lengths;
- `runner`: one process per Keras backend, results merged;
- `common`: shapes, timing and memory helpers.

JSON fields (`rnnzoo bench --json`): top level `kind` ("throughput" or
"task"), `spec` (the settings), `backends`, `machine` (platform, CPU count,
`load_average_1m` before the run, library versions), `devices` (what each backend computed on, e.g. "cpu" or
"gpu: NVIDIA H200"), `process_peak_rss_mib` (per backend: the largest
resident memory its whole process reached, in MiB; host memory, so an
upper bound for the CPU contestants), `seconds`, and four lists:

- `results`, one per contestant and shape: `backend` (Keras backend, or
  "pytorch" for PyTorch's own layers), `framework` ("keras" / "torch"),
  `contestant` (e.g. "rnnzoo.LSTM", "keras.GRU", "torch.nn.LSTM"), `family`
  ("lstm" / "gru"), `shape` {batch, steps, features, units}, `repeats`,
  `train_ms` (median wall time of one training step), `train_ms_all`,
  `train_tokens_per_s` (batch * steps / median), `infer_ms`, `infer_ms_all`,
  `infer_tokens_per_s`, `dtype_policy` (the Keras policy; PyTorch's layers
  always run float32), `jit_compile` (whether the Keras model's training and
  inference steps ran under XLA, as Keras resolved `compile(jit_compile=...)`;
  null for PyTorch's layers), `train_loop` ("keras": timed with
  `train_on_batch` / `predict_on_batch`; "jax": with a jitted stateless step,
  `rnnzoo bench --train-loop jax`; null for PyTorch's layers), `peak_memory_mib` and `memory_method` ("device":
  the accelerator's peak counter; "rss": resident memory added on the CPU,
  approximate), `baseline` (the built-in compared with), and speedups
  (reference time / this time, > 1 means faster): `train_speedup_vs_builtin`,
  `infer_speedup_vs_builtin`, `train_speedup_vs_torch`,
  `infer_speedup_vs_torch` (null where not measured);
- `streaming`: `backend`, `contestant`, `features`, `units`, `hops`,
  `hop_ms` (median per-hop latency), `hop_ms_p90`;
- `tasks`: `backend`, `task`, `cell`, `length`, `units`, `batch`,
  `train_steps`, `metric` ("mse" / "accuracy"), `value`, `baseline` (the
  trivial predictor's score), `solved`, `train_seconds`;
- `errors`: `backend`, `contestant`, `error` for anything that failed.
"""

from keras_rnnzoo.bench.common import DEFAULT_SHAPE, LONG_SHAPES, QUICK_SHAPE, Shape
from keras_rnnzoo.bench.runner import available_backends, run

__all__ = ["DEFAULT_SHAPE", "LONG_SHAPES", "QUICK_SHAPE", "Shape", "available_backends", "run"]
