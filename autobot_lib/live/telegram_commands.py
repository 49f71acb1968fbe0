"""Telegram commands for the running bot, through the one control API (:mod:`autobot_lib.live.control`).

``/status /positions /metrics /pause /resume /flatten /kill /rearm /close SYMBOL /set NAME VALUE /help``,
read by long-polling ``getUpdates`` with python-telegram-bot, answered with ``sendMessage``.

- Only the configured chat (``TELEGRAM_CHAT_ID``) is obeyed, as an operator. A message from any other
  chat goes to the control API as an unauthorised actor, so it is denied, logged and audited there; that
  chat gets no reply at all.
- Destructive commands (flatten, kill, close) need the word ``confirm``: ``/close BTCUSDT confirm``.
  Without it the bot only says what it would do.
- A failing Telegram never stops trading: polling errors are logged and retried with capped back-off.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import SecretStr

from autobot_lib.live.control import DESTRUCTIVE, Actor, Command, Control, Role
from autobot_lib.notify.channels import TELEGRAM_API, TELEGRAM_MAX_CHARS

log = logging.getLogger("autobot.telegram")

HELP = ("/status /positions /metrics /pause /resume /rearm\n/flatten confirm, /kill confirm, /close SYMBOL confirm\n"
        "/set NAME VALUE (e.g. /set RISK_PER_TRADE 0.005)")


def parse(text: str) -> tuple[str, dict, bool]:
    """``"/close btcusdt confirm"`` -> ``("close", {"symbol": "btcusdt"}, True)``."""
    words = text.split()
    command = words[0].lstrip("/").split("@")[0].lower() if words else ""
    rest = words[1:]
    confirmed = bool(rest) and rest[-1].lower() == "confirm"
    if confirmed:
        rest = rest[:-1]
    if command == Command.CLOSE:
        args = {"symbol": rest[0]} if rest else {}
    elif command == Command.SET:
        args = {"name": rest[0], "value": " ".join(rest[1:])} if len(rest) >= 2 else {}
    else:
        args = {}
    return command, args, confirmed


class TelegramCommands:
    """``task = asyncio.create_task(TelegramCommands(control, token, chat_id).run())`` in the engine's loop."""

    def __init__(self, control: Control, token: SecretStr | str, chat_id: str | int, *, base_url: str = TELEGRAM_API,
                 poll_timeout: int = 30, max_backoff_s: float = 60.0):
        self.control, self.chat_id = control, str(chat_id)
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._api = f"{base_url.rstrip('/')}/bot"
        self.poll_timeout, self.max_backoff_s = poll_timeout, max_backoff_s
        self.offset: int | None = None
        self.handled = 0             # messages taken (authorised or not)

    def __repr__(self) -> str:
        return f"TelegramCommands(chat_id={self.chat_id!r}, token=**********)"

    async def run(self) -> None:
        from telegram import Bot
        from telegram.error import TelegramError
        from telegram.request import HTTPXRequest

        polling = HTTPXRequest(read_timeout=self.poll_timeout + 10, connect_timeout=10)
        sending = HTTPXRequest(read_timeout=10, connect_timeout=10)
        bot = Bot(self._token.get_secret_value(), base_url=self._api, request=sending, get_updates_request=polling)
        backoff = 1.0
        try:
            while True:
                try:
                    updates = await bot.get_updates(offset=self.offset, timeout=self.poll_timeout,
                                                    allowed_updates=["message"])
                    backoff = 1.0
                except TelegramError as exc:
                    log.warning("telegram polling failed (%s); retrying in %.0f s", type(exc).__name__, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                for update in updates:
                    self.offset = update.update_id + 1
                    try:
                        await self.handle(bot, update)
                    except Exception:       # one bad message never ends the polling
                        log.exception("telegram update %s could not be handled", update.update_id)
        finally:
            await polling.shutdown()
            await sending.shutdown()

    async def handle(self, bot, update) -> None:
        message = update.message
        if message is None or not message.text:
            return
        self.handled += 1
        user = message.from_user
        who = (user.username or str(user.id)) if user is not None else "unknown"
        command, args, confirmed = parse(message.text)
        if str(message.chat.id) != self.chat_id:
            # denied, logged and audited by the control API; the other chat learns nothing
            await self.control.run(command or "?", Actor(f"{who} in chat {message.chat.id}", Role.NONE, "telegram"),
                                   **args)
            return
        actor = Actor(who, Role.OPERATOR, "telegram")
        if command in ("help", "start"):
            reply = HELP
        elif command in {c.value for c in DESTRUCTIVE} and not confirmed:
            what = f"/{command}" + (f" {args['symbol']}" if "symbol" in args else "")
            reply = f"{what} is destructive: send `{what} confirm` to do it"
        else:
            result = await self.control.run(command, actor, **args)
            reply = ("OK: " if result.ok else "NOT DONE: ") + result.message
        await bot.send_message(chat_id=self.chat_id, text=reply[:TELEGRAM_MAX_CHARS])
