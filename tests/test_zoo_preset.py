"""The preset format: atomic save, sha256 verification, resolution, refusal of bad presets."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_rnnzoo import zoo
from keras_rnnzoo.zoo import forecaster as fc
from keras_rnnzoo.zoo import preset as preset_format

CONTEXT, HORIZON = 16, 4


@pytest.fixture(scope="module")
def small_task():
    """A tiny forecaster trained for a few steps (seconds)."""
    keras.utils.set_random_seed(3)
    model = fc.build_model(units=4, context_length=CONTEXT, horizon_length=HORIZON)
    model.compile(optimizer="adam", loss=fc.forecast_loss())
    rng = np.random.default_rng(0)
    inputs = {
        "encoder": rng.normal(size=(32, CONTEXT, fc.ENCODER_BASE_FEATURES)).astype("float32"),
        "decoder": rng.normal(size=(32, HORIZON, fc.DECODER_BASE_FEATURES)).astype("float32"),
    }
    targets = np.stack([rng.normal(size=(32, HORIZON)), np.ones((32, HORIZON))], axis=-1).astype("float32")
    model.fit(inputs, targets, epochs=2, batch_size=16, verbose=0)
    return fc.Forecaster(model, {"name": "tiny-forecaster",
                                 "config": {"context_length": CONTEXT, "horizon_length": HORIZON}})


@pytest.fixture()
def saved(small_task, tmp_path):
    folder = zoo.save_preset(small_task, tmp_path / "tiny-forecaster", card="# tiny\n\nA test card.\n",
                             metrics={"toy": {"split": "none", "command": "test", "value": 1.0}})
    return folder


HISTORY = 50 + 5 * np.sin(np.arange(40) * 2 * np.pi / 7)


def test_round_trip(small_task, saved):
    meta = json.loads((saved / "preset.json").read_text())
    for field in ("format_version", "name", "version", "task", "created", "keras_version",
                  "keras_rnnzoo_version", "parameters", "input_spec", "preprocessing", "metrics",
                  "license", "files"):
        assert field in meta, field
    assert meta["format_version"] == zoo.FORMAT_VERSION
    assert meta["task"] == "forecaster"
    assert set(meta["files"]) == {"model.keras", "card.md"}
    assert meta["files"]["model.keras"]["sha256"] == preset_format.sha256_file(saved / "model.keras")
    assert meta["parameters"] == small_task.model.count_params()
    loaded = zoo.load(saved)
    assert isinstance(loaded, fc.Forecaster)
    assert isinstance(loaded.model, keras.Model)
    assert loaded.card["metrics"]["toy"]["value"] == 1.0
    expected = small_task.predict(HISTORY, 6, season_length=7)
    actual = loaded.predict(HISTORY, 6, season_length=7)
    np.testing.assert_allclose(actual.to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-5)
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_saved_model_carries_no_optimizer_state(small_task, saved):
    assert small_task.model.optimizer is not None, "the fixture should be a compiled, trained model"
    loaded = zoo.load(saved)
    assert getattr(loaded.model, "optimizer", None) is None
    with zipfile.ZipFile(saved / "model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    assert not config.get("compile_config")
    assert small_task.model.optimizer is not None, "saving must not change the task's own model"


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
@pytest.mark.parametrize("name", ["model.keras", "card.md"])
def test_damaged_file_is_refused_naming_it(saved, name, damage):
    path = saved / name
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        expected = "altered"
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
        expected = "truncated"
    else:
        path.unlink()
        expected = "missing"
    with pytest.raises(zoo.PresetError, match=expected) as info:
        zoo.load(saved)
    assert name in str(info.value)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_metadata_is_refused(saved, damage):
    path = saved / "preset.json"
    text = path.read_text()
    if damage == "flip":
        path.write_text(text.replace("{", "[", 1))
    elif damage == "truncate":
        path.write_text(text[: len(text) // 2])
    else:
        path.unlink()
    with pytest.raises(zoo.PresetError, match="preset.json"):
        zoo.load(saved)


def test_altered_hash_entry_is_refused(saved):
    meta = json.loads((saved / "preset.json").read_text())
    meta["files"]["model.keras"]["sha256"] = "0" * 64
    (saved / "preset.json").write_text(json.dumps(meta))
    with pytest.raises(zoo.PresetError, match="model.keras.*altered"):
        zoo.load(saved)


def _edit_metadata(folder: Path, **changes):
    meta = json.loads((folder / "preset.json").read_text())
    meta.update(changes)
    (folder / "preset.json").write_text(json.dumps(meta))


def test_unknown_task_is_refused(saved):
    _edit_metadata(saved, task="time_machine")
    with pytest.raises(zoo.PresetError, match="Unknown task 'time_machine'"):
        zoo.load(saved)


def test_newer_format_version_is_refused(saved):
    _edit_metadata(saved, format_version=zoo.FORMAT_VERSION + 1)
    with pytest.raises(zoo.PresetError, match="format_version 2.*upgrade"):
        zoo.load(saved)


def test_file_outside_folder_is_refused(saved):
    meta = json.loads((saved / "preset.json").read_text())
    meta["files"]["../evil"] = {"sha256": "0" * 64, "bytes": 1}
    (saved / "preset.json").write_text(json.dumps(meta))
    with pytest.raises(zoo.PresetError, match="plain names"):
        zoo.load(saved)


def test_interrupted_save_leaves_the_old_preset(saved, small_task):
    before = (saved / "preset.json").read_text()

    class Boom(RuntimeError):
        pass

    def failing_writer(path):
        Path(path).write_bytes(b"partial")
        raise Boom("interrupted")

    with pytest.raises(Boom):
        preset_format.write_preset_folder(saved, {"name": "x", "task": "forecaster"}, writers={"model.keras": failing_writer})
    assert (saved / "preset.json").read_text() == before
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".")]
    zoo.load(saved)  # still valid


def test_resolution_order_and_listing(saved, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RNNZOO_HOME", str(home))
    os.replace(saved, home / "tiny-forecaster")
    assert "tiny-forecaster" in zoo.list_models()
    assert zoo.list_models("tiny-*") == ["tiny-forecaster"]
    assert zoo.resolve("tiny-forecaster") == home / "tiny-forecaster"
    assert isinstance(zoo.load("tiny-forecaster"), fc.Forecaster)
    # a shipped preset wins over a same-named folder under $RNNZOO_HOME
    if "rnn-forecaster" in zoo.list_models():
        (home / "rnn-forecaster").mkdir()
        (home / "rnn-forecaster" / "preset.json").write_text("{}")
        assert zoo.resolve("rnn-forecaster") == zoo.shipped_preset_dir("rnn-forecaster")
    with pytest.raises(zoo.PresetError, match="No preset named or at 'no-such-model'.*Available"):
        zoo.load("no-such-model")


def test_shipped_forecaster_preset_verifies():
    assert "rnn-forecaster" in zoo.list_models()
    meta = zoo.verify_preset(zoo.shipped_preset_dir("rnn-forecaster"))
    assert meta["task"] == "forecaster"
    assert {"zero_shot", "in_domain"} <= set(meta["metrics"])
