"""The `rnnzoo` click group and its error / exit-code policy.

Exit codes: 0 success, 2 usage error (bad arguments), 1 failure (a one-line
message on stderr; the traceback only with `--debug`). Commands live in
sibling modules that decorate `app`; with `--json` they print only JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console

# Tables keep their columns when stdout is a file or a pipe (rich assumes 80 there).
console = Console(width=None if sys.stdout.isatty() else 160)
json_option = click.option("--json", "json_output", is_flag=True, help="Print only JSON on stdout.")


@click.group(name="rnnzoo", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keras-rnnzoo", prog_name="rnnzoo")
@click.option("--debug", is_flag=True, help="Show tracebacks on failure.")
def app(debug: bool) -> None:
    """Recurrent cells, a pretrained RNN zoo and tracked architecture search for Keras 3."""


def print_json(payload: Any) -> None:
    """Write `payload` as JSON to stdout (nothing else may go there with --json)."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rnnzoo` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = app.main(args=args, prog_name="rnnzoo", standalone_mode=False)
    except click.exceptions.UsageError as error:
        error.show()
        return 2
    except click.exceptions.Exit as error:
        return error.exit_code
    except click.exceptions.Abort:
        print("rnnzoo: aborted", file=sys.stderr)
        return 1
    except Exception as error:  # one line, no traceback, unless --debug
        if debug:
            raise
        text = str(error).strip()
        message = text.splitlines()[0] if text else type(error).__name__
        print(f"rnnzoo: error: {message}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0
