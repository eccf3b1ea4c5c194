"""`rnnzoo train NAME --quick` runs each recipe end to end and writes a preset that loads.

A minutes-long smoke test of the training code (the shipped presets come from
the full recipes). Runs once, on the tensorflow pass; the forecaster's quick
run is in test_zoo_cli.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import keras
import pytest
from conftest import REPO_ROOT

from keras_rnnzoo import zoo

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="recipe smoke tests train; they run once, on the tensorflow (default) pass",
)

NEEDS = {
    "speech-commands-gru": ("soundfile", "soxr", "matplotlib"),
    "shapes-captioner": ("PIL", "pycocoevalcap"),
}


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_train_quick_writes_a_preset_that_loads(name, tmp_path):
    for module in NEEDS[name]:
        pytest.importorskip(module, reason=f"the {name} recipe needs {module}")
    if name == "speech-commands-gru" and not (shutil.which("espeak-ng") and shutil.which("flite")):
        pytest.skip("the speech recipe synthesizes its corpus with espeak-ng and flite (Debian packages)")
    out = tmp_path / "preset"
    env = {**os.environ, "RNNZOO_HOME": str(tmp_path / "home"), "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_rnnzoo", "train", name, "--quick", "--output", str(out), "--json"],
        capture_output=True, text=True, timeout=900, cwd=REPO_ROOT, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert isinstance(json.loads(result.stdout), dict)  # --json: stdout is JSON only
    task = zoo.load(str(out))
    assert task.model.count_params() > 0
    assert task.card["metrics"]
