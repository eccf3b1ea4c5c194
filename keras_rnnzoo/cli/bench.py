"""`rnnzoo bench`: speed, memory, streaming latency and long-memory benchmarks.

Examples::

    rnnzoo bench                                  # default shape, every backend
    rnnzoo bench --shape 32,1024,40,128 --backend jax --layers rnnzoo.LSTM,rnnzoo.MinGRU
    rnnzoo bench --long --json > long.json        # T = 1024 and 4096
    rnnzoo bench --task adding --lengths 50,200,1000
    rnnzoo bench --quick --json                   # seconds; what CI runs
    rnnzoo bench --backend jax --shape 256,1024,128,512 --dtype-policy mixed_bfloat16   # on a GPU
    rnnzoo bench --backend jax --train-loop jax   # a jitted stateless step instead of train_on_batch

The JSON fields are documented in `keras_rnnzoo.bench`.
"""

from __future__ import annotations

import sys

import click
from rich.table import Table

from keras_rnnzoo.cli.app import app, console, json_option, print_json

QUICK_CONTESTANTS = ("keras.LSTM", "keras.GRU", "rnnzoo.LSTM", "rnnzoo.GRU", "rnnzoo.MinGRU", "rnnzoo.MinLSTM")
LONG_CONTESTANTS = ("keras.LSTM", "keras.GRU", "rnnzoo.LSTM", "rnnzoo.GRU", "rnnzoo.MinGRU", "rnnzoo.MinLSTM")
DEFAULT_CONTESTANTS = (
    "keras.LSTM",
    "keras.GRU",
    "rnnzoo.LSTM",
    "rnnzoo.GRU",
    "rnnzoo.PeepholeLSTM",
    "rnnzoo.CIFGLSTM",
    "rnnzoo.LayerNormLSTM",
    "rnnzoo.LayerNormGRU",
    "rnnzoo.MGU",
    "rnnzoo.MinGRU",
    "rnnzoo.MinLSTM",
)


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise click.BadParameter(f"expected positive integers separated by commas; got {text!r}.", param_hint=option)
    return values


@app.command()
@click.option("--shape", "shape_text", default=None, metavar="B,T,I,H", help="Batch, steps, input features, units (default 64,100,40,128).")
@click.option("--long", "long_preset", is_flag=True, help="Long sequences: shapes 32,1024,40,128 and 32,4096,40,256.")
@click.option("--backend", "backends", multiple=True, type=click.Choice(["tensorflow", "jax", "torch"]), help="Keras backend(s) to run (repeatable; default: every installed one).")
@click.option("--repeats", type=click.IntRange(min=1), default=None, help="Timed repetitions per contestant (default 5; 2 with --quick).")
@click.option("--warmup", type=click.IntRange(min=0), default=None, help="Untimed warm-up calls per contestant (default 2; 1 with --quick).")
@click.option("--layers", "layers_text", default=None, help="Comma-separated contestants, e.g. rnnzoo.LSTM,keras.LSTM,rnnzoo.MinGRU.")
@click.option("--no-torch", is_flag=True, help="Skip PyTorch's own nn.LSTM / nn.GRU.")
@click.option("--no-streaming", is_flag=True,
              help="Skip the per-hop streaming latency (stateful layers and the speech-commands-gru spotter).")
@click.option("--no-memory", is_flag=True, help="Skip the peak-memory step.")
@click.option("--dtype-policy", type=click.Choice(["float32", "mixed_bfloat16", "mixed_float16"]), default="float32", show_default=True,
              help="Keras dtype policy of the Keras contestants (PyTorch's own layers stay float32).")
@click.option("--jit-compile", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="XLA for the Keras contestants' compile(): auto is Keras's default (off for TensorFlow on a CPU-only machine).")
@click.option("--train-loop", type=click.Choice(["keras", "jax"]), default="keras", show_default=True,
              help="How the Keras contestants are stepped: keras = train_on_batch / predict_on_batch; jax = a jitted "
                   "stateless step (stateless_call + optimizer.stateless_apply), without train_on_batch's per-call "
                   "bookkeeping (JAX backend only).")
@click.option("--task", type=click.Choice(["adding", "copy"]), default=None, help="Run a long-memory task instead of the speed benchmark.")
@click.option("--lengths", default=None, help="Task lengths (default 50,200,1000; 10,20 with --quick).")
@click.option("--cells", "cells_text", default=None, help="Task cells (default SimpleRNN,LSTM,GRU,MinGRU,MinLSTM).")
@click.option("--train-steps", type=click.IntRange(min=1), default=None, help="Task training batches per cell (default 2000; 20 with --quick).")
@click.option("--units", type=click.IntRange(min=1), default=None, help="Task hidden units (default 64; 8 with --quick).")
@click.option("--quick", is_flag=True, help="Tiny shapes and budgets: a smoke test that runs in seconds.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Seconds allowed per backend process.")
@json_option
def bench(
    shape_text, long_preset, backends, repeats, warmup, layers_text, no_torch, no_streaming, no_memory, dtype_policy,
    jit_compile, train_loop, task, lengths, cells_text, train_steps, units, quick, timeout, json_output,
) -> None:
    """Benchmark keras_rnnzoo layers against keras.layers and PyTorch (one process per backend)."""
    from keras_rnnzoo.bench import DEFAULT_SHAPE, LONG_SHAPES, QUICK_SHAPE, Shape, available_backends, run
    from keras_rnnzoo.bench.streaming import KEYWORD_SPOTTER, STREAMING_CONTESTANTS
    from keras_rnnzoo.bench.tasks import DEFAULT_LENGTHS, QUICK_LENGTHS, TASK_CELLS

    installed = available_backends()
    chosen = list(dict.fromkeys(backends)) or installed
    missing = [name for name in chosen if name not in installed]
    if missing:
        raise click.BadParameter(f"backend(s) not installed: {', '.join(missing)}.", param_hint="--backend")

    if train_loop == "jax" and chosen != ["jax"]:
        raise click.BadParameter(f"needs --backend jax alone; got {', '.join(chosen)}.", param_hint="--train-loop")
    if task is not None:
        spec = {
            "kind": "task",
            "task": task,
            "lengths": _int_list(lengths, "--lengths") if lengths else list(QUICK_LENGTHS if quick else DEFAULT_LENGTHS),
            "cells": [c.strip() for c in cells_text.split(",") if c.strip()] if cells_text else list(TASK_CELLS),
            "units": units or (8 if quick else 64),
            "batch": 16 if quick else 64,
            "train_steps": train_steps or (20 if quick else 2000),
        }
    else:
        if shape_text and long_preset:
            raise click.BadParameter("give either --shape or --long, not both.", param_hint="--shape")
        try:
            shapes = [Shape.parse(shape_text)] if shape_text else list(LONG_SHAPES) if long_preset else [QUICK_SHAPE if quick else DEFAULT_SHAPE]
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--shape") from error
        default = QUICK_CONTESTANTS if quick else LONG_CONTESTANTS if long_preset else DEFAULT_CONTESTANTS
        contestants = [c.strip() for c in layers_text.split(",") if c.strip()] if layers_text else list(default)
        spec = {
            "kind": "throughput",
            "shapes": [str(s) for s in shapes],
            "contestants": contestants,
            "repeats": repeats or (2 if quick else 3 if long_preset else 5),
            "warmup": warmup if warmup is not None else (1 if quick else 2),
            "include_torch": not no_torch,
            "streaming": not no_streaming and not long_preset,
            # the shipped keyword spotter's streaming step joins unless --layers names the contestants
            "streaming_contestants": [c for c in STREAMING_CONTESTANTS
                                      if c in contestants or (c == KEYWORD_SPOTTER and not layers_text)],
            "hops": 5 if quick else 50,
            "memory": not no_memory,
            "dtype_policy": dtype_policy,
            "jit_compile": {"on": True, "off": False}.get(jit_compile, "auto"),
            "train_loop": train_loop,
        }
    if json_output:
        payload = run(spec, chosen, timeout=timeout)
    else:
        with console.status("benchmarking") as status:
            payload = run(spec, chosen, timeout=timeout, progress=lambda b: status.update(f"benchmarking on {b}"))
    rows = payload["results"] + payload["streaming"] + payload["tasks"]
    if not rows:
        detail = "; ".join(f"{e['backend']}: {e['error']}" for e in payload["errors"]) or "nothing measured"
        raise click.ClickException(f"benchmark failed: {detail}")
    if json_output:
        print_json(payload)
        return
    _print_tables(payload)
    for error in payload["errors"]:
        print(f"rnnzoo: warning: {error['backend']} {error['contestant'] or ''}: {error['error']}", file=sys.stderr)


def _fmt(value, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def _print_tables(payload: dict) -> None:
    machine = payload["machine"]
    caption = f"{machine.get('cpu_count')} CPUs, keras {machine.get('keras')}; medians; ×: reference time / this time (> 1 is faster)"
    if machine.get("load_average_1m") is not None:
        caption += f"\n1-minute load average before the run: {machine['load_average_1m']:.2f} on {machine.get('cpu_count')} CPUs"
    peaks = payload.get("process_peak_rss_mib") or {}
    if peaks:
        caption += "\nprocess peak memory: " + ", ".join(f"{backend} {_fmt(mib, 0)} MiB" for backend, mib in peaks.items())
    if payload["results"]:
        loop = payload["spec"].get("train_loop", "keras")
        caption += "\nKeras contestants stepped with " + (
            "a jitted stateless JAX step (--train-loop jax)" if loop == "jax" else "train_on_batch / predict_on_batch"
        )
        table = Table(title="Training step (forward, backward, Adam) and inference", caption=caption)
        for column in ("backend", "contestant", "shape B,T,I,H", "train ms", "train tok/s", "× built-in", "× torch", "infer ms", "infer tok/s", "× built-in", "memory MiB"):
            table.add_column(column, justify="left" if column in ("backend", "contestant") else "right")
        for row in payload["results"]:
            shape = row["shape"]
            table.add_row(
                row["backend"],
                row["contestant"],
                f"{shape['batch']},{shape['steps']},{shape['features']},{shape['units']}",
                _fmt(row["train_ms"]),
                _fmt(row["train_tokens_per_s"], 0),
                _fmt(row["train_speedup_vs_builtin"], 2),
                _fmt(row["train_speedup_vs_torch"], 2),
                _fmt(row["infer_ms"]),
                _fmt(row["infer_tokens_per_s"], 0),
                _fmt(row["infer_speedup_vs_builtin"], 2),
                _fmt(row["peak_memory_mib"], 0),
            )
        console.print(table)
    if payload["streaming"]:
        table = Table(title="Streaming: one step, batch 1, stateful")
        for column in ("backend", "contestant", "units", "hop ms (median)", "hop ms (p90)"):
            table.add_column(column)
        for row in payload["streaming"]:
            table.add_row(row["backend"], row["contestant"], str(row["units"]), _fmt(row["hop_ms"], 3), _fmt(row["hop_ms_p90"], 3))
        console.print(table)
    if payload["tasks"]:
        table = Table(title="Long-memory task", caption="baseline: the trivial predictor (adding: always 1; copy: chance)")
        for column in ("backend", "task", "length", "cell", "metric", "value", "baseline", "solved", "train s"):
            table.add_column(column)
        for row in payload["tasks"]:
            table.add_row(
                row["backend"], row["task"], str(row["length"]), row["cell"], row["metric"],
                _fmt(row["value"], 4), _fmt(row["baseline"], 4), "yes" if row["solved"] else "no", _fmt(row["train_seconds"], 1),
            )
        console.print(table)
