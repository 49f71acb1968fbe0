"""The forms in which a secret can show up in text: the value, and for a URL its path alone."""

from __future__ import annotations

from urllib.parse import urlsplit


def secret_forms(value: str) -> tuple[str, ...]:
    """>>> secret_forms("https://hooks.slack.com/services/T0/B0/XYZ")
    ('https://hooks.slack.com/services/T0/B0/XYZ', '/services/T0/B0/XYZ')
    """
    path = urlsplit(value).path if "://" in value else ""
    return (value, path) if len(path) > 1 else (value,)
