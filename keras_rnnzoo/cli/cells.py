"""`rnnzoo cells`: the registered recurrent cells."""

from __future__ import annotations

from rich.table import Table

from keras_rnnzoo.cli.app import app, console, json_option, print_json


@app.command()
@json_option
def cells(json_output: bool) -> None:
    """List the registered cells (built-in and plugins)."""
    from keras_rnnzoo import registry

    rows = []
    for name in registry.list_cells():
        cls = registry.get_cell(name)
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        rows.append({"name": name, "class": f"{cls.__module__}.{cls.__qualname__}", "summary": summary})
    if json_output:
        print_json(rows)
        return
    table = Table("name", "class", "summary", title="keras_rnnzoo cells")
    for row in rows:
        table.add_row(row["name"], row["class"], row["summary"])
    console.print(table)
