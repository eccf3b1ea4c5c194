"""Finding, loading and saving presets: `list_models`, `load`, `save_preset`.

Names resolve, in order, to

1. presets shipped inside the installed package (`keras_rnnzoo/zoo/presets/<name>/`),
2. folders `$RNNZOO_HOME/<name>/` (default `~/.rnnzoo`),
3. a path to a preset folder.

Example:

>>> from keras_rnnzoo import zoo
>>> "rnn-forecaster" in zoo.list_models()
True
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from pathlib import Path
from typing import Any

from keras_rnnzoo.zoo import preset as preset_format
from keras_rnnzoo.zoo.preset import CARD_FILE, METADATA_FILE, MODEL_FILE, PresetError
from keras_rnnzoo.zoo.task import Task, get_task_class

SHIPPED_PRESETS_DIR = Path(__file__).resolve().parent / "presets"
HOME_ENV = "RNNZOO_HOME"
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_log = logging.getLogger(__name__)


def rnnzoo_home() -> Path:
    """`$RNNZOO_HOME`, or `~/.rnnzoo` when it is not set."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".rnnzoo").expanduser()


def shipped_preset_dir(name: str) -> Path:
    """Where the shipped preset `name` lives in this installation (recipes write here)."""
    check_preset_name(name)
    return SHIPPED_PRESETS_DIR / name


def check_preset_name(name: str) -> None:
    """Raise ValueError unless `name` can name a preset (`check_preset_name("my-kws")` passes)."""
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError(
            f"Preset names are lower case letters, digits, '.', '_' and '-'; got {name!r}."
        )


def _preset_folders() -> dict[str, tuple[str, Path]]:
    """name -> (source, folder); shipped presets win over $RNNZOO_HOME ones."""
    found: dict[str, tuple[str, Path]] = {}
    for source, root in (("shipped", SHIPPED_PRESETS_DIR), ("home", rnnzoo_home())):
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if folder.name.startswith(".") or not (folder / METADATA_FILE).is_file():
                continue
            found.setdefault(folder.name, (source, folder))
    return found


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the loadable presets (shipped and under `$RNNZOO_HOME`).

    Args:
        pattern: optional shell-style filter such as `"*forecaster*"`.
    """
    names = sorted(_preset_folders())
    if pattern:
        names = [name for name in names if fnmatch.fnmatch(name, pattern)]
    return names


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The preset folder for a name or path (see the module docstring for the order)."""
    text = os.fspath(name_or_path)
    if isinstance(text, str) and _NAME_PATTERN.match(text):
        folders = _preset_folders()
        if text in folders:
            return folders[text][1]
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.name == METADATA_FILE and path.is_file():
        return path.parent
    available = ", ".join(list_models()) or "none"
    raise PresetError(
        f"No preset named or at {text!r}: not a shipped preset, not in "
        f"{rnnzoo_home()} (${HOME_ENV}), and not a folder. Available presets: {available}."
    )


def preset_info(name_or_path: str | os.PathLike, verify: bool = True) -> dict[str, Any]:
    """The metadata of a preset without loading its model (files are verified)."""
    folder = resolve(name_or_path)
    metadata = preset_format.verify_preset(folder) if verify else preset_format.read_preset_metadata(folder)
    card = folder / CARD_FILE
    metadata = dict(metadata)
    metadata["folder"] = str(folder)
    if card.is_file() and CARD_FILE in metadata["files"]:
        metadata["card_markdown"] = card.read_text()
    return metadata


def load(name_or_path: str | os.PathLike) -> Task:
    """Load a preset as its task object (`Forecaster`, `KeywordSpotter`, `Captioner`, ...).

    Every file's size and sha256 is checked before anything is deserialized,
    and the Keras model is loaded with `safe_mode=True`.

    Raises:
        PresetError: unknown name, a missing / truncated / altered file, an
            unknown task, or a preset made for a newer format version.
    """
    folder = resolve(name_or_path)
    metadata = preset_format.verify_preset(folder)
    task_class = get_task_class(metadata["task"])
    if MODEL_FILE not in metadata["files"]:
        raise PresetError(f"Preset {folder} lists no {MODEL_FILE} in {METADATA_FILE}.")
    import keras

    import keras_rnnzoo.layers  # noqa: F401  (registers the serializable cells and layers)

    try:
        model = keras.saving.load_model(folder / MODEL_FILE, compile=False, safe_mode=True)
    except Exception as error:
        raise PresetError(f"Could not load {folder / MODEL_FILE}: {error}") from error
    return task_class.from_folder(model, metadata, folder)


def without_training_state(model: Any) -> Any:
    """`model`, or an uncompiled copy with the same weights if it was compiled.

    Keras saves a compiled model's optimizer variables and compile settings in
    the `.keras` file (an Adam state triples its size); a preset ships weights
    for inference and fine-tuning, which compiles afresh.
    """
    import keras

    if getattr(model, "optimizer", None) is None:
        return model
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def save_preset(
    task: Task,
    folder: str | os.PathLike,
    *,
    card: str | os.PathLike | None = None,
    overwrite: bool = True,
    **fields: Any,
) -> Path:
    """Write `task` as a preset folder, atomically (temporary folder + rename).

    Args:
        task: the task object; its `.card` gives the metadata, updated by `fields`.
        folder: destination folder.
        card: the model card stored as `card.md`: a path (a `PathLike`, or a
            one-line string ending in `.md`), or the markdown text itself.
        overwrite: replace an existing folder.
        **fields: `preset.json` fields to set (`name`, `version`, `metrics`,
            `license`, `input_spec`, ...).

    Returns the folder.
    """
    import keras

    import keras_rnnzoo

    if not isinstance(task, Task):
        raise TypeError(f"save_preset expects a keras_rnnzoo.zoo.Task, got {type(task).__name__}.")
    metadata = {key: value for key, value in task.card.items() if key not in ("files", "format_version", "folder", "card_markdown")}
    metadata.update(task.metadata())
    metadata.update(fields)
    metadata["task"] = task.task_name or metadata.get("task")
    if not metadata.get("task"):
        raise PresetError(f"{type(task).__name__} has no registered task name.")
    if not metadata.get("name"):
        metadata["name"] = Path(folder).name
    check_preset_name(metadata["name"])
    metadata.update(
        created=preset_format.utc_now(),
        keras_version=keras.__version__,
        keras_rnnzoo_version=keras_rnnzoo.__version__,
        backend=keras.backend.backend(),
        parameters=int(task.model.count_params()),
    )
    metadata.setdefault("version", "1.0.0")
    metadata.setdefault("license", "Apache-2.0")
    files: dict[str, Any] = dict(task.extra_files())
    if card is not None:
        is_path = isinstance(card, os.PathLike) or ("\n" not in str(card) and str(card).endswith(".md"))
        if is_path:
            if not Path(card).is_file():
                raise FileNotFoundError(f"Model card {card} does not exist.")
            files[CARD_FILE] = Path(card).read_bytes()
        else:
            files[CARD_FILE] = str(card).encode()
    inference_model = without_training_state(task.model)
    writers = {MODEL_FILE: lambda path: inference_model.save(path)}
    saved = preset_format.write_preset_folder(folder, metadata, files, writers, overwrite=overwrite)
    task.card = preset_format.read_preset_metadata(saved)
    task.folder = saved
    _log.info("Wrote preset %s to %s", metadata["name"], saved)
    return saved
