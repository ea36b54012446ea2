"""What every ``precisionpain`` command shares: the consoles, the error handling and the common options.

Exit status: 0 ok, 2 usage or validation error (one clear message), 130 interrupted, 1 unexpected error.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console, ConsoleDimensions

from precisionpain.errors import PrecisionPainError, ValidationError, Violation

if TYPE_CHECKING:
    from rich.progress import Task
    from rich.text import Text

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


# --------------------------------------------------------------------------------------------- progress

Step = Callable[[str, float], None]
#: below this fraction done, the time left is not estimated yet
MIN_FRACTION_FOR_ESTIMATE = 0.05


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``1 h 2 min``."""
    s = round(max(seconds, 0.0))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def time_left_text(fraction: float, elapsed_at_update_s: float, elapsed_s: float) -> str:
    """An estimate of the time left, from how long the work took to reach ``fraction``: "about 30 s left",
    "estimating the time left" before MIN_FRACTION_FOR_ESTIMATE, "longer than estimated" past the estimate."""
    if fraction < MIN_FRACTION_FOR_ESTIMATE:
        return "estimating the time left"
    left = elapsed_at_update_s * (1.0 - fraction) / fraction - (elapsed_s - elapsed_at_update_s)
    if left <= 0.0:
        return "longer than estimated"
    return f"about {duration_text(max(left, 1.0))} left"


class ProgressLines:
    """Progress of a long step for a pipe or a log: one line at each new step and one every ``heartbeat_s``
    while a step lasts, each with the share done, the time so far and an estimate of the time left."""

    def __init__(
        self,
        console: Console,
        label: str,
        *,
        heartbeat_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console, self.label, self.heartbeat_s, self.clock = console, label, heartbeat_s, clock
        self.started = clock()
        self.message, self.fraction = "", 0.0
        self.updated = self.printed = self.started
        self.lock = threading.Lock()

    def update(self, message: str, fraction: float) -> None:
        with self.lock:
            self.message, self.fraction = message, min(max(fraction, 0.0), 1.0)
            self.updated = self.clock()
            self._print()

    def beat(self) -> None:
        """Print the current step again when ``heartbeat_s`` have passed since the last line."""
        with self.lock:
            if self.message and self.clock() - self.printed >= self.heartbeat_s:
                self._print()

    def _print(self) -> None:
        now = self.clock()
        so_far = now - self.started
        if self.fraction >= 1.0:
            status = f"100%, {duration_text(so_far)}"
        elif self.fraction <= 0.0:
            status = f"0%, {duration_text(so_far)} so far"
        else:
            left = time_left_text(self.fraction, self.updated - self.started, so_far)
            status = f"{self.fraction:.0%}, {duration_text(so_far)} so far, {left}"
        self.console.print(f"{self.label}: {self.message} ({status})", highlight=False, markup=False)
        self.printed = now


def _time_left_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class TimeLeft(ProgressColumn):
        def render(self, task: Task) -> Text:
            fraction = task.completed / task.total if task.total else 0.0
            elapsed = task.elapsed or 0.0
            left = time_left_text(fraction, task.fields.get("updated_s", elapsed), elapsed)
            return Text(left, style="progress.remaining")

    return TimeLeft()


@contextmanager
def progress_steps(console: Console, label: str, *, heartbeat_s: float = 15.0) -> Iterator[Step]:
    """Progress of a long step driven by ``step(message, fraction)``. On a terminal, a transient bar with the
    share done, the time so far and an estimate of the time left; in a pipe or a log, :class:`ProgressLines`."""
    if not console.is_terminal:
        lines = ProgressLines(console, label, heartbeat_s=heartbeat_s)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(1.0):
                lines.beat()

        beating = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
        beating.start()
        try:
            yield lines.update
        finally:
            stop.set()
            beating.join()
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        _time_left_column(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=1.0)

        def step(message: str, fraction: float) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            bar.update(task, description=f"{label}: {message}", completed=fraction, updated_s=elapsed)

        yield step


def complete_help_when_piped() -> None:
    """``--help`` sent to a pipe or a file is laid out PIPED_HELP_WIDTH wide instead of 80 columns, which cut
    long help texts. Typer reads ``TERMINAL_WIDTH`` when it first formats help; a width the user set wins."""
    if not sys.stdout.isatty():
        os.environ.setdefault("TERMINAL_WIDTH", str(PIPED_HELP_WIDTH))


#: where a command writes its files when no path is given (relative to the working directory; ignored by git)
OUT_DIR = Path("out")

# The transport options the gRPC server and the CDS Hooks service both take (one spelling, one help text).
TlsCertOpt = Annotated[Path | None, typer.Option("--tls-cert", help="Server certificate chain (PEM).")]
TlsKeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="Server private key (PEM).")]
TlsClientCaOpt = Annotated[
    Path | None, typer.Option("--tls-client-ca", help="CA that signs client certificates (mTLS).")
]
RequireClientAuthOpt = Annotated[
    bool | None,
    typer.Option(
        "--require-client-auth/--no-require-client-auth", help="Refuse clients without a certificate."
    ),
]
RequireTokenOpt = Annotated[
    bool | None,
    typer.Option("--require-token/--no-require-token", help="Require 'Authorization: Bearer <token>'."),
]
TokenFileOpt = Annotated[Path | None, typer.Option("--token-file", help="Accepted tokens, one per line.")]
LogLevelOpt = Annotated[str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")]

ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite output files that already exist.")]

CatalogRootOpt = Annotated[
    Path | None,
    typer.Option(
        "--catalog-root",
        help="Folder with features/, models/, serving/ (default: bundled).",
        show_default=False,
    ),
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
    typer.Option(
        "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else SQLite in --home)."
    ),
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
    typer.Option(
        "--model-path", help="A local model package folder (air-gapped sites) instead of the registry."
    ),
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
