"""The `rnnzoo` command line. Each command is a module that decorates `app`."""

from keras_rnnzoo.cli import cells  # noqa: F401  (registers the command)
from keras_rnnzoo.cli import models, info, predict, evaluate, export, train  # noqa: F401  (zoo commands)
from keras_rnnzoo.cli import tune  # noqa: F401  (rnnzoo tune)
from keras_rnnzoo.cli import bench  # noqa: F401  (rnnzoo bench)
from keras_rnnzoo.cli.app import app, main

__all__ = ["app", "main"]
