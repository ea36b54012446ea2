"""What every ``precisionpain`` command shares: the consoles, the error handling and the common options.

Exit status: 0 ok, 2 usage or validation error (one clear message), 130 interrupted, 1 unexpected error.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from precisionpain.errors import PrecisionPainError, ValidationError

F = TypeVar("F", bound=Callable[..., Any])

err_console = Console(stderr=True)
out_console = Console()

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


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def add_commands(app: typer.Typer, commands: dict[str, Callable[..., Any]]) -> None:
    """Add ``commands`` (name -> function) to ``app`` with the shared error handling, replacing commands of the
    same names, so adding twice is harmless."""
    app.registered_commands = [c for c in app.registered_commands if c.name not in commands]
    for name, fn in commands.items():
        app.command(name)(handle_errors(fn))
