"""What every ``precisionpain`` command shares: the consoles, the error handling and the common options.

Exit status: 0 ok, 2 usage or validation error (one clear message), 130 interrupted, 1 unexpected error.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console, ConsoleDimensions

from precisionpain.errors import PrecisionPainError, ValidationError, Violation

F = TypeVar("F", bound=Callable[..., Any])

#: columns output is laid out in when it goes to a pipe or a file: wide enough that no table or line is cut
PIPED_WIDTH = 10_000
#: columns of ``--help`` sent to a pipe or a file (its panels fill the width, so not PIPED_WIDTH); wide enough
#: that no help text is cut
PIPED_HELP_WIDTH = 120


class CompleteConsole(Console):
    """A rich console that lays its output out at its natural width when its stream is not a terminal (a pipe,
    a file, a CI log), where rich would cut table headers ("p(respon…") and wrap lines at 80 columns. On a
    terminal it fits the terminal, as usual."""

    def _complete_size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        return size if self.is_terminal else ConsoleDimensions(PIPED_WIDTH, size.height)

    def _set_size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    size = property(_complete_size, _set_size)


err_console = CompleteConsole(stderr=True)
out_console = CompleteConsole()


def complete_help_when_piped() -> None:
    """``--help`` sent to a pipe or a file is laid out PIPED_HELP_WIDTH wide instead of 80 columns, which cut
    long help texts. Typer reads ``TERMINAL_WIDTH`` when it first formats help; a width the user set wins."""
    if not sys.stdout.isatty():
        os.environ.setdefault("TERMINAL_WIDTH", str(PIPED_HELP_WIDTH))

#: where a command writes its files when no path is given (relative to the working directory; ignored by git)
OUT_DIR = Path("out")

ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite output files that already exist.")]

CatalogRootOpt = Annotated[
    Path | None,
    typer.Option("--catalog-root", help="Folder with features/, models/, serving/ (default: bundled).", show_default=False),
]
HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Data directory of the embedded MLflow store (default: PRECISIONPAIN_HOME or ./.precisionpain).",
    ),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else SQLite in --home)."),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Registered model URI, models:/NAME@ALIAS (default models:/precisionpain-response@champion).",
    ),
]
ModelPathOpt = Annotated[
    Path | None,
    typer.Option("--model-path", help="A local model package folder (air-gapped sites) instead of the registry."),
]


def fail(message: str, code: int) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """A user's mistake prints one clear message and exits 2; an interruption exits 130; anything unexpected
    exits 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ValidationError as exc:
            fail(str(exc), 2)
        except (PrecisionPainError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            fail(str(exc), 2)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as exc:
            fail(f"unexpected {type(exc).__name__}: {exc}", 1)

    return wrapper  # type: ignore[return-value]


def read_text(path: Path) -> str:
    """A file's text; ``-`` reads standard input."""
    if str(path) == "-":
        return sys.stdin.read()
    return path.read_text(encoding="utf-8")


def refuse_overwrite(force: bool, **outputs: Path | None) -> None:
    """Before any work: each output (option name -> path) that already exists is an error naming the option and
    the file, unless ``--force`` was given."""
    if force:
        return
    ValidationError.raise_if_any(
        "output files",
        [
            Violation(f"--{option.replace('_', '-')}", f"{path} already exists; add --force to overwrite it")
            for option, path in outputs.items()
            if path is not None and path.exists()
        ],
    )


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def add_commands(app: typer.Typer, commands: dict[str, Callable[..., Any]]) -> None:
    """Add ``commands`` (name -> function) to ``app`` with the shared error handling, replacing commands of the
    same names, so adding twice is harmless."""
    app.registered_commands = [c for c in app.registered_commands if c.name not in commands]
    for name, fn in commands.items():
        app.command(name)(handle_errors(fn))
