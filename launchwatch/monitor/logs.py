"""Logging set-up: plain text or JSON lines, check fields on every line, secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

# Attributes a LoggerAdapter or `extra=` may set; both formats print them.
FIELDS = ("check", "kind", "target", "status", "reason", "duration_s", "incident", "error")
_REDACTED = "[redacted]"


def check_logger(logger: logging.Logger, check_id: str, kind: str, target: str) -> logging.LoggerAdapter[logging.Logger]:
    """Bind a check's id, probe kind and target to every line logged through it."""
    return _MergingAdapter(logger, {"check": check_id, "kind": kind, "target": target})


class _MergingAdapter(logging.LoggerAdapter[logging.Logger]):
    # The stock adapter replaces a call's `extra` with its own; merge them.
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class Redactor:
    """Replaces known secret values in text; the set grows as configs load."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # Very short values would blank out ordinary words, so they are skipped.
        merged = {*self._secrets, *(s for s in secrets if len(s) >= 4)}
        self._secrets = sorted(merged, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        parts = [stamp, record.levelname, record.name, record.getMessage()]
        fields = " ".join(f"{name}={_text(getattr(record, name))}" for name in FIELDS if getattr(record, name, None) is not None)
        if fields:
            parts.append(fields)
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self._redact(line)


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._redact(json.dumps(entry, default=str))


def _text(value: Any) -> str:
    text = str(value)
    if isinstance(value, float):
        text = f"{value:.3f}"
    return f'"{text}"' if " " in text else text


def setup_logging(log_format: str = "text", level: str = "INFO", redact: Redactor | None = None, stream: TextIO | None = None) -> Redactor:
    """Send launchwatch's logs to stderr in the chosen format; return the redactor."""
    redact = redact or Redactor()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if log_format == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("launchwatch").setLevel(level.upper())
    # apprise logs the URLs it handles, tokens included. Delivery errors are
    # captured per notification and logged by launchwatch instead.
    logging.getLogger("apprise").propagate = False
    return redact
