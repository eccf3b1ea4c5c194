"""`rnnzoo info NAME`: a preset's model card and metadata."""

from __future__ import annotations

import json

import click

from keras_rnnzoo.cli.app import app, console, json_option, print_json


@app.command()
@click.argument("name")
@json_option
def info(name: str, json_output: bool) -> None:
    """Print the model card of NAME (a preset name or folder); files are verified first."""
    from rich.markdown import Markdown
    from rich.table import Table

    from keras_rnnzoo import zoo

    meta = zoo.preset_info(name)
    if json_output:
        print_json(meta)
        return
    card = meta.pop("card_markdown", None)
    if card:
        console.print(Markdown(card))
    table = Table("field", "value", title=f"{meta['name']} preset.json")
    for key in ("name", "version", "task", "created", "keras_version", "keras_rnnzoo_version", "backend",
                "parameters", "license", "folder"):
        if key in meta:
            table.add_row(key, str(meta[key]))
    for key in ("input_spec", "preprocessing", "labels"):
        if meta.get(key):
            table.add_row(key, json.dumps(meta[key])[:400])
    console.print(table)
