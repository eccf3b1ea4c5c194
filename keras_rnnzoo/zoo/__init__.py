"""The pretrained model zoo: presets, `list_models`, `load`, and the task objects.

>>> from keras_rnnzoo import zoo
>>> forecaster = zoo.load("rnn-forecaster")              # doctest: +SKIP
>>> forecaster.predict(series, horizon=12)               # doctest: +SKIP
"""

from keras_rnnzoo.zoo.io import (
    list_models,
    load,
    preset_info,
    resolve,
    rnnzoo_home,
    save_preset,
    shipped_preset_dir,
)
from keras_rnnzoo.zoo.preset import FORMAT_VERSION, PresetError, verify_preset
from keras_rnnzoo.zoo.task import Task, get_task_class, register_task

__all__ = [
    "FORMAT_VERSION",
    "PresetError",
    "Task",
    "get_task_class",
    "list_models",
    "load",
    "preset_info",
    "register_task",
    "resolve",
    "rnnzoo_home",
    "save_preset",
    "shipped_preset_dir",
    "verify_preset",
]


def __getattr__(name):
    # Task classes import lazily: `zoo.Forecaster` pulls in only the forecaster.
    from keras_rnnzoo.zoo.task import BUILTIN_TASKS

    for task_name, target in BUILTIN_TASKS.items():
        if target.endswith(":" + name):
            return get_task_class(task_name)
    raise AttributeError(f"module 'keras_rnnzoo.zoo' has no attribute {name!r}")
