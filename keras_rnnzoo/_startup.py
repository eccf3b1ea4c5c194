"""Import Keras for the command line without TensorFlow's C++ startup chatter.

TensorFlow's native libraries log INFO lines while they load ("oneDNN custom
operations are on", "Could not find cuda drivers", CPU instruction hints),
written by abseil before its logging is initialised, so `TF_CPP_MIN_LOG_LEVEL`
does not silence them (abseil/abseil-cpp#1718). When the `rnnzoo` command
starts, `keras_rnnzoo/__init__.py` imports Keras inside `quiet_keras_import()`:
file descriptor 2 goes to a temporary file for the import, then everything
captured except those INFO lines is written back to stderr (warnings and
errors stay, and everything stays when the import fails). `rnnzoo --debug`,
and every other program that imports keras_rnnzoo, see the lines as they come.

TensorFlow also logs an ERROR line, "failed call to cuInit", the first time
it looks for devices on a machine with its CUDA build but no NVIDIA GPU.
The command line makes TensorFlow look for devices inside the capture
(`query_devices`) and drops that line only when the machine has no NVIDIA
device node (`/dev/nvidia0`, ...); where a GPU is present, it stays, since
it then means a driver problem.

Example:

>>> with quiet_keras_import():
...     import keras
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# abseil INFO lines ("I0000 00:00:1795.. 123 port.cc:153] ..."), the warning
# abseil prints before them, and the continuation line of the CPU hint.
_STARTUP_NOISE = re.compile(
    r"^(I\d{4} \d\d:\d\d:\S+\s+\d+ \S+:\d+\] .*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.)$"
)


# TensorFlow's CUDA platform without a GPU ("E0000 ... cuda_platform.cc:52] failed call to cuInit: ...").
_NO_GPU_CUINIT = re.compile(r"^E\d{4} \d\d:\d\d:\S+\s+\d+ \S+:\d+\] failed call to cuInit: .*$")


def nvidia_device_present() -> bool:
    """Whether the machine has an NVIDIA device node (`/dev/nvidia0`, ...)."""
    return any(Path("/dev").glob("nvidia[0-9]*"))


def startup_noise(line: str, gpu_present: bool | None = None) -> bool:
    """Whether a captured stderr line is TensorFlow's native startup chatter.

    `gpu_present` (default: `nvidia_device_present()`) decides whether the
    failed-cuInit line is noise (no GPU) or a driver problem worth showing.
    """
    line = line.rstrip("\n")
    if _STARTUP_NOISE.match(line):
        return True
    if _NO_GPU_CUINIT.match(line):
        return not (nvidia_device_present() if gpu_present is None else gpu_present)
    return False


def query_devices() -> None:
    """Make TensorFlow look for its devices now (a no-op on the other backends)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")


def started_by_cli() -> bool:
    """Whether this process is the `rnnzoo` console script, run without `--debug`."""
    argv = getattr(sys, "argv", None) or [""]
    return Path(argv[0]).name == "rnnzoo" and "--debug" not in argv[1:]


@contextlib.contextmanager
def quiet_keras_import(enabled: bool = True) -> Iterator[None]:
    """Capture fd 2 while the block runs; write back all but startup noise."""
    if not enabled:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to filter
        yield
        return
    failed = False
    with tempfile.TemporaryFile(mode="w+b") as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            gpu_present = nvidia_device_present()
            kept = [line for line in text.splitlines(keepends=True)
                    if failed or not startup_noise(line, gpu_present)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
