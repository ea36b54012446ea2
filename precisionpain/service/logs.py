"""Structured JSON logs for the server: one JSON object per line on stderr.

Fields passed as ``extra={"fields": {...}}`` are merged into the object. Exceptions are written as their type
and stack frames only: an exception's message could quote input, and no patient value may reach a log line.
What native code writes to standard error (gRPC core's C++ logging: TLS handshake failures and the like) is
turned into JSON lines too, by :func:`route_native_stderr`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "precisionpain.service"


def safe_traceback(exc: BaseException) -> str:
    """The stack of an exception without its message (file, line, function and source line per frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return "".join(traceback.format_list(frames)) + type(exc).__qualname__


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            out["error_type"] = type(record.exc_info[1]).__qualname__
            out["stack"] = safe_traceback(record.exc_info[1])
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Send every log record (ours and the libraries') through one JSON handler. Called by the server only."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger(LOGGER_NAME).setLevel(level)
    logging.captureWarnings(True)


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def log_event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    logger.log(level, message, extra={"fields": fields})


# gRPC core (absl) lines: "I1206 22:44:02.385947    6893 ssl_transport_security.cc:2563] Handshake failed ..."
_NATIVE_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ ([^\s\]]+)\] ?(.*)$")
_NATIVE_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}
_MAX_NATIVE_LINE_BYTES = 16 * 1024


@dataclass
class NativeStderr:
    """File descriptor 2 turned into a pipe read by a thread: each line that is not already a JSON object is
    logged as one record of the ``precisionpain.service.native`` logger (level from gRPC core's prefix, else
    WARNING). ``stream`` is the real standard error, for the JSON handler itself."""

    stream: Any
    original_fd: int
    thread: threading.Thread

    def close(self, timeout_s: float = 2.0) -> None:
        """Give file descriptor 2 back to the real standard error, after the lines already written are logged."""
        sys.stderr.flush()
        os.dup2(self.original_fd, 2)  # closes the pipe's last writer: the reader sees the end and stops
        self.thread.join(timeout_s)


def route_native_stderr() -> NativeStderr:
    """Send what native code writes to standard error through the JSON log (see :class:`NativeStderr`). Call it
    once, in a server process, before :func:`configure_logging` (which should write to the returned stream)."""
    sys.stderr.flush()
    original_fd = os.dup(2)
    stream = os.fdopen(os.dup(original_fd), "w", encoding="utf-8", errors="replace", buffering=1)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(target=_pump, args=(read_fd, stream), name="native-stderr", daemon=True)
    thread.start()
    return NativeStderr(stream, original_fd, thread)


def _pump(read_fd: int, stream: Any) -> None:
    logger = get_logger("native")
    with os.fdopen(read_fd, "rb") as pipe:
        while raw := pipe.readline(_MAX_NATIVE_LINE_BYTES):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line.strip():
                continue
            if _is_json_object(line):
                stream.write(line + "\n")
                continue
            match = _NATIVE_LINE.match(line)
            if match:
                level, source, text = match.groups()
                log_event(logger, _NATIVE_LEVELS[level], text, source=source)
            else:
                log_event(logger, logging.WARNING, line)


def _is_json_object(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
