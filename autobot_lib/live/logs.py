"""JSON-lines logs that stay small and never show a secret.

One JSON object per line: ``ts`` (UTC, ms), ``level``, ``logger``, ``msg``, every ``extra={...}`` field,
and ``exc`` for a traceback. INFO by default (the Donchian seed's bot wrote 319 MB in 32 hours, 98.6 %
DEBUG); files rotate by size, so the disk holds at most ``max_bytes x (backup_count + 1)``. HTTP client
loggers (httpx, httpcore, python-telegram-bot) are held at WARNING: at INFO httpx prints every request URL,
and a Telegram URL carries the bot token.

:class:`RedactionFilter` sits on the handlers and replaces the given secret values (``secrets_from_settings``)
in messages, extra fields and tracebacks, plus anything shaped like a bot token, a Slack webhook or a
``key=...`` query parameter, with ``**********``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import re
import sys
from pathlib import Path
from typing import Any, Iterable, TextIO

import pandas as pd
from pydantic import SecretStr

from autobot_lib._secrets import secret_forms

REDACTED = "**********"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
QUIET_LOGGERS = ("httpx", "httpcore", "telegram", "urllib3")
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_PATTERNS = (  # secrets nobody passed in, by their shape
    (re.compile(r"(/bot)\d{5,}:[A-Za-z0-9_-]{20,}"), r"\1" + REDACTED),
    (re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b(api[_-]?key|apikey|secret|signature|token|password)=[^&\s\"']+"), r"\1=" + REDACTED),
    (re.compile(r"(?i)(x-mbx-apikey['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9]+"), r"\1" + REDACTED),
)
_MIN_SECRET_CHARS = 6  # shorter values ("1", "42") would blank out ordinary text


def secrets_from_settings(settings) -> list[str]:
    """Every SecretStr value of the settings (keys, tokens, webhook URL, passwords), in all its forms."""
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            values.extend(secret_forms(value.get_secret_value()))
    return values


class RedactionFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_CHARS}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, SecretStr):
            return REDACTED
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._redact_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._redact_value(v) for v in value]
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad %-arguments: keep the template rather than raise into the caller
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS:
                setattr(record, key, self._redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
        line = {"ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "level": record.levelname,
                "logger": record.name, "msg": record.getMessage()}
        line.update({k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and not k.startswith("_")})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def setup_logging(level: str | int = "INFO", *, path: str | Path | None = None, secrets: Iterable[str] = (),
                  max_bytes: int = 10_000_000, backup_count: int = 5, stream: TextIO | None = None) -> list[logging.Handler]:
    """Route the root logger to JSON lines: a size-rotated file at ``path`` and/or ``stream`` (stderr when
    neither is given). Calling it again replaces the handlers it installed before."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_autobot_json", False)]:
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = []
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backup_count,
                                                             encoding="utf-8"))
    if stream is not None or path is None:
        handlers.append(logging.StreamHandler(stream or sys.stderr))
    redaction, formatter = RedactionFilter(secrets), JsonFormatter()
    for handler in handlers:
        handler._autobot_json = True
        handler.addFilter(redaction)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handlers


def setup_logging_from_settings(settings, *, stream: TextIO | None = None) -> list[logging.Handler]:
    """``LOG_LEVEL``, ``LOG_FILE`` (rotated at ``LOG_MAX_BYTES``, ``LOG_BACKUP_COUNT`` old files kept) and
    every secret of the settings redacted."""
    return setup_logging(settings.LOG_LEVEL, path=settings.LOG_FILE or None, secrets=secrets_from_settings(settings),
                         max_bytes=settings.LOG_MAX_BYTES, backup_count=settings.LOG_BACKUP_COUNT, stream=stream)


def log_volume_per_day(path: str | Path) -> pd.DataFrame:
    """Bytes, lines and lines per level for each UTC day, over the log file and its rotated backups.

    Lines that are not JSON logs count under the day ``unparsed``: the total is always the disk usage.
    """
    path = Path(path)
    files = [p for p in [path, *sorted(path.parent.glob(f"{path.name}.*"))] if p.is_file()]
    rows: dict[str, dict[str, int]] = {}
    for file in files:
        with open(file, "rb") as fh:
            for raw in fh:
                try:
                    entry = json.loads(raw)
                    day, level = entry["ts"][:10], entry["level"]
                except (ValueError, KeyError, TypeError):
                    day, level = "unparsed", None
                row = rows.setdefault(day, {"bytes": 0, "lines": 0, **{name: 0 for name in LEVELS}})
                row["bytes"] += len(raw)
                row["lines"] += 1
                if level in row:
                    row[level] += 1
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["bytes", "lines", *LEVELS]).sort_index()
    frame.index.name = "day"
    return frame
