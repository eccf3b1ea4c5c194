"""Shapes, timing and memory helpers shared by the benchmarks.

Everything here is backend-neutral; the benchmark modules import Keras
themselves, so `KERAS_BACKEND` must be set before they are imported (the
runner starts one process per backend for that reason).
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Shape:
    """One benchmark shape: `batch` sequences of `steps` steps of `features` inputs, `units` wide."""

    batch: int
    steps: int
    features: int
    units: int

    @classmethod
    def parse(cls, text: str) -> "Shape":
        """`"64,100,40,128"` -> `Shape(64, 100, 40, 128)`."""
        parts = [p.strip() for p in str(text).split(",")]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 4 or min(values) <= 0:
            raise ValueError(f"--shape must be four positive integers B,T,I,H; got {text!r}.")
        return cls(*values)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def tokens(self) -> int:
        return self.batch * self.steps

    def __str__(self) -> str:
        return f"{self.batch},{self.steps},{self.features},{self.units}"


DEFAULT_SHAPE = Shape(64, 100, 40, 128)
QUICK_SHAPE = Shape(4, 8, 3, 8)
LONG_SHAPES = (Shape(32, 1024, 40, 128), Shape(32, 4096, 40, 256))


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000.0


def time_call(function: Callable[[], object]) -> float:
    """Wall-clock seconds of one call (the call must block until done)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def process_peak_rss_mib() -> float:
    """The largest resident set this process has had so far, in MiB (`ru_maxrss`).

    Covers everything the process did (imports, every contestant, warm-up):
    an upper bound on what one training run of the largest contestant needs.
    """
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class PeakMemory:
    """Peak memory added while the `with` block runs, in MiB.

    On a GPU the backend's own peak counter is used (`device`); on the CPU a
    thread samples the process's resident set size every millisecond and
    reports the peak above the value at entry (`rss`, approximate: memory the
    allocator already holds from earlier work is reused and not counted).
    """

    def __init__(self, backend: str):
        self.backend = backend
        self.mib: float | None = None
        self.method = "rss"

    def __enter__(self) -> "PeakMemory":
        gc.collect()
        self._device = _reset_device_peak(self.backend)
        if self._device:
            self.method = "device"
            return self
        self._base = _rss_bytes()
        self._peak = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        if self._device:
            peak = _device_peak(self.backend)
            self.mib = None if peak is None else peak / 2**20
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss_bytes())
        self.mib = (self._peak - self._base) / 2**20


def _reset_device_peak(backend: str) -> bool:
    """Reset the accelerator's peak-memory counter; False on CPU-only runs."""
    try:
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
                return True
        elif backend == "jax":
            import jax

            return jax.devices()[0].platform != "cpu"
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_logical_devices("GPU")
            if gpus:
                tf.config.experimental.reset_memory_stats("GPU:0")
                return True
    except Exception:  # noqa: BLE001 - counters are best effort
        return False
    return False


def _device_peak(backend: str) -> int | None:
    try:
        if backend == "torch":
            import torch

            return int(torch.cuda.max_memory_allocated())
        if backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            return stats.get("peak_bytes_in_use")
        if backend == "tensorflow":
            import tensorflow as tf

            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    except Exception:  # noqa: BLE001
        return None
    return None


def machine() -> dict:
    """Where the numbers come from: CPU count, platform, library versions, and how busy the machine was.

    `load_average_1m` is the 1-minute load average when this is called (before
    any contestant runs; None where the OS has none): near or above
    `cpu_count`, other work shared the CPU and the times are slower and noisier
    than on an idle machine.
    """
    import platform

    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on this OS
        load = None
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": load,
        "python": platform.python_version(),
    }
    from importlib import metadata

    for package in ("keras", "tensorflow", "jax", "torch"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return info
