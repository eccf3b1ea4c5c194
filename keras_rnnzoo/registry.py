"""Name -> recurrent cell class, for the tuner, the zoo recipes and users' code.

Cells register with `@register_cell("name")`; third-party packages can also
expose cells through the entry-point group `keras_rnnzoo.cells`::

    # in the plugin's pyproject.toml
    [project.entry-points."keras_rnnzoo.cells"]
    my_cell = "my_package.cells:MyCell"

Example:

>>> import keras_rnnzoo
>>> "lstm" in keras_rnnzoo.list_cells()
True
>>> keras_rnnzoo.get_cell("gru").__name__
'GRUCell'
"""

from __future__ import annotations

import logging
import re
from importlib import metadata
from typing import Callable, TypeVar

import keras

ENTRY_POINT_GROUP = "keras_rnnzoo.cells"
SERIALIZATION_PACKAGE = "keras_rnnzoo"
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

_CELLS: dict[str, type] = {}
_entry_points_loaded = False
_log = logging.getLogger(__name__)

CellClass = TypeVar("CellClass", bound=type)


def register_cell(
    name: str, *, package: str = SERIALIZATION_PACKAGE, override: bool = False
) -> Callable[[CellClass], CellClass]:
    """Class decorator: make a cell findable by `name` and Keras-serializable.

    Args:
        name: registry name, lower case with underscores (`"my_lstm"`).
        package: package name for `keras.saving.register_keras_serializable`.
        override: replace a cell already registered under `name`.

    Example:

    >>> import keras
    >>> @register_cell("doc_example_cell")
    ... class DocExampleCell(keras.layers.SimpleRNNCell):
    ...     pass
    >>> get_cell("doc_example_cell") is DocExampleCell
    True
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError(
            f"Cell names are lower case letters, digits and underscores, "
            f"starting with a letter; got {name!r}."
        )

    def decorator(cls: CellClass) -> CellClass:
        _check_is_cell(cls, name)
        existing = _CELLS.get(name)
        if existing is not None and existing is not cls and not override:
            raise ValueError(
                f"A cell is already registered as {name!r} "
                f"({existing.__module__}.{existing.__qualname__}); "
                "pass override=True to replace it."
            )
        _CELLS[name] = cls
        registered = keras.saving.get_registered_name(cls)
        if registered == cls.__name__:  # not yet known to Keras
            keras.saving.register_keras_serializable(package=package)(cls)
        return cls

    return decorator


def list_cells() -> list[str]:
    """Sorted names of every registered cell, entry-point plugins included."""
    _load_entry_points()
    return sorted(_CELLS)


def get_cell(name: str) -> type:
    """The cell class registered under `name`.

    Raises:
        ValueError: `name` is not registered; the message lists valid names.
    """
    _load_entry_points()
    try:
        return _CELLS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown cell {name!r}. Registered cells: "
            f"{', '.join(sorted(_CELLS))}."
        ) from None


def _check_is_cell(cls: type, name: str) -> None:
    if not isinstance(cls, type) or not issubclass(cls, keras.layers.Layer):
        raise TypeError(
            f"register_cell({name!r}) expects a keras.layers.Layer subclass, "
            f"got {cls!r}."
        )


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry_point.load()
            # Skip only the same class (its module may register itself); a
            # different class under a taken name is refused with a warning.
            if _CELLS.get(entry_point.name) is not cls:
                register_cell(entry_point.name)(cls)
        except Exception as error:  # a broken plugin must not break the zoo
            _log.warning(
                "Skipping cell plugin %r (%s): %s",
                entry_point.name,
                entry_point.value,
                error,
            )
