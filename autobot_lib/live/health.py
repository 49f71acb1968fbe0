"""Heartbeat and health check: is the bot alive, by its heartbeat file and (optionally) its /metrics.

The bot calls :meth:`Heartbeat.beat` once per loop pass: it rewrites a small JSON file atomically
(``{"ts": epoch seconds, "utc": ..., "pid": ...}``) and sets ``bot_heartbeat_ts``. :func:`health_check`,
run from another process (``autobot health``, a Docker/systemd health check), reports the bot unhealthy
when the heartbeat is missing or older than ``max_age_sec`` (the seed: 15 minutes), or when the metrics
endpoint it was asked to scrape is unreachable or shows a stale heartbeat.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from prometheus_client.parser import text_string_to_metric_families

from autobot_lib._fs import write_text_atomic

DEFAULT_MAX_AGE_SEC = 900


def write_heartbeat(path: str | Path, now: float, **fields) -> Path:
    utc = dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(timespec="seconds")
    return write_text_atomic(path, json.dumps({"ts": now, "utc": utc, "pid": os.getpid(), **fields}))


class Heartbeat:
    def __init__(self, path: str | Path, metrics=None, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.metrics = metrics
        self._clock = clock

    def beat(self, **fields) -> float:
        """Write the heartbeat now (extra ``fields`` go into the file); returns its timestamp."""
        now = self._clock()
        write_heartbeat(self.path, now, **fields)
        if self.metrics is not None:
            self.metrics.heartbeat(now)
        return now


@dataclass(frozen=True)
class Health:
    healthy: bool
    problems: tuple[str, ...]
    heartbeat_age_sec: float | None = None
    metrics_heartbeat_age_sec: float | None = None

    def text(self) -> str:
        ages = []
        if self.heartbeat_age_sec is not None:
            ages.append(f"heartbeat file {self.heartbeat_age_sec:.0f} s old")
        if self.metrics_heartbeat_age_sec is not None:
            ages.append(f"bot_heartbeat_ts {self.metrics_heartbeat_age_sec:.0f} s old")
        head = ("healthy" if self.healthy else "UNHEALTHY") + (f": {', '.join(ages)}" if ages else "")
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def _file_age(path: Path, now: float, max_age: float, problems: list[str]) -> float | None:
    try:
        ts = float(json.loads(path.read_text())["ts"])
    except FileNotFoundError:
        problems.append(f"no heartbeat file at {path}: is the bot running, with HEARTBEAT_FILE set the same?")
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"heartbeat file {path} is unreadable ({type(exc).__name__})")
        return None
    age = now - ts
    if age > max_age:
        problems.append(f"heartbeat file is {age:.0f} s old (limit {max_age:.0f} s)")
    return age


def _metrics_age(url: str, now: float, max_age: float, timeout: float, problems: list[str]) -> float | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode()
    except (OSError, ValueError) as exc:
        problems.append(f"metrics endpoint {url} unreachable ({type(exc).__name__})")
        return None
    beats = [s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == "bot_heartbeat_ts"]
    if not beats:
        problems.append(f"{url} has no bot_heartbeat_ts")
        return None
    if beats[0] <= 0:
        problems.append(f"{url}: bot_heartbeat_ts was never set")
        return None
    age = now - beats[0]
    if age > max_age:
        problems.append(f"bot_heartbeat_ts is {age:.0f} s old (limit {max_age:.0f} s)")
    return age


def health_check(heartbeat_path: str | Path | None = None, *, max_age_sec: float = DEFAULT_MAX_AGE_SEC,
                 metrics_url: str | None = None, now: float | None = None, timeout: float = 3.0) -> Health:
    """Healthy when every source given (heartbeat file, metrics URL) shows a heartbeat within ``max_age_sec``."""
    now = time.time() if now is None else now
    problems: list[str] = []
    if heartbeat_path is None and metrics_url is None:
        problems.append("nothing to check: give a heartbeat file or a metrics URL")
    file_age = _file_age(Path(heartbeat_path), now, max_age_sec, problems) if heartbeat_path is not None else None
    metrics_age = _metrics_age(metrics_url, now, max_age_sec, timeout, problems) if metrics_url else None
    return Health(not problems, tuple(problems), file_age, metrics_age)
