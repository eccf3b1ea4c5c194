"""`rnnzoo evaluate NAME`: rerun the held-out evaluation and compare it with the card."""

from __future__ import annotations

import click

from keras_rnnzoo.cli.app import app, console, json_option, print_json


def _flatten(metrics, prefix=()):
    """{'set': {'methods': {'m': {'k': v}}}} -> {('set', 'm', 'k'): v} (any nesting of dicts)."""
    flat = {}
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            if key in ("split", "command"):
                continue
            flat.update(_flatten(value, prefix + (str(key),)))
    elif isinstance(metrics, (int, float)) and not isinstance(metrics, bool):
        flat[prefix] = metrics
    return flat


@app.command()
@click.argument("name")
@click.option("--quick", is_flag=True, help="A fast subset (not comparable with the card).")
@json_option
def evaluate(name: str, quick: bool, json_output: bool) -> None:
    """Rerun NAME's held-out evaluation; print the metrics next to those in its card."""
    from rich.table import Table

    from keras_rnnzoo import zoo

    task = zoo.load(name)
    measured = task.evaluate(quick=quick)
    recorded = task.card.get("metrics", {})
    if json_output:
        print_json({"name": task.name, "quick": quick, "measured": measured, "card": recorded})
        return
    now, card = _flatten(measured), _flatten(recorded)

    def fmt(value):
        return "-" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))

    # group "set / methods / method / metric" keys into one table per set: rows = methods
    groups: dict[tuple, dict[str, tuple]] = {}
    for key in list(now) + [k for k in card if k not in now]:
        row, metric = key[:-1], key[-1]
        groups.setdefault(row, {})[metric] = (now.get(key), card.get(key))
    metrics = sorted({m for cells in groups.values() for m in cells})
    table = Table("", *metrics, title=f"{task.name} held-out evaluation: measured now (in the card)"
                  + (" - quick subset" if quick else ""))
    for row, cells in groups.items():
        table.add_row(" / ".join(part for part in row if part != "methods") or "-",
                      *(f"{fmt(cells[m][0])} ({fmt(cells[m][1])})" if m in cells else "" for m in metrics))
    console.print(table)
