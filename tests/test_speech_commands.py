"""The Speech Commands v2 loader, on a tiny fixture in exactly the real layout."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import zoo_script

pytest.importorskip("soundfile", reason="the speech loaders read WAV files with soundfile ([speech] extra)")

from keras_rnnzoo.data import speech_commands as sc  # noqa: E402
from keras_rnnzoo.data.speech_audio import write_audio  # noqa: E402

# Audio files and folder layouts only (NumPy, soundfile, soxr): no Keras backend involved.
pytestmark = pytest.mark.backend_independent

SPEAKERS = ("0a7c2a8d", "1b4c9b89", "2c5d0e11", "3f6a7b22")
WORDS = ("yes", "no", "left", "cat", "marvin")


def tone(frequency: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture
def corpus(tmp_path):
    """word/speaker_nohash_N.wav clips, _background_noise_, the two split lists."""
    root = tmp_path / "speech_commands_v0.02"
    for w, word in enumerate(WORDS):
        for s, speaker in enumerate(SPEAKERS):
            for take in range(2):
                write_audio(root / word / f"{speaker}_nohash_{take}.wav", tone(200 + 50 * w + 10 * s + take))
    write_audio(root / "_background_noise_" / "white_noise.wav",
                np.random.default_rng(0).uniform(-0.5, 0.5, 16000 * 3).astype(np.float32))
    write_audio(root / "_background_noise_" / "too_short.wav", tone(50, 0.5))
    (root / "_background_noise_" / "README.md").write_text("not audio")
    # speaker 2 is validation, speaker 3 is test (the real lists also split by speaker)
    (root / "validation_list.txt").write_text("".join(f"{w}/{SPEAKERS[2]}_nohash_{t}.wav\n" for w in WORDS for t in range(2)))
    (root / "testing_list.txt").write_text("".join(f"{w}/{SPEAKERS[3]}_nohash_{t}.wav\n" for w in WORDS for t in range(2)))
    (root / "LICENSE").write_text("CC-BY-4.0")
    return root


def test_labels_are_the_twelve_classes():
    assert sc.LABELS == ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                         "_silence_", "_unknown_")
    assert len(sc.OTHER_WORDS) == 25 and not set(sc.OTHER_WORDS) & set(sc.KEYWORDS)


def test_splits_follow_the_lists_and_never_overlap(corpus):
    splits = {split: sc.list_examples(corpus, split, unknown_per_keyword=100, silence_per_keyword=0)
              for split in sc.SPLITS}
    speakers = {split: {e.speaker for e in examples} for split, examples in splits.items()}
    assert speakers == {"train": set(SPEAKERS[:2]), "validation": {SPEAKERS[2]}, "test": {SPEAKERS[3]}}
    paths = [{e.path for e in examples} for examples in splits.values()]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    assert sum(len(p) for p in paths) == len(WORDS) * len(SPEAKERS) * 2


def test_other_words_become_unknown_and_are_balanced(corpus):
    examples = sc.list_examples(corpus, "train", unknown_per_keyword=1.0, silence_per_keyword=0)
    labels = [e.label for e in examples]
    # 3 keywords x 2 speakers x 2 takes = 12 keyword clips -> 1.2 per keyword (10 keywords) -> 1 unknown
    assert labels.count("yes") == 4 and labels.count("left") == 4
    assert labels.count("_unknown_") == 1
    assert {e.word for e in examples if e.label == "_unknown_"} <= {"cat", "marvin"}


def test_silence_is_cut_from_background_noise(corpus):
    examples = sc.list_examples(corpus, "test", unknown_per_keyword=0, silence_per_keyword=5, seed=3)
    silence = [e for e in examples if e.label == "_silence_"]
    assert len(silence) == round(5 * 6 / 10)
    assert all(e.path.name == "white_noise.wav" for e in silence)  # the 0.5 s file is too short
    waveforms, labels = sc.load_examples(examples)
    assert waveforms.shape == (len(examples), 16000) and waveforms.dtype == np.float32
    assert [sc.LABELS[i] for i in labels] == [e.label for e in examples]
    rows = [i for i, e in enumerate(examples) if e.label == "_silence_"]
    assert all(np.abs(waveforms[i]).max() <= 0.5 + 1e-3 for i in rows)
    again = sc.list_examples(corpus, "test", unknown_per_keyword=0, silence_per_keyword=5, seed=3)
    assert again == examples  # seeded


def test_load_split_reads_clips(corpus):
    waveforms, labels = sc.load_split(corpus, "validation", silence_per_keyword=0, unknown_per_keyword=100)
    assert waveforms.shape == (10, 16000)
    assert sorted(sc.LABELS[i] for i in labels) == sorted(["yes"] * 2 + ["no"] * 2 + ["left"] * 2 + ["_unknown_"] * 4)
    assert len(sc.load_background(corpus)) == 2


def test_speaker_ids():
    from pathlib import Path

    assert sc.speaker_of(Path("yes/0a7c2a8d_nohash_3.wav")) == "0a7c2a8d"
    assert sc.speaker_of(Path("yes/espeak-en-us-f3_nohash_0.wav")) == "espeak-en-us-f3"


def test_layout_errors_name_the_folder(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        sc.list_examples(tmp_path / "nowhere")
    (corpus / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="testing_list.txt"):
        sc.list_examples(corpus)
    with pytest.raises(ValueError, match="split must be one of"):
        sc.list_examples(corpus, "dev")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "validation_list.txt").write_text("")
    (empty / "testing_list.txt").write_text("")
    with pytest.raises(FileNotFoundError, match="keyword folders"):
        sc.check_layout(empty)


def test_bad_list_line_names_file_and_line(corpus):
    (corpus / "validation_list.txt").write_text("yes/a.wav\nbroken-line\n")
    with pytest.raises(ValueError, match=r"validation_list.txt:2"):
        sc.list_examples(corpus, "train")


def test_recipe_trains_on_batches_whose_length_changes_after_the_first_two():
    """Regression: on TensorFlow a PyDataset took its signature from its first
    two batches, so a recipe run whose first two batches had no preceding
    context failed on the first batch with it (seed-dependent crash)."""
    import keras

    from keras_rnnzoo.cli.train import load_recipe

    recipe = load_recipe("speech-commands-gru")

    class Batches:  # two clip-only batches, then one with preceding context (longer)
        epoch = 0

        def __len__(self):
            return 3

        def batch(self, index):
            width = 320 if index < 2 else 640
            return np.full((4, width), 0.1 * index, "float32"), np.arange(4) % 3

    batches = Batches()
    model = keras.Sequential([keras.Input((None,)), keras.layers.Reshape((-1, 1)),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    history = model.fit(recipe.make_dataset(batches, 3), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert batches.epoch == 2  # every epoch draws fresh augmentation


def test_test_draws_pools_every_draw_of_the_test_voices(corpus, tmp_path, monkeypatch):
    """zoo/speech-commands-gru/test_draws.py: accuracy per draw and pooled, one corpus seed per draw."""
    import shutil

    from keras_rnnzoo.zoo import keyword_spotter

    test_draws = zoo_script("speech-commands-gru", "test_draws")
    second = tmp_path / "draw1"
    shutil.copytree(corpus, second)
    (second / "testing_list.txt").write_text("yes/3f6a7b22_nohash_0.wav\n")  # a smaller second draw
    asked = []

    def fake_corpus(settings, split):
        assert split == "test"
        asked.append(settings)
        return corpus if settings["seed"] == 0 else second

    monkeypatch.setattr(keyword_spotter, "held_out_corpus", fake_corpus)

    class Always:  # says one label for every clip
        card = {"corpus": {"keyword_takes": 3, "seed": 0}}

        def __init__(self, label):
            self.label = label

        def probabilities(self, waveforms):
            return np.eye(len(sc.LABELS))[[sc.LABELS.index(self.label)] * len(waveforms)]

    rows = test_draws.draw_accuracies({"yes": Always("yes"), "no": Always("no")}, draws=2)
    assert [a["seed"] for a in asked] == [0, 1] and all(a["keyword_takes"] == 3 for a in asked)
    first_labels = [e.label for e in sc.list_examples(corpus, "test", seed=0)]
    share_yes = first_labels.count("yes") / len(first_labels)
    assert rows[0] == {"preset": "yes", "accuracy_per_draw": [round(share_yes, 4), 1.0],
                       "accuracy": round((first_labels.count("yes") + 1) / (len(first_labels) + 1), 4),
                       "clips": len(first_labels) + 1}
    assert rows[1]["accuracy_per_draw"] == [round(first_labels.count("no") / len(first_labels), 4), 0.0]


def test_held_out_corpus_is_only_for_held_out_splits(tmp_path, monkeypatch):
    """Draws of the validation or test voices only: the training voices are never re-synthesized there."""
    from keras_rnnzoo.zoo import keyword_spotter

    monkeypatch.setenv("RNNZOO_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="split must be 'test' or 'validation'; got 'train'"):
        keyword_spotter.held_out_corpus({"seed": 0}, split="train")
    assert not any(tmp_path.iterdir())  # nothing written


def test_greedy_soup_keeps_only_runs_that_do_not_lower_validation_accuracy(monkeypatch):
    """zoo/speech-commands-gru/soup.py: runs ordered by validation accuracy; an average is kept only if no worse."""
    from pathlib import Path

    import keras

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "zoo" / "speech-commands-gru"))
    soup = zoo_script("speech-commands-gru", "soup")
    import test_draws

    def model(value):
        m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        m.set_weights([np.full((2, 1), value, "float32"), np.full((1,), value, "float32")])
        return m

    class Run:
        card = {"corpus": {}}

        def __init__(self, value):
            self.model = model(value)

    runs = {"a": Run(1.0), "b": Run(3.0), "c": Run(-5.0)}
    np.testing.assert_allclose(soup.average_weights([runs["a"].model, runs["b"].model])[0], np.full((2, 1), 2.0))
    # accuracy of a candidate = closeness of its first weight to 2 (the a+b average is best)
    asked = []

    def fake_draws(settings, draws, split, first_draw=0):
        asked.append(split)
        return ["draws"]

    def fake_accuracies(spotters, data):
        assert data == ["draws"]
        return [{"preset": name, "accuracy": round(1.0 - abs(float(s.model.get_weights()[0][0, 0]) - 2.0) / 10, 4)}
                for name, s in spotters.items()]

    monkeypatch.setattr(test_draws, "load_draws", fake_draws)
    monkeypatch.setattr(test_draws, "pooled_accuracies", fake_accuracies)
    kept, accuracy = soup.greedy_soup(runs, draws=4, log=lambda line: None)
    assert kept == ["a", "b"] and accuracy == 1.0  # c would pull the average away from 2
    assert set(asked) == {"validation"}  # never the test voices
    assert runs["a"].model.get_weights()[0][0, 0] == 1.0  # the runs' own weights are left as they were
    with pytest.raises(ValueError, match="weight shapes differ"):
        soup.average_weights([runs["a"].model, keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])])


def test_card_lists_every_run_of_a_soup():
    """The card of a soup names the common start and one reproducible command per ingredient run."""
    recipe = zoo_script("speech-commands-gru", "recipe")
    start = {"epochs": 40, "learning_rate": 0.003, "seed": 1}
    runs = [{"epochs": 30, "learning_rate": lr, "warp": 0.2, "seed": seed, "init_training": start}
            for lr, seed in ((0.0015, 7), (0.001, 8))]
    training = {"soup": ["A", "B"], "ingredients": runs, "validation_draws": 4, "soup_validation_accuracy_pooled": 0.98}
    start_line, soup_line = recipe.training_lines(training, {}, ["ked_diphone"])
    assert start_line.startswith("- Common start (START_PRESET), 1 runs")
    assert "--learning-rate 0.0015 --warp 0.2 --festival-voice ked_diphone --seed 7" in soup_line
    assert "--learning-rate 0.001 --warp 0.2 --festival-voice ked_diphone --seed 8" in soup_line
    assert "98.00% pooled" in soup_line
    # a second round: the soup above and two runs fine-tuned from it
    second = [{"epochs": 30, "learning_rate": lr, "warp": 0.2, "seed": seed, "init_training": training}
              for lr, seed in ((0.001, 9), (0.0005, 10))]
    nested = {"soup": ["C", "D", "AB"], "ingredients": [*second, training], "validation_draws": 4,
              "soup_validation_accuracy_pooled": 0.99}
    lines = recipe.training_lines(nested, {}, ["ked_diphone"], 1.8)
    assert lines[:2] == [start_line, soup_line]
    assert "--init SOUP_PRESET --epochs 30 --learning-rate 0.001 --warp 0.2 --festival-voice ked_diphone --training-max-stretch 1.8 --seed 9" in lines[2]
    assert "--learning-rate 0.0005 --warp 0.2 --festival-voice ked_diphone --training-max-stretch 1.8 --seed 10" in lines[2]
    assert "99.00% pooled" in lines[2] and "3 of 3 kept" in lines[2]
    assert lines[2].startswith("- Second round: ")
    # a third round: its runs record their own corpus flags; the second round's keep the fallback
    third = [{"epochs": 30, "learning_rate": 0.001, "seed": 11, "init_training": nested,
              "corpus_flags": "--festival-voice ked_diphone --training-max-stretch 1.8 --converted-voices 3"}]
    latest = {"soup": ["E", "CDAB"], "ingredients": [*third, nested], "validation_draws": 4,
              "soup_validation_accuracy_pooled": 0.995}
    third_lines = recipe.training_lines(latest, {}, ["ked_diphone"], 1.8)
    assert third_lines[:3] == lines
    assert third_lines[3].startswith("- Third round: ") and "2 of 2 kept" in third_lines[3]
    assert "--learning-rate 0.001 --festival-voice ked_diphone --training-max-stretch 1.8 --converted-voices 3 --seed 11" in third_lines[3]
    second[1]["init_training"] = start
    with pytest.raises(ValueError, match="same weights"):
        recipe.training_lines(nested, {})
    runs[1]["init_training"] = {"epochs": 10}
    with pytest.raises(ValueError, match="same weights"):
        recipe.training_lines(training, {})


def test_output_folder_that_cannot_name_a_preset_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """The preset is named after `--output`'s folder: a bad name fails at once, not after hours of training."""
    from pathlib import Path

    recipe = zoo_script("speech-commands-gru", "recipe")
    with pytest.raises(SystemExit):
        recipe.parse_args(["--output", str(tmp_path / "Run-A")])
    assert "--output" in capsys.readouterr().err
    assert recipe.parse_args(["--output", str(tmp_path / "run-a")]).output == tmp_path / "run-a"
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "zoo" / "speech-commands-gru"))
    soup = zoo_script("speech-commands-gru", "soup")
    with pytest.raises(SystemExit):
        soup.main([str(tmp_path / "x"), str(tmp_path / "y"), "--output", str(tmp_path / "Soup")])
    assert "Soup" in capsys.readouterr().err
