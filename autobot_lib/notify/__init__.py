"""Notifications.

For the bot: :class:`Notifier` in front of :class:`TelegramChannel`, :class:`SlackChannel` and
:class:`LogChannel`, with priorities, a per-channel rate limit, a dedupe window and background delivery
(see ``notifier.py``).

For one-off messages (the daily report): ``send_slack`` / ``send_telegram`` / ``send_summary`` below.
Each send is one blocking HTTP call with a timeout. A failing channel is logged and reported as False, never
raised: alerts must not stop whatever sent them. Secrets (the webhook URL, the bot token) never appear in
the log lines. ``base_url`` points Telegram at a local stand-in in tests.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from pydantic import SecretStr

from autobot_lib.notify.alerts import Alert, Priority
from autobot_lib.notify.channels import Channel, ChannelError, LogChannel, SlackChannel, TelegramChannel
from autobot_lib.notify.notifier import ChannelStats, Notifier

__all__ = ["Alert", "Priority", "Notifier", "ChannelStats", "Channel", "ChannelError", "TelegramChannel",
           "SlackChannel", "LogChannel", "send_slack", "send_telegram", "send_summary"]

log = logging.getLogger(__name__)


def _post(url: str, payload: dict, channel: str, timeout: float) -> bool:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("%s notification failed: %s", channel, type(exc).__name__)
        return False


def send_slack(webhook_url: SecretStr | str, text: str, timeout: float = 5.0) -> bool:
    """Post ``{"text": ...}`` to a Slack incoming webhook (the Donchian bot's format)."""
    url = webhook_url.get_secret_value() if isinstance(webhook_url, SecretStr) else webhook_url
    return _post(url, {"text": text}, "slack", timeout)


def send_telegram(token: SecretStr | str, chat_id: str, text: str, *, base_url: str = "https://api.telegram.org",
                  timeout: float = 5.0) -> bool:
    """sendMessage through the Telegram Bot API."""
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token
    return _post(f"{base_url.rstrip('/')}/bot{secret}/sendMessage", {"chat_id": chat_id, "text": text}, "telegram",
                 timeout)


def send_summary(text: str, settings, telegram_base_url: str = "https://api.telegram.org") -> dict[str, bool]:
    """Send ``text`` to every channel the settings configure; returns {channel: delivered}."""
    results = {}
    if settings.SLACK_WEBHOOK_URL:
        results["slack"] = send_slack(settings.SLACK_WEBHOOK_URL, text)
    if settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_CHAT_ID:
        results["telegram"] = send_telegram(settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_CHAT_ID, text,
                                            base_url=telegram_base_url)
    return results
