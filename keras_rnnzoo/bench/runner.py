"""Run the benchmarks in one process per Keras backend and merge the results.

Keras fixes its backend at import time, so `run` starts
`python -m keras_rnnzoo.bench.runner` once per backend with
`KERAS_BACKEND` set, hands it a JSON spec on stdin and reads a JSON result
from its stdout (anything else the child prints goes to stderr). The
children run one after the other, never at the same time, so they do not
compete for the CPU.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time

from keras_rnnzoo.bench.common import Shape, machine, process_peak_rss_mib

BACKENDS = ("tensorflow", "jax", "torch")


def available_backends() -> list[str]:
    """The Keras backends whose library is installed."""
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def run_in_process(spec: dict) -> dict:
    """Run one backend's share of `spec` here (KERAS_BACKEND must already match)."""
    import keras

    backend = keras.backend.backend()
    if spec.get("backend", backend) != backend:
        raise RuntimeError(f"spec is for backend {spec['backend']!r} but Keras runs {backend!r}.")
    out: dict = {"backend": backend, "device": device_name(backend), "results": [], "streaming": [], "tasks": [], "errors": []}
    if spec["kind"] == "throughput":
        keras.config.set_dtype_policy(spec.get("dtype_policy", "float32"))
        from keras_rnnzoo.bench.streaming import measure_streaming
        from keras_rnnzoo.bench.throughput import measure

        for shape_text in spec["shapes"]:
            shape = Shape.parse(shape_text)
            results, errors = measure(
                spec["contestants"],
                shape,
                backend=backend,
                repeats=spec["repeats"],
                warmup=spec["warmup"],
                include_torch=spec.get("include_torch", False),
                memory=spec.get("memory", True),
                jit_compile=spec.get("jit_compile", "auto"),
                train_loop=spec.get("train_loop", "keras"),
            )
            for row in results:
                row["dtype_policy"] = "float32" if row["framework"] == "torch" else spec.get("dtype_policy", "float32")
            out["results"] += results
            out["errors"] += errors
        if spec.get("streaming"):
            shape = Shape.parse(spec["shapes"][0])
            results, errors = measure_streaming(
                spec["streaming_contestants"],
                features=shape.features,
                units=shape.units,
                backend=backend,
                hops=spec.get("hops", 50),
                include_torch=spec.get("include_torch", False),
            )
            out["streaming"] += results
            out["errors"] += errors
    elif spec["kind"] == "task":
        from keras_rnnzoo.bench.tasks import run_task

        results, errors = run_task(
            spec["task"],
            spec["cells"],
            spec["lengths"],
            backend=backend,
            units=spec["units"],
            batch=spec["batch"],
            train_steps=spec["train_steps"],
        )
        out["tasks"] += results
        out["errors"] += errors
    else:
        raise ValueError(f"unknown benchmark kind {spec['kind']!r}.")
    for error in out["errors"]:
        error.setdefault("backend", backend)
    out["process_peak_rss_mib"] = round(process_peak_rss_mib(), 1)
    return out


def device_name(backend: str) -> str:
    """What the backend computes on, e.g. "cpu" or "gpu: NVIDIA H200"."""
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            return "cpu" if device.platform == "cpu" else f"{device.platform}: {device.device_kind}"
        if backend == "torch":
            import torch

            return f"gpu: {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "cpu"
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"gpu: {tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'GPU')}" if gpus else "cpu"
    except Exception as error:  # noqa: BLE001 - informational only
        return f"unknown ({type(error).__name__})"


def run(spec: dict, backends: list[str], *, timeout: float | None = None, progress=None) -> dict:
    """Run `spec` on each backend in its own process; return the merged payload.

    `progress(backend)` is called before each backend starts (for a spinner).
    A backend whose process fails is reported under `errors` and the others
    still run.
    """
    from keras_rnnzoo.bench.throughput import add_ratios

    merged: dict = {
        "kind": spec["kind"],
        "spec": spec,
        "backends": backends,
        "machine": machine(),
        "devices": {},
        "process_peak_rss_mib": {},
        "results": [],
        "streaming": [],
        "tasks": [],
        "errors": [],
    }
    # PyTorch's own layers are measured once, preferably in the torch process.
    torch_host = "torch" if "torch" in backends else (backends[0] if backends else None)
    started = time.perf_counter()
    for backend in backends:
        if progress is not None:
            progress(backend)
        child_spec = {**spec, "backend": backend, "include_torch": spec.get("include_torch", False) and backend == torch_host}
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        try:
            process = subprocess.run(
                [sys.executable, "-m", "keras_rnnzoo.bench.runner"],
                input=json.dumps(child_spec),
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            merged["errors"].append({"backend": backend, "contestant": None, "error": f"timed out after {timeout} s"})
            continue
        if process.returncode != 0:
            tail = (process.stderr.strip().splitlines() or ["(no output)"])[-1]
            merged["errors"].append({"backend": backend, "contestant": None, "error": f"exit {process.returncode}: {tail}"})
            continue
        child = json.loads(process.stdout)
        merged["devices"][backend] = child["device"]
        merged["process_peak_rss_mib"][backend] = child["process_peak_rss_mib"]
        for key in ("results", "streaming", "tasks", "errors"):
            merged[key] += child[key]
    add_ratios(merged["results"])
    merged["seconds"] = round(time.perf_counter() - started, 1)
    return merged


def _main() -> int:
    spec = json.loads(sys.stdin.read())
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON only
        payload = run_in_process(spec)
    real_stdout.write(json.dumps(payload) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
