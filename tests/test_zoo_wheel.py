"""A wheel built from the repository ships the presets: install it into a fresh venv and load one offline.

Slow (builds a wheel, ~1-2 minutes) and independent of the Keras backend, so it
runs once: in CI (`CI` set) on the TensorFlow pass, or when
`RNNZOO_WHEEL_TEST=1` is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.skipif(not (os.environ.get("CI") or os.environ.get("RNNZOO_WHEEL_TEST")),
                       reason="slow wheel build: runs in CI (CI set) or with RNNZOO_WHEEL_TEST=1"),
    pytest.mark.backend_independent,  # a packaging check: runs once, in the tensorflow pass
]


def test_wheel_install_loads_shipped_preset_from_another_directory(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(dist), str(ROOT)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    wheels = list(dist.glob("keras_rnnzoo-*.whl"))
    assert len(wheels) == 1, wheels
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(environment)
    python = environment / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # Offline: the dependencies (keras, tensorflow, ...) come from this interpreter's
    # site-packages, appended after the fresh venv's own, so the wheel's copy wins.
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         str(wheels[0])],
        check=True, capture_output=True, text=True, timeout=600,
    )
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    code = textwrap.dedent(
        """
        import json, numpy as np, keras_rnnzoo
        from keras_rnnzoo import zoo
        names = zoo.list_models()
        forecaster = zoo.load("rnn-forecaster")
        frame = forecaster.predict(np.arange(48.0) % 12, 6, season_length=12)
        print(json.dumps({"file": keras_rnnzoo.__file__, "names": names, "rows": len(frame)}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RNNZOO_HOME")}
    env["RNNZOO_HOME"] = str(tmp_path / "empty-home")
    env["KERAS_BACKEND"] = "tensorflow"
    result = subprocess.run([str(python), "-c", code], cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["file"].startswith(str(environment)), payload["file"]
    assert "rnn-forecaster" in payload["names"]
    assert payload["rows"] == 6
