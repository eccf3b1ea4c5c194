"""Zoo tasks as search tasks: search the cell and shape of a zoo model's own network.

Each adapter loads the kind of data its zoo model is trained on and builds
that model's architecture with the searched cell, width and depth, so a
search answers "which cell and size should my keyword spotter / captioner
/ forecaster use?" on the user's data:

- `keyword-spotting` (`speech-commands-gru`): waveform -> log-mel front end
  (normalized with training statistics) -> `depth` recurrent layers -> 12
  classes. Data: a Speech Commands v2 folder (`data.path`), its `train`
  and `validation` lists. Metrics: loss, accuracy.
- `captioning` (`shapes-captioner`): CNN encoder and attention decoder
  with the searched cell, teacher forcing. Data: generated shapes scenes
  (`generator = "shapes"`) or a COCO / Flickr8k captions file
  (`data.path`, `format`). Metric: loss (masked cross-entropy per word).
- `probabilistic-forecasting` (`rnn-forecaster`): the encoder-decoder with
  quantile outputs and its pinball loss, on generated series
  (`generator = "series"`) or the columns of a CSV; windows of `lookback`
  steps predict `horizon` steps. Validation series are held out whole.

Example:

>>> from keras_rnnzoo.tuning.spec import DataSpec, TaskSpec
>>> data = prepare_zoo_data(TaskSpec("captioning"), DataSpec(generator="shapes",
...                         options={"samples": 20, "image_size": 32}), seed=0)
>>> data.x_train["image"].shape, data.y_train.shape[0], data.x_val["tokens"].shape[0]
((16, 32, 32, 3), 16, 4)
"""

from __future__ import annotations

import numpy as np

from keras_rnnzoo.tuning.spec import DataSpec, TaskSpec
from keras_rnnzoo.tuning.tasks import TaskData

ZOO_TASKS = {
    "keyword-spotting": "speech-commands-gru",
    "captioning": "shapes-captioner",
    "probabilistic-forecasting": "rnn-forecaster",
}


# -------------------------------------------------------------------- data
def _keyword_data(data: DataSpec, seed: int) -> TaskData:
    from keras_rnnzoo.data import speech_commands
    from keras_rnnzoo.zoo import audio

    root = speech_commands.check_layout(data.path)
    x_train, y_train = speech_commands.load_split(root, "train", seed=seed)
    x_val, y_val = speech_commands.load_split(root, "validation", seed=seed)
    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError(f"{root}: the train and validation splits need at least one clip each.")
    front = audio.LogMelSpectrogram()
    statistics = audio.normalization_statistics(front, x_train, np.random.default_rng(seed))
    return TaskData("keyword-spotting", x_train, y_train.astype("int32"), x_val, y_val.astype("int32"),
                    output_size=len(speech_commands.LABELS), labels=list(speech_commands.LABELS),
                    info={"source": str(root), "log_mel_statistics": statistics})


def _caption_arrays(images, captions, vocabulary, max_length):
    tokens = vocabulary.encode_batch(captions, max_length)
    return {"image": images.astype("float32"), "tokens": tokens[:, :-1]}, tokens[:, 1:]


def _caption_data(data: DataSpec, seed: int) -> TaskData:
    from keras_rnnzoo.data import captions, shapes
    from keras_rnnzoo.zoo.captioner import DEFAULT_MAX_LENGTH

    options = dict(data.options)
    size = int(options.get("image_size", 64))
    rng = np.random.default_rng(seed)
    if data.generator:
        count = int(options.get("samples", 2000))
        n_val = max(1, int(round(count * data.validation_split)))
        images, scenes = shapes.generate(count - n_val, seed, size=size, split="train")
        val_images, val_scenes = shapes.generate(n_val, seed + 1, size=size, split="test")
        vocabulary = shapes.grammar_vocabulary()
        texts = [scene.captions()[int(rng.integers(len(scene.captions())))] for scene in scenes]
        val_texts = [scene.captions()[0] for scene in val_scenes]
        max_length, source = DEFAULT_MAX_LENGTH, f"shapes scenes (seed {seed})"
    else:
        items = captions.load_captions(data.path, options["format"], options.get("image_dir"))
        order = rng.permutation(len(items))
        n_val = max(1, int(round(len(items) * data.validation_split)))
        if n_val >= len(items):
            raise ValueError(f"{data.path}: {len(items)} images leave nothing to train on after the validation split.")
        train_items = [items[i] for i in order[n_val:]]
        val_items = [items[i] for i in order[:n_val]]
        vocabulary = captions.Vocabulary.build([c for item in train_items for c in item.captions])
        images = np.stack([captions.read_image(item.path, size) for item in train_items])
        val_images = np.stack([captions.read_image(item.path, size) for item in val_items])
        texts = [item.captions[int(rng.integers(len(item.captions)))] for item in train_items]
        val_texts = [item.captions[0] for item in val_items]
        longest = max(len(captions.tokenize(text)) for text in texts) + 2
        max_length, source = min(longest, int(options.get("max_length", 32))), str(data.path)
    x_train, y_train = _caption_arrays(images, texts, vocabulary, max_length)
    x_val, y_val = _caption_arrays(val_images, val_texts, vocabulary, max_length)
    return TaskData("captioning", x_train, y_train, x_val, y_val, output_size=len(vocabulary),
                    info={"source": source, "vocabulary": vocabulary, "image_size": size, "max_length": max_length})


def _forecast_series(task: TaskSpec, data: DataSpec, seed: int):
    from keras_rnnzoo.data import sequence_files
    from keras_rnnzoo.data.series import SeriesRecord, generate_series

    options = dict(data.options)
    if data.generator:
        return generate_series(int(options.get("count", 200)), np.random.default_rng(seed),
                               min_length=task.lookback + task.horizon + 8), "generated series"
    columns = options["columns"]
    values = sequence_files.load_series_csv(data.path, columns, options.get("time_column"))
    season = int(options.get("season_length", 1))
    return [SeriesRecord(f"{data.path.name}/{name}", values[:, i], season) for i, name in enumerate(columns)], \
        str(data.path)


def _forecast_data(task: TaskSpec, data: DataSpec, seed: int) -> TaskData:
    from keras_rnnzoo.zoo.forecaster import training_example

    records, source = _forecast_series(task, data, seed)
    context, horizon = task.lookback, task.horizon
    usable = [r for r in records if np.isfinite(r.values).sum() > horizon + 2]
    if len(usable) < 2:
        raise ValueError(f"{source}: probabilistic forecasting needs at least 2 series longer than "
                         f"horizon + 2 = {horizon + 2} observed steps; found {len(usable)}.")
    order = np.random.default_rng(seed).permutation(len(usable))
    n_val = min(len(usable) - 1, max(1, int(round(len(usable) * data.validation_split))))

    def windows(chosen, cuts_per_series):
        encoders, decoders, targets = [], [], []
        for record in chosen:
            values = record.values
            observed = np.isfinite(values).astype("float32")
            filled = np.nan_to_num(values)
            last = len(values) - horizon
            for cut in range(last, max(horizon + 2, last - horizon * cuts_per_series), -horizon):
                enc, dec, target = training_example(
                    filled[:cut], observed[:cut], filled[cut : cut + horizon], observed[cut : cut + horizon],
                    record.season_length, context, horizon,
                )
                encoders.append(enc)
                decoders.append(dec)
                targets.append(target)
        return {"encoder": np.stack(encoders), "decoder": np.stack(decoders)}, np.stack(targets)

    x_val, y_val = windows([usable[i] for i in order[:n_val]], 1)
    x_train, y_train = windows([usable[i] for i in order[n_val:]], int(data.options.get("windows_per_series", 4)))
    return TaskData("probabilistic-forecasting", x_train, y_train, x_val, y_val, output_size=horizon,
                    info={"source": source, "series": len(usable), "lookback": context, "horizon": horizon})


def prepare_zoo_data(task: TaskSpec, data: DataSpec, seed: int = 0) -> TaskData:
    """Load the data of a zoo search task (see the module docstring).

    Raises:
        FileNotFoundError: the data folder or file is missing.
        ValueError: the data does not fit the task.
    """
    if task.type == "keyword-spotting":
        return _keyword_data(data, seed)
    if task.type == "captioning":
        return _caption_data(data, seed)
    if task.type == "probabilistic-forecasting":
        return _forecast_data(task, data, seed)
    raise ValueError(f"{task.type!r} is not a zoo task; zoo tasks: {', '.join(ZOO_TASKS)}.")


# ------------------------------------------------------------------ models
def build_zoo_model(values: dict, data: TaskData, seed: int = 0):
    """The zoo network of `data.task` with the hyperparameter `values`, compiled."""
    import keras

    cell, units, depth = values["cell"], int(values["units"]), int(values["depth"])
    dropout = float(values["dropout"])
    if data.task == "keyword-spotting":
        from keras_rnnzoo.zoo import audio

        model = audio.build_keyword_model(cell=cell, units=units, layers=depth, dropout=dropout, seed=seed)
        model.get_layer("log_mel").set_statistics(*data.info["log_mel_statistics"])
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    elif data.task == "captioning":
        from keras_rnnzoo.zoo.captioner import build_captioner_model

        vocabulary = data.info["vocabulary"]
        model = build_captioner_model(len(vocabulary), image_size=data.info["image_size"],
                                      max_length=data.info["max_length"], units=units, cell=cell, dropout=dropout)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=vocabulary.pad_id)
        metrics = []
    elif data.task == "probabilistic-forecasting":
        from keras_rnnzoo.zoo.forecaster import build_model, forecast_loss

        model = build_model(units=units, context_length=data.info["lookback"],
                            horizon_length=data.info["horizon"], cell=cell)
        loss, metrics = forecast_loss(), []
    else:
        raise ValueError(f"{data.task!r} is not a zoo task; zoo tasks: {', '.join(ZOO_TASKS)}.")
    clipnorm = float(values["clipnorm"]) or None
    model.compile(optimizer=keras.optimizers.Adam(float(values["learning_rate"]), clipnorm=clipnorm),
                  loss=loss, metrics=metrics)
    return model
