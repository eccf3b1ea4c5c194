"""Bundled generators, users' .npz / .csv loaders, and the task adapters' splits."""

from __future__ import annotations

import numpy as np
import pytest

from keras_rnnzoo.data import seasonal_series, sequence_classes, sequence_files
from keras_rnnzoo.tuning.spec import DataSpec, TaskSpec
from keras_rnnzoo.tuning.tasks import prepare_data

# The search and its tracking do not depend on the Keras backend.
pytestmark = pytest.mark.backend_independent


def test_generators_are_seeded():
    a = sequence_classes.generate(samples=30, timesteps=7, features=2, classes=3, seed=4)
    b = sequence_classes.generate(samples=30, timesteps=7, features=2, classes=3, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.bincount(a[1]).tolist() == [10, 10, 10]
    c = sequence_classes.generate(samples=30, timesteps=7, features=2, classes=3, seed=5)
    assert not np.array_equal(a[0], c[0])
    series = seasonal_series.generate(length=50, channels=2, seed=1)
    np.testing.assert_array_equal(series, seasonal_series.generate(length=50, channels=2, seed=1))
    assert series.shape == (50, 2)


@pytest.mark.parametrize("kwargs", [{"classes": 1}, {"samples": 0}, {"timesteps": 2.5}, {"noise": -1}])
def test_generator_argument_errors(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        sequence_classes.generate(**kwargs)


def test_npz_loader(tmp_path):
    x = np.zeros((4, 3, 2), "float32")
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(4), x_val=x[:2], y_val=np.arange(2))
    arrays = sequence_files.load_npz(tmp_path / "d.npz")
    assert sorted(arrays) == ["x", "x_val", "y", "y_val"]
    np.savez(tmp_path / "bad.npz", inputs=x, y=np.arange(4))
    with pytest.raises(ValueError, match=r"no array 'x' \(the x key\); the file has \['inputs', 'y'\]"):
        sequence_files.load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "len.npz", x=x, y=np.arange(3))
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        sequence_files.load_npz(tmp_path / "len.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        sequence_files.load_npz(tmp_path / "missing.npz")


def test_sequence_csv_errors(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("sequence,a,label\n0,1,x\n0,2,x\n1,3,y\n")
    with pytest.raises(ValueError, match=r"sequences must have equal length; '0' has 2 rows but '1' has 1"):
        sequence_files.load_sequence_csv(path)
    path.write_text("sequence,a,label\n0,1,x\n0,oops,x\n")
    with pytest.raises(ValueError, match=r"line 3: column 'a' holds 'oops', not a number"):
        sequence_files.load_sequence_csv(path)
    path.write_text("sequence,a,label\n0,1,x\n0,2,y\n")
    with pytest.raises(ValueError, match=r"sequence '0' has target 'y' but earlier rows have 'x'"):
        sequence_files.load_sequence_csv(path)
    with pytest.raises(ValueError, match=r"no column 'target' \(target_column\)"):
        sequence_files.load_sequence_csv(path, target_column="target")


def test_series_csv_sorted_by_time(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("t,value\n3,30\n1,10\n2,20\n")
    np.testing.assert_array_equal(sequence_files.load_series_csv(path, ["value"], "t")[:, 0], [10, 20, 30])


def test_forecasting_split_is_chronological():
    data = prepare_data(
        TaskSpec("forecasting", lookback=10, horizon=2),
        DataSpec(generator="seasonal_series", options={"length": 200}, validation_split=0.25),
    )
    assert data.x_train.shape[1:] == (10, 1) and data.y_train.shape[1] == 2
    assert len(data.x_train) + len(data.x_val) == 200 - 10 - 2 + 1
    # Windows are consecutive: the first validation window follows the last training one.
    np.testing.assert_allclose(data.x_val[0, :-1], data.x_train[-1, 1:])
    # Standardized with training statistics only.
    assert abs(float(data.x_train[:, 0, 0].mean())) < 0.2


def test_classification_labels_checked(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 3, 1), "float32"), y=np.full(10, 0.5))
    with pytest.raises(ValueError, match="classification labels must be a 1-D array of integers"):
        prepare_data(TaskSpec("classification"), DataSpec(path=tmp_path / "d.npz"))
