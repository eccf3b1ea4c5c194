"""The `rnnzoo` command hides TensorFlow's native startup INFO lines (and, without a GPU, its failed-cuInit line), and only those."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from keras_rnnzoo._startup import nvidia_device_present, quiet_keras_import, started_by_cli, startup_noise

pytestmark = pytest.mark.backend_independent

# Lines TensorFlow 2.21 prints while `import keras` loads its native libraries.
TF_STARTUP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795712870.703217   12867 port.cc:153] oneDNN custom operations are on. You may see "
    "slightly different numerical results due to floating-point round-off errors from different "
    "computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1795712870.703578   12867 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other "
    "operations, rebuild TensorFlow with the appropriate compiler flags.",
]
KEPT = [
    "W0000 00:00:1795712870.703578   12867 gpu_device.cc:2344] Cannot dlopen some GPU libraries.",
    "E0000 00:00:1795712870.703578   12867 cuda_dnn.cc:8310] Unable to register cuDNN factory",
    "UserWarning: something a user should see",
    "I think therefore I am",
]


CUINIT = ("E0000 00:00:1795728050.294339   14715 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
          "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)")


def test_failed_cuinit_is_noise_only_without_a_gpu():
    assert startup_noise(CUINIT, gpu_present=False)
    assert not startup_noise(CUINIT, gpu_present=True)  # with a GPU it means a driver problem
    assert startup_noise(CUINIT) == (not nvidia_device_present())


@pytest.mark.parametrize("line", TF_STARTUP)
def test_startup_info_lines_are_noise(line):
    assert startup_noise(line + "\n")


@pytest.mark.parametrize("line", KEPT)
def test_warnings_errors_and_other_text_are_kept(line):
    assert not startup_noise(line)


def test_quiet_import_drops_only_the_noise(capfd):
    with quiet_keras_import():
        os.write(2, ("\n".join(TF_STARTUP[:2] + KEPT[:2] + TF_STARTUP[2:] + KEPT[2:]) + "\n").encode())
    assert capfd.readouterr().err.splitlines() == KEPT


def test_quiet_import_replays_everything_when_the_import_fails(capfd):
    with pytest.raises(ImportError, match="no such module"):
        with quiet_keras_import():
            os.write(2, (TF_STARTUP[1] + "\n").encode())
            raise ImportError("no such module")
    assert capfd.readouterr().err.splitlines() == [TF_STARTUP[1]]


def test_disabled_quiet_import_captures_nothing(capfd):
    with quiet_keras_import(enabled=False):
        os.write(2, (TF_STARTUP[1] + "\n").encode())
    assert capfd.readouterr().err.splitlines() == [TF_STARTUP[1]]


def test_only_the_console_script_without_debug_is_quiet(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/rnnzoo", "models"])
    assert started_by_cli()
    monkeypatch.setattr(sys, "argv", ["/venv/bin/rnnzoo", "--debug", "models"])
    assert not started_by_cli()
    monkeypatch.setattr(sys, "argv", ["/venv/bin/python", "train.py"])
    assert not started_by_cli()


def test_rnnzoo_command_stderr_has_no_tensorflow_startup_lines():
    script = Path(sys.executable).with_name("rnnzoo")
    if not script.exists():
        pytest.fail(f"the rnnzoo console script is not installed next to {sys.executable}")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    quiet = subprocess.run([str(script), "models", "--json"], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if startup_noise(line)], quiet.stderr
    if not nvidia_device_present():
        assert "failed call to cuInit" not in quiet.stderr, quiet.stderr
    debug = subprocess.run([str(script), "--debug", "models", "--json"], capture_output=True, text=True, env=env)
    assert debug.returncode == 0 and debug.stdout == quiet.stdout
    # On this TensorFlow the lines exist, so the filter above had work to do.
    assert any(startup_noise(line) for line in debug.stderr.splitlines()), debug.stderr
