"""What an alert is: a priority, a dedupe key, a title and a text. Plain values, no I/O.

Priorities use the logging levels' numbers, so the log channel logs an alert at its own level and
``NOTIFICATION_LEVEL`` ("INFO", "WARNING", ...) maps onto them:

>>> Priority.HIGH > Priority.INFO, Priority.from_level("WARNING")
(True, <Priority.MEDIUM: 30>)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum


class Priority(IntEnum):
    LOW = logging.DEBUG
    INFO = logging.INFO
    MEDIUM = logging.WARNING
    HIGH = logging.ERROR
    CRITICAL = logging.CRITICAL  # bypasses rate limits (never dedupe): a kill switch must be heard

    @classmethod
    def from_level(cls, level: str | int) -> Priority:
        """A logging level name or number (``NOTIFICATION_LEVEL``) as the lowest priority to deliver."""
        number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
        if not isinstance(number, int):
            raise ValueError(f"unknown level {level!r}: use one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return cls(max(p for p in cls if p <= number)) if number >= cls.LOW else cls.LOW


@dataclass(frozen=True)
class Alert:
    """One notification. Alerts with the same ``key`` within the cooldown are duplicates."""

    priority: Priority
    key: str
    title: str
    text: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("Alert.key must name the condition, e.g. 'clock_drift' or 'order_error:BTCUSDT'")
        object.__setattr__(self, "priority", Priority(self.priority))

    def as_text(self) -> str:
        """Title and text as one message body, the priority first when it is not routine."""
        head = f"[{self.priority.name}] {self.title}" if self.priority >= Priority.MEDIUM else self.title
        return f"{head}\n{self.text}" if self.text else head
