"""A progress bar on stderr for long runs; silent when stderr is not a terminal or when quiet."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Interrupted(Exception):
    """Ctrl-C during a long run, with what the user should know; ``sim`` prints it and exits 130.

    Not a KeyboardInterrupt: the command line framework would turn that into a silent exit.
    """


@contextmanager
def layer_progress(total: int, quiet: bool = False, label: str = "layers") -> Iterator[Callable[[str], None]]:
    """Yield a callback that advances the bar by one step, showing the step's name."""
    if quiet or not sys.stderr.isatty():
        yield lambda name: None
        return
    columns = (TextColumn(f"{label} {{task.description}}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=total)
        yield lambda name: bar.update(task, advance=1, description=name)
