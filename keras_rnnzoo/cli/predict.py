"""`rnnzoo predict NAME INPUT...`: run a preset on input files.

Each task adds its own options (`Task.cli_options()`), e.g. the forecaster's
`--horizon`, `--column` and `--plot`; `rnnzoo predict NAME --help` lists them.
"""

from __future__ import annotations

from pathlib import Path

import click

from keras_rnnzoo.cli.app import app, console, json_option, print_json


class TaskOptionsCommand(click.Command):
    """A command whose options grow with those of the task named by its first argument."""

    def parse_args(self, ctx, args):
        self.params = [p for p in self.params if not getattr(p, "_task_option", False)]
        name = next((a for a in args if not a.startswith("-")), None)
        if name is not None:
            for option in _task_options(name):
                option._task_option = True
                self.params.append(option)
        return super().parse_args(ctx, args)


def _task_options(name: str) -> list[click.Option]:
    from keras_rnnzoo import zoo
    from keras_rnnzoo.zoo.preset import read_preset_metadata

    try:
        meta = read_preset_metadata(zoo.resolve(name))
        return zoo.get_task_class(meta["task"]).cli_options()
    except (zoo.PresetError, ValueError):
        return []  # reported properly when the command runs


@app.command(cls=TaskOptionsCommand, context_settings={"ignore_unknown_options": False})
@click.argument("name")
@click.argument("inputs", nargs=-1, required=True)
@json_option
def predict(name: str, inputs: tuple[str, ...], json_output: bool, **task_options) -> None:
    """Predict with preset NAME on INPUT files (see `rnnzoo predict NAME --help` for the task's options)."""
    from keras_rnnzoo import zoo

    for path in inputs:
        if not Path(path).exists():
            raise FileNotFoundError(f"Input file {path} does not exist.")
    task = zoo.load(name)
    result = task.predict_files(list(inputs), **task_options)
    if json_output:
        print_json(result)
    else:
        task.render_prediction(result, console)
