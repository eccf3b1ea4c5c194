"""`rnnzoo models`: the presets that `zoo.load` can find."""

from __future__ import annotations

import click
from rich.table import Table

from keras_rnnzoo.cli.app import app, console, json_option, print_json


@app.command()
@click.argument("pattern", required=False)
@json_option
def models(pattern: str | None, json_output: bool) -> None:
    """List shipped presets and those under $RNNZOO_HOME (optionally filtered by PATTERN, e.g. '*speech*')."""
    from keras_rnnzoo import zoo
    from keras_rnnzoo.zoo.preset import read_preset_metadata

    rows = []
    for name in zoo.list_models(pattern):
        folder = zoo.resolve(name)
        try:
            meta = read_preset_metadata(folder)
        except zoo.PresetError as error:
            rows.append({"name": name, "task": "?", "version": "?", "parameters": None,
                         "folder": str(folder), "error": str(error)})
            continue
        rows.append({
            "name": name, "task": meta.get("task"), "version": meta.get("version"),
            "parameters": meta.get("parameters"), "folder": str(folder),
            "description": meta.get("description", ""),
        })
    if json_output:
        print_json(rows)
        return
    table = Table("name", "task", "version", "parameters", "description", title="keras_rnnzoo presets")
    for row in rows:
        table.add_row(row["name"], str(row["task"]), str(row["version"]),
                      f"{row['parameters']:,}" if row.get("parameters") else "?",
                      row.get("description") or row.get("error", ""))
    console.print(table)
