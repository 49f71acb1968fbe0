"""Where alerts go: Telegram (python-telegram-bot), a Slack incoming webhook, and the log.

A channel's ``send`` is a coroutine that delivers one alert or raises; the :class:`Notifier` runs it in
its own background loop, with a timeout, and catches what it raises. Each channel names its secrets
(``secrets()``) so the notifier can scrub them from any error text before logging it; reprs never show
them. HTTP clients are created on first send, inside the notifier's loop that owns them.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

from autobot_lib._secrets import secret_forms
from autobot_lib.notify.alerts import Alert, Priority

TELEGRAM_API = "https://api.telegram.org"
TELEGRAM_MAX_CHARS = 4096  # the Bot API rejects longer messages


def _secret(value: SecretStr | str) -> SecretStr:
    """Kept as SecretStr, so the object's __dict__ (debuggers, pickles, error reports) never shows it."""
    return value if isinstance(value, SecretStr) else SecretStr(value)


class ChannelError(RuntimeError):
    """A channel answered but did not deliver (an HTTP error status, a refusal)."""


class Channel:
    """Base: a name, the lowest priority it takes, and its rate limit (``None``: unlimited)."""

    name = "channel"

    def __init__(self, *, min_priority: Priority = Priority.INFO, per_minute: float | None = 20.0, burst: int = 5,
                 timeout: float = 10.0):
        self.min_priority = Priority(min_priority)
        self.per_minute = per_minute
        self.burst = burst
        self.timeout = timeout

    async def send(self, alert: Alert) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release HTTP clients; called once by the notifier when it closes."""

    def secrets(self) -> tuple[str, ...]:
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min_priority={self.min_priority.name})"


class TelegramChannel(Channel):
    """sendMessage through python-telegram-bot. ``base_url`` is the API root (a local stand-in in tests)."""

    name = "telegram"

    def __init__(self, token: SecretStr | str, chat_id: str | int, *, base_url: str = TELEGRAM_API, **limits):
        super().__init__(**limits)
        self._token = _secret(token)
        self.chat_id = str(chat_id)
        self._api = f"{base_url.rstrip('/')}/bot"  # python-telegram-bot appends the token
        self._bot = None

    async def send(self, alert: Alert) -> None:
        if self._bot is None:
            from telegram import Bot
            from telegram.request import HTTPXRequest

            t = self.timeout
            self._bot = Bot(self._token.get_secret_value(), base_url=self._api,
                            request=HTTPXRequest(connect_timeout=t, read_timeout=t, write_timeout=t, pool_timeout=t))
        await self._bot.send_message(chat_id=self.chat_id, text=alert.as_text()[:TELEGRAM_MAX_CHARS])

    async def aclose(self) -> None:
        if self._bot is not None:  # Bot.shutdown() skips a bot never initialize()d (that would call getMe)
            await self._bot.request.shutdown()

    def secrets(self) -> tuple[str, ...]:
        return (self._token.get_secret_value(),)

    def __repr__(self) -> str:  # python-telegram-bot's own Bot repr shows the token: never print self._bot
        return f"TelegramChannel(chat_id={self.chat_id!r}, token=**********, min_priority={self.min_priority.name})"


class SlackChannel(Channel):
    """POST ``{"text": ...}`` to an incoming webhook (the Donchian bot's format)."""

    name = "slack"

    def __init__(self, webhook_url: SecretStr | str, **limits):
        super().__init__(**limits)
        self._url = _secret(webhook_url)
        self._client = None

    async def send(self, alert: Alert) -> None:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=self.timeout)
        response = await self._client.post(self._url.get_secret_value(), json={"text": alert.as_text()})
        if not 200 <= response.status_code < 300:
            raise ChannelError(f"slack webhook answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def secrets(self) -> tuple[str, ...]:
        return secret_forms(self._url.get_secret_value())  # an error may quote the webhook's path alone

    def __repr__(self) -> str:
        return f"SlackChannel(webhook_url=**********, min_priority={self.min_priority.name})"


class LogChannel(Channel):
    """Every alert as a log line at its priority's level, with the key as a field. Never fails."""

    name = "log"

    def __init__(self, logger: str = "autobot.alerts", *, min_priority: Priority = Priority.LOW):
        super().__init__(min_priority=min_priority, per_minute=None)
        self._log = logging.getLogger(logger)

    async def send(self, alert: Alert) -> None:
        self._log.log(int(alert.priority), alert.title,
                      extra={"alert_key": alert.key, "priority": alert.priority.name, "alert_text": alert.text})
