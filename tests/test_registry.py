"""The cell registry: list_cells, get_cell, register_cell and entry points."""

from __future__ import annotations

import json
import re
from importlib import metadata

import keras
import numpy as np
import pytest
from conftest import run_python, to_numpy

import keras_rnnzoo
from keras_rnnzoo import layers, registry
from keras_rnnzoo.layers import RecurrentLayer

STANDARD = {"simple_rnn": "SimpleRNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}


def test_list_cells_sorted_and_standard():
    names = keras_rnnzoo.list_cells()
    assert isinstance(names, list) and all(isinstance(n, str) for n in names)
    assert names == sorted(names) and len(set(names)) == len(names)
    assert set(STANDARD) <= set(names)
    for name in names:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name


@pytest.mark.parametrize("name, class_name", sorted(STANDARD.items()))
def test_get_cell_standard(name, class_name):
    cls = keras_rnnzoo.get_cell(name)
    assert cls is getattr(keras_rnnzoo, class_name)
    assert issubclass(cls, keras_rnnzoo.RecurrentCell)


def test_every_registered_cell_builds_and_runs():
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    for name in keras_rnnzoo.list_cells():
        cell = keras_rnnzoo.get_cell(name)(3)
        output = to_numpy(keras.layers.RNN(cell)(x))[0]
        assert output.shape[0] == 2 and np.all(np.isfinite(output)), name


def test_every_builtin_cell_has_a_layer():
    """`keras_rnnzoo.layers.<Name>` exists for every cell the package ships."""
    by_cell = {
        obj.cell_class: obj
        for obj in vars(layers).values()
        if isinstance(obj, type) and issubclass(obj, RecurrentLayer) and obj is not RecurrentLayer
    }
    for name in keras_rnnzoo.list_cells():
        cls = keras_rnnzoo.get_cell(name)
        if cls.__module__.startswith("keras_rnnzoo."):
            assert cls in by_cell, f"no layer in keras_rnnzoo.layers for {cls.__name__}"
            assert by_cell[cls].__name__ == cls.__name__.removesuffix("Cell")


@pytest.mark.parametrize("bad", ["lstmm", "LSTM", "", "no such cell"])
def test_unknown_name_lists_valid_names(bad):
    with pytest.raises(ValueError) as error:
        keras_rnnzoo.get_cell(bad)
    message = str(error.value)
    assert repr(bad) in message
    for name in keras_rnnzoo.list_cells():
        assert name in message


@pytest.mark.parametrize("bad", [None, 3, ("lstm",)])
def test_non_string_name_is_a_value_error(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        keras_rnnzoo.get_cell(bad)


@pytest.mark.parametrize("bad", ["", "Upper", "1cell", "has-dash", "has space", "_private", None, 7])
def test_invalid_registration_names(bad, clean_registry):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        keras_rnnzoo.register_cell(bad)


def test_register_rejects_non_layers(clean_registry):
    with pytest.raises(TypeError, match="not_a_layer_cell"):
        keras_rnnzoo.register_cell("not_a_layer_cell")(object)
    with pytest.raises(TypeError):
        keras_rnnzoo.register_cell("a_function_cell")(lambda units: None)
    assert "not_a_layer_cell" not in keras_rnnzoo.list_cells()


def _define_user_cell():
    @keras_rnnzoo.register_cell("test_user_cell")
    class TestUserScaledCell(keras_rnnzoo.RecurrentCell):
        """h_t = tanh(x W + scale * h_{t-1} U): a user's own cell."""

        def __init__(self, units, scale=0.5, **kwargs):
            super().__init__(units, **kwargs)
            self.scale = scale

        def build(self, input_shape):
            self.add_standard_weights(self.check_step_shape(input_shape), gates=1)

        def call(self, inputs, states, training=False):
            h = keras.ops.matmul(self.dropped_inputs(inputs, training), self.kernel)
            h = h + self.scale * keras.ops.matmul(self.dropped_state(states[0], training), self.recurrent_kernel)
            h = keras.ops.tanh(h + self.bias)
            return h, [h]

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    return TestUserScaledCell


def test_user_cell_registers_runs_and_serializes(clean_registry, tmp_path):
    cls = _define_user_cell()
    assert "test_user_cell" in keras_rnnzoo.list_cells()
    assert keras_rnnzoo.get_cell("test_user_cell") is cls
    assert keras.saving.get_registered_name(cls) == "keras_rnnzoo>TestUserScaledCell"
    # Registering the same class again under the same name is a no-op.
    assert keras_rnnzoo.register_cell("test_user_cell")(cls) is cls

    # Usable in keras.layers.RNN and as a keras_rnnzoo layer.
    user_layer = layers.recurrent_layer(cls, "TestUserScaled", "A user's layer.")
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    inputs = keras.Input((4, 3))
    a = keras.layers.RNN(cls(5, scale=0.25), return_sequences=True)(inputs)
    b = user_layer(3, scale=2.0, dropout=0.1)(a)
    model = keras.Model(inputs, b)
    expected = to_numpy(model(x))[0]
    assert expected.shape == (2, 3)

    path = tmp_path / "user.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(to_numpy(loaded(x))[0], expected, atol=1e-6)
    assert loaded.layers[1].cell.scale == 0.25
    assert loaded.layers[2].cell.scale == 2.0 and loaded.layers[2].cell.dropout == 0.1


def test_duplicate_registration(clean_registry):
    class TestDuplicateCell(keras.layers.SimpleRNNCell):
        pass

    with pytest.raises(ValueError, match="'lstm'.*LSTMCell.*override=True"):
        keras_rnnzoo.register_cell("lstm")(TestDuplicateCell)
    assert keras_rnnzoo.get_cell("lstm") is keras_rnnzoo.LSTMCell
    keras_rnnzoo.register_cell("lstm", override=True)(TestDuplicateCell)
    assert keras_rnnzoo.get_cell("lstm") is TestDuplicateCell
    # clean_registry puts the real LSTMCell back.


def test_registry_restored_after_override():
    assert keras_rnnzoo.get_cell("lstm") is keras_rnnzoo.LSTMCell


class _FakeEntryPoint:
    def __init__(self, name, value, load):
        self.name, self.value, self._load = name, value, load

    def load(self):
        return self._load()


def test_entry_points_monkeypatched(clean_registry, monkeypatch, caplog):
    class TestPluginCell(keras.layers.GRUCell):
        pass

    def broken():
        raise ImportError("plugin dependency missing")

    entry_points = [
        _FakeEntryPoint("test_plugin_cell", "plugin.cells:TestPluginCell", lambda: TestPluginCell),
        _FakeEntryPoint("test_broken_cell", "broken.cells:Cell", broken),
        _FakeEntryPoint("Bad-Name", "plugin.cells:TestPluginCell", lambda: TestPluginCell),
    ]
    groups = []

    def fake_entry_points(*, group):
        groups.append(group)
        return entry_points

    monkeypatch.setattr(registry.metadata, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    with caplog.at_level("WARNING", logger="keras_rnnzoo.registry"):
        names = keras_rnnzoo.list_cells()
    assert groups == ["keras_rnnzoo.cells"]
    assert "test_plugin_cell" in names and "test_broken_cell" not in names
    assert keras_rnnzoo.get_cell("test_plugin_cell") is TestPluginCell
    assert "test_broken_cell" in caplog.text and "plugin dependency missing" in caplog.text
    assert "Bad-Name" in caplog.text
    # Loaded once: later calls do not query entry points again.
    keras_rnnzoo.get_cell("gru")
    assert groups == ["keras_rnnzoo.cells"]


_PLUGIN_MODULE = '''
import keras
from keras import ops


class TestPluginTanhCell(keras.layers.Layer):
    """A third-party cell: h_t = tanh(x W + h_{t-1})."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs, states):
        h = ops.tanh(ops.matmul(inputs, self.kernel) + states[0])
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}
'''

_PLUGIN_CHECK = '''
import json, sys
import numpy as np
import keras
import keras_rnnzoo

folder = sys.argv[1]
names = keras_rnnzoo.list_cells()
cls = keras_rnnzoo.get_cell("test_plugin_tanh")
model = keras.Sequential([keras.Input((3, 2)), keras.layers.RNN(cls(4))])
x = np.ones((1, 3, 2), "float32")
expected = keras.ops.convert_to_numpy(model(x))
model.save(f"{folder}/plugin.keras")
loaded = keras.saving.load_model(f"{folder}/plugin.keras", safe_mode=True)
same = bool(np.allclose(keras.ops.convert_to_numpy(loaded(x)), expected, atol=1e-6))
print(json.dumps({
    "names": names,
    "class": f"{cls.__module__}.{cls.__qualname__}",
    "registered": keras.saving.get_registered_name(cls),
    "same_after_load": same,
}))
'''


def test_entry_point_discovery_in_fresh_process(tmp_path):
    """A plugin installed as a dist-info with an entry point is found by name."""
    (tmp_path / "rnnzoo_test_plugin.py").write_text(_PLUGIN_MODULE)
    dist_info = tmp_path / "rnnzoo_test_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rnnzoo-test-plugin\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[keras_rnnzoo.cells]\n"
        "test_plugin_tanh = rnnzoo_test_plugin:TestPluginTanhCell\n"
        "test_plugin_missing = rnnzoo_test_plugin_absent:Cell\n"
        "lstm = rnnzoo_test_plugin:TestPluginTanhCell\n"
    )
    process = run_python(
        _PLUGIN_CHECK, args=(str(tmp_path),), env={"PYTHONPATH": str(tmp_path)}
    )
    result = json.loads(process.stdout.strip().splitlines()[-1])
    assert "test_plugin_tanh" in result["names"]
    assert "test_plugin_missing" not in result["names"]
    assert {"lstm", "gru", "simple_rnn"} <= set(result["names"])
    assert result["class"] == "rnnzoo_test_plugin.TestPluginTanhCell"
    assert result["registered"] == "keras_rnnzoo>TestPluginTanhCell"
    assert result["same_after_load"] is True
    # The broken plugin is reported, not raised.
    assert "test_plugin_missing" in process.stderr
    # A plugin cannot replace a built-in cell, and says so.
    assert "'lstm'" in process.stderr
    assert "rnnzoo_test_plugin:TestPluginTanhCell" in process.stderr


def test_real_entry_points_group_is_queried():
    """`importlib.metadata` accepts the group name used by the registry."""
    assert registry.ENTRY_POINT_GROUP == "keras_rnnzoo.cells"
    metadata.entry_points(group=registry.ENTRY_POINT_GROUP)  # does not raise
