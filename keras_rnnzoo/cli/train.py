"""`rnnzoo train NAME [--quick] [--data PATH]`: run `zoo/<NAME>/recipe.py`.

Recipes live in the source tree (not in the wheel): the command looks in
`./zoo/NAME/` and in the checkout that holds the installed package.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

import click

from keras_rnnzoo.cli.app import app, console, json_option, print_json


def find_recipe(name: str) -> Path:
    import keras_rnnzoo

    roots = [Path.cwd(), Path(keras_rnnzoo.__file__).resolve().parent.parent]
    candidates = [root / "zoo" / name / "recipe.py" for root in roots]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"No recipe for {name!r}: looked for {', '.join(str(c) for c in dict.fromkeys(candidates))}. "
        "`rnnzoo train` runs from a source checkout of keras-rnnzoo."
    )


def load_recipe(name: str):
    """Import `zoo/NAME/recipe.py` (found by `find_recipe`) as a module, without running it.

    >>> load_recipe("rnn-forecaster").mase_weight  # doctest: +SKIP
    """
    spec = importlib.util.spec_from_file_location(f"rnnzoo_recipe_{name.replace('-', '_')}", find_recipe(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@app.command()
@click.argument("name")
@click.option("--quick", is_flag=True, help="A minutes-long run (smoke test); writes to $RNNZOO_HOME/NAME-quick.")
@click.option("--data", type=click.Path(), default=None, help="Extra training data for the recipe.")
@click.option("--format", "data_format", default=None,
              help="Format of --data, for recipes that read several (shapes-captioner: coco or flickr8k).")
@click.option("--output", type=click.Path(file_okay=False), default=None, help="Preset folder to write.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the recipe's epochs.")
@json_option
def train(name: str, quick: bool, data: str | None, data_format: str | None, output: str | None,
          epochs: int | None, json_output: bool) -> None:
    """Rebuild preset NAME from scratch by running its recipe (trains, evaluates, writes the preset)."""
    if data is not None and not Path(data).exists():
        raise FileNotFoundError(f"Data file {data} does not exist.")
    argv = (["--quick"] if quick else []) + (["--data", data] if data else []) \
        + (["--format", data_format] if data_format else []) \
        + (["--output", output] if output else []) + (["--epochs", str(epochs)] if epochs else [])
    # With --json, progress and the recipe's own prints go to stderr.
    redirect = contextlib.redirect_stdout(sys.stderr) if json_output else contextlib.nullcontext()
    with redirect:
        module = load_recipe(name)
        metrics = module.main(argv)
    recipe = module.__file__
    if json_output:
        print_json({"name": name, "recipe": str(recipe), "quick": quick, "metrics": metrics})
    else:
        console.print(f"[green]trained {name}[/green] with {recipe}")
