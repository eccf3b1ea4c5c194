"""`rnnzoo tune SPEC --benchmark-tracking`: ABBA order, fresh processes, honest aggregation."""

from __future__ import annotations

import json
import textwrap

import pytest

pytest.importorskip("keras_tuner", reason="needs the `tune` extra (keras-tuner)")
pytest.importorskip("mlflow", reason="needs the `tune` extra (mlflow)")

from click.testing import CliRunner  # noqa: E402

from keras_rnnzoo.cli import app  # noqa: E402
from keras_rnnzoo.tuning.benchmark import median_trial_seconds, run_order, summarize  # noqa: E402

pytestmark = pytest.mark.backend_independent


def test_runs_alternate_abba():
    assert run_order(1) == [False, True]
    assert run_order(3) == [False, True, True, False, False, True]
    with pytest.raises(ValueError, match="rounds must be at least 1, got 0"):
        run_order(0)


def test_medians_and_overhead_skip_the_first_trial():
    assert median_trial_seconds([{"0": 1.0, "1": 2.0}, {"0": 3.0, "1": 4.0}, {"1": 9.0}]) == {"1": 4.0}
    untracked = [{"trial_seconds": {"0": 9.0, "1": 2.0, "2": 2.0}}]
    tracked = [{"trial_seconds": {"0": 1.0, "1": 2.2, "2": 2.2}, "tracking_seconds": {"0": 0.5, "1": 0.1, "2": 0.1}}]
    result = summarize(untracked, tracked)
    assert result["trials"] == 2  # trial 0 pays one-off costs and is left out
    assert result["overhead_percent"] == pytest.approx(10.0)
    assert result["tracking_mean_s"] == pytest.approx(0.1)
    assert result["tracking_share_percent"] == pytest.approx(100 * 0.2 / 4.4)


def test_benchmark_runs_both_conditions_in_fresh_processes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the spec's default directory would be ./.rnnzoo/tune
    spec = tmp_path / "tiny.toml"
    spec.write_text(textwrap.dedent("""
        name = "tiny"
        [task]
        type = "classification"
        [data]
        generator = "sequence_classes"
        samples = 64
        timesteps = 4
        [space]
        cell = ["gru", "lstm", "mgu"]
        units = [4]
        [oracle]
        type = "grid"
        [budget]
        max_trials = 3
        epochs = 1
    """))
    result = CliRunner().invoke(app, ["tune", str(spec), "--benchmark-tracking", "--rounds", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["order"] == ["untracked", "tracked"] and report["runs_per_condition"] == 1
    assert report["trials"] == 2 and set(report["tracked_trial_seconds"]) == {"1", "2"}
    assert report["tracking_mean_s"] > 0 and report["untracked_mean_s"] > 0
    assert not (tmp_path / ".rnnzoo").exists()  # everything went to temporary folders
