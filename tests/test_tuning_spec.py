"""Search specs: valid specs load; bad ones fail on load with the key and value named, writing nothing."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("keras_tuner", reason="needs the `tune` extra (keras-tuner)")
pytest.importorskip("mlflow", reason="needs the `tune` extra (mlflow)")

from keras_rnnzoo.cli import main  # noqa: E402
from keras_rnnzoo.tuning import SpecError, load_spec  # noqa: E402

# The search and its tracking do not depend on the Keras backend.
pytestmark = pytest.mark.backend_independent

REPO = Path(__file__).resolve().parents[1]
BASE = """
name = "t"
[task]
type = "classification"
[data]
generator = "sequence_classes"
samples = 64
timesteps = 6
[space]
cell = ["gru", "lstm"]
units = [4, 8]
[objective]
name = "val_accuracy"
[budget]
max_trials = 2
epochs = 1
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def replace(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


def test_bundled_specs_load(tmp_path):
    (tmp_path / "speech_commands_v0.02").mkdir()  # the data folder keyword-spotting.toml points at
    for path in sorted((REPO / "tuning").glob("*.toml")):
        copy = tmp_path / path.name
        copy.write_text(path.read_text())
        spec = load_spec(copy)
        assert spec.searched(), path
        assert spec.tracking.registered_model


def test_valid_spec_defaults(tmp_path):
    spec = load_spec(write(tmp_path, BASE), directory=tmp_path / "work")
    assert spec.objective.direction == "max"
    assert spec.space["cell"].values == ["gru", "lstm"]
    assert spec.space["depth"].values == [1]  # default, fixed
    assert spec.directory == tmp_path / "work"
    assert spec.tracking.experiment == "rnnzoo-t"
    assert spec.searched() == ["cell", "units"]
    assert spec.fingerprint() == load_spec(write(tmp_path, BASE)).fingerprint()


def test_all_cells_wildcard(tmp_path):
    import keras_rnnzoo

    spec = load_spec(write(tmp_path, replace('cell = ["gru", "lstm"]', 'cell = "*"')))
    assert spec.space["cell"].values == keras_rnnzoo.list_cells()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('cell = ["gru", "lstm"]', 'cell = ["gru", "lstn"]', "space.cell: unknown cell 'lstn'; registered cells:"),
        ("units = [4, 8]", "units = { min = 16, max = 8 }", "space.units: empty range: min=16 must be below max=8"),
        ("units = [4, 8]", "units = []", "space.units: empty list"),
        ('name = "val_accuracy"', 'name = "val_acc"', "objective.name: unknown objective 'val_acc' for task 'classification'"),
        ('type = "classification"', 'type = "clustering"', "task.type: unknown value 'clustering'"),
        ("max_trials = 2", "max_trials = 0", "budget.max_trials: must be an integer >= 1, got 0"),
        ("units = [4, 8]", "units = [4, 8]\nwidth = 3", "space.width: unknown key"),
        ("units = [4, 8]", "units = [4, 4.5]", "space.units: must be an integer, got 4.5"),
        ("units = [4, 8]", 'dropout = { min = 0.0, max = 2.0 }', "space.dropout.max: value 2.0 out of bounds"),
        ('[objective]\nname = "val_accuracy"', '[objective]\nname = "val_loss"\ndirection = "max"',
         "objective.direction: 'max' contradicts 'val_loss'"),
        ("samples = 64", "sample = 64", "data.sample: unknown option of generator 'sequence_classes'"),
    ],
)
def test_bad_spec_names_key_and_value(tmp_path, old, new, expected):
    with pytest.raises(SpecError) as error:
        load_spec(write(tmp_path, replace(old, new)))
    assert str(error.value).startswith("spec.toml: ")
    assert expected in str(error.value)


def test_grid_needs_discrete_space(tmp_path):
    text = BASE + '[oracle]\ntype = "grid"\n'
    text = text.replace("units = [4, 8]", "units = [4, 8]\nlearning_rate = { min = 1e-3, max = 1e-2 }")
    with pytest.raises(SpecError, match=r"space\.learning_rate: the grid oracle needs a discrete space"):
        load_spec(write(tmp_path, text))


def test_unknown_oracle(tmp_path):
    with pytest.raises(SpecError, match=r"oracle\.type: unknown value 'evolution'; choose from random, grid, bayesian, hyperband"):
        load_spec(write(tmp_path, BASE + '[oracle]\ntype = "evolution"\n'))


def test_missing_data_file(tmp_path):
    text = replace('generator = "sequence_classes"\nsamples = 64\ntimesteps = 6', 'path = "data/missing.npz"')
    with pytest.raises(FileNotFoundError, match=r"data file not found: .*data/missing\.npz"):
        load_spec(write(tmp_path, text))


def test_invalid_toml(tmp_path):
    with pytest.raises(SpecError, match=r"spec\.toml: not valid TOML"):
        load_spec(write(tmp_path, "name = \n"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("old", "new", "extra", "message"),
    [
        ('cell = ["gru", "lstm"]', 'cell = ["nope"]', [], "space.cell: unknown cell 'nope'"),
        ("units = [4, 8]", "units = { min = 9, max = 3 }", [], "space.units: empty range"),
        ('name = "val_accuracy"', 'name = "f1"', [], "objective.name: unknown objective 'f1'"),
        ('generator = "sequence_classes"\nsamples = 64\ntimesteps = 6', 'path = "gone.csv"', [], "data file not found"),
        ("", "", ["--tracking-uri", "http://127.0.0.1:{port}"], "is unreachable"),
    ],
)
def test_cli_errors_write_nothing(tmp_path, capsys, old, new, extra, message):
    spec = write(tmp_path, replace(old, new) if old else BASE)
    work = tmp_path / "work"
    args = [a.format(port=_free_port()) for a in extra]
    code = main(["tune", str(spec), "--dir", str(work), *args])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnzoo: error: ") and message in lines[0], captured.err
    assert not work.exists(), sorted(p.name for p in work.rglob("*"))


def test_cli_worker_refuses_overwrite(tmp_path, capsys):
    code = main(["tune", str(write(tmp_path, BASE)), "--dir", str(tmp_path / "w"),
                 "--worker", "1", "--chief", "127.0.0.1:9", "--overwrite"])
    assert code == 2
    assert "Refusing --overwrite on worker '1'" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_cli_bad_chief_address(tmp_path, capsys):
    code = main(["tune", str(write(tmp_path, BASE)), "--chief", "localhost"])
    assert code == 2
    assert "Expected HOST:PORT" in capsys.readouterr().err
