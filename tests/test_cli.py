"""The `rnnzoo` command: `cells`, `--version`, exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import run_python

import keras_rnnzoo
from keras_rnnzoo.cli import app, main


def test_cells_json(capsys):
    assert main(["cells", "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)  # stdout holds only JSON
    names = [row["name"] for row in rows]
    assert names == keras_rnnzoo.list_cells()
    by_name = {row["name"]: row for row in rows}
    assert by_name["lstm"]["class"] == "keras_rnnzoo.cells.lstm.LSTMCell"
    assert by_name["gru"]["summary"].startswith("GRU cell")
    assert all(set(row) == {"name", "class", "summary"} for row in rows)


def test_cells_table():
    result = CliRunner().invoke(app, ["cells"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in keras_rnnzoo.list_cells():
        assert name in result.output


def test_version(capsys):
    assert main(["--version"]) == 0
    assert keras_rnnzoo.__version__ in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["no-such-command"], ["cells", "--no-such-option"]])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert argv[-1] in captured.err
    assert captured.out == ""


def test_console_script_in_fresh_process():
    """`python -m keras_rnnzoo` (the console script's code) end to end."""
    process = run_python(
        "import sys, runpy; sys.argv = ['rnnzoo', '--version']; "
        "runpy.run_module('keras_rnnzoo', run_name='__main__')",
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert f"rnnzoo, version {keras_rnnzoo.__version__}" in process.stdout
