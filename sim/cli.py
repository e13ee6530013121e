"""The ``sim`` command line: a thin layer over workloads/, accel/, sim/ and (lazily) rtl/.

Every error a user can cause is a :class:`~workloads.errors.UserError`; :func:`main` prints it on
one line and exits with status 2, without a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

from workloads.errors import UserError
from workloads.sources import load_network
from workloads.zoo import ZOO

app = typer.Typer(
    help="Systolic-array CNN accelerator toolkit: simulate, generate RTL, explore designs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Tables keep their full width when piped (no terminal to wrap to).
stdout = Console(width=None if sys.stdout.isatty() else 250)

NetArg = Annotated[str, typer.Argument(help="Zoo network name (see `sim list`) or a model file.", metavar="NET_OR_FILE")]


@app.command("list")
def list_networks() -> None:
    """List the networks in the zoo."""
    from sim.tables import zoo_table

    stdout.print(zoo_table({name: build() for name, build in ZOO.items()}))


@app.command()
def info(
    net: NetArg,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write JSON to PATH ('-' for stdout).", metavar="PATH")] = None,
    batch: Annotated[int, typer.Option(help="Batch size N.")] = 1,
) -> None:
    """Per-layer shapes, parameters, MACs and receptive fields of a network."""
    from sim.tables import info_table

    network = load_network(net).with_batch(batch)
    summary = network.summary()
    if json_out:
        emit_json(summary, json_out)
        if json_out == "-":
            return
    stdout.print(info_table(summary))


def emit_json(data: dict, path: str) -> None:
    """Print ``data`` as JSON to stdout (``path == '-'``) or write it atomically to ``path``."""
    from sim.output import write_atomic

    text = json.dumps(data, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        write_atomic(path, text)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``sim`` console script."""
    try:
        app(args=argv)  # click handles usage errors itself (one line, exit 2)
    except UserError as err:
        Console(stderr=True, soft_wrap=True).print(f"error: {err}", markup=False, highlight=False)
        sys.exit(2)
