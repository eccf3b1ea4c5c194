"""Zoo tasks as search tasks: each zoo network searched on its kind of data, tracked in MLflow.

Also the oracles not covered elsewhere: Bayesian optimization (forecasting)
and Hyperband (keyword spotting).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

pytest.importorskip("keras_tuner", reason="needs the `tune` extra (keras-tuner)")
mlflow = pytest.importorskip("mlflow", reason="needs the `tune` extra (mlflow)")

from keras_rnnzoo.tuning import load_spec, run_search  # noqa: E402
from keras_rnnzoo.tuning.spec import SpecError  # noqa: E402

# The search machinery does not depend on the backend; the zoo networks are tested per backend elsewhere.
pytestmark = pytest.mark.backend_independent


def _spec(tmp_path, body: str):
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(body))
    return load_spec(path, directory=tmp_path / "work")


def _trial_runs(summary) -> list:
    client = mlflow.tracking.MlflowClient(summary["tracking"]["tracking_uri"])
    runs = client.search_runs([summary["tracking"]["experiment_id"]], "tags.`rnnzoo.role` = 'trial'")
    return sorted(runs, key=lambda run: int(run.data.tags["rnnzoo.trial_id"]))


def _registered_versions(summary, name):
    client = mlflow.tracking.MlflowClient(summary["tracking"]["tracking_uri"])
    return client.search_model_versions(f"name = '{name}'")


def _load_registered(summary, name):
    import mlflow.keras

    mlflow.set_tracking_uri(summary["tracking"]["tracking_uri"])
    try:
        return mlflow.keras.load_model(f"models:/{name}/1")
    finally:
        mlflow.set_tracking_uri(None)


def test_captioning_search_builds_the_captioner_with_each_cell(tmp_path):
    pytest.importorskip("PIL", reason="the shapes renderer needs pillow ([captioning] extra)")
    spec = _spec(tmp_path, """
        name = "captions"
        seed = 2
        [task]
        type = "captioning"
        [data]
        generator = "shapes"
        samples = 24
        image_size = 32
        [space]
        cell = ["lstm", "mgu"]
        units = [8]
        [oracle]
        type = "grid"
        [budget]
        max_trials = 2
        epochs = 1
        batch_size = 8
        [tracking]
        registered_model = "captions-best"
    """)
    summary = run_search(spec)
    runs = _trial_runs(summary)
    assert [run.data.params["cell"] for run in runs] == ["lstm", "mgu"]
    assert all(run.info.status == "FINISHED" for run in runs)
    assert all("val_loss" in run.data.metrics for run in runs)
    assert summary["objective"] == {"name": "val_loss", "direction": "min"}
    best_cell = summary["best"]["hyperparameters"]["cell"]
    model = _load_registered(summary, "captions-best")
    decoder = model.get_layer("decoder")
    assert decoder.cell_name == best_cell and decoder.units == 8
    assert len(_registered_versions(summary, "captions-best")) == 1


def test_probabilistic_forecasting_on_a_csv_with_the_bayesian_oracle(tmp_path):
    rng = np.random.default_rng(0)
    steps = np.arange(120)
    columns = {f"s{i}": 10 * (i + 1) + np.sin(2 * np.pi * steps / 12 + i) + 0.1 * rng.standard_normal(120)
               for i in range(4)}
    lines = ["day," + ",".join(columns)] + [
        f"{t}," + ",".join(f"{columns[name][t]:.4f}" for name in columns) for t in steps
    ]
    (tmp_path / "levels.csv").write_text("\n".join(lines) + "\n")
    spec = _spec(tmp_path, """
        name = "levels"
        seed = 5
        [task]
        type = "probabilistic-forecasting"
        lookback = 24
        horizon = 6
        [data]
        path = "levels.csv"
        columns = ["s0", "s1", "s2", "s3"]
        time_column = "day"
        season_length = 12
        validation_split = 0.25
        [space]
        cell = ["gru", "lstm", "indrnn"]
        units = { min = 4, max = 12, step = 4 }
        [oracle]
        type = "bayesian"
        num_initial_points = 2
        [budget]
        max_trials = 3
        epochs = 1
        batch_size = 8
        [tracking]
        registered_model = "levels-best"
    """)
    summary = run_search(spec)
    runs = _trial_runs(summary)
    assert len(runs) == 3 and {run.data.tags["rnnzoo.oracle"] for run in runs} == {"bayesian"}
    assert all(run.info.status == "FINISHED" and np.isfinite(run.data.metrics["score"]) for run in runs)
    model = _load_registered(summary, "levels-best")
    assert model.output_shape == (None, 6, 12)  # horizon x (mean + 11 quantiles)
    assert model.get_layer("encoder_rnn_1").cell.units == summary["best"]["hyperparameters"]["units"]


SPEECH_WORDS = ("yes", "no", "cat")
SPEAKERS = ("0a7c2a8d", "1b4c9b89", "2c5d0e11")


def _speech_commands_folder(root):
    from keras_rnnzoo.data.speech_audio import write_audio

    t = np.arange(16000) / 16000
    for w, word in enumerate(SPEECH_WORDS):
        for s, speaker in enumerate(SPEAKERS):
            for take in range(2):
                tone = 0.3 * np.sin(2 * np.pi * (300 + 400 * w + 10 * s + 5 * take) * t)
                write_audio(root / word / f"{speaker}_nohash_{take}.wav", tone.astype(np.float32))
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, 16000 * 3).astype(np.float32)
    write_audio(root / "_background_noise_" / "white_noise.wav", noise)
    (root / "validation_list.txt").write_text("".join(f"{w}/{SPEAKERS[1]}_nohash_{k}.wav\n"
                                                      for w in SPEECH_WORDS for k in range(2)))
    (root / "testing_list.txt").write_text("".join(f"{w}/{SPEAKERS[2]}_nohash_{k}.wav\n"
                                                   for w in SPEECH_WORDS for k in range(2)))
    return root


def test_keyword_spotting_on_a_speech_commands_folder_with_hyperband(tmp_path):
    pytest.importorskip("soundfile", reason="the Speech Commands loader needs soundfile ([speech] extra)")
    _speech_commands_folder(tmp_path / "speech")
    spec = _spec(tmp_path, """
        name = "kws"
        seed = 4
        [task]
        type = "keyword-spotting"
        [data]
        path = "speech"
        [space]
        cell = ["gru", "simple_rnn"]
        units = [8]
        depth = [1, 2]
        [oracle]
        type = "hyperband"
        factor = 2
        [budget]
        max_trials = 4
        epochs = 2
        batch_size = 8
        [tracking]
        registered_model = "kws-best"
    """)
    summary = run_search(spec)
    runs = _trial_runs(summary)
    trial_ids = sorted(trial["trial_id"] for trial in summary["trials"])
    assert sorted(run.data.tags["rnnzoo.trial_id"] for run in runs) == trial_ids  # one run per trial
    assert {run.data.tags["rnnzoo.oracle"] for run in runs} == {"hyperband"}
    # Hyperband trains in brackets: some trials run 1 epoch, others the full budget of 2.
    assert {run.data.params["tuner/epochs"] for run in runs} == {"1", "2"}
    assert summary["objective"] == {"name": "val_accuracy", "direction": "max"}
    model = _load_registered(summary, "kws-best")
    assert model.output_shape == (None, 12)
    front = model.get_layer("log_mel")
    assert np.any(np.asarray(front.mean) != 0), "the front end must carry the training statistics"


@pytest.mark.parametrize(
    ("task", "space", "key"),
    [
        ("captioning", 'depth = [1, 2]', "space.depth"),
        ("keyword-spotting", "bidirectional = true", "space.bidirectional"),
        ("probabilistic-forecasting", "dropout = [0.0, 0.2]", "space.dropout"),
    ],
)
def test_zoo_tasks_refuse_what_their_network_cannot_vary(tmp_path, task, space, key):
    (tmp_path / "speech").mkdir()
    data = {"captioning": 'generator = "shapes"', "keyword-spotting": 'path = "speech"',
            "probabilistic-forecasting": 'generator = "series"'}[task]
    with pytest.raises(SpecError, match=key):
        _spec(tmp_path, f"""
            [task]
            type = "{task}"
            [data]
            {data}
            [space]
            cell = ["gru"]
            {space}
        """)


def test_zoo_task_data_errors_name_the_path_and_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="Speech Commands v2 folder.*nowhere"):
        _spec(tmp_path, '[task]\ntype = "keyword-spotting"\n[data]\npath = "nowhere"\n')
    (tmp_path / "captions.csv").write_text("x")
    with pytest.raises(SpecError, match="unsupported file type .*COCO captions .json or a Flickr8k"):
        _spec(tmp_path, '[task]\ntype = "captioning"\n[data]\npath = "captions.csv"\n')
    (tmp_path / "captions.json").write_text("{}")
    with pytest.raises(SpecError, match="data.format.*'coco' or 'flickr8k'"):
        _spec(tmp_path, '[task]\ntype = "captioning"\n[data]\npath = "captions.json"\n')
    with pytest.raises(SpecError, match="data.generator"):
        _spec(tmp_path, '[task]\ntype = "keyword-spotting"\n[data]\ngenerator = "shapes"\n')
