"""The base class of zoo task objects, and the task-name registry.

A task object pairs a plain `keras.Model` (the math) with the preprocessing
that turns raw input (a waveform, an image, a series) into model input, and
with the preset's metadata (`.card`). Subclasses register under the name
stored in `preset.json`'s `task` field::

    @register_task("forecaster")
    class Forecaster(Task):
        ...

Loading goes through `keras_rnnzoo.zoo.load`, which verifies the files first.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, ClassVar, Mapping

from keras_rnnzoo.zoo import preset as preset_format

# Task name -> "module:Class" for the built-in tasks, imported on first use so
# that loading one task never imports another task's dependencies.
BUILTIN_TASKS = {
    "forecaster": "keras_rnnzoo.zoo.forecaster:Forecaster",
    "keyword_spotter": "keras_rnnzoo.zoo.keyword_spotter:KeywordSpotter",
    "captioner": "keras_rnnzoo.zoo.captioner:Captioner",
}
_TASKS: dict[str, type["Task"]] = {}


def register_task(name: str):
    """Class decorator: the `Task` subclass that loads presets whose task is `name`."""

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"register_task({name!r}) expects a Task subclass, got {cls!r}.")
        cls.task_name = name
        _TASKS[name] = cls
        return cls

    return decorator


def get_task_class(name: str) -> type["Task"]:
    """The task class registered as `name` (built-in tasks are imported lazily)."""
    if name not in _TASKS and name in BUILTIN_TASKS:
        module_name, _, class_name = BUILTIN_TASKS[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                raise preset_format.PresetError(
                    f"Task {name!r} is not available in this keras_rnnzoo installation "
                    f"(module {module_name} is missing)."
                ) from None
            raise
        _TASKS.setdefault(name, getattr(module, class_name))
    try:
        return _TASKS[name]
    except KeyError:
        known = sorted(set(_TASKS) | set(BUILTIN_TASKS))
        raise preset_format.PresetError(
            f"Unknown task {name!r}; this keras_rnnzoo knows: {', '.join(known)}."
        ) from None


class Task:
    """A pretrained model plus its preprocessing: `.model`, `.card`, `.predict(...)`.

    Args:
        model: the `keras.Model`.
        card: the preset metadata (the fields of `preset.json`).
        folder: the preset folder it was loaded from, if any.

    Subclasses implement `predict` (on raw input), and may implement
    `evaluate` (rerun the held-out evaluation; returns the metrics in the
    same layout as `card["metrics"]`), `extra_files` (more files to store in
    the preset), `predict_files` / `cli_options` / `render_prediction` for
    `rnnzoo predict`.
    """

    task_name: ClassVar[str] = ""

    def __init__(self, model, card: Mapping[str, Any] | None = None, folder: str | os.PathLike | None = None):
        self.model = model
        self.card = dict(card or {})
        self.folder = Path(folder) if folder is not None else None

    def __repr__(self) -> str:
        name = self.card.get("name", "unsaved")
        return f"<{type(self).__name__} {name!r} version={self.card.get('version', '?')}>"

    @property
    def name(self) -> str:
        return self.card.get("name", "")

    @property
    def config(self) -> dict[str, Any]:
        """Task settings stored in the preset (`card["config"]`)."""
        return self.card.setdefault("config", {})

    # -- to override ---------------------------------------------------------
    def predict(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement predict().")

    def evaluate(self, quick: bool = False, **options) -> dict[str, Any]:
        """Rerun the held-out evaluation recorded in the card; returns metrics."""
        raise NotImplementedError(f"{type(self).__name__} has no held-out evaluation.")

    @classmethod
    def cli_options(cls) -> list:
        """Extra `click.Option`s of `rnnzoo predict NAME ...` for this task."""
        return []

    def predict_files(self, inputs: list[str], **options) -> Any:
        """Predict on input files (`rnnzoo predict`); returns JSON-serializable data."""
        raise NotImplementedError(f"{type(self).__name__} cannot predict from files.")

    def render_prediction(self, result: Any, console) -> None:
        """Print `predict_files`'s result for people (rich console)."""
        from rich.pretty import Pretty

        console.print(Pretty(result))

    def extra_files(self) -> dict[str, bytes]:
        """Task-specific files (name -> bytes) to store next to `model.keras`."""
        return {}

    def metadata(self) -> dict[str, Any]:
        """The `preset.json` fields the task contributes (overridable)."""
        return {}

    @classmethod
    def from_folder(cls, model, metadata: Mapping[str, Any], folder: Path) -> "Task":
        """Build the task from a verified preset folder and its loaded model."""
        return cls(model, metadata, folder)

    def save(self, folder: str | os.PathLike, **metadata) -> Path:
        """Shortcut for `keras_rnnzoo.zoo.save_preset(self, folder, **metadata)`."""
        from keras_rnnzoo.zoo.io import save_preset

        return save_preset(self, folder, **metadata)
